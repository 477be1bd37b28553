"""Continual learning: keep the adjustment loss while fine-tuning on an English task.

Each training step of a task script adds ``align_weight × alignment + regularization_weight × regulariser`` of
run_adjust's loss, computed on ``align_batch_size`` random pairs from a pool of parallel data. The alignment
forward runs the encoder inside the task model; the frozen reference is that encoder as it was when fine-tuning
started. The objective's method options are run_adjust's with the ``align_`` prefix (``--align_alignment_loss
contrastive``, ``--align_regularization parameters``, ``--align_layers 8 12``, ...).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_datasets
from xladjust.adjust.objective import AlignmentLossOutput, AlignmentObjective
from xladjust.adjust.settings import AlignObjectiveArguments
from xladjust.arguments import ModelArguments
from xladjust.data.embedding_alignment import build_aligner
from xladjust.data.parallel import load_parallel_corpora
from xladjust.data.parallel_arguments import ALIGNERS, ParallelDataArguments, check_filter
from xladjust.errors import InputError

logger = logging.getLogger(__name__)


@dataclass
class ContinualLearningArguments(AlignObjectiveArguments):
    """Continual learning in the task scripts: on with ``--align_parallel_file`` or ``--align_dataset_name``.

    The objective's settings are run_adjust.py's as ``--align_*`` options (:class:`AlignObjectiveArguments`, made
    from :class:`~xladjust.adjust.settings.ObjectiveSettings`); the fields here are continual learning's own: the
    pool of parallel pairs and how much of it each step draws.
    """

    align_languages: list[str] = field(default_factory=list, metadata={"help": "Languages of the parallel pool."})
    align_parallel_file: list[str] = field(
        default_factory=list, metadata={"help": "`TARGET ||| ENGLISH` file(s), one per --align_languages entry."}
    )
    align_alignment_file: list[str] = field(
        default_factory=list, metadata={"help": "Pharaoh file(s) for --align_parallel_file; omit to use eflomal."}
    )
    align_dataset_name: str | None = field(
        default=None, metadata={"help": "Dataset of sentence pairs, as run_adjust.py's --parallel_dataset_name."}
    )
    align_dataset_config_names: list[str] = field(default_factory=list, metadata={"help": "Configs per language."})
    align_parallel_columns: list[str] = field(
        default_factory=list,
        metadata={"help": "The dataset's columns, as run_adjust.py's --parallel_columns (ENGLISH TARGET)."},
    )
    align_max_seq_length: int = field(
        default=256, metadata={"help": "Subword limit of the pool's sentences (at most the model's)."}
    )
    align_weight: float = field(default=0.01, metadata={"help": "Weight of the alignment term (paper: 0.01)."})
    align_batch_size: int = field(default=16, metadata={"help": "Parallel pairs per step and process (paper: 16)."})
    align_max_pairs: int = field(default=30000, metadata={"help": "Pool size per language (paper: 30000)."})
    align_aligner: str = field(
        default="eflomal",
        metadata={
            "help": "Word aligner of the pool's pairs without --align_alignment_file: eflomal, simalign (the "
            "starting encoder's vectors) or dictionary (--align_dictionary_files).",
            "choices": list(ALIGNERS),
        },
    )
    align_dictionary_files: list[str] = field(
        default_factory=list,
        metadata={"help": "With --align_aligner dictionary: MUSE-format dictionaries, LANG=PATH or one {lang} PATH."},
    )
    align_filter_model: str | None = field(
        default=None,
        metadata={"help": "Keep the pool's best pairs by the cosine of their sentence embeddings from this encoder."},
    )
    align_filter_keep: float | None = field(
        default=None, metadata={"help": "With --align_filter_model: the fraction of pairs kept, best first."}
    )
    align_filter_min_score: float | None = field(
        default=None, metadata={"help": "With --align_filter_model: keep the pairs whose cosine is at least this."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.align_aligner not in ALIGNERS:
            raise InputError(f"--align_aligner {self.align_aligner!r} is not one of {list(ALIGNERS)}")
        if (self.align_aligner == "dictionary") != bool(self.align_dictionary_files):
            raise InputError(
                "--align_aligner dictionary and --align_dictionary_files go together: give both or neither"
            )
        check_filter(self.align_filter_model, self.align_filter_keep, self.align_filter_min_score, prefix="align_")

    @property
    def enabled(self) -> bool:
        return bool(self.align_parallel_file or self.align_dataset_name)

    def parallel_data(self) -> ParallelDataArguments:
        if not self.align_languages:
            raise InputError("continual learning needs --align_languages for its parallel data")
        with align_flags():
            return ParallelDataArguments(
                languages=self.align_languages,
                parallel_files=self.align_parallel_file,
                alignment_files=self.align_alignment_file,
                parallel_dataset_name=self.align_dataset_name,
                parallel_dataset_config_names=self.align_dataset_config_names,
                parallel_columns=self.align_parallel_columns,
                max_train_pairs=self.align_max_pairs,
                max_seq_length=self.align_max_seq_length,
                aligner=self.align_aligner,
                dictionary_files=self.align_dictionary_files,
                filter_model=self.align_filter_model,
                filter_keep=self.align_filter_keep,
                filter_min_score=self.align_filter_min_score,
            )


@contextlib.contextmanager
def align_flags() -> Iterator[None]:
    """Name the pool's options as the user typed them: an error about ``--dictionary_files`` (run_adjust.py's
    name, which the pool's data arguments share) is about ``--align_dictionary_files`` here."""
    try:
        yield
    except InputError as error:
        message = re.sub(
            r"--(?!align_)\w+", lambda flag: _POOL_FLAGS.get(flag[0], "--align_" + flag[0][2:]), error.message
        )
        raise InputError(message, error.path, error.line) from None


