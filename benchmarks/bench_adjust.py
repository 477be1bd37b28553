#!/usr/bin/env python
"""Training-step speed of run_adjust.py's Trainer against a hand-written floor on the same batches.

Both modes train a randomly initialised BERT (mBERT's 119,547-token vocabulary, no download) on synthetic
word-aligned pairs in the dataset format of :func:`xladjust.adjust.features.tokenize_pairs` (seeded: 12-30
words a side for ``small``, 6-14 for ``base``, 1-3 subwords a word, ~70% of the words linked one-to-one, plus the
CLS/SEP links), batched by :class:`~xladjust.adjust.collator.AlignedPairCollator`:

- ``step``: the real :class:`~xladjust.trainer.AlignmentTrainer` with ``run_adjust.AdjustTrainingArguments``
  (fused AdamW(0.9, 0.98, 1e-9), lr 5e-5, constant_with_warmup, no clipping, logging every 10 steps, no saving,
  no evaluation, ``report_to="none"``, ``disable_tqdm``) running ``trainer.train()`` on a ``datasets.Dataset``,
  so its step includes fetching and collating the batch. The sampler is ``sequential`` over an already random
  dataset, so that both modes see the same batches in the same order (a random sampler costs the same).
- ``floor``: the same batches, collated beforehand, through a bare step: forward of both sides, no-grad forward
  of the English side through the frozen reference, word pooling with :func:`xladjust.adjust.pooling.pool_words`, the
  two mean-squared errors, backward, the optimizer the Trainer builds (same class and settings, one parameter
  group), ``zero_grad``. Nothing else: no per-pair sums, no logging, no scheduler, no grad norm.

Timing is steady state: the wall time between consecutive step ends (for the Trainer, a ``TrainerCallback``'s
``on_step_end``, so data loading, logging and callbacks between two steps are counted), the first ``--warmup``
steps of every run left out; the Trainer's fixed cost (construction, start-up, teardown) is reported apart. By
default the modes run in lock-step (``--interleave step``): in each repetition one ``trainer.train()``, and right
after each of its steps the floor's step on the same batch, so both see the same machine load; ``--interleave
run`` alternates whole runs in ABBA order instead. On CPU, a repetition in which either mode got less than
``--min_cpu_share`` of its cores (process CPU time / wall time / threads: other processes competing) is left out
and replaced, up to ``--max_repeats``. Figures are medians over the repetitions kept; the ratio is the median of
the per-repetition step/floor ratios of mean step times. Peak memory comes from a fresh subprocess per config and
mode running the first ``--warmup`` + 1 steps: peak RSS (VmHWM: Python, torch, the dataset, both encoders,
gradients, optimizer state, activations) on CPU, ``torch.cuda.max_memory_allocated`` on CUDA.

``--objectives`` adds one line per adjustment-method variant (docs/run_adjust.md, "Methods"): the Trainer step
alone (there is a hand-written floor for the paper's ``mse`` objective only), pairs/s, its CPU share, peak memory
and its step time over the paper's (``vs mse``): each repetition runs the variant's Trainer and mse's as whole
runs in ABBA order, with the same contention gate as above, and the ratio is the median of the per-repetition
ratios; ``CPU time vs mse`` is the same for process CPU seconds per step, which a machine shared with other
processes disturbs far less than wall time. The variants: ``frozen`` (frozen target), ``contrastive-linked``,
``contrastive-all``, ``contrastive-head`` (all negatives and the 2-layer projection head), ``parameters``
(parameter-drift regulariser), ``layers-8-12`` (hidden layers 8 and 12 of base; the same fractions, 3 and 4, of
small's 4 layers), ``frozen-lower-half``, ``frozen-embeddings`` and ``frozen-embeddings-lower-half`` (``--freeze``:
the frozen weights get no gradient and leave the optimizer; the backward pass itself stops only below the lowest
part that still trains, so at the middle of the encoder with ``embeddings lower_half``). ``mse`` itself gives the
floor/step table.

    python benchmarks/bench_adjust.py                       # small and base on CPU (about 9-10 minutes if idle)
    python benchmarks/bench_adjust.py --configs small --steps 5 --repeats 1
    python benchmarks/bench_adjust.py --objectives mse contrastive-linked contrastive-all parameters layers-8-12
    python benchmarks/bench_adjust.py --device cuda --bf16 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import io
import itertools
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertConfig, BertModel, Trainer, TrainerCallback  # noqa: E402

from run_adjust import AdjustTrainingArguments  # noqa: E402
from xladjust.adjust.collator import AlignedPairCollator  # noqa: E402
from xladjust.adjust.objective import AlignmentObjective, freeze_pooler  # noqa: E402
from xladjust.adjust.pooling import pool_words  # noqa: E402
from xladjust.adjust.settings import ObjectiveSettings  # noqa: E402
from xladjust.trainer import AlignmentTrainer  # noqa: E402

VOCAB_SIZE = 119_547  # mBERT
PAD_ID, CLS_ID, SEP_ID, FIRST_WORD_ID = 0, 101, 102, 1000
LINKED_FRACTION = 0.7
MODES = ("floor", "step")
# The objectives --objectives knows: method options, and whether the layers are "8 and 12 of 12" (scaled).
OBJECTIVES: dict[str, tuple[ObjectiveSettings, bool]] = {
    "mse": (ObjectiveSettings(), False),
    "frozen": (ObjectiveSettings(alignment_target="frozen"), False),
    "contrastive-linked": (ObjectiveSettings(alignment_loss="contrastive"), False),
    "contrastive-all": (ObjectiveSettings(alignment_loss="contrastive", contrastive_negatives="all"), False),
    "contrastive-head": (
        ObjectiveSettings(alignment_loss="contrastive", contrastive_negatives="all", projection_layers=2),
        False,
    ),
    "parameters": (ObjectiveSettings(regularization="parameters"), False),
    "layers-8-12": (ObjectiveSettings(), True),
    "frozen-lower-half": (ObjectiveSettings(freeze=["lower_half"]), False),
    "frozen-embeddings": (ObjectiveSettings(freeze=["embeddings"]), False),
    "frozen-embeddings-lower-half": (ObjectiveSettings(freeze=["embeddings", "lower_half"]), False),
}


@dataclass(frozen=True)
class BenchConfig:
    """Encoder size, sentence lengths (words per side; each word 1-3 subwords) and default timed steps."""

    layers: int
    hidden: int
    heads: int
    ff: int
    min_words: int
    max_words: int
    steps: int


CONFIGS = {
    "small": BenchConfig(layers=4, hidden=256, heads=4, ff=1024, min_words=12, max_words=30, steps=20),
    # Shorter sentences for base, so that the default run fits in about 10 minutes on 2 CPU cores.
    "base": BenchConfig(layers=12, hidden=768, heads=12, ff=3072, min_words=6, max_words=14, steps=7),
}


# ---- Data and model ----


def synthetic_columns(num_pairs: int, min_words: int, max_words: int, seed: int) -> dict[str, list]:
    """Columns of ``build_alignment_dataset``'s output for random pairs: CLS/SEP are words 0 and n+1, ~70% of the
    words are linked one-to-one, CLS↔CLS and SEP↔SEP links added (``include_cls_sep``)."""
    rng = np.random.default_rng(seed)
    names = (
        "tgt_input_ids",
        "tgt_word_index",
        "tgt_num_words",
        "en_input_ids",
        "en_word_index",
        "en_num_words",
        "link_tgt",
        "link_en",
        "num_word_links",
        "links_truncated",
        "length",
        "language_id",
    )
    columns: dict[str, list] = {name: [] for name in names}
    for _ in range(num_pairs):
        n_tgt = int(rng.integers(min_words, max_words + 1))
        n_en = int(np.clip(n_tgt + rng.integers(-3, 4), min_words, max_words))
        lengths = []
        for side, n in (("tgt", n_tgt), ("en", n_en)):
            word_index = np.concatenate([[0], np.repeat(np.arange(1, n + 1), rng.integers(1, 4, size=n)), [n + 1]])
            ids = rng.integers(FIRST_WORD_ID, VOCAB_SIZE, size=len(word_index))
            ids[0], ids[-1] = CLS_ID, SEP_ID
            columns[f"{side}_input_ids"].append(ids.tolist())
            columns[f"{side}_word_index"].append(word_index.tolist())
            columns[f"{side}_num_words"].append(n + 2)
            lengths.append(len(ids))
        k = max(1, round(LINKED_FRACTION * min(n_tgt, n_en)))
        link_tgt = (rng.choice(n_tgt, size=k, replace=False) + 1).tolist()
        link_en = (rng.choice(n_en, size=k, replace=False) + 1).tolist()
        columns["link_tgt"].append([*link_tgt, 0, n_tgt + 1])
        columns["link_en"].append([*link_en, 0, n_en + 1])
        columns["num_word_links"].append(k)
        columns["links_truncated"].append(0)
        columns["length"].append(max(lengths))
        columns["language_id"].append(0)
    return columns


def build_encoder(config: BenchConfig, seed: int) -> BertModel:
    """A randomly initialised BERT (with pooler, frozen as run_adjust.py does)."""
    torch.manual_seed(seed)
    bert_config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=config.hidden,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.ff,
        max_position_embeddings=512,
        pad_token_id=PAD_ID,
    )
    model = BertModel(bert_config)
    freeze_pooler(model)
    return model


@dataclass
class Setup:
    """Everything both modes share for one config."""

    model: BertModel
    objective: AlignmentObjective
    dataset: datasets.Dataset
    batches: list[dict[str, Any]]
    collator: AlignedPairCollator


def objective_layers(config: BenchConfig, several: bool) -> list[int]:
    return [round(8 / 12 * config.layers), config.layers] if several else [-1]


def build_setup(
    config: BenchConfig, steps: int, batch_size: int, seed: int, device: str, objective: str = "mse"
) -> Setup:
    columns = synthetic_columns(steps * batch_size, config.min_words, config.max_words, seed)
    dataset = datasets.Dataset.from_dict(columns)
    collator = AlignedPairCollator(PAD_ID)
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    batches = [collator(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    model = build_encoder(config, seed).to(device)
    method, several = OBJECTIVES[objective]
    # The script's defaults (avg pooling, last layer, λ = 1) unless the objective says otherwise.
    settings = dataclasses.replace(method, layers=objective_layers(config, several))
    loss = AlignmentObjective(model, settings).to(device)
    loss.frozen.freeze()  # as run_adjust.py: before the optimizer is built
    return Setup(model, loss, dataset, batches, collator)


def training_arguments(
    output_dir: str, steps: int, batch_size: int, device: str, bf16: bool, seed: int
) -> AdjustTrainingArguments:
    """run_adjust.py's defaults; only what a benchmark must change is set."""
    return AdjustTrainingArguments(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        logging_steps=10,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        train_sampling_strategy="sequential",
        use_cpu=device == "cpu",
        bf16=bf16,
        seed=seed,
    )


