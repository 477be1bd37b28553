"""How steps are launched (launch.py), the local backend's GPU scheduling with stand-in GPU ids (local.py), the Slurm
job scripts (slurm.py, without a Slurm: the real one is tests/study/test_slurm.py), the resources of the config,
and the wall-time estimate (estimate.py)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

import reproduce
from tests.study_helpers import tiny_config, value
from xladjust.cli import format_duration
from xladjust.errors import InputError
from xladjust.study import local as local_backend
from xladjust.study.config import load_config
from xladjust.study.estimate import estimate, schedule
from xladjust.study.launch import Placement, ShellWord, launch_command, shell_join
from xladjust.study.local import eta_seconds
from xladjust.study.matrix import Step, build_steps, select
from xladjust.study.slurm import plan_job

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.json"
FAKE_STEP = Path(__file__).with_name("fake_step.py")
CONFIG = "/study/launch/accelerate_config.yaml"


# ---------------------------------------------------------------------------------------------------------------
# Launch commands


def command(launcher, processes=1, nodes=1, **placement):
    return launch_command(
        launcher,
        "run_x.py",
        ["--a", "1"],
        Placement(processes=processes, nodes=nodes, port="4321", **placement),
        accelerate_config=CONFIG,
        python="PY",
    )


def test_each_launcher_gets_an_explicit_process_count_and_port():
    accelerate = ["accelerate", "launch"]
    assert command(accelerate) == [
        *accelerate,
        *("--config_file", CONFIG, "--num_processes", "1", "--num_machines", "1", "--main_process_port", "4321"),
        *("run_x.py", "--a", "1"),
    ]
    two = command(accelerate, 2)
    assert value(two, "--num_processes") == "2" and "--multi_gpu" in two and value(two, "--config_file") == CONFIG
    assert command(["python", "-m", "accelerate.commands.launch"], 2)[:3] == [
        "python",
        "-m",
        "accelerate.commands.launch",
    ]
    # A plain Python process never sees several GPUs: several processes go through torchrun.
    assert command([]) == ["PY", "run_x.py", "--a", "1"] == command(["python"])
    assert command([], 3) == [
        *("PY", "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "3"),
        *("--master_addr", "127.0.0.1", "--master_port", "4321", "run_x.py", "--a", "1"),
    ]
    assert command(["torchrun", "--max_restarts", "0"], 2)[:7] == [
        *("torchrun", "--max_restarts", "0", "--nnodes", "1", "--nproc_per_node", "2"),
    ]
    assert command(["my-wrapper"]) == ["my-wrapper", "run_x.py", "--a", "1"]
    with pytest.raises(InputError, match="a step of 2 processes needs accelerate launch, torchrun or python"):
        command(["my-wrapper"], 2)
    with pytest.raises(InputError, match="launcher: --num_processes is set per step by reproduce.py"):
        command(["accelerate", "launch", "--num_processes=8"])
    with pytest.raises(InputError, match="--nproc_per_node is set per step"):
        command(["torchrun", "--nproc_per_node", "2"])


def test_several_nodes_meet_at_a_rendezvous_on_the_first():
    shell = {"master_addr": ShellWord("$MASTER_ADDR"), "node_rank": ShellWord("$SLURM_NODEID")}
    shell["run_id"] = ShellWord("$SLURM_JOB_ID")
    line = shell_join(command(["accelerate", "launch"], 4, 2, **shell))
    assert "--num_processes 8 --num_machines 2 --main_process_port 4321 --multi_gpu" in line
    assert '--machine_rank "$SLURM_NODEID" --main_process_ip "$MASTER_ADDR"' in line
    line = shell_join(command([], 4, 2, **shell))
    assert line.startswith("PY -m torch.distributed.run --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d")
    assert '--rdzv_endpoint "$MASTER_ADDR:4321" --rdzv_id "$SLURM_JOB_ID" run_x.py' in line


def test_a_users_accelerate_default_config_changes_nothing(tmp_path):
    """A default_config.yaml putting runs on GPU 3 in fp16: plain `accelerate launch` obeys it, a step does not."""
    home = tmp_path / "hf"
    (home / "accelerate").mkdir(parents=True)
    (home / "accelerate" / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\ngpu_ids: '3'\n"
        "mixed_precision: fp16\nnum_machines: 1\nmachine_rank: 0\nuse_cpu: false\n"
    )
    script = tmp_path / "show.py"
    script.write_text(
        "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('ACCELERATE_MIXED_PRECISION'))"
    )
    env = {**os.environ, "HF_HOME": str(home), "CUDA_VISIBLE_DEVICES": "5", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    plain = subprocess.run([*launcher, "--num_processes", "1", str(script)], env=env, capture_output=True, text=True)
    assert plain.stdout.split()[1] == "fp16", plain.stderr[-2000:]  # the user's file rules plain launches
    config = local_backend.write_accelerate_config(str(tmp_path / "study"))
    ours = launch_command(launcher, str(script), [], Placement(port="29555"), accelerate_config=config)
    result = subprocess.run(ours, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["5", "no"], result.stderr[-2000:]


# ---------------------------------------------------------------------------------------------------------------
# The local backend on stand-in GPUs


def fake_study(tmp_path: Path, resources: dict) -> tuple[str, Path]:
    """tiny_config's five steps (one adjustment, four XNLI runs) run by fake_step.py instead of Python."""
    config = tiny_config(tmp_path / "model", tmp_path / "study")
    config["resources"] = resources
    config["report"] = {"enabled": False}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path), tmp_path / "study"


