"""What a study reads from the Hub (study/sources.py: the one list of check_hub and --prefetch), reproduce.py
--prefetch against fake Hub clients (never the network), the offline read of a prefetched parquet export, and the
training progress lines every step logs (xladjust.trainer.TrainingProgress)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset
from transformers import TrainerControl

import reproduce
import run_qa
import run_xnli
from xladjust import check_hub
from xladjust.analysis.arguments import AnalysisArguments
from xladjust.data import hub
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.errors import InputError
from xladjust.study import sources
from xladjust.study.config import load_config
from xladjust.study.sources import study_sources
from xladjust.trainer import TrainingProgress

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.json"
SPANISH = 'languages=["es"]'


def test_the_defaults_read_here_are_the_scripts_defaults():
    assert run_xnli.XnliDataArguments.__dataclass_fields__["train_dataset"].default == sources.XNLI_TRAIN_DATASET
    assert run_qa.QaDataArguments.__dataclass_fields__["train_dataset"].default == sources.QA_TRAIN_DATASET
    assert ParallelDataArguments.__dataclass_fields__["parallel_dataset_split"].default == sources.PARALLEL_SPLIT
    fields = AnalysisArguments.__dataclass_fields__
    assert fields["retrieval_corpus"].default == sources.RETRIEVAL_CORPUS


def test_the_study_sources_follow_the_config():
    found = study_sources(load_config(PAPER, [SPANISH]))
    assert found.models == ["google-bert/bert-base-multilingual-cased"]
    labels = [check.label for check in found.datasets]
    assert labels[:3] == ["WikiMatrix en-es train", "XNLI en train", "XNLI en test"]
    assert "WikiANN en train" in labels and "SQuAD train" in labels and "Tatoeba es-en" in labels
    assert "MLQA mlqa.es.en test" in labels and len(labels) == len(set(labels))
    # A filtered adjustment reads its sentence encoder from the Hub too.
    filtered = load_config(PAPER, [SPANISH, 'adjust.args.filter_model="sentence-transformers/LaBSE"'])
    assert study_sources(filtered).models == [
        "google-bert/bert-base-multilingual-cased",
        "sentence-transformers/LaBSE",
    ]
    # Local files replace the Hub: the tiny test study reads nothing from it but its model, which is local too.
    local = load_config(
        PAPER,
        [
            SPANISH,
            "xsr.enabled=false",
            'parallel.files={"es": {"text": "x", "align": null}}',
            'tasks={"xnli": {"args": {"do_train": true, "do_predict": true, "train_file": "t.jsonl", '
            '"test_files": "test.{lang}.jsonl"}}}',
            f"model_name_or_path={ROOT}",
        ],
    )
    assert study_sources(local).models == [] and study_sources(local).datasets == []
    validation = load_config(
        PAPER, [SPANISH, 'tasks={"ner": {"args": {"do_eval": true, "validation_files": ["es=x"]}}}']
    )
    assert [c.label for c in study_sources(validation).datasets if c.benchmark == "WikiANN"] == [
        "WikiANN en validation"
    ]


class FakeHub:
    """load_dataset and snapshot_download of a Hub where MLQA is a script repository; records every call."""

    def __init__(self, root: Path, missing: tuple[str, ...] = ()):
        self.root, self.missing = root, missing
        self.loads: list[tuple] = []
        self.snapshots: list[dict] = []

    def load_dataset(self, path, name=None, *, split, data_files=None, cache_dir=None, streaming=False):
        assert not streaming
        files = data_files[split] if data_files else None
        self.loads.append((path, name, split, files))
        if path == "facebook/mlqa":
            raise RuntimeError("Dataset scripts are no longer supported, but found mlqa.py")
        if any(part in f"{path}:{name}" for part in self.missing):
            raise FileNotFoundError(f"{path}:{name} doesn't exist on the Hub")
        return Dataset.from_dict({"text": ["a", "b", "c"]})

    def snapshot_download(
        self, repo_id, *, repo_type=None, revision=None, allow_patterns=None, local_files_only=False
    ):
        self.snapshots.append(
            {
                "repo": repo_id,
                "type": repo_type,
                "revision": revision,
                "patterns": allow_patterns,
                "local": local_files_only,
            }
        )
        folder = self.root / repo_id.replace("/", "--")
        if local_files_only:  # what an earlier download left in the cache
            if not folder.is_dir():
                raise FileNotFoundError(f"{repo_id} is not in the cache")
        elif repo_type == "dataset":  # the parquet export's files of the pattern
            for pattern in allow_patterns:
                target = folder / pattern.replace("*", "0000")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("parquet")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.safetensors").write_text("weights")
        return str(folder)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    import huggingface_hub

    fake = FakeHub(tmp_path / "hub")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub.datasets, "load_dataset", fake.load_dataset)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    return fake


def test_prefetch_fetches_the_check_hub_list_and_the_steps_then_run_offline(fake_hub, tmp_path, capsys, monkeypatch):
    study = tmp_path / "study"
    args = ["--config", str(PAPER), "--output_dir", str(study), "--set", SPANISH]
    assert reproduce.main([*args, "--prefetch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    config = load_config(PAPER, [SPANISH])
    expected = [check.label for check in check_hub.study_checks(config)]  # one list for both
    fetched = [line[6:].split(":")[0] for line in lines if line.startswith("OK ") and "model" not in line]
    assert fetched == expected
    assert lines[0].startswith("OK    model google-bert/bert-base-multilingual-cased: ")
    model = fake_hub.snapshots[0]
    assert model["repo"] == "google-bert/bert-base-multilingual-cased" and "*.safetensors" in model["patterns"]
    assert not any("*.bin" in (s["patterns"] or []) for s in fake_hub.snapshots)  # it has safetensors
    mlqa = next(line for line in lines if line.startswith("OK    MLQA mlqa.es.en test"))
    assert "refs%2Fconvert%2Fparquet/mlqa.es.en/test/*.parquet (fallback)" in mlqa
    export = [s for s in fake_hub.snapshots if s["type"] == "dataset"]
    assert {"repo": "facebook/mlqa", "type": "dataset", "revision": "refs/convert/parquet"}.items() <= export[
        0
    ].items()
    assert export[0]["patterns"] == ["mlqa.en.en/test/*.parquet"] and not export[0]["local"]
    assert any(line.startswith("cache HF_HOME=") for line in lines)
    record = json.loads((study / "prefetch.json").read_text())
    assert set(record["cache"]) == {"HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE"}
    assert len(record["fetched"]) == len(expected) + 1

    # Offline, a parquet export is read from the files prefetch put in the Hub cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = hub.parquet_export("facebook/mlqa", "mlqa.es.en", "test")
    fake_hub.loads.clear()
    source.load()
    (path, _, split, files) = fake_hub.loads[0]
    assert path == "parquet" and files == [str(tmp_path / "hub/facebook--mlqa/mlqa.es.en/test/0000.parquet")]
    assert fake_hub.snapshots[-1]["local"]
    # The study's jobs run offline, with the cache folders prefetch used.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert reproduce.main([*args, "--backend", "slurm", "--dry_run", "--only", "task=ner", "seed=1"]) == 0
    scripts = capsys.readouterr().out
    assert "export HF_HUB_OFFLINE=1" in scripts and f"export HF_HOME={record['cache']['HF_HOME']}" in scripts
    assert reproduce.main([*args, "--backend", "slurm", "--dry_run", "--no-offline", "--only", "task=ner"]) == 0
    assert "HF_HUB_OFFLINE" not in capsys.readouterr().out


def test_prefetch_reports_what_it_could_not_fetch_and_records_nothing(fake_hub, tmp_path, capsys, monkeypatch):
    fake_hub.missing = ("facebook/xnli:es",)
    args = ["--config", str(PAPER), "--output_dir", str(tmp_path), "--set", SPANISH, "--prefetch"]
    assert reproduce.main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL  XNLI es test: XNLI es test: no source could be loaded" in out
    assert "1 of" in out and not (tmp_path / "prefetch.json").exists()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(InputError, match="--prefetch needs the Hub"):
        reproduce.main(args)


def test_training_progress_is_logged_about_every_2_percent(caplog):
    progress = TrainingProgress()
    state = SimpleNamespace(max_steps=125, global_step=20, is_world_process_zero=True, log_history=[])
    progress.on_train_begin(None, state, TrainerControl())  # resumed at step 20: the ETA counts from there
    with caplog.at_level(logging.INFO, logger="xladjust.trainer"):
        for step in range(21, 126):
            state.global_step = step
            if step == 50:
                state.log_history += [{"loss": 0.123456, "step": 50}, {"eval_loss": 1.0, "step": 50}]
            progress.on_step_end(None, state, TrainerControl())
    lines = [record.getMessage() for record in caplog.records]
    # ceil(2 % of 125) = every 3 steps, and the last one
    assert [int(line.split()[2].split("/")[0]) for line in lines] == [*range(21, 126, 3), 125]
    assert lines[0].startswith("training: step 21/125 (17%), ") and "loss" not in lines[0]
    assert lines[10].startswith("training: step 51/125 (41%), loss 0.1235 (step 50), ") and "ETA" in lines[10]
    progress.on_step_end(None, SimpleNamespace(**vars(state) | {"is_world_process_zero": False}), TrainerControl())
    assert len(caplog.records) == len(lines)  # other processes stay quiet
