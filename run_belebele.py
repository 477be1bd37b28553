#!/usr/bin/env python
"""Fine-tune an encoder on English multiple-choice reading comprehension and evaluate it zero-shot on Belebele.

The encoder may be the original one or an adjusted one (any folder run_adjust.py wrote, or a Hub name). Belebele
(Hub ``facebook/belebele``, one config per language variant) is a test set only: training reads English questions in
Belebele's columns from ``--train_file`` or ``--train_dataset`` -- its authors fine-tuned on a set assembled from
RACE, SciQ, MultiRC, MCTest, MCScript2.0 and ReClor (their ``assemble_training_set.py``; its tsv is read as it is,
``split`` column included). Evaluation covers every language of ``--eval_languages`` (ISO codes such as ``es``, or
FLORES-200 codes such as ``ast_Latn`` for the languages without one) on the test split (``--do_predict``); local
files per language with ``--test_files`` / ``--validation_files``. With ``--align_parallel_file`` (and
``--align_languages``, ``--align_alignment_file``) every step also keeps the adjustment loss: continual learning.

    python run_belebele.py --model_name_or_path out/adjusted-es-ru --output_dir out/belebele \
        --train_file belebele_training_set.tsv --do_train --do_predict --eval_languages en es ru vi hi

Model: ``AutoModelForMultipleChoice``; each question is four (passage, question + answer) pairs of at most
``--max_seq_length`` subwords (only the passage is cut: the question and its answer stay whole), scored by one
logit each. Columns and quirks of the
data: :mod:`xladjust.tasks.multiple_choice`. Defaults (not from the Belebele paper, which does not give them): lr
1e-5, 3 epochs, batch 32, 256 subwords.

Outputs in ``--output_dir``: the model and tokenizer, ``all_results.json`` (``predict_es_accuracy``, ...,
``predict_avg_accuracy`` = mean over the non-English languages), ``predictions/predict_{lang}.jsonl``
(``{"id", "gold", "predicted"}`` per question with the one-based answer numbers, in file order),
``trainer_state.json`` (with ``task_loss`` and ``alignment_loss`` under continual learning) and ``README.md``.

Belebele's passages are FLORES-200 sentences: parallel data drawn from FLORES would put test passages into the
adjustment: do not adjust on FLORES when Belebele is evaluated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from transformers import AutoModelForMultipleChoice, DataCollatorForMultipleChoice, set_seed

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
from xladjust.data.languages import flores_code
from xladjust.errors import InputError
from xladjust.run_folder import start_training_run
from xladjust.script_utils import parse_arguments, setup_logging
from xladjust.tasks.arguments import TaskDataArguments, TaskTrainingArguments
from xladjust.tasks.cards import card_evaluations, describe_data, per_language_benchmark, task_model_card
from xladjust.tasks.eval_sets import (
    EvalSet,
    eval_datasets_during_training,
    load_eval_sets,
    predicted_ids,
    select_training_examples,
    tokenize,
    tokenize_eval_sets,
)
from xladjust.tasks.evaluation import decode_classes, evaluate_languages
from xladjust.tasks.final_model import english_dev_sets, final_model_choice
from xladjust.tasks.label_balance import check_training_labels
from xladjust.tasks.metrics import nli_compute_metrics
from xladjust.tasks.models import load_task_model, load_tokenizer, setup_continual_learning
from xladjust.tasks.multiple_choice import (
    ANSWER_LABELS,
    BELEBELE_HUB_DATASET,
    BENCHMARK,
    encode_choices,
    load_belebele,
    load_training_questions,
)
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)


@dataclass
class BelebeleTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Passes over the English training questions."})


@dataclass
class BelebeleDataArguments(TaskDataArguments):
    benchmark: ClassVar = BENCHMARK

    max_seq_length: int = field(
        default=256, metadata={"help": "Subwords per (passage, question + answer) pair; longer pairs are cut."}
    )
    train_dataset: str | None = field(
        default=None, metadata={"help": "Hub training data in Belebele's columns, without --train_file."}
    )
    train_dataset_config: str | None = field(default=None, metadata={"help": "The config of --train_dataset."})
    train_split: str = field(default="train", metadata={"help": "The split of --train_dataset."})

    def check_eval_language(self, language: str) -> None:
        flores_code(language, BENCHMARK)


def read_belebele(language: str, split: str, path: str | None, shared: bool, cache_dir: str | None = None) -> Any:
    if shared:
        raise InputError("a Belebele file holds one language; give LANG=PATH per language or {lang} in the path", path)
    return load_belebele(language, split, path, cache_dir)[0]


def decode_answers(eval_set: EvalSet, predictions: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The chosen answer of every question (one-based, as ``correct_answer_num``) and the accuracy."""
    return decode_classes(eval_set, predictions, lambda answer: answer + 1)


