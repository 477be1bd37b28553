"""PAWS-X and SIB-200 readers on fixtures laid out like the official files (quirks included), their Hub
normalisation, and the language codes of the FLORES-based benchmarks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from xladjust.data.languages import FLORES_CODES, flores_code
from xladjust.errors import InputError
from xladjust.tasks.classification import CLASSIFICATION_TASKS
from xladjust.tasks.label_balance import count_labels
from xladjust.tasks.labelled_text import parse_label
from xladjust.tasks.pawsx import PAWSX_LABELS, normalize_hub_pawsx, read_pawsx_file
from xladjust.tasks.sib200 import SIB200_LABELS, normalize_hub_sib200, read_sib200_file, sib200_hub_sources

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAWSX = FIXTURES / "pawsx"
SIB = FIXTURES / "sib200"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------------------
# PAWS-X


def test_pawsx_files_and_their_quirks(caplog):
    english, stats = read_pawsx_file(PAWSX / "en" / "train.tsv", "en")
    assert len(english) == stats.examples == 16 and not stats.dropped
    assert english.column_names == ["id", "sentence1", "sentence2", "label"]
    assert english.features["label"].names == PAWSX_LABELS == ["not_paraphrase", "paraphrase"]
    assert english[9]["sentence1"] == 'The film " Long Night was released in 2004 .'  # an unbalanced quote, unquoted
    with caplog.at_level(logging.WARNING):
        spanish, stats = read_pawsx_file(PAWSX / "es" / "test_2k.tsv", "es")
    assert len(spanish) == 4 and stats.rows_read == 6
    assert dict(stats.dropped) == {"with the placeholder 'NS' for a sentence": 1, "without a label": 1}
    assert "2 rows dropped" in caplog.text
    translated, stats = read_pawsx_file(PAWSX / "es" / "translated_train.tsv", "es")
    assert len(translated) == 4 and dict(stats.dropped) == {"with an empty sentence (failed translation)": 1}
    assert spanish["label"] == translated["label"] == [0, 1, 0, 1]


def test_pawsx_unknown_label_and_language(tmp_path):
    path = write(tmp_path / "dev_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\tA .\tB .\t0\n2\tC .\tD .\t2\n")
    with pytest.raises(InputError, match="unknown label '2'") as error:
        read_pawsx_file(path, "es")
    assert error.value.line == 3
    with pytest.raises(InputError, match="unknown language 'ru'; PAWS-X languages"):
        read_pawsx_file(path, "ru")
    header_only = write(tmp_path / "other.tsv", "id\tsentence\tlabel\n")
    with pytest.raises(InputError, match="missing required column.*sentence1"):
        read_pawsx_file(header_only, "es")


def test_pawsx_hub_split_drops_the_same_quirks():
    features = Features(
        {
            "id": Value("int32"),
            "sentence1": Value("string"),
            "sentence2": Value("string"),
            "label": ClassLabel(names=["0", "1"]),
        }
    )
    rows = {
        "id": [1, 2, 3, 4],
        "sentence1": ["A .", "", "C .", "D ."],
        "sentence2": ["B .", "", "NS", "E ."],
        "label": [1, 0, 0, -1],  # the Hub writes -1 for a missing label
    }
    dataset, stats = normalize_hub_pawsx(Dataset.from_dict(rows, features=features), "de", source="hub")
    assert dataset["sentence1"] == ["A ."] and dataset["label"] == [1] and stats.dropped.total() == 3


# --------------------------------------------------------------------------------------------------------------
# SIB-200


def test_sib200_files_pandas_quoting_and_labels_file():
    train, stats = read_sib200_file(SIB / "eng_Latn" / "train.tsv", "en")
    assert len(train) == 28 and train.features["label"].names == SIB200_LABELS
    assert count_labels(SIB200_LABELS, train["label"]).counts == [4] * len(SIB200_LABELS)
    assert train[3]["text"] == 'The phone maker said the update would "fix the screen problem".'  # quoted, "" → "
    spanish, _ = read_sib200_file(SIB / "spa_Latn" / "test.tsv", "es")
    assert [SIB200_LABELS[i] for i in spanish["label"]] == SIB200_LABELS and spanish[0]["id"] == "es-0"


def test_sib200_refuses_another_label_list_and_unknown_topics(tmp_path):
    folder = tmp_path / "spa_Latn"
    test = write(folder / "test.tsv", "index_id\tcategory\ttext\n1\tsports\tGol.\n2\tweather\tLlueve.\n")
    with pytest.raises(InputError, match="unknown topic 'weather'") as error:
        read_sib200_file(test, "es")
    assert error.value.line == 3
    labels = write(folder / "labels.txt", "\n".join(reversed(SIB200_LABELS)) + "\n")
    with pytest.raises(InputError, match="SIB-200's topics are") as error:
        read_sib200_file(test, "es")
    assert error.value.path == str(labels)


def test_sib200_hub_topics_as_names_or_class_labels():
    rows = {"index_id": [3, 4], "category": ["travel", "health"], "text": ["Viaje.", "Salud."]}
    dataset, _ = normalize_hub_sib200(Dataset.from_dict(rows), "es")
    assert dataset["label"] == [1, 4]
    features = Features({"category": ClassLabel(names=list(reversed(SIB200_LABELS))), "text": Value("string")})
    dataset, _ = normalize_hub_sib200(Dataset.from_dict({"category": [0], "text": ["Lago."]}, features=features), "es")
    assert dataset["label"] == [SIB200_LABELS.index("geography")]
    with pytest.raises(InputError, match="row 1: unknown topic 'weather'"):
        normalize_hub_sib200(Dataset.from_dict({"category": ["weather"], "text": ["x"]}), "es")


def test_flores_codes_one_name_per_language():
    assert [flores_code(lang, "SIB-200") for lang in ("en", "es", "ru", "vi", "hi")] == [
        "eng_Latn",
        "spa_Latn",
        "rus_Cyrl",
        "vie_Latn",
        "hin_Deva",
    ]
    assert flores_code("ast_Latn", "SIB-200") == "ast_Latn"  # a language the table has no ISO code for
    with pytest.raises(InputError, match="write 'es' for spa_Latn"):
        flores_code("spa_Latn", "SIB-200")
    with pytest.raises(InputError, match="unknown language 'spanish'"):
        flores_code("spanish", "SIB-200")
    assert len(set(FLORES_CODES.values())) == len(FLORES_CODES)
    repository, export = sib200_hub_sources("vi", "validation")
    assert (repository.path, repository.name, repository.split) == ("Davlan/sib200", "vie_Latn", "validation")
    assert export.data_files.endswith("Davlan/sib200@refs%2Fconvert%2Fparquet/vie_Latn/validation/*.parquet")


def test_the_registry_tasks_and_their_readers_refuse_a_shared_file():
    assert list(CLASSIFICATION_TASKS) == ["xnli", "pawsx", "sib200"]
    assert [len(task.labels) for task in CLASSIFICATION_TASKS.values()] == [3, 2, 7]
    with pytest.raises(InputError, match="a file holds one language"):
        CLASSIFICATION_TASKS["pawsx"].read_eval("es", "test", str(PAWSX / "es" / "test_2k.tsv"), True)


def test_parse_label_names_and_ids():
    assert [parse_label(v, PAWSX_LABELS) for v in ("0", 1, "Paraphrase", 1.0, "2", True, None)] == [
        0,
        1,
        1,
        1,
        None,
        None,
        None,
    ]
