"""The project's Trainer subclasses: loss-scale fix, logging of loss components, model cards, alignment loss."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file
from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
from tqdm.auto import tqdm
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from xladjust.adjust.continual import ContinualAlignment
from xladjust.adjust.objective import AlignmentObjective
from xladjust.cli import format_duration
from xladjust.errors import InputError
from xladjust.io import atomic_path, strict, write_json, write_text
from xladjust.model_card import ModelCardInfo, render_model_card

logger = logging.getLogger(__name__)


class FinalModelChoice(Protocol):
    """What :class:`TaskTrainer` asks of the choice of its final weights (checkpoint averaging, English-only
    selection: :class:`xladjust.tasks.final_model.FinalModel`, which lives with the tasks that use it)."""

    def bind(self, trainer: Any) -> None: ...

    def save(self, folder: str) -> None: ...

    def load(self, folder: str) -> None: ...

    def choose(self) -> dict[str, Any]: ...

    def describe(self, metrics: Mapping[str, Any]) -> str: ...


LOSS_HEAD_FILE = "loss_head.safetensors"


class TrainingProgress(TrainerCallback):
    """Logs how far training is about every ``percent`` % of its steps (step/total, time elapsed, ETA, and the last
    logged loss) at INFO on the main process, whatever ``disable_tqdm`` says, so that a step's log in a study shows
    it moving. It only reads the state: what the Trainer logs, saves and trains is unchanged."""

    def __init__(self, percent: float = 2.0):
        self.percent = percent
        self.every = 1
        self.first_step = 0
        self.started = time.time()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.every = max(1, math.ceil(state.max_steps * self.percent / 100))
        self.first_step = state.global_step  # a resumed run starts at its checkpoint
        self.started = time.time()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step, total = state.global_step, state.max_steps
        if not state.is_world_process_zero or (step % self.every and step != total):
            return
        elapsed = time.time() - self.started
        done = step - self.first_step
        eta = format_duration(elapsed / done * (total - step)) if done > 0 else "unknown"
        logged = next((entry for entry in reversed(state.log_history) if "loss" in entry), None)
        loss = f", loss {logged['loss']:.4g} (step {logged['step']})" if logged else ""
        percent = 100 * step / max(total, 1)
        message = "training: step %d/%d (%.0f%%)%s, %s elapsed, ETA %s"
        logger.info(message, step, total, percent, loss, format_duration(elapsed), eta)


class XLTrainer(Trainer):
    """Base of every xladjust Trainer.

    - Losses are plain means per micro-batch, so the Trainer must divide them by the accumulation steps: v5 skips
      that for models whose ``forward`` takes ``**kwargs`` (BERT does; transformers issue #47688).
    - Loss components recorded with :meth:`record_components` are averaged over the logging interval and all
      processes, and logged beside ``loss``.
    - The model card comes from a :class:`ModelCardInfo`, also when pushing to the Hub.
    - :class:`TrainingProgress` logs the training's progress about every 2 % of its steps.
    - ``loss_head``: a module the loss trains beside the model (the contrastive projection head) but that is not
      part of it. Its parameters join the optimizer, their gradients are averaged over processes and clipped
      with the model's, and checkpoints save and restore it (``loss_head.safetensors``); ``save_model`` never
      writes it into the model folder, so that folder loads with ``AutoModel`` without unexpected keys.
    """

    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, model_card: ModelCardInfo | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False
        self.model_card = model_card
        self.add_callback(TrainingProgress())
        self.loss_head: torch.nn.Module | None = None
        self._head_window_closed = True
        self._component_sums: dict[str, torch.Tensor] = {}
        self._reference_checked = False
        self._component_steps = 0

    def loss_head_parameters(self) -> list[torch.nn.Parameter]:
        return [] if self.loss_head is None else [p for p in self.loss_head.parameters() if p.requires_grad]

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        created = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if created and self.loss_head_parameters():
            optimizer.add_param_group({"params": self.loss_head_parameters(), "weight_decay": self.args.weight_decay})
        return optimizer

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        # The Trainer zeroes only the model's gradients after an optimizer step; the head's start a new window here.
        if self._head_window_closed:
            for parameter in self.loss_head_parameters():
                parameter.grad = None
        loss = super().training_step(model, inputs, num_items_in_batch)
        self._head_window_closed = self.accelerator.sync_gradients
        head = [p for p in self.loss_head_parameters() if p.grad is not None]
        # DDP averages the model's gradients when the accumulation window closes; do the same for the head.
        if head and self.accelerator.num_processes > 1 and self.accelerator.sync_gradients:
            flat = torch.cat([p.grad.flatten() for p in head])
            torch.distributed.all_reduce(flat)
            flat /= self.accelerator.num_processes
            offset = 0
            for p in head:
                p.grad.copy_(flat[offset : offset + p.grad.numel()].view_as(p.grad))
                offset += p.grad.numel()
        return loss

    def _clip_grad_norm(self, model: torch.nn.Module):
        if not self.loss_head_parameters():
            return super()._clip_grad_norm(model)
        parameters = [*model.parameters(), *self.loss_head_parameters()]
        return self.accelerator.clip_grad_norm_(parameters, self.args.max_grad_norm)

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        # Written before the Trainer's files, so that a checkpoint with trainer_state.json is complete.
        if self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            self.save_checkpoint_extras(folder)
        super()._save_checkpoint(model, trial)

    def save_checkpoint_extras(self, folder: str) -> None:
        """What a checkpoint holds besides the Trainer's files: here the loss head."""
        if self.loss_head is None:
            return
        os.makedirs(folder, exist_ok=True)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.loss_head.state_dict().items()}
        with atomic_path(os.path.join(folder, LOSS_HEAD_FILE)) as temporary:
            save_file(state, str(temporary))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self.load_checkpoint_extras(resume_from_checkpoint)

    def load_checkpoint_extras(self, folder: str) -> None:
        """The counterpart of :meth:`save_checkpoint_extras`, on resume."""
        if self.loss_head is None:
            return
        path = os.path.join(folder, LOSS_HEAD_FILE)
        if not os.path.isfile(path):
            raise InputError(f"has no {LOSS_HEAD_FILE}: it was not written with this projection head", path)
        self.loss_head.load_state_dict(load_file(path, device=str(self.args.device)))

    def record_components(self, **components: torch.Tensor) -> None:
        """Add one micro-batch's loss components (no device sync: values stay tensors until logging)."""
        for name, value in components.items():
            value = value.detach().float()
            self._component_sums[name] = self._component_sums[name] + value if name in self._component_sums else value
        self._component_steps += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training logs carry "loss"; every process reaches this point together, so the reduce is safe.
        if "loss" in logs and self._component_steps:
            names = sorted(self._component_sums)
            means = torch.stack([self._component_sums[name] for name in names]) / self._component_steps
            means = self.accelerator.reduce(means.to(self.args.device), reduction="mean")
            logs.update({name: float(value) for name, value in zip(names, means.tolist(), strict=True)})
            self._component_sums, self._component_steps = {}, 0
        # NaN/inf would end up in trainer_state.json (also the checkpoints'), which must stay strict JSON.
        super().log(strict(logs), start_time)

    def save_metrics(self, split: str, metrics: dict[str, Any], combined: bool = True) -> None:
        """As Trainer's, but strict JSON written atomically (a killed run never leaves half a results file)."""
        if not self.is_world_process_zero():
            return
        write_json(os.path.join(self.args.output_dir, f"{split}_results.json"), metrics)
        if combined:
            path = os.path.join(self.args.output_dir, "all_results.json")
            previous = json.loads(Path(path).read_text(encoding="utf-8")) if os.path.exists(path) else {}
            write_json(path, {**previous, **metrics})

    def save_state(self) -> None:
        if self.is_world_process_zero():
            write_json(os.path.join(self.args.output_dir, "trainer_state.json"), dataclasses.asdict(self.state))

    def check_reference_outside_wrapper(self, model: torch.nn.Module, reference: torch.nn.Module | None) -> None:
        """Once, at the first training step: the frozen reference must be a plain module beside the wrapped model
        (never sharded by FSDP, never wrapped by DDP): it is not trained, and each process needs all of it."""
        if self._reference_checked or reference is None:
            return
        self._reference_checked = True
        requested = bool(self.args.fsdp) or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
        if requested and not self.is_fsdp_enabled:
            logger.warning(
                "FSDP was asked for, but accelerate enables it on GPUs only: this run is plain data "
                "parallel (%s); see docs/distributed.md",
                type(model).__name__,
            )
        wrappers = (torch.nn.parallel.DistributedDataParallel, FullyShardedDataParallel, FSDPModule)
        wrapped = [name or "(root)" for name, m in reference.named_modules() if isinstance(m, wrappers)]
        if wrapped:
            raise RuntimeError(f"the frozen reference was wrapped or sharded ({', '.join(wrapped[:3])})")
        logger.info(
            "trained model: %s; frozen reference: a plain %s, not sharded",
            type(model).__name__,
            type(reference).__name__,
        )

    def train_and_save(
        self,
        checkpoint: str | None,
        samples: int,
        samples_key: str = "train_samples",
        records: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The tail every script shares: train (resuming from ``checkpoint``), choose the final weights
        (:meth:`choose_final_model`), save the model and tokenizer, the train metrics (with ``samples_key``: the size
        of the training set) and the state. ``records``: more results of the training data (``{"train_labels":
        {...}}``), each saved as ``NAME_results.json`` and into ``all_results.json``; only after training, so that
        a killed run leaves no results file."""
        train_result = self.train(resume_from_checkpoint=checkpoint)
        final = self.choose_final_model()
        self.save_model()
        metrics = {**train_result.metrics, **final, samples_key: samples}
        self.log_metrics("train", metrics)
        self.save_metrics("train", metrics)
        self.save_state()
        for name, record in (records or {}).items():
            if record:
                self.save_metrics(name, dict(record))
                metrics.update(record)
        return metrics

    def choose_final_model(self) -> dict[str, Any]:
        """After training: the weights to save instead of the last ones (none here), and what to record of them."""
        return {}

    def publish(self, languages: Sequence[str]) -> None:
        """Push to the Hub with the model card (language tags: English and ``languages``), or write the card only."""
        if self.args.push_to_hub:
            self.push_to_hub(language=["en", *languages])
        else:
            self.create_model_card()

    def create_model_card(self, **kwargs: Any) -> None:
        if self.model_card is None:
            return super().create_model_card(**kwargs)
        if not self.is_world_process_zero():
            return None
        results_path = os.path.join(self.args.output_dir, "all_results.json")
        results = json.loads(Path(results_path).read_text(encoding="utf-8")) if os.path.exists(results_path) else None
        write_text(os.path.join(self.args.output_dir, "README.md"), render_model_card(self.model_card, results))
        return None


def alignment_metrics(
    table: torch.Tensor, language_names: Sequence[str], regularization_weight: float, prefix: str
) -> dict[str, float]:
    """Corpus-level losses from per-pair sums.

    ``table`` rows are pairs: alignment SSE, its element count, regularisation SSE, its count, language id. The
    result has ``{prefix}_alignment_loss``, ``{prefix}_regularization_loss``, ``{prefix}_loss`` overall and
    ``{prefix}_{lang}_...`` per language, each the mean over all elements of the set (not a mean of batch means).
    """
    groups: list[tuple[str, torch.Tensor]] = [(prefix, torch.ones(len(table), dtype=torch.bool))]
    if len(language_names) > 1:
        groups += [(f"{prefix}_{lang}", table[:, 4] == i) for i, lang in enumerate(language_names)]
    metrics = {}
    for name, rows in groups:
        sums = table[rows, :4].sum(0)
        alignment = (sums[0] / sums[1]).item() if sums[1] > 0 else float("nan")
        regularization = (sums[2] / sums[3]).item() if sums[3] > 0 else 0.0
        metrics[f"{name}_alignment_loss"] = alignment
        metrics[f"{name}_regularization_loss"] = regularization
        metrics[f"{name}_loss"] = alignment + regularization_weight * regularization
        metrics[f"{name}_pairs"] = int(rows.sum())
    return metrics


class AlignmentTrainer(XLTrainer):
    """Trains an encoder on batches of aligned pairs with :class:`AlignmentObjective`."""

    def __init__(self, *args: Any, objective: AlignmentObjective, language_names: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.objective = objective.to(self.args.device)
        self.loss_head = self.objective.projection
        self.language_names = list(language_names)

    def compute_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None
    ):
        if model.training:
            self.check_reference_outside_wrapper(model, self.objective.reference)
        # accelerate autocasts the forward of the model it wrapped; this context puts the frozen reference, a plain
        # module, under the same autocast, so that both sides of the regulariser are computed alike.
        with self.accelerator.autocast():
            output = self.objective(model, inputs)
        if model.training:
            self.record_components(
                alignment_loss=output.alignment_loss, regularization_loss=output.regularization_loss
            )
        return (output.loss, output) if return_outputs else output.loss

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """Exact held-out losses of the model being trained, overall and per language."""
        return self._held_out_metrics(self.model, eval_dataset, metric_key_prefix)

    def evaluate_original(self, eval_dataset: Any = None, metric_key_prefix: str = "eval_before") -> dict[str, float]:
        """The same held-out losses for the frozen original encoder: the "before" of a before/after comparison."""
        if self.objective.reference is None:
            raise ValueError("the original encoder was not kept: build the objective with keep_reference=True")
        return self._held_out_metrics(self.objective.reference, eval_dataset, metric_key_prefix)

    def _held_out_metrics(self, encoder: torch.nn.Module, eval_dataset: Any, prefix: str) -> dict[str, float]:
        start = time.time()
        dataloader = self.get_eval_dataloader(eval_dataset)
        was_training = encoder.training
        encoder.eval()
        rows = []
        quiet = not self.is_local_process_zero() or bool(self.args.disable_tqdm)
        # Iterating a DataLoader draws a seed from the global RNG: evaluating (before training, or between steps)
        # would otherwise shift the training data order, so that --do_eval changed the trained weights.
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            for batch in tqdm(dataloader, desc="Held-out alignment loss", disable=quiet, leave=False):
                batch = self._prepare_inputs(batch)
                with torch.no_grad(), self.accelerator.autocast():
                    out = self.objective(encoder, batch)
                columns = (
                    out.pair_alignment_sse,
                    out.pair_alignment_count,
                    out.pair_regularization_sse,
                    out.pair_regularization_count,
                    batch["language_id"],
                )
                per_pair = torch.stack([c.double() for c in columns], dim=1)
                layers = (out.layer_pair_alignment_sse, out.layer_pair_regularization_sse)
                per_layer = torch.cat(layers, dim=1).double()
                rows.append(self.accelerator.gather_for_metrics(torch.cat([per_pair, per_layer], dim=1)).cpu())
        encoder.train(was_training)
        table = torch.cat(rows)
        weight = self.objective.regularization_weight
        metrics = alignment_metrics(table[:, :5], self.language_names, weight, prefix)
        names = self.objective.layer_names
        if len(names) > 1:  # the same losses per layer: eval_layer8_alignment_loss, ...
            counts = table[:, [1, 3]] / len(names)
            for number, name in enumerate(names):
                layer_table = torch.stack(
                    [table[:, 5 + number], counts[:, 0], table[:, 5 + len(names) + number], counts[:, 1], table[:, 4]],
                    dim=1,
                )
                metrics.update(alignment_metrics(layer_table, self.language_names, weight, f"{prefix}_layer{name}"))
        metrics[f"{prefix}_runtime"] = round(time.time() - start, 4)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class TaskTrainer(XLTrainer):
    """Fine-tunes a task model (the model computes its own loss); optionally keeps the adjustment loss.

    With ``continual``, every training micro-step adds ``align_weight × alignment + λ × regulariser`` computed on
    a fresh random batch of parallel pairs, and logs ``task_loss``, ``alignment_loss`` and
    ``regularization_loss`` beside ``loss``. With ``final_model`` (:mod:`xladjust.tasks.final_model`), snapshots are
    taken during training (and travel in the checkpoints), and the weights saved at the end are an average of
    checkpoints or the candidate chosen on English data.
    """

    def __init__(
        self,
        *args: Any,
        continual: ContinualAlignment | None = None,
        final_model: FinalModelChoice | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.continual = continual
        self.final_model = final_model
        if final_model is not None:
            final_model.bind(self)
        if (
            continual is not None
            and continual.objective.frozen
            and (self.is_fsdp_enabled or self.args.gradient_checkpointing)
        ):
            # Both re-run or re-wire the encoder's parameters outside the objective's forward, where the frozen ones
            # would get the alignment gradient after all (xladjust/adjust/freezing.py).
            raise InputError("--align_freeze does not work with FSDP or --gradient_checkpointing")
        if continual is not None:
            continual.objective.to(self.args.device)
            self.loss_head = continual.objective.projection
            continual.attach(self.model)
        self._draw_step, self._draws = -1, 0

    def save_checkpoint_extras(self, folder: str) -> None:
        super().save_checkpoint_extras(folder)
        if self.final_model is not None:
            self.final_model.save(folder)

    def load_checkpoint_extras(self, folder: str) -> None:
        super().load_checkpoint_extras(folder)
        if self.final_model is not None:
            self.final_model.load(folder)

    def choose_final_model(self) -> dict[str, Any]:
        """``--average_checkpoints`` / ``--select_on``: the chosen weights into the model, recorded in the card."""
        if self.final_model is None:
            return {}
        metrics = self.final_model.choose()
        if self.model_card is not None:
            self.model_card.summary += " " + self.final_model.describe(metrics)
            self.model_card.settings["final_model"] = metrics
        return metrics

    def compute_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None
    ):
        aligning = self.continual is not None and model.training
        if aligning:
            self.check_reference_outside_wrapper(model, self.continual.objective.reference)
            step = self.state.global_step
            self._draws = self._draws + 1 if step == self._draw_step else 0
            self._draw_step = step
            batch = self.continual.draw(
                self.args.seed, self.args.process_index, step, self._draws, self.args.world_size
            )
            # Through the wrapped model's forward (see ContinualAlignment.attach), not around the wrapper.
            inputs = {**inputs, "alignment_batch": self._prepare_inputs(batch)}
        task_loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
        loss = task_loss
        if aligning:
            terms = self.continual.take_terms()
            loss = (
                task_loss
                + self.continual.align_weight * terms.alignment_loss
                + self.continual.objective.regularization_weight * terms.regularization_loss
            )
            self.record_components(
                task_loss=task_loss, alignment_loss=terms.alignment_loss, regularization_loss=terms.regularization_loss
            )
        return (loss, outputs) if return_outputs else loss
