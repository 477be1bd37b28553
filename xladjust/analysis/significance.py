"""Significance of differences between two systems evaluated on the same examples.

Per-example scores are stored as a float array of shape ``(examples, seeds, k)``: the last axis holds additive
counts from which a corpus statistic is computed, and the statistic of a system is the **mean over seeds** of the
per-seed statistic (the figure a paper table reports):

- accuracy (NLI) and QA F1/EM: ``k = 1``, statistic = mean of the per-example scores;
- POS: ``k = 2`` counts ``(correct words, words)`` per sentence, statistic = corpus word accuracy = Σ correct /
  Σ words (resampling recomputes it from the counts, as for NER);
- NER: ``k = 3`` counts ``(true positives, predicted entities, gold entities)`` per sentence, statistic = corpus
  (micro) F1 = 2·tp / (pred + gold). Per-sentence F1 is not additive, so resampling recomputes the corpus F1 from
  the counts. Entities are counted here (strict IOB2, as seqeval ``mode="strict"``: an entity starts with ``B-X``
  and continues with ``I-X`` of the same type; a stray ``I-X`` is no entity), which keeps resampling a matrix
  product; a test checks the counts against seqeval.

Seeds. The two systems are paired seed by seed (seed n of A with seed n of B) and examples by id. The resampling
unit is the **example, with all its seeds together** (a cluster): the randomness tested is the choice of test
examples, and the seeds of one example are repeated measurements of it, not independent examples. ``pool_seeds``
turns (seed, example) pairs into independent units instead (more optimistic p-values; offered for comparison).

Tests (both two-sided, p-values with the +1 correction so that they are never 0):

- :func:`paired_bootstrap` (the default of run_report.py): resample examples with replacement, B times, with the
  same indices for both systems; p = share of resampled differences at least as far from the observed one as the
  observed one is from 0 (the bootstrap distribution shifted to the null; Berg-Kirkpatrick et al. 2012).
- :func:`approximate_randomization`: swap the two systems' scores of each example with probability ½, R times;
  p = share of shuffled |differences| ≥ the observed |difference| (Noreen 1989; Riezler & Maxwell 2005). Exact in
  its null (exchangeability), needs no distributional assumption.

Across seeds: :func:`seed_test` (paired t over seeds, or Welch's t on the two sets of seed means). Multiple
comparisons: :func:`holm` (Holm–Bonferroni step-down adjusted p-values) and :func:`bonferroni`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

Statistic = Callable[[np.ndarray, int], np.ndarray]
"""``statistic(sums, n)``: sums of shape ``(..., k)`` over n examples → the corpus statistic, shape ``(...)``."""


def mean_statistic(sums: np.ndarray, n: int) -> np.ndarray:
    """Accuracy, EM, per-example F1: the mean of the per-example score."""
    return sums[..., 0] / n


def f1_statistic(sums: np.ndarray, n: int) -> np.ndarray:
    """Micro F1 from summed ``(tp, predicted, gold)`` counts; 0 when there is nothing predicted or gold."""
    denominator = sums[..., 1] + sums[..., 2]
    return np.divide(2 * sums[..., 0], denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def ratio_statistic(sums: np.ndarray, n: int) -> np.ndarray:
    """Word accuracy (POS) from summed ``(correct words, words)`` counts: a ratio of sums, so that a long sentence
    weighs more than a short one; 0 when there is no word."""
    words = sums[..., 1]
    return np.divide(sums[..., 0], words, out=np.zeros_like(words, dtype=float), where=words > 0)


STATISTICS: dict[str, Statistic] = {"mean": mean_statistic, "f1": f1_statistic, "ratio": ratio_statistic}


def iob2_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """``{(type, start, end)}`` of strict IOB2 entities: ``B-X`` then any ``I-X``; a stray ``I-X`` starts none."""
    entities, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        if start is not None and not (prefix == "I" and label == kind):
            entities.add((kind, start, i))
            start, kind = None, None
        if prefix == "B":
            start, kind = i, label
    return entities


def entity_counts(gold: Sequence[str], predicted: Sequence[str]) -> tuple[int, int, int]:
    """``(true positives, predicted entities, gold entities)`` of one sentence."""
    gold_entities, predicted_entities = iob2_entities(gold), iob2_entities(predicted)
    return len(gold_entities & predicted_entities), len(predicted_entities), len(gold_entities)


def system_score(scores: np.ndarray, statistic: Statistic) -> float:
    """Mean over seeds of the per-seed corpus statistic; ``scores`` has shape ``(examples, seeds, k)``."""
    return float(statistic(scores.sum(axis=0), scores.shape[0]).mean())


def per_seed_scores(scores: np.ndarray, statistic: Statistic) -> np.ndarray:
    return statistic(scores.sum(axis=0), scores.shape[0])


@dataclass
class TestResult:
    difference: float  # statistic(B) - statistic(A)
    p_value: float
    method: str
    samples: int


def _prepare(a: np.ndarray, b: np.ndarray, pool_seeds: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim == 1:
        a, b = a[:, None, None], b[:, None, None]
    elif a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    if a.shape != b.shape:
        raise ValueError(f"systems must be paired: shapes {a.shape} and {b.shape}")
    if a.shape[0] == 0:
        raise ValueError("no examples")
    if pool_seeds:
        a = a.transpose(1, 0, 2).reshape(-1, 1, a.shape[2])
        b = b.transpose(1, 0, 2).reshape(-1, 1, b.shape[2])
    return a, b


def _chunks(total: int, size: int = 256) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    statistic: Statistic = mean_statistic,
    samples: int = 1000,
    seed: int = 0,
    pool_seeds: bool = False,
) -> TestResult:
    """Two-sided paired bootstrap over examples (all seeds of an example kept together)."""
    a, b = _prepare(a, b, pool_seeds)
    n = a.shape[0]
    observed = system_score(b, statistic) - system_score(a, statistic)
    rng = np.random.default_rng(seed)
    flat_a, flat_b = a.reshape(n, -1), b.reshape(n, -1)
    deltas = []
    for size in _chunks(samples):
        weights = rng.multinomial(n, np.full(n, 1 / n), size=size).astype(float)  # (size, n) resample counts
        sums_a = (weights @ flat_a).reshape(size, *a.shape[1:])
        sums_b = (weights @ flat_b).reshape(size, *b.shape[1:])
        deltas.append(statistic(sums_b, n).mean(axis=1) - statistic(sums_a, n).mean(axis=1))
    delta = np.concatenate(deltas)
    extreme = np.abs(delta - observed) >= abs(observed) - 1e-12
    return TestResult(observed, float((extreme.sum() + 1) / (samples + 1)), "paired bootstrap", samples)


def approximate_randomization(
    a: np.ndarray,
    b: np.ndarray,
    statistic: Statistic = mean_statistic,
    samples: int = 1000,
    seed: int = 0,
    pool_seeds: bool = False,
) -> TestResult:
    """Two-sided approximate randomisation: swap the systems' outputs per example with probability ½."""
    a, b = _prepare(a, b, pool_seeds)
    n = a.shape[0]
    observed = system_score(b, statistic) - system_score(a, statistic)
    rng = np.random.default_rng(seed)
    flat_diff = (b - a).reshape(n, -1)
    sum_a, sum_b = a.sum(axis=0), b.sum(axis=0)
    extreme = 0
    for size in _chunks(samples):
        swaps = (rng.random((size, n)) < 0.5).astype(float)
        moved = (swaps @ flat_diff).reshape(size, *a.shape[1:])  # what a swapped example moves from B to A
        shuffled = statistic(sum_b - moved, n).mean(axis=1) - statistic(sum_a + moved, n).mean(axis=1)
        extreme += int((np.abs(shuffled) >= abs(observed) - 1e-12).sum())
    return TestResult(observed, (extreme + 1) / (samples + 1), "approximate randomization", samples)


