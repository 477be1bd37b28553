"""``reproduce.py --prefetch``: download everything a study reads from the Hub into the Hugging Face cache, on a
machine with internet (a cluster's login node), so that its steps run on compute nodes without it.

The list is :func:`xladjust.study.sources.study_sources` (the one ``check_hub`` checks): the models and, for each
dataset split, the first of the loaders' own sources that loads (:func:`xladjust.data.hub.load_first`), loaded
whole as the scripts will load it. A parquet-export fallback (``hf://`` files) is also downloaded into the Hub
cache, where :meth:`~xladjust.data.hub.HubSource.load` finds it offline. ``OUTPUT_DIR/prefetch.json`` then
records what was fetched and the cache folders; the backends run the steps of a study that has it with
``HF_HUB_OFFLINE=1`` (``reproduce.py --no-offline`` turns that off), and Slurm jobs export its cache folders.
eflomal alignment reads nothing from the Hub: run_adjust.py aligns on the node.
"""

from __future__ import annotations

import datetime
import glob
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xladjust.data.hub import download_hub_files, hub_offline, load_first
from xladjust.errors import InputError
from xladjust.io import write_json
from xladjust.study.config import StudyConfig
from xladjust.study.sources import study_sources

logger = logging.getLogger(__name__)

PREFETCH_RECORD = "prefetch.json"
MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.spm"]
"""The files of a model repository that ``from_pretrained`` reads (weights as safetensors; not the TF/Flax copies)."""
LEGACY_WEIGHTS = ["*.bin"]
"""Read when a repository has no safetensors weights."""


def cache_folders() -> dict[str, str]:
    """The Hugging Face cache folders in use: ``HF_HOME``, the Hub cache and the datasets cache."""
    import datasets
    from huggingface_hub import constants

    return {
        "HF_HOME": str(constants.HF_HOME),
        "HF_HUB_CACHE": str(constants.HF_HUB_CACHE),
        "HF_DATASETS_CACHE": str(datasets.config.HF_DATASETS_CACHE),
    }


def fetch_model(name: str) -> str:
    """Download a model's files (:data:`MODEL_FILES`, or its ``*.bin`` weights when it has no safetensors)."""
    from huggingface_hub import snapshot_download

    folder = snapshot_download(name, allow_patterns=MODEL_FILES)
    if not glob.glob(os.path.join(folder, "*.safetensors")):
        folder = snapshot_download(name, allow_patterns=MODEL_FILES + LEGACY_WEIGHTS)
    return folder


def prefetch(config: StudyConfig, echo: Callable[[str], None] = print, dry_run: bool = False) -> int:
    """Download what the study reads (see the module docstring); exit status 0 when everything was fetched, 1 when
    something could not be (then no ``prefetch.json`` is written). ``dry_run``: list it, download nothing."""
    if dry_run:
        needs = study_sources(config)
        echo(f"# {len(needs.models)} model(s) and {len(needs.datasets)} dataset split(s) to fetch (--dry_run)")
        for model in needs.models:
            echo(f"model {model}")
        for check in needs.datasets:
            echo(f"{check.label}: {' or '.join(source.describe() for source in check.sources)}")
        return 0
    if hub_offline():
        raise InputError("--prefetch needs the Hub: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set")
    needs = study_sources(config)
    fetched: list[dict[str, Any]] = []
    failures: list[str] = []
    for model in needs.models:
        try:
            folder = fetch_model(model)
        except Exception as error:  # a missing repository, no network, a gated model: reported, the rest goes on
            failures.append(f"model {model}: {type(error).__name__}: {error}")
            echo(f"FAIL  model {model}: {type(error).__name__}: {error}")
            continue
        fetched.append({"model": model, "folder": folder})
        echo(f"OK    model {model}: {folder}")
    for check in needs.datasets:
        try:
            dataset, source = load_first(check.label, check.sources)
            if source.data_files is not None and source.data_files.startswith("hf://"):
                download_hub_files(source.data_files)
        except Exception as error:
            failures.append(f"{check.label}: {error}")
            echo(f"FAIL  {check.label}: {error}")
            continue
        rows = len(dataset) if hasattr(dataset, "__len__") else None
        fetched.append({"dataset": check.label, "source": source.describe(), "rows": rows})
        fallback = "" if source == check.sources[0] else " (fallback)"
        echo(f"OK    {check.label}: {source.describe()}{fallback}, {rows} rows")
    folders = cache_folders()
    for name, folder in folders.items():
        echo(f"cache {name}={folder}")
    if failures:
        echo(f"{len(failures)} of {len(needs.models) + len(needs.datasets)} not fetched; nothing recorded")
        return 1
    record = {
        "fetched": fetched,
        "cache": folders,
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    path = os.path.join(config.output_dir, PREFETCH_RECORD)
    write_json(path, record)
    echo(
        f"{len(fetched)} fetched; recorded in {path}. Share these cache folders with the compute nodes (a shared "
        "filesystem): the study's steps now run with HF_HUB_OFFLINE=1."
    )
    return 0


def read_prefetch(output_dir: str) -> dict[str, Any] | None:
    """The study's ``prefetch.json`` (None when it has none)."""
    path = Path(output_dir, PREFETCH_RECORD)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InputError("not valid JSON; run reproduce.py --prefetch again", path) from None
