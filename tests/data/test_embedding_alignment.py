"""SimAlign-style alignment: the batched argmax/itermax against SimAlign's published per-pair algorithm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from tests.conftest import PARALLEL
from xladjust.data.embedding_alignment import SimAligner, argmax_links, itermax_links
from xladjust.data.parallel import ParallelSource, read_source
from xladjust.errors import InputError


def simalign_argmax(sim: np.ndarray) -> np.ndarray:
    """SimAlign's "inter" matrix (simalign 0.4, SentenceAligner.get_alignment_matrix), per pair."""
    m, n = sim.shape
    forward = np.eye(n)[sim.argmax(axis=1)]
    backward = np.eye(m)[sim.argmax(axis=0)]
    return forward * backward.transpose()


def simalign_itermax(sim: np.ndarray, max_count: int = 2) -> np.ndarray:
    """SimAlign's SentenceAligner.iter_max (simalign 0.4), transcribed loop for loop."""
    alpha_ratio = 0.9
    m, n = sim.shape
    inter = simalign_argmax(sim)
    if min(m, n) <= 2:
        return inter
    count = 1
    while count < max_count:
        mask_x = 1.0 - np.tile(inter.sum(1)[:, np.newaxis], (1, n)).clip(0.0, 1.0)
        mask_y = 1.0 - np.tile(inter.sum(0)[np.newaxis, :], (m, 1)).clip(0.0, 1.0)
        mask = ((alpha_ratio * mask_x) + (alpha_ratio * mask_y)).clip(0.0, 1.0)
        mask_zeros = 1.0 - ((1.0 - mask_x) * (1.0 - mask_y))
        if mask_x.sum() < 1.0 or mask_y.sum() < 1.0:
            mask *= 0.0
            mask_zeros *= 0.0
        new_sim = sim * mask
        fwd = np.eye(n)[new_sim.argmax(axis=1)] * mask_zeros
        bac = np.eye(m)[new_sim.argmax(axis=0)].transpose() * mask_zeros
        new_inter = fwd * bac
        if np.array_equal(inter + new_inter, inter):
            break
        inter = inter + new_inter
        count += 1
    return inter


SIZES = [(1, 3), (2, 5), (3, 3), (4, 7), (6, 5), (8, 8), (5, 2), (7, 3)]


@pytest.mark.parametrize(("method", "reference"), [("argmax", simalign_argmax), ("itermax", simalign_itermax)])
def test_batched_matching_equals_simalign_per_pair(method, reference):
    matching = {"argmax": argmax_links, "itermax": itermax_links}[method]
    generator = torch.Generator().manual_seed(0)
    for trial in range(20):
        # Padded to the largest pair, with SimAlign's similarities in [0, 1].
        sims = [torch.rand(m, n, generator=generator, dtype=torch.float64) for m, n in SIZES]
        padded = torch.full((len(SIZES), 8, 8), 0.5, dtype=torch.float64)
        rows = torch.zeros(len(SIZES), 8, dtype=torch.bool)
        columns = torch.zeros(len(SIZES), 8, dtype=torch.bool)
        for b, sim in enumerate(sims):
            m, n = sim.shape
            padded[b, :m, :n] = sim
            rows[b, :m], columns[b, :n] = True, True
        links = matching(padded, rows, columns)
        added = 0
        for b, sim in enumerate(sims):
            m, n = sim.shape
            expected = reference(sim.numpy()) > 0
            assert np.array_equal(links[b, :m, :n].numpy(), expected), (trial, b)
            assert not links[b, m:].any() and not links[b, :, n:].any()
            added += expected.sum() - (simalign_argmax(sim.numpy()) > 0).sum()
        if method == "itermax" and trial == 0:
            assert added > 0  # the second round did add links, so the test covers it


def naive_simalign(model, tokenizer, target, english, layer, method, level):
    """One pair at a time, as the simalign package does: encode each sentence, compare, map subwords to words."""

    def vectors(sentence):
        encoding = tokenizer(sentence, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**encoding, output_hidden_states=True).hidden_states[layer][0]
        ids = encoding.word_ids()
        tokens = [t for t, w in enumerate(ids) if w is not None]
        if level == "subword":
            return hidden[tokens].numpy(), [ids[t] for t in tokens]
        words = [hidden[[t for t in tokens if ids[t] == w]].mean(0) for w in range(len(sentence))]
        return torch.stack(words).numpy(), list(range(len(sentence)))

    (x, x_words), (y, y_words) = vectors(target), vectors(english)
    cosine = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T
    matrix = {"argmax": simalign_argmax, "itermax": simalign_itermax}[method]((cosine + 1.0) / 2.0)
    return sorted({(x_words[i], y_words[j]) for i in range(len(x)) for j in range(len(y)) if matrix[i, j] > 0})


@pytest.mark.parametrize(("method", "level"), [("itermax", "subword"), ("argmax", "subword"), ("itermax", "word")])
def test_aligner_equals_simalign_on_each_pair(tiny_bert, method, level):
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt")))[:7]
    aligner = SimAligner(str(tiny_bert), layer=1, method=method, level=level, batch_size=3)
    links = aligner.align([p.target for p in pairs], [p.english for p in pairs])
    model, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    for pair, got in zip(pairs, links, strict=True):
        assert got == naive_simalign(model, tokenizer, pair.target, pair.english, 1, method, level)
    assert sum(map(len, links)) >= len(pairs)


def test_aligner_checks_its_settings(tiny_bert):
    with pytest.raises(InputError, match="unknown SimAlign method 'mwmf'"):
        SimAligner(str(tiny_bert), method="mwmf")
    with pytest.raises(InputError, match="--simalign_layer 8 does not exist"):
        SimAligner(str(tiny_bert), layer=8).align([["gato"]], [["cat"]])


def test_an_encoder_that_cannot_be_loaded_is_an_input_error(tmp_path):
    aligner = SimAligner(str(tmp_path / "no-such-encoder"))
    with pytest.raises(InputError, match="SimAlign cannot load its encoder"):
        aligner.align([["uno"]], [["one"]])
