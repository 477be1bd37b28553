"""Alignment vs. transfer: does a better-aligned encoder transfer better, and which alignment measure says so?

Each point is one language, encoder variant and seed. Its x is an alignment measure the study already computes
for that variant's encoder and language:

- ``held-out alignment loss``: the adjust step's loss on its held-out pairs after adjusting (``all_results.json``
  of run_adjust.py; lower is better aligned);
- ``word P@1, layer N``: contextual word retrieval of the analysis step (mean of →en and en→, percent);
- ``links with Δ > 0, METRIC, layer N``: the analysis step's share of links whose unrelated word is farther than
  the aligned one (percent);
- ``Tatoeba acc@1, layer N``: sentence retrieval of the xsr steps (mean of →en and en→, percent; from their
  per-sentence predictions, as the report's cells);

each as the value of the variant's encoder (``adjusted``) and as its change from the original encoder on the same
language and seed (``vs original``: the loss before adjusting, the analysis' ``original`` model, the original's xsr
run). Its y is a task's zero-shot gain: the variant's score minus the original's on the same language and seed
(points, from the report's cells; a language's mono-lingual sets averaged, English and cross-lingual sets left
out). Where a task seed has no encoder measure of its own (``adjust.seeds`` narrower than ``seeds``), the encoder
it was fine-tuned from (the manifest's ``depends_on``) gives it.

Per measure and task: Spearman's ρ over the points and a percentile bootstrap interval (points resampled with
replacement, ``samples`` times, seeded; level 1 − alpha). Points of one language share its data, so the interval
is optimistic; it is a screen for which measure tracks which task, not a test of a causal claim.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

from xladjust.study.results import (
    NON_TASKS,
    find_steps,
    read_alignment_losses,
    read_analysis,
    read_word_retrieval,
)
from xladjust.study.statistics import Cell, ReportSettings

logger = logging.getLogger(__name__)

Key = tuple[str, str, int]
"""(language, variant, seed) of a point."""

KINDS = ("adjusted", "vs original")
MIN_POINTS = 3


@dataclass
class Measure:
    """One alignment measure of the encoders, per (language, variant, seed)."""

    name: str
    kind: str  # adjusted: the variant's encoder; vs original: its change from the original encoder
    values: dict[Key, float]


@dataclass
class Correlation:
    """Spearman's ρ between one alignment measure and one task's gain, with its bootstrap interval."""

    measure: str
    kind: str
    task: str
    n: int
    rho: float
    low: float
    high: float
    significant: bool  # the interval excludes 0
    points: list[dict] = field(default_factory=list)  # language, variant, seed, alignment, gain


# ---------------------------------------------------------------------------------------------------------------
# Spearman's ρ and its bootstrap interval


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of every row of ``x`` and ``y`` (shape ``(rows, n)``; ties get average ranks); NaN for a row
    whose x or y is constant."""
    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(axis=-1, keepdims=True), ry - ry.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    numerator = (rx * ry).sum(axis=-1)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return float(spearman_rows(np.asarray(x, dtype=float)[None], np.asarray(y, dtype=float)[None])[0])


