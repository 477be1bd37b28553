"""run_report.py on planted study folders laid out as the scripts write them: the cross-lingual QA section,
sentence retrieval (Tatoeba) with paired significance over sentences, the four-model analysis table and the
data-size figure."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats

import run_report
from tests.study_helpers import cells_by_key, write_jsonl

QA_SETS = ["xquad.es", "mlqa.es.es", "mlqa.es.en", "mlqa.en.es"]


def qa_records(f1: np.ndarray) -> list[dict]:
    """run_qa.py's per-example records: official and paper (SQuAD) scores, in percent."""
    return [
        {
            "id": f"q{i}",
            "gold": ["a"],
            "predicted": "a" if v else "b",
            "f1": 100.0 * v,
            "exact_match": 100.0 * v,
            "squad_f1": 100.0 * v,
            "squad_exact_match": 100.0 * v,
        }
        for i, v in enumerate(f1)
    ]


def test_cross_lingual_qa_is_its_own_section(tmp_path):
    rng = np.random.default_rng(1)
    for seed in (1, 2):
        for variant, language in (("original", None), ("adjusted", "es")):
            folder = tmp_path / "study" / "qa" / variant / (language or "") / f"seed{seed}" / "predictions"
            for name in ["xquad.en", *QA_SETS] + (["mlqa.vi.en"] if language is None else []):
                correct = rng.random(80) < (0.8 if variant == "adjusted" and name.startswith("mlqa.en") else 0.4)
                write_jsonl(folder / f"eval_{name}.jsonl", qa_records(correct.astype(float)))
    out = tmp_path / "report"
    cells = cells_by_key(
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", "200"])
    )
    crossed = cells[("qa", "mlqa.en.es", "adjusted")]  # context en, question es: an es set of the es run
    assert crossed.language == "es" and crossed.group == "cross-lingual"
    assert crossed.difference > 20 and crossed.significant_example
    assert cells[("qa", "mlqa.es.en", "adjusted")].group == "cross-lingual"
    assert cells[("qa", "mlqa.es.es", "adjusted")].group == "mono-lingual"
    assert cells[("qa", "xquad.es", "original")].group == "mono-lingual"
    assert ("qa", "xquad.en", "adjusted") not in cells and ("qa", "mlqa.vi.en", "original") in cells
    report = (out / "report.md").read_text()
    mono, cross = report.index("## qa (squad_f1): mono-lingual"), report.index("## qa (squad_f1): cross-lingual")
    assert mono < cross
    assert "| mlqa.es.es |" in report[mono:cross] and "| mlqa.en.es |" not in report[mono:cross]
    assert "| mlqa.en.es |" in report[cross:] and "| mlqa.es.en |" in report[cross:]
    assert "| xquad.es |" not in report[cross:]
    assert (out / "qa.png").is_file() and (out / "qa.cross-lingual.png").is_file()
    assert not (out / "data_size.png").exists() and not (out / "analysis.csv").exists()  # neither in this study
    rows = {(r["eval_set"], r["variant"]): r for r in csv.DictReader((out / "report.csv").open())}
    assert rows[("mlqa.en.es", "adjusted")]["group"] == "cross-lingual"


def retrieval_records(correct: np.ndarray) -> list[dict]:
    return [
        {"id": str(i), "gold": i, "predicted": i if ok else (i + 1) % len(correct)} for i, ok in enumerate(correct)
    ]


