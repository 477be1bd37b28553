"""What the task scripts share (run_xnli.py, run_ner.py, run_qa.py).

A task script fine-tunes an encoder on English training data and evaluates it zero-shot on every language of
``--eval_languages`` in the same run. The pieces here keep each script the story of one experiment:

- :class:`TaskTrainingArguments` (each script subclasses it with the paper's learning rate and epochs) and
  :class:`TaskDataArguments` (languages, local files, lengths, sample caps), parsed by ``HfArgumentParser``;
- :func:`load_eval_sets`: one :class:`EvalSet` per requested split and language, from a local file or the Hub;
- :func:`load_tokenizer`, :func:`load_task_model`: any encoder folder or Hub name, a bare encoder written by
  run_adjust.py included, with the task's label mapping written into (and checked against) the model config;
- :func:`setup_continual_learning`: the parallel pool and frozen reference of ``TaskTrainer(continual=...)``;
- after training (:meth:`~xladjust.trainer.XLTrainer.train_and_save`): :func:`evaluate_languages`, then
  :meth:`~xladjust.trainer.XLTrainer.publish`.

Evaluation files. ``--validation_files`` (read with ``--do_eval``) and ``--test_files`` (``--do_predict``) take
entries of two kinds:

- ``LANG=PATH``: the file of language LANG (which must be one of ``--eval_languages``);
- ``PATH``: the file of every other language, ``{lang}`` replaced by the language code
  (``data/dev.{lang}.jsonl``). Without ``{lang}``, one file serves several languages only when its rows name
  their language (the original XNLI tsv with its ``language`` column); otherwise that is an error.

A language without a file is read from the Hub (the script's dataset, split ``validation`` or ``test``).

Metrics: ``{split}_{lang}_{metric}`` with split ``eval`` (validation) or ``predict`` (test), e.g.
``eval_es_accuracy`` or ``predict_ru_f1``; ``{split}_{lang}_samples`` counts the examples, and
``{split}_avg_{metric}`` is the mean over the non-English languages (the zero-shot average). They go to
``{split}_results.json`` and ``all_results.json``.

Predictions: ``predictions/{split}_{lang}.jsonl`` in the output folder, one JSON object per example in file
order, ``{"id": ..., "gold": ..., "predicted": ...}`` (label names; lists of word tags for NER), so that
significance tests can be run later on the same examples.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments

from xladjust.adjust.continual import ContinualAlignment, ContinualLearningArguments, build_continual_alignment
from xladjust.arguments import ModelArguments
from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.errors import InputError
from xladjust.io import strict, write_text
from xladjust.model_card import CardEvaluation, ModelCardInfo
from xladjust.tasks.metrics import average_over_languages
from xladjust.tasks.nli import check_label_mapping, check_language, set_label_mapping
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)

HUB_SPLITS = {"eval": "validation", "predict": "test"}
"""Metric prefix of an evaluation → the dataset split it reads."""

# Tokenizers that only accept pre-split words with a prefix space (byte-level BPE), as in the transformers example.
_BYTE_LEVEL_MODELS = {"bloom", "gpt2", "roberta", "deberta", "longformer", "bart"}
_LANGUAGE_CODE = re.compile(r"[A-Za-z][A-Za-z-]*")


# ---------------------------------------------------------------------------------------------------------------
# Arguments


@dataclass
class TaskTrainingArguments(TrainingArguments):
    """TrainingArguments of the task scripts: the paper's batch of 32; subclasses set the learning rate, epochs."""

    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training examples per device and step."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Write into a non-empty --output_dir (transformers v5 dropped this flag)."}
    )


