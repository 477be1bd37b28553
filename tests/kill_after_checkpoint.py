"""``python tests/kill_after_checkpoint.py STEP SCRIPT ARGS...``: run SCRIPT, SIGKILLing it right after it saved
``checkpoint-STEP``: no exception handler, atexit hook or ``finally`` runs, as when a job is killed."""

from __future__ import annotations

import os
import runpy
import signal
import sys

from transformers import Trainer, TrainerCallback


class KillAfterSave(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    step, script, *args = sys.argv[1:]
    original_init = Trainer.__init__

    def init(self, *positional, **keywords):
        original_init(self, *positional, **keywords)
        self.add_callback(KillAfterSave(int(step)))

    Trainer.__init__ = init
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
