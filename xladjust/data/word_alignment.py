"""Word alignment with eflomal, symmetrisation of directional links, and Pharaoh output.

Links are ``(target_index, english_index)`` pairs, 0-based: Pharaoh ``i-j`` with ``i`` on the target
(non-English) side. eflomal is run with the target language as its *source* text and English as its
*target* text, so both of its link files come out as ``target-english``.
"""

from __future__ import annotations

import heapq
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from xladjust.errors import InputError
from xladjust.io import write_lines

logger = logging.getLogger(__name__)

Link = tuple[int, int]

SYMMETRIZATIONS = ("intersect", "union", "grow-diag-final-and")

# Koehn's neighbourhood in (english, target) coordinates: the four direct neighbours first, then the diagonals.
# The order matters: grow-diag is greedy, so a different order can give a different (equally valid) result.
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))

# eflomal's write_text stores sentences of this many tokens or more as empty, so they get no links.
_EFLOMAL_MAX_LEN = 0x400


def _check_method(method: str) -> None:
    if method not in SYMMETRIZATIONS:
        raise InputError(f"unknown symmetrization {method!r}; expected one of {', '.join(SYMMETRIZATIONS)}")


def _grow_diag_final_and(forward: set[Link], reverse: set[Link]) -> set[Link]:
    # Work in (english, target) coordinates so that visiting points in sorted order reproduces Moses' symal
    # (and the row-by-row scan of Koehn's pseudocode) when the target language plays Moses' foreign side.
    fwd = {(j, i) for i, j in forward}
    rev = {(j, i) for i, j in reverse}
    union = fwd | rev
    alignment = fwd & rev
    e_aligned = {e for e, _ in alignment}
    f_aligned = {f for _, f in alignment}

    # grow-diag. symal scans the alignment in sorted order while inserting into it: a point added after the scan
    # position is visited in the same pass, one added before it waits for the next pass. Re-scanning an old point
    # can never add anything (words only become aligned, the union is fixed), so only new points are queued,
    # which keeps this O(k log k) in the number of links rather than a scan of the whole matrix per pass.
    pending = sorted(alignment)
    while pending:
        heapq.heapify(pending)
        later: list[Link] = []
        while pending:
            point = heapq.heappop(pending)
            e, f = point
            for de, df in _NEIGHBOURS:
                candidate = (e + de, f + df)
                if candidate not in union or candidate in alignment:
                    continue
                e_new, f_new = candidate
                if e_new in e_aligned and f_new in f_aligned:
                    continue
                alignment.add(candidate)
                e_aligned.add(e_new)
                f_aligned.add(f_new)
                if candidate > point:
                    heapq.heappush(pending, candidate)
                else:
                    later.append(candidate)
        pending = later

    # final-and: union points linking two still-unaligned words, forward direction first, then reverse.
    for direction in (fwd, rev):
        for e, f in sorted(direction):
            if e not in e_aligned and f not in f_aligned:
                alignment.add((e, f))
                e_aligned.add(e)
                f_aligned.add(f)
    return {(i, j) for j, i in alignment}


def symmetrize(forward: Iterable[Link], reverse: Iterable[Link], method: str = "intersect") -> list[Link]:
    """Combine the two directional alignments of one sentence pair; returns sorted links.

    ``forward`` and ``reverse`` must both be in ``(target, english)`` orientation. ``method`` is
    ``"intersect"``, ``"union"`` or ``"grow-diag-final-and"`` (Koehn et al. 2003, as in Moses' symal:
    grow the intersection with neighbouring, diagonals included, union points that cover an unaligned
    word until nothing changes, then add forward and then reverse points whose words are both unaligned).
    """
    _check_method(method)
    forward, reverse = set(forward), set(reverse)
    if method == "intersect":
        result = forward & reverse
    elif method == "union":
        result = forward | reverse
    else:
        result = _grow_diag_final_and(forward, reverse)
    return sorted(result)


def symmetrize_all(
    forwards: Sequence[Iterable[Link]], reverses: Sequence[Iterable[Link]], method: str = "intersect"
) -> list[list[Link]]:
    """:func:`symmetrize` for every sentence pair of a corpus."""
    _check_method(method)
    if len(forwards) != len(reverses):
        raise ValueError(f"{len(forwards)} forward alignments but {len(reverses)} reverse ones")
    return [symmetrize(fwd, rev, method) for fwd, rev in zip(forwards, reverses, strict=True)]


def _eflomal_line(words: Sequence[str]) -> str:
    # eflomal re-splits each line on whitespace, so a token containing whitespace (or an empty token) would shift
    # every later index; make each token exactly one whitespace-free field.
    return " ".join("_".join(word.split()) or "_" for word in words)


