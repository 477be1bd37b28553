"""--bf16 (CPU autocast) in the adjustment and in continual learning: the frozen reference runs under the same
autocast as the trained encoder, their word vectors have the same dtype, and the losses follow fp32's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import run_adjust
import run_xnli
from tests.builders import CONTINUAL, adjust_args, xnli_args
from xladjust.adjust import objective

TOLERANCE = 1e-2
"""Relative difference allowed between fp32 and bf16 losses of the same steps (measured: below 1e-3)."""


@pytest.fixture
def pooled(monkeypatch) -> list[tuple[torch.dtype, torch.dtype, bool, bool]]:
    """Every word pooling of the objective: (hidden-state dtype, word-vector dtype, autograd on, autocast on)."""
    calls = []

    def recording(hidden, *args, **kwargs):
        words = pool_words(hidden, *args, **kwargs)
        calls.append((hidden.dtype, words.dtype, torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")))
        return words

    pool_words = objective.pool_words
    monkeypatch.setattr(objective, "pool_words", recording)
    return calls


def logged(output: Path, key: str) -> list[float]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return [entry[key] for entry in history if key in entry and "train_runtime" not in entry]


def assert_close(fp32: list[float], bf16: list[float]) -> None:
    assert len(fp32) == len(bf16) > 0
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) <= TOLERANCE * abs(a)


def check_reference_like_encoder(calls: list[tuple[torch.dtype, torch.dtype, bool, bool]], autocast: bool) -> None:
    trained = [call for call in calls if call[2]]
    reference = [call for call in calls if not call[2]]  # the frozen copy runs without autograd
    assert trained and reference
    assert {call[3] for call in calls} == {autocast}
    # Under CPU (and CUDA) autocast the last op of every layer, a layer norm, gives float32: nothing to cast back.
    assert {call[:2] for call in calls} == {(torch.float32, torch.float32)}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_adjustment_reference_runs_under_the_same_autocast(tiny_bert, tmp_path, pooled, precision):
    flags = ["--bf16"] if precision == "bf16" else []
    run_adjust.main(
        adjust_args(tiny_bert, tmp_path, ["es"], True, "--do_train", "--max_steps", "2", "--use_cpu", *flags)
    )
    check_reference_like_encoder(pooled, autocast=precision == "bf16")


def test_adjustment_bf16_losses_follow_fp32(tiny_bert, tmp_path):
    options = ("--do_train", "--max_steps", "5", "--logging_steps", "1", "--use_cpu")
    for name, flags in (("fp32", []), ("bf16", ["--bf16"])):
        run_adjust.main(adjust_args(tiny_bert, tmp_path / name, ["es", "ru"], True, *options, *flags))
    for key in ("loss", "alignment_loss", "regularization_loss"):
        assert_close(logged(tmp_path / "fp32", key), logged(tmp_path / "bf16", key))


def test_continual_learning_under_bf16(tiny_bert, tmp_path, pooled):
    options = ("--do_train", "--max_steps", "4", "--logging_steps", "1", "--use_cpu", "--eval_languages", "es")
    run_xnli.main(xnli_args(tiny_bert, tmp_path / "fp32", *options, *CONTINUAL))
    pooled.clear()
    run_xnli.main(xnli_args(tiny_bert, tmp_path / "bf16", *options, *CONTINUAL, "--bf16"))
    # The alignment forward (encoder and reference) runs inside the task model's forward, under its autocast.
    check_reference_like_encoder(pooled, autocast=True)
    for key in ("loss", "task_loss", "alignment_loss", "regularization_loss"):
        assert_close(logged(tmp_path / "fp32", key), logged(tmp_path / "bf16", key))
