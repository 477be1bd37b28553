"""The report places the variants named after a built-in one beside it, with the same tests against the baseline."""

from __future__ import annotations

import numpy as np

import run_report
from tests.study_helpers import cells_by_key, write_jsonl

LABELS = ["entailment", "neutral", "contradiction"]
VARIANTS = {  # variant → (folder language, share of the baseline's errors it fixes)
    "original": (None, 0.0),
    "contrastive": ("es", 0.1),
    "continual-frozen-lower-half": (None, 0.2),
    "adjusted-frozen-lower-half": ("es", 0.4),
    "continual": (None, 0.1),
    "adjusted-avg": ("es", 0.3),
    "adjusted": ("es", 0.2),
}


def test_variants_sit_beside_their_built_in_one_with_the_same_tests(tmp_path):
    rng = np.random.default_rng(0)
    for seed in (1, 2, 3):
        base = rng.random(200) < 0.5
        for variant, (language, fixes) in VARIANTS.items():
            correct = base | (rng.random(200) < fixes)
            records = [
                {"id": str(i), "gold": LABELS[i % 3], "predicted": LABELS[(i + (not ok)) % 3]}
                for i, ok in enumerate(correct)
            ]
            folder = tmp_path / "study" / "xnli" / variant / (language or "") / f"seed{seed}"
            write_jsonl(folder / "predictions" / "predict_es.jsonl", records)
    cells = cells_by_key(
        run_report.main(
            ["--runs_dir", str(tmp_path / "study"), "--output_dir", str(tmp_path / "r"), "--samples", "200"]
        )
    )
    header = next(line for line in (tmp_path / "r" / "report.md").read_text().splitlines() if line.startswith("| set"))
    assert header == (
        "| set | original | adjusted | adjusted-avg | adjusted-frozen-lower-half | continual | "
        "continual-frozen-lower-half | contrastive |"
    )
    for variant in ("adjusted-avg", "adjusted-frozen-lower-half", "continual-frozen-lower-half"):
        cell = cells[("xnli", "es", variant)]
        assert cell.difference > 0 and cell.p_example is not None and cell.p_seed is not None, variant
        assert cell.p_example_adjusted >= cell.p_example
    assert cells[("xnli", "es", "adjusted-frozen-lower-half")].significant_example
    # Against adjusted instead (AlignFreeze's question: does freezing beat full realignment?).
    against = cells_by_key(
        run_report.main(
            [
                "--runs_dir",
                str(tmp_path / "study"),
                "--output_dir",
                str(tmp_path / "r2"),
                "--samples",
                "200",
                "--baseline",
                "adjusted",
            ]
        )
    )
    frozen = against[("xnli", "es", "adjusted-frozen-lower-half")]
    assert frozen.difference > 0 and frozen.p_example is not None
    assert against[("xnli", "es", "adjusted")].difference is None
