"""Sentence vectors: the mean of the token vectors of a hidden layer (XTREME's sentence retrieval, the pair filter).

Each sentence is tokenised once (with the model's special tokens, truncated to ``max_length``: a count of the
truncated ones is logged), batched by length so that padding stays small, and mean-pooled over
``hidden_states[layer]`` for every requested layer in one forward pass. XTREME pools over the attention mask, i.e.
*with* [CLS]/[SEP] (``--pool_skip_special_token`` is off in its ``run_tatoeba.sh``); ``include_special_tokens=False``
leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from xladjust.data.text import subword_limit
from xladjust.errors import InputError

logger = logging.getLogger(__name__)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence vectors (B, H): mean of the token vectors ``hidden`` (B, T, H) where ``attention_mask`` (B, T) is 1.

    A sequence with an all-zero mask gives a zero vector instead of NaN.
    """
    if hidden.ndim != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"expected (B, T, H) and (B, T), got {tuple(hidden.shape)} and {tuple(attention_mask.shape)}")
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def tokenize_sentences(tokenizer, sentences: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
    """``input_ids`` and ``special_tokens_mask`` per sentence, truncated to ``max_length`` (the cut ones counted)."""
    max_length = subword_limit(tokenizer, max_length)
    encoded = tokenizer(
        list(sentences),
        truncation=True,
        max_length=max_length,
        return_overflowing_tokens=True,
        return_special_tokens_mask=True,
    )
    # A truncated sentence comes back as several rows (its overflow); keep the first row of each.
    sample = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    first = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]]) if sample.size else sample
    cut = int(np.sum(np.bincount(sample, minlength=len(sentences)) > 1))
    if cut:
        logger.warning("%d of %d sentences cut to %d tokens (--max_seq_length)", cut, len(sentences), max_length)
    return {key: [encoded[key][i] for i in first] for key in ("input_ids", "special_tokens_mask")}


@torch.no_grad()
def encode_sentences(
    model: torch.nn.Module,
    tokenizer,
    sentences: Sequence[str],
    layers: Sequence[int],
    *,
    include_special_tokens: bool = True,
    max_length: int = 128,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> dict[int, torch.Tensor]:
    """``{layer: (N, H) float32 CPU tensor}``: mean-pooled ``hidden_states[layer]`` of every sentence, in order."""
    if not sentences:
        return {layer: torch.zeros(0, model.config.hidden_size) for layer in layers}
    encoded = tokenize_sentences(tokenizer, sentences, max_length)
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    parts: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer.pad(
            {key: [encoded[key][i] for i in rows] for key in ("input_ids", "special_tokens_mask")},
            return_tensors="pt",
            return_attention_mask=True,
        )
        mask = batch["attention_mask"].to(device)
        outputs = model(input_ids=batch["input_ids"].to(device), attention_mask=mask, output_hidden_states=True)
        hidden_states = outputs.hidden_states
        check_layers(layers, len(hidden_states))
        pool = mask if include_special_tokens else mask * (1 - batch["special_tokens_mask"].to(device))
        for layer in layers:
            parts[layer].append(mean_pool(hidden_states[layer].float(), pool).cpu())
    inverse = torch.as_tensor(np.argsort(order, kind="stable"))
    return {layer: torch.cat(chunks)[inverse] for layer, chunks in parts.items()}


def check_layers(layers: Sequence[int], num_hidden_states: int) -> None:
    """``hidden_states`` holds the embeddings (0) and every layer's output (1..L): indices -L-1..L are valid."""
    bad = [layer for layer in layers if not -num_hidden_states <= layer < num_hidden_states]
    if bad:
        raise InputError(
            f"--layers {bad}: the model has {num_hidden_states} hidden states (0 = embeddings, "
            f"{num_hidden_states - 1} = last layer; -1 = last)"
        )
