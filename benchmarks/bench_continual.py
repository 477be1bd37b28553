#!/usr/bin/env python
"""Training speed of the task scripts' TaskTrainer without and with continual learning (steps per second).

Both modes fine-tune the same randomly initialised BERT for token classification (7 tags, as run_ner.py) on
synthetic NER-like data: sentences of 6-20 words from a Zipf-distributed word-level vocabulary, mostly ``O`` with
short PER/ORG/LOC spans, ``--batch_size`` (paper: 32) sentences per step, collated by
``DataCollatorForTokenClassification``, with run_ner.py's ``NerTrainingArguments`` (AdamW, lr 2e-5, linear decay).

- ``plain``: ``TaskTrainer`` without continual learning: one forward and backward of the task batch per step.
- ``continual``: ``TaskTrainer(continual=...)`` built by :func:`xladjust.adjust.continual.build_continual_alignment`
  from a synthetic word-aligned parallel corpus (8-24 words per side, about 70% of the words linked one to one):
  every step adds the adjustment loss on ``--align_batch_size`` (paper: 16) random pairs, i.e. a forward and
  backward of both sides of the pairs and a no-grad forward of the English side through the frozen reference.

Timing is steady state: the time between consecutive ``on_step_end`` callbacks (data loading, the random draw
and collation of the parallel pairs, logging included), the first ``--warmup`` steps of every run left out; the
start-up (building the pool, the frozen copy, the optimizer) is not counted. Modes run interleaved in ABBA order;
figures are medians over ``--repeats``, and the slowdown is the median of the per-repetition plain/continual
ratios of steps per second.

    python benchmarks/bench_continual.py                     # 4 layers x 256 on CPU, 1 thread, about 1 minute
    python benchmarks/bench_continual.py --layers 12 --hidden 768 --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
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
from tokenizers import Tokenizer, models, pre_tokenizers, processors  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForTokenClassification,
    DataCollatorForTokenClassification,
    PreTrainedTokenizerFast,
    PrinterCallback,
    TrainerCallback,
)

from run_ner import NerTrainingArguments  # noqa: E402
from xladjust.adjust.continual import ContinualLearningArguments, build_continual_alignment  # noqa: E402
from xladjust.tasks.ner import NER_LABEL2ID, NER_LABELS, tokenize_and_align  # noqa: E402
from xladjust.trainer import TaskTrainer  # noqa: E402

MODES = ("plain", "continual")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def word_level_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """``[CLS] w17 w3 ... [SEP]``: one token per synthetic word, so lengths are exactly as generated."""
    vocab = {token: i for i, token in enumerate(SPECIALS + [f"w{i}" for i in range(vocab_size - len(SPECIALS))])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )


def words(rng: np.random.Generator, vocab_size: int, low: int, high: int) -> list[str]:
    ids = np.minimum(rng.zipf(1.3, size=rng.integers(low, high + 1)), vocab_size - len(SPECIALS) - 1)
    return [f"w{i}" for i in ids]


def ner_sentences(count: int, vocab_size: int, rng: np.random.Generator) -> datasets.Dataset:
    """Sentences of 6-20 words; each word starts a 1-2 word entity with probability 0.15 (valid IOB2)."""
    all_tokens, all_tags = [], []
    for _ in range(count):
        tokens = words(rng, vocab_size, 6, 20)
        tags, i = [], 0
        while i < len(tokens):
            if rng.random() < 0.15:
                kind = rng.choice(["PER", "ORG", "LOC"])
                span = min(int(rng.integers(1, 3)), len(tokens) - i)
                tags += [NER_LABEL2ID[f"B-{kind}"]] + [NER_LABEL2ID[f"I-{kind}"]] * (span - 1)
                i += span
            else:
                tags.append(NER_LABEL2ID["O"])
                i += 1
        all_tokens.append(tokens)
        all_tags.append(tags)
    return datasets.Dataset.from_dict({"tokens": all_tokens, "ner_tags": all_tags})


def write_parallel_corpus(folder: Path, pairs: int, vocab_size: int, rng: np.random.Generator) -> tuple[str, str]:
    """``TARGET ||| ENGLISH`` lines and Pharaoh links: about 70% of the target words, one to one."""
    text, links = [], []
    for _ in range(pairs):
        target, english = words(rng, vocab_size, 8, 24), words(rng, vocab_size, 8, 24)
        linked = int(0.7 * min(len(target), len(english)))
        sources = rng.choice(len(target), size=linked, replace=False)
        partners = rng.choice(len(english), size=linked, replace=False)
        text.append(f"{' '.join(target)} ||| {' '.join(english)}")
        links.append(" ".join(f"{i}-{j}" for i, j in sorted(zip(sources.tolist(), partners.tolist(), strict=True))))
    (folder / "xx-en.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    (folder / "xx-en.align").write_text("\n".join(links) + "\n", encoding="utf-8")
    return str(folder / "xx-en.txt"), str(folder / "xx-en.align")


class StepClock(TrainerCallback):
    def __init__(self, device: str):
        self.device = device
        self.times: list[float] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())


def steps_per_second(times: list[float], warmup: int) -> float:
    steady = times[warmup - 1 :] if warmup > 0 else times
    return (len(steady) - 1) / (steady[-1] - steady[0])


def run(mode: str, setup: dict[str, Any], options: argparse.Namespace, output_dir: str) -> float:
    model = copy.deepcopy(setup["model"])
    continual = None
    if mode == "continual":
        continual_args = ContinualLearningArguments(
            align_languages=["es"],  # only a name here: the synthetic corpus is no language
            align_parallel_file=[setup["parallel"][0]],
            align_alignment_file=[setup["parallel"][1]],
            align_batch_size=options.align_batch_size,
            align_max_pairs=options.pool_pairs,
        )
        continual = build_continual_alignment(continual_args, model, setup["tokenizer"], options.seed, output_dir)
    args = NerTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=options.batch_size,
        max_steps=options.warmup + options.steps,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=options.seed,
        use_cpu=options.device == "cpu",
        bf16=options.bf16,
        log_level="error",
    )
    clock = StepClock(options.device)
    trainer = TaskTrainer(
        model=model,
        args=args,
        train_dataset=setup["features"],
        data_collator=DataCollatorForTokenClassification(setup["tokenizer"]),
        processing_class=setup["tokenizer"],
        continual=continual,
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # the figures are printed at the end
    trainer.train()
    return steps_per_second(clock.times, options.warmup)


def abba(repeats: int) -> Iterator[str]:
    for repeat in range(repeats):
        yield from MODES if repeat % 2 == 0 else reversed(MODES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab_size", type=int, default=16000, help="Word-level vocabulary (embedding rows).")
    parser.add_argument("--batch_size", type=int, default=32, help="Task sentences per step (paper: 32).")
    parser.add_argument("--align_batch_size", type=int, default=16, help="Parallel pairs per step (paper: 16).")
    parser.add_argument("--pool_pairs", type=int, default=2000, help="Synthetic parallel pairs in the pool.")
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per run.")
    parser.add_argument("--warmup", type=int, default=3, help="Leading steps of every run left out of the timing.")
    parser.add_argument("--repeats", type=int, default=4, help="Runs of each mode, interleaved ABBA.")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (bf16=True in the Trainer).")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads. 1: on 2 shared, busy cores a second OpenMP thread made steps 20x slower.",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    torch.set_num_threads(options.threads)
    transformers.utils.logging.set_verbosity_error()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("xladjust").setLevel(logging.WARNING)
    rng = np.random.default_rng(options.seed)
    tokenizer = word_level_tokenizer(options.vocab_size)
    sentences = ner_sentences(options.batch_size * (options.warmup + options.steps), options.vocab_size, rng)
    features = sentences.map(
        tokenize_and_align, batched=True, fn_kwargs={"tokenizer": tokenizer}, remove_columns=sentences.column_names
    )
    torch.manual_seed(options.seed)
    config = BertConfig(
        vocab_size=options.vocab_size,
        hidden_size=options.hidden,
        num_hidden_layers=options.layers,
        num_attention_heads=max(1, options.hidden // 64),
        intermediate_size=4 * options.hidden,
        num_labels=len(NER_LABELS),
        pad_token_id=tokenizer.pad_token_id,
    )
    load_before = os.getloadavg()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        setup = {
            "model": BertForTokenClassification(config),
            "tokenizer": tokenizer,
            "features": features,
            "parallel": write_parallel_corpus(Path(tmp), options.pool_pairs, options.vocab_size, rng),
        }
        for mode in abba(options.repeats):
            results[mode].append(run(mode, setup, options, os.path.join(tmp, mode)))
    ratios = [p / c for p, c in zip(results["plain"], results["continual"], strict=True)]
    summary = {mode: statistics.median(values) for mode, values in results.items()}
    summary["slowdown"] = statistics.median(ratios)

    words_per_sentence = np.mean([len(t) for t in sentences["tokens"]])
    print(
        f"BERT {options.layers} x {options.hidden}, vocabulary {options.vocab_size}, {options.device}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {platform.processor() or platform.machine()}"
    )
    print(
        f"task batch {options.batch_size} sentences ({words_per_sentence:.1f} words), align batch "
        f"{options.align_batch_size} pairs; {options.steps} timed steps after {options.warmup}, "
        f"{options.repeats} repeats (ABBA); load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'mode':<10} {'steps/s':>8} {'s/step':>8}   runs (steps/s)")
    for mode in MODES:
        runs = ", ".join(f"{v:.2f}" for v in results[mode])
        print(f"{mode:<10} {summary[mode]:>8.2f} {1 / summary[mode]:>8.3f}   {runs}")
    print(
        f"continual learning: {summary['slowdown']:.2f}x the time per step of plain fine-tuning "
        f"(+{100 * (summary['slowdown'] - 1):.0f}%)"
    )
    return summary


if __name__ == "__main__":
    main()
