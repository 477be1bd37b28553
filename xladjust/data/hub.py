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

import logging
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
            return datasets.load_dataset(self.path, data_files={self.split: self.data_files}, **options)
        return datasets.load_dataset(self.path, self.name, **options)


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
