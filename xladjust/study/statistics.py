"""The report's numbers: cells (task × set × variant, mean ± std over seeds), the differences to the baseline with
both significance tests and the correction within each task, the order and sections of the tables, and the cells of
a data-size sweep (metric vs parallel pairs)."""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xladjust.analysis.significance import CORRECTIONS, STATISTICS, TESTS, per_seed_scores, seed_test
from xladjust.errors import InputError
from xladjust.run_folder import describe_status, run_status
from xladjust.study.config import VARIANTS
from xladjust.study.results import (
    QA_RULES,
    QA_SCORES,
    SetScores,
    StudyRun,
    base_set,
    read_retrieval,
    read_run,
    set_group,
    set_language,
)

logger = logging.getLogger(__name__)

SPLITS = ("auto", "eval", "predict")
SEED_TESTS = ("paired", "welch")


@dataclass(kw_only=True)
class ReportSettings:
    """What run_report.py was asked: where the runs are, where the report goes, and how cells are read, compared
    and corrected (the fields, in this order, are run_report.py's flags and the ``settings`` of its run.json and
    report.json)."""

    runs_dir: str | None = field(default=None, metadata={"doc": "root of a study (reproduce.py's output_dir)"})
    manifest: list[str] = field(default_factory=list, metadata={"doc": "study_manifest.json file(s)"})
    output_dir: str = field(metadata={"doc": "where the report goes"})
    split: str = field(default="auto", metadata={"doc": "auto (predict where a run has it, else eval), eval, predict"})
    baseline: str = field(default="original", metadata={"doc": "the variant differences are taken to"})
    test: str = field(default="bootstrap", metadata={"doc": "the paired test on examples: a key of TESTS"})
    samples: int = field(default=1000, metadata={"doc": "bootstrap samples / randomisation rounds"})
    pool_seeds: bool = field(default=False, metadata={"doc": "resample (seed, example) pairs independently"})
    seed_test: str = field(default="paired", metadata={"doc": "the t-test over seeds: paired or welch"})
    alpha: float = field(default=0.05, metadata={"doc": "significance level, after the correction"})
    correction: str = field(default="holm", metadata={"doc": "multiple-comparison correction: a key of CORRECTIONS"})
    qa_metric: str = field(
        default="squad",
        metadata={"doc": "QA rules: the benchmark's official ones, or SQuAD v1.1 everywhere (the paper)"},
    )
    qa_score: str = field(default="f1", metadata={"doc": "QA number: F1 or exact match"})
    random_seed: int = field(default=0, metadata={"doc": "seed of the resampling"})
    overwrite_output_dir: bool = field(
        default=False, metadata={"doc": "replace a report made from other runs or settings"}
    )

    def __post_init__(self) -> None:
        allowed = {
            "split": SPLITS,
            "test": tuple(TESTS),
            "seed_test": SEED_TESTS,
            "correction": tuple(CORRECTIONS),
            "qa_metric": QA_RULES,
            "qa_score": QA_SCORES,
        }
        for name, choices in allowed.items():
            if getattr(self, name) not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)} (got {getattr(self, name)!r})")


@dataclass
class Cell:
    """One cell of the report: a task's evaluation set and variant, its per-seed scores (percent) and, for a
    variant other than the baseline, the difference to the baseline and both tests (raw and corrected p-values)."""

    task: str
    eval_set: str
    language: str
    variant: str
    metric: str
    seeds: list[int]
    scores: list[float]
    mean: float
    std: float
    examples: int
    difference: float | None = None
    p_example: float | None = None
    p_seed: float | None = None
    p_example_adjusted: float | None = None
    p_seed_adjusted: float | None = None
    significant_example: bool = False
    significant_seed: bool = False
    notes: list[str] = field(default_factory=list)
    group: str = ""  # set_group: mono-lingual / cross-lingual (QA), layer N (sentence retrieval)
    pairs: int | None = None  # parallel pairs of the variant's adjustment (manifest key), for the data-size figure


