"""Extractive-QA data: reading SQuAD-format files and resolving evaluation-set names.

Every reader returns a ``datasets.Dataset`` with the flattened Hugging Face columns ``id, title, context,
question, answers`` where ``answers = {"text": [...], "answer_start": [...]}`` (``QA_FEATURES``).

Evaluation-set names (``resolve_set_spec``), optionally followed by ``:SPLIT``:

- ``xquad.L`` -> Hub ``google/xquad``, config ``xquad.L``, split ``validation`` (the only split); else
  ``google/xtreme`` config ``XQuAD.L``.
- ``mlqa.C.Q`` (context language C, question language Q) -> Hub ``facebook/mlqa``, config ``mlqa.C.Q``, split
  ``test``; ``mlqa.C.Q:validation`` for the dev set. The answer language is C. ``facebook/mlqa`` is a script
  repository, refused by datasets ≥ 4, so the data comes from its parquet export (``refs/convert/parquet``,
  folder ``mlqa.C.Q/<split>``), else from ``google/xtreme`` config ``MLQA.C.Q``.
- ``tydiqa.L`` -> TyDi QA GoldP: Hub ``google-research-datasets/tydiqa``, config ``secondary_task`` (else
  ``google/xtreme`` config ``tydiqa``), split ``validation``, keeping the questions whose id starts with the TyDi
  language name (``TYDIQA_LANGUAGE_NAMES``, e.g. ``ru`` -> ``russian-``): the config holds the nine GoldP
  languages in one split. Japanese and Thai are in TyDi's primary task only, not in GoldP: refused.
- ``NAME=PATH``: NAME as above (it gives the language and the id filter), data read from the local file PATH.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from xladjust.data.hub import HubSource, load_first, parquet_export
from xladjust.errors import InputError
from xladjust.tasks.qa.metrics import SUPPORTED_LANGUAGES

logger = logging.getLogger(__name__)

QA_COLUMNS = ("id", "title", "context", "question", "answers")
QA_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {
            "text": datasets.List(datasets.Value("string")),
            "answer_start": datasets.List(datasets.Value("int32")),
        },
    }
)

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
TYDIQA_LANGUAGE_NAMES = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}
"""ISO 639-1 code -> the language name TyDi QA uses as question-id prefix (``russian-<number>-<index>``): the nine
languages of the gold-passage task (GoldP)."""
TYDIQA_PRIMARY_ONLY = {"ja": "Japanese", "th": "Thai"}
"""TyDi QA languages without gold-passage data (the primary task only), refused by name."""
XTREME_DATASET = "google/xtreme"

EVAL_SET_PATTERNS = (
    "xquad.L, mlqa.C.Q (context language C, question language Q) or tydiqa.L, optionally followed by :SPLIT, "
    "or NAME=PATH for a local SQuAD-format file"
)


# ---------------------------------------------------------------------------------------------------------------
# Reading local files


@dataclass
class _Record:
    """One question before validation, with where it came from (for error messages)."""

    raw: Any
    where: str  # e.g. "data[0].paragraphs[2].qas[1]" or "record 5"
    line: int | None = None
    squad: bool = False  # SQuAD layout: title and context come from the article and paragraph
    title: Any = ""
    context: Any = None


def read_qa_file(
    path: str | Path, *, allow_unanswerable: bool = False, allow_repeated_ids: bool = False
) -> datasets.Dataset:
    """Read a local QA file into a dataset with ``QA_FEATURES``.

    Accepted layouts: SQuAD JSON (``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}``, as XQuAD,
    MLQA and TyDi GoldP ship), flattened records as a JSON list, as ``{"data": [records]}``, or as JSON Lines
    (``.jsonl``, or a ``.json`` file holding one object per line). Every answer must satisfy
    ``context[answer_start:answer_start + len(text)] == text``; questions without answers are refused unless
    ``allow_unanswerable``, and a file in which no question has an answer text is refused as unlabelled (a
    label-stripped test copy). Question ids must be unique (predictions are keyed by id) unless
    ``allow_repeated_ids`` (training files: TyDi GoldP's English train reuses ids), where the repeats are counted in
    one warning. Mistakes raise ``InputError`` naming the file, the question id and, for JSON Lines, the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason} at byte {error.start})", path) from None

    records = list(_json_lines(text, path) if path.suffix == ".jsonl" else _json_document(text, path))
    if records and not allow_unanswerable and not any(_has_answer_text(record) for record in records):
        raise InputError(
            f"the file appears unlabelled: none of its {len(records)} questions has an answer text (a "
            "label-stripped test copy cannot be scored; use the labelled release)",
            path,
        )
    columns: dict[str, list] = {name: [] for name in QA_COLUMNS}
    first_seen: dict[str, str] = {}
    repeated = 0
    for record in records:
        row = _validate(record, path, allow_unanswerable)
        if row["id"] in first_seen:
            if not allow_repeated_ids:
                message = f"question id {row['id']!r} ({record.where}) already used by {first_seen[row['id']]}"
                raise InputError(message, path, record.line)
            repeated += 1
        first_seen.setdefault(row["id"], record.where)
        for name in QA_COLUMNS:
            columns[name].append(row[name])
    if not columns["id"]:
        raise InputError("no questions found", path)
    if repeated:
        logger.warning(
            "%s: %d of %d questions reuse an id of an earlier question (kept: ids identify nothing in training)",
            path,
            repeated,
            len(columns["id"]),
        )
    return datasets.Dataset.from_dict(columns, features=QA_FEATURES)


