"""A stand-in for the Python of a study's steps: ``fake_step.py [-m torch.distributed.run FLAGS] SCRIPT ARGS``.

It appends what the step was started with (its command line, GPUs, device order, Hub switch, start and end time)
to ``$FAKE_STEP_RECORDS`` (JSON lines), waits a moment so that steps overlap, and marks the step's
``--output_dir`` finished as its script would: the local backend's GPU scheduling is tested with stand-in GPU ids
on a machine without GPUs.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

started = time.time()
argv = sys.argv[1:]
time.sleep(float(os.environ.get("FAKE_STEP_SECONDS", "0.4")))
output = Path(argv[argv.index("--output_dir") + 1])
output.mkdir(parents=True, exist_ok=True)
(output / "run.json").write_text(json.dumps({"status": "finished"}))
record = {
    "argv": argv,
    "output_dir": str(output),
    "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "order": os.environ.get("CUDA_DEVICE_ORDER"),
    "offline": os.environ.get("HF_HUB_OFFLINE"),
    "started": started,
    "ended": time.time(),
}
with open(os.environ["FAKE_STEP_RECORDS"], "a", encoding="utf-8") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    handle.write(json.dumps(record) + "\n")
