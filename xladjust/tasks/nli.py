"""XNLI / MultiNLI data: the label set and validating readers.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id``
(``f"{language}-{index}"``, the key of prediction files), ``premise``, ``hypothesis`` and ``label``
(a ``ClassLabel`` over :data:`NLI_LABELS`, so the values are the ints 0/1/2), and an :class:`NliLoadStats`
that counts what was read and dropped.

Sources: a Hub dataset (``facebook/xnli`` per language, ``nyu-mll/multi_nli`` for English), a local
csv/tsv/json/jsonl file with the columns ``premise``, ``hypothesis``, ``label`` (name or id), or an original
XNLI/MultiNLI file, tsv or jsonl (``gold_label``, ``sentence1``, ``sentence2`` and, for XNLI, ``language``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.data.hub import HubSource, load_first
from xladjust.data.languages import check_language
from xladjust.errors import InputError
from xladjust.tasks.labelled_text import parse_label
from xladjust.tasks.records import check_columns, file_format, iter_delimited, iter_json_records, read_header

logger = logging.getLogger(__name__)

NLI_LABELS = ["entailment", "neutral", "contradiction"]
"""Label names in id order 0/1/2, as in XNLI and MultiNLI on the Hub."""

NLI_HUB_DATASETS = {"xnli": "facebook/xnli", "multi_nli": "nyu-mll/multi_nli"}

NLI_COLUMNS = ("premise", "hypothesis", "label")
_ORIGINAL_COLUMNS = ("gold_label", "sentence1", "sentence2")
_NO_GOLD_LABEL = "-"  # original XNLI/MultiNLI tsv: the annotators reached no consensus


@dataclass
class NliLoadStats:
    """Counts for the log and the results file."""

    source: str
    language: str
    rows_read: int = 0
    rows_other_language: int = 0
    rows_no_gold_label: int = 0
    examples: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# Labels and languages


def parse_nli_label(value: Any) -> int | None:
    """Label id of a name (any case) or an id (int or digit string); None when it is neither."""
    return parse_label(value, NLI_LABELS)


def _unknown_label(value: Any, path: str | Path, line: int | None, where: str = "") -> InputError:
    return InputError(
        f"{where}unknown label {value!r}; expected one of {', '.join(NLI_LABELS)} or the ids 0-{len(NLI_LABELS) - 1}",
        path,
        line,
    )


# ---------------------------------------------------------------------------------------------------------------
# File reading


def read_nli_file(path: str | Path, language: str, fmt: str | None = None) -> tuple[Any, NliLoadStats]:
    """Read and validate one local NLI file for ``language``.

    Records need ``premise``, ``hypothesis`` and ``label`` (a name in any case, or an id). Records with
    ``gold_label``, ``sentence1`` and ``sentence2`` instead are read as original XNLI/MultiNLI data (tsv,
    txt or jsonl): rows of other languages (``language`` field) are skipped and rows with the gold label
    ``-`` (no annotator consensus) are dropped, both counted in the stats.
    """
    check_language(language)
    fmt = file_format(path, fmt)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    stats = NliLoadStats(source=str(path), language=language)
    premises: list[str] = []
    hypotheses: list[str] = []
    labels: list[int] = []
    languages_seen: set[str] = set()

    rows: Iterable[tuple[int | None, str, dict[str, Any]]]
    if fmt == "json":
        # Records of a JSON array have no line: they are named by number instead.
        rows = ((line, "" if line is not None else f"record {n}: ", r) for line, n, r in iter_json_records(path))
    else:
        header = read_header(path, fmt)
        if not _is_original(header):
            check_columns(path, header, NLI_COLUMNS, 1)
        rows = ((line, "", row) for line, row in iter_delimited(path, fmt))

    for line, where, record in rows:
        stats.rows_read += 1
        if _is_original(record):
            if "language" in record:
                languages_seen.add(record["language"])
                if record["language"] != language:
                    stats.rows_other_language += 1
                    continue
            if str(record["gold_label"]).strip() == _NO_GOLD_LABEL:
                stats.rows_no_gold_label += 1
                continue
            premise, hypothesis, raw_label = record["sentence1"], record["sentence2"], record["gold_label"]
        else:
            missing = [name for name in NLI_COLUMNS if name not in record]
            if missing:
                raise InputError(f"{where}missing required field(s) {', '.join(missing)}", path, line)
            premise, hypothesis, raw_label = record["premise"], record["hypothesis"], record["label"]
        label = parse_nli_label(raw_label)
        if label is None:
            raise _unknown_label(raw_label, path, line, where)
        for name, value in (("premise", premise), ("hypothesis", hypothesis)):
            if not isinstance(value, str):
                raise InputError(f"{where}{name} must be a string, found {value!r}", path, line)
        premises.append(premise)
        hypotheses.append(hypothesis)
        labels.append(label)

    if languages_seen and language not in languages_seen:
        found = ", ".join(sorted(languages_seen))
        raise InputError(f"no rows for language {language}; the file has {found}", path)
    if not labels:
        raise InputError(f"no examples for language {language}", path)
    stats.examples = len(labels)
    _log_stats(stats)
    return _build_dataset(language, premises, hypotheses, labels), stats


def _is_original(columns: Iterable[str]) -> bool:
    """Original XNLI/MultiNLI field names, and no ``premise`` that would say otherwise."""
    names = set(columns)
    return "premise" not in names and names.issuperset(_ORIGINAL_COLUMNS)


def _nli_features():
    from datasets import ClassLabel, Features, Value

    return Features(
        {
            "id": Value("string"),
            "premise": Value("string"),
            "hypothesis": Value("string"),
            "label": ClassLabel(names=list(NLI_LABELS)),
        }
    )


def _build_dataset(language: str, premises: list[str], hypotheses: list[str], labels: list[int]):
    from datasets import Dataset

    ids = [f"{language}-{i}" for i in range(len(labels))]
    return Dataset.from_dict(
        {"id": ids, "premise": premises, "hypothesis": hypotheses, "label": labels}, features=_nli_features()
    )


def _log_stats(stats: NliLoadStats) -> None:
    logger.info(
        "%s [%s]: %d examples (%d rows read, %d of other languages, %d without gold label)",
        stats.source,
        stats.language,
        stats.examples,
        stats.rows_read,
        stats.rows_other_language,
        stats.rows_no_gold_label,
    )


# ---------------------------------------------------------------------------------------------------------------
# Hub datasets


def nli_hub_source(language: str, split: str, dataset: str = "xnli") -> tuple[str, str | None, str]:
    """``(path, config_name, split)`` for ``datasets.load_dataset``.

    ``dataset="xnli"``: ``facebook/xnli`` with the language as config (train/validation/test).
    ``dataset="multi_nli"``: ``nyu-mll/multi_nli``, English only; ``validation`` means
    ``validation_matched`` and there is no labelled test split.
    """
    check_language(language)
    if dataset == "xnli":
        return NLI_HUB_DATASETS["xnli"], language, split
    if dataset == "multi_nli":
        if language != "en":
            raise InputError(f"MultiNLI is English only, not {language!r}; use dataset 'xnli'")
        if split == "test":
            raise InputError("MultiNLI has no labelled test split; use validation_matched or validation_mismatched")
        return NLI_HUB_DATASETS["multi_nli"], None, "validation_matched" if split == "validation" else split
    raise InputError(f"unknown NLI dataset {dataset!r}; expected one of {', '.join(NLI_HUB_DATASETS)}")


def nli_hub_sources(language: str, split: str, dataset: str = "xnli") -> list[HubSource]:
    """Where :func:`load_nli_dataset` reads from: both repositories are parquet on the Hub, no fallback needed."""
    return [HubSource(*nli_hub_source(language, split, dataset))]


def normalize_hub_nli(dataset: Any, language: str, source: str = "hub") -> tuple[Any, NliLoadStats]:
    """Bring a Hub XNLI/MultiNLI split to the common columns; unlabelled rows (label -1) are dropped."""
    import numpy as np
    from datasets import ClassLabel

    check_language(language)
    check_columns(source, list(dataset.column_names), NLI_COLUMNS, None)
    feature = dataset.features["label"]
    if isinstance(feature, ClassLabel) and list(feature.names) != NLI_LABELS:
        raise InputError(f"label names {feature.names} differ from {NLI_LABELS}", source)
    stats = NliLoadStats(source=source, language=language, rows_read=len(dataset))
    labels = np.asarray(dataset["label"], dtype=np.int64)
    keep = (labels >= 0) & (labels < len(NLI_LABELS))
    stats.rows_no_gold_label = int((~keep).sum())
    if not keep.all():
        dataset = dataset.select(np.flatnonzero(keep))
    dataset = dataset.select_columns(list(NLI_COLUMNS))
    dataset = dataset.add_column("id", [f"{language}-{i}" for i in range(len(dataset))])
    dataset = dataset.select_columns(["id", *NLI_COLUMNS]).cast(_nli_features())
    stats.examples = len(dataset)
    _log_stats(stats)
    return dataset, stats


def load_nli_dataset(
    language: str,
    split: str,
    data_file: str | Path | None = None,
    hub_dataset: str = "xnli",
    cache_dir: str | None = None,
) -> tuple[Any, NliLoadStats]:
    """Load one language's split from ``data_file`` when given, else from the Hub (see :func:`nli_hub_source`)."""
    if data_file is not None:
        return read_nli_file(data_file, language)
    what = f"{'MultiNLI' if hub_dataset == 'multi_nli' else 'XNLI'} {language} {split}"
    dataset, source = load_first(what, nli_hub_sources(language, split, hub_dataset), cache_dir=cache_dir)
    return normalize_hub_nli(dataset, language, source=source.describe())
