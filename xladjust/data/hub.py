"""Loading a Hub dataset from the first of several sources that works (datasets ≥ 4 refuses loading scripts).

A benchmark is described by its candidate :class:`HubSource` objects, in order: usually the repository itself,
then its parquet export (``refs/convert/parquet``, written by the Hub for every dataset it could convert, script
repositories included), then a copy in another repository (``google/xtreme``). :func:`load_first` tries them in
order. It moves on only when a source is *unavailable* (:func:`unavailable_reason`): the script refusal
``RuntimeError: Dataset scripts are no longer supported, but found X.py``, a missing config or split, a missing
repository or file, or no connection to the Hub; any other error is a real problem and propagates. It logs which
source served, and when none does it raises one :class:`~xladjust.errors.InputError` listing what was tried.
"""

from __future__ import annotations

import glob
import logging
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasets

from xladjust.errors import InputError

logger = logging.getLogger(__name__)

SCRIPT_REFUSAL = "Dataset scripts are no longer supported"
"""Start of the RuntimeError datasets ≥ 4 raises for a repository that still needs its loading script."""

PARQUET_EXPORT_REVISION = "refs%2Fconvert%2Fparquet"
"""The Hub's parquet export branch (``refs/convert/parquet``), URL-quoted as ``hf://`` paths need it."""


@dataclass(frozen=True)
class HubSource:
    """One way to read one split: ``load_dataset(path, name, split=split)``, or with ``data_files`` (a file
    pattern, e.g. an ``hf://`` path into a parquet export) ``load_dataset(path, data_files={split: ...})``."""

    path: str
    name: str | None = None
    split: str = "train"
    data_files: str | None = None

    def describe(self) -> str:
        if self.data_files is not None:
            return self.data_files
        return f"{self.path}:{self.name or ''}[{self.split}]"

    def load(self, cache_dir: str | None = None, streaming: bool = False) -> Any:
        options: dict[str, Any] = {"split": self.split, "cache_dir": cache_dir}
        if streaming:
            options["streaming"] = True
        if self.data_files is not None:
            data_files: str | list[str] = self.data_files
            if not streaming and hub_offline():  # datasets cannot resolve hf:// patterns offline, even if cached
                data_files = cached_hub_files(self.data_files) or self.data_files
            return datasets.load_dataset(self.path, data_files={self.split: data_files}, **options)
        return datasets.load_dataset(self.path, self.name, **options)


HF_DATASETS_PREFIX = "hf://datasets/"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def offline_variable() -> str | None:
    """The variable that switches the Hub off (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set), or None."""
    return next(
        (
            name
            for name in _OFFLINE_VARIABLES
            if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
        ),
        None,
    )


def hub_offline() -> bool:
    """Whether the Hub is switched off (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set)."""
    return offline_variable() is not None


def _split_hub_pattern(pattern: str) -> tuple[str, str, str]:
    """``hf://datasets/REPO@REVISION/FILES`` → ``(REPO, REVISION, FILES)`` (the revision unquoted)."""
    repo, _, rest = pattern[len(HF_DATASETS_PREFIX) :].partition("@")
    revision, _, files = rest.partition("/")
    return repo, urllib.parse.unquote(revision) or "main", files


def download_hub_files(pattern: str) -> list[str]:
    """Download the files of an ``hf://datasets/...`` pattern into the Hub cache (what ``reproduce.py --prefetch``
    does for a parquet-export source, so that :func:`cached_hub_files` finds them on a node without internet)."""
    from huggingface_hub import snapshot_download

    repo, revision, files = _split_hub_pattern(pattern)
    folder = snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=[files])
    return sorted(glob.glob(os.path.join(folder, files)))


def cached_hub_files(pattern: str) -> list[str] | None:
    """The cached copies of an ``hf://datasets/...`` pattern's files (None when it is not one, or not cached)."""
    if not pattern.startswith(HF_DATASETS_PREFIX):
        return None
    from huggingface_hub import snapshot_download

    repo, revision, files = _split_hub_pattern(pattern)
    try:
        folder = snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True)
    except (OSError, ValueError):  # LocalEntryNotFoundError: never downloaded here
        return None
    return sorted(glob.glob(os.path.join(folder, files))) or None


def parquet_export(repo: str, folder: str, split: str, files: str = "*.parquet") -> HubSource:
    """The parquet export of ``repo``: ``hf://datasets/REPO@refs%2Fconvert%2Fparquet/FOLDER/SPLIT/FILES``.

    The export has one folder per config (``mlqa.es.en``, ``es``), one subfolder per split.
    """
    pattern = f"hf://datasets/{repo}@{PARQUET_EXPORT_REVISION}/{folder}/{split}/{files}"
    return HubSource("parquet", split=split, data_files=pattern)


def unavailable_reason(error: BaseException) -> str | None:
    """Why a source cannot serve (one line), or None when ``error`` is not about the source being unavailable."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, RuntimeError) and message.startswith(SCRIPT_REFUSAL):
        return f"script repository refused by datasets {datasets.__version__} ({message})"
    if isinstance(error, ValueError) and (
        ("BuilderConfig" in message and "not found" in message)
        or message.startswith(("Config name is missing", "Unknown split", "Bad split"))
        or "Repository id must" in message
        or "is not a valid repository id" in message.lower()
    ):
        return message
    if isinstance(error, (FileNotFoundError, ConnectionError)):  # DatasetNotFoundError, DataFilesNotFoundError, …
        return f"{type(error).__name__}: {message}"
    try:
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover - older huggingface_hub
        return None
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)):
        return f"{type(error).__name__}: {message}"
    return None


def try_sources(
    what: str, sources: Sequence[HubSource], *, cache_dir: str | None = None, streaming: bool = False
) -> tuple[Any, HubSource | None, list[str]]:
    """``(dataset, source, failures)``: the first of ``sources`` that loads (``(None, None, failures)`` if none),
    and ``"SOURCE: reason"`` for each unavailable one tried before. Errors that are not unavailability propagate."""
    failures: list[str] = []
    for source in sources:
        try:
            dataset = source.load(cache_dir=cache_dir, streaming=streaming)
        except Exception as error:
            reason = unavailable_reason(error)
            if reason is None:
                raise
            failures.append(f"{source.describe()}: {reason}")
            logger.warning("%s: %s is unavailable (%s)", what, source.describe(), reason)
            continue
        return dataset, source, failures
    return None, None, failures


def load_first(
    what: str, sources: Sequence[HubSource], *, cache_dir: str | None = None, streaming: bool = False
) -> tuple[Any, HubSource]:
    """``(dataset, source)`` from the first of ``sources`` that loads; ``what`` names the data in messages."""
    if not sources:
        raise ValueError(f"{what}: no source to load from")
    dataset, source, failures = try_sources(what, sources, cache_dir=cache_dir, streaming=streaming)
    if source is not None:
        if failures:
            logger.warning("%s: read from the fallback %s", what, source.describe())
        else:
            logger.info("%s: read from %s", what, source.describe())
        return dataset, source
    hint = ""
    if all("ConnectionError" in entry or "OfflineModeIsEnabled" in entry for entry in failures):
        hint = " The Hub cannot be reached (HF_HUB_OFFLINE=1, or no network): give local files instead."
    raise InputError(f"{what}: no source could be loaded; tried " + "; ".join(failures) + "." + hint)
