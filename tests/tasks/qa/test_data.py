"""QA readers (SQuAD JSON, flattened JSON/JSONL), their errors, and evaluation-set names. Nothing touches the Hub."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest

from xladjust.errors import InputError
from xladjust.tasks.qa import data as qa_data
from xladjust.tasks.qa.data import (
    QA_COLUMNS,
    QA_FEATURES,
    answer_language,
    load_eval_set,
    read_qa_file,
    resolve_set_spec,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qa"
CONTEXT = "The red fox lives in the old forest."


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tests must not load from the Hub")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


def squad_document(qa: dict, context: str = CONTEXT) -> dict:
    return {"data": [{"title": "Fox", "paragraphs": [{"context": context, "qas": [qa]}]}]}


def good_qa(question_id: str = "q-fox") -> dict:
    return {
        "id": question_id,
        "question": "Where does the fox live?",
        "answers": [{"text": "old forest", "answer_start": 25}],
    }


def flat_record(question_id: str = "q-fox", **changes) -> dict:
    record = {
        "id": question_id,
        "title": "Fox",
        "context": CONTEXT,
        "question": "Where does the fox live?",
        "answers": {"text": ["old forest"], "answer_start": [25]},
    }
    record.update(changes)
    return record


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# Reading


@pytest.mark.parametrize("name", ["train.en.json", "dev.es.json", "dev.ru.json", "dev.vi.json", "dev.hi.json"])
def test_fixtures_read_with_exact_answers(name):
    examples = read_qa_file(FIXTURES / name)
    assert examples.column_names == list(QA_COLUMNS)
    assert examples.features == QA_FEATURES
    assert len(examples) == (32 if name.startswith("train") else 8)
    for example in examples:
        for text, start in zip(example["answers"]["text"], example["answers"]["answer_start"], strict=True):
            assert example["context"][start : start + len(text)] == text
        assert example["title"]


def test_squad_and_flattened_layouts_agree(tmp_path):
    squad = read_qa_file(FIXTURES / "dev.ru.json")
    records = squad.to_list()
    as_list = read_qa_file(write_json(tmp_path / "list.json", records))
    as_data = read_qa_file(write_json(tmp_path / "data.json", {"data": records}))
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(record, ensure_ascii=False) for record in records) + "\n\n", encoding="utf-8"
    )
    lines_as_json = tmp_path / "lines.json"
    lines_as_json.write_text(jsonl.read_text(encoding="utf-8"), encoding="utf-8")
    for dataset in (as_list, as_data, read_qa_file(jsonl), read_qa_file(lines_as_json)):
        assert dataset.to_list() == records


def test_title_is_optional_and_unanswerable_needs_opt_in(tmp_path):
    record = flat_record()
    del record["title"]
    assert read_qa_file(write_json(tmp_path / "a.json", [record]))[0]["title"] == ""
    path = write_json(
        tmp_path / "b.json", [flat_record("q-ok"), flat_record(answers={"text": [], "answer_start": []})]
    )
    with pytest.raises(InputError, match="'q-fox'.*has no answers"):
        read_qa_file(path)
    assert read_qa_file(path, allow_unanswerable=True)[1]["answers"] == {"text": [], "answer_start": []}


def _without(record: dict, key: str) -> dict:
    return {name: value for name, value in record.items() if name != key}


SQUAD_ERRORS = {
    "missing question": (_without(good_qa("q-noquestion"), "question"), "missing or null 'question'"),
    "missing answers": (_without(good_qa("q-noanswers"), "answers"), "missing key 'answers'"),
    "answers not a list": (
        {**good_qa("q-dict"), "answers": {"text": "old forest", "answer_start": 25}},
        "'answers' must be a list",
    ),
    "answer_start off by one": (
        {**good_qa("q-offset"), "answers": [{"text": "old forest", "answer_start": 24}]},
        "context[24:34] is ' old fores', not the answer text 'old forest'",
    ),
    "answer_start past the end": (
        {**good_qa("q-far"), "answers": [{"text": "old forest", "answer_start": 400}]},
        "not the answer text",
    ),
    "answer without answer_start": (
        {**good_qa("q-nostart"), "answers": [{"text": "fox"}]},
        "missing key 'answer_start'",
    ),
    "answer_start not an int": (
        {**good_qa("q-str"), "answers": [{"text": "old forest", "answer_start": "25"}]},
        "'answer_start' must be an integer",
    ),
}


@pytest.mark.parametrize("case", sorted(SQUAD_ERRORS))
def test_squad_errors_name_file_and_question(tmp_path, case):
    qa, expected = SQUAD_ERRORS[case]
    path = write_json(tmp_path / "broken-squad.json", squad_document(qa))
    with pytest.raises(InputError) as caught:
        read_qa_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert repr(qa["id"]) in message
    assert expected in message


FLAT_ERRORS = {
    "missing context": (_without(flat_record("q-nocontext"), "context"), "missing or null 'context'"),
    "answers as list of objects": (
        flat_record("q-listanswers", answers=[{"text": "old forest", "answer_start": 25}]),
        "'answers' must be an object",
    ),
    "answer texts not a list": (
        flat_record("q-textstr", answers={"text": "old forest", "answer_start": [25]}),
        "'answers.text' must be a list",
    ),
    "lengths differ": (
        flat_record("q-lengths", answers={"text": ["old forest"], "answer_start": [25, 4]}),
        "1 texts but 2 answer_start",
    ),
    "wrong text": (
        flat_record("q-wrongtext", answers={"text": ["young forest"], "answer_start": [25]}),
        "not the answer text 'young forest'",
    ),
}


@pytest.mark.parametrize("case", sorted(FLAT_ERRORS))
def test_jsonl_errors_name_file_line_and_question(tmp_path, case):
    record, expected = FLAT_ERRORS[case]
    path = tmp_path / "broken.jsonl"
    lines = [json.dumps(flat_record("q-ok")), "", json.dumps(record)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_qa_file(path)
    assert caught.value.line == 3
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ")
    assert repr(record["id"]) in message
    assert expected in message


def test_structural_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_qa_file(tmp_path / "absent.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"data": [\n  {"title": }\n]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.json:2: invalid JSON"):
        read_qa_file(bad_json)
    with pytest.raises(InputError, match="expected SQuAD JSON"):
        read_qa_file(write_json(tmp_path / "scalar.json", {"version": 1}))
    with pytest.raises(InputError, match=r"record 0: question has no 'id'"):
        read_qa_file(write_json(tmp_path / "noid.json", [_without(flat_record(), "id")]))
    with pytest.raises(InputError, match="no questions found"):
        read_qa_file(write_json(tmp_path / "empty.json", {"data": []}))
    duplicate = write_json(tmp_path / "duplicate.json", [flat_record("q-twice"), flat_record("q-twice")])
    with pytest.raises(
        InputError, match=r"duplicate\.json: question id 'q-twice' \(record 1\) already used by record 0"
    ):
        read_qa_file(duplicate)


def tydi_like_training_file(path: Path) -> Path:
    """SQuAD layout as TyDi GoldP's English train: two different questions of two articles share the id '0'."""
    articles = [
        {
            "title": "Fox",
            "paragraphs": [
                {
                    "context": CONTEXT,
                    "qas": [
                        {"id": "0", "question": "Where?", "answers": [{"text": "old forest", "answer_start": 25}]},
                        {"id": "1", "question": "Which fox?", "answers": [{"text": "red fox", "answer_start": 4}]},
                    ],
                }
            ],
        },
        {
            "title": "Owl",
            "paragraphs": [
                {
                    "context": "An owl sleeps by day.",
                    "qas": [
                        {
                            "id": "0",
                            "question": "When does the owl sleep?",
                            "answers": [{"text": "by day", "answer_start": 14}],
                        },
                    ],
                }
            ],
        },
    ]
    return write_json(path, {"version": "TyDiQA-GoldP-1.1-for-SQuAD-1.1", "data": articles})


