"""run_report.py on synthetic run folders: discovery, per-example readers, differences, tests, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import run_report
from tests.study_helpers import cells_by_key, write_jsonl
from xladjust.errors import InputError
from xladjust.study.results import set_language
from xladjust.study.statistics import ReportSettings

LABELS = ["entailment", "neutral", "contradiction"]


def nli_records(language: str, correct: np.ndarray) -> list[dict]:
    return [
        {"id": f"{language}-{i}", "gold": LABELS[i % 3], "predicted": LABELS[i % 3] if ok else LABELS[(i + 1) % 3]}
        for i, ok in enumerate(correct)
    ]


def make_xnli_study(root: Path, improvement: float = 0.3, n: int = 300) -> None:
    """original and joint: the same ~60 % correct; adjusted (es): many errors fixed on es."""
    rng = np.random.default_rng(0)
    for seed in (1, 2, 3):
        base = {lang: rng.random(n) < 0.6 for lang in ("en", "es", "ru")}
        for variant, language in (("original", None), ("joint", None), ("adjusted", "es")):
            folder = root / "xnli" / variant / (language or "") / f"seed{seed}"
            for lang, correct in base.items():
                if language and lang not in ("en", language):
                    continue
                if variant == "adjusted":
                    correct = correct | (rng.random(n) < improvement)
                write_jsonl(folder / "predictions" / f"predict_{lang}.jsonl", nli_records(lang, correct))
                write_jsonl(folder / "predictions" / f"eval_{lang}.jsonl", nli_records(lang, ~correct))
            (folder / "all_results.json").write_text("{}")


def test_layout_differences_tests_and_outputs(tmp_path):
    make_xnli_study(tmp_path / "study")
    (tmp_path / "study" / "adjust" / "per_language" / "es" / "seed1").mkdir(parents=True)  # not a task run
    out = tmp_path / "report"
    cells = cells_by_key(
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", "300"])
    )
    original, joint, adjusted = (cells[("xnli", "es", v)] for v in ("original", "joint", "adjusted"))
    assert original.seeds == [1, 2, 3] and original.examples == 300 and original.difference is None
    assert 50 < original.mean < 70 and original.std > 0
    assert joint.difference == 0 and joint.p_example == 1.0 and joint.p_seed == 1.0 and not joint.significant_example
    assert adjusted.difference > 5 and adjusted.significant_example and adjusted.significant_seed
    assert adjusted.p_example_adjusted >= adjusted.p_example
    assert adjusted.mean == pytest.approx(original.mean + adjusted.difference)
    # a per-language run counts for its language, and for English in a row of its own
    assert ("xnli", "en", "adjusted") not in cells and ("xnli", "ru", "adjusted") not in cells
    assert cells[("xnli", "en (adjusted on es)", "adjusted")].difference > 5
    assert ("xnli", "ru", "joint") in cells and "adjust" not in {c.task for c in cells.values()}
    report = (out / "report.md").read_text()
    assert "## xnli (accuracy)" in report and "| es |" in report and "*†)" in report
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == len(cells) and {r["variant"] for r in rows} == {"original", "joint", "adjusted"}
    assert (out / "xnli.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report.json").read_text())["settings"]["correction"] == "holm"


def test_split_choice_and_randomization(tmp_path):
    make_xnli_study(tmp_path / "study", n=120)
    cells = cells_by_key(
        run_report.main(
            [
                "--runs_dir",
                str(tmp_path / "study"),
                "--output_dir",
                str(tmp_path / "r"),
                "--split",
                "eval",
                "--test",
                "randomization",
                "--samples",
                "200",
                "--correction",
                "none",
                "--seed_test",
                "welch",
            ]
        )
    )
    # eval files hold the inverted predictions: accuracy ~40 %, and the adjusted run is worse there.
    assert cells[("xnli", "es", "original")].mean < 50
    assert cells[("xnli", "es", "adjusted")].difference < 0
    assert cells[("xnli", "es", "joint")].p_example == 1.0


def test_ner_and_qa_readers_from_a_manifest(tmp_path):
    gold = [["B-PER", "I-PER", "O"], ["O", "B-LOC"], ["B-ORG", "O"]] * 20
    miss = [["O", "O", "O"], ["O", "B-LOC"], ["B-ORG", "O"]] * 20
    steps = []
    for seed in (1, 2):
        for variant, predicted in (("original", miss), ("continual", gold)):
            folder = tmp_path / "runs" / f"ner-{variant}-{seed}"
            pairs = enumerate(zip(gold, predicted, strict=True))
            records = [{"id": str(i), "gold": g, "predicted": p} for i, (g, p) in pairs]
            write_jsonl(folder / "predictions" / "predict_hi.jsonl", records)
            steps.append({"task": "ner", "variant": variant, "seed": str(seed), "output_dir": str(folder)})
            qa = tmp_path / "runs" / f"qa-{variant}-{seed}"
            f1 = [100.0, 50.0, 0.0] * 10 if variant == "original" else [100.0, 100.0, 0.0] * 10
            write_jsonl(
                qa / "predictions" / "eval_xquad.hi.jsonl",
                [
                    {
                        "id": str(i),
                        "gold": ["x"],
                        "predicted": "y",
                        "exact_match": 0.0,
                        "f1": 0.0,
                        "squad_exact_match": 0.0,
                        "squad_f1": v,
                    }
                    for i, v in enumerate(f1)
                ],
            )
            write_jsonl(
                qa / "predictions" / "eval_mlqa.hi.en_scores.jsonl",
                [{"id": str(i), "f1": 0.0, "squad_f1": v / 100} for i, v in enumerate(f1)],
            )
            steps.append({"task": "qa", "variant": variant, "seed": str(seed), "output_dir": str(qa)})
    steps.append({"task": "adjust", "variant": "joint", "seed": "1", "output_dir": str(tmp_path / "nowhere")})
    manifest = tmp_path / "study_manifest.json"
    manifest.write_text(json.dumps({"steps": steps}))
    cells = cells_by_key(
        run_report.main(["--manifest", str(manifest), "--output_dir", str(tmp_path / "r"), "--samples", "200"])
    )
    ner = cells[("ner", "hi", "continual")]
    assert ner.metric == "f1" and ner.mean == pytest.approx(100)
    assert cells[("ner", "hi", "original")].mean == pytest.approx(100 * 2 * 2 / (2 + 3))  # tp 2, pred 2, gold 3
    assert ner.significant_example and ner.difference == pytest.approx(20)
    for name in ("xquad.hi", "mlqa.hi.en"):
        assert cells[("qa", name, "original")].mean == pytest.approx(50)
        assert cells[("qa", name, "continual")].difference == pytest.approx(50 / 3)
        assert cells[("qa", name, "continual")].language == "hi"
    assert np.isnan(cells[("qa", "xquad.hi", "continual")].p_seed)  # the same gain in every seed: t undefined


def test_set_language():
    assert [set_language(n) for n in ("es", "xquad.es", "mlqa.vi.en", "tydiqa.ru", "mlqa.es.en:test")] == [
        "es",
        "es",
        "vi",
        "ru",
        "es",
    ]
    # MLQA pairs belong to their non-English language, whichever side it is on (context en, question es → es)
    names = (
        "mlqa.en.es",
        "mlqa.en.hi:validation",
        "mlqa.en.vi-validation",
        "mlqa.en.en",
        "sentence_retrieval.ru.layer8.to_en",
    )
    assert [set_language(n) for n in names] == ["es", "hi", "vi", "en", "ru"]


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no predictions files"):
        run_report.main(["--runs_dir", str(tmp_path), "--output_dir", str(tmp_path / "r")])


def test_a_manifest_with_relative_folders_is_read_from_anywhere(tmp_path, monkeypatch):
    make_xnli_study(tmp_path / "moved", n=30)
    steps = [
        {"task": "xnli", "variant": "original", "seed": str(seed), "output_dir": f"out/study/xnli/original/seed{seed}"}
        for seed in (1, 2)
    ]
    manifest = {"config": {"output_dir": "out/study"}, "steps": steps}
    (tmp_path / "moved" / "study_manifest.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(tmp_path)
    cells = run_report.main(["--runs_dir", "moved", "--output_dir", str(tmp_path / "r")])
    assert {(c.eval_set, c.variant, tuple(c.seeds)) for c in cells} == {
        (lang, "original", (1, 2)) for lang in ("en", "es", "ru")
    }


def qa_study(root: Path) -> None:
    """Two QA runs whose official (f1/exact_match) and SQuAD v1.1 (squad_*) columns all differ."""
    for seed in (1, 2):
        folder = root / "qa" / "original" / f"seed{seed}"
        records = [
            {
                "id": str(i),
                "gold": ["x"],
                "predicted": "y",
                "f1": 40.0,
                "exact_match": 10.0,
                "squad_f1": 60.0,
                "squad_exact_match": 30.0,
            }
            for i in range(20)
        ]
        write_jsonl(folder / "predictions" / "eval_mlqa.es.es.jsonl", records)


@pytest.mark.parametrize(
    ("flags", "metric", "mean"),
    [
        ([], "squad_f1", 60.0),
        (["--qa_score", "exact_match"], "squad_exact_match", 30.0),
        (["--qa_metric", "official"], "f1", 40.0),
        (["--qa_metric", "official", "--qa_score", "exact_match"], "exact_match", 10.0),
    ],
)
def test_qa_rules_and_score_are_picked(tmp_path, flags, metric, mean):
    qa_study(tmp_path / "study")
    cells = run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r"), *flags])
    [cell] = cells
    assert (cell.metric, cell.mean) == (metric, pytest.approx(mean))
    settings = json.loads((tmp_path / "r" / "report.json").read_text())["settings"]
    assert settings["qa_metric"] == (flags[1] if flags[:1] == ["--qa_metric"] else "squad")


def test_qa_files_without_squad_scores_need_the_official_rules(tmp_path):
    folder = tmp_path / "study" / "qa" / "original" / "seed1"
    write_jsonl(folder / "predictions" / "eval_xquad.es.jsonl", [{"id": "0", "f1": 50.0, "exact_match": 0.0}])
    with pytest.raises(InputError, match="no 'squad_f1' column.*use --qa_metric official"):
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r")])
    [cell] = run_report.main(
        ["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "official"), "--qa_metric", "official"]
    )
    assert cell.mean == pytest.approx(50.0)


def qa_records(values: list[float]) -> list[dict]:
    return [
        {
            "id": str(i),
            "gold": ["x"],
            "predicted": "y",
            "exact_match": 0.0,
            "f1": v,
            "squad_exact_match": 0.0,
            "squad_f1": v,
        }
        for i, v in enumerate(values)
    ]


def test_every_table_has_the_same_variant_order(tmp_path):
    make_xnli_study(tmp_path / "study", n=30)  # its first set (en) has no adjusted run
    for seed in (1, 2, 3):
        for variant in ("joint", "adjusted", "original"):
            folder = tmp_path / "study" / "qa" / variant / ("es" if variant == "adjusted" else "") / f"seed{seed}"
            write_jsonl(folder / "predictions" / "eval_xquad.es.jsonl", qa_records([100.0, 0.0, 50.0 + seed]))
    run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r"), "--samples", "50"])
    headers = [line for line in (tmp_path / "r" / "report.md").read_text().splitlines() if line.startswith("| set")]
    assert headers == ["| set | original | adjusted | joint |"] * 2


def test_one_seed_gives_strict_json_and_says_why_cells_are_empty(tmp_path):
    for variant in ("original", "joint"):
        folder = tmp_path / "study" / "xnli" / variant / "seed1"
        write_jsonl(folder / "predictions" / "predict_es.jsonl", nli_records("es", np.arange(40) % (2 + len(variant))))
    out = tmp_path / "r"
    run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", "50"])
    text = (out / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    cells = {c["variant"]: c for c in json.loads(text)["cells"]}
    assert cells["original"]["std"] is None and cells["joint"]["p_seed"] is None
    assert "`–` for a std: the cell has a single seed" in (out / "report.md").read_text()


def test_rerun_and_interrupted_runs(tmp_path, capsys, caplog):
    make_xnli_study(tmp_path / "study", n=30)
    interrupted = tmp_path / "study" / "xnli" / "joint" / "seed3"
    (interrupted / "run.json").write_text(json.dumps({"status": "running", "pid": 0, "hostname": "gone"}))
    args = ["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r"), "--samples", "50"]
    with caplog.at_level("WARNING"):
        cells = run_report.main(args)
    assert cells_by_key(cells)[("xnli", "es", "joint")].seeds == [1, 2]  # seed 3 has not finished
    assert "not in the report" in caplog.text and str(interrupted) in caplog.text
    before = (tmp_path / "r" / "report.json").stat().st_mtime_ns
    capsys.readouterr()
    again = run_report.main(args)
    assert "already finished with the same settings" in capsys.readouterr().out
    assert (tmp_path / "r" / "report.json").stat().st_mtime_ns == before and len(again) == len(cells)
    with pytest.raises(InputError, match="--samples: 50 → 60"):
        run_report.main([*args[:-1], "60"])
    run_report.main([*args[:-1], "60", "--overwrite_output_dir"])


def test_the_flags_defaults_are_the_settings_defaults():
    parsed = run_report.settings_from(run_report.parse_args(["--output_dir", "r"]))
    assert parsed == ReportSettings(output_dir="r")
    with pytest.raises(InputError, match="correction must be one of"):
        ReportSettings(output_dir="r", correction="bonferoni")
