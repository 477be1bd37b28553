"""End-to-end run_analysis.main(): two labelled models (base and a run_adjust output) on the fixtures."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import run_adjust
import run_analysis
from tests.conftest import PARALLEL
from xladjust.errors import InputError


def data_args(*languages: str) -> list[str]:
    return [
        "--languages", *languages,
        "--parallel_files", *[str(PARALLEL / f"{lang}-en.txt") for lang in languages],
        "--alignment_files", *[str(PARALLEL / f"{lang}-en.align") for lang in languages],
    ]  # fmt: skip


@pytest.fixture(scope="module")
def analysis(tiny_bert, tmp_path_factory):
    adjusted = tmp_path_factory.mktemp("adjusted")
    run_adjust.main(
        ["--model_name_or_path", str(tiny_bert), "--output_dir", str(adjusted), *data_args("es", "ru"),
         "--do_train", "--num_train_epochs", "8", "--per_device_train_batch_size", "4", "--learning_rate", "2e-3",
         "--save_strategy", "no", "--disable_tqdm", "true"]
    )  # fmt: skip
    output = tmp_path_factory.mktemp("analysis")
    results = run_analysis.main(
        ["--models", f"base={tiny_bert}", f"adjusted={adjusted}", "--output_dir", str(output),
         "--overwrite_output_dir", *data_args("es", "ru"), "--distance", "both", "--layers", "-1", "1"]
    )  # fmt: skip
    return output, results


def test_every_file_is_written(analysis):
    output, _ = analysis
    for lang in ("es", "ru"):
        for layer in ("-1", "1"):
            for metric in ("cosine", "euclidean"):
                for kind in ("distances", "delta", "changes"):
                    image = Image.open(output / f"{lang}_layer{layer}_{metric}_{kind}.png")
                    assert image.size[0] >= 600 and image.size[1] >= 300
                    assert len(np.unique(np.asarray(image.convert("L")))) > 20  # not a blank canvas
    assert (output / "summary.md").read_text().startswith("# Analysis summary")
    saved = json.loads((output / "analysis_results.json").read_text())
    assert set(saved["languages"]) == {"es", "ru"}


def test_adjustment_brings_translations_closer(analysis):
    _, results = analysis
    for lang in ("es", "ru"):
        cosine = results["languages"][lang]["layer_-1"]["cosine"]
        base, adjusted = cosine["models"]["base"], cosine["models"]["adjusted"]
        assert adjusted["rel_mean"] < base["rel_mean"]
        comparison = cosine["comparisons"]["base->adjusted"]
        assert comparison["related_mean"] < 0 and comparison["related_p_value"] < 0.01
        retrieval = results["languages"][lang]["layer_-1"]["retrieval"]
        assert retrieval["adjusted"]["word_p_at_1_tgt_to_en"] > retrieval["base"]["word_p_at_1_tgt_to_en"]


def test_distance_csv_matches_the_summary(analysis):
    output, results = analysis
    with open(output / "distances.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)]
    selected = [
        r for r in rows if (r["language"], r["layer"], r["metric"], r["model"]) == ("es", "-1", "cosine", "base")
    ]
    summary = results["languages"]["es"]["layer_-1"]["cosine"]["models"]["base"]
    assert len(selected) == summary["count"]
    assert np.mean([float(r["d_related"]) for r in selected]) == pytest.approx(summary["rel_mean"])
    # the words are real words of the pair: the first Spanish link of the fixtures is el ↔ the
    assert ("el", "the") in {(r["target_word"], r["english_word"]) for r in selected}
    assert all(r["target_word"] != r["unrelated_word"] or r["link"] for r in selected)


def test_identical_models_show_no_change(tiny_bert, tmp_path):
    results = run_analysis.main(
        ["--models", f"a={tiny_bert}", f"b={tiny_bert}", "--output_dir", str(tmp_path), "--overwrite_output_dir",
         *data_args("hi"), "--analyses", "distances"]
    )  # fmt: skip
    comparison = results["languages"]["hi"]["layer_-1"]["cosine"]["comparisons"]["a->b"]
    assert comparison["related_mean"] == 0 and comparison["related_p_value"] == 1.0


def test_bad_model_list_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="is not LABEL=MODEL"):
        run_analysis.main(["--models", "justapath", "--output_dir", str(tmp_path), *data_args("es")])


def test_rerun_is_a_no_op_and_other_settings_are_refused(analysis, capsys):
    output, results = analysis
    models = results["settings"]["models"]  # the LABEL=PATH entries as given
    args = ["--models", *models, "--output_dir", str(output), *data_args("es", "ru"), "--distance", "both",
            "--layers", "-1", "1"]  # fmt: skip
    before = {path: path.stat().st_mtime_ns for path in output.rglob("*")}
    capsys.readouterr()
    again = run_analysis.main(args)
    assert "already finished with the same settings" in capsys.readouterr().out
    assert again == json.loads((output / "analysis_results.json").read_text())
    assert {path: path.stat().st_mtime_ns for path in output.rglob("*")} == before
    with pytest.raises(InputError, match='--distance: "both" → "cosine"'):
        run_analysis.main([*args[:-4], "cosine", "--layers", "-1", "1"])
