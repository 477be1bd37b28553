"""Word distances: row-wise metrics and unrelated-word sampling against naive loops, planted geometry, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xladjust.analysis.word_distances import (
    DistanceTable,
    LinkSample,
    compare_models,
    distances,
    draw_link_sample,
    sample_unrelated,
    summarize,
    word_distance_table,
)


def random_corpus(seed: int, num_pairs: int = 40, max_words: int = 8, max_links: int = 12, shuffle: bool = True):
    """Sentence pairs with random word counts and random many-to-many links inside each pair.

    Returns (tgt_pair, en_pair, link_tgt, link_en); target words of a pair are scattered over the global index
    (``shuffle``) so that nothing relies on contiguous pairs. Links may repeat.
    """
    rng = np.random.default_rng(seed)
    tgt_pair = np.repeat(np.arange(num_pairs), rng.integers(1, max_words + 1, num_pairs))
    en_pair = np.repeat(np.arange(num_pairs), rng.integers(1, max_words + 1, num_pairs))
    if shuffle:
        rng.shuffle(tgt_pair)
    link_tgt, link_en = [], []
    for p in range(num_pairs):
        tgt_words, en_words = np.flatnonzero(tgt_pair == p), np.flatnonzero(en_pair == p)
        n = rng.integers(0, max_links + 1)
        link_tgt.extend(rng.choice(tgt_words, n))
        link_en.extend(rng.choice(en_words, n))
    return tgt_pair, en_pair, np.array(link_tgt, dtype=np.int64), np.array(link_en, dtype=np.int64)


def planted_vectors(seed: int, tgt_pair, en_pair, link_tgt, link_en, noise: float = 0.05, dim: int = 64):
    """English: random unit vectors; a linked target word: its (first) partner plus small noise; others random."""
    rng = np.random.default_rng(seed)
    en = rng.normal(size=(len(en_pair), dim))
    en /= np.linalg.norm(en, axis=1, keepdims=True)
    tgt = rng.normal(size=(len(tgt_pair), dim))
    tgt /= np.linalg.norm(tgt, axis=1, keepdims=True)
    tgt[link_tgt] = en[link_en] + noise * rng.normal(size=(len(link_tgt), dim)) / np.sqrt(dim)
    return tgt, en


def one_to_one_corpus(seed: int, num_pairs: int = 60):
    """Every pair: n target and n English words, word i ↔ word i (so each target word has one partner)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 10, num_pairs)
    pair = np.repeat(np.arange(num_pairs), sizes)
    index = np.arange(len(pair))
    return pair, pair.copy(), index, index.copy()


