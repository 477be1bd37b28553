"""Which weights a task run ends with: the last step's, an average of checkpoints, or the choice on English data.

Schmidt et al. (ACL 2023, "Free Lunch: Robust Cross-Lingual Transfer via Model Checkpoint Averaging") show that
averaging the weights of checkpoints taken during fine-tuning gives consistent zero-shot gains, and point out that
choosing a checkpoint on target-language validation data, as earlier work often did, is not zero-shot transfer:
without target-language labels the choice can only use the source language's. Two options of every task script
(fields of :class:`~xladjust.tasks.arguments.TaskTrainingArguments`):

- ``--average_checkpoints last_k:K``: the mean of the weights of the last ``K`` checkpoints the Trainer saved
  (``--save_strategy steps|epoch``; with ``--save_total_limit`` at least ``K``); ``every:N``: the mean of snapshots
  kept in memory every ``N`` optimizer steps and at the last step (so it works with ``--save_strategy no``; their
  running sum is saved in every checkpoint, ``final_model.safetensors``, and restored on resume). Floating-point
  tensors are averaged in float32; integer buffers are taken from the last weights averaged.
- ``--select_on english_dev``: the final model is the candidate with the best score on the English validation set
  (:func:`english_dev_sets`; accuracy for NLI, F1 for NER and QA): every checkpoint saved, every ``every:N`` snapshot
  (each scored when it is taken; only the best one's weights are kept), the last weights and the average. Ties go
  to the average, then to the later weights. No target-language file is read for the choice.

The chosen weights replace the last ones before the model is saved and evaluated; ``final_model.json`` in the
output folder records the candidates, their scores and the choice, ``all_results.json`` has ``final_model`` (its
name: ``last``, ``average``, ``checkpoint-N`` or ``snapshot-N``), ``final_model_step``, ``final_model_averaged``
(how many weights the average took) and ``final_model_selection_score``, and the model card says which it is.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from xladjust.errors import InputError
from xladjust.io import atomic_path, write_json
from xladjust.run_folder import complete_checkpoints
from xladjust.tasks.arguments import Averaging
from xladjust.tasks.eval_sets import HUB_SPLITS, EvalSet, Reader, first_examples, tokenize_eval_sets

logger = logging.getLogger(__name__)

STATE_FILE = "final_model.safetensors"
RECORD_FILE = "final_model.json"


# ---------------------------------------------------------------------------------------------------------------
# Weights


def read_weights(folder: str) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint folder (``model.safetensors``, or its shards with their index)."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.isfile(single):
        return load_file(single)
    index = os.path.join(folder, "model.safetensors.index.json")
    if not os.path.isfile(index):
        raise InputError("has no model.safetensors (FSDP and DeepSpeed checkpoints are not averaged)", folder)
    with open(index, encoding="utf-8") as handle:
        shards = sorted(set(json.load(handle)["weight_map"].values()))
    weights: dict[str, torch.Tensor] = {}
    for shard in shards:
        weights.update(load_file(os.path.join(folder, shard)))
    return weights


class RunningMean:
    """The mean of state dicts added one at a time (float32 sums; other dtypes: the last value)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, state: Mapping[str, torch.Tensor]) -> None:
        if self.sums and set(state) != set(self.sums):
            raise InputError(f"cannot average weights with other tensors ({sorted(set(state) ^ set(self.sums))[:3]})")
        for key, tensor in state.items():
            tensor = tensor.detach().to("cpu")
            if not tensor.is_floating_point():
                self.sums[key] = tensor.clone()
            elif key in self.sums:
                self.sums[key] += tensor.float()
            else:
                self.sums[key] = tensor.float().clone()
        self.count += 1

    def mean(self, dtypes: Mapping[str, torch.dtype]) -> dict[str, torch.Tensor]:
        """The average, each tensor in its dtype of ``dtypes`` (the model's own)."""
        return {
            key: (total / self.count if total.is_floating_point() else total).to(dtypes[key])
            for key, total in self.sums.items()
        }


