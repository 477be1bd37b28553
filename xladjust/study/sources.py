"""What a study reads from the Hugging Face Hub: the one list behind ``python -m xladjust.check_hub`` (can each
source be read from here?) and ``reproduce.py --prefetch`` (download them all into the cache, for compute nodes
without internet).

It is read off the study's steps, option by option, as each script reads it (:func:`study_sources`):

- every ``--model_name_or_path`` / ``--tokenizer_name`` / ``--models LABEL=MODEL`` / ``--filter_model`` /
  ``--align_filter_model`` that is neither a local folder nor a step's output: a Hub model;
- run_adjust.py, and continual learning in the task scripts: ``--parallel_dataset_name`` /
  ``--align_dataset_name`` with its configs (OPUS-style by default) and split, unless local files are given;
- run_xnli.py / run_ner.py (every ``--task_name``: XNLI, PAWS-X, SIB-200; WikiANN, UD-POS) and run_belebele.py:
  the English training split (``--train_dataset`` of run_xnli.py and run_belebele.py) unless ``--train_file``;
  per ``--eval_languages`` language without a local file, the validation split with ``--do_eval``, the test
  split with ``--do_predict`` (Belebele has its test split only);
- run_qa.py: the training set (``--train_dataset``, SQuAD) unless ``--train_file``, and its validation split for
  ``--select_on english_dev`` without ``--selection_file``; with ``--do_eval`` each
  ``--eval_sets`` entry without a local file (``NAME=PATH``, ``--eval_files``);
- run_analysis.py: Tatoeba per language for ``--analyses sentence_retrieval --retrieval_corpus tatoeba`` without
  ``--tatoeba_dir``; the other analyses read the adjustments' held-out files.

Each dataset comes with the loaders' own candidate sources in their order (:func:`xladjust.tasks.nli.nli_hub_sources`,
:func:`~xladjust.tasks.ner.ner_hub_sources`, :func:`~xladjust.tasks.pos.pos_hub_sources`, the PAWS-X, SIB-200 and
Belebele ones, :func:`~xladjust.tasks.qa.data.eval_set_sources`,
:func:`~xladjust.data.tatoeba.tatoeba_sources`, :func:`~xladjust.data.parallel.build_sources`), so a check or a
prefetch tries exactly what the scripts will. eflomal alignment (no alignment files given) reads nothing from the
Hub: it runs on the node, inside run_adjust.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xladjust.analysis.arguments import ANALYSES
from xladjust.data.hub import HubSource
from xladjust.data.languages import OPUS100_DATASET, PARALLEL_DATASET
from xladjust.data.parallel import build_sources
from xladjust.data.tatoeba import tatoeba_sources
from xladjust.study.config import StudyConfig
from xladjust.study.matrix import Step, build_steps
from xladjust.tasks.arguments import file_entry_language
from xladjust.tasks.multiple_choice import belebele_hub_sources
from xladjust.tasks.ner import ner_hub_sources
from xladjust.tasks.nli import nli_hub_sources
from xladjust.tasks.pawsx import pawsx_hub_sources
from xladjust.tasks.pos import pos_hub_sources
from xladjust.tasks.qa.data import eval_set_sources, resolve_set_spec
from xladjust.tasks.sib200 import sib200_hub_sources

logger = logging.getLogger(__name__)

# The scripts' defaults for the options read here (tests/study/test_prefetch.py checks them against the scripts).
XNLI_TRAIN_DATASET = "xnli"
QA_TRAIN_DATASET = "rajpurkar/squad"
PARALLEL_SPLIT = "train"
RETRIEVAL_CORPUS = "pairs"

_DATASET_LABELS = {PARALLEL_DATASET: "WikiMatrix", OPUS100_DATASET: "OPUS-100"}
# run_xnli.py / run_ner.py --task_name → (benchmark, the loader's sources of (language, split))
_CLASSIFICATION = {"pawsx": ("PAWS-X", pawsx_hub_sources), "sib200": ("SIB-200", sib200_hub_sources)}
_TAGGING = {"ner": ("WikiANN", ner_hub_sources), "pos": ("UD-POS", pos_hub_sources)}
_TRUE = ("", "true", "yes", "1")


@dataclass(frozen=True)
class Check:
    """One dataset split the study needs, with its candidate sources in the loaders' order."""

    benchmark: str
    what: str  # e.g. "es test" or "mlqa.es.en test"
    sources: tuple[HubSource, ...]

    @property
    def label(self) -> str:
        return f"{self.benchmark} {self.what}"