def test_sentence_retrieval_cells_with_paired_tests(tmp_path):
    rng = np.random.default_rng(2)
    base = {(lang, layer): rng.random(200) < 0.5 for lang in ("es", "ru") for layer in ("8", "-1")}
    for seed in (1, 2, 3):
        for variant in ("original", "adjusted"):
            for (lang, layer), correct in base.items():
                if variant == "adjusted" and lang == "es":
                    correct = correct | (rng.random(200) < 0.4)
                folder = tmp_path / "study" / "xsr" / variant / lang / f"seed{seed}"
                for direction in ("to_en", "from_en"):
                    name = f"sentence_retrieval.{lang}.layer{layer}.{direction}.jsonl"
                    write_jsonl(folder / "predictions" / variant / name, retrieval_records(correct))
                (folder / "analysis_results.json").write_text("{}")
    out = tmp_path / "report"
    cells = cells_by_key(
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", "300"])
    )
    es = cells[("xsr", "sentence_retrieval.es.layer8.to_en", "adjusted")]
    original = cells[("xsr", "sentence_retrieval.es.layer8.to_en", "original")]
    assert es.metric == "accuracy" and es.examples == 200 and es.seeds == [1, 2, 3] and es.group == "layer 8"
    assert original.mean == pytest.approx(100 * base[("es", "8")].mean())
    assert es.difference > 10 and es.significant_example and es.significant_seed
    ru = cells[("xsr", "sentence_retrieval.ru.layer-1.from_en", "adjusted")]
    assert ru.difference == 0 and ru.p_example == 1.0 and ru.group == "layer -1"
    report = (out / "report.md").read_text()
    assert "## xsr (accuracy): layer -1" in report and "## xsr (accuracy): layer 8" in report
    assert (out / "xsr.png").is_file() and (out / "xsr.layer8.png").is_file()


MODELS = ["original", "adjusted", "original+xnli", "adjusted+xnli"]


def analysis_results(
    shares: dict[str, float],
    deltas: dict[str, float],
    change: float,
    p: float,
    comparisons: tuple[str, ...] = ("original->original+xnli",),
) -> dict:
    """analysis_results.json as run_analysis.py writes it (one language, one layer, cosine)."""
    models = {
        m: {
            "count": 50,
            "rel_mean": 0.3,
            "unrel_mean": 0.3 + deltas[m],
            "delta_mean": deltas[m],
            "share_delta_positive": shares[m],
        }
        for m in MODELS
    }
    comparison = {
        "related_mean": change,
        "related_p_value": p,
        "unrelated_mean": change / 2,
        "unrelated_p_value": 0.5,
        "delta_mean": 0.0,
        "delta_p_value": 1.0,
    }
    layer = {
        "cosine": {
            "unrelated_not_found": 0,
            "models": models,
            "figures": {},
            "comparisons": dict.fromkeys(comparisons, comparison),
        },
        "retrieval": {m: {"sentence_acc_tgt_to_en": 0.5} for m in MODELS},
    }
    return {"settings": {}, "languages": {"es": {"pairs": 20, "links": 50, "layer_-1": layer}}}


def test_four_model_analysis_table(tmp_path):
    shares = [
        {"original": 0.6, "adjusted": 0.8, "original+xnli": 0.5, "adjusted+xnli": 0.7},
        {"original": 0.6, "adjusted": 0.9, "original+xnli": 0.55, "adjusted+xnli": 0.65},
    ]
    deltas = [
        {"original": 0.1, "adjusted": 0.2, "original+xnli": 0.05, "adjusted+xnli": 0.15},
        {"original": 0.1, "adjusted": 0.3, "original+xnli": 0.07, "adjusted+xnli": 0.11},
    ]
    study = tmp_path / "study"
    for seed, (share, delta) in enumerate(zip(shares, deltas, strict=True), start=1):
        folder = study / "analysis" / "per_language" / "es" / f"seed{seed}"
        folder.mkdir(parents=True)
        results = analysis_results(share, delta, change=-0.02 * seed, p=0.001 if seed == 1 else 0.2)
        (folder / "analysis_results.json").write_text(json.dumps(results))
    write_jsonl(
        study / "xnli" / "original" / "seed1" / "predictions" / "eval_es.jsonl",
        [{"id": "0", "gold": "neutral", "predicted": "neutral"}],
    )
    out = tmp_path / "report"
    run_report.main(["--runs_dir", str(study), "--output_dir", str(out), "--samples", "50"])
    report = (out / "report.md").read_text()
    assert "## analysis (adjusted, layer -1, cosine): share of links with Δ > 0 (%) / mean Δ" in report
    std = lambda a, b: np.std([a, b], ddof=1)  # noqa: E731
    assert f"| original | 60.0 ± 0.0 / 0.100 ± {std(0.1, 0.1):.3f} |" in report
    assert f"| adjusted | 85.0 ± {100 * std(0.8, 0.9):.1f} / 0.250 ± {std(0.2, 0.3):.3f} |" in report
    assert f"| original+xnli | 52.5 ± {100 * std(0.5, 0.55):.1f} / 0.060 ± {std(0.05, 0.07):.3f} |" in report
    assert f"| adjusted+xnli | 67.5 ± {100 * std(0.7, 0.65):.1f} / 0.130 ± {std(0.15, 0.11):.3f} |" in report
    assert "| original → original+xnli | es | -0.0300 (1/2) | -0.0150 (0/2) |" in report
    rows = list(csv.DictReader((out / "analysis.csv").open()))
    adjusted = next(r for r in rows if r["model"] == "adjusted")
    assert adjusted["seeds"] == "1 2" and float(adjusted["share_delta_positive_mean"]) == pytest.approx(0.85)