def average_state_dicts(states: Iterable[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of ``states`` (read one at a time), in the dtypes of the first."""
    running, dtypes = RunningMean(), {}
    for state in states:
        dtypes = dtypes or {key: tensor.dtype for key, tensor in state.items()}
        running.add(state)
    if not running.count:
        raise ValueError("nothing to average")
    return running.mean(dtypes)


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.detach().to("cpu", copy=True) for key, tensor in model.state_dict().items()}


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy ``weights`` into ``model``; a checkpoint may leave out tied weights, never hold unknown ones."""
    result = model.load_state_dict(dict(weights), strict=False)
    if result.unexpected_keys:
        raise InputError(f"weights that the model does not have: {result.unexpected_keys[:3]}")


# ---------------------------------------------------------------------------------------------------------------
# The English validation set


def english_dev_sets(
    eval_sets: Sequence[EvalSet],
    data_args: Any,
    training_args: Any,
    read: Reader,
    encode: Callable,
) -> list[EvalSet]:
    """The English validation set that ``--select_on english_dev`` scores candidates on (tokenised): the one
    :func:`~xladjust.tasks.eval_sets.load_eval_sets` read with ``--do_eval``, else read alone (only English:
    ``--validation_files en=PATH``, a ``{lang}`` path, or the Hub). Empty without ``--select_on``."""
    if getattr(training_args, "select_on", None) != "english_dev" or not training_args.do_train:
        return []  # nothing to choose: final_model_choice warns that the option is ignored without --do_train
    if "en" not in data_args.eval_languages:
        raise InputError("--select_on english_dev reads the English validation set: add en to --eval_languages")
    found = [s for s in eval_sets if (s.split, s.language) == ("eval", "en")]
    if found:
        return found
    path, shared = data_args.eval_file("eval", "en")
    examples = first_examples(read("en", HUB_SPLITS["eval"], path, shared), data_args.max_eval_samples)
    english = EvalSet("eval", "en", examples, path or f"Hub ({HUB_SPLITS['eval']})")
    return tokenize_eval_sets([english], encode, data_args, training_args)


class EnglishDevScorer:
    """The score of the model as it is now: the mean of ``metric`` over the English validation set(s)."""

    def __init__(self, eval_sets: Sequence[EvalSet], decode: Callable, metric: str):
        if not eval_sets:
            raise InputError("--select_on english_dev: no English validation set to choose on")
        self.eval_sets, self.decode, self.metric = list(eval_sets), decode, metric

    @property
    def name(self) -> str:
        return f"{'+'.join(s.language if s.language == 'en' else s.prefix for s in self.eval_sets)}_{self.metric}"

    def __call__(self, trainer: Any) -> float:
        # Iterating a DataLoader draws from the global RNG: scoring between steps must not change the training.
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            scores = []
            for eval_set in self.eval_sets:
                output = trainer.predict(eval_set.features, metric_key_prefix="selection")
                scores.append(float(self.decode(eval_set, output.predictions)[0][self.metric]))
        return sum(scores) / len(scores)


# ---------------------------------------------------------------------------------------------------------------
# During and after training


@dataclass
class Candidate:
    name: str
    step: int
    score: float | None = None

    @property
    def rank(self) -> tuple[float, int, int]:
        """Best score first; ties: the average, then the later weights."""
        return (self.score, self.name == "average", self.step)


class FinalModel(TrainerCallback):
    """``--average_checkpoints`` and ``--select_on`` of one task run: snapshots during training (a callback),
    the choice after it (:meth:`choose`)."""

    def __init__(self, averaging: Averaging | None, scorer: EnglishDevScorer | None = None):
        self.averaging, self.scorer = averaging, scorer
        self.trainer: Any = None
        self.snapshots = RunningMean()
        self.snapshot_steps: list[int] = []
        self.snapshot_scores: dict[int, float] = {}
        self.best_snapshot: tuple[int, dict[str, torch.Tensor]] | None = None

    @property
    def every(self) -> int | None:
        return self.averaging.count if self.averaging is not None and self.averaging.kind == "every" else None

    def bind(self, trainer: Any) -> None:
        self.trainer = trainer
        trainer.add_callback(self)

    # -- snapshots -----------------------------------------------------------------------------------------------

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every is not None and state.global_step % self.every == 0:
            self.take_snapshot(state.global_step)

    def take_snapshot(self, step: int) -> None:
        weights = _cpu_state(self.trainer.model)
        self.snapshots.add(weights)
        self.snapshot_steps.append(step)
        if self.scorer is not None:
            score = self.scorer(self.trainer)
            self.snapshot_scores[step] = score
            logger.info("snapshot at step %d: English %s %.4f", step, self.scorer.metric, score)
            if self.best_snapshot is None or score >= self.snapshot_scores[self.best_snapshot[0]]:
                self.best_snapshot = (step, weights)

    def save(self, folder: str) -> None:
        """The snapshots so far into a checkpoint folder (written before the Trainer's files)."""
        if self.every is None:
            return
        tensors = {f"sum.{key}": tensor.contiguous() for key, tensor in self.snapshots.sums.items()}
        if self.best_snapshot is not None:
            tensors.update({f"best.{key}": tensor.contiguous() for key, tensor in self.best_snapshot[1].items()})
        metadata = {
            "count": str(self.snapshots.count),
            "steps": json.dumps(self.snapshot_steps),
            "scores": json.dumps({str(k): v for k, v in self.snapshot_scores.items()}),
            "best_step": json.dumps(None if self.best_snapshot is None else self.best_snapshot[0]),
        }
        os.makedirs(folder, exist_ok=True)
        with atomic_path(os.path.join(folder, STATE_FILE)) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)

    def load(self, folder: str) -> None:
        """The snapshots of a checkpoint, on resume."""
        if self.every is None:
            return
        path = os.path.join(folder, STATE_FILE)
        if not os.path.isfile(path):
            raise InputError(f"has no {STATE_FILE}: it was not written with --average_checkpoints every:N", folder)
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata()
        tensors = load_file(path)
        self.snapshots = RunningMean()
        self.snapshots.sums = {k.removeprefix("sum."): v for k, v in tensors.items() if k.startswith("sum.")}
        self.snapshots.count = int(metadata["count"])
        self.snapshot_steps = json.loads(metadata["steps"])
        self.snapshot_scores = {int(k): v for k, v in json.loads(metadata["scores"]).items()}
        best_step = json.loads(metadata["best_step"])
        best = {k.removeprefix("best."): v for k, v in tensors.items() if k.startswith("best.")}
        self.best_snapshot = None if best_step is None else (best_step, best)

    # -- after training ------------------------------------------------------------------------------------------

    def choose(self) -> dict[str, Any]:
        """Put the final weights into the trainer's model; the record (``final_model.json``) and the
        ``final_model*`` numbers for ``all_results.json``."""
        trainer = self.trainer
        model, final_step = trainer.model, trainer.state.global_step
        if self.every is not None and final_step not in self.snapshot_steps:
            self.take_snapshot(final_step)
        last = _cpu_state(model)
        dtypes = {key: tensor.dtype for key, tensor in last.items()}
        checkpoints = complete_checkpoints(trainer.args.output_dir)
        average, averaged_steps = None, []
        if self.every is not None:
            average, averaged_steps = self.snapshots.mean(dtypes), list(self.snapshot_steps)
        elif self.averaging is not None:
            chosen = checkpoints[-self.averaging.count :]
            if len(chosen) < self.averaging.count:
                logger.warning(
                    "--average_checkpoints %s: only %d checkpoint(s) saved; averaging those",
                    self.averaging,
                    len(chosen),
                )
            if not chosen:
                raise InputError(f"--average_checkpoints {self.averaging}: no checkpoint was saved")
            average = average_state_dicts(read_weights(folder) for _, folder in chosen)
            average = {key: tensor.to(dtypes[key]) for key, tensor in average.items()}
            averaged_steps = [step for step, _ in chosen]

        candidates: list[Candidate] = []
        if self.scorer is None:
            chosen = Candidate("average" if average is not None else "last", final_step)
        else:
            candidates = self._score_candidates(last, average, checkpoints, final_step)
            chosen = max(candidates, key=lambda c: c.rank)
        weights = self._weights_of(chosen, last, average, checkpoints)
        if weights is not last:
            load_weights(model, weights)
        elif candidates:  # the scoring loaded other weights: back to the last ones
            load_weights(model, last)
        record = {
            "average_checkpoints": None if self.averaging is None else str(self.averaging),
            "select_on": None if self.scorer is None else "english_dev",
            "averaged_steps": averaged_steps,
            "metric": None if self.scorer is None else self.scorer.name,
            "candidates": [{"name": c.name, "step": c.step, "score": c.score} for c in candidates],
            "chosen": chosen.name,
            "step": chosen.step,
        }
        logger.info("final model: %s (%s)", chosen.name, record)
        if trainer.is_world_process_zero():
            write_json(os.path.join(trainer.args.output_dir, RECORD_FILE), record)
        metrics: dict[str, Any] = {"final_model": chosen.name, "final_model_step": chosen.step}
        if average is not None:
            metrics["final_model_averaged"] = len(averaged_steps)
        if chosen.score is not None:
            metrics["final_model_selection_score"] = chosen.score
        return metrics

    def _score_candidates(
        self,
        last: dict[str, torch.Tensor],
        average: dict[str, torch.Tensor] | None,
        checkpoints: list[tuple[int, str]],
        final_step: int,
    ) -> list[Candidate]:
        trainer = self.trainer
        candidates = [
            Candidate("last" if step == final_step else f"snapshot-{step}", step, score)
            for step, score in self.snapshot_scores.items()
        ]
        if final_step not in self.snapshot_scores:
            candidates.append(Candidate("last", final_step, self.scorer(trainer)))
        for step, folder in checkpoints:
            if step != final_step and step not in self.snapshot_scores:
                load_weights(trainer.model, read_weights(folder))
                candidates.append(Candidate(os.path.basename(folder), step, self.scorer(trainer)))
        if average is not None:
            load_weights(trainer.model, average)
            candidates.append(Candidate("average", final_step, self.scorer(trainer)))
        for candidate in candidates:
            logger.info("candidate %s: English %s %.4f", candidate.name, self.scorer.metric, candidate.score)
        return candidates

    def _weights_of(
        self,
        chosen: Candidate,
        last: dict[str, torch.Tensor],
        average: dict[str, torch.Tensor] | None,
        checkpoints: list[tuple[int, str]],
    ) -> dict[str, torch.Tensor]:
        if chosen.name == "last":
            return last
        if chosen.name == "average":
            return average
        if chosen.name.startswith("snapshot-"):
            best_step, weights = self.best_snapshot  # the best-scored snapshot is the one whose weights were kept
            assert best_step == chosen.step, (best_step, chosen)
            return weights
        return read_weights(dict(checkpoints)[chosen.step])

    def describe(self, metrics: Mapping[str, Any]) -> str:
        """The model-card sentence."""
        name = metrics["final_model"]
        if name == "average":
            kind = "checkpoints" if self.every is None else f"snapshots (every {self.every} steps and the last)"
            what = f"the average of {metrics['final_model_averaged']} {kind} (Schmidt et al. 2023)"
        else:
            what = "the weights of the last step" if name == "last" else f"{name} (step {metrics['final_model_step']})"
        if "final_model_selection_score" in metrics:
            score = metrics["final_model_selection_score"]
            what += f", chosen on the English validation set only ({self.scorer.metric} {score:.4f})"
        return f"Final model: {what}."


def final_model_choice(
    training_args: Any, english_sets: Sequence[EvalSet], decode: Callable, metric: str
) -> FinalModel | None:
    """The :class:`FinalModel` of ``--average_checkpoints`` / ``--select_on`` (None without both, or without
    ``--do_train``: then the model is the given one)."""
    averaging = Averaging.parse(training_args.average_checkpoints)
    if averaging is None and training_args.select_on is None:
        return None
    if not training_args.do_train:
        logger.warning("--average_checkpoints and --select_on are ignored without --do_train")
        return None
    scorer = EnglishDevScorer(english_sets, decode, metric) if training_args.select_on is not None else None
    return FinalModel(averaging, scorer)
