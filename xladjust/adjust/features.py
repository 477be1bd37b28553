"""Tokenisation of aligned pairs into model inputs with word→subword maps, done once before training.

Every sentence becomes ``input_ids`` and a ``word_index`` of the same length that gives, for each token, the word
it belongs to (or -1). Words are numbered per sentence: 0 is the leading special token (CLS, ``<s>``), then the
words that kept at least one subword, then the trailing special token (SEP, ``</s>``). The maps come from the fast
tokenizer's ``word_ids()``, and every word is tokenised as in running text
(:func:`~xladjust.data.text.tokenize_words`), so WordPiece, SentencePiece and byte-level BPE tokenizers work alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np
from transformers import PreTrainedTokenizerBase

from xladjust.data.parallel import AlignedPair, CorpusStats, LanguageCorpus
from xladjust.data.text import check_fast_tokenizer, subword_limit, tokenize_words


def sentence_word_maps(word_ids: Sequence[int | None], num_words: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-token word index and the map from original word positions to pooled-word numbers.

    Returns ``(token_word_index, word_number, num_pooled_words)``: ``word_number[w]`` is -1 for words that have
    no subword left (truncated, or tokenised to nothing).
    """
    ids = np.array([-1 if w is None else w for w in word_ids], dtype=np.int64)
    present = np.zeros(num_words, dtype=bool)
    present[ids[ids >= 0]] = True
    leading = len(ids) > 0 and ids[0] < 0
    trailing = len(ids) > 1 and ids[-1] < 0
    word_number = np.full(num_words, -1, dtype=np.int64)
    word_number[present] = np.arange(int(present.sum())) + int(leading)
    token_word_index = np.where(ids >= 0, word_number[np.maximum(ids, 0)], -1)
    count = int(present.sum()) + int(leading)
    if leading:
        token_word_index[0] = 0
    if trailing:
        token_word_index[-1] = count
        count += 1
    return token_word_index, word_number, count


def tokenize_pairs(
    examples: dict[str, list],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    include_cls_sep: bool,
) -> dict[str, list]:
    """``datasets.map`` function (batched) from columns ``target``, ``english``, ``links`` to model features.

    Produces token ids, word maps and links in pooled-word numbers for both sides. Links whose words lost all
    their subwords (truncation at ``max_seq_length``, or a word that tokenises to nothing) are dropped and counted
    in ``links_truncated``; ``num_word_links`` counts the links kept before CLS↔CLS and SEP↔SEP are added (with
    ``include_cls_sep``, for pairs that keep a word link). ``*_word_source`` gives the original position of every
    pooled word between the special tokens.
    """
    encodings = {
        side: tokenize_words(tokenizer, examples[side], truncation=True, max_length=max_seq_length)
        for side in ("target", "english")
    }
    names = (
        "tgt_input_ids",
        "tgt_word_index",
        "tgt_num_words",
        "en_input_ids",
        "en_word_index",
        "en_num_words",
        "link_tgt",
        "link_en",
        "num_word_links",
        "links_truncated",
        "length",
        "tgt_word_source",
        "en_word_source",
    )
    columns: dict[str, list] = {name: [] for name in names}
    for row, (target, english, pair_links) in enumerate(
        zip(examples["target"], examples["english"], examples["links"], strict=True)
    ):
        tgt_ids, en_ids = encodings["target"].word_ids(row), encodings["english"].word_ids(row)
        tgt_tokens, tgt_number, tgt_count = sentence_word_maps(tgt_ids, len(target))
        en_tokens, en_number, en_count = sentence_word_maps(en_ids, len(english))
        links = np.array(pair_links, dtype=np.int64).reshape(-1, 2)
        link_tgt, link_en = tgt_number[links[:, 0]], en_number[links[:, 1]]
        kept = (link_tgt >= 0) & (link_en >= 0)
        link_tgt, link_en = link_tgt[kept].tolist(), link_en[kept].tolist()
        columns["num_word_links"].append(len(link_tgt))
        if include_cls_sep and link_tgt:
            if tgt_ids[0] is None and en_ids[0] is None:
                link_tgt.append(0)
                link_en.append(0)
            if len(tgt_ids) > 1 and len(en_ids) > 1 and tgt_ids[-1] is None and en_ids[-1] is None:
                link_tgt.append(tgt_count - 1)
                link_en.append(en_count - 1)
        columns["tgt_input_ids"].append(encodings["target"]["input_ids"][row])
        columns["tgt_word_index"].append(tgt_tokens.tolist())
        columns["tgt_num_words"].append(tgt_count)
        columns["en_input_ids"].append(encodings["english"]["input_ids"][row])
        columns["en_word_index"].append(en_tokens.tolist())
        columns["en_num_words"].append(en_count)
        columns["link_tgt"].append(link_tgt)
        columns["link_en"].append(link_en)
        columns["links_truncated"].append(int((~kept).sum()))
        columns["tgt_word_source"].append(np.flatnonzero(tgt_number >= 0).tolist())
        columns["en_word_source"].append(np.flatnonzero(en_number >= 0).tolist())
        columns["length"].append(max(len(tgt_tokens), len(en_tokens)))
    return columns


