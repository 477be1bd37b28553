"""The scripts' metrics as `evaluate` modules: where each one lives, and loading one offline by its path.

Every metric a script reports is an ``evaluate.Metric`` subclass in a file (under ``xladjust/``) beside the
functions that compute it: its one import from this package is relative (``from .metrics import ...``), so that
``evaluate`` copies that file with it and a metric Space needs nothing else.

- ``accuracy`` (``tasks/accuracy.py``): class accuracy; run_xnli.py (XNLI, PAWS-X, SIB-200), run_belebele.py.
- ``seqeval_strict`` (``tasks/seqeval_strict.py``): entity P/R/F1, seqeval strict IOB2, and tag accuracy; run_ner.py.
- ``word_accuracy`` (``tasks/word_accuracy.py``): word-level tag accuracy (UD POS); run_ner.py ``--task_name pos``.
- ``squad_v1`` (``tasks/qa/squad_v1.py``): EM/F1 by the SQuAD v1.1 script's rules; run_qa.py.
- ``mlqa`` (``tasks/qa/mlqa.py``): EM/F1 by the MLQA script's rules in the answer language; run_qa.py.
- ``retrieval_accuracy`` (``analysis/retrieval_accuracy.py``): sentence retrieval accuracy@1 (Tatoeba);
  run_analysis.py.

The scripts build the classes themselves (in memory: nothing is written, nothing fetched). :func:`load_metric` is
the way in for anyone else: ``evaluate``'s loader given the module's absolute file path, which it reads from disk
(a path to an existing ``.py`` file never reaches the Hub); the result combines with others (``evaluate.combine``)
and its file, with its sibling, is what a metric Space holds (docs/metrics.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xladjust.errors import InputError

PACKAGE = Path(__file__).resolve().parent

METRIC_MODULES: dict[str, str] = {
    "accuracy": "tasks/accuracy.py",
    "seqeval_strict": "tasks/seqeval_strict.py",
    "word_accuracy": "tasks/word_accuracy.py",
    "squad_v1": "tasks/qa/squad_v1.py",
    "mlqa": "tasks/qa/mlqa.py",
    "retrieval_accuracy": "analysis/retrieval_accuracy.py",
}
"""Module name → its file, relative to the package folder."""


def metric_path(name: str) -> Path:
    """The file of the evaluate module ``name`` (an InputError for an unknown name)."""
    if name not in METRIC_MODULES:
        raise InputError(f"unknown metric module {name!r}; expected one of {', '.join(METRIC_MODULES)}")
    return PACKAGE / METRIC_MODULES[name]


def module_files(name: str) -> list[Path]:
    """The files a copy of module ``name`` needs, e.g. in a metric Space: the module and the sibling it imports."""
    path = metric_path(name)
    text = path.read_text(encoding="utf-8")
    siblings = [line.split()[1].removeprefix(".") for line in text.splitlines() if line.startswith("from .")]
    return [path, *(path.with_name(f"{sibling}.py") for sibling in siblings)]


def load_metric(name: str, **options: Any) -> Any:
    """The evaluate module ``name`` loaded from its file in this package (``options``: ``evaluate.load``'s, e.g.
    ``keep_in_memory=True``). Only a local path is given, so nothing is looked up on the Hub."""
    import evaluate

    path = metric_path(name)
    return evaluate.load(str(path), **options)
