"""The study's guard against adjusting on the corpus an evaluation is drawn from.

Tatoeba sentence retrieval (XSR) scores how well an encoder pairs Tatoeba translations; adjusting it on Tatoeba
pairs first (``sentence-transformers/parallel-sentences-tatoeba``, local ``tatoeba.*`` files) trains on the test.
SIB-200 and Belebele are built on FLORES-200 sentences (SIB-200 labels them with topics, Belebele asks questions
about FLORES passages), so adjusting on FLORES pairs (``openlanguagedata/flores_plus``, ``gsarti/flores_101``, ...)
before those tasks does the same.

:func:`find_overlaps` pairs every evaluation family the study runs (:data:`FAMILIES`) with every parallel source
whose name (a Hub id or a local path, lower-cased) contains one of the family's patterns: ``parallel.dataset_name``,
``parallel.files``, and the parallel-data options that ``adjust.args``, ``continual.args`` and ``variant_specs``
may set. :func:`check_overlaps` (run when the config is built) refuses the config when an overlap is not listed
in ``parallel.allow_overlap``, naming the evaluation, the config key and the source; an allowed overlap is
logged as a warning, and reproduce.py records it in ``study_manifest.json`` (``evaluation_overlaps``).

Limits (by design a name check, not a content check): a corpus that holds the test sentences under another name
is not seen, e.g. OPUS-100, sampled from the OPUS collection, of which Tatoeba is one corpus, or a converted file
named ``es-en.txt``; nor are overlaps with XNLI, WikiANN or the QA sets. Only studies that adjust (or use continual
learning) are checked: the original encoder never sees the parallel data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from xladjust.errors import InputError

# This module sits below xladjust.study.config, which calls check_overlaps when it builds a config: it reads a
# StudyConfig's attributes (tasks, xsr, analysis, parallel, adjust, continual, variant_specs, resolved_variants)
# without importing the class, so that the two modules do not import each other.
StudyConfig = Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """Evaluation sets drawn from one corpus, and the name patterns of that corpus's parallel data."""

    name: str
    tasks: tuple[str, ...]  # study task names (or run_NAME.py scripts) evaluated on the corpus
    xsr_corpus: str | None  # run_analysis.py --retrieval_corpus evaluated on the corpus
    patterns: tuple[str, ...]


FAMILIES = (
    Family("tatoeba", (), "tatoeba", ("tatoeba",)),
    Family("flores", ("sib200", "belebele"), None, ("flores", "belebele", "sib200", "sib-200")),
)
"""Tatoeba (XSR) and FLORES-200 (SIB-200, Belebele): every family the guard knows."""

# Options of the scripts that name parallel data, as the study's option maps may set them.
_ADJUST_KEYS = ("parallel_dataset_name", "parallel_files", "alignment_files")
_CONTINUAL_KEYS = ("align_dataset_name", "align_parallel_file", "align_alignment_file")


@dataclass(frozen=True)
class Overlap:
    """One evaluation of the study and one parallel source named like its corpus."""

    family: str
    evaluation: str  # e.g. "xsr (retrieval_corpus tatoeba)", "task sib200"
    key: str  # the config key naming the source, e.g. "parallel.dataset_name"
    source: str

    def describe(self) -> str:
        return f"{self.evaluation} is evaluated on {self.family}, but {self.key} = {self.source!r}"

    def as_dict(self) -> dict[str, str]:
        return {"family": self.family, "evaluation": self.evaluation, "key": self.key, "source": self.source}


def _evaluations(config: StudyConfig, family: Family) -> list[str]:
    """The study's evaluations on ``family``'s corpus."""
    found = [
        f"task {name}"
        for name, spec in config.tasks.items()
        if spec.enabled and {name, (spec.script or "").removeprefix("run_").removesuffix(".py")} & set(family.tasks)
    ]
    if family.xsr_corpus is not None:
        xsr = config.xsr
        if xsr is not None and xsr.enabled and xsr.args.get("retrieval_corpus") == family.xsr_corpus:
            found.append(f"xsr (retrieval_corpus {family.xsr_corpus})")
        analysis = config.analysis
        analyses = analysis.args.get("analyses") or ["sentence_retrieval"]  # run_analysis.py runs it by default
        if (
            analysis.enabled
            and analysis.args.get("retrieval_corpus") == family.xsr_corpus
            and "sentence_retrieval" in analyses
        ):
            found.append(f"analysis (retrieval_corpus {family.xsr_corpus})")
    return found


def _named(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _named(f"{key}[{i}]", item)


def _option_sources(where: str, options: Mapping[str, Any], keys: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for name, value in options.items():
        if name.removeprefix("--") in keys:
            yield from _named(f"{where}.{name}", value)


def parallel_sources(config: StudyConfig) -> list[tuple[str, str]]:
    """``(config key, dataset id or path)`` of every parallel source the study's adjustments and continual
    learning may read."""
    parallel = config.parallel
    sources: list[tuple[str, str]] = []
    if parallel.dataset_name:
        sources.append(("parallel.dataset_name", parallel.dataset_name))
    for language, files in parallel.files.items():
        for role in ("text", "align"):
            if isinstance(files.get(role), str):
                sources.append((f"parallel.files.{language}.{role}", files[role]))
    sources += _option_sources("adjust.args", config.adjust.args, _ADJUST_KEYS)
    sources += _option_sources("continual.args", config.continual.args, _CONTINUAL_KEYS)
    for name, spec in config.variant_specs.items():
        sources += _option_sources(f"variant_specs.{name}.adjust_args", spec.adjust_args, _ADJUST_KEYS)
        sources += _option_sources(f"variant_specs.{name}.continual_args", spec.continual_args, _CONTINUAL_KEYS)
    return sources


def find_overlaps(config: StudyConfig) -> list[Overlap]:
    """Every (evaluation, parallel source) pair of the study whose source is named like the evaluation's corpus."""
    if not any(variant.adjusts or variant.kind == "continual" for variant in config.resolved_variants):
        return []
    sources = parallel_sources(config)
    overlaps = []
    for family in FAMILIES:
        for evaluation in _evaluations(config, family):
            for key, source in sources:
                if any(pattern in source.lower() for pattern in family.patterns):
                    overlaps.append(Overlap(family.name, evaluation, key, source))
    return overlaps


def check_overlaps(config: StudyConfig) -> list[Overlap]:
    """The overlaps ``parallel.allow_overlap`` allows (each logged as a warning); InputError for any other."""
    known = [family.name for family in FAMILIES]
    unknown = [name for name in config.parallel.allow_overlap if name not in known]
    if unknown:
        raise InputError(f"parallel.allow_overlap: unknown {unknown}; expected any of {known}")
    overlaps = find_overlaps(config)
    refused = [overlap for overlap in overlaps if overlap.family not in config.parallel.allow_overlap]
    if refused:
        families = sorted({overlap.family for overlap in refused})
        raise InputError(
            "the parallel data looks like an evaluation's test corpus: "
            + "; ".join(overlap.describe() for overlap in refused)
            + f". Use other parallel data, or run anyway with parallel.allow_overlap {families} (recorded in the "
            "manifest)"
        )
    for overlap in overlaps:
        logger.warning("evaluation overlap allowed by parallel.allow_overlap: %s", overlap.describe())
    return overlaps