def _has_answer_text(record: _Record) -> bool:
    """Whether a raw question has a non-empty answer text, in either layout. Malformed questions (no ``answers``,
    wrong types) count as labelled, so that validation reports what is wrong with them."""
    answers = record.raw.get("answers") if isinstance(record.raw, dict) else None
    if isinstance(answers, dict):
        texts = answers.get("text")
    elif isinstance(answers, list):
        texts = [answer.get("text") if isinstance(answer, dict) else answer for answer in answers]
    else:
        return True
    if not isinstance(texts, list):
        return True
    return any(not isinstance(answer, str) or answer.strip() for answer in texts)


def _json_document(text: str, path: Path) -> Iterator[_Record]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # several top-level values: JSON Lines under a .json name
            return _json_lines(text, path)
        raise InputError(f"invalid JSON: {error.msg} (column {error.colno})", path, error.lineno) from None
    if isinstance(document, list):
        return (_Record(item, f"record {index}") for index, item in enumerate(document))
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        items = document["data"]
        if all(isinstance(item, dict) and "paragraphs" in item for item in items):
            return _squad_records(items, path)
        return (_Record(item, f"data[{index}]") for index, item in enumerate(items))
    raise InputError(
        'expected SQuAD JSON ({"data": [{"title", "paragraphs": [...]}]}), a JSON list of records, or JSON Lines', path
    )


def _json_lines(text: str, path: Path) -> Iterator[_Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"invalid JSON: {error.msg} (column {error.colno})", path, number) from None
        yield _Record(item, f"line {number}", line=number)


def _squad_records(articles: list[dict], path: Path) -> Iterator[_Record]:
    for a, article in enumerate(articles):
        paragraphs = article["paragraphs"]
        if not isinstance(paragraphs, list):
            raise InputError(f"data[{a}].paragraphs must be a list", path)
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{where} must be an object with a 'qas' list", path)
            if "context" not in paragraph:
                raise InputError(f"{where} has no 'context'", path)
            for q, qa in enumerate(paragraph["qas"]):
                title = article.get("title", "")
                yield _Record(qa, f"{where}.qas[{q}]", squad=True, title=title, context=paragraph["context"])


