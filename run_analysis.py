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

import csv
import itertools
import logging
import os
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset
from xladjust.adjust.pooling import POOLING_MODES, pool_words
from xladjust.analysis.plots import plot_language_figures
from xladjust.analysis.retrieval import sentence_retrieval_accuracy, word_retrieval_p_at_1
from xladjust.analysis.sentence_encoding import encode_sentences
from xladjust.analysis.word_distances import (
    METRICS,
    SAMPLING_MODES,
    compare_models,
    draw_link_sample,
    word_distance_table,
)
from xladjust.data.parallel import CorpusStats, load_parallel_corpora, read_source, select_pairs, sources_and_filters
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.data.tatoeba import Bitext, load_tatoeba, make_bitext
from xladjust.data.text import check_fast_tokenizer
from xladjust.errors import InputError
from xladjust.io import write_json, write_jsonl, write_text
from xladjust.run_folder import start_run
from xladjust.script_utils import parse_arguments

logger = logging.getLogger(__name__)
ANALYSES = ("distances", "word_retrieval", "sentence_retrieval")
RETRIEVAL_CORPORA = ("pairs", "tatoeba")


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
    retrieval_corpus: str = field(
        default="pairs",
        metadata={
            "help": "Sentence retrieval on the evaluation pairs, or on Tatoeba (XTREME's protocol).",
            "choices": list(RETRIEVAL_CORPORA),
        },
    )
    tatoeba_dir: str | None = field(
        default=None, metadata={"help": "Folder with tatoeba.spa-eng.spa + tatoeba.spa-eng.eng ... (default: Hub)."}
    )
    sentence_special_tokens: bool = field(
        default=True, metadata={"help": "Average [CLS]/[SEP] into sentence vectors too (XTREME does)."}
    )
    max_pairs: int | None = field(default=None, metadata={"help": "Sample at most this many pairs per language."})
    seed: int = field(default=42, metadata={"help": "Seed of the pair sample and of the unrelated words."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per forward pass."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)."})

    def __post_init__(self) -> None:
        unknown = set(self.analyses) - set(ANALYSES)
        if unknown:
            raise InputError(f"unknown --analyses {sorted(unknown)}; expected any of {list(ANALYSES)}")
        if not self.models:
            raise InputError(
                "--models is empty; expected LABEL=MODEL pairs, e.g. base=google-bert/bert-base-multilingual-cased"
            )

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
    """Word vectors of one language under one model and layer."""

    tgt_words: torch.Tensor  # (Nt, H) real words only, CLS/SEP removed
    en_words: torch.Tensor  # (Ne, H)


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
    model: torch.nn.Module,
    dataset: Any,
    collator: AlignedPairCollator,
    layers: list[int],
    pooling: str,
    special_ids: set[int],
    device: str,
    batch_size: int,
    desc: str,
) -> dict[int, EncodedCorpus]:
    """Batched forward passes; word vectors pooled with the training code's index arithmetic."""
    parts: dict[int, dict[str, list[torch.Tensor]]] = {layer: {k: [] for k in ("tw", "ew")} for layer in layers}
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, leave=False):
        features = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = collator(features)
        for side, words_key in (("tgt", "tw"), ("en", "ew")):
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
    return {layer: EncodedCorpus(*(torch.cat(p[k]) for k in ("tw", "ew"))) for layer, p in parts.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    data_args, args = parse_arguments((ParallelDataArguments, AnalysisArguments), argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    run = start_run(
        "run_analysis.py",
        (data_args, args),
        args.output_dir,
        overwrite=args.overwrite_output_dir,
        results_file="analysis_results.json",
    )
    if run.finished:
        return run.results
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    metrics = list(METRICS) if args.distance == "both" else [args.distance]
    models = args.model_paths()

    # 1. The evaluation pairs (read, aligned and filtered exactly as run_adjust.py does) for the word analyses, and
    #    the sentence-retrieval corpora, which need no alignment.
    data_args.max_train_pairs, data_args.validation_pairs = args.max_pairs, 0
    corpora = []
    if set(args.analyses) - {"sentence_retrieval"}:
        corpora = load_parallel_corpora(data_args, args.seed, os.path.join(args.output_dir, "alignments"))
    bitexts = load_retrieval_corpora(data_args, args) if "sentence_retrieval" in args.analyses else []
    results: dict[str, Any] = {"settings": {"models": models, **asdict(args)}}
    if bitexts:
        results["sentence_retrieval"] = {b.language: {str(layer): {} for layer in args.layers} for b in bitexts}

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
                corpus.train,
                tokenizer,
                max_seq_length=data_args.max_seq_length,
                include_cls_sep=False,
                language_id=0,
                stats=CorpusStats(),
                desc=f"Tokenizing {corpus.language} for {label}",
                keep_text=True,
            )
            index = word_index(dataset, special)
            if corpus.language in indices:
                check_same_words(indices[corpus.language], index, label, corpus.language)
            indices[corpus.language] = index
            vectors[label][corpus.language] = encode_corpus(
                model,
                dataset,
                collator,
                args.layers,
                args.word_pooling,
                special,
                device,
                args.batch_size,
                desc=f"Encoding {corpus.language} with {label}",
            )
        for bitext in bitexts:
            scores = retrieve_sentences(model, tokenizer, bitext, label, args, data_args.max_seq_length, device)
            for layer, score in scores.items():
                results["sentence_retrieval"][bitext.language][str(layer)][label] = score
        del model

    # 3. The word analyses, per language and layer.
    rows = []
    if corpora:
        results["languages"] = {}
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
            if "word_retrieval" in args.analyses:
                per_layer["retrieval"] = {label: word_retrieval(v[lang][layer], index) for label, v in vectors.items()}

    # 4. Files: results, per-link distances for re-plotting, a short summary.
    write_json(os.path.join(args.output_dir, "analysis_results.json"), results)
    if corpora:
        write_distance_csv(os.path.join(args.output_dir, "distances.csv"), rows)
    summary = render_summary(results, metrics, args.layers)
    write_text(os.path.join(args.output_dir, "summary.md"), summary)
    print(summary)
    run.finish()
    return results


def word_retrieval(encoded: EncodedCorpus, index: WordIndex) -> dict[str, float]:
    words = word_retrieval_p_at_1(encoded.tgt_words, encoded.en_words, index.link_tgt, index.link_en)
    return {"word_p_at_1_tgt_to_en": words.p_at_1_tgt_to_en, "word_p_at_1_en_to_tgt": words.p_at_1_en_to_tgt}


def load_retrieval_corpora(data_args: ParallelDataArguments, args: AnalysisArguments) -> list[Bitext]:
    """The sentence-retrieval corpus of every language: Tatoeba, or the sampled evaluation pairs (no alignment)."""
    if not data_args.languages:
        raise InputError("--languages is empty; expected target-language codes, e.g. --languages es ru")
    if args.retrieval_corpus == "tatoeba":
        return [load_tatoeba(lang, args.tatoeba_dir) for lang in data_args.languages]
    sources, settings = sources_and_filters(data_args, alignments=False)
    bitexts = []
    for source in sources:
        # The same seeded sample as the word analyses, before link filtering: every pair is a translation.
        pairs, _ = select_pairs(read_source(source), settings, CorpusStats(), args.seed, args.max_pairs, 0)
        target, english = [" ".join(p.target) for p in pairs], [" ".join(p.english) for p in pairs]
        bitexts.append(make_bitext(source.language, target, english, source.describe()))
    return bitexts


def retrieve_sentences(
    model: torch.nn.Module,
    tokenizer: Any,
    bitext: Bitext,
    label: str,
    args: AnalysisArguments,
    max_length: int,
    device: str,
) -> dict[int, dict[str, Any]]:
    """Accuracy@1 per layer, foreign → English (``to_en``) and back; per-query files in ``predictions/LABEL/``."""
    encode = partial(
        encode_sentences,
        model,
        tokenizer,
        layers=args.layers,
        include_special_tokens=args.sentence_special_tokens,
        max_length=max_length,
        batch_size=args.batch_size,
        device=device,
    )
    foreign, english = encode(bitext.foreign), encode(bitext.english)
    scores = {}
    for layer in args.layers:
        result = sentence_retrieval_accuracy(foreign[layer], english[layer])
        for direction, predicted in (("to_en", result.predicted_src_to_tgt), ("from_en", result.predicted_tgt_to_src)):
            name = f"sentence_retrieval.{bitext.language}.layer{layer}.{direction}.jsonl"
            records = [
                {"id": i, "gold": gold, "predicted": int(p)}
                for gold, (i, p) in enumerate(zip(bitext.ids, predicted, strict=True))
            ]
            write_jsonl(os.path.join(args.output_dir, "predictions", label, name), records)
        scores[layer] = {
            "to_en": result.acc_src_to_tgt,
            "from_en": result.acc_tgt_to_src,
            "sentences": len(bitext),
            "corpus": args.retrieval_corpus,
            "source": bitext.source,
        }
        logger.info(
            "%s %s layer %d: sentence retrieval acc@1 →en %.3f, en→ %.3f (%d sentences, %s)",
            label,
            bitext.language,
            layer,
            result.acc_src_to_tgt,
            result.acc_tgt_to_src,
            len(bitext),
            bitext.source,
        )
    return scores


def check_same_words(first: WordIndex, other: WordIndex, label: str, language: str) -> None:
    if not (
        np.array_equal(first.tgt_pair, other.tgt_pair)
        and np.array_equal(first.link_tgt, other.link_tgt)
        and np.array_equal(first.link_en, other.link_en)
    ):
        raise InputError(
            f"{label} keeps other words of the {language} pairs than the first model (its tokenizer truncates "
            "or drops different words); raise --max_seq_length so that every model sees every word"
        )


def distance_rows(lang: str, layer: int, metric: str, tables: dict, index: WordIndex) -> list[dict[str, Any]]:
    rows = []
    for label, table in tables.items():
        for i in range(len(table)):
            rows.append(
                {
                    "language": lang,
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


def write_distance_csv(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        fields = [
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
        ]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


RETRIEVAL_COLUMNS = {"word_p_at_1_tgt_to_en": "word P@1 →en", "word_p_at_1_en_to_tgt": "word P@1 en→"}


def render_summary(results: dict[str, Any], metrics: list[str], layers: list[int]) -> str:
    """Markdown tables: distances per model, changes per model pair, word and sentence retrieval (what was run)."""
    lines = ["# Analysis summary", ""]
    for lang, per_language in results.get("languages", {}).items():
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
                lines += [f"Layer {layer}, word retrieval:", ""]
                lines += ["| model | " + " | ".join(RETRIEVAL_COLUMNS.values()) + " |", "|---" * 3 + "|"]
                for label, s in per_layer["retrieval"].items():
                    lines.append(f"| {label} | " + " | ".join(f"{s[key]:.3f}" for key in RETRIEVAL_COLUMNS) + " |")
                lines.append("")
    return "\n".join(lines + sentence_retrieval_summary(results.get("sentence_retrieval", {}))) + "\n"


def sentence_retrieval_summary(by_language: dict[str, Any]) -> list[str]:
    """One table per language: accuracy@1 of every model at every layer, side by side."""
    lines = []
    for lang, by_layer in by_language.items():
        first = next(score for by_model in by_layer.values() for score in by_model.values())
        lines += [
            f"## Sentence retrieval {lang}: {first['corpus']}, {first['sentences']} pairs ({first['source']})",
            "",
        ]
        lines += ["| layer | model | acc@1 →en | acc@1 en→ |", "| --- | --- | --- | --- |"]
        for layer, by_model in by_layer.items():
            for label, score in by_model.items():
                lines.append(f"| {layer} | {label} | {score['to_en']:.3f} | {score['from_en']:.3f} |")
        lines.append("")
    return lines


if __name__ == "__main__":
    from xladjust.cli import run_main

    run_main(main)
