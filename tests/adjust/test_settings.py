"""The objective's settings in one place: run_adjust.py's options and their generated ``--align_*`` twins agree."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, HfArgumentParser

import run_adjust
import run_xnli
from tests.conftest import PARALLEL
from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.continual import ContinualLearningArguments
from xladjust.adjust.features import build_alignment_dataset
from xladjust.adjust.objective import AlignmentObjective
from xladjust.adjust.settings import AlignObjectiveArguments, ObjectiveSettings
from xladjust.data.parallel import CorpusStats, ParallelSource, read_source
from xladjust.errors import InputError

VARIANTS = {
    "paper": [],
    "first-subword-lambda": [
        "--word_pooling",
        "first",
        "--regularization_weight",
        "0.5",
        "--include_cls_sep",
        "false",
    ],
    "frozen-target": ["--alignment_target", "frozen"],
    "contrastive-linked": ["--alignment_loss", "contrastive", "--temperature", "0.2"],
    "contrastive-all-head": [
        "--alignment_loss",
        "contrastive",
        "--contrastive_negatives",
        "all",
        "--projection_layers",
        "2",
    ],
    "parameters": ["--regularization", "parameters"],
    "no-regulariser": ["--regularization", "none"],
    "layers": ["--layers", "1", "2"],
    "layer-alias": ["--layer", "1"],
    "frozen-layers": ["--freeze", "embeddings", "0", "--regularization", "parameters"],
}


def adjust_settings(options: list[str]) -> ObjectiveSettings:
    """run_adjust.py's own parser, with every argument dataclass it reads."""
    parser = HfArgumentParser(
        (
            run_adjust.ModelArguments,
            run_adjust.ParallelDataArguments,
            ObjectiveSettings,
            run_adjust.AdjustTrainingArguments,
        )
    )
    _, _, settings, _ = parser.parse_args_into_dataclasses(args=[*options, "--output_dir", "unused"])
    return settings


def continual_settings(options: list[str]) -> ObjectiveSettings:
    """run_xnli.py's parser, the same options with the ``align_`` prefix."""
    parser = HfArgumentParser(
        (
            run_xnli.ModelArguments,
            run_xnli.XnliDataArguments,
            ContinualLearningArguments,
            run_xnli.XnliTrainingArguments,
        )
    )
    prefixed = [word.replace("--", "--align_", 1) if word.startswith("--") else word for word in options]
    _, _, continual, _ = parser.parse_args_into_dataclasses(args=[*prefixed, "--output_dir", "unused"])
    return continual.to_settings()


def test_the_twin_has_every_setting_with_the_same_default_help_and_choices():
    originals = {f.name: f for f in dataclasses.fields(ObjectiveSettings)}
    twins = {f.name.removeprefix("align_"): f for f in dataclasses.fields(AlignObjectiveArguments)}
    assert set(twins) == set(originals)
    for name, original in originals.items():
        twin = twins[name]
        assert twin.default == original.default and twin.default_factory == original.default_factory, name
        assert twin.metadata.get("choices") == original.metadata.get("choices"), name
        assert twin.metadata["help"] == original.metadata["help"].replace("--", "--align_"), name
    # Continual learning's own options are not objective settings, and the twin is all it inherits.
    own = {f.name for f in dataclasses.fields(ContinualLearningArguments)} - {f"align_{n}" for n in originals}
    assert own == {
        "align_languages",
        "align_parallel_file",
        "align_alignment_file",
        "align_dataset_name",
        "align_dataset_config_names",
        "align_parallel_columns",
        "align_max_seq_length",
        "align_weight",
        "align_batch_size",
        "align_max_pairs",
        "align_aligner",
        "align_dictionary_files",
        "align_filter_model",
        "align_filter_keep",
        "align_filter_min_score",
    }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_is_the_same_objective_through_run_adjust_and_the_align_twin(tiny_bert, variant):
    settings = adjust_settings(VARIANTS[variant])
    assert continual_settings(VARIANTS[variant]) == settings
    # Both build the same loss on the same batch.
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt"), str(PARALLEL / "es-en.align")))[:4]
    dataset = build_alignment_dataset(
        pairs,
        tokenizer,
        max_seq_length=32,
        include_cls_sep=settings.include_cls_sep,
        language_id=0,
        stats=CorpusStats(),
    )
    batch = AlignedPairCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    losses = []
    for built in (settings, continual_settings(VARIANTS[variant])):
        model = AutoModel.from_pretrained(tiny_bert).eval()
        torch.manual_seed(0)  # the projection head's initialisation
        objective = AlignmentObjective(model, built)
        with torch.no_grad():
            for parameter in model.parameters():  # away from the original, so that the regularisers are not zero
                parameter.add_(0.01)
            losses.append(objective(model, batch).loss)
    torch.testing.assert_close(losses[0], losses[1])


def test_the_layer_alias_resolves_the_same_way_in_both():
    assert adjust_settings(["--layers", "1", "2"]).layer is None
    assert continual_settings(["--layer", "1"]).layers == [1]
    with pytest.raises(InputError, match="--layer 1 and --layers 2 disagree"):
        adjust_settings(["--layer", "1", "--layers", "2"])
    with pytest.raises(InputError, match="--align_layer 1 and --align_layers 2 disagree"):
        continual_settings(["--layer", "1", "--layers", "2"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--temperature", "0"], "--{}temperature must be > 0"),
        (["--regularization_weight", "-1"], "--{}regularization_weight must be >= 0"),
        (["--freeze", "lower"], "--{}freeze 'lower': expected embeddings, lower_half, upper_half"),
        (["--freeze", "3-1"], "--{}freeze '3-1': the range ends before it starts"),
    ],
)
def test_a_bad_value_names_the_flag_as_typed(options, message):
    with pytest.raises(InputError, match=message.format("")):
        adjust_settings(options)
    with pytest.raises(InputError, match=message.format("align_")):
        continual_settings(options)
