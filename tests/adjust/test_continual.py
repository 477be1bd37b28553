"""Continual learning: TaskTrainer + ContinualAlignment against hand computations, resume, two processes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    TrainingArguments,
)

import run_ner
from tests.builders import CONTINUAL, NER, PARALLEL, continual_for, ner_args, read_jsonl
from tests.launch import TORCHRUN, launch
from tests.tiny_models import FIXTURES
from xladjust.adjust.continual import ContinualLearningArguments, build_continual_alignment
from xladjust.errors import InputError
from xladjust.tasks.ner import read_ner_file, tokenize_and_align
from xladjust.trainer import TaskTrainer

NLI_TRAIN = FIXTURES / "nli" / "train.en.jsonl"


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert, tmp_path_factory) -> Path:
    """tiny_bert without dropout: the trainer's forward and the hand computation must see the same network."""
    path = tmp_path_factory.mktemp("no-dropout")
    AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(
        path
    )
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(path)
    return path


def nli_features(tokenizer, count: int) -> Dataset:
    rows = [json.loads(line) for line in NLI_TRAIN.read_text().splitlines()[:count]]
    encoded = tokenizer([r["premise"] for r in rows], [r["hypothesis"] for r in rows], truncation=True)
    labels = {"entailment": 0, "neutral": 1, "contradiction": 2}
    return Dataset.from_dict({**encoded, "labels": [labels[r["label"]] for r in rows]})


