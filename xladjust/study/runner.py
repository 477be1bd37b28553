"""Running a study's steps: the manifest, and a scheduler that runs each step once its
dependencies have finished (crashed steps resume or start again, finished ones are skipped)."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from xladjust.io import write_json
from xladjust.run_folder import RUN_FILE
from xladjust.study.config import StudyConfig
from xladjust.study.matrix import Step
from xladjust.study.overlap import find_overlaps

SCRIPTS_DIR = Path(__file__).resolve().parents[2]  # the run_*.py scripts live at the repository's top level
logger = logging.getLogger(__name__)


def manifest_entry(step: Step) -> dict[str, Any]:
    entry = {
        **step.key,
        "name": step.name,
        "script": step.script,
        "output_dir": step.output_dir,
        "depends_on": step.depends_on,
        "done": step.is_done(),
    }
    if entry["done"]:  # task runs keep their final model (the four-model analysis reads it): its disk cost
        entry["disk_bytes"] = folder_bytes(step.output_dir)
    return entry


def folder_bytes(folder: str) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    return sum(path.lstat().st_size for path in Path(folder).rglob("*") if path.is_file() and not path.is_symlink())


def write_manifest(config: StudyConfig, steps: Sequence[Step]) -> str:
    """``OUTPUT_DIR/study_manifest.json``: the config as given (``extends`` and ``--set`` applied), every step
    with its key, folder, dependencies and status, and the evaluation overlaps ``parallel.allow_overlap`` let
    through (:mod:`xladjust.study.overlap`)."""
    path = os.path.join(config.output_dir, "study_manifest.json")
    manifest: dict[str, Any] = {"config": config.as_dict(), "steps": [manifest_entry(step) for step in steps]}
    overlaps = find_overlaps(config)
    if overlaps:  # allowed by parallel.allow_overlap (others are refused when the config is built)
        manifest["evaluation_overlaps"] = [overlap.as_dict() for overlap in overlaps]
    write_json(path, manifest)
    return path


def leftover_args(step: Step) -> list[str]:
    """``--overwrite_output_dir`` for a step folder that holds files but no ``run.json`` (left by an older version:
    nothing says what made them). A crashed step's own folder has its ``run.json``: the script resumes it by
    itself (from its last checkpoint, or from scratch), and refuses it if the step's settings changed."""
    folder = Path(step.output_dir)
    if not folder.is_dir() or not any(folder.iterdir()) or (folder / RUN_FILE).is_file():
        return []
    return ["--overwrite_output_dir"]


def run_step(step: Step, launcher: Sequence[str], log_dir: str) -> int:
    command = step.command(launcher) + leftover_args(step)
    command[command.index(step.script)] = str(SCRIPTS_DIR / step.script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SCRIPTS_DIR), os.environ.get("PYTHONPATH")]))}
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"{step.name}.log")
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        status = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    logger.info("%s: exit %d after %.0f s (log: %s)", step.name, status, time.time() - started, log_path)
    return status


def run_steps(
    steps: Sequence[Step],
    launcher: Sequence[str],
    log_dir: str,
    jobs: int = 1,
    keep_going: bool = False,
    on_finish: Callable[[], Any] | None = None,
) -> set[str]:
    """Run the steps not done yet, up to ``jobs`` at a time, each once its dependencies have finished; return the
    names of the failed steps (and of those skipped because a dependency failed)."""
    pending = [step for step in steps if not step.is_done()]
    for step in steps:
        if step.is_done():
            logger.info("%s: done, skipped (%s)", step.name, step.done_marker)
    finished = {step.name for step in steps if step.is_done()}
    failed: set[str] = set()
    running: dict[Future, Step] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while pending or running:
            for step in list(pending):
                if failed.intersection(step.depends_on):
                    logger.error("%s: skipped, a step it depends on failed", step.name)
                    failed.add(step.name)
                    pending.remove(step)
                elif len(running) < jobs and finished.issuperset(step.depends_on) and not (failed and not keep_going):
                    logger.info("%s: running", step.name)
                    running[pool.submit(run_step, step, launcher, log_dir)] = step
                    pending.remove(step)
            if not running:
                break  # nothing can start: an earlier failure without --keep_going
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                step = running.pop(future)
                if future.result() != 0 or not step.is_done():
                    failed.add(step.name)
                    logger.error("%s failed; see %s", step.name, os.path.join(log_dir, f"{step.name}.log"))
                else:
                    finished.add(step.name)
                if on_finish is not None:
                    on_finish()
    return failed
