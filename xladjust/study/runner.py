"""What every backend of the study shares: the manifest (every step with its status and how it was launched), the
command-line repair for folders of older versions, and running one command into a step's log.

The backends are :mod:`xladjust.study.local` (this machine, its GPUs) and :mod:`xladjust.study.slurm`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xladjust.io import write_json
from xladjust.run_folder import RUN_FILE
from xladjust.study.config import StudyConfig
from xladjust.study.matrix import Step
from xladjust.study.overlap import find_overlaps

MANIFEST = "study_manifest.json"
logger = logging.getLogger(__name__)


def manifest_entry(step: Step, launch: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
    if launch:
        entry["launch"] = dict(launch)
    return entry


def folder_bytes(folder: str) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    return sum(path.lstat().st_size for path in Path(folder).rglob("*") if path.is_file() and not path.is_symlink())


def write_manifest(
    config: StudyConfig, steps: Sequence[Step], launches: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """``OUTPUT_DIR/study_manifest.json``: the config as given (``extends`` and ``--set`` applied), every step
    with its key, folder, dependencies, status and ``launch``: how its last run was started (backend, GPUs,
    processes, Slurm job id; see docs/cluster.md), and the evaluation overlaps ``parallel.allow_overlap`` let
    through (:mod:`xladjust.study.overlap`)."""
    path = os.path.join(config.output_dir, MANIFEST)
    launches = launches or {}
    manifest: dict[str, Any] = {
        "config": config.as_dict(),
        "steps": [manifest_entry(step, launches.get(step.name)) for step in steps],
    }
    overlaps = find_overlaps(config)
    if overlaps:  # allowed by parallel.allow_overlap (others are refused when the config is built)
        manifest["evaluation_overlaps"] = [overlap.as_dict() for overlap in overlaps]
    write_json(path, manifest)
    return path


def read_launches(output_dir: str) -> dict[str, dict[str, Any]]:
    """``{step name: launch}`` from the manifest of an earlier invocation (empty when there is none)."""
    path = os.path.join(output_dir, MANIFEST)
    if not os.path.isfile(path):
        return {}
    try:
        steps = json.loads(Path(path).read_text(encoding="utf-8")).get("steps", [])
    except (json.JSONDecodeError, AttributeError):
        logger.warning("%s is not a valid manifest: the launches it recorded are forgotten", path)
        return {}
    return {entry["name"]: entry["launch"] for entry in steps if isinstance(entry, dict) and entry.get("launch")}


def leftover_args(step: Step) -> list[str]:
    """``--overwrite_output_dir`` for a step folder that holds files but no ``run.json`` (left by an older version:
    nothing says what made them). A crashed step's own folder has its ``run.json``: the script resumes it by
    itself (from its last checkpoint, or from scratch), and refuses it if the step's settings changed."""
    folder = Path(step.output_dir)
    if not folder.is_dir() or not any(folder.iterdir()) or (folder / RUN_FILE).is_file():
        return []
    return ["--overwrite_output_dir"]


def run_command(command: Sequence[str], env: Mapping[str, str], log_path: str, header: str) -> int:
    """Run ``command`` with its output appended to ``log_path`` after ``header`` (a rerun keeps the log of the run
    it resumes); its exit status."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    # The log is the child's stdout: opened here and written by the child, not through xladjust.io.
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(header + "\n\n")
        log.flush()
        return subprocess.run(list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT).returncode
