#!/usr/bin/env python
"""Fine-tune an encoder on English NER and evaluate it zero-shot on WikiANN languages (Efimov et al. 2023).

The encoder may be the original one or an adjusted one (any folder run_adjust.py wrote, or a Hub name). Training
reads English WikiANN (Hub ``unimelb-nlp/wikiann`` config ``en``) or ``--train_file``; evaluation covers every
language of ``--eval_languages`` on the test (``--do_predict``) and/or validation (``--do_eval``) split. With
``--align_parallel_file`` (and ``--align_languages``, ``--align_alignment_file``) every step also keeps the
adjustment loss: continual learning.

    python run_ner.py --model_name_or_path out/adjusted-es-ru --output_dir out/ner \
        --do_train --do_predict --eval_languages en es ru vi hi

Local files: ``--train_file`` and, per split, ``--validation_files`` / ``--test_files`` with ``LANG=PATH`` entries
or one PATH where ``{lang}`` stands for the language (``test.{lang}.conll``). Formats: json/jsonl records with
``tokens`` and ``ner_tags`` (names or ids), or CoNLL columns (token first, tag last, blank line between
sentences). Tags: O, B/I-PER, B/I-ORG, B/I-LOC in IOB2, ids stored in the saved config; an ``I-X`` that continues
nothing is an error naming the file and line, or read as ``B-X`` with ``--iob2_repair convert``.

Labels on subwords: the first subword of a word carries its tag, the others are ignored by the loss, unless
``--label_all_tokens`` (training only: evaluation always reads the first subword). Scores: entity-level precision,
recall and F1 (seqeval, strict IOB2) over every word of the file; a word cut off by ``--max_seq_length`` counts as
predicted ``O``. Defaults as in the paper: lr 2e-5, 3 epochs, batch 32, 128 subwords.

Outputs in ``--output_dir``: the model and tokenizer, ``all_results.json`` (``predict_es_f1``, ``predict_es_PER_f1``,
..., ``predict_avg_f1`` = mean over the non-English languages; ``accuracy`` is word-level tag accuracy),
``predictions/{eval,predict}_{lang}.jsonl`` (``{"id", "gold", "predicted"}`` with one tag per word, in file order),
``trainer_state.json`` (with ``task_loss`` and ``alignment_loss`` under continual learning) and ``README.md``.

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
from xladjust.data.languages import WIKIANN_LANGUAGES
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
from xladjust.tasks.metrics import make_ner_compute_metrics, ner_scores
from xladjust.tasks.models import load_task_model, load_tokenizer, setup_continual_learning
from xladjust.tasks.ner import NER_HUB_DATASET, NER_LABELS, REPAIR_POLICIES, load_ner_dataset, tokenize_and_align
from xladjust.trainer import TaskTrainer

logger = logging.getLogger(__name__)


NER_CARD_METRICS = [(key, key, f"{key.capitalize()} (entity level, seqeval)") for key in ("f1", "precision", "recall")]
"""Model-card metrics: ``(results suffix, metric type, metric name)``."""


@dataclass
class NerTrainingArguments(TaskTrainingArguments):
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate (paper: 2e-5)."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Passes over the English data (paper: 3)."})


@dataclass
class NerDataArguments(TaskDataArguments):
    known_languages: ClassVar = WIKIANN_LANGUAGES
    benchmark: ClassVar = "WikiANN"

    label_all_tokens: bool = field(
        default=False, metadata={"help": "Train on every subword (B-X → I-X after the first), not the first only."}
    )
    iob2_repair: str = field(
        default="error",
        metadata={"help": "An I-X continuing nothing: an error, or read as B-X.", "choices": list(REPAIR_POLICIES)},
    )


def read_wikiann(
    language: str, split: str, path: str | None, shared: bool, repair: str = "error", cache_dir: str | None = None
) -> Any:
    if shared:
        raise InputError("an NER file holds one language; give LANG=PATH per language or put {lang} in the path", path)
    return load_ner_dataset(language, split, path, repair, cache_dir)[0]


def encode_for_evaluation(examples: dict[str, list], tokenizer: Any, max_length: int) -> Any:
    """First-subword labels, plus each word's first-subword position (-1: cut off) to read predictions back."""
    encoded = tokenize_and_align(examples, tokenizer, max_length)
    encoded["word_starts"] = []
    for i, tokens in enumerate(examples["tokens"]):
        starts = [-1] * len(tokens)
        for position, word in reversed(list(enumerate(encoded.word_ids(i)))):
            if word is not None:
                starts[word] = position
        encoded["word_starts"].append(starts)
    return encoded


