"""Word vectors of word-aligned evaluation pairs: one word numbering for every model, and the vectors per layer.

The pairs are tokenised and pooled exactly as the adjustment's training code does (``build_alignment_dataset``,
``AlignedPairCollator``, ``pool_words``), without [CLS]/[SEP]; the pseudo-words a tokenizer adds at the ends are
dropped, so that word ``i`` is the same word under every model (:func:`check_same_words` makes sure of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset
from xladjust.adjust.pooling import pool_words
from xladjust.data.parallel import CorpusStats
from xladjust.errors import InputError


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
    layers: Sequence[int],
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


def encode_pairs(
    model: torch.nn.Module,
    tokenizer: Any,
    pairs: Any,
    *,
    language: str,
    label: str,
    layers: Sequence[int],
    pooling: str,
    max_seq_length: int,
    batch_size: int,
    device: str,
    reference: WordIndex | None = None,
) -> tuple[WordIndex, dict[int, EncodedCorpus]]:
    """The word numbering of one language's aligned ``pairs`` and their word vectors under the model ``label``.

    ``reference``: the numbering under an earlier model, which this one must keep (checked before encoding).
    """
    dataset = build_alignment_dataset(
        pairs,
        tokenizer,
        max_seq_length=max_seq_length,
        include_cls_sep=False,
        language_id=0,
        stats=CorpusStats(),
        desc=f"Tokenizing {language} for {label}",
        keep_text=True,
    )
    special = set(tokenizer.all_special_ids)
    index = word_index(dataset, special)
    if reference is not None:
        check_same_words(reference, index, label, language)
    vectors = encode_corpus(
        model,
        dataset,
        AlignedPairCollator(tokenizer.pad_token_id),
        layers,
        pooling,
        special,
        device,
        batch_size,
        desc=f"Encoding {language} with {label}",
    )
    return index, vectors


def check_same_words(first: WordIndex, other: WordIndex, label: str, language: str) -> None:
    """Every model must keep the same words of the pairs, or their distances could not be compared link by link."""
    if not (
        np.array_equal(first.tgt_pair, other.tgt_pair)
        and np.array_equal(first.link_tgt, other.link_tgt)
        and np.array_equal(first.link_en, other.link_en)
    ):
        raise InputError(
            f"{label} keeps other words of the {language} pairs than the first model (its tokenizer truncates "
            "or drops different words); raise --max_seq_length so that every model sees every word"
        )
