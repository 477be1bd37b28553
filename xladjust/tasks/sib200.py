"""SIB-200 topic classification (Adelani et al. 2024): FLORES-200 sentences labelled with one of seven topics.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id`` (``f"{language}-{index}"``),
``text`` and ``label`` (``ClassLabel`` over :data:`SIB200_LABELS`), and a
:class:`~xladjust.tasks.labelled_text.TextLoadStats`.

Sources: the Hub dataset ``Davlan/sib200`` (one config per FLORES-200 code, ``spa_Latn``; splits ``train`` (701
sentences), ``validation`` (99), ``test`` (204); a loading script over ``data/CODE/{train,dev,test}.tsv``, which
datasets ≥ 4 refuses), then its parquet export (``CODE/SPLIT/0000.parquet``); local files: the dataset's own tsv files
(header ``index_id category text``, written by pandas, so a sentence holding a quote is quoted with its quotes
doubled), with the ``labels.txt`` beside them (one topic per line) checked against :data:`SIB200_LABELS` when it is
there; or csv/json/jsonl with ``text`` and ``category``.

Languages are ISO codes of :data:`~xladjust.data.languages.FLORES_CODES` (``es`` → ``spa_Latn``) or FLORES-200
codes themselves. A topic outside the seven is an error naming the file and line; an empty sentence is dropped with
a counted warning.

SIB-200's sentences are FLORES-200 sentences: parallel data drawn from FLORES would put the test sentences into the
adjustment: do not adjust on FLORES when SIB-200 is evaluated.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from xladjust.data.hub import HubSource, load_first, parquet_export
from xladjust.data.languages import flores_code
from xladjust.errors import InputError
from xladjust.tasks.labelled_text import TextLoadStats, build_text_dataset
from xladjust.tasks.records import check_columns, file_format, iter_records, read_header

logger = logging.getLogger(__name__)

SIB200_LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
"""The seven topics in id order, as the dataset's ``labels.txt`` lists them."""

SIB200_HUB_DATASET = "Davlan/sib200"
BENCHMARK = "SIB-200"
LABELS_FILE = "labels.txt"


def _topic_id(value: Any) -> int | None:
    """Id of a topic name (the dataset writes names, never ids); None for anything else."""
    name = value.strip() if isinstance(value, str) else None
    return SIB200_LABELS.index(name) if name in SIB200_LABELS else None


def check_labels_file(path: str | Path) -> None:
    """The ``labels.txt`` beside a SIB-200 file, if there is one, must list the seven topics in their order."""
    labels_file = Path(path).with_name(LABELS_FILE)
    if not labels_file.is_file():
        return
    listed = [line.strip() for line in labels_file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if listed != SIB200_LABELS:
        raise InputError(f"lists {listed}; SIB-200's topics are {SIB200_LABELS} (in this order)", labels_file)


def read_sib200_file(path: str | Path, language: str, fmt: str | None = None) -> tuple[Any, TextLoadStats]:
    """Read and validate one local SIB-200 file of ``language`` (see the module docstring)."""
    flores_code(language, BENCHMARK)
    fmt = file_format(path, fmt)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    check_labels_file(path)
    if fmt != "json":
        check_columns(path, read_header(path, fmt, quoted=True), ("category", "text"), 1)
    stats = TextLoadStats(source=str(path), language=language)
    texts, labels = [], []
    for line, where, record in iter_records(path, fmt, quoted=True):
        stats.rows_read += 1
        missing = [name for name in ("category", "text") if name not in record]
        if missing:
            raise InputError(f"{where}missing required field(s) {', '.join(missing)}", path, line)
        label = _topic_id(record["category"])
        if label is None:
            raise InputError(
                f"{where}unknown topic {record['category']!r}; SIB-200's are {', '.join(SIB200_LABELS)}", path, line
            )
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            stats.dropped["with an empty sentence"] += 1
            continue
        texts.append(text)
        labels.append(label)
    if not labels:
        raise InputError(f"no sentences ({stats.rows_read} rows read)", path)
    stats.examples = len(labels)
    stats.log()
    return build_text_dataset(language, {"text": texts}, labels, SIB200_LABELS), stats


def sib200_hub_sources(language: str, split: str) -> list[HubSource]:
    """The repository's config (FLORES-200 code), then its parquet export (``CODE/SPLIT/*.parquet``)."""
    code = flores_code(language, BENCHMARK)
    return [HubSource(SIB200_HUB_DATASET, code, split), parquet_export(SIB200_HUB_DATASET, code, split)]


def normalize_hub_sib200(dataset: Any, language: str, source: str = "hub") -> tuple[Any, TextLoadStats]:
    """Bring a Hub SIB-200 split to the common columns; ``category`` may be the topic names or a ClassLabel."""
    from datasets import ClassLabel

    check_columns(source, list(dataset.column_names), ("category", "text"), None)
    feature = dataset.features["category"]
    names = list(feature.names) if isinstance(feature, ClassLabel) else None
    stats = TextLoadStats(source=source, language=language, rows_read=len(dataset))
    texts, labels = [], []
    for number, (category, text) in enumerate(zip(dataset["category"], dataset["text"], strict=True), start=1):
        name = names[category] if names is not None else category
        label = _topic_id(name)
        if label is None:
            raise InputError(f"row {number}: unknown topic {name!r}; SIB-200's are {', '.join(SIB200_LABELS)}", source)
        if not isinstance(text, str) or not text.strip():
            stats.dropped["with an empty sentence"] += 1
            continue
        texts.append(text)
        labels.append(label)
    stats.examples = len(labels)
    stats.log()
    return build_text_dataset(language, {"text": texts}, labels, SIB200_LABELS), stats


def load_sib200_dataset(
    language: str, split: str, data_file: str | Path | None = None, cache_dir: str | None = None
) -> tuple[Any, TextLoadStats]:
    """One language's split from ``data_file`` when given, else from the Hub."""
    if data_file is not None:
        return read_sib200_file(data_file, language)
    sources = sib200_hub_sources(language, split)
    dataset, source = load_first(f"SIB-200 {language} {split}", sources, cache_dir=cache_dir)
    return normalize_hub_sib200(dataset, language, source=source.describe())
