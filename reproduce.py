#!/usr/bin/env python
"""Reproduce the study: languages × encoder variants × tasks × seeds, then the analysis and the report.

    python reproduce.py --config configs/paper.json                 # everything; finished steps are skipped
    python reproduce.py --config configs/paper.json --dry_run       # print the commands only
    python reproduce.py --config configs/paper.json --only task=xnli language=es seed=1 variant=original
    python reproduce.py --config configs/data_size.json --dry_run   # max_train_pairs 5K … 250K (extends paper.json)

Every step runs a script of this repository (run_adjust.py, run_xnli.py, run_ner.py, run_qa.py, run_analysis.py)
under the configured launcher (``"launcher": ["accelerate", "launch"]``; ``[]`` runs the current Python), one at a
time. A step whose ``run.json`` says ``finished`` is done and skipped, so an interrupted study resumes where it
stopped. A step that crashed or was killed is run again with the same command: the script resumes it from its last
``checkpoint-*`` folder, or starts it again if it saved none (docs/run_folders.md); a step whose settings changed
is refused by its script (its log names the settings). ``--only`` keeps the matching steps and what they depend
on (the adjustment an adjusted-encoder task run starts from). The layout of the output folder is in
:mod:`xladjust.study.matrix`, the config's keys in :mod:`xladjust.study.config` (a misspelt key is an error);
``study_manifest.json`` lists every step with its coordinates (task, variant, language, seed), folder and status,
and is what run_report.py reads. Each step's output goes to ``OUTPUT_DIR/logs/STEP.log``. At the end
run_report.py writes ``OUTPUT_DIR/report/`` (``--no_report`` skips it).

How long the full study takes on one GPU — an **estimate**, not a measurement, for mBERT-base on one A100/H100
class GPU with bf16: adjustment at roughly 100–200 pairs/s (two encoder passes for the pair plus the frozen
reference) is 30k pairs ≈ 3–5 min per language plus eflomal alignment (1–3 min on CPU), and ≈ 15–20 min for the
joint 120k pairs; XNLI fine-tuning on the 393k English pairs for 2 epochs at ~500 examples/s ≈ 25–30 min per run;
WikiANN NER (20k sentences, 3 epochs) ≈ 2–3 min; QA (SQuAD, ~89k features of 384 subwords, 2 epochs at
~150 features/s) ≈ 20–25 min. Per seed: 5 adjustments (≈ 40 min) and 7 fine-tunings per task (original, 4 per
language, joint, continual; continual learning adds ~30 % for its alignment batches) ≈ 4 h XNLI + 3 h QA +
0.3 h NER, so ≈ 8 h per seed and about a day for 3 seeds; configs/paper.json adds 4 per-language continual runs
per task (≈ +6 h per seed), the analyses and Tatoeba retrieval (minutes). Measure your own rate on the first
adjustment (``train_samples_per_second`` in its ``all_results.json``) before planning.

A small slice (minutes): one language, one task, one seed, a few hundred steps::

    python reproduce.py --config configs/paper.json --only task=ner language=es seed=1 variant=original,adjusted \\
        --set tasks.ner.args.max_steps=200 --set adjust.args.max_train_pairs=2000

``--set PATH=JSON`` overrides a config entry (dots separate keys; the value is parsed as JSON, else a string; the
path must be a config key).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from xladjust.cli import configure_logging, run_main
from xladjust.errors import InputError
from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps, parse_filters, render_args, select
from xladjust.study.runner import run_steps, write_manifest

ROOT = Path(__file__).resolve().parent
logger = logging.getLogger("reproduce")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="Study config (JSON), e.g. configs/paper.json.")
    parser.add_argument("--dry_run", action="store_true", help="Print the commands, run nothing.")
    parser.add_argument(
        "--only", nargs="+", action="extend", default=[], help="Filters: task= variant= language= seed= pairs= (a,b)."
    )
    parser.add_argument(
        "--set", nargs="+", action="extend", default=[], dest="overrides", help="Config overrides PATH=JSON."
    )
    parser.add_argument("--output_dir", help="Override the config's output_dir.")
    parser.add_argument("--keep_going", action="store_true", help="Go on with independent steps after a failure.")
    parser.add_argument("--jobs", type=int, default=1, help="Steps run at once (default 1: one GPU, one step).")
    parser.add_argument("--no_report", action="store_true", help="Do not run run_report.py at the end.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, args.overrides, output_dir=args.output_dir)
    root, launcher = config.output_dir, config.launcher
    all_steps = build_steps(config)
    steps = select(all_steps, parse_filters(args.only))
    if args.dry_run:
        for step in steps:
            status = "done, skipped" if step.is_done() else "to run"
            print(f"# {step.name} ({status})")
            print(" ".join(step.command(launcher)))
        return 0
    write_manifest(config, all_steps)
    failed = run_steps(
        steps,
        launcher,
        os.path.join(root, "logs"),
        args.jobs,
        args.keep_going,
        on_finish=lambda: write_manifest(config, all_steps),
    )
    write_manifest(config, all_steps)
    if not args.no_report and config.report.enabled:
        import run_report

        # The report is derived from the runs: always rebuilt, as the runs may have changed since the last one.
        report_args = ["--runs_dir", root, "--output_dir", os.path.join(root, "report"), "--overwrite_output_dir"]
        try:
            run_report.main(report_args + render_args(config.report.args))
        except InputError as error:
            logger.error("no report: %s", error)
    if failed:
        logger.error("%d step(s) failed: %s", len(failed), ", ".join(sorted(failed)))
        return 1
    return 0


if __name__ == "__main__":
    configure_logging()
    run_main(main)
