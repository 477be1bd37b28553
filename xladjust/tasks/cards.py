"""Model cards of the task scripts: where the data came from, the model-index entries, the settings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from transformers import TrainingArguments

from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.arguments import ModelArguments
from xladjust.model_card import CardEvaluation, ModelCardInfo
from xladjust.tasks.arguments import TaskDataArguments
from xladjust.tasks.eval_sets import HUB_SPLITS, EvalSet


def describe_data(train_source: str | None, train_examples: Any, eval_sets: Sequence[EvalSet]) -> list[str]:
    """Model-card lines: where each set came from and its size."""
    lines = [f"train (en): {train_source}, {len(train_examples)} examples"] if train_examples is not None else []
    return lines + [f"{s.prefix}: {s.source}, {len(s.examples)} examples" for s in eval_sets]


def per_language_benchmark(
    dataset_id: str, pretty_name: str, config_name: Callable[[str], str] | None = None
) -> Callable[[EvalSet], tuple[str, str, str | None, str | None]]:
    """``benchmark`` of :func:`card_evaluations` for a Hub dataset with one config per language (XNLI, WikiANN);
    ``config_name(language)`` names the config where it is not the language code (``udpos.Spanish``, ``spa_Latn``)."""

    def benchmark(eval_set: EvalSet) -> tuple[str, str, str | None, str | None]:
        config = config_name(eval_set.language) if config_name else eval_set.language
        return dataset_id, f"{pretty_name} ({eval_set.language})", config, HUB_SPLITS[eval_set.split]

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
        if continual_args.align_freeze:
            summary += (
                f" The alignment terms give no gradient to {' '.join(continual_args.align_freeze)} (AlignFreeze); the "
                "task loss trains every layer."
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