# ---- The two modes ----


def synchronizer(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device.startswith("cuda") else lambda: None


class Clock:
    """Wall and process CPU time (all threads) at the start and at the end of every optimizer step."""

    def __init__(self, sync: Callable[[], None]):
        self.sync = sync
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def mark(self) -> None:
        self.sync()
        self.walls.append(time.perf_counter())
        self.cpus.append(time.process_time())


@dataclass
class RunTiming:
    step_times: list[float]  # wall seconds of each optimizer step, warm-up included
    step_cpu: list[float]  # process CPU seconds of each step (all threads)
    fixed_s: float = 0.0  # Trainer: wall time outside the steps (construction, start-up, teardown)

    @classmethod
    def of(cls, clock: Clock, every: int = 1, first: int = 0) -> RunTiming:
        """The intervals ``first``, ``first + every``, ... between consecutive marks."""
        return cls(np.diff(clock.walls)[first::every].tolist(), np.diff(clock.cpus)[first::every].tolist())


class Floor:
    """The bare training step on a collated batch, with the optimizer class and settings the Trainer would use."""

    def __init__(self, setup: Setup, args: AdjustTrainingArguments):
        self.model, self.reference = setup.model, setup.objective.reference
        self.weight = setup.objective.regularization_weight
        self.device = torch.device(args.device)
        optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, self.model)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = optimizer_cls([{"params": parameters, "weight_decay": args.weight_decay}], **optimizer_kwargs)
        self.bf16 = args.bf16

    def step(self, cpu_batch: dict[str, Any]) -> None:
        model, batch = self.model, {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in cpu_batch.items()}
        model.train()
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:  # what accelerate's autocast amounts to
            words = {}
            for side in ("tgt", "en"):
                hidden = model(input_ids=batch[f"{side}_input_ids"], attention_mask=batch[f"{side}_attention_mask"])
                words[side] = pool_words(
                    hidden.last_hidden_state, batch[f"{side}_word_index"], batch[f"{side}_num_words"]
                )
            with torch.no_grad():
                hidden = self.reference(input_ids=batch["en_input_ids"], attention_mask=batch["en_attention_mask"])
                reference_words = pool_words(hidden.last_hidden_state, batch["en_word_index"], batch["en_num_words"])
            alignment = (words["tgt"][batch["link_tgt"]] - words["en"][batch["link_en"]]).float().pow(2).mean()
            loss = alignment + self.weight * (words["en"] - reference_words).float().pow(2).mean()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class StepClock(TrainerCallback):
    """Marks the start of training and every optimizer step's end; with a ``floor``, then runs the floor's step on
    the Trainer's batch and marks again (lock-step interleaving)."""

    def __init__(self, clock: Clock, floor: Floor | None = None, batches: list[dict[str, Any]] | None = None):
        self.clock, self.floor, self.batches = clock, floor, batches

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.mark()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.mark()
        if self.floor is not None and self.batches is not None:
            self.floor.step(self.batches[state.global_step - 1])
            self.clock.mark()


