"""Words: tokenisation of raw text (shared by every parallel-data source), and the tokenizer check of word maps."""

from __future__ import annotations

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


def check_fast_tokenizer(tokenizer: Any) -> None:
    """Word→subword maps come from ``word_ids()``, which only fast (Rust) tokenizers have."""
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(f"{type(tokenizer).__name__} is not a fast tokenizer; word alignment needs word_ids()")
