"""Universal Dependencies POS tagging (UPOS, 17 tags): validating readers of CoNLL-U, CoNLL-column and JSON files,
and XTREME's UD-POS on the Hub.

Every loader returns ``(dataset, stats)``: a ``datasets.Dataset`` with the columns ``id`` (``f"{language}-{index}"``),
``tokens`` (list of words) and ``pos_tags`` (list of ``ClassLabel`` ids over :data:`UPOS_LABELS`), and a
:class:`PosLoadStats` with what was read and skipped.

Sources: the Hub's XTREME copy of UD v2.5, ``google/xtreme`` config ``udpos.<Language>`` (the language *name*:
``udpos.Spanish``; :data:`~xladjust.data.languages.UDPOS_LANGUAGE_NAMES`), then its parquet export; local CoNLL-U
files (``.conllu``), read with the ``conllu`` package's line parser; CoNLL-style columns (token first, tag last,
a blank line between sentences: XTREME's preprocessed files); json/jsonl records with ``tokens`` and ``pos_tags``
(tag names or ids).

CoNLL-U: ``#`` lines are comments; a word line has 10 tab-separated fields; the words are the syntactic words with
integer ids, so a multi-word token range (``1-2 Vámonos``) is skipped for its parts (``1 Vamos``, ``2 nos``), and an
empty node (``8.1``, enhanced dependencies only) is skipped; both are counted. A sentence whose forms are all ``_``
(treebanks that withhold the text for licensing) is dropped with a counted warning. A line that breaks the format
or a UPOS outside the 17 tags is an :class:`~xladjust.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.data.hub import HubSource, load_first, parquet_export
from xladjust.data.languages import UDPOS_LANGUAGE_NAMES, check_language
from xladjust.errors import InputError
from xladjust.tasks.ner import iter_conll
from xladjust.tasks.records import iter_json_records

logger = logging.getLogger(__name__)

UPOS_LABELS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]
"""The 17 UPOS tags in id order, as XTREME's ``udpos.*`` configs number them (alphabetical)."""

UPOS_LABEL2ID = {name: i for i, name in enumerate(UPOS_LABELS)}

POS_HUB_DATASET = "google/xtreme"
UDPOS_LANGUAGES = tuple(UDPOS_LANGUAGE_NAMES)
BENCHMARK = "UD-POS (XTREME)"

_CONLLU_FIELDS = 10
_CONLLU_SUFFIXES = (".conllu",)
_COLUMN_SUFFIXES = (".conll", ".tsv", ".txt", ".iob", ".bio")


@dataclass
class PosLoadStats:
    """Counts for the log and the results file."""

    source: str
    language: str
    sentences: int = 0
    tokens: int = 0
    multiword_tokens: int = 0  # CoNLL-U ranges skipped for their syntactic words
    empty_nodes: int = 0  # CoNLL-U enhanced-dependency nodes skipped
    sentences_without_text: int = 0  # every form "_": dropped
    sentences_empty: int = 0  # no word at all: dropped

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pos_config_name(language: str) -> str:
    """XTREME's config of a language: ``es`` → ``udpos.Spanish``."""
    check_language(language, UDPOS_LANGUAGES, BENCHMARK)
    return f"udpos.{UDPOS_LANGUAGE_NAMES[language]}"


