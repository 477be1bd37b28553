"""Run a program's ``main`` as its command line does, for tests of exit statuses and error lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xladjust.cli import run_main


def exit_status(main: Callable[[Sequence[str]], Any], argv: Sequence[str]) -> int:
    """``main(argv)`` through :func:`xladjust.cli.run_main`: 2 (and one ``error: ...`` line on stderr) for an
    InputError, else the status ``main`` asks for (0 when it returns no int)."""
    try:
        run_main(lambda: main(list(argv)))
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0
