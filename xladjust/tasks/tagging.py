"""The word-tagging tasks of run_ner.py (``--task_name``): NER on WikiANN and POS tagging on Universal Dependencies.

Both tag every word, train on the first subword of each word (:func:`xladjust.tasks.ner.tokenize_and_align`) and
write one predictions record per sentence, ``{"id", "gold", "predicted"}`` with one tag per word. They differ in
what is read, how a sentence is scored, and what the model card reports:

- ``ner``: WikiANN (PER/ORG/LOC in IOB2), entity-level precision/recall/F1 (seqeval, strict) and word accuracy;
  a word cut off by ``--max_seq_length`` counts as predicted ``O``;
- ``pos``: UD UPOS (17 tags), word accuracy (XTREME's POS metric); a word cut off counts as wrong (predicted
  ``_``). Its records carry ``"metric": "word_accuracy"`` so that run_report.py scores them as word accuracy, not
  as entity F1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xladjust.data.languages import WIKIANN_LANGUAGES, check_language
from xladjust.errors import InputError
from xladjust.tasks.label_balance import RARE_SHARE
from xladjust.tasks.metrics import (
    WORD_ACCURACY,
    make_ner_compute_metrics,
    tag_accuracy_compute_metrics,
)
from xladjust.tasks.ner import NER_HUB_DATASET, NER_LABELS, load_ner_dataset
from xladjust.tasks.pos import BENCHMARK as POS_BENCHMARK
from xladjust.tasks.pos import (
    POS_HUB_DATASET,
    UDPOS_LANGUAGES,
    UPOS_LABELS,
    load_pos_dataset,
    pos_config_name,
)
from xladjust.tasks.seqeval_strict import SeqevalStrict
from xladjust.tasks.word_accuracy import WordAccuracy


@dataclass(frozen=True)
class TaggingTask:
    """What run_ner.py needs to know about one tagging task."""

    name: str
    title: str  # for the model card: "NER", "POS tagging"
    card_task_name: str  # the model-index task name
    card_tags: tuple[str, ...]
    benchmark: str  # for messages: "WikiANN"
    languages: Sequence[str]
    labels: Sequence[str]
    tags_column: str  # the dataset column of the tag ids
    hub_dataset: str
    hub_config: Callable[[str], str]  # language → the Hub config, for the model card
    cut_off_tag: str  # the prediction of a word beyond --max_seq_length
    card_metrics: tuple[tuple[str, str, str], ...]  # (results suffix, metric type, metric name)
    average_keys: tuple[str, ...]  # the metrics averaged over the zero-shot languages
    score: Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]]], dict[str, float]]  # tag names per word
    trainer_metrics: Callable[[Any], dict[str, float]]  # compute_metrics of evaluations during training
    load: Callable[[str, str, str | None, str, str | None], tuple[Any, Any]]  # (language, split, path, repair, cache)
    record_fields: tuple[tuple[str, str], ...] = ()  # added to every predictions record
    rare_share: float = RARE_SHARE  # a tag under this share of the training words is warned about

    def check_language(self, language: str) -> None:
        check_language(language, self.languages, self.benchmark)


def _ner_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    return SeqevalStrict(keep_in_memory=True).compute(predictions=predicted, references=gold)


def _pos_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    return WordAccuracy(keep_in_memory=True).compute(predictions=predicted, references=gold)


def _load_pos(language: str, split: str, path: str | None, repair: str, cache_dir: str | None) -> tuple[Any, Any]:
    if repair != "error":
        raise InputError("--iob2_repair is for NER's IOB2 tags; POS tags have no IOB2 scheme")
    return load_pos_dataset(language, split, path, cache_dir)


TAGGING_TASKS = {
    "ner": TaggingTask(
        name="ner",
        title="NER",
        card_task_name="Named Entity Recognition",
        card_tags=("token-classification", "wikiann"),
        benchmark="WikiANN",
        languages=WIKIANN_LANGUAGES,
        labels=NER_LABELS,
        tags_column="ner_tags",
        hub_dataset=NER_HUB_DATASET,
        hub_config=lambda language: language,
        cut_off_tag="O",
        card_metrics=tuple(
            (key, key, f"{key.capitalize()} (entity level, seqeval)") for key in ("f1", "precision", "recall")
        ),
        average_keys=("f1", "precision", "recall"),
        score=_ner_scores,
        trainer_metrics=make_ner_compute_metrics(NER_LABELS),
        load=load_ner_dataset,
    ),
    "pos": TaggingTask(
        name="pos",
        title="POS tagging",
        card_task_name="Part-of-Speech Tagging",
        card_tags=("token-classification", "pos", "universal-dependencies"),
        benchmark=POS_BENCHMARK,
        languages=UDPOS_LANGUAGES,
        labels=UPOS_LABELS,
        tags_column="pos_tags",
        hub_dataset=POS_HUB_DATASET,
        hub_config=pos_config_name,
        cut_off_tag="_",
        card_metrics=(("accuracy", "accuracy", "Accuracy (words, UPOS)"),),
        average_keys=("accuracy",),
        score=_pos_scores,
        trainer_metrics=tag_accuracy_compute_metrics,
        load=_load_pos,
        record_fields=(("metric", WORD_ACCURACY),),
        # SYM and X are under 1 % of the words of UD English: only an absent (or nearly absent) tag is a warning.
        rare_share=0.001,
    ),
}
"""``--task_name`` → the task."""
