"""What every script does the same way: argument parsing, logging, the output folder, user errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import datasets
import torch
import transformers
from transformers import HfArgumentParser, TrainingArguments

from xladjust.cli import configure_logging
from xladjust.errors import InputError

logger = logging.getLogger(__name__)


def parse_arguments(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Parse the command line, or a single ``.json`` file holding the same options."""
    use_gloo_on_cpu()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    if len(argv) == 1 and argv[0].endswith(".json"):
        if not os.path.isfile(argv[0]):
            raise InputError("configuration file not found", argv[0])
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


def use_gloo_on_cpu() -> None:
    """Make ``torchrun``/``accelerate launch --multi_gpu`` with several processes train on CPU with gloo.

    Without a GPU, TrainingArguments only sets up CPU data parallelism when asked to use the CPU; otherwise every
    process would train alone on the whole data and write the same files.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def setup_logging(training_args: TrainingArguments) -> None:
    """Log like the transformers examples: INFO on the main process, warnings elsewhere."""
    configure_logging(logging.WARNING)
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    logging.getLogger("xladjust").setLevel(log_level)
    logging.getLogger("__main__").setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        "Process rank: %s, device: %s, n_gpu: %s, distributed training: %s, bf16: %s",
        training_args.process_index,
        training_args.device,
        training_args.n_gpu,
        training_args.parallel_mode.value == "distributed",
        training_args.bf16,
    )