@pytest.fixture
def fake_python(tmp_path, monkeypatch):
    records = tmp_path / "records.jsonl"
    monkeypatch.setenv("FAKE_STEP_RECORDS", str(records))
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_STEP} "$@"\n')
    python.chmod(0o755)
    monkeypatch.setattr(local_backend, "STEP_PYTHON", str(python))

    def read() -> list[dict]:
        return [json.loads(line) for line in records.read_text().splitlines()]

    return read


def gpus_of(record: dict) -> set[str]:
    return set(record["visible"].split(",")) if record["visible"] else set()


def test_steps_get_their_own_gpus_processes_and_ports_and_wait_for_free_gpus(tmp_path, fake_python, caplog):
    path, study = fake_study(tmp_path, {"default": {"gpus": 1}, "xnli": {"gpus": 2}})
    # An unfinished run of one XNLI step recorded 1 process: resumed, it keeps 1 process (and so 1 GPU).
    resumed = study / "xnli/original/seed2"
    resumed.mkdir(parents=True)
    record = {"status": "running", "pid": 0, "hostname": "elsewhere", "settings": {"processes": 1}}
    (resumed / "run.json").write_text(json.dumps(record))
    with caplog.at_level(logging.INFO, logger="xladjust.study.local"):
        assert reproduce.main(["--config", path, "--gpus", "0,1,2"]) == 0
    records = {Path(r["output_dir"]).relative_to(study).as_posix(): r for r in fake_python()}
    assert len(records) == 5 and all(r["order"] == "PCI_BUS_ID" for r in records.values())
    expected = {"adjust/per_language/es/seed1": 1, "xnli/original/seed2": 1}
    for folder, record in records.items():
        processes = expected.get(folder, 2)
        assert len(gpus_of(record)) == processes, folder
        if processes == 1:  # one plain Python process
            assert record["argv"][0].endswith("run_adjust.py" if "adjust" in folder else "run_xnli.py")
        else:
            assert record["argv"][:2] == ["-m", "torch.distributed.run"]
            assert value(record["argv"], "--nproc_per_node") == "2"
    for a, b in combinations(records.values(), 2):  # steps running at the same time share no GPU or port
        if a["started"] < b["ended"] and b["started"] < a["ended"]:
            assert not gpus_of(a) & gpus_of(b)
            if "--master_port" in a["argv"] and "--master_port" in b["argv"]:
                assert value(a["argv"], "--master_port") != value(b["argv"], "--master_port")
    two_gpu = [r for f, r in records.items() if f not in expected]
    for a, b in combinations(two_gpu, 2):  # 2 + 2 > 3 GPUs: they waited for each other
        assert a["ended"] <= b["started"] or b["ended"] <= a["started"]
    manifest = {e["name"]: e for e in json.loads((study / "study_manifest.json").read_text())["steps"]}
    launch = manifest["xnli-adjusted-es-seed1"]["launch"]
    assert launch["backend"] == "local" and launch["processes"] == 2 and len(launch["gpus"]) == 2
    assert launch["exit_status"] == 0 and launch["wall_seconds"] > 0
    assert manifest["xnli-original-seed2"]["launch"]["processes"] == 1
    log = (study / "logs" / "xnli-adjusted-es-seed1.log").read_text().splitlines()
    assert f"CUDA_VISIBLE_DEVICES={','.join(launch['gpus'])}, processes: 2, port {launch['port']}" in log[0]
    progress = [r.getMessage() for r in caplog.records if "[study:" in r.getMessage()]
    assert len(progress) == 5 and "[study: 5/5 done, 0 running, 0 waiting, 0 failed]" in progress[-1]
    assert any("ETA" in line for line in progress[:-1])


