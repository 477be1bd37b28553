"""reproduce.py: the whole matrix as a dry run, --only, resumption, and a tiny real slice in plain Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import reproduce
import run_report
from tests.study_helpers import tiny_config, value, values
from xladjust.errors import InputError
from xladjust.study import local
from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps, parse_filters, select

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "configs" / "paper.json"


def test_dry_run_of_the_paper_matrix(capsys):
    config = load_config(str(PAPER))
    steps = build_steps(config)
    by_name = {step.name: step for step in steps}
    # 3 seeds × (4 + 1 adjustments, 3 tasks × (original + 4 adjusted + joint + continual + 4 continual-lang),
    # 5 analyses, 4 languages × 3 encoders (original, adjusted, joint) of sentence retrieval)
    assert len(steps) == 3 * (5 + 3 * 11 + 5 + 12)
    for step in steps:
        assert {"task", "variant", "seed"} <= set(step.key)
        assert all(name in by_name for name in step.depends_on)
        assert value(step.args, "--output_dir") == step.output_dir
    adjust = by_name["adjust-es-seed2"]
    assert adjust.script == "run_adjust.py" and values(adjust.args, "--languages") == ["es"]
    assert value(adjust.args, "--learning_rate") == "5e-05" and value(adjust.args, "--num_train_epochs") == "1"
    assert value(adjust.args, "--per_device_train_batch_size") == "32"
    assert value(adjust.args, "--max_train_pairs") == "30000" and value(adjust.args, "--seed") == "2"
    assert value(adjust.args, "--parallel_dataset_name") == "sentence-transformers/parallel-sentences-wikimatrix"
    assert values(by_name["adjust-joint-seed1"].args, "--parallel_dataset_config_names") == [
        "en-es",
        "en-ru",
        "en-vi",
        "en-hi",
    ]
    expected = {
        "xnli": ("run_xnli.py", "5e-05", "2"),
        "ner": ("run_ner.py", "2e-05", "3"),
        "qa": ("run_qa.py", "3e-05", "2"),
    }
    for task, (script, lr, epochs) in expected.items():
        original = by_name[f"{task}-original-seed1"]
        assert original.script == script and original.depends_on == []
        assert value(original.args, "--model_name_or_path") == "google-bert/bert-base-multilingual-cased"
        assert value(original.args, "--learning_rate") == lr and value(original.args, "--num_train_epochs") == epochs
        adjusted = by_name[f"{task}-adjusted-ru-seed3"]
        assert adjusted.depends_on == ["adjust-ru-seed3"]
        assert value(adjusted.args, "--model_name_or_path") == by_name["adjust-ru-seed3"].output_dir
        assert adjusted.output_dir.endswith(f"{task}/adjusted/ru/seed3")
        joint = by_name[f"{task}-joint-seed1"]
        assert value(joint.args, "--model_name_or_path") == by_name["adjust-joint-seed1"].output_dir
        continual = by_name[f"{task}-continual-seed1"]
        assert continual.depends_on == ["adjust-joint-seed1"]
        assert value(continual.args, "--align_weight") == "0.01"
        assert value(continual.args, "--align_batch_size") == "16"
        assert value(continual.args, "--align_max_pairs") == "30000"
        assert values(continual.args, "--align_languages") == ["es", "ru", "vi", "hi"]
        assert "--align_parallel_file" not in joint.args
    assert values(by_name["xnli-adjusted-ru-seed1"].args, "--eval_languages") == ["en", "ru"]
    qa = by_name["qa-adjusted-es-seed1"].args
    assert value(qa, "--max_seq_length") == "384" and value(qa, "--doc_stride") == "128"
    assert values(qa, "--eval_sets") == [
        "xquad.en",
        "mlqa.en.en",
        "tydiqa.en",
        "xquad.es",
        "mlqa.es.es",
        "mlqa.es.en",
        "mlqa.en.es",
    ]
    analysis = by_name["analysis-vi-seed1"]
    assert analysis.script == "run_analysis.py" and analysis.depends_on[0] == "adjust-vi-seed1"

    assert reproduce.main(["--config", str(PAPER), "--dry_run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    assert len(commands) == len(steps)
    # Every step's process count and port are explicit; a user's default accelerate config is not read.
    prefix = "accelerate launch --config_file out/study/launch/accelerate_config.yaml --num_processes 1"
    assert all(line.startswith(prefix.replace("out/", f"{Path.cwd()}/out/")) for line in commands), commands[0]


def test_opus_configs_are_sorted_pairs_unless_a_template_is_given():
    languages = 'languages=["ar", "de", "es"]'
    opus = "parallel.dataset_name=Helsinki-NLP/opus-100"
    config = load_config(str(PAPER), [languages, opus, "parallel.config_template=null"])
    joint = {s.name: s for s in build_steps(config)}["adjust-joint-seed1"]
    assert values(joint.args, "--parallel_dataset_config_names") == ["ar-en", "de-en", "en-es"]
    # sentence-transformers' parallel sets (WikiMatrix, paper.json's) put English first whatever the language.
    config = load_config(str(PAPER), [languages, "parallel.config_template=null"])
    joint = {s.name: s for s in build_steps(config)}["adjust-joint-seed1"]
    assert values(joint.args, "--parallel_dataset_config_names") == ["en-ar", "en-de", "en-es"]
    config = load_config(str(PAPER), [languages, "parallel.config_template={lang}-en"])
    joint = {s.name: s for s in build_steps(config)}["adjust-joint-seed1"]
    assert values(joint.args, "--parallel_dataset_config_names") == ["ar-en", "de-en", "es-en"]


def test_only_keeps_matching_steps_and_their_dependencies():
    steps = build_steps(load_config(str(PAPER)))
    chosen = select(steps, parse_filters(["task=xnli", "language=es", "seed=1", "variant=adjusted"]))
    assert [s.name for s in chosen] == ["adjust-es-seed1", "xnli-adjusted-es-seed1"]
    chosen = select(steps, parse_filters(["task=ner", "seed=2", "variant=original"]))
    assert [s.name for s in chosen] == ["ner-original-seed2"]
    with pytest.raises(InputError, match="--only takes"):
        parse_filters(["lang=es"])


def test_overrides_launchers_and_local_parallel_files():
    config = load_config(
        str(PAPER),
        ["tasks.ner.args.max_steps=200", "seeds=[7]", 'languages=["vi"]', "launcher=[]", "adjust.args.note=x y"]
        + ['parallel.files={"vi": {"text": "vi-en.txt", "align": null}}'],
    )
    steps = {s.name: s for s in build_steps(config)}
    ner = steps["ner-adjusted-vi-seed7"]
    assert value(ner.args, "--max_steps") == "200" and value(steps["adjust-vi-seed7"].args, "--note") == "x y"
    assert ner.script == "run_ner.py" and config.launcher == []  # how launchers start it: tests/study/test_backends.py
    adjust = steps["adjust-vi-seed7"].args
    assert values(adjust, "--parallel_files") == ["vi-en.txt"] and "--alignment_files" not in adjust  # eflomal
    assert values(steps["xnli-continual-seed7"].args, "--align_parallel_file") == ["vi-en.txt"]


def test_finished_steps_are_skipped_and_crashed_ones_rerun(tmp_path, monkeypatch):
    config = json.loads(PAPER.read_text())
    config.update(output_dir=str(tmp_path / "study"), seeds=[1], languages=["es"], variants=["original", "adjusted"])
    config["tasks"] = {"xnli": config["tasks"]["xnli"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    steps = {s.name: s for s in build_steps(load_config(path))}
    finished = json.dumps({"status": "finished"})
    done = steps["adjust-es-seed1"]
    Path(done.output_dir).mkdir(parents=True)
    Path(done.done_marker).write_text(finished)
    Path(done.output_dir, "all_results.json").write_text("{}")
    old_version = steps["xnli-original-seed1"]  # files but no run.json: nothing says what made them
    Path(old_version.output_dir).mkdir(parents=True)
    (Path(old_version.output_dir) / "config.json").write_text("{}")
    killed = steps["xnli-adjusted-es-seed1"]  # results written, but killed before it finished: not done
    Path(killed.output_dir, "checkpoint-2").mkdir(parents=True)
    Path(killed.output_dir, "all_results.json").write_text("{}")
    Path(killed.done_marker).write_text(json.dumps({"status": "running", "pid": 0, "hostname": "elsewhere"}))

    calls = []

    def fake_run(command, env, log_path, header):
        output = value(command, "--output_dir")
        calls.append((Path(log_path).stem, ["--overwrite_output_dir"] if "--overwrite_output_dir" in command else []))
        Path(output).mkdir(parents=True, exist_ok=True)
        Path(output, "run.json").write_text(finished)
        return 0

    monkeypatch.setattr(local, "run_command", fake_run)
    assert reproduce.main(["--config", str(path), "--no_report"]) == 0
    # The killed step resumes by itself (same command, no flag); the old folder is started again from scratch.
    assert dict(calls) == {
        "xnli-original-seed1": ["--overwrite_output_dir"],
        "xnli-adjusted-es-seed1": [],
        "analysis-es-seed1": [],
        "xsr-original-es-seed1": [],
        "xsr-adjusted-es-seed1": [],
    }
    manifest = json.loads((tmp_path / "study" / "study_manifest.json").read_text())
    assert all(step["done"] for step in manifest["steps"])
    disk = {step["name"]: step["disk_bytes"] for step in manifest["steps"]}
    # the finished marker and a 2-byte "{}": the adjustment's all_results.json, the old version's config.json
    assert disk["adjust-es-seed1"] == disk["xnli-original-seed1"] == len(finished) + 2
    calls.clear()
    assert reproduce.main(["--config", str(path), "--no_report"]) == 0
    assert calls == []


def test_tiny_real_slice(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two jobs at once on small shared CPUs
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_config(tiny_bert, tmp_path / "study")))
    study = tmp_path / "study"
    assert reproduce.main(["--config", str(path), "--jobs", "2"]) == 0, [
        p.read_text()[-2000:] for p in (study / "logs").glob("*")
    ]
    for folder in ("adjust/per_language/es/seed1", "xnli/original/seed2", "xnli/adjusted/es/seed1"):
        assert (study / folder / "all_results.json").is_file(), folder
    records = (study / "xnli/adjusted/es/seed2/predictions/eval_es.jsonl").read_text().splitlines()
    assert len(records) == 24
    assert not (study / "adjust/per_language/es/seed2").exists()  # one adjustment shared by both seeds
    log = (study / "logs" / "xnli-adjusted-es-seed2.log").read_text()
    assert "CUDA_VISIBLE_DEVICES=(none), processes: 1" in log.splitlines()[0]  # no GPU here
    assert f"{sys.executable} {reproduce.ROOT / 'run_xnli.py'}" in log.splitlines()[1]
    assert str(study / "adjust/per_language/es/seed1") in log.splitlines()[1]
    assert "training: step 2/2 (100%)" in log  # the progress lines of xladjust.trainer.TrainingProgress
    report = (study / "report" / "report.md").read_text()
    assert "## xnli (accuracy)" in report and "| es |" in report and "| en |" not in report
    assert (study / "report" / "xnli.png").stat().st_size > 0


def test_paper_config_reports_qa_by_the_papers_squad_protocol():
    import run_report
    from xladjust.study.matrix import render_args

    report_args = render_args(load_config(PAPER).report.args)
    assert value(report_args, "--qa_metric") == "squad"
    parsed = run_report.parse_args(["--runs_dir", "x", "--output_dir", "y", *report_args])
    assert (parsed.qa_metric, parsed.qa_score) == ("squad", "f1")


def test_report_options_estimate_counts_and_a_prefetch_dry_run(capsys):
    # report.args: run_report.py's switches take no value (a "--pool_seeds true" would end reproduce.py).
    assert reproduce.report_options({"pool_seeds": True, "overwrite_output_dir": False, "samples": 10}) == [
        "--pool_seeds",
        "--samples",
        "10",
    ]
    run_report.parse_args(["--output_dir", "x", *reproduce.report_options({"pool_seeds": True, "alpha": 0.01})])
    assert reproduce.estimate_counts("1,4,8") == [1, 4, 8]
    for bad in ("none", "0,1", "4,x"):
        with pytest.raises(InputError, match="--estimate --gpus takes GPU counts"):
            reproduce.estimate_counts(bad)
    config = str(ROOT / "configs" / "paper.json")
    assert reproduce.main(["--config", config, "--prefetch", "--dry_run", "--set", 'languages=["es"]']) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("# 1 model(s) and ") and "model google-bert/bert-base-multilingual-cased" in listed
    assert any(line.startswith("WikiMatrix en-es train: sentence-transformers/") for line in listed)
