"""From start/end logits of overlapping windows to answer strings.

For every window of an example, the ``n_best_size`` best start and end tokens *among the context tokens* are
paired; pairs with ``end < start`` or longer than ``max_answer_length`` tokens are dropped, and the span with the
highest ``start_logit + end_logit`` over all windows of the example wins. Restricting the candidates to context
tokens before taking the top ``n_best_size`` (rather than after, as the HF example does) only ever adds valid
candidates; question, special and padding tokens (offset None) can never start or end an answer. An example without
any valid span gets the empty string. Answer texts are trimmed of surrounding whitespace (tokens of Metaspace
tokenizers can include the preceding space in their offsets).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SpanCandidate:
    """One candidate answer; ``score = start_logit + end_logit``; characters ``[start_char, end_char)``."""

    text: str
    score: float
    start_logit: float
    end_logit: float
    start_char: int
    end_char: int
    feature_index: int


def _offset_arrays(offsets: Sequence[Sequence[int] | None]) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 2)`` character offsets (-1 where None) and the mask of tokens that belong to the context."""
    valid = np.array([pair is not None for pair in offsets], dtype=bool)
    array = np.full((len(offsets), 2), -1, dtype=np.int64)
    if valid.any():
        array[valid] = np.array([pair for pair in offsets if pair is not None], dtype=np.int64).reshape(-1, 2)
    return array, valid


def _trim_whitespace(context: str, start: int, end: int) -> tuple[int, int]:
    # Metaspace-style tokens ("▁word") may carry the preceding space in their offsets.
    span = context[start:end]
    stripped = span.lstrip()
    start += len(span) - len(stripped)
    return start, start + len(stripped.rstrip())


def _window_candidates(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    in_context: np.ndarray,
    n_best_size: int,
    max_answer_length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n_best_size`` best valid ``(start, end)`` token pairs of one window and their scores, best first."""
    n_tokens = min(len(offsets), start_logits.shape[-1], end_logits.shape[-1])
    context = np.flatnonzero(in_context[:n_tokens])
    if context.size == 0 or max_answer_length < 1:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    k = min(n_best_size, context.size)
    starts = context[np.argsort(-start_logits[context], kind="stable")[:k]]
    ends = context[np.argsort(-end_logits[context], kind="stable")[:k]]
    scores = start_logits[starts][:, None] + end_logits[ends][None, :]
    length = ends[None, :] - starts[:, None] + 1
    valid = (length >= 1) & (length <= max_answer_length)
    rows, cols = np.nonzero(valid)
    # The overall n best are among the n best of each window, so nothing more is needed from this one.
    order = np.argsort(-scores[rows, cols], kind="stable")[:n_best_size]
    return starts[rows[order]], ends[cols[order]], scores[rows[order], cols[order]]


def nbest_predictions(
    examples: Mapping[str, Sequence[Any]],
    features: Mapping[str, Sequence[Any]],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> dict[str, list[SpanCandidate]]:
    """Up to ``n_best_size`` best candidates per example id, best first (empty list: no valid span).

    ``examples`` needs ``id`` and ``context``; ``features`` (from ``prepare_eval_features``) ``example_id`` and
    ``offset_mapping``; the logits are ``(n_features, seq_len)`` in feature order.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    feature_example_ids = list(features["example_id"])
    if start_logits.shape[0] != len(feature_example_ids) or end_logits.shape[0] != len(feature_example_ids):
        raise ValueError(
            f"{len(feature_example_ids)} features but logits of shape {start_logits.shape} and {end_logits.shape}"
        )
    features_of_example: dict[str, list[int]] = defaultdict(list)
    for index, example_id in enumerate(feature_example_ids):
        features_of_example[example_id].append(index)
    offset_mapping = list(features["offset_mapping"])  # one conversion instead of a lookup per feature

    results: dict[str, list[SpanCandidate]] = {}
    for example_id, context in zip(examples["id"], examples["context"], strict=True):
        candidates: list[SpanCandidate] = []
        for feature_index in features_of_example.get(example_id, ()):
            offsets, in_context = _offset_arrays(offset_mapping[feature_index])
            window_start_logits = start_logits[feature_index]
            window_end_logits = end_logits[feature_index]
            starts, ends, scores = _window_candidates(
                window_start_logits, window_end_logits, offsets, in_context, n_best_size, max_answer_length
            )
            for start, end, score in zip(starts.tolist(), ends.tolist(), scores.tolist(), strict=True):
                start_char, end_char = _trim_whitespace(context, int(offsets[start, 0]), int(offsets[end, 1]))
                candidates.append(
                    SpanCandidate(
                        text=context[start_char:end_char],
                        score=score,
                        start_logit=float(window_start_logits[start]),
                        end_logit=float(window_end_logits[end]),
                        start_char=start_char,
                        end_char=end_char,
                        feature_index=feature_index,
                    )
                )
        candidates.sort(key=lambda candidate: candidate.score, reverse=True)
        results[example_id] = candidates[:n_best_size]
    return results


def postprocess_predictions(
    examples: Mapping[str, Sequence[Any]],
    features: Mapping[str, Sequence[Any]],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Best answer text per example id ("" when no window has a valid span); see :func:`nbest_predictions`."""
    nbest = nbest_predictions(examples, features, start_logits, end_logits, n_best_size, max_answer_length)
    return {example_id: candidates[0].text if candidates else "" for example_id, candidates in nbest.items()}
