"""Word maps, pooling and the adjustment loss, each against a naive per-word computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from tests.conftest import PARALLEL
from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset, sentence_word_maps
from xladjust.adjust.objective import AlignmentObjective
from xladjust.adjust.pooling import pool_words
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.data.parallel import AlignedPair, CorpusStats, ParallelSource, read_source


def naive_pool(hidden: torch.Tensor, word_index: torch.Tensor, num_words: int, mode: str) -> torch.Tensor:
    words = []
    for w in range(num_words):
        rows = [
            (b, t) for b in range(word_index.shape[0]) for t in range(word_index.shape[1]) if word_index[b, t] == w
        ]
        vectors = torch.stack([hidden[b, t] for b, t in rows])
        words.append({"avg": vectors.mean(0), "first": vectors[0], "last": vectors[-1]}[mode])
    return torch.stack(words)


@pytest.mark.parametrize("mode", ["avg", "first", "last"])
def test_pool_words_equals_naive_loop(mode):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 9, 5, generator=generator)
    # Words are contiguous runs of tokens; -1 marks padding and unmapped tokens.
    word_index = torch.tensor(
        [[0, 1, 1, 2, 3, 3, 3, 4, -1], [5, 6, 7, 7, 8, -1, -1, -1, -1], [9, -1, 10, 10, 10, 10, 11, 12, 12]]
    )
    assert torch.allclose(pool_words(hidden, word_index, 13, mode), naive_pool(hidden, word_index, 13, mode))


def test_pool_words_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown word pooling 'max'"):
        pool_words(torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), 1, "max")


def test_sentence_word_maps_number_special_tokens_and_words():
    # [CLS] w0 w0 w1 (w2 has no subword) w3 [SEP]
    tokens, number, count = sentence_word_maps([None, 0, 0, 1, 3, None], 4)
    assert tokens.tolist() == [0, 1, 1, 2, 3, 4]
    assert number.tolist() == [1, 2, -1, 3]
    assert count == 5


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def encoder(request, tiny_bert, tiny_xlmr):
    path = tiny_bert if request.param == "bert" else tiny_xlmr
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def test_word_maps_follow_word_ids_for_wordpiece_and_sentencepiece(encoder):
    tokenizer, _ = encoder
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt"), str(PARALLEL / "es-en.align")))
    dataset = build_alignment_dataset(
        pairs, tokenizer, max_seq_length=64, include_cls_sep=True, language_id=0, stats=CorpusStats()
    )
    for pair, row in zip(pairs, dataset, strict=True):
        encoding = tokenizer(pair.target, is_split_into_words=True)
        assert row["tgt_input_ids"] == encoding["input_ids"]
        word_ids = encoding.word_ids()
        expected = [0] + [w + 1 for w in word_ids[1:-1]] + [len(pair.target) + 1]
        assert row["tgt_word_index"] == expected
        word_links = [(i + 1, j + 1) for i, j in pair.links]
        assert list(zip(row["link_tgt"], row["link_en"], strict=True)) == word_links + [
            (0, 0),
            (len(pair.target) + 1, len(pair.english) + 1),
        ]


def test_truncation_drops_links_and_counts_them(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    pair = AlignedPair(["gato"] * 20, ["cat"] * 20, [(i, i) for i in range(20)])
    stats = CorpusStats()
    dataset = build_alignment_dataset(
        [pair], tokenizer, max_seq_length=12, include_cls_sep=False, language_id=0, stats=stats
    )

    def words_left(sentence):
        encoding = tokenizer(sentence, is_split_into_words=True, truncation=True, max_length=12)
        return len(set(encoding.word_ids()) - {None})

    kept_links = min(words_left(pair.target), words_left(pair.english))
    assert stats.links_dropped_truncated == 20 - kept_links > 0
    assert stats.links_used == kept_links == len(dataset[0]["link_tgt"])


def naive_loss(model, reference, tokenizer, pairs: list[AlignedPair], weight: float, include_cls_sep: bool):
    """The loss written out word by word: mean of subword vectors, mse over all elements."""

    def words(encoder, sentence):
        encoding = tokenizer(sentence, is_split_into_words=True, return_tensors="pt")
        hidden = encoder(**encoding).last_hidden_state[0]
        ids = encoding.word_ids()
        vectors = [hidden[0]]
        for w in range(len(sentence)):
            vectors.append(torch.stack([hidden[t] for t, i in enumerate(ids) if i == w]).mean(0))
        return torch.stack([*vectors, hidden[len(ids) - 1]])

    tgt_side, en_side, en_all, ref_all = [], [], [], []
    for pair in pairs:
        target, english = words(model, pair.target), words(model, pair.english)
        links = [(i + 1, j + 1) for i, j in pair.links]
        if include_cls_sep:
            links += [(0, 0), (len(pair.target) + 1, len(pair.english) + 1)]
        tgt_side += [target[i] for i, _ in links]
        en_side += [english[j] for _, j in links]
        en_all.append(english)
        with torch.no_grad():
            ref_all.append(words(reference, pair.english))
    alignment = F.mse_loss(torch.stack(tgt_side), torch.stack(en_side))
    regularization = F.mse_loss(torch.cat(en_all), torch.cat(ref_all))
    return alignment + weight * regularization, alignment, regularization


@pytest.mark.parametrize("include_cls_sep", [True, False])
def test_loss_equals_naive_per_word_computation(encoder, include_cls_sep):
    tokenizer, model = encoder
    model.eval()  # no dropout, so both computations see the same vectors
    objective = AlignmentObjective(model, ObjectiveSettings(regularization_weight=0.7))
    with torch.no_grad():  # move the trained copy away from the reference so the regulariser is not zero
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    pairs = read_source(ParallelSource("ru", str(PARALLEL / "ru-en.txt"), str(PARALLEL / "ru-en.align")))[:5]
    dataset = build_alignment_dataset(
        pairs, tokenizer, max_seq_length=64, include_cls_sep=include_cls_sep, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    output = objective(model, batch)
    expected = naive_loss(model, objective.reference, tokenizer, pairs, 0.7, include_cls_sep)
    for got, want in zip((output.loss, output.alignment_loss, output.regularization_loss), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert output.regularization_loss > 0
    # Per-pair sums add up to the batch loss (the basis of the exact held-out metrics).
    hidden = model.config.hidden_size
    torch.testing.assert_close(
        output.pair_alignment_sse.sum() / output.pair_alignment_count.sum(), output.alignment_loss
    )
    assert output.pair_regularization_count.sum() == sum(len(p.english) + 2 for p in pairs) * hidden


def test_gradients_flow_through_both_sides_and_not_into_the_reference(tiny_bert):
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    objective = AlignmentObjective(model, ObjectiveSettings(regularization_weight=0.0))
    assert objective.reference is None
    objective = AlignmentObjective(model, ObjectiveSettings(regularization_weight=1.0))
    pair = AlignedPair(["gato"], ["cat"], [(0, 0)])
    dataset = build_alignment_dataset(
        [pair], tokenizer, max_seq_length=16, include_cls_sep=False, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[0]])
    objective(model, batch).alignment_loss.backward()
    embedding_grad = model.embeddings.word_embeddings.weight.grad
    target_ids = set(dataset[0]["tgt_input_ids"][1:-1]) - set(dataset[0]["en_input_ids"])
    english_ids = set(dataset[0]["en_input_ids"][1:-1]) - set(dataset[0]["tgt_input_ids"])
    assert all(embedding_grad[i].abs().sum() > 0 for i in target_ids | english_ids)
    assert all(p.grad is None for p in objective.reference.parameters())
    assert not any(p.requires_grad for p in objective.reference.parameters())


@pytest.mark.parametrize("mode", ["first", "last"])
def test_first_and_last_pooling_and_intermediate_layer(tiny_bert, mode):
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert).eval()
    pair = AlignedPair(["pescado", "gato"], ["fish", "cat"], [(0, 0), (1, 1)])
    dataset = build_alignment_dataset(
        [pair], tokenizer, max_seq_length=32, include_cls_sep=False, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[0]])
    objective = AlignmentObjective(model, ObjectiveSettings(word_pooling=mode, layer=1, regularization_weight=0.0))
    with torch.no_grad():
        loss = objective(model, batch).alignment_loss
        tgt = model(**tokenizer(pair.target, is_split_into_words=True, return_tensors="pt"), output_hidden_states=True)
        en = model(**tokenizer(pair.english, is_split_into_words=True, return_tensors="pt"), output_hidden_states=True)
    pick = 0 if mode == "first" else -1
    tgt_ids = tokenizer(pair.target, is_split_into_words=True).word_ids()
    en_ids = tokenizer(pair.english, is_split_into_words=True).word_ids()
    tgt_vectors = torch.stack(
        [tgt.hidden_states[1][0, [t for t, i in enumerate(tgt_ids) if i == w][pick]] for w in (0, 1)]
    )
    en_vectors = torch.stack(
        [en.hidden_states[1][0, [t for t, i in enumerate(en_ids) if i == w][pick]] for w in (0, 1)]
    )
    torch.testing.assert_close(loss, F.mse_loss(tgt_vectors, en_vectors))
