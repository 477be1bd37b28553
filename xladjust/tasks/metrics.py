"""Metrics of the downstream tasks: accuracy (NLI, PAWS-X, SIB-200, Belebele), word accuracy (POS), entity-level
NER scores (seqeval), averages over languages.

NER scores are seqeval's in strict mode with the IOB2 scheme: an entity counts only when type and both
boundaries match, and a predicted entity must start with ``B-`` (a predicted ``I-X`` after ``O`` starts
nothing, unlike conlleval's default). All values returned are plain Python floats/ints, so they can go
straight into ``Trainer`` logs and JSON files.

The evaluate modules ``accuracy`` and ``seqeval_strict`` (``accuracy.py``, ``seqeval_strict.py`` beside this file)
compute through these functions. This file imports nothing from the package, so that it travels with them: evaluate
copies it when it loads a module by path, and a metric Space holds it (docs/metrics.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

IGNORE_INDEX = -100
WORD_ACCURACY = "word_accuracy"
"""The ``metric`` field of POS predictions records: tag lists scored word by word, not as entities (see
:func:`xladjust.study.results.score_records`)."""
ENTITY_TYPES = ("PER", "ORG", "LOC")


def _first_output(predictions: Any) -> np.ndarray:
    # Trainer gives a tuple when the model also returns hidden states or attentions: the logits come first.
    if isinstance(predictions, tuple) and predictions and not np.isscalar(predictions[0]):
        predictions = predictions[0]
    return np.asarray(predictions)


def accuracy(predictions: Any, labels: Any) -> float:
    """Share of correct predictions; ``predictions`` are class ids, or logits with classes on the last axis."""
    predictions = _first_output(predictions)
    labels = np.asarray(labels)
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(axis=-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions of shape {predictions.shape} do not match labels of shape {labels.shape}")
    if labels.size == 0:
        raise ValueError("no labels to score")
    return float((predictions == labels).mean())


def logits_to_tag_sequences(
    predictions: Any, label_ids: Any, label_names: Sequence[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """``(true_tags, predicted_tags)`` per sentence from token-classification output, for seqeval.

    ``predictions`` are logits ``(batch, length, labels)`` or ids ``(batch, length)``; positions whose label
    is -100 (special tokens, non-first subwords, padding) are dropped from both sides.
    """
    predictions = _first_output(predictions)
    label_ids = np.asarray(label_ids)
    if predictions.ndim == label_ids.ndim + 1:
        predictions = predictions.argmax(axis=-1)
    if predictions.shape != label_ids.shape:
        raise ValueError(f"predictions of shape {predictions.shape} do not match labels of shape {label_ids.shape}")
    names = np.asarray(list(label_names), dtype=object)
    mask = label_ids != IGNORE_INDEX
    # One flat gather for the whole batch, then split back into sentences at the per-row counts.
    splits = np.cumsum(mask.sum(axis=-1))[:-1]
    true_tags = np.split(names[label_ids[mask]], splits)
    pred_tags = np.split(names[predictions[mask]], splits)
    return [row.tolist() for row in true_tags], [row.tolist() for row in pred_tags]


def ner_scores(
    true_tag_seqs: Sequence[Sequence[str]],
    pred_tag_seqs: Sequence[Sequence[str]],
    entity_types: Iterable[str] = ENTITY_TYPES,
) -> dict[str, float | int]:
    """Entity-level micro precision/recall/f1 and per-type scores (seqeval, strict, IOB2).

    Keys: ``precision``, ``recall``, ``f1``, ``support`` (number of true entities), and for each type
    ``{TYPE}_precision``, ``{TYPE}_recall``, ``{TYPE}_f1``, ``{TYPE}_support``. Every type of
    ``entity_types`` is reported (zeros when absent), plus any other type found. Zero divisions give 0.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    true_tag_seqs = [list(seq) for seq in true_tag_seqs]
    pred_tag_seqs = [list(seq) for seq in pred_tag_seqs]
    if len(true_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(true_tag_seqs)} true sequences but {len(pred_tag_seqs)} predicted ones")
    for i, (true, pred) in enumerate(zip(true_tag_seqs, pred_tag_seqs, strict=True)):
        if len(true) != len(pred):
            raise ValueError(f"sequence {i}: {len(true)} true tags but {len(pred)} predicted ones")
    with warnings.catch_warnings():
        # Without any entity seqeval's macro average is a mean of nothing; we do not report it.
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(
            true_tag_seqs, pred_tag_seqs, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
        )
    micro = report["micro avg"]
    scores: dict[str, float | int] = {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "support": int(micro["support"]),
    }
    types = list(entity_types) + sorted(key for key in report if not key.endswith(" avg") and key not in entity_types)
    for entity_type in types:
        row = report.get(entity_type, {})
        scores[f"{entity_type}_precision"] = float(row.get("precision", 0.0))
        scores[f"{entity_type}_recall"] = float(row.get("recall", 0.0))
        scores[f"{entity_type}_f1"] = float(row.get("f1-score", 0.0))
        scores[f"{entity_type}_support"] = int(row.get("support", 0))
    return scores


