#!/usr/bin/env python
"""Fine-tune an encoder on English NLI and evaluate it zero-shot on XNLI languages (Efimov et al. 2023).

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

Labels: entailment=0, neutral=1, contradiction=2, stored as ``id2label``/``label2id`` in the saved config; a
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
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import numpy as np
from transformers import AutoModelForSequenceClassification, set_seed

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
from xladjust.data.languages import XNLI_LANGUAGES
from xladjust.errors import InputError
from xladjust.run_folder import start_training_run
from xladjust.script_utils import parse_arguments, setup_logging
from xladjust.tasks.arguments import TaskDataArguments, TaskTrainingArguments
from xladjust.tasks.cards import card_evaluations, describe_data, per_language_benchmark, task_model_card
from xladjust.tasks.eval_sets import (
    EvalSet,
    eval_datasets_during_training,
    first_examples,
    load_eval_sets,
    predicted_ids,
    tokenize,
    tokenize_eval_sets,
)
from xladjust.tasks.evaluation import evaluate_languages
from xladjust.tasks.final_model import english_dev_sets, final_model_choice
from xladjust.tasks.metrics import accuracy, nli_compute_metrics
from xladjust.tasks.models import load_task_model, load_tokenizer, setup_continual_learning
from xladjust.tasks.nli import NLI_HUB_DATASETS, NLI_LABELS, label_counts, load_nli_dataset
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)


@dataclass
class XnliTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate (paper: 5e-5)."})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Passes over the English data (paper: 2)."})


@dataclass
class XnliDataArguments(TaskDataArguments):
    known_languages: ClassVar = XNLI_LANGUAGES
    benchmark: ClassVar = "XNLI"

    train_dataset: str = field(
        default="xnli",
        metadata={
            "help": "Hub training data without --train_file: facebook/xnli (en) or nyu-mll/multi_nli.",
            "choices": list(NLI_HUB_DATASETS),
        },
    )


def read_xnli(language: str, split: str, path: str | None, shared: bool, cache_dir: str | None = None) -> Any:
    """One language's split; a file shared by several languages must be the original XNLI format."""
    dataset, stats = load_nli_dataset(language, split, path, "xnli", cache_dir)
    if shared and not stats.rows_other_language:
        raise InputError(
            "has no rows of other languages (no `language` column), so it cannot be the file of several "
            "languages; give LANG=PATH per language or put {lang} in the path",
            path,
        )
    return dataset


def encode_pairs(examples: dict[str, list], tokenizer: Any, max_length: int) -> Any:
    encoded = tokenizer(examples["premise"], examples["hypothesis"], truncation=True, max_length=max_length)
    encoded["labels"] = examples["label"]
    return encoded


def decode_nli(eval_set: EvalSet, predictions: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
    predicted = np.asarray(predictions).reshape(-1)
    gold = np.asarray(eval_set.examples["label"])
    records = [
        {"id": example_id, "gold": NLI_LABELS[g], "predicted": NLI_LABELS[p]}
        for example_id, g, p in zip(eval_set.examples["id"], gold.tolist(), predicted.tolist(), strict=True)
    ]
    return {"accuracy": accuracy(predicted, gold)}, records


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, continual_args, training_args = parse_arguments(
        (ModelArguments, XnliDataArguments, ContinualLearningArguments, XnliTrainingArguments), argv
    )
    setup_logging(training_args)
    run = start_training_run("run_xnli.py", (model_args, data_args, continual_args, training_args))
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training pairs and every language's evaluation sets, all validated before the model loads.
    train_examples, train_source = None, None
    if training_args.do_train:
        train_examples, stats = load_nli_dataset(
            "en", "train", data_args.train_file, data_args.train_dataset, model_args.cache_dir
        )
        train_examples, train_source = first_examples(train_examples, data_args.max_train_samples), stats.source
        logger.info("training labels: %s", label_counts(train_examples["label"]))
    read = partial(read_xnli, cache_dir=model_args.cache_dir)
    eval_sets = load_eval_sets(data_args, training_args, read)

    # 2. Tokenise premise/hypothesis pairs (and the English validation set that --select_on chooses on); the model
    #    gets the 3-way head with the fixed label order.
    tokenizer = load_tokenizer(model_args)
    encode = partial(encode_pairs, tokenizer=tokenizer, max_length=data_args.max_seq_length)
    train_dataset = tokenize(train_examples, encode, data_args, training_args) if train_examples else None
    eval_sets = tokenize_eval_sets(eval_sets, encode, data_args, training_args)
    english_dev = english_dev_sets(eval_sets, data_args, training_args, read, encode)
    final_model = final_model_choice(training_args, english_dev, decode_nli, "accuracy")
    model = load_task_model(AutoModelForSequenceClassification, model_args, NLI_LABELS)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args)
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
            "NLI",
            ["text-classification", "xnli"],
            model_args,
            data_args,
            continual_args,
            training_args,
            data=describe_data(train_source, train_examples, eval_sets),
            evaluations=card_evaluations(
                eval_sets,
                "text-classification",
                "Natural Language Inference",
                per_language_benchmark(NLI_HUB_DATASETS["xnli"], "XNLI"),
                [("accuracy", "accuracy", "Accuracy")],
            ),
        ),
    )

    # 4. Train on English, evaluate every language, write the model card.
    results: dict[str, float] = {}
    if training_args.do_train:
        results.update(trainer.train_and_save(checkpoint, len(train_dataset)))
    results.update(evaluate_languages(trainer, eval_sets, decode_nli, average_keys=("accuracy",)))
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
