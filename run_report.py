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
  :mod:`xladjust.analysis.significance`), seeds paired by seed number and kept together per example
  (``--pool_seeds`` treats (seed, example) as independent units instead), examples paired by id;
- ``p_seed``: a t-test over the seed scores (``--seed_test paired`` over common seeds (default), or ``welch``).

Multiple comparisons: within each task, the p-values of all cells are adjusted together (``--correction holm``
(default), ``bonferroni`` or ``none``); a cell is marked ``*`` when the adjusted ``p_ex`` < ``--alpha`` and ``†``
when the adjusted ``p_seed`` < ``--alpha``. Outputs: ``report.md``, ``report.csv`` (one row per cell),
``report.json``, ``{task}.png``. The logic lives in :mod:`xladjust.study.results` and :mod:`xladjust.study.report`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict

from xladjust.analysis.significance import CORRECTIONS, TESTS
from xladjust.errors import InputError
from xladjust.run_folder import start_run, write_json
from xladjust.study.report import Cell, build_cells, compare, plot_task, write_csv, write_markdown
from xladjust.study.results import find_runs

logger = logging.getLogger("run_report")


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
    parser.add_argument(
        "--overwrite_output_dir", action="store_true", help="Replace a report made from other runs or settings."
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Cell]:
    args = parse_args(argv)
    run = start_run("run_report.py", [vars(args)], args.output_dir, overwrite=args.overwrite_output_dir,
                    results_file="report.json")  # fmt: skip
    if run.finished:
        return [Cell(**cell) for cell in run.results.get("cells", [])]
    runs = find_runs(args.runs_dir, args.manifest)
    cells, data = build_cells(runs, args)
    if not cells:
        raise InputError("no predictions files found in the runs", args.runs_dir or " ".join(args.manifest))
    compare(cells, data, args)
    os.makedirs(args.output_dir, exist_ok=True)
    write_markdown(cells, args, os.path.join(args.output_dir, "report.md"))
    write_csv(cells, os.path.join(args.output_dir, "report.csv"))
    # Strict JSON: a std or p-value that cannot be computed (one seed) is null; report.md says why.
    write_json(
        os.path.join(args.output_dir, "report.json"), {"settings": vars(args), "cells": [asdict(c) for c in cells]}
    )
    for task in sorted({c.task for c in cells}):
        plot_task(cells, task, args.baseline, os.path.join(args.output_dir, f"{task}.png"))
    logger.info("report written to %s", args.output_dir)
    run.finish()
    return cells


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s - %(name)s - %(message)s", level=logging.INFO, stream=sys.stdout)
    try:
        main()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
