"""Forwards ``python -m xladjust.demo`` to :mod:`xladjust.offline.demo` (its home)."""

import runpy

if __name__ == "__main__":
    runpy.run_module("xladjust.offline.demo", run_name="__main__", alter_sys=True)
