"""The Slurm backend against a real one-node Slurm (``.ci/slurm-up.sh``, after ../shared/slurm-testbed.md: Debian's
slurmctld, slurmd and munge, four stand-in GPUs through GRES), not a mock.

A tiny study (tiny BERT without dropout, es, XNLI and NER, two seeds: one adjustment and eight task runs) goes
through ``reproduce.py --backend slurm``. Its adjustment pauses right after its checkpoint-2 and is told to stop
as a time limit would (``USR1`` to the batch shell): the job stops the step and requeues itself, and the rerun
resumes from the checkpoint. Then the jobs are compared with the same study run by the local backend.

Where Slurm cannot be started (not root, no apt), the tests are skipped with the reason; under ``CI=true`` they
fail instead. Daemons this module started are stopped by their pids at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import reproduce
from tests.study_helpers import tiny_config
from tests.tiny_models import FIXTURES, save_tiny_bert
from xladjust.errors import InputError
from xladjust.study.slurm import SlurmCommands

ROOT = Path(__file__).resolve().parents[2]
PID_FILES = ("/run/slurm/slurmd.pid", "/run/slurm/slurmctld.pid", "/run/munge/munged.pid")
ADJUST = "adjust-es-seed1"
STEPS = [ADJUST] + [
    f"{task}-{variant}-seed{seed}"
    for task in ("xnli", "ner")
    for seed in (1, 2)
    for variant in ("original", "adjusted-es")
]


def slurm_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "--noheader"], capture_output=True, timeout=20).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm():
    """A Slurm that answers: the one running, or one started by .ci/slurm-up.sh (stopped by pid at the end)."""
    if slurm_answers():
        yield
        return
    reason = None
    if os.geteuid() != 0:
        reason = "not root: Slurm's daemons cannot be installed or started here"
    elif shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        reason = "no apt-get to install Slurm with"
    else:
        started = subprocess.run(["bash", str(ROOT / ".ci" / "slurm-up.sh")], capture_output=True, text=True)
        if started.returncode != 0:
            reason = f".ci/slurm-up.sh failed: {(started.stderr or started.stdout).strip()[-500:]}"
    if reason is not None:
        print(f"Slurm tests: {reason}", file=sys.stderr)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no Slurm: {reason}")
        pytest.skip(reason)
    pids = [int(Path(path).read_text()) for path in PID_FILES if Path(path).is_file()]
    yield
    for pid in pids:  # slurmd, slurmctld, munged: the reverse of their start
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 180) -> object:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(
        f"timed out waiting for {what}\n" + subprocess.run(["squeue"], capture_output=True, text=True).stdout
    )


def reproduce_output(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert reproduce.main(list(args)) == 0
    return out.getvalue()


def study_config(model: Path, output: Path, launcher: list[str]) -> dict:
    """Both tasks on the fixtures, two seeds; the adjustment checkpoints every 2 of its 6 steps (plain SGD at a
    constant rate, no dropout: a resumed run must end where an uninterrupted one does)."""
    config = tiny_config(model, output)
    config["launcher"] = launcher
    config["adjust"]["args"].update(
        max_steps=6, save_strategy="steps", save_steps=2, optim="sgd", lr_scheduler_type="constant", warmup_steps=0
    )
    config["tasks"]["ner"] = {
        "script": "run_ner.py",
        "include_english": False,
        "args": {
            "do_train": True,
            "do_predict": True,
            "max_steps": 2,
            "per_device_train_batch_size": 8,
            "train_file": str(FIXTURES / "ner" / "train.en.jsonl"),
            "test_files": str(FIXTURES / "ner" / "test.{lang}.conll"),
        },
    }
    config["resources"] = {"default": {"gpus": 1, "cpus": 1, "mem": "1G"}}
    return config


def write_config(path: Path, config: dict) -> str:
    path.write_text(json.dumps(config))
    return str(path)


def launches(study: Path) -> dict[str, dict]:
    manifest = json.loads((study / "study_manifest.json").read_text())
    return {entry["name"]: entry.get("launch", {}) for entry in manifest["steps"]}


def job_headers(log: Path) -> list[dict]:
    """The job headers the batch script writes to a step's log, one per start of the job."""
    pattern = r"# (\S+) job (\d+) \(restart (\d+)\) on \S+: CUDA_VISIBLE_DEVICES=([^,]*), processes: (\d+)"
    return [
        {"time": m[1], "job": m[2], "restart": int(m[3]), "gpus": m[4], "processes": int(m[5])}
        for m in re.finditer(pattern, log.read_text())
    ]


