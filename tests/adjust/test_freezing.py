"""Layer freezing (--freeze, --align_freeze): which parameters, and that no gradient of the adjustment reaches them."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel

from tests.builders import continual_for
from xladjust.adjust.freezing import check_freeze, no_gradient_from, resolve_frozen
from xladjust.adjust.objective import AlignmentObjective
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.errors import InputError


def bert(layers: int) -> BertModel:
    config = BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=16
    )
    return BertModel(config)


def naive_names(model: torch.nn.Module, layers: set[int], embeddings: bool) -> set[str]:
    """The parameter names by their spelled-out prefixes."""
    names = set()
    for name, _ in model.named_parameters():
        parts = name.split(".")
        if embeddings and parts[0] == "embeddings":
            names.add(name)
        if parts[:2] == ["encoder", "layer"] and int(parts[2]) in layers:
            names.add(name)
    return names


@pytest.mark.parametrize(
    ("layers", "specs", "expected_layers", "embeddings"),
    [
        (4, ["lower_half"], {0, 1}, False),
        (4, ["upper_half"], {2, 3}, False),
        (5, ["lower_half"], {0, 1}, False),  # AlignFreeze's halves: L // 2 layers each, the middle one left
        (5, ["upper_half"], {3, 4}, False),
        (4, ["embeddings", "1-2"], {1, 2}, True),
        (4, ["3", "0", "embeddings"], {0, 3}, True),
        (4, ["embeddings"], set(), True),
    ],
)
def test_the_frozen_parameters_are_those_the_words_name(layers, specs, expected_layers, embeddings):
    model = bert(layers)
    frozen = resolve_frozen(model, check_freeze(specs))
    assert set(frozen.names) == naive_names(model, expected_layers, embeddings)
    assert frozen.layers == tuple(sorted(expected_layers)) and frozen.embeddings == embeddings
    assert frozen.frozen_parameters == sum(model.get_parameter(n).numel() for n in frozen.names)
    assert [id(p) for p in frozen.tensors] == [id(model.get_parameter(n)) for n in frozen.names]


def test_xlmr_layers_and_the_description(tiny_xlmr):
    model = AutoModel.from_pretrained(tiny_xlmr)
    frozen = resolve_frozen(model, ["embeddings", "lower_half"])
    assert frozen.names and all(n.startswith(("embeddings.", "encoder.layer.0.")) for n in frozen.names)
    assert frozen.describe() == "the embeddings and layer 0 of 2"
    assert resolve_frozen(bert(6), ["0-1", "3", "4"]).describe() == "layers 0-1, 3-4 of 6"


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["0-4"], "--freeze 0-4: the encoder has layers 0-3"),
        (["7"], "--freeze 7: the encoder has layers 0-3"),
    ],
)
def test_layers_beyond_the_encoder_are_input_errors(specs, message):
    with pytest.raises(InputError, match=message):
        resolve_frozen(bert(4), specs)


def test_freezing_everything_below_the_aligned_layers_is_an_input_error():
    model = bert(4)
    with pytest.raises(InputError, match="everything that makes the aligned hidden states \\[2\\]"):
        AlignmentObjective(model, ObjectiveSettings(freeze=["embeddings", "0-1"], layers=[2]))
    AlignmentObjective(model, ObjectiveSettings(freeze=["embeddings", "0-1"], layers=[3]))  # layer 2 still trains
    AlignmentObjective(model, ObjectiveSettings(freeze=["0-3"]))  # the embeddings still train


def test_the_drift_regulariser_leaves_the_frozen_parameters_out(tiny_bert):
    model = AutoModel.from_pretrained(tiny_bert)
    objective = AlignmentObjective(model, ObjectiveSettings(freeze=["embeddings"], regularization="parameters"))
    assert objective._drift_names and not any(n.startswith("embeddings.") for n in objective._drift_names)
    assert len(objective._drift_names) == sum(1 for n, _ in model.named_parameters() if not n.startswith("emb"))
    objective.frozen.freeze()  # as run_adjust.py: requires_grad off; the drift still lines up with its tensors
    with torch.no_grad():
        model.encoder.layer[1].output.dense.weight.add_(0.5)
    expected = 0.25 * model.encoder.layer[1].output.dense.weight.numel()
    assert objective.parameter_drift(model).item() == pytest.approx(expected, rel=1e-5)


def test_no_gradient_from_blocks_only_the_losses_computed_inside():
    weight = torch.nn.Parameter(torch.tensor([2.0]))
    other = torch.nn.Parameter(torch.tensor([3.0]))
    outside = (weight * other).sum()
    with no_gradient_from([weight]):
        inside = (weight * other * 10).sum()
    assert weight.requires_grad
    (outside + inside).backward()
    assert weight.grad.item() == pytest.approx(3.0)  # from `outside` only
    assert other.grad.item() == pytest.approx(2.0 + 20.0)


def task_and_alignment_gradients(model, continual, batch, alignment: bool, task: bool) -> dict[str, torch.Tensor]:
    model.zero_grad()
    outputs = model(**batch, alignment_batch=continual.draw(1, 0, 0, 0))
    terms = continual.take_terms()
    loss = (outputs.loss if task else 0) + (terms.alignment_loss + terms.regularization_loss if alignment else 0)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_align_freeze_gives_the_frozen_layers_the_task_gradient_only(tiny_bert, tmp_path):
    """Continual learning with --align_freeze: the alignment terms give the frozen parameters no gradient (they
    get exactly the task loss's), the others get both."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3)
    model.eval()  # no dropout: three backward passes of the same network
    continual = continual_for(model, tokenizer, tmp_path, align_freeze=["embeddings", "lower_half"])
    continual.attach(model)
    with torch.no_grad():  # away from the reference, so that the regulariser has a gradient too
        for parameter in model.bert.parameters():
            parameter.add_(0.01)
    batch = {**tokenizer(["el gato come", "the dog sleeps here"], padding=True, return_tensors="pt")}
    batch["labels"] = torch.tensor([0, 2])
    frozen = {f"bert.{name}" for name in continual.objective.frozen.names}
    assert frozen and any(".layer.0." in n for n in frozen) and not any(".layer.1." in n for n in frozen)

    alignment_only = task_and_alignment_gradients(model, continual, batch, alignment=True, task=False)
    assert not frozen & set(alignment_only)  # no gradient at all reaches them from the alignment terms
    assert any(".layer.1." in n for n in alignment_only)
    task_only = task_and_alignment_gradients(model, continual, batch, alignment=False, task=True)
    both = task_and_alignment_gradients(model, continual, batch, alignment=True, task=True)
    for name in frozen:
        torch.testing.assert_close(both[name], task_only[name], rtol=0, atol=0, msg=name)
    moved = "bert.encoder.layer.1.output.dense.weight"
    torch.testing.assert_close(both[moved], task_only[moved] + alignment_only[moved], rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad for p in model.parameters())  # the task loss still trains every layer
