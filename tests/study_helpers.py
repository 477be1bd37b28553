"""Builders shared by the study tests (reproduce.py, run_report.py, tests/study/), so that no test module imports
another."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PARALLEL
from tests.tiny_models import FIXTURES

NLI = FIXTURES / "nli"


def value(args: list[str], flag: str) -> str:
    """The word after ``flag`` in a command line."""
    return args[args.index(flag) + 1]


def values(args: list[str], flag: str) -> list[str]:
    """The words after ``flag`` up to the next flag."""
    start = args.index(flag) + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("--")), len(args))
    return args[start:end]


def tiny_config(model: Path, output: Path) -> dict:
    """One language, XNLI on the fixtures, two seeds, plain Python, a few steps."""
    return {
        "model_name_or_path": str(model),
        "output_dir": str(output),
        "launcher": [],
        "languages": ["es"],
        "seeds": [1, 2],
        "variants": ["original", "adjusted"],
        "common_args": {"report_to": "none", "disable_tqdm": True, "save_strategy": "no"},
        "parallel": {"files": {"es": {"text": str(PARALLEL / "es-en.txt"), "align": str(PARALLEL / "es-en.align")}}},
        "adjust": {"args": {"do_train": True, "max_steps": 2, "per_device_train_batch_size": 4}, "seeds": [1]},
        "tasks": {
            "xnli": {
                "script": "run_xnli.py",
                "include_english": False,
                "args": {
                    "do_train": True,
                    "do_eval": True,
                    "max_steps": 2,
                    "per_device_train_batch_size": 8,
                    "train_file": str(NLI / "train.en.jsonl"),
                    "validation_files": str(NLI / "dev.{lang}.jsonl"),
                },
            }
        },
        "analysis": {"enabled": False},
        "report": {"args": {"samples": 200}},
    }


def write_jsonl(path: Path, records: list[dict]) -> None:
    """A planted predictions file (plain writes: the test builds inputs, the code under test writes results)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def cells_by_key(cells) -> dict:
    """The report's cells by (task, eval_set, variant)."""
    return {(c.task, c.eval_set, c.variant): c for c in cells}
