"""Run folders: the record, the rerun policy, killed-and-resumed runs, strict atomic JSON (xladjust.run_folder)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import run_adjust
import run_ner
import run_xnli
from tests.builders import CONTINUAL, adjust_args, run_script, xnli_args
from tests.conftest import PARALLEL
from xladjust import run_folder
from xladjust.cli import run_main
from xladjust.errors import InputError
from xladjust.io import write_json

SCHEDULE = [
    "--do_train",
    "--lr_scheduler_type",
    "constant",
    "--warmup_steps",
    "0",
    "--optim",
    "sgd",
    "--logging_steps",
    "1",
    "--save_strategy",
    "steps",
    "--save_steps",
    "2",
]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` with its modification time and content."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    }


def exit_status_and_error(main, args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        run_main(lambda: main(args))
    return info.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert, tmp_path_factory) -> Path:
    """tiny_bert without dropout: a resumed run draws other dropout masks than an uninterrupted one."""
    path = tmp_path_factory.mktemp("no-dropout")
    model = AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_bert, tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished es+ru adjustment that kept checkpoint-2 and checkpoint-3."""
    output = tmp_path_factory.mktemp("finished") / "x"
    args = adjust_args(tiny_bert, output, ["es", "ru"], True, *SCHEDULE, "--max_steps", "3")
    run_adjust.main(args)
    return output, args


# ---------------------------------------------------------------------------------------------------------------
# The record and the rerun policy


def test_the_record_says_what_made_the_run(finished_run):
    output, _ = finished_run
    record = json.loads((output / "run.json").read_text())
    assert record["status"] == "finished" and record["script"] == "run_adjust.py"
    assert record["started"] <= record["ended"] and record["pid"] == os.getpid() and record["hostname"]
    settings = record["settings"]
    assert settings["languages"] == ["es", "ru"] and settings["max_steps"] == 3 and settings["seed"] == 1
    assert settings["processes"] == 1 and settings["optim"] == "sgd"
    for name in ("logging_steps", "save_steps", "report_to", "output_dir", "disable_tqdm", "dataloader_num_workers"):
        assert name not in settings, name
    files = settings["parallel_files"]
    assert [f["path"] for f in files] == [str(PARALLEL / "es-en.txt"), str(PARALLEL / "ru-en.txt")]
    assert files[0]["sha256"] == run_folder.fingerprint(str(PARALLEL / "es-en.txt"))
    assert len(settings["model_name_or_path"]["sha256"]) == 64  # a local folder: its content


def test_rerunning_a_finished_run_touches_nothing(finished_run, capsys):
    output, args = finished_run
    before = snapshot(output)
    capsys.readouterr()
    results = run_adjust.main(args)
    out = capsys.readouterr().out
    assert f"{output}: already finished with the same settings, results in {output / 'all_results.json'}" in out
    assert snapshot(output) == before
    assert results == json.loads((output / "all_results.json").read_text())


def test_other_settings_are_refused_before_any_work(finished_run, tiny_bert, capsys):
    output, _ = finished_run
    before = snapshot(output)
    args = adjust_args(tiny_bert, output, ["es"], True, *SCHEDULE, "--max_steps", "1")
    status, err = exit_status_and_error(run_adjust.main, args, capsys)
    assert status == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert '--languages: ["es", "ru"] → ["es"]' in err and "and 1 more" in err  # the fourth: --max_steps
    assert "pass --overwrite_output_dir to start again from scratch there, or choose another --output_dir" in err
    assert snapshot(output) == before


def test_the_same_inputs_elsewhere_are_the_same_run(finished_run, tmp_path, capsys):
    output, args = finished_run
    moved = tmp_path / "es-en.txt"
    moved.write_text((PARALLEL / "es-en.txt").read_text())
    args = [str(moved) if a == str(PARALLEL / "es-en.txt") else a for a in args]
    run_adjust.main(args)
    assert "already finished" in capsys.readouterr().out


def test_changed_input_content_is_another_run(tiny_bert, tmp_path, capsys):
    data = tmp_path / "es-en.txt"
    data.write_text((PARALLEL / "es-en.txt").read_text())
    args = [
        "--model_name_or_path",
        str(tiny_bert),
        "--output_dir",
        str(tmp_path / "out"),
        "--languages",
        "es",
        "--parallel_files",
        str(data),
        "--alignment_files",
        str(PARALLEL / "es-en.align"),
        "--do_train",
        "--max_steps",
        "1",
        "--save_strategy",
        "no",
        "--per_device_train_batch_size",
        "4",
    ]
    run_adjust.main(args)
    data.write_text(data.read_text().replace("gato", "perro", 1))
    status, err = exit_status_and_error(run_adjust.main, args, capsys)
    assert status == 2 and f"--parallel_files: [{data} (content" in err