_POOL_FLAGS = {
    "--languages": "--align_languages",
    "--parallel_files": "--align_parallel_file",
    "--alignment_files": "--align_alignment_file",
    "--parallel_dataset_name": "--align_dataset_name",
    "--parallel_dataset_config_names": "--align_dataset_config_names",
    "--max_train_pairs": "--align_max_pairs",
}
"""run_adjust.py's parallel-data flags whose continual-learning twin is not just ``--align_`` + the name."""


class ContinualAlignment:
    """The parallel pool and the adjustment objective, drawn from once per training micro-step."""

    def __init__(
        self,
        pool: datasets.Dataset,
        objective: AlignmentObjective,
        collator: AlignedPairCollator,
        align_weight: float,
        batch_size: int,
    ):
        self.pool = pool
        self.objective = objective
        self.collator = collator
        self.align_weight = align_weight
        self.batch_size = min(batch_size, len(pool))
        self._terms: AlignmentLossOutput | None = None

    def draw(
        self, seed: int, process_index: int, step: int, micro_step: int, num_processes: int = 1
    ) -> dict[str, Any]:
        """A random batch that depends only on its coordinates, so resumed and distributed runs stay reproducible.

        The coordinates are the seed, the optimizer step and the global micro-batch number
        ``micro_step × num_processes + process_index``: P processes with N accumulation steps draw the batches that
        one process with P × N accumulation steps draws, as their task batches are the same too.
        """
        rng = np.random.default_rng([seed, step, micro_step * num_processes + process_index])
        indices = rng.choice(len(self.pool), size=self.batch_size, replace=False)
        return self.collator([self.pool[int(i)] for i in indices])

    def attach(self, model: PreTrainedModel) -> None:
        """Let ``model``'s forward also compute the alignment terms when given ``alignment_batch=...``.

        The alignment forward then runs inside the forward of whatever wraps the model (DDP, FSDP, DeepSpeed):
        one forward and one backward per micro-step, the encoder's parameters gathered by the wrapper, every
        gradient reduced once, ``no_sync`` of gradient accumulation respected. The terms are handed back through
        :meth:`take_terms`, not in the outputs: wrappers rebuild the output class from its fields (DDP's pytree
        unflattening), which has none for them. Only this instance's forward changes; saving is unaffected.
        """
        task_forward = model.forward
        encoder = model.base_model

        @functools.wraps(task_forward)
        def forward(*args: Any, alignment_batch: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            outputs = task_forward(*args, **kwargs)
            if alignment_batch is not None:
                self._terms = self.objective(encoder, alignment_batch)
            return outputs

        model.forward = forward

    def take_terms(self) -> AlignmentLossOutput:
        """The alignment terms of the last forward given an ``alignment_batch`` (once)."""
        terms, self._terms = self._terms, None
        if terms is None:
            raise RuntimeError("the task model's forward computed no alignment terms: was attach() called?")
        return terms


def build_continual_alignment(
    args: ContinualLearningArguments,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    output_dir: str,
    device: str | torch.device = "cpu",
    model_args: ModelArguments | None = None,
) -> ContinualAlignment | None:
    """Read and tokenise the parallel pool and freeze a copy of the task model's encoder; None when disabled.
    SimAlign and the pair filter run on ``device``; SimAlign reads the starting encoder (``model_args``: the task
    script's, with its revision, cache and token; default: ``model.name_or_path``)."""
    if not args.enabled:
        return None
    data_args = args.parallel_data()
    model_args = model_args or ModelArguments(model_name_or_path=model.name_or_path)
    with align_flags():
        aligner = build_aligner(data_args, model_args, device)
    cache = os.path.join(output_dir, "alignments")
    kwargs = model_args.download_options()
    corpora = load_parallel_corpora(data_args, seed, cache, aligner=aligner, device=device, model_kwargs=kwargs)
    settings = args.to_settings()
    pool, _ = build_alignment_datasets(
        corpora, tokenizer, max_seq_length=args.align_max_seq_length, include_cls_sep=settings.include_cls_sep
    )
    for corpus in corpora:
        logger.info("continual learning pool, %s: %s", corpus.language, corpus.report())
    try:
        objective = AlignmentObjective(model.base_model, settings)
    except InputError as error:  # its messages name run_adjust's flags
        raise InputError(str(error).replace("--", "--align_")) from None
    return ContinualAlignment(
        pool, objective, AlignedPairCollator(tokenizer.pad_token_id), args.align_weight, args.align_batch_size
    )
