"""A study's report from its settings: the cells and their comparisons (:mod:`xladjust.study.statistics`), the
markdown and CSV files (:mod:`xladjust.study.rendering`), the charts (:mod:`xladjust.study.figures`), with the
analysis tables and the data-size section where the study has them. run_report.py is its command line."""

from __future__ import annotations

import os
from dataclasses import asdict

from xladjust.errors import InputError
from xladjust.io import write_json
from xladjust.study.correlation import Correlation, alignment_vs_transfer
from xladjust.study.figures import figure_names, plot_alignment_transfer, plot_data_size, plot_task
from xladjust.study.rendering import (
    analysis_markdown,
    correlation_markdown,
    data_size_markdown,
    english_markdown,
    write_analysis_csv,
    write_cells_csv,
    write_correlation_csv,
    write_markdown,
)
from xladjust.study.results import find_analysis_runs, find_runs, read_analysis
from xladjust.study.statistics import (
    Cell,
    ReportSettings,
    build_cells,
    compare,
    data_size_cells,
    english_costs,
)


def make_report(settings: ReportSettings) -> list[Cell]:
    """Write report.md, report.csv, report.json and the charts (and analysis.csv, data_size.png where the study
    has them) to ``settings.output_dir``; return the cells."""
    runs = find_runs(settings.runs_dir, settings.manifest)
    cells, data = build_cells(runs, settings)
    if not cells:
        raise InputError("no predictions files found in the runs", settings.runs_dir or " ".join(settings.manifest))
    compare(cells, data, settings)
    output_dir = settings.output_dir
    english = english_costs(cells, settings.baseline)
    correlations, unpaired = alignment_vs_transfer(cells, settings)
    extra = english_markdown(english, cells, settings.baseline) + analysis_sections(settings)
    extra += correlation_sections(correlations, unpaired, settings) + data_size_sections(cells, settings)
    write_markdown(cells, settings, os.path.join(output_dir, "report.md"), extra)
    write_cells_csv(cells, os.path.join(output_dir, "report.csv"))
    # Strict JSON: a std or p-value that cannot be computed (one seed) is null; report.md says why.
    write_json(
        os.path.join(output_dir, "report.json"),
        {
            "settings": asdict(settings),
            "cells": [asdict(c) for c in cells],
            "english": [asdict(c) for c in english],
            "alignment_vs_transfer": [asdict(c) for c in correlations],
        },
    )
    for task, group, name in figure_names(cells):
        section = [c for c in cells if c.group == group]
        plot_task(section, task, settings.baseline, os.path.join(output_dir, name), f"{task} {group}".strip())
    return cells


def analysis_sections(settings: ReportSettings) -> list[str]:
    """The four-model analysis tables of report.md (and analysis.csv), from the study's analysis steps."""
    distances, changes = [], []
    for run in find_analysis_runs(settings.runs_dir, settings.manifest):
        run_distances, run_changes = read_analysis(run)
        distances += run_distances
        changes += run_changes
    if not distances:
        return []
    write_analysis_csv(distances, os.path.join(settings.output_dir, "analysis.csv"))
    return analysis_markdown(distances, changes, settings.alpha)


def correlation_sections(correlations: list[Correlation], unpaired: list[str], settings: ReportSettings) -> list[str]:
    """The alignment-vs-transfer table of report.md, alignment_vs_transfer.csv and a scatter plot per task
    (``alignment_vs_{task}.png``), when the study has both alignment measures and task gains."""
    if not correlations:
        return []
    write_correlation_csv(correlations, os.path.join(settings.output_dir, "alignment_vs_transfer.csv"))
    for task in dict.fromkeys(c.task for c in correlations):
        if any(c.points for c in correlations if c.task == task):
            path = os.path.join(settings.output_dir, f"alignment_vs_{task}.png")
            plot_alignment_transfer(correlations, task, path, settings.baseline)
    return correlation_markdown(correlations, unpaired, settings)


def data_size_sections(cells: list[Cell], settings: ReportSettings) -> list[str]:
    """The metric-vs-pairs tables of report.md and data_size.png, when the runs vary the number of pairs."""
    sized = data_size_cells(cells)
    if not sized:
        return []
    plot_data_size(sized, cells, settings.baseline, os.path.join(settings.output_dir, "data_size.png"))
    return data_size_markdown(sized, cells, settings.baseline)
