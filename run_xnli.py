#!/usr/bin/env python
"""Fine-tune an encoder on English NLI (or PAWS-X, SIB-200) and evaluate it zero-shot on XNLI languages.

The encoder may be the original one or an adjusted one (any folder run_adjust.py wrote, or a Hub name). Training
reads English NLI (Hub ``facebook/xnli`` config ``en``, or ``--train_dataset multi_nli`` for
``nyu-mll/multi_nli``), or ``--train_file``; evaluation covers every language of ``--eval_languages`` on the
validation (``--do_eval``) and/or test (``--do_predict``) split. With ``--align_parallel_file`` (and
``--align_languages``, ``--align_alignment_file``) every step also keeps the adjustment loss: continual learning.

    python run_xnli.py --model_name_or_path out/adjusted-es-ru --output_dir out/xnli \
        --do_train --do_eval --do_predict --eval_languages en es ru vi hi

Local files: ``--train_file`` and, per split, ``--validation_files`` / ``--test_files`` with ``LANG=PATH`` entries
or one PATH where ``{lang}`` stands for the language (``dev.{lang}.jsonl``); the original ``xnli.dev.tsv``
(columns ``language``, ``gold_label``, ``sentence1``, ``sentence2``) may serve every language at once. Other
files are csv/tsv/json/jsonl with ``premise``, ``hypothesis``, ``label`` (a name or an id).

Other tasks (``--task_name``, :mod:`xladjust.tasks.classification`), the same story with another reader and label set:

- ``pawsx``: PAWS-X paraphrase identification (sentence pairs; not_paraphrase=0, paraphrase=1), Hub
  ``google-research-datasets/paws-x`` (en de es fr ja ko zh) or the official tsv files (``id sentence1 sentence2
  label``); untranslated rows (empty or ``NS`` sentences) and rows without a label are dropped and counted;
- ``sib200``: SIB-200 topic classification (one sentence, 7 topics), Hub ``Davlan/sib200`` (configs by FLORES-200
  code; ``--eval_languages`` takes ISO codes such as ``es``, or FLORES-200 codes such as ``ast_Latn`` for the
  languages without one) or the dataset's tsv files (``index_id category text``, with ``labels.txt``).

Both train on their English training split (``--train_file`` or the Hub's ``en`` / ``eng_Latn``) and report
accuracy. ``--train_dataset`` is XNLI's only.

    python run_xnli.py --task_name pawsx --model_name_or_path out/adjusted-es-ru --output_dir out/pawsx \
        --do_train --do_predict --eval_languages en es de fr --learning_rate 2e-5 --num_train_epochs 5

Labels (XNLI): entailment=0, neutral=1, contradiction=2, stored as ``id2label``/``label2id`` in the saved config; a
starting model whose 3-way head uses another order is refused. Defaults as in the paper: lr 5e-5, 2 epochs,
batch 32, 128 subwords.

Outputs in ``--output_dir``: the model and tokenizer, ``all_results.json`` (``eval_es_accuracy``,
``predict_ru_accuracy``, ..., ``eval_avg_accuracy`` = mean over the non-English languages),
``predictions/{eval,predict}_{lang}.jsonl`` (``{"id", "gold", "predicted"}`` per example, in file order),
``trainer_state.json`` (with ``task_loss`` and ``alignment_loss`` under continual learning) and ``README.md``.

``--average_checkpoints last_k:K|every:N`` saves and evaluates an average of checkpoints instead of the last weights,
``--select_on english_dev`` the candidate with the best English validation accuracy (``final_model.json``; see
:mod:`xladjust.tasks.final_model`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from transformers import AutoModelForSequenceClassification, set_seed

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
from xladjust.errors import InputError
from xladjust.run_folder import start_training_run
from xladjust.script_utils import parse_arguments, setup_logging
from xladjust.tasks.arguments import TaskDataArguments, TaskTrainingArguments
from xladjust.tasks.cards import card_evaluations, describe_data, per_language_benchmark, task_model_card
from xladjust.tasks.classification import CLASSIFICATION_TASKS
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
from xladjust.tasks.nli import NLI_HUB_DATASETS
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)


@dataclass
class XnliTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate (paper: 5e-5)."})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Passes over the English data (paper: 2)."})


@dataclass
class XnliDataArguments(TaskDataArguments):
    benchmark: ClassVar = "XNLI"

    task_name: str = field(
        default="xnli",
        metadata={
            "help": "xnli: natural language inference; pawsx: paraphrase identification (PAWS-X); sib200: topic "
            "classification (SIB-200).",
            "choices": list(CLASSIFICATION_TASKS),
        },
    )
    train_dataset: str = field(
        default="xnli",
        metadata={
            "help": "Hub training data without --train_file: facebook/xnli (en) or nyu-mll/multi_nli.",
            "choices": list(NLI_HUB_DATASETS),
        },
    )

    def __post_init__(self) -> None:
        if self.task_name not in CLASSIFICATION_TASKS:
            raise InputError(f"--task_name must be one of {', '.join(CLASSIFICATION_TASKS)} (got {self.task_name!r})")
        if self.task_name != "xnli" and self.train_dataset != "xnli":
            raise InputError(f"--train_dataset is for XNLI; {self.task_name} trains on its English split")
        super().__post_init__()

    def check_eval_language(self, language: str) -> None:
        CLASSIFICATION_TASKS[self.task_name].check_language(language)


def encode_texts(examples: dict[str, list], tokenizer: Any, max_length: int, columns: tuple[str, ...]) -> Any:
    """One text or a pair (premise/hypothesis, sentence1/sentence2), truncated together to ``max_length``."""
    encoded = tokenizer(*(examples[column] for column in columns), truncation=True, max_length=max_length)
    encoded["labels"] = examples["label"]
    return encoded


def decode_labels(
    eval_set: EvalSet, predictions: Any, labels: Sequence[str]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Accuracy, and records with the label names."""
    return decode_classes(eval_set, predictions, labels.__getitem__)