def _validate(record: _Record, path: Path, allow_unanswerable: bool) -> dict[str, Any]:
    """Check one question and return its row; errors name the question id when it has one."""
    item = record.raw
    if not isinstance(item, dict):
        raise InputError(f"{record.where}: expected an object, got {type(item).__name__}", path, record.line)
    raw_id = item.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        problem = "has no 'id'" if raw_id is None else "has an 'id' that is not a string"
        raise InputError(f"{record.where}: question {problem}", path, record.line)
    question_id = str(raw_id)

    def fail(message: str) -> InputError:
        return InputError(f"question {question_id!r} ({record.where}): {message}", path, record.line)

    context = record.context if record.squad else item.get("context")
    title = record.title if record.squad else item.get("title", "")
    question = item.get("question")
    for name, value in (("context", context), ("question", question)):
        if value is None:
            raise fail(f"missing or null {name!r}")
        if not isinstance(value, str):
            raise fail(f"{name!r} must be a string, got {type(value).__name__}")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise fail(f"'title' must be a string, got {type(title).__name__}")
    if "answers" not in item:
        raise fail("missing key 'answers'")
    texts, starts = _squad_answers(item["answers"], fail) if record.squad else _flat_answers(item["answers"], fail)

    for index, (answer, start) in enumerate(zip(texts, starts, strict=True)):
        if not isinstance(answer, str):
            raise fail(f"answer {index}: 'text' must be a string, got {type(answer).__name__}")
        if isinstance(start, bool) or not isinstance(start, int):
            raise fail(f"answer {index}: 'answer_start' must be an integer, got {start!r}")
        if not answer:
            raise fail(f"answer {index}: empty answer text")
        found = context[start : start + len(answer)] if start >= 0 else ""
        if found != answer:
            raise fail(
                f"answer {index}: context[{start}:{start + len(answer)}] is {found!r}, not the answer text {answer!r}"
            )
    if not texts and not allow_unanswerable:
        raise fail("has no answers")
    answers = {"text": list(texts), "answer_start": list(starts)}
    return {"id": question_id, "title": title, "context": context, "question": question, "answers": answers}


def _squad_answers(answers: Any, fail) -> tuple[list, list]:
    if not isinstance(answers, list):
        raise fail(f"'answers' must be a list of {{'text', 'answer_start'}} objects, got {type(answers).__name__}")
    texts, starts = [], []
    for index, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise fail(f"answer {index} must be an object, got {type(answer).__name__}")
        for key in ("text", "answer_start"):
            if key not in answer:
                raise fail(f"answer {index}: missing key {key!r}")
        texts.append(answer["text"])
        starts.append(answer["answer_start"])
    return texts, starts


def _flat_answers(answers: Any, fail) -> tuple[list, list]:
    if not isinstance(answers, dict):
        kind = type(answers).__name__
        raise fail(f"'answers' must be an object {{'text': [...], 'answer_start': [...]}}, got {kind}")
    for key in ("text", "answer_start"):
        if key not in answers:
            raise fail(f"'answers' has no key {key!r}")
        if not isinstance(answers[key], list):
            raise fail(f"'answers.{key}' must be a list, got {type(answers[key]).__name__}")
    texts, starts = answers["text"], answers["answer_start"]
    if len(texts) != len(starts):
        raise fail(f"'answers' has {len(texts)} texts but {len(starts)} answer_start values")
    return texts, starts


# ---------------------------------------------------------------------------------------------------------------
# Evaluation sets


@dataclass(frozen=True)
class QaSetSpec:
    """A resolved evaluation-set name: where the data comes from and which languages it is in."""

    name: str  # canonical name without split or path, e.g. "mlqa.es.en"
    benchmark: str  # "xquad" | "mlqa" | "tydiqa"
    context_language: str
    question_language: str
    split: str
    hub_name: str
    hub_config: str
    path: str | None = None  # local override
    id_prefix: str | None = None  # TyDi: keep questions whose id starts with this

    @property
    def answer_language(self) -> str:
        """Language the answers (spans of the context) are in, which selects the metric's normalisation."""
        return self.context_language

    def card_dataset(self) -> tuple[str, str, str | None, str | None] | None:
        """``(Hub id, name, config, split)`` of the benchmark for the model card (None: a set known by language)."""
        if self.benchmark not in _PRETTY_NAMES:
            return None
        language = self.context_language if self.benchmark != "mlqa" else self.name[len("mlqa.") :]
        return self.hub_name, f"{_PRETTY_NAMES[self.benchmark]} ({language})", self.hub_config, self.split

    def describe(self) -> str:
        if self.path is not None:
            return f"{self.name} ({self.path})"
        return f"{self.name} ({self.hub_name}:{self.hub_config}[{self.split}])"


