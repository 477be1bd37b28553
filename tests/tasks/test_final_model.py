"""Checkpoint averaging and English-only model selection (--average_checkpoints, --select_on) against naive
computations, end to end through run_xnli, run_ner and run_qa."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import run_ner
import run_qa
import run_xnli
from tests.builders import NER, NLI, ner_args, xnli_args
from tests.tiny_models import FIXTURES
from xladjust.cli import run_main
from xladjust.errors import InputError
from xladjust.tasks.arguments import Averaging
from xladjust.tasks.final_model import average_state_dicts, read_weights

STEPS = ["--do_train", "--max_steps", "5", "--learning_rate", "1e-2", "--logging_steps", "1"]
SAVE_EVERY_2 = ["--save_strategy", "steps", "--save_steps", "2"]


def naive_mean(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([s[key].double() for s in states]).mean(0).to(states[0][key].dtype) for key in states[0]}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], exact: bool = False) -> None:
    assert set(a) == set(b)
    for key in a:
        tolerance = {"rtol": 0, "atol": 0} if exact else {"rtol": 1e-5, "atol": 1e-6}
        torch.testing.assert_close(a[key], b[key], **tolerance, msg=key)


# ---------------------------------------------------------------------------------------------------------------
# Units


def test_averaged_weights_equal_the_mean_of_the_state_dicts():
    generator = torch.Generator().manual_seed(0)
    states = [
        {
            "w": torch.randn(3, 4, generator=generator),
            "h": torch.randn(5, generator=generator).half(),
            "ids": torch.arange(4) + i,  # an integer buffer: the last one's
        }
        for i in range(3)
    ]
    average = average_state_dicts(iter(states))
    torch.testing.assert_close(average["w"], naive_mean(states)["w"], rtol=1e-6, atol=1e-7)
    assert average["h"].dtype == torch.float16
    torch.testing.assert_close(average["h"], naive_mean(states)["h"], rtol=1e-3, atol=1e-3)
    assert torch.equal(average["ids"], states[-1]["ids"])


def test_sharded_checkpoints_read_like_single_files(tmp_path):
    weights = {"a.weight": torch.ones(2, 2), "b.bias": torch.zeros(3)}
    save_file(weights, str(tmp_path / "model.safetensors"))
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    save_file({"a.weight": weights["a.weight"]}, str(sharded / "model-00001-of-00002.safetensors"))
    save_file({"b.bias": weights["b.bias"]}, str(sharded / "model-00002-of-00002.safetensors"))
    index = {
        "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.bias": "model-00002-of-00002.safetensors"}
    }
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    assert_same_weights(read_weights(str(tmp_path)), read_weights(str(sharded)), exact=True)
    with pytest.raises(InputError, match="has no model.safetensors"):
        read_weights(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--average_checkpoints", "last:5"], "expected last_k:K .* or every:N"),
        (["--average_checkpoints", "every:0"], "expected last_k:K"),
        (["--average_checkpoints", "last_k:3"], "averages saved checkpoints: set --save_strategy"),
        (
            ["--average_checkpoints", "last_k:3", *SAVE_EVERY_2, "--save_total_limit", "2"],
            "needs --save_total_limit of at least 3",
        ),
        (["--select_on", "english_dev"], "has nothing to choose from"),
        (["--select_on", "target_dev"], "invalid choice"),
    ],
)
def test_bad_options_are_refused_before_any_work(tiny_bert, tmp_path, capsys, options, message):
    args = xnli_args(tiny_bert, tmp_path / "out", *STEPS, *options)  # a repeated flag: the last one counts
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_xnli.main(args))
    assert info.value.code == 2 and re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    assert str(Averaging.parse("every:500")) == "every:500"


# ---------------------------------------------------------------------------------------------------------------
# End to end


def checkpoint_weights(output: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(output / f"checkpoint-{step}" / "model.safetensors")


def test_last_k_averages_the_last_saved_checkpoints(tiny_bert, tmp_path):
    output = tmp_path / "out"
    results = run_xnli.main(
        xnli_args(tiny_bert, output, *STEPS, "--average_checkpoints", "last_k:2", *SAVE_EVERY_2, "--do_eval")
    )
    # Checkpoints 2, 4 and the last step's, 5: the last two averaged.
    expected = naive_mean([checkpoint_weights(output, 4), checkpoint_weights(output, 5)])
    assert_same_weights(load_file(output / "model.safetensors"), expected)
    assert results["final_model"] == "average" and results["final_model_averaged"] == 2
    record = json.loads((output / "final_model.json").read_text())
    assert record["averaged_steps"] == [4, 5] and record["chosen"] == "average" and record["candidates"] == []
    all_results = json.loads((output / "all_results.json").read_text())
    assert all_results["final_model"] == "average" and "eval_es_accuracy" in all_results
    card = (output / "README.md").read_text()
    assert "Final model: the average of 2 checkpoints (Schmidt et al. 2023)." in card
    settings = json.loads((output / "run.json").read_text())["settings"]
    assert settings["average_checkpoints"] == "last_k:2" and settings["save_steps"] == 2


def test_every_n_snapshots_equal_the_average_of_checkpoints_at_the_same_steps(tiny_bert, tmp_path):
    """every:2 with --save_strategy no keeps snapshots at steps 2, 4 and the last, 5, in memory: their average is
    the average of the checkpoints a plain run saves at those steps."""
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    run_xnli.main(xnli_args(tiny_bert, plain, *STEPS, *SAVE_EVERY_2))
    results = run_xnli.main(xnli_args(tiny_bert, averaged, *STEPS, "--average_checkpoints", "every:2"))
    expected = naive_mean([checkpoint_weights(plain, step) for step in (2, 4, 5)])
    assert_same_weights(load_file(averaged / "model.safetensors"), expected)
    assert results["final_model_averaged"] == 3 and not list(averaged.glob("checkpoint-*"))
    assert json.loads((averaged / "final_model.json").read_text())["averaged_steps"] == [2, 4, 5]


def english_dev_args(tmp_path: Path) -> list[str]:
    """English validation from its file; the Spanish one a path that cannot be opened; Spanish is tested only."""
    missing = tmp_path / "never-read.es.jsonl"
    return [
        "--validation_files",
        f"en={NLI / 'dev.en.jsonl'}",
        f"es={missing}",
        "--test_files",
        str(NLI / "dev.{lang}.jsonl"),
        "--do_predict",
        "--eval_languages",
        "en",
        "es",
    ]


def test_english_only_selection_never_reads_a_target_language_file(tiny_bert, tmp_path):
    output = tmp_path / "out"
    select = ["--select_on", "english_dev", *english_dev_args(tmp_path)]
    results = run_xnli.main(xnli_args(tiny_bert, output, *STEPS, *SAVE_EVERY_2, *select))
    record = json.loads((output / "final_model.json").read_text())
    assert record["metric"] == "en_accuracy" and record["select_on"] == "english_dev"
    assert [c["name"] for c in record["candidates"]] == ["last", "checkpoint-2", "checkpoint-4"]
    best = max(record["candidates"], key=lambda c: (c["score"], c["step"]))
    assert record["chosen"] == best["name"] and results["final_model"] == best["name"]
    assert results["final_model_selection_score"] == best["score"]
    chosen = checkpoint_weights(output, 5 if best["name"] == "last" else best["step"])
    assert_same_weights(load_file(output / "model.safetensors"), chosen, exact=True)
    assert "predict_es_accuracy" in results and "eval_es_accuracy" not in results
    assert "chosen on the English validation set only" in (output / "README.md").read_text()


def test_snapshot_scores_equal_checkpoint_scores_and_leave_the_training_alone(tiny_bert, tmp_path):
    """Scoring snapshots between steps neither changes the training (the losses of a plain run) nor differs from
    scoring the checkpoints of the same steps afterwards."""
    plain, snapshots, saved = tmp_path / "plain", tmp_path / "snapshots", tmp_path / "saved"
    select = ["--select_on", "english_dev", "--validation_files", f"en={NLI / 'dev.en.jsonl'}", "--eval_languages"]
    select += ["en", "es"]
    run_xnli.main(xnli_args(tiny_bert, plain, *STEPS))
    run_xnli.main(xnli_args(tiny_bert, snapshots, *STEPS, *select, "--average_checkpoints", "every:2"))
    run_xnli.main(xnli_args(tiny_bert, saved, *STEPS, *select, *SAVE_EVERY_2))

    def losses(output: Path) -> list[float]:
        history = json.loads((output / "trainer_state.json").read_text())["log_history"]
        return [e["loss"] for e in history if "loss" in e]

    assert losses(snapshots) == losses(plain) == losses(saved)
    by_step = {}
    for output in (snapshots, saved):
        for candidate in json.loads((output / "final_model.json").read_text())["candidates"]:
            if candidate["name"] != "average":
                by_step.setdefault(candidate["step"], []).append(candidate["score"])
    assert sorted(by_step) == [2, 4, 5]
    for step, scores in by_step.items():
        assert scores[0] == pytest.approx(scores[1], abs=1e-9), step
    names = [c["name"] for c in json.loads((snapshots / "final_model.json").read_text())["candidates"]]
    assert names == ["snapshot-2", "snapshot-4", "last", "average"]


def test_ner_chooses_on_english_f1(tiny_bert, tmp_path):
    output = tmp_path / "out"
    results = run_ner.main(
        ner_args(
            tiny_bert,
            output,
            *STEPS,
            "--do_predict",
            "--eval_languages",
            "en",
            "es",
            "--validation_files",
            f"en={NER / 'test.en.conll'}",
            "--select_on",
            "english_dev",
            "--average_checkpoints",
            "every:2",
        )
    )
    record = json.loads((output / "final_model.json").read_text())
    assert record["metric"] == "en_f1" and len(record["candidates"]) == 4
    assert results["final_model"] in {c["name"] for c in record["candidates"]} and "predict_es_f1" in results


def test_qa_chooses_on_english_validation_questions_never_on_the_test_sets(tiny_bert, tmp_path, monkeypatch):
    qa = FIXTURES / "qa"
    output = tmp_path / "out"
    args = [
        "--model_name_or_path",
        str(tiny_bert),
        "--output_dir",
        str(output),
        "--train_file",
        str(qa / "train.en.json"),
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
        *STEPS,
        "--do_eval",
        "--eval_sets",
        f"xquad.es={qa / 'dev.es.json'}",
        f"en={qa / 'train.en.json'}",  # an English test set: reported, never chosen on
        "--selection_file",
        str(qa / "train.en.json"),
        "--select_on",
        "english_dev",
        "--average_checkpoints",
        "every:3",
    ]
    results = run_qa.main(args)
    record = json.loads((output / "final_model.json").read_text())
    assert record["metric"] == "en_f1" and [c["name"] for c in record["candidates"]] == [
        "snapshot-3",
        "last",
        "average",
    ]
    chosen = next(c for c in record["candidates"] if c["name"] == record["chosen"])
    assert results["final_model_selection_score"] == chosen["score"] and "eval_xquad.es_f1" in results
    # The choice is scored on the selection questions alone: the English test set is not among what it reads.
    scored = []
    original = run_qa.decode_qa
    monkeypatch.setattr(run_qa, "decode_qa", lambda s, *a, **k: scored.append(s.spec.name) or original(s, *a, **k))
    run_qa.main([*args, "--overwrite_output_dir"])
    assert set(scored[:-2]) == {"squad.en"} and sorted(scored[-2:]) == ["en", "xquad.es"]
    # Without --selection_file the default is SQuAD's validation split on the Hub (offline here: refused).
    without = [*args[: args.index("--selection_file")], *args[args.index("--select_on") :], "--overwrite_output_dir"]
    with pytest.raises(InputError, match="QA validation data rajpurkar/squad"):
        run_qa.main(without)
