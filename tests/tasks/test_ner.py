"""NER readers, IOB2 validation and repair, and subword label alignment with a locally built tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, List, Value

from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.errors import InputError
from xladjust.tasks.ner import (
    IGNORE_INDEX,
    NER_LABEL2ID,
    NER_LABELS,
    align_labels_with_tokens,
    iob2_violations,
    load_ner_dataset,
    ner_hub_source,
    normalize_hub_ner,
    read_ner_file,
    repair_iob2,
    tokenize_and_align,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ner"
LANGUAGES = ("en", *PAPER_LANGUAGES)


def ids(*names: str) -> list[int]:
    return [NER_LABEL2ID[name] for name in names]


def names(tag_ids: list[int]) -> list[str]:
    return [NER_LABELS[i] for i in tag_ids]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_label_order_is_wikiann():
    assert NER_LABELS == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


# --------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.mark.parametrize("language", LANGUAGES)
def test_conll_fixtures(language):
    dataset, stats = read_ner_file(FIXTURES / f"test.{language}.conll", language)
    assert len(dataset) == stats.sentences == 20 and stats.repairs == 0
    assert dataset.column_names == ["id", "tokens", "ner_tags"]
    assert dataset.features["ner_tags"].feature.names == NER_LABELS
    assert dataset[0]["id"] == f"{language}-0"
    tags = [tag for row in dataset["ner_tags"] for tag in row]
    for entity_type in ("PER", "ORG", "LOC"):
        assert NER_LABEL2ID[f"B-{entity_type}"] in tags
    assert all(len(row["tokens"]) == len(row["ner_tags"]) for row in dataset)


def test_conll_docstart_and_separators():
    english, _ = read_ner_file(FIXTURES / "test.en.conll", "en")  # starts with "-DOCSTART-\tO" and a blank line
    assert english[0]["tokens"][:2] == ["Anna", "Berg"]
    assert names(english[0]["ner_tags"][:2]) == ["B-PER", "I-PER"]
    hindi, _ = read_ner_file(FIXTURES / "test.hi.conll", "hi")  # space separated; PER followed directly by LOC
    assert names(hindi[0]["ner_tags"][:3]) == ["B-PER", "I-PER", "B-LOC"]


def test_fixtures_are_parallel_in_entities():
    counts = {}
    for language in LANGUAGES:
        dataset, _ = read_ner_file(FIXTURES / f"test.{language}.conll", language)
        counts[language] = [sum(NER_LABELS[t].startswith("B-") for t in row) for row in dataset["ner_tags"]]
    assert all(counts[language] == counts["en"] for language in LANGUAGES)


def test_train_fixture():
    dataset, stats = read_ner_file(FIXTURES / "train.en.jsonl", "en")
    assert len(dataset) == 60 and stats.tokens == sum(len(t) for t in dataset["tokens"])
    assert not any(iob2_violations(row).size for row in dataset["ner_tags"])
    entities = sum(NER_LABELS[t].startswith("B-") for row in dataset["ner_tags"] for t in row)
    assert entities > 100


def test_conll2003_four_columns_and_json_ids(tmp_path):
    path = write(
        tmp_path / "eng.testa",
        "-DOCSTART- -X- -X- O\n\nAnna NNP B-NP B-PER\nBerg NNP I-NP I-PER\nsmiles VBZ B-VP O\n\n\n",
    )
    dataset, _ = read_ner_file(path, "en", fmt="conll")
    assert dataset["tokens"] == [["Anna", "Berg", "smiles"]] and names(dataset["ner_tags"][0]) == [
        "B-PER",
        "I-PER",
        "O",
    ]
    records = [{"tokens": ["Lima", "!"], "ner_tags": [5, 0]}, {"tokens": [], "ner_tags": []}]
    path = write(tmp_path / "ids.json", json.dumps(records))
    dataset, stats = read_ner_file(path, "es")
    assert dataset["ner_tags"] == [[5, 0]] and stats.sentences_empty == 1


def test_load_ner_dataset_prefers_the_file():
    dataset, stats = load_ner_dataset("vi", "test", data_file=FIXTURES / "test.vi.conll")
    assert len(dataset) == 20 and stats.source.endswith("test.vi.conll")


# --------------------------------------------------------------------------------------------------------------
# IOB2 validation and the repair policy


@pytest.mark.parametrize(
    ("tags", "bad", "repaired"),
    (
        (["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], [], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
        (["I-PER", "I-PER", "O"], [0], ["B-PER", "I-PER", "O"]),
        (["O", "I-ORG", "I-ORG", "I-ORG"], [1], ["O", "B-ORG", "I-ORG", "I-ORG"]),
        (["B-LOC", "I-PER", "O", "I-LOC"], [1, 3], ["B-LOC", "B-PER", "O", "B-LOC"]),
        (["B-PER", "B-PER", "I-PER"], [], ["B-PER", "B-PER", "I-PER"]),
        ([], [], []),
    ),
)
def test_iob2_violations_and_repair(tags, bad, repaired):
    assert iob2_violations(ids(*tags)).tolist() == bad
    fixed, count = repair_iob2(ids(*tags))
    assert names(fixed) == repaired and count == len(bad)


INVALID_CONLL = "Anna\tB-PER\nBerg\tI-PER\n\nin\tO\nNew\tI-LOC\nDelhi\tI-LOC\n\nI-X\tO\nLima\tI-LOC\n"


def test_invalid_iob2_is_an_error_by_default(tmp_path):
    path = write(tmp_path / "bad.conll", INVALID_CONLL)
    with pytest.raises(InputError) as error:
        read_ner_file(path, "en")
    assert error.value.path == str(path) and error.value.line == 5
    assert "invalid IOB2: I-LOC at token 2 follows O" in str(
        error.value
    ) and "pass --iob2_repair convert to read it as B-LOC" in str(error.value)


def test_invalid_iob2_converted_and_counted(tmp_path):
    path = write(tmp_path / "bad.conll", INVALID_CONLL)
    dataset, stats = read_ner_file(path, "en", repair="convert")
    assert stats.repairs == 2
    assert [names(row) for row in dataset["ner_tags"]] == [["B-PER", "I-PER"], ["O", "B-LOC", "I-LOC"], ["O", "B-LOC"]]


def test_invalid_iob2_in_json(tmp_path):
    lines = (FIXTURES / "train.en.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[6])
    record["ner_tags"][0] = "I-" + record["ner_tags"][0][2:]  # first token is an entity start in this record
    lines[6] = json.dumps(record)
    path = write(tmp_path / "train.en.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(
        InputError, match=r"train\.en\.jsonl:7: invalid IOB2: I-\w+ at token 1 follows the sentence start"
    ):
        read_ner_file(path, "en")
    _, stats = read_ner_file(path, "en", repair="convert")
    assert stats.repairs == 1


def test_unknown_tags(tmp_path):
    path = write(tmp_path / "misc.conll", "Anna\tB-PER\n\nthe\tO\nEuro\tB-MISC\n")
    with pytest.raises(InputError, match=r"misc\.conll:4: unknown tag 'B-MISC'"):
        read_ner_file(path, "en")
    path = write(
        tmp_path / "lower.jsonl", '{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["Lima"], "ner_tags": ["b-loc"]}\n'
    )
    with pytest.raises(InputError, match=r"lower\.jsonl:2: unknown tag 'b-loc'"):
        read_ner_file(path, "en")
    path = write(tmp_path / "range.jsonl", '{"tokens": ["Lima"], "ner_tags": [7]}\n')
    with pytest.raises(InputError, match=r"range\.jsonl:1: unknown tag 7"):
        read_ner_file(path, "en", repair="convert")  # repair never touches unknown tags


def test_malformed_files(tmp_path):
    with pytest.raises(InputError, match=r"one\.conll:2: expected a token and a tag"):
        read_ner_file(write(tmp_path / "one.conll", "Anna\tB-PER\nBerg\n"), "en")
    with pytest.raises(InputError, match=r"len\.jsonl:1: ner_tags must be a list as long as tokens"):
        read_ner_file(write(tmp_path / "len.jsonl", '{"tokens": ["a", "b"], "ner_tags": ["O"]}\n'), "en")
    with pytest.raises(InputError, match=r"field\.jsonl:1: missing required field\(s\) ner_tags"):
        read_ner_file(write(tmp_path / "field.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n'), "en")
    with pytest.raises(InputError, match="unknown IOB2 repair policy 'drop'"):
        read_ner_file(FIXTURES / "test.en.conll", "en", repair="drop")
    with pytest.raises(InputError, match="unknown language 'english'"):
        read_ner_file(FIXTURES / "test.en.conll", "english")
    with pytest.raises(InputError, match=r"blank\.conll: no sentences"):
        read_ner_file(write(tmp_path / "blank.conll", "\n-DOCSTART- O\n\n"), "en")


# --------------------------------------------------------------------------------------------------------------
# Hub helpers


def test_hub_source_and_normalize():
    assert ner_hub_source("hi", "validation") == ("unimelb-nlp/wikiann", "hi", "validation")
    assert ner_hub_source("zh-yue", "test")[1] == "zh-yue"
    features = Features(
        {
            "tokens": List(Value("string")),
            "ner_tags": List(ClassLabel(names=NER_LABELS)),
            "langs": List(Value("string")),
        }
    )
    hub = Dataset.from_dict(
        {
            "tokens": [["Anna", "Berg"], [], ["in", "Lima"]],
            "ner_tags": [ids("B-PER", "I-PER"), [], ids("O", "I-LOC")],
            "langs": [["en", "en"], [], ["en", "en"]],
        },
        features=features,
    )
    with pytest.raises(InputError, match="sentence 3: invalid IOB2"):
        normalize_hub_ner(hub, "en")
    dataset, stats = normalize_hub_ner(hub, "en", repair="convert")
    assert dataset.column_names == ["id", "tokens", "ner_tags"] and dataset["id"] == ["en-0", "en-1"]
    assert names(dataset[1]["ner_tags"]) == ["O", "B-LOC"]
    assert stats.sentences_empty == 1 and stats.repairs == 1


# --------------------------------------------------------------------------------------------------------------
# Subword alignment


B_PER, I_PER, B_LOC, I_LOC, O_TAG = (NER_LABEL2ID[n] for n in ("B-PER", "I-PER", "B-LOC", "I-LOC", "O"))


def test_align_first_subword_only():
    # [CLS] An ##na | Berg | in | Bu ##en ##os | [SEP]
    word_ids = [None, 0, 0, 1, 2, 3, 3, 3, None]
    word_labels = [B_PER, I_PER, O_TAG, B_LOC]
    assert align_labels_with_tokens(word_labels, word_ids) == [
        -100,
        B_PER,
        -100,
        I_PER,
        O_TAG,
        B_LOC,
        -100,
        -100,
        -100,
    ]


def test_align_all_subwords_continue_the_entity():
    word_ids = [None, 0, 0, 1, 1, 2, 3, 3, 3, None]
    word_labels = [B_PER, I_PER, O_TAG, B_LOC]
    expected = [-100, B_PER, I_PER, I_PER, I_PER, O_TAG, B_LOC, I_LOC, I_LOC, -100]
    assert align_labels_with_tokens(word_labels, word_ids, label_all_tokens=True) == expected


def test_align_edge_cases():
    assert align_labels_with_tokens([], [None, None]) == [-100, -100]
    assert align_labels_with_tokens([IGNORE_INDEX, O_TAG], [0, 0, 1], label_all_tokens=True) == [-100, -100, O_TAG]
    with pytest.raises(ValueError, match="out of range"):
        align_labels_with_tokens([O_TAG], [None, 0, 1, None])


def reference_alignment(word_labels, word_ids, label_all_tokens):
    """The loop of the Hugging Face token-classification example, for comparison."""
    b_to_i = {B_PER: I_PER, B_LOC: I_LOC, NER_LABEL2ID["B-ORG"]: NER_LABEL2ID["I-ORG"]}
    labels, previous = [], None
    for word_id in word_ids:
        if word_id is None:
            labels.append(-100)
        elif word_id != previous:
            labels.append(word_labels[word_id])
        else:
            labels.append(b_to_i.get(word_labels[word_id], word_labels[word_id]) if label_all_tokens else -100)
        previous = word_id
    return labels


@pytest.fixture(scope="module")
def tokenizer():
    """A small WordPiece tokenizer trained on the NER fixtures, so that names split into several pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = []
    for language in LANGUAGES:
        dataset, _ = read_ner_file(FIXTURES / f"test.{language}.conll", language)
        corpus += [" ".join(tokens) for tokens in dataset["tokens"]]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


