"""The objective's method options, each against a naive per-word / per-pair computation (value and gradients)."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from tests.conftest import PARALLEL
from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_dataset
from xladjust.adjust.objective import AlignmentObjective
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.data.parallel import AlignedPair, CorpusStats, ParallelSource, read_source
from xladjust.errors import InputError

WEIGHT = 0.7


def sentence_words(encoder, tokenizer, sentence: list[str], layers: list[int]) -> list[torch.Tensor]:
    """Per layer, the sentence's word vectors written out: CLS, the mean of each word's subwords, SEP."""
    encoding = tokenizer(sentence, is_split_into_words=True, return_tensors="pt")
    hidden_states = encoder(**encoding, output_hidden_states=True).hidden_states
    ids = encoding.word_ids()
    per_layer = []
    for layer in layers:
        hidden = hidden_states[layer][0]
        vectors = [hidden[0]]
        for w in range(len(sentence)):
            vectors.append(torch.stack([hidden[t] for t, i in enumerate(ids) if i == w]).mean(0))
        per_layer.append(torch.stack([*vectors, hidden[len(ids) - 1]]))
    return per_layer


def naive_info_nce(queries, candidates) -> torch.Tensor:
    """Mean over queries of −log softmax(cos / τ) at the positive; ``candidates[q]`` = (positive, negatives)."""
    losses = []
    for query, (positive, negatives) in zip(queries, candidates, strict=True):
        scores = [F.cosine_similarity(query, other, dim=0) for other in (positive, *negatives)]
        losses.append(-torch.log_softmax(torch.stack(scores) / TEMPERATURE[0], dim=0)[0])
    return torch.stack(losses).mean()


TEMPERATURE = [0.1]  # set per test: naive_info_nce reads it


def naive_objective(model, reference, initial, projection, tokenizer, pairs, layers, options: ObjectiveSettings):
    """The loss written out word by word and pair by pair, for every option."""
    project = (lambda v: v) if projection is None else projection
    links = []  # (pair, target word, English word), in the collator's order (CLS/SEP links last per pair)
    for p, pair in enumerate(pairs):
        links += [(p, i + 1, j + 1) for i, j in pair.links]
        links += [(p, 0, 0), (p, len(pair.target) + 1, len(pair.english) + 1)]
    alignment_terms, regularization_terms = [], []
    for number, _ in enumerate(layers):
        target = [sentence_words(model, tokenizer, pair.target, layers)[number] for pair in pairs]
        english = [sentence_words(model, tokenizer, pair.english, layers)[number] for pair in pairs]
        with torch.no_grad():
            original = [sentence_words(reference, tokenizer, pair.english, layers)[number] for pair in pairs]
        anchor = original if options.alignment_target == "frozen" else english
        if options.alignment_loss == "mse":
            sq = [(target[p][i] - anchor[p][j]).pow(2).mean() for p, i, j in links]
            alignment_terms.append(torch.stack(sq).mean())
        elif options.contrastive_negatives == "linked":
            forward_queries, forward_candidates, backward_queries, backward_candidates = [], [], [], []
            for k, (p, i, j) in enumerate(links):
                others = [(q, a, b) for m, (q, a, b) in enumerate(links) if m != k]
                forward_queries.append(project(target[p][i]))
                forward_candidates.append(
                    (project(anchor[p][j]), [project(anchor[q][b]) for q, a, b in others if (q, b) != (p, j)])
                )
                backward_queries.append(project(anchor[p][j]))
                backward_candidates.append(
                    (project(target[p][i]), [project(target[q][a]) for q, a, b in others if (q, a) != (p, i)])
                )
            alignment_terms.append(
                (
                    naive_info_nce(forward_queries, forward_candidates)
                    + naive_info_nce(backward_queries, backward_candidates)
                )
                / 2
            )
        else:  # every word of both sides of the batch
            words = [("tgt", p, w) for p in range(len(pairs)) for w in range(len(target[p]))]
            words += [("en", p, w) for p in range(len(pairs)) for w in range(len(anchor[p]))]

            def vector(word, target=target, anchor=anchor):
                side, p, w = word
                return project(target[p][w] if side == "tgt" else anchor[p][w])

            def partners(word):
                side, p, w = word
                if side == "tgt":
                    return {("en", q, b) for q, a, b in links if (q, a) == (p, w)}
                return {("tgt", q, a) for q, a, b in links if (q, b) == (p, w)}

            queries, candidates = [], []
            for p, i, j in links:
                for query, positive in ((("tgt", p, i), ("en", p, j)), (("en", p, j), ("tgt", p, i))):
                    excluded = {query} | partners(query)
                    queries.append(vector(query))
                    candidates.append((vector(positive), [vector(w) for w in words if w not in excluded]))
            alignment_terms.append(naive_info_nce(queries, candidates))
        regularization_terms.append(F.mse_loss(torch.cat(english), torch.cat(original)))
    alignment = torch.stack(alignment_terms).mean()
    if options.regularization == "english_vectors":
        regularization = torch.stack(regularization_terms).mean()
    elif options.regularization == "parameters":
        regularization = sum(
            (parameter - initial[name]).pow(2).sum()
            for name, parameter in model.named_parameters()
            if parameter.requires_grad
        )
    else:
        return alignment, alignment
    return alignment + WEIGHT * regularization, alignment


def batch_pairs() -> list[AlignedPair]:
    pairs = read_source(ParallelSource("ru", str(PARALLEL / "ru-en.txt"), str(PARALLEL / "ru-en.align")))[:3]
    # Not one-to-one: "gato" has two links, "black" two as well; such a word is never its own negative.
    return [*pairs, AlignedPair(["el", "gato", "negro"], ["the", "black", "cat"], [(0, 0), (1, 2), (1, 1), (2, 1)])]


CASES = {
    "frozen-target": (ObjectiveSettings(alignment_target="frozen"), [-1]),
    "contrastive-linked": (ObjectiveSettings(alignment_loss="contrastive"), [-1]),
    "contrastive-linked-frozen-head": (
        ObjectiveSettings(alignment_target="frozen", alignment_loss="contrastive", projection_layers=2),
        [-1],
    ),
    "contrastive-all": (ObjectiveSettings(alignment_loss="contrastive", contrastive_negatives="all"), [-1]),
    "contrastive-all-head-layers": (
        ObjectiveSettings(
            alignment_loss="contrastive", contrastive_negatives="all", projection_layers=2, temperature=0.5
        ),
        [1, 2],
    ),
    "parameters": (ObjectiveSettings(regularization="parameters"), [-1]),
    "parameters-contrastive-all-frozen": (
        ObjectiveSettings(
            alignment_target="frozen",
            alignment_loss="contrastive",
            contrastive_negatives="all",
            regularization="parameters",
        ),
        [-1],
    ),
    "no-regularization": (ObjectiveSettings(regularization="none"), [-1]),
    "layers": (ObjectiveSettings(), [0, -1]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_option_equals_the_naive_computation_in_value_and_gradient(tiny_bert, case):
    options, layers = CASES[case]
    TEMPERATURE[0] = options.temperature
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModel.from_pretrained(tiny_bert).eval()  # no dropout: both computations see the same network
    torch.manual_seed(0)
    objective = AlignmentObjective(model, dataclasses.replace(options, layers=layers, regularization_weight=WEIGHT))
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    reference = objective.reference if objective.reference is not None else copy.deepcopy(model)
    with torch.no_grad():  # move the trained encoder away from the original, so that regularisers are not zero
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    pairs = batch_pairs()
    dataset = build_alignment_dataset(
        pairs, tokenizer, max_seq_length=64, include_cls_sep=True, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])

    trained = [*model.named_parameters(), *(objective.projection.named_parameters() if objective.projection else [])]
    output = objective(model, batch)
    output.loss.backward()
    gradients = {name: p.grad.clone() for name, p in trained if p.grad is not None}
    for _, parameter in trained:
        parameter.grad = None
    expected, expected_alignment = naive_objective(
        model, reference, initial, objective.projection, tokenizer, pairs, layers, options
    )
    expected.backward()

    torch.testing.assert_close(output.loss, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(output.alignment_loss, expected_alignment, rtol=1e-5, atol=1e-6)
    assert set(gradients) == {name for name, p in trained if p.grad is not None}
    for name, parameter in trained:
        if parameter.grad is not None:
            torch.testing.assert_close(gradients[name], parameter.grad, rtol=1e-4, atol=1e-6, msg=name)
    got = torch.cat([g.flatten() for g in gradients.values()])
    want = torch.cat([p.grad.flatten() for name, p in trained if name in gradients])
    assert F.cosine_similarity(got, want, dim=0) > 1 - 1e-5
    if objective.projection is not None:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.projection.parameters())


def test_held_out_mse_sums_stay_the_papers_whatever_the_training_loss(tiny_bert):
    """Per-pair sums are the paper's MSEs (alignment to the *current* English vectors) for every option."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModel.from_pretrained(tiny_bert).eval()
    paper = AlignmentObjective(model, ObjectiveSettings(regularization_weight=WEIGHT))
    variant = AlignmentObjective(
        model,
        ObjectiveSettings(
            regularization_weight=WEIGHT,
            alignment_target="frozen",
            alignment_loss="contrastive",
            contrastive_negatives="all",
            temperature=0.1,
            projection_layers=2,
            regularization="parameters",
        ),
        keep_reference=True,
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    dataset = build_alignment_dataset(
        batch_pairs(), tokenizer, max_seq_length=64, include_cls_sep=True, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        want, got = paper(model, batch), variant(model, batch)
    for name in ("pair_alignment_sse", "pair_alignment_count", "pair_regularization_sse", "pair_regularization_count"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), msg=name)
    assert got.pair_regularization_sse.sum() > 0
    assert not torch.isclose(got.alignment_loss, want.alignment_loss)  # the training term is InfoNCE


def test_frozen_target_pulls_only_the_target_side(tiny_bert):
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    objective = AlignmentObjective(model, ObjectiveSettings(alignment_target="frozen", regularization="none"))
    pair = AlignedPair(["gato"], ["cat"], [(0, 0)])
    dataset = build_alignment_dataset(
        [pair], tokenizer, max_seq_length=16, include_cls_sep=False, language_id=0, stats=CorpusStats()
    )
    objective(model, AlignedPairCollator(tokenizer.pad_token_id)([dataset[0]])).loss.backward()
    embedding_grad = model.embeddings.word_embeddings.weight.grad
    target_ids = set(dataset[0]["tgt_input_ids"][1:-1]) - set(dataset[0]["en_input_ids"])
    english_ids = set(dataset[0]["en_input_ids"][1:-1]) - set(dataset[0]["tgt_input_ids"])
    assert target_ids and english_ids
    assert all(embedding_grad[i].abs().sum() > 0 for i in target_ids)
    assert all(embedding_grad[i].abs().sum() == 0 for i in english_ids)


def test_parameter_regulariser_keeps_one_tensor_copy_not_a_model(tiny_bert):
    model = AutoModel.from_pretrained(tiny_bert)
    model.pooler.requires_grad_(False)
    options = ObjectiveSettings(regularization="parameters")
    objective = AlignmentObjective(model, options)
    assert objective.reference is None
    trainable = [p for p in model.parameters() if p.requires_grad]
    kept = [tensor for name, tensor in objective.named_buffers() if name.startswith("initial_")]
    assert len(kept) == len(trainable) and sum(t.numel() for t in kept) == sum(p.numel() for p in trainable)
    assert objective.parameter_drift(model) == 0
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[3] += 0.5
    assert objective.parameter_drift(model).item() == pytest.approx(0.25 * model.config.hidden_size, rel=1e-5)
    # With a reference kept (for the held-out metrics), its tensors are the initial values: no extra copy.
    with_reference = AlignmentObjective(model, options, keep_reference=True)
    assert with_reference.reference is not None
    assert not [name for name, _ in with_reference.named_buffers() if name.startswith("initial_")]
    assert with_reference.parameter_drift(model) == 0


def test_reference_is_only_kept_where_something_needs_it(tiny_bert):
    model = AutoModel.from_pretrained(tiny_bert)
    cases = [
        (ObjectiveSettings(), True),
        (ObjectiveSettings(regularization="none"), False),
        (ObjectiveSettings(regularization="parameters"), False),
        (ObjectiveSettings(regularization="none", alignment_target="frozen"), True),
    ]
    for options, kept in cases:
        assert (AlignmentObjective(model, options).reference is not None) == kept, options
        assert AlignmentObjective(model, options, keep_reference=True).reference is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alignment_loss": "cosine"}, "--alignment_loss 'cosine' is not one of ['mse', 'contrastive']"),
        ({"projection_layers": 1}, "--projection_layers 1 is not one of [0, 2]"),
        ({"temperature": 0.0}, "--temperature must be > 0"),
        ({"regularization": "l2"}, "--regularization 'l2' is not one of"),
    ],
)
def test_bad_options_are_input_errors(options, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ObjectiveSettings(**options)


def test_layers_out_of_range_or_repeated_are_input_errors(tiny_bert):
    model = AutoModel.from_pretrained(tiny_bert)  # 2 layers: hidden states 0..2
    with pytest.raises(InputError, match="layer 3 does not exist"):
        AlignmentObjective(model, ObjectiveSettings(layers=[3]))
    with pytest.raises(InputError, match="name the same hidden state twice"):
        AlignmentObjective(model, ObjectiveSettings(layers=[2, -1]))
    assert AlignmentObjective(model, ObjectiveSettings(layers=[0, -1])).layer_names == [0, 2]


def test_several_layers_average_the_per_layer_terms(tiny_bert):
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert).eval()
    dataset = build_alignment_dataset(
        batch_pairs(), tokenizer, max_seq_length=64, include_cls_sep=True, language_id=0, stats=CorpusStats()
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        together = AlignmentObjective(model, ObjectiveSettings(layers=[1, 2], regularization_weight=0.0))(model, batch)
        alone = [
            AlignmentObjective(model, ObjectiveSettings(layers=[n], regularization_weight=0.0))(model, batch)
            for n in (1, 2)
        ]
    torch.testing.assert_close(together.alignment_loss, (alone[0].alignment_loss + alone[1].alignment_loss) / 2)
    for number in range(2):
        torch.testing.assert_close(together.layer_pair_alignment_sse[:, number], alone[number].pair_alignment_sse)
    assert math.isclose(
        together.pair_alignment_count.sum().item(), 2 * alone[0].pair_alignment_count.sum().item(), rel_tol=0
    )
