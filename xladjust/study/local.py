"""The local backend: the study's steps on this machine, each on GPUs of its own.

Each step asks for ``resources.KIND.gpus`` GPUs (default 1; its kind is ``key["task"]``: adjust, a task, analysis,
xsr). A step starts once its dependencies have finished and that many of ``--gpus`` are free; it gets its own
``CUDA_VISIBLE_DEVICES`` slice (``CUDA_DEVICE_ORDER=PCI_BUS_ID``: the ids nvidia-smi shows), as many processes as
GPUs, a free rendezvous port, and the study's neutral accelerate config (:mod:`xladjust.study.launch`). Without
GPUs (``--gpus none``, or none visible) every step runs on the CPU in one process, ``--jobs`` at a time, and sees
no GPU. A step resumed from an unfinished run keeps the process count its ``run.json`` recorded (its script
refuses another), and so as many GPUs. A step that needs more GPUs than are free waits; later steps that fit start
meanwhile.

The study's progress is logged as steps end: how many are done, running and left, the step's wall time, and an
ETA from the finished steps of each kind. What each step ran on (GPUs, processes, port, wall time, exit status)
is its ``launch`` in the manifest; its output goes to ``OUTPUT_DIR/logs/STEP.log``.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from xladjust.cli import format_duration
from xladjust.errors import InputError
from xladjust.study.config import StudyConfig
from xladjust.study.launch import (
    Placement,
    accelerate_config_path,
    free_port,
    launch_command,
    recorded_processes,
    script_path,
    step_environment,
    write_accelerate_config,
)
from xladjust.study.matrix import Step
from xladjust.study.runner import leftover_args, run_command

logger = logging.getLogger(__name__)

STEP_PYTHON = sys.executable
"""The Python that runs the steps (a ``[]`` or ``["python"]`` launcher, and torchrun): the one running reproduce.py."""


def visible_gpus() -> list[str]:
    """The GPUs this process may use: the entries of ``CUDA_VISIBLE_DEVICES`` when it is set, else ``0..N-1`` for
    the N devices torch sees (none: an empty list)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip() and entry.strip() != "-1"]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def parse_gpus(text: str | None) -> list[str]:
    """``--gpus``: ``0,1,2,3``, ``none`` (CPU only) or absent (:func:`visible_gpus`)."""
    if text is None:
        return visible_gpus()
    if text.strip().lower() in ("", "none", "cpu"):
        return []
    gpus = [entry.strip() for entry in text.split(",") if entry.strip()]
    if len(set(gpus)) != len(gpus):
        raise InputError(f"--gpus lists a GPU twice: {text}")
    return gpus


def eta_seconds(
    wall_times: Mapping[str, Sequence[float]],
    left: Mapping[str, int],
    running: Mapping[str, tuple[str, float]],
    slots: int,
) -> tuple[float, list[str]]:
    """``(seconds, untimed kinds)``: the work left at the mean wall time of the finished steps of each kind,
    spread over ``slots`` steps at once. ``left``: steps not started yet, per kind; ``running``: ``{step: (kind,
    seconds it ran)}``, each counted as its kind's mean minus what it ran already. Kinds with no finished step yet
    are listed, not guessed."""
    means = {kind: sum(times) / len(times) for kind, times in wall_times.items() if times}
    work = 0.0
    untimed = sorted({kind for kind, count in left.items() if count and kind not in means})
    for kind, count in left.items():
        work += means.get(kind, 0.0) * count
    for kind, elapsed in running.values():
        if kind in means:
            work += max(means[kind] - elapsed, 0.0)
        elif kind not in untimed:
            untimed.append(kind)
    return work / max(slots, 1), untimed


@dataclass
class _Running:
    step: Step
    gpus: tuple[str, ...]
    port: int
    started: float
    launch: dict[str, Any]


