"""``reproduce.py --estimate --gpus N``: how long a study should take on N GPUs. An ESTIMATE, not a measurement.

Each step's time comes from the rates below, for mBERT-base on one A100/H100-class GPU with bf16, scaled by the
step's options (pairs, epochs) and divided by its GPUs (ideal data parallelism). They are the project's own
estimates (reproduce.py's docstring), not timings of this code on such a GPU; measure your own on a first step
(``train_samples_per_second`` in its ``all_results.json``, or the wall times reproduce.py logs) and scale.

- adjustment: :data:`ADJUST_PAIRS_PER_SECOND` pairs per second (a pair is two passes through the encoder plus the
  frozen reference) per epoch, plus :data:`EFLOMAL_MINUTES` per language aligned by eflomal on the CPU (no
  alignment file given);
- task runs: :data:`TASK_MINUTES_PER_EPOCH` (English training data: XNLI's 393k pairs at ~500/s, WikiANN's 20k
  sentences, SQuAD's ~89k windows at ~150/s; beyond the paper: XTREME's ~21k UD English sentences, PAWS-X's 49k
  pairs, SIB-200's 701 sentences, Belebele's ~67k assembled training questions as 4 sequences of 256 subwords at
  ~200/s) times the epochs, plus :data:`TASK_EVAL_MINUTES`; continual learning
  adds :data:`CONTINUAL_OVERHEAD` (its alignment batches); a task not listed counts :data:`OTHER_TASK_MINUTES`;
- analysis and sentence retrieval: :data:`STEP_MINUTES`.

The wall time on N GPUs is that of list scheduling, as the local backend runs a study: whenever GPUs are free,
the ready step (its dependencies done) with the longest chain of work after it starts, if its GPUs fit. It is at
least the critical path (the longest chain of dependent steps) and the total work divided by N.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xladjust.cli import format_duration
from xladjust.study.config import StudyConfig
from xladjust.study.matrix import Step
from xladjust.study.sources import options

ADJUST_PAIRS_PER_SECOND = 150.0
EFLOMAL_MINUTES = 2.0
DEFAULT_TRAIN_PAIRS = 30000
TASK_MINUTES_PER_EPOCH = {
    "xnli": 13.0,
    "ner": 0.85,
    "qa": 10.0,
    "pos": 0.9,
    "pawsx": 1.7,
    "sib200": 0.05,
    "belebele": 22.0,
}
TASK_EVAL_MINUTES = {"xnli": 1.0, "ner": 0.5, "qa": 2.0, "pos": 0.5, "pawsx": 0.5, "sib200": 0.5, "belebele": 0.5}
TASK_DEFAULT_EPOCHS = {"xnli": 2.0, "ner": 3.0, "qa": 2.0, "pos": 3.0, "pawsx": 3.0, "sib200": 3.0, "belebele": 3.0}
CONTINUAL_OVERHEAD = 0.3
OTHER_TASK_MINUTES = 20.0
STEP_MINUTES = {"analysis": 3.0, "xsr": 1.0}


def step_minutes(config: StudyConfig, step: Step) -> float:
    """The estimated wall time of ``step`` on its kind's GPUs (``resources.KIND.gpus``; at least one)."""
    kind = step.key["task"]
    values = options(step.args)
    gpus = max(config.resources_for(kind).gpus, 1) * config.resources_for(kind).nodes
    epochs = float(values.get("num_train_epochs", ["nan"])[0])
    if kind == "adjust":
        languages = len(values.get("languages", [])) or 1
        pairs = int(values.get("max_train_pairs", [DEFAULT_TRAIN_PAIRS])[0]) * languages
        epochs = 1.0 if math.isnan(epochs) else epochs
        aligned = 0 if values.get("alignment_files") else languages
        return pairs * epochs / ADJUST_PAIRS_PER_SECOND / 60 / gpus + EFLOMAL_MINUTES * aligned
    if kind in STEP_MINUTES:
        return STEP_MINUTES[kind]
    if kind in TASK_MINUTES_PER_EPOCH:
        epochs = TASK_DEFAULT_EPOCHS[kind] if math.isnan(epochs) else epochs
        minutes = TASK_MINUTES_PER_EPOCH[kind] * epochs / gpus + TASK_EVAL_MINUTES[kind]
    else:
        minutes = OTHER_TASK_MINUTES / gpus
    if any(name.startswith("align_") for name in values):
        minutes *= 1 + CONTINUAL_OVERHEAD
    return minutes


