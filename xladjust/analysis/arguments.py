"""The options of run_analysis.py; its evaluation pairs come with
:class:`~xladjust.data.parallel_arguments.ParallelDataArguments`."""

from __future__ import annotations

from dataclasses import dataclass, field

from xladjust.adjust.pooling import POOLING_MODES
from xladjust.analysis.comparisons import COMPARISONS
from xladjust.analysis.sentence_retrieval import RETRIEVAL_CORPORA
from xladjust.analysis.word_distances import METRICS, SAMPLING_MODES
from xladjust.errors import InputError

ANALYSES = ("distances", "word_retrieval", "sentence_retrieval")


@dataclass
class AnalysisArguments:
    """Models, output, layers and which analyses run (``HfArgumentParser`` fields)."""

    models: list[str] = field(
        default_factory=list, metadata={"help": "LABEL=MODEL pairs: encoders or task models (their encoder is used)."}
    )
    output_dir: str = field(default="analysis_output", metadata={"help": "Where figures and results go."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Write into a non-empty --output_dir."})
    layers: list[int] = field(default_factory=lambda: [-1], metadata={"help": "hidden_states indices (-1: last)."})
    distance: str = field(default="cosine", metadata={"choices": [*METRICS, "both"]})
    word_pooling: str = field(default="avg", metadata={"choices": list(POOLING_MODES)})
    unrelated: str = field(
        default="same_pair", metadata={"help": "Where unrelated words come from.", "choices": list(SAMPLING_MODES)}
    )
    analyses: list[str] = field(default_factory=lambda: list(ANALYSES), metadata={"help": f"Any of {ANALYSES}."})
    comparisons: str = field(
        default="paper",
        metadata={
            "help": "Model pairs A → B compared: the paper's (original → adjusted, ENCODER → ENCODER+TASK, "
            "original+TASK → adjusted+TASK) or every pair.",
            "choices": list(COMPARISONS),
        },
    )
    retrieval_corpus: str = field(
        default="pairs",
        metadata={
            "help": "Sentence retrieval on the evaluation pairs, or on Tatoeba (XTREME's protocol).",
            "choices": list(RETRIEVAL_CORPORA),
        },
    )
    tatoeba_dir: str | None = field(
        default=None, metadata={"help": "Folder with tatoeba.spa-eng.spa + tatoeba.spa-eng.eng ... (default: Hub)."}
    )
    sentence_special_tokens: bool = field(
        default=True, metadata={"help": "Average [CLS]/[SEP] into sentence vectors too (XTREME does)."}
    )
    max_pairs: int | None = field(default=None, metadata={"help": "Sample at most this many pairs per language."})
    seed: int = field(default=42, metadata={"help": "Seed of the pair sample and of the unrelated words."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per forward pass."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)."})

    def __post_init__(self) -> None:
        unknown = set(self.analyses) - set(ANALYSES)
        if unknown:
            raise InputError(f"unknown --analyses {sorted(unknown)}; expected any of {list(ANALYSES)}")
        if not self.models:
            raise InputError(
                "--models is empty; expected LABEL=MODEL pairs, e.g. base=google-bert/bert-base-multilingual-cased"
            )

    def model_paths(self) -> dict[str, str]:
        labelled = {}
        for item in self.models:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                raise InputError(f"--models entry {item!r} is not LABEL=MODEL")
            if label in labelled:
                raise InputError(f"--models repeats the label {label!r}")
            labelled[label] = path
        return labelled
