"""Shared test fixtures. Everything is offline: tiny models and tokenizers are built locally."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.tiny_models import FIXTURES, save_tiny_bert, save_tiny_xlmr  # noqa: E402

PARALLEL = FIXTURES / "parallel"


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on busy shared cores they made runs many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory):
    """A 2-layer, 32-wide BERT with a cased WordPiece vocabulary trained on the fixtures (saved folder)."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory: pytest.TempPathFactory):
    """A 2-layer XLM-R-style encoder with a SentencePiece-like Unigram tokenizer (saved folder)."""
    return save_tiny_xlmr(tmp_path_factory.mktemp("tiny-xlmr"))


@pytest.fixture(scope="session")
def parallel_dir():
    return PARALLEL


@pytest.fixture(scope="module")
def adjusted_es(tiny_bert, tmp_path_factory):
    """An encoder written by run_adjust.py on the Spanish fixture pairs (a bare encoder: no task head)."""
    import run_adjust
    from tests.builders import adjust_args

    output = tmp_path_factory.mktemp("adjusted")
    run_adjust.main(adjust_args(tiny_bert, output, ["es"], True, "--do_train", "--max_steps", "3"))
    return output


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """``fake_hub(scripts=...)``: a :class:`tests.builders.FakeHub` in place of ``datasets.load_dataset``."""
    import datasets

    from tests.builders import FakeHub

    def make(scripts=()) -> FakeHub:
        fake = FakeHub(tmp_path / "hub", set(scripts))
        monkeypatch.setattr(datasets, "load_dataset", fake)
        return fake

    return make
