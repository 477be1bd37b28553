#!/usr/bin/env python
"""Fine-tune an encoder on English NER (or POS tagging) and evaluate it zero-shot on WikiANN (or UD) languages.

The encoder may be the original one or an adjusted one (any folder run_adjust.py wrote, or a Hub name). Training
reads English WikiANN (Hub ``unimelb-nlp/wikiann`` config ``en``) or ``--train_file``; evaluation covers every
language of ``--eval_languages`` on the test (``--do_predict``) and/or validation (``--do_eval``) split. With
``--align_parallel_file`` (and ``--align_languages``, ``--align_alignment_file``) every step also keeps the
adjustment loss: continual learning.

    python run_ner.py --model_name_or_path out/adjusted-es-ru --output_dir out/ner \
        --do_train --do_predict --eval_languages en es ru vi hi
    python run_ner.py --task_name pos --model_name_or_path out/adjusted-es-ru --output_dir out/pos \
        --do_train --do_predict --eval_languages en es ru vi hi --num_train_epochs 10

Local files: ``--train_file`` and, per split, ``--validation_files`` / ``--test_files`` with ``LANG=PATH`` entries
or one PATH where ``{lang}`` stands for the language (``test.{lang}.conll``). Formats: json/jsonl records with
``tokens`` and ``ner_tags`` (names or ids), or CoNLL columns (token first, tag last, blank line between
sentences). Tags: O, B/I-PER, B/I-ORG, B/I-LOC in IOB2, ids stored in the saved config; an ``I-X`` that continues
nothing is an error naming the file and line, or read as ``B-X`` with ``--iob2_repair convert``.

POS tagging (``--task_name pos``): Universal Dependencies UPOS (17 tags), English training data of XTREME's UD-POS
(Hub ``google/xtreme`` config ``udpos.English``) or ``--train_file``; local files are CoNLL-U (``.conllu``), CoNLL
columns or json/jsonl records with ``tokens`` and ``pos_tags``; scored by word accuracy (XTREME's POS metric), see
:mod:`xladjust.tasks.pos` and :mod:`xladjust.tasks.tagging`. Everything else below holds for both tasks.

Labels on subwords: the first subword of a word carries its tag, the others are ignored by the loss, unless
``--label_all_tokens`` (training only: evaluation always reads the first subword). Scores: entity-level precision,
recall and F1 (seqeval, strict IOB2) over every word of the file; a word cut off by ``--max_seq_length`` counts as
predicted ``O`` (for POS: as wrong). Defaults as in the paper: lr 2e-5, 3 epochs, batch 32, 128 subwords.

Outputs in ``--output_dir``: the model and tokenizer, ``all_results.json`` (``predict_es_f1``, ``predict_es_PER_f1``,
..., ``predict_avg_f1`` = mean over the non-English languages; ``accuracy`` is word-level tag accuracy),
``predictions/{eval,predict}_{lang}.jsonl`` (``{"id", "gold", "predicted"}`` with one tag per word, in file order),
``trainer_state.json`` (with ``task_loss`` and ``alignment_loss`` under continual learning) and ``README.md``.
POS: ``predict_es_accuracy`` (words), ``predict_avg_accuracy``, and records with ``"metric": "word_accuracy"``.

``--average_checkpoints last_k:K|every:N`` saves and evaluates an average of checkpoints instead of the last weights,
``--select_on english_dev`` the candidate with the best English validation F1 (``final_model.json``; see
:mod:`xladjust.tasks.final_model`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import numpy as np
from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification, set_seed

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
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
from xladjust.tasks.evaluation import evaluate_languages
from xladjust.tasks.final_model import english_dev_sets, final_model_choice
from xladjust.tasks.label_balance import check_training_labels
from xladjust.tasks.models import load_task_model, load_tokenizer, setup_continual_learning
from xladjust.tasks.ner import REPAIR_POLICIES, tokenize_and_align
from xladjust.tasks.tagging import TAGGING_TASKS, TaggingTask
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)


@dataclass
class NerTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate (paper: 2e-5)."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Passes over the English data (paper: 3)."})


@dataclass
class NerDataArguments(TaskDataArguments):
    benchmark: ClassVar = "WikiANN"

    task_name: str = field(
        default="ner",
        metadata={"help": "ner: WikiANN entities; pos: Universal Dependencies UPOS.", "choices": list(TAGGING_TASKS)},
    )
    label_all_tokens: bool = field(
        default=False, metadata={"help": "Train on every subword (B-X → I-X after the first), not the first only."}
    )
    iob2_repair: str = field(
        default="error",
        metadata={"help": "An I-X continuing nothing: an error, or read as B-X.", "choices": list(REPAIR_POLICIES)},
    )

    def __post_init__(self) -> None:
        if self.task_name not in TAGGING_TASKS:
            raise InputError(f"--task_name must be one of {', '.join(TAGGING_TASKS)} (got {self.task_name!r})")
        super().__post_init__()

    def check_eval_language(self, language: str) -> None:
        TAGGING_TASKS[self.task_name].check_language(language)


def read_tagged(
    task: TaggingTask,
    language: str,
    split: str,
    path: str | None,
    shared: bool,
    repair: str = "error",
    cache_dir: str | None = None,
) -> Any:
    if shared:
        raise InputError(
            "a file of tagged sentences holds one language; give LANG=PATH per language or {lang} in the path", path
        )
    return task.load(language, split, path, repair, cache_dir)[0]


def encode_for_evaluation(examples: dict[str, list], tokenizer: Any, max_length: int, task: TaggingTask) -> Any:
    """First-subword labels, plus each word's first-subword position (-1: cut off) to read predictions back."""
    encoded = tokenize_and_align(
        examples, tokenizer, max_length, tags_column=task.tags_column, label_names=task.labels
    )
    encoded["word_starts"] = []
    for i, tokens in enumerate(examples["tokens"]):
        starts = [-1] * len(tokens)
        for position, word in reversed(list(enumerate(encoded.word_ids(i)))):
            if word is not None:
                starts[word] = position
        encoded["word_starts"].append(starts)
    return encoded


