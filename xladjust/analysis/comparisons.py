"""Which model comparisons A → B the word analysis lists (its changes table, figures and summary) and the report
shows, in which order: the one place that decides it.

Models are labelled ``ENCODER`` or ``ENCODER+TASK`` (the task model fine-tuned from ENCODER, as the study labels
them: ``original``, ``adjusted``, ``original+xnli``, ``adjusted+xnli``). ``paper`` (the default) keeps the
comparisons the paper's findings rest on, in this order:

1. every two encoders, earlier first: ``original → adjusted`` (what the adjustment does);
2. per task, each encoder → its task model: ``original → original+TASK``, ``adjusted → adjusted+TASK`` (what
   fine-tuning does to each);
3. per task, every two task models: ``original+TASK → adjusted+TASK`` (what the adjustment leaves after
   fine-tuning).

Pairs that answer no question (``adjusted → original+TASK``, ``original → adjusted+TASK``) are left out; ``all``
lists every pair of models, earlier first. Labels without a ``+TASK`` of another label are encoders, so plain lists
(``base``, ``adjusted``, ``mbert``) give every pair in both modes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

COMPARISONS = ("paper", "all")
"""``--comparisons`` of run_analysis.py."""


def split_label(label: str, labels: Sequence[str]) -> tuple[str, str | None]:
    """``(encoder, task)`` of a task model ``ENCODER+TASK`` whose encoder is among ``labels``, else
    ``(label, None)``."""
    encoder, separator, task = label.rpartition("+")
    if separator and encoder in labels and task:
        return encoder, task
    return label, None


def model_pairs(labels: Sequence[str], comparisons: str = "paper") -> list[tuple[str, str]]:
    """The comparisons A → B among ``labels`` (in their order), ``paper`` or ``all`` (see the module)."""
    if comparisons not in COMPARISONS:
        raise ValueError(f"comparisons must be one of {COMPARISONS} (got {comparisons!r})")
    labels = list(labels)
    if comparisons == "all":
        return list(itertools.combinations(labels, 2))
    encoders = [label for label in labels if split_label(label, labels)[1] is None]
    tasks = list(dict.fromkeys(task for label in labels if (task := split_label(label, labels)[1]) is not None))
    pairs = list(itertools.combinations(encoders, 2))
    for task in tasks:
        task_models = [f"{encoder}+{task}" for encoder in encoders if f"{encoder}+{task}" in labels]
        pairs += [(model.rpartition("+")[0], model) for model in task_models]
        pairs += list(itertools.combinations(task_models, 2))
    return pairs


def comparison_order(labels: Sequence[str]) -> list[str]:
    """``A->B`` keys in display order: the ``paper`` comparisons first, then the others of ``all``."""
    paper = model_pairs(labels, "paper")
    rest = [pair for pair in model_pairs(labels, "all") if pair not in paper]
    return [f"{a}->{b}" for a, b in paper + rest]
