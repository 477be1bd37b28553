"""Tiny real slices of the paper's matrix through reproduce.py --only: the four-model analysis (original,
adjusted, and the XNLI models fine-tuned from each) and one cross-lingual MLQA pair of sets."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

import reproduce
from tests.study_helpers import tiny_config
from tests.tiny_models import FIXTURES

QA = FIXTURES / "qa"


def run_slice(config: dict, tmp_path: Path, *only: str) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    study = Path(config["output_dir"])
    status = reproduce.main(["--config", str(path), "--only", *only])
    assert status == 0, [p.read_text()[-3000:] for p in (study / "logs").glob("*")]
    return study


def test_analysis_of_fine_tuned_models(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = tiny_config(tiny_bert, tmp_path / "study")
    config.update(seeds=[1, 2], xsr={"enabled": False})  # seed 2 is planned, not run
    config["adjust"]["args"].update(validation_pairs=5, learning_rate=1e-3)
    config["tasks"]["xnli"]["args"].update(learning_rate=1e-2, max_steps=3)
    config["analysis"] = {"enabled": True, "args": {"analyses": ["distances"], "layers": [-1]}}
    study = run_slice(config, tmp_path, "task=analysis", "language=es", "seed=1")

    results = json.loads((study / "analysis/per_language/es/seed1/analysis_results.json").read_text())
    per_layer = results["languages"]["es"]["layer_-1"]["cosine"]
    models = per_layer["models"]
    assert set(models) == {"original", "adjusted", "original+xnli", "adjusted+xnli"}
    assert {"original->original+xnli", "adjusted->adjusted+xnli"} <= set(per_layer["comparisons"])
    assert results["languages"]["es"]["pairs"] == 5  # the adjustment's held-out pairs
    assert models["original+xnli"]["delta_mean"] != models["original"]["delta_mean"]  # fine-tuning moved it

    # The task run kept its final model despite save_strategy "no", with the encoder's tokenizer, and AutoModel
    # reads the encoder inside it: nothing missing but the unused pooler, the same weights as the task model's.
    task_dir = study / "xnli/original/seed1"
    assert (task_dir / "model.safetensors").is_file() and not list(task_dir.glob("checkpoint-*"))
    encoder, info = AutoModel.from_pretrained(task_dir, output_loading_info=True)
    assert set(info["missing_keys"]) <= {"pooler.dense.weight", "pooler.dense.bias"}
    task_model = AutoModelForSequenceClassification.from_pretrained(task_dir)
    inner = task_model.base_model.state_dict()
    assert all(torch.equal(value, inner[name]) for name, value in encoder.state_dict().items() if name in inner)
    original = AutoModel.from_pretrained(tiny_bert).state_dict()
    assert not torch.equal(
        original["encoder.layer.0.attention.self.query.weight"],
        encoder.state_dict()["encoder.layer.0.attention.self.query.weight"],
    )
    assert AutoTokenizer.from_pretrained(task_dir).get_vocab() == AutoTokenizer.from_pretrained(tiny_bert).get_vocab()

    manifest = {s["name"]: s for s in json.loads((study / "study_manifest.json").read_text())["steps"]}
    assert manifest["xnli-original-seed1"]["disk_bytes"] > (task_dir / "model.safetensors").stat().st_size
    assert "disk_bytes" not in manifest["xnli-adjusted-es-seed2"]  # not run
    report = (study / "report" / "report.md").read_text()
    assert "## analysis (adjusted, layer -1, cosine): share of links with Δ > 0 (%) / mean Δ" in report
    assert "| adjusted+xnli | " in report and "| original → original+xnli | es |" in report


def test_cross_lingual_mlqa_slice(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = tiny_config(tiny_bert, tmp_path / "study")
    config.update(seeds=[1], xsr={"enabled": False})
    config["tasks"] = {
        "qa": {
            "script": "run_qa.py",
            "include_english": False,
            "args": {
                "do_train": True,
                "do_eval": True,
                "max_steps": 2,
                "per_device_train_batch_size": 8,
                "max_seq_length": 128,
                "doc_stride": 64,
                "train_file": str(QA / "train.en.json"),
            },
            "eval_flag": "--eval_sets",
            "eval_values": {
                "es": [
                    f"xquad.es={QA / 'dev.es.json'}",
                    f"mlqa.es.en={QA / 'dev.es.json'}",
                    f"mlqa.en.es={QA / 'dev.es.json'}",
                ]
            },
        }
    }
    study = run_slice(config, tmp_path, "task=qa", "variant=original", "seed=1")
    predictions = study / "qa/original/seed1/predictions"
    assert {p.name for p in predictions.glob("eval_*.jsonl")} >= {"eval_mlqa.es.en.jsonl", "eval_mlqa.en.es.jsonl"}
    report = (study / "report" / "report.md").read_text()
    cross = report.index("## qa (squad_f1): cross-lingual")
    assert report.index("## qa (squad_f1): mono-lingual") < cross and "| xquad.es |" not in report[cross:]
    assert "| mlqa.en.es |" in report[cross:] and "| mlqa.es.en |" in report[cross:]
    results = json.loads((study / "qa/original/seed1/all_results.json").read_text())
    assert {"eval_mlqa.es.en_f1", "eval_mlqa.en.es_f1"} <= set(results)


def test_sentence_retrieval_slice(tiny_bert, tmp_path, monkeypatch):
    """XSR steps run run_analysis.py on local Tatoeba files (no alignment, no Hub), and the report pairs the
    adjusted encoder with the original sentence by sentence, per layer."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = tiny_config(tiny_bert, tmp_path / "study")
    config.update(seeds=[1])
    config["xsr"] = {
        "enabled": True,
        "args": {"retrieval_corpus": "tatoeba", "layers": [1, -1], "tatoeba_dir": str(FIXTURES / "tatoeba")},
    }
    study = run_slice(config, tmp_path, "task=xsr", "language=es", "seed=1")

    assert not (study / "xnli").exists()  # only the adjustment the adjusted encoder needs ran besides XSR
    for variant in ("original", "adjusted"):
        folder = study / "xsr" / variant / "es" / "seed1"
        results = json.loads((folder / "analysis_results.json").read_text())
        scores = results["sentence_retrieval"]["es"]["1"][variant]
        assert scores["corpus"] == "tatoeba" and 0 <= scores["to_en"] <= 1
        assert (folder / "predictions" / variant / "sentence_retrieval.es.layer1.to_en.jsonl").is_file()
        assert not (folder / "alignments").exists()
    report = (study / "report" / "report.md").read_text()
    assert "sentence_retrieval.es.layer1.to_en" in report and "sentence_retrieval.es.layer-1.from_en" in report