TESTS = {"bootstrap": paired_bootstrap, "randomization": approximate_randomization}


def seed_test(a: Sequence[float], b: Sequence[float], kind: str = "paired") -> float:
    """p-value of the difference of seed means: paired t over seeds (``paired``) or Welch's t (``welch``).

    NaN with fewer than two seeds, or when the differences have no variance (t undefined); 1.0 when A == B.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if kind == "paired":
        if len(a) != len(b):
            raise ValueError("paired t needs the same seeds in both systems")
        if len(a) < 2:
            return float("nan")
        differences = b - a
        if np.allclose(differences, differences[0]):  # no variance: t undefined unless there is no difference
            return 1.0 if np.allclose(differences, 0) else float("nan")
        return float(stats.ttest_rel(b, a).pvalue)
    if kind == "welch":
        if min(len(a), len(b)) < 2:
            return float("nan")
        if np.allclose(a, a[0]) and np.allclose(b, b[0]):
            return 1.0 if np.isclose(a[0], b[0]) else float("nan")
        return float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    raise ValueError(f"unknown seed test {kind!r}: paired or welch")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN entries stay NaN, not counted."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def bonferroni(p_values: Sequence[float]) -> list[float]:
    p = np.asarray(p_values, dtype=float)
    m = int((~np.isnan(p)).sum())
    return np.minimum(1.0, p * m).tolist()


CORRECTIONS: dict[str, Callable[[Sequence[float]], list[float]]] = {
    "holm": holm,
    "bonferroni": bonferroni,
    "none": lambda p: [float(x) for x in p],
}
