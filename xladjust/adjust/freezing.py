"""Layer freezing during the adjustment (AlignFreeze, Bakos et al. 2025): which encoder parameters ``--freeze`` names.

``--freeze`` takes any of ``embeddings`` (the embedding module: word, position and type embeddings and their
LayerNorm), ``N`` or ``N-M`` (transformer layers, 0-based, both ends included), ``lower_half`` (layers
``0 .. L//2 - 1``) and ``upper_half`` (layers ``L - L//2 .. L - 1``), as AlignFreeze's code splits a model's
layers (its halves never include the embeddings). The words are checked when the options are parsed; the layer
numbers against the encoder when the objective is built (:func:`resolve_frozen`).

What "frozen" does depends on who trains the encoder:

- run_adjust.py: the parameters are ``requires_grad=False`` before the optimizer is built, so they are neither in
  the optimizer nor in DDP's gradient bookkeeping, and the saved encoder holds them bit for bit unchanged;
- continual learning (``--align_freeze``): the task loss still trains every layer; the adjustment's terms
  (alignment and regulariser) give the frozen parameters no gradient (:func:`no_gradient_from` around the
  objective's forward), as AlignFreeze's realignment during fine-tuning leaves the frozen half to the task.

Either way the frozen parameters are outside the parameter regulariser's drift.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xladjust.errors import InputError

HALVES = ("lower_half", "upper_half")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def check_freeze(specs: Sequence[str], flag: str = "--freeze") -> list[str]:
    """The ``--freeze`` words, checked (a bad word is an InputError naming it) and without repeats, in order."""
    checked = []
    for spec in specs:
        spec = spec.strip()
        match = _RANGE.fullmatch(spec)
        if spec not in ("embeddings", *HALVES) and match is None:
            raise InputError(
                f"{flag} {spec!r}: expected embeddings, lower_half, upper_half, a layer number N or a range N-M "
                "(0-based transformer layers, both ends included)"
            )
        if match is not None and match[2] is not None and int(match[2]) < int(match[1]):
            raise InputError(f"{flag} {spec!r}: the range ends before it starts")
        if spec not in checked:
            checked.append(spec)
    return checked


def transformer_layers(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    """The encoder's list of transformer layers (``encoder.layer`` in BERT and XLM-R, ``transformer.layer`` in
    DistilBERT): the one ``ModuleList`` with ``config.num_hidden_layers`` entries."""
    count = encoder.config.num_hidden_layers
    found = [(name, m) for name, m in encoder.named_modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if len(found) != 1:
        raise InputError(
            f"cannot tell the {count} transformer layers of {type(encoder).__name__} apart "
            f"({len(found)} module lists of that length), so --freeze cannot name them"
        )
    return found[0]


@dataclass(frozen=True)
class FrozenPart:
    """What ``--freeze`` resolved to on one encoder: the embeddings or not, the layers, the parameter names."""

    specs: tuple[str, ...] = ()
    embeddings: bool = False
    layers: tuple[int, ...] = ()
    num_layers: int = 0
    names: tuple[str, ...] = ()
    frozen_parameters: int = 0  # elements
    total_parameters: int = 0
    tensors: tuple[torch.nn.Parameter, ...] = field(default=(), repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.names)

    def describe(self) -> str:
        """E.g. "the embeddings and layers 0-5 of 12"; "nothing" when empty."""
        parts = ["the embeddings"] if self.embeddings else []
        runs: list[list[int]] = []
        for layer in self.layers:
            if runs and layer == runs[-1][1] + 1:
                runs[-1][1] = layer
            else:
                runs.append([layer, layer])
        if runs:
            numbers = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
            parts.append(f"{'layer' if len(self.layers) == 1 else 'layers'} {numbers} of {self.num_layers}")
        return " and ".join(parts) or "nothing"

    def as_dict(self) -> dict[str, Any]:
        return {
            "freeze": list(self.specs),
            "embeddings": self.embeddings,
            "layers": list(self.layers),
            "frozen_parameters": self.frozen_parameters,
            "total_parameters": self.total_parameters,
        }

    def freeze(self) -> None:
        """``requires_grad=False`` for good: out of the optimizer (built later) and of DDP's reducer."""
        for parameter in self.tensors:
            parameter.requires_grad_(False)


def resolve_frozen(encoder: nn.Module, specs: Sequence[str]) -> FrozenPart:
    """The parameters of ``encoder`` that ``specs`` (checked ``--freeze`` words) name; layer numbers beyond the
    encoder's are an InputError."""
    if not specs:
        return FrozenPart()
    count = encoder.config.num_hidden_layers
    prefix, _ = transformer_layers(encoder)
    if count < 2 and any(spec in HALVES for spec in specs):
        raise InputError(f"--freeze {' '.join(specs)}: an encoder of {count} layer has no halves")
    layers: set[int] = set()
    embeddings = False
    for spec in specs:
        if spec == "embeddings":
            embeddings = True
        elif spec == "lower_half":
            layers.update(range(count // 2))
        elif spec == "upper_half":
            layers.update(range(count - count // 2, count))
        else:
            match = _RANGE.fullmatch(spec)
            first, last = int(match[1]), int(match[2] or match[1])
            if last >= count:
                raise InputError(f"--freeze {spec}: the encoder has layers 0-{count - 1}")
            layers.update(range(first, last + 1))
    if embeddings and not isinstance(getattr(encoder, "embeddings", None), nn.Module):
        raise InputError(f"--freeze embeddings: {type(encoder).__name__} has no `embeddings` module")
    prefixes = [f"{prefix}.{layer}." for layer in sorted(layers)] + (["embeddings."] if embeddings else [])
    named = [(name, p) for name, p in encoder.named_parameters() if name.startswith(tuple(prefixes))]
    return FrozenPart(
        specs=tuple(specs),
        embeddings=embeddings,
        layers=tuple(sorted(layers)),
        num_layers=count,
        names=tuple(name for name, _ in named),
        frozen_parameters=sum(p.numel() for _, p in named),
        total_parameters=sum(p.numel() for p in encoder.parameters()),
        tensors=tuple(p for _, p in named),
    )


def check_something_trains(frozen: FrozenPart, hidden_states: Sequence[int]) -> None:
    """Each aligned ``hidden_states`` index h is made by the embeddings and layers ``0 .. h-1``: if all of those are
    frozen for every aligned h, the adjustment has nothing to train."""
    if not frozen:
        return
    for h in hidden_states:
        if not frozen.embeddings or any(layer not in frozen.layers for layer in range(h)):
            return
    raise InputError(
        f"--freeze {' '.join(frozen.specs)} freezes {frozen.describe()}: everything that makes the aligned hidden "
        f"states {list(hidden_states)}, so the adjustment would train nothing"
    )


@contextlib.contextmanager
def no_gradient_from(parameters: Sequence[torch.nn.Parameter]) -> Iterator[None]:
    """Within the block, operations record no gradient path to ``parameters`` (``requires_grad`` off, then back as it
    was): a loss computed inside gives them no gradient, while other losses of the same backward still do."""
    previous = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, requires_grad in zip(parameters, previous, strict=True):
            parameter.requires_grad_(requires_grad)
