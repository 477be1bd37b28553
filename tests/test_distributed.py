"""Two CPU processes (gloo) with torchrun and with accelerate launch: one run, data split between them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import PARALLEL
from tests.launch import TORCHRUN, launch

ACCELERATE = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--main_process_port",
    "29533",
]


def adjust_in_two_processes(launcher: list[str], model: Path, output: Path):
    args = [
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output),
        "--languages",
        "es",
        "ru",
        "--parallel_files",
        str(PARALLEL / "es-en.txt"),
        str(PARALLEL / "ru-en.txt"),
        "--alignment_files",
        str(PARALLEL / "es-en.align"),
        str(PARALLEL / "ru-en.align"),
        "--do_train",
        "--do_eval",
        "--validation_pairs",
        "3",
        "--per_device_train_batch_size",
        "2",
        "--num_train_epochs",
        "1",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
    ]
    return launch(launcher, "run_adjust.py", args)


@pytest.mark.parametrize("launcher", [TORCHRUN, ACCELERATE], ids=["torchrun", "accelerate"])
def test_two_processes_split_the_data(tiny_bert, tmp_path, launcher):
    result = adjust_in_two_processes(launcher, tiny_bert, tmp_path / "out")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "distributed training: True" in log
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    # 22 training pairs, 2 per process and step, 2 processes: 6 steps (one process alone would need 11).
    assert state["global_step"] == 6
    results = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert results["eval_pairs"] == 6  # gathered from both processes without duplicates
    assert results["eval_alignment_loss"] < results["eval_before_alignment_loss"]
    assert all("alignment_loss" in entry for entry in state["log_history"] if "loss" in entry)
    record = json.loads((tmp_path / "out" / "run.json").read_text())  # written once, by rank 0
    assert record["status"] == "finished" and record["settings"]["processes"] == 2


def test_continual_learning_under_fsdp_sharding_gives_the_unsharded_gradients(tiny_bert, tmp_path):
    """The alignment forward runs inside the sharded model's forward (ContinualAlignment.attach): every encoder
    parameter gets the same gradient as without sharding, and the frozen reference is never sharded."""
    unsharded = launch([sys.executable], "tests/fsdp_continual.py", [str(tiny_bert), str(tmp_path / "one.pt")])
    assert unsharded.returncode == 0, unsharded.stderr[-3000:]
    sharded = launch(TORCHRUN, "tests/fsdp_continual.py", [str(tiny_bert), str(tmp_path / "two.pt")])
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one["terms"] == pytest.approx(two["terms"], rel=1e-5) and one["terms"][1] > 0
    assert set(one["grads"]) == set(two["grads"]) and len(one["grads"]) > 30
    for name, grad in one["grads"].items():
        torch.testing.assert_close(two["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
