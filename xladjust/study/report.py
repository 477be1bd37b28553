"""The report's logic: cells (task × set × variant, mean ± std over seeds), differences to the baseline with both
significance tests and the correction, the markdown, CSV and bar-chart outputs, the analysis tables (share of links
with Δ > 0 / mean Δ per model; changes between models) and the data-size figure (metric vs parallel pairs)."""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from xladjust.analysis.significance import CORRECTIONS, STATISTICS, TESTS, per_seed_scores, seed_test
from xladjust.io import write_text
from xladjust.run_folder import describe_status, run_status
from xladjust.study.config import VARIANTS
from xladjust.study.results import (
    ModelChange,
    ModelDistances,
    SetScores,
    StudyRun,
    read_retrieval,
    read_run,
    set_group,
    set_language,
)

logger = logging.getLogger(__name__)


@dataclass
class Cell:
    task: str
    eval_set: str
    language: str
    variant: str
    metric: str
    seeds: list[int]
    scores: list[float]
    mean: float
    std: float
    examples: int
    difference: float | None = None
    p_example: float | None = None
    p_seed: float | None = None
    p_example_adjusted: float | None = None
    p_seed_adjusted: float | None = None
    significant_example: bool = False
    significant_seed: bool = False
    notes: list[str] = field(default_factory=list)
    group: str = ""  # set_group: mono-lingual / cross-lingual (QA), layer N (sentence retrieval)
    pairs: int | None = None  # parallel pairs of the variant's adjustment (manifest key), for the data-size figure


def stack_seeds(by_seed: dict[int, SetScores], seeds: Sequence[int], ids: Sequence[str]) -> np.ndarray:
    """``(examples, seeds, k)`` in the order of ``ids``."""
    columns = []
    for seed in seeds:
        position = {example_id: i for i, example_id in enumerate(by_seed[seed].ids)}
        columns.append(by_seed[seed].values[[position[i] for i in ids]])
    return np.stack(columns, axis=1)


def common_ids(sets: Sequence[SetScores]) -> list[str]:
    shared = set(sets[0].ids).intersection(*(s.ids for s in sets[1:]))
    return [i for i in sets[0].ids if i in shared]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (NaN for a single value)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return float(np.mean(values)), std


def build_cells(
    runs: Sequence[StudyRun], args: argparse.Namespace
) -> tuple[list[Cell], dict[tuple[str, str, str], dict[int, SetScores]]]:
    data: dict[tuple[str, str, str], dict[int, SetScores]] = defaultdict(dict)
    pairs: dict[tuple[str, str], int] = {}
    for run in runs:
        if not os.path.isdir(run.output_dir):
            logger.warning("missing run folder %s", run.output_dir)
            continue
        if run_status(run.output_dir) in ("running", "interrupted"):  # its predictions may be partial
            logger.warning("not in the report: %s", describe_status(run.output_dir))
            continue
        scores_by_set = read_run(run, args.split, args.qa_score, args.qa_metric) | read_retrieval(run)
        for name, scores in scores_by_set.items():
            data[(run.task, name, run.variant)][run.seed] = scores
        if run.pairs is not None:
            pairs[(run.task, run.variant)] = run.pairs
    cells = []
    for (task, name, variant), by_seed in sorted(data.items()):
        seeds = sorted(by_seed)
        ids = common_ids([by_seed[s] for s in seeds])
        statistic = STATISTICS[by_seed[seeds[0]].statistic]
        matrix = stack_seeds(by_seed, seeds, ids)
        per_seed = (100 * per_seed_scores(matrix, statistic)).tolist()
        mean, std = _mean_std(per_seed)
        cells.append(
            Cell(
                task,
                name,
                set_language(name),
                variant,
                by_seed[seeds[0]].metric,
                seeds,
                per_seed,
                mean,
                std,
                len(ids),
                group=set_group(name),
                pairs=pairs.get((task, variant)),
            )
        )
    return cells, data


