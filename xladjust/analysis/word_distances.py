"""Distances between contextual vectors of aligned (related) and unaligned (unrelated) words, and model comparisons.

The caller pools word vectors for one model, layer and language over the whole evaluation set and passes flat
arrays: ``tgt_vectors`` (Nt, H), ``en_vectors`` (Ne, H), ``tgt_pair`` (Nt,) the sentence pair of each target word,
and the links as global word indices ``link_tgt`` (L,) ↔ ``link_en`` (L,).

For every link (t, e) an unrelated target word t' is drawn once (:func:`draw_link_sample`); the related distance
is d(t, e), the unrelated one d(t', e) and Δ = d_unrelated − d_related. The same :class:`LinkSample` is then used
for every model, so that :func:`compare_models` can pair the distances link by link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

METRICS = ("cosine", "euclidean")
SAMPLING_MODES = ("same_pair", "other_pair")

ArrayLike = np.ndarray | torch.Tensor | Sequence


def _as_float_tensor(x: ArrayLike) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    # Half precision is too coarse for distances near 0; float64 input stays float64.
    return t if t.dtype == torch.float64 else t.to(torch.float32)


def _as_index(x: ArrayLike, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def _rowwise_distances(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "cosine":
        # A zero vector has cosine 0 with everything (distance 1); rounding can push 1 − cos just outside [0, 2].
        return (1.0 - F.cosine_similarity(a, b, dim=-1, eps=1e-8)).clamp_(0.0, 2.0)
    return torch.linalg.vector_norm(a - b, dim=-1)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def distances(a: ArrayLike, b: ArrayLike, metric: str = "cosine") -> np.ndarray:
    """Row-wise distance between ``a`` (N, H) and ``b`` (N, H): ``cosine`` (1 − cos) or ``euclidean``; float64 (N,)."""
    _check_metric(metric)
    a_t, b_t = _as_float_tensor(a), _as_float_tensor(b)
    if a_t.shape != b_t.shape or a_t.ndim != 2:
        raise ValueError(
            f"expected two (N, H) arrays of the same shape, got {tuple(a_t.shape)} and {tuple(b_t.shape)}"
        )
    dtype = torch.promote_types(a_t.dtype, b_t.dtype)
    b_t = b_t.to(device=a_t.device, dtype=dtype)
    return _rowwise_distances(a_t.to(dtype), b_t, metric).cpu().numpy().astype(np.float64)


# ---------------------------------------------------------------------------------------------------------------
# Sampling unrelated words


def _link_keys(tgt: np.ndarray, en: np.ndarray, num_en: int) -> np.ndarray:
    """Sorted unique int64 keys of (target, English) links, for vectorised membership tests."""
    return np.unique(tgt * num_en + en)


def _is_linked(keys: np.ndarray, tgt: np.ndarray, en: np.ndarray, num_en: int) -> np.ndarray:
    query = tgt * num_en + en
    pos = np.searchsorted(keys, query).clip(max=max(len(keys) - 1, 0))
    return keys[pos] == query if len(keys) else np.zeros(len(query), dtype=bool)


def sample_unrelated(
    link_tgt: ArrayLike,
    link_en: ArrayLike,
    tgt_pair: ArrayLike,
    num_tgt_words: int | None = None,
    mode: str = "same_pair",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one unrelated target word for each link (t, e); returns ``(unrel_tgt, valid)``, both (L,).

    ``same_pair``: uniform among the target words of t's sentence pair that are not linked to e. ``other_pair``: a
    uniformly drawn sentence pair other than t's (among pairs with target words), then a uniform word of it; a word
    that happens to be linked to e (only possible if links cross pairs) is rejected. Links without a candidate get
    ``valid`` False and ``unrel_tgt`` −1. Deterministic given ``seed``; ``num_tgt_words`` (optional) must equal
    ``len(tgt_pair)``.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; expected one of {SAMPLING_MODES}")
    link_tgt, link_en = _as_index(link_tgt, "link_tgt"), _as_index(link_en, "link_en")
    tgt_pair = _as_index(tgt_pair, "tgt_pair")
    num_tgt = len(tgt_pair)
    if num_tgt_words is not None and num_tgt_words != num_tgt:
        raise ValueError(f"num_tgt_words={num_tgt_words} but tgt_pair has {num_tgt} entries")
    if len(link_tgt) != len(link_en):
        raise ValueError(f"link_tgt has {len(link_tgt)} entries but link_en has {len(link_en)}")
    num_links = len(link_tgt)
    unrel = np.full(num_links, -1, dtype=np.int64)
    valid = np.zeros(num_links, dtype=bool)
    if num_links == 0:
        return unrel, valid
    if link_tgt.min() < 0 or link_tgt.max() >= num_tgt:
        raise ValueError(f"link_tgt holds indices outside [0, {num_tgt})")
    if link_en.min() < 0:
        raise ValueError("link_en holds negative indices")
    num_en = int(link_en.max()) + 1
    rng = np.random.default_rng(seed)

    # CSR layout of the target words by pair: words of compact pair p are order[start[p] : start[p] + size[p]].
    order = np.argsort(tgt_pair, kind="stable")
    _, start, size = np.unique(tgt_pair[order], return_index=True, return_counts=True)
    pair_of_word = np.empty(num_tgt, dtype=np.int64)
    pair_of_word[order] = np.repeat(np.arange(len(size)), size)
    link_pair = pair_of_word[link_tgt]

    if mode == "other_pair":
        num_pairs = len(size)
        r = rng.integers(0, max(num_pairs - 1, 1), size=num_links)
        other = r + (r >= link_pair)  # uniform over the pairs except the link's own
        other = np.minimum(other, num_pairs - 1)  # only matters when there is a single pair (all invalid)
        word = order[start[other] + rng.integers(0, size[other])]
        linked = _is_linked(_link_keys(link_tgt, link_en, num_en), word, link_en, num_en)
        valid = ~linked & (num_pairs >= 2)
        return np.where(valid, word, -1), valid

    # same_pair, exactly and without padding: within group g = (e, pair) let s_0 < s_1 < ... be the local positions of
    # the distinct words linked to e. The r-th (0-based) unlinked position is r + #{j : s_j − j <= r}, and s_j − j is
    # non-decreasing, so one searchsorted over all groups (offset by g · stride) answers every link at once.
    local = np.empty(num_tgt, dtype=np.int64)
    local[order] = np.arange(num_tgt) - np.repeat(start, size)
    keys = _link_keys(link_tgt, link_en, num_en)
    dist_tgt, dist_en = keys // num_en, keys % num_en
    group_keys = dist_en * len(size) + pair_of_word[dist_tgt]
    groups, dist_group = np.unique(group_keys, return_inverse=True)
    by_group = np.lexsort((local[dist_tgt], dist_group))
    dist_group, dist_local = dist_group[by_group], local[dist_tgt][by_group]
    group_size = np.bincount(dist_group, minlength=len(groups))
    group_start = np.concatenate(([0], np.cumsum(group_size)[:-1]))
    shifted = dist_local - (np.arange(len(dist_group)) - group_start[dist_group])
    stride = int(size.max()) + 1
    combined = dist_group * stride + shifted

    link_group = np.searchsorted(groups, link_en * len(size) + link_pair)
    candidates = size[link_pair] - group_size[link_group]
    valid = candidates > 0
    r = rng.integers(0, np.maximum(candidates, 1))
    skipped = np.searchsorted(combined, link_group * stride + r, side="right") - group_start[link_group]
    # Links without candidates would land one past their pair: point them at the pair's start, then mask.
    word = order[start[link_pair] + np.where(valid, r + skipped, 0)]
    return np.where(valid, word, -1), valid


@dataclass(frozen=True)
class LinkSample:
    """Links and their sampled unrelated target words, drawn once and shared by every model being compared."""

    link_tgt: np.ndarray  # (L,) global target word index
    link_en: np.ndarray  # (L,) global English word index
    unrel_tgt: np.ndarray  # (L,) sampled unrelated target word, −1 where invalid
    valid: np.ndarray  # (L,) False where the link had no candidate
    mode: str
    seed: int

    @property
    def num_links(self) -> int:
        return len(self.link_tgt)

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def num_invalid(self) -> int:
        return self.num_links - self.num_valid


def draw_link_sample(
    link_tgt: ArrayLike, link_en: ArrayLike, tgt_pair: ArrayLike, mode: str = "same_pair", seed: int = 0
) -> LinkSample:
    """:func:`sample_unrelated` wrapped in a :class:`LinkSample`, to pass to :func:`word_distance_table` per model."""
    link_tgt, link_en = _as_index(link_tgt, "link_tgt"), _as_index(link_en, "link_en")
    unrel, valid = sample_unrelated(link_tgt, link_en, tgt_pair, mode=mode, seed=seed)
    return LinkSample(link_tgt, link_en, unrel, valid, mode, seed)


# ---------------------------------------------------------------------------------------------------------------
# Distance tables and summaries


@dataclass(frozen=True)
class DistanceTable:
    """Related and unrelated distances of the valid links of one :class:`LinkSample` under one model."""

    metric: str
    link_index: np.ndarray  # (V,) positions of the valid links in the sample's link arrays
    tgt: np.ndarray  # (V,) t
    en: np.ndarray  # (V,) e
    unrel_tgt: np.ndarray  # (V,) t'
    d_rel: np.ndarray  # (V,) d(t, e)
    d_unrel: np.ndarray  # (V,) d(t', e)
    num_invalid: int  # links dropped for want of an unrelated candidate

    @property
    def delta(self) -> np.ndarray:
        """Δ = d_unrelated − d_related per link (positive: the partner is closer than an unrelated word)."""
        return self.d_unrel - self.d_rel

    def __len__(self) -> int:
        return len(self.d_rel)

    def summary(self) -> DistanceSummary:
        return summarize(self.d_rel, self.d_unrel)


def word_distance_table(
    tgt_vectors: ArrayLike,
    en_vectors: ArrayLike,
    sample: LinkSample,
    metric: str = "cosine",
    chunk_size: int = 65536,
) -> DistanceTable:
    """Distances d(t, e) and d(t', e) for every valid link of ``sample``, gathered ``chunk_size`` links at a time."""
    _check_metric(metric)
    tgt_t, en_t = _as_float_tensor(tgt_vectors), _as_float_tensor(en_vectors)
    if tgt_t.ndim != 2 or en_t.ndim != 2 or tgt_t.shape[1] != en_t.shape[1]:
        raise ValueError(f"expected (Nt, H) and (Ne, H) vectors, got {tuple(tgt_t.shape)} and {tuple(en_t.shape)}")
    dtype = torch.promote_types(tgt_t.dtype, en_t.dtype)
    tgt_t, en_t = tgt_t.to(dtype), en_t.to(device=tgt_t.device, dtype=dtype)
    if sample.num_links and (sample.link_tgt.max() >= len(tgt_t) or sample.link_en.max() >= len(en_t)):
        raise ValueError("the sample's links point past the vectors: was it drawn for another language?")
    index = np.flatnonzero(sample.valid)
    tgt, en, unrel = sample.link_tgt[index], sample.link_en[index], sample.unrel_tgt[index]
    d_rel, d_unrel = np.empty(len(index)), np.empty(len(index))
    for lo in range(0, len(index), chunk_size):
        hi = lo + chunk_size
        e = en_t[torch.as_tensor(en[lo:hi], device=en_t.device)]
        for out, rows in ((d_rel, tgt), (d_unrel, unrel)):
            t = tgt_t[torch.as_tensor(rows[lo:hi], device=tgt_t.device)]
            out[lo:hi] = _rowwise_distances(t, e, metric).cpu().numpy()
    return DistanceTable(metric, index, tgt, en, unrel, d_rel, d_unrel, sample.num_invalid)


@dataclass(frozen=True)
class DistanceSummary:
    """Descriptive statistics of one table; std is the sample std (ddof=1), NaN below two links."""

    count: int
    rel_mean: float
    rel_median: float
    rel_std: float
    unrel_mean: float
    unrel_median: float
    unrel_std: float
    delta_mean: float
    delta_median: float
    delta_std: float
    share_delta_positive: float  # share of links whose partner is strictly closer than the unrelated word

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _describe(x: np.ndarray) -> tuple[float, float, float]:
    # Explicit NaNs instead of numpy's empty-slice warnings.
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    std = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
    return float(np.mean(x)), float(np.median(x)), std


def summarize(d_rel: ArrayLike, d_unrel: ArrayLike) -> DistanceSummary:
    """Count, mean/median/std of d_related, d_unrelated and Δ, and the share of links with Δ > 0."""
    d_rel, d_unrel = np.asarray(d_rel, dtype=np.float64), np.asarray(d_unrel, dtype=np.float64)
    if d_rel.shape != d_unrel.shape or d_rel.ndim != 1:
        raise ValueError(f"expected two 1-D arrays of the same length, got {d_rel.shape} and {d_unrel.shape}")
    delta = d_unrel - d_rel
    share = float(np.mean(delta > 0)) if len(delta) else float("nan")
    return DistanceSummary(len(d_rel), *_describe(d_rel), *_describe(d_unrel), *_describe(delta), share)


# ---------------------------------------------------------------------------------------------------------------
# Comparing two models on the same links


@dataclass(frozen=True)
class PairedChange:
    """Per-link change d_B − d_A of one category with a two-sided Wilcoxon signed-rank test."""

    change: np.ndarray  # (V,)
    mean: float
    median: float
    statistic: float
    p_value: float
    num_nonzero: int  # differences the test used (zeros are dropped, scipy's zero_method="wilcox")


def wilcoxon_paired(change: np.ndarray) -> tuple[float, float]:
    """(statistic, p) of a two-sided Wilcoxon signed-rank test on ``change``.

    No nonzero difference (identical models, or no links) means no evidence of a change: (0.0, 1.0) without asking
    scipy, which would warn or, in older versions, raise.
    """
    if not np.any(change != 0):
        return 0.0, 1.0
    result = stats.wilcoxon(change, zero_method="wilcox", alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def _paired_change(change: np.ndarray) -> PairedChange:
    statistic, p_value = wilcoxon_paired(change)
    mean, median, _ = _describe(change)
    return PairedChange(change, mean, median, statistic, p_value, int(np.count_nonzero(change)))


@dataclass(frozen=True)
class ModelComparison:
    """Model A → B on the same links: changes of the related and unrelated distances and of Δ."""

    related: PairedChange
    unrelated: PairedChange
    delta: PairedChange  # Δ_B − Δ_A: positive when B separates partners from unrelated words better

    def as_dict(self) -> dict[str, float | int]:
        return {
            f"{name}_{field}": getattr(getattr(self, name), field)
            for name in ("related", "unrelated", "delta")
            for field in ("mean", "median", "statistic", "p_value", "num_nonzero")
        }


def compare_models(dist_a: DistanceTable, dist_b: DistanceTable) -> ModelComparison:
    """Pair two tables link by link; they must come from the same :class:`LinkSample` and metric."""
    if dist_a.metric != dist_b.metric:
        raise ValueError(f"cannot compare {dist_a.metric} with {dist_b.metric} distances")
    same = all(
        np.array_equal(getattr(dist_a, f), getattr(dist_b, f)) for f in ("link_index", "tgt", "en", "unrel_tgt")
    )
    if not same:
        raise ValueError("the tables use different links or unrelated words: compute both from one LinkSample")
    return ModelComparison(
        related=_paired_change(dist_b.d_rel - dist_a.d_rel),
        unrelated=_paired_change(dist_b.d_unrel - dist_a.d_unrel),
        delta=_paired_change(dist_b.delta - dist_a.delta),
    )
