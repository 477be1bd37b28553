"""Sentence retrieval (XTREME's protocol) of one model on one bitext per language, with per-query files.

The corpus is Tatoeba (:func:`xladjust.data.tatoeba.load_tatoeba`) or the evaluation pairs themselves: the same
seeded sample as the word analyses, before link filtering, so no alignment is needed. Vectors are mean-pooled
``hidden_states[layer]`` (:mod:`xladjust.data.sentence_encoding`), scores cosine accuracy@1 in both directions
(the evaluate module ``retrieval_accuracy``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from xladjust.analysis.retrieval_accuracy import RetrievalAccuracy
from xladjust.data.parallel import CorpusStats, read_source, select_pairs, sources_and_filters
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.data.sentence_encoding import encode_sentences
from xladjust.data.tatoeba import Bitext, load_tatoeba, make_bitext
from xladjust.errors import InputError
from xladjust.io import write_jsonl

logger = logging.getLogger(__name__)

RETRIEVAL_CORPORA = ("pairs", "tatoeba")


def load_retrieval_corpora(
    data_args: ParallelDataArguments, corpus: str, tatoeba_dir: str | None, seed: int, max_pairs: int | None
) -> list[Bitext]:
    """The sentence-retrieval corpus of every language: Tatoeba, or the sampled evaluation pairs (no alignment)."""
    if not data_args.languages:
        raise InputError("--languages is empty; expected target-language codes, e.g. --languages es ru")
    if corpus == "tatoeba":
        return [load_tatoeba(lang, tatoeba_dir) for lang in data_args.languages]
    sources, settings = sources_and_filters(data_args, alignments=False)
    bitexts = []
    for source in sources:
        # The same seeded sample as the word analyses, before link filtering: every pair is a translation.
        pairs, _ = select_pairs(read_source(source), settings, CorpusStats(), seed, max_pairs, 0)
        target, english = [" ".join(p.target) for p in pairs], [" ".join(p.english) for p in pairs]
        bitexts.append(make_bitext(source.language, target, english, source.describe()))
    return bitexts


def scores_by_language(
    scores: Mapping[str, Mapping[str, Mapping[int, dict[str, Any]]]], languages: Sequence[str], layers: Sequence[int]
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """label → language → layer → scores, turned into ``analysis_results.json``'s layout: language → layer (a
    string) → label → scores, so that the models of one language and layer stand side by side."""
    return {
        language: {
            str(layer): {label: by_language[language][layer] for label, by_language in scores.items()}
            for layer in layers
        }
        for language in languages
    }


def retrieve_sentences(
    model: torch.nn.Module,
    tokenizer: Any,
    bitext: Bitext,
    *,
    label: str,
    corpus: str,
    layers: Sequence[int],
    include_special_tokens: bool,
    max_length: int,
    batch_size: int,
    device: str,
    predictions_dir: str,
) -> dict[int, dict[str, Any]]:
    """Accuracy@1 per layer, foreign → English (``to_en``) and back; one file per layer and direction in
    ``predictions_dir``: ``sentence_retrieval.LANG.layerN.{to_en,from_en}.jsonl``, ``{"id", "gold", "predicted"}``
    per query."""

    def encode(sentences: list[str]) -> dict[int, torch.Tensor]:
        return encode_sentences(
            model,
            tokenizer,
            sentences,
            layers=layers,
            include_special_tokens=include_special_tokens,
            max_length=max_length,
            batch_size=batch_size,
            device=device,
        )

    foreign, english = encode(bitext.foreign), encode(bitext.english)
    scores = {}
    for layer in layers:
        result = RetrievalAccuracy(keep_in_memory=True).compute(
            predictions=foreign[layer].numpy(), references=english[layer].numpy(), return_retrieved=True
        )
        for direction, predicted in (("to_en", result["retrieved"]), ("from_en", result["reverse_retrieved"])):
            name = f"sentence_retrieval.{bitext.language}.layer{layer}.{direction}.jsonl"
            records = [
                {"id": i, "gold": gold, "predicted": int(p)}
                for gold, (i, p) in enumerate(zip(bitext.ids, predicted, strict=True))
            ]
            write_jsonl(os.path.join(predictions_dir, name), records)
        scores[layer] = {
            "to_en": result["accuracy"],
            "from_en": result["reverse_accuracy"],
            "sentences": len(bitext),
            "corpus": corpus,
            "source": bitext.source,
        }
        logger.info(
            "%s %s layer %d: sentence retrieval acc@1 →en %.3f, en→ %.3f (%d sentences, %s)",
            label,
            bitext.language,
            layer,
            result["accuracy"],
            result["reverse_accuracy"],
            len(bitext),
            bitext.source,
        )
    return scores
