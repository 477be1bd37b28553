"""End-to-end runs of run_belebele.py: the assembled training set's tsv, Belebele's jsonl files, continual learning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from huggingface_hub import ModelCard

import run_belebele
from tests.builders import BELEBELE, CONTINUAL, belebele_args, read_jsonl
from xladjust.cli import run_main
from xladjust.study.results import score_records
from xladjust.tasks.multiple_choice import ANSWER_LABELS


@pytest.fixture(scope="module")
def belebele_run(tiny_bert, tmp_path_factory):
    output = tmp_path_factory.mktemp("belebele")
    return output, run_belebele.main(
        belebele_args(tiny_bert, output, ("en", "es", "ru"), "--do_train", "--do_predict", "--max_steps", "2")
    )


def test_predictions_one_based_answers_and_accuracy(belebele_run):
    output, results = belebele_run
    for lang in ("en", "es", "ru"):
        path = output / "predictions" / f"predict_{lang}.jsonl"
        records = read_jsonl(path)
        assert [r["gold"] for r in records] == [2, 3, 1, 4]  # correct_answer_num of the fixtures, one-based
        assert {r["predicted"] for r in records} <= {1, 2, 3, 4}
        assert score_records(records, "f1", path).values.mean() == pytest.approx(results[f"predict_{lang}_accuracy"])
    assert results["predict_avg_accuracy"] == pytest.approx(
        np.mean([results["predict_es_accuracy"], results["predict_ru_accuracy"]])
    )
    # Every answer position is used by the training questions: no label-balance warning, the counts recorded.
    assert results["train_label_counts"] == dict(zip(ANSWER_LABELS, [2, 2, 2, 2], strict=True))
    assert results["train_labels_rare"] == []
    # Two of the ten training rows are the assembled set's "dev" rows: eight questions trained on.
    assert "train (en): " in (output / "README.md").read_text() and "8 examples" in (output / "README.md").read_text()


def test_model_card_and_head(belebele_run):
    output, results = belebele_run
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["BertForMultipleChoice"]
    assert config["id2label"] == {"0": "1", "1": "2", "2": "3", "3": "4"}
    entries = {
        (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split): r.metric_value
        for r in ModelCard.load(output / "README.md").data.eval_results
    }
    codes = {"en": "eng_Latn", "es": "spa_Latn", "ru": "rus_Cyrl"}
    expected = {
        ("multiple-choice", "facebook/belebele", codes[lang], "test"): results[f"predict_{lang}_accuracy"]
        for lang in codes
    }
    assert entries == pytest.approx(expected)


def test_a_finished_run_is_a_no_op(belebele_run, tiny_bert):
    output, results = belebele_run
    args = belebele_args(tiny_bert, output, ("en", "es", "ru"), "--do_train", "--do_predict", "--max_steps", "2")
    assert run_belebele.main(args) == results


def test_continual_learning_adds_the_alignment_loss(adjusted_es, tmp_path):
    output = tmp_path / "out"
    args = belebele_args(adjusted_es, output, ("en", "es"), "--do_train", "--do_predict", "--max_steps", "2")
    run_belebele.main([*args, "--logging_steps", "1", *CONTINUAL])
    logs = [e for e in json.loads((output / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(logs) == 2
    for entry in logs:
        combined = entry["task_loss"] + 0.01 * entry["alignment_loss"] + entry["regularization_loss"]
        assert entry["loss"] == pytest.approx(combined, rel=1e-4) and entry["alignment_loss"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--do_train"], "training needs --train_file or --train_dataset"),
        (["--do_eval", "--eval_languages", "es"], "Belebele has only a test split on the Hub"),
        (["--do_predict", "--eval_languages", "spanish"], "unknown language 'spanish' for Belebele"),
    ],
    ids=["no-training-data", "no-validation-split", "unknown-language"],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, extra, message):
    argv = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path / "out")]
    argv += extra
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_belebele.main(argv))
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err


def test_checkpoint_averaging_and_english_only_selection(tiny_bert, tmp_path):
    """The final-model options of every task script: snapshots averaged, and the choice made on an English
    validation file only (Belebele itself has a test split only)."""
    output = tmp_path / "out"
    english_dev = str(BELEBELE / "eng_Latn.jsonl")
    results = run_belebele.main(
        belebele_args(tiny_bert, output, ("en", "es"), "--do_train", "--do_eval", "--max_steps", "2")
        + ["--validation_files", f"en={english_dev}", f"es={english_dev}"]
        + ["--average_checkpoints", "every:1", "--select_on", "english_dev"]
    )
    record = json.loads((output / "final_model.json").read_text())
    assert results["final_model"] in {"average", "last", "snapshot-1", "snapshot-2"}
    assert results["final_model_averaged"] == 2 and record["chosen"] == results["final_model"]
    assert record["metric"] == "en_accuracy" and {c["name"] for c in record["candidates"]} >= {"average", "last"}
    with pytest.raises(SystemExit) as info:  # no English validation file: Belebele's Hub copy is a test set
        run_main(
            lambda: run_belebele.main(
                belebele_args(tiny_bert, tmp_path / "hub", ("en",), "--do_train", "--do_predict", "--max_steps", "1")
                + ["--select_on", "english_dev"]
            )
        )
    assert info.value.code == 2
