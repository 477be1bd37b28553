"""`evaluate` module ``word_accuracy``: the share of words whose predicted tag is the gold one (UD POS tagging).

The number is :func:`xladjust.tasks.metrics.word_accuracy`'s (this module's one relative import, ``metrics.py``
beside it): micro over every word of every sentence, as XTREME scores POS. run_ner.py ``--task_name pos`` computes
through it; loaded offline by its path with :func:`xladjust.metric_modules.load_metric` (docs/metrics.md).
"""

import datasets
import evaluate

from .metrics import word_accuracy

_DESCRIPTION = """Word-level tag accuracy: correct tags over all words of all sentences (a long sentence weighs more
than a short one), as XTREME reports UD POS tagging (here as a fraction, 0..1)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of str): predicted tags, one list per sentence.
    references (list of list of str): gold tags, the same lengths.
Returns:
    accuracy (float): the share of words whose predicted tag is the gold tag.
Examples:
    >>> WordAccuracy(keep_in_memory=True).compute(predictions=[["NOUN"], ["X", "X", "X"]],
    ...                                           references=[["X"], ["X", "X", "X"]])
    {'accuracy': 0.75}
"""

_CITATION = """@inproceedings{hu2020xtreme,
  title = {{XTREME}: A Massively Multilingual Multi-task Benchmark for Evaluating Cross-lingual Generalization},
  author = {Hu, Junjie and Ruder, Sebastian and Siddhant, Aditya and Neubig, Graham and Firat, Orhan and
            Johnson, Melvin},
  booktitle = {Proceedings of ICML},
  year = {2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WordAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"accuracy": word_accuracy(references, predictions)}
