"""WikiANN-style NER data: the PER/ORG/LOC tag set in IOB2, validating readers, and subword label alignment.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id``
(``f"{language}-{index}"``), ``tokens`` (list of words) and ``ner_tags`` (list of ``ClassLabel`` ids over
:data:`NER_LABELS`), and a :class:`NerLoadStats` with what was read, dropped and repaired.

Sources: the Hub dataset ``unimelb-nlp/wikiann`` (one config per language; if datasets refuses it as a script
repository, its parquet export, then ``google/xtreme`` config ``PAN-X.<lang>``: :func:`ner_hub_sources`), local
json/jsonl records with ``tokens`` and ``ner_tags`` (tag names or ids), and CoNLL-style files: one token per
line, the token in the first column and its tag in the last (tab or space separated, so four-column CoNLL-2003
files work too), a blank line between sentences, ``-DOCSTART-`` lines skipped.

IOB2 policy: an ``I-X`` tag that does not follow ``B-X`` or ``I-X`` is invalid IOB2. With ``repair="error"``
(the default) it is an :class:`InputError` naming the file and line. With ``repair="convert"`` it becomes
``B-X`` -- the conlleval convention, under which such a tag starts a new entity -- and the repairs are counted
in ``stats.repairs``. Tags outside :data:`NER_LABELS` are always an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.data.hub import HubSource, load_first, parquet_export
from xladjust.data.languages import WIKIANN_LANGUAGES, check_language
from xladjust.data.text import tokenize_words
from xladjust.errors import InputError
from xladjust.tasks.records import iter_json_records

logger = logging.getLogger(__name__)

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
"""Tag names in id order, as in WikiANN on the Hub."""

NER_LABEL2ID = {name: i for i, name in enumerate(NER_LABELS)}

NER_HUB_DATASET = "unimelb-nlp/wikiann"
NER_HUB_FALLBACK = "google/xtreme"
"""XTREME's copy of WikiANN (the same Rahimi et al. 2019 splits), config ``PAN-X.<lang>``."""

REPAIR_POLICIES = ("error", "convert")

IGNORE_INDEX = -100
"""Label of subwords the loss and the metrics skip (PyTorch's CrossEntropyLoss default ignore_index)."""

_DOCSTART = "-DOCSTART-"
_CONLL_SUFFIXES = (".conll", ".conllu", ".iob", ".iob2", ".bio", ".txt", ".tsv")


@dataclass
class NerLoadStats:
    """Counts for the log and the results file."""

    source: str
    language: str
    sentences: int = 0
    tokens: int = 0
    sentences_empty: int = 0
    repairs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# Tags and IOB2


def _inside_to_begin(labels: Sequence[str]) -> np.ndarray:
    """For each label id: the id of its ``B-X`` when it is ``I-X`` (and a ``B-X`` exists), else itself."""
    index = {name: i for i, name in enumerate(labels)}
    return np.array(
        [index.get("B-" + name[2:], i) if name.startswith("I-") else i for i, name in enumerate(labels)],
        dtype=np.int64,
    )


def _begin_to_inside(labels: Sequence[str]) -> np.ndarray:
    """For each label id: the id of its ``I-X`` when it is ``B-X`` (and an ``I-X`` exists), else itself."""
    index = {name: i for i, name in enumerate(labels)}
    return np.array(
        [index.get("I-" + name[2:], i) if name.startswith("B-") else i for i, name in enumerate(labels)],
        dtype=np.int64,
    )


_I_TO_B = _inside_to_begin(NER_LABELS)
_IS_INSIDE = np.array([name.startswith("I-") for name in NER_LABELS])