def decode_tags(
    eval_set: EvalSet, predictions: Any, task: TaggingTask
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The predicted tag of every word (its first subword's), scored by the task; a word cut off by
    ``--max_seq_length`` gets the task's ``cut_off_tag``."""
    predictions = np.asarray(predictions)
    names = np.asarray([*task.labels, task.cut_off_tag], dtype=object)
    cut_off_id = list(names).index(task.cut_off_tag)
    gold, predicted, records, cut_off = [], [], [], 0
    columns = (eval_set.examples["id"], eval_set.examples[task.tags_column], eval_set.features["word_starts"])
    for i, (example_id, tags, starts) in enumerate(zip(*columns, strict=True)):
        starts = np.asarray(starts, dtype=np.int64)
        ids = np.where(starts >= 0, predictions[i, np.maximum(starts, 0)], cut_off_id)
        cut_off += int((starts < 0).sum())
        gold.append(names[tags].tolist())
        predicted.append(names[ids].tolist())
        records.append({"id": example_id, "gold": gold[-1], "predicted": predicted[-1], **dict(task.record_fields)})
    if cut_off:
        message = "%s: %d words without a subword (beyond --max_seq_length, or tokenised to nothing) are scored as "
        logger.warning(message + "predicted %s", eval_set.prefix, cut_off, task.cut_off_tag)
    return task.score(gold, predicted), records


ARGUMENTS = (ModelArguments, NerDataArguments, ContinualLearningArguments, NerTrainingArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    model_args, data_args, continual_args, training_args = parse_arguments(ARGUMENTS, argv)
    setup_logging(training_args)
    run = start_training_run("run_ner.py", (model_args, data_args, continual_args, training_args))
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training sentences and every language's evaluation sets, all validated before the model loads.
    task = TAGGING_TASKS[data_args.task_name]
    read = partial(read_tagged, task, repair=data_args.iob2_repair, cache_dir=model_args.cache_dir)
    train_examples, train_source, balance = None, None, None
    if training_args.do_train:
        available = read("en", "train", data_args.train_file, False)
        train_examples = select_training_examples(available, data_args, training_args)
        train_source = data_args.train_file or "Hub (train)"
        balance = check_training_labels(
            task.labels,
            train_examples[task.tags_column],
            rows_available=len(available),
            shuffled=data_args.shuffle_train_before_select,
            rare_share=task.rare_share,
        )
    eval_sets = load_eval_sets(data_args, training_args, read)

    # 2. Tokenise words into subwords with aligned labels; the model gets the task's head (WikiANN's 7 tags, UPOS).
    tokenizer = load_tokenizer(model_args)
    train_dataset = None
    if train_examples is not None:
        encode = partial(
            tokenize_and_align,
            tokenizer=tokenizer,
            max_length=data_args.max_seq_length,
            label_all_tokens=data_args.label_all_tokens,
            tags_column=task.tags_column,
            label_names=task.labels,
        )
        train_dataset = tokenize(train_examples, encode, data_args, training_args)
    encode = partial(encode_for_evaluation, tokenizer=tokenizer, max_length=data_args.max_seq_length, task=task)
    eval_sets = tokenize_eval_sets(eval_sets, encode, data_args, training_args)
    decode = partial(decode_tags, task=task)
    english_dev = english_dev_sets(eval_sets, data_args, training_args, read, encode)
    final_model = final_model_choice(training_args, english_dev, decode, task.average_keys[0])
    model = load_task_model(AutoModelForTokenClassification, model_args, task.labels)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args, model_args)
    trainer = TaskTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_datasets_during_training(eval_sets, training_args),
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=task.trainer_metrics,
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
                "token-classification",
                task.card_task_name,
                per_language_benchmark(task.hub_dataset, task.benchmark, task.hub_config),
                task.card_metrics,
            ),
        ),
    )

    # 4. Train on English, evaluate every language, write the model card.
    results: dict[str, Any] = {}
    if training_args.do_train:
        records = {"train_labels": balance.as_results()}
        results.update(trainer.train_and_save(checkpoint, len(train_dataset), records=records))
    results.update(evaluate_languages(trainer, eval_sets, decode, average_keys=task.average_keys))
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
