"""Span selection over overlapping windows, on hand-made offsets and logits."""

from __future__ import annotations

import numpy as np
import pytest

from xladjust.tasks.qa.postprocessing import nbest_predictions, postprocess_predictions

CONTEXT = "alpha beta gamma delta epsilon zeta"
WORD = {"alpha": (0, 5), "beta": (6, 10), "gamma": (11, 16), "delta": (17, 22), "epsilon": (23, 30), "zeta": (31, 35)}
Q = None  # question and special tokens have no context offsets


def window(*words: str) -> list:
    """[CLS] q1 q2 [SEP] w1 .. w4 [SEP]: positions 0-3 outside the context, 4-7 the words, 8 the final [SEP]."""
    return [Q, Q, Q, Q, *(list(WORD[word]) for word in words), Q]


def logits(**by_position: float) -> np.ndarray:
    values = np.zeros(9)
    for position, value in by_position.items():
        values[int(position[1:])] = value
    return values


EXAMPLES = {"id": ["ex", "no-context"], "context": [CONTEXT, CONTEXT]}
FEATURES = {
    "example_id": ["ex", "ex", "no-context"],
    "offset_mapping": [
        window("alpha", "beta", "gamma", "delta"),  # window 1
        window("gamma", "delta", "epsilon", "zeta"),  # window 2, overlapping on gamma delta
        [Q] * 9,  # a window without context tokens
    ],
}
# Window 1: the question token q1 (position 1) and [CLS] have the highest logits; the best valid span is "beta".
# Window 2: epsilon..delta would score 9.5 but ends before it starts; epsilon..zeta (9.0) is the overall best.
START = np.stack(
    [
        logits(p0=20.0, p1=10.0, p5=3.0),
        logits(p4=1.0, p6=5.0),
        logits(p0=20.0, p1=10.0),
    ]
)
END = np.stack(
    [
        logits(p0=20.0, p5=3.0),
        logits(p5=4.5, p7=4.0),
        logits(p0=20.0, p5=3.0),
    ]
)


def test_best_span_is_in_the_second_window():
    predictions = postprocess_predictions(EXAMPLES, FEATURES, START, END)
    assert predictions == {"ex": "epsilon zeta", "no-context": ""}


def test_nbest_scores_and_rejections():
    nbest = nbest_predictions(EXAMPLES, FEATURES, START, END, n_best_size=20)
    candidates = nbest["ex"]
    best = candidates[0]
    assert (best.text, best.score, best.start_logit, best.end_logit) == ("epsilon zeta", 9.0, 5.0, 4.0)
    assert (best.start_char, best.end_char, best.feature_index) == (23, 35, 1)
    scores = [candidate.score for candidate in candidates]
    assert scores == sorted(scores, reverse=True)
    assert len(candidates) <= 20
    texts = {candidate.text for candidate in candidates}
    assert "epsilon zeta" in texts and "beta" in texts
    # Nothing starts or ends on a question or special token, and no span ends before it starts.
    for candidate in candidates:
        assert CONTEXT[candidate.start_char : candidate.end_char] == candidate.text
        assert candidate.start_char < candidate.end_char
    assert nbest["no-context"] == []


def test_max_answer_length_is_respected():
    # Only one-token spans remain: beta (3 + 3) beats epsilon (5 + 0) and delta (0 + 4.5).
    assert postprocess_predictions(EXAMPLES, FEATURES, START, END, max_answer_length=1)["ex"] == "beta"
    # Two tokens allow epsilon..zeta again.
    assert postprocess_predictions(EXAMPLES, FEATURES, START, END, max_answer_length=2)["ex"] == "epsilon zeta"


def test_n_best_size_limits_candidates_per_window():
    # With one start and one end per window, window 2 only has epsilon..delta (invalid); window 1 gives beta..beta.
    predictions = postprocess_predictions(EXAMPLES, FEATURES, START, END, n_best_size=1)
    assert predictions["ex"] == "beta"


def test_spans_crossing_the_question_are_rejected():
    # A huge start logit on a question token with the end in the context must not produce an answer from there.
    start = START.copy()
    start[1, 2] = 100.0
    predictions = postprocess_predictions(EXAMPLES, FEATURES, start, END)
    assert predictions["ex"] == "epsilon zeta"


def test_logits_longer_than_offsets_and_whitespace_trimming():
    # Trainer pads logits of shorter features with -100; offsets that include a preceding space are trimmed.
    examples = {"id": ["s"], "context": ["one two three"]}
    features = {"example_id": ["s"], "offset_mapping": [[None, [0, 3], [3, 7], [7, 13], None]]}
    start = np.array([[0.0, 0.0, 2.0, 0.0, 0.0, -100.0, -100.0]])
    end = np.array([[0.0, 0.0, 0.0, 2.0, 0.0, -100.0, -100.0]])
    best = nbest_predictions(examples, features, start, end)["s"][0]
    assert (best.text, best.start_char, best.end_char) == ("two three", 4, 13)


def test_feature_count_must_match_logits():
    with pytest.raises(ValueError, match="3 features"):
        postprocess_predictions(EXAMPLES, FEATURES, START[:2], END[:2])


def test_example_without_features_gets_empty_answer():
    examples = {"id": ["ex", "unseen"], "context": [CONTEXT, CONTEXT]}
    assert postprocess_predictions(examples, FEATURES, START, END)["unseen"] == ""