def running_jobs(ids: set[str]) -> set[str]:
    states = SlurmCommands().states(sorted(ids))
    return {job for job, state in states.items() if state.running}


def active_jobs(ids: set[str]) -> set[str]:
    return {job for job, state in SlurmCommands().states(sorted(ids)).items() if state.active}


@pytest.fixture(scope="module")
def no_dropout_bert(tmp_path_factory) -> Path:
    tiny = save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
    path = tmp_path_factory.mktemp("no-dropout")
    model = AutoModel.from_pretrained(tiny, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def slurm_study(slurm, no_dropout_bert, tmp_path_factory):
    """The scenario of the module docstring; what the tests look at."""
    base = tmp_path_factory.mktemp("slurm")
    marker = base / "paused"
    pause = [sys.executable, str(ROOT / "tests" / "pause_after_checkpoint.py"), "2", str(marker)]
    study = base / "study"
    config = write_config(base / "slurm.json", study_config(no_dropout_bert, study, pause))

    first = reproduce_output("--config", config, "--backend", "slurm")
    submitted = {name: launch["job_id"] for name, launch in launches(study).items()}
    again = reproduce_output("--config", config, "--backend", "slurm")  # at once: every job queued or running
    after_again = {name: launch["job_id"] for name, launch in launches(study).items()}
    with pytest.raises(InputError) as local_refused:  # the local backend leaves the jobs' steps alone
        reproduce.main(["--config", config, "--gpus", "none"])
    ids = set(submitted.values())

    # The adjustment sleeps after its checkpoint-2 while a task run of the original encoder runs beside it.
    wait_until(marker.exists, "the adjustment to save checkpoint-2")
    beside = wait_until(lambda: running_jobs(ids) - {submitted[ADJUST]}, "a second running job")
    subprocess.run(["scancel", "--batch", "--signal=USR1", submitted[ADJUST]], check=True)
    states = SlurmCommands()
    wait_until(lambda: states.states([submitted[ADJUST]])[submitted[ADJUST]].queued, "the requeue")
    # Slurm holds a requeued job back ~2 minutes (BeginTime); let it start again now.
    subprocess.run(["scontrol", "update", f"JobId={submitted[ADJUST]}", "StartTime=now"], check=True)
    wait_until(lambda: not active_jobs(ids), "every job to end", timeout=240)
    final = states.states(sorted(ids))

    status = reproduce_output("--config", config, "--status")
    third = reproduce_output("--config", config, "--backend", "slurm")

    # The reference: the adjustment and its two task runs of seed 1 by the local backend, uninterrupted.
    local_study = base / "local"
    local = write_config(base / "local.json", study_config(no_dropout_bert, local_study, []))
    only = ["--only", "seed=1", "variant=adjusted"]
    assert reproduce.main(["--config", local, "--gpus", "none", "--jobs", "2", "--no_report", *only]) == 0
    return SimpleNamespace(
        study=study,
        local=local_study,
        first=first,
        again=again,
        third=third,
        status=status,
        submitted=submitted,
        after_again=after_again,
        local_refused=local_refused.value.message,
        beside=sorted(beside),
        final=final,
    )


def test_every_job_completes_after_the_jobs_it_depends_on(slurm_study):
    assert sorted(slurm_study.submitted) == sorted(STEPS)
    assert "9 jobs submitted, 0 already queued or running, 0 steps done" in slurm_study.first
    assert all(state.state == "COMPLETED" for state in slurm_study.final.values()), slurm_study.final
    manifest = json.loads((slurm_study.study / "study_manifest.json").read_text())["steps"]
    records = {e["name"]: json.loads(Path(e["output_dir"], "run.json").read_text()) for e in manifest}
    assert all(record["status"] == "finished" for record in records.values())
    for entry in manifest:
        dependencies = [slurm_study.submitted[name] for name in entry["depends_on"]]
        assert entry["launch"]["after"] == dependencies, entry["name"]
        for name in entry["depends_on"]:  # started (resumed) no earlier than its dependency ended
            assert records[entry["name"]]["started"] >= records[name]["ended"], entry["name"]
    assert sum(bool(entry["depends_on"]) for entry in manifest) == 4
    lines = slurm_study.status.splitlines()
    assert all(line.startswith("done") for line in lines[:-1]) and lines[-1] == "9 done"


def test_a_second_submission_submits_nothing_for_queued_running_or_finished_steps(slurm_study):
    assert "0 jobs submitted, 9 already queued or running, 0 steps done" in slurm_study.again
    assert slurm_study.after_again == slurm_study.submitted
    assert "0 jobs submitted, 0 already queued or running, 9 steps done" in slurm_study.third
    assert (slurm_study.study / "report" / "report.md").is_file()  # all done: that submission wrote the report
    assert slurm_study.local_refused.startswith("9 steps have Slurm jobs queued or running, e.g. adjust-es-seed1")
    manifest = launches(slurm_study.study)
    assert {name: launch["job_id"] for name, launch in manifest.items()} == slurm_study.submitted


def test_a_job_told_to_stop_requeues_itself_and_resumes_from_its_checkpoint(slurm_study):
    log = (slurm_study.study / "logs" / f"{ADJUST}.log").read_text()
    headers = job_headers(slurm_study.study / "logs" / f"{ADJUST}.log")
    assert [h["restart"] for h in headers] == [0, 1] and {h["job"] for h in headers} == {slurm_study.submitted[ADJUST]}
    assert "USR1: stopping the step" in log
    assert "training: step 2/6 (33%)" in log and "training: step 6/6 (100%)" in log  # progress, both runs
    assert "resuming from" in log and "checkpoint-2" in log
    study, local = slurm_study.study, slurm_study.local
    trainer_state = json.loads((study / "adjust/per_language/es/seed1/trainer_state.json").read_text())
    assert trainer_state["global_step"] == 6
    resumed = load_file(study / "adjust/per_language/es/seed1/model.safetensors")
    uninterrupted = load_file(local / "adjust/per_language/es/seed1/model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-4, atol=1e-5)


def test_results_equal_the_local_backend(slurm_study):
    compared = set()
    for path in sorted(slurm_study.local.glob("*/**/all_results.json")):
        relative = path.relative_to(slurm_study.local)
        local = json.loads(path.read_text())
        remote = json.loads((slurm_study.study / relative).read_text())
        resumed = relative.parts[0] == "adjust"  # its train_loss averages the steps after the checkpoint only
        for name, value in local.items():
            if any(word in name for word in ("runtime", "per_second", "flos")) or (resumed and name == "train_loss"):
                continue
            if isinstance(value, float):
                assert remote[name] == pytest.approx(value, rel=1e-3, abs=1e-4), (relative, name)
                compared.add(relative.parent)
    assert len(compared) == 2  # the task runs of the resumed encoder (its weights: the test above)


def test_each_gpu_job_sees_its_own_stand_in_gpu(slurm_study):
    logs = {name: job_headers(slurm_study.study / "logs" / f"{name}.log") for name in STEPS}
    assert all(headers and all(re.fullmatch(r"\d", h["gpus"]) for h in headers) for headers in logs.values())
    assert all(h["processes"] == 1 for headers in logs.values() for h in headers)
    by_job = {h["job"]: h["gpus"] for headers in logs.values() for h in headers if h["restart"] == 0}
    adjust = by_job[slurm_study.submitted[ADJUST]]
    assert slurm_study.beside and all(by_job[job] != adjust for job in slurm_study.beside)


def test_a_failing_step_cancels_its_dependants_and_is_submitted_again(slurm, no_dropout_bert, tmp_path):
    config = study_config(no_dropout_bert, tmp_path / "study", [])
    config["parallel"]["files"]["es"]["text"] = str(tmp_path / "missing.txt")  # run_adjust.py fails at once
    path = write_config(tmp_path / "failing.json", config)
    reproduce_output("--config", path, "--backend", "slurm", "--only", "variant=adjusted")
    first = {name: launch["job_id"] for name, launch in launches(tmp_path / "study").items() if launch}
    assert sorted(first) == [ADJUST, "ner-adjusted-es-seed1", "ner-adjusted-es-seed2"] + [
        "xnli-adjusted-es-seed1",
        "xnli-adjusted-es-seed2",
    ]
    commands = SlurmCommands()
    wait_until(lambda: not active_jobs(set(first.values())), "the failure to cancel the dependants", timeout=120)
    states = commands.states(sorted(first.values()))
    assert states[first[ADJUST]].state == "FAILED"
    assert all(states[job].state == "CANCELLED" for name, job in first.items() if name != ADJUST), states
    status = reproduce_output("--config", path, "--status", "--only", "variant=adjusted")
    assert re.search(rf"^failed +{ADJUST} +job {first[ADJUST]}: FAILED", status, re.MULTILINE), status
    assert len(re.findall(r"^failed .*CANCELLED", status, re.MULTILINE)) == 4, status
    again = reproduce_output("--config", path, "--backend", "slurm", "--only", "variant=adjusted")
    second = {name: launch["job_id"] for name, launch in launches(tmp_path / "study").items() if launch}
    assert "5 jobs submitted" in again and not set(second.values()) & set(first.values())
    for job in second.values():  # they would fail again
        commands.scancel(job)
