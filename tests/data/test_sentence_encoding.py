"""Sentence vectors for retrieval: batched, length-sorted encoding against one sentence at a time."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xladjust.data.sentence_encoding import encode_sentences
from xladjust.errors import InputError

SENTENCES = [
    "Hola mundo",
    "El perro duerme bajo la mesa y el gato mira por la ventana",
    "x",
    "Где находится вокзал?",
    "Tom bought a new car.",
]


@pytest.fixture(scope="module", params=["tiny_bert", "tiny_xlmr"])
def encoder(request):
    path = request.getfixturevalue(request.param)
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def one_at_a_time(model, tokenizer, sentence, layer, include_special_tokens, max_length):
    encoded = tokenizer(sentence, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded, output_hidden_states=True).hidden_states[layer][0]
    ids = encoded["input_ids"][0].tolist()
    keep = [include_special_tokens or i not in tokenizer.all_special_ids for i in ids]
    return hidden[torch.tensor(keep)].mean(dim=0)


@pytest.mark.parametrize("include_special_tokens", [True, False])
def test_batched_vectors_equal_the_loop(encoder, include_special_tokens, caplog):
    model, tokenizer = encoder
    with caplog.at_level(logging.WARNING):
        vectors = encode_sentences(
            model,
            tokenizer,
            SENTENCES,
            [0, 1, -1],
            include_special_tokens=include_special_tokens,
            max_length=12,
            batch_size=2,
        )
    assert set(vectors) == {0, 1, -1}
    for layer, matrix in vectors.items():
        assert matrix.shape == (len(SENTENCES), model.config.hidden_size) and matrix.dtype == torch.float32
        for i, sentence in enumerate(SENTENCES):  # sorted by length inside, back in input order outside
            expected = one_at_a_time(model, tokenizer, sentence, layer, include_special_tokens, 12)
            torch.testing.assert_close(matrix[i], expected, atol=1e-5, rtol=1e-4)
    assert "cut to 12 tokens" in caplog.text
    assert not torch.allclose(vectors[0], vectors[-1])


def test_special_tokens_change_the_vectors_and_bad_layers_are_refused(encoder):
    model, tokenizer = encoder
    with_special = encode_sentences(model, tokenizer, SENTENCES[:2], [-1])[-1]
    without = encode_sentences(model, tokenizer, SENTENCES[:2], [-1], include_special_tokens=False)[-1]
    assert not torch.allclose(with_special, without)
    layers = model.config.num_hidden_layers
    with pytest.raises(InputError, match=f"--layers \\[{layers + 1}\\]: the model has {layers + 1} hidden states"):
        encode_sentences(model, tokenizer, SENTENCES[:1], [layers + 1])
    assert encode_sentences(model, tokenizer, [], [0])[0].shape == (0, model.config.hidden_size)
