"""How every command-line program of xladjust starts and ends: one logging format, one way to report a user error.

    if __name__ == "__main__":
        run_main(main)

``main()`` returns an exit status (an int) or anything else (status 0, and ``run_main`` returns). An
:class:`~xladjust.errors.InputError` (a bad file, flag or folder) ends the program with one line ``error: ...`` on
stderr and exit status 2, no traceback; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from xladjust.errors import InputError

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"
DATE_FORMAT = "%m/%d/%Y %H:%M:%S"
"""The transformers examples' format, used by every program (Trainer scripts and tools alike)."""


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stdout in :data:`LOG_FORMAT` (stderr is kept for the one-line error of :func:`run_main`)."""
    handler = logging.StreamHandler(sys.stdout)
    logging.basicConfig(format=LOG_FORMAT, datefmt=DATE_FORMAT, level=level, handlers=[handler])


def format_duration(seconds: float) -> str:
    """``3h05m``, ``4m12s``, ``9s``: a duration for a person reading a log."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def run_main(main: Callable[[], Any]) -> None:
    """Run ``main`` and exit with its status; a user mistake ends with one line on stderr and status 2."""
    try:
        status = main()
    except InputError as error:
        logging.getLogger("xladjust").debug("input error", exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        _close_process_group()
    if isinstance(status, int) and not isinstance(status, bool) and status != 0:
        sys.exit(status)


def _close_process_group() -> None:
    # Leaving gloo's threads to interpreter shutdown can abort a finished process ("terminate called").
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