ARGUMENTS = (ModelArguments, BelebeleDataArguments, ContinualLearningArguments, BelebeleTrainingArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, continual_args, training_args = parse_arguments(ARGUMENTS, argv)
    setup_logging(training_args)
    run = start_training_run("run_belebele.py", (model_args, data_args, continual_args, training_args))
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training questions and every language's Belebele questions, all validated before the model loads.
    train_examples, train_source, balance = None, None, None
    if training_args.do_train:
        available, stats = load_training_questions(
            data_args.train_file,
            data_args.train_dataset,
            data_args.train_dataset_config,
            data_args.train_split,
            model_args.cache_dir,
        )
        train_examples, train_source = select_training_examples(available, data_args, training_args), stats.source
        # An answer position the training data never uses is a position the model learns never to choose.
        balance = check_training_labels(
            ANSWER_LABELS,
            train_examples["label"],
            rows_available=len(available),
            shuffled=data_args.shuffle_train_before_select,
        )
    read = partial(read_belebele, cache_dir=model_args.cache_dir)
    eval_sets = load_eval_sets(data_args, training_args, read)

    # 2. Four (passage, question + answer) pairs per question; the model scores each pair with one logit.
    tokenizer = load_tokenizer(model_args)
    max_length = data_args.max_seq_length
    if max_length > tokenizer.model_max_length:
        logger.warning(
            "--max_seq_length %d is above the model's %d: using the latter", max_length, tokenizer.model_max_length
        )
        max_length = tokenizer.model_max_length
    encode = partial(encode_choices, tokenizer=tokenizer, max_length=max_length)
    train_dataset = tokenize(train_examples, encode, data_args, training_args) if train_examples else None
    eval_sets = tokenize_eval_sets(eval_sets, encode, data_args, training_args)
    # --select_on english_dev needs an English validation file: Belebele itself is a test set.
    english_dev = english_dev_sets(eval_sets, data_args, training_args, read, encode)
    final_model = final_model_choice(training_args, english_dev, decode_answers, "accuracy")
    model = load_task_model(AutoModelForMultipleChoice, model_args, ANSWER_LABELS)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args, model_args)
    trainer = TaskTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_datasets_during_training(eval_sets, training_args),
        data_collator=DataCollatorForMultipleChoice(tokenizer),
        processing_class=tokenizer,
        compute_metrics=nli_compute_metrics,
        preprocess_logits_for_metrics=predicted_ids,
        continual=continual,
        final_model=final_model,
        model_card=task_model_card(
            "multiple-choice reading comprehension",
            ["multiple-choice", "belebele"],
            model_args,
            data_args,
            continual_args,
            training_args,
            data=describe_data(train_source, train_examples, eval_sets),
            evaluations=card_evaluations(
                eval_sets,
                "multiple-choice",
                "Multiple-Choice Reading Comprehension",
                per_language_benchmark(BELEBELE_HUB_DATASET, BENCHMARK, partial(flores_code, what=BENCHMARK)),
                [("accuracy", "accuracy", "Accuracy")],
            ),
        ),
    )

    # 4. Train on English, evaluate every language, write the model card.
    results: dict[str, Any] = {}
    if training_args.do_train:
        records = {"train_labels": balance.as_results()}
        results.update(trainer.train_and_save(checkpoint, len(train_dataset), records=records))
    results.update(evaluate_languages(trainer, eval_sets, decode_answers, average_keys=("accuracy",)))
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
