"""Argument dataclasses shared by the scripts (parsed by ``HfArgumentParser``, also from a JSON file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xladjust.adjust.objective import (
    ALIGNMENT_LOSSES,
    ALIGNMENT_TARGETS,
    CONTRASTIVE_NEGATIVES,
    REGULARIZATIONS,
    ObjectiveOptions,
)
from xladjust.adjust.pooling import POOLING_MODES
from xladjust.errors import InputError


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="google-bert/bert-base-multilingual-cased",
        metadata={"help": "Encoder to start from: a Hub id or a local folder (e.g. one run_adjust.py wrote)."},
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's own."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the Hub."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a Hub model."})
    token: str | None = field(default=None, metadata={"help": "Hub token (defaults to the cached login)."})


@dataclass
class AlignmentArguments:
    """The adjustment loss: alignment term + λ · regulariser towards the frozen original encoder."""

    word_pooling: str = field(
        default="avg", metadata={"help": "Word vector from its subwords.", "choices": list(POOLING_MODES)}
    )
    layer: int | None = field(
        default=-1, metadata={"help": "Hidden layer to align (0 = embeddings, -1 = last); alias of --layers N."}
    )
    include_cls_sep: bool = field(default=True, metadata={"help": "Link CLS↔CLS and SEP↔SEP of every pair."})
    regularization_weight: float = field(
        default=1.0, metadata={"help": "λ: weight of mse(English vectors, frozen original English vectors)."}
    )

    def __post_init__(self) -> None:
        if self.word_pooling not in POOLING_MODES:
            raise InputError(f"unknown --word_pooling {self.word_pooling!r}; expected one of {list(POOLING_MODES)}")
        if self.regularization_weight < 0:
            raise InputError("--regularization_weight must be >= 0")


@dataclass
class AdjustmentMethodArguments:
    """Variants of the adjustment objective (defaults: the paper's); see docs/run_adjust.md, "Methods"."""

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
    regularization: str = field(
        default="english_vectors",
        metadata={
            "help": "english_vectors (the paper), parameters (λ · squared L2 distance of the weights from "
            "their initial values; Wu & Dredze 2020) or none.",
            "choices": list(REGULARIZATIONS),
        },
    )
    layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "Hidden layers aligned (and regularised) together, terms averaged, e.g. `8 12`; "
            "default: --layer (-1, the last)."
        },
    )

    def __post_init__(self) -> None:
        self.objective_options()  # validates

    def take_layer_alias(self, loss_args: AlignmentArguments) -> None:
        """Resolve ``--layers`` against its alias ``--layer``; ``loss_args.layer`` becomes None for several layers."""
        self.layers = resolve_layers(loss_args.layer, self.layers)
        loss_args.layer = self.layers[0] if len(self.layers) == 1 else None

    def objective_options(self) -> ObjectiveOptions:
        return ObjectiveOptions(
            self.alignment_target,
            self.alignment_loss,
            self.contrastive_negatives,
            self.temperature,
            self.projection_layers,
            self.regularization,
        )


def resolve_layers(layer: int | None, layers: list[int] | None, flag: str = "--layers") -> list[int]:
    """The aligned layers from ``--layers`` and its one-layer alias ``--layer``, which must not disagree."""
    if not layers:
        return [-1 if layer is None else layer]
    if layer not in (None, -1) and list(layers) != [layer]:
        alias = flag.replace("layers", "layer")
        raise InputError(f"{alias} {layer} and {flag} {' '.join(map(str, layers))} disagree; give one of them")
    return list(layers)
