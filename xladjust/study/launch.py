"""How a step is started, whatever runs it (the local backend or a Slurm job): the config's launcher with an explicit
process count, a rendezvous port of its own, the GPUs it may see, and nothing a user's defaults could change.

- ``accelerate launch`` (or ``python -m accelerate.commands.launch``): ``--config_file`` names the study's
  neutral config (:func:`write_accelerate_config`), so that a user's ``default_config.yaml`` (its ``gpu_ids``,
  ``num_processes``, mixed precision) changes nothing; ``--num_processes K`` (``--multi_gpu`` when K > 1),
  ``--num_machines``, ``--main_process_port``.
- ``[]`` / ``["python"]``: the current Python for one process; for K > 1, torchrun
  (``python -m torch.distributed.run``) with K processes, since a plain Python process seeing several GPUs would let
  the Trainer fall back to DataParallel (a K-times batch that ``run.json`` would not show).
- ``torchrun`` (or ``python -m torch.distributed.run``): ``--nproc_per_node K`` and the rendezvous.
- Any other launcher runs steps of one process only.

The launcher of the config may not set what the scheduler decides (process counts, ports, GPU ids): that is an
error naming the flag. A step of one process sees exactly one GPU; the K processes of a larger step share a slice of
K GPUs and each drives the one of its local rank (distributed training: the Trainer's ``n_gpu`` is 1), so no
process ever drives several GPUs through DataParallel.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from xladjust.errors import InputError
from xladjust.io import write_text
from xladjust.run_folder import read_record
from xladjust.study.matrix import Step

SCRIPTS_DIR = Path(__file__).resolve().parents[2]
"""The run_*.py scripts live at the repository's top level."""
ACCELERATE_CONFIG = "accelerate_config.yaml"
TORCHRUN = ["-m", "torch.distributed.run"]
ACCELERATE = ["-m", "accelerate.commands.launch"]
SCHEDULED_FLAGS = (
    "--num_processes",
    "--multi_gpu",
    "--gpu_ids",
    "--num_machines",
    "--machine_rank",
    "--main_process_ip",
    "--main_process_port",
    "--config_file",
    "--nproc_per_node",
    "--nproc-per-node",
    "--nnodes",
    "--node_rank",
    "--node-rank",
    "--master_addr",
    "--master-addr",
    "--master_port",
    "--master-port",
    "--rdzv_endpoint",
    "--rdzv-endpoint",
    "--standalone",
)
"""Launcher flags the scheduler sets for each step: the config's launcher may not set them."""

NEUTRAL_ACCELERATE_CONFIG = """\
# Written by reproduce.py. Every `accelerate launch` of the study reads this file instead of the user's
# default_config.yaml, so that nothing there (gpu_ids, num_processes, mixed_precision) changes what a step runs:
# each step's command line sets its process count, machines and rendezvous port; the scripts' own flags
# (--bf16, --fsdp, ...) set the rest.
compute_environment: LOCAL_MACHINE
distributed_type: 'NO'
debug: false
downcast_bf16: 'no'
gpu_ids: all
machine_rank: 0
main_training_function: main
mixed_precision: 'no'
num_machines: 1
num_processes: 1
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
"""


class ShellWord(str):
    """A command word left to the shell to expand (``"$MASTER_PORT"``): written in double quotes, not escaped."""


def shell_join(words: Sequence[str]) -> str:
    """A command line for a shell script: words quoted, :class:`ShellWord` words expanded by the shell."""
    return " ".join(f'"{word}"' if isinstance(word, ShellWord) else shlex.quote(str(word)) for word in words)


@dataclass(frozen=True)
class Placement:
    """Where a step's processes run: ``processes`` per node on ``nodes`` machines, the rendezvous (``port``, and for
    several nodes the first node's address and this node's rank, as shell words in a Slurm job)."""

    processes: int = 1
    nodes: int = 1
    port: str = "29500"
    master_addr: str = "127.0.0.1"
    node_rank: str = "0"
    run_id: str = "xladjust"

    @property
    def world_size(self) -> int:
        return self.processes * self.nodes


def launcher_kind(launcher: Sequence[str]) -> str:
    """``python``, ``accelerate``, ``torchrun`` or ``other``."""
    words = list(launcher)
    if not words or (
        len(words) == 1 and (os.path.basename(words[0]).startswith("python") or words[0] == sys.executable)
    ):
        return "python"
    if (os.path.basename(words[0]) == "accelerate" and words[1:2] == ["launch"]) or words[1:3] == ACCELERATE:
        return "accelerate"
    if os.path.basename(words[0]) == "torchrun" or words[1:3] == TORCHRUN:
        return "torchrun"
    return "other"


