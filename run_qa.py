#!/usr/bin/env python
"""Fine-tune an encoder on English extractive QA (SQuAD v1.1) and evaluate it zero-shot (Efimov et al. 2023).

The encoder may be the original one or an adjusted one (any folder run_adjust.py wrote, or a Hub name). Training
reads English SQuAD v1.1 (Hub ``rajpurkar/squad``, or ``--train_dataset``) or ``--train_file`` (SQuAD JSON, or
flattened Hugging Face records as json/jsonl); every set of ``--eval_sets`` is evaluated with ``--do_eval``. With
``--align_parallel_file`` (and ``--align_languages``, ``--align_alignment_file``) every step also keeps the
adjustment loss: continual learning.

    python run_qa.py --model_name_or_path out/adjusted-es-ru --output_dir out/qa --do_train --do_eval \
        --eval_sets xquad.es xquad.ru mlqa.es.es mlqa.vi.en tydiqa.ru

Evaluation sets (:func:`xladjust.tasks.qa.data.resolve_set_spec`): ``xquad.L``, ``mlqa.C.Q`` (context language C,
question language Q: the cross-lingual configs too), ``tydiqa.L`` (TyDi QA GoldP), each optionally ``:SPLIT``
(``mlqa.es.en:validation``); ``NAME=PATH`` reads NAME's data from a local SQuAD-format file, and ``LANG=PATH``
(``en=dev.json``) names a local set by its language only. ``--eval_file NAME=PATH`` is the same as a
``NAME=PATH`` entry of ``--eval_sets``; for a NAME that ``--eval_sets`` lists, it replaces the Hub data.

Windows: question + context cut into ``--max_seq_length`` subwords, consecutive windows overlapping by
``--doc_stride``; training examples whose answer no window holds are counted in the log (and trained as no-answer
at CLS, as the transformers example does). Answers: the best span over all windows among the ``--n_best_size``
best starts and ends, at most ``--max_answer_length`` subwords. Scores (exact match and F1 in percent, the
evaluate modules ``squad_v1`` and ``mlqa`` over :mod:`xladjust.tasks.qa.metrics`): ``f1`` / ``exact_match`` by the
benchmark's official rules (SQuAD v1.1 for XQuAD, TyDi and local ``LANG=PATH`` sets, MLQA's rules in the answer
language for MLQA), ``squad_f1`` / ``squad_exact_match`` by SQuAD v1.1 everywhere (the paper's protocol). Defaults
as in the paper: lr 3e-5, 2 epochs, batch 32, 384 subwords, stride 128. Training files may reuse question ids (TyDi
GoldP English train does; counted in the log); evaluation files may not, and one without any answer text is refused
as unlabelled.

Outputs in ``--output_dir``: the model and tokenizer, ``all_results.json`` with ``eval_{NAME}_{metric}`` per set,
NAME being the canonical set name (``eval_xquad.es_f1``, ``eval_xquad.es_squad_f1``,
``eval_mlqa.es.en_exact_match``, ``eval_en_f1``; with an explicit split ``eval_mlqa.es.en-validation_f1``),
``eval_{NAME}_samples`` (questions), and ``eval_avg_{metric}``, the means over the sets that are not English-only;
``predictions/eval_{NAME}.json`` (``{id: answer text}``, the SQuAD prediction format) and
``predictions/eval_{NAME}.jsonl`` (``{"id", "gold", "predicted", "exact_match", "f1", "squad_exact_match",
"squad_f1"}`` per question, in file order, for significance tests); ``trainer_state.json``
(with ``task_loss`` and ``alignment_loss`` under continual learning) and ``README.md``.

``--average_checkpoints last_k:K|every:N`` saves and evaluates an average of checkpoints instead of the last weights,
``--select_on english_dev`` the candidate with the best F1 on English validation questions: ``--selection_file``, else
the validation split of ``--train_dataset`` (SQuAD v1.1's dev set), never the evaluation sets, which are test sets
(``final_model.json``; see :mod:`xladjust.tasks.final_model`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import datasets
import numpy as np
from transformers import AutoModelForQuestionAnswering, set_seed

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.errors import InputError
from xladjust.io import write_json
from xladjust.run_folder import start_training_run
from xladjust.script_utils import parse_arguments, setup_logging
from xladjust.tasks.arguments import TaskTrainingArguments
from xladjust.tasks.cards import card_evaluations, describe_data, task_model_card
from xladjust.tasks.eval_sets import EvalSet, first_examples, select_training_examples, tokenize
from xladjust.tasks.evaluation import evaluate_languages
from xladjust.tasks.final_model import final_model_choice
from xladjust.tasks.models import load_task_model, load_tokenizer, setup_continual_learning
from xladjust.tasks.qa import data as qa_data
from xladjust.tasks.qa.features import (
    TRAIN_BOOKKEEPING_COLUMNS,
    prepare_eval_features,
    prepare_train_features,
    train_window_stats,
)
from xladjust.tasks.qa.metrics import (
    MLQA_RULES,
    MLQA_SCRIPT_LANGUAGES,
    SQUAD_RULES,
    SUPPORTED_LANGUAGES,
    official_rules,
    references_from_examples,
)
from xladjust.tasks.qa.mlqa import Mlqa
from xladjust.tasks.qa.postprocessing import postprocess_predictions
from xladjust.tasks.qa.squad_v1 import SquadV1
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)

QA_LABELS = ("start", "end")
"""The two outputs of the span head, written into the saved config as its label mapping."""
QA_CARD_METRICS = [
    ("f1", "f1", "F1 (official rules)"),
    ("exact_match", "exact_match", "Exact match (official rules)"),
    ("squad_f1", "f1", "F1 (SQuAD v1.1 rules)"),
    ("squad_exact_match", "exact_match", "Exact match (SQuAD v1.1 rules)"),
]
"""Model-card metrics: ``(results suffix, metric type, metric name)``; the ``squad_*`` scores when reported."""
EVAL_BOOKKEEPING_COLUMNS = ("example_id", "offset_mapping")
"""Columns of the evaluation windows that post-processing needs and the model does not take."""
QA_METRIC_MODULES = {SQUAD_RULES: SquadV1, MLQA_RULES: Mlqa}
"""The evaluate module of each set of answer-normalisation rules."""
QA_SCORES = ("exact_match", "f1")
QA_METRIC_KEYS = (*QA_SCORES, *(f"squad_{key}" for key in QA_SCORES))
"""Per set: the official rules' scores, then SQuAD v1.1's (the paper's protocol)."""


@dataclass
class QaTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=3e-5, metadata={"help": "Peak learning rate (paper: 3e-5)."})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Passes over the English data (paper: 2)."})


