#!/usr/bin/env python
"""Reproduce the study: languages × encoder variants × tasks × seeds, then the analysis and the report.

    python reproduce.py --config configs/paper.json                 # everything; finished steps are skipped
    python reproduce.py --config configs/paper.json --dry_run       # print the commands only
    python reproduce.py --config configs/paper.json --only task=xnli language=es seed=1 variant=original
    python reproduce.py --config configs/data_size.json --dry_run   # max_train_pairs 5K … 250K (extends paper.json)
    python reproduce.py --config configs/paper.json --gpus 0,1,2,3  # four steps at once, one GPU each
    python reproduce.py --config configs/paper.json --backend slurm # one Slurm job per step (docs/cluster.md)
    python reproduce.py --config configs/paper.json --status        # done / running / queued / failed per step
    python reproduce.py --config configs/paper.json --prefetch      # the Hub data into the cache, for offline nodes
    python reproduce.py --config configs/paper.json --estimate --gpus 1,4,8   # expected wall time (an estimate)

Every step runs a script of this repository (run_adjust.py, run_xnli.py, run_ner.py, run_qa.py, run_belebele.py,
run_analysis.py) under the configured launcher (``"launcher": ["accelerate", "launch"]``; ``[]`` runs the current
Python). The local backend runs steps on this machine, each on its own GPUs (``resources.KIND.gpus``, default 1)
with an explicit process count and port, as many at once as ``--gpus`` allows (one at a time on the CPU, or
``--jobs``); the Slurm backend submits one job per step with its dependencies (docs/cluster.md). A step whose
``run.json`` says ``finished`` is done and skipped, so an interrupted study resumes where it stopped. A step that
crashed or was killed is run again with the same command: the script resumes it from its last ``checkpoint-*``
folder, or starts it again if it saved none (docs/run_folders.md); a step whose settings changed is refused by its
script (its log names the settings). ``--only`` keeps the matching steps and what they depend on (the adjustment an
adjusted-encoder task run starts from). The layout of the output folder is in :mod:`xladjust.study.matrix`, the
config's keys in :mod:`xladjust.study.config` (a misspelt key is an error); ``study_manifest.json`` lists every step
with its coordinates (task, variant, language, seed), folder, status and how it was launched, and is what
run_report.py reads. Each step's output goes to ``OUTPUT_DIR/logs/STEP.log``. At the end run_report.py writes
``OUTPUT_DIR/report/`` (``--no_report`` skips it).

How long the full study takes: ``--estimate`` prints it for 1, 4 and 8 GPUs from per-step estimates and the
dependency graph (xladjust/study/estimate.py; about 36 GPU-hours for configs/paper.json, 4.5 h on 8 GPUs). These
are **estimates**, not measurements, for mBERT-base on one A100/H100-class GPU with bf16. Measure your own rate on
the first adjustment (``train_samples_per_second`` in its ``all_results.json``, or the wall times reproduce.py
logs) before planning.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xladjust.cli import configure_logging, run_main
from xladjust.errors import InputError
from xladjust.study.config import StudyConfig, load_config
from xladjust.study.estimate import estimate_table
from xladjust.study.launch import Placement, launch_command, script_path, shell_join
from xladjust.study.local import LocalBackend, parse_gpus
from xladjust.study.matrix import Step, build_steps, parse_filters, render_args, select
from xladjust.study.prefetch import prefetch, read_prefetch
from xladjust.study.runner import leftover_args, read_launches, write_manifest
from xladjust.study.slurm import SlurmCommands, dry_run, statuses, submit

ROOT = Path(__file__).resolve().parent
ESTIMATE_GPUS = (1, 4, 8)
logger = logging.getLogger("reproduce")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="Study config (JSON), e.g. configs/paper.json.")
    parser.add_argument(
        "--backend",
        choices=("local", "slurm"),
        default="local",
        help="local: this machine and its GPUs (default); slurm: one job per step (docs/cluster.md).",
    )
    parser.add_argument(
        "--gpus",
        help="local: the GPUs to share out, e.g. 0,1,2,3, or none (default: every visible GPU). With --estimate: "
        "numbers of GPUs, e.g. 8 or 1,4,8 (default 1,4,8).",
    )
    parser.add_argument(
        "--jobs", type=int, help="local: steps run at once (default: as many as the GPUs allow; 1 without GPUs)."
    )
    parser.add_argument(
        "--offline",
        action=argparse.BooleanOptionalAction,
        help="Run the steps with HF_HUB_OFFLINE=1 (default: when --prefetch has recorded the study's downloads).",
    )
    parser.add_argument("--dry_run", action="store_true", help="Print the commands (slurm: the job scripts).")
    parser.add_argument("--status", action="store_true", help="Print where each step stands, run nothing.")
    parser.add_argument("--prefetch", action="store_true", help="Download what the study reads from the Hub.")
    parser.add_argument("--estimate", action="store_true", help="Print the estimated wall time on --gpus GPUs.")
    parser.add_argument(
        "--only", nargs="+", action="extend", default=[], help="Filters: task= variant= language= seed= pairs= (a,b)."
    )
    parser.add_argument(
        "--set", nargs="+", action="extend", default=[], dest="overrides", help="Config overrides PATH=JSON."
    )
    parser.add_argument("--output_dir", help="Override the config's output_dir.")
    parser.add_argument(
        "--keep_going", action="store_true", help="local: go on with independent steps after a failure."
    )
    parser.add_argument("--no_report", action="store_true", help="Do not run run_report.py at the end.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, args.overrides, output_dir=args.output_dir)
    all_steps = build_steps(config)
    steps = select(all_steps, parse_filters(args.only))
    if args.estimate:
        print(estimate_table(config, steps, estimate_counts(args.gpus), args.config))
        return 0
    if args.prefetch:
        return prefetch(config, dry_run=args.dry_run)
    launches = read_launches(config.output_dir)
    if args.status:
        return print_status(steps, launches, args.backend)
    record = read_prefetch(config.output_dir)
    offline = record is not None if args.offline is None else args.offline
    if args.backend == "slurm":
        return run_slurm(config, all_steps, steps, launches, offline, record, args.dry_run, args.no_report)
    backend = LocalBackend(
        config,
        parse_gpus(args.gpus),
        os.path.join(config.output_dir, "logs"),
        jobs=args.jobs,
        keep_going=args.keep_going,
        offline=offline,
        launches=launches,
        on_change=lambda: write_manifest(config, all_steps, launches),
    )
    if args.dry_run:
        print_commands(backend, steps)
        return 0
    refuse_steps_of_active_jobs(steps, launches)
    write_manifest(config, all_steps, launches)
    failed = backend.run(steps)
    write_manifest(config, all_steps, launches)
    if not args.no_report and config.report.enabled:
        make_report(config)
    if failed:
        logger.error("%d step(s) failed: %s", len(failed), ", ".join(sorted(failed)))
        return 1
    return 0


def print_commands(backend: LocalBackend, steps: Sequence[Step]) -> None:
    """The command of each step as the local backend would run it (PORT: chosen when it starts)."""
    for step in steps:
        status = "done, skipped" if step.is_done() else "to run"
        processes = backend.processes(step)
        print(f"# {step.name} ({status}; GPUs: {backend.gpus_needed(step)}, processes: {processes})")
        placement = Placement(processes=processes, port="PORT")
        command = launch_command(
            backend.config.launcher,
            script_path(step),
            [*step.args, *leftover_args(step)],
            placement,
            accelerate_config=backend.accelerate_config,
            python=backend.python,
        )
        print(shell_join(command))


def refuse_steps_of_active_jobs(steps: Sequence[Step], launches: dict) -> None:
    """The local backend must not run a step that a Slurm job of the study runs or will run."""
    jobs = {
        step.name: launches[step.name]["job_id"]
        for step in steps
        if launches.get(step.name, {}).get("backend") == "slurm" and not step.is_done()
    }
    if not jobs:
        return
    states = SlurmCommands().states(sorted(set(jobs.values())))
    active = [f"{name} (job {job})" for name, job in jobs.items() if states[job].active]
    if active:
        raise InputError(
            f"{len(active)} steps have Slurm jobs queued or running, e.g. {', '.join(active[:3])}: wait for them "
            "(--status) or cancel them (scancel) before running steps here"
        )


def run_slurm(
    config: StudyConfig,
    all_steps: Sequence[Step],
    steps: Sequence[Step],
    launches: dict,
    offline: bool,
    record: dict | None,
    dry: bool,
    no_report: bool,
) -> int:
    """Submit the steps (or print their job scripts); once every step is done, write the report instead."""
    hf_environment = (record or {}).get("cache") if offline else None
    if dry:
        print(dry_run(config, steps, offline=offline, hf_environment=hf_environment))
        return 0
    write_manifest(config, all_steps, launches)
    try:
        outcome = submit(
            config, steps, launches, commands=SlurmCommands(), offline=offline, hf_environment=hf_environment
        )
    finally:
        write_manifest(config, all_steps, launches)
    print(
        f"{len(outcome.submitted)} jobs submitted, {len(outcome.kept)} already queued or running, "
        f"{len(outcome.done)} steps done"
    )
    if len(outcome.done) < len(steps):
        print("--status shows where each step stands; once every step is done, the same command writes the report")
    elif not no_report and config.report.enabled:
        make_report(config)
    return 0


def print_status(steps: Sequence[Step], launches: dict, backend: str) -> int:
    """One line per step (done, running, queued, failed, not submitted), then the counts."""
    uses_slurm = backend == "slurm" or any(entry.get("backend") == "slurm" for entry in launches.values())
    rows = statuses(steps, launches, SlurmCommands() if uses_slurm else None)
    width = max((len(step.name) for step, _, _ in rows), default=0)
    counts: dict[str, int] = {}
    for step, status, detail in rows:
        counts[status] = counts.get(status, 0) + 1
        print(f"{status:<13} {step.name:<{width}}  {detail}".rstrip())
    print(", ".join(f"{count} {status}" for status, count in counts.items()))
    return 0


def estimate_counts(gpus: str | None) -> list[int]:
    """``--estimate --gpus 1,4,8``: the GPU counts the estimate is made for (not GPU ids, as for running)."""
    if not gpus:
        return list(ESTIMATE_GPUS)
    counts = gpus.split(",")
    if not all(count.isdigit() and int(count) > 0 for count in counts):
        raise InputError(f"--estimate --gpus takes GPU counts, e.g. 1,4,8 (got {gpus!r})")
    return [int(count) for count in counts]


def report_options(options: Mapping[str, Any]) -> list[str]:
    """``report.args`` as run_report.py's flags: ``true`` is a bare switch (``--pool_seeds``), ``false`` none."""
    switches = [f"--{name}" for name, value in options.items() if value is True]
    return switches + render_args({name: value for name, value in options.items() if not isinstance(value, bool)})


def make_report(config: StudyConfig) -> None:
    import run_report

    # The report is derived from the runs: always rebuilt, as the runs may have changed since the last one.
    root = config.output_dir
    report_args = ["--runs_dir", root, "--output_dir", os.path.join(root, "report"), "--overwrite_output_dir"]
    try:
        run_report.main(report_args + report_options(config.report.args))
    except InputError as error:
        logger.error("no report: %s", error)
    except SystemExit:  # run_report.py's parser said what is wrong with report.args; the steps' work is kept
        logger.error("no report: report.args holds an option run_report.py does not take (see the line above)")


if __name__ == "__main__":
    configure_logging()
    run_main(main)