def decode_ner(eval_set: EvalSet, predictions: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
    predictions = np.asarray(predictions)
    names = np.asarray(NER_LABELS, dtype=object)
    gold, predicted, records, cut_off = [], [], [], 0
    rows = zip(eval_set.examples["id"], eval_set.examples["ner_tags"], eval_set.features["word_starts"], strict=True)
    for i, (example_id, tags, starts) in enumerate(rows):
        starts = np.asarray(starts, dtype=np.int64)
        ids = np.where(starts >= 0, predictions[i, np.maximum(starts, 0)], NER_LABELS.index("O"))
        cut_off += int((starts < 0).sum())
        gold.append(names[tags].tolist())
        predicted.append(names[ids].tolist())
        records.append({"id": example_id, "gold": gold[-1], "predicted": predicted[-1]})
    if cut_off:
        logger.warning("%s: %d words beyond --max_seq_length are scored as predicted O", eval_set.prefix, cut_off)
    words = sum(len(tags) for tags in gold)
    correct = sum(g == p for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True))
    return {**ner_scores(gold, predicted), "accuracy": correct / words}, records


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, continual_args, training_args = parse_arguments(
        (ModelArguments, NerDataArguments, ContinualLearningArguments, NerTrainingArguments), argv
    )
    setup_logging(training_args)
    run = start_training_run("run_ner.py", (model_args, data_args, continual_args, training_args))
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. English training sentences and every language's evaluation sets, all validated before the model loads.
    read = partial(read_wikiann, repair=data_args.iob2_repair, cache_dir=model_args.cache_dir)
    train_examples, train_source = None, None
    if training_args.do_train:
        train_examples = first_examples(read("en", "train", data_args.train_file, False), data_args.max_train_samples)
        train_source = data_args.train_file or "Hub (train)"
    eval_sets = load_eval_sets(data_args, training_args, read)

    # 2. Tokenise words into subwords with aligned labels; the model gets the 7-tag head in WikiANN's order.
    tokenizer = load_tokenizer(model_args, pretokenized=True)
    train_dataset = None
    if train_examples is not None:
        encode = partial(
            tokenize_and_align,
            tokenizer=tokenizer,
            max_length=data_args.max_seq_length,
            label_all_tokens=data_args.label_all_tokens,
        )
        train_dataset = tokenize(train_examples, encode, data_args, training_args)
    encode = partial(encode_for_evaluation, tokenizer=tokenizer, max_length=data_args.max_seq_length)
    eval_sets = tokenize_eval_sets(eval_sets, encode, data_args, training_args)
    english_dev = english_dev_sets(eval_sets, data_args, training_args, read, encode)
    final_model = final_model_choice(training_args, english_dev, decode_ner, "f1")
    model = load_task_model(AutoModelForTokenClassification, model_args, NER_LABELS)

    # 3. Continual learning (optional) and the trainer.
    continual = setup_continual_learning(continual_args, model, tokenizer, training_args)
    trainer = TaskTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_datasets_during_training(eval_sets, training_args),
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=make_ner_compute_metrics(NER_LABELS),
        preprocess_logits_for_metrics=predicted_ids,
        continual=continual,
        final_model=final_model,
        model_card=task_model_card(
            "NER",
            ["token-classification", "wikiann"],
            model_args,
            data_args,
            continual_args,
            training_args,
            data=describe_data(train_source, train_examples, eval_sets),
            evaluations=card_evaluations(
                eval_sets,
                "token-classification",
                "Named Entity Recognition",
                per_language_benchmark(NER_HUB_DATASET, "WikiANN"),
                NER_CARD_METRICS,
            ),
        ),
    )

    # 4. Train on English, evaluate every language, write the model card.
    results: dict[str, float] = {}
    if training_args.do_train:
        results.update(trainer.train_and_save(checkpoint, len(train_dataset)))
    results.update(evaluate_languages(trainer, eval_sets, decode_ner, average_keys=("f1", "precision", "recall")))
    trainer.publish(data_args.eval_languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