def stack_seeds(by_seed: dict[int, SetScores], seeds: Sequence[int], ids: Sequence[str]) -> np.ndarray:
    """``(examples, seeds, k)`` in the order of ``ids``."""
    columns = []
    for seed in seeds:
        position = {example_id: i for i, example_id in enumerate(by_seed[seed].ids)}
        columns.append(by_seed[seed].values[[position[i] for i in ids]])
    return np.stack(columns, axis=1)


def common_ids(sets: Sequence[SetScores]) -> list[str]:
    shared = set(sets[0].ids).intersection(*(s.ids for s in sets[1:]))
    return [i for i in sets[0].ids if i in shared]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (NaN for a single value)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return float(np.mean(values)), std


def build_cells(
    runs: Sequence[StudyRun], settings: ReportSettings
) -> tuple[list[Cell], dict[tuple[str, str, str], dict[int, SetScores]]]:
    """A cell per task, set and variant from the runs' predictions, and the per-seed scores behind them."""
    data: dict[tuple[str, str, str], dict[int, SetScores]] = defaultdict(dict)
    pairs: dict[tuple[str, str], int] = {}
    for run in runs:
        if not os.path.isdir(run.output_dir):
            logger.warning("missing run folder %s", run.output_dir)
            continue
        if run_status(run.output_dir) in ("running", "interrupted"):  # its predictions may be partial
            logger.warning("not in the report: %s", describe_status(run.output_dir))
            continue
        scores_by_set = read_run(run, settings.split, settings.qa_score, settings.qa_metric) | read_retrieval(run)
        for name, scores in scores_by_set.items():
            data[(run.task, name, run.variant)][run.seed] = scores
        if run.pairs is not None:
            pairs[(run.task, run.variant)] = run.pairs
    cells = []
    for (task, name, variant), by_seed in sorted(data.items()):
        seeds = sorted(by_seed)
        ids = common_ids([by_seed[s] for s in seeds])
        statistic = STATISTICS[by_seed[seeds[0]].statistic]
        matrix = stack_seeds(by_seed, seeds, ids)
        per_seed = (100 * per_seed_scores(matrix, statistic)).tolist()
        mean, std = mean_std(per_seed)
        cells.append(
            Cell(
                task,
                name,
                set_language(name),
                variant,
                by_seed[seeds[0]].metric,
                seeds,
                per_seed,
                mean,
                std,
                len(ids),
                group=set_group(name),
                pairs=pairs.get((task, variant)),
            )
        )
    return cells, data


def compare(cells: list[Cell], data: dict, settings: ReportSettings) -> None:
    """Differences to the baseline, both tests, and the correction within each task (in place). An English row of
    a per-language run (``en (adjusted on es)``) is compared with the baseline's ``en``."""
    test = TESTS[settings.test]
    baseline_cells = {(c.task, c.eval_set): c for c in cells if c.variant == settings.baseline}
    for cell in cells:
        if cell.variant == settings.baseline:
            continue
        base = data.get((cell.task, base_set(cell.eval_set), settings.baseline))
        if not base:
            cell.notes.append(f"no {settings.baseline} run")
            continue
        system = data[(cell.task, cell.eval_set, cell.variant)]
        seeds = sorted(set(base) & set(system))
        if not seeds:
            cell.notes.append("no seed in common with the baseline")
            continue
        ids = common_ids([*(base[s] for s in seeds), *(system[s] for s in seeds)])
        a, b = stack_seeds(base, seeds, ids), stack_seeds(system, seeds, ids)
        statistic = STATISTICS[system[seeds[0]].statistic]
        result = test(a, b, statistic, settings.samples, settings.random_seed, settings.pool_seeds)
        cell.difference = 100 * result.difference
        cell.p_example = result.p_value
        base_scores = 100 * per_seed_scores(a, statistic)
        system_scores = 100 * per_seed_scores(b, statistic)
        if settings.seed_test == "welch":  # all seeds of each system, not only the common ones
            base_scores, system_scores = baseline_cells[cell.task, base_set(cell.eval_set)].scores, cell.scores
        cell.p_seed = seed_test(base_scores, system_scores, settings.seed_test)
        if len(seeds) < len(cell.seeds) or len(ids) < cell.examples:
            cell.notes.append(f"compared on {len(seeds)} common seed(s), {len(ids)} common examples")
    correct = CORRECTIONS[settings.correction]
    for task in {cell.task for cell in cells}:
        compared = [c for c in cells if c.task == task and c.p_example is not None]
        for name in ("p_example", "p_seed"):
            adjusted = correct([getattr(c, name) for c in compared])
            for c, p in zip(compared, adjusted, strict=True):
                setattr(c, f"{name}_adjusted", p)
                setattr(c, f"significant_{name[2:]}", bool(not math.isnan(p) and p < settings.alpha))


