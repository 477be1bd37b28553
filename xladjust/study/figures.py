"""The report's figures: a bar chart per task and section (``{task}.png``, ``{task}.{section}.png``) and the
data-size figure (``data_size.png``: metric vs parallel pairs). Each file is written whole or not at all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.io import atomic_path
from xladjust.study.correlation import Correlation
from xladjust.study.statistics import Cell, sections, variant_order


def figure_names(cells: Sequence[Cell]) -> list[tuple[str, str, str]]:
    """``(task, group, file)`` per chart: ``qa.png`` for a task's first section (mono-lingual), then
    ``qa.cross-lingual.png``, ``xsr.layer-1.png`` for the others."""
    names, seen = [], set()
    for task, group, _ in sections(cells):
        names.append((task, group, f"{task}.png" if task not in seen else f"{task}.{group.replace(' ', '')}.png"))
        seen.add(task)
    return names


def plot_task(cells: Sequence[Cell], task: str, baseline: str, path: str, title: str | None = None) -> None:
    """Grouped bars: evaluation sets on x, one bar per variant, std over seeds as error bars, * when significant."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    task_cells = [c for c in cells if c.task == task]
    variants = variant_order(task_cells, baseline)
    sets = list(dict.fromkeys(c.eval_set for c in task_cells))
    by_key = {(c.eval_set, c.variant): c for c in task_cells}
    figure = Figure(figsize=(max(4.0, 1.2 * len(sets) * max(1, len(variants)) / 2), 3.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(variants))
    for j, variant in enumerate(variants):
        xs = [i + (j - (len(variants) - 1) / 2) * width for i in range(len(sets))]
        cells_here = [by_key.get((name, variant)) for name in sets]
        means = [c.mean if c else np.nan for c in cells_here]
        errors = [0 if c is None or math.isnan(c.std) else c.std for c in cells_here]
        axes.bar(xs, means, width, yerr=errors, capsize=2, label=variant)
        for x, c in zip(xs, cells_here, strict=True):
            if c is not None and (c.significant_example or c.significant_seed):
                axes.text(x, c.mean + (0 if math.isnan(c.std) else c.std), "*", ha="center", va="bottom")
    axes.set_xticks(range(len(sets)), sets, rotation=30 if len(sets) > 6 else 0)
    axes.set_ylabel(f"{task_cells[0].metric} (%)")
    axes.set_title(title or task)
    axes.legend(fontsize="small")
    figure.tight_layout()
    _save(figure, path)


def plot_data_size(sized: Sequence[Cell], cells: Sequence[Cell], baseline: str, path: str) -> None:
    """One panel per task (rows) and language (columns): metric (mean ± std over seeds) vs pairs on a log axis,
    a line per evaluation set, the baseline as a dashed line of the same colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = sorted({c.task for c in sized})
    languages = list(dict.fromkeys(c.language for c in sorted(sized, key=lambda c: c.language)))
    figure = Figure(figsize=(3.2 * len(languages), 2.8 * len(tasks)))
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(tasks), len(languages), squeeze=False)
    for row, task in enumerate(tasks):
        for column, language in enumerate(languages):
            axes = grid[row][column]
            here = [c for c in sized if (c.task, c.language) == (task, language)]
            for i, name in enumerate(dict.fromkeys(c.eval_set for c in here)):
                points = sorted((c for c in here if c.eval_set == name), key=lambda c: c.pairs)
                errors = [0 if math.isnan(c.std) else c.std for c in points]
                color = f"C{i}"
                axes.errorbar(
                    [c.pairs for c in points],
                    [c.mean for c in points],
                    yerr=errors,
                    marker="o",
                    capsize=2,
                    color=color,
                    label=name,
                )
                base = [c for c in cells if (c.task, c.eval_set, c.variant) == (task, name, baseline)]
                if base:
                    axes.axhline(base[0].mean, color=color, linestyle="--", linewidth=0.8)
            axes.set_xscale("log")
            axes.set_title(f"{task} · {language}", fontsize="small")
            axes.set_xlabel("parallel pairs")
            if column == 0:
                axes.set_ylabel(f"{here[0].metric if here else ''} (%)")
            if here:
                axes.legend(fontsize="x-small")
    figure.tight_layout()
    _save(figure, path)


def plot_alignment_transfer(correlations: Sequence[Correlation], task: str, path: str, baseline: str) -> None:
    """One panel per alignment measure with points: the measure (x) against the task's gain over the baseline
    (y), a colour per language and a marker per variant, ρ and its interval in the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [c for c in correlations if c.task == task and c.points]
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(3.4 * columns, 3.0 * rows))
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, squeeze=False)
    languages = sorted({p["language"] for c in panels for p in c.points})
    variants = sorted({p["variant"] for c in panels for p in c.points})
    markers = "osD^vP*X"
    for axes, correlation in zip(grid.flat, panels, strict=False):
        for i, language in enumerate(languages):
            for j, variant in enumerate(variants):
                here = [p for p in correlation.points if (p["language"], p["variant"]) == (language, variant)]
                if here:
                    axes.scatter(
                        [p["alignment"] for p in here],
                        [p["gain"] for p in here],
                        color=f"C{i}",
                        marker=markers[j % len(markers)],
                        label=f"{language} · {variant}",
                    )
        axes.axhline(0, color="grey", linewidth=0.6, linestyle="--")
        rho = "–" if math.isnan(correlation.rho) else f"{correlation.rho:+.2f}"
        interval = "" if math.isnan(correlation.low) else f" [{correlation.low:+.2f}, {correlation.high:+.2f}]"
        axes.set_title(f"{correlation.measure} ({correlation.kind})\nρ = {rho}{interval}", fontsize="small")
        axes.set_xlabel(correlation.measure if correlation.kind == "adjusted" else f"Δ {correlation.measure}")
        axes.set_ylabel(f"{task} gain over {baseline} (points)")
        axes.tick_params(labelsize="x-small")
    for axes in list(grid.flat)[len(panels) :]:
        axes.set_visible(False)
    grid.flat[0].legend(fontsize="xx-small")
    figure.suptitle(f"alignment vs. {task} transfer (one point per language, variant, seed)", fontsize="medium")
    figure.tight_layout()
    _save(figure, path)


def _save(figure: Any, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format=Path(path).suffix.lstrip(".") or None)