def test_overwrite_starts_again_from_scratch(tiny_bert, tmp_path):
    output = tmp_path / "x"
    run_adjust.main(adjust_args(tiny_bert, output, ["es", "ru"], True, *SCHEDULE, "--max_steps", "3"))
    (output / "alignments").mkdir()
    assert (output / "checkpoint-2").is_dir()
    run_adjust.main(
        adjust_args(
            tiny_bert,
            output,
            ["es"],
            True,
            "--do_train",
            "--max_steps",
            "1",
            "--save_strategy",
            "no",
            "--overwrite_output_dir",
        )
    )
    assert not list(output.glob("checkpoint-*")) and (output / "alignments").is_dir()
    assert json.loads((output / "adjustment_config.json").read_text())["languages"] == ["es"]
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 1
    card = (output / "README.md").read_text()
    assert "- es\n" in card and "- ru\n" not in card


@pytest.mark.parametrize(
    ("main", "args"),
    [
        (run_adjust.main, ["--languages", "es", "--parallel_files", str(PARALLEL / "es-en.txt")]),
        (run_xnli.main, []),
        (run_ner.main, []),
    ],
    ids=["run_adjust", "run_xnli", "run_ner"],
)
def test_nothing_to_do_is_an_error(tiny_bert, tmp_path, capsys, main, args):
    args = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path / "out"), *args]
    status, err = exit_status_and_error(main, args, capsys)
    assert status == 2 and "nothing to do: pass at least one of --do_train / --do_eval" in err
    assert not (tmp_path / "out").exists()