@dataclass
class EnglishCost:
    """What a variant does to English on one English set of a task: the mean over its English rows (one per
    adjustment language for a per-language variant, ``en (adjusted on es)``, ...; the set itself otherwise)."""

    task: str
    eval_set: str  # the English set: en, xquad.en, ...
    variant: str
    rows: list[str]  # the cells averaged
    baseline_mean: float | None
    mean: float  # mean of the rows' means
    difference: float | None  # mean of the rows' differences to the baseline
    significant_example: int  # rows whose example-level difference is significant
    significant_seed: int


def english_costs(cells: Sequence[Cell], baseline: str) -> list[EnglishCost]:
    """An :class:`EnglishCost` per task, English set and variant other than the baseline."""
    groups: dict[tuple[str, str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        if cell.language == "en" and cell.variant != baseline and not cell.group.startswith("layer"):
            groups[(cell.task, base_set(cell.eval_set), cell.variant)].append(cell)
    base = {(c.task, c.eval_set): c.mean for c in cells if c.variant == baseline}
    costs = []
    for (task, name, variant), rows in groups.items():
        differences = [c.difference for c in rows if c.difference is not None]
        costs.append(
            EnglishCost(
                task,
                name,
                variant,
                [c.eval_set for c in rows],
                base.get((task, name)),
                float(np.mean([c.mean for c in rows])),
                float(np.mean(differences)) if differences else None,
                sum(c.significant_example for c in rows),
                sum(c.significant_seed for c in rows),
            )
        )
    return costs


def variant_order(cells: Sequence[Cell], baseline: str) -> list[str]:
    """The variants of ``cells`` in one fixed order for every task: the baseline, then the study's built-in
    variants in :data:`~xladjust.study.config.VARIANTS` order, each followed by the variants named after it
    (``adjusted-avg``, ``adjusted-frozen-lower-half`` beside ``adjusted``), then any other by name."""
    known = {name: i for i, name in enumerate(VARIANTS)}

    def family(variant: str) -> int:
        return next((i for name, i in known.items() if variant.startswith(f"{name}-")), known.get(variant, len(known)))

    return sorted({c.variant for c in cells}, key=lambda v: (v != baseline, family(v), v not in known, v))


GROUP_ORDER = {"": 0, "mono-lingual": 1, "cross-lingual": 2}


def sections(cells: Sequence[Cell]) -> list[tuple[str, str, list[Cell]]]:
    """``(task, group, cells)`` per table of the report: mono-lingual before cross-lingual sets, layers in order."""
    keys = sorted({(c.task, c.group) for c in cells}, key=lambda k: (k[0], GROUP_ORDER.get(k[1], 3), k[1]))
    return [(task, group, [c for c in cells if (c.task, c.group) == (task, group)]) for task, group in keys]


def data_size_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Cells of per-language runs whose variant has a known number of pairs, when at least two numbers occur;
    of two variants with the same number of pairs the first by name is kept (a warning names the other)."""
    chosen: dict[tuple[str, str, int], Cell] = {}
    for cell in sorted(cells, key=lambda c: c.variant):
        if cell.pairs is None or cell.language == "en":
            continue
        key = (cell.task, cell.eval_set, cell.pairs)
        if key in chosen:
            logger.warning(
                "data size: %s and %s both have %d pairs; %s is plotted",
                chosen[key].variant,
                cell.variant,
                cell.pairs,
                chosen[key].variant,
            )
            continue
        chosen[key] = cell
    kept = list(chosen.values())
    return kept if len({c.pairs for c in kept}) > 1 else []
