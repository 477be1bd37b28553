"""``python -m xladjust.check_hub [--languages es ru vi hi] [--tasks xnli ner qa ...]``: can every dataset and config
the study reads be loaded from the Hub, from here, today?

``--tasks`` (default: all) names the study's tasks whose sources are checked: ``xnli`` (XNLI and MultiNLI), ``ner``
(WikiANN), ``qa`` (SQuAD, XQuAD, MLQA, TyDi QA), ``pos`` (XTREME's UD-POS), ``pawsx``, ``sib200``, ``belebele``; the
parallel data (OPUS-100) and Tatoeba are always checked.

Run it on the GPU machine before a long job. Each
source is opened in streaming mode and a few rows of one split are read (no full download), trying the same
candidates in the same order as the loaders (:func:`xladjust.data.hub.load_first`). One line per source: ``OK``
with the source that served, its row count (when the Hub metadata has it) and its columns, the fallback that
served and why the sources before it failed, or ``FAIL`` with every error.

Exit status: 0 every source usable (fallbacks included), 1 some source unusable, 2 no Hub at all (offline mode
set, or the Hub cannot be reached), said in one line.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xladjust.cli import run_main
from xladjust.data.hub import HubSource, try_sources
from xladjust.data.languages import (
    FLORES_CODES,
    PAPER_LANGUAGES,
    PARALLEL_CONFIG_TEMPLATE,
    PARALLEL_DATASET,
    PAWSX_LANGUAGES,
    TATOEBA_CODES,
    UDPOS_LANGUAGE_NAMES,
    WIKIANN_LANGUAGES,
    XNLI_LANGUAGES,
)
from xladjust.data.tatoeba import tatoeba_sources
from xladjust.tasks.multiple_choice import belebele_hub_sources
from xladjust.tasks.ner import ner_hub_sources
from xladjust.tasks.nli import nli_hub_sources
from xladjust.tasks.pawsx import pawsx_hub_sources
from xladjust.tasks.pos import pos_hub_sources
from xladjust.tasks.qa.data import (
    MLQA_LANGUAGES,
    TYDIQA_LANGUAGE_NAMES,
    XQUAD_LANGUAGES,
    eval_set_sources,
    resolve_set_spec,
)
from xladjust.tasks.sib200 import sib200_hub_sources

logger = logging.getLogger(__name__)

ROWS = 3
"""Rows read from every source."""

_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")

TASKS = ("xnli", "ner", "qa", "pos", "pawsx", "sib200", "belebele")
"""The study's task names whose sources ``--tasks`` can select."""


@dataclass(frozen=True)
class Check:
    """One dataset/config the study needs, with its candidate sources in the loaders' order."""

    benchmark: str
    what: str  # e.g. "es test" or "mlqa.es.en test"
    sources: tuple[HubSource, ...]


def study_checks(languages: Sequence[str], tasks: Sequence[str] = TASKS) -> list[Check]:
    """Every source the study reads for English and ``languages`` (for ``tasks``, plus the parallel data and
    Tatoeba), built by the loaders' own source lists."""
    everyone = ["en", *(lang for lang in languages if lang != "en")]
    targets = everyone[1:]
    checks = []
    if "xnli" in tasks:
        checks += [
            Check("XNLI", f"{lang} test", tuple(nli_hub_sources(lang, "test")))
            for lang in everyone
            if lang in XNLI_LANGUAGES
        ]
        checks.append(Check("MultiNLI", "en train", tuple(nli_hub_sources("en", "train", "multi_nli"))))
    if "ner" in tasks:
        checks += [
            Check("WikiANN", f"{lang} test", tuple(ner_hub_sources(lang, "test")))
            for lang in everyone
            if lang in WIKIANN_LANGUAGES
        ]
    if "qa" in tasks:
        checks += qa_checks(everyone)
    checks += beyond_checks(everyone, tasks)
    for lang in targets:
        config = PARALLEL_CONFIG_TEMPLATE.format(lang=lang)
        checks.append(Check("WikiMatrix", f"{config} train", (HubSource(PARALLEL_DATASET, config, "train"),)))
    tatoeba = [lang for lang in targets if lang in TATOEBA_CODES]
    checks += [Check("Tatoeba", f"{lang}-en", tuple(tatoeba_sources(lang))) for lang in tatoeba]
    return checks


