"""Multiple-choice reading comprehension in Belebele's columns (Bandarkar et al. 2024): a passage, a question, four
answers, the number (1-4) of the correct one.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id`` (``f"{language}-{index}"``),
``flores_passage``, ``question``, ``mc_answer1`` … ``mc_answer4`` and ``label`` (0-3: the correct answer's number
minus one; ``ClassLabel`` names ``"1"`` … ``"4"``), and a :class:`~xladjust.tasks.labelled_text.TextLoadStats`.

Sources:

- Belebele on the Hub, ``facebook/belebele``: one config per language variant (FLORES-200 code, ``spa_Latn``) with
  a single split, ``test`` (900 questions); then the repository's older layout (config ``default``, one split per
  language variant), then its data file ``data/CODE.jsonl`` read directly. Columns ``link``, ``question_number``,
  ``flores_passage``, ``question``, ``mc_answer1..4``, ``correct_answer_num`` (one-based, a string on the Hub),
  ``dialect``, ``ds``; the extra ones are ignored.
- Training data: Belebele is a test set only. Its authors fine-tuned on an English training set assembled from
  RACE, SciQ, MultiRC, MCTest, MCScript2.0 and ReClor (67.5k training and 3.7k development questions; their
  ``assemble_training_set.py`` writes it as a tsv with the columns ``dataset split passage_id question_id passage
  question answer1..4 correct_answer correct_answer_num``, pandas-quoted, passages spanning lines). Any file or Hub
  dataset in Belebele's columns or in the assembled set's (``passage``, ``answer1..4``) is read; when a ``split``
  column is there (the assembled set holds ``train`` and ``dev`` rows), only the rows of the split asked for are
  kept (``dev`` for validation) and the others are counted.
- Local files: json/jsonl (Belebele's own files), csv, tsv (pandas quoting, as the assembled set).

A correct-answer number outside 1-4 is an error naming the file and line; a question with an empty answer or an
empty passage is dropped with a counted warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xladjust.data.hub import HubSource, load_first
from xladjust.data.languages import flores_code
from xladjust.errors import InputError
from xladjust.tasks.labelled_text import TextLoadStats
from xladjust.tasks.records import check_columns, file_format, iter_records, read_header

logger = logging.getLogger(__name__)

BELEBELE_HUB_DATASET = "facebook/belebele"
BENCHMARK = "Belebele"
CHOICES = 4
ANSWER_COLUMNS = tuple(f"mc_answer{i}" for i in range(1, CHOICES + 1))
TEXT_COLUMNS = ("flores_passage", "question", *ANSWER_COLUMNS)
ANSWER_LABELS = [str(i) for i in range(1, CHOICES + 1)]
"""Label names in id order: the answers' numbers, one-based as in ``correct_answer_num``."""
ALIASES = {"passage": "flores_passage", **{f"answer{i}": f"mc_answer{i}" for i in range(1, CHOICES + 1)}}
"""Columns of Belebele's assembled training set → Belebele's own names."""
SPLIT_NAMES = {"train": "train", "validation": "dev", "test": "test"}
"""A loader's split → its name in a ``split`` column (the assembled training set calls validation ``dev``)."""


def _renamed(record: dict[str, Any]) -> dict[str, Any]:
    return {ALIASES.get(name, name): value for name, value in record.items() if ALIASES.get(name, name) not in record}