def compare(cells: list[Cell], data: dict, args: argparse.Namespace) -> None:
    """Differences to the baseline, both tests, and the correction within each task (in place)."""
    test = TESTS[args.test]
    baseline_cells = {(c.task, c.eval_set): c for c in cells if c.variant == args.baseline}
    for cell in cells:
        if cell.variant == args.baseline:
            continue
        base = data.get((cell.task, cell.eval_set, args.baseline))
        if not base:
            cell.notes.append(f"no {args.baseline} run")
            continue
        system = data[(cell.task, cell.eval_set, cell.variant)]
        seeds = sorted(set(base) & set(system))
        if not seeds:
            cell.notes.append("no seed in common with the baseline")
            continue
        ids = common_ids([*(base[s] for s in seeds), *(system[s] for s in seeds)])
        a, b = stack_seeds(base, seeds, ids), stack_seeds(system, seeds, ids)
        statistic = STATISTICS[system[seeds[0]].statistic]
        result = test(a, b, statistic, args.samples, args.random_seed, args.pool_seeds)
        cell.difference = 100 * result.difference
        cell.p_example = result.p_value
        base_scores = 100 * per_seed_scores(a, statistic)
        system_scores = 100 * per_seed_scores(b, statistic)
        if args.seed_test == "welch":  # all seeds of each system, not only the common ones
            base_scores, system_scores = baseline_cells[cell.task, cell.eval_set].scores, cell.scores
        cell.p_seed = seed_test(base_scores, system_scores, args.seed_test)
        if len(seeds) < len(cell.seeds) or len(ids) < cell.examples:
            cell.notes.append(f"compared on {len(seeds)} common seed(s), {len(ids)} common examples")
    correct = CORRECTIONS[args.correction]
    for task in {cell.task for cell in cells}:
        compared = [c for c in cells if c.task == task and c.p_example is not None]
        for name in ("p_example", "p_seed"):
            adjusted = correct([getattr(c, name) for c in compared])
            for c, p in zip(compared, adjusted, strict=True):
                setattr(c, f"{name}_adjusted", p)
                setattr(c, f"significant_{name[2:]}", bool(not math.isnan(p) and p < args.alpha))


# ---------------------------------------------------------------------------------------------------------------
# Outputs


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


def variant_order(cells: Sequence[Cell], baseline: str) -> list[str]:
    """The variants of ``cells`` in one fixed order for every task: the baseline, then the study's built-in
    variants in :data:`~xladjust.study.config.VARIANTS` order, then any other by name."""
    known = {name: i for i, name in enumerate(VARIANTS)}
    return sorted({c.variant for c in cells}, key=lambda v: (v != baseline, known.get(v, len(known)), v))


def write_markdown(cells: Sequence[Cell], args: argparse.Namespace, path: str, extra: Sequence[str] = ()) -> None:
    """The tables of every task and section, then ``extra`` lines (the analysis and data-size sections)."""
    lines = ["# Results", ""]
    seeds = "pooled" if args.pool_seeds else "kept together per example"
    lines.append(
        f"Mean ± std over seeds (percent); in brackets the difference to `{args.baseline}`. `*`: paired "
        f"{args.test} test on examples ({args.samples} samples, seeds {seeds}), "
        f"`†`: {args.seed_test} t-test over seeds; both at α = {args.alpha} after {args.correction} "
        f"correction over the cells of each task."
    )
    if any(len(c.seeds) < 2 for c in cells):
        lines.append(
            "\n`–` for a std: the cell has a single seed (a sample std needs two); its p_seed is empty too "
            "(`null` in report.json), and `†` cannot appear."
        )
    for task, group, task_cells in sections(cells):
        variants = variant_order(task_cells, baseline=args.baseline)
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


GROUP_ORDER = {"": 0, "mono-lingual": 1, "cross-lingual": 2}