_PRETTY_NAMES = {"xquad": "XQuAD", "mlqa": "MLQA", "tydiqa": "TyDi QA GoldP"}
_NAME = re.compile(r"^(?P<benchmark>xquad|mlqa|tydiqa)\.(?P<languages>[a-z]{2}(?:\.[a-z]{2})?)(?::(?P<split>\w+))?$")

# benchmark -> (Hub repository, its splits with the default first, languages it has)
_BENCHMARKS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "xquad": ("google/xquad", ("validation",), XQUAD_LANGUAGES),
    "mlqa": ("facebook/mlqa", ("test", "validation"), MLQA_LANGUAGES),
    "tydiqa": ("google-research-datasets/tydiqa", ("validation", "train"), tuple(TYDIQA_LANGUAGE_NAMES)),
}


def resolve_set_spec(spec: str) -> QaSetSpec:
    """Resolve ``xquad.L``, ``mlqa.C.Q``, ``tydiqa.L`` (optionally ``:SPLIT``) or ``NAME=PATH`` (see module doc)."""
    name, separator, path = (part.strip() for part in spec.partition("="))
    match = _NAME.match(name)
    if match is None:
        raise InputError(f"unknown evaluation set {name!r}; expected {EVAL_SET_PATTERNS}")
    benchmark, split = match["benchmark"], match["split"]
    languages = match["languages"].split(".")
    hub_name, splits, benchmark_languages = _BENCHMARKS[benchmark]
    if benchmark == "tydiqa" and languages[0] in TYDIQA_PRIMARY_ONLY:
        raise InputError(
            f"evaluation set {name!r}: TyDi QA GoldP (the gold-passage task) has no "
            f"{TYDIQA_PRIMARY_ONLY[languages[0]]}; {TYDIQA_PRIMARY_ONLY[languages[0]]} is in TyDi's primary task "
            f"only. GoldP languages: {', '.join(TYDIQA_LANGUAGE_NAMES)}"
        )
    canonical = f"{benchmark}.{'.'.join(languages)}"

    expected_count = 2 if benchmark == "mlqa" else 1
    if len(languages) != expected_count:
        form = "mlqa.C.Q (context language, question language)" if benchmark == "mlqa" else f"{benchmark}.L"
        raise InputError(f"unknown evaluation set {name!r}: expected {form}")
    # A local file may hold a language the Hub set lacks; TyDi still needs the id prefix of a TyDi language.
    needs_benchmark_language = not separator or benchmark == "tydiqa"
    for language in languages:
        if needs_benchmark_language and language not in benchmark_languages:
            raise InputError(
                f"unknown evaluation set {name!r}: {benchmark} has no language {language!r}; "
                f"valid languages: {', '.join(benchmark_languages)}"
            )
        if language not in SUPPORTED_LANGUAGES:
            raise InputError(f"evaluation set {name!r}: no answer normalisation for language {language!r}")
    if separator:
        if not path:
            raise InputError(f"evaluation set {spec!r}: empty path after '='")
        if split is not None:
            raise InputError(f"evaluation set {spec!r}: a split cannot be given for a local file")
    elif split is not None and split not in splits:
        raise InputError(f"evaluation set {name!r}: {benchmark} has no split {split!r}; valid: {', '.join(splits)}")

    if benchmark == "tydiqa":
        hub_config, id_prefix = "secondary_task", TYDIQA_LANGUAGE_NAMES[languages[0]] + "-"
    else:
        hub_config, id_prefix = canonical, None
    return QaSetSpec(
        name=canonical,
        benchmark=benchmark,
        context_language=languages[0],
        question_language=languages[-1],
        split=split or splits[0],
        hub_name=hub_name,
        hub_config=hub_config,
        path=path if separator else None,
        id_prefix=id_prefix,
    )


