"""After training: predict every evaluation set, score it, write its predictions file, add the zero-shot averages.

Metrics per split go to ``{split}_results.json`` and ``all_results.json``: ``{split}_{lang}_{metric}``,
``{split}_{lang}_samples``, and ``{split}_avg_{metric}``, the mean over the non-English languages (the zero-shot
average).

Predictions: ``predictions/{split}_{lang}.jsonl`` in the output folder, one JSON object per example in file
order, ``{"id": ..., "gold": ..., "predicted": ...}`` (label names; lists of word tags for NER), so that
significance tests can be run later on the same examples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xladjust.io import write_jsonl
from xladjust.tasks.accuracy import Accuracy
from xladjust.tasks.eval_sets import EvalSet
from xladjust.tasks.metrics import average_over_languages
from xladjust.trainer import TaskTrainer

Decoder = Callable[[EvalSet, Any], tuple[dict[str, float], list[dict[str, Any]]]]
"""``decode(eval_set, predictions) -> (metrics, records)``: scores of one set and its predictions-file lines."""


def decode_classes(
    eval_set: EvalSet, predictions: Any, shown: Callable[[int], Any]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """A class per example (NLI, PAWS-X, SIB-200, Belebele): the accuracy (the evaluate module ``accuracy``) and one
    record per example, its gold and predicted class ids written as ``shown(id)`` (a label name, a 1-based answer)."""
    predicted = np.asarray(predictions).reshape(-1)
    gold = np.asarray(eval_set.examples["label"])
    records = [
        {"id": example_id, "gold": shown(g), "predicted": shown(p)}
        for example_id, g, p in zip(eval_set.examples["id"], gold.tolist(), predicted.tolist(), strict=True)
    ]
    return Accuracy(keep_in_memory=True).compute(predictions=predicted, references=gold), records


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
                write_jsonl(path, records)
        if any(language != "en" for language in scores):
            metrics.update({f"{split}_avg_{key}": average_over_languages(scores, key) for key in average_keys})
        trainer.log_metrics(split, metrics)
        trainer.save_metrics(split, metrics)
        results.update(metrics)
    return results