# ---------------------------------------------------------------------------------------------------------------
# distances


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distances_equal_naive_loop(metric, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 16)).astype(dtype), rng.normal(size=(50, 16)).astype(dtype)
    b[3] = 2.5 * a[3]  # parallel: cosine distance 0
    b[4] = -a[4]  # opposite: cosine distance 2
    if metric == "cosine":
        expected = [1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for x, y in zip(a, b, strict=True)]
    else:
        expected = [np.sqrt(np.sum((x - y) ** 2)) for x, y in zip(a, b, strict=True)]
    got = distances(a, b, metric)
    assert got.dtype == np.float64 and got.shape == (50,)
    np.testing.assert_allclose(got, expected, atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(distances(torch.from_numpy(a), torch.from_numpy(b), metric), got)


def test_cosine_distance_of_a_zero_vector_is_one():
    assert distances(np.zeros((1, 4)), np.ones((1, 4)), "cosine")[0] == pytest.approx(1.0)


def test_distances_reject_bad_input():
    with pytest.raises(ValueError, match="unknown metric"):
        distances(np.ones((2, 3)), np.ones((2, 3)), "manhattan")
    with pytest.raises(ValueError, match="same shape"):
        distances(np.ones((2, 3)), np.ones((3, 3)))


# ---------------------------------------------------------------------------------------------------------------
# sample_unrelated


def naive_candidates(tgt_pair, link_tgt, link_en, mode):
    """Per link, the set of admissible unrelated target words."""
    linked = set(zip(link_tgt.tolist(), link_en.tolist(), strict=True))
    out = []
    for t, e in zip(link_tgt, link_en, strict=True):
        in_pair = tgt_pair == tgt_pair[t]
        words = np.flatnonzero(in_pair if mode == "same_pair" else ~in_pair)
        out.append({int(w) for w in words if (int(w), int(e)) not in linked})
    return out


@pytest.mark.parametrize("mode", ["same_pair", "other_pair"])
def test_sample_unrelated_stress_against_brute_force(mode):
    # Small pairs with up to 12 random links each: many words linked to the same English word, many-to-many,
    # duplicates, and pairs where every target word is linked to some e (no candidate).
    num_invalid = num_valid = 0
    for seed in range(30):
        tgt_pair, _, link_tgt, link_en = random_corpus(seed, num_pairs=12, max_words=5)
        unrel, valid = sample_unrelated(link_tgt, link_en, tgt_pair, mode=mode, seed=seed)
        assert unrel.shape == valid.shape == link_tgt.shape
        for i, candidates in enumerate(naive_candidates(tgt_pair, link_tgt, link_en, mode)):
            assert valid[i] == bool(candidates)
            assert unrel[i] in candidates if valid[i] else unrel[i] == -1
        num_valid, num_invalid = num_valid + valid.sum(), num_invalid + (~valid).sum()
    # The stress test is only meaningful if both outcomes occur (other_pair: a corpus-wide invalid is not expected).
    assert num_valid > 1000
    assert num_invalid > 20 or mode == "other_pair"


def test_sample_unrelated_same_pair_invalid_when_every_word_is_linked_to_e():
    # Pair 0: target words 0, 1 both linked to English 0 → no candidate for those links; English 1 (linked to word 0
    # only) can use word 1. Pair 1: word 2 is alone, so its link has no candidate either.
    tgt_pair = np.array([0, 0, 1])
    link_tgt, link_en = np.array([0, 1, 0, 2]), np.array([0, 0, 1, 2])
    unrel, valid = sample_unrelated(link_tgt, link_en, tgt_pair, mode="same_pair", seed=3)
    assert valid.tolist() == [False, False, True, False]
    assert unrel.tolist() == [-1, -1, 1, -1]
    sample = draw_link_sample(link_tgt, link_en, tgt_pair, seed=3)
    assert (sample.num_links, sample.num_valid, sample.num_invalid) == (4, 1, 3)


def test_sample_unrelated_other_pair_needs_two_pairs_and_rejects_cross_pair_links():
    unrel, valid = sample_unrelated([0, 1], [0, 1], [0, 0, 0], mode="other_pair")
    assert not valid.any() and (unrel == -1).all()
    # Two pairs; English 0 is (against the data model) linked to words of both, so no word can be unrelated to it.
    tgt_pair = np.array([0, 1])
    unrel, valid = sample_unrelated([0, 1], [0, 0], tgt_pair, mode="other_pair", seed=1)
    assert not valid.any()


def test_sample_unrelated_is_deterministic_and_seeded():
    tgt_pair, _, link_tgt, link_en = random_corpus(7, num_pairs=50, max_words=12)
    first = sample_unrelated(link_tgt, link_en, tgt_pair, seed=5)
    again = sample_unrelated(link_tgt, link_en, tgt_pair, seed=5)
    other = sample_unrelated(link_tgt, link_en, tgt_pair, seed=6)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[1], other[1])  # validity does not depend on the draw


def test_sample_unrelated_is_uniform_over_candidates():
    # Pair 0 has words 0..5; English 0 is linked to 0 and 2 → candidates 1, 3, 4, 5. The link repeated 8000 times
    # gives 8000 independent draws in one vectorised call.
    tgt_pair = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    link_tgt = np.concatenate([[2], np.zeros(8000, dtype=int)])
    link_en = np.zeros(8001, dtype=int)
    unrel, valid = sample_unrelated(link_tgt, link_en, tgt_pair, seed=0)
    assert valid.all()
    counts = np.bincount(unrel, minlength=8)
    assert counts[[0, 2, 6, 7]].sum() == 0
    np.testing.assert_allclose(counts[[1, 3, 4, 5]] / len(unrel), 0.25, atol=0.025)


