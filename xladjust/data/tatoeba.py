"""Tatoeba sentence pairs (Artetxe & Schwenk 2019, the XTREME sentence-retrieval task): local files or the Hub.

Sources, tried in this order (the first that serves the language wins; ``--tatoeba_dir`` given means local only):

- Local XTREME/LASER files in a folder: ``tatoeba.spa-eng.spa`` + ``tatoeba.spa-eng.eng`` (LASER's
  ``data/tatoeba/v1`` names, three-letter codes of ``TATOEBA_CODES``), or the same files renamed with two-letter
  codes as XTREME's download script leaves them (``tatoeba.es-eng.es`` + ``tatoeba.es-eng.eng``). Line i of one
  file is the translation of line i of the other.
- Hub ``mteb/tatoeba-bitext-mining`` (``TATOEBA_HUB``), config ``spa-eng``, split ``test``, columns ``sentence1``
  (the foreign sentence) and ``sentence2`` (English).
- Hub ``google/xtreme`` (``XTREME_HUB``), config ``tatoeba.spa``, split ``validation``, columns
  ``source_sentence`` (foreign) and ``target_sentence`` (English), whose lines keep their newline.

Sentences are stripped; a pair with an empty side is dropped with a counted warning (its id, the 0-based line or
row number, is kept for the others, so per-query files point back into the source).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from xladjust.data.hub import HubSource, load_first
from xladjust.data.languages import TATOEBA_CODES
from xladjust.errors import InputError

logger = logging.getLogger(__name__)

TATOEBA_HUB = "mteb/tatoeba-bitext-mining"
TATOEBA_HUB_SPLIT = "test"
TATOEBA_HUB_COLUMNS = ("sentence1", "sentence2")  # foreign, English
XTREME_HUB = "google/xtreme"
XTREME_HUB_SPLIT = "validation"
XTREME_HUB_COLUMNS = ("source_sentence", "target_sentence")  # foreign, English


@dataclass(frozen=True)
class Bitext:
    """Parallel sentences of one language with English: ``foreign[i]`` translates ``english[i]``."""

    language: str
    foreign: list[str]
    english: list[str]
    ids: list[str]  # where pair i came from (line or row number in the source)
    source: str  # e.g. "mteb/tatoeba-bitext-mining:spa-eng[test]" or the local file

    def __len__(self) -> int:
        return len(self.foreign)


def tatoeba_code(language: str) -> str:
    """Three-letter Tatoeba code of an ISO 639-1 code (``es`` → ``spa``)."""
    if language not in TATOEBA_CODES:
        known = " ".join(sorted(TATOEBA_CODES))
        raise InputError(f"Tatoeba has no language {language!r} in XTREME's set; known: {known}")
    return TATOEBA_CODES[language]


def make_bitext(language: str, foreign: list[str], english: list[str], source: str) -> Bitext:
    """Strip both sides, drop (and count) pairs with an empty side, refuse a corpus left empty."""
    if len(foreign) != len(english):
        raise InputError(
            f"{len(foreign)} foreign but {len(english)} English sentences; expected parallel lines", source
        )
    kept = [
        (str(i), f.strip(), e.strip())
        for i, (f, e) in enumerate(zip(foreign, english, strict=True))
        if f.strip() and e.strip()
    ]
    if len(kept) < len(foreign):
        logger.warning("%s: dropped %d of %d pairs with an empty side", source, len(foreign) - len(kept), len(foreign))
    if not kept:
        raise InputError("no sentence pair with text on both sides", source)
    ids, foreign_kept, english_kept = (list(column) for column in zip(*kept, strict=True))
    return Bitext(language, foreign_kept, english_kept, ids, source)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason} at byte {error.start})", path) from None
    lines = text.split("\n")  # not splitlines(): U+2028 and friends inside a sentence are not line breaks here
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_tatoeba_files(directory: str | Path, language: str) -> Bitext:
    """The line-aligned XTREME/LASER files of ``language`` in ``directory`` (see the module docstring)."""
    directory = Path(directory)
    code = tatoeba_code(language)
    candidates = [(directory / f"tatoeba.{c}-eng.{c}", directory / f"tatoeba.{c}-eng.eng") for c in (code, language)]
    for foreign_path, english_path in candidates:
        if foreign_path.is_file() and english_path.is_file():
            foreign, english = _read_lines(foreign_path), _read_lines(english_path)
            if len(foreign) != len(english):
                raise InputError(
                    f"{len(foreign)} lines but {english_path.name} has {len(english)}; the two files must be "
                    "line-aligned translations",
                    foreign_path,
                )
            return make_bitext(language, foreign, english, str(foreign_path))
    expected = " or ".join(f"{f.name} + {e.name}" for f, e in candidates)
    raise InputError(f"no Tatoeba files for {language!r}: expected {expected}", directory)


def tatoeba_sources(language: str) -> list[HubSource]:
    """The Hub sources of one language, in the order they are tried (also what ``check_hub`` probes)."""
    code = tatoeba_code(language)
    return [
        HubSource(TATOEBA_HUB, f"{code}-eng", TATOEBA_HUB_SPLIT),
        HubSource(XTREME_HUB, f"tatoeba.{code}", XTREME_HUB_SPLIT),
    ]


HUB_COLUMNS = {TATOEBA_HUB: TATOEBA_HUB_COLUMNS, XTREME_HUB: XTREME_HUB_COLUMNS}


def load_tatoeba_hub(language: str, cache_dir: str | None = None) -> Bitext:
    """Tatoeba from ``mteb/tatoeba-bitext-mining``, else ``google/xtreme``; which one served is logged."""
    dataset, source = load_first(f"Tatoeba {language}", tatoeba_sources(language), cache_dir=cache_dir)
    columns = HUB_COLUMNS[source.path]
    missing = [name for name in columns if name not in dataset.column_names]
    if missing:
        raise InputError(f"has no column(s) {missing}; found {dataset.column_names}", source.describe())
    bitext = make_bitext(language, list(dataset[columns[0]]), list(dataset[columns[1]]), source.describe())
    logger.info("Tatoeba %s: %d pairs from %s", language, len(bitext), bitext.source)
    return bitext


def load_tatoeba(language: str, directory: str | Path | None = None, cache_dir: str | None = None) -> Bitext:
    """Local files when ``directory`` is given (no Hub fallback: the user chose them), else the Hub."""
    if directory is not None:
        bitext = read_tatoeba_files(directory, language)
        logger.info("Tatoeba %s: %d pairs from %s", language, len(bitext), bitext.source)
        return bitext
    return load_tatoeba_hub(language, cache_dir)