def build_alignment_dataset(
    pairs: Sequence[AlignedPair],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int,
    include_cls_sep: bool,
    language_id: int,
    stats: CorpusStats,
    num_proc: int | None = None,
    desc: str = "Tokenizing pairs",
    keep_text: bool = False,
) -> datasets.Dataset:
    """Tokenise ``pairs`` once into a dataset for :class:`AlignedPairCollator`; update ``stats`` with the drops.

    Sentences are cut at ``max_seq_length`` subwords, or at the model's limit where that is lower.

    ``keep_text`` keeps the word columns ``target`` and ``english`` (for analyses that report words).
    """
    raw = datasets.Dataset.from_dict(
        {
            "target": [p.target for p in pairs],
            "english": [p.english for p in pairs],
            "links": [[list(link) for link in p.links] for p in pairs],
        }
    )
    features = raw.map(
        tokenize_pairs,
        batched=True,
        num_proc=num_proc,
        remove_columns=[] if keep_text else raw.column_names,
        fn_kwargs={
            "tokenizer": tokenizer,
            "max_seq_length": subword_limit(tokenizer, max_seq_length),
            "include_cls_sep": include_cls_sep,
        },
        desc=desc,
    )
    stats.links_dropped_truncated += sum(features["links_truncated"])
    with_links = features.filter(lambda n: n > 0, input_columns="num_word_links", desc="Dropping pairs without links")
    stats.pairs_dropped_no_links += len(features) - len(with_links)
    stats.pairs_used = len(with_links)
    stats.links_used = sum(with_links["num_word_links"])
    return with_links.add_column("language_id", [language_id] * len(with_links))


def build_alignment_datasets(
    corpora: Sequence[LanguageCorpus],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int,
    include_cls_sep: bool,
    num_proc: int | None = None,
) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """Training and held-out datasets of all languages (mixed: the trainer shuffles), with stats updated."""
    check_fast_tokenizer(tokenizer)
    train_parts, held_out_parts = [], []
    for language_id, corpus in enumerate(corpora):
        options = {
            "max_seq_length": max_seq_length,
            "include_cls_sep": include_cls_sep,
            "language_id": language_id,
            "num_proc": num_proc,
        }
        train_parts.append(
            build_alignment_dataset(
                corpus.train, tokenizer, stats=corpus.stats, desc=f"Tokenizing {corpus.language}", **options
            )
        )
        if corpus.held_out:
            held_out_parts.append(
                build_alignment_dataset(
                    corpus.held_out,
                    tokenizer,
                    stats=corpus.held_out_stats,
                    desc=f"Tokenizing held-out {corpus.language}",
                    **options,
                )
            )
    held_out = datasets.concatenate_datasets(held_out_parts) if held_out_parts else None
    return datasets.concatenate_datasets(train_parts), held_out
