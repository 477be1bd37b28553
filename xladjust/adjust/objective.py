"""The cross-lingual adjustment loss (Cao et al. 2020; Efimov et al. 2023).

    L = mse(target vectors of linked words, English vectors of their partners)
        + λ · mse(English word vectors, English word vectors of the frozen original encoder)

mse is the mean over all elements; both sides of the first term come from the encoder being trained, so gradients
flow through both. The regulariser covers every English word, the CLS/SEP pseudo-words included.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xladjust.adjust.pooling import POOLING_MODES, pool_words


@dataclass
class AlignmentLossOutput:
    loss: torch.Tensor
    alignment_loss: torch.Tensor
    regularization_loss: torch.Tensor
    # Per-pair sums of squared errors and element counts, for exact corpus-level evaluation metrics.
    pair_alignment_sse: torch.Tensor
    pair_alignment_count: torch.Tensor
    pair_regularization_sse: torch.Tensor
    pair_regularization_count: torch.Tensor


def encode(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int) -> torch.Tensor:
    """Token vectors of ``layer`` (an index into ``hidden_states``: 0 = embeddings, -1 = last layer)."""
    if layer == -1:
        return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    outputs = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    return outputs.hidden_states[layer]


def freeze_pooler(encoder: nn.Module) -> None:
    """The pooler is not part of the objective: keep it as it was (and out of DDP's gradient bookkeeping)."""
    pooler = getattr(encoder, "pooler", None)
    if pooler is not None:
        pooler.requires_grad_(False)


class AlignmentObjective(nn.Module):
    """Computes the adjustment loss of a batch from :class:`~xladjust.adjust.collator.AlignedPairCollator`.

    Holds the frozen copy of the original encoder. It is a module so that ``.to(device)`` moves the copy, but it
    is never handed to the optimizer, to DDP or to ``save_pretrained``.
    """

    def __init__(
        self, encoder: nn.Module, word_pooling: str = "avg", layer: int = -1, regularization_weight: float = 1.0
    ):
        super().__init__()
        if word_pooling not in POOLING_MODES:
            raise ValueError(f"unknown word pooling {word_pooling!r}; expected one of {POOLING_MODES}")
        self.word_pooling = word_pooling
        self.layer = layer
        self.regularization_weight = regularization_weight
        self.reference = copy.deepcopy(encoder).eval().requires_grad_(False) if regularization_weight else None

    def train(self, mode: bool = True) -> AlignmentObjective:
        # The reference stays in eval mode (no dropout) whatever the trainer does.
        return self

    def word_vectors(self, encoder: nn.Module, batch: dict[str, Any], side: str) -> torch.Tensor:
        hidden = encode(encoder, batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"], self.layer)
        return pool_words(hidden, batch[f"{side}_word_index"], batch[f"{side}_num_words"], self.word_pooling)

    def forward(self, encoder: nn.Module, batch: dict[str, Any]) -> AlignmentLossOutput:
        target_words = self.word_vectors(encoder, batch, "tgt")
        english_words = self.word_vectors(encoder, batch, "en")
        batch_size = batch["tgt_input_ids"].shape[0]
        hidden_size = english_words.shape[-1]

        link_sse = (target_words[batch["link_tgt"]] - english_words[batch["link_en"]]).float().pow(2).sum(-1)
        pair_alignment_sse = link_sse.new_zeros(batch_size).index_add_(0, batch["link_pair"], link_sse)
        pair_alignment_count = torch.bincount(batch["link_pair"], minlength=batch_size) * hidden_size
        alignment_loss = link_sse.sum() / (link_sse.numel() * hidden_size)

        if self.reference is None:
            zero = alignment_loss.new_zeros(())
            pair_zero = pair_alignment_sse.new_zeros(batch_size)
            return AlignmentLossOutput(
                alignment_loss, alignment_loss, zero, pair_alignment_sse, pair_alignment_count, pair_zero, pair_zero
            )
        with torch.no_grad():
            reference_words = self.word_vectors(self.reference, batch, "en")
        word_sse = (english_words - reference_words).float().pow(2).sum(-1)
        pair_regularization_sse = word_sse.new_zeros(batch_size).index_add_(0, batch["en_word_pair"], word_sse)
        pair_regularization_count = torch.bincount(batch["en_word_pair"], minlength=batch_size) * hidden_size
        regularization_loss = word_sse.sum() / (word_sse.numel() * hidden_size)
        return AlignmentLossOutput(
            alignment_loss + self.regularization_weight * regularization_loss,
            alignment_loss,
            regularization_loss,
            pair_alignment_sse,
            pair_alignment_count,
            pair_regularization_sse,
            pair_regularization_count,
        )
