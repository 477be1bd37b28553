"""Histogram figures of the word-distance analysis: one PNG per language and figure kind, models side by side.

Figures are built as :class:`matplotlib.figure.Figure` objects on an explicit Agg canvas, never through pyplot: no
global backend switch, no figure registry to leak or close, and safe to call from scripts, tests and threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from xladjust.analysis.word_distances import DistanceTable, compare_models
from xladjust.io import atomic_path

DPI = 120
PANEL_SIZE = (4.4, 3.4)  # inches per model panel: ≥ 500 × 400 px at DPI 120 even for a single model
BINS = 50
COLOURS = {"related": "#1f77b4", "unrelated": "#d62728", "delta": "#2ca02c"}
DELTA_LABEL = "Δ = d_unrelated − d_related"


def _distance_label(metric: str) -> str:
    return f"{metric} distance"


def _new_figure(num_panels: int) -> tuple[Figure, list[Axes]]:
    # At least 1.5 panels wide, so that the figure title fits above a single panel.
    figure = Figure(figsize=(PANEL_SIZE[0] * max(num_panels, 1.5), PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, num_panels, sharex=True, squeeze=False)[0]
    return figure, list(axes)


def _shared_bins(arrays: Sequence[np.ndarray], include_zero: bool = False) -> np.ndarray:
    """Common bin edges so that the panels of one figure are comparable bar for bar."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays] + [np.zeros(int(include_zero))])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.linspace(0.0, 1.0, BINS + 1)
    low, high = float(values.min()), float(values.max())
    if low == high:  # a single value (e.g. identical models) still needs a visible bar
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def _format_p(p: float) -> str:
    # A p-value that underflows to 0 is below the smallest double, not exactly zero.
    return "p < 1e-300" if p == 0 else f"p = {p:.2g}"


def _finish(ax: Axes) -> None:
    """Legend in headroom above the bars, so that it hides none of them."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1.3)
    ax.legend(fontsize="small", loc="upper left")


def _save(figure: Figure, path: str | Path) -> Path:
    """The PNG written whole or not at all (its folder created)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format="png")
    return Path(path)


def _check_models(results_by_model: Mapping[str, DistanceTable]) -> None:
    if not results_by_model:
        raise ValueError("no models to plot")


def plot_distance_histograms(
    results_by_model: Mapping[str, DistanceTable], language: str, metric: str, path: str | Path
) -> Path:
    """(a) Overlaid histograms of d_related and d_unrelated, one panel per model; returns the PNG's path."""
    _check_models(results_by_model)
    figure, axes = _new_figure(len(results_by_model))
    tables = list(results_by_model.values())
    bins = _shared_bins([t.d_rel for t in tables] + [t.d_unrel for t in tables])
    for ax, (model, table) in zip(axes, results_by_model.items(), strict=True):
        ax.hist(table.d_rel, bins=bins, alpha=0.6, color=COLOURS["related"], label=f"related (n={len(table)})")
        ax.hist(table.d_unrel, bins=bins, alpha=0.6, color=COLOURS["unrelated"], label="unrelated")
        ax.set_title(model)
        ax.set_xlabel(_distance_label(metric))
        _finish(ax)
    axes[0].set_ylabel("word pairs")
    figure.suptitle(f"{language}: {metric} distances of aligned and unrelated words")
    return _save(figure, path)


def plot_delta_histograms(
    results_by_model: Mapping[str, DistanceTable], language: str, metric: str, path: str | Path
) -> Path:
    """(b) Histogram of Δ = d_unrelated − d_related per model, with a line at 0; returns the PNG's path."""
    _check_models(results_by_model)
    figure, axes = _new_figure(len(results_by_model))
    bins = _shared_bins([t.delta for t in results_by_model.values()], include_zero=True)
    for ax, (model, table) in zip(axes, results_by_model.items(), strict=True):
        summary = table.summary()
        label = f"mean {summary.delta_mean:.3f}, Δ>0: {summary.share_delta_positive:.1%}"
        ax.hist(table.delta, bins=bins, color=COLOURS["delta"], alpha=0.8, label=label)
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
        ax.set_title(model)
        ax.set_xlabel(f"{DELTA_LABEL} ({metric})")
        _finish(ax)
    axes[0].set_ylabel("links")
    figure.suptitle(f"{language}: how much closer aligned words are than unrelated ones")
    return _save(figure, path)


def plot_change_histograms(
    results_by_model: Mapping[str, DistanceTable],
    language: str,
    metric: str,
    path: str | Path,
    model_pairs: Sequence[tuple[str, str]] | None = None,
) -> Path:
    """(c) For each model pair A → B, overlaid histograms of d_B − d_A for related and unrelated words.

    ``model_pairs`` defaults to every pair in the mapping's order (earlier → later); the tables must share one
    :class:`~xladjust.analysis.word_distances.LinkSample`. Legends carry the mean change and the Wilcoxon p-value.
    """
    names = list(results_by_model)
    pairs = list(model_pairs) if model_pairs is not None else list(combinations(names, 2))
    if not pairs:
        raise ValueError("need at least two models to plot changes")
    unknown = {name for pair in pairs for name in pair} - set(names)
    if unknown:
        raise ValueError(f"unknown models in model_pairs: {sorted(unknown)}")
    comparisons = [compare_models(results_by_model[a], results_by_model[b]) for a, b in pairs]
    figure, axes = _new_figure(len(pairs))
    bins = _shared_bins(
        [c.related.change for c in comparisons] + [c.unrelated.change for c in comparisons], include_zero=True
    )
    for ax, (a, b), comparison in zip(axes, pairs, comparisons, strict=True):
        for kind in ("related", "unrelated"):
            change = getattr(comparison, kind)
            label = f"{kind}: mean {change.mean:+.3f}, {_format_p(change.p_value)}"
            ax.hist(change.change, bins=bins, alpha=0.6, color=COLOURS[kind], label=label)
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"A = {a} → B = {b}")
        ax.set_xlabel(f"d_B − d_A ({metric} distance)")
        _finish(ax)
    axes[0].set_ylabel("word pairs")
    figure.suptitle(f"{language}: per-link change of {metric} distance, model A → B")
    return _save(figure, path)


def plot_language_figures(
    results_by_model: Mapping[str, DistanceTable],
    language: str,
    metric: str,
    out_dir: str | Path,
    model_pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Path]:
    """All figures of one language in ``out_dir`` as ``{language}_{metric}_{kind}.png``; kind → path.

    The change figure (of ``model_pairs``, see :func:`plot_change_histograms`) is left out when there is a single
    model or no pair to compare.
    """
    out_dir = Path(out_dir)
    paths = {
        "distances": plot_distance_histograms(
            results_by_model, language, metric, out_dir / f"{language}_{metric}_distances.png"
        ),
        "delta": plot_delta_histograms(results_by_model, language, metric, out_dir / f"{language}_{metric}_delta.png"),
    }
    if len(results_by_model) > 1 and (model_pairs is None or len(model_pairs) > 0):
        paths["changes"] = plot_change_histograms(
            results_by_model, language, metric, out_dir / f"{language}_{metric}_changes.png", model_pairs
        )
    return paths
