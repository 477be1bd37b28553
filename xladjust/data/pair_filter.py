"""Filtered parallel data: every pair scored by the cosine of its two sentence embeddings, the best kept.

AlignFreeze (Bakos et al. 2025) filters its parallel data by a quality score before realigning; the usual score is
the cosine of the two sentences' embeddings from a multilingual sentence encoder (LaBSE, Feng et al. 2022). Here
the encoder is any folder or Hub name (``--filter_model``) and a sentence's embedding is the mean of its last hidden
states over the attention mask, special tokens included (:func:`xladjust.data.sentence_encoding.encode_sentences`,
length-sorted batches, at most ``--max_seq_length`` subwords); a sentence is its words joined by spaces.

Where it happens (:func:`xladjust.data.parallel.select_pairs`): pairs longer than ``--max_words`` are dropped, the
rest shuffled with ``--seed`` and the ``--validation_pairs`` held-out pairs split off *before* the filter, so that
the held-out pairs (and the held-out losses, and run_analysis.py's pairs) are the same with and without it; then
among the remaining pairs

- ``--filter_keep F`` keeps the ``ceil(F × n)`` best scores; ties at the boundary go to the pair that comes first
  in the corpus;
- ``--filter_min_score X`` keeps the pairs scoring at least ``X``;

and only then does ``--max_train_pairs`` take its sample (the kept pairs stay in the seeded shuffle order).

Scores of all the pairs within ``--max_words`` (in corpus order) are cached in ``{lang}-en.scores.json`` beside the
alignment cache, keyed on the corpus digest and the scorer's settings (model, length limit, pooling): another seed,
held-out size or threshold reuses them. Counts and score quantiles (:class:`FilterStats`) go to the log,
``adjustment_config.json`` and ``all_results.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xladjust.errors import InputError
from xladjust.io import write_json
from xladjust.run_folder import input_identity

logger = logging.getLogger(__name__)

QUANTILES = {"min": 0.0, "p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9, "max": 1.0}


@dataclass
class FilterStats:
    """One language's filter: how many training candidates were scored and kept, their score quantiles (all
    candidates) and the lowest score kept."""

    pairs_scored: int = 0
    pairs_kept: int = 0
    pairs_dropped_low_score: int = 0
    lowest_kept_score: float | None = None
    score_quantiles: dict[str, float] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self, prefix: str) -> dict[str, float]:
        """``{prefix}_pairs_kept``, ``{prefix}_score_median``, ...: numbers for ``all_results.json``."""
        values: dict[str, float] = {
            f"{prefix}_{name}": getattr(self, name)
            for name in ("pairs_scored", "pairs_kept", "pairs_dropped_low_score")
        }
        if self.lowest_kept_score is not None:
            values[f"{prefix}_lowest_kept_score"] = self.lowest_kept_score
        values.update({f"{prefix}_score_{name}": value for name, value in self.score_quantiles.items()})
        return values


def keep_best(scores: np.ndarray, keep: float | None = None, min_score: float | None = None) -> np.ndarray:
    """Boolean mask over ``scores``: the ``ceil(keep × n)`` highest (ties: the earlier index first), or every score
    at least ``min_score``."""
    scores = np.asarray(scores, dtype=np.float64)
    if min_score is not None:
        return scores >= min_score
    count = math.ceil(keep * len(scores) - 1e-9)  # 0.5 × 10 is 5, not 6 through a rounding error
    order = np.lexsort((np.arange(len(scores)), -scores))  # by score descending, then by index
    mask = np.zeros(len(scores), dtype=bool)
    mask[order[:count]] = True
    return mask


class PairScorer:
    """Cosine of the mean-pooled sentence embeddings of each pair's two sides, from one encoder (loaded on the first
    call, so a cached score never loads it)."""

    def __init__(
        self,
        model_name_or_path: str,
        *,
        max_length: int = 128,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        model_kwargs: dict[str, Any] | None = None,
    ):
        self.model_name_or_path, self.max_length, self.batch_size = model_name_or_path, max_length, batch_size
        self.device = torch.device(device)
        self.model_kwargs = model_kwargs or {}
        self._model = self._tokenizer = None

    def settings(self) -> dict[str, Any]:
        model = input_identity(self.model_name_or_path)
        return {"filter_model": model, "max_length": self.max_length, "pooling": "mean"}

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path, **self.model_kwargs)
            model = AutoModel.from_pretrained(self.model_name_or_path, **self.model_kwargs)
        except OSError as error:
            message = str(error).strip().splitlines()[0]
            raise InputError(f"--filter_model: cannot load it: {message}", self.model_name_or_path) from None
        self._model = model.to(self.device).eval()

    def score(self, targets: Sequence[str], englishes: Sequence[str]) -> np.ndarray:
        """float64 cosines, one per pair, in order."""
        from xladjust.data.sentence_encoding import encode_sentences

        if len(targets) != len(englishes):
            raise InputError(f"{len(targets)} target sentences but {len(englishes)} English ones; expected pairs")
        if self._model is None:
            self._load()
        options = {"max_length": self.max_length, "batch_size": self.batch_size, "device": self.device}
        target = encode_sentences(self._model, self._tokenizer, targets, [-1], **options)[-1]
        english = encode_sentences(self._model, self._tokenizer, englishes, [-1], **options)[-1]
        cosine = torch.nn.functional.cosine_similarity(target.double(), english.double(), dim=1)
        return cosine.numpy()


class PairFilter:
    """``--filter_model`` with ``--filter_keep`` or ``--filter_min_score``: scores (cached) and the kept pairs."""

    def __init__(self, scorer: PairScorer, keep: float | None = None, min_score: float | None = None):
        self.scorer, self.keep, self.min_score = scorer, keep, min_score

    def settings(self) -> dict[str, Any]:
        return {**self.scorer.settings(), "filter_keep": self.keep, "filter_min_score": self.min_score}

    def scores(self, pairs: Sequence[Any], language: str, cache_dir: str | Path | None) -> np.ndarray:
        """Scores of ``pairs`` (:class:`~xladjust.data.parallel.AlignedPair`), reused from ``cache_dir`` when the
        corpus and the scorer's settings match."""
        digest = hashlib.sha256(json.dumps(self.scorer.settings(), sort_keys=True).encode())
        for pair in pairs:
            digest.update(("\t".join(pair.target) + "\n" + "\t".join(pair.english) + "\n").encode())
        path = None if cache_dir is None else Path(cache_dir) / f"{language}-en.scores.json"
        if path is not None and path.exists():
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("sha256") == digest.hexdigest() and len(cached.get("scores", ())) == len(pairs):
                logger.info("%s: reusing the pair scores in %s", language, path)
                return np.asarray(cached["scores"], dtype=np.float64)
        logger.info("%s: scoring %d pairs with %s", language, len(pairs), self.scorer.model_name_or_path)
        scores = self.scorer.score([" ".join(p.target) for p in pairs], [" ".join(p.english) for p in pairs])
        if path is not None:
            write_json(path, {"sha256": digest.hexdigest(), **self.scorer.settings(), "scores": scores.tolist()})
        return scores

    def select(self, scores: np.ndarray, candidates: Sequence[int]) -> tuple[list[int], FilterStats]:
        """The candidates kept (positions into ``scores``, in the order given) and the counts and quantiles."""
        candidate_scores = scores[np.asarray(candidates, dtype=np.int64)]
        # keep_best breaks ties by index: rank the candidates in corpus order, not in the order given.
        by_position = np.argsort(np.asarray(candidates), kind="stable")
        mask = np.empty(len(candidates), dtype=bool)
        mask[by_position] = keep_best(candidate_scores[by_position], self.keep, self.min_score)
        kept = [c for c, keep in zip(candidates, mask.tolist(), strict=True) if keep]
        stats = FilterStats(
            pairs_scored=len(candidates),
            pairs_kept=len(kept),
            pairs_dropped_low_score=len(candidates) - len(kept),
            lowest_kept_score=float(candidate_scores[mask].min()) if kept else None,
            score_quantiles=(
                {name: float(np.quantile(candidate_scores, q)) for name, q in QUANTILES.items()}
                if len(candidates)
                else {}
            ),
        )
        return kept, stats


def build_pair_filter(
    data_args: Any, device: str | torch.device = "cpu", model_kwargs: dict[str, Any] | None = None
) -> PairFilter | None:
    """The filter of :class:`~xladjust.data.parallel_arguments.ParallelDataArguments` (None without
    ``--filter_model``); ``model_kwargs``: ``from_pretrained``'s (cache folder, token)."""
    if getattr(data_args, "filter_model", None) is None:
        return None
    scorer = PairScorer(
        data_args.filter_model, max_length=data_args.max_seq_length, device=device, model_kwargs=model_kwargs
    )
    return PairFilter(scorer, data_args.filter_keep, data_args.filter_min_score)
