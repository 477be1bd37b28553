"""Belebele readers: its own jsonl files (one-based answers as strings), the assembled training set's pandas tsv
(multi-line passages, a split column, other column names), the Hub layouts; the four-pair encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from tests.tiny_models import wordpiece_tokenizer
from xladjust.errors import InputError
from xladjust.tasks.multiple_choice import (
    ANSWER_LABELS,
    CHOICES,
    belebele_hub_sources,
    encode_choices,
    load_belebele,
    load_training_questions,
    normalize_hub_multiple_choice,
    parse_answer_number,
    read_multiple_choice_file,
)

BELEBELE = Path(__file__).parents[1] / "fixtures" / "belebele"


def test_belebele_jsonl_one_based_answers():
    dataset, stats = read_multiple_choice_file(BELEBELE / "spa_Latn.jsonl", "es")
    first = json.loads((BELEBELE / "spa_Latn.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["correct_answer_num"] == "2" and stats.rows_read == 4
    assert dataset.column_names == [
        "id",
        "flores_passage",
        "question",
        "mc_answer1",
        "mc_answer2",
        "mc_answer3",
        "mc_answer4",
        "label",
    ]
    assert dataset["label"] == [1, 2, 0, 3]  # correct_answer_num 2, 3, 1, 4 minus one
    assert dataset.features["label"].names == ANSWER_LABELS == ["1", "2", "3", "4"]
    assert dataset[0]["mc_answer2"] == "1850"


def test_assembled_training_set_tsv_split_column_and_multiline_passages():
    train, stats = read_multiple_choice_file(BELEBELE / "belebele_training_set.tsv", "en", "train")
    assert len(train) == 8 and dict(stats.dropped) == {"of another split than 'train'": 2}
    assert train[0]["flores_passage"] == "Tom lives in a small town.\nEvery day he walks to school with his dog."
    assert train[1]["flores_passage"].startswith('The sign said "Closed on Sundays".')
    assert train["label"] == [1, 2, 0, 3, 0, 1, 2, 3]
    dev, _ = read_multiple_choice_file(BELEBELE / "belebele_training_set.tsv", "en", "validation")  # "dev" rows
    assert dev["question"] == ["Did Peter catch the train?", "What do plants use to make food?"]


@pytest.mark.parametrize("value", ["0", "5", 7, "two", "", 2.5, None])
def test_an_answer_number_outside_one_to_four_names_file_and_line(tmp_path, value):
    record = {"flores_passage": "P.", "question": "Q?", **{f"mc_answer{i}": f"A{i}" for i in range(1, 5)}}
    path = tmp_path / "test.jsonl"
    lines = [json.dumps({**record, "correct_answer_num": "1"}), json.dumps({**record, "correct_answer_num": value})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not an answer number 1-4") as error:
        read_multiple_choice_file(path, "es")
    assert error.value.line == 2
    assert [parse_answer_number(v) for v in ("1", 4, 3.0, " 2 ")] == [0, 3, 2, 1]


def test_empty_answers_are_dropped_and_missing_columns_refused(tmp_path):
    record = {"flores_passage": "P.", "question": "Q?", **{f"mc_answer{i}": f"A{i}" for i in range(1, 5)}}
    path = tmp_path / "test.jsonl"
    rows = [{**record, "correct_answer_num": 1}, {**record, "mc_answer3": "", "correct_answer_num": 2}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    dataset, stats = read_multiple_choice_file(path, "es")
    assert len(dataset) == 1 and dict(stats.dropped) == {"with an empty passage or answer": 1}
    path.write_text(json.dumps({"question": "Q?", "correct_answer_num": 1}), encoding="utf-8")
    with pytest.raises(InputError, match="missing required field.*flores_passage"):
        read_multiple_choice_file(path, "es")


def test_hub_sources_and_the_hub_columns():
    per_config, older, data_file = belebele_hub_sources("hi")
    assert (per_config.path, per_config.name, per_config.split) == ("facebook/belebele", "hin_Deva", "test")
    assert (older.name, older.split) == ("default", "hin_Deva")
    assert data_file.path == "json" and data_file.data_files == "hf://datasets/facebook/belebele/data/hin_Deva.jsonl"
    rows = [json.loads(line) for line in (BELEBELE / "rus_Cyrl.jsonl").read_text(encoding="utf-8").splitlines()]
    dataset, _ = normalize_hub_multiple_choice(Dataset.from_list(rows), "ru")
    assert dataset["label"] == [1, 2, 0, 3] and dataset[0]["id"] == "ru-0"
    with pytest.raises(InputError, match="only a test split on the Hub"):
        load_belebele("ru", "validation")
    with pytest.raises(InputError, match="training needs --train_file or --train_dataset"):
        load_training_questions(None, None, None, "train", None)


def test_four_pairs_per_question_in_answer_order():
    tokenizer = wordpiece_tokenizer()
    dataset, _ = read_multiple_choice_file(BELEBELE / "eng_Latn.jsonl", "en")
    encoded = encode_choices(dataset[:2], tokenizer, max_length=64)
    assert encoded["labels"] == [1, 2]
    assert [len(choices) for choices in encoded["input_ids"]] == [CHOICES, CHOICES]
    for question, choices in enumerate(encoded["input_ids"]):
        for number, ids in enumerate(choices, start=1):
            assert len(ids) <= 64
            text = tokenizer.decode(ids, skip_special_tokens=True)
            answer = dataset[question][f"mc_answer{number}"]
            assert tokenizer.decode(tokenizer(answer, add_special_tokens=False)["input_ids"]) in text