def bootstrap_interval(
    x: Sequence[float], y: Sequence[float], samples: int, seed: int, level: float
) -> tuple[float, float]:
    """Percentile interval of ρ over ``samples`` resamples of the points (with replacement, one draw of
    ``(samples, n)`` indices from ``numpy.random.default_rng(seed)``); resamples with a constant side are left
    out, and the interval is NaN when they are half or more."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    indices = np.random.default_rng(seed).integers(0, len(x), size=(samples, len(x)))
    rhos = spearman_rows(x[indices], y[indices])
    rhos = rhos[np.isfinite(rhos)]
    if len(rhos) <= samples / 2:
        return math.nan, math.nan
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rhos, [tail, 100 - tail])
    return float(low), float(high)


def correlate(
    measures: Sequence[Measure], gains: Mapping[str, Mapping[Key, float]], samples: int, seed: int, alpha: float
) -> list[Correlation]:
    """A :class:`Correlation` per measure and task (ρ and interval NaN under :data:`MIN_POINTS` points)."""
    correlations = []
    for measure in measures:
        for task, by_key in gains.items():
            keys = [key for key in by_key if key in measure.values]
            x, y = [measure.values[k] for k in keys], [by_key[k] for k in keys]
            rho, (low, high) = math.nan, (math.nan, math.nan)
            if len(keys) >= MIN_POINTS:
                rho = spearman(x, y)
                if not math.isnan(rho):
                    low, high = bootstrap_interval(x, y, samples, seed, 1 - alpha)
            points = [
                {"language": k[0], "variant": k[1], "seed": k[2], "alignment": a, "gain": g}
                for k, a, g in zip(keys, x, y, strict=True)
            ]
            significant = bool(low > 0 or high < 0)  # False for NaN
            correlations.append(
                Correlation(measure.name, measure.kind, task, len(keys), rho, low, high, significant, points)
            )
    return correlations


# ---------------------------------------------------------------------------------------------------------------
# Gains and measures


def transfer_gains(cells: Sequence[Cell], baseline: str) -> dict[str, dict[Key, float]]:
    """``{task: {(language, variant, seed): gain}}``: the variant's score minus the baseline's on the same set and
    seed (points), averaged over a language's mono-lingual sets; English, cross-lingual and retrieval sets and the
    xsr task are left out."""
    base = {(c.task, c.eval_set): dict(zip(c.seeds, c.scores, strict=True)) for c in cells if c.variant == baseline}
    collected: dict[str, dict[Key, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        transfer = cell.task != "xsr" and cell.group in ("", "mono-lingual") and cell.language != "en"
        if not transfer or cell.variant == baseline:
            continue
        reference = base.get((cell.task, cell.eval_set), {})
        for seed, score in zip(cell.seeds, cell.scores, strict=True):
            if seed in reference:
                collected[cell.task][(cell.language, cell.variant, seed)].append(score - reference[seed])
    return {task: {key: float(np.mean(v)) for key, v in by_key.items()} for task, by_key in sorted(collected.items())}


def _with_change(name: str, after: Mapping[Key, float], before: Mapping[Key, float]) -> list[Measure]:
    """The measure of the variant's encoder and its change from the original's (where both are known)."""
    change = {key: value - before[key] for key, value in after.items() if key in before}
    return [m for m in (Measure(name, "adjusted", dict(after)), Measure(name, "vs original", change)) if m.values]


def alignment_loss_measures(settings: ReportSettings) -> list[Measure]:
    """``held-out alignment loss`` after adjusting, and its change from the original encoder's (before)."""
    after, before = {}, {}
    for run in find_steps(settings.runs_dir, settings.manifest, "adjust"):
        for (language, when), loss in read_alignment_losses(run).items():
            (after if when == "after" else before)[(language, run.variant, run.seed)] = loss
    return _with_change("held-out alignment loss", after, before)


def analysis_measures(settings: ReportSettings) -> list[Measure]:
    """Word P@1 and the share of links with Δ > 0 per layer (and distance) of the analysis steps: the ``adjusted``
    model's value, and its change from the ``original`` model's."""
    values: dict[tuple[str, str], dict[Key, float]] = defaultdict(dict)  # (name, model) → values
    for run in find_steps(settings.runs_dir, settings.manifest, "analysis"):
        distances, _ = read_analysis(run)
        for d in distances:
            if d.model in ("adjusted", "original"):
                name = f"links with Δ > 0, {d.metric}, layer {d.layer}"
                values[(name, d.model)][(d.language, run.variant, run.seed)] = 100 * d.share_delta_positive
        for (language, layer, model), p_at_1 in read_word_retrieval(run).items():
            if model in ("adjusted", "original"):
                values[(f"word P@1, layer {layer}", model)][(language, run.variant, run.seed)] = 100 * p_at_1
    names = sorted({name for name, _ in values}, key=lambda n: (not n.startswith("word"), n))
    return [m for name in names for m in _with_change(name, values[(name, "adjusted")], values[(name, "original")])]