@dataclass(frozen=True)
class Estimate:
    """A study's estimated wall time on ``gpus`` GPUs (minutes), beside its lower bounds."""

    gpus: int
    minutes: float | None  # None: a step needs more GPUs than there are
    work_minutes: float  # GPU-minutes of all steps
    critical_minutes: float


def _tails(steps: Sequence[Step], minutes: Mapping[str, float]) -> dict[str, float]:
    """For each step, its time plus the longest chain of dependants after it (the scheduling priority)."""
    dependants: dict[str, list[str]] = {step.name: [] for step in steps}
    for step in steps:
        for name in step.depends_on:
            if name in dependants:
                dependants[name].append(step.name)
    tails: dict[str, float] = {}
    for step in reversed(steps):  # dependants come after their dependencies
        tails[step.name] = minutes[step.name] + max((tails[d] for d in dependants[step.name]), default=0.0)
    return tails


def schedule(steps: Sequence[Step], minutes: Mapping[str, float], needs: Mapping[str, int], gpus: int) -> float | None:
    """The wall time of list scheduling on ``gpus`` GPUs (see the module docstring); None if a step cannot fit."""
    if any(need > gpus for need in needs.values()):
        return None
    tails = _tails(steps, minutes)
    names = {step.name for step in steps}
    waiting = {step.name: {d for d in step.depends_on if d in names} for step in steps}
    order = {step.name: index for index, step in enumerate(steps)}
    ready = [name for name, deps in waiting.items() if not deps]
    running: list[tuple[float, str]] = []
    free, now = gpus, 0.0
    while ready or running:
        ready.sort(key=lambda name: (-tails[name], order[name]))
        for name in list(ready):
            if needs[name] <= free:
                free -= needs[name]
                ready.remove(name)
                heapq.heappush(running, (now + minutes[name], name))
        now, name = heapq.heappop(running)
        free += needs[name]
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    ready.append(other)
    return now


def estimate(config: StudyConfig, steps: Sequence[Step], counts: Sequence[int]) -> list[Estimate]:
    """The study's estimated wall time on each number of GPUs in ``counts``."""
    minutes = {step.name: step_minutes(config, step) for step in steps}
    needs = {}
    for step in steps:
        resources = config.resources_for(step.key["task"])
        needs[step.name] = max(resources.gpus, 1) * resources.nodes
    work = sum(minutes[name] * needs[name] for name in minutes)
    critical = max(_tails(steps, minutes).values(), default=0.0)
    return [Estimate(count, schedule(steps, minutes, needs, count), work, critical) for count in counts]


def estimate_table(config: StudyConfig, steps: Sequence[Step], counts: Sequence[int], source: str = "") -> str:
    """The text ``reproduce.py --estimate`` prints: per step kind, then the wall time per GPU count."""
    lines = [
        f"ESTIMATED wall time of {source or 'the study'}: {len(steps)} steps. An estimate from per-step rates for "
        "mBERT-base on one A100/H100-class GPU with bf16 (xladjust/study/estimate.py), not a measurement.",
        "",
        "| step kind | steps | GPUs per step | minutes per step | GPU-hours |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    kinds: dict[str, list[Step]] = {}
    for step in steps:
        kinds.setdefault(step.key["task"], []).append(step)
    for kind, members in kinds.items():
        resources = config.resources_for(kind)
        each = [step_minutes(config, step) for step in members]
        gpus = max(resources.gpus, 1) * resources.nodes
        span = f"{min(each):.0f}" if round(min(each)) == round(max(each)) else f"{min(each):.0f}–{max(each):.0f}"
        lines.append(f"| {kind} | {len(members)} | {gpus} | {span} | {sum(each) * gpus / 60:.1f} |")
    estimates = estimate(config, steps, counts)
    first = estimates[0]
    lines += [
        "",
        f"Critical path (the longest chain of dependent steps): {format_duration(first.critical_minutes * 60)}; "
        f"all steps: {first.work_minutes / 60:.1f} GPU-hours.",
        "",
        "| GPUs | estimated wall time |",
        "| ---: | ---: |",
    ]
    for entry in estimates:
        wall = "a step needs more GPUs" if entry.minutes is None else format_duration(entry.minutes * 60)
        lines.append(f"| {entry.gpus} | {wall} |")
    return "\n".join(lines)
