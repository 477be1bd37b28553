"""The benchmarks beyond the paper in the study: their config entries (off in paper.json, on in beyond.json, a task's
own languages), and the report's tables over planted POS, PAWS-X, SIB-200 and Belebele runs, POS as word accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import run_report
from tests.study_helpers import cells_by_key, value, values, write_jsonl
from xladjust.analysis.significance import STATISTICS, paired_bootstrap, per_seed_scores, ratio_statistic
from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps
from xladjust.tasks.pos import UPOS_LABELS

CONFIGS = Path(__file__).parents[2] / "configs"
BEYOND = ("pos", "pawsx", "sib200", "belebele")


def test_paper_json_has_the_new_tasks_off_and_beyond_json_turns_them_on():
    paper = load_config(CONFIGS / "paper.json")
    assert all(not paper.tasks[task].enabled for task in BEYOND)
    assert not any(step.key["task"] in BEYOND for step in build_steps(paper))
    beyond = load_config(CONFIGS / "beyond.json")
    assert beyond.output_dir == "out/beyond" and all(beyond.tasks[task].enabled for task in BEYOND)
    assert {name: spec.args for name, spec in beyond.tasks.items()} == {
        name: spec.args for name, spec in paper.tasks.items()
    }
    steps = {step.name: step for step in build_steps(beyond)}
    scripts = {task: steps[f"{task}-original-seed1"].script for task in BEYOND}
    assert scripts == {
        "pos": "run_ner.py",
        "pawsx": "run_xnli.py",
        "sib200": "run_xnli.py",
        "belebele": "run_belebele.py",
    }
    assert value(steps["pos-original-seed1"].args, "--task_name") == "pos"
    assert value(steps["sib200-adjusted-hi-seed1"].args, "--task_name") == "sib200"
    assert values(steps["belebele-original-seed1"].args, "--eval_languages") == ["en", "es", "ru", "vi", "hi"]


def test_a_task_runs_only_the_languages_its_benchmark_has():
    """PAWS-X has es of es ru vi hi: no per-language runs for the others, and they are not evaluated."""
    steps = {step.name: step for step in build_steps(load_config(CONFIGS / "beyond.json"))}
    assert "pawsx-adjusted-es-seed1" in steps and "pawsx-continual-lang-es-seed1" in steps
    assert not any(
        name.startswith(("pawsx-adjusted-ru", "pawsx-adjusted-vi", "pawsx-continual-lang-hi")) for name in steps
    )
    for name in ("pawsx-original-seed1", "pawsx-joint-seed1", "pawsx-continual-seed1"):
        assert values(steps[name].args, "--eval_languages") == ["en", "es"]
    # Continual learning over every language still aligns on all of them.
    assert values(steps["pawsx-continual-seed1"].args, "--align_languages") == ["es", "ru", "vi", "hi"]


def test_ratio_statistic_is_the_corpus_word_accuracy_and_tests_agree_with_a_naive_bootstrap():
    rng = np.random.default_rng(0)
    words = rng.integers(1, 15, size=60).astype(float)
    correct_a = np.floor(words * rng.uniform(0.3, 0.9, size=60))
    correct_b = np.minimum(words, correct_a + rng.integers(0, 3, size=60))
    a = np.stack([correct_a, words], axis=-1)[:, None, :]
    b = np.stack([correct_b, words], axis=-1)[:, None, :]
    assert per_seed_scores(a, ratio_statistic)[0] == pytest.approx(correct_a.sum() / words.sum())
    result = paired_bootstrap(a, b, ratio_statistic, samples=300, seed=5)
    # The same resampling written naively: draw examples, recompute Σ correct / Σ words for both systems.
    generator, deltas = np.random.default_rng(5), []
    for _ in range(300):
        weights = generator.multinomial(60, np.full(60, 1 / 60))
        deltas.append((weights @ correct_b) / (weights @ words) - (weights @ correct_a) / (weights @ words))
    observed = correct_b.sum() / words.sum() - correct_a.sum() / words.sum()
    naive = (np.sum(np.abs(np.array(deltas) - observed) >= abs(observed) - 1e-12) + 1) / 301
    assert result.difference == pytest.approx(observed) and result.p_value == pytest.approx(naive)
    assert STATISTICS["ratio"] is ratio_statistic


def pos_records(rng: np.random.Generator, quality: float) -> list[dict]:
    records = []
    for i in range(40):
        gold = [str(t) for t in rng.choice(UPOS_LABELS, size=int(rng.integers(2, 12)))]
        predicted = [t if rng.random() < quality else "X" for t in gold]
        records.append({"id": f"es-{i}", "gold": gold, "predicted": predicted, "metric": "word_accuracy"})
    return records


def label_records(rng: np.random.Generator, quality: float, labels: list) -> list[dict]:
    gold = rng.choice(len(labels), size=60)
    predicted = np.where(rng.random(60) < quality, gold, (gold + 1) % len(labels))
    return [
        {"id": f"es-{i}", "gold": labels[g], "predicted": labels[p]}
        for i, (g, p) in enumerate(zip(gold, predicted, strict=True))
    ]


def test_report_tables_over_the_new_tasks(tmp_path):
    rng = np.random.default_rng(2)
    makers = {
        "pos": lambda q: pos_records(rng, q),
        "pawsx": lambda q: label_records(rng, q, ["not_paraphrase", "paraphrase"]),
        "sib200": lambda q: label_records(rng, q, ["travel", "sports", "health"]),
        "belebele": lambda q: label_records(rng, q, [1, 2, 3, 4]),
    }
    planted = {}
    for task, make in makers.items():
        for seed in (1, 2):
            for variant, language, quality in (("original", None, 0.5), ("adjusted", "es", 0.9)):
                folder = tmp_path / "study" / task / variant / (language or "") / f"seed{seed}" / "predictions"
                records = make(quality)
                write_jsonl(folder / "predict_es.jsonl", records)
                planted[(task, variant, seed)] = records
    out = tmp_path / "report"
    cells = cells_by_key(
        run_report.main(["--runs_dir", str(tmp_path / "study"), "--output_dir", str(out), "--samples", "200"])
    )
    for task in makers:
        original, adjusted = cells[(task, "es", "original")], cells[(task, "es", "adjusted")]
        assert original.metric == adjusted.metric == "accuracy"
        assert adjusted.difference > 20 and adjusted.significant_example
        assert (out / f"{task}.png").is_file()
    # POS cells are corpus word accuracy (Σ correct / Σ words per seed), not entity F1 nor a mean over sentences.
    for seed_index, seed in enumerate((1, 2)):
        records = planted[("pos", "adjusted", seed)]
        correct = sum(g == p for r in records for g, p in zip(r["gold"], r["predicted"], strict=True))
        words = sum(len(r["gold"]) for r in records)
        assert cells[("pos", "es", "adjusted")].scores[seed_index] == pytest.approx(100 * correct / words)
    report = (out / "report.md").read_text()
    for task in makers:
        assert f"## {task} (accuracy)" in report
    saved = json.loads((out / "report.json").read_text())
    assert {cell["task"] for cell in saved["cells"]} == set(makers)
