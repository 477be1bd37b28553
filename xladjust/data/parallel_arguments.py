"""The parallel-data options of run_adjust.py, run_analysis.py and continual learning's pool (``HfArgumentParser``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xladjust.errors import InputError

ALIGNERS = ("eflomal", "simalign", "dictionary")
SIMALIGN_METHODS = ("itermax", "argmax")
SIMALIGN_LEVELS = ("subword", "word")


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
        metadata={
            "help": "Hub or local `datasets` dataset of sentence pairs, e.g. "
            "sentence-transformers/parallel-sentences-wikimatrix (`english`/`non_english` columns) or "
            "Helsinki-NLP/opus-100 (a `translation` column)."
        },
    )
    parallel_dataset_config_names: list[str] = field(
        default_factory=list,
        metadata={"help": "One dataset config per language (default: the codes sorted, OPUS-style: ar-en, en-es)."},
    )
    parallel_dataset_split: str = field(default="train", metadata={"help": "Split to read from the dataset."})
    parallel_columns: list[str] = field(
        default_factory=list,
        metadata={
            "help": "The dataset's columns: ENGLISH TARGET (two string columns, English first; `{lang}` is the "
            "target language, e.g. `en {lang}`), or the one column of {'en': ..., LANG: ...} dicts. Default: a "
            "`translation` column, else sentence-transformers' `english non_english`."
        },
    )
    aligner: str = field(
        default="eflomal",
        metadata={
            "help": "Word aligner used when no alignment file is given: eflomal, simalign (cosine "
            "similarities of the original encoder's vectors) or dictionary (pairs of --dictionary_files).",
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
    dictionary_files: list[str] = field(
        default_factory=list,
        metadata={
            "help": "With --aligner dictionary: a bilingual dictionary per language in the MUSE format (`SOURCE "
            "TARGET` per line, either direction), as LANG=PATH entries or one PATH with {lang} in it."
        },
    )
    filter_model: str | None = field(
        default=None,
        metadata={
            "help": "Score every pair by the cosine of its two mean-pooled sentence embeddings from this encoder "
            "(folder or Hub name, e.g. sentence-transformers/LaBSE) and keep the best (--filter_keep) or those "
            "above --filter_min_score, before --max_train_pairs samples."
        },
    )
    filter_keep: float | None = field(
        default=None, metadata={"help": "With --filter_model: the fraction of pairs kept, best scores first."}
    )
    filter_min_score: float | None = field(
        default=None, metadata={"help": "With --filter_model: keep the pairs whose cosine is at least this."}
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
        default=256,
        metadata={
            "help": "Subword limit per sentence (at most the model's); links of words beyond it are dropped. "
            "256 cuts no pair of --max_words 64 words below 4 subwords a word (docs/run_adjust.md)."
        },
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
        if (self.aligner == "dictionary") != bool(self.dictionary_files):
            raise InputError("--aligner dictionary and --dictionary_files go together: give both or neither")
        check_filter(self.filter_model, self.filter_keep, self.filter_min_score)


def check_filter(model: str | None, keep: float | None, min_score: float | None, prefix: str = "") -> None:
    """The pair filter's options: a model and exactly one of a fraction in (0, 1] or a cosine in [-1, 1]."""
    flags = {name: f"--{prefix}filter_{name}" for name in ("model", "keep", "min_score")}
    if model is None:
        if keep is not None or min_score is not None:
            raise InputError(f"{flags['keep']} and {flags['min_score']} need {flags['model']}")
        return
    if (keep is None) == (min_score is None):
        raise InputError(f"{flags['model']} needs one of {flags['keep']} or {flags['min_score']}")
    if keep is not None and not 0 < keep <= 1:
        raise InputError(f"{flags['keep']} must be in (0, 1], got {keep}")
    if min_score is not None and not -1 <= min_score <= 1:
        raise InputError(f"{flags['min_score']} is a cosine, in [-1, 1], got {min_score}")
