#!/usr/bin/env python
"""Aggregate a study's runs into a paper-style table with significance tests, and a bar chart per task.

    python run_report.py --runs_dir out/study --output_dir out/study/report
    python run_report.py --manifest a/study_manifest.json b/study_manifest.json --output_dir report

Runs come from ``study_manifest.json`` (written by reproduce.py: task, variant, language, seed and folder of every
step) or, without one, from the layout ``RUNS_DIR/{task}/{variant}/[{language}/]seed{n}/``. Scores are recomputed
from the per-example files of each run, ``predictions/{split}_{set}.jsonl``, the format being detected per file:

- QA records (run_qa.py): the per-example ``--qa_score`` (``f1`` by default, or ``exact_match``) under
  ``--qa_metric``: ``squad`` (default, the paper's protocol: SQuAD v1.1 rules for every set, columns
  ``squad_f1`` / ``squad_exact_match``) or ``official`` (each benchmark's own script: SQuAD v1.1 for XQuAD and
  TyDi, MLQA's for MLQA; columns ``f1`` / ``exact_match``). Values above 1 are read as percent; a
  ``*_scores.jsonl`` file wins over the plain one of the same set;
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
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict

from xladjust.analysis.significance import CORRECTIONS, TESTS
from xladjust.errors import InputError
from xladjust.study.report import Cell, build_cells, compare, plot_task, write_csv, write_markdown
from xladjust.study.results import QA_RULES, QA_SCORES, find_runs

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
    parser.add_argument(
        "--qa_metric",
        default="squad",
        choices=list(QA_RULES),
        help="QA rules: the benchmark's official ones, or SQuAD v1.1 everywhere (the paper).",
    )
    parser.add_argument("--qa_score", default="f1", choices=list(QA_SCORES), help="QA number: F1 or exact match.")
    parser.add_argument("--random_seed", type=int, default=0, help="Seed of the resampling.")
    return parser.parse_args(argv)


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
