"""Word tokenisation of raw text, shared by every parallel-data source."""

from __future__ import annotations

from functools import cache


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
