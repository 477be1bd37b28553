"""Argument dataclasses shared by the scripts (parsed by ``HfArgumentParser``, also from a JSON file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xladjust.adjust.pooling import POOLING_MODES
from xladjust.errors import InputError


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="bert-base-multilingual-cased",
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
    aligner: str = field(default="eflomal", metadata={"help": "Word aligner used when no alignment file is given."})
    symmetrization: str = field(
        default="intersect", metadata={"help": "How forward and reverse alignments are combined.",
                                       "choices": ["intersect", "grow-diag-final-and"]}
    )  # fmt: skip
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
        if self.aligner != "eflomal":
            raise InputError(f"--aligner {self.aligner!r} is not supported; expected 'eflomal'")
        if self.max_words < 1 or self.max_seq_length < 4 or self.validation_pairs < 0:
            raise InputError("--max_words, --max_seq_length and --validation_pairs must be positive")


@dataclass
class AlignmentArguments:
    """The adjustment loss: alignment term + λ · regulariser towards the frozen original encoder."""

    word_pooling: str = field(
        default="avg", metadata={"help": "Word vector from its subwords.", "choices": list(POOLING_MODES)}
    )
    layer: int = field(default=-1, metadata={"help": "Hidden layer to align (0 = embeddings, -1 = last)."})
    include_cls_sep: bool = field(default=True, metadata={"help": "Link CLS↔CLS and SEP↔SEP of every pair."})
    regularization_weight: float = field(
        default=1.0, metadata={"help": "λ: weight of mse(English vectors, frozen original English vectors)."}
    )

    def __post_init__(self) -> None:
        if self.word_pooling not in POOLING_MODES:
            raise InputError(f"unknown --word_pooling {self.word_pooling!r}; expected one of {list(POOLING_MODES)}")
        if self.regularization_weight < 0:
            raise InputError("--regularization_weight must be >= 0")