def test_the_changes_table_lists_the_papers_comparisons_first(tmp_path):
    # as written by run_analysis.py --comparisons all, in a scrambled order
    listed = (
        "adjusted->adjusted+xnli",
        "original->adjusted+xnli",
        "original+xnli->adjusted+xnli",
        "original->adjusted",
        "original->original+xnli",
    )
    share = dict.fromkeys(MODELS, 0.5)
    folder = tmp_path / "study" / "analysis" / "per_language" / "es" / "seed1"
    folder.mkdir(parents=True)
    (folder / "analysis_results.json").write_text(json.dumps(analysis_results(share, share, -0.01, 0.5, listed)))
    write_jsonl(
        tmp_path / "study" / "xnli" / "original" / "seed1" / "predictions" / "eval_es.jsonl",
        [{"id": "0", "gold": "neutral", "predicted": "neutral"}],
    )
    run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r"), "--samples", "20"])
    lines = (tmp_path / "r" / "report.md").read_text().splitlines()
    rows = [line.split(" | ")[0] for line in lines if " → " in line and not line.startswith("| A → B")]
    assert rows == [
        "| original → adjusted",
        "| original → original+xnli",
        "| adjusted → adjusted+xnli",
        "| original+xnli → adjusted+xnli",
        "| original → adjusted+xnli",
    ]


