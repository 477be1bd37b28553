"""Continual learning with the objective's method options (the ``align_`` flags)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    TrainingArguments,
)

import run_ner
from tests.builders import CONTINUAL, NER, continual_for, ner_args
from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.errors import InputError
from xladjust.tasks.ner import read_ner_file, tokenize_and_align
from xladjust.trainer import LOSS_HEAD_FILE, TaskTrainer

OPTIONS = {
    "align_alignment_target": "frozen",
    "align_alignment_loss": "contrastive",
    "align_contrastive_negatives": "all",
    "align_temperature": 0.2,
    "align_projection_layers": 2,
    "align_regularization": "parameters",
    "align_layers": [1, 2],
}


def test_align_options_build_the_same_objective_options(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=7)
    continual = continual_for(model, tokenizer, tmp_path, **OPTIONS)
    objective = continual.objective
    assert objective.settings == ObjectiveSettings(
        alignment_target="frozen",
        alignment_loss="contrastive",
        contrastive_negatives="all",
        temperature=0.2,
        projection_layers=2,
        regularization="parameters",
        layers=[1, 2],
    )
    assert objective.layers == [1, 2] and objective.projection is not None


def test_combined_loss_with_the_align_options(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_bert, num_labels=7, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    continual = continual_for(model, tokenizer, tmp_path, align_weight=0.5, align_regularization_weight=2.0, **OPTIONS)
    with torch.no_grad():  # away from the initial weights, so that the parameter drift is not zero
        for parameter in model.bert.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    args = TrainingArguments(output_dir=str(tmp_path / "t"), seed=3, report_to="none", use_cpu=True)
    trainer = TaskTrainer(model=model, args=args, continual=continual)
    assert trainer.loss_head is continual.objective.projection
    sentences, _ = read_ner_file(NER / "test.en.conll", "en")
    encoded = tokenize_and_align(sentences[:3], tokenizer, max_length=32)
    inputs = DataCollatorForTokenClassification(tokenizer)([{k: v[i] for k, v in encoded.items()} for i in range(3)])
    model.train()
    loss = trainer.compute_loss(model, dict(inputs))
    with torch.no_grad():
        task = model(**inputs).loss
        terms = continual.objective(model.bert, continual.draw(3, 0, 0, 0))
    assert terms.regularization_loss > 0
    torch.testing.assert_close(
        loss.detach(), task + 0.5 * terms.alignment_loss + 2.0 * terms.regularization_loss, rtol=1e-5, atol=1e-6
    )
    trainer.create_optimizer()
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in continual.objective.projection.parameters()} <= optimized


def test_align_layer_alias_and_its_conflict():
    assert ContinualLearningArguments(align_layer=1).align_layers == [1]
    with pytest.raises(InputError, match="--align_layer 1 and --align_layers 2 disagree"):
        ContinualLearningArguments(align_layer=1, align_layers=[2])
    with pytest.raises(InputError, match="--align_alignment_loss 'cosine' is not one of"):
        ContinualLearningArguments(align_alignment_loss="cosine")


def test_run_ner_with_contrastive_continual_learning(tiny_bert, tmp_path):
    output = tmp_path / "out"
    flags = [
        "--align_alignment_loss",
        "contrastive",
        "--align_projection_layers",
        "2",
        "--align_regularization",
        "parameters",
        "--align_layers",
        "1",
        "2",
    ]
    flags += ["--max_steps", "2", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "2"]
    run_ner.main(ner_args(tiny_bert, output, "--do_train", "--eval_languages", "en", *CONTINUAL, *flags))
    settings = (output / "README.md").read_text()
    assert '"align_alignment_loss": "contrastive"' in settings and '"align_regularization": "parameters"' in settings
    _, info = AutoModelForTokenClassification.from_pretrained(output, output_loading_info=True)
    assert not info["unexpected_keys"] and not info["missing_keys"]
    assert set(load_file(output / "checkpoint-2" / LOSS_HEAD_FILE)) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    assert any("alignment_loss" in entry for entry in history)


def test_the_pools_errors_name_the_align_flags(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=7)
    with pytest.raises(InputError, match=r"--align_aligner dictionary and --align_dictionary_files go together"):
        continual_for(model, tokenizer, tmp_path, align_aligner="dictionary")
    with pytest.raises(InputError, match=r"--align_dictionary_files: 'ru' is not one of --align_languages"):
        continual_for(model, tokenizer, tmp_path, align_aligner="dictionary", align_dictionary_files=["ru=x.txt"])