@dataclass
class QaDataArguments:
    """Training data, evaluation sets, windows and answer post-processing."""

    eval_sets: list[str] = field(
        default_factory=lambda: ["xquad.en", *(f"xquad.{lang}" for lang in PAPER_LANGUAGES)],
        metadata={"help": f"With --do_eval: evaluation sets, each {qa_data.EVAL_SET_PATTERNS}, or LANG=PATH."},
    )
    eval_files: list[str] = field(
        default_factory=list,
        metadata={
            "aliases": ["--eval_file"],
            "help": "NAME=PATH: read evaluation set NAME from a local file (added to --eval_sets if absent).",
        },
    )
    train_file: str | None = field(default=None, metadata={"help": "Local English training file (default: Hub)."})
    train_dataset: str = field(default="rajpurkar/squad", metadata={"help": "Hub training data without --train_file."})
    selection_file: str | None = field(
        default=None,
        metadata={
            "help": "With --select_on english_dev: the English validation questions (SQuAD JSON) the final model is "
            "chosen on; default: the validation split of --train_dataset on the Hub (SQuAD v1.1's dev set). The "
            "evaluation sets, test sets all, are never read for the choice."
        },
    )
    max_seq_length: int = field(default=384, metadata={"help": "Subwords per window (question + context)."})
    doc_stride: int = field(default=128, metadata={"help": "Subwords shared by consecutive windows of a context."})
    n_best_size: int = field(default=20, metadata={"help": "Best start and end tokens paired per window."})
    max_answer_length: int = field(default=30, metadata={"help": "Longest answer, in subwords."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})
    shuffle_train_before_select: bool = field(
        default=False,
        metadata={
            "help": "With --max_train_samples: draw the N questions at random (seeded by --data_seed, else --seed) "
            "instead of taking the first N."
        },
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on the first N questions of every set only."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    def __post_init__(self) -> None:
        if self.max_seq_length < 16:
            raise InputError("--max_seq_length must be at least 16")
        if not 0 < self.doc_stride < self.max_seq_length:
            raise InputError(f"--doc_stride must be positive and below --max_seq_length ({self.max_seq_length})")
        for name in ("n_best_size", "max_answer_length", "max_train_samples", "max_eval_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"--{name} must be positive")
        self.resolved = resolve_eval_sets(self.eval_sets, self.eval_files)

    @property
    def eval_languages(self) -> list[str]:
        """Context and question languages of the evaluation sets (model-card language tags)."""
        languages = (lang for s in self.resolved.values() for lang in (s.context_language, s.question_language))
        return list(dict.fromkeys(languages))


def resolve_entry(spec: str) -> tuple[str, qa_data.QaSetSpec]:
    """``(metric name, set)`` of one entry: :func:`qa_data.resolve_set_spec`, plus ``LANG=PATH`` for a local set
    known by its language only. The metric name is the canonical name, ``-SPLIT`` added for an explicit split."""
    name, separator, path = (part.strip() for part in spec.partition("="))
    if separator and name in SUPPORTED_LANGUAGES:
        if not path:
            raise InputError(f"evaluation set {spec!r}: empty path after '='")
        return name, qa_data.QaSetSpec(name, "local", name, name, "file", "", "", path=path)
    try:
        resolved = qa_data.resolve_set_spec(spec)
    except InputError as error:
        if separator and error.message.startswith("unknown evaluation set"):
            languages = ", ".join(sorted(SUPPORTED_LANGUAGES))
            raise InputError(f"{error.message}; or LANG=PATH with LANG one of {languages}") from None
        raise
    return (f"{resolved.name}-{resolved.split}" if ":" in name else resolved.name), resolved


def resolve_eval_sets(eval_sets: list[str], eval_files: list[str]) -> dict[str, qa_data.QaSetSpec]:
    """Metric name → resolved set, in order; ``--eval_file`` entries replace same-named sets or are added."""
    resolved: dict[str, qa_data.QaSetSpec] = {}
    for spec in eval_sets:
        name, eval_set = resolve_entry(spec)
        if name in resolved:
            raise InputError(f"--eval_sets lists {name!r} twice")
        resolved[name] = eval_set
    overridden: set[str] = set()
    for spec in eval_files:
        if "=" not in spec:
            raise InputError(f"--eval_file {spec!r}: expected NAME=PATH")
        name, eval_set = resolve_entry(spec)
        if name in overridden:
            raise InputError(f"--eval_file gives {name!r} twice")
        overridden.add(name)
        resolved[name] = eval_set
    return resolved


@dataclass
class QaEvalSet(EvalSet):
    """An evaluation set with its windows (``features`` holds them without the bookkeeping columns)."""

    spec: qa_data.QaSetSpec | None = None
    windows: Any = None  # every window with example_id and offset_mapping, for post-processing
    answers: dict[str, str] = field(default_factory=dict)  # filled by decode_qa


def load_train_examples(data_args: QaDataArguments, cache_dir: str | None) -> tuple[datasets.Dataset, str]:
    """English training questions from ``--train_file`` or the Hub, with the ``qa_data.QA_FEATURES`` columns."""
    if data_args.train_file is not None:
        return qa_data.read_qa_file(data_args.train_file, allow_repeated_ids=True), data_args.train_file
    return qa_data.load_hub_train_set(data_args.train_dataset, cache_dir), f"{data_args.train_dataset} (train)"


def with_windows(eval_set: QaEvalSet, windows: Any) -> QaEvalSet:
    """The set with its evaluation windows (``features``: the model's inputs, without the bookkeeping columns)."""
    return dataclasses.replace(
        eval_set, windows=windows, features=windows.remove_columns(list(EVAL_BOOKKEEPING_COLUMNS))
    )


def load_selection_set(
    data_args: QaDataArguments, training_args: QaTrainingArguments, cache_dir: str | None
) -> list[QaEvalSet]:
    """With ``--select_on english_dev``: the English validation questions of the training benchmark (SQuAD v1.1's
    dev set, or ``--selection_file``), which the final model is chosen on; XQuAD and MLQA are test sets."""
    if training_args.select_on != "english_dev":
        return []
    path = data_args.selection_file
    if path is not None:
        examples, source = qa_data.read_qa_file(path), path
    else:
        examples = qa_data.load_hub_train_set(data_args.train_dataset, cache_dir, split="validation")
        source = f"{data_args.train_dataset} (validation)"
    spec = qa_data.QaSetSpec("squad.en", "squad", "en", "en", "validation", data_args.train_dataset, "", path=path)
    return [QaEvalSet("eval", "en", first_examples(examples, data_args.max_eval_samples), source, spec=spec)]


def load_qa_eval_sets(data_args: QaDataArguments) -> list[QaEvalSet]:
    """Every evaluation set, read before the model loads so that a bad file stops the run at once."""
    eval_sets = []
    for name, spec in data_args.resolved.items():
        if spec.benchmark == "mlqa" and spec.answer_language not in MLQA_SCRIPT_LANGUAGES:
            logger.warning(
                "%s: the official MLQA script has no rules for %r (it knows %s); eval_%s_f1 uses its "
                "language-independent rules (Unicode punctuation, no article removal)",
                name,
                spec.answer_language,
                " ".join(sorted(MLQA_SCRIPT_LANGUAGES)),
                name,
            )
        examples = first_examples(qa_data.load_eval_set(spec), data_args.max_eval_samples)
        eval_sets.append(QaEvalSet("eval", name, examples, spec.describe(), spec=spec))
    return eval_sets


def decode_qa(
    eval_set: QaEvalSet, predictions: Any, n_best_size: int, max_answer_length: int
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Answers from the windows' start/end logits, scored by the benchmark's official rules (``f1``,
    ``exact_match``) and by SQuAD v1.1 (``squad_f1``, ``squad_exact_match``: the paper's protocol); one record per
    question with both."""
    start_logits, end_logits = predictions[:2]
    answers = postprocess_predictions(
        eval_set.examples, eval_set.windows, start_logits, end_logits, n_best_size, max_answer_length
    )
    eval_set.answers.update(answers)
    examples = eval_set.examples
    inputs = {
        "predictions": [{"id": question, "prediction_text": text} for question, text in answers.items()],
        "references": [{"id": i, "answers": a} for i, a in zip(examples["id"], examples["answers"], strict=True)],
        "answer_language": eval_set.spec.answer_language,
    }
    scored = {
        prefix: QA_METRIC_MODULES[rules](keep_in_memory=True).compute(**inputs, per_example=True)
        for prefix, rules in (("", official_rules(eval_set.spec.benchmark)), ("squad_", SQUAD_RULES))
    }
    references = references_from_examples(examples)
    records = [{"id": i, "gold": references[i], "predicted": answers.get(i, "")} for i in references]
    metrics: dict[str, float] = {}
    for prefix, scores in scored.items():
        for key in QA_SCORES:
            metrics[prefix + key] = scores[key]
            for record, value in zip(records, scores[f"{key}_per_example"], strict=True):
                record[prefix + key] = value
    return metrics, records


def save_answers(trainer: TaskTrainer, eval_sets: list[QaEvalSet]) -> None:
    """``predictions/{prefix}.json``: ``{id: answer text}`` per set, the SQuAD prediction format."""
    if not trainer.is_world_process_zero():
        return
    for eval_set in eval_sets:
        write_json(os.path.join(trainer.args.output_dir, "predictions", f"{eval_set.prefix}.json"), eval_set.answers)


def add_zero_shot_average(trainer: TaskTrainer, eval_sets: list[QaEvalSet], results: dict[str, float]) -> None:
    """``eval_avg_{metric}`` (every key of ``QA_METRIC_KEYS``) over the sets that are not English-only, added to the
    saved eval results."""
    zero_shot = [s for s in eval_sets if {s.spec.context_language, s.spec.question_language} != {"en"}]
    if not zero_shot:
        return
    average = {
        f"eval_avg_{key}": float(np.mean([results[f"{s.prefix}_{key}"] for s in zero_shot])) for key in QA_METRIC_KEYS
    }
    results.update(average)
    trainer.log_metrics("eval", average)
    trainer.save_metrics("eval", {k: v for k, v in results.items() if k.startswith("eval_")})


ARGUMENTS = (ModelArguments, QaDataArguments, ContinualLearningArguments, QaTrainingArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, continual_args, training_args = parse_arguments(ARGUMENTS, argv)
    setup_logging(training_args)
    if training_args.eval_strategy != "no":
        raise InputError("--eval_strategy is not supported: the evaluation sets are scored after training")
    if training_args.do_eval and not data_args.resolved:
        raise InputError("--do_eval needs at least one entry in --eval_sets or --eval_file")
    if training_args.do_predict:
        logger.warning(
            "--do_predict is not used: --do_eval scores every set of --eval_sets (the split is in its name)"
        )
    run = start_training_run(
        "run_qa.py", (model_args, data_args, continual_args, training_args), actions=("do_train", "do_eval")
    )
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training questions and every evaluation set, all validated before the model loads.
    train_examples, train_source = None, None
    if training_args.do_train:
        train_examples, train_source = load_train_examples(data_args, model_args.cache_dir)
        train_examples = select_training_examples(train_examples, data_args, training_args)
    eval_sets = load_qa_eval_sets(data_args) if training_args.do_eval else []
    selection = load_selection_set(data_args, training_args, model_args.cache_dir) if training_args.do_train else []

    # 2. Question + context windows; training counts the answers that no window holds.
    tokenizer = load_tokenizer(model_args)
    windows = {"tokenizer": tokenizer, "max_length": data_args.max_seq_length, "doc_stride": data_args.doc_stride}
    train_dataset = None
    if train_examples is not None:
        train_dataset = tokenize(train_examples, partial(prepare_train_features, **windows), data_args, training_args)
        stats = train_window_stats(train_dataset)
        log = logger.warning if stats.examples_without_answer_window else logger.info
        log("%s (--max_seq_length %d, --doc_stride %d)", stats.summary(), windows["max_length"], windows["doc_stride"])
        train_dataset = train_dataset.remove_columns(list(TRAIN_BOOKKEEPING_COLUMNS))
    encode = partial(prepare_eval_features, **windows)
    eval_sets = [with_windows(s, tokenize(s.examples, encode, data_args, training_args)) for s in eval_sets]
    selection = [with_windows(s, tokenize(s.examples, encode, data_args, training_args)) for s in selection]
    decode = partial(decode_qa, n_best_size=data_args.n_best_size, max_answer_length=data_args.max_answer_length)
    final_model = final_model_choice(training_args, selection, decode, "f1")
    model = load_task_model(AutoModelForQuestionAnswering, model_args, QA_LABELS)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args, model_args)
    trainer = TaskTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        continual=continual,
        final_model=final_model,
        model_card=task_model_card(
            "extractive QA",
            ["question-answering", "squad", "xquad", "mlqa"],
            model_args,
            data_args,
            continual_args,
            training_args,
            data=describe_data(train_source, train_examples, eval_sets),
            evaluations=card_evaluations(
                eval_sets,
                "question-answering",
                "Extractive Question Answering",
                lambda eval_set: eval_set.spec.card_dataset(),
                QA_CARD_METRICS,
            ),
        ),
    )

    # 4. Train on English, evaluate every set, write the model card.
    results: dict[str, float] = {}
    if training_args.do_train:
        results.update(trainer.train_and_save(checkpoint, len(train_dataset)))
    if eval_sets:
        results.update(evaluate_languages(trainer, eval_sets, decode, average_keys=()))
        add_zero_shot_average(trainer, eval_sets, results)
        save_answers(trainer, eval_sets)
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