def parse_pos_tag(value: Any) -> int | None:
    """Tag id of a UPOS name (exact, e.g. ``NOUN``) or an id; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(UPOS_LABELS) else None
    if isinstance(value, str):
        return UPOS_LABEL2ID.get(value.strip())
    return None


def _unknown_tag(value: Any, path: str | Path, line: int | None, where: str = "") -> InputError:
    return InputError(
        f"{where}unknown UPOS tag {value!r}; expected one of {', '.join(UPOS_LABELS)} or an id 0-16",
        path,
        line,
    )


# ---------------------------------------------------------------------------------------------------------------
# Readers


def iter_conllu(path: str | Path, stats: PosLoadStats) -> Iterator[tuple[list[str], list[str], list[int]]]:
    """Yield ``(forms, upos, lines)`` per sentence of a CoNLL-U file (syntactic words only; see the module doc)."""
    from conllu.exceptions import ParseException
    from conllu.parser import DEFAULT_FIELDS, parse_line

    forms: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if forms:
                    yield forms, tags, lines
                    forms, tags, lines = [], [], []
                continue
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != _CONLLU_FIELDS:
                raise InputError(
                    f"expected {_CONLLU_FIELDS} tab-separated CoNLL-U fields, found {len(fields)}: {line[:60]!r}",
                    path,
                    number,
                )
            try:
                token = parse_line(line, DEFAULT_FIELDS)
            except ParseException as error:
                raise InputError(f"not a CoNLL-U word line ({error}): {line[:60]!r}", path, number) from None
            if isinstance(token["id"], tuple):
                kind = token["id"][1]
                if kind == "-":
                    stats.multiword_tokens += 1
                elif kind == ".":
                    stats.empty_nodes += 1
                continue
            forms.append(token["form"])
            tags.append(token["upos"])
            lines.append(number)
    if forms:
        yield forms, tags, lines


def read_pos_file(path: str | Path, language: str, fmt: str | None = None) -> tuple[Any, PosLoadStats]:
    """Read and validate a local POS file (``fmt`` ``conllu``, ``conll`` or ``json``; by default from the suffix)."""
    check_language(language, UDPOS_LANGUAGES, BENCHMARK)
    suffix = Path(path).suffix.lower()
    fmt = fmt or (
        "conllu"
        if suffix in _CONLLU_SUFFIXES
        else "json"
        if suffix in (".json", ".jsonl")
        else "conll"
        if suffix in _COLUMN_SUFFIXES
        else None
    )
    if fmt not in ("conllu", "conll", "json"):
        suffixes = ", ".join((*_CONLLU_SUFFIXES, ".json", ".jsonl", *_COLUMN_SUFFIXES))
        raise InputError(f"cannot tell the format from the suffix; use {suffixes}", path)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    stats = PosLoadStats(source=str(path), language=language)
    sentences: list[list[str]] = []
    all_tags: list[list[int]] = []

    def add(tokens: list[str], names: list[Any], lines: list[int | None], where: str = "") -> None:
        if not tokens:
            stats.sentences_empty += 1
            return
        if all(token == "_" for token in tokens):
            stats.sentences_without_text += 1
            return
        ids = []
        for name, line in zip(names, lines, strict=True):
            tag = parse_pos_tag(name)
            if tag is None:
                raise _unknown_tag(name, path, line, where)
            ids.append(tag)
        sentences.append(tokens)
        all_tags.append(ids)

    if fmt == "conllu":
        for tokens, names, lines in iter_conllu(path, stats):
            add(tokens, names, lines)
    elif fmt == "conll":
        for tokens, names, lines in iter_conll(path):
            add(tokens, names, lines)
    else:
        for line, number, record in iter_json_records(path):
            where = f"record {number}: " if line is None else ""
            missing = [name for name in ("tokens", "pos_tags") if name not in record]
            if missing:
                raise InputError(f"{where}missing required field(s) {', '.join(missing)}", path, line)
            tokens, names = record["tokens"], record["pos_tags"]
            if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
                raise InputError(f"{where}tokens must be a list of strings", path, line)
            if not isinstance(names, list) or len(names) != len(tokens):
                found = len(names) if isinstance(names, list) else type(names).__name__
                message = f"{where}pos_tags must be a list as long as tokens ({len(tokens)} tokens, {found} tags)"
                raise InputError(message, path, line)
            add(tokens, names, [line] * len(tokens), where)
    if not sentences:
        raise InputError("no sentences with words", path)
    return _finish(language, sentences, all_tags, stats)


def _finish(
    language: str, sentences: list[list[str]], tags: list[list[int]], stats: PosLoadStats
) -> tuple[Any, PosLoadStats]:
    from datasets import ClassLabel, Dataset, Features, List, Value

    stats.sentences = len(sentences)
    stats.tokens = sum(len(tokens) for tokens in sentences)
    logger.info(
        "%s [%s]: %d sentences, %d words (%d multi-word tokens and %d empty nodes skipped for their words)",
        stats.source,
        stats.language,
        stats.sentences,
        stats.tokens,
        stats.multiword_tokens,
        stats.empty_nodes,
    )
    dropped = stats.sentences_without_text + stats.sentences_empty
    if dropped:
        logger.warning(
            "%s: %d sentences dropped (%d whose forms are all '_', the text withheld; %d without words)",
            stats.source,
            dropped,
            stats.sentences_without_text,
            stats.sentences_empty,
        )
    features = Features(
        {"id": Value("string"), "tokens": List(Value("string")), "pos_tags": List(ClassLabel(names=UPOS_LABELS))}
    )
    ids = [f"{language}-{i}" for i in range(len(sentences))]
    return Dataset.from_dict({"id": ids, "tokens": sentences, "pos_tags": tags}, features=features), stats


# ---------------------------------------------------------------------------------------------------------------
# The Hub


def pos_hub_sources(language: str, split: str) -> list[HubSource]:
    """XTREME's ``udpos.<Language>``, then its parquet export (``udpos.<Language>/<split>/*.parquet``)."""
    config = pos_config_name(language)
    return [HubSource(POS_HUB_DATASET, config, split), parquet_export(POS_HUB_DATASET, config, split)]