def train(setup: Setup, args: AdjustTrainingArguments, callback: StepClock) -> float:
    """``trainer.train()`` of a fresh AlignmentTrainer (fresh optimizer) on the shared model; its wall time."""
    callback.clock.sync()
    start = time.perf_counter()
    trainer = AlignmentTrainer(
        model=setup.model,
        args=args,
        train_dataset=setup.dataset,
        data_collator=setup.collator,
        objective=setup.objective,
        language_names=["xx"],
        callbacks=[callback],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the PrinterCallback's logs (disable_tqdm): run, not shown
        trainer.train()
    callback.clock.sync()
    steps = trainer.state.global_step
    if steps != len(setup.batches):
        raise RuntimeError(f"the Trainer ran {steps} steps, expected {len(setup.batches)}")
    del trainer
    gc.collect()
    return time.perf_counter() - start


def run_step(setup: Setup, args: AdjustTrainingArguments, sync: Callable[[], None]) -> RunTiming:
    clock = Clock(sync)
    wall = train(setup, args, StepClock(clock))
    timing = RunTiming.of(clock)
    timing.fixed_s = wall - sum(timing.step_times)
    return timing


def run_floor(setup: Setup, args: AdjustTrainingArguments, sync: Callable[[], None]) -> RunTiming:
    floor = Floor(setup, args)
    setup.model.zero_grad(set_to_none=True)
    clock = Clock(sync)
    clock.mark()
    for batch in setup.batches:
        floor.step(batch)
        clock.mark()
    del floor
    gc.collect()
    return RunTiming.of(clock)


def run_lockstep(setup: Setup, args: AdjustTrainingArguments, sync: Callable[[], None]) -> dict[str, RunTiming]:
    """One Trainer run, the floor's step on the same batch after each of the Trainer's steps."""
    clock = Clock(sync)
    floor = Floor(setup, args)
    wall = train(setup, args, StepClock(clock, floor, setup.batches))
    timings = {"floor": RunTiming.of(clock, every=2, first=1), "step": RunTiming.of(clock, every=2)}
    timings["step"].fixed_s = wall - (clock.walls[-1] - clock.walls[0])
    del floor
    gc.collect()
    return timings


RUNNERS = {"floor": run_floor, "step": run_step}


# ---- Measurement ----


def peak_memory_mb(device: str) -> float:
    """CUDA: peak allocated by torch. CPU: the process's peak RSS, VmHWM where Linux has it. (ru_maxrss is no good
    here: Linux carries the parent's high-water mark over a fork/exec into the child's ru_maxrss.)"""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def probe_memory(name: str, mode: str, options: argparse.Namespace, objective: str = "mse") -> float:
    """Peak memory of ``mode`` over the run's first ``--warmup`` + 1 batches in a fresh process (the optimizer
    state exists from the first step on, and padded lengths vary little between batches)."""
    steps = min(options.steps_of[name], options.warmup + 1)
    command = [
        sys.executable,
        __file__,
        "--_probe",
        mode,
        "--configs",
        name,
        "--steps",
        str(steps),
        "--warmup",
        "0",
        "--batch_size",
        str(options.batch_size),
        "--device",
        options.device,
        "--threads",
        str(options.threads),
        "--seed",
        str(options.seed),
        "--objectives",
        objective,
        *(["--bf16"] if options.bf16 else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"memory probe {name}/{mode} failed:\n{result.stderr[-3000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"])


def steady(timing: RunTiming, warmup: int) -> float:
    """Mean seconds per step after the warm-up steps."""
    return statistics.fmean(timing.step_times[warmup:])


def cpu_share(timing: RunTiming, warmup: int, threads: int) -> float:
    """Process CPU time over wall time × threads after the warm-up: well below 1 when other processes compete."""
    return sum(timing.step_cpu[warmup:]) / (sum(timing.step_times[warmup:]) * threads)


def cpu_per_step(timing: RunTiming, warmup: int) -> float:
    """Mean process CPU seconds per step after the warm-up (all threads)."""
    return statistics.fmean(timing.step_cpu[warmup:])


def repetitions(
    setup: Setup, args: AdjustTrainingArguments, options: argparse.Namespace
) -> Iterator[dict[str, RunTiming]]:
    """Endless repetitions, each timing both modes: in lock-step, or as whole runs in ABBA order (floor, step,
    step, floor, ...: linear drifts in machine load cancel out)."""
    sync = synchronizer(options.device)
    for rep in itertools.count():
        if options.interleave == "step":
            yield run_lockstep(setup, args, sync)
        else:
            yield {mode: RUNNERS[mode](setup, args, sync) for mode in (MODES if rep % 2 == 0 else MODES[::-1])}


def bench_config(name: str, options: argparse.Namespace, output_dir: str) -> dict[str, Any]:
    config, steps = CONFIGS[name], options.steps_of[name]
    args = training_arguments(output_dir, steps, options.batch_size, options.device, options.bf16, options.seed)
    setup = build_setup(config, steps, options.batch_size, options.seed, args.device.type)
    tokens = [int(b[f"{s}_attention_mask"].shape[1]) for b in setup.batches for s in ("tgt", "en")]
    print(
        f"{name}: {config.layers} layers x {config.hidden}, {sum(p.numel() for p in setup.model.parameters()):,} "
        f"parameters; {steps} steps of {options.batch_size} pairs, padded lengths {min(tokens)}-{max(tokens)}",
        flush=True,
    )
    # CPU share only means something on CPU (a GPU run's host thread mostly waits).
    gate = options.min_cpu_share if options.device == "cpu" else 0.0
    reps: list[dict[str, RunTiming]] = []
    kept: list[bool] = []
    for run in repetitions(setup, args, options):
        shares = {mode: cpu_share(timing, options.warmup, options.threads) for mode, timing in run.items()}
        reps.append(run)
        kept.append(min(shares.values()) >= gate)
        for mode, timing in run.items():
            note = "" if kept[-1] else " (contended: left out)"
            print(
                f"  rep {len(reps) - 1} {mode:5s}: {steady(timing, options.warmup):.4f} s/step, "
                f"CPU share {shares[mode]:.2f}{note}",
                flush=True,
            )
        if sum(kept) >= options.repeats or len(reps) >= options.max_repeats:
            break
    del setup
    gc.collect()
    used = [run for run, keep in zip(reps, kept, strict=True) if keep]
    if not used:
        print(f"  every repetition was contended (CPU share < {gate}): the figures use them all", flush=True)
        used = reps

    result: dict[str, Any] = {"config": asdict(config) | {"steps": steps}, "repetitions_used": len(used), "modes": {}}
    for mode in MODES:
        per_rep = [steady(run[mode], options.warmup) for run in used]
        seconds = statistics.median(per_rep)
        result["modes"][mode] = {
            "s_per_step": seconds,
            "pairs_per_s": options.batch_size / seconds,
            "s_per_step_reps": per_rep,
            "cpu_share_reps": [cpu_share(run[mode], options.warmup, options.threads) for run in used],
            "fixed_s": statistics.median(run[mode].fixed_s for run in used),
        }
    ratios = [steady(run["step"], options.warmup) / steady(run["floor"], options.warmup) for run in used]
    result["ratio_reps"] = ratios
    result["ratio"] = statistics.median(ratios)
    result["all_repetitions"] = [
        {"kept": keep, **{mode: asdict(timing) for mode, timing in run.items()}}
        for run, keep in zip(reps, kept, strict=True)
    ]
    if not options.no_memory:
        for mode in MODES:
            result["modes"][mode]["peak_mb"] = probe_memory(name, mode, options)
    return result


def bench_objective(name: str, objective: str, options: argparse.Namespace, output_dir: str) -> dict[str, Any]:
    """The Trainer step with one method variant against the paper's (mse) Trainer step: whole runs in ABBA order
    (objective, mse, mse, objective, ...) so that both see the same machine load; on CPU a repetition in which
    either got less than ``--min_cpu_share`` is left out and replaced, up to ``--max_repeats``. Medians of the steady
    s/step over the kept repetitions; ``vs_mse`` is the median of the per-repetition ratios."""
    config, steps = CONFIGS[name], options.steps_of[name]
    args = training_arguments(output_dir, steps, options.batch_size, options.device, options.bf16, options.seed)
    setups = {
        o: build_setup(config, steps, options.batch_size, options.seed, args.device.type, o)
        for o in (objective, "mse")
    }
    sync = synchronizer(options.device)
    gate = options.min_cpu_share if options.device == "cpu" else 0.0
    reps: list[dict[str, RunTiming]] = []
    kept: list[bool] = []
    for rep in itertools.count():
        order = (objective, "mse") if rep % 2 == 0 else ("mse", objective)
        run = {o: run_step(setups[o], args, sync) for o in order}
        shares = {o: cpu_share(timing, options.warmup, options.threads) for o, timing in run.items()}
        reps.append(run)
        kept.append(min(shares.values()) >= gate)
        note = "" if kept[-1] else " (contended: left out)"
        times = ", ".join(
            f"{o} {steady(run[o], options.warmup):.4f} s/step (CPU share {shares[o]:.2f})" for o in order
        )
        print(f"  rep {rep} {times}{note}", flush=True)
        if sum(kept) >= options.repeats or len(reps) >= options.max_repeats:
            break
    del setups
    gc.collect()
    used = [run for run, keep in zip(reps, kept, strict=True) if keep] or reps
    per_rep = [steady(run[objective], options.warmup) for run in used]
    ratios = [steady(run[objective], options.warmup) / steady(run["mse"], options.warmup) for run in used]
    # CPU seconds per step: on a machine shared with other processes, far steadier than wall time.
    cpu_ratios = [
        cpu_per_step(run[objective], options.warmup) / cpu_per_step(run["mse"], options.warmup) for run in used
    ]
    seconds = statistics.median(per_rep)
    result = {
        "s_per_step": seconds,
        "pairs_per_s": options.batch_size / seconds,
        "s_per_step_reps": per_rep,
        "mse_s_per_step_reps": [steady(run["mse"], options.warmup) for run in used],
        "vs_mse_reps": ratios,
        "vs_mse": statistics.median(ratios),
        "cpu_s_per_step": statistics.median(cpu_per_step(run[objective], options.warmup) for run in used),
        "vs_mse_cpu_reps": cpu_ratios,
        "vs_mse_cpu": statistics.median(cpu_ratios),
        "cpu_share_reps": [cpu_share(run[objective], options.warmup, options.threads) for run in used],
        "repetitions_used": len(used),
    }
    reps_text = ", ".join(f"{r:.3f}" for r in ratios)
    cpu_text = ", ".join(f"{r:.3f}" for r in cpu_ratios)
    print(
        f"  {objective}: {seconds:.4f} s/step, {result['vs_mse']:.3f} × mse's step [{reps_text}]; CPU time per step "
        f"{result['vs_mse_cpu']:.3f} × mse's [{cpu_text}]",
        flush=True,
    )
    if not options.no_memory:
        result["peak_mb"] = probe_memory(name, "step", options, objective)
    return result


def print_objectives(results: dict[str, dict[str, Any]]) -> None:
    rows = [
        (name, objective, row) for name, result in results.items() for objective, row in result["objectives"].items()
    ]
    if not rows:
        return
    header = f"{'config':7s} {'objective':28s} {'pairs/s':>9s} {'s/step':>9s} {'peak MB':>9s} {'CPU share':>10s}"
    header += f" {'vs mse':>7s} {'CPU time vs mse':>16s}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, objective, row in rows:
        peak = f"{row['peak_mb']:9.0f}" if "peak_mb" in row else "-".rjust(9)
        share = statistics.median(row["cpu_share_reps"])
        ratio = f"{row['vs_mse']:7.3f} {row['vs_mse_cpu']:16.3f}"
        figures = f"{row['pairs_per_s']:9.2f} {row['s_per_step']:9.4f} {peak} {share:10.2f} {ratio}"
        print(f"{name:7s} {objective:28s} {figures}")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    if not any("modes" in result for result in results.values()):
        return
    columns = ("config", "mode", "pairs/s", "s/step", "peak MB", "CPU share", "step/floor")
    widths = (7, 6, 9, 9, 9, 10, 11)
    cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths, strict=True))]
    header = " ".join(cells)
    print("\n" + header + "\n" + "-" * len(header))
    for name, result in results.items():
        if "modes" not in result:
            continue
        for mode in MODES:
            row = result["modes"][mode]
            cells = [
                name.ljust(7),
                mode.ljust(6),
                f"{row['pairs_per_s']:9.2f}",
                f"{row['s_per_step']:9.4f}",
                f"{row['peak_mb']:9.0f}" if "peak_mb" in row else "-".rjust(9),
                f"{statistics.median(row['cpu_share_reps']):10.2f}",
                f"{result['ratio']:11.3f}" if mode == "step" else "",
            ]
            print(" ".join(cells).rstrip())
    for name, result in results.items():
        if "modes" not in result:
            continue
        reps = ", ".join(f"{r:.3f}" for r in result["ratio_reps"])
        fixed = result["modes"]["step"]["fixed_s"]
        print(f"{name}: step/floor per repetition [{reps}]; Trainer fixed cost (outside the steps) {fixed:.2f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=None, help="Steps per run (default: small 20, base 7).")
    parser.add_argument("--warmup", type=int, default=2, help="Leading steps of every run left out of the timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Repetitions (runs of each mode) in the medians.")
    parser.add_argument(
        "--min_cpu_share",
        type=float,
        default=0.9,
        help="On CPU, a repetition in which a mode got less than this share of --threads cores (other processes "
        "competing) is left out of the medians, and another one is run, up to --max_repeats.",
    )
    parser.add_argument("--max_repeats", type=int, default=None, help="Most repetitions run (default: 2 x repeats).")
    parser.add_argument(
        "--interleave",
        choices=("step", "run"),
        default="step",
        help="step: the floor's step right after each Trainer step, in one Trainer run per repetition (robust to "
        "load from other processes); run: whole runs in ABBA order (floor, step, step, floor, ...).",
    )
    parser.add_argument(
        "--objectives",
        nargs="+",
        choices=list(OBJECTIVES),
        default=["mse"],
        help="Adjustment objectives timed: mse (the paper) as floor and step, the others as a Trainer step each.",
    )
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu or cuda.")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (bf16=True in the Trainer).")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_memory", action="store_true", help="Skip the peak-memory subprocesses.")
    parser.add_argument("--json", type=Path, default=None, help="Write all figures and step times here.")
    parser.add_argument("--_probe", choices=MODES, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.max_repeats = max(options.max_repeats or 2 * options.repeats, options.repeats)
    options.steps_of = {name: options.steps or CONFIGS[name].steps for name in options.configs}
    if min(options.steps_of.values()) <= options.warmup:
        parser.error("--steps must exceed --warmup")
    return options


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    torch.set_num_threads(options.threads)
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as output_dir:
        if options._probe:  # a memory-probe subprocess: one run of one mode, then the peak
            name, device = options.configs[0], options.device
            steps = options.steps_of[name]
            args = training_arguments(output_dir, steps, options.batch_size, device, options.bf16, options.seed)
            setup = build_setup(
                CONFIGS[name], steps, options.batch_size, options.seed, args.device.type, options.objectives[0]
            )
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            RUNNERS[options._probe](setup, args, synchronizer(device))
            print(json.dumps({"peak_mb": peak_memory_mb(device)}))
            return {}
        load_before = os.getloadavg()
        print(
            f"torch {torch.__version__}, transformers {transformers.__version__}, {options.device}, "
            f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {load_before[0]:.2f}",
            flush=True,
        )
        results = {}
        for name in options.configs:
            results[name] = bench_config(name, options, output_dir) if "mse" in options.objectives else {}
            others = [objective for objective in options.objectives if objective != "mse"]
            results[name]["objectives"] = {o: bench_objective(name, o, options, output_dir) for o in others}
    load_after = os.getloadavg()
    print_table(results)
    print_objectives(results)
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if options.json:
        report = {
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "threads": options.threads,
                "device": options.device,
                "bf16": options.bf16,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "load_before": load_before,
                "load_after": load_after,
            },
            "batch_size": options.batch_size,
            "warmup": options.warmup,
            "repeats": options.repeats,
            "results": results,
        }
        options.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
