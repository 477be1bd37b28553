"""The training-label check: counts against a naive count, absent and rare labels, the warning's advice, and the
training sample --max_train_samples takes (first N rows, or seeded random rows)."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest
from datasets import Dataset
from transformers import TrainingArguments

from xladjust.tasks.eval_sets import select_training_examples
from xladjust.tasks.label_balance import check_training_labels, count_labels
from xladjust.tasks.ner import NER_LABELS
from xladjust.tasks.nli import NLI_LABELS


def test_counts_match_a_naive_count_for_examples_and_tags():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500).tolist()
    balance = count_labels(NLI_LABELS, labels)
    naive = Counter(labels)
    assert balance.counts == [naive[i] for i in range(3)] and balance.unit == "examples" and balance.rows == 500
    sentences = [rng.integers(0, 7, rng.integers(1, 12)).tolist() for _ in range(100)]
    tags = count_labels(NER_LABELS, sentences)
    naive = Counter(tag for sentence in sentences for tag in sentence)
    assert tags.counts == [naive[i] for i in range(7)] and tags.unit == "tags" and tags.rows == 100
    assert tags.total == sum(len(s) for s in sentences)
    with pytest.raises(ValueError, match="label ids must lie in 0..2"):
        count_labels(NLI_LABELS, [0, 3])


def test_absent_and_rare_labels_are_recorded():
    # 1 neutral in 200 examples is 0.5 %: rare; contradiction is absent; exactly 1 % would not be rare
    balance = count_labels(NLI_LABELS, [0] * 199 + [1])
    assert balance.absent == ["contradiction"] and balance.rare == ["neutral", "contradiction"]
    assert balance.as_results() == {
        "train_label_counts": {"entailment": 199, "neutral": 1, "contradiction": 0},
        "train_labels_rare": ["neutral", "contradiction"],
    }
    assert count_labels(NLI_LABELS, [0] * 98 + [1, 2]).rare == []
    assert count_labels(NLI_LABELS, [0] * 98 + [1, 2], rare_share=0.02).rare == ["neutral", "contradiction"]
    assert count_labels(NLI_LABELS, [0] * 199 + [1], rare_share=0).rare == ["contradiction"]  # absent, always


@pytest.mark.parametrize(
    ("available", "shuffled", "advice"),
    [
        (5000, False, "--max_train_samples took the FIRST 300 of 5000 rows"),
        (5000, True, "drawn at random from 5000 (--shuffle_train_before_select)"),
        (300, False, "All 300 training rows were used"),
        (None, False, "All 300 training rows were used"),
    ],
    ids=["first-rows", "shuffled", "all-rows", "unknown"],
)
def test_the_warning_names_the_labels_and_says_what_to_do(caplog, available, shuffled, advice):
    with caplog.at_level(logging.INFO, logger="xladjust.tasks.label_balance"):
        check_training_labels(NLI_LABELS, [0] * 300, rows_available=available, shuffled=shuffled)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "neutral, contradiction absent" in warning and "entailment 300 (100.0 %), neutral 0 (0.0 %)" in warning
    assert advice in warning
    assert ("add --shuffle_train_before_select" in warning) == (available == 5000 and not shuffled)


def test_a_balanced_training_set_is_logged_without_a_warning(caplog):
    with caplog.at_level(logging.INFO, logger="xladjust.tasks.label_balance"):
        check_training_labels(NER_LABELS, [[0, 1, 2, 3, 4, 5, 6]] * 3, rows_available=3)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "training labels (21 tags): O 3 (14.3 %)" in caplog.text


class Selection:
    def __init__(self, limit: int | None, shuffle: bool):
        self.max_train_samples, self.shuffle_train_before_select = limit, shuffle


def test_first_rows_or_a_seeded_random_sample(tmp_path):
    # a training file sorted by label: its first rows are all entailment
    sorted_by_label = Dataset.from_dict({"id": [str(i) for i in range(300)], "label": [i // 100 for i in range(300)]})
    training = TrainingArguments(output_dir=str(tmp_path), seed=1, report_to="none")
    first = select_training_examples(sorted_by_label, Selection(60, False), training)
    assert first["id"] == [str(i) for i in range(60)] and set(first["label"]) == {0}
    drawn = select_training_examples(sorted_by_label, Selection(60, True), training)
    ids = [int(i) for i in drawn["id"]]
    assert len(set(ids)) == 60 and ids == sorted(ids) and set(drawn["label"]) == {0, 1, 2}
    assert ids == sorted(np.random.default_rng(1).choice(300, size=60, replace=False).tolist())
    assert select_training_examples(sorted_by_label, Selection(60, True), training)["id"] == drawn["id"]
    other_seed = TrainingArguments(output_dir=str(tmp_path), seed=1, data_seed=7, report_to="none")
    assert select_training_examples(sorted_by_label, Selection(60, True), other_seed)["id"] != drawn["id"]
    # without a cap, or a cap above the size, every row in file order
    for selection in (Selection(None, True), Selection(500, True)):
        assert select_training_examples(sorted_by_label, selection, training)["id"] == sorted_by_label["id"]
