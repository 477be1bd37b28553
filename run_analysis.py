#!/usr/bin/env python
"""Does an adjustment (or a task fine-tuning) bring translations closer while keeping unrelated words apart?

For every link (target word t, English word e) of held-out word-aligned pairs, the related distance d(t, e) is
compared with the distance d(t', e) to an unrelated target word t' of the same pair; per model and layer this gives
histograms of both, of the paired difference Δ = d_unrelated − d_related and, for every two models A → B, of the
per-link changes. Also contextual word retrieval (Cao et al. 2020) and sentence retrieval (Tatoeba-style).

    python run_analysis.py --models base=bert-base-multilingual-cased adjusted=out/adjusted \
        --languages es ru --parallel_files es-en.heldout.txt ru-en.heldout.txt --output_dir out/analysis
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset, check_fast_tokenizer
from xladjust.adjust.pooling import POOLING_MODES, pool_words
from xladjust.analysis.plots import plot_language_figures
from xladjust.analysis.retrieval import mean_pool, sentence_retrieval_accuracy, word_retrieval_p_at_1
from xladjust.analysis.word_distances import (
    METRICS,
    SAMPLING_MODES,
    compare_models,
    draw_link_sample,
    word_distance_table,
)
from xladjust.arguments import ParallelDataArguments
from xladjust.data.parallel import CorpusStats, load_parallel_corpora
from xladjust.errors import InputError
from xladjust.run_folder import start_run, write_text
from xladjust.script_utils import parse_arguments, write_json

logger = logging.getLogger(__name__)
ANALYSES = ("distances", "word_retrieval", "sentence_retrieval")


@dataclass
class AnalysisArguments:
    models: list[str] = field(
        default_factory=list, metadata={"help": "LABEL=MODEL pairs: encoders or task models (their encoder is used)."}
    )
    output_dir: str = field(default="analysis_output", metadata={"help": "Where figures and results go."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Write into a non-empty --output_dir."})
    layers: list[int] = field(default_factory=lambda: [-1], metadata={"help": "hidden_states indices (-1: last)."})
    distance: str = field(default="cosine", metadata={"choices": [*METRICS, "both"]})
    word_pooling: str = field(default="avg", metadata={"choices": list(POOLING_MODES)})
    unrelated: str = field(
        default="same_pair", metadata={"help": "Where unrelated words come from.", "choices": list(SAMPLING_MODES)}
    )
    analyses: list[str] = field(default_factory=lambda: list(ANALYSES), metadata={"help": f"Any of {ANALYSES}."})
    max_pairs: int | None = field(default=None, metadata={"help": "Sample at most this many pairs per language."})
    seed: int = field(default=42, metadata={"help": "Seed of the pair sample and of the unrelated words."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per forward pass."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)."})

    def __post_init__(self) -> None:
        unknown = set(self.analyses) - set(ANALYSES)
        if unknown:
            raise InputError(f"unknown --analyses {sorted(unknown)}; expected any of {list(ANALYSES)}")
        if not self.models:
            raise InputError("--models is empty; expected LABEL=MODEL pairs, e.g. base=bert-base-multilingual-cased")

    def model_paths(self) -> dict[str, str]:
        labelled = {}
        for item in self.models:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                raise InputError(f"--models entry {item!r} is not LABEL=MODEL")
            if label in labelled:
                raise InputError(f"--models repeats the label {label!r}")
            labelled[label] = path
        return labelled


@dataclass
class EncodedCorpus:
    """Word and sentence vectors of one language under one model and layer, and where each word sits."""

    tgt_words: torch.Tensor  # (Nt, H) real words only, CLS/SEP removed
    en_words: torch.Tensor  # (Ne, H)
    tgt_sentences: torch.Tensor  # (P, H)
    en_sentences: torch.Tensor  # (P, H)


@dataclass
class WordIndex:
    """Global word numbering of an evaluation set (the same for every model), links in that numbering."""

    tgt_pair: np.ndarray
    link_tgt: np.ndarray
    link_en: np.ndarray
    tgt_text: list[str]
    en_text: list[str]


def real_word_mask(rows: list[list[int]], counts: list[int], special_ids: set[int]) -> np.ndarray:
    """True for pooled words that are words, False for the CLS/SEP pseudo-words at the ends of each sentence."""
    mask = []
    for ids, count in zip(rows, counts, strict=True):
        keep = np.ones(count, dtype=bool)
        keep[0] &= ids[0] not in special_ids
        keep[-1] &= ids[-1] not in special_ids
        mask.append(keep)
    return np.concatenate(mask)


def word_strings(sentences: list[list[str]], sources: list[list[int]]) -> list[str]:
    return [words[i] for words, kept in zip(sentences, sources, strict=True) for i in kept]


def word_index(dataset: Any, special_ids: set[int]) -> WordIndex:
    """Links, pair numbers and word strings over the real words of the whole set, from the per-sentence features."""
    tgt_real = real_word_mask(dataset["tgt_input_ids"], dataset["tgt_num_words"], special_ids)
    en_real = real_word_mask(dataset["en_input_ids"], dataset["en_num_words"], special_ids)
    tgt_rank, en_rank = np.cumsum(tgt_real) - 1, np.cumsum(en_real) - 1
    tgt_offsets = np.concatenate([[0], np.cumsum(dataset["tgt_num_words"])[:-1]])
    en_offsets = np.concatenate([[0], np.cumsum(dataset["en_num_words"])[:-1]])
    link_counts = [len(links) for links in dataset["link_tgt"]]
    pair = np.repeat(np.arange(len(dataset)), link_counts)
    tgt = np.concatenate([np.asarray(links, dtype=np.int64) for links in dataset["link_tgt"]])
    en = np.concatenate([np.asarray(links, dtype=np.int64) for links in dataset["link_en"]])
    return WordIndex(
        tgt_pair=np.repeat(np.arange(len(dataset)), dataset["tgt_num_words"])[tgt_real],
        link_tgt=tgt_rank[tgt_offsets[pair] + tgt],
        link_en=en_rank[en_offsets[pair] + en],
        tgt_text=word_strings(dataset["target"], dataset["tgt_word_source"]),
        en_text=word_strings(dataset["english"], dataset["en_word_source"]),
    )


@torch.no_grad()
def encode_corpus(
    model: torch.nn.Module, dataset: Any, collator: AlignedPairCollator, layers: list[int], pooling: str,
    special_ids: set[int], device: str, batch_size: int, desc: str,
) -> dict[int, EncodedCorpus]:  # fmt: skip
    """Batched forward passes; word vectors pooled with the training code's index arithmetic."""
    parts: dict[int, dict[str, list[torch.Tensor]]] = {
        layer: {k: [] for k in ("tw", "ew", "ts", "es")} for layer in layers
    }
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, leave=False):
        features = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = collator(features)
        for side, words_key, sentences_key in (("tgt", "tw", "ts"), ("en", "ew", "es")):
            ids, mask = batch[f"{side}_input_ids"].to(device), batch[f"{side}_attention_mask"].to(device)
            outputs = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            real = real_word_mask(
                [f[f"{side}_input_ids"] for f in features], [f[f"{side}_num_words"] for f in features], special_ids
            )
            real = torch.from_numpy(real)
            for layer in layers:
                hidden = outputs.hidden_states[layer].float()
                words = pool_words(hidden, batch[f"{side}_word_index"].to(device), batch[f"{side}_num_words"], pooling)
                parts[layer][words_key].append(words[real.to(device)].cpu())
                parts[layer][sentences_key].append(mean_pool(hidden, mask).cpu())
    return {layer: EncodedCorpus(*(torch.cat(p[k]) for k in ("tw", "ew", "ts", "es"))) for layer, p in parts.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    data_args, args = parse_arguments((ParallelDataArguments, AnalysisArguments), argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    run = start_run("run_analysis.py", (data_args, args), args.output_dir, overwrite=args.overwrite_output_dir,
                    results_file="analysis_results.json")  # fmt: skip
    if run.finished:
        return run.results
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    metrics = list(METRICS) if args.distance == "both" else [args.distance]
    models = args.model_paths()

    # 1. The evaluation pairs: read, aligned and filtered exactly as run_adjust.py does.
    data_args.max_train_pairs, data_args.validation_pairs = args.max_pairs, 0
    corpora = load_parallel_corpora(data_args, args.seed, os.path.join(args.output_dir, "alignments"))

    # 2. Vectors of every model, layer and language (each model with its own tokenizer).
    vectors: dict[str, dict[str, dict[int, EncodedCorpus]]] = {}
    indices: dict[str, WordIndex] = {}
    for label, path in models.items():
        tokenizer = AutoTokenizer.from_pretrained(path)
        check_fast_tokenizer(tokenizer)
        model = AutoModel.from_pretrained(path).to(device).eval()
        special = set(tokenizer.all_special_ids)
        collator = AlignedPairCollator(tokenizer.pad_token_id)
        vectors[label] = {}
        for corpus in corpora:
            dataset = build_alignment_dataset(
                corpus.train, tokenizer, max_seq_length=data_args.max_seq_length, include_cls_sep=False,
                language_id=0, stats=CorpusStats(), desc=f"Tokenizing {corpus.language} for {label}", keep_text=True,
            )  # fmt: skip
            index = word_index(dataset, special)
            if corpus.language in indices:
                check_same_words(indices[corpus.language], index, label, corpus.language)
            indices[corpus.language] = index
            vectors[label][corpus.language] = encode_corpus(
                model, dataset, collator, args.layers, args.word_pooling, special, device, args.batch_size,
                desc=f"Encoding {corpus.language} with {label}",
            )  # fmt: skip
        del model

    # 3. The analyses, per language and layer.
    results: dict[str, Any] = {"settings": {"models": models, **asdict(args)}, "languages": {}}
    rows = []
    for corpus in corpora:
        lang, index = corpus.language, indices[corpus.language]
        sample = draw_link_sample(index.link_tgt, index.link_en, index.tgt_pair, mode=args.unrelated, seed=args.seed)
        per_language = results["languages"][lang] = {"pairs": len(corpus.train), "links": sample.num_links}
        for layer in args.layers:
            per_layer = per_language[f"layer_{layer}"] = {}
            for metric in metrics if "distances" in args.analyses else []:
                tables = {
                    label: word_distance_table(v[lang][layer].tgt_words, v[lang][layer].en_words, sample, metric)
                    for label, v in vectors.items()
                }
                per_layer[metric] = {
                    "unrelated_not_found": sample.num_invalid,
                    "models": {label: table.summary().as_dict() for label, table in tables.items()},
                    "comparisons": {
                        f"{a}->{b}": compare_models(tables[a], tables[b]).as_dict()
                        for a, b in itertools.combinations(tables, 2)
                    },
                }
                suffix = "" if len(args.layers) == 1 else f"_layer{layer}"
                figures = plot_language_figures(tables, lang + suffix, metric, args.output_dir)
                per_layer[metric]["figures"] = {k: os.path.basename(p) for k, p in figures.items()}
                rows += distance_rows(lang, layer, metric, tables, index)
            for label, v in vectors.items():
                encoded = v[lang][layer]
                scores = per_layer.setdefault("retrieval", {}).setdefault(label, {})
                if "word_retrieval" in args.analyses:
                    words = word_retrieval_p_at_1(encoded.tgt_words, encoded.en_words, index.link_tgt, index.link_en)
                    scores["word_p_at_1_tgt_to_en"] = words.p_at_1_tgt_to_en
                    scores["word_p_at_1_en_to_tgt"] = words.p_at_1_en_to_tgt
                if "sentence_retrieval" in args.analyses:
                    sentences = sentence_retrieval_accuracy(encoded.tgt_sentences, encoded.en_sentences)
                    scores["sentence_acc_tgt_to_en"] = sentences.acc_src_to_tgt
                    scores["sentence_acc_en_to_tgt"] = sentences.acc_tgt_to_src

    # 4. Files: results, per-link distances for re-plotting, a short summary.
    write_json(os.path.join(args.output_dir, "analysis_results.json"), results)
    write_distance_csv(os.path.join(args.output_dir, "distances.csv"), rows)
    summary = render_summary(results, metrics, args.layers)
    write_text(os.path.join(args.output_dir, "summary.md"), summary)
    print(summary)
    run.finish()
    return results


def check_same_words(first: WordIndex, other: WordIndex, label: str, language: str) -> None:
    if not (np.array_equal(first.tgt_pair, other.tgt_pair) and np.array_equal(first.link_tgt, other.link_tgt)
            and np.array_equal(first.link_en, other.link_en)):  # fmt: skip
        raise InputError(
            f"{label} keeps other words of the {language} pairs than the first model (its tokenizer truncates "
            "or drops different words); raise --max_seq_length so that every model sees every word"
        )


def distance_rows(lang: str, layer: int, metric: str, tables: dict, index: WordIndex) -> list[dict[str, Any]]:
    rows = []
    for label, table in tables.items():
        for i in range(len(table)):
            rows.append({
                "language": lang, "layer": layer, "metric": metric, "model": label,
                "link": int(table.link_index[i]), "target_word": index.tgt_text[table.tgt[i]],
                "english_word": index.en_text[table.en[i]], "unrelated_word": index.tgt_text[table.unrel_tgt[i]],
                "d_related": float(table.d_rel[i]), "d_unrelated": float(table.d_unrel[i]),
                "delta": float(table.d_unrel[i] - table.d_rel[i]),
            })  # fmt: skip
    return rows


def write_distance_csv(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        fields = ["language", "layer", "metric", "model", "link", "target_word", "english_word", "unrelated_word",
                  "d_related", "d_unrelated", "delta"]  # fmt: skip
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


RETRIEVAL_COLUMNS = {
    "word_p_at_1_tgt_to_en": "word P@1 →en",
    "word_p_at_1_en_to_tgt": "word P@1 en→",
    "sentence_acc_tgt_to_en": "sentence acc →en",
    "sentence_acc_en_to_tgt": "sentence acc en→",
}


def render_summary(results: dict[str, Any], metrics: list[str], layers: list[int]) -> str:
    """Markdown tables: distances per model, changes per model pair, retrieval scores."""
    lines = ["# Analysis summary", ""]
    for lang, per_language in results["languages"].items():
        lines += [f"## {lang}: {per_language['pairs']} pairs, {per_language['links']} links", ""]
        for layer in layers:
            per_layer = per_language[f"layer_{layer}"]
            for metric in (m for m in metrics if m in per_layer):
                lines += [f"Layer {layer}, {metric} distance:", ""]
                lines += ["| model | d_related | d_unrelated | Δ | share Δ > 0 |", "| --- | --- | --- | --- | --- |"]
                for label, s in per_layer[metric]["models"].items():
                    values = (s["rel_mean"], s["unrel_mean"], s["delta_mean"], s["share_delta_positive"])
                    lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
                for pair, c in per_layer[metric]["comparisons"].items():
                    related = f"related {c['related_mean']:+.4f} (Wilcoxon p={c['related_p_value']:.2g})"
                    unrelated = f"unrelated {c['unrelated_mean']:+.4f} (p={c['unrelated_p_value']:.2g})"
                    lines += ["", f"{pair}: mean change of distances: {related}, {unrelated}"]
                lines.append("")
            if "retrieval" in per_layer:
                lines += ["| model | " + " | ".join(RETRIEVAL_COLUMNS.values()) + " |", "|---" * 5 + "|"]
                for label, s in per_layer["retrieval"].items():
                    values = [s.get(key, float("nan")) for key in RETRIEVAL_COLUMNS]
                    lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
                lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from xladjust.script_utils import run_main

    run_main(main)
