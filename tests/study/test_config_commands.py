"""Every step of every shipped config is a command line its script accepts: a misspelt option in a config fails
here, not hours into a study."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from xladjust.study.config import load_config
from xladjust.study.matrix import build_steps

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.json"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_step_parses_with_its_scripts_arguments(path, tmp_path):
    config = load_config(str(path), [f"output_dir={tmp_path}"])
    parsed, kinds = 0, set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for step in build_steps(config):
        shape = (step.script, tuple(word for word in step.args if word.startswith("--")))
        if shape in seen:  # the same options with other values (seeds, languages, folders)
            continue
        seen.add(shape)
        script = importlib.import_module(Path(step.script).stem)
        parser = HfArgumentParser(script.ARGUMENTS)
        parser.parse_args_into_dataclasses(args=step.args)  # the dataclasses' checks run too
        parsed += 1
        kinds.add(step.key["task"])
    assert parsed and {"adjust"} <= kinds