def test_data_size_table_and_figure(tmp_path, caplog):
    rng = np.random.default_rng(3)
    steps = []
    for seed in (1, 2):
        for variant, pairs, accuracy in (
            ("original", None, 0.5),
            ("pairs-5k", 5000, 0.55),
            ("pairs-30k", 30000, 0.6),
            ("pairs-250k", 250000, 0.7),
            ("adjusted", 30000, 0.6),
        ):
            for lang in ("es", "hi"):
                folder = tmp_path / "runs" / f"{variant}-{lang}-{seed}" if pairs else tmp_path / "runs" / f"o-{seed}"
                correct = rng.random(400) < accuracy
                records = [
                    {"id": str(i), "gold": "neutral", "predicted": "neutral" if ok else "contradiction"}
                    for i, ok in enumerate(correct)
                ]
                write_jsonl(folder / "predictions" / f"predict_{lang}.jsonl", records)
                step = {"task": "xnli", "variant": variant, "seed": str(seed), "output_dir": str(folder)}
                if pairs:
                    steps.append({**step, "language": lang, "pairs": str(pairs)})
                elif lang == "hi":
                    steps.append(step)
    manifest = tmp_path / "study_manifest.json"
    manifest.write_text(json.dumps({"steps": steps}))
    out = tmp_path / "report"
    cells = cells_by_key(run_report.main(["--manifest", str(manifest), "--output_dir", str(out), "--samples", "50"]))
    assert cells[("xnli", "es", "pairs-5k")].pairs == 5000 and cells[("xnli", "es", "original")].pairs is None
    report = (out / "report.md").read_text()
    assert "## xnli (accuracy) vs parallel pairs (mean ± std over seeds)" in report
    assert "| set | original | 5,000 | 30,000 | 250,000 |" in report
    sweep = report[report.index("vs parallel pairs") :].splitlines()
    row = next(line for line in sweep if line.startswith("| hi | ")).split(" | ")
    c0, c5, c250 = (cells[("xnli", "hi", v)] for v in ("original", "pairs-5k", "pairs-250k"))
    assert row[1] == f"{c0.mean:.1f} ± {c0.std:.1f}" and row[2].startswith(f"{c5.mean:.1f} ± {c5.std:.1f} (")
    assert row[4].startswith(f"{c250.mean:.1f} ± {c250.std:.1f} (") and c250.mean > c5.mean
    assert "adjusted and pairs-30k both have 30000 pairs" in caplog.text  # one point per number of pairs
    assert (out / "data_size.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert {r["pairs"] for r in rows if r["variant"] == "pairs-250k"} == {"250000"}


def nli_records(correct: np.ndarray) -> list[dict]:
    return [
        {"id": str(i), "gold": "neutral", "predicted": "neutral" if ok else "contradiction"}
        for i, ok in enumerate(correct)
    ]


def naive_bootstrap_p(a: np.ndarray, b: np.ndarray, samples: int, seed: int) -> float:
    """Two-sided paired bootstrap, one resample at a time: examples (rows, all seeds together) with replacement."""
    rng = np.random.default_rng(seed)
    observed = (b - a).mean()
    extreme = 0
    for _ in range(samples):
        rows = rng.integers(0, len(a), len(a))
        extreme += abs((b[rows] - a[rows]).mean() - observed) >= abs(observed)
    return (extreme + 1) / (samples + 1)


def test_english_rows_of_per_language_runs_and_their_mean(tmp_path):
    """Adjusting on es costs English ~10 points, adjusting on hi about nothing: each has its English row, tested
    against the original's English predictions, and the English section gives their mean."""
    rng = np.random.default_rng(5)
    seeds, n = (1, 2, 3), 300
    english = {"original": [], "es": [], "hi": []}
    for seed in seeds:
        original = rng.random(n) < 0.7
        english["original"].append(original)
        english["es"].append(original & (rng.random(n) > 0.15))
        english["hi"].append(np.where(rng.random(n) < np.where(original, 0.03, 0.07), ~original, original))
        folder = tmp_path / "study" / "xnli" / "original" / f"seed{seed}" / "predictions"
        for name, correct in (("en", original), ("es", rng.random(n) < 0.5), ("hi", rng.random(n) < 0.5)):
            write_jsonl(folder / f"predict_{name}.jsonl", nli_records(correct))
        for language in ("es", "hi"):
            folder = tmp_path / "study" / "xnli" / "adjusted" / language / f"seed{seed}" / "predictions"
            write_jsonl(folder / "predict_en.jsonl", nli_records(english[language][-1]))
            write_jsonl(folder / f"predict_{language}.jsonl", nli_records(rng.random(n) < 0.55))
    out = tmp_path / "report"
    samples = 4000
    cells = cells_by_key(
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", str(samples)])
    )
    assert ("xnli", "en", "adjusted") not in cells and ("xnli", "en", "original") in cells
    a = np.stack(english["original"], axis=1).astype(float)  # (examples, seeds)
    for language in ("es", "hi"):
        cell = cells[("xnli", f"en (adjusted on {language})", "adjusted")]
        assert (cell.language, cell.group, cell.examples, cell.seeds) == ("en", "", n, [1, 2, 3])
        b = np.stack(english[language], axis=1).astype(float)
        assert cell.difference == pytest.approx(100 * (b.mean() - a.mean()))
        assert cell.p_seed == pytest.approx(stats.ttest_rel(b.mean(axis=0), a.mean(axis=0)).pvalue)
        # Monte Carlo error of the two p-values together: about 0.01 at p = 0.3 (4000 and 20000 resamples)
        assert cell.p_example == pytest.approx(naive_bootstrap_p(a, b, 20000, 1), abs=0.04)
    costly, cheap = (cells[("xnli", f"en (adjusted on {lang})", "adjusted")] for lang in ("es", "hi"))
    assert costly.difference < -5 and costly.significant_example and not cheap.significant_example
    report = (out / "report.md").read_text()
    assert "| en (adjusted on es) |" in report and "| en (adjusted on hi) |" in report
    mean_difference = (costly.difference + cheap.difference) / 2
    original = cells[("xnli", "en", "original")]
    assert (
        f"| xnli | en | adjusted | 2 (es, hi) | {original.mean:.1f} | {(costly.mean + cheap.mean) / 2:.1f} | "
        f"{mean_difference:+.1f} | 1/2 |"
    ) in report
    [english_cost] = json.loads((out / "report.json").read_text())["english"]
    assert english_cost["rows"] == ["en (adjusted on es)", "en (adjusted on hi)"]
    assert english_cost["difference"] == pytest.approx(mean_difference)
