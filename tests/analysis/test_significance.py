"""Significance tests on synthetic per-example results with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from xladjust.analysis.significance import (
    approximate_randomization,
    bonferroni,
    entity_counts,
    f1_statistic,
    holm,
    iob2_entities,
    paired_bootstrap,
    seed_test,
    system_score,
)
from xladjust.tasks.metrics import ner_scores

TESTS = [paired_bootstrap, approximate_randomization]


@pytest.mark.parametrize("test", TESTS)
def test_identical_systems_are_not_significant(test):
    rng = np.random.default_rng(1)
    a = (rng.random((300, 3)) < 0.7).astype(float)  # 300 examples, 3 seeds
    result = test(a, a.copy(), samples=500)
    assert result.difference == 0
    assert result.p_value == pytest.approx(1.0)


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("sign", [1, -1])
def test_a_planted_large_difference_is_significant_with_the_right_sign(test, sign):
    rng = np.random.default_rng(2)
    low = (rng.random((400, 2)) < 0.55).astype(float)
    high = np.maximum(low, (rng.random((400, 2)) < 0.4).astype(float))  # only ever fixes errors: ~+18 points
    a, b = (low, high) if sign == 1 else (high, low)
    result = test(a, b, samples=500)
    assert np.sign(result.difference) == sign and abs(result.difference) > 0.1
    assert result.p_value < 0.01
    assert result.p_value >= 1 / 501  # the +1 correction: never 0


@pytest.mark.parametrize("test", TESTS)
def test_a_small_difference_on_few_examples_is_not_significant(test):
    a = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1], dtype=float)
    b = a.copy()
    b[1] = 1  # one example out of ten
    result = test(a, b, samples=1000)
    assert result.difference == pytest.approx(0.1)
    assert result.p_value > 0.3


def test_randomization_p_value_matches_the_exact_permutation_distribution():
    # Two discordant examples, both in favour of B: of the 4 equally likely swaps, 2 give |diff| >= observed.
    a = np.array([0, 0, 1, 1, 1, 0], dtype=float)
    b = np.array([1, 1, 1, 1, 1, 0], dtype=float)
    result = approximate_randomization(a, b, samples=20000, seed=3)
    assert result.p_value == pytest.approx(0.5, abs=0.02)


def test_seeds_pooled_or_kept_together_give_the_same_difference():
    rng = np.random.default_rng(4)
    a, b = (rng.random((50, 3)) < 0.5).astype(float), (rng.random((50, 3)) < 0.6).astype(float)
    together, pooled = paired_bootstrap(a, b, samples=200), paired_bootstrap(a, b, samples=200, pool_seeds=True)
    assert together.difference == pytest.approx(pooled.difference)
    assert together.difference == pytest.approx(b.mean() - a.mean())


def test_ner_counts_match_seqeval_and_f1_is_the_corpus_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "I-ORG", "I-ORG"], ["B-LOC", "O"]]
    assert iob2_entities(["I-ORG", "B-PER", "I-PER", "I-LOC", "B-LOC"]) == {("PER", 1, 3), ("LOC", 4, 5)}
    counts = np.array([entity_counts(g, p) for g, p in zip(gold, predicted, strict=True)], dtype=float)
    assert counts.tolist() == [[1, 2, 2], [0, 0, 1], [1, 1, 1]]
    assert system_score(counts[:, None, :], f1_statistic) == pytest.approx(ner_scores(gold, predicted)["f1"])


def test_ner_bootstrap_of_identical_taggers_has_p_one():
    counts = np.array([[1, 2, 2], [0, 0, 1], [1, 1, 1], [2, 2, 3]], dtype=float)[:, None, :]
    assert paired_bootstrap(counts, counts, f1_statistic, samples=100).p_value == 1.0


def test_holm_against_hand_computation():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, float("nan"), 0.01]) == pytest.approx([0.2, float("nan"), 0.02], nan_ok=True)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert bonferroni(p) == pytest.approx([0.04, 0.16, 0.12, 0.02])


def test_seed_tests():
    assert seed_test([70.0, 71.0], [70.0, 71.0]) == 1.0
    assert np.isnan(seed_test([70.0], [72.0]))
    assert np.isnan(seed_test([70.0, 71.0], [72.0, 73.0]))  # a constant gain: no variance, t undefined
    assert seed_test([70.0, 70.5, 71.0, 70.2], [75.0, 75.6, 76.1, 75.1]) < 0.001
    assert seed_test([70.0, 70.5, 71.0], [75.0, 75.6, 76.1, 75.1], kind="welch") < 0.001
    with pytest.raises(ValueError, match="same seeds"):
        seed_test([70.0, 71.0], [70.0])
