"""NLI readers, validation and label mapping, on the fixtures and small files written per test."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value
from transformers import BertConfig

from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.errors import InputError
from xladjust.tasks.label_balance import count_labels
from xladjust.tasks.models import check_label_mapping, set_label_mapping
from xladjust.tasks.nli import (
    NLI_LABELS,
    load_nli_dataset,
    nli_hub_source,
    normalize_hub_nli,
    parse_nli_label,
    read_nli_file,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nli"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_label_order_is_xnli():
    assert NLI_LABELS == ["entailment", "neutral", "contradiction"]
    assert [parse_nli_label(x) for x in ("entailment", "Neutral", " CONTRADICTION ", 0, "2", 1.0)] == [
        0,
        1,
        2,
        0,
        2,
        1,
    ]
    assert [parse_nli_label(x) for x in ("-", 3, -1, "3", True, None, "entails")] == [None] * 7


# --------------------------------------------------------------------------------------------------------------
# Fixtures


def test_train_fixture_is_balanced():
    dataset, stats = read_nli_file(FIXTURES / "train.en.jsonl", "en")
    assert len(dataset) == stats.examples == stats.rows_read == 60
    assert dataset.column_names == ["id", "premise", "hypothesis", "label"]
    assert dataset.features["label"].names == NLI_LABELS
    assert count_labels(NLI_LABELS, dataset["label"]).counts == [20, 20, 20]


@pytest.mark.parametrize("language", ("en", *PAPER_LANGUAGES))
def test_dev_fixtures(language):
    dataset, _ = read_nli_file(FIXTURES / f"dev.{language}.jsonl", language)
    assert len(dataset) == 24
    assert dataset["id"] == [f"{language}-{i}" for i in range(24)]
    assert Counter(dataset["label"]) == {0: 8, 1: 8, 2: 8}
    assert all(row["premise"] and row["hypothesis"] for row in dataset)


def test_dev_fixtures_are_parallel():
    english, _ = read_nli_file(FIXTURES / "dev.en.jsonl", "en")
    for language in PAPER_LANGUAGES:
        other, _ = read_nli_file(FIXTURES / f"dev.{language}.jsonl", language)
        assert other["label"] == english["label"]


def test_original_xnli_tsv_filters_language():
    dataset, stats = read_nli_file(FIXTURES / "xnli.dev.tsv", "es")
    assert len(dataset) == 3 and stats.rows_read == 6 and stats.rows_other_language == 3
    assert dataset[0]["premise"] == 'El guía dijo "bienvenidos" a los visitantes.'  # quotes kept verbatim
    assert dataset["label"] == [0, 2, 1]
    assert dataset["id"] == ["es-0", "es-1", "es-2"]
    english, _ = read_nli_file(FIXTURES / "xnli.dev.tsv", "en")
    assert english[2]["hypothesis"] == "The boy's sister is a nurse."


def test_original_tsv_drops_rows_without_gold_label(tmp_path):
    lines = (FIXTURES / "xnli.dev.tsv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("\tcontradiction\t", "\t-\t", 1)
    path = write(tmp_path / "xnli.test.tsv", "\n".join(lines) + "\n")
    dataset, stats = read_nli_file(path, "en")
    assert len(dataset) == 2 and stats.rows_no_gold_label == 1


def test_original_tsv_language_absent():
    with pytest.raises(InputError, match=r"xnli\.dev\.tsv: no rows for language ru; the file has en, es"):
        read_nli_file(FIXTURES / "xnli.dev.tsv", "ru")


# --------------------------------------------------------------------------------------------------------------
# Other formats


def test_csv_with_quotes_and_ids(tmp_path):
    path = write(
        tmp_path / "dev.csv",
        'premise,hypothesis,label\n"A man, tired, sleeps.",A man sleeps.,0\nA dog barks.,"The dog is ""quiet"".",2\n',
    )
    dataset, _ = read_nli_file(path, "en")
    assert dataset["premise"] == ["A man, tired, sleeps.", "A dog barks."]
    assert dataset["hypothesis"][1] == 'The dog is "quiet".'
    assert dataset["label"] == [0, 2]


def test_tsv_and_json_array(tmp_path):
    tsv = write(tmp_path / "dev.tsv", 'label\tpremise\thypothesis\textra\nneutral\tHe said "hi.\tHe left.\tx\n')
    dataset, _ = read_nli_file(tsv, "vi")
    assert dataset[0] == {"id": "vi-0", "premise": 'He said "hi.', "hypothesis": "He left.", "label": 1}
    records = [
        {"premise": "a", "hypothesis": "b", "label": 1, "genre": "x"},
        {"premise": "c", "hypothesis": "d", "label": "Entailment"},
    ]
    array = write(tmp_path / "dev.json", json.dumps(records))
    dataset, _ = read_nli_file(array, "hi")
    assert dataset["label"] == [1, 0] and dataset["id"] == ["hi-0", "hi-1"]


def test_load_nli_dataset_prefers_the_file():
    dataset, stats = load_nli_dataset("ru", "validation", data_file=FIXTURES / "dev.ru.jsonl")
    assert len(dataset) == 24 and stats.language == "ru"


# --------------------------------------------------------------------------------------------------------------
# Errors: the message names the file and, where there is one, the line


def test_missing_columns_csv(tmp_path):
    path = write(tmp_path / "bad.csv", "sentence,hypothesis\nA,B\n")
    with pytest.raises(InputError) as error:
        read_nli_file(path, "en")
    message = str(error.value)
    assert message.startswith(f"{path}:1: ") and "missing required column(s) premise, label" in message


def test_missing_field_jsonl(tmp_path):
    path = write(
        tmp_path / "bad.jsonl", '{"premise": "a", "hypothesis": "b", "label": 0}\n\n{"premise": "a", "label": 0}\n'
    )
    with pytest.raises(InputError, match=r"bad\.jsonl:3: missing required field\(s\) hypothesis"):
        read_nli_file(path, "en")


def test_unknown_label_jsonl(tmp_path):
    lines = (FIXTURES / "dev.es.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[4])
    record["label"] = "entails"
    lines[4] = json.dumps(record, ensure_ascii=False)
    path = write(tmp_path / "dev.es.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as error:
        read_nli_file(path, "es")
    assert str(error.value).startswith(f"{path}:5: unknown label 'entails'")
    assert error.value.line == 5 and error.value.path == str(path)


def test_unknown_label_csv_and_original_tsv(tmp_path):
    path = write(tmp_path / "bad.csv", "premise,hypothesis,label\na,b,0\nc,d,3\n")
    with pytest.raises(InputError, match=r"bad\.csv:3: unknown label '3'"):
        read_nli_file(path, "en")
    lines = (FIXTURES / "xnli.dev.tsv").read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("\tcontradiction\t", "\tcontradicts\t", 1)
    path = write(tmp_path / "xnli.bad.tsv", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"xnli\.bad\.tsv:6: unknown label 'contradicts'"):
        read_nli_file(path, "es")


def test_unknown_language():
    with pytest.raises(InputError, match="unknown language 'xx'"):
        read_nli_file(FIXTURES / "dev.en.jsonl", "xx")
    with pytest.raises(InputError, match="unknown language 'pt'"):
        nli_hub_source("pt", "test")


def test_malformed_files(tmp_path):
    with pytest.raises(InputError, match=r"broken\.jsonl:2: invalid JSON"):
        read_nli_file(
            write(tmp_path / "broken.jsonl", '{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise":\n'), "en"
        )
    with pytest.raises(InputError, match=r"fields\.tsv:3: expected 3 fields as in the header, found 4"):
        read_nli_file(write(tmp_path / "fields.tsv", "premise\thypothesis\tlabel\na\tb\t0\na\tb\tc\t0\n"), "en")
    with pytest.raises(InputError, match=r"types\.jsonl:1: premise must be a string"):
        read_nli_file(write(tmp_path / "types.jsonl", '{"premise": null, "hypothesis": "b", "label": 0}\n'), "en")
    with pytest.raises(InputError, match=r"data\.parquet: cannot tell the format"):
        read_nli_file(tmp_path / "data.parquet", "en")
    with pytest.raises(InputError, match=r"empty\.csv: no examples for language en"):
        read_nli_file(write(tmp_path / "empty.csv", "premise,hypothesis,label\n"), "en")


# --------------------------------------------------------------------------------------------------------------
# Label mapping of a model config


def tiny_config(**kwargs) -> BertConfig:
    return BertConfig(
        vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8, **kwargs
    )


def test_set_and_check_label_mapping():
    config = tiny_config(num_labels=3)
    assert check_label_mapping(config, NLI_LABELS, "bert-tiny") is False  # untrained head: generic names
    set_label_mapping(config, NLI_LABELS)
    assert config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert config.label2id == {"entailment": 0, "neutral": 1, "contradiction": 2}
    assert config.num_labels == 3
    assert check_label_mapping(config, NLI_LABELS, "bert-tiny") is True


def test_check_label_mapping_accepts_other_case_and_string_keys():
    config = tiny_config()
    config.id2label = {"0": "ENTAILMENT", "1": "NEUTRAL", "2": "CONTRADICTION"}
    assert check_label_mapping(config, NLI_LABELS, "some/mnli-model") is True


@pytest.mark.parametrize(
    "id2label",
    (
        {0: "contradiction", 1: "neutral", 2: "entailment"},  # the order of some MNLI checkpoints
        {0: "entailment", 1: "not_entailment"},
        {0: "O", 1: "B-PER", 2: "I-PER"},
    ),
)
def test_check_label_mapping_mismatch_names_the_model(id2label):
    config = tiny_config()
    config.id2label = id2label
    with pytest.raises(InputError, match="model org/finetuned-nli has the label mapping"):
        check_label_mapping(config, NLI_LABELS, "org/finetuned-nli")


# --------------------------------------------------------------------------------------------------------------
# Hub helpers (no download: the call is built, and a Hub-shaped dataset is normalised)


def test_hub_source():
    assert nli_hub_source("vi", "test") == ("facebook/xnli", "vi", "test")
    assert nli_hub_source("en", "train", "multi_nli") == ("nyu-mll/multi_nli", None, "train")
    assert nli_hub_source("en", "validation", "multi_nli") == ("nyu-mll/multi_nli", None, "validation_matched")
    with pytest.raises(InputError, match="English only"):
        nli_hub_source("es", "train", "multi_nli")
    with pytest.raises(InputError, match="no labelled test split"):
        nli_hub_source("en", "test", "multi_nli")
    with pytest.raises(InputError, match="unknown NLI dataset"):
        nli_hub_source("en", "train", "snli")


def hub_like(labels: list[int], names: list[str] = NLI_LABELS) -> Dataset:
    n = len(labels)
    features = Features(
        {
            "promptID": Value("int32"),
            "premise": Value("string"),
            "hypothesis": Value("string"),
            "label": ClassLabel(names=names),
        }
    )
    return Dataset.from_dict(
        {
            "promptID": list(range(n)),
            "premise": [f"p{i}" for i in range(n)],
            "hypothesis": [f"h{i}" for i in range(n)],
            "label": labels,
        },
        features=features,
    )


def test_normalize_hub_nli_drops_unlabelled():
    dataset, stats = normalize_hub_nli(hub_like([0, -1, 2, 1]), "en")
    assert dataset.column_names == ["id", "premise", "hypothesis", "label"]
    assert dataset["premise"] == ["p0", "p2", "p3"] and dataset["label"] == [0, 2, 1]
    assert dataset["id"] == ["en-0", "en-1", "en-2"]
    assert stats.rows_read == 4 and stats.rows_no_gold_label == 1 and stats.examples == 3


def test_normalize_hub_nli_rejects_other_label_names():
    with pytest.raises(InputError, match="label names"):
        normalize_hub_nli(hub_like([0, 1], names=["contradiction", "neutral", "entailment"]), "en")


def test_original_multinli_jsonl_and_txt(tmp_path):
    records = [
        {"gold_label": "neutral", "sentence1": "A cat naps.", "sentence2": "The cat is old.", "genre": "fiction"},
        {"gold_label": "-", "sentence1": "A cat naps.", "sentence2": "The cat is tired.", "genre": "fiction"},
        {"gold_label": "contradiction", "sentence1": "A cat naps.", "sentence2": "No cat naps.", "genre": "fiction"},
    ]
    path = write(tmp_path / "multinli_dev_matched.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    dataset, stats = read_nli_file(path, "en")
    assert dataset["label"] == [1, 2] and stats.rows_no_gold_label == 1 and stats.rows_other_language == 0
    txt = write(tmp_path / "multinli_dev_matched.txt", "gold_label\tsentence1\tsentence2\nentailment\ta\tb\n")
    dataset, _ = read_nli_file(txt, "en")
    assert dataset[0]["premise"] == "a" and dataset[0]["label"] == 0
