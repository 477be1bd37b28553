"""End-to-end runs of run_ner.py --task_name pos on the CoNLL-U fixtures with a tiny encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

import run_ner
from tests.builders import POS, pos_args, read_jsonl
from xladjust.analysis.significance import STATISTICS, per_seed_scores
from xladjust.cli import run_main
from xladjust.study.results import score_records
from xladjust.tasks.metrics import word_accuracy
from xladjust.tasks.pos import UPOS_LABELS, read_pos_file

LANGUAGES = ["en", "es", "ru", "vi", "hi"]


def gold_tags(language: str) -> list[list[str]]:
    dataset, _ = read_pos_file(POS / f"test.{language}.conllu", language)
    return [[UPOS_LABELS[tag] for tag in tags] for tags in dataset["pos_tags"]]


@pytest.fixture(scope="module")
def pos_run(tiny_bert, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("pos")
    args = pos_args(tiny_bert, output, "--do_train", "--do_predict", "--max_steps", "4", "--label_all_tokens")
    return output, run_ner.main([*args, "--eval_languages", *LANGUAGES])


def test_outputs_word_accuracy_and_upos_head(pos_run):
    output, results = pos_run
    saved = json.loads((output / "all_results.json").read_text())
    for lang in LANGUAGES:
        assert 0 <= saved[f"predict_{lang}_accuracy"] <= 1 and saved[f"predict_{lang}_samples"] == 4
        assert f"predict_{lang}_f1" not in saved  # no entity scores for POS
    assert saved["predict_avg_accuracy"] == pytest.approx(
        np.mean([saved[f"predict_{lang}_accuracy"] for lang in LANGUAGES if lang != "en"])
    )
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(UPOS_LABELS)}
    assert json.loads((output / "run.json").read_text())["settings"]["task_name"] == "pos"  # a result-changing option


def test_predictions_rescore_as_word_accuracy_in_the_report(pos_run):
    output, results = pos_run
    for lang in LANGUAGES:
        path = output / "predictions" / f"predict_{lang}.jsonl"
        records = read_jsonl(path)
        assert [r["id"] for r in records] == [f"{lang}-{i}" for i in range(4)]
        assert [r["gold"] for r in records] == gold_tags(lang)
        assert {r["metric"] for r in records} == {"word_accuracy"}
        assert set(tag for r in records for tag in r["predicted"]) <= set(UPOS_LABELS)
        accuracy = word_accuracy([r["gold"] for r in records], [r["predicted"] for r in records])
        assert accuracy == pytest.approx(results[f"predict_{lang}_accuracy"])
        # What run_report.py reads: (correct, words) per sentence, the ratio of the sums, not entity F1.
        scores = score_records(records, "f1", path)
        assert (scores.statistic, scores.metric, scores.values.shape) == ("ratio", "accuracy", (4, 2))
        corpus = per_seed_scores(scores.values[:, None, :], STATISTICS[scores.statistic])[0]
        assert corpus == pytest.approx(accuracy)


def test_model_card_reports_xtreme_udpos_configs(pos_run):
    output, results = pos_run
    entries = {
        (r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type): r.metric_value
        for r in ModelCard.load(output / "README.md").data.eval_results
    }
    names = {"en": "English", "es": "Spanish", "ru": "Russian", "vi": "Vietnamese", "hi": "Hindi"}
    expected = {
        ("google/xtreme", f"udpos.{names[lang]}", "test", "accuracy"): results[f"predict_{lang}_accuracy"]
        for lang in LANGUAGES
    }
    assert entries == pytest.approx(expected)
    assert "pos" in (output / "README.md").read_text().split("---")[1]


def test_words_cut_off_by_max_seq_length_count_as_wrong(tiny_bert, tmp_path):
    output = tmp_path / "out"
    results = run_ner.main(
        pos_args(tiny_bert, output, "--do_predict", "--eval_languages", "es", "--max_seq_length", "8")
    )
    records = read_jsonl(output / "predictions" / "predict_es.jsonl")
    cut = sum(r["predicted"].count("_") for r in records)
    assert cut > 0 and all(len(r["predicted"]) == len(r["gold"]) for r in records)
    words = sum(len(r["gold"]) for r in records)
    assert results["predict_es_accuracy"] <= (words - cut) / words


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--eval_languages", "en", "sw"], "unknown language 'sw'; UD-POS (XTREME) languages: af, ar"),
        (["--eval_languages", "en", "--iob2_repair", "convert"], "--iob2_repair is for NER's IOB2 tags"),
        (["--eval_languages", "en", "--task_name", "chunking"], "chunking"),
    ],
    ids=["unknown-language", "iob2-repair", "unknown-task"],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, extra, message):
    args = pos_args(tiny_bert, tmp_path / "out", "--do_train", *extra)
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_ner.main(args))
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err
