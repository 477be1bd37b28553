#!/usr/bin/env python
"""Aggregate a study's runs into a paper-style table with significance tests, and a bar chart per task.

    python run_report.py --runs_dir out/study --output_dir out/study/report
    python run_report.py --manifest a/study_manifest.json b/study_manifest.json --output_dir report

Runs come from ``study_manifest.json`` (written by reproduce.py: task, variant, language, seed and folder of every
step) or, without one, from the layout ``RUNS_DIR/{task}/{variant}/[{language}/]seed{n}/``. Scores are recomputed
from the per-example files of each run, ``predictions/{split}_{set}.jsonl``, the format being detected per file:

- records with ``f1`` / ``exact_match`` columns (run_qa.py): the per-example ``--qa_metric`` (F1 by default;
  values above 1 are read as percent); a ``*_scores.jsonl`` file wins over the plain one of the same set;
- ``gold`` / ``predicted`` tag lists (run_ner.py): entity counts per sentence, corpus F1 (strict IOB2);
- ``gold`` / ``predicted`` labels (run_xnli.py): 1/0 correctness, accuracy.

A set's language is its name (``es``) or the context language of a QA set (``xquad.es``, ``mlqa.es.en``,
``tydiqa.ru``). A per-language run (``adjusted``, language es) contributes its es sets only; the other variants'
runs contribute every set. ``--split auto`` reads the test split (``predict``) where a run has it, else
validation (``eval``).

Every cell: mean ± sample std over seeds (in percent), the difference to the ``original`` encoder, and two p-values:

- ``p_ex``: a paired test on the examples (``--test bootstrap`` (default) or ``randomization``; see
  :mod:`xladjust.significance`), seeds paired by seed number and kept together per example (``--pool_seeds`` treats
  (seed, example) as independent units instead), examples paired by id;
- ``p_seed``: a t-test over the seed scores (``--seed_test paired`` over common seeds (default), or ``welch``).

Multiple comparisons: within each task, the p-values of all cells are adjusted together (``--correction holm``
(default), ``bonferroni`` or ``none``); a cell is marked ``*`` when the adjusted ``p_ex`` < ``--alpha`` and ``†``
when the adjusted ``p_seed`` < ``--alpha``. Outputs: ``report.md``, ``report.csv`` (one row per cell),
``report.json``, ``{task}.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.significance import CORRECTIONS, STATISTICS, TESTS, entity_counts, per_seed_scores, seed_test

logger = logging.getLogger("run_report")

NON_TASKS = {"adjust", "analysis", "report", "logs"}
_SPLIT = re.compile(r"^(eval|predict)_(.+?)(_scores)?$")


@dataclass
class Run:
    task: str
    variant: str
    language: str | None
    seed: int
    output_dir: str


@dataclass
class SetScores:
    """Per-example scores of one evaluation set in one run: ``values`` has shape ``(examples, k)``."""

    ids: list[str]
    values: np.ndarray
    statistic: str  # a key of STATISTICS
    metric: str


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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs_dir", help="Root of a study (reproduce.py's output_dir).")
    parser.add_argument("--manifest", nargs="+", default=[], help="study_manifest.json file(s).")
    parser.add_argument("--output_dir", required=True, help="Where the report goes.")
    parser.add_argument("--split", default="auto", choices=["auto", "eval", "predict"])
    parser.add_argument("--baseline", default="original", help="The variant differences are taken to.")
    parser.add_argument("--test", default="bootstrap", choices=sorted(TESTS))
    parser.add_argument("--samples", type=int, default=1000, help="Bootstrap samples / randomisation rounds.")
    parser.add_argument("--pool_seeds", action="store_true", help="Resample (seed, example) pairs independently.")
    parser.add_argument("--seed_test", default="paired", choices=["paired", "welch"])
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--correction", default="holm", choices=sorted(CORRECTIONS))
    parser.add_argument("--qa_metric", default="f1", choices=["f1", "exact_match"])
    parser.add_argument("--random_seed", type=int, default=0, help="Seed of the resampling.")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------------
# Finding runs and reading their per-example files


def locate(folder: str, manifest_dir: str, study_root: str | None) -> str:
    """A step folder as written (absolute, or relative to where reproduce.py ran), else the same place relative to
    the manifest's folder (the study was moved or is read from elsewhere)."""
    if os.path.isdir(folder) or os.path.isabs(folder) or not study_root:
        return folder
    moved = os.path.join(manifest_dir, os.path.relpath(folder, study_root))
    return moved if os.path.isdir(moved) else folder


