"""Word and sentence retrieval on planted solutions (exact expected values) and against naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xladjust.analysis.retrieval import (
    nearest_neighbours,
    sentence_retrieval_accuracy,
    word_retrieval_p_at_1,
)
from xladjust.data.sentence_encoding import mean_pool


def unit_rows(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def naive_word_retrieval(tgt, en, link_tgt, link_en):
    partners_of_tgt, partners_of_en = {}, {}
    for t, e in zip(link_tgt.tolist(), link_en.tolist(), strict=True):
        partners_of_tgt.setdefault(t, set()).add(e)
        partners_of_en.setdefault(e, set()).add(t)

    def nearest(query, keys):
        sims = [query @ k / (np.linalg.norm(query) * np.linalg.norm(k)) for k in keys]
        return int(np.argmax(sims))

    forward = [nearest(tgt[t], en) in partners for t, partners in partners_of_tgt.items()]
    backward = [nearest(en[e], tgt) in partners for e, partners in partners_of_en.items()]
    return float(np.mean(forward)), float(np.mean(backward))


def planted_words(seed: int, num_linked: int = 120, num_unlinked: int = 30):
    """Target word i is a rescaled copy of English word perm[i]; unlinked random words on both sides."""
    rng = np.random.default_rng(seed)
    en = unit_rows(rng, num_linked + num_unlinked)
    perm = rng.permutation(num_linked + num_unlinked)[:num_linked]
    tgt = np.concatenate([3.0 * en[perm], unit_rows(rng, num_unlinked)])
    return tgt, en, np.arange(num_linked), perm


# ---------------------------------------------------------------------------------------------------------------
# word retrieval


def test_word_retrieval_planted_solution_is_perfect():
    tgt, en, link_tgt, link_en = planted_words(0)
    result = word_retrieval_p_at_1(tgt, en, link_tgt, link_en)
    assert (result.p_at_1_tgt_to_en, result.p_at_1_en_to_tgt) == (1.0, 1.0)
    assert (result.num_tgt_queries, result.num_en_queries) == (120, 120)


def test_word_retrieval_corrupted_subset_gives_exact_precision():
    tgt, en, link_tgt, link_en = planted_words(1)
    # Flip 30 of the 120 linked target words: their partner becomes the least similar English word (a miss), the
    # partner's nearest target word is now someone else's exact copy (a miss), and nothing else changes.
    corrupted = np.random.default_rng(1).choice(120, 30, replace=False)
    tgt[corrupted] *= -1
    result = word_retrieval_p_at_1(tgt, en, link_tgt, link_en)
    assert result.p_at_1_tgt_to_en == pytest.approx(90 / 120)
    assert result.p_at_1_en_to_tgt == pytest.approx(90 / 120)
    assert set(result.tgt_queries[~result.tgt_hits]) == set(corrupted)
    assert set(result.en_queries[~result.en_hits]) == set(link_en[corrupted])


def test_word_retrieval_counts_a_hit_on_any_partner():
    rng = np.random.default_rng(2)
    en = unit_rows(rng, 4)
    # Target 0 is a copy of English 1 and linked to English 0 and 1: one query, a hit through its second partner.
    # Target 1 is a copy of English 3 but linked to English 2 only: a miss. The reverse direction is left to the loop.
    tgt = np.stack([en[1], en[3]])
    result = word_retrieval_p_at_1(tgt, en, np.array([0, 0, 1]), np.array([0, 1, 2]))
    assert result.num_tgt_queries == 2
    assert result.tgt_hits.tolist() == [True, False]
    expected = naive_word_retrieval(tgt, en, np.array([0, 0, 1]), np.array([0, 1, 2]))
    assert (result.p_at_1_tgt_to_en, result.p_at_1_en_to_tgt) == pytest.approx(expected)


def test_word_retrieval_equals_naive_loop_with_many_to_many_links():
    rng = np.random.default_rng(3)
    en, tgt = unit_rows(rng, 70), unit_rows(rng, 60)
    link_tgt, link_en = rng.integers(0, 60, 150), rng.integers(0, 70, 150)  # duplicates and many-to-many
    # Pull linked target words towards one of their partners so that hits and misses both occur.
    tgt[link_tgt[:40]] = tgt[link_tgt[:40]] + 2 * en[link_en[:40]]
    result = word_retrieval_p_at_1(tgt, en, link_tgt, link_en)
    expected = naive_word_retrieval(tgt, en, link_tgt, link_en)
    assert (result.p_at_1_tgt_to_en, result.p_at_1_en_to_tgt) == pytest.approx(expected)
    assert 0.1 < result.p_at_1_tgt_to_en < 0.9
    assert result.num_tgt_queries == len(np.unique(link_tgt))


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_word_retrieval_chunked_equals_unchunked(chunk_size):
    rng = np.random.default_rng(4)
    en, tgt = unit_rows(rng, 90), unit_rows(rng, 80)
    link_tgt, link_en = rng.integers(0, 80, 200), rng.integers(0, 90, 200)
    tgt[link_tgt[:100]] += en[link_en[:100]]
    whole = word_retrieval_p_at_1(tgt, en, link_tgt, link_en, chunk_size=10_000)
    chunked = word_retrieval_p_at_1(torch.from_numpy(tgt), torch.from_numpy(en), link_tgt, link_en, chunk_size)
    np.testing.assert_array_equal(whole.tgt_hits, chunked.tgt_hits)
    np.testing.assert_array_equal(whole.en_hits, chunked.en_hits)


def test_word_retrieval_validates_links():
    with pytest.raises(ValueError, match="outside"):
        word_retrieval_p_at_1(np.ones((2, 3)), np.ones((2, 3)), [0, 2], [0, 1])
    with pytest.raises(ValueError, match="entries"):
        word_retrieval_p_at_1(np.ones((2, 3)), np.ones((2, 3)), [0, 1], [0])
    empty = word_retrieval_p_at_1(np.ones((2, 3)), np.ones((2, 3)), [], [])
    assert np.isnan(empty.p_at_1_tgt_to_en) and empty.num_en_queries == 0


# ---------------------------------------------------------------------------------------------------------------
# sentence retrieval and pooling


def naive_sentence_accuracy(src, tgt):
    def nearest(query, keys):
        return int(np.argmax([query @ k / (np.linalg.norm(query) * np.linalg.norm(k)) for k in keys]))

    forward = np.mean([nearest(src[i], tgt) == i for i in range(len(src))])
    backward = np.mean([nearest(tgt[i], src) == i for i in range(len(tgt))])
    return float(forward), float(backward)


def test_sentence_retrieval_planted_and_corrupted():
    rng = np.random.default_rng(5)
    src = unit_rows(rng, 100)
    tgt = 0.5 * src + 0.01 * rng.normal(size=src.shape) / np.sqrt(src.shape[1])
    planted = sentence_retrieval_accuracy(src, tgt)
    assert (planted.acc_src_to_tgt, planted.acc_tgt_to_src, planted.num_sentences) == (1.0, 1.0, 100)
    # Swap 10 disjoint pairs of translations: exactly 20 sentences then retrieve the wrong one, both ways.
    swapped = rng.permutation(100)[:20].reshape(10, 2)
    tgt[swapped[:, 0]], tgt[swapped[:, 1]] = tgt[swapped[:, 1]].copy(), tgt[swapped[:, 0]].copy()
    result = sentence_retrieval_accuracy(src, tgt, chunk_size=9)
    assert (result.acc_src_to_tgt, result.acc_tgt_to_src) == pytest.approx((0.8, 0.8))


@pytest.mark.parametrize("chunk_size", [1, 13, 1000])
def test_sentence_retrieval_equals_naive_loop(chunk_size):
    rng = np.random.default_rng(6)
    src = unit_rows(rng, 60)
    tgt = src + 1.5 * unit_rows(rng, 60)
    result = sentence_retrieval_accuracy(torch.from_numpy(src), tgt, chunk_size=chunk_size)
    assert (result.acc_src_to_tgt, result.acc_tgt_to_src) == pytest.approx(naive_sentence_accuracy(src, tgt))
    assert 0.1 < result.acc_src_to_tgt < 0.95
    # The retrieved indices, per query, are those of the loop; accuracy is their agreement with the gold index.
    cosine = (src / np.linalg.norm(src, axis=1, keepdims=True)) @ (tgt / np.linalg.norm(tgt, axis=1, keepdims=True)).T
    assert result.predicted_src_to_tgt.tolist() == [int(np.argmax(row)) for row in cosine]
    assert result.predicted_tgt_to_src.tolist() == [int(np.argmax(column)) for column in cosine.T]
    assert np.mean(result.predicted_src_to_tgt == np.arange(60)) == result.acc_src_to_tgt


def test_sentence_retrieval_rejects_unparallel_input():
    with pytest.raises(ValueError, match="parallel"):
        sentence_retrieval_accuracy(np.ones((3, 4)), np.ones((2, 4)))


def test_nearest_neighbours_breaks_ties_to_the_lowest_index():
    keys = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    assert nearest_neighbours(np.array([[1.0, 0.1], [0.0, 0.0]]), keys).tolist() == [1, 0]


def test_mean_pool_equals_loop_and_handles_empty_masks():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    pooled = mean_pool(hidden, mask)
    assert torch.allclose(pooled[0], hidden[0, :3].mean(0))
    assert torch.allclose(pooled[1], hidden[1].mean(0))
    assert torch.equal(pooled[2], torch.zeros(4))
    with pytest.raises(ValueError):
        mean_pool(hidden, mask[:, :4])