def answer_language(eval_set_name: str) -> str:
    """Language of the answers of an evaluation set (for ``mlqa.C.Q``: C, the context language)."""
    return resolve_set_spec(eval_set_name).answer_language


def eval_set_sources(eval_set: QaSetSpec) -> list[HubSource]:
    """Where a set is read from on the Hub, in order (see the module docstring)."""
    main = HubSource(eval_set.hub_name, eval_set.hub_config, eval_set.split)
    if eval_set.benchmark == "mlqa":
        export = parquet_export(eval_set.hub_name, eval_set.hub_config, eval_set.split)
        return [main, export, HubSource(XTREME_DATASET, "MLQA." + eval_set.name[len("mlqa.") :], eval_set.split)]
    if eval_set.benchmark == "tydiqa":
        return [main, HubSource(XTREME_DATASET, "tydiqa", eval_set.split)]
    if eval_set.benchmark == "xquad":
        return [main, HubSource(XTREME_DATASET, f"XQuAD.{eval_set.context_language}", eval_set.split)]
    return [main]


def load_eval_set(eval_set: QaSetSpec | str, cache_dir: str | None = None) -> datasets.Dataset:
    """Load an evaluation set with ``QA_FEATURES`` columns: the local file if overridden, else from the Hub.

    TyDi data is filtered to the set's language by question-id prefix; a local TyDi file whose ids carry no
    language prefix at all is taken to be one language already and kept whole.
    """
    if isinstance(eval_set, str):
        eval_set = resolve_set_spec(eval_set)
    if eval_set.path is not None:
        dataset = read_qa_file(eval_set.path)
    else:
        dataset, _ = load_first(eval_set.name, eval_set_sources(eval_set), cache_dir=cache_dir)
        dataset = standardize_columns(dataset)
    if eval_set.id_prefix is not None:
        dataset = _filter_tydi_language(dataset, eval_set)
    if len(dataset) and not any(text.strip() for answers in dataset["answers"] for text in answers["text"]):
        raise InputError(f"{eval_set.describe()} appears unlabelled: no question has an answer text", eval_set.path)
    logger.info("Evaluation set %s: %d questions", eval_set.describe(), len(dataset))
    return dataset


def load_hub_train_set(name: str, cache_dir: str | None = None, split: str = "train") -> datasets.Dataset:
    """A split (``train``; ``validation`` for English-only model selection) of a SQuAD-format Hub dataset
    (``rajpurkar/squad``) with ``QA_FEATURES`` columns."""
    dataset, _ = load_first(f"QA {split} data {name}", [HubSource(name, None, split)], cache_dir=cache_dir)
    return standardize_columns(dataset)


def standardize_columns(dataset: datasets.Dataset) -> datasets.Dataset:
    """Bring a Hub QA dataset to ``QA_FEATURES``: MLQA has no ``title``; column order and int widths vary."""
    if "title" not in dataset.column_names:
        dataset = dataset.add_column("title", [""] * len(dataset))
    missing = [name for name in QA_COLUMNS if name not in dataset.column_names]
    if missing:
        raise InputError(f"dataset has no column(s) {', '.join(missing)}; found {', '.join(dataset.column_names)}")
    return dataset.select_columns(list(QA_COLUMNS)).cast(QA_FEATURES)


def _filter_tydi_language(dataset: datasets.Dataset, eval_set: QaSetSpec) -> datasets.Dataset:
    prefixes = tuple(name + "-" for name in TYDIQA_LANGUAGE_NAMES.values())
    ids = dataset["id"]
    if eval_set.path is not None and not any(question_id.startswith(prefixes) for question_id in ids):
        return dataset
    keep = [index for index, question_id in enumerate(ids) if question_id.startswith(eval_set.id_prefix)]
    if not keep:
        raise InputError(f"{eval_set.describe()}: no question id starts with {eval_set.id_prefix!r}", eval_set.path)
    return dataset.select(keep)
