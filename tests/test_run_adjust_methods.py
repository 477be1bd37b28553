"""End-to-end runs of run_adjust.main() with the method options (one family per test, tiny and fast)."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import run_adjust
from tests.builders import adjust_args, run_script
from tests.conftest import PARALLEL
from tests.launch import TORCHRUN, launch
from xladjust.cli import run_main
from xladjust.trainer import LOSS_HEAD_FILE

HELD_OUT = ["--do_eval", "--validation_pairs", "3"]


def objective_record(output) -> dict:
    return json.loads((output / "adjustment_config.json").read_text())["objective"]


def adjust_es(model, output, *extra: str) -> dict[str, float]:
    """Train on the Spanish fixture pairs with their alignment file."""
    return run_adjust.main(adjust_args(model, output, ["es"], True, "--do_train", *extra))


def test_frozen_target_is_recorded_and_reports_the_held_out_mse(tiny_bert, tmp_path):
    output = tmp_path / "out"
    results = adjust_es(tiny_bert, output, "--max_steps", "3", "--alignment_target", "frozen", *HELD_OUT)
    assert objective_record(output)["alignment_target"] == "frozen"
    assert '"alignment_target": "frozen"' in (output / "README.md").read_text()
    for key in ("eval_alignment_loss", "eval_regularization_loss", "eval_before_alignment_loss"):
        assert results[key] >= 0, key
    assert results["eval_regularization_loss"] > 0 == results["eval_before_regularization_loss"]


def test_defaults_are_the_paper_and_are_recorded(tiny_bert, tmp_path):
    output = tmp_path / "out"
    adjust_es(tiny_bert, output, "--max_steps", "1")
    assert objective_record(output) == {
        "alignment_target": "trained",
        "alignment_loss": "mse",
        "contrastive_negatives": "linked",
        "temperature": 0.1,
        "projection_layers": 0,
        "regularization": "english_vectors",
        "layers": [-1],
        "layer": -1,
        "word_pooling": "avg",
        "include_cls_sep": True,
        "regularization_weight": 1.0,
        "freeze": [],
    }


CONTRASTIVE = [
    "--alignment_loss",
    "contrastive",
    "--contrastive_negatives",
    "all",
    "--projection_layers",
    "2",
    "--lr_scheduler_type",
    "constant",
    "--warmup_steps",
    "0",
    "--save_strategy",
    "steps",
    "--save_steps",
    "3",
    "--validation_pairs",
    "3",
]


def test_contrastive_head_is_trained_checkpointed_resumed_and_never_saved_into_the_encoder(tiny_bert, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    adjust_es(tiny_bert, straight, "--max_steps", "6", *CONTRASTIVE, "--do_eval")
    heads = [load_file(straight / f"checkpoint-{step}" / LOSS_HEAD_FILE) for step in (3, 6)]
    assert set(heads[0]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert not torch.equal(heads[0]["0.weight"], heads[1]["0.weight"])  # the optimizer trains it
    # The model folder is the bare encoder: it loads without unexpected or missing keys, no head anywhere.
    _, info = AutoModel.from_pretrained(straight, output_loading_info=True)
    assert not info["unexpected_keys"] and not info["missing_keys"]
    assert set(load_file(straight / "model.safetensors")) == set(load_file(tiny_bert / "model.safetensors"))
    assert not (straight / LOSS_HEAD_FILE).exists()
    assert objective_record(straight)["projection_layers"] == 2

    # Interrupted at step 3 and resumed: the same weights as the straight run only if the head (and its optimizer
    # state) came back from the checkpoint and its gradients were zeroed after every step.
    again = ["--max_steps", "6", *CONTRASTIVE, "--do_eval"]
    killed = run_script("run_adjust.py", adjust_args(tiny_bert, interrupted, ["es"], True, "--do_train", *again), 3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (interrupted / "checkpoint-3").is_dir() and not (interrupted / "checkpoint-6").exists()
    results = adjust_es(tiny_bert, interrupted, *again)
    resumed, reference = load_file(interrupted / "model.safetensors"), load_file(straight / "model.safetensors")
    for key, tensor in reference.items():
        torch.testing.assert_close(resumed[key], tensor, rtol=1e-5, atol=1e-6, msg=key)
    for key, tensor in heads[1].items():
        torch.testing.assert_close(load_file(interrupted / "checkpoint-6" / LOSS_HEAD_FILE)[key], tensor)
    # The held-out MSE losses are reported whatever the training loss.
    assert results["eval_alignment_loss"] > 0 and results["eval_before_alignment_loss"] > 0


def test_parameter_regulariser_trains_the_drift_and_still_reports_the_english_mse(tiny_bert, tmp_path):
    output = tmp_path / "out"
    drift = ["--regularization", "parameters", "--regularization_weight", "0.5", "--warmup_steps", "0"]
    results = adjust_es(tiny_bert, output, "--max_steps", "4", *drift, *HELD_OUT)
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    logs = [entry for entry in history if "loss" in entry]
    # The squared distance of the weights from the start: zero before the first update, then growing.
    assert len(logs) == 2 and 0 < logs[0]["regularization_loss"] < logs[1]["regularization_loss"]
    for entry in logs:
        assert entry["loss"] == pytest.approx(entry["alignment_loss"] + 0.5 * entry["regularization_loss"], rel=1e-4)
    assert results["eval_regularization_loss"] > 0  # English vectors against the original's, as for the paper
    assert objective_record(output)["regularization"] == "parameters"


def test_several_layers_report_held_out_losses_per_layer(tiny_bert, tmp_path):
    output = tmp_path / "out"
    args = adjust_args(tiny_bert, output, ["es", "ru"], True, "--do_train", "--max_steps", "2", "--layers", "1", "2")
    results = run_adjust.main(args + HELD_OUT)
    for prefix in ("eval", "eval_before"):
        per_layer = [results[f"{prefix}_layer{n}_alignment_loss"] for n in (1, 2)]
        assert results[f"{prefix}_alignment_loss"] == pytest.approx(sum(per_layer) / 2, rel=1e-6)
        assert f"{prefix}_layer2_es_alignment_loss" in results and f"{prefix}_layer1_regularization_loss" in results
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["objective"]["layers"] == [1, 2] and config["objective"]["layer"] is None


def test_layer_is_an_alias_of_layers(tiny_bert, tmp_path, capsys):
    output = tmp_path / "out"
    adjust_es(tiny_bert, output, "--max_steps", "1", "--layer", "1")
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["objective"]["layers"] == [1] and config["objective"]["layer"] == 1
    args = adjust_args(tiny_bert, tmp_path / "bad", ["es"], True, "--do_train", "--layer", "1", "--layers", "2")
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_adjust.main(args))
    assert info.value.code == 2
    assert "--layer 1 and --layers 2 disagree" in capsys.readouterr().err


def test_simalign_aligner_writes_and_reuses_its_alignments(tiny_xlmr, tmp_path, caplog):
    output = tmp_path / "out"
    args = adjust_args(
        tiny_xlmr,
        output,
        ["es"],
        False,
        "--do_train",
        "--max_steps",
        "1",
        "--aligner",
        "simalign",
        "--simalign_layer",
        "1",
    )
    run_adjust.main(args)
    cached = output / "alignments" / "es-en.align"
    assert len(cached.read_text().splitlines()) == 14 and cached.read_text().strip()
    meta = json.loads((output / "alignments" / "es-en.json").read_text())
    assert meta["aligner"] == "simalign" and meta["layer"] == 1 and meta["method"] == "itermax"
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["parallel_data"]["aligner"] == "simalign" and config["data"]["es"]["train"]["links_used"] > 0
    caplog.clear()
    with caplog.at_level("INFO", logger="xladjust"):
        run_adjust.main(args + ["--overwrite_output_dir"])
    assert "reusing the simalign alignments" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="xladjust"):  # other settings, other alignments
        run_adjust.main(args + ["--overwrite_output_dir", "--simalign_method", "argmax"])
    assert "reusing" not in caplog.text and "aligning 14 pairs with simalign" in caplog.text


def test_two_processes_average_the_projection_heads_gradients(tiny_bert, tmp_path):
    """One SGD step of 2 processes × 2 pairs = one process accumulating 2 × 2 pairs, the head included."""
    model = tmp_path / "no-dropout"
    AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(
        model
    )
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(model)
    common = [
        "--model_name_or_path",
        str(model),
        "--languages",
        "es",
        "--parallel_files",
        str(PARALLEL / "es-en.txt"),
        "--alignment_files",
        str(PARALLEL / "es-en.align"),
        "--do_train",
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "2",
        "--learning_rate",
        "0.1",
        "--optim",
        "sgd",
        "--lr_scheduler_type",
        "constant",
        "--warmup_steps",
        "0",
        "--train_sampling_strategy",
        "sequential",
        "--save_strategy",
        "steps",
        "--save_steps",
        "1",
        "--disable_tqdm",
        "true",
        "--alignment_loss",
        "contrastive",
        "--projection_layers",
        "2",
        "--seed",
        "3",
    ]
    result = launch(TORCHRUN, "run_adjust.py", [*common, "--output_dir", str(tmp_path / "two")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_adjust.main([*common, "--output_dir", str(tmp_path / "one"), "--gradient_accumulation_steps", "2"])
    initial = load_file(model / "model.safetensors")
    for name in ("model.safetensors", f"checkpoint-1/{LOSS_HEAD_FILE}"):
        two, one = load_file(tmp_path / "two" / name), load_file(tmp_path / "one" / name)
        for key, tensor in one.items():
            torch.testing.assert_close(two[key], tensor, rtol=1e-4, atol=1e-6, msg=f"{name}: {key}")
    moved = load_file(tmp_path / "one" / "model.safetensors")["encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(moved, initial["encoder.layer.0.attention.self.query.weight"])


def test_frozen_layers_stay_bit_identical_and_never_reach_the_optimizer(tiny_bert, tmp_path, monkeypatch):
    trainers = []

    class Recording(run_adjust.AlignmentTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(run_adjust, "AlignmentTrainer", Recording)
    output = tmp_path / "out"
    adjust_es(tiny_bert, output, "--max_steps", "3", "--freeze", "embeddings", "lower_half", *HELD_OUT)
    initial, adjusted = load_file(tiny_bert / "model.safetensors"), load_file(output / "model.safetensors")
    frozen = [k for k in adjusted if k.startswith(("embeddings.", "encoder.layer.0."))]
    assert len(frozen) == 21  # 5 embedding tensors + 16 of one layer
    for key in frozen:
        assert torch.equal(adjusted[key], initial[key]), key
    trained = [k for k in adjusted if k.startswith("encoder.layer.1.")]
    assert all(not torch.equal(adjusted[k], initial[k]) for k in trained if k.endswith("weight"))
    trainer = trainers[0]
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    named = dict(trainer.model.named_parameters())
    assert not any(id(named[k]) in in_optimizer for k in frozen)
    assert all(id(named[k]) in in_optimizer for k in trained)
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["objective"]["freeze"] == ["embeddings", "lower_half"]
    assert config["frozen"]["layers"] == [0] and config["frozen"]["embeddings"] is True
    assert 0 < config["frozen"]["frozen_parameters"] < config["frozen"]["total_parameters"]
    card = (output / "README.md").read_text()
    assert "Frozen during the adjustment: the embeddings and layer 0 of 2." in card
    assert json.loads((output / "run.json").read_text())["settings"]["freeze"] == ["embeddings", "lower_half"]


def test_two_processes_with_frozen_layers_equal_one_process(tiny_bert, tmp_path):
    """DDP with frozen parameters (requires_grad off, so outside its reducer): one SGD step of 2 processes × 2
    pairs equals one process accumulating 2 × 2 pairs, and the frozen tensors are bit-identical."""
    model = tmp_path / "no-dropout"
    AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(
        model
    )
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(model)
    common = adjust_args(
        model,
        tmp_path / "unused",
        ["es"],
        True,
        "--do_train",
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "2",
        "--optim",
        "sgd",
        "--learning_rate",
        "0.1",
        "--lr_scheduler_type",
        "constant",
        "--warmup_steps",
        "0",
        "--train_sampling_strategy",
        "sequential",
        "--freeze",
        "upper_half",
    )
    common = [word for word in common if word != str(tmp_path / "unused")]
    common.remove("--output_dir")
    result = launch(TORCHRUN, "run_adjust.py", [*common, "--output_dir", str(tmp_path / "two")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_adjust.main([*common, "--output_dir", str(tmp_path / "one"), "--gradient_accumulation_steps", "2"])
    initial = load_file(model / "model.safetensors")
    two, one = load_file(tmp_path / "two" / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    for key, tensor in one.items():
        torch.testing.assert_close(two[key], tensor, rtol=1e-4, atol=1e-6, msg=key)
        if key.startswith("encoder.layer.1."):
            assert torch.equal(two[key], initial[key]) and torch.equal(tensor, initial[key]), key
    assert not torch.equal(one["encoder.layer.0.output.dense.weight"], initial["encoder.layer.0.output.dense.weight"])


ES_EN_DICTIONARY = """gato cat
casa house
perro dog
libro book
agua water
fría cold
ciudad city
hermano brother
madre mother
Sol sun
el the
new york nueva york
"""


def test_dictionary_aligner_links_writes_and_reuses_its_alignments(tiny_bert, tmp_path, caplog):
    dictionary = tmp_path / "es-en.txt"
    dictionary.write_text(ES_EN_DICTIONARY, encoding="utf-8")
    output = tmp_path / "out"
    args = adjust_args(tiny_bert, output, ["es"], False, "--do_train", "--max_steps", "1")
    args += ["--aligner", "dictionary", "--dictionary_files", f"es={dictionary}"]
    results = run_adjust.main(args)
    meta = json.loads((output / "alignments" / "es-en.json").read_text())
    assert meta["aligner"] == "dictionary" and meta["dictionary_sha256"]
    texts = (output / "alignments" / "es-en.txt").read_text().splitlines()
    links = dict(zip(texts, (output / "alignments" / "es-en.align").read_text().splitlines(), strict=True))
    # The dictionary's links, before any filter: el-the, gato-cat; "Sol sun" case-folded; nothing for "amarillo".
    assert links["el gato come pescado . ||| the cat eats fish ."] == "0-0 1-1"
    assert links["el sol es amarillo . ||| the sun is yellow ."] == "0-0 1-1"
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["data"]["es"]["dictionary"] == {
        "lines": 12,
        "entries": 11,
        "multi_word_skipped": 1,
        "repeated_skipped": 0,
    }
    assert config["data"]["es"]["train"]["links_used"] > 0
    assert results["dictionary_es_entries"] == 11 and results["dictionary_es_multi_word_skipped"] == 1
    all_results = json.loads((output / "all_results.json").read_text())
    assert all_results["dictionary_es_entries"] == 11
    assert "links from a dictionary of 11 entries" in (output / "README.md").read_text()
    caplog.clear()
    with caplog.at_level("INFO", logger="xladjust"):
        run_adjust.main(args + ["--overwrite_output_dir"])
    assert "reusing the dictionary alignments" in caplog.text


def test_pair_filter_keeps_the_best_half_and_leaves_the_held_out_pairs_alone(tiny_bert, tmp_path):
    plain, filtered = tmp_path / "plain", tmp_path / "filtered"
    adjust_es(tiny_bert, plain, "--max_steps", "1", *HELD_OUT)
    results = adjust_es(
        tiny_bert, filtered, "--max_steps", "1", *HELD_OUT, "--filter_model", str(tiny_bert), "--filter_keep", "0.5"
    )
    for name in ("es-en.txt", "es-en.align"):
        assert (filtered / "heldout" / name).read_text() == (plain / "heldout" / name).read_text()
    assert (filtered / "alignments" / "es-en.scores.json").exists()
    config = json.loads((filtered / "adjustment_config.json").read_text())
    assert config["data"]["es"]["filter"]["pairs_scored"] == 11 and config["data"]["es"]["filter"]["pairs_kept"] == 6
    assert config["data"]["es"]["train"]["pairs_dropped_low_score"] == 5
    assert results["filter_es_pairs_kept"] == 6 and "filter_es_score_p90" in results
    assert json.loads((filtered / "data_results.json").read_text())["filter_es_pairs_scored"] == 11
    assert json.loads((filtered / "run.json").read_text())["settings"]["filter_model"]["sha256"]
