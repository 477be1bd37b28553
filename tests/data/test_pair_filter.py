"""The pair filter (--filter_model): scores against a naive cosine, the kept set exactly the top fraction, the cache,
and its place before sampling (held-out pairs untouched)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from tests.conftest import PARALLEL
from xladjust.data.pair_filter import PairFilter, PairScorer, keep_best
from xladjust.data.parallel import (
    AlignedPair,
    CorpusStats,
    FilterSettings,
    ParallelSource,
    load_language_corpus,
    read_source,
    select_pairs,
)
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.errors import InputError


def naive_scores(model_path, pairs) -> list[float]:
    """One sentence at a time: mean of the last hidden states over every token (specials too), then the cosine."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    scores = []
    for pair in pairs:
        vectors = []
        for words in (pair.target, pair.english):
            with torch.no_grad():
                hidden = model(**tokenizer(" ".join(words), return_tensors="pt")).last_hidden_state[0]
            vectors.append(hidden.double().mean(0))
        a, b = vectors
        scores.append(float(a @ b / (a.norm() * b.norm())))
    return scores


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_xlmr"])
def test_scores_equal_a_plain_mean_pooled_cosine(model, request):
    path = request.getfixturevalue(model)
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt")))
    scorer = PairScorer(str(path), batch_size=4)  # several length-sorted batches
    scores = scorer.score([" ".join(p.target) for p in pairs], [" ".join(p.english) for p in pairs])
    assert scores.dtype == np.float64 and len(scores) == 14
    np.testing.assert_allclose(scores, naive_scores(path, pairs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keep", [0.1, 0.25, 0.5, 0.7, 1.0])
def test_the_kept_set_is_exactly_the_top_fraction_ties_to_the_earlier_pair(keep):
    rng = np.random.default_rng(0)
    scores = rng.choice([0.1, 0.2, 0.3, 0.4, 0.5], size=40)  # many ties
    mask = keep_best(scores, keep=keep)
    count = math.ceil(keep * 40)
    expected = sorted(range(40), key=lambda i: (-scores[i], i))[:count]
    assert sorted(np.flatnonzero(mask).tolist()) == sorted(expected)
    assert keep_best(scores, min_score=0.3).tolist() == (scores >= 0.3).tolist()


def test_select_ranks_candidates_in_corpus_order_whatever_order_they_come_in():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.9])
    pair_filter = PairFilter(PairScorer("unused"), keep=0.5)
    kept, stats = pair_filter.select(scores, [4, 3, 0, 5, 2, 1])
    assert kept == [0, 5, 1]  # the two 0.9 and the first 0.5 in the corpus (position 0), in the order given
    assert stats.pairs_scored == 6 and stats.pairs_kept == 3 and stats.pairs_dropped_low_score == 3
    assert stats.lowest_kept_score == 0.5
    assert stats.score_quantiles["median"] == pytest.approx(float(np.median(scores)))
    assert stats.score_quantiles["min"] == 0.1 and stats.score_quantiles["max"] == 0.9
    kept, stats = PairFilter(PairScorer("unused"), min_score=0.5).select(scores, [4, 3, 0, 5, 2, 1])
    assert kept == [3, 0, 5, 2, 1] and stats.pairs_dropped_low_score == 1


def test_scores_are_cached_beside_the_alignments_and_keyed_on_corpus_and_model(tiny_bert, tmp_path, monkeypatch):
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt")))
    first = PairFilter(PairScorer(str(tiny_bert)), keep=0.5).scores(pairs, "es", tmp_path)
    assert (tmp_path / "es-en.scores.json").exists()

    def no_model(self):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(PairScorer, "_load", no_model)
    again = PairFilter(PairScorer(str(tiny_bert)), min_score=0.0).scores(pairs, "es", tmp_path)  # other threshold
    np.testing.assert_array_equal(again, first)
    with pytest.raises(AssertionError, match="the cache was not used"):  # another corpus
        PairFilter(PairScorer(str(tiny_bert)), keep=0.5).scores(pairs[:5], "es", tmp_path)
    with pytest.raises(AssertionError, match="the cache was not used"):  # another length limit
        PairFilter(PairScorer(str(tiny_bert), max_length=16), keep=0.5).scores(pairs, "es", tmp_path)


