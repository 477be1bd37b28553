"""`evaluate` module ``seqeval_strict``: entity-level precision, recall and F1 of IOB2 tags, seqeval in strict mode
(WikiANN NER), with per-type scores and the word-level tag accuracy.

The numbers are :func:`xladjust.tasks.metrics.ner_scores` and :func:`~xladjust.tasks.metrics.word_accuracy`
(``metrics.py`` beside this file, the one relative import), so run_ner.py and this module compute through one
implementation. Loaded in the package as :class:`SeqevalStrict`, or offline by its path
(:func:`xladjust.metric_modules.load_metric`, docs/metrics.md); a metric Space holds this file and ``metrics.py``.
"""

import datasets
import evaluate

from .metrics import ENTITY_TYPES, ner_scores, word_accuracy

_DESCRIPTION = """Entity-level NER scores by seqeval in strict mode with the IOB2 scheme: an entity counts only when
its type and both boundaries match, and a predicted entity must start with B- (a predicted I-X after O starts
nothing, unlike conlleval and seqeval's default mode). Micro precision, recall and F1 over all entities, the same
per entity type, the number of true entities (support), and the word-level tag accuracy."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of str): predicted IOB2 tags, one list per sentence.
    references (list of list of str): gold IOB2 tags, the same lengths.
    entity_types (list of str, optional): types always reported, zeros when absent (default PER, ORG, LOC).
Returns:
    precision, recall, f1 (float, 0..1), support (int): micro scores over all entities;
    {TYPE}_precision, {TYPE}_recall, {TYPE}_f1, {TYPE}_support: per entity type;
    accuracy (float): the share of words whose predicted tag is the gold tag.
Examples:
    >>> scores = SeqevalStrict(keep_in_memory=True).compute(
    ...     predictions=[["B-PER", "I-PER", "O"], ["I-ORG", "O"]], references=[["B-PER", "I-PER", "O"], ["B-ORG", "O"]]
    ... )
    >>> scores["precision"], scores["recall"], scores["accuracy"]
    (1.0, 0.5, 0.8)
"""

_CITATION = """@misc{seqeval,
  title = {seqeval: A Python framework for sequence labeling evaluation},
  author = {Nakayama, Hiroki},
  year = {2018},
  url = {https://github.com/chakki-works/seqeval}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SeqevalStrict(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(self, predictions, references, entity_types=ENTITY_TYPES) -> dict[str, float | int]:
        scores = ner_scores(references, predictions, entity_types)
        return {**scores, "accuracy": word_accuracy(references, predictions)}