def test_without_gpus_steps_run_on_the_cpu_and_a_step_too_big_is_refused(tmp_path, fake_python, monkeypatch):
    path, study = fake_study(tmp_path, {"xnli": {"gpus": 2}})
    assert reproduce.main(["--config", path, "--gpus", "none", "--jobs", "2", "--offline"]) == 0
    records = fake_python()
    assert len(records) == 5 and all(not r["argv"][0].startswith("-m") for r in records)  # one process each
    assert all(r["visible"] == "" and r["offline"] == "1" for r in records)  # no GPU seen, even on a GPU machine
    path, _ = fake_study(tmp_path / "big", {"xnli": {"gpus": 4}})
    with pytest.raises(InputError, match=r"xnli-original-seed1 needs 4 GPUs \(resources.xnli.gpus is 4\) but --gpus"):
        reproduce.main(["--config", path, "--gpus", "0,1"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert local_backend.parse_gpus(None) == ["2", "5"] and local_backend.parse_gpus("none") == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_backend.parse_gpus(None) == []


def test_the_eta_counts_the_work_left_at_each_kinds_mean():
    seconds, untimed = eta_seconds({"adjust": [60, 120]}, {"adjust": 2, "xnli": 3}, {"a": ("adjust", 30)}, 2)
    assert seconds == (2 * 90 + 60) / 2 and untimed == ["xnli"]


# ---------------------------------------------------------------------------------------------------------------
# Slurm job scripts (no Slurm needed)


def test_slurm_dry_run_prints_a_job_per_step_with_the_resources_of_its_kind(tmp_path, capsys):
    overrides = [
        'resources={"default": {"gpus": 1, "cpus": 8, "mem": "32G", "time": "2:00:00", "partition": "gpu"},'
        ' "qa": {"gpus": 2, "gpu_type": "a100", "time": "6:00:00"}}',
        'slurm={"account": "proj", "qos": "normal", "constraint": "a100|h100", "sbatch": ["--mail-type=FAIL"],'
        ' "setup": ["module load cuda/12.4", "source ~/venv/bin/activate"], "signal_seconds": 600}',
    ]
    args = ["--config", str(PAPER), "--output_dir", str(tmp_path / "study"), "--backend", "slurm", "--dry_run"]
    assert (
        reproduce.main([*args, "--only", "task=qa", "language=es", "seed=1", "variant=adjusted", "--set", *overrides])
        == 0
    )
    text = capsys.readouterr().out
    assert not (tmp_path / "study").exists()  # a dry run writes nothing
    adjust, qa = text.split("# ===== ")[1:]
    assert adjust.startswith(f"sbatch --parsable {tmp_path}/study/slurm/adjust-es-seed1.sh")
    assert qa.startswith(f"sbatch --parsable --dependency=afterok:<adjust-es-seed1> {tmp_path}/study/slurm/qa-")
    for line in (
        "#SBATCH --gres=gpu:a100:2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32G",
        "#SBATCH --time=6:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=a100|h100",
        "#SBATCH --mail-type=FAIL",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@600",
        "#SBATCH --kill-on-invalid-dep=yes",
        f"#SBATCH --output={tmp_path}/study/logs/qa-adjusted-es-seed1.log",
        "#SBATCH --open-mode=append",
        "module load cuda/12.4",
        "source ~/venv/bin/activate",
        "export CUDA_DEVICE_ORDER=PCI_BUS_ID",
    ):
        assert line in qa.splitlines(), line
    assert "#SBATCH --gres=gpu:1" in adjust and "#SBATCH --time=2:00:00" in adjust
    launch = next(line for line in qa.splitlines() if line.endswith(" &"))
    assert launch.startswith("accelerate launch --config_file")
    assert '--num_processes 2 --num_machines 1 --main_process_port "$MASTER_PORT" --multi_gpu' in launch
    assert "HF_HUB_OFFLINE" not in text  # no prefetch record: online unless --offline


def test_slurm_jobs_are_valid_shell_and_reuse_a_recorded_process_count(tmp_path):
    config = load_config(PAPER, [f"output_dir={tmp_path}", 'resources={"xnli": {"gpus": 4, "nodes": 2}}'])
    steps = {step.name: step for step in build_steps(config)}
    several = plan_job(config, steps["xnli-original-seed1"], offline=True, hf_environment={"HF_HOME": "/shared/hf"})
    assert "#SBATCH --nodes=2" in several.text and "#SBATCH --gres=gpu:4" in several.text
    assert 'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in several.text
    assert "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c " in several.text
    assert "export HF_HUB_OFFLINE=1" in several.text and "export HF_HOME=/shared/hf" in several.text
    # Resumed with the 2 processes its run.json recorded (of 1 GPU each, on one node), not the kind's 4 x 2.
    folder = Path(steps["qa-original-seed1"].output_dir)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": "running", "settings": {"processes": 2}}))
    plan = plan_job(config, steps["qa-original-seed1"], offline=False)
    assert plan.processes == 2 and "#SBATCH --gres=gpu:2" in plan.text and "processes: 2" in plan.text
    # One GPU under torchrun: the command names $MASTER_PORT, so the job sets it (else torchrun gets "").
    single = load_config(PAPER, [f"output_dir={tmp_path}", 'launcher=["torchrun"]'])
    one = plan_job(single, {s.name: s for s in build_steps(single)}["xnli-original-seed2"], offline=False)
    assert '--master_port "$MASTER_PORT"' in one.text or "--master_port $MASTER_PORT" in one.text
    assert one.text.index("export MASTER_PORT=") < one.text.index('MASTER_PORT"')
    for job in (several, plan):
        script = tmp_path / "job.sh"
        script.write_text(job.text)
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


# ---------------------------------------------------------------------------------------------------------------
# Resources of the config


def test_resources_per_kind_over_the_default_and_their_errors(tmp_path):
    config = load_config(PAPER, ['resources={"default": {"gpus": 2, "time": "1:00:00"}, "qa": {"gpus": 4}}'])
    assert (config.resources_for("qa").gpus, config.resources_for("qa").time) == (4, "1:00:00")
    assert (config.resources_for("xnli").gpus, config.resources_for("xnli").nodes) == (2, 1)
    assert config.resources_for("analysis").gpus == 1  # run_analysis.py is one process
    assert load_config(PAPER).resources_for("adjust").gpus == 1
    for overrides, message in (
        ('resources={"adjsut": {"gpus": 1}}', "unknown key resources.adjsut; did you mean resources.adjust?"),
        ('resources={"qa": {"gpu": 1}}', "unknown key resources.qa.gpu; did you mean resources.qa.gpus?"),
        ('resources={"qa": {"gpus": -1}}', "resources.qa.gpus must be at least 0"),
        ('resources={"xsr": {"gpus": 2}}', "resources.xsr: xsr steps run run_analysis.py in one process"),
        ('slurm={"gpu_option": "tres"}', "slurm.gpu_option must be gres or gpus"),
    ):
        with pytest.raises(InputError, match=message.replace("?", r"\?").replace(".", r"\.")):
            load_config(PAPER, [overrides])


# ---------------------------------------------------------------------------------------------------------------
# The estimate


def chain(*specs: tuple[str, list[str]]) -> list[Step]:
    return [Step(name, "run_x.py", [], name, depends, {"task": "x"}) for name, depends in specs]


def test_list_scheduling_on_a_small_graph_by_hand():
    steps = chain(("a", []), ("b", ["a"]), ("c", []))
    minutes, needs = {"a": 10.0, "b": 5.0, "c": 7.0}, {"a": 1, "b": 1, "c": 1}
    assert schedule(steps, minutes, needs, 1) == 22  # one GPU: one after the other
    assert schedule(steps, minutes, needs, 2) == 15  # a then b beside c: the critical path
    assert schedule(steps, minutes, {"a": 1, "b": 2, "c": 1}, 2) == 15
    assert schedule(steps, minutes, {"a": 1, "b": 3, "c": 1}, 2) is None


def test_the_paper_estimate_on_1_4_and_8_gpus(capsys):
    config = load_config(PAPER)
    steps = build_steps(config)
    one, four, eight = estimate(config, steps, [1, 4, 8])
    assert one.minutes == pytest.approx(one.work_minutes)
    assert four.minutes >= max(one.work_minutes / 4, one.critical_minutes)
    assert one.minutes > four.minutes > eight.minutes >= max(one.work_minutes / 8, one.critical_minutes)
    assert reproduce.main(["--config", str(PAPER), "--estimate"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ESTIMATED wall time of") and "not a measurement" in text
    assert f"| 1 | {format_duration(one.minutes * 60)} |" in text and "| adjust | 15 | 1 |" in text
    chosen = select(steps, {"task": {"ner"}})
    assert reproduce.main(["--config", str(PAPER), "--estimate", "--gpus", "2", "--only", "task=ner"]) == 0
    assert f"{len(chosen)} steps" in capsys.readouterr().out


def test_the_cluster_config_of_the_docs_loads_and_gives_each_kind_its_resources(tmp_path):
    text = (ROOT / "docs" / "cluster.md").read_text()
    example = json.loads(next(block for block in text.split("```json")[1:] if '"extends"' in block).split("```")[0])
    example["extends"] = str(PAPER)
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(example))
    config = load_config(path)
    assert config.resources_for("xsr").time == "0:30:00" and config.resources_for("qa").mem == "32G"
    assert config.slurm.account == "proj123" and config.slurm.setup[0] == "module load cuda/12.4"


def test_status_of_a_study_from_its_run_folders(tmp_path, capsys):
    path, _ = fake_study(tmp_path, {})
    steps = {step.name: Path(step.output_dir) for step in build_steps(load_config(path))}
    gone = subprocess.Popen(["true"])
    gone.wait()
    for name, record in (
        ("adjust-es-seed1", {"status": "finished"}),
        ("xnli-original-seed1", {"status": "running", "pid": gone.pid, "hostname": socket.gethostname()}),
        ("xnli-original-seed2", {"status": "running", "pid": os.getppid(), "hostname": socket.gethostname()}),
    ):
        steps[name].mkdir(parents=True)
        (steps[name] / "run.json").write_text(json.dumps(record))
    assert reproduce.main(["--config", path, "--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["done", "adjust-es-seed1", str(steps["adjust-es-seed1"])]
    assert lines[1].split()[:4] == ["failed", "xnli-original-seed1", "run.json:", "interrupted;"]
    assert lines[3].split()[:4] == ["running", "xnli-original-seed2", "run.json", "says"]
    assert lines[2].split() == ["not", "submitted", "xnli-adjusted-es-seed1"]
    assert lines[-1] == "1 done, 1 failed, 2 not submitted, 1 running"
