"""xladjust against a restatement of the authors' adjustment code (Efimov et al. 2023, after Cao et al. 2020).

The restatement below is ours, written from reading their script (docs/run_adjust.md, "Where xladjust departs from
the authors' code"): per sentence [CLS] + each word's ``tokenizer.tokenize(word)`` + [SEP], never truncated; a word
vector is the mean of its subword vectors of the last layer, CLS and SEP count as words; the loss of a chunk of 4
pairs is ``mse(target words, linked English words) + base_rate · mse(English words, the frozen copy's)`` with
CLS↔CLS and SEP↔SEP linked, and a batch's loss is the *sum* of its chunks' losses. Their frozen copy runs with
autograd on; the optimizer is Adam(0.9, 0.98, eps 1e-9) without weight decay or clipping.
Where the settings match (one chunk, no dropout, the same learning rate), losses and updates agree to 1e-6.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel, get_constant_schedule_with_warmup

from run_adjust import AdjustTrainingArguments
from tests.builders import PARALLEL
from tests.tiny_families import bert_tokenizer
from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset
from xladjust.adjust.objective import AlignmentObjective
from xladjust.data.parallel import (
    AlignedPair,
    CorpusStats,
    FilterSettings,
    filter_links,
    read_alignment_file,
    read_parallel_file,
)

ADAM = {"lr": 1e-3, "betas": (0.9, 0.98), "eps": 1e-9}


def fixture_pairs() -> list[AlignedPair]:
    """The Spanish and Russian fixture pairs with their links filtered (1-to-1, no identical strings)."""
    pairs = []
    for lang in ("es", "ru"):
        read = read_parallel_file(PARALLEL / f"{lang}-en.txt")
        read_alignment_file(PARALLEL / f"{lang}-en.align", read, PARALLEL / f"{lang}-en.txt")
        for pair in read:
            links = filter_links(pair, FilterSettings(), CorpusStats())
            if links:
                pairs.append(AlignedPair(pair.target, pair.english, links))
    return pairs


@pytest.fixture(scope="module")
def tokenizer():
    return bert_tokenizer()


@pytest.fixture
def model(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,  # "where the settings match": dropout draws cannot be matched between two codes
        attention_probs_dropout_prob=0.0,
    )
    return BertModel(config)


# ---------------------------------------------------------------------------------------------------------------
# The authors' computation, restated


def authors_word_vectors(model, tokenizer, sentences: list[list[str]]) -> torch.Tensor:
    """Packed (words + 2 per sentence, H): CLS, each word's mean subword vector, SEP, sentence after sentence."""
    rows = [
        [tokenizer.cls_token, *[token for word in words for token in tokenizer.tokenize(word)], tokenizer.sep_token]
        for words in sentences
    ]
    length = max(len(row) for row in rows)
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(row) + [0] * (length - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in rows])
    hidden = model(ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    vectors = []
    for number, words in enumerate(sentences):
        vectors.append(hidden[number, 0])
        position = 1
        for word in words:
            count = len(tokenizer.tokenize(word))
            vectors.append(hidden[number, position : position + count].mean(0))
            position += count
        vectors.append(hidden[number, position])
    return torch.stack(vectors)


def authors_links(pairs: list[AlignedPair]) -> tuple[list[int], list[int]]:
    """Their pick_aligned with CLS/SEP: word links, then CLS↔CLS, then SEP↔SEP, in packed positions."""
    tgt, en, cls, sep = [], [], [], []
    tgt_offset = en_offset = 0
    for pair in pairs:
        tgt += [tgt_offset + 1 + i for i, _ in pair.links]
        en += [en_offset + 1 + j for _, j in pair.links]
        cls.append((tgt_offset, en_offset))
        sep.append((tgt_offset + len(pair.target) + 1, en_offset + len(pair.english) + 1))
        tgt_offset += len(pair.target) + 2
        en_offset += len(pair.english) + 2
    return tgt + [c[0] for c in cls + sep], en + [c[1] for c in cls + sep]


def authors_loss(model, base, tokenizer, pairs: list[AlignedPair], split: int = 4, base_rate: float = 1.0):
    """The batch loss of their align_bert_multiple: the sum over chunks of ``split`` pairs of the chunk's loss."""
    loss = 0
    for start in range(0, len(pairs), split):
        chunk = pairs[start : start + split]
        idx_1, idx_2 = authors_links(chunk)
        ann_1 = authors_word_vectors(model, tokenizer, [p.target for p in chunk])
        ann_2 = authors_word_vectors(model, tokenizer, [p.english for p in chunk])
        ann_2_base = authors_word_vectors(base, tokenizer, [p.english for p in chunk])  # autograd on, as theirs
        loss = loss + F.mse_loss(ann_1[idx_1], ann_2[idx_2]) + base_rate * F.mse_loss(ann_2, ann_2_base)
    return loss


def authors_keep_1to1(links: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Their keep_1to1: a link stays when its two words occur once each among the links (duplicates included)."""
    tgt = [i for i, _ in links]
    en = [j for _, j in links]
    return [(i, j) for i, j in links if tgt.count(i) == 1 and en.count(j) == 1]


def authors_learning_rates(num_sentences: int, batch_size: int, lr: float, warmup_fraction: float = 0.1):
    """Their schedule_lr over one epoch (one language): linear in *sentences*, set only while within the warm-up."""
    warmup = int(num_sentences * warmup_fraction)
    rates, current = [], None
    for start in range(0, num_sentences, batch_size):
        iteration = start + 1  # total_processed // languages, + 1
        if iteration <= warmup:
            current = iteration * lr / warmup
        rates.append(current)
    return rates


# ---------------------------------------------------------------------------------------------------------------
# xladjust


def xladjust_batch(tokenizer, pairs: list[AlignedPair]) -> dict:
    dataset = build_alignment_dataset(
        pairs, tokenizer, max_seq_length=128, include_cls_sep=True, language_id=0, stats=CorpusStats()
    )
    assert len(dataset) == len(pairs)
    return AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])


def test_one_chunk_gives_the_same_loss_and_the_same_adam_update(model, tokenizer):
    pairs = fixture_pairs()[:4]
    ours = copy.deepcopy(model).train()
    objective = AlignmentObjective(ours)  # the frozen reference: a copy without autograd
    theirs, base = copy.deepcopy(model).train(), copy.deepcopy(model).eval()

    loss = objective(ours, xladjust_batch(tokenizer, pairs)).loss
    their_loss = authors_loss(theirs, base, tokenizer, pairs)
    assert loss.item() == pytest.approx(their_loss.item(), rel=1e-6, abs=1e-7)

    optimizer = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], weight_decay=0.0, **ADAM)
    their_optimizer = torch.optim.Adam(theirs.parameters(), **ADAM)
    loss.backward()
    their_loss.backward()
    optimizer.step()
    their_optimizer.step()
    for name, parameter in ours.named_parameters():
        torch.testing.assert_close(parameter, theirs.get_parameter(name), rtol=0, atol=1e-6)
    # Their frozen copy ran with autograd: it holds gradients (never used); xladjust's reference has none.
    assert any(p.grad is not None for p in base.parameters())
    assert all(p.grad is None and not p.requires_grad for p in objective.reference.parameters())


def test_a_batch_of_sixteen_sums_four_chunk_means(model, tokenizer):
    pairs = fixture_pairs()[:16]
    model.eval()
    objective = AlignmentObjective(model)
    with torch.no_grad():
        whole = objective(model, xladjust_batch(tokenizer, pairs)).loss.item()
        batches = [xladjust_batch(tokenizer, pairs[i : i + 4]) for i in range(0, 16, 4)]
        chunks = [objective(model, batch) for batch in batches]
        theirs = authors_loss(model, model, tokenizer, pairs).item()
    assert theirs == pytest.approx(sum(chunk.loss.item() for chunk in chunks), rel=1e-6)
    # xladjust's loss is the mean over all the batch's links (and English words): the chunks' means weighted by
    # their link (word) counts, where the authors give each chunk the same weight; about 4x at 16 pairs.
    links = torch.tensor([len(batch["link_tgt"]) for batch in batches], dtype=torch.float64)
    words = torch.tensor([batch["en_num_words"] for batch in batches], dtype=torch.float64)
    alignment = torch.tensor([chunk.alignment_loss.item() for chunk in chunks], dtype=torch.float64)
    regularization = torch.tensor([chunk.regularization_loss.item() for chunk in chunks], dtype=torch.float64)
    weighted = (alignment * links).sum() / links.sum() + (regularization * words).sum() / words.sum()
    assert whole == pytest.approx(weighted.item(), rel=1e-6)
    assert theirs / whole == pytest.approx(4, rel=0.1)


def test_adam_cancels_a_constant_factor_on_the_loss(model, tokenizer):
    """So the authors' chunk sum changes Adam's steps through the chunk weighting only (under SGD: the step size);
    exactly so wherever a gradient is well above Adam's eps (1e-9)."""
    batch = xladjust_batch(tokenizer, fixture_pairs()[:8])
    updated, gradients = [], {}
    for factor in (1.0, 4.0):
        trained = copy.deepcopy(model).eval()
        objective = AlignmentObjective(trained)
        optimizer = torch.optim.Adam(trained.parameters(), **ADAM)
        (factor * objective(trained, batch).loss).backward()
        gradients = gradients or {name: p.grad.clone() for name, p in trained.named_parameters() if p.grad is not None}
        optimizer.step()
        updated.append(trained)
    for name, gradient in gradients.items():
        clear = gradient.abs() > 1e-6
        torch.testing.assert_close(
            updated[0].get_parameter(name)[clear], updated[1].get_parameter(name)[clear], rtol=0, atol=1e-6
        )


def test_a_repeated_link_is_kept_once_where_the_authors_drop_both_copies():
    pair = AlignedPair(["el", "gato", "come"], ["the", "cat", "eats"], [(0, 0), (1, 1), (1, 1), (2, 2)])
    settings = FilterSettings(filter_identical=False)
    assert filter_links(pair, settings, CorpusStats()) == [(0, 0), (1, 1), (2, 2)]
    assert authors_keep_1to1(pair.links) == [(0, 0), (2, 2)]


def test_warm_up_counted_in_sentences_ends_at_nine_tenths_of_the_learning_rate():
    lr, pairs, batch = 5e-5, 2500, 32
    theirs = authors_learning_rates(pairs, batch, lr)
    assert theirs[0] == pytest.approx(lr / 250) and theirs[-1] == pytest.approx(0.9 * lr)
    assert max(theirs) == pytest.approx(0.9 * lr)  # never the full learning rate
    # xladjust (run_adjust's defaults): 10% of the optimizer steps, from 0 up to the full rate, then constant.
    steps = math.ceil(pairs / batch)
    args = AdjustTrainingArguments(output_dir="unused", per_device_train_batch_size=batch)
    warmup = args.get_warmup_steps(steps)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = get_constant_schedule_with_warmup(optimizer, warmup)
    ours = []
    for _ in range(steps):
        ours.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert warmup == 8 and ours[0] == 0.0 and ours[warmup:] == [lr] * (steps - warmup)