def iob2_violations(tag_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions of ``I-X`` tags that follow neither ``B-X`` nor ``I-X`` (ids over :data:`NER_LABELS`)."""
    tags = np.asarray(tag_ids, dtype=np.int64)
    if tags.size == 0:
        return np.zeros(0, dtype=np.int64)
    previous = np.concatenate(([NER_LABEL2ID["O"]], tags[:-1]))
    begin = _I_TO_B[tags]
    bad = _IS_INSIDE[tags] & (previous != tags) & (previous != begin)
    return np.flatnonzero(bad)


def repair_iob2(tag_ids: Sequence[int] | np.ndarray) -> tuple[list[int], int]:
    """Turn every invalid ``I-X`` into ``B-X`` (conlleval convention); return the tags and the repair count.

    Checking against the original tags is enough: in ``O I-X I-X`` only the first ``I-X`` is invalid,
    and once it is ``B-X`` the second one continues it.
    """
    tags = np.asarray(tag_ids, dtype=np.int64)
    bad = iob2_violations(tags)
    if bad.size:
        tags = tags.copy()
        tags[bad] = _I_TO_B[tags[bad]]
    return tags.tolist(), int(bad.size)


def parse_ner_tag(value: Any) -> int | None:
    """Tag id of a tag name (exact, e.g. ``B-PER``) or an id; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(NER_LABELS) else None
    if isinstance(value, str):
        return NER_LABEL2ID.get(value.strip())
    return None


def _unknown_tag(value: Any, path: str | Path, line: int | None, where: str = "") -> InputError:
    return InputError(
        f"{where}unknown tag {value!r}; expected one of {', '.join(NER_LABELS)} or the ids 0-{len(NER_LABELS) - 1}",
        path,
        line,
    )


def _check_repair(repair: str) -> None:
    if repair not in REPAIR_POLICIES:
        raise InputError(f"unknown IOB2 repair policy {repair!r}; expected one of {', '.join(REPAIR_POLICIES)}")


def _apply_policy(
    tags: list[int],
    repair: str,
    path: str | Path,
    lines: Sequence[int | None],
    where: str = "",
) -> tuple[list[int], int]:
    """Validate one sentence's tags; ``lines[i]`` is the line of token ``i`` (for the error message)."""
    bad = iob2_violations(tags)
    if not bad.size:
        return tags, 0
    if repair == "error":
        i = int(bad[0])
        tag = NER_LABELS[tags[i]]
        before = NER_LABELS[tags[i - 1]] if i > 0 else "the sentence start"
        raise InputError(
            f"{where}invalid IOB2: {tag} at token {i + 1} follows {before}, not B-{tag[2:]} or {tag}; "
            f"fix the file or pass --iob2_repair convert to read it as B-{tag[2:]}",
            path,
            lines[i],
        )
    return repair_iob2(tags)


# ---------------------------------------------------------------------------------------------------------------
# Readers


def _ner_features():
    from datasets import ClassLabel, Features, List, Value

    return Features(
        {
            "id": Value("string"),
            "tokens": List(Value("string")),
            "ner_tags": List(ClassLabel(names=list(NER_LABELS))),
        }
    )


def _build_dataset(language: str, sentences: list[list[str]], tags: list[list[int]]):
    from datasets import Dataset

    ids = [f"{language}-{i}" for i in range(len(sentences))]
    return Dataset.from_dict({"id": ids, "tokens": sentences, "ner_tags": tags}, features=_ner_features())


def _log_stats(stats: NerLoadStats) -> None:
    logger.info(
        "%s [%s]: %d sentences, %d tokens (%d empty sentences dropped, %d IOB2 repairs)",
        stats.source,
        stats.language,
        stats.sentences,
        stats.tokens,
        stats.sentences_empty,
        stats.repairs,
    )
    if stats.repairs:
        logger.warning("%s: %d invalid I- tags read as B- (IOB2 repair)", stats.source, stats.repairs)


def iter_conll(path: str | Path) -> Iterable[tuple[list[str], list[str], list[int]]]:
    """Yield ``(tokens, tags, lines)`` per sentence of a CoNLL-style file."""
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    with open(path, encoding="utf-8-sig") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if fields and fields[0] == _DOCSTART:
                fields = []  # a document boundary also ends the sentence
            if not fields:
                if tokens:
                    yield tokens, tags, lines
                    tokens, tags, lines = [], [], []
                continue
            if len(fields) < 2:
                raise InputError(f"expected a token and a tag, found {line.strip()!r}", path, line_number)
            tokens.append(fields[0])
            tags.append(fields[-1])
            lines.append(line_number)
    if tokens:
        yield tokens, tags, lines


def read_ner_file(
    path: str | Path, language: str, repair: str = "error", fmt: str | None = None
) -> tuple[Any, NerLoadStats]:
    """Read and validate a local NER file (``fmt`` ``conll`` or ``json``; by default from the suffix).

    ``.json``/``.jsonl`` files hold one record per sentence with ``tokens`` and ``ner_tags``; everything in
    ``.conll``, ``.iob``, ``.bio``, ``.txt``, ``.tsv`` is read as CoNLL columns. See the module docstring for
    the IOB2 ``repair`` policy. Sentences without tokens are dropped and counted.
    """
    check_language(language, WIKIANN_LANGUAGES, "WikiANN")
    _check_repair(repair)
    suffix = Path(path).suffix.lower()
    fmt = fmt or ("json" if suffix in (".json", ".jsonl") else "conll" if suffix in _CONLL_SUFFIXES else None)
    if fmt not in ("json", "conll"):
        raise InputError(f"cannot tell the format from the suffix; use .json, .jsonl or {', '.join(_CONLL_SUFFIXES)}")
    if not Path(path).is_file():
        raise InputError("no such file", path)
    stats = NerLoadStats(source=str(path), language=language)
    sentences: list[list[str]] = []
    all_tags: list[list[int]] = []

    if fmt == "conll":
        for tokens, names, lines in iter_conll(path):
            ids = []
            for name, line in zip(names, lines, strict=True):
                tag = parse_ner_tag(name)
                if tag is None:
                    raise _unknown_tag(name, path, line)
                ids.append(tag)
            ids, repairs = _apply_policy(ids, repair, path, lines)
            stats.repairs += repairs
            sentences.append(tokens)
            all_tags.append(ids)
    else:
        for line, number, record in iter_json_records(path):
            where = f"record {number}: " if line is None else ""
            missing = [name for name in ("tokens", "ner_tags") if name not in record]
            if missing:
                raise InputError(f"{where}missing required field(s) {', '.join(missing)}", path, line)
            tokens, names = record["tokens"], record["ner_tags"]
            if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
                raise InputError(f"{where}tokens must be a list of strings", path, line)
            if not isinstance(names, list) or len(names) != len(tokens):
                raise InputError(
                    f"{where}ner_tags must be a list as long as tokens ({len(tokens)} tokens, "
                    f"{len(names) if isinstance(names, list) else type(names).__name__} tags)",
                    path,
                    line,
                )
            if not tokens:
                stats.sentences_empty += 1
                continue
            ids = []
            for name in names:
                tag = parse_ner_tag(name)
                if tag is None:
                    raise _unknown_tag(name, path, line, where)
                ids.append(tag)
            ids, repairs = _apply_policy(ids, repair, path, [line] * len(ids), where)
            stats.repairs += repairs
            sentences.append(tokens)
            all_tags.append(ids)
    if not sentences:
        raise InputError("no sentences", path)
    stats.sentences = len(sentences)
    stats.tokens = sum(len(tokens) for tokens in sentences)
    _log_stats(stats)
    return _build_dataset(language, sentences, all_tags), stats


def ner_hub_source(language: str, split: str) -> tuple[str, str, str]:
    """``(path, config_name, split)`` for ``datasets.load_dataset`` (WikiANN: train/validation/test)."""
    check_language(language, WIKIANN_LANGUAGES, "WikiANN")
    return NER_HUB_DATASET, language, split


def ner_hub_sources(language: str, split: str) -> list[HubSource]:
    """WikiANN, then its parquet export (``<lang>/<split>/0000.parquet``), then XTREME's ``PAN-X.<lang>``."""
    path, name, hub_split = ner_hub_source(language, split)
    return [
        HubSource(path, name, hub_split),
        parquet_export(path, name, hub_split, files="0000.parquet"),
        HubSource(NER_HUB_FALLBACK, f"PAN-X.{language}", hub_split),
    ]


def _hub_tag_ids(feature: Any, source: str) -> np.ndarray | None:
    """Map from a Hub ``ner_tags`` ClassLabel's ids to ids over :data:`NER_LABELS` (None: already the same).

    The names must be exactly the seven WikiANN tags; another order (a copy of WikiANN may number them
    differently) is converted by name, anything else is refused rather than guessed.
    """
    from datasets import ClassLabel

    inner = getattr(feature, "feature", None)
    if not isinstance(inner, ClassLabel) or list(inner.names) == NER_LABELS:
        return None
    if sorted(inner.names) != sorted(NER_LABELS):
        raise InputError(f"tag names {inner.names} differ from {NER_LABELS}", source)
    logger.info("%s: tag ids %s converted to the WikiANN order %s", source, inner.names, NER_LABELS)
    return np.array([NER_LABEL2ID[name] for name in inner.names], dtype=np.int64)


def normalize_hub_ner(
    dataset: Any, language: str, repair: str = "error", source: str = "hub"
) -> tuple[Any, NerLoadStats]:
    """Bring a Hub WikiANN split to the common columns, with the same tag checks as the file readers."""
    check_language(language, WIKIANN_LANGUAGES, "WikiANN")
    _check_repair(repair)
    missing = [name for name in ("tokens", "ner_tags") if name not in dataset.column_names]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", source)
    to_wikiann = _hub_tag_ids(dataset.features["ner_tags"], source)
    stats = NerLoadStats(source=source, language=language)
    sentences: list[list[str]] = []
    all_tags: list[list[int]] = []
    for number, (tokens, tags) in enumerate(zip(dataset["tokens"], dataset["ner_tags"], strict=True), start=1):
        if not tokens:
            stats.sentences_empty += 1
            continue
        if to_wikiann is not None:
            tags = to_wikiann[np.asarray(tags, dtype=np.int64)].tolist()
        if any(parse_ner_tag(tag) is None for tag in tags):
            bad = next(tag for tag in tags if parse_ner_tag(tag) is None)
            raise _unknown_tag(bad, source, None, f"sentence {number}: ")
        tags, repairs = _apply_policy(list(tags), repair, source, [None] * len(tags), f"sentence {number}: ")
        stats.repairs += repairs
        sentences.append(list(tokens))
        all_tags.append(tags)
    stats.sentences = len(sentences)
    stats.tokens = sum(len(tokens) for tokens in sentences)
    _log_stats(stats)
    return _build_dataset(language, sentences, all_tags), stats


def load_ner_dataset(
    language: str,
    split: str,
    data_file: str | Path | None = None,
    repair: str = "error",
    cache_dir: str | None = None,
) -> tuple[Any, NerLoadStats]:
    """Load one language's split from ``data_file`` when given, else from WikiANN on the Hub."""
    if data_file is not None:
        return read_ner_file(data_file, language, repair=repair)
    check_language(language, WIKIANN_LANGUAGES, "WikiANN")
    _check_repair(repair)
    sources = ner_hub_sources(language, split)
    dataset, source = load_first(f"WikiANN {language} {split}", sources, cache_dir=cache_dir)
    return normalize_hub_ner(dataset, language, repair=repair, source=source.describe())


# ---------------------------------------------------------------------------------------------------------------
# Subword alignment


_B_TO_I = _begin_to_inside(NER_LABELS)


def align_labels_with_tokens(
    word_labels: Sequence[int],
    word_ids: Sequence[int | None],
    label_all_tokens: bool = False,
    label_names: Sequence[str] | None = None,
) -> list[int]:
    """Subword labels from word labels, given a fast tokenizer's ``word_ids()`` for the sequence.

    Special tokens (word id None) get -100. The first subword of a word gets the word's label. The other
    subwords get -100, or with ``label_all_tokens`` the word's label, except that ``B-X`` becomes ``I-X``
    (the convention of the Hugging Face token-classification example: one entity stays one entity when
    the subwords are decoded). Word labels that are already -100 stay -100. ``label_names`` defaults to
    :data:`NER_LABELS`; it is only used for the ``B-X`` to ``I-X`` mapping.
    """
    ids = np.fromiter((-1 if w is None else w for w in word_ids), dtype=np.int64, count=len(word_ids))
    labels = np.asarray(word_labels, dtype=np.int64)
    special = ids < 0
    if ids.size and ids.max(initial=-1) >= labels.size:
        raise ValueError(f"word id {int(ids.max())} out of range for {labels.size} word labels")
    out = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
    out[~special] = labels[ids[~special]]
    previous = np.concatenate(([-1], ids[:-1]))
    continuation = ~special & (ids == previous)
    if label_all_tokens:
        b_to_i = _B_TO_I if label_names is None else _begin_to_inside(label_names)
        mapped = continuation & (out >= 0)
        out[mapped] = b_to_i[out[mapped]]
    else:
        out[continuation] = IGNORE_INDEX
    return out.tolist()


def tokenize_and_align(
    examples: dict[str, list],
    tokenizer: Any,
    max_length: int | None = None,
    label_all_tokens: bool = False,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    label_names: Sequence[str] | None = None,
) -> Any:
    """Tokenize pre-split words and add aligned ``labels``; for ``dataset.map(..., batched=True)``.

    Works with any fast tokenizer (it needs ``word_ids()``); every word is tokenised as in running text
    (:func:`~xladjust.data.text.tokenize_words`), so byte-level BPE needs no ``add_prefix_space``. Truncates to
    ``max_length`` (None: the tokenizer's ``model_max_length``). No padding: use
    ``DataCollatorForTokenClassification``, which pads the labels with -100. ``label_names``: the tag set of
    ``tags_column`` when it is not :data:`NER_LABELS` (its ``B-X`` → ``I-X`` map under ``label_all_tokens``).
    """
    encoded = tokenize_words(tokenizer, examples[tokens_column], truncation=True, max_length=max_length)
    encoded["labels"] = [
        align_labels_with_tokens(tags, encoded.word_ids(i), label_all_tokens, label_names)
        for i, tags in enumerate(examples[tags_column])
    ]
    return encoded