@pytest.mark.parametrize("label_all_tokens", (False, True))
def test_tokenize_and_align_with_dataset_map(tokenizer, label_all_tokens):
    dataset, _ = read_ner_file(FIXTURES / "test.ru.conll", "ru")
    encoded = dataset.map(
        tokenize_and_align,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "max_length": 128, "label_all_tokens": label_all_tokens},
        remove_columns=dataset.column_names,
    )
    continuations = 0
    for row, source in zip(encoded, dataset, strict=True):
        word_ids = tokenizer(source["tokens"], is_split_into_words=True).word_ids()
        assert len(row["labels"]) == len(row["input_ids"])
        assert row["labels"] == reference_alignment(source["ner_tags"], word_ids, label_all_tokens)
        if not label_all_tokens:  # one label per word, in order
            assert [label for label in row["labels"] if label != -100] == source["ner_tags"]
        continuations += sum(
            1 for i in range(1, len(word_ids)) if word_ids[i] is not None and word_ids[i] == word_ids[i - 1]
        )
    assert continuations > 0  # the small vocabulary does split words, so continuation subwords are exercised


def test_tokenize_and_align_truncates(tokenizer):
    dataset, _ = read_ner_file(FIXTURES / "test.vi.conll", "vi")
    batch = tokenize_and_align(dataset[:4], tokenizer, max_length=8)
    assert all(
        len(labels) == len(input_ids) <= 8
        for labels, input_ids in zip(batch["labels"], batch["input_ids"], strict=True)
    )
    assert all(labels[0] == labels[-1] == -100 for labels in batch["labels"])


def test_tokenize_and_align_needs_a_fast_tokenizer():
    class Slow:
        is_fast = False

    with pytest.raises(InputError, match="not a fast tokenizer"):
        tokenize_and_align({"tokens": [["a"]], "ner_tags": [[0]]}, Slow(), 8)
