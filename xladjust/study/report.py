"""The report's logic: cells (task × set × variant, mean ± std over seeds), differences to the baseline with both
significance tests and the correction, and the markdown, CSV and bar-chart outputs."""

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
from xladjust.run_folder import describe_status, run_status, write_text
from xladjust.study.matrix import VARIANTS
from xladjust.study.results import Run, SetScores, read_run, set_language

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


def build_cells(
    runs: Sequence[Run], args: argparse.Namespace
) -> tuple[list[Cell], dict[tuple[str, str, str], dict[int, SetScores]]]:
    data: dict[tuple[str, str, str], dict[int, SetScores]] = defaultdict(dict)
    for run in runs:
        if not os.path.isdir(run.output_dir):
            logger.warning("missing run folder %s", run.output_dir)
            continue
        if run_status(run.output_dir) in ("running", "interrupted"):  # its predictions may be partial
            logger.warning("not in the report: %s", describe_status(run.output_dir))
            continue
        for name, scores in read_run(run, args.split, args.qa_metric).items():
            data[(run.task, name, run.variant)][run.seed] = scores
    cells = []
    for (task, name, variant), by_seed in sorted(data.items()):
        seeds = sorted(by_seed)
        ids = common_ids([by_seed[s] for s in seeds])
        statistic = STATISTICS[by_seed[seeds[0]].statistic]
        matrix = stack_seeds(by_seed, seeds, ids)
        per_seed = (100 * per_seed_scores(matrix, statistic)).tolist()
        std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan")
        cells.append(Cell(task, name, set_language(name), variant, by_seed[seeds[0]].metric, seeds, per_seed,
                          float(np.mean(per_seed)), std, len(ids)))  # fmt: skip
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
    variants in :data:`~xladjust.study.matrix.VARIANTS` order, then any other by name."""
    known = {name: i for i, name in enumerate(VARIANTS)}
    return sorted({c.variant for c in cells}, key=lambda v: (v != baseline, known.get(v, len(known)), v))


def write_markdown(cells: Sequence[Cell], args: argparse.Namespace, path: str) -> None:
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
    for task in sorted({c.task for c in cells}):
        task_cells = [c for c in cells if c.task == task]
        variants = variant_order(task_cells, args.baseline)
        sets = list(dict.fromkeys(c.eval_set for c in task_cells))
        by_key = {(c.eval_set, c.variant): c for c in task_cells}
        metric = task_cells[0].metric
        lines += ["", f"## {task} ({metric})", "", "| set | " + " | ".join(variants) + " |"]
        lines.append("| --- |" + " --- |" * len(variants))
        for name in sets:
            row = [cell_text(by_key[(name, v)]) if (name, v) in by_key else "" for v in variants]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    write_text(path, "\n".join(lines) + "\n")


CSV_COLUMNS = ["task", "eval_set", "language", "variant", "metric", "seeds", "examples", "mean", "std", "difference",
               "p_example", "p_example_adjusted", "significant_example", "p_seed", "p_seed_adjusted",
               "significant_seed", "notes"]  # fmt: skip


def write_csv(cells: Sequence[Cell], path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in cells:
            row = {k: v for k, v in asdict(cell).items() if k in CSV_COLUMNS}
            row["seeds"] = " ".join(map(str, cell.seeds))
            row["notes"] = "; ".join(cell.notes)
            writer.writerow(row)


def plot_task(cells: Sequence[Cell], task: str, baseline: str, path: str) -> None:
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
    axes.set_title(task)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
