"""POS (UD UPOS) readers: CoNLL-U with comments, multi-word tokens and empty nodes, CoNLL columns, JSON, the Hub's
XTREME copy; word accuracy against a naive count; first-subword labels with the UPOS tag set."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, List, Value

from tests.tiny_models import wordpiece_tokenizer
from xladjust.data.languages import UDPOS_LANGUAGE_NAMES
from xladjust.errors import InputError
from xladjust.tasks.metrics import IGNORE_INDEX, tag_accuracy_compute_metrics, word_accuracy
from xladjust.tasks.ner import tokenize_and_align
from xladjust.tasks.pos import (
    UPOS_LABEL2ID,
    UPOS_LABELS,
    normalize_hub_pos,
    pos_config_name,
    pos_hub_sources,
    read_pos_file,
)

POS = Path(__file__).parents[1] / "fixtures" / "pos"
ROW = "\t".join  # a CoNLL-U line from its ten fields


def line(word_id: str, form: str, upos: str) -> str:
    return ROW([word_id, form, form.lower(), upos, "_", "_", "0", "root", "_", "_"])


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tags(dataset, row: int) -> list[str]:
    return [UPOS_LABELS[i] for i in dataset[row]["pos_tags"]]


def test_upos_order_and_xtreme_config_names():
    assert sorted(UPOS_LABELS) == UPOS_LABELS and len(UPOS_LABELS) == 17  # XTREME numbers them alphabetically
    assert [pos_config_name(lang) for lang in ("en", "es", "ru", "vi", "hi")] == [
        "udpos.English",
        "udpos.Spanish",
        "udpos.Russian",
        "udpos.Vietnamese",
        "udpos.Hindi",
    ]
    assert len(UDPOS_LANGUAGE_NAMES) == 33
    with pytest.raises(InputError, match="unknown language 'sw'"):
        pos_config_name("sw")
    repository, export = pos_hub_sources("es", "test")
    assert (repository.path, repository.name, repository.split) == ("google/xtreme", "udpos.Spanish", "test")
    assert export.data_files.endswith("google/xtreme@refs%2Fconvert%2Fparquet/udpos.Spanish/test/*.parquet")


def test_conllu_multiword_tokens_empty_nodes_comments(caplog):
    """The fixtures hold a ``# newdoc``/``# sent_id``/``# text`` comments, ``2-3 cannot`` and ``3.1`` in English
    train, ``1-2 Vámonos`` and ``3-4 al`` in Spanish test, and a sentence whose forms are all ``_`` in English test."""
    train, stats = read_pos_file(POS / "train.en.conllu", "en")
    assert (stats.sentences, stats.multiword_tokens, stats.empty_nodes) == (16, 1, 1)
    assert train[2]["tokens"] == ["We", "can", "not", "stay", "here", "."]  # the syntactic words, not "cannot"
    assert tags(train, 2) == ["PRON", "AUX", "PART", "VERB", "ADV", "PUNCT"]
    assert "is" not in train[13]["tokens"]  # the empty node 3.1 is no word
    spanish, stats = read_pos_file(POS / "test.es.conllu", "es")
    assert spanish[2]["tokens"] == ["Vamos", "nos", "a", "el", "mar", "."] and stats.multiword_tokens == 2
    assert spanish.features["pos_tags"].feature.names == UPOS_LABELS and spanish[0]["id"] == "es-0"
    vietnamese, _ = read_pos_file(POS / "test.vi.conllu", "vi")
    assert "Hà Nội" in vietnamese[2]["tokens"]  # UD Vietnamese words hold spaces
    with caplog.at_level(logging.WARNING):
        english, stats = read_pos_file(POS / "test.en.conllu", "en")
    assert len(english) == 4 and stats.sentences_without_text == 1
    assert "1 sentences dropped (1 whose forms are all '_'" in caplog.text


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("3\tsea\tsea\tNOUN", "expected 10 tab-separated CoNLL-U fields, found 4"),
        (ROW(["3", "sea", "sea", "NOUN", "_", "_", "X", "root", "_", "_"]), "not a CoNLL-U word line .*head"),
        (ROW(["x3", "sea", "sea", "NOUN", "_", "_", "0", "root", "_", "_"]), "not a CoNLL-U word line"),
        (line("3", "sea", "NOUNS"), "unknown UPOS tag 'NOUNS'"),
    ],
)
def test_a_malformed_line_names_file_and_line(tmp_path, bad_line, message):
    path = write(
        tmp_path / "bad.conllu", "# text = the sea", line("1", "the", "DET"), "# mid-sentence comment", bad_line
    )
    with pytest.raises(InputError, match=message) as error:
        read_pos_file(path, "en")
    assert error.value.path == str(path) and error.value.line == 4


def test_conll_columns_and_json_records(tmp_path):
    columns = write(tmp_path / "train.tsv", "The\tDET", "sea\tNOUN", "", "Go\tVERB", "!\tPUNCT")
    dataset, _ = read_pos_file(columns, "en")
    assert dataset["tokens"] == [["The", "sea"], ["Go", "!"]] and tags(dataset, 1) == ["VERB", "PUNCT"]
    records = [{"tokens": ["The", "sea"], "pos_tags": ["DET", 7]}, {"tokens": [], "pos_tags": []}]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    dataset, stats = read_pos_file(path, "en")
    assert tags(dataset, 0) == ["DET", "NOUN"] and stats.sentences_empty == 1
    path.write_text(json.dumps({"tokens": ["a"], "pos_tags": ["DET", "NOUN"]}), encoding="utf-8")
    with pytest.raises(InputError, match="as long as tokens") as error:
        read_pos_file(path, "en")
    assert error.value.line == 1


def test_hub_split_in_another_tag_order_is_converted_by_name_and_other_names_refused():
    permuted = list(reversed(UPOS_LABELS))
    features = Features({"tokens": List(Value("string")), "pos_tags": List(ClassLabel(names=permuted))})
    gold = [["DET", "NOUN", "PUNCT"], ["VERB", "X"]]
    rows = {"tokens": [["La", "mar", "."], ["Ve", "ya"]], "pos_tags": [[permuted.index(t) for t in s] for s in gold]}
    dataset, stats = normalize_hub_pos(Dataset.from_dict(rows, features=features), "es", source="hub")
    assert [tags(dataset, i) for i in range(2)] == gold and stats.sentences == 2
    other = Features({"tokens": List(Value("string")), "pos_tags": List(ClassLabel(names=["NN", "VB"]))})
    with pytest.raises(InputError, match="differ from the UPOS tags"):
        normalize_hub_pos(Dataset.from_dict({"tokens": [["a"]], "pos_tags": [[0]]}, features=other), "es")


def test_word_accuracy_against_a_naive_count():
    rng = random.Random(0)
    gold = [[rng.choice(UPOS_LABELS) for _ in range(rng.randint(1, 12))] for _ in range(50)]
    predicted = [[tag if rng.random() < 0.7 else rng.choice(UPOS_LABELS) for tag in sentence] for sentence in gold]
    correct = total = 0
    for gold_sentence, predicted_sentence in zip(gold, predicted, strict=True):
        for g, p in zip(gold_sentence, predicted_sentence, strict=True):
            correct += g == p
            total += 1
    assert word_accuracy(gold, predicted) == pytest.approx(correct / total)
    # Micro, not the mean of sentence accuracies: a long sentence weighs more.
    assert word_accuracy([["X"], ["X", "X", "X"]], [["NOUN"], ["X", "X", "X"]]) == 0.75
    with pytest.raises(ValueError, match="sequence 0: 1 true tags but 2"):
        word_accuracy([["X"]], [["X", "X"]])


def test_tag_accuracy_during_training_reads_labelled_positions_only():
    labels = np.array([[IGNORE_INDEX, 3, IGNORE_INDEX, 5], [IGNORE_INDEX, 1, 2, IGNORE_INDEX]])
    predicted = np.array([[0, 3, 9, 4], [7, 1, 2, 7]])
    logits = np.eye(17)[predicted]
    metrics = tag_accuracy_compute_metrics(SimpleNamespace(predictions=logits, label_ids=labels))
    assert metrics == {"accuracy": pytest.approx(3 / 4)}


def test_first_subword_labels_with_every_subword_keep_upos_ids():
    """With --label_all_tokens, continuation subwords copy the word's tag: the B-X → I-X map of NER must not touch
    UPOS ids (ADP is id 1 like B-PER, ADV id 2 like I-PER)."""
    tokenizer = wordpiece_tokenizer()
    words, upos = ["Madrid", "notwithstanding", "Paris"], ["PROPN", "ADP", "PROPN"]
    examples = {"tokens": [words], "pos_tags": [[UPOS_LABEL2ID[t] for t in upos]]}
    encoded = tokenize_and_align(
        examples, tokenizer, 32, label_all_tokens=True, tags_column="pos_tags", label_names=UPOS_LABELS
    )
    word_ids = encoded.word_ids(0)
    expected = [IGNORE_INDEX if w is None else examples["pos_tags"][0][w] for w in word_ids]
    assert encoded["labels"][0] == expected
    assert word_ids.count(1) > 1  # the ADP word is split into several subwords, all labelled ADP
