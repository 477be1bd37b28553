"""Task metrics against hand-computed values, including seqeval's strict-mode edge cases."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from xladjust.tasks.metrics import (
    accuracy,
    average_over_languages,
    logits_to_tag_sequences,
    make_ner_compute_metrics,
    ner_scores,
    nli_compute_metrics,
)
from xladjust.tasks.ner import NER_LABEL2ID, NER_LABELS


def test_accuracy_from_ids_and_logits():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    assert accuracy(logits, np.array([0, 2, 2])) == pytest.approx(2 / 3)
    assert accuracy((logits, np.zeros((3, 4, 8))), [0, 2, 1]) == 1.0  # extra model outputs are ignored
    with pytest.raises(ValueError, match="do not match"):
        accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="no labels"):
        accuracy([], [])


def test_nli_compute_metrics():
    prediction = SimpleNamespace(predictions=np.eye(3)[[0, 1, 1]], label_ids=np.array([0, 1, 2]))
    assert nli_compute_metrics(prediction) == {"accuracy": pytest.approx(2 / 3)}


# --------------------------------------------------------------------------------------------------------------
# NER scores (seqeval, strict IOB2)


def test_ner_scores_hand_computed():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"], ["B-LOC", "I-LOC", "O"]]
    pred = [
        ["B-PER", "I-PER", "O", "B-ORG"],  # PER right; LOC predicted as ORG (type mismatch)
        ["I-ORG", "I-ORG", "O"],  # strict: an entity cannot start with I-, so nothing is predicted here
        ["B-LOC", "O", "O"],  # boundary mismatch: too short
    ]
    scores = ner_scores(true, pred)
    # 4 true entities, 3 predicted (PER, ORG, LOC), 1 correct (PER).
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 4)
    assert scores["f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert scores["support"] == 4
    assert (scores["PER_precision"], scores["PER_recall"], scores["PER_f1"], scores["PER_support"]) == (1, 1, 1, 1)
    assert (scores["ORG_precision"], scores["ORG_recall"], scores["ORG_f1"], scores["ORG_support"]) == (0, 0, 0, 1)
    assert (scores["LOC_precision"], scores["LOC_recall"], scores["LOC_f1"], scores["LOC_support"]) == (0, 0, 0, 2)
    assert all(type(value) in (float, int) for value in scores.values())


def test_ner_scores_strict_differs_from_conlleval_default():
    # conlleval (seqeval's default mode) would read the leading I-PER as an entity and score f1 = 1.
    scores = ner_scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])
    assert scores["f1"] == 0.0 and scores["precision"] == 0.0 and scores["PER_support"] == 1


def test_ner_scores_perfect_and_adjacent_entities():
    tags = [["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]]
    scores = ner_scores(tags, tags)
    assert scores["f1"] == 1.0 and scores["support"] == 4 and scores["PER_support"] == 2


def test_ner_scores_without_entities_and_with_other_types():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = ner_scores([["O", "O"]], [["O", "O"]])
    assert scores["f1"] == 0.0 and scores["support"] == 0
    assert {key for key in scores if key.endswith("_support")} == {"PER_support", "ORG_support", "LOC_support"}
    scores = ner_scores([["B-PER", "O"]], [["B-PER", "B-MISC"]])
    assert scores["precision"] == 0.5 and scores["recall"] == 1.0
    assert scores["MISC_precision"] == 0.0 and scores["MISC_support"] == 0


def test_ner_scores_length_checks():
    with pytest.raises(ValueError, match="sequence 0: 2 true tags but 1 predicted"):
        ner_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 true sequences but 2 predicted"):
        ner_scores([["O"]], [["O"], ["O"]])


# --------------------------------------------------------------------------------------------------------------
# From token-classification output to tag sequences


def one_hot_logits(prediction_ids: np.ndarray) -> np.ndarray:
    return np.eye(len(NER_LABELS))[prediction_ids] * 5.0


def test_logits_to_tag_sequences_masks_ignored_positions():
    B_PER, I_PER, B_LOC = (NER_LABEL2ID[n] for n in ("B-PER", "I-PER", "B-LOC"))
    labels = np.array(
        [
            [-100, B_PER, -100, I_PER, 0, -100],  # [CLS] An ##na Berg in [SEP]
            [-100, B_LOC, 0, -100, -100, -100],  # [CLS] Lima ! [SEP] [PAD] [PAD]
        ]
    )
    predictions = np.array([[0, B_PER, 0, 0, 0, 3], [5, B_LOC, B_PER, 1, 1, 1]])
    true, pred = logits_to_tag_sequences(one_hot_logits(predictions), labels, NER_LABELS)
    assert true == [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]
    assert pred == [["B-PER", "O", "O"], ["B-LOC", "B-PER"]]
    assert logits_to_tag_sequences(predictions, labels, NER_LABELS) == (true, pred)  # ids work too


def test_logits_to_tag_sequences_keeps_empty_rows():
    labels = np.full((2, 3), -100)
    labels[1, 1] = 0
    true, pred = logits_to_tag_sequences(np.zeros((2, 3), dtype=int), labels, NER_LABELS)
    assert true == [[], ["O"]] and pred == [[], ["O"]]


def test_make_ner_compute_metrics():
    labels = np.array([[-100, 1, 2, 0, 5, -100]])
    prediction = SimpleNamespace(predictions=one_hot_logits(np.array([[0, 1, 2, 0, 3, 0]])), label_ids=labels)
    scores = make_ner_compute_metrics(NER_LABELS)(prediction)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["LOC_recall"] == 0.0


# --------------------------------------------------------------------------------------------------------------
# Averages over languages


METRICS = {
    "en": {"accuracy": 0.90, "f1": 0.80},
    "es": {"accuracy": 0.80, "f1": 0.70},
    "ru": {"accuracy": 0.70, "f1": 0.60},
    "vi": {"accuracy": 0.60, "f1": 0.50},
    "hi": {"accuracy": 0.50, "f1": 0.40},
}


def test_average_excludes_english():
    assert average_over_languages(METRICS, "accuracy") == pytest.approx(0.65)
    assert average_over_languages(METRICS, "f1") == pytest.approx(0.55)
    assert average_over_languages(METRICS, "accuracy", exclude=()) == pytest.approx(0.70)
    assert average_over_languages(METRICS, "accuracy", exclude=("en", "hi")) == pytest.approx(0.70)


def test_average_errors():
    with pytest.raises(KeyError, match="'recall' missing for es, ru, vi, hi"):
        average_over_languages(METRICS, "recall")
    with pytest.raises(ValueError, match="no language left"):
        average_over_languages({"en": {"f1": 1.0}}, "f1")