def normalize_hub_pos(dataset: Any, language: str, source: str = "hub") -> tuple[Any, PosLoadStats]:
    """Bring a Hub UD-POS split to the common columns: its ``pos_tags`` ClassLabel must name the 17 UPOS tags (in
    another order they are converted by name; other names are refused)."""
    from datasets import ClassLabel

    check_language(language, UDPOS_LANGUAGES, BENCHMARK)
    missing = [name for name in ("tokens", "pos_tags") if name not in dataset.column_names]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", source)
    inner = getattr(dataset.features["pos_tags"], "feature", None)
    to_upos = None
    if isinstance(inner, ClassLabel) and list(inner.names) != UPOS_LABELS:
        if sorted(inner.names) != sorted(UPOS_LABELS):
            raise InputError(f"tag names {inner.names} differ from the UPOS tags {UPOS_LABELS}", source)
        to_upos = np.array([UPOS_LABEL2ID[name] for name in inner.names], dtype=np.int64)
    stats = PosLoadStats(source=source, language=language)
    sentences: list[list[str]] = []
    all_tags: list[list[int]] = []
    for number, (tokens, tags) in enumerate(zip(dataset["tokens"], dataset["pos_tags"], strict=True), start=1):
        if not tokens:
            stats.sentences_empty += 1
            continue
        if all(token == "_" for token in tokens):
            stats.sentences_without_text += 1
            continue
        if to_upos is not None:
            tags = to_upos[np.asarray(tags, dtype=np.int64)].tolist()
        bad = next((tag for tag in tags if parse_pos_tag(tag) is None), None)
        if bad is not None:
            raise _unknown_tag(bad, source, None, f"sentence {number}: ")
        sentences.append(list(tokens))
        all_tags.append([parse_pos_tag(tag) for tag in tags])
    if not sentences:
        raise InputError("no sentences with words", source)
    return _finish(language, sentences, all_tags, stats)


def load_pos_dataset(
    language: str, split: str, data_file: str | Path | None = None, cache_dir: str | None = None
) -> tuple[Any, PosLoadStats]:
    """One language's split from ``data_file`` when given, else from XTREME's UD-POS on the Hub."""
    if data_file is not None:
        return read_pos_file(data_file, language)
    dataset, source = load_first(f"UD-POS {language} {split}", pos_hub_sources(language, split), cache_dir=cache_dir)
    return normalize_hub_pos(dataset, language, source=source.describe())
