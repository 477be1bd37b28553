#!/usr/bin/env python
"""Does an adjustment (or a task fine-tuning) bring translations closer while keeping unrelated words apart?

For every link (target word t, English word e) of held-out word-aligned pairs, the related distance d(t, e) is
compared with the distance d(t', e) to an unrelated target word t' of the same pair; per model and layer this gives
histograms of both, of the paired difference Δ = d_unrelated − d_related and, for every two models A → B, of the
per-link changes. Also contextual word retrieval (Cao et al. 2020) and sentence retrieval: on the evaluation pairs,
or on Tatoeba as XTREME does (``--retrieval_corpus tatoeba``: mean-pooled ``hidden_states[layer]``, cosine, accuracy@1
foreign → English and English → foreign; no alignments needed).

    python run_analysis.py --models base=google-bert/bert-base-multilingual-cased adjusted=out/adjusted \
        --languages es ru --parallel_files es-en.heldout.txt ru-en.heldout.txt --output_dir out/analysis
    python run_analysis.py --analyses sentence_retrieval --retrieval_corpus tatoeba --languages es ru vi hi \
        --models base=google-bert/bert-base-multilingual-cased adjusted=out/adjusted --layers 8 -1 --output_dir out/xsr
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer

from xladjust.analysis.arguments import AnalysisArguments
from xladjust.analysis.sentence_retrieval import (
    load_retrieval_corpora,
    retrieve_sentences,
    scores_by_language,
)
from xladjust.analysis.summary import render_summary
from xladjust.analysis.word_analysis import analyse_words, write_distance_csv
from xladjust.analysis.word_distances import METRICS
from xladjust.analysis.word_vectors import EncodedCorpus, WordIndex, encode_pairs
from xladjust.cli import configure_logging, run_main
from xladjust.data.embedding_alignment import build_aligner
from xladjust.data.parallel import LanguageCorpus, load_parallel_corpora
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.data.tatoeba import Bitext
from xladjust.data.text import check_fast_tokenizer
from xladjust.errors import InputError
from xladjust.io import write_json, write_text
from xladjust.run_folder import start_run
from xladjust.script_utils import parse_arguments


def check_data_options(data_args: ParallelDataArguments) -> None:
    """Refuse the parallel-data options that run_adjust.py takes and this script cannot honour (before run.json)."""
    if data_args.max_train_pairs is not None or data_args.validation_pairs:
        raise InputError(
            "run_analysis.py samples its pairs with --max_pairs (not --max_train_pairs/--validation_pairs)"
        )
    if data_args.filter_model is not None:  # the held-out pairs are drawn before run_adjust.py filters
        raise InputError("--filter_model filters an adjustment's training pairs; the analysis reads its pairs whole")
    if data_args.aligner == "simalign":  # whose vectors? Every --models entry is a candidate: the choice is the user's
        raise InputError(
            "--aligner simalign: give the links as --alignment_files (run_adjust.py --aligner simalign writes them "
            "to its heldout/ folder)"
        )


def load_corpora(
    data_args: ParallelDataArguments, args: AnalysisArguments
) -> tuple[list[LanguageCorpus], list[Bitext]]:
    """The evaluation pairs (read, aligned and filtered exactly as run_adjust.py does) for the word analyses, and the
    sentence-retrieval corpora, which need no alignment; each only when an analysis needs it."""
    data_args.max_train_pairs, data_args.validation_pairs = args.max_pairs, 0
    corpora, bitexts = [], []
    if set(args.analyses) - {"sentence_retrieval"}:
        aligner = build_aligner(data_args, None, "cpu")  # eflomal (None) or the --dictionary_files links
        cache = os.path.join(args.output_dir, "alignments")
        corpora = load_parallel_corpora(data_args, args.seed, cache, aligner=aligner)
    if "sentence_retrieval" in args.analyses:
        bitexts = load_retrieval_corpora(data_args, args.retrieval_corpus, args.tatoeba_dir, args.seed, args.max_pairs)
    return corpora, bitexts


def load_encoder(path: str, device: str) -> tuple[Any, torch.nn.Module]:
    """A model's fast tokenizer and its encoder (``AutoModel``: the encoder inside a task model), in eval mode."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    check_fast_tokenizer(tokenizer)
    return tokenizer, AutoModel.from_pretrained(path).to(device).eval()


