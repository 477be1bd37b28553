"""Retrieval evaluations of cross-lingual alignment: contextual word retrieval and Tatoeba-style sentence retrieval.

Nearest neighbours are by cosine similarity, computed ``chunk_size`` queries at a time so that only a
(chunk_size, N) block of the similarity matrix exists at once (1024 × 50k float32 ≈ 200 MB). Ties go to the lowest
index (``torch.argmax``).

The evaluate module ``retrieval_accuracy`` (``retrieval_accuracy.py`` beside this file) computes through
:func:`sentence_retrieval_accuracy`. This file imports nothing from the package, so that it travels with it: evaluate
copies it when it loads the module by path, and a metric Space holds it (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = np.ndarray | torch.Tensor | Sequence


def _as_matrix(x: ArrayLike, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be (N, H), got shape {tuple(t.shape)}")
    # float32 is enough to rank neighbours; half precision would create spurious ties.
    t = t if t.dtype == torch.float64 else t.to(torch.float32)
    return t if device is None else t.to(device)


def _as_index(x: ArrayLike, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D integer array, got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64, copy=False)


def nearest_neighbours(queries: ArrayLike, keys: ArrayLike, chunk_size: int = 1024) -> np.ndarray:
    """Index in ``keys`` (N, H) of the cosine nearest neighbour of each row of ``queries`` (Q, H); int64 (Q,)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    q = _as_matrix(queries, "queries")
    k = _as_matrix(keys, "keys", q.device)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions but keys have {k.shape[1]}")
    if len(k) == 0:
        raise ValueError("no keys to retrieve from")
    dtype = torch.promote_types(q.dtype, k.dtype)
    # Zero vectors normalise to zero (eps): similarity 0 with everything rather than NaN.
    k_n = F.normalize(k.to(dtype), dim=1)
    out = torch.empty(len(q), dtype=torch.long, device=q.device)
    for lo in range(0, len(q), chunk_size):
        q_n = F.normalize(q[lo : lo + chunk_size].to(dtype), dim=1)
        out[lo : lo + chunk_size] = (q_n @ k_n.T).argmax(dim=1)
    return out.cpu().numpy()


# ---------------------------------------------------------------------------------------------------------------
# Word retrieval (Cao et al. 2020)


@dataclass(frozen=True)
class WordRetrievalResult:
    """Precision@1 of contextual word retrieval in both directions, with the per-query outcomes."""

    p_at_1_tgt_to_en: float
    p_at_1_en_to_tgt: float
    tgt_queries: np.ndarray  # distinct linked target words (global indices)
    tgt_hits: np.ndarray  # bool: nearest English word is one of the query's partners
    en_queries: np.ndarray  # distinct linked English words
    en_hits: np.ndarray

    @property
    def num_tgt_queries(self) -> int:
        return len(self.tgt_queries)

    @property
    def num_en_queries(self) -> int:
        return len(self.en_queries)


def word_retrieval_p_at_1(
    tgt_vectors: ArrayLike,
    en_vectors: ArrayLike,
    link_tgt: ArrayLike,
    link_en: ArrayLike,
    chunk_size: int = 1024,
) -> WordRetrievalResult:
    """Contextual word retrieval (Cao et al. 2020) over all words of the evaluation set.

    Target → English: each distinct linked target word is a query (once, however many links it has); it is a hit
    when its cosine nearest neighbour among ALL English words is one of its partners, so with many-to-many links a
    hit on any partner counts. English → target likewise over all target words. Words without links are candidates
    but never queries. Returns NaN precision for a direction without queries.
    """
    tgt = _as_matrix(tgt_vectors, "tgt_vectors")
    en = _as_matrix(en_vectors, "en_vectors", tgt.device)
    link_tgt, link_en = _as_index(link_tgt, "link_tgt"), _as_index(link_en, "link_en")
    if len(link_tgt) != len(link_en):
        raise ValueError(f"link_tgt has {len(link_tgt)} entries but link_en has {len(link_en)}")
    if len(link_tgt) and (
        min(link_tgt.min(), link_en.min()) < 0 or link_tgt.max() >= len(tgt) or link_en.max() >= len(en)
    ):
        raise ValueError(f"links point outside the {len(tgt)} target and {len(en)} English words")
    num_en = len(en)
    keys = np.unique(link_tgt * num_en + link_en)  # sorted (t, e) link keys for a vectorised membership test

    def is_link(t: np.ndarray, e: np.ndarray) -> np.ndarray:
        query = t * num_en + e
        return keys[np.searchsorted(keys, query).clip(max=len(keys) - 1)] == query

    tgt_queries, en_queries = np.unique(link_tgt), np.unique(link_en)
    tgt_hits = en_hits = np.zeros(0, dtype=bool)
    if len(keys):
        tgt_hits = is_link(tgt_queries, nearest_neighbours(_rows(tgt, tgt_queries), en, chunk_size))
        en_hits = is_link(nearest_neighbours(_rows(en, en_queries), tgt, chunk_size), en_queries)
    return WordRetrievalResult(_mean(tgt_hits), _mean(en_hits), tgt_queries, tgt_hits, en_queries, en_hits)


def _rows(x: torch.Tensor, index: np.ndarray) -> torch.Tensor:
    return x[torch.as_tensor(index, device=x.device)]


def _mean(hits: np.ndarray) -> float:
    return float(hits.mean()) if len(hits) else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# Sentence retrieval (Tatoeba-style)


@dataclass(frozen=True)
class SentenceRetrievalResult:
    """Accuracy@1 of parallel sentence retrieval in both directions (sentence i ↔ i), with the retrieved indices."""

    acc_src_to_tgt: float
    acc_tgt_to_src: float
    num_sentences: int
    predicted_src_to_tgt: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (N,)
    predicted_tgt_to_src: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def sentence_retrieval_accuracy(
    src_vectors: ArrayLike, tgt_vectors: ArrayLike, chunk_size: int = 1024
) -> SentenceRetrievalResult:
    """Row i of ``src_vectors`` and row i of ``tgt_vectors`` are translations; a hit is the cosine nearest neighbour
    among all sentences of the other side being the translation (ties go to the lower index)."""
    src = _as_matrix(src_vectors, "src_vectors")
    tgt = _as_matrix(tgt_vectors, "tgt_vectors", src.device)
    if src.shape != tgt.shape:
        raise ValueError(f"expected parallel (N, H) arrays, got {tuple(src.shape)} and {tuple(tgt.shape)}")
    if len(src) == 0:
        return SentenceRetrievalResult(float("nan"), float("nan"), 0)
    gold = np.arange(len(src))
    forward = nearest_neighbours(src, tgt, chunk_size)
    backward = nearest_neighbours(tgt, src, chunk_size)
    return SentenceRetrievalResult(
        float((forward == gold).mean()), float((backward == gold).mean()), len(src), forward, backward
    )