ARGUMENTS = (ModelArguments, XnliDataArguments, ContinualLearningArguments, XnliTrainingArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    model_args, data_args, continual_args, training_args = parse_arguments(ARGUMENTS, argv)
    setup_logging(training_args)
    run = start_training_run("run_xnli.py", (model_args, data_args, continual_args, training_args))
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training examples and every language's evaluation sets, all validated before the model loads.
    task = CLASSIFICATION_TASKS[data_args.task_name]
    train_examples, train_source, balance = None, None, None
    if training_args.do_train:
        available, train_source = task.read_train(data_args.train_file, data_args.train_dataset, model_args.cache_dir)
        train_examples = select_training_examples(available, data_args, training_args)
        balance = check_training_labels(
            task.labels,
            train_examples["label"],
            rows_available=len(available),
            shuffled=data_args.shuffle_train_before_select,
        )
    read = partial(task.read_eval, cache_dir=model_args.cache_dir)
    eval_sets = load_eval_sets(data_args, training_args, read)

    # 2. Tokenise the texts (premise/hypothesis, a sentence pair, a sentence; and the English validation set that
    #    --select_on chooses on); the head has the task's label order.
    tokenizer = load_tokenizer(model_args)
    encode = partial(encode_texts, tokenizer=tokenizer, max_length=data_args.max_seq_length, columns=task.text_columns)
    train_dataset = tokenize(train_examples, encode, data_args, training_args) if train_examples else None
    eval_sets = tokenize_eval_sets(eval_sets, encode, data_args, training_args)
    decode = partial(decode_labels, labels=task.labels)
    english_dev = english_dev_sets(eval_sets, data_args, training_args, read, encode)
    final_model = final_model_choice(training_args, english_dev, decode, "accuracy")
    model = load_task_model(AutoModelForSequenceClassification, model_args, task.labels)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args, model_args)
    trainer = TaskTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_datasets_during_training(eval_sets, training_args),
        processing_class=tokenizer,
        compute_metrics=nli_compute_metrics,
        preprocess_logits_for_metrics=predicted_ids,
        continual=continual,
        final_model=final_model,
        model_card=task_model_card(
            task.title,
            list(task.card_tags),
            model_args,
            data_args,
            continual_args,
            training_args,
            data=describe_data(train_source, train_examples, eval_sets),
            evaluations=card_evaluations(
                eval_sets,
                "text-classification",
                task.card_task_name,
                per_language_benchmark(task.hub_dataset, task.benchmark, task.hub_config),
                [("accuracy", "accuracy", "Accuracy")],
            ),
        ),
    )

    # 4. Train on English, evaluate every language, write the model card.
    results: dict[str, Any] = {}
    if training_args.do_train:
        records = {"train_labels": balance.as_results()}
        results.update(trainer.train_and_save(checkpoint, len(train_dataset), records=records))
    results.update(evaluate_languages(trainer, eval_sets, decode, average_keys=("accuracy",)))
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
