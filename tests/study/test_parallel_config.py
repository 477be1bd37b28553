"""The study's parallel data: WikiMatrix by default, OPUS-100 as the alternative config, the columns rendered into
the adjustments and continual learning, and the guard against adjusting on an evaluation's corpus."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import reproduce
from tests.study_helpers import value, values
from xladjust.errors import InputError
from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps
from xladjust.study.overlap import find_overlaps
from xladjust.study.runner import write_manifest

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.json"
OPUS100 = ROOT / "configs" / "opus100.json"
WIKIMATRIX = "sentence-transformers/parallel-sentences-wikimatrix"


def steps_of(path: Path, *overrides: str) -> dict:
    return {step.name: step for step in build_steps(load_config(str(path), list(overrides)))}


def test_paper_adjusts_on_wikimatrix_with_its_configs_and_columns():
    steps = steps_of(PAPER, 'languages=["ar", "es"]')
    adjust = steps["adjust-joint-seed1"].args
    assert value(adjust, "--parallel_dataset_name") == WIKIMATRIX
    assert values(adjust, "--parallel_dataset_config_names") == ["en-ar", "en-es"]  # en-{lang}, not sorted
    assert value(adjust, "--parallel_dataset_split") == "train"
    assert values(adjust, "--parallel_columns") == ["english", "non_english"]
    continual = steps["xnli-continual-lang-ar-seed1"].args
    assert value(continual, "--align_dataset_name") == WIKIMATRIX
    assert values(continual, "--align_dataset_config_names") == ["en-ar"]
    assert values(continual, "--align_parallel_columns") == ["english", "non_english"]
    assert "--parallel_columns" not in continual and "--parallel_dataset_split" not in continual


def test_opus100_config_is_the_paper_on_opus100():
    steps = steps_of(OPUS100, 'languages=["ar", "de", "es"]')
    adjust = steps["adjust-joint-seed1"].args
    assert value(adjust, "--parallel_dataset_name") == "Helsinki-NLP/opus-100"
    assert values(adjust, "--parallel_dataset_config_names") == ["ar-en", "de-en", "en-es"]  # OPUS-style: sorted
    assert "--parallel_columns" not in adjust and "--align_parallel_columns" not in steps["qa-continual-seed1"].args
    assert value(adjust, "--output_dir").startswith("out/opus100/")
    paper = steps_of(PAPER, 'languages=["ar", "de", "es"]')
    assert len(steps) == len(paper)  # the same matrix, another corpus
    named = steps_of(OPUS100, 'parallel.columns=["en", "{lang}"]')["adjust-es-seed1"].args
    assert values(named, "--parallel_columns") == ["en", "{lang}"]  # filled in per language by the script


# ---------------------------------------------------------------------------------------------------------------
# The guard


@pytest.mark.parametrize(
    ("overrides", "evaluation", "key", "source"),
    [
        (
            ["parallel.dataset_name=sentence-transformers/parallel-sentences-tatoeba"],
            "xsr (retrieval_corpus tatoeba)",
            "parallel.dataset_name",
            "sentence-transformers/parallel-sentences-tatoeba",
        ),
        (
            ['parallel.files={"es": {"text": "data/Tatoeba.es-en.txt", "align": null}}', 'languages=["es"]'],
            "xsr (retrieval_corpus tatoeba)",
            "parallel.files.es.text",
            "data/Tatoeba.es-en.txt",
        ),
        (
            ["tasks.sib200={}", "parallel.dataset_name=openlanguagedata/flores_plus"],
            "task sib200",
            "parallel.dataset_name",
            "openlanguagedata/flores_plus",
        ),
        (
            ['tasks.topics={"script": "run_belebele.py"}', "adjust.args.parallel_dataset_name=gsarti/flores_101"],
            "task topics",
            "adjust.args.parallel_dataset_name",
            "gsarti/flores_101",
        ),
        (
            [
                "tasks.belebele={}",
                'variant_specs.continual-lang.continual_args={"align_dataset_name": "x/FLORES-200"}',
            ],
            "task belebele",
            "variant_specs.continual-lang.continual_args.align_dataset_name",
            "x/FLORES-200",
        ),
    ],
)
def test_adjusting_on_an_evaluation_corpus_is_refused(overrides, evaluation, key, source):
    with pytest.raises(InputError) as error:
        load_config(str(PAPER), overrides)
    message = str(error.value)
    assert message.startswith(f"{PAPER}: the parallel data looks like an evaluation's test corpus: ")
    assert f"{evaluation} is evaluated on" in message and f"{key} = {source!r}" in message
    assert "parallel.allow_overlap" in message


def test_an_allowed_overlap_runs_warns_and_is_recorded(tmp_path, caplog):
    overrides = [
        "parallel.dataset_name=sentence-transformers/parallel-sentences-tatoeba",
        'parallel.allow_overlap=["tatoeba"]',
        f"output_dir={tmp_path}",
        "seeds=[1]",
        'languages=["es"]',
    ]
    with caplog.at_level(logging.WARNING):
        config = load_config(str(PAPER), overrides)
    assert "evaluation overlap allowed by parallel.allow_overlap: xsr (retrieval_corpus tatoeba)" in caplog.text
    (overlap,) = find_overlaps(config)
    assert overlap.as_dict() == {
        "family": "tatoeba",
        "evaluation": "xsr (retrieval_corpus tatoeba)",
        "key": "parallel.dataset_name",
        "source": "sentence-transformers/parallel-sentences-tatoeba",
    }
    # reproduce.py writes the manifest first: the run that used the tatoeba pairs says so.
    args = ["--config", str(PAPER), "--only", "task=none", "--no_report"]
    assert reproduce.main([*args, *(item for override in overrides for item in ("--set", override))]) == 0
    manifest = json.loads((tmp_path / "study_manifest.json").read_text())
    assert manifest["evaluation_overlaps"] == [overlap.as_dict()]
    assert manifest["config"]["parallel"]["allow_overlap"] == ["tatoeba"]
    clean = load_config(str(PAPER), [f"output_dir={tmp_path / 'clean'}"])
    assert "evaluation_overlaps" not in json.loads(Path(write_manifest(clean, [])).read_text())


def test_no_overlap_without_the_evaluation_or_without_an_adjustment():
    tatoeba = "parallel.dataset_name=sentence-transformers/parallel-sentences-tatoeba"
    # XSR on the evaluation pairs, not on Tatoeba: nothing to guard.
    assert find_overlaps(load_config(str(PAPER), [tatoeba, "xsr.args.retrieval_corpus=pairs"])) == []
    assert find_overlaps(load_config(str(PAPER), [tatoeba, "xsr.enabled=false"])) == []
    # Only the original encoder: the parallel data is never read.
    assert find_overlaps(load_config(str(PAPER), [tatoeba, 'variants=["original"]'])) == []
    # A FLORES corpus with Tatoeba XSR only, and a disabled FLORES task: no overlap either.
    flores = ["parallel.dataset_name=openlanguagedata/flores_plus", 'tasks.sib200={"enabled": false}']
    assert find_overlaps(load_config(str(PAPER), flores)) == []
    # The analysis' sentence retrieval on Tatoeba counts too.
    analysis = [tatoeba, "xsr=null", "analysis.args.retrieval_corpus=tatoeba"]
    with pytest.raises(InputError, match=r"analysis \(retrieval_corpus tatoeba\) is evaluated on tatoeba"):
        load_config(str(PAPER), analysis)
    assert find_overlaps(load_config(str(PAPER), [*analysis, 'analysis.args.analyses=["distances"]'])) == []


def test_allow_overlap_takes_known_families_only():
    with pytest.raises(InputError, match=r"parallel.allow_overlap: unknown \['flores200'\]; expected any of"):
        load_config(str(PAPER), ['parallel.allow_overlap=["flores200"]'])
    # Allowing one family does not allow the other.
    overrides = ["tasks.sib200={}", "parallel.dataset_name=x/tatoeba-and-flores", 'parallel.allow_overlap=["tatoeba"]']
    with pytest.raises(InputError, match=r"task sib200 is evaluated on flores") as error:
        load_config(str(PAPER), overrides)
    assert "xsr (retrieval_corpus tatoeba)" not in str(error.value)