def encode_with(
    label: str,
    path: str,
    corpora: list[LanguageCorpus],
    bitexts: list[Bitext],
    indices: dict[str, WordIndex],
    data_args: ParallelDataArguments,
    args: AnalysisArguments,
    device: str,
) -> tuple[dict[str, dict[int, EncodedCorpus]], dict[str, dict[int, dict[str, Any]]]]:
    """One model: word vectors per language and layer (the words of ``indices``, which the first model sets) and
    sentence-retrieval scores per language and layer."""
    tokenizer, model = load_encoder(path, device)
    common = {"label": label, "layers": args.layers, "batch_size": args.batch_size, "device": device}
    words = {}
    for corpus in corpora:
        indices[corpus.language], words[corpus.language] = encode_pairs(
            model,
            tokenizer,
            corpus.train,
            language=corpus.language,
            pooling=args.word_pooling,
            max_seq_length=data_args.max_seq_length,
            reference=indices.get(corpus.language),
            **common,
        )
    sentences = {
        bitext.language: retrieve_sentences(
            model,
            tokenizer,
            bitext,
            corpus=args.retrieval_corpus,
            include_special_tokens=args.sentence_special_tokens,
            max_length=data_args.max_seq_length,
            predictions_dir=os.path.join(args.output_dir, "predictions", label),
            **common,
        )
        for bitext in bitexts
    }
    return words, sentences


ARGUMENTS = (ParallelDataArguments, AnalysisArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    data_args, args = parse_arguments(ARGUMENTS, argv)
    configure_logging()
    check_data_options(data_args)
    run = start_run(
        "run_analysis.py",
        (data_args, args),
        args.output_dir,
        overwrite=args.overwrite_output_dir,
        results_file="analysis_results.json",
    )
    if run.finished:
        return run.results
    models, device = args.model_paths(), args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    metrics = list(METRICS) if args.distance == "both" else [args.distance]

    # 1. The evaluation pairs for the word analyses, and the sentence-retrieval corpora.
    corpora, bitexts = load_corpora(data_args, args)
    results: dict[str, Any] = {"settings": {"models": models, **asdict(args)}}

    # 2. Vectors of every model, layer and language (each model with its own tokenizer); sentence retrieval.
    indices: dict[str, WordIndex] = {}
    vectors, sentence_scores = {}, {}
    for label, path in models.items():
        vectors[label], sentence_scores[label] = encode_with(
            label, path, corpora, bitexts, indices, data_args, args, device
        )
    if bitexts:
        results["sentence_retrieval"] = scores_by_language(sentence_scores, [b.language for b in bitexts], args.layers)

    # 3. The word analyses, per language and layer.
    rows = []
    if corpora:
        results["languages"], rows = analyse_words(
            {corpus.language: len(corpus.train) for corpus in corpora},
            indices,
            vectors,
            layers=args.layers,
            metrics=metrics if "distances" in args.analyses else [],
            word_retrieval="word_retrieval" in args.analyses,
            unrelated=args.unrelated,
            seed=args.seed,
            output_dir=args.output_dir,
            comparisons=args.comparisons,
        )

    # 4. Files: results, per-link distances for re-plotting, a short summary.
    write_json(os.path.join(args.output_dir, "analysis_results.json"), results)
    if corpora:
        write_distance_csv(os.path.join(args.output_dir, "distances.csv"), rows)
    summary = render_summary(results, metrics, args.layers)
    write_text(os.path.join(args.output_dir, "summary.md"), summary)
    print(summary)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