@dataclass
class TaskDataArguments:
    """Languages and data of a task script; subclasses name the benchmark and add task options."""

    eval_languages: list[str] = field(
        default_factory=lambda: ["en", *PAPER_LANGUAGES],
        metadata={"help": "Languages evaluated (zero-shot except English); the average leaves English out."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Local English training file (default: Hub)."})
    validation_files: list[str] = field(
        default_factory=list,
        metadata={
            "help": "With --do_eval: `LANG=PATH` entries and/or one PATH for the other languages, where "
            "`{lang}` is replaced by the language code. Languages without a file: Hub."
        },
    )
    test_files: list[str] = field(
        default_factory=list, metadata={"help": "With --do_predict: like --validation_files, for the test split."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Subwords per example; longer inputs are truncated."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N examples only."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on the first N examples of every language and split only."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    known_languages: ClassVar[Sequence[str]] = ()
    benchmark: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not self.eval_languages:
            raise InputError("--eval_languages needs at least one language")
        for language in self.eval_languages:
            check_language(language, self.known_languages, self.benchmark)
        if len(set(self.eval_languages)) != len(self.eval_languages):
            raise InputError(f"--eval_languages lists a language twice: {' '.join(self.eval_languages)}")
        if self.max_seq_length < 8:
            raise InputError("--max_seq_length must be at least 8")
        for name in ("max_train_samples", "max_eval_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"--{name} must be positive")
        self._files = {
            "eval": _parse_file_entries(self.validation_files, "--validation_files", self.eval_languages),
            "predict": _parse_file_entries(self.test_files, "--test_files", self.eval_languages),
        }

    def eval_file(self, split: str, language: str) -> tuple[str | None, bool]:
        """``(path, shared)``: the local file of a language and split (None: Hub), and whether other languages
        read the same file (a default PATH without ``{lang}``)."""
        explicit, default = self._files[split]
        if language in explicit:
            return explicit[language], False
        if default is None:
            return None, False
        users = [lang for lang in self.eval_languages if lang not in explicit]
        return default.replace("{lang}", language), "{lang}" not in default and len(users) > 1


def _parse_file_entries(
    entries: Sequence[str], flag: str, languages: Sequence[str]
) -> tuple[dict[str, str], str | None]:
    """``({language: path}, default PATH or None)``; ``LANG=`` is recognised by a language-code-like LANG."""
    explicit: dict[str, str] = {}
    default = None
    for entry in entries:
        language, separator, path = entry.partition("=")
        if separator and _LANGUAGE_CODE.fullmatch(language):
            if language not in languages:
                raise InputError(f"{flag}: {language!r} is not one of --eval_languages ({' '.join(languages)})")
            if language in explicit or not path:
                raise InputError(f"{flag}: {entry!r} repeats a language or has no path")
            explicit[language] = path
        elif default is not None:
            raise InputError(f"{flag}: at most one PATH without `LANG=` (found {default!r} and {entry!r})")
        else:
            default = entry
    return explicit, default


# ---------------------------------------------------------------------------------------------------------------
# Evaluation sets


@dataclass
class EvalSet:
    """One language's validation (``split="eval"``) or test (``split="predict"``) set."""

    split: str
    language: str
    examples: Any  # datasets.Dataset with an ``id`` column and the gold labels
    source: str
    features: Any = None  # the tokenised examples, one row per example

    @property
    def prefix(self) -> str:
        return f"{self.split}_{self.language}"


Reader = Callable[[str, str, str | None, bool], Any]
"""``read(language, hub_split, path_or_None, shared) -> datasets.Dataset``: a task's reader of one set."""


def first_examples(dataset: Any, limit: int | None) -> Any:
    return dataset if limit is None or limit >= len(dataset) else dataset.select(range(limit))


def load_eval_sets(data_args: TaskDataArguments, training_args: TrainingArguments, read: Reader) -> list[EvalSet]:
    """Read the validation (``--do_eval``) and test (``--do_predict``) set of every language, before training,
    so that a bad file stops the run before any time is spent."""
    eval_sets = []
    for split, wanted in (("eval", training_args.do_eval), ("predict", training_args.do_predict)):
        if not wanted:
            continue
        for language in data_args.eval_languages:
            path, shared = data_args.eval_file(split, language)
            if path is None:
                logger.info("%s %s: no local file given, reading the Hub", language, HUB_SPLITS[split])
            examples = first_examples(read(language, HUB_SPLITS[split], path, shared), data_args.max_eval_samples)
            eval_sets.append(EvalSet(split, language, examples, path or f"Hub ({HUB_SPLITS[split]})"))
    return eval_sets


def tokenize(dataset: Any, function: Callable, data_args: TaskDataArguments, training_args: TrainingArguments) -> Any:
    """``dataset.map(function, batched=True)`` keeping only the new columns, once (main process first)."""
    with training_args.main_process_first(desc="tokenizing"):
        return dataset.map(
            function,
            batched=True,
            num_proc=data_args.preprocessing_num_workers,
            remove_columns=dataset.column_names,
            desc="Tokenizing",
        )


def tokenize_eval_sets(
    eval_sets: Sequence[EvalSet], function: Callable, data_args: TaskDataArguments, training_args: TrainingArguments
) -> list[EvalSet]:
    return [
        dataclasses.replace(s, features=tokenize(s.examples, function, data_args, training_args)) for s in eval_sets
    ]


def eval_datasets_during_training(eval_sets: Sequence[EvalSet], training_args: TrainingArguments) -> Any:
    """The validation sets by language, for ``--eval_strategy steps|epoch`` (metrics ``eval_{lang}_...``)."""
    if training_args.eval_strategy == "no":
        return None
    return {s.language: s.features for s in eval_sets if s.split == "eval"} or None


def predicted_ids(logits: Any, labels: Any) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: keep the argmax only, so predictions gather as ids, not logits."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer, model, continual learning


def _hub_options(model_args: ModelArguments) -> dict[str, Any]:
    return {"cache_dir": model_args.cache_dir, "revision": model_args.model_revision, "token": model_args.token}


@contextlib.contextmanager
def _reported_as_input_error(what: str, name: str) -> Iterator[None]:
    """A model or tokenizer that cannot be found (no such folder, no such Hub id offline) is a user error."""
    try:
        yield
    except OSError as error:
        raise InputError(f"cannot load the {what}: {str(error).strip().splitlines()[0]}", name) from None


def load_tokenizer(model_args: ModelArguments, pretokenized: bool = False) -> PreTrainedTokenizerBase:
    """The model's (or ``--tokenizer_name``'s) tokenizer; ``pretokenized``: inputs are lists of words."""
    options = _hub_options(model_args)
    name = model_args.tokenizer_name or model_args.model_name_or_path
    with _reported_as_input_error("tokenizer", name):
        if pretokenized:
            model_type = AutoConfig.from_pretrained(model_args.model_name_or_path, **options).model_type
            if model_type in _BYTE_LEVEL_MODELS:
                options["add_prefix_space"] = True
        return AutoTokenizer.from_pretrained(name, **options)


def load_task_model(auto_class: Any, model_args: ModelArguments, labels: Sequence[str]) -> PreTrainedModel:
    """A task model over ``labels`` (in id order) from an encoder or a task model; the mapping goes into its config.

    A head of the same size is kept, so its label mapping must be ``labels`` (else :class:`InputError`); a head of
    another size, or none (a bare encoder, e.g. from run_adjust.py), is replaced by a new one.
    """
    path = model_args.model_name_or_path
    with _reported_as_input_error("model configuration", path):
        config = AutoConfig.from_pretrained(path, **_hub_options(model_args))
    if config.num_labels != len(labels):
        logger.info("%s has no head for %d labels: a new one is trained", path, len(labels))
    elif check_label_mapping(config, labels, path):
        logger.info("%s already has a head for %s: it is kept", path, ", ".join(labels))
    set_label_mapping(config, labels)
    return auto_class.from_pretrained(path, config=config, ignore_mismatched_sizes=True, **_hub_options(model_args))


def setup_continual_learning(
    args: ContinualLearningArguments,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    training_args: TrainingArguments,
) -> ContinualAlignment | None:
    """The pool of parallel pairs and the frozen copy of the encoder as it is now (before any fine-tuning step)."""
    if not args.enabled:
        return None
    if not training_args.do_train:
        logger.warning("continual learning options are ignored without --do_train")
        return None
    # Process 0 first: it may write eflomal alignments that the others then reuse.
    with training_args.main_process_first(desc="continual learning pool"):
        return build_continual_alignment(args, model, tokenizer, training_args.seed, training_args.output_dir)


# ---------------------------------------------------------------------------------------------------------------
# Train, evaluate, publish


Decoder = Callable[[EvalSet, Any], tuple[dict[str, float], list[dict[str, Any]]]]
"""``decode(eval_set, predictions) -> (metrics, records)``: scores of one set and its predictions-file lines."""


def write_predictions(path: str, records: Sequence[dict[str, Any]]) -> None:
    """One strict JSON object per line, the file written whole (renamed into place) or not at all."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(path, "".join(json.dumps(strict(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records))


def evaluate_languages(
    trainer: TaskTrainer, eval_sets: Sequence[EvalSet], decode: Decoder, average_keys: Sequence[str]
) -> dict[str, float]:
    """Predict every set, score it with ``decode``, write its predictions file, and add the zero-shot averages.

    Metrics per split go to ``{split}_results.json`` and ``all_results.json`` (see the module docstring for keys).
    """
    results: dict[str, float] = {}
    for split in dict.fromkeys(s.split for s in eval_sets):
        metrics: dict[str, Any] = {}
        scores: dict[str, dict[str, float]] = {}
        for eval_set in (s for s in eval_sets if s.split == split):
            output = trainer.predict(eval_set.features, metric_key_prefix=eval_set.prefix)
            scores[eval_set.language], records = decode(eval_set, output.predictions)
            metrics.update(output.metrics)
            metrics.update({f"{eval_set.prefix}_{key}": value for key, value in scores[eval_set.language].items()})
            metrics[f"{eval_set.prefix}_samples"] = len(eval_set.examples)
            if trainer.is_world_process_zero():
                path = os.path.join(trainer.args.output_dir, "predictions", f"{eval_set.prefix}.jsonl")
                write_predictions(path, records)
        if any(language != "en" for language in scores):
            metrics.update({f"{split}_avg_{key}": average_over_languages(scores, key) for key in average_keys})
        trainer.log_metrics(split, metrics)
        trainer.save_metrics(split, metrics)
        results.update(metrics)
    return results


def describe_data(train_source: str | None, train_examples: Any, eval_sets: Sequence[EvalSet]) -> list[str]:
    """Model-card lines: where each set came from and its size."""
    lines = [f"train (en): {train_source}, {len(train_examples)} examples"] if train_examples is not None else []
    return lines + [f"{s.prefix}: {s.source}, {len(s.examples)} examples" for s in eval_sets]


def per_language_benchmark(
    dataset_id: str, pretty_name: str
) -> Callable[[EvalSet], tuple[str, str, str | None, str | None]]:
    """``benchmark`` of :func:`card_evaluations` for a Hub dataset with one config per language (XNLI, WikiANN)."""

    def benchmark(eval_set: EvalSet) -> tuple[str, str, str | None, str | None]:
        return dataset_id, f"{pretty_name} ({eval_set.language})", eval_set.language, HUB_SPLITS[eval_set.split]

    return benchmark


def card_evaluations(
    eval_sets: Sequence[EvalSet],
    task_type: str,
    task_name: str,
    benchmark: Callable[[EvalSet], tuple[str, str, str | None, str | None] | None],
    metrics: Sequence[tuple[str, str, str]],
) -> list[CardEvaluation]:
    """Model-index entries of the evaluated sets. ``benchmark(set)`` gives ``(dataset id, name, config, split)``
    of the benchmark the set belongs to (None: no Hub benchmark, left out of the model-index). A set read from a
    local copy of the benchmark's files is reported under the benchmark's id: it is the same test set."""
    entries = []
    for eval_set in eval_sets:
        dataset = benchmark(eval_set)
        if dataset is not None:
            entries.append(CardEvaluation(eval_set.prefix, task_type, task_name, *dataset, metrics=tuple(metrics)))
    return entries


def task_model_card(
    task: str,
    tags: Sequence[str],
    model_args: ModelArguments,
    data_args: TaskDataArguments,
    continual_args: ContinualLearningArguments,
    training_args: TrainingArguments,
    data: Sequence[str],
    evaluations: Sequence[CardEvaluation] = (),
) -> ModelCardInfo:
    """The card of a fine-tuned model: language tags are English and the evaluation languages; ``evaluations``
    become the ``model-index`` metadata (see :func:`card_evaluations`)."""
    base = model_args.model_name_or_path
    summary = (
        f"`{base}` fine-tuned on English {task} and evaluated zero-shot on {', '.join(data_args.eval_languages)}."
    )
    training = (
        "learning_rate",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "seed",
    )
    settings: dict[str, Any] = {
        "training": {name: getattr(training_args, name) for name in training},
        "data": {k: v for k, v in dataclasses.asdict(data_args).items() if "files" not in k and k != "train_file"},
    }
    if continual_args.enabled:
        summary += (
            f" Continual learning: every step adds {continual_args.align_weight} × the alignment loss and "
            f"{continual_args.align_regularization_weight} × the regulariser ({continual_args.align_regularization}) "
            f"of the cross-lingual adjustment, on {continual_args.align_batch_size} random parallel pairs "
            f"({', '.join(continual_args.align_languages)}–en)."
        )
        settings["continual_learning"] = dataclasses.asdict(continual_args)
    name = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
    return ModelCardInfo(
        title=f"{os.path.basename(os.path.abspath(training_args.output_dir))}: {task}, English → zero-shot",
        summary=summary,
        base_model=base,
        languages=["en", *data_args.eval_languages],
        data=list(data),
        tags=[*tags, "cross-lingual-transfer", *(["continual-learning"] if continual_args.enabled else [])],
        settings=settings,
        datasets=sorted({e.dataset_type for e in evaluations}),
        evaluations=list(evaluations),
        model_name=name,
    )
