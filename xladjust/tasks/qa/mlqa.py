"""`evaluate` module ``mlqa``: exact match and F1 of extractive QA by the official MLQA script's rules, in the
language of the answer.

The numbers are :func:`xladjust.tasks.qa.metrics.evaluate_predictions` with ``rules="mlqa"`` (``metrics.py`` beside
this file, the one relative import; its docstring lists the rules per language), so run_qa.py and this module
compute through one implementation. Loaded in the package as :class:`Mlqa`, or offline by its path
(:func:`xladjust.metric_modules.load_metric`, docs/metrics.md); a metric Space holds this file and ``metrics.py``.
"""

import evaluate

from .metrics import MLQA_RULES, metric_features, score_qa

_DESCRIPTION = """Exact match and token F1 of extractive QA answers, normalised as the official MLQA evaluation script
does in the answer's language: lower-case, remove every Unicode punctuation character (and ASCII symbols), remove
the language's articles as whole words (en: a/an/the; es: el/la/los/las/un/una/unos/unas; de: der/die/das/...;
vi: MLQA's list; ar: the prefix al-), split on whitespace, and for Chinese make every CJK character a token.
Composed and decomposed Unicode forms compare equal (NFC first). Languages the MLQA script does not know get its
language-independent rules (no word removed) where the script would raise. EM and F1 of a question are the maxima
over its gold answers; scores are percentages, averaged over the references; a reference without a prediction
scores 0."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of dict): {"id": str, "prediction_text": str} per question.
    references (list of dict): {"id": str, "answers": {"text": [str, ...], "answer_start": [int, ...]}} per question.
    answer_language (str): ISO 639-1 code of the answers (the context language), e.g. "es" for mlqa.es.en.
    per_example (bool, optional): also return the per-question scores (default False).
Returns:
    exact_match, f1 (float, 0..100); with per_example: ids, exact_match_per_example, f1_per_example (in the order
    of the references), count (questions) and missing (questions without a prediction).
Examples:
    >>> Mlqa(keep_in_memory=True).compute(
    ...     predictions=[{"id": "q1", "prediction_text": "los reyes"}],
    ...     references=[{"id": "q1", "answers": {"text": ["reyes"], "answer_start": [4]}}],
    ...     answer_language="es",
    ... )
    {'exact_match': 100.0, 'f1': 100.0}
"""

_CITATION = """@inproceedings{lewis-etal-2020-mlqa,
  title = {{MLQA}: Evaluating Cross-lingual Extractive Question Answering},
  author = {Lewis, Patrick and Oguz, Barlas and Rinott, Ruty and Riedel, Sebastian and Schwenk, Holger},
  booktitle = {Proceedings of ACL},
  year = {2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Mlqa(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=metric_features(),
        )

    def _compute(self, predictions, references, answer_language=None, per_example=False) -> dict:
        if answer_language is None:
            raise ValueError("mlqa needs answer_language: the ISO 639-1 code of the answers (the context language)")
        return score_qa(predictions, references, answer_language, MLQA_RULES, per_example)
