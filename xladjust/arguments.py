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

ALIGNERS = ("eflomal", "simalign")
SIMALIGN_METHODS = ("itermax", "argmax")
SIMALIGN_LEVELS = ("subword", "word")


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
class ParallelDataArguments:
    """Where the parallel sentences and their word alignments come from, and how they are filtered."""

    languages: list[str] = field(
        default_factory=list, metadata={"help": "Target languages, e.g. `es ru`; English is the other side."}
    )
    parallel_files: list[str] = field(
        default_factory=list, metadata={"help": "One `TARGET ||| ENGLISH` file per language, in --languages order."}
    )
    alignment_files: list[str] = field(
        default_factory=list,
        metadata={"help": "One Pharaoh `i-j` file per parallel file (i: target word). Omit to align with eflomal."},
    )
    parallel_dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub or local `datasets` dataset with a translation column (e.g. Helsinki-NLP/opus-100)."},
    )
    parallel_dataset_config_names: list[str] = field(
        default_factory=list,
        metadata={"help": "One dataset config per language (default: the codes sorted, OPUS-style: ar-en, en-es)."},
    )
    parallel_dataset_split: str = field(default="train", metadata={"help": "Split to read from the dataset."})
    aligner: str = field(
        default="eflomal",
        metadata={
            "help": "Word aligner used when no alignment file is given: eflomal, or simalign (cosine "
            "similarities of the original encoder's vectors).",
            "choices": list(ALIGNERS),
        },
    )
    simalign_method: str = field(
        default="itermax",
        metadata={"help": "SimAlign matching: itermax or argmax.", "choices": list(SIMALIGN_METHODS)},
    )
    simalign_layer: int = field(
        default=8, metadata={"help": "hidden_states index of the vectors SimAlign compares (8: SimAlign's choice)."}
    )
    simalign_level: str = field(
        default="subword",
        metadata={
            "help": "Align subwords (SimAlign's default; words linked by any subword link) or averaged words.",
            "choices": list(SIMALIGN_LEVELS),
        },
    )
    symmetrization: str = field(
        default="intersect",
        metadata={
            "help": "How forward and reverse alignments are combined.",
            "choices": ["intersect", "grow-diag-final-and"],
        },
    )
    max_train_pairs: int | None = field(
        default=None, metadata={"help": "Sample at most this many training pairs per language (with --seed)."}
    )
    validation_pairs: int = field(
        default=0, metadata={"help": "Held-out pairs per language, evaluated as eval_alignment_loss."}
    )
    max_words: int = field(default=64, metadata={"help": "Drop pairs with more words than this on either side."})
    one_to_one: bool = field(default=True, metadata={"help": "Keep only links whose words have no other link."})
    filter_identical: bool = field(default=True, metadata={"help": "Drop links between identical strings."})
    max_seq_length: int = field(
        default=128, metadata={"help": "Subword limit per sentence; links of words beyond it are dropped."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    def __post_init__(self) -> None:
        if self.aligner not in ALIGNERS:
            raise InputError(f"--aligner {self.aligner!r} is not supported; expected one of {list(ALIGNERS)}")
        if self.simalign_method not in SIMALIGN_METHODS or self.simalign_level not in SIMALIGN_LEVELS:
            raise InputError(
                f"--simalign_method must be one of {list(SIMALIGN_METHODS)} and --simalign_level one of "
                f"{list(SIMALIGN_LEVELS)}"
            )
        if self.max_words < 1 or self.max_seq_length < 4 or self.validation_pairs < 0:
            raise InputError("--max_words, --max_seq_length and --validation_pairs must be positive")


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