@dataclass
class LocalBackend:
    """Runs steps on this machine (see the module docstring). ``gpus``: the GPU ids to share out (empty: CPU);
    ``jobs``: steps at once (default: one per GPU, 1 without GPUs); ``offline``: steps run with the Hub off;
    ``launches``: the manifest's record of each step's launch, updated as steps start and end; ``on_change`` is
    called after each (it rewrites the manifest)."""

    config: StudyConfig
    gpus: list[str]
    log_dir: str
    jobs: int | None = None
    keep_going: bool = False
    offline: bool = False
    launches: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_change: Callable[[], Any] | None = None
    python: str = field(default_factory=lambda: STEP_PYTHON)

    def __post_init__(self) -> None:
        self.accelerate_config = accelerate_config_path(self.config.output_dir)
        if self.jobs is None:
            self.jobs = max(1, len(self.gpus))

    # -- what a step needs and the command it runs

    def processes(self, step: Step) -> int:
        """Processes of the step: what its unfinished run recorded, else its kind's GPUs (1 on the CPU)."""
        recorded = recorded_processes(step)
        if recorded is not None:
            return recorded
        wanted = self.config.resources_for(step.key["task"]).gpus
        return max(wanted, 1) if self.gpus else 1

    def gpus_needed(self, step: Step) -> int:
        """GPUs the step waits for: its process count, 0 on the CPU or for a kind that asks for none."""
        if not self.gpus or self.config.resources_for(step.key["task"]).gpus == 0:
            return 0
        return self.processes(step)

    def command(self, step: Step, port: int) -> list[str]:
        placement = Placement(processes=self.processes(step), port=str(port))
        args = [*step.args, *leftover_args(step)]
        return launch_command(
            self.config.launcher,
            script_path(step),
            args,
            placement,
            accelerate_config=self.accelerate_config,
            python=self.python,
        )

    # -- the scheduler

    def run(self, steps: Sequence[Step]) -> set[str]:
        """Run the steps not done yet, each once its dependencies have finished and its GPUs are free; return the
        names of the failed steps (and of those skipped because a dependency failed)."""
        write_accelerate_config(self.config.output_dir)
        done = [step for step in steps if step.is_done()]
        for step in done:
            logger.info("%s: done, skipped (%s)", step.name, step.done_marker)
        pending = [step for step in steps if not step.is_done()]
        self._check_fits(pending)
        finished = {step.name for step in done}
        failed: set[str] = set()
        free = list(self.gpus)
        running: dict[Future, _Running] = {}
        wall_times: dict[str, list[float]] = {}
        total = len(steps)
        target = "CPU" if not self.gpus else f"GPUs {','.join(self.gpus)}"
        logger.info(
            "study: %d steps, %d done, %d to run on %s, %d at a time",
            total,
            len(done),
            len(pending),
            target,
            self.jobs,
        )
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            while pending or running:
                for step in list(pending):
                    if failed.intersection(step.depends_on):
                        logger.error("%s: skipped, a step it depends on failed", step.name)
                        failed.add(step.name)
                        pending.remove(step)
                        continue
                    if (failed and not self.keep_going) or len(running) >= self.jobs:
                        continue
                    if not finished.issuperset(step.depends_on):
                        continue
                    need = self.gpus_needed(step)
                    if need > len(free):
                        continue  # waits for GPUs; a later step may fit now
                    gpus = tuple(free[:need])
                    del free[:need]
                    pending.remove(step)
                    entry = self._start(step, gpus, {r.port for r in running.values()})
                    running[pool.submit(self._execute, entry)] = entry
                if not running:
                    break  # nothing can start: an earlier failure without --keep_going
                ended, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in ended:
                    entry = running.pop(future)
                    free = self._release(free, entry.gpus)
                    status = future.result()
                    seconds = time.time() - entry.started
                    entry.launch.update(wall_seconds=round(seconds, 1), exit_status=status)
                    if status != 0 or not entry.step.is_done():
                        failed.add(entry.step.name)
                        log = os.path.join(self.log_dir, f"{entry.step.name}.log")
                        logger.error(
                            "%s failed (exit status %d) after %s; see %s",
                            entry.step.name,
                            status,
                            format_duration(seconds),
                            log,
                        )
                    else:
                        finished.add(entry.step.name)
                        wall_times.setdefault(entry.step.key["task"], []).append(seconds)
                    self._progress(entry.step, seconds, finished, failed, pending, running, wall_times, total)
                    if self.on_change is not None:
                        self.on_change()
        return failed

    def _check_fits(self, pending: Sequence[Step]) -> None:
        for step in pending:
            need = self.gpus_needed(step)
            if need > len(self.gpus):
                recorded = recorded_processes(step)
                why = (
                    f"its unfinished run in {step.output_dir} was started with {recorded} processes"
                    if recorded is not None
                    else f"resources.{step.key['task']}.gpus is {need}"
                )
                raise InputError(f"{step.name} needs {need} GPUs ({why}) but --gpus gives {len(self.gpus)}")

    def _release(self, free: list[str], gpus: Sequence[str]) -> list[str]:
        returned = set(free) | set(gpus)
        return [gpu for gpu in self.gpus if gpu in returned]  # keep --gpus order: slices stay contiguous

    def _start(self, step: Step, gpus: tuple[str, ...], ports: set[int]) -> _Running:
        port = free_port(ports)
        launch = {
            "backend": "local",
            "host": socket.gethostname(),
            "gpus": list(gpus),
            "processes": self.processes(step),
            "port": port,
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        self.launches[step.name] = launch
        where = f"GPU {','.join(gpus)}" if gpus else "CPU"
        logger.info("%s: running on %s (%d processes, port %d)", step.name, where, launch["processes"], port)
        if self.on_change is not None:
            self.on_change()
        return _Running(step, gpus, port, time.time(), launch)

    def _execute(self, entry: _Running) -> int:
        step = entry.step
        command = self.command(step, entry.port)
        env = step_environment(entry.gpus, self.offline)  # a CPU step sees no GPU, also on a GPU machine
        visible = env["CUDA_VISIBLE_DEVICES"] or "(none)"
        header = "\n".join(
            [
                f"# {entry.launch['started']} on {entry.launch['host']}: CUDA_VISIBLE_DEVICES={visible}, "
                f"processes: {entry.launch['processes']}, port {entry.port}"
                + (", HF_HUB_OFFLINE=1" if self.offline else ""),
                " ".join(command),
            ]
        )
        return run_command(command, env, os.path.join(self.log_dir, f"{step.name}.log"), header)

    def _progress(
        self,
        step: Step,
        seconds: float,
        finished: set[str],
        failed: set[str],
        pending: Sequence[Step],
        running: Mapping[Future, _Running],
        wall_times: Mapping[str, Sequence[float]],
        total: int,
    ) -> None:
        left: dict[str, int] = {}
        for other in pending:
            left[other.key["task"]] = left.get(other.key["task"], 0) + 1
        now = time.time()
        active = {r.step.name: (r.step.key["task"], now - r.started) for r in running.values()}
        slots = min(self.jobs, max(len(self.gpus), 1)) if self.gpus else self.jobs
        eta, untimed = eta_seconds(wall_times, left, active, slots)
        outcome = "failed" if step.name in failed else "done"
        line = (
            f"{step.name}: {outcome} in {format_duration(seconds)} [study: {len(finished)}/{total} done, "
            f"{len(running)} running, {len(pending)} waiting, {len(failed)} failed]"
        )
        if pending or running:
            line += f"; ETA ≈ {format_duration(eta)} from the finished steps of each kind"
            if untimed:
                line += f" (not counting kinds not timed yet: {', '.join(untimed)})"
        logger.info(line)