def test_sample_unrelated_validates_input():
    with pytest.raises(ValueError, match="sampling mode"):
        sample_unrelated([0], [0], [0, 0], mode="anywhere")
    with pytest.raises(ValueError, match="num_tgt_words"):
        sample_unrelated([0], [0], [0, 0], num_tgt_words=3)
    with pytest.raises(ValueError, match="outside"):
        sample_unrelated([2], [0], [0, 0])
    unrel, valid = sample_unrelated([], [], [0, 0])
    assert unrel.shape == valid.shape == (0,)


# ---------------------------------------------------------------------------------------------------------------
# distance tables on planted geometry


@pytest.mark.parametrize("mode", ["same_pair", "other_pair"])
def test_planted_geometry_separates_related_from_unrelated(mode):
    tgt_pair, en_pair, link_tgt, link_en = one_to_one_corpus(0)
    tgt, en = planted_vectors(0, tgt_pair, en_pair, link_tgt, link_en)
    sample = draw_link_sample(link_tgt, link_en, tgt_pair, mode=mode, seed=0)
    table = word_distance_table(tgt, en, sample, "cosine")
    summary = table.summary()
    assert summary.count == len(link_tgt) == sample.num_valid
    assert summary.rel_mean < 0.01  # noise 0.05 / sqrt(H) per coordinate: cosine distance ~ 0.001
    assert 0.7 < summary.unrel_mean < 1.3  # random directions in 64-d: cosine ~ 0
    assert summary.share_delta_positive == 1.0
    euclidean = word_distance_table(tgt, en, sample, "euclidean").summary()
    assert euclidean.rel_mean < 0.1 < 1.0 < euclidean.unrel_mean


def test_distance_table_equals_per_link_loop():
    tgt_pair, en_pair, link_tgt, link_en = random_corpus(1)
    tgt, en = planted_vectors(1, tgt_pair, en_pair, link_tgt, link_en, noise=0.5)
    sample = draw_link_sample(link_tgt, link_en, tgt_pair, seed=2)
    table = word_distance_table(tgt, en, sample, "euclidean", chunk_size=7)
    valid = np.flatnonzero(sample.valid)
    assert 0 < len(valid) < sample.num_links and table.num_invalid == sample.num_invalid
    np.testing.assert_array_equal(table.link_index, valid)
    for row, i in enumerate(valid):
        t, e, u = link_tgt[i], link_en[i], sample.unrel_tgt[i]
        assert (table.tgt[row], table.en[row], table.unrel_tgt[row]) == (t, e, u)
        assert table.d_rel[row] == pytest.approx(np.linalg.norm(tgt[t] - en[e]))
        assert table.d_unrel[row] == pytest.approx(np.linalg.norm(tgt[u] - en[e]))
    np.testing.assert_array_equal(table.delta, table.d_unrel - table.d_rel)
    # Chunking changes nothing; torch float32 input gives the same distances up to float32 rounding.
    whole = word_distance_table(tgt, en, sample, "euclidean")
    np.testing.assert_array_equal(whole.d_rel, table.d_rel)
    torch_table = word_distance_table(torch.tensor(tgt, dtype=torch.float32), torch.tensor(en), sample, "euclidean")
    np.testing.assert_allclose(torch_table.d_unrel, table.d_unrel, atol=1e-5)


