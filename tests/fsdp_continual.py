"""``torchrun ... tests/fsdp_continual.py MODEL OUT``: one continual-learning loss through a task model sharded with
FSDP2 (``fully_shard``, gloo on CPU) when run in several processes, unsharded in one; rank 0 saves the gradients.

accelerate does not enable FSDP on CPU (docs/distributed.md), so this drives ``fully_shard`` directly, the way
accelerate's FSDP2 path wraps a model: every ``BertLayer``, then the root."""

from __future__ import annotations

import os
import sys
import tempfile

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule, fully_shard
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.conftest import PARALLEL
from xladjust.adjust.continual import ContinualLearningArguments, build_continual_alignment


def main(model_path: str, out: str) -> None:
    sharded = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if sharded:
        dist.init_process_group("gloo")
    torch.manual_seed(0)  # the same new classifier head in every process
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=3)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    args = ContinualLearningArguments(
        align_languages=["es"],
        align_parallel_file=[str(PARALLEL / "es-en.txt")],
        align_alignment_file=[str(PARALLEL / "es-en.align")],
        align_batch_size=4,
    )
    continual = build_continual_alignment(args, model, tokenizer, seed=1, output_dir=tempfile.mkdtemp())
    continual.attach(model)
    with torch.no_grad():  # away from the reference, so that the regulariser has a gradient
        model.bert.embeddings.word_embeddings.weight.mul_(1.1)
    if sharded:
        for layer in model.bert.encoder.layer:
            fully_shard(layer)
        fully_shard(model)
        assert isinstance(model, FSDPModule)
    reference = continual.objective.reference
    assert not any(isinstance(m, FSDPModule) for m in reference.modules()), "the reference must stay unsharded"
    batch = tokenizer(["el gato come", "the dog sleeps here"], padding=True, return_tensors="pt")
    outputs = model(**batch, labels=torch.tensor([0, 2]), alignment_batch=continual.draw(1, 0, 0, 0))
    terms = continual.take_terms()
    (outputs.loss + 0.5 * terms.alignment_loss + 2.0 * terms.regularization_loss).backward()
    grads = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:  # the same data in every process: the averaged gradient is the same
            grads[name] = parameter.grad.full_tensor() if hasattr(parameter.grad, "full_tensor") else parameter.grad
    if not sharded or dist.get_rank() == 0:
        torch.save({"grads": grads, "terms": [float(terms.alignment_loss), float(terms.regularization_loss)]}, out)
    if sharded:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
