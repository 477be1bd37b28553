"""Run folders that never lie: what made a run, whether it finished, and what a rerun into the folder does.

Every script writes ``run.json`` into its output folder when it starts (before any other file) and marks it
finished at the very end::

    {"script": "run_adjust.py", "xladjust_version": "0.1.0",
     "settings": {...the arguments that matter for the result, input files as content fingerprints...},
     "status": "running" | "finished", "started": ISO time, "ended": ISO time | null,
     "pid": 1234, "hostname": "node1", "results": "all_results.json"}

A rerun into a folder holding a ``run.json`` (see :func:`start_run`):

- same settings, ``finished``: one line "already finished, results in ..." and nothing is touched;
- same settings, not finished: the run resumes from its last ``checkpoint-*`` (or starts again if it saved none);
- other settings: :class:`~xladjust.errors.InputError` naming the first differing settings, before any work;
  ``--overwrite_output_dir`` removes the old run's files (all but the ``alignments/`` cache, which is checked
  against its corpus) and starts from scratch.

Settings are every field of the script's own argument dataclasses except :data:`IGNORED_SETTINGS`, plus the
:data:`TRAINING_SETTINGS` of ``TrainingArguments`` (and the fields a subclass names in its ``result_settings()``)
and the number of processes. Arguments in :data:`PATH_SETTINGS` that name an existing file or folder are replaced by
a content fingerprint (see :func:`fingerprint`), so the same path with other content is another run, and the same
content elsewhere is the same run.

``run.json`` is written by :func:`xladjust.io.write_json`: whole or not at all, strict JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import hashlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from xladjust.errors import InputError
from xladjust.io import strict, write_json

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
CACHE_DIRS = ("alignments",)
"""Kept by ``--overwrite_output_dir``: caches that are checked against their inputs before reuse."""

TRAINING_SETTINGS = (
    "do_train",
    "do_eval",
    "do_predict",
    "seed",
    "data_seed",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "warmup_steps",
    "optim",
    "optim_args",
    "bf16",
    "fp16",
    "label_smoothing_factor",
    "train_sampling_strategy",
    "full_determinism",
)
"""The ``TrainingArguments`` that change the result. Everything else (logging/saving/evaluation cadence,
``report_to``, ``output_dir``, dataloader workers, ``push_to_hub``/``hub_*``, eval batch size, ``disable_tqdm``,
``resume_from_checkpoint`` ...) does not, so changing it is still the same run."""

IGNORED_SETTINGS = frozenset(
    {
        "output_dir",
        "overwrite_output_dir",
        "cache_dir",
        "token",
        "preprocessing_num_workers",
        "device",
        "batch_size",
        "resume_from_checkpoint",
        "dry_run",
        "jobs",
        "keep_going",
    }
)
"""Fields of the scripts' own argument dataclasses that do not change the result (where files go, caches,
credentials, parallelism of preprocessing, inference batch size)."""

PATH_SETTINGS = frozenset(
    {
        "model_name_or_path",
        "tokenizer_name",
        "parallel_files",
        "alignment_files",
        "parallel_dataset_name",
        "train_file",
        "validation_files",
        "test_files",
        "eval_file",
        "align_parallel_file",
        "align_alignment_file",
        "align_dataset_name",
        "dictionary_files",
        "align_dictionary_files",
        "filter_model",
        "align_filter_model",
        "models",
        "tatoeba_dir",
        "runs_dir",
        "manifest",
        "config",
    }
)
"""Arguments that may name local inputs (``LANG=PATH`` and ``{lang}`` templates included); a value that is no
existing path (a Hub id) is kept as it is, with the revision arguments beside it."""

LARGE_FILE = 64 * 2**20
EDGE = 16 * 2**20


# ---------------------------------------------------------------------------------------------------------------
# Settings and fingerprints


def _digest_file(path: str, digest: Any) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size <= LARGE_FILE:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        else:  # weights of a large model: size and both ends are enough to tell two files apart
            digest.update(str(size).encode() + handle.read(EDGE))
            handle.seek(size - EDGE)
            digest.update(handle.read(EDGE))


def fingerprint(path: str, skip: Iterable[str] = ()) -> str:
    """sha256 of a file, or of a folder's relative file names and contents (``checkpoint-*`` folders, ``run.json``
    files and the folders in ``skip`` left out). Files over 64 MiB count by their size and first and last 16 MiB."""
    digest = hashlib.sha256()
    if os.path.isfile(path):
        _digest_file(path, digest)
        return digest.hexdigest()
    skipped = {os.path.realpath(p) for p in skip}
    for root, folders, files in os.walk(path):
        folders[:] = sorted(
            f
            for f in folders
            if not f.startswith("checkpoint-") and os.path.realpath(os.path.join(root, f)) not in skipped
        )
        for name in sorted(files):
            if name == RUN_FILE or name.startswith("."):
                continue
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            _digest_file(full, digest)
    return digest.hexdigest()


def input_identity(value: str) -> Any:
    """What a cache of results computed with ``value`` (a model's Hub name or folder) is keyed on: the name, or the
    folder's path with its content fingerprint, so that a model retrained in the same folder is another input."""
    return _input(value, ())


def _input(value: Any, skip: Sequence[str]) -> Any:
    """A path-like argument value → ``{"path", "sha256"}`` when it names local data, else unchanged."""
    if isinstance(value, list | tuple):
        return [_input(item, skip) for item in value]
    if not isinstance(value, str) or not value:
        return value
    label, separator, rest = value.partition("=")
    if separator and (os.path.exists(rest) or "{lang}" in rest):
        inner = _input(rest, skip)
        return {"label": label, **inner} if isinstance(inner, dict) else value
    if "{lang}" in value:
        matches = sorted(glob.glob(value.replace("{lang}", "*")))
        digest = hashlib.sha256("".join(f"{m}\0{fingerprint(m, skip)}\0" for m in matches).encode()).hexdigest()
        return {"path": value, "sha256": digest}
    if os.path.exists(value):
        return {"path": value, "sha256": fingerprint(value, skip)}
    return value


def _plain(value: Any) -> Any:
    """A JSON-able copy of an argument value (enums by value, anything else unknown as text)."""
    return json.loads(json.dumps(value, default=lambda v: getattr(v, "value", str(v))))


def collect_settings(arguments: Sequence[Any], output_dir: str | None = None) -> dict[str, Any]:
    """The settings of a run from its parsed arguments (dataclasses or mappings); see the module docstring."""
    settings: dict[str, Any] = {}
    skip = [output_dir] if output_dir else []
    for group in arguments:
        is_training = hasattr(group, "get_process_log_level")  # a TrainingArguments
        values = dataclasses.asdict(group) if dataclasses.is_dataclass(group) else dict(group)
        if is_training:
            names = [*TRAINING_SETTINGS, *(group.result_settings() if hasattr(group, "result_settings") else ())]
            values = {name: values[name] for name in names if name in values}
            values["processes"] = group.world_size
        for name, value in values.items():
            if name in IGNORED_SETTINGS or name.startswith("_"):
                continue
            settings[name] = _input(value, skip) if name in PATH_SETTINGS else _plain(value)
    return strict(settings)


def _comparable(value: Any) -> Any:
    """Fingerprinted inputs compare by content only (the same files moved elsewhere are the same input)."""
    if isinstance(value, dict) and "sha256" in value:
        return ("sha256", value.get("label"), value["sha256"])
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"{value['path']} (content {value['sha256'][:12]})"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return json.dumps(value)


def differences(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 3) -> list[str]:
    """``name: old → new`` for the first ``limit`` differing settings, in the new run's order."""
    missing = object()
    lines = []
    for name in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(name, missing), new.get(name, missing)
        if before is missing or after is missing or _comparable(before) != _comparable(after):
            show = lambda v: "(not set)" if v is missing else _shown(v)  # noqa: E731
            lines.append(f"--{name}: {show(before)} → {show(after)}")
    return lines[:limit] + ([f"and {len(lines) - limit} more"] if len(lines) > limit else [])


# ---------------------------------------------------------------------------------------------------------------
# The record and its readers


def read_record(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InputError(f"{RUN_FILE} is not valid JSON; pass --overwrite_output_dir to start again", path) from None


def _process_alive(record: Mapping[str, Any]) -> bool | None:
    """True/False for a process on this machine (our own process counts as gone: an earlier call of main()),
    None when the run was on another machine."""
    if record.get("hostname") != socket.gethostname():
        return None
    pid = record.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(folder: str | Path) -> str:
    """``finished``, ``running`` (its process is alive, or on another machine), ``interrupted`` (its process is
    gone), or ``missing`` (no ``run.json``)."""
    record = read_record(folder)
    if record is None:
        return "missing"
    if record.get("status") == "finished":
        return "finished"
    return "interrupted" if _process_alive(record) is False else "running"


def is_finished(folder: str | Path) -> bool:
    try:
        return run_status(folder) == "finished"
    except InputError:
        return False


def describe_status(folder: str | Path) -> str:
    """One line for a reader: where the run stands and what to do about it."""
    status = run_status(folder)
    if status == "interrupted":
        return f"{folder}: interrupted (its process is gone); rerun the same command to resume"
    if status == "running":
        record = read_record(folder) or {}
        return f"{folder}: still running (pid {record.get('pid')} on {record.get('hostname')})"
    if status == "missing":
        return f"{folder}: no {RUN_FILE}"
    return f"{folder}: finished"


# ---------------------------------------------------------------------------------------------------------------
# Starting and finishing a run


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _version() -> str:
    try:
        return metadata.version("xladjust")
    except metadata.PackageNotFoundError:
        return "unknown"


def _is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


def _wait_for_everyone() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def last_complete_checkpoint(folder: str) -> str | None:
    """The newest ``checkpoint-N`` that was saved whole. The Trainer writes a checkpoint's ``trainer_state.json``
    last, so a process killed while saving leaves a folder without it (or with half of it): that one is skipped."""
    complete = complete_checkpoints(folder)
    return complete[-1][1] if complete else None


def complete_checkpoints(folder: str) -> list[tuple[int, str]]:
    """``(step, path)`` of every ``checkpoint-N`` saved whole (see :func:`last_complete_checkpoint`), by step."""
    numbered = [p for p in glob.glob(os.path.join(folder, "checkpoint-*")) if p.rsplit("-", 1)[-1].isdigit()]
    complete = []
    for path in sorted(numbered, key=lambda p: int(p.rsplit("-", 1)[-1])):
        try:
            json.loads(Path(path, "trainer_state.json").read_text(encoding="utf-8"))
            complete.append((int(path.rsplit("-", 1)[-1]), path))
        except (OSError, json.JSONDecodeError):
            logger.warning("%s was not saved completely (killed while saving?): left out", path)
    return complete


def clear_folder(folder: str, has_record: bool) -> None:
    """What ``--overwrite_output_dir`` removes: everything of the old run (its ``run.json`` says it was one) but
    the checked caches; in a folder without ``run.json``, only checkpoints and result files."""
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if has_record:
            remove = entry not in CACHE_DIRS
        else:
            remove = entry.startswith("checkpoint-") or entry.endswith("results.json") or entry == "trainer_state.json"
        if remove:
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    logger.info("--overwrite_output_dir: removed the previous run's files from %s", folder)


@dataclasses.dataclass
class Run:
    """A started run (``finished`` False; ``checkpoint`` to resume from, if any), or one that had already finished
    with the same settings (``finished`` True, ``results`` read from its results file: do nothing else)."""

    folder: str
    record: dict[str, Any]
    finished: bool = False
    checkpoint: str | None = None
    results: dict[str, Any] = dataclasses.field(default_factory=dict)

    def finish(self) -> None:
        """Mark the run finished (main process; every process waits for the others' last writes first)."""
        _wait_for_everyone()
        if _is_main_process() and not self.finished:
            self.record.update(status="finished", ended=_now())
            write_json(os.path.join(self.folder, RUN_FILE), self.record)


def start_run(
    script: str,
    arguments: Sequence[Any],
    output_dir: str | None,
    *,
    overwrite: bool = False,
    resume_from_checkpoint: str | None = None,
    actions: Sequence[str] = (),
    results_file: str = "all_results.json",
) -> Run:
    """Apply the rerun policy to ``output_dir`` (see the module docstring) and write ``run.json`` as ``running``.

    ``actions``: the ``do_*`` flags of which at least one must be set (from the TrainingArguments in
    ``arguments``), e.g. ``("do_train", "do_eval", "do_predict")``.
    """
    if not output_dir:
        raise InputError("--output_dir is required")
    _check_actions(arguments, actions)
    if resume_from_checkpoint is not None and not os.path.isdir(resume_from_checkpoint):
        raise InputError("checkpoint folder not found", resume_from_checkpoint)
    settings = collect_settings(arguments, output_dir)
    record = {"script": script, "xladjust_version": _version(), "settings": settings, "results": results_file}
    try:
        old = read_record(output_dir)
    except InputError:
        if not overwrite:
            raise
        old = {}  # a broken run.json: still a run folder, cleared below
    # Every process decides from the folder as it was before any process writes to it.
    decision = _decide(output_dir, old, settings, overwrite)
    _wait_for_everyone()
    results_path = os.path.join(output_dir, results_file)
    if decision == "finished":
        if _is_main_process():
            print(f"{output_dir}: already finished with the same settings, results in {results_path}")
        results = json.loads(Path(results_path).read_text(encoding="utf-8")) if os.path.isfile(results_path) else {}
        return Run(output_dir, old or record, finished=True, results=results)
    checkpoint = resume_from_checkpoint
    if decision == "resume":
        checkpoint = checkpoint or (last_complete_checkpoint(output_dir) if _wants_training(arguments) else None)
        how = f"resuming from {checkpoint}" if checkpoint else "running it again (no checkpoint)"
        logger.warning("%s: the run with these settings did not finish; %s", output_dir, how)
    if _is_main_process():
        if decision == "overwrite":
            clear_folder(output_dir, has_record=old is not None)  # {} (broken record) counts as one
        os.makedirs(output_dir, exist_ok=True)
        record.update(status="running", started=_now(), ended=None, pid=os.getpid(), hostname=socket.gethostname())
        write_json(os.path.join(output_dir, RUN_FILE), record)
    _wait_for_everyone()
    return Run(output_dir, record, checkpoint=checkpoint)


def _decide(output_dir: str, old: dict[str, Any] | None, settings: dict[str, Any], overwrite: bool) -> str:
    """``new``, ``overwrite``, ``finished``, ``resume``; or InputError when the folder belongs to another run."""
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return "new"
    if overwrite:
        return "overwrite"
    flags = "pass --overwrite_output_dir to start again from scratch there, or choose another --output_dir"
    if old is None:
        raise InputError(
            f"the output folder exists and is not empty; {flags} (it has no {RUN_FILE} saying what made its files)",
            output_dir,
        )
    changed = differences(old.get("settings", {}), settings)
    if changed:
        raise InputError(
            f"the output folder holds a run with other settings ({'; '.join(changed)}); {flags}", output_dir
        )
    if old.get("status") == "finished":
        return "finished"
    if _process_alive(old):
        raise InputError(
            f"another process (pid {old.get('pid')}) is running in this folder; wait for it or {flags}", output_dir
        )
    return "resume"


def _wants_training(arguments: Sequence[Any]) -> bool:
    return any(getattr(group, "do_train", False) for group in arguments)


def _check_actions(arguments: Sequence[Any], actions: Sequence[str]) -> None:
    if not actions:
        return
    training = [group for group in arguments if hasattr(group, "get_process_log_level")]
    if training and not any(getattr(training[0], name, False) for name in actions):
        flags = " / ".join(f"--{name}" for name in actions)
        raise InputError(f"nothing to do: pass at least one of {flags}")


def start_training_run(
    script: str, arguments: Sequence[Any], actions: Sequence[str] = ("do_train", "do_eval", "do_predict")
) -> Run:
    """:func:`start_run` for a Trainer script: folder, ``--overwrite_output_dir`` and ``--resume_from_checkpoint``
    from the TrainingArguments among ``arguments``."""
    training_args = next(group for group in arguments if hasattr(group, "get_process_log_level"))
    return start_run(
        script,
        arguments,
        training_args.output_dir,
        overwrite=getattr(training_args, "overwrite_output_dir", False),
        resume_from_checkpoint=training_args.resume_from_checkpoint,
        actions=actions,
    )
