"""Is every label of the task in the training data? A training sample without a label trains a model that never
predicts it, and nothing else says so: the first N rows of a file sorted by label (``--max_train_samples``) are
one class.

One call per task script, after the training examples are chosen
(:func:`~xladjust.tasks.eval_sets.select_training_examples`: ``--max_train_samples``, first or random rows)::

    train_examples = select_training_examples(available, data_args, training_args)
    balance = check_training_labels(NLI_LABELS, train_examples["label"], rows_available=len(available),
                                    shuffled=data_args.shuffle_train_before_select)
    ...  # after training (all_results.json appears only once a run has trained):
    trainer.save_metrics("train_labels", balance.as_results())   # → all_results.json

``labels`` is one label id per example (NLI, PAWS-X, SIB-200: sequence classification) or one sequence of tag
ids per example (NER, POS: a tag per word); ``label_names`` are the task's labels in id order. The counts are
logged; a label absent from the training data or under ``rare_share`` (1 %) of it is a warning that names it,
says how the sample was chosen and how to choose another one. A tag set with naturally rare tags may pass a lower
``rare_share`` (UPOS ``SYM`` and ``X`` are each under 1 % of the tokens of English UD treebanks, per the UD
treebank statistics pages); an absent label is warned about whatever ``rare_share`` is.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

RARE_SHARE = 0.01
"""A label under this share of the training labels (examples, or tags for token tasks) is warned about."""


@dataclass
class LabelBalance:
    """The training labels of a task: counts in id order, and which are absent or rare."""

    label_names: list[str]
    counts: list[int]
    rows: int  # training examples (sentences for token tasks)
    unit: str  # what is counted: "examples" or "tags"
    rare_share: float = RARE_SHARE

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def absent(self) -> list[str]:
        return [name for name, count in zip(self.label_names, self.counts, strict=True) if count == 0]

    @property
    def rare(self) -> list[str]:
        """Labels absent or under ``rare_share`` of the training labels, in id order."""
        limit = self.rare_share * self.total
        return [name for name, count in zip(self.label_names, self.counts, strict=True) if count == 0 or count < limit]

    def describe(self) -> str:
        """``entailment 3000 (100.0 %), neutral 0 (0.0 %), ...``."""
        total = max(self.total, 1)
        return ", ".join(
            f"{name} {count} ({100 * count / total:.1f} %)"
            for name, count in zip(self.label_names, self.counts, strict=True)
        )

    def as_results(self) -> dict[str, Any]:
        """What ``all_results.json`` records: the count of every label and the absent or rare ones."""
        return {
            "train_label_counts": dict(zip(self.label_names, self.counts, strict=True)),
            "train_labels_rare": self.rare,
        }


def count_labels(
    label_names: Sequence[str], labels: Iterable[int] | Iterable[Sequence[int]], rare_share: float = RARE_SHARE
) -> LabelBalance:
    """Counts of every label id in ``labels`` (one id per example, or one sequence of tag ids per example)."""
    labels = list(labels)
    per_token = bool(labels) and isinstance(labels[0], Sequence | np.ndarray)
    flat = itertools.chain.from_iterable(labels) if per_token else labels
    ids = np.fromiter((int(label) for label in flat), dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(label_names)):
        raise ValueError(f"label ids must lie in 0..{len(label_names) - 1}; found {ids.min()}..{ids.max()}")
    counts = np.bincount(ids, minlength=len(label_names)).tolist()
    return LabelBalance(list(label_names), counts, len(labels), "tags" if per_token else "examples", rare_share)


def check_training_labels(
    label_names: Sequence[str],
    labels: Iterable[int] | Iterable[Sequence[int]],
    *,
    rows_available: int | None = None,
    shuffled: bool = False,
    rare_share: float = RARE_SHARE,
) -> LabelBalance:
    """:func:`count_labels`, logged, with a warning when a label is absent or rare. ``rows_available``: the rows
    of the training data before ``--max_train_samples`` chose some (None: unknown); ``shuffled``: they were drawn
    at random (``--shuffle_train_before_select``), not taken from the top."""
    balance = count_labels(label_names, labels, rare_share)
    logger.info("training labels (%d %s): %s", balance.total, balance.unit, balance.describe())
    if balance.rare:
        logger.warning(training_labels_warning(balance, rows_available, shuffled))
    return balance


def training_labels_warning(balance: LabelBalance, rows_available: int | None, shuffled: bool) -> str:
    """The warning about absent or rare labels: which, how the training rows were chosen, and what to do."""
    absent = balance.absent
    rare = [name for name in balance.rare if name not in absent]
    problems = [f"{', '.join(absent)} absent"] if absent else []
    problems += [f"{', '.join(rare)} under {100 * balance.rare_share:g} %"] if rare else []
    text = (
        f"TRAINING LABELS: {' and '.join(problems)} in the training data ({balance.describe()}; "
        f"{balance.total} {balance.unit}): the model will rarely or never predict {' / '.join(balance.rare)}. "
    )
    if rows_available is None or rows_available <= balance.rows:
        return text + f"All {balance.rows} training rows were used: check the training data."
    if shuffled:
        return text + (
            f"The {balance.rows} training rows were drawn at random from {rows_available} "
            "(--shuffle_train_before_select): the training data has few of them; raise --max_train_samples or "
            "check the data."
        )
    return text + (
        f"--max_train_samples took the FIRST {balance.rows} of {rows_available} rows, and a file sorted or grouped "
        "by label gives a sample without some labels: add --shuffle_train_before_select to draw the rows at random "
        "(seeded by --data_seed, else --seed)."
    )