def parse_answer_number(value: Any) -> int | None:
    """The label (0-3) of a one-based answer number (int, integral float or digit string); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 1 <= value <= CHOICES:
        return value - 1
    return None


def _examples(
    rows: Iterable[tuple[int | None, str, dict[str, Any]]], split: str, stats: TextLoadStats, source: str
) -> tuple[dict[str, list[str]], list[int]]:
    """The text columns and labels of ``rows`` (``(line, where, record)``), validated and filtered as described in the
    module docstring."""
    texts: dict[str, list[str]] = {name: [] for name in TEXT_COLUMNS}
    labels: list[int] = []
    wanted = SPLIT_NAMES.get(split, split)
    for line, where, raw in rows:
        stats.rows_read += 1
        record = {**raw, **_renamed(raw)}
        if "split" in record and str(record["split"]).strip() != wanted:
            stats.dropped[f"of another split than {wanted!r}"] += 1
            continue
        missing = [name for name in (*TEXT_COLUMNS, "correct_answer_num") if name not in record]
        if missing:
            raise InputError(f"{where}missing required field(s) {', '.join(missing)}", source, line)
        label = parse_answer_number(record["correct_answer_num"])
        if label is None:
            raise InputError(
                f"{where}correct_answer_num {record['correct_answer_num']!r} is not an answer number 1-{CHOICES}",
                source,
                line,
            )
        values = [record[name] for name in TEXT_COLUMNS]
        if any(not isinstance(value, str) or not value.strip() for value in values[:1] + values[2:]):
            stats.dropped["with an empty passage or answer"] += 1
            continue
        for name, value in zip(TEXT_COLUMNS, values, strict=True):
            texts[name].append(str(value))
        labels.append(label)
    return texts, labels


def _build(language: str, texts: dict[str, list[str]], labels: list[int], stats: TextLoadStats, source: str) -> Any:
    from datasets import ClassLabel, Dataset, Features, Value

    if not labels:
        raise InputError(f"no questions ({stats.rows_read} rows read)", source)
    stats.examples = len(labels)
    stats.log()
    features = Features(
        {
            "id": Value("string"),
            **{name: Value("string") for name in TEXT_COLUMNS},
            "label": ClassLabel(names=ANSWER_LABELS),
        }
    )
    ids = [f"{language}-{i}" for i in range(len(labels))]
    return Dataset.from_dict({"id": ids, **texts, "label": labels}, features=features)


def read_multiple_choice_file(
    path: str | Path, language: str, split: str = "test", fmt: str | None = None
) -> tuple[Any, TextLoadStats]:
    """Read and validate one local file of ``language``'s questions; ``split`` selects the rows of a file with a
    ``split`` column (see the module docstring)."""
    fmt = file_format(path, fmt)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    if fmt != "json":
        header = [ALIASES.get(name, name) for name in read_header(path, fmt, quoted=True)]
        check_columns(path, header, (*TEXT_COLUMNS, "correct_answer_num"), 1)
    stats = TextLoadStats(source=str(path), language=language)
    texts, labels = _examples(iter_records(path, fmt, quoted=True), split, stats, str(path))
    return _build(language, texts, labels, stats, str(path)), stats


def belebele_hub_sources(language: str) -> list[HubSource]:
    """Belebele's test questions of a language: the config per variant, the older one-split-per-variant layout,
    then the repository's jsonl file itself."""
    code = flores_code(language, BENCHMARK)
    data_file = f"hf://datasets/{BELEBELE_HUB_DATASET}/data/{code}.jsonl"
    return [
        HubSource(BELEBELE_HUB_DATASET, code, "test"),
        HubSource(BELEBELE_HUB_DATASET, "default", code),
        HubSource("json", split="test", data_files=data_file),
    ]


def normalize_hub_multiple_choice(
    dataset: Any, language: str, split: str = "test", source: str = "hub"
) -> tuple[Any, TextLoadStats]:
    """Bring a Hub split in Belebele's (or the assembled set's) columns to the common ones, validated as files are."""
    stats = TextLoadStats(source=source, language=language)
    rows = ((None, f"row {number}: ", row) for number, row in enumerate(dataset, start=1))
    texts, labels = _examples(rows, split, stats, source)
    return _build(language, texts, labels, stats, source), stats


def load_belebele(
    language: str, split: str, data_file: str | Path | None = None, cache_dir: str | None = None
) -> tuple[Any, TextLoadStats]:
    """One language's questions from ``data_file`` when given, else Belebele's test split on the Hub (it has no
    other split)."""
    if data_file is not None:
        return read_multiple_choice_file(data_file, language, split)
    if split != "test":
        raise InputError(
            f"Belebele has only a test split on the Hub (no {split!r}): use --do_predict, or give local files"
        )
    dataset, source = load_first(f"Belebele {language}", belebele_hub_sources(language), cache_dir=cache_dir)
    return normalize_hub_multiple_choice(dataset, language, "test", source.describe())


def load_training_questions(
    data_file: str | Path | None, hub_dataset: str | None, hub_config: str | None, split: str, cache_dir: str | None
) -> tuple[Any, TextLoadStats]:
    """English training questions from ``data_file`` or the Hub dataset ``hub_dataset`` (config, split)."""
    if data_file is not None:
        return read_multiple_choice_file(data_file, "en", "train")
    if hub_dataset is None:
        raise InputError(
            "training needs --train_file or --train_dataset: Belebele is a test set; its authors train on the set "
            "their assemble_training_set.py builds (see docs/run_belebele.md)"
        )
    dataset, source = load_first(
        f"{hub_dataset} {split}", [HubSource(hub_dataset, hub_config, split)], cache_dir=cache_dir
    )
    return normalize_hub_multiple_choice(dataset, "en", split, source.describe())


def encode_choices(examples: dict[str, list], tokenizer: Any, max_length: int) -> Any:
    """Four (passage, question + answer) pairs per question, for ``AutoModelForMultipleChoice``: every model input is
    a list of four token lists; ``labels`` the correct answer's index. Only the passage is cut to ``max_length``: the
    question and the answer are kept whole."""
    passages = [passage for passage in examples["flores_passage"] for _ in range(CHOICES)]
    endings = [
        f"{question} {answer}"
        for i, question in enumerate(examples["question"])
        for answer in (examples[name][i] for name in ANSWER_COLUMNS)
    ]
    flat = tokenizer(passages, endings, truncation="only_first", max_length=max_length)
    encoded = {key: [values[i : i + CHOICES] for i in range(0, len(values), CHOICES)] for key, values in flat.items()}
    encoded["labels"] = examples["label"]
    return encoded
