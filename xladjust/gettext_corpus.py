"""Forwards ``python -m xladjust.gettext_corpus`` to :mod:`xladjust.data.gettext_corpus` (its home)."""

import runpy

if __name__ == "__main__":
    runpy.run_module("xladjust.data.gettext_corpus", run_name="__main__", alter_sys=True)