def test_training_files_may_reuse_ids_evaluation_files_may_not(tmp_path, caplog):
    path = tydi_like_training_file(tmp_path / "tydiqa-goldp-v1.1-train.json")
    with pytest.raises(InputError, match=r"question id '0' \(data\[1\]\.paragraphs\[0\]\.qas\[0\]\) already used"):
        read_qa_file(path)
    with pytest.raises(InputError, match="already used"):
        load_eval_set(f"tydiqa.en={path}")
    with caplog.at_level("WARNING", logger="xladjust.tasks.qa.data"):
        examples = read_qa_file(path, allow_repeated_ids=True)
    assert examples["id"] == ["0", "1", "0"]
    assert examples["question"][2] == "When does the owl sleep?"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "1 of 3 questions reuse an id" in warnings[0]


@pytest.mark.parametrize(
    "stripped",
    [[], [{"text": "", "answer_start": -1}], [{"text": "  ", "answer_start": 0}]],
    ids=["no-answers", "empty-text", "blank-text"],
)
def test_unlabelled_evaluation_files_get_one_clear_error(tmp_path, stripped):
    qas = [{**good_qa(f"q{i}"), "answers": stripped} for i in range(3)]
    document = {"data": [{"title": "Fox", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    path = write_json(tmp_path / "tydiqa-goldp-dev-unlabelled.json", document)
    message = f"{path}: the file appears unlabelled: none of its 3 questions has an answer text"
    with pytest.raises(InputError, match=re.escape(message)):
        load_eval_set(f"tydiqa.ru={path}")
    # Flattened records too; one labelled question makes it an ordinary file (and its faults are reported).
    flat = [flat_record(f"q{i}", answers={"text": [], "answer_start": []}) for i in range(2)]
    with pytest.raises(InputError, match="appears unlabelled"):
        read_qa_file(write_json(tmp_path / "flat.json", flat))
    with pytest.raises(InputError, match="'q1'.*has no answers"):
        read_qa_file(write_json(tmp_path / "mixed.json", [flat_record("q0"), flat[1]]))


def test_unlabelled_hub_split_is_refused(monkeypatch):
    rows = {
        "id": ["a", "b"],
        "title": ["", ""],
        "context": [CONTEXT] * 2,
        "question": ["Where?", "Who?"],
        "answers": [{"text": [], "answer_start": []}] * 2,
    }
    monkeypatch.setattr(qa_data.datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_dict(rows))
    with pytest.raises(InputError, match=r"xquad\.es \(google/xquad:xquad\.es\[validation\]\) appears unlabelled"):
        load_eval_set("xquad.es")


# ---------------------------------------------------------------------------------------------------------------
# Evaluation-set names


def test_resolve_hub_sets():
    xquad = resolve_set_spec("xquad.es")
    assert (xquad.hub_name, xquad.hub_config, xquad.split) == ("google/xquad", "xquad.es", "validation")
    mlqa = resolve_set_spec("mlqa.es.en")
    assert (mlqa.hub_name, mlqa.hub_config, mlqa.split) == ("facebook/mlqa", "mlqa.es.en", "test")
    assert (mlqa.context_language, mlqa.question_language, mlqa.answer_language) == ("es", "en", "es")
    assert resolve_set_spec("mlqa.es.en:validation").split == "validation"
    tydi = resolve_set_spec("tydiqa.ru")
    assert (tydi.hub_name, tydi.hub_config, tydi.split) == (
        "google-research-datasets/tydiqa",
        "secondary_task",
        "validation",
    )
    assert tydi.id_prefix == "russian-"
    assert tydi.path is None


def test_answer_language():
    assert answer_language("mlqa.hi.en") == "hi"
    assert answer_language("mlqa.en.vi") == "en"
    assert answer_language("xquad.vi") == "vi"
    assert answer_language("tydiqa.ru") == "ru"
    assert answer_language(f"xquad.ru={FIXTURES / 'dev.ru.json'}") == "ru"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("squad.es", "expected xquad.L, mlqa.C.Q"),
        ("xquad", "expected xquad.L, mlqa.C.Q"),
        ("XQuAD.es", "expected xquad.L, mlqa.C.Q"),
        ("xquad.xx", "xquad has no language 'xx'; valid languages: ar, de"),
        ("mlqa.es", "expected mlqa.C.Q"),
        ("mlqa.es.ru", "mlqa has no language 'ru'"),
        ("tydiqa.es", "tydiqa has no language 'es'"),
        ("xquad.es.en", "expected xquad.L"),
        ("xquad.es:test", "no split 'test'; valid: validation"),
        ("xquad.es:validation=dev.json", "a split cannot be given for a local file"),
        ("xquad.es=", "empty path"),
        ("xquad.uk=local.json", "no answer normalisation for language 'uk'"),
    ],
)
def test_unknown_eval_sets(name, expected):
    with pytest.raises(InputError, match="evaluation set") as caught:
        resolve_set_spec(name)
    assert expected in str(caught.value)


def test_local_override_loads_the_file():
    path = FIXTURES / "dev.hi.json"
    eval_set = resolve_set_spec(f"mlqa.hi.en = {path}")
    assert (eval_set.name, eval_set.path, eval_set.answer_language) == ("mlqa.hi.en", str(path), "hi")
    assert load_eval_set(eval_set)["id"][:2] == ["hi-001", "hi-002"]
    # A local file may hold a language the Hub set lacks, as long as the metric knows it.
    assert resolve_set_spec(f"mlqa.ru.ru={path}").answer_language == "ru"


def test_local_tydi_file_is_filtered_by_id_prefix(tmp_path):
    records = [flat_record("russian-1-0"), flat_record("arabic-2-0"), flat_record("russian-3-1")]
    mixed = write_json(tmp_path / "tydi-dev.json", records)
    assert load_eval_set(f"tydiqa.ru={mixed}")["id"] == ["russian-1-0", "russian-3-1"]
    # Ids without any TyDi prefix: the file is taken to be in the one language already.
    plain = write_json(tmp_path / "tydi-ru.json", [flat_record("a"), flat_record("b")])
    assert load_eval_set(f"tydiqa.ru={plain}")["id"] == ["a", "b"]
    with pytest.raises(InputError, match="no question id starts with 'finnish-'"):
        load_eval_set(f"tydiqa.fi={mixed}")


def test_hub_sets_are_standardised(monkeypatch):
    calls = []
    # MLQA on the Hub has no title and declares answers as Sequence({answer_start, text}).
    hub_features = datasets.Features(
        {
            "context": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answers": datasets.Sequence({"answer_start": datasets.Value("int32"), "text": datasets.Value("string")}),
            "id": datasets.Value("string"),
        }
    )
    rows = {
        "context": [CONTEXT, CONTEXT],
        "question": ["Where?", "Who?"],
        "answers": [{"answer_start": [25], "text": ["old forest"]}, {"answer_start": [4], "text": ["red fox"]}],
        "id": ["russian-1-0", "arabic-9-0"],
    }

    def fake_load_dataset(name, config, split, **options):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict(rows, features=hub_features)

    monkeypatch.setattr(qa_data.datasets, "load_dataset", fake_load_dataset)
    mlqa = load_eval_set("mlqa.es.en:validation")
    assert calls[-1] == ("facebook/mlqa", "mlqa.es.en", "validation")
    assert mlqa.features == QA_FEATURES
    assert mlqa[1] == {
        "id": "arabic-9-0",
        "title": "",
        "context": CONTEXT,
        "question": "Who?",
        "answers": {"text": ["red fox"], "answer_start": [4]},
    }
    tydi = load_eval_set("tydiqa.ru")
    assert calls[-1] == ("google-research-datasets/tydiqa", "secondary_task", "validation")
    assert tydi["id"] == ["russian-1-0"]