def check_launcher(launcher: Sequence[str]) -> None:
    """The config's launcher may not set what the scheduler sets per step."""
    for word in launcher:
        flag = word.split("=", 1)[0]
        if flag in SCHEDULED_FLAGS:
            raise InputError(
                f"launcher: {flag} is set per step by reproduce.py (process count from resources.KIND.gpus, its own "
                f"port and GPUs); leave it out of the launcher {list(launcher)}"
            )


def launch_command(
    launcher: Sequence[str],
    script: str,
    args: Sequence[str],
    placement: Placement,
    *,
    accelerate_config: str,
    python: str = sys.executable,
) -> list[str]:
    """The command that runs ``script`` with ``args`` as ``placement`` says (see the module docstring)."""
    check_launcher(launcher)
    kind = launcher_kind(launcher)
    words = list(launcher)
    total = placement.world_size
    several_nodes = placement.nodes > 1
    if kind == "accelerate":
        prefix = [*words, "--config_file", accelerate_config, "--num_processes", str(total)]
        prefix += ["--num_machines", str(placement.nodes), "--main_process_port", placement.port]
        if total > 1:
            prefix.append("--multi_gpu")
        if several_nodes:
            prefix += ["--machine_rank", placement.node_rank, "--main_process_ip", placement.master_addr]
        return [*prefix, script, *args]
    if kind == "python" and total == 1:
        return [python, script, *args]
    if kind in ("python", "torchrun"):
        prefix = [python, *TORCHRUN] if kind == "python" else words
        prefix += ["--nnodes", str(placement.nodes), "--nproc_per_node", str(placement.processes)]
        if several_nodes:
            endpoint = f"{placement.master_addr}:{placement.port}"
            if isinstance(placement.master_addr, ShellWord) or isinstance(placement.port, ShellWord):
                endpoint = ShellWord(endpoint)
            prefix += ["--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", placement.run_id]
        else:
            prefix += ["--master_addr", placement.master_addr, "--master_port", placement.port]
        return [*prefix, script, *args]
    if total > 1:
        raise InputError(
            f"launcher {list(launcher)}: a step of {total} processes needs accelerate launch, torchrun or python "
            "as launcher (reproduce.py sets their process count); with another launcher give the step 1 GPU "
            "(resources.KIND.gpus)"
        )
    return [*words, script, *args]


def script_path(step: Step) -> str:
    """The step's script, by its absolute path in this repository."""
    return str(SCRIPTS_DIR / step.script)


def accelerate_config_path(output_dir: str) -> str:
    """Where the study's neutral accelerate config is: ``OUTPUT_DIR/launch/accelerate_config.yaml``."""
    return os.path.join(os.path.abspath(output_dir), "launch", ACCELERATE_CONFIG)


def write_accelerate_config(output_dir: str) -> str:
    """Write the study's neutral accelerate config (:data:`NEUTRAL_ACCELERATE_CONFIG`) unless it is there; its
    path."""
    path = accelerate_config_path(output_dir)
    if not os.path.isfile(path) or Path(path).read_text(encoding="utf-8") != NEUTRAL_ACCELERATE_CONFIG:
        write_text(path, NEUTRAL_ACCELERATE_CONFIG)
    return path


def recorded_processes(step: Step) -> int | None:
    """The process count an unfinished run of the step was started with (``processes`` in its ``run.json``): a
    resumed step must keep it (its script refuses another one), so the scheduler gives it that many GPUs."""
    try:
        record = read_record(step.output_dir)
    except InputError:
        return None
    if not record or record.get("status") == "finished":
        return None
    processes = record.get("settings", {}).get("processes")
    return processes if isinstance(processes, int) and processes > 0 else None


def step_environment(gpus: Sequence[str], offline: bool, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a step's command: the GPUs it may see (an empty slice hides every GPU), numbered in PCI
    bus order as nvidia-smi shows them, the scripts on ``PYTHONPATH``, and the Hub switched off when ``offline``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS_DIR), env.get("PYTHONPATH")]))
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    if offline:
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def free_port(taken: Collection[int] = ()) -> int:
    """A TCP port free on this machine now and not among ``taken`` (the ports of steps already running)."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("", 0))
            port = probe.getsockname()[1]
        if port not in taken:
            return port
    raise RuntimeError("no free TCP port found")
