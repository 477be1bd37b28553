"""`evaluate` module ``retrieval_accuracy``: accuracy@1 of parallel sentence retrieval by cosine similarity
(Tatoeba, XTREME's protocol), in both directions.

The numbers are :func:`xladjust.analysis.retrieval.sentence_retrieval_accuracy` (``retrieval.py`` beside this file,
the one relative import), so run_analysis.py and this module compute through one implementation. Loaded in the
package as :class:`RetrievalAccuracy`, or offline by its path (:func:`xladjust.metric_modules.load_metric`,
docs/metrics.md); a metric Space holds this file and ``retrieval.py``.
"""

import datasets
import evaluate
import numpy as np

from .retrieval import sentence_retrieval_accuracy

_DESCRIPTION = """Accuracy@1 of parallel sentence retrieval: row i of the predictions and row i of the references are
the vectors of a sentence and of its translation; a query is right when its cosine nearest neighbour among all
vectors of the other side is its translation (ties go to the lower index), in both directions. With the non-English
vectors as predictions and the English ones as references, accuracy is run_analysis.py's to_en and reverse_accuracy
its from_en, the direction XTREME's Tatoeba script reports (English queries against the non-English index)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of float): one vector per sentence (e.g. the non-English sentences), float32.
    references (list of list of float): the vectors of their translations, row by row, the same width.
    return_retrieved (bool, optional): also return the retrieved indices (default False).
    chunk_size (int, optional): queries scored at once (default 1024; memory only, not the result).
Returns:
    accuracy (float, 0..1): each prediction queries the references (non-English -> English: to_en);
    reverse_accuracy (float, 0..1): each reference queries the predictions (English -> non-English: from_en, XTREME's);
    sentences (int); with return_retrieved: retrieved, reverse_retrieved (the index found for every query).
Examples:
    >>> RetrievalAccuracy(keep_in_memory=True).compute(
    ...     predictions=[[1.0, 0.0], [0.0, 1.0]], references=[[0.9, 0.1], [0.8, 0.2]]
    ... )
    {'accuracy': 1.0, 'reverse_accuracy': 0.5, 'sentences': 2}
"""

_CITATION = """@article{artetxe-schwenk-2019-massively,
  title = {Massively Multilingual Sentence Embeddings for Zero-Shot Cross-Lingual Transfer and Beyond},
  author = {Artetxe, Mikel and Schwenk, Holger},
  journal = {Transactions of the Association for Computational Linguistics},
  volume = {7},
  year = {2019}
}
@inproceedings{hu-etal-2020-xtreme,
  title = {{XTREME}: A Massively Multilingual Multi-task Benchmark for Evaluating Cross-lingual Generalization},
  author = {Hu, Junjie and Ruder, Sebastian and Siddhant, Aditya and Neubig, Graham and Firat, Orhan and
            Johnson, Melvin},
  booktitle = {Proceedings of ICML},
  year = {2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RetrievalAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        vector = datasets.Sequence(datasets.Value("float32"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": vector, "references": vector}),
        )

    def _compute(self, predictions, references, return_retrieved=False, chunk_size=1024) -> dict:
        queries, keys = (_matrix(x) for x in (predictions, references))
        result = sentence_retrieval_accuracy(queries, keys, chunk_size)
        scores = {
            "accuracy": result.acc_src_to_tgt,
            "reverse_accuracy": result.acc_tgt_to_src,
            "sentences": result.num_sentences,
        }
        if return_retrieved:
            scores["retrieved"] = result.predicted_src_to_tgt.tolist()
            scores["reverse_retrieved"] = result.predicted_tgt_to_src.tolist()
        return scores


def _matrix(vectors) -> np.ndarray:
    # No sentences: a (0, 0) matrix, which scores NaN rather than failing on its shape.
    return np.asarray(vectors, dtype=np.float32) if len(vectors) else np.zeros((0, 0), dtype=np.float32)