@dataclass
class StudySources:
    """The Hub models and dataset splits a study reads, each once, in the order the steps first need them."""

    models: list[str] = field(default_factory=list)
    datasets: list[Check] = field(default_factory=list)

    def add_model(self, name: str) -> None:
        if name not in self.models:
            self.models.append(name)

    def add(self, check: Check) -> None:
        if all(check.sources != known.sources for known in self.datasets):
            self.datasets.append(check)


def options(args: Sequence[str]) -> dict[str, list[str]]:
    """``["--a", "1", "2", "--b"]`` → ``{"a": ["1", "2"], "b": []}`` (render_args writes one flag, then values)."""
    parsed: dict[str, list[str]] = {}
    current = None
    for word in args:
        if word.startswith("--"):
            current = word[2:]
            parsed[current] = []
        elif current is not None:
            parsed[current].append(word)
    return parsed


def _one(values: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    given = values.get(name)
    return given[0] if given else default


def _flag(values: dict[str, list[str]], name: str) -> bool:
    return name in values and (not values[name] or values[name][0].lower() in _TRUE)


def _has_file(entries: Sequence[str], language: str) -> bool:
    """Whether ``--validation_files``/``--test_files`` entries give ``language`` a local file (``LANG=PATH``, or a
    PATH for every language without its own)."""
    return any(file_entry_language(entry) in (None, language) for entry in entries)


def study_sources(config: StudyConfig, steps: Iterable[Step] | None = None) -> StudySources:
    """What the steps (default: every step of ``config``) read from the Hub (see the module docstring)."""
    steps = list(build_steps(config) if steps is None else steps)
    outputs = {os.path.normpath(step.output_dir) for step in steps}
    found = StudySources()
    for step in steps:
        values = options(step.args)
        for model in _models(values):
            if os.path.normpath(model) not in outputs and not os.path.exists(model):
                found.add_model(model)
        for check in _datasets(step.script, values):
            found.add(check)
    return found


def _models(values: dict[str, list[str]]) -> list[str]:
    models = [*values.get("model_name_or_path", []), *values.get("tokenizer_name", [])]
    # The sentence encoder that scores parallel pairs (--filter_model, e.g. LaBSE), for the adjustment or the pool.
    models += [*values.get("filter_model", []), *values.get("align_filter_model", [])]
    models += [entry.partition("=")[2] for entry in values.get("models", []) if "=" in entry]
    return [model for model in models if model]


def _datasets(script: str, values: dict[str, list[str]]) -> list[Check]:
    checks = _parallel(values, "parallel_", "parallel_files") + _parallel(values, "align_", "align_parallel_file")
    name = os.path.basename(script)
    if name == "run_xnli.py" and _one(values, "task_name", "xnli") == "xnli":
        dataset = _one(values, "train_dataset", XNLI_TRAIN_DATASET)
        label = "MultiNLI" if dataset == "multi_nli" else "XNLI"
        checks += _task(values, lambda lang, split: nli_hub_sources(lang, split), "XNLI")
        if _flag(values, "do_train") and "train_file" not in values:
            checks.insert(0, Check(label, "en train", tuple(nli_hub_sources("en", "train", dataset))))
    elif name in ("run_xnli.py", "run_ner.py"):
        tasks = _CLASSIFICATION if name == "run_xnli.py" else _TAGGING
        benchmark, sources = tasks[_one(values, "task_name", "ner")]
        checks += _task(values, sources, benchmark)
        if _flag(values, "do_train") and "train_file" not in values:
            checks.insert(0, Check(benchmark, "en train", tuple(sources("en", "train"))))
    elif name == "run_belebele.py":
        checks += _task(values, lambda lang, split: belebele_hub_sources(lang), "Belebele", splits=("test",))
        dataset = _one(values, "train_dataset")
        if _flag(values, "do_train") and "train_file" not in values and dataset is not None:
            split = _one(values, "train_split", "train")
            source = HubSource(dataset, _one(values, "train_dataset_config"), split)
            checks.insert(0, Check("Belebele training", f"{dataset} {split}", (source,)))
    elif name == "run_qa.py":
        if _flag(values, "do_train") and "train_file" not in values:
            dataset = _one(values, "train_dataset", QA_TRAIN_DATASET)
            checks.append(Check("SQuAD" if dataset == QA_TRAIN_DATASET else dataset, "train", (HubSource(dataset),)))
            if _one(values, "select_on") == "english_dev" and "selection_file" not in values:  # its dev set
                label = "SQuAD" if dataset == QA_TRAIN_DATASET else dataset
                checks.append(Check(label, "validation", (HubSource(dataset, None, "validation"),)))
        if _flag(values, "do_eval"):
            local = {entry.partition("=")[0] for entry in values.get("eval_files", []) if "=" in entry}
            for spec in values.get("eval_sets", []):
                if "=" in spec or spec.partition(":")[0] in local:
                    continue
                eval_set = resolve_set_spec(spec)
                what = f"{eval_set.name} {eval_set.split}"
                checks.append(Check(eval_set.benchmark.upper(), what, tuple(eval_set_sources(eval_set))))
    elif name == "run_analysis.py":
        retrieval = "sentence_retrieval" in values.get("analyses", ANALYSES)
        if (
            retrieval
            and _one(values, "retrieval_corpus", RETRIEVAL_CORPUS) == "tatoeba"
            and not values.get("tatoeba_dir")
        ):
            checks += [Check("Tatoeba", f"{lang}-en", tuple(tatoeba_sources(lang))) for lang in values["languages"]]
    elif not name.startswith("run_adjust"):
        logger.warning("%s: not known to read from the Hub; prefetch and check_hub skip its data", script)
    return checks


def _task(
    values: dict[str, list[str]], sources, benchmark: str, splits: Sequence[str] = ("validation", "test")
) -> list[Check]:
    """The evaluation splits of a task script: per evaluated language without a local file."""
    checks = []
    for split, flag, files in (("validation", "do_eval", "validation_files"), ("test", "do_predict", "test_files")):
        if split not in splits or not _flag(values, flag):
            continue
        for language in values.get("eval_languages", []):
            if not _has_file(values.get(files, []), language):
                checks.append(Check(benchmark, f"{language} {split}", tuple(sources(language, split))))
    return checks


def _parallel(values: dict[str, list[str]], prefix: str, files_flag: str) -> list[Check]:
    """The parallel data of an adjustment (``parallel_``) or of continual learning (``align_``) on the Hub."""
    names = {"parallel_": ("parallel_dataset_name", "parallel_dataset_config_names", "languages")}
    names["align_"] = ("align_dataset_name", "align_dataset_config_names", "align_languages")
    dataset_flag, configs_flag, languages_flag = names[prefix]
    dataset = _one(values, dataset_flag)
    if dataset is None or values.get(files_flag) or os.path.isdir(dataset):
        return []
    split = _one(values, "parallel_dataset_split", PARALLEL_SPLIT) if prefix == "parallel_" else PARALLEL_SPLIT
    languages = values.get(languages_flag, [])
    sources = build_sources(languages, None, None, dataset, values.get(configs_flag) or None, split)
    label = _DATASET_LABELS.get(dataset, dataset)
    hub = [(source.dataset_config, HubSource(dataset, source.dataset_config, split)) for source in sources]
    return [Check(label, f"{config} {split}", (source,)) for config, source in hub]
