"""``python -m xladjust.check_hub [--config configs/paper.json] [--languages es ru vi hi]``: can every dataset and
config the study reads be loaded from the Hub, from here, today?

Run it on the GPU machine (or a cluster's login node, before ``reproduce.py --prefetch``) before a long job. The
sources are the study's (:func:`xladjust.study.sources.study_sources`: what the config's steps read, the same list
``reproduce.py --prefetch`` downloads); ``--languages`` replaces the config's languages. Each source is opened in
streaming mode and a few rows of one split are read (no full download), trying the same candidates in the same
order as the loaders (:func:`xladjust.data.hub.load_first`). One line per source: ``OK`` with the source that
served, its row count (when the Hub metadata has it) and its columns, the fallback that served and why the sources
before it failed, or ``FAIL`` with every error.

Exit status: 0 every source usable (fallbacks included), 1 some source unusable, 2 no Hub at all (offline mode
set, or the Hub cannot be reached), said in one line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from xladjust.cli import run_main
from xladjust.data.hub import offline_variable, try_sources
from xladjust.errors import InputError
from xladjust.study.config import StudyConfig, load_config
from xladjust.study.sources import Check, study_sources

logger = logging.getLogger(__name__)

ROWS = 3
"""Rows read from every source."""
PAPER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "paper.json"
"""The study checked by default: the paper's (in a checkout of the repository)."""


def study_checks(config: StudyConfig) -> list[Check]:
    """Every dataset split the study of ``config`` reads, with the loaders' candidate sources."""
    return study_sources(config).datasets


def paper_config(languages: Sequence[str] | None = None, path: str | Path = PAPER_CONFIG) -> StudyConfig:
    """The study of ``path`` (configs/paper.json), its ``languages`` replaced when given."""
    if not os.path.isfile(path):
        raise InputError("config file not found: give --config (a study config such as configs/paper.json)", path)
    overrides = [f"languages={json.dumps(list(languages))}"] if languages else []
    return load_config(path, overrides)


def offline_reason() -> str | None:
    """Why there is no Hub (an offline variable set, or the Hub unreachable), or None when it can be reached."""
    name = offline_variable()
    if name is not None:
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
    label = check.label
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


def check_hub(
    languages: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
    *,
    config: StudyConfig | None = None,
) -> int:
    """Check every source of ``config`` (default: configs/paper.json with ``languages``; see the module
    docstring); return the exit status."""
    reason = offline_reason()
    if reason is not None:
        echo(f"offline: {reason}; run this on a machine with Hub access")
        return 2
    checks = study_checks(config if config is not None else paper_config(languages))
    failed = 0
    for check in checks:
        usable, line = run_check(check)
        failed += not usable
        echo(line)
    echo(f"{len(checks) - failed} of {len(checks)} sources usable" + ("" if not failed else f", {failed} not"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xladjust.check_hub", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(PAPER_CONFIG), help="Study config (default: configs/paper.json).")
    parser.add_argument("--languages", nargs="+", help="Target languages instead of the config's.")
    args = parser.parse_args(argv)
    # The report lines say which source served; the loaders' per-source warnings would repeat them.
    logging.basicConfig(level=logging.ERROR)
    return check_hub(config=paper_config(args.languages, args.config))


if __name__ == "__main__":
    run_main(main)
