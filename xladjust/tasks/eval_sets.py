"""Evaluation sets of the task scripts: one per requested split and language, read before training, tokenised once.

Metrics: ``{split}_{lang}_{metric}`` with split ``eval`` (validation) or ``predict`` (test), e.g.
``eval_es_accuracy`` or ``predict_ru_f1``; ``{split}_{lang}_samples`` counts the examples.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import TrainingArguments

from xladjust.tasks.arguments import TaskDataArguments

logger = logging.getLogger(__name__)

HUB_SPLITS = {"eval": "validation", "predict": "test"}
"""Metric prefix of an evaluation → the dataset split it reads."""


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


def select_training_examples(dataset: Any, data_args: Any, training_args: TrainingArguments) -> Any:
    """The training examples ``--max_train_samples`` keeps: the first N rows, or with
    ``--shuffle_train_before_select`` N rows drawn at random (seeded by ``--data_seed``, else ``--seed``; the
    same sample for every variant of a seed), kept in file order. ``data_args``: any task's data arguments."""
    limit = data_args.max_train_samples
    if not data_args.shuffle_train_before_select or limit is None or limit >= len(dataset):
        return first_examples(dataset, limit)
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    chosen = np.random.default_rng(seed).choice(len(dataset), size=limit, replace=False)
    return dataset.select(np.sort(chosen))


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
