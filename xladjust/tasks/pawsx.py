"""PAWS-X paraphrase identification (Yang et al. 2019): sentence pairs labelled paraphrase or not.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id`` (``f"{language}-{index}"``),
``sentence1``, ``sentence2`` and ``label`` (``ClassLabel`` over :data:`PAWSX_LABELS`: 0 = not a paraphrase,
1 = paraphrase, the files' own 0/1), and a :class:`~xladjust.tasks.labelled_text.TextLoadStats`.

Sources: the Hub dataset ``google-research-datasets/paws-x`` (configs ``en de es fr ja ko zh``, splits ``train``
(English: the original PAWS-Wiki pairs; the others: machine-translated), ``validation``, ``test``), then its parquet
export; local files: the official tsv files (``x-final/LANG/{train,translated_train,dev_2k,test_2k}.tsv``, header
``id sentence1 sentence2 label``, tab-separated, never quoted) or csv/json/jsonl with the same columns.

Quirks of the official data, handled the same way for every source and counted in the stats:

- rows whose sentence is empty: failed machine translations in the ``translated_train.tsv`` files
  (``32035<TAB><TAB><TAB>0``; google-research-datasets/paws issue 4);
- rows whose sentence is the placeholder ``NS`` in the translated dev and test files (paws issue 15: the published
  statistics leave them out; a cleaning step was planned and not made);
- rows without a usable label (an empty field; the Hub copy writes -1 for a missing or wrong label).

All three are dropped with a counted warning; any other label value is an error naming the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.data.hub import HubSource, load_first, parquet_export
from xladjust.data.languages import PAWSX_LANGUAGES, check_language
from xladjust.errors import InputError
from xladjust.tasks.labelled_text import TextLoadStats, build_text_dataset, parse_label
from xladjust.tasks.records import check_columns, file_format, iter_records, read_header

logger = logging.getLogger(__name__)

PAWSX_LABELS = ["not_paraphrase", "paraphrase"]
"""Label names in id order: the files' 0 and 1."""

PAWSX_HUB_DATASET = "google-research-datasets/paws-x"
PAWSX_COLUMNS = ("sentence1", "sentence2")
BENCHMARK = "PAWS-X"
UNTRANSLATED = "NS"
"""The placeholder of a sentence the translators did not translate (translated dev/test files)."""


def _drop_reason(first: Any, second: Any, label: Any) -> str | None:
    """Why a row is one of the quirks above (None: a usable row, as far as these checks go)."""
    sentences = [str(text).strip() if text is not None else "" for text in (first, second)]
    if any(not text for text in sentences):
        return "with an empty sentence (failed translation)"
    if UNTRANSLATED in sentences:
        return f"with the placeholder {UNTRANSLATED!r} for a sentence"
    if label is None or (isinstance(label, str) and not label.strip()) or label == -1:
        return "without a label"
    return None


def read_pawsx_file(path: str | Path, language: str, fmt: str | None = None) -> tuple[Any, TextLoadStats]:
    """Read and validate one local PAWS-X file of ``language`` (see the module docstring)."""
    check_language(language, PAWSX_LANGUAGES, BENCHMARK)
    fmt = file_format(path, fmt)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    if fmt != "json":
        check_columns(path, read_header(path, fmt), (*PAWSX_COLUMNS, "label"), 1)
    stats = TextLoadStats(source=str(path), language=language)
    first, second, labels = [], [], []
    for line, where, record in iter_records(path, fmt):
        stats.rows_read += 1
        missing = [name for name in (*PAWSX_COLUMNS, "label") if name not in record]
        if missing:
            raise InputError(f"{where}missing required field(s) {', '.join(missing)}", path, line)
        reason = _drop_reason(record["sentence1"], record["sentence2"], record["label"])
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        label = parse_label(record["label"], PAWSX_LABELS)
        if label is None:
            raise InputError(
                f"{where}unknown label {record['label']!r}; expected 0, 1 or {', '.join(PAWSX_LABELS)}", path, line
            )
        first.append(str(record["sentence1"]))
        second.append(str(record["sentence2"]))
        labels.append(label)
    if not labels:
        raise InputError(f"no usable PAWS-X pairs ({stats.rows_read} rows read)", path)
    stats.examples = len(labels)
    stats.log()
    return build_text_dataset(language, {"sentence1": first, "sentence2": second}, labels, PAWSX_LABELS), stats


def pawsx_hub_sources(language: str, split: str) -> list[HubSource]:
    """The repository's config ``language``, then its parquet export (``LANG/SPLIT/*.parquet``)."""
    check_language(language, PAWSX_LANGUAGES, BENCHMARK)
    return [HubSource(PAWSX_HUB_DATASET, language, split), parquet_export(PAWSX_HUB_DATASET, language, split)]


def normalize_hub_pawsx(dataset: Any, language: str, source: str = "hub") -> tuple[Any, TextLoadStats]:
    """Bring a Hub PAWS-X split to the common columns, dropping the quirks as the file reader does."""
    from datasets import ClassLabel

    check_columns(source, list(dataset.column_names), (*PAWSX_COLUMNS, "label"), None)
    feature = dataset.features["label"]
    if isinstance(feature, ClassLabel) and list(feature.names) not in (["0", "1"], PAWSX_LABELS):
        raise InputError(f"label names {feature.names} are not PAWS-X's 0/1", source)
    stats = TextLoadStats(source=source, language=language, rows_read=len(dataset))
    first, second, labels = dataset["sentence1"], dataset["sentence2"], np.asarray(dataset["label"], dtype=np.int64)
    keep = []
    for i, (a, b, label) in enumerate(zip(first, second, labels.tolist(), strict=True)):
        reason = _drop_reason(a, b, label)
        if reason is None and label not in (0, 1):
            raise InputError(f"row {i + 1}: label {label} is not 0 or 1", source)
        if reason is not None:
            stats.dropped[reason] += 1
        else:
            keep.append(i)
    texts = {"sentence1": [first[i] for i in keep], "sentence2": [second[i] for i in keep]}
    stats.examples = len(keep)
    stats.log()
    return build_text_dataset(language, texts, labels[keep].tolist(), PAWSX_LABELS), stats


def load_pawsx_dataset(
    language: str, split: str, data_file: str | Path | None = None, cache_dir: str | None = None
) -> tuple[Any, TextLoadStats]:
    """One language's split from ``data_file`` when given, else from the Hub."""
    if data_file is not None:
        return read_pawsx_file(data_file, language)
    dataset, source = load_first(f"PAWS-X {language} {split}", pawsx_hub_sources(language, split), cache_dir=cache_dir)
    return normalize_hub_pawsx(dataset, language, source=source.describe())
