"""The paper's corpus from the Hub: run_adjust.py and continual learning on a fake
``sentence-transformers/parallel-sentences-wikimatrix`` (configs ``en-LANG``, splits ``train``/``dev``, columns
``english``/``non_english``), served through a replaced ``datasets.load_dataset``."""

from __future__ import annotations

import json

from transformers import AutoModel, AutoTokenizer

import run_adjust
from tests.builders import PARALLEL, WIKIMATRIX, add_fake_wikimatrix
from xladjust.adjust.continual import ContinualLearningArguments, build_continual_alignment

STEPS = ["--per_device_train_batch_size", "4", "--max_steps", "2", "--save_strategy", "no", "--disable_tqdm", "true"]


def test_run_adjust_reads_wikimatrix_columns_without_flags(tiny_bert, tmp_path, fake_hub):
    fake = fake_hub()
    add_fake_wikimatrix(fake, ("es", "ru"))
    output = tmp_path / "adjusted"
    args = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(output), "--languages", "es", "ru"]
    args += ["--parallel_dataset_name", WIKIMATRIX, "--parallel_dataset_config_names", "en-es", "en-ru"]
    results = run_adjust.main([*args, "--do_train", "--do_eval", "--validation_pairs", "2", *STEPS])
    assert [call[:3] for call in fake.calls] == [(WIKIMATRIX, "en-es", "train"), (WIKIMATRIX, "en-ru", "train")]
    config = json.loads((output / "adjustment_config.json").read_text())
    for language in ("es", "ru"):
        counts = config["data"][language]
        assert counts["train"]["pairs_read"] == 14 and counts["held_out"]["pairs_read"] == 2
        assert counts["train"]["pairs_used"] > 0
    # The English column is English: the held-out file keeps TARGET ||| ENGLISH.
    first = (output / "heldout" / "es-en.txt").read_text(encoding="utf-8").splitlines()[0]
    spanish, english = first.split(" ||| ")
    lines = (PARALLEL / "es-en.txt").read_text(encoding="utf-8").splitlines()
    pairs = dict(line.split(" ||| ") for line in lines)
    assert pairs[spanish] == english
    assert config["parallel_data"]["parallel_columns"] == []
    assert results["train_pairs"] > 0 and "eval_alignment_loss" in results
    assert f"- {WIKIMATRIX}" in (output / "README.md").read_text()


def test_run_adjust_reads_the_dev_split_through_named_columns(tiny_bert, tmp_path, fake_hub):
    fake = fake_hub()
    add_fake_wikimatrix(fake, ("hi",), dev_rows=5)
    output = tmp_path / "adjusted"
    args = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(output), "--languages", "hi"]
    args += ["--parallel_dataset_name", WIKIMATRIX, "--parallel_dataset_config_names", "en-hi"]
    args += ["--parallel_dataset_split", "dev", "--parallel_columns", "english", "non_english"]
    run_adjust.main([*args, "--do_train", *STEPS])
    assert fake.calls[0][:3] == (WIKIMATRIX, "en-hi", "dev")
    config = json.loads((output / "adjustment_config.json").read_text())
    assert config["data"]["hi"]["train"]["pairs_read"] == 5
    assert config["parallel_data"]["parallel_columns"] == ["english", "non_english"]
    run = json.loads((output / "run.json").read_text())
    assert run["settings"]["parallel_columns"] == ["english", "non_english"]  # a setting: it changes the data


def test_continual_learning_pool_from_wikimatrix(tiny_bert, tmp_path, fake_hub):
    fake = fake_hub()
    add_fake_wikimatrix(fake, ("vi",))
    args = ContinualLearningArguments(
        align_languages=["vi"],
        align_dataset_name=WIKIMATRIX,
        align_dataset_config_names=["en-vi"],
        align_parallel_columns=["english", "non_english"],
        align_batch_size=4,
    )
    assert args.enabled and args.parallel_data().parallel_columns == ["english", "non_english"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    continual = build_continual_alignment(args, AutoModel.from_pretrained(tiny_bert), tokenizer, 0, str(tmp_path))
    assert fake.calls[0][:3] == (WIKIMATRIX, "en-vi", "train")
    assert 0 < len(continual.pool) <= 14
    batch = continual.draw(seed=0, process_index=0, step=0, micro_step=0)
    assert batch["tgt_input_ids"].shape[0] == batch["en_input_ids"].shape[0] == 4
