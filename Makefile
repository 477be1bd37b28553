# Targets the README uses. Everything runs in a local virtual environment (.venv) that `make install` builds.
PYTHON ?= python3
VENV ?= .venv
# The CPU build; on a GPU machine use e.g. `make install TORCH=torch` to get your platform's build.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test lint demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install
	$(BIN)/python run_demo.py --output_dir demo_output

bench: install
	$(BIN)/python benchmarks/bench_adjust.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache
