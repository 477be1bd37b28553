"""Words: tokenisation of raw text (shared by every parallel-data source), and the tokenizer check of word maps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from xladjust.errors import InputError


@cache
def moses_languages() -> frozenset[str]:
    """Languages sacremoses knows (it ships their non-breaking prefixes); others are split on whitespace."""
    from sacremoses._data_nonbreaking_prefixes import NONBREAKING_PREFIXES

    return frozenset(name.rsplit(".", 1)[1] for name in NONBREAKING_PREFIXES if name.startswith("nonbreaking_prefix."))


@cache
def _moses(lang: str):
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


def word_tokenize(text: str, lang: str) -> list[str]:
    """Split raw text into words: sacremoses for languages it knows, whitespace otherwise."""
    if lang in moses_languages():
        return _moses(lang).tokenize(text, escape=False)
    return text.split()


def check_fast_tokenizer(tokenizer: Any, needs: str = "word_ids() to map words to their subwords") -> None:
    """Refuse a tokenizer that lacks what xladjust reads from fast (Rust) tokenizers: ``word_ids()``, offsets.

    Python ("slow") tokenizers have neither; ``needs`` says what the caller reads, for the message.
    """
    if getattr(tokenizer, "is_fast", False) and hasattr(tokenizer, "backend_tokenizer"):
        return
    raise InputError(
        f"{type(tokenizer).__name__} is not a fast tokenizer: it has no {needs}; load the model's fast "
        "tokenizer (a tokenizer.json, or AutoTokenizer with the tokenizers library installed)"
    )


def subword_limit(tokenizer: Any, max_seq_length: int) -> int:
    """``max_seq_length``, or the model's own limit (its tokenizer's ``model_max_length``) where that is lower."""
    return min(max_seq_length, int(tokenizer.model_max_length))


def tokenize_words(tokenizer: Any, sentences: Sequence[Sequence[str]], **kwargs: Any) -> Any:
    """Tokenise pre-split sentences so that every word gets the subwords it has in running text after a space.

    Word-start marks (byte-level BPE's ``Ġ``, SentencePiece's ``▁``) come from the space before a word, and a
    pre-split word has none: tokenizers that add no prefix space of their own would cut ``world`` as if it were
    glued to the word before it. That is RoBERTa's byte-level BPE unless loaded with ``add_prefix_space=True``,
    ModernBERT's (a ``tokenizer.json`` that ignores that option) and Gemma's SentencePiece BPE (mmBERT's); so
    every word is given its space here, which changes nothing for WordPiece or for SentencePiece tokenizers that
    prepend ``▁`` anyway. ``kwargs`` go to the tokenizer (truncation, max_length, padding, ...).
    """
    check_fast_tokenizer(tokenizer)
    spaced = [[" " + word for word in words] for words in sentences]
    return tokenizer(spaced, is_split_into_words=True, **kwargs)
