"""Which model comparisons the word analysis lists: the paper's four (per task) by default, in order."""

from __future__ import annotations

import itertools

import pytest

from xladjust.analysis.comparisons import comparison_order, model_pairs

STUDY = ["original", "adjusted", "original+xnli", "adjusted+xnli"]


def test_the_papers_four_comparisons_in_order():
    assert model_pairs(STUDY) == [
        ("original", "adjusted"),
        ("original", "original+xnli"),
        ("adjusted", "adjusted+xnli"),
        ("original+xnli", "adjusted+xnli"),
    ]


def test_several_tasks_each_get_their_three_comparisons_after_the_encoders():
    labels = ["original", "adjusted", "original+ner", "adjusted+ner", "original+xnli", "adjusted+xnli"]
    assert model_pairs(labels) == [
        ("original", "adjusted"),
        ("original", "original+ner"),
        ("adjusted", "adjusted+ner"),
        ("original+ner", "adjusted+ner"),
        ("original", "original+xnli"),
        ("adjusted", "adjusted+xnli"),
        ("original+xnli", "adjusted+xnli"),
    ]


def test_all_and_plain_labels_give_every_pair():
    assert model_pairs(STUDY, "all") == list(itertools.combinations(STUDY, 2))
    plain = ["base", "adjusted", "mbert"]
    assert model_pairs(plain) == model_pairs(plain, "all") == list(itertools.combinations(plain, 2))
    # a task model without its encoder among the models is compared as a model of its own
    assert model_pairs(["original", "adjusted+xnli"]) == [("original", "adjusted+xnli")]
    with pytest.raises(ValueError, match="comparisons must be one of"):
        model_pairs(STUDY, "some")


def test_display_order_puts_the_papers_comparisons_first():
    assert comparison_order(STUDY) == [
        "original->adjusted",
        "original->original+xnli",
        "adjusted->adjusted+xnli",
        "original+xnli->adjusted+xnli",
        "original->adjusted+xnli",
        "adjusted->original+xnli",
    ]
