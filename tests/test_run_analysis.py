"""End-to-end run_analysis.main(): two labelled models (base and a run_adjust output) on the fixtures."""

from __future__ import annotations

import csv
import json
import shutil

import datasets
import numpy as np
import pytest
from PIL import Image

import run_adjust
import run_analysis
from tests.conftest import PARALLEL
from tests.tatoeba_files import TATOEBA, fake_tatoeba_hub
from xladjust.data import parallel, word_alignment
from xladjust.data.languages import TATOEBA_CODES
from xladjust.errors import InputError


def data_args(*languages: str) -> list[str]:
    return [
        "--languages",
        *languages,
        "--parallel_files",
        *[str(PARALLEL / f"{lang}-en.txt") for lang in languages],
        "--alignment_files",
        *[str(PARALLEL / f"{lang}-en.align") for lang in languages],
    ]


@pytest.fixture(scope="module")
def analysis(tiny_bert, tmp_path_factory):
    adjusted = tmp_path_factory.mktemp("adjusted")
    run_adjust.main(
        [
            "--model_name_or_path",
            str(tiny_bert),
            "--output_dir",
            str(adjusted),
            *data_args("es", "ru"),
            "--do_train",
            "--num_train_epochs",
            "8",
            "--per_device_train_batch_size",
            "4",
            "--learning_rate",
            "2e-3",
            "--save_strategy",
            "no",
            "--disable_tqdm",
            "true",
        ]
    )
    output = tmp_path_factory.mktemp("analysis")
    results = run_analysis.main(
        [
            "--models",
            f"base={tiny_bert}",
            f"adjusted={adjusted}",
            "--output_dir",
            str(output),
            "--overwrite_output_dir",
            *data_args("es", "ru"),
            "--distance",
            "both",
            "--layers",
            "-1",
            "1",
        ]
    )
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
    # Sentence retrieval on the evaluation pairs (the default corpus), per language, layer and model.
    for lang in ("es", "ru"):
        for layer in ("-1", "1"):
            for label in ("base", "adjusted"):
                score = saved["sentence_retrieval"][lang][layer][label]
                assert score["corpus"] == "pairs" and score["sentences"] > 10
                for direction in ("to_en", "from_en"):
                    path = output / "predictions" / label / f"sentence_retrieval.{lang}.layer{layer}.{direction}.jsonl"
                    records = [json.loads(line) for line in path.read_text().splitlines()]
                    assert [r["gold"] for r in records] == list(range(score["sentences"]))
                    assert np.mean([r["gold"] == r["predicted"] for r in records]) == pytest.approx(score[direction])


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
        [
            "--models",
            f"a={tiny_bert}",
            f"b={tiny_bert}",
            "--output_dir",
            str(tmp_path),
            "--overwrite_output_dir",
            *data_args("hi"),
            "--analyses",
            "distances",
        ]
    )
    comparison = results["languages"]["hi"]["layer_-1"]["cosine"]["comparisons"]["a->b"]
    assert comparison["related_mean"] == 0 and comparison["related_p_value"] == 1.0
    # What was not computed is left out: no retrieval entries, no retrieval table, no "nan" cells.
    saved = json.loads((tmp_path / "analysis_results.json").read_text())
    assert "retrieval" not in saved["languages"]["hi"]["layer_-1"] and "sentence_retrieval" not in saved
    summary = (tmp_path / "summary.md").read_text()
    assert "nan" not in summary and "retrieval" not in summary and "| a | " in summary
    assert not (tmp_path / "predictions").exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            [],
            [
                "original->adjusted",
                "original->original+xnli",
                "adjusted->adjusted+xnli",
                "original+xnli->adjusted+xnli",
            ],
        ),
        (
            ["--comparisons", "all"],
            [
                "original->adjusted",
                "original->original+xnli",
                "original->adjusted+xnli",
                "adjusted->original+xnli",
                "adjusted->adjusted+xnli",
                "original+xnli->adjusted+xnli",
            ],
        ),
    ],
    ids=["paper", "all"],
)
def test_the_four_model_comparisons(tiny_bert, tmp_path, flags, expected):
    labels = ["original", "adjusted", "original+xnli", "adjusted+xnli"]
    results = run_analysis.main(
        [
            "--models",
            *(f"{label}={tiny_bert}" for label in labels),
            "--output_dir",
            str(tmp_path),
            *data_args("hi"),
            "--analyses",
            "distances",
            *flags,
        ]
    )
    assert list(results["languages"]["hi"]["layer_-1"]["cosine"]["comparisons"]) == expected
    summary = (tmp_path / "summary.md").read_text()
    assert [line.split(":")[0] for line in summary.splitlines() if "->" in line] == expected
    assert (tmp_path / "hi_cosine_changes.png").is_file()