def test_distance_table_rejects_a_sample_of_another_language():
    sample = draw_link_sample([0, 5], [0, 1], [0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="another language"):
        word_distance_table(np.ones((3, 4)), np.ones((2, 4)), sample)


# ---------------------------------------------------------------------------------------------------------------
# summaries


def test_summarize_equals_numpy_by_hand():
    d_rel = np.array([0.1, 0.4, 0.2, 0.9, 0.3])
    d_unrel = np.array([0.8, 0.4, 0.7, 0.5, 1.0])
    delta = d_unrel - d_rel  # 0.7, 0.0, 0.5, -0.4, 0.7
    s = summarize(d_rel, d_unrel)
    assert s.count == 5
    assert (s.rel_mean, s.rel_median, s.rel_std) == pytest.approx((0.38, 0.3, np.std(d_rel, ddof=1)))
    assert (s.unrel_mean, s.unrel_median, s.unrel_std) == pytest.approx((0.68, 0.7, np.std(d_unrel, ddof=1)))
    assert (s.delta_mean, s.delta_median, s.delta_std) == pytest.approx((0.3, 0.5, np.std(delta, ddof=1)))
    assert s.share_delta_positive == pytest.approx(0.6)  # Δ = 0 is not positive
    assert set(s.as_dict()) >= {"count", "rel_mean", "delta_std", "share_delta_positive"}


def test_summarize_empty_and_single():
    empty = summarize([], [])
    assert empty.count == 0 and np.isnan(empty.rel_mean) and np.isnan(empty.share_delta_positive)
    single = summarize([0.2], [0.5])
    assert single.delta_mean == pytest.approx(0.3) and np.isnan(single.delta_std)


# ---------------------------------------------------------------------------------------------------------------
# comparing models


def two_models(shift: float, seed: int = 0):
    tgt_pair, en_pair, link_tgt, link_en = one_to_one_corpus(seed)
    tgt, en = planted_vectors(seed, tgt_pair, en_pair, link_tgt, link_en, noise=1.0)
    sample = draw_link_sample(link_tgt, link_en, tgt_pair, seed=seed)
    # Model B: linked target words moved towards their partners by ``shift`` of the gap (related distances shrink).
    tgt_b = tgt.copy()
    tgt_b[link_tgt] += shift * (en[link_en] - tgt[link_tgt])
    return (
        sample,
        word_distance_table(tgt, en, sample, "euclidean"),
        word_distance_table(tgt_b, en, sample, "euclidean"),
    )


def test_compare_identical_models_gives_zero_change_and_p_one():
    _, a, b = two_models(shift=0.0)
    comparison = compare_models(a, b)
    for change in (comparison.related, comparison.unrelated, comparison.delta):
        assert not change.change.any()
        assert (change.mean, change.median, change.p_value, change.statistic, change.num_nonzero) == (0, 0, 1, 0, 0)


def test_compare_shifted_model_detects_the_direction():
    _, a, b = two_models(shift=0.3)
    comparison = compare_models(a, b)
    np.testing.assert_allclose(comparison.related.change, b.d_rel - a.d_rel)
    np.testing.assert_allclose(comparison.related.change, -0.3 * a.d_rel, atol=1e-12)  # exact: straight-line shift
    assert comparison.related.mean < 0 and comparison.related.p_value < 1e-10
    assert comparison.delta.mean > 0 and comparison.delta.p_value < 1e-10
    assert comparison.related.num_nonzero == len(a)
    reverse = compare_models(b, a)
    assert reverse.related.mean == pytest.approx(-comparison.related.mean)
    assert reverse.related.p_value == pytest.approx(comparison.related.p_value)
    assert set(comparison.as_dict()) >= {"related_mean", "unrelated_p_value", "delta_num_nonzero"}


def test_compare_requires_the_same_sample_and_metric():
    sample, a, _ = two_models(shift=0.0)
    resampled = LinkSample(
        sample.link_tgt, sample.link_en, np.roll(sample.unrel_tgt, 1), sample.valid, sample.mode, sample.seed + 1
    )
    other = word_distance_table(np.zeros((len(a), 4)), np.ones((len(a), 4)), resampled, "euclidean")
    with pytest.raises(ValueError, match="one LinkSample"):
        compare_models(a, other)
    cosine = DistanceTable("cosine", a.link_index, a.tgt, a.en, a.unrel_tgt, a.d_rel, a.d_unrel, a.num_invalid)
    with pytest.raises(ValueError, match="cannot compare"):
        compare_models(a, cosine)