def beyond_checks(everyone: Sequence[str], tasks: Sequence[str]) -> list[Check]:
    """The benchmarks beyond the paper: English training data and every language's test set."""
    checks = []
    if "pos" in tasks:
        checks.append(Check("UD-POS", "en train", tuple(pos_hub_sources("en", "train"))))
        pos = [lang for lang in everyone if lang in UDPOS_LANGUAGE_NAMES]
        checks += [Check("UD-POS", f"{lang} test", tuple(pos_hub_sources(lang, "test"))) for lang in pos]
    if "pawsx" in tasks:
        checks.append(Check("PAWS-X", "en train", tuple(pawsx_hub_sources("en", "train"))))
        pawsx = [lang for lang in everyone if lang in PAWSX_LANGUAGES]
        checks += [Check("PAWS-X", f"{lang} test", tuple(pawsx_hub_sources(lang, "test"))) for lang in pawsx]
    flores = [lang for lang in everyone if lang in FLORES_CODES]
    if "sib200" in tasks:
        checks.append(Check("SIB-200", "en train", tuple(sib200_hub_sources("en", "train"))))
        checks += [Check("SIB-200", f"{lang} test", tuple(sib200_hub_sources(lang, "test"))) for lang in flores]
    if "belebele" in tasks:
        checks += [Check("Belebele", f"{lang} test", tuple(belebele_hub_sources(lang))) for lang in flores]
    return checks


def qa_checks(everyone: Sequence[str]) -> list[Check]:
    """SQuAD for training, then XQuAD, MLQA (both directions of every pair) and TyDi QA."""
    targets = everyone[1:]
    checks = [Check("SQuAD", "train", (HubSource("rajpurkar/squad", None, "train"),))]
    qa_names = [f"xquad.{lang}" for lang in everyone if lang in XQUAD_LANGUAGES]
    mlqa = [lang for lang in targets if lang in MLQA_LANGUAGES]
    pairs = [(c, q) for lang in mlqa for c, q in ((lang, lang), (lang, "en"), ("en", lang))]
    qa_names += ["mlqa.en.en", *(f"mlqa.{c}.{q}" for c, q in pairs)]
    if any(lang in TYDIQA_LANGUAGE_NAMES for lang in everyone):
        qa_names.append("tydiqa.en")  # one config holds every GoldP language: one check covers them
    for name in qa_names:
        eval_set = resolve_set_spec(name)
        checks.append(Check(eval_set.benchmark.upper(), f"{name} {eval_set.split}", tuple(eval_set_sources(eval_set))))
    return checks


def offline_reason() -> str | None:
    """Why there is no Hub (an offline variable set, or the Hub unreachable), or None when it can be reached."""
    for name in _OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return f"{name}={os.environ[name]} is set: offline mode, nothing can be checked"
    return hub_unreachable()


def hub_unreachable() -> str | None:
    """One request to the Hub endpoint (10 s): None when it answers, else why not."""
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=10)
    except Exception as error:  # no network, DNS, proxy, TLS: all mean the same here
        return f"cannot reach {constants.ENDPOINT} ({type(error).__name__}: {error})"
    return None


def _row_count(dataset: object, split: str) -> int | None:
    splits = getattr(getattr(dataset, "info", None), "splits", None)
    if splits and split in splits and splits[split].num_examples:
        return int(splits[split].num_examples)
    return None


def run_check(check: Check) -> tuple[bool, str]:
    """``(usable, line)``: the first source that streams ``ROWS`` rows, with why the ones before it failed."""
    label = f"{check.benchmark} {check.what}"
    failures: list[str] = []
    remaining = list(check.sources)
    while remaining:
        dataset, source, unavailable = try_sources(label, remaining, streaming=True)
        failures += unavailable
        if source is None:
            break
        remaining = remaining[remaining.index(source) + 1 :]
        try:
            rows = list(itertools.islice(dataset, ROWS))
        except Exception as error:  # opens but cannot be read (a broken file, a feature mismatch): try the next
            failures.append(f"{source.describe()}: {type(error).__name__}: {str(error).strip()[:200]}")
            continue
        if not rows:
            failures.append(f"{source.describe()}: no rows")
            continue
        count = _row_count(dataset, source.split)
        size = f"{count} rows" if count is not None else f"{len(rows)} rows read"
        line = f"OK    {label}: {source.describe()} ({size}; columns: {', '.join(rows[0])})"
        if failures:
            line += " [fallback; before it: " + "; ".join(failures) + "]"
        return True, line
    return False, f"FAIL  {label}: " + "; ".join(failures)


def check_hub(languages: Sequence[str], echo: Callable[[str], None] = print, tasks: Sequence[str] = TASKS) -> int:
    """Check every source (see the module docstring); return the exit status."""
    reason = offline_reason()
    if reason is not None:
        echo(f"offline: {reason}; run this on a machine with Hub access")
        return 2
    checks = study_checks(languages, tasks)
    failed = 0
    for check in checks:
        usable, line = run_check(check)
        failed += not usable
        echo(line)
    echo(f"{len(checks) - failed} of {len(checks)} sources usable" + ("" if not failed else f", {failed} not"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xladjust.check_hub", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--languages", nargs="+", default=list(PAPER_LANGUAGES), help="Target languages (English is always checked)."
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(TASKS),
        choices=list(TASKS),
        help="Tasks to check (default: all).",
    )
    args = parser.parse_args(argv)
    # The report lines say which source served; the loaders' per-source warnings would repeat them.
    logging.basicConfig(level=logging.ERROR)
    return check_hub(args.languages, tasks=args.tasks)


if __name__ == "__main__":
    run_main(main)
