"""End-to-end runs of run_xnli.py --task_name pawsx|sib200 on fixtures laid out like the official files."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

import run_xnli
from tests.builders import pawsx_args, read_jsonl, sib200_args
from xladjust.cli import run_main
from xladjust.study.results import score_records
from xladjust.tasks.pawsx import PAWSX_LABELS
from xladjust.tasks.sib200 import SIB200_LABELS


def card_entries(output) -> dict:
    return {
        (r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type): r.metric_value
        for r in ModelCard.load(output / "README.md").data.eval_results
    }


def test_pawsx_pairs_quirks_dropped_and_accuracy(tiny_bert, tmp_path):
    output = tmp_path / "pawsx"
    args = pawsx_args(tiny_bert, output, "--do_train", "--do_predict", "--max_steps", "2")
    results = run_xnli.main([*args, "--eval_languages", "en", "es", "de"])
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "not_paraphrase", "1": "paraphrase"}
    # es/test_2k.tsv has 6 rows: the "NS" row and the row without a label are not scored.
    assert [results[f"predict_{lang}_samples"] for lang in ("en", "es", "de")] == [4, 4, 4]
    for lang in ("en", "es", "de"):
        path = output / "predictions" / f"predict_{lang}.jsonl"
        records = read_jsonl(path)
        assert [r["gold"] for r in records] == ["not_paraphrase", "paraphrase", "not_paraphrase", "paraphrase"]
        assert {r["predicted"] for r in records} <= set(PAWSX_LABELS)
        scores = score_records(records, "f1", path)
        assert scores.metric == "accuracy" and scores.values.mean() == pytest.approx(
            results[f"predict_{lang}_accuracy"]
        )
    assert results["predict_avg_accuracy"] == pytest.approx(
        (results["predict_es_accuracy"] + results["predict_de_accuracy"]) / 2
    )
    expected = {
        ("google-research-datasets/paws-x", lang, "test", "accuracy"): results[f"predict_{lang}_accuracy"]
        for lang in ("en", "es", "de")
    }
    assert card_entries(output) == pytest.approx(expected)


def test_sib200_single_sentences_with_flores_configs(tiny_bert, tmp_path):
    output = tmp_path / "sib200"
    results = run_xnli.main(
        sib200_args(tiny_bert, output, ("en", "es", "ru"), "--do_train", "--do_predict", "--max_steps", "2")
    )
    config = json.loads((output / "config.json").read_text())
    assert list(config["id2label"].values()) == SIB200_LABELS
    for lang in ("en", "es", "ru"):
        records = read_jsonl(output / "predictions" / f"predict_{lang}.jsonl")
        assert [r["gold"] for r in records] == SIB200_LABELS  # one test sentence per topic, in topic order
        hits = sum(r["gold"] == r["predicted"] for r in records) / len(records)
        assert hits == pytest.approx(results[f"predict_{lang}_accuracy"])
    codes = {"en": "eng_Latn", "es": "spa_Latn", "ru": "rus_Cyrl"}
    expected = {
        ("Davlan/sib200", codes[lang], "test", "accuracy"): results[f"predict_{lang}_accuracy"] for lang in codes
    }
    assert card_entries(output) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task_name", "pawsx", "--eval_languages", "en", "ru"], "unknown language 'ru'; PAWS-X languages"),
        (["--task_name", "sib200", "--eval_languages", "en", "spa_Latn"], "write 'es' for spa_Latn in SIB-200"),
        (["--task_name", "pawsx", "--train_dataset", "multi_nli"], "--train_dataset is for XNLI"),
    ],
    ids=["pawsx-language", "flores-code-of-an-iso-language", "nli-train-dataset"],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, args, message):
    argv = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path / "out"), "--do_train", *args]
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_xnli.main(argv))
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err
