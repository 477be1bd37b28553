"""A study's runs and their per-example scores: where the runs are (manifest or folder layout) and what each
predictions file holds (QA EM/F1, NER entity counts, POS word counts, NLI/PAWS-X/SIB-200/Belebele and
sentence-retrieval correctness), and the analysis steps' distance summaries."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.analysis.significance import entity_counts
from xladjust.errors import InputError
from xladjust.tasks.metrics import WORD_ACCURACY

logger = logging.getLogger(__name__)

NON_TASKS = {"adjust", "analysis", "report", "logs"}
_SPLIT = re.compile(r"^(eval|predict)_(.+?)(_scores)?$")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_CROSS_LINGUAL = re.compile(r"^mlqa\.([a-z]{2})\.([a-z]{2})(?:[-:].*)?$")
_RETRIEVAL = re.compile(r"^sentence_retrieval\.([a-z]{2,3})\.layer(-?\d+)\.(to_en|from_en)$")
_ADJUSTED_ON = re.compile(r"^(.+) \(adjusted on ([a-z]{2,3})\)$")
QA_BENCHMARKS = ("xquad", "mlqa", "tydiqa")


@dataclass
class StudyRun:
    """One step of a study as the report sees it: its coordinates in the matrix and its folder (not to be confused
    with :class:`xladjust.run_folder.Run`, a script's own run folder)."""

    task: str
    variant: str
    language: str | None
    seed: int
    output_dir: str
    pairs: int | None = None  # max_train_pairs of the adjustment behind the encoder (from the manifest)


@dataclass
class SetScores:
    """Per-example scores of one evaluation set in one run: ``values`` has shape ``(examples, k)``."""

    ids: list[str]
    values: np.ndarray
    statistic: str  # a key of STATISTICS
    metric: str


def locate(folder: str, manifest_dir: str, study_root: str | None) -> str:
    """A step folder as written (absolute, or relative to where reproduce.py ran), else the same place relative to
    the manifest's folder (the study was moved or is read from elsewhere)."""
    if os.path.isdir(folder) or os.path.isabs(folder) or not study_root:
        return folder
    moved = os.path.join(manifest_dir, os.path.relpath(folder, study_root))
    return moved if os.path.isdir(moved) else folder


def runs_from_manifest(path: str) -> list[StudyRun]:
    with open(path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    base = os.path.dirname(os.path.abspath(path))
    runs = []
    for step in manifest.get("steps", []):
        if step.get("task") in NON_TASKS:
            continue
        folder = locate(step["output_dir"], base, manifest.get("config", {}).get("output_dir"))
        pairs = int(step["pairs"]) if step.get("pairs") is not None else None
        runs.append(StudyRun(step["task"], step["variant"], step.get("language"), int(step["seed"]), folder, pairs))
    return runs


def runs_from_layout(root: str) -> list[StudyRun]:
    runs = []
    for seed_dir in sorted(Path(root).glob("*/*/**/seed*")):
        parts = seed_dir.relative_to(root).parts
        match = re.fullmatch(r"seed(\d+)", parts[-1])
        if not match or parts[0] in NON_TASKS or len(parts) not in (3, 4):
            continue
        language = parts[2] if len(parts) == 4 else None
        runs.append(StudyRun(parts[0], parts[1], language, int(match.group(1)), str(seed_dir)))
    return runs


def find_runs(runs_dir: str | None, manifests: Sequence[str]) -> list[StudyRun]:
    manifests = list(manifests)
    if runs_dir and not manifests and os.path.isfile(os.path.join(runs_dir, "study_manifest.json")):
        manifests = [os.path.join(runs_dir, "study_manifest.json")]
    if manifests:
        return [run for path in manifests for run in runs_from_manifest(path)]
    if not runs_dir:
        raise InputError("give --runs_dir or --manifest")
    if not os.path.isdir(runs_dir):
        raise InputError("runs folder not found", runs_dir)
    return runs_from_layout(runs_dir)


def english_row(name: str, language: str) -> str:
    """The report's row for an English set of a run adjusted on ``language`` alone: ``en (adjusted on es)``,
    ``xquad.en (adjusted on hi)`` (compared with the baseline's ``en``, ``xquad.en``: the English cost)."""
    return f"{name} (adjusted on {language})"


def split_row(name: str) -> tuple[str, str | None]:
    """``(evaluation set, adjustment language)`` of a row: ``en (adjusted on es)`` → (en, es); es → (es, None)."""
    match = _ADJUSTED_ON.match(name)
    return (match.group(1), match.group(2)) if match else (name, None)


def base_set(name: str) -> str:
    """The evaluation set behind a row: ``en (adjusted on es)`` → ``en``; any other name is itself."""
    return split_row(name)[0]


def set_language(name: str) -> str:
    """``es`` → es; ``xquad.es``, ``tydiqa.ru`` → its language; ``mlqa.es.en`` and ``mlqa.en.es`` → es, the
    non-English language of the pair (so that a per-language run keeps both directions); ``:split``/``-split``
    cut; ``sentence_retrieval.es.layer8.to_en`` → es; ``en (adjusted on es)`` → en."""
    name = re.split(r"[:]", base_set(name))[0]
    parts = name.split(".")
    if len(parts) == 1:
        return parts[0]
    languages = [part.split("-")[0] for part in parts[1:3] if _LANGUAGE.fullmatch(part.split("-")[0])]
    return next((language for language in languages if language != "en"), languages[0] if languages else parts[1])


def set_group(name: str) -> str:
    """The report's section of a set: ``cross-lingual`` for MLQA with context and question in different languages,
    ``mono-lingual`` for the other QA sets, ``layer N`` for sentence retrieval, "" for plain language sets."""
    name = base_set(name)
    cross = _CROSS_LINGUAL.match(name)
    if cross:
        return "cross-lingual" if cross.group(1) != cross.group(2) else "mono-lingual"
    if name.split(".")[0] in QA_BENCHMARKS:
        return "mono-lingual"
    retrieval = _RETRIEVAL.match(name)
    return f"layer {retrieval.group(2)}" if retrieval else ""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


QA_RULES = ("official", "squad")
"""``--qa_metric``: the benchmark's official rules (columns ``f1``/``exact_match``) or SQuAD v1.1 everywhere, the
paper's protocol (``squad_f1``/``squad_exact_match``), as run_qa.py writes them."""
QA_SCORES = ("f1", "exact_match")


def qa_column(qa_score: str, qa_rules: str = "squad") -> str:
    """The per-example column of run_qa.py's records that holds ``qa_score`` under ``qa_rules``."""
    if qa_rules not in QA_RULES or qa_score not in QA_SCORES:
        raise InputError(f"unknown QA metric {qa_rules!r}/{qa_score!r}; expected {QA_RULES} and {QA_SCORES}")
    return qa_score if qa_rules == "official" else f"squad_{qa_score}"


def score_records(records: list[dict[str, Any]], qa_score: str, path: Path, qa_rules: str = "squad") -> SetScores:
    """Per-example scores of a predictions file, its format detected from the columns of the first record."""
    if not records:
        raise InputError("empty predictions file", str(path))
    first = records[0]
    ids = [str(r.get("id", i)) for i, r in enumerate(records)]
    if any(f"{prefix}{score}" in first for prefix in ("", "squad_") for score in QA_SCORES):
        column = qa_column(qa_score, qa_rules)
        if column not in first:
            hint = " (written before run_qa.py added the SQuAD v1.1 scores: use --qa_metric official)"
            raise InputError(
                f"QA records have no {column!r} column; found {sorted(first)}" + (hint if qa_rules == "squad" else ""),
                str(path),
            )
        values = np.array([float(r[column]) for r in records])
        if values.max(initial=0) > 1:
            values = values / 100
        return SetScores(ids, values[:, None], "mean", column)
    if "gold" not in first or "predicted" not in first:
        raise InputError("records need gold/predicted or f1/exact_match columns", str(path))
    if first.get("metric") == WORD_ACCURACY:  # POS (run_ner.py --task_name pos): tag lists scored word by word
        counts = np.array([word_counts(r["gold"], r["predicted"]) for r in records], dtype=float)
        return SetScores(ids, counts, "ratio", "accuracy")
    if "metric" in first:
        raise InputError(f"unknown metric {first['metric']!r} in the records; known: {WORD_ACCURACY}", str(path))
    if isinstance(first["gold"], list) and isinstance(first["predicted"], list):
        counts = np.array([entity_counts(r["gold"], r["predicted"]) for r in records], dtype=float)
        return SetScores(ids, counts, "f1", "f1")
    values = np.array([float(r["gold"] == r["predicted"]) for r in records])
    return SetScores(ids, values[:, None], "mean", "accuracy")


def word_counts(gold: list[str], predicted: list[str]) -> tuple[int, int]:
    """``(correct words, words)`` of one sentence's tag lists."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold tags but {len(predicted)} predicted ones")
    return sum(g == p for g, p in zip(gold, predicted, strict=True)), len(gold)


def read_run(run: StudyRun, split: str, qa_score: str, qa_rules: str = "squad") -> dict[str, SetScores]:
    """``{set name: scores}`` of one run's split (``auto``: predict where present, else eval). A per-language run
    (an encoder adjusted on its language alone) gives its language's sets and its English ones, each English set
    under :func:`english_row` (``en (adjusted on es)``), so that every adjustment language has its English row."""
    folder = Path(run.output_dir) / "predictions"
    files: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.glob("*.jsonl")):
        match = _SPLIT.match(path.stem)
        if match and (match.group(3) or (match.group(1), match.group(2)) not in files):
            files[(match.group(1), match.group(2))] = path
    splits = {s for s, _ in files}
    chosen = split if split != "auto" else ("predict" if "predict" in splits else "eval")
    result = {}
    for (file_split, name), path in files.items():
        if file_split != chosen:
            continue
        if run.language is not None and run.language != "en" and set_language(name) == "en":
            name = english_row(name, run.language)
        elif run.language is not None and set_language(name) != run.language:
            continue
        result[name] = score_records(read_jsonl(path), qa_score, path, qa_rules)
    return result


def read_retrieval(run: StudyRun) -> dict[str, SetScores]:
    """Per-sentence retrieval results of the run's own model: ``predictions/{variant}/sentence_retrieval.{lang}.
    layer{N}.{to_en|from_en}.jsonl`` (run_analysis.py; records gold/predicted sentence index) → accuracy@1 per
    sentence, named by the file (``sentence_retrieval.es.layer8.to_en``)."""
    folder = Path(run.output_dir) / "predictions" / run.variant
    result = {}
    for path in sorted(folder.glob("sentence_retrieval.*.jsonl")):
        if not _RETRIEVAL.match(path.stem):
            continue
        if run.language is not None and set_language(path.stem) != run.language:
            continue
        result[path.stem] = score_records(read_jsonl(path), "accuracy", path)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Analysis steps (run_analysis.py with several models on held-out pairs)


@dataclass
class ModelDistances:
    """One model's distance summary in one analysis run, language, layer and metric."""

    variant: str
    language: str
    layer: str
    metric: str
    model: str
    seed: int
    share_delta_positive: float
    delta_mean: float


@dataclass
class ModelChange:
    """Per-link changes from model A to model B (``A->B``) in one analysis run, language, layer and metric."""

    variant: str
    language: str
    layer: str
    metric: str
    comparison: str
    seed: int
    related_mean: float
    related_p_value: float
    unrelated_mean: float
    unrelated_p_value: float


def find_analysis_runs(runs_dir: str | None, manifests: Sequence[str]) -> list[StudyRun]:
    """The analysis steps of a study (see :func:`find_steps`)."""
    return find_steps(runs_dir, manifests, "analysis")


def find_steps(runs_dir: str | None, manifests: Sequence[str], kind: str) -> list[StudyRun]:
    """The ``analysis`` or ``adjust`` steps of a study: from its manifest(s), else ``{kind}/{group}/[LANG/]
    seed{n}`` folders (``per_language`` → variant adjusted, ``joint`` → joint, any other group is the variant's
    name)."""
    manifests = list(manifests)
    if runs_dir and not manifests and os.path.isfile(os.path.join(runs_dir, "study_manifest.json")):
        manifests = [os.path.join(runs_dir, "study_manifest.json")]
    runs = []
    for path in manifests:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        base = os.path.dirname(os.path.abspath(path))
        for step in manifest.get("steps", []):
            if step.get("task") == kind:
                folder = locate(step["output_dir"], base, manifest.get("config", {}).get("output_dir"))
                runs.append(StudyRun(kind, step["variant"], step.get("language"), int(step["seed"]), folder))
    if manifests or not runs_dir or not os.path.isdir(os.path.join(runs_dir, kind)):
        return runs
    for seed_dir in sorted(Path(runs_dir, kind).glob("**/seed*")):
        parts = seed_dir.relative_to(Path(runs_dir, kind)).parts
        match = re.fullmatch(r"seed(\d+)", parts[-1])
        if match and len(parts) in (2, 3):
            variant = {"per_language": "adjusted"}.get(parts[0], parts[0])
            language = parts[1] if len(parts) == 3 else None
            runs.append(StudyRun(kind, variant, language, int(match.group(1)), str(seed_dir)))
    return runs


def read_analysis(run: StudyRun) -> tuple[list[ModelDistances], list[ModelChange]]:
    """The per-model summaries and per-pair changes of ``analysis_results.json`` (layout of run_analysis.py:
    ``languages[LANG]["layer_N"][metric]["models"|"comparisons"]``); ([], []) for an unfinished run."""
    path = Path(run.output_dir) / "analysis_results.json"
    if not path.is_file():
        logger.warning("analysis run without results: %s", path)
        return [], []
    with open(path, encoding="utf-8") as handle:
        results = json.load(handle)
    distances, changes = [], []
    for language, per_language in results.get("languages", {}).items():
        for layer_key, per_layer in per_language.items():
            if not layer_key.startswith("layer_"):
                continue
            layer = layer_key.removeprefix("layer_")
            for metric, table in per_layer.items():
                if not isinstance(table, dict) or "models" not in table:
                    continue
                where = (run.variant, language, layer, metric)
                for model, summary in table["models"].items():
                    distances.append(
                        ModelDistances(*where, model, run.seed, summary["share_delta_positive"], summary["delta_mean"])
                    )
                for comparison, change in table.get("comparisons", {}).items():
                    changes.append(
                        ModelChange(
                            *where,
                            comparison,
                            run.seed,
                            change["related_mean"],
                            change["related_p_value"],
                            change["unrelated_mean"],
                            change["unrelated_p_value"],
                        )
                    )
    return distances, changes


def read_word_retrieval(run: StudyRun) -> dict[tuple[str, str, str], float]:
    """``{(language, layer, model): word P@1}`` of an analysis run (mean of the →en and en→ directions; from
    ``languages[LANG]["layer_N"]["retrieval"][model]``); {} for an unfinished run or one without retrieval."""
    path = Path(run.output_dir) / "analysis_results.json"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as handle:
        results = json.load(handle)
    scores, skipped = {}, 0
    keys = ("word_p_at_1_tgt_to_en", "word_p_at_1_en_to_tgt")
    for language, per_language in results.get("languages", {}).items():
        for layer_key, per_layer in per_language.items():
            if layer_key.startswith("layer_") and "retrieval" in per_layer:
                for model, score in per_layer["retrieval"].items():
                    if not all(key in score for key in keys):
                        skipped += 1
                        continue
                    layer = layer_key.removeprefix("layer_")
                    scores[(language, layer, model)] = float(np.mean([score[key] for key in keys]))
    if skipped:
        logger.warning("%s: %d word-retrieval entries without %s skipped", path, skipped, " and ".join(keys))
    return scores


_LANGUAGE_LOSS = re.compile(r"^eval_(before_)?([a-z]{2,3})_alignment_loss$")


def read_alignment_losses(run: StudyRun) -> dict[tuple[str, str], float]:
    """``{(language, "after" | "before"): held-out alignment loss}`` of an adjust run (run_adjust.py's
    ``all_results.json``: ``eval_{lang}_alignment_loss`` per language when it adjusted several, else
    ``eval_alignment_loss`` for the run's language; ``eval_before_...`` for the original encoder)."""
    path = Path(run.output_dir) / "all_results.json"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as handle:
        results = json.load(handle)
    losses = {}
    for key, value in results.items():
        match = _LANGUAGE_LOSS.match(key)
        if match and value is not None:
            losses[(match.group(2), "before" if match.group(1) else "after")] = float(value)
    if run.language is not None:
        for when, key in (("after", "eval_alignment_loss"), ("before", "eval_before_alignment_loss")):
            if results.get(key) is not None:
                losses.setdefault((run.language, when), float(results[key]))
    return losses