def test_the_filter_runs_after_the_held_out_split_and_before_sampling():
    pairs = [AlignedPair([f"t{i}"], ["e"], [(0, 0)]) for i in range(30)]
    scores = np.linspace(0, 1, 30)  # pair i scores i / 29
    pair_filter = PairFilter(PairScorer("unused"), keep=0.5)

    def keep(kept, candidates):
        assert kept == pairs  # the pairs within --max_words, in corpus order
        chosen, _ = pair_filter.select(scores, candidates)
        return chosen

    plain_train, plain_held = select_pairs(pairs, FilterSettings(), CorpusStats(), 1, None, 6)
    stats = CorpusStats()
    train, held_out = select_pairs(pairs, FilterSettings(), stats, 1, None, 6, keep)
    assert held_out == plain_held  # the same held-out pairs with and without the filter
    assert stats.pairs_dropped_low_score == 12 and len(train) == 12
    best = sorted(plain_train, key=lambda p: -int(p.target[0][1:]))[:12]
    assert train == [p for p in plain_train if p in best]  # the best half, in the seeded order
    sampled, _ = select_pairs(pairs, FilterSettings(), CorpusStats(), 1, 5, 6, keep)
    assert sampled == train[:5]  # --max_train_pairs samples among the kept pairs


def test_load_language_corpus_reports_the_filter(tiny_bert, tmp_path):
    source = ParallelSource("es", str(PARALLEL / "es-en.txt"), str(PARALLEL / "es-en.align"))
    pair_filter = PairFilter(PairScorer(str(tiny_bert)), keep=0.5)
    corpus = load_language_corpus(
        source, FilterSettings(), seed=0, validation_pairs=2, alignment_cache_dir=tmp_path, pair_filter=pair_filter
    )
    assert corpus.stats.pairs_dropped_low_score == 6 and len(corpus.train) == 6
    assert corpus.filter_stats.pairs_scored == 12 and corpus.filter_stats.pairs_kept == 6
    assert corpus.report()["filter"]["pairs_kept"] == 6
    metrics = corpus.metrics()
    assert metrics["filter_es_pairs_kept"] == 6 and "filter_es_score_median" in metrics
    assert "6 of 12 pairs kept by the pair filter" in corpus.describe()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"filter_keep": 0.5}, "--filter_keep and --filter_min_score need --filter_model"),
        ({"filter_model": "m"}, "--filter_model needs one of --filter_keep or --filter_min_score"),
        ({"filter_model": "m", "filter_keep": 0.5, "filter_min_score": 0.1}, "needs one of"),
        ({"filter_model": "m", "filter_keep": 0.0}, "--filter_keep must be in \\(0, 1\\]"),
        ({"filter_model": "m", "filter_min_score": 2.0}, "--filter_min_score is a cosine"),
        ({"aligner": "dictionary"}, "--aligner dictionary and --dictionary_files go together"),
        ({"dictionary_files": ["es=x"]}, "--aligner dictionary and --dictionary_files go together"),
    ],
)
def test_bad_filter_and_dictionary_options_are_input_errors(options, message):
    with pytest.raises(InputError, match=message):
        ParallelDataArguments(languages=["es"], parallel_files=["x"], **options)


def test_a_local_filter_model_is_keyed_on_its_content_not_its_path(tiny_bert, tmp_path):
    """The score cache survives --overwrite_output_dir: a model retrained in the same folder must not reuse it."""
    import shutil

    folder = tmp_path / "filter-model"
    shutil.copytree(tiny_bert, folder)
    before = PairScorer(str(folder)).settings()["filter_model"]
    assert before["path"] == str(folder) and len(before["sha256"]) == 64
    model = AutoModel.from_pretrained(folder)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[5] += 1.0
    model.save_pretrained(folder)  # retrained in place
    assert PairScorer(str(folder)).settings()["filter_model"]["sha256"] != before["sha256"]
    assert PairScorer("sentence-transformers/LaBSE").settings()["filter_model"] == "sentence-transformers/LaBSE"
