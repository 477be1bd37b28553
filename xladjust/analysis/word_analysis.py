"""The word analyses of one language: distances of related and unrelated words, model comparisons, figures and
word retrieval, per layer, for every model's vectors of the same words (see :mod:`xladjust.analysis.word_vectors`).

Results go into ``analysis_results.json`` under ``languages[LANG]["layer_N"]``; :func:`distance_rows` gives the
rows of ``distances.csv`` (one per link, model, layer and metric, for re-plotting).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from xladjust.analysis.comparisons import model_pairs
from xladjust.analysis.plots import plot_language_figures
from xladjust.analysis.retrieval import word_retrieval_p_at_1
from xladjust.analysis.word_distances import (
    DistanceTable,
    compare_models,
    draw_link_sample,
    word_distance_table,
)
from xladjust.analysis.word_vectors import EncodedCorpus, WordIndex
from xladjust.io import write_csv

DISTANCE_FIELDS = (
    "language",
    "layer",
    "metric",
    "model",
    "link",
    "target_word",
    "english_word",
    "unrelated_word",
    "d_related",
    "d_unrelated",
    "delta",
)
"""The columns of ``distances.csv``."""


def analyse_words(
    pairs_per_language: Mapping[str, int],
    indices: Mapping[str, WordIndex],
    vectors: Mapping[str, Mapping[str, Mapping[int, EncodedCorpus]]],
    **options: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`analyse_language` for every language: ``results["languages"]`` and every ``distances.csv`` row.

    ``vectors``: label → language → layer → word vectors; ``options``: the keyword arguments of
    :func:`analyse_language`.
    """
    results, rows = {}, []
    for language, num_pairs in pairs_per_language.items():
        by_model = {label: by_language[language] for label, by_language in vectors.items()}
        results[language], language_rows = analyse_language(
            language, num_pairs, indices[language], by_model, **options
        )
        rows += language_rows
    return results, rows


def analyse_language(
    language: str,
    num_pairs: int,
    index: WordIndex,
    vectors: Mapping[str, Mapping[int, EncodedCorpus]],
    *,
    layers: Sequence[int],
    metrics: Sequence[str],
    word_retrieval: bool,
    unrelated: str,
    seed: int,
    output_dir: str,
    comparisons: str = "paper",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The results of one language (figures written to ``output_dir``) and its ``distances.csv`` rows.

    ``vectors``: label → layer → the language's word vectors under that model. One sample of unrelated words is
    drawn and shared by every model, so that models are compared link by link. ``metrics`` may be empty (no
    distances). ``comparisons``: which model pairs A → B are compared, ``paper`` or ``all`` (see
    :mod:`xladjust.analysis.comparisons`).
    """
    sample = draw_link_sample(index.link_tgt, index.link_en, index.tgt_pair, mode=unrelated, seed=seed)
    results: dict[str, Any] = {"pairs": num_pairs, "links": sample.num_links}
    rows = []
    pairs = model_pairs(list(vectors), comparisons)
    for layer in layers:
        per_layer = results[f"layer_{layer}"] = {}
        for metric in metrics:
            tables = {
                label: word_distance_table(by_layer[layer].tgt_words, by_layer[layer].en_words, sample, metric)
                for label, by_layer in vectors.items()
            }
            per_layer[metric] = {
                "unrelated_not_found": sample.num_invalid,
                "models": {label: table.summary().as_dict() for label, table in tables.items()},
                "comparisons": {f"{a}->{b}": compare_models(tables[a], tables[b]).as_dict() for a, b in pairs},
            }
            suffix = "" if len(layers) == 1 else f"_layer{layer}"
            figures = plot_language_figures(tables, language + suffix, metric, output_dir, model_pairs=pairs)
            per_layer[metric]["figures"] = {kind: os.path.basename(path) for kind, path in figures.items()}
            rows += distance_rows(language, layer, metric, tables, index)
        if word_retrieval:
            per_layer["retrieval"] = {label: word_retrieval_scores(v[layer], index) for label, v in vectors.items()}
    return results, rows


def word_retrieval_scores(encoded: EncodedCorpus, index: WordIndex) -> dict[str, float]:
    """P@1 of contextual word retrieval (Cao et al. 2020) in both directions."""
    words = word_retrieval_p_at_1(encoded.tgt_words, encoded.en_words, index.link_tgt, index.link_en)
    return {"word_p_at_1_tgt_to_en": words.p_at_1_tgt_to_en, "word_p_at_1_en_to_tgt": words.p_at_1_en_to_tgt}


def distance_rows(
    language: str, layer: int, metric: str, tables: Mapping[str, DistanceTable], index: WordIndex
) -> list[dict[str, Any]]:
    """One ``distances.csv`` row per link and model: the three words and both distances."""
    rows = []
    for label, table in tables.items():
        for i in range(len(table)):
            rows.append(
                {
                    "language": language,
                    "layer": layer,
                    "metric": metric,
                    "model": label,
                    "link": int(table.link_index[i]),
                    "target_word": index.tgt_text[table.tgt[i]],
                    "english_word": index.en_text[table.en[i]],
                    "unrelated_word": index.tgt_text[table.unrel_tgt[i]],
                    "d_related": float(table.d_rel[i]),
                    "d_unrelated": float(table.d_unrel[i]),
                    "delta": float(table.d_unrel[i] - table.d_rel[i]),
                }
            )
    return rows


def write_distance_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    write_csv(path, rows, DISTANCE_FIELDS)