def test_bad_model_list_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="is not LABEL=MODEL"):
        run_analysis.main(["--models", "justapath", "--output_dir", str(tmp_path), *data_args("es")])


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake Hub: mteb/tatoeba-bitext-mining and google/xtreme laid out as parquet folders."""
    return fake_tatoeba_hub(tmp_path / "hub", monkeypatch)


@pytest.fixture
def no_alignment_no_hub(monkeypatch):
    """Sentence retrieval alone must neither align (eflomal) nor, with local files, touch the Hub."""

    def refuse(*args, **kwargs):
        raise AssertionError("sentence retrieval must not align words or load from the Hub")

    monkeypatch.setattr(word_alignment, "align_with_eflomal", refuse)
    monkeypatch.setattr(parallel, "align_pairs", refuse)
    monkeypatch.setattr(datasets, "load_dataset", refuse)


def test_tatoeba_retrieval_of_several_models_side_by_side(tiny_bert, tiny_xlmr, tmp_path, no_alignment_no_hub):
    tatoeba_dir = tmp_path / "tatoeba"
    shutil.copytree(TATOEBA, tatoeba_dir)
    # Vietnamese "translations" identical to the English side: every sentence must retrieve itself.
    shutil.copy(TATOEBA / "tatoeba.spa-eng.eng", tatoeba_dir / "tatoeba.vie-eng.vie")
    shutil.copy(TATOEBA / "tatoeba.spa-eng.eng", tatoeba_dir / "tatoeba.vie-eng.eng")
    output = tmp_path / "out"
    results = run_analysis.main(
        [
            "--models",
            f"bert={tiny_bert}",
            f"xlmr={tiny_xlmr}",
            "--output_dir",
            str(output),
            "--languages",
            "es",
            "ru",
            "vi",
            "--analyses",
            "sentence_retrieval",
            "--retrieval_corpus",
            "tatoeba",
            "--tatoeba_dir",
            str(tatoeba_dir),
            "--layers",
            "0",
            "1",
            "-1",
            "--batch_size",
            "4",
        ]
    )
    saved = json.loads((output / "analysis_results.json").read_text())
    assert saved["sentence_retrieval"] == results["sentence_retrieval"] and "languages" not in saved
    assert set(saved["sentence_retrieval"]) == {"es", "ru", "vi"}
    for lang, count in (("es", 10), ("ru", 9), ("vi", 10)):
        by_layer = saved["sentence_retrieval"][lang]
        assert set(by_layer) == {"0", "1", "-1"}
        for layer, by_model in by_layer.items():
            assert set(by_model) == {"bert", "xlmr"}
            for label, score in by_model.items():
                assert (score["sentences"], score["corpus"]) == (count, "tatoeba")
                assert score["source"].endswith(f"tatoeba.{TATOEBA_CODES[lang]}-eng.{TATOEBA_CODES[lang]}")
                for direction in ("to_en", "from_en"):
                    name = f"sentence_retrieval.{lang}.layer{layer}.{direction}.jsonl"
                    records = [
                        json.loads(line) for line in (output / "predictions" / label / name).read_text().splitlines()
                    ]
                    assert [(r["id"], r["gold"]) for r in records] == [(str(i), i) for i in range(count)]
                    assert np.mean([r["gold"] == r["predicted"] for r in records]) == pytest.approx(score[direction])
                    if lang == "vi":
                        assert score[direction] == 1.0
    summary = (output / "summary.md").read_text()
    assert "## Sentence retrieval es: tatoeba, 10 pairs" in summary and "| -1 | xlmr |" in summary
    assert "nan" not in summary and not (output / "alignments").exists() and not (output / "distances.csv").exists()


def test_tatoeba_from_the_hub_with_its_fallback(tiny_bert, tmp_path, hub):
    results = run_analysis.main(
        [
            "--models",
            f"base={tiny_bert}",
            "--output_dir",
            str(tmp_path),
            "--overwrite_output_dir",
            "--languages",
            "es",
            "vi",
            "--analyses",
            "sentence_retrieval",
            "--retrieval_corpus",
            "tatoeba",
            "--layers",
            "1",
            "--sentence_special_tokens",
            "false",
        ]
    )
    es, vi = (results["sentence_retrieval"][lang]["1"]["base"] for lang in ("es", "vi"))
    assert es["source"] == "mteb/tatoeba-bitext-mining:spa-eng[test]" and es["sentences"] == 10
    assert vi["source"] == "google/xtreme:tatoeba.vie[validation]"
    assert results["settings"]["sentence_special_tokens"] is False


def test_sentence_retrieval_on_pairs_needs_no_alignment(tiny_bert, tmp_path, no_alignment_no_hub):
    results = run_analysis.main(
        [
            "--models",
            f"base={tiny_bert}",
            "--output_dir",
            str(tmp_path),
            "--languages",
            "es",
            "--parallel_files",
            str(PARALLEL / "es-en.txt"),
            "--analyses",
            "sentence_retrieval",
            "--max_pairs",
            "12",
        ]
    )
    score = results["sentence_retrieval"]["es"]["-1"]["base"]
    assert (score["corpus"], score["sentences"], score["source"]) == ("pairs", 12, str(PARALLEL / "es-en.txt"))


def test_tatoeba_mistakes_are_clear_errors(tiny_bert, tmp_path):
    base = [
        "--models",
        f"base={tiny_bert}",
        "--output_dir",
        str(tmp_path),
        "--overwrite_output_dir",
        "--analyses",
        "sentence_retrieval",
        "--retrieval_corpus",
        "tatoeba",
        "--tatoeba_dir",
        str(TATOEBA),
    ]
    with pytest.raises(InputError, match="no Tatoeba files for 'hi'"):
        run_analysis.main([*base, "--languages", "hi"])
    with pytest.raises(InputError, match="--layers \\[8\\]: the model has 3 hidden states"):
        run_analysis.main([*base, "--languages", "es", "--layers", "8"])


def test_rerun_is_a_no_op_and_other_settings_are_refused(analysis, capsys):
    output, results = analysis
    models = results["settings"]["models"]  # the LABEL=PATH entries as given
    args = [
        "--models",
        *models,
        "--output_dir",
        str(output),
        *data_args("es", "ru"),
        "--distance",
        "both",
        "--layers",
        "-1",
        "1",
    ]
    before = {path: path.stat().st_mtime_ns for path in output.rglob("*")}
    capsys.readouterr()
    again = run_analysis.main(args)
    assert "already finished with the same settings" in capsys.readouterr().out
    assert again == json.loads((output / "analysis_results.json").read_text())
    assert {path: path.stat().st_mtime_ns for path in output.rglob("*")} == before
    with pytest.raises(InputError, match='--distance: "both" → "cosine"'):
        run_analysis.main([*args[:-4], "cosine", "--layers", "-1", "1"])


def test_dictionary_links_and_the_options_it_does_not_take(tiny_bert, tmp_path):
    """Pairs without alignment files are linked by --aligner dictionary as in run_adjust.py; SimAlign links and the
    adjustment's own sampling options are refused rather than silently replaced."""
    dictionary = tmp_path / "en-es.txt"
    dictionary.write_text("the el\ncat gato\nhouse casa\nblack negro\n", encoding="utf-8")
    sentences = ["--languages", "es", "--parallel_files", str(PARALLEL / "es-en.txt")]
    common = ["--models", f"base={tiny_bert}", "--analyses", "word_retrieval", *sentences]
    output = tmp_path / "dictionary"
    aligned = ["--aligner", "dictionary", "--dictionary_files", f"es={dictionary}", "--filter_identical", "false"]
    run_analysis.main([*common, *aligned, "--output_dir", str(output)])
    assert json.loads((output / "alignments" / "es-en.json").read_text())["aligner"] == "dictionary"
    for extra, message in [
        (["--aligner", "simalign"], "give the links as --alignment_files"),
        (["--max_train_pairs", "5"], "samples its pairs with --max_pairs"),
        (["--validation_pairs", "2"], "samples its pairs with --max_pairs"),
        (["--filter_model", str(tiny_bert), "--filter_keep", "0.5"], "the analysis reads its pairs whole"),
    ]:
        with pytest.raises(InputError, match=message):
            run_analysis.main([*common, *extra, "--output_dir", str(tmp_path / "refused")])
