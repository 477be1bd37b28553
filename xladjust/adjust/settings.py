"""The adjustment objective's settings, in one place: run_adjust.py's options and, prefixed, continual learning's.

:class:`ObjectiveSettings` is what :class:`~xladjust.adjust.objective.AlignmentObjective` takes whole; its defaults
are the paper's objective (Efimov et al. 2023). The task scripts take the same settings as ``--align_*`` options:
:func:`prefixed_twin` generates that dataclass from this one (same defaults, help and choices), and its
``to_settings()`` converts a parsed twin back. A new setting is one field here; both families of flags follow.
The variants and their sources are in docs/run_adjust.md ("Methods").
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from xladjust.adjust.freezing import check_freeze
from xladjust.adjust.pooling import POOLING_MODES
from xladjust.errors import InputError

ALIGNMENT_TARGETS = ("trained", "frozen")
ALIGNMENT_LOSSES = ("mse", "contrastive")
CONTRASTIVE_NEGATIVES = ("linked", "all")
PROJECTION_LAYERS = (0, 2)
REGULARIZATIONS = ("english_vectors", "parameters", "none")


@dataclass
class ObjectiveSettings:
    """The adjustment loss: alignment term + λ · regulariser towards the frozen original encoder, and its variants."""

    word_pooling: str = field(
        default="avg", metadata={"help": "Word vector from its subwords.", "choices": list(POOLING_MODES)}
    )
    layer: int | None = field(
        default=-1, metadata={"help": "Hidden layer to align (0 = embeddings, -1 = last); alias of --layers N."}
    )
    layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "Hidden layers aligned (and regularised) together, terms averaged, e.g. `8 12`; "
            "default: --layer (-1, the last)."
        },
    )
    include_cls_sep: bool = field(default=True, metadata={"help": "Link CLS↔CLS and SEP↔SEP of every pair."})
    regularization_weight: float = field(
        default=1.0, metadata={"help": "λ: weight of the regulariser (see --regularization)."}
    )
    regularization: str = field(
        default="english_vectors",
        metadata={
            "help": "english_vectors (the paper: mse of English vectors to the frozen original's), parameters "
            "(λ · squared L2 distance of the weights from their initial values; Wu & Dredze 2020) or none.",
            "choices": list(REGULARIZATIONS),
        },
    )
    alignment_target: str = field(
        default="trained",
        metadata={
            "help": "English side of the alignment term: the encoder being trained (Efimov et al.) or the "
            "frozen original (Cao et al. 2020).",
            "choices": list(ALIGNMENT_TARGETS),
        },
    )
    alignment_loss: str = field(
        default="mse",
        metadata={
            "help": "mse (the paper) or contrastive InfoNCE over cosine similarities (Wu & Dredze 2020).",
            "choices": list(ALIGNMENT_LOSSES),
        },
    )
    contrastive_negatives: str = field(
        default="linked",
        metadata={
            "help": "Contrastive candidates: the other linked words of the batch (weak) or every word of "
            "both sides of the batch (strong).",
            "choices": list(CONTRASTIVE_NEGATIVES),
        },
    )
    temperature: float = field(default=0.1, metadata={"help": "InfoNCE temperature."})
    projection_layers: int = field(
        default=0, metadata={"help": "0, or 2: a ReLU MLP applied for the contrastive loss only (never saved)."}
    )
    freeze: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Encoder parameters the adjustment leaves unchanged (AlignFreeze, Bakos et al. 2025): any of "
            "embeddings, lower_half, upper_half, a layer N or a range N-M (0-based, inclusive), e.g. `embeddings "
            "0-5`. In continual learning the task loss still trains them; the alignment terms give them no gradient."
        },
    )

    def __post_init__(self) -> None:
        choices = {
            "word_pooling": POOLING_MODES,
            "alignment_target": ALIGNMENT_TARGETS,
            "alignment_loss": ALIGNMENT_LOSSES,
            "contrastive_negatives": CONTRASTIVE_NEGATIVES,
            "projection_layers": PROJECTION_LAYERS,
            "regularization": REGULARIZATIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"--{name} {getattr(self, name)!r} is not one of {list(allowed)}")
        if not self.temperature > 0:
            raise InputError(f"--temperature must be > 0, got {self.temperature}")
        if self.regularization_weight < 0:
            raise InputError("--regularization_weight must be >= 0")
        self.freeze = check_freeze(self.freeze)
        # --layer is the one-layer alias of --layers: resolved once, so both always agree.
        self.layers = resolve_layers(self.layer, self.layers)
        self.layer = self.layers[0] if len(self.layers) == 1 else None

    @property
    def regularizes(self) -> bool:
        return self.regularization != "none" and self.regularization_weight > 0

    @property
    def needs_reference(self) -> bool:
        """Whether the loss reads the frozen original encoder (an English-vector regulariser or a frozen target)."""
        return self.alignment_target == "frozen" or (self.regularizes and self.regularization == "english_vectors")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_layers(layer: int | None, layers: list[int] | None, flag: str = "--layers") -> list[int]:
    """The aligned layers from ``--layers`` and its one-layer alias ``--layer``, which must not disagree."""
    if not layers:
        return [-1 if layer is None else layer]
    if layer not in (None, -1) and list(layers) != [layer]:
        alias = flag.replace("layers", "layer")
        raise InputError(f"{alias} {layer} and {flag} {' '.join(map(str, layers))} disagree; give one of them")
    return list(layers)


def prefixed_twin(settings_class: type, prefix: str, name: str, doc: str) -> type:
    """A dataclass with every field of ``settings_class`` as ``{prefix}{field}`` (same type, default, help, choices).

    Its ``to_settings()`` returns the ``settings_class`` instance; it is called once after parsing, so a bad value
    is refused at once, with the flag named as the user typed it (``--align_temperature``).
    """
    hints = typing.get_type_hints(settings_class)
    specs = []
    for original in dataclasses.fields(settings_class):
        metadata = dict(original.metadata)
        if "help" in metadata:  # flags named in the help are the prefixed ones here
            metadata["help"] = metadata["help"].replace("--", f"--{prefix}")
        default: dict[str, Any] = {"metadata": metadata}
        if original.default_factory is not dataclasses.MISSING:
            default["default_factory"] = original.default_factory
        else:
            default["default"] = original.default
        specs.append((prefix + original.name, hints[original.name], field(**default)))

    def to_settings(self: Any) -> Any:
        values = {f.name: getattr(self, prefix + f.name) for f in dataclasses.fields(settings_class)}
        try:
            return settings_class(**values)
        except InputError as error:
            raise InputError(str(error).replace("--", f"--{prefix}")) from None

    def post_init(self: Any) -> None:
        settings = self.to_settings()
        for original in dataclasses.fields(settings_class):  # resolved values (e.g. the layer alias) back in
            setattr(self, prefix + original.name, getattr(settings, original.name))

    twin = dataclasses.make_dataclass(
        name, specs, namespace={"to_settings": to_settings, "__post_init__": post_init, "__doc__": doc}
    )
    twin.__module__ = settings_class.__module__
    return twin


AlignObjectiveArguments = prefixed_twin(
    ObjectiveSettings,
    "align_",
    "AlignObjectiveArguments",
    "The objective of continual learning: :class:`ObjectiveSettings` as ``--align_*`` options.",
)
