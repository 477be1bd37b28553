"""The text-classification tasks of run_xnli.py (``--task_name``): XNLI, PAWS-X and SIB-200.

All three fine-tune a sequence-classification head on English and score accuracy per language; they differ in
what is read (a premise/hypothesis pair, a sentence pair, one sentence), in the label set, and in the benchmark the
model card names. :data:`CLASSIFICATION_TASKS` holds what run_xnli.py needs to know about each:

- ``xnli``: :mod:`xladjust.tasks.nli` (``facebook/xnli``; MultiNLI for training with ``--train_dataset multi_nli``);
- ``pawsx``: :mod:`xladjust.tasks.pawsx` (``google-research-datasets/paws-x``);
- ``sib200``: :mod:`xladjust.tasks.sib200` (``Davlan/sib200``, configs by FLORES-200 code).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from xladjust.data.languages import PAWSX_LANGUAGES, XNLI_LANGUAGES, check_language, flores_code
from xladjust.errors import InputError
from xladjust.tasks.nli import NLI_HUB_DATASETS, NLI_LABELS, load_nli_dataset
from xladjust.tasks.pawsx import BENCHMARK as PAWSX_BENCHMARK
from xladjust.tasks.pawsx import PAWSX_HUB_DATASET, PAWSX_LABELS, load_pawsx_dataset
from xladjust.tasks.sib200 import BENCHMARK as SIB200_BENCHMARK
from xladjust.tasks.sib200 import SIB200_HUB_DATASET, SIB200_LABELS, load_sib200_dataset

EvalReader = Callable[[str, str, str | None, bool, str | None], Any]
"""``read(language, hub_split, path_or_None, shared, cache_dir) -> datasets.Dataset``."""
TrainReader = Callable[[str | None, str, str | None], tuple[Any, str]]
"""``read(path_or_None, hub_dataset, cache_dir) -> (datasets.Dataset, source)``: the English training split."""


@dataclass(frozen=True)
class ClassificationTask:
    """What run_xnli.py needs to know about one text-classification task."""

    name: str
    title: str  # for the model card: "NLI"
    card_task_name: str  # the model-index task name
    card_tags: tuple[str, ...]
    benchmark: str  # for messages and the model card: "XNLI"
    labels: Sequence[str]
    text_columns: tuple[str, ...]  # one column (a sentence) or two (a pair), tokenised together
    hub_dataset: str
    hub_config: Callable[[str], str]  # language → the Hub config, for the model card
    check_language: Callable[[str], Any]  # InputError for a language the benchmark does not have
    read_eval: EvalReader
    read_train: TrainReader


def _read_xnli(language: str, split: str, path: str | None, shared: bool, cache_dir: str | None = None) -> Any:
    """One language's split; a file shared by several languages must be the original XNLI format."""
    dataset, stats = load_nli_dataset(language, split, path, "xnli", cache_dir)
    if shared and not stats.rows_other_language:
        raise InputError(
            "has no rows of other languages (no `language` column), so it cannot be the file of several "
            "languages; give LANG=PATH per language or put {lang} in the path",
            path,
        )
    return dataset


def _train_xnli(path: str | None, hub_dataset: str, cache_dir: str | None) -> tuple[Any, str]:
    dataset, stats = load_nli_dataset("en", "train", path, hub_dataset, cache_dir)
    return dataset, stats.source


def _read_one_language(
    load: Callable, language: str, split: str, path: str | None, shared: bool, cache_dir: str | None = None
) -> Any:
    if shared:
        raise InputError("a file holds one language; give LANG=PATH per language or put {lang} in the path", path)
    return load(language, split, path, cache_dir)[0]


def _train_english(load: Callable, path: str | None, hub_dataset: str, cache_dir: str | None) -> tuple[Any, str]:
    dataset, stats = load("en", "train", path, cache_dir)
    return dataset, stats.source


CLASSIFICATION_TASKS = {
    "xnli": ClassificationTask(
        name="xnli",
        title="NLI",
        card_task_name="Natural Language Inference",
        card_tags=("text-classification", "xnli"),
        benchmark="XNLI",
        labels=NLI_LABELS,
        text_columns=("premise", "hypothesis"),
        hub_dataset=NLI_HUB_DATASETS["xnli"],
        hub_config=lambda language: language,
        check_language=partial(check_language, known=XNLI_LANGUAGES, what="XNLI"),
        read_eval=_read_xnli,
        read_train=_train_xnli,
    ),
    "pawsx": ClassificationTask(
        name="pawsx",
        title="paraphrase identification",
        card_task_name="Paraphrase Identification",
        card_tags=("text-classification", "paws-x"),
        benchmark=PAWSX_BENCHMARK,
        labels=PAWSX_LABELS,
        text_columns=("sentence1", "sentence2"),
        hub_dataset=PAWSX_HUB_DATASET,
        hub_config=lambda language: language,
        check_language=partial(check_language, known=PAWSX_LANGUAGES, what=PAWSX_BENCHMARK),
        read_eval=partial(_read_one_language, load_pawsx_dataset),
        read_train=partial(_train_english, load_pawsx_dataset),
    ),
    "sib200": ClassificationTask(
        name="sib200",
        title="topic classification",
        card_task_name="Topic Classification",
        card_tags=("text-classification", "sib-200"),
        benchmark=SIB200_BENCHMARK,
        labels=SIB200_LABELS,
        text_columns=("text",),
        hub_dataset=SIB200_HUB_DATASET,
        hub_config=partial(flores_code, what=SIB200_BENCHMARK),
        check_language=partial(flores_code, what=SIB200_BENCHMARK),
        read_eval=partial(_read_one_language, load_sib200_dataset),
        read_train=partial(_train_english, load_sib200_dataset),
    ),
}
"""``--task_name`` → the task."""
