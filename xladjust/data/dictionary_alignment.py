"""Word links from a bilingual dictionary (Gaschi et al. 2023: dictionary pairs gave the best realignment).

A dictionary is a text file in the MUSE format (Conneau et al. 2018, ``facebookresearch/MUSE``
``dictionaries/en-es.txt`` ...): one ``SOURCE TARGET`` entry per line, the two words separated by a space or a tab.
Either direction works: an entry ``a b`` links a target word ``a`` to an English word ``b`` *and* a target word
``b`` to an English word ``a``, so ``en-es.txt`` and ``es-en.txt`` give the same links (a Spanish sentence rarely
holds the English side of an entry, and the one-to-one filter drops what such a coincidence adds). Words are
compared case-folded (``str.casefold``) on both sides.

Skipped and counted (:class:`DictionaryStats`): multi-word entries (a tab-separated side holding a space, or a line
of more than two space-separated words: ``nueva york new york``) and repeated entries (after case-folding). A line
of one word is an :class:`~xladjust.errors.InputError` naming the file and line; empty lines are skipped. Entries
whose two words are the same (``hotel hotel``, common in MUSE files) are kept: ``--filter_identical`` decides.

In a sentence pair every target word is linked to every English word that the dictionary pairs it with, repeats
included (``el … el`` / ``the … the`` gives four links); the usual filters then apply: ``--one_to_one`` keeps
links whose two words have no other link, ``--filter_identical`` drops links between identical strings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xladjust.errors import InputError

logger = logging.getLogger(__name__)

Link = tuple[int, int]


@dataclass
class DictionaryStats:
    """Counts of one dictionary file, in the log, ``adjustment_config.json`` and ``all_results.json``."""

    lines: int = 0
    entries: int = 0
    multi_word_skipped: int = 0
    repeated_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def read_dictionary(path: str) -> tuple[dict[str, frozenset[str]], DictionaryStats]:
    """``{word: partners}`` (case-folded, both directions) and the counts of a MUSE-format file."""
    if not os.path.isfile(path):
        raise InputError("dictionary file not found", path)
    stats = DictionaryStats()
    pairs: set[tuple[str, str]] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            stats.lines += 1
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            sides = line.split("\t") if "\t" in line else line.split()
            sides = [side.strip() for side in sides]
            if len(sides) < 2 or not all(sides):
                raise InputError(f"expected 'SOURCE TARGET' (two words), found {line.strip()!r}", path, number)
            if len(sides) > 2 or any(len(side.split()) > 1 for side in sides):
                stats.multi_word_skipped += 1
                continue
            pair = (sides[0].casefold(), sides[1].casefold())
            if pair in pairs:
                stats.repeated_skipped += 1
            pairs.add(pair)
    stats.entries = len(pairs)
    partners: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        partners[a].add(b)
        partners[b].add(a)
    return {word: frozenset(found) for word, found in partners.items()}, stats


def dictionary_links(
    target: Sequence[str], english: Sequence[str], partners: Mapping[str, frozenset[str]]
) -> list[Link]:
    """Sorted links ``(i, j)`` of every target word ``i`` and English word ``j`` that the dictionary pairs."""
    positions: dict[str, list[int]] = defaultdict(list)
    for j, word in enumerate(english):
        positions[word.casefold()].append(j)
    links = []
    for i, word in enumerate(target):
        for partner in partners.get(word.casefold(), ()):
            links.extend((i, j) for j in positions.get(partner, ()))
    return sorted(links)


class DictionaryAligner:
    """A :class:`~xladjust.data.parallel.WordAligner` for one language: links from one dictionary file.

    The file is read (and checked) when the aligner is made, so a bad file stops the run before any other work;
    ``settings()`` (the cache key of :func:`xladjust.data.parallel.align_pairs`) holds the file's sha256.
    """

    name = "dictionary"

    def __init__(self, path: str, language: str):
        self.path, self.language = path, language
        self.partners, self.stats = read_dictionary(path)
        with open(path, "rb") as handle:
            self.sha256 = hashlib.sha256(handle.read()).hexdigest()
        logger.info("%s: dictionary %s: %s", language, path, self.stats.as_dict())

    def settings(self) -> dict[str, Any]:
        return {"aligner": self.name, "dictionary": self.path, "dictionary_sha256": self.sha256, "casefold": True}

    def align(self, targets: Sequence[Sequence[str]], englishes: Sequence[Sequence[str]]) -> list[list[Link]]:
        if len(targets) != len(englishes):
            raise InputError(f"{len(targets)} target sentences but {len(englishes)} English ones; expected pairs")
        return [dictionary_links(t, e, self.partners) for t, e in zip(targets, englishes, strict=True)]


def dictionary_paths(entries: Sequence[str], languages: Sequence[str], flag: str = "--dictionary_files") -> dict:
    """``{language: path}`` from ``LANG=PATH`` entries and/or one PATH where ``{lang}`` stands for the language;
    every language of ``languages`` needs one, an entry for another language is an error."""
    explicit: dict[str, str] = {}
    template = None
    for entry in entries:
        language, separator, path = entry.partition("=")
        if separator and language and "/" not in language and "{" not in language:
            if language not in languages:
                raise InputError(f"{flag}: {language!r} is not one of --languages ({' '.join(languages)})")
            if language in explicit or not path:
                raise InputError(f"{flag}: {entry!r} repeats a language or has no path")
            explicit[language] = path
        elif template is not None or "{lang}" not in entry:
            raise InputError(f"{flag}: {entry!r}: expected LANG=PATH entries, or one PATH with {{lang}} in it")
        else:
            template = entry
    paths = {}
    for language in languages:
        if language in explicit:
            paths[language] = explicit[language]
        elif template is not None:
            paths[language] = template.replace("{lang}", language)
        else:
            raise InputError(f"{flag} has no dictionary for {language!r}: give {language}=PATH or a {{lang}} PATH")
    return paths
