"""End-to-end runs of run_ner.main() on the NER fixtures with tiny encoders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

import run_ner
from tests.builders import CONTINUAL, ner_args, read_jsonl
from tests.tiny_models import FIXTURES
from xladjust.cli import run_main
from xladjust.tasks.metrics import ner_scores
from xladjust.tasks.ner import NER_LABELS, read_ner_file

NER = FIXTURES / "ner"
LANGUAGES = ["en", "es", "ru", "vi", "hi"]


def gold_tags(language: str) -> list[list[str]]:
    dataset, _ = read_ner_file(NER / f"test.{language}.conll", language)
    return [[NER_LABELS[tag] for tag in tags] for tags in dataset["ner_tags"]]


@pytest.fixture(scope="module")
def base_run(tiny_bert, tmp_path_factory) -> tuple[Path, dict]:
    """The base tiny encoder trained long enough to find entities; test sets of five languages."""
    output = tmp_path_factory.mktemp("ner-base")
    results = run_ner.main(
        ner_args(
            tiny_bert,
            output,
            "--do_train",
            "--do_predict",
            "--num_train_epochs",
            "20",
            "--learning_rate",
            "3e-3",
            "--eval_languages",
            *LANGUAGES,
        )
    )
    return output, results


def test_outputs_metrics_and_label_mapping(base_run):
    output, results = base_run
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "all_results.json",
        "predict_results.json",
        "train_results.json",
        "trainer_state.json",
        "README.md",
    ):
        assert (output / name).is_file(), name
    saved = json.loads((output / "all_results.json").read_text())
    for lang in LANGUAGES:
        for key in ("f1", "precision", "recall", "accuracy", "PER_f1", "ORG_precision", "LOC_recall", "PER_support"):
            assert f"predict_{lang}_{key}" in saved, (lang, key)
        assert saved[f"predict_{lang}_samples"] == 20
    for key in ("f1", "precision", "recall"):
        expected = np.mean([saved[f"predict_{lang}_{key}"] for lang in LANGUAGES if lang != "en"])
        assert saved[f"predict_avg_{key}"] == pytest.approx(expected)
    assert results["predict_es_f1"] == saved["predict_es_f1"]
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(NER_LABELS)}
    assert config["label2id"] == {name: i for i, name in enumerate(NER_LABELS)}
    front_matter = (output / "README.md").read_text().split("---")[1]
    assert all(f"- {lang}\n" in front_matter for lang in LANGUAGES)
    entries = {
        (r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type): r.metric_value
        for r in ModelCard.load(output / "README.md").data.eval_results
    }
    expected = {
        ("unimelb-nlp/wikiann", lang, "test", key): results[f"predict_{lang}_{key}"]
        for lang in LANGUAGES
        for key in ("f1", "precision", "recall")
    }
    assert entries == pytest.approx(expected)


def test_predictions_files_rescore_to_the_reported_metrics(base_run):
    output, results = base_run
    for lang in LANGUAGES:
        records = read_jsonl(output / "predictions" / f"predict_{lang}.jsonl")
        assert [r["id"] for r in records] == [f"{lang}-{i}" for i in range(20)]
        assert [r["gold"] for r in records] == gold_tags(lang)
        assert all(len(r["predicted"]) == len(r["gold"]) for r in records)
        rescored = ner_scores([r["gold"] for r in records], [r["predicted"] for r in records])
        assert rescored["f1"] == pytest.approx(results[f"predict_{lang}_f1"])


def test_training_on_english_finds_entities(base_run):
    _, results = base_run
    # Over 15 vocabularies (the tokenizer trainer is not deterministic) and seeds: F1 0.53-0.65, accuracy 0.84-0.89.
    all_o = np.mean([tag == "O" for tags in gold_tags("en") for tag in tags])  # 0.62
    assert results["predict_en_f1"] > 0.3
    assert results["predict_en_accuracy"] > all_o + 0.15


def test_adjusted_encoder_with_continual_learning(adjusted_es, tmp_path):
    output = tmp_path / "out"
    results = run_ner.main(
        ner_args(
            adjusted_es,
            output,
            "--do_train",
            "--do_eval",
            "--max_steps",
            "3",
            "--logging_steps",
            "1",
            "--gradient_accumulation_steps",
            "2",
            "--label_all_tokens",
            "--eval_languages",
            "en",
            "es",
            "--validation_files",
            f"en={NER / 'test.en.conll'}",
            f"es={NER / 'test.es.conll'}",
            *CONTINUAL,
        )
    )
    assert {"eval_en_f1", "eval_es_f1", "eval_avg_f1", "eval_es_PER_f1"} <= set(results)
    assert len(read_jsonl(output / "predictions" / "eval_es.jsonl")) == 20
    training_logs = [e for e in json.loads((output / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(training_logs) == 3
    for entry in training_logs:
        assert {"task_loss", "alignment_loss", "regularization_loss"} <= set(entry)
        combined = entry["task_loss"] + 0.01 * entry["alignment_loss"] + entry["regularization_loss"]
        assert entry["loss"] == pytest.approx(combined, rel=1e-4)


def test_words_cut_off_by_max_seq_length_are_scored_as_o(tiny_bert, tmp_path):
    output = tmp_path / "out"
    results = run_ner.main(
        ner_args(tiny_bert, output, "--do_predict", "--eval_languages", "en", "--max_seq_length", "8")
    )
    records = read_jsonl(output / "predictions" / "predict_en.jsonl")
    assert [r["gold"] for r in records] == gold_tags("en")
    # 8 subwords: CLS, SEP and at most 6 word pieces; every later word is predicted O.
    assert all(len(r["predicted"]) == len(r["gold"]) and set(r["predicted"][6:]) <= {"O"} for r in records)
    assert results["predict_en_support"] == 40


def test_json_configuration_file(tiny_bert, tmp_path):
    config = {
        "model_name_or_path": str(tiny_bert),
        "output_dir": str(tmp_path / "out"),
        "do_predict": True,
        "eval_languages": ["vi"],
        "test_files": [f"vi={NER / 'test.vi.conll'}"],
        "max_eval_samples": 5,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    results = run_ner.main([str(tmp_path / "config.json")])
    assert results["predict_vi_samples"] == 5 and "predict_avg_f1" in results


@pytest.mark.parametrize(
    ("train_lines", "extra", "message"),
    [
        (None, ["--eval_languages", "en", "xx"], "unknown language 'xx'; WikiANN languages: ace, af"),
        (
            '{"tokens": ["Anna", "sings"], "ner_tags": ["O", "I-PER"]}',
            [],
            "train.jsonl:1: invalid IOB2: I-PER at token 2 follows O",
        ),
        ('{"tokens": ["Anna"], "ner_tags": ["B-MISC"]}', [], "train.jsonl:1: unknown tag 'B-MISC'"),
        ('{"words": ["Anna"], "ner_tags": ["B-PER"]}', [], "train.jsonl:1: missing required field(s) tokens"),
        (
            None,
            ["--test_files", str(NER / "test.en.conll"), "--eval_languages", "en", "es"],
            "test.en.conll: a file of tagged sentences holds one language",
        ),
    ],
    ids=["unknown-language", "invalid-iob2", "unknown-tag", "missing-field", "shared-file"],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, train_lines, extra, message):
    args = ner_args(tiny_bert, tmp_path / "out", "--do_train", "--do_predict", *extra)
    if train_lines is not None:
        (tmp_path / "train.jsonl").write_text(train_lines + "\n")
        args += ["--train_file", str(tmp_path / "train.jsonl")]
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_ner.main(args))
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert message in err and "Traceback" not in err


def test_a_tag_missing_from_the_training_data_is_warned_about_and_recorded(tiny_bert, tmp_path, caplog):
    sentences = [
        {"tokens": ["Anna", "Berg", "sings", "."], "ner_tags": ["B-PER", "I-PER", "O", "O"]},
        {"tokens": ["Acme", "Corp", "pays", "."], "ner_tags": ["B-ORG", "I-ORG", "O", "O"]},
    ] * 10  # no location anywhere
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sentences))
    args = ner_args(tiny_bert, tmp_path / "out", "--do_train", "--max_steps", "1", "--eval_languages", "en")
    with caplog.at_level("WARNING"):
        run_ner.main(args + ["--train_file", str(tmp_path / "train.jsonl")])
    saved = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert saved["train_label_counts"] == {
        "O": 40,
        "B-PER": 10,
        "I-PER": 10,
        "B-ORG": 10,
        "I-ORG": 10,
        "B-LOC": 0,
        "I-LOC": 0,
    }
    assert saved["train_labels_rare"] == ["B-LOC", "I-LOC"]
    [warning] = [r.getMessage() for r in caplog.records if "TRAINING LABELS" in r.getMessage()]
    assert "B-LOC, I-LOC absent" in warning and "80 tags" in warning and "All 20 training rows were used" in warning