def test_a_run_whose_process_is_gone_reads_as_interrupted(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"status": "running", "pid": int(dead.stdout), "hostname": os.uname().nodename, "settings": {}}
    write_json(tmp_path / "run.json", record)
    assert run_folder.run_status(tmp_path) == "interrupted"
    assert "interrupted (its process is gone); rerun the same command to resume" in run_folder.describe_status(
        tmp_path
    )
    write_json(tmp_path / "run.json", {**record, "pid": os.getppid()})  # alive: another run is writing there
    assert run_folder.run_status(tmp_path) == "running"
    with pytest.raises(InputError, match="another process .* is running in this folder"):
        run_folder.start_run("x.py", [{}], str(tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# Strict, atomic JSON


def test_json_is_strict_and_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json(path, {"std": math.nan, "p": [math.inf, 0.5], "nested": {"x": -math.inf}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"std": None, "p": [None, 0.5], "nested": {"x": None}}

    def killed_midway(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"std": 1.0})
    assert json.loads(path.read_text())["std"] is None  # the old file is whole, no temporary file is left
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_nan_metrics_and_logs_become_null(tiny_bert, tmp_path):
    """A diverged run logs a NaN loss: results and trainer state (checkpoint too) must stay strict JSON."""
    output = tmp_path / "out"
    run_adjust.main(
        adjust_args(tiny_bert, output, ["es"], True, *SCHEDULE, "--max_steps", "2", "--learning_rate", "1e30")
    )
    assert losses(output)[2]["alignment_loss"] is None  # NaN in the log, null in the file
    for name in ("all_results.json", "train_results.json", "trainer_state.json", "checkpoint-2/trainer_state.json"):
        text = (output / name).read_text()
        assert "NaN" not in text and "Infinity" not in text, name
        json.loads(text)


# ---------------------------------------------------------------------------------------------------------------
# Killed with SIGKILL after a checkpoint, rerun: the same as an uninterrupted run


def losses(output: Path) -> dict[int, dict[str, float]]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return {e["step"]: {k: v for k, v in e.items() if k.endswith("loss")} for e in history if "loss" in e}


def assert_killed_and_resumed_equals_uninterrupted(main, args_for, tmp_path: Path, steps: int) -> None:
    """``main``'s script killed after checkpoint-2 and rerun (subprocesses) against an uninterrupted run."""
    script = Path(main.__code__.co_filename).name
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    main(args_for(straight))  # in this process: the same code, one interpreter start fewer
    result = run_script(script, args_for(killed), kill_after=2)
    assert result.returncode == -9, result.stderr[-3000:]
    assert (killed / "checkpoint-2").is_dir() and not (killed / "all_results.json").exists()
    assert run_folder.run_status(killed) == "interrupted"
    result = run_script(script, args_for(killed))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout + result.stderr
    assert run_folder.run_status(killed) == "finished"
    assert sorted(losses(killed)) == list(range(1, steps + 1))
    for step, logged in losses(straight).items():
        assert losses(killed)[step] == pytest.approx(logged, rel=1e-4), step
    reference, resumed = load_file(straight / "model.safetensors"), load_file(killed / "model.safetensors")
    for key, tensor in reference.items():
        torch.testing.assert_close(resumed[key], tensor, rtol=1e-4, atol=1e-5)


def test_killed_adjustment_resumes_to_the_uninterrupted_result(no_dropout_bert, tmp_path):
    def args_for(output: Path) -> list[str]:
        return adjust_args(no_dropout_bert, output, ["es"], True, *SCHEDULE, "--max_steps", "5")

    assert_killed_and_resumed_equals_uninterrupted(run_adjust.main, args_for, tmp_path, steps=5)


def test_killed_continual_learning_resumes_to_the_uninterrupted_result(no_dropout_bert, tmp_path):
    def args_for(output: Path) -> list[str]:
        return xnli_args(
            no_dropout_bert,
            output,
            *SCHEDULE,
            "--do_eval",
            "--max_steps",
            "4",
            "--eval_languages",
            "en",
            "es",
            "--learning_rate",
            "1e-2",
            *CONTINUAL,
        )

    assert_killed_and_resumed_equals_uninterrupted(run_xnli.main, args_for, tmp_path, steps=4)


def test_killed_adjustment_with_frozen_layers_resumes_to_the_uninterrupted_result(no_dropout_bert, tmp_path):
    def args_for(output: Path) -> list[str]:
        return adjust_args(
            no_dropout_bert, output, ["es"], True, *SCHEDULE, "--max_steps", "5", "--freeze", "lower_half"
        )

    assert_killed_and_resumed_equals_uninterrupted(run_adjust.main, args_for, tmp_path, steps=5)
    initial, killed = (
        load_file(no_dropout_bert / "model.safetensors"),
        load_file(tmp_path / "killed" / "model.safetensors"),
    )
    assert all(torch.equal(killed[k], initial[k]) for k in killed if k.startswith("encoder.layer.0."))


def test_killed_run_with_snapshot_averaging_and_selection_resumes_to_the_uninterrupted_result(
    no_dropout_bert, tmp_path
):
    """The snapshots' running sum, their English scores and the best one's weights travel in the checkpoints."""

    def args_for(output: Path) -> list[str]:
        return xnli_args(
            no_dropout_bert,
            output,
            *SCHEDULE,
            "--max_steps",
            "5",
            "--learning_rate",
            "1e-2",
            "--eval_languages",
            "en",
            "es",
            "--average_checkpoints",
            "every:1",
            "--select_on",
            "english_dev",
        )

    assert_killed_and_resumed_equals_uninterrupted(run_xnli.main, args_for, tmp_path, steps=5)
    straight, killed = (json.loads((tmp_path / n / "final_model.json").read_text()) for n in ("straight", "killed"))
    assert killed["averaged_steps"] == [1, 2, 3, 4, 5] and killed["chosen"] == straight["chosen"]
    assert [c["score"] for c in killed["candidates"]] == pytest.approx([c["score"] for c in straight["candidates"]])


def test_a_broken_record_is_an_error_unless_overwritten(tiny_bert, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "run.json").write_text('{"status": "runn')  # half a file, as an older writer could leave
    (output / "checkpoint-2").mkdir()
    args = adjust_args(tiny_bert, output, ["es"], True, "--do_train", "--max_steps", "1")
    status, err = exit_status_and_error(run_adjust.main, args, capsys)
    assert status == 2 and "run.json: run.json is not valid JSON; pass --overwrite_output_dir" in err
    run_adjust.main([*args, "--overwrite_output_dir"])
    assert run_folder.run_status(output) == "finished" and not (output / "checkpoint-2").exists()


def test_a_checkpoint_killed_while_saving_is_not_resumed_from(tmp_path):
    for step in (2, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4" / "model.safetensors").write_text("")  # killed before its trainer_state.json
    assert run_folder.last_complete_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-2")
