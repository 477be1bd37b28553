"""End-to-end runs of run_adjust.main() on the fixtures with the tiny encoders."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

import run_adjust
from tests.builders import adjust_args
from tests.conftest import PARALLEL
from xladjust.cli import run_main
from xladjust.errors import InputError

LANGUAGES = ["es", "ru", "vi", "hi"]
STAT_KEYS = {
    "pairs_read",
    "pairs_used",
    "pairs_dropped_too_long",
    "pairs_dropped_low_score",
    "pairs_dropped_no_links",
    "links_used",
    "links_dropped_not_one_to_one",
    "links_dropped_identical",
    "links_dropped_truncated",
}


@pytest.fixture(scope="module")
def adjusted(tiny_bert, tmp_path_factory):
    """A joint four-language adjustment with held-out pairs, shared by several tests."""
    output = tmp_path_factory.mktemp("adjusted")
    results = run_adjust.main(
        adjust_args(
            tiny_bert,
            output,
            LANGUAGES,
            True,
            "--do_train",
            "--do_eval",
            "--validation_pairs",
            "3",
            "--num_train_epochs",
            "6",
        )
    )
    return output, results


def test_outputs_and_held_out_loss_goes_down(adjusted):
    output, results = adjusted
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "adjustment_config.json",
        "all_results.json",
        "trainer_state.json",
        "README.md",
    ):
        assert (output / name).is_file(), name
    saved = json.loads((output / "all_results.json").read_text())
    assert saved["eval_alignment_loss"] < 0.5 * saved["eval_before_alignment_loss"]
    for lang in LANGUAGES:
        assert saved[f"eval_{lang}_alignment_loss"] < saved[f"eval_before_{lang}_alignment_loss"]
        assert saved[f"eval_{lang}_pairs"] == 3
    assert results["eval_alignment_loss"] == saved["eval_alignment_loss"]
    held_out = (output / "heldout" / "hi-en.txt").read_text().splitlines()
    assert len(held_out) == 3 and len((output / "heldout" / "hi-en.align").read_text().splitlines()) == 3
    assert set(held_out) <= set((PARALLEL / "hi-en.txt").read_text().splitlines())


def test_adjustment_config_counts_every_language(adjusted):
    output, _ = adjusted
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["languages"] == LANGUAGES
    for lang in LANGUAGES:
        train = config["data"][lang]["train"]
        assert set(train) == STAT_KEYS
        assert train["pairs_read"] == 14 and train["pairs_used"] == 11
        assert train["links_used"] > 0
        # "." ↔ "." is dropped as identical; Hindi ends its sentences with "।"
        assert (train["links_dropped_identical"] > 0) == (lang != "hi")
    loss_settings = ("include_cls_sep", "layer", "regularization_weight", "word_pooling")
    assert {name: config["objective"][name] for name in loss_settings} == {
        "include_cls_sep": True,
        "layer": -1,
        "regularization_weight": 1.0,
        "word_pooling": "avg",
    }
    assert config["parallel_data"]["one_to_one"] is True


def test_log_history_has_both_loss_terms(adjusted):
    output, _ = adjusted
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    training_logs = [entry for entry in history if "loss" in entry]
    assert len(training_logs) >= 3
    for entry in training_logs:
        assert entry["loss"] == pytest.approx(entry["alignment_loss"] + entry["regularization_loss"], rel=1e-4)


def test_output_loads_with_every_auto_class_and_keeps_the_pooler(adjusted, tiny_bert):
    output, _ = adjusted
    assert AutoTokenizer.from_pretrained(output).is_fast
    AutoModel.from_pretrained(output)
    AutoModelForSequenceClassification.from_pretrained(output, num_labels=3)
    AutoModelForTokenClassification.from_pretrained(output, num_labels=7)
    AutoModelForQuestionAnswering.from_pretrained(output)
    before, after = load_file(tiny_bert / "model.safetensors"), load_file(output / "model.safetensors")
    for name in ("pooler.dense.weight", "pooler.dense.bias"):
        torch.testing.assert_close(before[name], after[name], rtol=0, atol=0)
    assert not torch.equal(
        before["encoder.layer.0.attention.self.query.weight"], after["encoder.layer.0.attention.self.query.weight"]
    )


def test_model_card_has_language_tags(adjusted):
    output, _ = adjusted
    card = (output / "README.md").read_text()
    front_matter = card.split("---")[1]
    for lang in ["en", *LANGUAGES]:
        assert f"- {lang}\n" in front_matter
    assert "eval_alignment_loss" in card


def test_eflomal_alignment_is_written_and_reused(tiny_xlmr, tmp_path, caplog):
    """No alignment file: eflomal aligns (here a SentencePiece-style encoder), the alignments are cached."""
    output = tmp_path / "out"
    args = adjust_args(tiny_xlmr, output, ["es"], False, "--do_train", "--max_steps", "2")
    run_adjust.main(args)
    cached = output / "alignments" / "es-en.align"
    assert cached.is_file() and len(cached.read_text().splitlines()) == 14
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["data"]["es"]["train"]["links_used"] > 0
    caplog.clear()
    with caplog.at_level("INFO", logger="xladjust"):
        run_adjust.main(args + ["--overwrite_output_dir"])
    assert "reusing the eflomal alignments" in caplog.text


def test_gradient_accumulation_matches_a_bigger_batch(tiny_bert, tmp_path):
    """Two micro-batches of 2 accumulated must give the update of one batch of 4 (equal links per pair)."""
    lines = [
        "gato come ||| cat eats",
        "perro duerme ||| dog sleeps",
        "casa grande ||| house big",
        "sol amarillo ||| sun yellow",
    ]
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "p.align").write_text("0-0 1-1\n" * 4)
    model = tmp_path / "no-dropout"  # dropout masks would differ between the two batchings
    AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(
        model
    )
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(model)
    weights = {}
    for name, batch, accumulation in (("big", "4", "1"), ("accumulated", "2", "2")):
        output = tmp_path / name
        run_adjust.main(
            [
                "--model_name_or_path",
                str(model),
                "--output_dir",
                str(output),
                "--languages",
                "es",
                "--parallel_files",
                str(tmp_path / "p.txt"),
                "--alignment_files",
                str(tmp_path / "p.align"),
                "--filter_identical",
                "false",
                "--do_train",
                "--max_steps",
                "1",
                "--per_device_train_batch_size",
                batch,
                "--gradient_accumulation_steps",
                accumulation,
                "--learning_rate",
                "1.0",
                "--lr_scheduler_type",
                "constant",
                "--warmup_steps",
                "0",
                "--train_sampling_strategy",
                "sequential",
                "--save_strategy",
                "no",
                "--optim",
                "sgd",
            ]  # plain SGD: Adam's first step is sign(g) and would amplify rounding noise
        )
        weights[name] = load_file(output / "model.safetensors")
        history = json.loads((output / "trainer_state.json").read_text())["log_history"]
        weights[name + "_loss"] = history[-1]["train_loss"]
    assert weights["big_loss"] == pytest.approx(weights["accumulated_loss"], rel=1e-3)
    moved = 0
    for key, tensor in weights["big"].items():
        torch.testing.assert_close(tensor, weights["accumulated"][key], rtol=1e-4, atol=1e-5)
        moved += not torch.equal(tensor, load_file(tiny_bert / "model.safetensors")[key])
    assert moved > 10


def test_existing_output_dir_is_refused_without_the_flag(tiny_bert, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not empty; pass --overwrite_output_dir"):
        run_adjust.main(adjust_args(tiny_bert, output, ["es"], True, "--do_train", "--max_steps", "1"))
    run_adjust.main(
        adjust_args(tiny_bert, output, ["es"], True, "--do_train", "--max_steps", "1", "--overwrite_output_dir")
    )
    assert (output / "model.safetensors").is_file() and (output / "notes.txt").read_text() == "mine"


def test_push_to_hub_uses_the_hub_client(tiny_bert, tmp_path, monkeypatch):
    uploads = []

    class FakeHub:
        def create_repo(self, repo_id, **kwargs):
            return type("RepoUrl", (), {"repo_id": f"someone/{repo_id}"})()

        def upload_folder(self, repo_id, folder_path, **kwargs):
            uploads.append(
                (
                    repo_id,
                    sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()),
                    (__import__("pathlib").Path(folder_path) / "README.md").read_text(),
                )
            )
            return "https://example.invalid/commit"

    import transformers.trainer

    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: FakeHub())
    output = tmp_path / "adj-es"
    run_adjust.main(
        adjust_args(
            tiny_bert,
            output,
            ["es"],
            True,
            "--do_train",
            "--max_steps",
            "1",
            "--push_to_hub",
            "--hub_model_id",
            "adj-es",
        )
    )
    assert uploads, "nothing was pushed"
    repo, files, card = uploads[-1]
    assert repo == "someone/adj-es"
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "adjustment_config.json"} <= set(files)
    assert "- es\n" in card.split("---")[1]


def test_json_configuration_file(tiny_bert, tmp_path):
    output = tmp_path / "out"
    config = {
        "model_name_or_path": str(tiny_bert),
        "output_dir": str(output),
        "languages": ["vi"],
        "parallel_files": [str(PARALLEL / "vi-en.txt")],
        "alignment_files": [str(PARALLEL / "vi-en.align")],
        "do_train": True,
        "max_steps": 1,
        "per_device_train_batch_size": 4,
        "word_pooling": "first",
        "regularization_weight": 0.5,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    run_adjust.main([str(tmp_path / "config.json")])
    saved = json.loads((output / "adjustment_config.json").read_text())
    assert saved["objective"]["word_pooling"] == "first" and saved["objective"]["regularization_weight"] == 0.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--word_pooling", "max"], "--word-pooling: invalid choice: 'max'"),
        (["--alignment_files", "a.align", "b.align"], "--alignment_files has 2 values for 1 languages"),
        (["--parallel_files", "missing.txt"], "missing.txt: file not found"),
    ],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, extra, message):
    args = adjust_args(tiny_bert, tmp_path / "out", ["es"], False, "--do_train", *extra)
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_adjust.main(args))
    captured = capsys.readouterr()
    assert info.value.code == 2
    assert message in captured.err and "Traceback" not in captured.err


def test_bad_alignment_line_stops_before_training(tiny_bert, tmp_path, capsys):
    (tmp_path / "p.txt").write_text("uno dos ||| one two\ntres ||| three\n")
    (tmp_path / "p.align").write_text("0-0 1-1\n0-3\n")
    args = [
        "--model_name_or_path",
        str(tiny_bert),
        "--output_dir",
        str(tmp_path / "out"),
        "--languages",
        "es",
        "--parallel_files",
        str(tmp_path / "p.txt"),
        "--alignment_files",
        str(tmp_path / "p.align"),
        "--do_train",
    ]
    with pytest.raises(SystemExit):
        run_main(lambda: run_adjust.main(args))
    err = capsys.readouterr().err
    assert f"{tmp_path / 'p.align'}:2: link 0-3 is out of range" in err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_held_out_evaluation_does_not_change_training(tiny_bert, tmp_path):
    """Evaluating draws DataLoader seeds from the global RNG; it must not shift the training data order."""
    weights = []
    for evaluate in ([], ["--do_eval"]):
        output = tmp_path / f"eval{len(evaluate)}"
        run_adjust.main(
            adjust_args(
                tiny_bert, output, ["es"], True, "--do_train", "--max_steps", "4", "--validation_pairs", "3", *evaluate
            )
        )
        weights.append(load_file(output / "model.safetensors"))
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
