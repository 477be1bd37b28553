"""Launching a script in several CPU processes (gloo), for the distributed tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# --standalone picks a free rendezvous port, so concurrent test runs on one machine do not collide.
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def launch(
    launcher: Sequence[str], script: str, args: Sequence[str], timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run ``ROOT/script`` under ``launcher`` (e.g. :data:`TORCHRUN`), one thread per process, output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*launcher, str(ROOT / script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
