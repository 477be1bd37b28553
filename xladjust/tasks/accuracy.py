"""`evaluate` module ``accuracy``: the share of correct class predictions (XNLI; PAWS-X, SIB-200 and Belebele alike).

The number is :func:`xladjust.tasks.metrics.accuracy`'s (this module's one relative import, ``metrics.py`` beside
it), so run_xnli.py and this module compute through one implementation. Loaded in the package as
:class:`Accuracy`, or offline by its path (:func:`xladjust.metric_modules.load_metric`, docs/metrics.md); a metric
Space holds this file and ``metrics.py``.
"""

import datasets
import evaluate

from .metrics import accuracy

_DESCRIPTION = """Accuracy of class predictions: the share of examples whose predicted class id equals the gold one,
as XNLI, PAWS-X, SIB-200 and Belebele report it (here as a fraction, 0..1)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): gold class ids, in the same order.
Returns:
    accuracy (float): the share of predictions equal to their reference, 0..1.
Examples:
    >>> Accuracy(keep_in_memory=True).compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2])
    {'accuracy': 0.75}
"""

_CITATION = """@inproceedings{conneau-etal-2018-xnli,
  title = {{XNLI}: Evaluating Cross-lingual Sentence Representations},
  author = {Conneau, Alexis and Rinott, Ruty and Lample, Guillaume and Williams, Adina and Bowman, Samuel and
            Schwenk, Holger and Stoyanov, Veselin},
  booktitle = {Proceedings of EMNLP},
  year = {2018}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({name: datasets.Value("int64") for name in ("predictions", "references")}),
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"accuracy": accuracy(predictions, references)}