def test_draw_depends_only_on_seed_process_step_and_micro_step(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    continual = continual_for(AutoModel.from_pretrained(tiny_bert), tokenizer, tmp_path)
    assert len(continual.pool) == 14 and continual.batch_size == 4
    drawn = continual.draw(7, 0, 5, 0)
    assert set(drawn) >= {"tgt_input_ids", "en_input_ids", "link_tgt", "link_en", "en_word_pair"}
    again = continual.draw(7, 0, 5, 0)
    assert all(torch.equal(drawn[k], again[k]) if torch.is_tensor(drawn[k]) else drawn[k] == again[k] for k in drawn)
    for other in [(7, 1, 5, 0), (7, 0, 6, 0), (7, 0, 5, 1), (8, 0, 5, 0)]:  # process, step, micro-step, seed
        assert not torch.equal(continual.draw(*other)["en_input_ids"], drawn["en_input_ids"]), other
    # The global micro-batch: process 1 of 2 draws what a single process draws at its second micro-step.
    assert torch.equal(continual.draw(7, 1, 5, 0, 2)["en_input_ids"], continual.draw(7, 0, 5, 1)["en_input_ids"])
    assert torch.equal(continual.draw(7, 0, 5, 1, 2)["en_input_ids"], continual.draw(7, 0, 5, 2)["en_input_ids"])


def test_combined_loss_is_task_plus_weighted_alignment_and_regulariser(no_dropout_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(no_dropout_bert)
    model = AutoModelForTokenClassification.from_pretrained(no_dropout_bert, num_labels=7)
    continual = continual_for(model, tokenizer, tmp_path, align_weight=0.5, align_regularization_weight=2.0)
    with torch.no_grad():  # move away from the frozen reference, so that the regulariser is not zero
        for parameter in model.bert.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    args = TrainingArguments(output_dir=str(tmp_path / "t"), seed=3, report_to="none", use_cpu=True)
    trainer = TaskTrainer(model=model, args=args, continual=continual)
    sentences, _ = read_ner_file(NER / "test.en.conll", "en")
    encoded = tokenize_and_align(sentences[:3], tokenizer, max_length=32)
    inputs = DataCollatorForTokenClassification(tokenizer)([{k: v[i] for k, v in encoded.items()} for i in range(3)])
    model.train()
    for micro_step in range(2):  # two calls at the same global step: micro-steps 0 and 1
        loss = trainer.compute_loss(model, dict(inputs))
        with torch.no_grad():
            task = model(**inputs).loss
            terms = continual.objective(model.bert, continual.draw(3, 0, 0, micro_step))
        assert terms.regularization_loss > 0
        expected = task + 0.5 * terms.alignment_loss + 2.0 * terms.regularization_loss
        torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    assert set(trainer._component_sums) == {"task_loss", "alignment_loss", "regularization_loss"}


@pytest.fixture(scope="module")
def accumulated_step(no_dropout_bert, tmp_path_factory):
    """One SGD step (lr 1) of 2 accumulated micro-batches of 2 NLI pairs, with continual learning."""
    tmp = tmp_path_factory.mktemp("accumulation")
    tokenizer = AutoTokenizer.from_pretrained(no_dropout_bert)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(no_dropout_bert, num_labels=3)
    initial = copy.deepcopy(model)
    continual = continual_for(model, tokenizer, tmp, align_weight=0.5, align_regularization_weight=2.0)
    features = nli_features(tokenizer, 4)
    args = TrainingArguments(
        output_dir=str(tmp / "out"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=1,
        learning_rate=1.0,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        weight_decay=0.0,
        train_sampling_strategy="sequential",
        seed=5,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
    )
    trainer = TaskTrainer(
        model=model, args=args, train_dataset=features, processing_class=tokenizer, continual=continual
    )
    trainer.train()
    return trainer, initial, features, tokenizer


def test_gradient_accumulation_equals_one_big_batch_plus_the_mean_of_the_draws(accumulated_step):
    """The task part of 2 × 2 accumulated pairs is the loss of one batch of 4 (per-example mean, equal halves);
    the alignment part is the mean over the micro-steps' draws, (seed, process 0, step 0, micro-step 0 and 1)."""
    trainer, initial, features, tokenizer = accumulated_step
    reference = copy.deepcopy(initial).train()
    continual = trainer.continual
    batch = DataCollatorWithPadding(tokenizer)([features[i] for i in range(4)])
    loss = reference(**batch).loss
    for micro_step in range(2):
        terms = continual.objective(reference.bert, continual.draw(5, 0, 0, micro_step))
        loss = loss + 0.5 * (0.5 * terms.alignment_loss + 2.0 * terms.regularization_loss)
    loss.backward()
    trained = dict(trainer.model.named_parameters())
    for name, parameter in reference.named_parameters():
        expected = parameter.detach() - (parameter.grad if parameter.grad is not None else 0)
        torch.testing.assert_close(trained[name].detach(), expected, rtol=1e-4, atol=1e-6, msg=name)
    log = next(e for e in trainer.state.log_history if "train_loss" in e)
    assert log["train_loss"] == pytest.approx(loss.item(), rel=1e-4)


def test_reference_is_the_initial_encoder_and_stays_frozen(accumulated_step):
    trainer, initial, _, _ = accumulated_step
    frozen = trainer.continual.objective.reference
    assert all(not p.requires_grad for p in frozen.parameters()) and not frozen.training
    for name, tensor in initial.bert.state_dict().items():
        torch.testing.assert_close(frozen.state_dict()[name], tensor, rtol=0, atol=0)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in frozen.parameters()}
    moved = trainer.model.bert.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(moved, initial.bert.encoder.layer[0].attention.self.query.weight)


def test_two_processes_with_continual_learning(tiny_bert, tmp_path):
    output = tmp_path / "out"
    args = ner_args(
        tiny_bert,
        output,
        "--do_train",
        "--do_predict",
        "--eval_languages",
        "en",
        "es",
        "--per_device_train_batch_size",
        "4",
        "--num_train_epochs",
        "1",
        "--logging_steps",
        "2",
        "--learning_rate",
        "3e-3",
        *CONTINUAL,
    )
    result = launch(TORCHRUN, "run_ner.py", args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "distributed training: True" in result.stdout + result.stderr
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 8  # 60 sentences, 4 per process and step, 2 processes
    assert all("alignment_loss" in e and "task_loss" in e for e in state["log_history"] if "loss" in e)
    results = json.loads((output / "all_results.json").read_text())
    assert results["predict_en_samples"] == results["predict_es_samples"] == 20
    # Gathered from both processes in file order, without duplicates: one process predicts the same.
    alone = tmp_path / "alone"
    run_ner.main(ner_args(output, alone, "--do_predict", "--eval_languages", "en", "es"))
    for lang in ("en", "es"):
        two = read_jsonl(output / "predictions" / f"predict_{lang}.jsonl")
        assert two == read_jsonl(alone / "predictions" / f"predict_{lang}.jsonl") and len(two) == 20
        assert len({tuple(r["predicted"]) for r in two}) > 2  # not all alike, so a shuffle would show


@pytest.mark.parametrize("frozen", [[], ["--align_freeze", "lower_half"]], ids=["all-layers", "align-freeze"])
def test_two_processes_equal_one_process_with_the_same_global_batches(no_dropout_bert, tmp_path, frozen):
    """2 processes × 4 sentences = 1 process × 2 accumulated micro-batches of 4: the same task batches (sequential
    sampling) and, by the global micro-batch number, the same alignment draws; so the same training up to the
    order of floating-point sums. The alignment forward runs inside DDP's forward (ContinualAlignment.attach), also
    when --align_freeze switches the frozen layers' gradients off for its duration."""
    common = [
        "--do_train",
        "--eval_languages",
        "en",
        "--per_device_train_batch_size",
        "4",
        "--max_steps",
        "3",
        "--logging_steps",
        "1",
        "--learning_rate",
        "1e-2",
        "--optim",
        "sgd",
        "--lr_scheduler_type",
        "constant",
        "--train_sampling_strategy",
        "sequential",
        "--align_weight",
        "1.0",
        *CONTINUAL,
        *frozen,
    ]
    two, one = tmp_path / "two", tmp_path / "one"
    result = launch(TORCHRUN, "run_ner.py", ner_args(no_dropout_bert, two, *common))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "distributed training: True" in result.stdout + result.stderr
    run_ner.main(ner_args(no_dropout_bert, one, *common, "--gradient_accumulation_steps", "2"))
    logs = {}
    for name, output in (("two", two), ("one", one)):
        history = json.loads((output / "trainer_state.json").read_text())["log_history"]
        logs[name] = [
            {k: e[k] for k in ("loss", "task_loss", "alignment_loss", "regularization_loss")}
            for e in history
            if "loss" in e
        ]
    assert len(logs["one"]) == 3 and logs["one"][0]["alignment_loss"] > 0
    for a, b in zip(logs["two"], logs["one"], strict=True):
        assert a == pytest.approx(b, rel=1e-4)
    weights_two, weights_one = load_file(two / "model.safetensors"), load_file(one / "model.safetensors")
    start = load_file(no_dropout_bert / "model.safetensors")
    moved = 0
    for key, tensor in weights_one.items():
        torch.testing.assert_close(weights_two[key], tensor, rtol=1e-4, atol=1e-5, msg=key)
        before = start.get(key.removeprefix("bert."))
        moved += before is not None and not torch.equal(tensor, before)
    assert moved > 10  # the encoder was trained


def test_the_pool_takes_a_dictionary_and_the_pair_filter(tiny_bert, tmp_path):
    dictionary = tmp_path / "en-es.txt"
    dictionary.write_text("cat gato\nhouse casa\ndog perro\nthe el\nwater agua\nbook libro\n", encoding="utf-8")
    args = ContinualLearningArguments(
        align_languages=["es"],
        align_parallel_file=[str(PARALLEL / "es-en.txt")],
        align_aligner="dictionary",
        align_dictionary_files=[str(tmp_path / "en-{lang}.txt")],
        align_filter_model=str(tiny_bert),
        align_filter_keep=0.5,
        align_batch_size=2,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    continual = build_continual_alignment(args, AutoModel.from_pretrained(tiny_bert), tokenizer, 0, str(tmp_path))
    assert json.loads((tmp_path / "alignments" / "es-en.json").read_text())["aligner"] == "dictionary"
    scores = json.loads((tmp_path / "alignments" / "es-en.scores.json").read_text())["scores"]
    assert len(scores) == 14 and 0 < len(continual.pool) <= 7  # the best half, less pairs left without a link
    with pytest.raises(InputError, match="--align_aligner dictionary and --align_dictionary_files go together"):
        ContinualLearningArguments(align_aligner="dictionary")
    with pytest.raises(InputError, match="--align_filter_model needs one of --align_filter_keep"):
        ContinualLearningArguments(align_filter_model="m")