def word_accuracy(true_tag_seqs: Sequence[Sequence[str]], pred_tag_seqs: Sequence[Sequence[str]]) -> float:
    """Share of words whose predicted tag is the true one, over every word of every sentence (micro: a long
    sentence weighs more than a short one, as in XTREME's POS accuracy)."""
    if len(true_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(true_tag_seqs)} true sequences but {len(pred_tag_seqs)} predicted ones")
    correct = words = 0
    for i, (true, pred) in enumerate(zip(true_tag_seqs, pred_tag_seqs, strict=True)):
        if len(true) != len(pred):
            raise ValueError(f"sequence {i}: {len(true)} true tags but {len(pred)} predicted ones")
        true, pred = np.asarray(true, dtype=object), np.asarray(pred, dtype=object)
        correct += int((true == pred).sum())
        words += true.size
    if not words:
        raise ValueError("no words to score")
    return correct / words


def average_over_languages(
    metrics_by_lang: Mapping[str, Mapping[str, Any]], key: str, exclude: Iterable[str] = ("en",)
) -> float:
    """Mean of ``metrics_by_lang[lang][key]`` over the languages not in ``exclude`` (zero-shot average)."""
    excluded = set(exclude)
    languages = [lang for lang in metrics_by_lang if lang not in excluded]
    if not languages:
        raise ValueError(f"no language left to average after excluding {sorted(excluded)}")
    missing = [lang for lang in languages if key not in metrics_by_lang[lang]]
    if missing:
        raise KeyError(f"metric {key!r} missing for {', '.join(missing)}")
    return float(np.mean([float(metrics_by_lang[lang][key]) for lang in languages]))


def nli_compute_metrics(eval_prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for ``Trainer`` on NLI: ``{"accuracy": ...}``."""
    return {"accuracy": accuracy(eval_prediction.predictions, eval_prediction.label_ids)}


def tag_accuracy_compute_metrics(eval_prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for ``Trainer`` on POS: accuracy over the labelled (first-subword) positions."""
    predictions = _first_output(eval_prediction.predictions)
    labels = np.asarray(eval_prediction.label_ids)
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(axis=-1)
    mask = labels != IGNORE_INDEX
    return {"accuracy": accuracy(predictions[mask], labels[mask])}


def make_ner_compute_metrics(label_names: Sequence[str]) -> Callable[[Any], dict[str, float | int]]:
    """``compute_metrics`` for ``Trainer`` on NER, with :func:`ner_scores`' keys."""
    names = list(label_names)

    def compute_metrics(eval_prediction: Any) -> dict[str, float | int]:
        true_tags, pred_tags = logits_to_tag_sequences(eval_prediction.predictions, eval_prediction.label_ids, names)
        return ner_scores(true_tags, pred_tags)

    return compute_metrics
