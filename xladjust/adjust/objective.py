"""The cross-lingual adjustment loss (Cao et al. 2020; Efimov et al. 2023) and its method variants.

The paper's objective (every default):

    L = mse(target vectors of linked words, English vectors of their partners)
        + λ · mse(English word vectors, English word vectors of the frozen original encoder)

mse is the mean over all elements; both sides of the first term come from the encoder being trained, so gradients
flow through both. The regulariser covers every English word, the CLS/SEP pseudo-words included.

:class:`~xladjust.adjust.settings.ObjectiveSettings` switches the variants researchers compare, all inside this
one loss:

- ``alignment_target="frozen"`` (Cao et al. 2020's code): the English side of the alignment term comes from the
  frozen original encoder, so only the target side is pulled.
- ``alignment_loss="contrastive"`` (Wu & Dredze 2020): InfoNCE over cosine similarities / ``temperature``, in both
  directions; ``contrastive_negatives="linked"`` ("weak") scores each linked word against the partners of the other
  links of the batch, ``"all"`` ("strong") against every word vector of both sides of the batch. An optional
  ReLU projection head (``projection_layers=2``) is applied to both sides for this loss only.
- ``regularization="parameters"`` (Wu & Dredze 2020): λ · squared L2 distance of the trainable weights from their
  initial values instead of the English-vector term; ``"none"``: no regulariser.
- several ``layers``: each term is computed per hidden layer and averaged over the layers.
- ``freeze``: the parameters it names (:mod:`xladjust.adjust.freezing`) get no gradient from this loss and are left
  out of the parameter regulariser; run_adjust.py also takes them out of training altogether (``frozen.freeze()``).

Whatever the training loss, the per-pair sums of the paper's two mean-squared errors (alignment against the
*current* English vectors, and English against the original ones) are returned, so that held-out metrics stay
comparable between methods.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xladjust.adjust.freezing import check_something_trains, no_gradient_from, resolve_frozen
from xladjust.adjust.pooling import pool_words
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.errors import InputError


@dataclass
class AlignmentLossOutput:
    loss: torch.Tensor
    # The training terms (their means over the layers): MSE or InfoNCE; English-vector MSE or parameter drift.
    alignment_loss: torch.Tensor
    regularization_loss: torch.Tensor
    # Per-pair sums of squared errors and element counts of the paper's two MSE terms, summed over the layers, for
    # exact corpus-level evaluation metrics (the regularisation sums are zero where no original encoder is kept).
    pair_alignment_sse: torch.Tensor
    pair_alignment_count: torch.Tensor
    pair_regularization_sse: torch.Tensor
    pair_regularization_count: torch.Tensor
    # The same sums per layer, shape (pairs, layers); each layer's counts are the totals divided by the layers.
    layer_pair_alignment_sse: torch.Tensor | None = None
    layer_pair_regularization_sse: torch.Tensor | None = None


def encode_layers(
    encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int]
) -> list[torch.Tensor]:
    """Token vectors of each of ``layers`` (indices into ``hidden_states``: 0 = embeddings, -1 = last layer)."""
    if list(layers) == [-1]:
        return [encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state]
    outputs = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    return [outputs.hidden_states[layer] for layer in layers]


def freeze_pooler(encoder: nn.Module) -> None:
    """The pooler is not part of the objective: keep it as it was (and out of DDP's gradient bookkeeping)."""
    pooler = getattr(encoder, "pooler", None)
    if pooler is not None:
        pooler.requires_grad_(False)


def layer_names(encoder: nn.Module, layers: Sequence[int]) -> list[int]:
    """``layers`` as non-negative ``hidden_states`` indices (-1 → the number of layers); InputError if out of range."""
    count = encoder.config.num_hidden_layers
    resolved = []
    for layer in layers:
        if not -(count + 1) <= layer <= count:
            raise InputError(f"layer {layer} does not exist: the encoder has hidden states 0..{count} (or -1)")
        resolved.append(layer % (count + 1))
    if len(set(resolved)) != len(resolved):
        raise InputError(f"the layers {list(layers)} name the same hidden state twice")
    return resolved


def projection_head(hidden_size: int, layers: int) -> nn.Module | None:
    """The contrastive loss's 2-layer ReLU MLP (Wu & Dredze 2020), or None for ``layers == 0``."""
    if layers == 0:
        return None
    return nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size))


