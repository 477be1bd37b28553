"""End to end on a tiny encoder of each architecture: BERT, XLM-R, DeBERTa-v2, ModernBERT and DistilBERT.

Each one is adjusted by run_adjust.py (fp32, and again under --bf16 CPU autocast), fine-tuned by a task script with
continual learning on (the tasks spread over the architectures), and analysed by run_analysis.py against its
original. The tokenizers are each architecture's own family (tests/tiny_families.py): WordPiece with and without
token type ids, SentencePiece Unigram (XLM-R's, DeBERTa-v3's) and ModernBERT's byte-level BPE without prefix space;
DeBERTa-v2, ModernBERT and DistilBERT have no pooler, XLM-R's is a fresh one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig

import run_adjust
import run_analysis
import run_ner
import run_qa
import run_xnli
from tests.builders import CONTINUAL, PARALLEL, adjust_args, ner_args, read_jsonl, xnli_args
from tests.tiny_families import ARCHITECTURES, save_tiny_encoder
from tests.tiny_models import FIXTURES

TASKS = {
    "bert": ("xnli",),
    "xlm-roberta": ("qa",),
    "deberta-v2": ("ner",),
    "modernbert": ("ner", "qa"),
    "distilbert": ("xnli",),
}
"""The task scripts each architecture runs (with continual learning)."""

BF16_TOLERANCE = 1e-2
"""Largest relative difference allowed between the fp32 and bf16 training losses of the same steps; measured:
at most 2e-4 on these tiny models (CPU autocast: matrix products in bf16, layer norms and the loss in fp32)."""


def log_losses(output: Path, key: str = "loss") -> list[float]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return [entry[key] for entry in history if key in entry and "train_runtime" not in entry]


@pytest.fixture(scope="module", params=ARCHITECTURES)
def adjusted(request, tmp_path_factory):
    """(architecture, original folder, adjusted folder, results) after 4 steps on the Spanish and Russian pairs."""
    architecture = request.param
    original = save_tiny_encoder(architecture, tmp_path_factory.mktemp(architecture))
    output = tmp_path_factory.mktemp(f"{architecture}-adjusted")
    options = ("--do_train", "--do_eval", "--validation_pairs", "3", "--max_steps", "4", "--logging_steps", "1")
    results = run_adjust.main(adjust_args(original, output, ["es", "ru"], True, *options, "--use_cpu"))
    return architecture, original, output, results


def test_adjustment_trains_and_saves_the_encoder(adjusted):
    architecture, original, output, results = adjusted
    assert math.isfinite(results["eval_alignment_loss"]) and results["eval_alignment_loss"] > 0
    assert results["eval_before_alignment_loss"] > 0
    losses = log_losses(output, "alignment_loss")
    assert len(losses) == 4 and all(math.isfinite(value) for value in losses)
    assert AutoConfig.from_pretrained(output).model_type == architecture
    # Trained, the pooler (where the checkpoint has one: BERT's) left as it was.
    before, saved = load_file(original / "model.safetensors"), load_file(output / "model.safetensors")
    changed = [name for name, tensor in before.items() if not torch.equal(tensor, saved[name])]
    assert changed and all("pooler" not in name for name in changed)


def test_bf16_losses_follow_fp32(adjusted, tmp_path):
    _, original, output, _ = adjusted
    options = ("--do_train", "--do_eval", "--validation_pairs", "3", "--max_steps", "4", "--logging_steps", "1")
    run_adjust.main(adjust_args(original, tmp_path, ["es", "ru"], True, *options, "--use_cpu", "--bf16"))
    fp32, bf16 = log_losses(output), log_losses(tmp_path)
    assert len(fp32) == len(bf16) == 4
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) <= BF16_TOLERANCE * abs(a)


def qa_args(model: Path, output: Path, *extra: str) -> list[str]:
    qa = FIXTURES / "qa"
    return [
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output),
        "--train_file",
        str(qa / "train.en.json"),
        "--eval_sets",
        f"xquad.es={qa / 'dev.es.json'}",
        f"xquad.vi={qa / 'dev.vi.json'}",
        "--max_seq_length",
        "128",
        "--doc_stride",
        "64",
        "--per_device_train_batch_size",
        "8",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        "--seed",
        "1",
        "--report_to",
        "none",
        *extra,
    ]


def run_task(task: str, model: Path, output: Path) -> dict:
    steps = ("--do_train", "--max_steps", "3", "--logging_steps", "1", *CONTINUAL)
    if task == "xnli":
        return run_xnli.main(xnli_args(model, output, *steps, "--do_eval", "--eval_languages", "en", "es"))
    if task == "ner":
        return run_ner.main(ner_args(model, output, *steps, "--do_predict", "--eval_languages", "en", "vi", "hi"))
    return run_qa.main(qa_args(model, output, *steps, "--do_eval"))


def test_task_scripts_with_continual_learning(adjusted, tmp_path):
    architecture, _, adjusted_folder, _ = adjusted
    for task in TASKS[architecture]:
        output = tmp_path / task
        results = run_task(task, adjusted_folder, output)
        # Continual learning ran: each logged step has the task loss and the alignment terms.
        assert len(log_losses(output, "alignment_loss")) == len(log_losses(output, "task_loss")) == 3
        prefix, metric, sets = {
            "xnli": ("eval", "accuracy", ("en", "es")),
            "ner": ("predict", "f1", ("en", "vi", "hi")),
            "qa": ("eval", "f1", ("xquad.es", "xquad.vi")),
        }[task]
        for name in sets:
            assert 0 <= results[f"{prefix}_{name}_{metric}"] <= 100, (task, name)
            records = read_jsonl(output / "predictions" / f"{prefix}_{name}.jsonl")
            assert records and all("predicted" in record for record in records)
        assert AutoConfig.from_pretrained(output).model_type == architecture


def test_analysis_compares_the_adjusted_encoder_with_its_original(adjusted, tmp_path):
    _, original, adjusted_folder, _ = adjusted
    results = run_analysis.main(
        [
            "--models",
            f"base={original}",
            f"adjusted={adjusted_folder}",
            "--output_dir",
            str(tmp_path),
            "--languages",
            "es",
            "--parallel_files",
            str(PARALLEL / "es-en.txt"),
            "--alignment_files",
            str(PARALLEL / "es-en.align"),
            "--layers",
            "-1",
            "1",
        ]
    )
    for layer in ("layer_-1", "layer_1"):
        cosine = results["languages"]["es"][layer]["cosine"]
        assert cosine["models"]["base"]["count"] == cosine["models"]["adjusted"]["count"] > 0
    assert (tmp_path / "distances.csv").is_file()