def runs_from_manifest(path: str) -> list[Run]:
    with open(path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    base = os.path.dirname(os.path.abspath(path))
    runs = []
    for step in manifest.get("steps", []):
        if step.get("task") in NON_TASKS:
            continue
        folder = locate(step["output_dir"], base, manifest.get("config", {}).get("output_dir"))
        runs.append(Run(step["task"], step["variant"], step.get("language"), int(step["seed"]), folder))
    return runs


def runs_from_layout(root: str) -> list[Run]:
    runs = []
    for seed_dir in sorted(Path(root).glob("*/*/**/seed*")):
        parts = seed_dir.relative_to(root).parts
        match = re.fullmatch(r"seed(\d+)", parts[-1])
        if not match or parts[0] in NON_TASKS or len(parts) not in (3, 4):
            continue
        language = parts[2] if len(parts) == 4 else None
        runs.append(Run(parts[0], parts[1], language, int(match.group(1)), str(seed_dir)))
    return runs


def find_runs(runs_dir: str | None, manifests: Sequence[str]) -> list[Run]:
    manifests = list(manifests)
    if runs_dir and not manifests and os.path.isfile(os.path.join(runs_dir, "study_manifest.json")):
        manifests = [os.path.join(runs_dir, "study_manifest.json")]
    if manifests:
        return [run for path in manifests for run in runs_from_manifest(path)]
    if not runs_dir:
        raise InputError("give --runs_dir or --manifest")
    if not os.path.isdir(runs_dir):
        raise InputError("runs folder not found", runs_dir)
    return runs_from_layout(runs_dir)


def set_language(name: str) -> str:
    """``es`` → es; ``xquad.es``, ``mlqa.es.en``, ``tydiqa.ru`` → the context language; ``:split``/``-split`` cut."""
    name = re.split(r"[:]", name)[0]
    parts = name.split(".")
    language = parts[1] if len(parts) > 1 else parts[0]
    return language.split("-")[0] if len(parts) > 1 else language


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score_records(records: list[dict[str, Any]], qa_metric: str, path: Path) -> SetScores:
    """Per-example scores of a predictions file, its format detected from the columns of the first record."""
    if not records:
        raise InputError("empty predictions file", str(path))
    first = records[0]
    ids = [str(r.get("id", i)) for i, r in enumerate(records)]
    if qa_metric in first or "f1" in first or "exact_match" in first:
        column = qa_metric if qa_metric in first else next(c for c in ("f1", "exact_match") if c in first)
        values = np.array([float(r[column]) for r in records])
        if values.max(initial=0) > 1:
            values = values / 100
        return SetScores(ids, values[:, None], "mean", column)
    if "gold" not in first or "predicted" not in first:
        raise InputError("records need gold/predicted or f1/exact_match columns", str(path))
    if isinstance(first["gold"], list) and isinstance(first["predicted"], list):
        counts = np.array([entity_counts(r["gold"], r["predicted"]) for r in records], dtype=float)
        return SetScores(ids, counts, "f1", "f1")
    values = np.array([float(r["gold"] == r["predicted"]) for r in records])
    return SetScores(ids, values[:, None], "mean", "accuracy")


def read_run(run: Run, split: str, qa_metric: str) -> dict[str, SetScores]:
    """``{set name: scores}`` of one run's split (``auto``: predict where present, else eval)."""
    folder = Path(run.output_dir) / "predictions"
    files: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.glob("*.jsonl")):
        match = _SPLIT.match(path.stem)
        if match and (match.group(3) or (match.group(1), match.group(2)) not in files):
            files[(match.group(1), match.group(2))] = path
    splits = {s for s, _ in files}
    chosen = split if split != "auto" else ("predict" if "predict" in splits else "eval")
    result = {}
    for (file_split, name), path in files.items():
        if file_split != chosen:
            continue
        if run.language is not None and set_language(name) != run.language:
            continue
        result[name] = score_records(read_jsonl(path), qa_metric, path)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Cells and tests


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


def write_markdown(cells: Sequence[Cell], args: argparse.Namespace, path: str) -> None:
    lines = ["# Results", ""]
    seeds = "pooled" if args.pool_seeds else "kept together per example"
    lines.append(
        f"Mean ± std over seeds (percent); in brackets the difference to `{args.baseline}`. `*`: paired "
        f"{args.test} test on examples ({args.samples} samples, seeds {seeds}), "
        f"`†`: {args.seed_test} t-test over seeds; both at α = {args.alpha} after {args.correction} "
        f"correction over the cells of each task."
    )
    for task in sorted({c.task for c in cells}):
        task_cells = [c for c in cells if c.task == task]
        variants = list(dict.fromkeys(c.variant for c in sorted(task_cells, key=lambda c: c.variant != args.baseline)))
        sets = list(dict.fromkeys(c.eval_set for c in task_cells))
        by_key = {(c.eval_set, c.variant): c for c in task_cells}
        metric = task_cells[0].metric
        lines += ["", f"## {task} ({metric})", "", "| set | " + " | ".join(variants) + " |"]
        lines.append("| --- |" + " --- |" * len(variants))
        for name in sets:
            row = [cell_text(by_key[(name, v)]) if (name, v) in by_key else "" for v in variants]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


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
    variants = list(dict.fromkeys(c.variant for c in sorted(task_cells, key=lambda c: c.variant != baseline)))
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


def main(argv: Sequence[str] | None = None) -> list[Cell]:
    args = parse_args(argv)
    runs = find_runs(args.runs_dir, args.manifest)
    cells, data = build_cells(runs, args)
    if not cells:
        raise InputError("no predictions files found in the runs", args.runs_dir or " ".join(args.manifest))
    compare(cells, data, args)
    os.makedirs(args.output_dir, exist_ok=True)
    write_markdown(cells, args, os.path.join(args.output_dir, "report.md"))
    write_csv(cells, os.path.join(args.output_dir, "report.csv"))
    with open(os.path.join(args.output_dir, "report.json"), "w", encoding="utf-8") as handle:
        settings = {k: v for k, v in vars(args).items()}
        json.dump({"settings": settings, "cells": [asdict(c) for c in cells]}, handle, indent=2, allow_nan=True)
        handle.write("\n")
    for task in sorted({c.task for c in cells}):
        plot_task(cells, task, args.baseline, os.path.join(args.output_dir, f"{task}.png"))
    logger.info("report written to %s", args.output_dir)
    return cells


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s - %(name)s - %(message)s", level=logging.INFO, stream=sys.stdout)
    try:
        main()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
