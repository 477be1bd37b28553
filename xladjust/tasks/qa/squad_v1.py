"""`evaluate` module ``squad_v1``: exact match and F1 of extractive QA by the official SQuAD v1.1 script's rules
(XQuAD, TyDi QA GoldP, and the paper's protocol for every set).

The numbers are :func:`xladjust.tasks.qa.metrics.evaluate_predictions` with ``rules="squad"`` (``metrics.py``
beside this file, the one relative import), so run_qa.py and this module compute through one implementation.
The inputs are those of the Hub's ``squad`` metric. Loaded in the package as :class:`SquadV1`, or offline by its
path (:func:`xladjust.metric_modules.load_metric`, docs/metrics.md); a metric Space holds this file and
``metrics.py``.
"""

import evaluate

from .metrics import SQUAD_RULES, metric_features, score_qa

_DESCRIPTION = """Exact match and token F1 of extractive QA answers, normalised as the official SQuAD v1.1 evaluation
script does whatever the language: lower-case, remove the ASCII punctuation characters (string.punctuation only),
remove the English articles a/an/the as whole words, split on whitespace. EM and F1 of a question are the maxima
over its gold answers; F1 is 0 when the two answers share no token. Scores are percentages, averaged over the
references; a reference without a prediction scores 0."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of dict): {"id": str, "prediction_text": str} per question.
    references (list of dict): {"id": str, "answers": {"text": [str, ...], "answer_start": [int, ...]}} per question.
    answer_language (str, optional): accepted for evaluate.combine with the mlqa module; SQuAD's rules ignore it.
    per_example (bool, optional): also return the per-question scores (default False).
Returns:
    exact_match, f1 (float, 0..100); with per_example: ids, exact_match_per_example, f1_per_example (in the order
    of the references), count (questions) and missing (questions without a prediction).
Examples:
    >>> SquadV1(keep_in_memory=True).compute(
    ...     predictions=[{"id": "q1", "prediction_text": "The Eiffel Tower!"}],
    ...     references=[{"id": "q1", "answers": {"text": ["Eiffel Tower"], "answer_start": [0]}}],
    ... )
    {'exact_match': 100.0, 'f1': 100.0}
"""

_CITATION = """@inproceedings{rajpurkar-etal-2016-squad,
  title = {{SQ}u{AD}: 100,000+ Questions for Machine Comprehension of Text},
  author = {Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
  booktitle = {Proceedings of EMNLP},
  year = {2016}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SquadV1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=metric_features(),
        )

    def _compute(self, predictions, references, answer_language="en", per_example=False) -> dict:
        return score_qa(predictions, references, answer_language, SQUAD_RULES, per_example)
