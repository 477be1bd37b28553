"""The Slurm backend: one batch job per step, the whole dependency graph submitted at once with plain ``sbatch``.

Why plain ``sbatch`` and not submitit: a step is already a command line (a script of this repository), so a job
is a short shell script a researcher can read, rerun and resubmit by hand (``OUTPUT_DIR/slurm/STEP.sh``), with no
pickled Python function and no extra dependency; the dependency graph is ``sbatch --dependency`` either way
(submitit has none of its own); and stopping a step before the time limit to requeue it is a few shell lines
(below) rather than submitit's checkpointing protocol, which would duplicate the run folders' own resumption.

Each job (:func:`job_script`):

- asks for its kind's resources (``resources.KIND``: GPUs through ``--gres=gpu:[TYPE:]K`` or
  ``--gpus-per-node``, nodes, CPUs, memory, time, partition) and the cluster's (``slurm``: account, QoS,
  constraint, extra ``#SBATCH`` options), with ``--kill-on-invalid-dep=yes``, so that a failed step cancels the
  jobs that need it instead of leaving them pending forever;
- appends its output to ``OUTPUT_DIR/logs/STEP.log`` (a requeued job adds to the same log);
- runs the setup lines (``module load``, activating an environment), then the step in the background, in a
  process group of its own, and waits for it;
- is requeueable (``--requeue``) and asks for ``USR1`` ``signal_seconds`` before its time limit
  (``--signal=B:USR1@N``; preemption that signals does the same): the trap stops the step (``TERM`` to its
  process group, then waits for it) and requeues the job (``scontrol requeue``), which keeps its job id, so its
  dependants keep waiting. The rerun resumes from the step's last ``checkpoint-*`` (docs/run_folders.md): what is
  lost is the training since the last checkpoint, at most ``save_steps`` steps (with ``save_strategy: steps``;
  with ``save_strategy: no`` the step starts again from scratch). A ``TERM`` (``scancel``, preemption without a
  signal) stops the step the same way without requeueing;
- with ``nodes > 1``, starts one launcher per node with ``srun`` and a rendezvous on the first node.

:func:`submit` submits a job for every step not done whose job is not queued or running, with
``--dependency=afterok:`` on the jobs of its dependencies that are still queued or running (a dependency finished
on disk needs none: a site may treat a dependency on a job id it forgot as satisfied, another as invalid). The job
ids go to the manifest (``launch``); a second call submits nothing for queued, running or finished steps and
resubmits failed or cancelled ones. :func:`statuses` reads the step's ``run.json`` and the scheduler (``squeue``,
then ``scontrol show job``, then ``sacct`` where accounting exists).
"""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xladjust.errors import InputError
from xladjust.io import write_text
from xladjust.run_folder import RUN_FILE, run_status
from xladjust.study.config import Resources, StudyConfig
from xladjust.study.launch import (
    SCRIPTS_DIR,
    Placement,
    ShellWord,
    accelerate_config_path,
    launch_command,
    recorded_processes,
    script_path,
    shell_join,
    write_accelerate_config,
)
from xladjust.study.matrix import Step
from xladjust.study.runner import leftover_args

logger = logging.getLogger(__name__)

QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT"})
RUNNING = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESIZING"})
NEVER = "DependencyNeverSatisfied"
"""The reason of a job pending on a failed dependency (when it was submitted without kill-on-invalid-dep)."""
FREE_PORT = """$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')"""


@dataclass(frozen=True)
class JobState:
    """What the scheduler says of a job: its state (``UNKNOWN`` when nothing remembers it) and why it waits."""

    state: str
    reason: str = ""

    @property
    def queued(self) -> bool:
        return self.state in QUEUED and self.reason != NEVER

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def active(self) -> bool:
        """Queued or running: the job will still run the step (or is running it)."""
        return self.queued or self.running

    def describe(self) -> str:
        if self.state == "UNKNOWN":
            return "not known to the scheduler any more"
        reason = f" ({self.reason})" if self.reason and self.reason not in ("None", "(null)") else ""
        return f"{self.state}{reason}"


