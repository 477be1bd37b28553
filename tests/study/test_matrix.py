"""The study matrix covers every finding of the paper's abstract: one dry-run test per finding (the right steps,
arguments and dependencies), plus the config schema (variant_specs, extends) and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.study_helpers import value, values
from xladjust.errors import InputError
from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps, parse_filters, select

MBERT = "google-bert/bert-base-multilingual-cased"

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
PAIR_SIZES = [5000, 10000, 30000, 100000, 250000]


@pytest.fixture(scope="module")
def paper() -> dict:
    return {step.name: step for step in build_steps(load_config(str(CONFIGS / "paper.json")))}


def test_cross_lingual_mlqa_in_both_directions(paper):
    for lang in ("es", "vi", "hi"):
        sets = values(paper[f"qa-adjusted-{lang}-seed2"].args, "--eval_sets")
        assert {f"mlqa.{lang}.en", f"mlqa.en.{lang}", f"mlqa.{lang}.{lang}", f"xquad.{lang}"} <= set(sets)
        for variant in ("original-seed1", "joint-seed1", "continual-seed3", f"continual-lang-{lang}-seed1"):
            assert {f"mlqa.{lang}.en", f"mlqa.en.{lang}"} <= set(values(paper[f"qa-{variant}"].args, "--eval_sets"))
    assert not any("mlqa" in s and "ru" in s for s in values(paper["qa-original-seed1"].args, "--eval_sets"))


def test_analysis_compares_four_models_per_task(paper):
    analysis = paper["analysis-ru-seed3"]
    models = dict(item.split("=", 1) for item in values(analysis.args, "--models"))
    assert models == {
        "original": "google-bert/bert-base-multilingual-cased",
        "adjusted": paper["adjust-ru-seed3"].output_dir,
        **{f"original+{task}": paper[f"{task}-original-seed3"].output_dir for task in ("xnli", "ner", "qa")},
        **{f"adjusted+{task}": paper[f"{task}-adjusted-ru-seed3"].output_dir for task in ("xnli", "ner", "qa")},
    }
    assert set(analysis.depends_on) == {
        "adjust-ru-seed3",
        *(f"{t}-{v}-seed3" for t in ("xnli", "ner", "qa") for v in ("original", "adjusted-ru")),
    }
    assert values(analysis.args, "--languages") == ["ru"] and value(analysis.args, "--seed") == "3"
    heldout = Path(paper["adjust-ru-seed3"].output_dir) / "heldout"
    assert values(analysis.args, "--parallel_files") == [str(heldout / "ru-en.txt")]
    assert analysis.key == {"task": "analysis", "variant": "adjusted", "language": "ru", "seed": "3", "pairs": "30000"}
    joint = dict(item.split("=", 1) for item in values(paper["analysis-joint-seed1"].args, "--models"))
    assert joint["adjusted+ner"] == paper["ner-joint-seed1"].output_dir
    assert sum(step.key["task"] == "analysis" for step in paper.values()) == 3 * 5
    # Without task models (or tasks) it is the two-encoder analysis, one per adjustment.
    config = load_config(str(CONFIGS / "paper.json"), ["analysis.task_models=false"])
    bare = {s.name: s for s in build_steps(config)}["analysis-ru-seed3"]
    assert len(values(bare.args, "--models")) == 2 and bare.depends_on == ["adjust-ru-seed3"]


def test_sentence_retrieval_per_language_and_encoder(paper):
    xsr = {name: step for name, step in paper.items() if step.key["task"] == "xsr"}
    assert len(xsr) == 3 * 4 * 3  # seeds × languages × (original, adjusted, joint)
    step = xsr["xsr-adjusted-hi-seed2"]
    assert step.script == "run_analysis.py" and step.depends_on == ["adjust-hi-seed2"]
    assert values(step.args, "--analyses") == ["sentence_retrieval"] and values(step.args, "--languages") == ["hi"]
    assert values(step.args, "--models") == [f"adjusted={paper['adjust-hi-seed2'].output_dir}"]
    assert value(step.args, "--retrieval_corpus") == "tatoeba" and values(step.args, "--layers") == ["8", "-1"]
    assert "--parallel_files" not in step.args and "--alignment_files" not in step.args
    assert step.output_dir.endswith("xsr/adjusted/hi/seed2") and step.done_marker.endswith("run.json")
    assert values(xsr["xsr-joint-hi-seed2"].args, "--models") == [f"joint={paper['adjust-joint-seed2'].output_dir}"]
    original = xsr["xsr-original-hi-seed2"]
    assert values(original.args, "--models") == [f"original={MBERT}"] and not original.depends_on
    assert original.key == {"task": "xsr", "variant": "original", "language": "hi", "seed": "2"}


def test_continual_learning_per_language_beside_joint(paper):
    per_language = paper["xnli-continual-lang-vi-seed1"]
    assert per_language.depends_on == ["adjust-vi-seed1"]  # starts from vi's own adjusted encoder
    assert value(per_language.args, "--model_name_or_path") == paper["adjust-vi-seed1"].output_dir
    assert values(per_language.args, "--align_languages") == ["vi"]
    assert values(per_language.args, "--align_dataset_config_names") == ["en-vi"]
    assert values(per_language.args, "--eval_languages") == ["en", "vi"]
    assert value(per_language.args, "--align_weight") == "0.01"
    assert per_language.output_dir.endswith("xnli/continual-lang/vi/seed1")
    joint = paper["xnli-continual-seed1"]
    assert joint.depends_on == ["adjust-joint-seed1"]
    assert values(joint.args, "--align_languages") == ["es", "ru", "vi", "hi"]
    # start_from original: no adjustment behind either continual run
    config = load_config(str(CONFIGS / "paper.json"), ["continual.start_from=original"])
    steps = {s.name: s for s in build_steps(config)}
    assert steps["ner-continual-lang-es-seed2"].depends_on == [] and steps["ner-continual-seed2"].depends_on == []
    assert value(steps["ner-continual-lang-es-seed2"].args, "--model_name_or_path") == MBERT


def test_data_size_sweep():
    config = load_config(str(CONFIGS / "data_size.json"))
    assert config.tasks == load_config(str(CONFIGS / "paper.json")).tasks  # extends paper.json
    steps = build_steps(config)
    by_name = {s.name: s for s in steps}
    adjust = [s for s in steps if s.key["task"] == "adjust"]
    assert len(adjust) == len(PAIR_SIZES) * 4 * 3 and {s.key["variant"] for s in adjust} == {
        f"pairs-{n // 1000}k" for n in PAIR_SIZES
    }
    for n in PAIR_SIZES:
        name = f"pairs-{n // 1000}k"
        step = by_name[f"adjust-{name}-es-seed1"]
        assert value(step.args, "--max_train_pairs") == str(n) and step.key["pairs"] == str(n)
        assert step.output_dir.endswith(f"data_size/adjust/{name}/es/seed1")
        task = by_name[f"qa-{name}-es-seed3"]
        assert task.depends_on == [f"adjust-{name}-es-seed3"] and task.key["pairs"] == str(n)
        assert value(step.args, "--learning_rate") == "5e-05"  # the rest of paper.json's adjust.args
    assert "qa-original-seed1" in by_name and "pairs" not in by_name["qa-original-seed1"].key
    assert {s.key["task"] for s in steps} == {"adjust", "xnli", "ner", "qa"}  # analysis and XSR are off
    assert len(steps) == 3 * (len(PAIR_SIZES) * 4 + 3 * (1 + len(PAIR_SIZES) * 4))
    chosen = select(steps, parse_filters(["pairs=5000", "task=ner", "language=hi", "seed=1"]))
    assert [s.name for s in chosen] == ["adjust-pairs-5k-hi-seed1", "ner-pairs-5k-hi-seed1"]


METHODS = {
    "frozen-target": ["--alignment_target", "frozen"],
    "contrastive": ["--alignment_loss", "contrastive"],
    "contrastive-strong": ["--alignment_loss", "contrastive", "--contrastive_negatives", "all"],
    "param-reg": ["--regularization", "parameters"],
    "layers-8-12": ["--layers", "8", "12"],
    "simalign": ["--aligner", "simalign"],
}


def test_methods_config_adds_encoder_variants():
    steps = {s.name: s for s in build_steps(load_config(str(CONFIGS / "methods.json")))}
    for method, words in METHODS.items():
        adjust = steps[f"adjust-{method}-ru-seed2"]
        text = " ".join(adjust.args)
        assert " ".join(words) in text and value(adjust.args, "--max_train_pairs") == "30000"
        assert adjust.key == {"task": "adjust", "variant": method, "language": "ru", "seed": "2", "pairs": "30000"}
        assert steps[f"xnli-{method}-ru-seed2"].depends_on == [adjust.name]
        assert steps[f"xsr-{method}-ru-seed2"].depends_on == [adjust.name]
        assert steps[f"analysis-{method}-ru-seed2"].output_dir.endswith(f"analysis/{method}/ru/seed2")
    # the paper's adjustment is untouched by the method options
    plain = steps["adjust-ru-seed2"].args
    assert not any(flag in plain for words in METHODS.values() for flag in words if flag.startswith("--"))


def test_methods_config_has_alignfreezes_strategies_and_the_final_model_variants():
    """AlignFreeze's three strategies (before: adjusted; during: continual; before with the lower half frozen) and
    the task-side variants, which run adjusted's own encoder with their task_args."""
    steps = build_steps(load_config(str(CONFIGS / "methods.json")))
    by_name = {s.name: s for s in steps}
    assert len(by_name) == len(steps)  # no two steps share a name
    frozen = by_name["adjust-adjusted-frozen-lower-half-ru-seed2"]
    assert values(frozen.args, "--freeze") == ["lower_half"] and frozen.output_dir.endswith(
        "adjusted-frozen-lower-half/ru/seed2"
    )
    assert by_name["xnli-adjusted-frozen-lower-half-ru-seed2"].depends_on == [frozen.name]
    during = by_name["ner-continual-frozen-lower-half-seed1"]
    assert values(during.args, "--align_freeze") == ["lower_half"] and during.depends_on == ["adjust-joint-seed1"]
    assert "--align_freeze" not in by_name["ner-continual-seed1"].args
    for variant, options in {
        "adjusted-avg": {"--average_checkpoints": "every:500"},
        "adjusted-select-en": {"--average_checkpoints": "every:500", "--select_on": "english_dev"},
    }.items():
        for task in ("xnli", "ner", "qa"):
            step = by_name[f"{task}-{variant}-es-seed3"]
            assert step.depends_on == ["adjust-es-seed3"]  # adjusted's own adjustment, not one of its own
            assert {flag: value(step.args, flag) for flag in options} == options
            assert step.output_dir.endswith(f"{task}/{variant}/es/seed3")
        assert not any(s.key["task"] in ("analysis", "xsr", "adjust") and s.key["variant"] == variant for s in steps)
    for flag in ("--average_checkpoints", "--select_on"):
        assert flag not in by_name["xnli-adjusted-es-seed3"].args
    assert "dictionary" not in {s.key["variant"] for s in steps}  # specified, but opt-in (it needs MUSE files)


def test_variant_spec_errors_and_extends(tmp_path):
    def config(**entries) -> str:
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"model_name_or_path": "m", **entries}))
        return str(path)

    with pytest.raises(InputError, match=r"unknown variant\(s\) \['pairs-1k'\]"):
        load_config(config(variants=["original", "pairs-1k"]))
    with pytest.raises(InputError, match="kind must be one of"):
        load_config(config(variants=["x"], variant_specs={"x": {"kind": "adjust"}}))
    with pytest.raises(InputError, match="languages must be each or all"):
        load_config(config(variants=["x"], variant_specs={"x": {"kind": "adjusted", "languages": "es"}}))
    with pytest.raises(InputError, match="start_from must be adjusted or original"):
        load_config(config(continual={"start_from": "nowhere"}))
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop.json"}))
    with pytest.raises(InputError, match="loops"):
        load_config(str(tmp_path / "loop.json"))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "c.json", "adjust": {"args": {"max_steps": 3}}}))
    load_config(config(adjust={"args": {"learning_rate": 1.0}, "seeds": [1]}))
    merged = load_config(str(tmp_path / "child.json"))
    assert merged.as_dict()["adjust"] == {"args": {"learning_rate": 1.0, "max_steps": 3}, "seeds": [1]}