def info_nce_linked(
    target: torch.Tensor, english: torch.Tensor, link_tgt: torch.Tensor, link_en: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Weak alignment: link i's target word against the English words of every link of the batch, and back.

    ``target``/``english`` are the (projected) vectors of the links, row i = link i. A candidate that is the
    positive's own word again (a word with several links) is not a negative: it is masked out.
    """
    similarity = F.normalize(target.float(), dim=-1) @ F.normalize(english.float(), dim=-1).T / temperature
    diagonal = torch.eye(len(link_tgt), dtype=torch.bool, device=similarity.device)
    labels = torch.arange(len(link_tgt), device=similarity.device)
    to_english = similarity.masked_fill((link_en[None, :] == link_en[:, None]) & ~diagonal, float("-inf"))
    to_target = similarity.T.masked_fill((link_tgt[None, :] == link_tgt[:, None]) & ~diagonal, float("-inf"))
    return (F.cross_entropy(to_english, labels) + F.cross_entropy(to_target, labels)) / 2


def info_nce_all(
    target_words: torch.Tensor,
    english_words: torch.Tensor,
    link_tgt: torch.Tensor,
    link_en: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Strong alignment: every word vector of both sides of the batch is a candidate.

    Queries are the two words of every link (target → its English partner, English → its target partner); the
    candidates are all target and all English words of the batch except the query itself and the query's other
    linked partners (which are not negatives either).
    """
    num_tgt = target_words.shape[0]
    words = F.normalize(torch.cat([target_words, english_words]).float(), dim=-1)
    queries = torch.cat([link_tgt, num_tgt + link_en])
    positives = torch.cat([num_tgt + link_en, link_tgt])
    similarity = words[queries] @ words.T / temperature
    # linked[a, b]: words a and b (numbered over both sides) are linked; symmetric.
    linked = torch.zeros(len(words), len(words), dtype=torch.bool, device=words.device)
    linked[link_tgt, num_tgt + link_en] = True
    linked[num_tgt + link_en, link_tgt] = True
    excluded = linked[queries]
    excluded[torch.arange(len(queries), device=words.device), queries] = True
    excluded[torch.arange(len(queries), device=words.device), positives] = False
    return F.cross_entropy(similarity.masked_fill(excluded, float("-inf")), positives)


class AlignmentObjective(nn.Module):
    """Computes the adjustment loss of a batch from :class:`~xladjust.adjust.collator.AlignedPairCollator`.

    Holds what the loss needs besides the encoder being trained: the frozen copy of the original encoder (kept
    when the loss uses it, or when ``keep_reference`` asks for it, e.g. for held-out metrics), the initial values
    of the trainable weights for the parameter regulariser (the reference's own tensors when it is kept, one
    tensor copy otherwise) and the projection head. It is a module so that ``.to(device)`` moves them. The
    reference is never handed to the optimizer, to DDP or to ``save_pretrained``; the projection head is trained
    (the trainer adds it to the optimizer and to checkpoints) but never saved into the encoder.
    """

    def __init__(self, encoder: nn.Module, settings: ObjectiveSettings | None = None, keep_reference: bool = False):
        super().__init__()
        self.settings = settings or ObjectiveSettings()
        self.layers = list(self.settings.layers)
        self.layer_names = layer_names(encoder, self.layers)
        self.frozen = resolve_frozen(encoder, self.settings.freeze)
        check_something_trains(self.frozen, self.layer_names)
        self.regularization_weight = self.settings.regularization_weight
        self.reference = (
            copy.deepcopy(encoder).eval().requires_grad_(False)
            if self.settings.needs_reference or keep_reference
            else None
        )
        self.projection = projection_head(encoder.config.hidden_size, self.settings.projection_layers)
        self._drift_names: list[str] = []
        if self.settings.regularizes and self.settings.regularization == "parameters":
            frozen = set(self.frozen.names)
            self._drift_names = [n for n, p in encoder.named_parameters() if p.requires_grad and n not in frozen]
            if self.reference is None:  # one tensor copy of the trainable weights, no second model
                for number, name in enumerate(self._drift_names):
                    self.register_buffer(
                        f"initial_{number}", encoder.get_parameter(name).detach().clone(), persistent=False
                    )

    def train(self, mode: bool = True) -> AlignmentObjective:
        # The reference stays in eval mode (no dropout) whatever the trainer does; the head follows the trainer.
        if self.projection is not None:
            self.projection.train(mode)
        return self

    def initial_parameters(self) -> list[torch.Tensor]:
        if self.reference is not None:
            return [self.reference.get_parameter(name) for name in self._drift_names]
        return [getattr(self, f"initial_{number}") for number in range(len(self._drift_names))]

    def parameter_drift(self, encoder: nn.Module) -> torch.Tensor:
        """Σ ‖θ − θ₀‖² over the trainable weights (one term per weight tensor, not per element)."""
        current = [p for p in encoder.parameters() if p.requires_grad]
        initial = self.initial_parameters()
        if len(current) != len(initial):
            raise ValueError(f"the encoder has {len(current)} trainable tensors, the objective kept {len(initial)}")
        return torch.stack([(p - p0).float().pow(2).sum() for p, p0 in zip(current, initial, strict=True)]).sum()

    def layer_word_vectors(self, encoder: nn.Module, batch: dict[str, Any], side: str) -> list[torch.Tensor]:
        hidden = encode_layers(encoder, batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"], self.layers)
        return [
            pool_words(h, batch[f"{side}_word_index"], batch[f"{side}_num_words"], self.settings.word_pooling)
            for h in hidden
        ]

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors if self.projection is None else self.projection(vectors)

    def alignment_term(
        self, target: torch.Tensor, english: torch.Tensor, batch: dict[str, Any], link_sse: torch.Tensor
    ) -> torch.Tensor:
        """The training alignment term of one layer; ``english`` is the current or the frozen English side."""
        settings = self.settings
        if settings.alignment_loss == "mse":
            return link_sse.sum() / (link_sse.numel() * target.shape[-1])
        link_tgt, link_en = batch["link_tgt"], batch["link_en"]
        if settings.contrastive_negatives == "linked":
            return info_nce_linked(
                self.project(target[link_tgt]), self.project(english[link_en]), link_tgt, link_en, settings.temperature
            )
        return info_nce_all(self.project(target), self.project(english), link_tgt, link_en, settings.temperature)

    def forward(self, encoder: nn.Module, batch: dict[str, Any]) -> AlignmentLossOutput:
        # Continual learning: the task loss trains the frozen parameters, this loss must not (see freezing.py).
        with no_gradient_from(self.frozen.tensors):
            return self._forward(encoder, batch)

    def _forward(self, encoder: nn.Module, batch: dict[str, Any]) -> AlignmentLossOutput:
        settings = self.settings
        batch_size = batch["tgt_input_ids"].shape[0]
        link_tgt, link_en = batch["link_tgt"], batch["link_en"]
        target_layers = self.layer_word_vectors(encoder, batch, "tgt")
        english_layers = self.layer_word_vectors(encoder, batch, "en")
        hidden_size = english_layers[0].shape[-1]
        # The original's English vectors: for the loss, and (outside training) for the held-out metrics.
        reference_layers = None
        if self.reference is not None and encoder is self.reference:
            reference_layers = english_layers
        elif self.reference is not None and (
            settings.alignment_target == "frozen"
            or (settings.regularization == "english_vectors" and self.regularization_weight > 0)
            or not encoder.training
        ):
            with torch.no_grad():
                reference_layers = self.layer_word_vectors(self.reference, batch, "en")

        alignment_terms, regularization_terms, alignment_sse, regularization_sse = [], [], [], []
        for number, (target, english) in enumerate(zip(target_layers, english_layers, strict=True)):
            # Differences are squared and summed in float32 whatever the vectors' dtype (bf16 weights or outputs):
            # bf16's 8-bit mantissa would drop the small terms of long sums and of the corpus-level metrics.
            link_sse = (target[link_tgt] - english[link_en]).float().pow(2).sum(-1)
            alignment_sse.append(
                link_sse.detach().new_zeros(batch_size).index_add_(0, batch["link_pair"], link_sse.detach())
            )
            if settings.alignment_target == "frozen":
                anchor = reference_layers[number]
                anchor_sse = (target[link_tgt] - anchor[link_en]).float().pow(2).sum(-1)
                alignment_terms.append(self.alignment_term(target, anchor, batch, anchor_sse))
            else:
                alignment_terms.append(self.alignment_term(target, english, batch, link_sse))
            if reference_layers is None:
                regularization_sse.append(link_sse.new_zeros(batch_size))
                continue
            word_sse = (english - reference_layers[number]).float().pow(2).sum(-1)
            regularization_sse.append(
                word_sse.detach().new_zeros(batch_size).index_add_(0, batch["en_word_pair"], word_sse.detach())
            )
            regularization_terms.append(word_sse.sum() / (word_sse.numel() * hidden_size))

        alignment_loss = torch.stack(alignment_terms).mean()
        if settings.regularization == "english_vectors" and regularization_terms and self.regularization_weight > 0:
            regularization_loss = torch.stack(regularization_terms).mean()
        elif settings.regularization == "english_vectors" and regularization_terms:
            regularization_loss = torch.stack(regularization_terms).mean().detach()  # reported, not trained
        elif settings.regularization == "parameters" and self._drift_names and encoder is not self.reference:
            regularization_loss = self.parameter_drift(encoder)
        else:
            regularization_loss = alignment_loss.new_zeros(())
        loss = alignment_loss
        if self.regularization_weight and settings.regularization != "none":
            loss = alignment_loss + self.regularization_weight * regularization_loss

        layer_alignment_sse = torch.stack(alignment_sse, dim=1)
        layer_regularization_sse = torch.stack(regularization_sse, dim=1)
        num_layers = len(self.layers)
        alignment_count = torch.bincount(batch["link_pair"], minlength=batch_size) * hidden_size * num_layers
        if reference_layers is None:
            regularization_count = torch.zeros_like(alignment_count)
        else:
            regularization_count = torch.bincount(batch["en_word_pair"], minlength=batch_size) * hidden_size
            regularization_count = regularization_count * num_layers
        return AlignmentLossOutput(
            loss,
            alignment_loss,
            regularization_loss,
            layer_alignment_sse.sum(1),
            alignment_count,
            layer_regularization_sse.sum(1),
            regularization_count,
            layer_alignment_sse,
            layer_regularization_sse,
        )
