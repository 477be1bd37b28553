"""Hub loading under datasets ≥ 4: script refusals, parquet exports, xtreme fallbacks, and the self-check.

Nothing is downloaded: ``datasets.load_dataset`` is replaced by :class:`tests.builders.FakeHub` (the ``fake_hub``
fixture), which refuses the script repositories with exactly the RuntimeError datasets raises, and serves small
parquet files written here with the real repositories' layout (config folders, split folders) and features
(ClassLabel names, ``Translation``, SQuAD ``answers`` structs), read back through the real parquet loader.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, Features, List, Translation, Value

from xladjust import check_hub
from xladjust.data import hub
from xladjust.data.hub import HubSource, load_first
from xladjust.data.languages import default_config_name
from xladjust.data.parallel import build_sources, read_parallel_dataset
from xladjust.errors import InputError
from xladjust.tasks.multiple_choice import load_belebele
from xladjust.tasks.ner import NER_LABELS, load_ner_dataset
from xladjust.tasks.nli import NLI_LABELS, load_nli_dataset
from xladjust.tasks.pawsx import load_pawsx_dataset
from xladjust.tasks.pos import UPOS_LABELS, load_pos_dataset
from xladjust.tasks.qa.data import QA_COLUMNS, QA_FEATURES, load_eval_set, resolve_set_spec
from xladjust.tasks.sib200 import SIB200_LABELS, load_sib200_dataset

EXPORT = "hf://datasets/{repo}@refs%2Fconvert%2Fparquet/"
CONTEXT = "El zorro rojo vive en el bosque viejo."

SQUAD_ANSWERS = {"text": List(Value("string")), "answer_start": List(Value("int32"))}
MLQA_FEATURES = Features(  # facebook/mlqa: no title column
    {"context": Value("string"), "question": Value("string"), "answers": SQUAD_ANSWERS, "id": Value("string")}
)
XTREME_QA_FEATURES = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": SQUAD_ANSWERS,
    }
)
# XTREME's PAN-X copy, written here with the tags in another id order to check the conversion by name.
PERMUTED_TAGS = ["B-LOC", "I-LOC", "O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
SENTENCES = [["Juan", "vive", "en", "Madrid"], ["Naciones", "Unidas"]]
GOLD_TAGS = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"]]


def qa_rows(prefix: str = "q") -> dict:
    return {
        "context": [CONTEXT, CONTEXT],
        "question": ["¿Dónde vive?", "¿Quién vive?"],
        "answers": [{"text": ["bosque viejo"], "answer_start": [25]}, {"text": ["zorro rojo"], "answer_start": [3]}],
        "id": [f"{prefix}-1", f"{prefix}-2"],
    }


def ner_table(names: list[str], extra: dict | None = None) -> Dataset:
    features = {"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names))}
    rows = {"tokens": SENTENCES, "ner_tags": [[names.index(tag) for tag in tags] for tags in GOLD_TAGS]}
    if extra:
        features.update({key: value[0] for key, value in extra.items()})
        rows.update({key: value[1] for key, value in extra.items()})
    return Dataset.from_dict(rows, features=Features(features))


# ---------------------------------------------------------------------------------------------------------------
# The generic fallback


def test_load_first_tries_in_order_and_lists_everything_it_tried(fake_hub):
    fake = fake_hub(scripts={"org/script"})
    sources = [HubSource("org/script", "a", "test"), HubSource("org/missing", "a", "test")]
    with pytest.raises(InputError) as error:
        load_first("thing", sources)
    message = str(error.value)
    assert "org/script:a[test]: script repository refused" in message and "found script.py" in message
    assert "org/missing:a[test]: DatasetNotFoundError" in message
    assert [call[0] for call in fake.calls] == ["org/script", "org/missing"]


def test_load_first_lets_other_errors_through(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("a bug, not a missing source")

    monkeypatch.setattr(hub.datasets, "load_dataset", broken)
    with pytest.raises(TypeError):
        load_first("thing", [HubSource("org/a"), HubSource("org/b")])


def test_load_first_says_when_the_hub_cannot_be_reached(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'org/a' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(hub.datasets, "load_dataset", offline)
    with pytest.raises(InputError, match="The Hub cannot be reached"):
        load_first("thing", [HubSource("org/a")])


# ---------------------------------------------------------------------------------------------------------------
# MLQA, TyDi, XQuAD


def test_mlqa_comes_from_the_parquet_export_of_the_script_repository(fake_hub, caplog):
    fake = fake_hub(scripts={"facebook/mlqa"})
    fake.add("facebook/mlqa", "mlqa.es.en", "test", Dataset.from_dict(qa_rows(), features=MLQA_FEATURES), export=True)
    with caplog.at_level(logging.INFO):
        dataset = load_eval_set("mlqa.es.en")
    assert fake.calls == [
        ("facebook/mlqa", "mlqa.es.en", "test", None),
        ("parquet", None, "test", EXPORT.format(repo="facebook/mlqa") + "mlqa.es.en/test/*.parquet"),
    ]
    assert dataset.features == QA_FEATURES and dataset.column_names == list(QA_COLUMNS)
    assert dataset[0]["answers"] == {"text": ["bosque viejo"], "answer_start": [25]} and dataset[0]["title"] == ""
    assert "read from the fallback hf://datasets/facebook/mlqa@refs%2Fconvert%2Fparquet/mlqa.es.en" in caplog.text


def test_mlqa_falls_back_to_xtreme_with_capitalised_config(fake_hub):
    fake = fake_hub(scripts={"facebook/mlqa"})
    rows = {**qa_rows("x"), "title": ["Zorro", "Zorro"]}
    fake.add("google/xtreme", "MLQA.es.en", "validation", Dataset.from_dict(rows, features=XTREME_QA_FEATURES))
    dataset = load_eval_set("mlqa.es.en:validation")
    assert fake.calls[-1] == ("google/xtreme", "MLQA.es.en", "validation", None)
    assert dataset["id"] == ["x-1", "x-2"] and dataset["title"] == ["Zorro", "Zorro"]


def test_mlqa_without_any_source_names_all_three(fake_hub):
    fake_hub(scripts={"facebook/mlqa"})
    with pytest.raises(InputError) as error:
        load_eval_set("mlqa.vi.en")
    message = str(error.value)
    for tried in (
        "facebook/mlqa:mlqa.vi.en[test]",
        "refs%2Fconvert%2Fparquet/mlqa.vi.en/test/*.parquet",
        "google/xtreme:MLQA.vi.en[test]",
    ):
        assert tried in message


def test_xquad_and_tydiqa_from_their_repositories(fake_hub):
    fake = fake_hub()
    xquad = {**qa_rows("xq"), "title": ["", ""]}
    fake.add("google/xquad", "xquad.es", "validation", Dataset.from_dict(xquad, features=XTREME_QA_FEATURES))
    tydi = {**qa_rows(), "id": ["russian-1-0", "english-2-0"], "title": ["", ""]}
    fake.add(
        "google-research-datasets/tydiqa",
        "secondary_task",
        "validation",
        Dataset.from_dict(tydi, features=XTREME_QA_FEATURES),
    )
    assert load_eval_set("xquad.es")["id"] == ["xq-1", "xq-2"]
    fake.add("google/xtreme", "XQuAD.hi", "validation", Dataset.from_dict(xquad, features=XTREME_QA_FEATURES))
    assert load_eval_set("xquad.hi")["id"] == ["xq-1", "xq-2"]
    assert fake.calls[-2:] == [
        ("google/xquad", "xquad.hi", "validation", None),
        ("google/xtreme", "XQuAD.hi", "validation", None),
    ]
    assert load_eval_set("tydiqa.ru")["id"] == ["russian-1-0"]


@pytest.mark.parametrize(("name", "language"), [("tydiqa.ja", "Japanese"), ("tydiqa.th", "Thai")])
def test_tydiqa_goldp_refuses_japanese_and_thai_before_any_download(fake_hub, name, language):
    fake = fake_hub()
    for spec in (name, f"{name}=local.json"):
        with pytest.raises(InputError, match=f"GoldP .*has no {language}.*primary task"):
            resolve_set_spec(spec)
    assert fake.calls == []
    for goldp in ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te"):
        assert resolve_set_spec(f"tydiqa.{goldp}").id_prefix is not None


# ---------------------------------------------------------------------------------------------------------------
# WikiANN


@pytest.mark.parametrize("variant", ["repository", "parquet export", "xtreme"])
def test_wikiann_sources_and_tag_order(fake_hub, variant, caplog):
    fake = fake_hub(scripts=() if variant == "repository" else {"unimelb-nlp/wikiann"})
    langs = {"langs": (List(Value("string")), [["es"] * 4, ["es"] * 2])}
    if variant == "repository":
        fake.add("unimelb-nlp/wikiann", "es", "test", ner_table(NER_LABELS, langs))
    elif variant == "parquet export":
        fake.add("unimelb-nlp/wikiann", "es", "test", ner_table(NER_LABELS, langs), export=True)
    else:
        fake.add("google/xtreme", "PAN-X.es", "test", ner_table(PERMUTED_TAGS, langs))
    with caplog.at_level(logging.INFO):
        dataset, stats = load_ner_dataset("es", "test")
    expected = {
        "repository": "unimelb-nlp/wikiann:es[test]",
        "parquet export": EXPORT.format(repo="unimelb-nlp/wikiann") + "es/test/0000.parquet",
        "xtreme": "google/xtreme:PAN-X.es[test]",
    }[variant]
    assert stats.source == expected and expected in caplog.text
    assert dataset.features["ner_tags"].feature.names == NER_LABELS
    assert dataset["tokens"] == SENTENCES
    assert [[NER_LABELS[t] for t in tags] for tags in dataset["ner_tags"]] == GOLD_TAGS


def test_wikiann_copy_with_other_tag_names_is_refused(fake_hub):
    fake = fake_hub(scripts={"unimelb-nlp/wikiann"})
    other = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=other))})
    table = Dataset.from_dict({"tokens": SENTENCES, "ner_tags": [[1, 0, 0, 5], [3, 4]]}, features=features)
    fake.add("google/xtreme", "PAN-X.es", "test", table)
    with pytest.raises(InputError, match="tag names .* differ"):
        load_ner_dataset("es", "test")


# ---------------------------------------------------------------------------------------------------------------
# XNLI, OPUS-100


def test_xnli_from_facebook_xnli_with_its_class_labels(fake_hub):
    fake = fake_hub()
    features = Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=NLI_LABELS)}
    )
    rows = {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [2, 0, 1]}
    fake.add("facebook/xnli", "es", "test", Dataset.from_dict(rows, features=features))
    dataset, stats = load_nli_dataset("es", "test")
    assert fake.calls[0][:3] == ("facebook/xnli", "es", "test")
    assert dataset["label"] == [2, 0, 1] and dataset.features["label"].names == NLI_LABELS
    assert stats.source == "facebook/xnli:es[test]"


@pytest.mark.parametrize(
    ("language", "config"),
    [
        ("ar", "ar-en"),
        ("bg", "bg-en"),
        ("de", "de-en"),
        ("es", "en-es"),
        ("ru", "en-ru"),
        ("vi", "en-vi"),
        ("hi", "en-hi"),
    ],
)
def test_opus100_default_config_is_the_sorted_pair(language, config):
    assert default_config_name(language) == config
    (source,) = build_sources([language], None, None, "Helsinki-NLP/opus-100", None)
    assert source.dataset_config == config
    (explicit,) = build_sources([language], None, None, "Helsinki-NLP/opus-100", [f"custom-{language}"])
    assert explicit.dataset_config == f"custom-{language}"


def test_opus100_reads_the_translation_column_of_the_sorted_config(fake_hub):
    fake = fake_hub()
    for pair in (["ar", "en"], ["en", "es"]):
        other = pair[0] if pair[1] == "en" else pair[1]
        rows = {"translation": [{"en": "the cat", other: f"{other} cat"}]}
        table = Dataset.from_dict(rows, features=Features({"translation": Translation(languages=pair)}))
        fake.add("Helsinki-NLP/opus-100", "-".join(pair), "train", table)
    for language in ("ar", "es"):
        (source,) = build_sources([language], None, None, "Helsinki-NLP/opus-100", None)
        (pair,) = read_parallel_dataset(source)
        assert pair.target == [language, "cat"] and pair.english == ["the", "cat"]
    (wrong,) = build_sources(["ar"], None, None, "Helsinki-NLP/opus-100", ["en-ar"])
    with pytest.raises(InputError, match=r"BuilderConfig 'en-ar' not found\. Available: \['ar-en', 'en-es'\]"):
        read_parallel_dataset(wrong)


# ---------------------------------------------------------------------------------------------------------------
# UD-POS, PAWS-X, SIB-200, Belebele


@pytest.mark.parametrize("variant", ["repository", "parquet export"])
def test_udpos_from_xtreme_by_language_name(fake_hub, variant):
    fake = fake_hub(scripts=() if variant == "repository" else {"google/xtreme"})
    features = Features({"tokens": List(Value("string")), "pos_tags": List(ClassLabel(names=UPOS_LABELS))})
    rows = {"tokens": [["La", "mar", "."]], "pos_tags": [[UPOS_LABELS.index(t) for t in ("DET", "NOUN", "PUNCT")]]}
    fake.add(
        "google/xtreme",
        "udpos.Spanish",
        "test",
        Dataset.from_dict(rows, features=features),
        export=variant != "repository",
    )
    dataset, stats = load_pos_dataset("es", "test")
    assert fake.calls[0][:3] == ("google/xtreme", "udpos.Spanish", "test")
    if variant == "parquet export":
        assert stats.source == EXPORT.format(repo="google/xtreme") + "udpos.Spanish/test/*.parquet"
    assert dataset["tokens"] == [["La", "mar", "."]] and dataset["pos_tags"] == rows["pos_tags"]


def test_pawsx_from_its_repository_with_string_class_labels(fake_hub):
    fake = fake_hub()
    features = Features(
        {
            "id": Value("int32"),
            "sentence1": Value("string"),
            "sentence2": Value("string"),
            "label": ClassLabel(names=["0", "1"]),
        }
    )
    rows = {"id": [1, 2, 3], "sentence1": ["A .", "B .", "C ."], "sentence2": ["A !", "NS", "C !"], "label": [1, 0, 0]}
    fake.add("google-research-datasets/paws-x", "es", "test", Dataset.from_dict(rows, features=features))
    dataset, stats = load_pawsx_dataset("es", "test")
    assert stats.source == "google-research-datasets/paws-x:es[test]"
    assert dataset["sentence1"] == ["A .", "C ."] and dataset["label"] == [1, 0] and stats.dropped.total() == 1


def test_sib200_script_repository_read_from_its_parquet_export(fake_hub):
    fake = fake_hub(scripts={"Davlan/sib200"})
    rows = {"index_id": [7, 8], "category": ["sports", "geography"], "text": ["Gol.", "Un lago."]}
    fake.add("Davlan/sib200", "spa_Latn", "test", Dataset.from_dict(rows), export=True)
    dataset, stats = load_sib200_dataset("es", "test")
    assert fake.calls[0][:3] == ("Davlan/sib200", "spa_Latn", "test")
    assert stats.source == EXPORT.format(repo="Davlan/sib200") + "spa_Latn/test/*.parquet"
    assert [SIB200_LABELS[i] for i in dataset["label"]] == ["sports", "geography"]


BELEBELE_ROW = {
    "link": "https://example.org/wiki/x",
    "question_number": 1,
    "flores_passage": "El faro se construyó en 1850.",
    "question": "¿Cuándo?",
    **{f"mc_answer{i}": answer for i, answer in enumerate(["1960", "1850", "1905", "1750"], start=1)},
    "correct_answer_num": "2",
    "dialect": "spa_Latn",
    "ds": "2023-05-03",
}


@pytest.mark.parametrize("layout", ["config per variant", "older default config", "data file"])
def test_belebele_layouts(fake_hub, layout):
    fake = fake_hub()
    table = Dataset.from_list([BELEBELE_ROW])
    if layout == "config per variant":
        fake.add("facebook/belebele", "spa_Latn", "test", table)
    elif layout == "older default config":
        fake.add("facebook/belebele", "default", "spa_Latn", table)
    else:
        fake.add("facebook/belebele", "default", "deu_Latn", table)  # the repository exists, without this variant
        fake.add_file("facebook/belebele", "data/spa_Latn.jsonl", json.dumps(BELEBELE_ROW) + "\n")
    dataset, stats = load_belebele("es", "test")
    expected = {
        "config per variant": "facebook/belebele:spa_Latn[test]",
        "older default config": "facebook/belebele:default[spa_Latn]",
        "data file": "hf://datasets/facebook/belebele/data/spa_Latn.jsonl",
    }[layout]
    assert stats.source == expected and dataset["label"] == [1] and dataset["mc_answer2"] == ["1850"]


# ---------------------------------------------------------------------------------------------------------------
# The self-check

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class StreamingHub:
    """Serves three rows for any source, except script repositories and the ``missing`` ones."""

    def __init__(self, scripts=(), missing=()):
        self.scripts, self.missing, self.calls = set(scripts), set(missing), []

    def __call__(self, path, name=None, *, split, data_files=None, cache_dir=None, streaming=False):
        assert streaming, "the self-check must stream, not download"
        key = data_files[split] if data_files else f"{path}:{name}"
        self.calls.append(key)
        if path in self.scripts:
            raise RuntimeError(f"Dataset scripts are no longer supported, but found {path.split('/')[-1]}.py")
        if any(part in key for part in self.missing):
            raise datasets.exceptions.DatasetNotFoundError(f"{key} doesn't exist on the Hub")
        return Dataset.from_dict({"sentence1": ["a", "b", "c", "d"], "sentence2": ["e", "f", "g", "h"]})


@pytest.fixture
def online(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(check_hub, "hub_unreachable", lambda: None)


def test_check_hub_covers_the_study_and_reports_fallbacks(monkeypatch, online):
    fake = StreamingHub(scripts={"facebook/mlqa", "unimelb-nlp/wikiann"})
    monkeypatch.setattr(hub.datasets, "load_dataset", fake)
    lines = []
    assert check_hub.check_hub(["es", "hi"], echo=lines.append) == 0
    text = "\n".join(lines)
    needed = [
        "facebook/xnli:es",
        "facebook/xnli:hi",
        "facebook/xnli:en[train]",  # run_xnli.py's training data (--train_dataset xnli), as configs/paper.json reads
        "unimelb-nlp/wikiann:en[train]",
        "rajpurkar/squad",
        "google/xquad:xquad.hi",
        "mlqa.es.es/test",
        "mlqa.es.en/test",
        "mlqa.en.es/test",
        "mlqa.hi.en/test",
        "mlqa.en.en/test",
        "google-research-datasets/tydiqa:secondary_task",
        "sentence-transformers/parallel-sentences-wikimatrix:en-es",
        "sentence-transformers/parallel-sentences-wikimatrix:en-hi",
        "mteb/tatoeba-bitext-mining:spa-eng",
        "tatoeba-bitext-mining:hin-eng",
        "wikiann@refs%2Fconvert%2Fparquet/hi/test/0000.parquet",
    ]
    for source in needed:
        assert source in text, source
    mlqa = next(line for line in lines if "MLQA mlqa.es.en" in line)
    assert mlqa.startswith("OK") and "[fallback; before it: facebook/mlqa:mlqa.es.en[test]: script repository" in mlqa
    assert "columns: sentence1, sentence2" in mlqa and "3 rows read" in mlqa
    assert any(line.startswith("OK    WikiMatrix en-hi train: sentence-transformers/") for line in lines)
    assert lines[-1].startswith(f"{len(lines) - 1} of {len(lines) - 1} sources usable")


def test_check_hub_covers_the_benchmarks_beyond_the_paper(monkeypatch, online):
    fake = StreamingHub()
    monkeypatch.setattr(hub.datasets, "load_dataset", fake)
    lines = []
    beyond = check_hub.paper_config(["es", "hi"], path=CONFIGS / "beyond.json")
    assert check_hub.check_hub(echo=lines.append, config=beyond) == 0
    text = "\n".join(lines)
    needed = [
        "google/xtreme:udpos.English[train]",
        "google/xtreme:udpos.Hindi[test]",
        "google-research-datasets/paws-x:en[train]",
        "google-research-datasets/paws-x:es[test]",
        "Davlan/sib200:eng_Latn[train]",
        "Davlan/sib200:hin_Deva[test]",
        "facebook/belebele:spa_Latn[test]",
        "facebook/belebele:hin_Deva[test]",
    ]
    for source in needed:
        assert source in text, source
    assert "paws-x:hi" not in text  # PAWS-X has no Hindi: beyond.json restricts it to es


def test_check_hub_reads_what_the_configs_tasks_read(monkeypatch, online, tmp_path):
    fake = StreamingHub()
    monkeypatch.setattr(hub.datasets, "load_dataset", fake)
    only = {name: {"enabled": name == "pawsx"} for name in ("xnli", "ner", "qa", "pos", "pawsx", "sib200", "belebele")}
    config = tmp_path / "pawsx.json"
    config.write_text(json.dumps({"extends": str(CONFIGS / "beyond.json"), "tasks": only, "languages": ["es"]}))
    lines = []
    assert check_hub.check_hub(echo=lines.append, config=check_hub.paper_config(path=config)) == 0
    benchmarks = {line.split()[1] for line in lines[:-1]}
    assert benchmarks == {"PAWS-X", "WikiMatrix", "Tatoeba"}  # the task, the parallel data, XSR's Tatoeba


def test_check_hub_fails_when_a_source_and_its_fallbacks_are_unusable(monkeypatch, online):
    fake = StreamingHub(scripts={"facebook/mlqa"}, missing={"tatoeba"})
    monkeypatch.setattr(hub.datasets, "load_dataset", fake)
    lines = []
    assert check_hub.check_hub(["ru"], echo=lines.append) == 1
    (failed,) = [line for line in lines if line.startswith("FAIL")]
    assert "Tatoeba ru-en" in failed
    assert "mteb/tatoeba-bitext-mining:rus-eng[test]" in failed and "google/xtreme:tatoeba.rus[validation]" in failed
    assert "1 not" in lines[-1]


def test_check_hub_offline_says_so_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.datasets, "load_dataset", StreamingHub())
    lines = []
    assert check_hub.check_hub(["es"], echo=lines.append) == 2
    assert len(lines) == 1 and lines[0].startswith("offline: HF_HUB_OFFLINE=1 is set")


def test_check_hub_cli_without_network(monkeypatch, capsys):

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(check_hub, "hub_unreachable", lambda: "cannot reach https://huggingface.co (ConnectError)")
    assert check_hub.main(["--languages", "es"]) == 2
    assert capsys.readouterr().out.strip().splitlines() == [
        "offline: cannot reach https://huggingface.co (ConnectError); run this on a machine with Hub access"
    ]
