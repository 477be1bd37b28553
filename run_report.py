#!/usr/bin/env python
"""Aggregate a study's runs into a paper-style table with significance tests, and a bar chart per task.

    python run_report.py --runs_dir out/study --output_dir out/study/report
    python run_report.py --manifest a/study_manifest.json b/study_manifest.json --output_dir report

Runs come from ``study_manifest.json`` (written by reproduce.py: task, variant, language, seed and folder of every
step) or, without one, from the layout ``RUNS_DIR/{task}/{variant}/[{language}/]seed{n}/``. Scores are recomputed
from the per-example files of each run, ``predictions/{split}_{set}.jsonl``, the format being detected per file:

- QA records (run_qa.py): the per-example ``--qa_score`` (``f1`` by default, or ``exact_match``) under
  ``--qa_metric``: ``squad`` (default, the paper's protocol: SQuAD v1.1 rules for every set, columns
  ``squad_f1`` / ``squad_exact_match``) or ``official`` (each benchmark's own script: SQuAD v1.1 for XQuAD and
  TyDi, MLQA's for MLQA; columns ``f1`` / ``exact_match``). Values above 1 are read as percent; a
  ``*_scores.jsonl`` file wins over the plain one of the same set;
- ``gold`` / ``predicted`` tag lists (run_ner.py): entity counts per sentence, corpus F1 (strict IOB2);
- ``gold`` / ``predicted`` labels (run_xnli.py): 1/0 correctness, accuracy.

- sentence retrieval (the ``xsr`` steps, run_analysis.py): ``predictions/{variant}/sentence_retrieval.{lang}.
  layer{N}.{to_en|from_en}.jsonl`` with the gold and retrieved sentence index, 1/0 per sentence, accuracy@1.

A set's language is its name (``es``), the language of a QA set (``xquad.es``, ``tydiqa.ru``) or the non-English
language of an MLQA pair (``mlqa.es.en`` and ``mlqa.en.es`` → es). A per-language run (``adjusted``, language es)
contributes its es sets, and its English sets as rows of their own (``en (adjusted on es)``, ``xquad.en (adjusted
on es)``), compared with the baseline's English predictions: the English cost of each adjustment; the other
variants' runs contribute every set. A section "English after adjusting" gives, per task, English set and variant,
the mean over those rows. Each task's table is split into
sections: QA into ``mono-lingual`` (XQuAD, TyDi QA, MLQA with context and question in one language) and
``cross-lingual`` (MLQA ``mlqa.C.Q`` with C ≠ Q), sentence retrieval by layer. ``--split auto`` reads the test split
(``predict``) where a run has it, else validation (``eval``).

Every cell: mean ± sample std over seeds (in percent), the difference to the ``original`` encoder, and two p-values:

- ``p_ex``: a paired test on the examples (``--test bootstrap`` (default) or ``randomization``; see
  :mod:`xladjust.analysis.significance`), seeds paired by seed number and kept together per example
  (``--pool_seeds`` treats (seed, example) as independent units instead), examples paired by id;
- ``p_seed``: a t-test over the seed scores (``--seed_test paired`` over common seeds (default), or ``welch``).

Multiple comparisons: within each task, the p-values of all cells are adjusted together (``--correction holm``
(default), ``bonferroni`` or ``none``); a cell is marked ``*`` when the adjusted ``p_ex`` < ``--alpha`` and ``†``
when the adjusted ``p_seed`` < ``--alpha``. Outputs: ``report.md``, ``report.csv`` (one row per cell),
``report.json``, ``{task}.png`` (and ``{task}.{section}.png`` for a task's further sections).

Analysis steps (``analysis/...``, run_analysis.py on held-out pairs with original, adjusted, original+TASK and
adjusted+TASK): ``report.md`` gets, per analysis variant, layer and distance, a table of the share of links with
Δ > 0 and the mean Δ per model and language (mean ± std over seeds) and the per-link changes between models
(mean change of the related and unrelated distances; seeds whose Wilcoxon test gave p < ``--alpha``);
``analysis.csv`` has the numbers.

Alignment vs. transfer (:mod:`xladjust.study.correlation`): per language, encoder variant and seed, each alignment
measure of the study (held-out alignment loss of the adjust steps, word P@1 and the share of links with Δ > 0 of
the analysis steps, Tatoeba accuracy of the xsr steps; the variant's value and its change from the original) is
paired with each task's zero-shot gain over the original; ``report.md`` gets Spearman's ρ with a bootstrap interval
over the points per measure and task, and the strongest pair whose interval excludes 0;
``alignment_vs_{task}.png`` a scatter plot per measure, ``alignment_vs_transfer.csv`` the points.

Data size: where the runs of a manifest carry ``pairs`` (the adjustment's ``max_train_pairs``; configs/data_size.json)
and at least two numbers occur, ``report.md`` gets a table per task of the metric vs pairs and ``data_size.png`` a
panel per task and language (a line per set, mean ± std over seeds, the baseline dashed). The logic lives in
:mod:`xladjust.study.report` (settings: :class:`~xladjust.study.statistics.ReportSettings`), which reads the runs
with :mod:`xladjust.study.results`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from xladjust.analysis.significance import CORRECTIONS, TESTS
from xladjust.cli import configure_logging, run_main
from xladjust.run_folder import start_run
from xladjust.study.report import make_report
from xladjust.study.results import QA_RULES, QA_SCORES
from xladjust.study.statistics import SEED_TESTS, SPLITS, Cell, ReportSettings

logger = logging.getLogger("run_report")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs_dir", help="Root of a study (reproduce.py's output_dir).")
    parser.add_argument("--manifest", nargs="+", default=[], help="study_manifest.json file(s).")
    parser.add_argument("--output_dir", required=True, help="Where the report goes.")
    parser.add_argument("--split", default="auto", choices=list(SPLITS))
    parser.add_argument("--baseline", default="original", help="The variant differences are taken to.")
    parser.add_argument("--test", default="bootstrap", choices=sorted(TESTS))
    parser.add_argument("--samples", type=int, default=1000, help="Bootstrap samples / randomisation rounds.")
    parser.add_argument("--pool_seeds", action="store_true", help="Resample (seed, example) pairs independently.")
    parser.add_argument("--seed_test", default="paired", choices=list(SEED_TESTS))
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--correction", default="holm", choices=sorted(CORRECTIONS))
    parser.add_argument(
        "--qa_metric",
        default="squad",
        choices=list(QA_RULES),
        help="QA rules: the benchmark's official ones, or SQuAD v1.1 everywhere (the paper).",
    )
    parser.add_argument("--qa_score", default="f1", choices=list(QA_SCORES), help="QA number: F1 or exact match.")
    parser.add_argument("--random_seed", type=int, default=0, help="Seed of the resampling.")
    parser.add_argument(
        "--overwrite_output_dir", action="store_true", help="Replace a report made from other runs or settings."
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> ReportSettings:
    """The report's settings from the parsed flags (one field per flag)."""
    return ReportSettings(**vars(args))


def main(argv: Sequence[str] | None = None) -> list[Cell]:
    settings = settings_from(parse_args(argv))
    run = start_run(
        "run_report.py",
        [settings],
        settings.output_dir,
        overwrite=settings.overwrite_output_dir,
        results_file="report.json",
    )
    if run.finished:
        return [Cell(**cell) for cell in run.results.get("cells", [])]
    cells = make_report(settings)
    logger.info("report written to %s", settings.output_dir)
    run.finish()
    return cells


if __name__ == "__main__":
    configure_logging()
    run_main(main)
