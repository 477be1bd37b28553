"""End-to-end runs of run_qa.main() on the QA fixtures with tiny encoders."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

import run_qa
from tests.builders import CONTINUAL, read_jsonl, save_word_level_bert
from tests.tiny_models import FIXTURES
from xladjust.cli import run_main
from xladjust.errors import InputError
from xladjust.tasks.qa.data import read_qa_file
from xladjust.tasks.qa.metrics import f1 as answer_f1

QA = FIXTURES / "qa"
SCORE_KEYS = ("f1", "exact_match", "squad_f1", "squad_exact_match")
TRAIN = QA / "train.en.json"
# Metric name -> eval-set entry: every benchmark pattern with a local fixture, an MLQA cross-lingual config included.
EVAL_SETS = {
    "xquad.es": f"xquad.es={QA / 'dev.es.json'}",
    "mlqa.vi.en": f"mlqa.vi.en={QA / 'dev.vi.json'}",
    "tydiqa.ru": f"tydiqa.ru={QA / 'dev.ru.json'}",
    "xquad.hi": f"xquad.hi={QA / 'dev.hi.json'}",
    "en": f"en={TRAIN}",
}


def qa_args(model: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output),
        "--train_file",
        str(TRAIN),
        "--max_seq_length",
        "128",
        "--doc_stride",
        "64",
        "--per_device_train_batch_size",
        "8",
        "--per_device_eval_batch_size",
        "32",
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


@pytest.fixture(scope="module")
def base_run(tiny_bert, tmp_path_factory) -> tuple[Path, dict]:
    """The base tiny encoder; four zero-shot sets (one through --eval_file) and English."""
    output = tmp_path_factory.mktemp("qa-base")
    entries = list(EVAL_SETS.values())
    results = run_qa.main(
        qa_args(
            tiny_bert,
            output,
            "--do_train",
            "--do_eval",
            "--max_steps",
            "3",
            "--n_best_size",
            "5",
            "--max_answer_length",
            "10",
            "--eval_sets",
            "xquad.es",
            *entries[1:],
            "--eval_file",
            entries[0],
        )
    )
    return output, results


def test_outputs_metric_keys_per_set_and_average(base_run):
    output, results = base_run
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "all_results.json",
        "eval_results.json",
        "train_results.json",
        "trainer_state.json",
        "README.md",
    ):
        assert (output / name).is_file(), name
    saved = json.loads((output / "all_results.json").read_text())
    for name in EVAL_SETS:
        for key in SCORE_KEYS:
            assert 0 <= saved[f"eval_{name}_{key}"] <= 100
        assert saved[f"eval_{name}_samples"] == (32 if name == "en" else 8)
    for key in SCORE_KEYS:
        expected = np.mean([saved[f"eval_{name}_{key}"] for name in EVAL_SETS if name != "en"])
        assert saved[f"eval_avg_{key}"] == pytest.approx(expected)
    assert json.loads((output / "eval_results.json").read_text())["eval_avg_f1"] == saved["eval_avg_f1"]
    assert results["eval_xquad.es_f1"] == saved["eval_xquad.es_f1"] and "train_loss" in saved
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "start", "1": "end"} and config["architectures"] == ["BertForQuestionAnswering"]
    card = (output / "README.md").read_text()
    front_matter = card.split("---")[1]
    assert all(f"- {lang}\n" in front_matter for lang in ("en", "es", "vi", "ru", "hi"))
    assert "question-answering" in front_matter and "eval_xquad.es_f1" in card and "continual" not in card.lower()
    # model-index: every benchmark set under its Hub id and config; the set known by its language only is left out.
    entries = {
        (r.dataset_type, r.dataset_config, r.dataset_split, r.metric_name): r.metric_value
        for r in ModelCard.load(output / "README.md").data.eval_results
    }
    configs = {
        "xquad.es": ("google/xquad", "xquad.es", "validation"),
        "xquad.hi": ("google/xquad", "xquad.hi", "validation"),
        "mlqa.vi.en": ("facebook/mlqa", "mlqa.vi.en", "test"),
        "tydiqa.ru": ("google-research-datasets/tydiqa", "secondary_task", "validation"),
    }
    expected = {
        (*configs[name], f"{label} (official rules)"): saved[f"eval_{name}_{key}"]
        for name in configs
        for key, label in (("f1", "F1"), ("exact_match", "Exact match"))
    }
    assert {k: v for k, v in entries.items() if "official" in k[3]} == pytest.approx(expected)


def test_predictions_files_per_set_rescore_to_the_metrics(base_run):
    output, results = base_run
    for name, entry in EVAL_SETS.items():
        examples = read_qa_file(entry.partition("=")[2])
        answers = json.loads((output / "predictions" / f"eval_{name}.json").read_text(encoding="utf-8"))
        records = read_jsonl(output / "predictions" / f"eval_{name}.jsonl")
        assert list(answers) == [r["id"] for r in records] == examples["id"]
        assert [r["gold"] for r in records] == [a["text"] for a in examples["answers"]]
        contexts = dict(zip(examples["id"], examples["context"], strict=True))
        for record in records:
            assert record["predicted"] == answers[record["id"]] and record["predicted"] in contexts[record["id"]]
            assert set(record) == {"id", "gold", "predicted", *SCORE_KEYS}
            # Official rules per benchmark (MLQA's for mlqa.*, SQuAD v1.1 otherwise) and SQuAD v1.1 everywhere.
            official = "mlqa" if name.startswith("mlqa.") else "squad"
            language = name.split(".")[1] if "." in name else name
            assert record["f1"] == pytest.approx(
                100 * answer_f1(record["predicted"], record["gold"], language, official)
            )
            assert record["squad_f1"] == pytest.approx(
                100 * answer_f1(record["predicted"], record["gold"], "en", "squad")
            )
        for key in SCORE_KEYS:
            assert np.mean([r[key] for r in records]) == pytest.approx(results[f"eval_{name}_{key}"])


def test_adjusted_encoder_with_continual_learning(adjusted_es, tmp_path):
    output = tmp_path / "out"
    results = run_qa.main(
        qa_args(
            adjusted_es,
            output,
            "--do_train",
            "--do_eval",
            "--max_steps",
            "3",
            "--logging_steps",
            "1",
            "--eval_sets",
            EVAL_SETS["xquad.es"],
            "--eval_file",
            f"mlqa.es.en={QA / 'dev.es.json'}",
            *CONTINUAL,
        )
    )
    assert {"eval_xquad.es_f1", "eval_mlqa.es.en_f1", "eval_avg_f1"} <= set(results)
    assert (output / "predictions" / "eval_mlqa.es.en.json").is_file()
    training_logs = [e for e in json.loads((output / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(training_logs) == 3
    for entry in training_logs:
        combined = entry["task_loss"] + 0.01 * entry["alignment_loss"] + entry["regularization_loss"]
        assert entry["loss"] == pytest.approx(combined, rel=1e-4)
        assert entry["alignment_loss"] > 0
    card = (output / "README.md").read_text()
    assert "continual-learning" in card and "0.01 × the alignment loss" in card


def test_adjusted_encoder_without_continual_learning(adjusted_es, tmp_path):
    results = run_qa.main(
        qa_args(
            adjusted_es,
            tmp_path / "out",
            "--do_train",
            "--do_eval",
            "--max_steps",
            "2",
            "--logging_steps",
            "1",
            "--eval_sets",
            EVAL_SETS["mlqa.vi.en"],
        )
    )
    assert {"eval_mlqa.vi.en_f1", "eval_mlqa.vi.en_exact_match", "eval_avg_f1", "train_loss"} <= set(results)
    history = json.loads((tmp_path / "out" / "trainer_state.json").read_text())["log_history"]
    assert not any("alignment_loss" in entry for entry in history)


def test_eval_set_names_and_local_overrides():
    resolved = run_qa.resolve_eval_sets(
        ["mlqa.es.en:validation", "mlqa.es.en", "xquad.ru", f"vi={QA / 'dev.vi.json'}"],
        [f"xquad.ru={QA / 'dev.ru.json'}"],
    )
    assert list(resolved) == ["mlqa.es.en-validation", "mlqa.es.en", "xquad.ru", "vi"]
    assert resolved["mlqa.es.en-validation"].split == "validation" and resolved["mlqa.es.en"].split == "test"
    assert resolved["mlqa.es.en"].answer_language == "es" and resolved["mlqa.es.en"].question_language == "en"
    assert resolved["xquad.ru"].path == str(QA / "dev.ru.json") and resolved["vi"].answer_language == "vi"
    with pytest.raises(InputError, match="expected NAME=PATH"):
        run_qa.resolve_eval_sets([], ["xquad.ru"])


def random_span_f1(seed: int = 0, draws: int = 20) -> float:
    """F1 (percent) of random spans of 1-4 words of each context, averaged over questions and draws."""
    rng = random.Random(seed)
    examples = read_qa_file(TRAIN)
    scores = []
    for context, answers in zip(examples["context"], examples["answers"], strict=True):
        words = context.split()
        for _ in range(draws):
            start = rng.randrange(len(words))
            span = " ".join(words[start : start + rng.randint(1, 4)])
            scores.append(100 * answer_f1(span, answers["text"], "en"))
    return float(np.mean(scores))


def test_memorises_the_english_training_set(tmp_path):
    # Train and evaluate on the same 32 questions with a wider word-level tiny BERT.
    model = save_word_level_bert(tmp_path / "word-bert")
    results = run_qa.main(
        qa_args(
            model,
            tmp_path / "out",
            "--do_train",
            "--do_eval",
            "--num_train_epochs",
            "40",
            "--learning_rate",
            "2e-3",
            "--warmup_steps",
            "10",
            "--eval_sets",
            f"en={TRAIN}",
        )
    )
    baseline = random_span_f1()
    assert results["eval_en_f1"] > max(3 * baseline, baseline + 30), (results["eval_en_f1"], baseline)
    assert "eval_avg_f1" not in results  # English only: no zero-shot average


def test_answers_lost_by_truncation_are_counted(tiny_bert, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        run_qa.main(
            qa_args(
                tiny_bert,
                tmp_path / "out",
                "--do_train",
                "--max_steps",
                "1",
                "--max_seq_length",
                "24",
                "--doc_stride",
                "4",
            )
        )
    messages = [r.getMessage() for r in caplog.records if "training examples have no window" in r.getMessage()]
    assert len(messages) == 1 and not messages[0].startswith("0 of")
    assert messages[0].split(" of ")[1].startswith("32 training examples")


def malformed_squad(path: Path) -> None:
    document = json.loads(TRAIN.read_text(encoding="utf-8"))
    document["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 3
    path.write_text(json.dumps(document), encoding="utf-8")


def unlabelled_copy(path: Path) -> None:
    """The Russian dev fixture with every answer stripped, as label-stripped test copies are distributed."""
    document = json.loads((QA / "dev.ru.json").read_text(encoding="utf-8"))
    for article in document["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = []
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def reused_ids_copy(path: Path) -> int:
    """The English training fixture with the id of its first question given to every third one (TyDi GoldP English
    train reuses ids so); returns how many ids are reused."""
    document = json.loads(TRAIN.read_text(encoding="utf-8"))
    qas = [qa for article in document["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    for qa in qas[3::3]:
        qa["id"] = qas[0]["id"]
    path.write_text(json.dumps(document), encoding="utf-8")
    return len(qas[3::3])


def test_training_file_may_reuse_ids_and_they_are_counted(tmp_path, caplog):
    reused = reused_ids_copy(tmp_path / "train-reused.json")
    data_args = run_qa.QaDataArguments(train_file=str(tmp_path / "train-reused.json"), eval_sets=[])
    with caplog.at_level(logging.WARNING):
        examples, source = run_qa.load_train_examples(data_args, cache_dir=None)
    assert len(examples) == len(read_qa_file(TRAIN)) and source == str(tmp_path / "train-reused.json")
    assert any(f"{reused} of {len(examples)} questions reuse an id" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train_file", "{bad}"], "bad.json: question 'en-006' (data[1].paragraphs[0].qas[0]): answer 0:"),
        (["--eval_sets", "mlqa.es.en={bad}"], "bad.json: question 'en-006' (data[1].paragraphs[0].qas[0]): answer 0:"),
        (["--eval_sets", "xquad.es=/no/such/file.json"], "/no/such/file.json: file not found"),
        (["--eval_sets", "tydiqa.ru={unlabelled}"], "unlabelled.json: the file appears unlabelled"),
        (
            ["--eval_sets", "mlqa.es.en={reused}"],
            "reused.json: question id 'en-001' (data[0].paragraphs[0].qas[3]) already used",
        ),
        (["--eval_sets", "xquad.xx"], "xquad has no language 'xx'"),
        (["--eval_sets", "squad.en=x.json"], "or LANG=PATH with LANG one of"),
        (["--eval_sets", "xquad.es", "xquad.es"], "--eval_sets lists 'xquad.es' twice"),
        (["--doc_stride", "200"], "--doc_stride must be positive and below --max_seq_length"),
    ],
    ids=[
        "malformed-train-file",
        "malformed-eval-file",
        "missing-file",
        "unlabelled-eval-file",
        "reused-ids-in-eval-file",
        "unknown-language",
        "unknown-name",
        "twice",
        "stride",
    ],
)
def test_user_mistakes_end_with_a_clear_message_and_status_2(tiny_bert, tmp_path, capsys, extra, message):
    malformed_squad(tmp_path / "bad.json")
    unlabelled_copy(tmp_path / "unlabelled.json")
    reused_ids_copy(tmp_path / "reused.json")
    extra = [
        entry.format(
            bad=tmp_path / "bad.json", unlabelled=tmp_path / "unlabelled.json", reused=tmp_path / "reused.json"
        )
        for entry in extra
    ]
    args = qa_args(tiny_bert, tmp_path / "out", "--do_train", "--do_eval", *extra)
    with pytest.raises(SystemExit) as info:
        run_main(lambda: run_qa.main(args))
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert message in err and "Traceback" not in err


def test_mlqa_set_in_a_language_the_mlqa_script_lacks_is_scored_with_a_warning(caplog):
    data_args = run_qa.QaDataArguments(
        eval_sets=[f"mlqa.ru.ru={QA / 'dev.ru.json'}", f"xquad.ru={QA / 'dev.ru.json'}"]
    )
    with caplog.at_level(logging.WARNING):
        eval_sets = run_qa.load_qa_eval_sets(data_args)
    assert [s.prefix for s in eval_sets] == ["eval_mlqa.ru.ru", "eval_xquad.ru"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "mlqa.ru.ru: the official MLQA script has no rules for 'ru'" in warnings[0]


def test_a_random_training_sample_is_a_setting(tiny_bert, tmp_path, monkeypatch):
    chosen, select = [], run_qa.select_training_examples

    def spy(*args):
        chosen.append(select(*args))
        return chosen[-1]

    monkeypatch.setattr(run_qa, "select_training_examples", spy)
    extra = ("--do_train", "--max_steps", "1", "--max_train_samples", "8", "--shuffle_train_before_select", "true")
    run_qa.main(qa_args(tiny_bert, tmp_path / "out", *extra))
    all_ids = read_qa_file(TRAIN)["id"]
    ids = chosen[0]["id"]
    assert len(chosen) == 1 and len(set(ids)) == 8 and ids != all_ids[:8] and set(ids) <= set(all_ids)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["settings"]["shuffle_train_before_select"] is True
