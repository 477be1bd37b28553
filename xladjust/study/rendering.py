"""The report's text: the markdown tables (results per task and section, the analysis tables, the data-size
tables) and the CSV files (report.csv: one row per cell; analysis.csv: one row per analysis model)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from xladjust.analysis.comparisons import comparison_order
from xladjust.io import write_csv, write_text
from xladjust.study.correlation import Correlation
from xladjust.study.results import ModelChange, ModelDistances, split_row
from xladjust.study.statistics import Cell, EnglishCost, ReportSettings, mean_std, sections, variant_order


def _fmt(value: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def cell_text(cell: Cell) -> str:
    text = f"{_fmt(cell.mean)} ± {_fmt(cell.std)}"
    if cell.difference is not None:
        marks = ("*" if cell.significant_example else "") + ("†" if cell.significant_seed else "")
        text += f" ({_fmt(cell.difference, sign=True)}{marks})"
    return text


def write_markdown(cells: Sequence[Cell], settings: ReportSettings, path: str, extra: Sequence[str] = ()) -> None:
    """The tables of every task and section, then ``extra`` lines (the analysis and data-size sections)."""
    lines = ["# Results", ""]
    seeds = "pooled" if settings.pool_seeds else "kept together per example"
    lines.append(
        f"Mean ± std over seeds (percent); in brackets the difference to `{settings.baseline}`. `*`: paired "
        f"{settings.test} test on examples ({settings.samples} samples, seeds {seeds}), "
        f"`†`: {settings.seed_test} t-test over seeds; both at α = {settings.alpha} after {settings.correction} "
        f"correction over the cells of each task."
    )
    if any(len(c.seeds) < 2 for c in cells):
        lines.append(
            "\n`–` for a std: the cell has a single seed (a sample std needs two); its p_seed is empty too "
            "(`null` in report.json), and `†` cannot appear."
        )
    for task, group, task_cells in sections(cells):
        variants = variant_order(task_cells, baseline=settings.baseline)
        sets = list(dict.fromkeys(c.eval_set for c in task_cells))
        by_key = {(c.eval_set, c.variant): c for c in task_cells}
        metric = task_cells[0].metric
        title = f"## {task} ({metric})" + (f": {group}" if group else "")
        lines += ["", title, "", "| set | " + " | ".join(variants) + " |"]
        lines.append("| --- |" + " --- |" * len(variants))
        for name in sets:
            row = [cell_text(by_key[(name, v)]) if (name, v) in by_key else "" for v in variants]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    write_text(path, "\n".join([*lines, *extra]) + "\n")


def english_markdown(costs: Sequence[EnglishCost], cells: Sequence[Cell], baseline: str) -> list[str]:
    """The English cost of adjusting: per task, English set and variant, the mean over its English rows (every
    adjustment language of a per-language variant) of the score and of the difference to the baseline, and how
    many of those rows differ significantly (``*`` examples, ``†`` seeds)."""
    if not costs:
        return []
    lines = ["", "## English after adjusting (mean over the English rows of each variant)", ""]
    lines += [
        f"Per-language variants have an English row per adjustment language (`en (adjusted on es)`), tested against "
        f"`{baseline}`'s English predictions like every cell; here their mean.",
        "",
        f"| task | set | variant | rows | {baseline} | score | difference | * | † |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = {variant: i for i, variant in enumerate(variant_order(cells, baseline))}
    for cost in sorted(costs, key=lambda c: (c.task, c.eval_set, order.get(c.variant, len(order)))):
        languages = [language for row in cost.rows if (language := split_row(row)[1]) is not None]
        rows = f"{len(cost.rows)}" + (f" ({', '.join(languages)})" if languages else "")
        reference = _fmt(cost.baseline_mean)
        n = len(cost.rows)
        lines.append(
            f"| {cost.task} | {cost.eval_set} | {cost.variant} | {rows} | {reference} | {_fmt(cost.mean)} | "
            f"{_fmt(cost.difference, sign=True)} | {cost.significant_example}/{n} | {cost.significant_seed}/{n} |"
        )
    return lines


CSV_COLUMNS = [
    "task",
    "group",
    "eval_set",
    "language",
    "variant",
    "pairs",
    "metric",
    "seeds",
    "examples",
    "mean",
    "std",
    "difference",
    "p_example",
    "p_example_adjusted",
    "significant_example",
    "p_seed",
    "p_seed_adjusted",
    "significant_seed",
    "notes",
]


def write_cells_csv(cells: Sequence[Cell], path: str) -> None:
    """report.csv: one row per cell (seeds space-separated, notes joined by "; ")."""
    rows = []
    for cell in cells:
        row = {k: v for k, v in asdict(cell).items() if k in CSV_COLUMNS}
        row["seeds"] = " ".join(map(str, cell.seeds))
        row["notes"] = "; ".join(cell.notes)
        rows.append(row)
    write_csv(path, rows, CSV_COLUMNS)


def _with_std(mean: float, std: float, digits: int, scale: float = 1.0) -> str:
    text = f"{scale * mean:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {scale * std:.{digits}f}"


def analysis_markdown(distances: Sequence[ModelDistances], changes: Sequence[ModelChange], alpha: float) -> list[str]:
    """Per analysis variant, layer and metric: a table of models × languages with "share of links with Δ > 0 (%)
    / mean Δ" (mean ± std over seeds), and a table of the per-link changes between models (mean change of the
    related and unrelated distances, and in how many seeds the Wilcoxon test gave p < alpha), the paper's
    comparisons first (:func:`~xladjust.analysis.comparisons.comparison_order`)."""
    lines: list[str] = []
    tables = sorted({(d.variant, d.layer, d.metric) for d in distances}, key=lambda k: (k[0] != "adjusted", k))
    for variant, layer, metric in tables:
        here = [d for d in distances if (d.variant, d.layer, d.metric) == (variant, layer, metric)]
        languages = list(dict.fromkeys(d.language for d in here))
        models = sorted({d.model for d in here}, key=_model_order)
        lines += ["", f"## analysis ({variant}, layer {layer}, {metric}): share of links with Δ > 0 (%) / mean Δ", ""]
        lines += ["| model | " + " | ".join(languages) + " |", "| --- |" + " --- |" * len(languages)]
        for model in models:
            row = []
            for language in languages:
                cell = [d for d in here if (d.model, d.language) == (model, language)]
                if not cell:
                    row.append("")
                    continue
                share = _with_std(*mean_std([d.share_delta_positive for d in cell]), 1, 100)
                delta = _with_std(*mean_std([d.delta_mean for d in cell]), 3)
                row.append(f"{share} / {delta}")
            lines.append(f"| {model} | " + " | ".join(row) + " |")
        moved = [c for c in changes if (c.variant, c.layer, c.metric) == (variant, layer, metric)]
        if moved:
            lines += ["", f"Changes per link (mean over seeds; seeds with Wilcoxon p < {alpha}):", ""]
            lines += ["| A → B | language | Δ d_related | Δ d_unrelated |", "| --- | --- | --- | --- |"]
            order = {key: i for i, key in enumerate(comparison_order(models))}
            listed = sorted(dict.fromkeys(c.comparison for c in moved), key=lambda key: order.get(key, len(order)))
            for comparison in listed:
                for language in languages:
                    cell = [c for c in moved if (c.comparison, c.language) == (comparison, language)]
                    if not cell:
                        continue
                    related = _change_text([c.related_mean for c in cell], [c.related_p_value for c in cell], alpha)
                    unrelated = _change_text(
                        [c.unrelated_mean for c in cell], [c.unrelated_p_value for c in cell], alpha
                    )
                    lines.append(f"| {comparison.replace('->', ' → ')} | {language} | {related} | {unrelated} |")
    return lines


def _model_order(label: str) -> tuple[str, bool, str]:
    """original, adjusted, then original+TASK, adjusted+TASK per task (analysis_results.json sorts its keys)."""
    encoder, _, task = label.partition("+")
    return task, encoder != "original", label


def _change_text(means: Sequence[float], p_values: Sequence[float], alpha: float) -> str:
    significant = sum(1 for p in p_values if not math.isnan(p) and p < alpha)
    return f"{np.mean(means):+.4f} ({significant}/{len(means)})"


def write_analysis_csv(distances: Sequence[ModelDistances], path: str) -> None:
    """One row per analysis variant, language, layer, metric and model: share of links with Δ > 0 and mean Δ,
    mean and std over seeds."""
    groups: dict[tuple[str, str, str, str, str], list[ModelDistances]] = defaultdict(list)
    for d in distances:
        groups[(d.variant, d.language, d.layer, d.metric, d.model)].append(d)
    header = [
        "variant",
        "language",
        "layer",
        "metric",
        "model",
        "seeds",
        "share_delta_positive_mean",
        "share_delta_positive_std",
        "delta_mean_mean",
        "delta_mean_std",
    ]
    rows = []
    for key, group in groups.items():
        share, delta = mean_std([d.share_delta_positive for d in group]), mean_std([d.delta_mean for d in group])
        rows.append([*key, " ".join(str(d.seed) for d in group), *share, *delta])
    write_csv(path, rows, header)


def data_size_markdown(sized: Sequence[Cell], cells: Sequence[Cell], baseline: str) -> list[str]:
    lines: list[str] = []
    for task in sorted({c.task for c in sized}):
        here = [c for c in sized if c.task == task]
        counts = sorted({c.pairs for c in here})
        lines += ["", f"## {task} ({here[0].metric}) vs parallel pairs (mean ± std over seeds)", ""]
        lines += [f"| set | {baseline} | " + " | ".join(f"{n:,}" for n in counts) + " |"]
        lines.append("| --- | --- |" + " --- |" * len(counts))
        base = {c.eval_set: c for c in cells if c.task == task and c.variant == baseline}
        for name in dict.fromkeys(c.eval_set for c in here):
            row = [next((cell_text(c) for c in here if (c.eval_set, c.pairs) == (name, n)), "") for n in counts]
            reference = f"{_fmt(base[name].mean)} ± {_fmt(base[name].std)}" if name in base else ""
            lines.append(f"| {name} | {reference} | " + " | ".join(row) + " |")
    return lines


def _rho_text(c: Correlation) -> str:
    if math.isnan(c.rho):
        return f"– ({c.n})"
    interval = "" if math.isnan(c.low) else f" [{c.low:+.2f}, {c.high:+.2f}]"
    text = f"{c.rho:+.2f}{interval} ({c.n})"
    return f"**{text}**" if c.significant else text


def correlation_markdown(
    correlations: Sequence[Correlation], unpaired: Sequence[str], settings: ReportSettings
) -> list[str]:
    """The alignment-vs-transfer section: a table measure × task of Spearman's ρ [interval] (points), and a
    sentence naming the strongest measure-task pair whose interval excludes 0, or saying that none does."""
    if not correlations:
        return []
    tasks = list(dict.fromkeys(c.task for c in correlations))
    level = f"{100 * (1 - settings.alpha):g} %"
    lines = ["", "## Alignment vs. transfer", ""]
    lines.append(
        f"Does a better-aligned encoder transfer better? One point per language, encoder variant and seed: an "
        f"alignment measure of the variant's encoder (`adjusted`) or its change from the original encoder "
        f"(`vs original`), against the task's zero-shot gain over `{settings.baseline}` (same language and seed, "
        f"points). Cells: Spearman's ρ [{level} bootstrap interval over the points, {settings.samples} resamples] "
        f"(points); **bold**: the interval excludes 0. A lower alignment loss is a better alignment, so it predicts "
        f"a gain with a negative ρ. Points of one language share its data: the intervals are optimistic and not "
        f"corrected for the {len(correlations)} pairs."
    )
    lines += ["", "| measure | kind | " + " | ".join(tasks) + " |", "| --- | --- |" + " --- |" * len(tasks)]
    by_key = {(c.measure, c.kind, c.task): c for c in correlations}
    for measure, kind in dict.fromkeys((c.measure, c.kind) for c in correlations):
        row = [_rho_text(by_key[(measure, kind, t)]) if (measure, kind, t) in by_key else "" for t in tasks]
        lines.append(f"| {measure} | {kind} | " + " | ".join(row) + " |")
    significant = [c for c in correlations if c.significant]
    lines.append("")
    if significant:
        best = max(significant, key=lambda c: abs(c.rho))
        lines.append(
            f"Strongest: **{best.measure}** ({best.kind}) predicts the gain on **{best.task}**: ρ = {best.rho:+.2f} "
            f"[{best.low:+.2f}, {best.high:+.2f}], {best.n} points; {len(significant)} of {len(correlations)} "
            f"measure–task pairs have an interval that excludes 0."
        )
    else:
        lines.append(
            f"No alignment measure predicts the gain on any task: every {level} interval includes 0 (or has under "
            f"three points)."
        )
    if unpaired:
        lines.append(f"\nNot paired (no alignment measure of their own): {', '.join(unpaired)}.")
    return lines


CORRELATION_COLUMNS = ["measure", "kind", "task", "language", "variant", "seed", "alignment", "gain"]


def write_correlation_csv(correlations: Sequence[Correlation], path: str) -> None:
    """alignment_vs_transfer.csv: one row per point of every measure and task (to re-plot or re-test)."""
    rows = [
        {"measure": c.measure, "kind": c.kind, "task": c.task, **point} for c in correlations for point in c.points
    ]
    write_csv(path, rows, CORRELATION_COLUMNS)
