"""``python tests/pause_after_checkpoint.py STEP MARKER SCRIPT ARGS...``: run SCRIPT; right after it saved
``checkpoint-STEP`` the first time (no file MARKER yet), write MARKER and sleep (at most five minutes) until a signal
stops it: a job that a test can stop mid-training at a known point, as a time limit or preemption would."""

from __future__ import annotations

import os
import runpy
import sys
import time
from pathlib import Path

from transformers import Trainer, TrainerCallback


class PauseAfterSave(TrainerCallback):
    def __init__(self, step: int, marker: Path):
        self.step, self.marker = step, marker

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            # Long enough for the test to see a second job start on a loaded machine; the test always signals.
            deadline = time.time() + 300
            while time.time() < deadline:
                time.sleep(0.2)


def main() -> None:
    step, marker, script, *args = sys.argv[1:]
    original_init = Trainer.__init__

    def init(self, *positional, **keywords):
        original_init(self, *positional, **keywords)
        self.add_callback(PauseAfterSave(int(step), Path(marker)))

    Trainer.__init__ = init
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
