"""``python -m xladjust.check_hub [--languages es ru vi hi]``: can the study's datasets be read from the Hub?

See :mod:`xladjust.data.hub_check`. Exit status 0: every source usable; 1: some source unusable; 2: no Hub
(offline mode, or no network).
"""

from __future__ import annotations

import argparse
import logging
import sys

from xladjust.data.hub_check import check_hub
from xladjust.data.languages import PAPER_LANGUAGES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xladjust.check_hub", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--languages", nargs="+", default=list(PAPER_LANGUAGES), help="Target languages (English is always checked)."
    )
    args = parser.parse_args(argv)
    # The report lines say which source served; the loaders' per-source warnings would repeat them.
    logging.basicConfig(level=logging.ERROR)
    return check_hub(args.languages)


if __name__ == "__main__":
    sys.exit(main())