def tatoeba_measures(cells: Sequence[Cell], baseline: str) -> list[Measure]:
    """``Tatoeba acc@1, layer N`` of the xsr steps (mean of both directions, percent), per layer."""
    by_layer: dict[str, dict[Key, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.task == "xsr" and cell.group.startswith("layer "):
            for seed, score in zip(cell.seeds, cell.scores, strict=True):
                by_layer[cell.group.removeprefix("layer ")][(cell.language, cell.variant, seed)].append(score)
    measures = []
    for layer in sorted(by_layer, key=lambda layer: (layer.startswith("-"), int(layer.lstrip("-")))):
        mean = {key: float(np.mean(scores)) for key, scores in by_layer[layer].items()}
        after = {key: value for key, value in mean.items() if key[1] != baseline}
        before = {key: mean[(key[0], baseline, key[2])] for key in after if (key[0], baseline, key[2]) in mean}
        measures += _with_change(f"Tatoeba acc@1, layer {layer}", after, before)
    return measures


def encoder_seeds(settings: ReportSettings) -> dict[tuple[str, str, str | None, int], int]:
    """``{(task, variant, language, seed): seed of the adjustment it was fine-tuned from}`` per task step of the
    manifest(s) (its ``depends_on`` adjust step); {} without a manifest."""
    paths = list(settings.manifest)
    if settings.runs_dir and not paths and os.path.isfile(os.path.join(settings.runs_dir, "study_manifest.json")):
        paths = [os.path.join(settings.runs_dir, "study_manifest.json")]
    seeds = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            steps = json.load(handle).get("steps", [])
        adjustments = {step["name"]: int(step["seed"]) for step in steps if step.get("task") == "adjust"}
        for step in steps:
            if step.get("task") in NON_TASKS or step.get("task") == "xsr":
                continue
            parents = [adjustments[name] for name in step.get("depends_on", []) if name in adjustments]
            if parents:
                seeds[(step["task"], step["variant"], step.get("language"), int(step["seed"]))] = parents[0]
    return seeds


def with_encoder_seeds(
    measures: Sequence[Measure], gains: Mapping[str, Mapping[Key, float]], settings: ReportSettings
) -> dict[str, list[Measure]]:
    """Per task, the measures with a value for every task seed whose encoder has one under its adjustment's seed
    (``adjust.seeds`` narrower than ``seeds``)."""
    parents = encoder_seeds(settings)
    per_task = {}
    for task, by_key in gains.items():
        per_task[task] = []
        for measure in measures:
            values = dict(measure.values)
            for language, variant, seed in by_key:
                if (language, variant, seed) in values:
                    continue
                parent = parents.get((task, variant, language, seed), parents.get((task, variant, None, seed)))
                if parent is not None and (language, variant, parent) in measure.values:
                    values[(language, variant, seed)] = measure.values[(language, variant, parent)]
            per_task[task].append(Measure(measure.name, measure.kind, values))
    return per_task


def alignment_vs_transfer(cells: Sequence[Cell], settings: ReportSettings) -> tuple[list[Correlation], list[str]]:
    """Every measure × task correlation of the study, and the variants with a gain but no alignment measure."""
    gains = transfer_gains(cells, settings.baseline)
    measures = alignment_loss_measures(settings) + analysis_measures(settings)
    measures += tatoeba_measures(cells, settings.baseline)
    if not gains or not measures:
        return [], []
    correlations = []
    for task, task_measures in with_encoder_seeds(measures, gains, settings).items():
        task_gains = {task: gains[task]}
        correlations += correlate(task_measures, task_gains, settings.samples, settings.random_seed, settings.alpha)
    measured = {key[1] for m in measures for key in m.values}
    unpaired = sorted({key[1] for by_key in gains.values() for key in by_key} - measured)
    if unpaired:
        logger.info("alignment vs transfer: no alignment measure for the variant(s) %s", ", ".join(unpaired))
    order = {(m.name, m.kind): i for i, m in enumerate(measures)}
    correlations.sort(key=lambda c: (order[(c.measure, c.kind)], c.task))
    return correlations, unpaired