def sections(cells: Sequence[Cell]) -> list[tuple[str, str, list[Cell]]]:
    """``(task, group, cells)`` per table of the report: mono-lingual before cross-lingual sets, layers in order."""
    keys = sorted({(c.task, c.group) for c in cells}, key=lambda k: (k[0], GROUP_ORDER.get(k[1], 3), k[1]))
    return [(task, group, [c for c in cells if (c.task, c.group) == (task, group)]) for task, group in keys]


def figure_names(cells: Sequence[Cell]) -> list[tuple[str, str, str]]:
    """``(task, group, file)`` per chart: ``qa.png`` for a task's first section (mono-lingual), then
    ``qa.cross-lingual.png``, ``xsr.layer-1.png`` for the others."""
    names, seen = [], set()
    for task, group, _ in sections(cells):
        names.append((task, group, f"{task}.png" if task not in seen else f"{task}.{group.replace(' ', '')}.png"))
        seen.add(task)
    return names


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


def write_csv(cells: Sequence[Cell], path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in cells:
            row = {k: v for k, v in asdict(cell).items() if k in CSV_COLUMNS}
            row["seeds"] = " ".join(map(str, cell.seeds))
            row["notes"] = "; ".join(cell.notes)
            writer.writerow(row)


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
    figure.savefig(path, dpi=120)


# ---------------------------------------------------------------------------------------------------------------
# Analysis tables: the four models per task (original, adjusted, original+TASK, adjusted+TASK)


def _with_std(mean: float, std: float, digits: int, scale: float = 1.0) -> str:
    text = f"{scale * mean:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {scale * std:.{digits}f}"


def analysis_markdown(distances: Sequence[ModelDistances], changes: Sequence[ModelChange], alpha: float) -> list[str]:
    """Per analysis variant, layer and metric: a table of models × languages with "share of links with Δ > 0 (%)
    / mean Δ" (mean ± std over seeds), and a table of the per-link changes between models (mean change of the
    related and unrelated distances, and in how many seeds the Wilcoxon test gave p < alpha)."""
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
                share = _with_std(*_mean_std([d.share_delta_positive for d in cell]), 1, 100)
                delta = _with_std(*_mean_std([d.delta_mean for d in cell]), 3)
                row.append(f"{share} / {delta}")
            lines.append(f"| {model} | " + " | ".join(row) + " |")
        moved = [c for c in changes if (c.variant, c.layer, c.metric) == (variant, layer, metric)]
        if moved:
            lines += ["", f"Changes per link (mean over seeds; seeds with Wilcoxon p < {alpha}):", ""]
            lines += ["| A → B | language | Δ d_related | Δ d_unrelated |", "| --- | --- | --- | --- |"]
            for comparison in dict.fromkeys(c.comparison for c in moved):
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
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
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
        )
        for key, rows in groups.items():
            share, delta = _mean_std([d.share_delta_positive for d in rows]), _mean_std([d.delta_mean for d in rows])
            writer.writerow([*key, " ".join(str(d.seed) for d in rows), *share, *delta])


# ---------------------------------------------------------------------------------------------------------------
# Data size: metric vs parallel pairs


def data_size_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Cells of per-language runs whose variant has a known number of pairs, when at least two numbers occur;
    of two variants with the same number of pairs the first by name is kept (a warning names the other)."""
    chosen: dict[tuple[str, str, int], Cell] = {}
    for cell in sorted(cells, key=lambda c: c.variant):
        if cell.pairs is None or cell.language == "en":
            continue
        key = (cell.task, cell.eval_set, cell.pairs)
        if key in chosen:
            logger.warning(
                "data size: %s and %s both have %d pairs; %s is plotted",
                chosen[key].variant,
                cell.variant,
                cell.pairs,
                chosen[key].variant,
            )
            continue
        chosen[key] = cell
    kept = list(chosen.values())
    return kept if len({c.pairs for c in kept}) > 1 else []


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
    figure.savefig(path, dpi=120)