def _read_links(path: str, lengths: Sequence[tuple[int, int]], name: str) -> list[list[Link]]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = None
    # eflomal's Python wrapper ignores the binary's exit status, so a crash only shows as a missing or short file.
    if lines is None or len(lines) != len(lengths):
        found = "no file" if lines is None else f"{len(lines)} lines"
        raise RuntimeError(f"eflomal failed: its {name} links have {found} for {len(lengths)} sentence pairs")
    corpus = []
    for number, (line, (target_len, english_len)) in enumerate(zip(lines, lengths, strict=True), start=1):
        links = []
        for token in line.split():
            left, _, right = token.partition("-")
            i, j = int(left), int(right)
            if not (0 <= i < target_len and 0 <= j < english_len):
                raise RuntimeError(
                    f"eflomal {name} link {token} on line {number} is outside a {target_len}x{english_len} pair"
                )
            links.append((i, j))
        corpus.append(links)
    return corpus


def run_eflomal(
    targets: Sequence[Sequence[str]],
    englishes: Sequence[Sequence[str]],
    *,
    model: int = 3,
    n_samplers: int = 3,
    rel_iterations: float = 1.0,
) -> tuple[list[list[Link]], list[list[Link]]]:
    """Run eflomal in both directions; returns ``(forwards, reverses)``, both in ``(target, english)`` orientation.

    In the forward links every English word has at most one link, in the reverse links every target word
    does (eflomal already writes its reverse links flipped into the source-target orientation).

    eflomal cannot be seeded: its binary seeds its sampler from ``/dev/urandom`` and has no seed option, so
    repeated runs give slightly different links. ``n_samplers`` independent samplers run as OpenMP threads
    (``OMP_NUM_THREADS`` caps them). Tokens are lowercased by eflomal; sentences of 1024 or more words get no
    links. The corpus goes through temporary files in the system temp directory, deleted afterwards.
    """
    from eflomal import Aligner  # imported here so that symmetrisation and Pharaoh output work without eflomal

    if len(targets) != len(englishes):
        raise InputError(f"{len(targets)} target sentences but {len(englishes)} English ones; expected pairs")
    if not targets:
        return [], []
    lengths = [(len(target), len(english)) for target, english in zip(targets, englishes, strict=True)]
    too_long = sum(max(pair) >= _EFLOMAL_MAX_LEN for pair in lengths)
    if too_long:
        logger.warning(
            "%d pairs have a sentence of %d or more words: eflomal leaves them unaligned", too_long, _EFLOMAL_MAX_LEN
        )

    aligner = Aligner(model=model, n_samplers=n_samplers, rel_iterations=rel_iterations)
    started = time.perf_counter()
    logger.info("eflomal: aligning %d sentence pairs (model %d, %d samplers)", len(lengths), model, n_samplers)
    with tempfile.TemporaryDirectory(prefix="xladjust-eflomal-") as workdir:
        forward_path, reverse_path = os.path.join(workdir, "forward"), os.path.join(workdir, "reverse")
        # Generators: eflomal only iterates over lines, so the corpus is never held twice as text.
        sources: Iterator[str] = (_eflomal_line(target) for target in targets)
        english_lines: Iterator[str] = (_eflomal_line(english) for english in englishes)
        aligner.align(sources, english_lines, links_filename_fwd=forward_path, links_filename_rev=reverse_path)
        forwards = _read_links(forward_path, lengths, "forward")
        reverses = _read_links(reverse_path, lengths, "reverse")
    logger.info("eflomal: done in %.1f s", time.perf_counter() - started)
    return forwards, reverses


def align_with_eflomal(
    targets: Sequence[Sequence[str]],
    englishes: Sequence[Sequence[str]],
    symmetrization: str = "intersect",
    *,
    model: int = 3,
    n_samplers: int = 3,
    rel_iterations: float = 1.0,
) -> list[list[Link]]:
    """Align word-tokenised sentence pairs with eflomal (both directions) and symmetrise; one sorted list per pair.

    Not reproducible run to run: eflomal has no seed (see :func:`run_eflomal`). Cache the result with
    :func:`write_pharaoh` when the same links are needed again.
    """
    _check_method(symmetrization)
    forwards, reverses = run_eflomal(
        targets, englishes, model=model, n_samplers=n_samplers, rel_iterations=rel_iterations
    )
    alignments = symmetrize_all(forwards, reverses, symmetrization)
    if alignments:
        logger.info(
            "eflomal: %s kept %d links (forward %d, reverse %d)",
            symmetrization,
            sum(map(len, alignments)),
            sum(map(len, forwards)),
            sum(map(len, reverses)),
        )
    return alignments


def format_pharaoh(links: Iterable[Link]) -> str:
    """``[(0, 0), (1, 2)]`` -> ``"0-0 1-2"`` (links written in the given order)."""
    return " ".join(f"{i}-{j}" for i, j in links)


def write_pharaoh(path: str | Path, alignments: Iterable[Iterable[Link]]) -> None:
    """Write one Pharaoh line per sentence pair (an empty line for a pair without links)."""
    write_lines(path, (format_pharaoh(links) for links in alignments))