@dataclass
class SlurmCommands:
    """The Slurm client commands (``sbatch``, ``squeue``, ``scontrol``, ``sacct``, ``scancel``)."""

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise InputError(f"{command[0]} not found: the Slurm backend needs the Slurm client commands") from None

    def sbatch(self, script: str, dependencies: Sequence[str]) -> str:
        """Submit ``script``; its job id."""
        options = [f"--dependency=afterok:{':'.join(dependencies)}"] if dependencies else []
        result = self._run("sbatch", "--parsable", *options, script)
        if result.returncode != 0:
            raise InputError(f"sbatch refused the job: {result.stderr.strip() or result.stdout.strip()}", script)
        return result.stdout.strip().split(";")[0]

    def scancel(self, job_id: str) -> None:
        self._run("scancel", job_id)

    def states(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The state of each job: from ``squeue`` (queued and running jobs), else ``scontrol show job`` (ended
        less than ``MinJobAge`` ago), else ``sacct`` (where accounting exists), else ``UNKNOWN``."""
        wanted = set(job_ids)
        states: dict[str, JobState] = {}
        if not wanted:
            return states
        result = self._run("squeue", "--noheader", "--format=%i|%T|%r", f"--user={getpass.getuser()}")
        if result.returncode != 0:
            raise InputError(f"squeue failed: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            job_id, _, rest = line.strip().partition("|")
            state, _, reason = rest.partition("|")
            if job_id in wanted:
                states[job_id] = JobState(state, reason)
        for job_id in sorted(wanted - set(states)):
            shown = self._run("scontrol", "show", "job", "-o", job_id)
            fields = dict(word.split("=", 1) for word in shown.stdout.split() if "=" in word)
            if shown.returncode == 0 and "JobState" in fields:
                states[job_id] = JobState(fields["JobState"], fields.get("Reason", ""))
        unknown = sorted(wanted - set(states))
        if unknown:
            result = self._run(
                "sacct", "--noheader", "--parsable2", "-X", "-o", "JobID,State", "-j", ",".join(unknown)
            )
            if result.returncode == 0:
                for line in result.stdout.splitlines():
                    job_id, _, state = line.partition("|")
                    if job_id in unknown and state:
                        states[job_id] = JobState(state.split()[0])
        for job_id in wanted - set(states):
            states[job_id] = JobState("UNKNOWN")
        return states


# ---------------------------------------------------------------------------------------------------------------
# Job scripts


@dataclass(frozen=True)
class JobPlan:
    """One step's job: what it asks for and the command it runs."""

    step: Step
    resources: Resources
    processes: int  # per node
    script: str  # the job script's path
    log: str
    text: str  # the job script


def _sbatch_lines(config: StudyConfig, step: Step, resources: Resources, log: str, gpus: int) -> list[str]:
    slurm = config.slurm
    options = [
        f"--job-name={slurm.job_name}-{step.name}",
        f"--output={log}",
        "--open-mode=append",
        f"--nodes={resources.nodes}",
        "--ntasks-per-node=1",
    ]
    if gpus:
        count = f"{resources.gpu_type}:{gpus}" if resources.gpu_type else str(gpus)
        options.append(f"--gres=gpu:{count}" if slurm.gpu_option == "gres" else f"--gpus-per-node={count}")
    for flag, value in (
        ("--cpus-per-task", resources.cpus),
        ("--mem", resources.mem),
        ("--time", resources.time),
        ("--partition", resources.partition),
        ("--account", slurm.account),
        ("--qos", slurm.qos),
        ("--constraint", slurm.constraint),
    ):
        if value is not None:
            options.append(f"{flag}={value}")
    options += ["--requeue", f"--signal=B:USR1@{slurm.signal_seconds}", "--kill-on-invalid-dep=yes", *slurm.sbatch]
    return [f"#SBATCH {option}" for option in options]


def plan_job(
    config: StudyConfig,
    step: Step,
    *,
    offline: bool,
    hf_environment: Mapping[str, str] | None = None,
    python: str = sys.executable,
    workdir: str | None = None,
) -> JobPlan:
    """The job of ``step`` (see the module docstring); ``hf_environment``: Hub cache variables to export (the
    prefetch's), ``workdir``: the folder the step runs in (default: the current one, where relative paths of the
    config resolve)."""
    resources = config.resources_for(step.key["task"])
    gpus = resources.gpus
    processes = max(gpus, 1)
    recorded = recorded_processes(step)
    if recorded is not None and recorded != processes * resources.nodes:
        if recorded % resources.nodes:
            raise InputError(
                f"{step.name}: its unfinished run was started with {recorded} processes, which {resources.nodes} "
                f"nodes cannot share evenly (resources.{step.key['task']}.nodes)",
                os.path.join(step.output_dir, RUN_FILE),
            )
        processes = recorded // resources.nodes
        gpus = processes if gpus else 0
    root = os.path.abspath(config.output_dir)
    log = os.path.join(root, "logs", f"{step.name}.log")
    path = os.path.join(root, "slurm", f"{step.name}.sh")
    several = resources.nodes > 1
    placement = Placement(
        processes=processes,
        nodes=resources.nodes,
        port=ShellWord("$MASTER_PORT"),
        master_addr=ShellWord("$MASTER_ADDR") if several else "127.0.0.1",
        node_rank=ShellWord("$SLURM_NODEID"),
        run_id=ShellWord("$SLURM_JOB_ID"),
    )
    accelerate_config = accelerate_config_path(root)
    command = launch_command(
        config.launcher,
        script_path(step),
        [*step.args, *leftover_args(step)],
        placement,
        accelerate_config=accelerate_config,
        python=python,
    )
    line = shell_join(command)
    if several:
        srun = ["srun", f"--nodes={resources.nodes}", f"--ntasks={resources.nodes}", "--ntasks-per-node=1"]
        line = shell_join([*srun, "--kill-on-bad-exit=1", "bash", "-c", "exec " + line])
    exports = {"PYTHON": python, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **(hf_environment or {})}
    if not gpus:  # a CPU step: no GPU, also on a node without cgroups hiding the ones it was not given
        exports["CUDA_VISIBLE_DEVICES"] = ""
    if offline:
        exports.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    lines = [
        "#!/bin/bash",
        *_sbatch_lines(config, step, resources, log, gpus),
        f"# Step {step.name} of the study in {root}, written by reproduce.py --backend slurm (docs/cluster.md).",
        "# Its dependencies are sbatch options of the submission: --dependency=afterok:JOB,... on the jobs of the",
        "# steps it needs that were still queued or running (see study_manifest.json).",
        "set -m  # the step gets a process group of its own: stopping it stops every process it started",
        f"cd {shlex.quote(workdir or os.getcwd())}",
        f"export PYTHONPATH={shlex.quote(str(SCRIPTS_DIR))}${{PYTHONPATH:+:$PYTHONPATH}}",
        *(f"export {name}={shlex.quote(value)}" for name, value in exports.items()),
        *config.slurm.setup,
    ]
    if processes * resources.nodes > 1 or "MASTER_PORT" in line:  # torchrun names its port even for one process
        lines.append(f"export MASTER_PORT={FREE_PORT}")
    if several:
        lines.append('export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)')
    world = processes * resources.nodes
    lines += [
        'echo "# $(date -Is) job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname):'
        f' CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES-(not set)}}, processes: {world}"',
        f"echo {shlex.quote(line)}",
        "stop() {  # USR1: the time limit is near (or preemption): stop the step and requeue; TERM: stop",
        '    echo "# $(date -Is) $1: stopping the step (it resumes from its last checkpoint when rerun)"',
        '    kill -TERM -- "-$step" 2>/dev/null',
        '    wait "$step"',
        '    if [ "$1" = USR1 ]; then scontrol requeue "$SLURM_JOB_ID"; fi',
        "    exit 143",
        "}",
        "trap 'stop USR1' USR1",
        "trap 'stop TERM' TERM",
        f"{line} &",
        "step=$!",
        'wait "$step"',
        "status=$?",
        'echo "# $(date -Is) exit status $status"',
        'exit "$status"',
    ]
    return JobPlan(step, resources, processes, path, log, "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Submitting, and where each step stands


@dataclass
class Submission:
    """What :func:`submit` did: the job id of each step it submitted or found queued/running, and the rest."""

    submitted: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)  # already queued or running
    done: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def submit(
    config: StudyConfig,
    steps: Sequence[Step],
    launches: dict[str, dict[str, Any]],
    *,
    commands: SlurmCommands,
    offline: bool,
    hf_environment: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> Submission:
    """Submit the steps not done whose job is not queued or running (see the module docstring); ``launches`` (the
    manifest's) gets each new job."""
    outcome = Submission()
    write_accelerate_config(config.output_dir)
    previous = {
        name: launch["job_id"]
        for name, launch in launches.items()
        if launch.get("backend") == "slurm" and launch.get("job_id")
    }
    pending = [step for step in steps if not step.is_done()]
    states = commands.states([previous[step.name] for step in pending if step.name in previous])
    active: dict[str, str] = {}
    for step in steps:
        if step.is_done():
            outcome.done.append(step.name)
            continue
        job_id = previous.get(step.name)
        if job_id is not None:
            state = states[job_id]
            if state.active:
                active[step.name] = outcome.kept[step.name] = job_id
                logger.info("%s: job %s is %s, not submitted again", step.name, job_id, state.describe())
                continue
            if state.state in QUEUED:  # pending on a dependency that failed: it would never run
                commands.scancel(job_id)
            logger.info("%s: job %s %s; submitting it again", step.name, job_id, state.describe())
        waiting = [name for name in step.depends_on if name not in active and not _is_done(steps, name)]
        if waiting:
            raise InputError(f"{step.name}: its dependencies {waiting} have no job and are not done")
        plan = plan_job(config, step, offline=offline, hf_environment=hf_environment, python=python)
        write_text(plan.script, plan.text)
        os.makedirs(os.path.dirname(plan.log), exist_ok=True)  # Slurm does not create the log's folder
        dependencies = [active[name] for name in step.depends_on if name in active]
        job_id = commands.sbatch(plan.script, dependencies)
        active[step.name] = outcome.submitted[step.name] = job_id
        launches[step.name] = {
            "backend": "slurm",
            "job_id": job_id,
            "after": dependencies,
            "submitted": _now(),
            "script": plan.script,
            "nodes": plan.resources.nodes,
            "processes": plan.processes * plan.resources.nodes,
        }
        after = f" after {','.join(dependencies)}" if dependencies else ""
        logger.info("%s: submitted as job %s%s", step.name, job_id, after)
    return outcome


def _is_done(steps: Sequence[Step], name: str) -> bool:
    return any(step.name == name and step.is_done() for step in steps)


def dry_run(
    config: StudyConfig, steps: Sequence[Step], *, offline: bool, hf_environment: Mapping[str, str] | None = None
) -> str:
    """The job scripts of the steps not done, with the sbatch command each would be submitted with."""
    blocks = []
    for step in steps:
        if step.is_done():
            blocks.append(f"# {step.name}: done, not submitted")
            continue
        plan = plan_job(config, step, offline=offline, hf_environment=hf_environment)
        waiting = [name for name in step.depends_on if not _is_done(steps, name)]
        dependency = f"--dependency=afterok:{':'.join(f'<{name}>' for name in waiting)} " if waiting else ""
        blocks.append(f"# ===== sbatch --parsable {dependency}{plan.script}\n{plan.text}")
    return "\n".join(blocks)


def statuses(
    steps: Sequence[Step], launches: Mapping[str, Mapping[str, Any]], commands: SlurmCommands | None
) -> list[tuple[Step, str, str]]:
    """``(step, status, detail)`` per step: done, running, queued, failed or not submitted, from its ``run.json``
    and, for a step with a Slurm job (when ``commands`` is given), the scheduler."""
    jobs = {
        step.name: str(launches[step.name]["job_id"])
        for step in steps
        if launches.get(step.name, {}).get("backend") == "slurm" and not step.is_done()
    }
    states = commands.states(sorted(set(jobs.values()))) if commands is not None and jobs else {}
    rows = []
    for step in steps:
        launch = launches.get(step.name, {})
        try:
            on_disk = run_status(step.output_dir)
        except InputError:
            on_disk = "unreadable"
        if on_disk == "finished":
            rows.append((step, "done", step.output_dir))
        elif jobs.get(step.name) in states:
            job_id = jobs[step.name]
            state = states[job_id]
            status = "queued" if state.queued else "running" if state.running else "failed"
            rows.append((step, status, f"job {job_id}: {state.describe()}"))
        elif on_disk == "running":
            rows.append((step, "running", f"{RUN_FILE} says running and its process is alive (or elsewhere)"))
        elif on_disk in ("interrupted", "unreadable") or launch.get("exit_status") not in (None, 0):
            rows.append((step, "failed", f"{RUN_FILE}: {on_disk}; run the study again to resume it"))
        else:
            rows.append((step, "not submitted", ""))
    return rows
