"""The tokenizer, the task model (with its label mapping) and continual learning's pool for a task script.

Any encoder folder or Hub name works, a bare encoder written by run_adjust.py included: the task's label mapping
is written into (and checked against) the model config, so that a head whose ids mean other classes is refused.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments

from xladjust.adjust.continual import ContinualAlignment, ContinualLearningArguments, build_continual_alignment
from xladjust.arguments import ModelArguments
from xladjust.errors import InputError

logger = logging.getLogger(__name__)

_DEFAULT_LABEL = re.compile(r"LABEL_(\d+)")


def set_label_mapping(config: Any, labels: Sequence[str]) -> None:
    """Write ``id2label``/``label2id`` for ``labels`` (in id order) into a ``PretrainedConfig``."""
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}


def check_label_mapping(config: Any, labels: Sequence[str], model_name: str) -> bool:
    """Check a config's label mapping against ``labels``; return whether the head was trained on them.

    A config with the generic ``LABEL_0, LABEL_1, ...`` names (a pretrained encoder, no task head yet)
    passes and returns False. Named labels must equal ``labels`` in the same id order (case-insensitive:
    some checkpoints write ``ENTAILMENT``); anything else raises :class:`InputError` naming the model,
    because evaluating a head whose ids mean different classes gives silently wrong scores.
    """
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    if all((m := _DEFAULT_LABEL.fullmatch(name)) and int(m.group(1)) == i for i, name in id2label.items()):
        return False
    expected = dict(enumerate(labels))
    if {i: name.lower() for i, name in id2label.items()} != {i: name.lower() for i, name in expected.items()}:
        found = ", ".join(f"{i}={id2label[i]}" for i in sorted(id2label))
        wanted = ", ".join(f"{i}={name}" for i, name in expected.items())
        raise InputError(
            f"model {model_name} has the label mapping {{{found}}} but this task needs {{{wanted}}}; "
            "use a model fine-tuned with this label order, or a pretrained encoder without a task head"
        )
    return True


def _hub_options(model_args: ModelArguments) -> dict[str, Any]:
    return {"cache_dir": model_args.cache_dir, "revision": model_args.model_revision, "token": model_args.token}


@contextlib.contextmanager
def _reported_as_input_error(what: str, name: str) -> Iterator[None]:
    """A model or tokenizer that cannot be found (no such folder, no such Hub id offline) is a user error."""
    try:
        yield
    except OSError as error:
        raise InputError(f"cannot load the {what}: {str(error).strip().splitlines()[0]}", name) from None


def load_tokenizer(model_args: ModelArguments) -> PreTrainedTokenizerBase:
    """The model's (or ``--tokenizer_name``'s) tokenizer, as saved: pre-split words need no ``add_prefix_space``
    (:func:`~xladjust.data.text.tokenize_words` gives every word its space, whatever the tokenizer family)."""
    name = model_args.tokenizer_name or model_args.model_name_or_path
    with _reported_as_input_error("tokenizer", name):
        return AutoTokenizer.from_pretrained(name, **_hub_options(model_args))


def load_task_model(auto_class: Any, model_args: ModelArguments, labels: Sequence[str]) -> PreTrainedModel:
    """A task model over ``labels`` (in id order) from an encoder or a task model; the mapping goes into its config.

    A head of the same size is kept, so its label mapping must be ``labels`` (else :class:`InputError`); a head of
    another size, or none (a bare encoder, e.g. from run_adjust.py), is replaced by a new one.
    """
    path = model_args.model_name_or_path
    with _reported_as_input_error("model configuration", path):
        config = AutoConfig.from_pretrained(path, **_hub_options(model_args))
    if config.num_labels != len(labels):
        logger.info("%s has no head for %d labels: a new one is trained", path, len(labels))
    elif check_label_mapping(config, labels, path):
        logger.info("%s already has a head for %s: it is kept", path, ", ".join(labels))
    set_label_mapping(config, labels)
    return auto_class.from_pretrained(path, config=config, ignore_mismatched_sizes=True, **_hub_options(model_args))


def setup_continual_learning(
    args: ContinualLearningArguments,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    training_args: TrainingArguments,
    model_args: ModelArguments | None = None,
) -> ContinualAlignment | None:
    """The pool of parallel pairs and the frozen copy of the encoder as it is now (before any fine-tuning step);
    ``model_args``: what SimAlign and the pair filter load their models with (revision, cache, token)."""
    if not args.enabled:
        return None
    if not training_args.do_train:
        logger.warning("continual learning options are ignored without --do_train")
        return None
    # Process 0 first: it may write eflomal alignments that the others then reuse.
    with training_args.main_process_first(desc="continual learning pool"):
        return build_continual_alignment(
            args, model, tokenizer, training_args.seed, training_args.output_dir, training_args.device, model_args
        )
