"""The typed study config: misspelt keys and wrong types are errors that name the key and the file, anywhere in the
tree and in ``--set`` paths; the shipped configs load and keep the manifest's format."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from xladjust.errors import InputError
from xladjust.study import config as study_config
from xladjust.study.config import StudyConfig, load_config
from xladjust.study.matrix import build_steps

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


@pytest.fixture
def write_config(tmp_path):
    def write(**entries) -> str:
        path = tmp_path / "study.json"
        path.write_text(json.dumps({"model_name_or_path": "m", **entries}))
        return str(path)

    return write


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"adjsut": {"args": {}}}, "unknown key adjsut; did you mean adjust?"),
        ({"tasks": {"ner": {"arg": {"max_steps": 3}}}}, "unknown key tasks.ner.arg; did you mean tasks.ner.args?"),
        (
            {"variants": ["x"], "variant_specs": {"x": {"kind": "adjusted", "adjust_arg": {}}}},
            "unknown key variant_specs.x.adjust_arg; did you mean variant_specs.x.adjust_args?",
        ),
        ({"xsr": {"enabled": True, "argz": {}}}, "unknown key xsr.argz; did you mean xsr.args?"),
        ({"zzz": 1}, "unknown key zzz; expected one of: model_name_or_path, output_dir, launcher"),
    ],
)
def test_a_misspelt_key_names_the_key_the_file_and_the_close_match(write_config, entries, message):
    path = write_config(**entries)
    with pytest.raises(InputError) as error:
        load_config(path)
    assert error.value.path == path and message in error.value.message


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"languages": "es"}, 'languages must be a list (got "es")'),
        ({"seeds": [1, "2"]}, 'seeds[1] must be an integer (got "2")'),
        ({"seeds": [True]}, "seeds[0] must be an integer (got true)"),
        ({"adjust": []}, "adjust must be an object (got [])"),
        ({"tasks": {"ner": {"include_english": "no"}}}, 'tasks.ner.include_english must be true or false (got "no")'),
        ({"tasks": {"qa": {"eval_values": {"es": "xquad.es"}}}}, "tasks.qa.eval_values.es must be a list"),
        ({"output_dir": None}, "output_dir must be a string (got null)"),
        ({"seeds": []}, "seeds is empty"),
        ({"adjust": {"seeds": []}}, "adjust.seeds is empty"),
    ],
)
def test_a_wrong_type_names_the_key_and_the_file(write_config, entries, message):
    path = write_config(**entries)
    with pytest.raises(InputError) as error:
        load_config(path)
    assert error.value.path == path and message in error.value.message


def test_a_missing_model_and_a_bad_choice(tmp_path, write_config):
    path = tmp_path / "empty.json"
    path.write_text("{}")
    with pytest.raises(InputError, match="the config needs model_name_or_path"):
        load_config(path)
    with pytest.raises(InputError, match=r"variant_specs\.x\.start_from must be adjusted or original \(got 'no'\)"):
        load_config(write_config(variants=["x"], variant_specs={"x": {"kind": "continual", "start_from": "no"}}))
    with pytest.raises(InputError, match="unknown variant.*did you mean pairs-5k"):
        load_config(write_config(variants=["pairs-5"], variant_specs={"pairs-5k": {"kind": "adjusted"}}))
    joint = load_config(write_config(continual={"start_from": "joint"}))  # the old spelling of "adjusted"
    assert joint.continual.start_from == "adjusted" and joint.as_dict()["continual"] == {"start_from": "joint"}


def test_set_paths_are_checked_against_the_config_keys(write_config):
    path = write_config(tasks={"ner": {"args": {}}})
    with pytest.raises(InputError) as error:
        load_config(path, ["tasks.ner.argz.max_steps=3"])
    assert error.value.path == path
    assert error.value.message.startswith("--set tasks.ner.argz.max_steps=3: unknown key tasks.ner.argz")
    assert "did you mean tasks.ner.args?" in error.value.message
    with pytest.raises(InputError, match="unknown key adjust.arg; did you mean adjust.args"):
        load_config(path, ["adjust.arg.max_steps=3"])
    with pytest.raises(InputError, match="seeds has no keys"):
        load_config(path, ["seeds.first=3"])
    with pytest.raises(InputError, match="seeds must be a list"):
        load_config(path, ["seeds=3"])
    # free-form option maps take any key, new tasks and sections may be added
    config = load_config(path, ["tasks.ner.args.any_flag=3", "tasks.pos.script=run_pos.py", "xsr.enabled=false"])
    assert config.tasks["ner"].args == {"any_flag": 3} and config.tasks["pos"].script == "run_pos.py"
    assert config.xsr is not None and not config.xsr.enabled


def test_reproduce_refuses_a_misspelt_set_path_with_one_line():
    command = [sys.executable, "reproduce.py", "--config", "configs/paper.json", "--dry_run"]
    result = subprocess.run(
        [*command, "--set", "tasks.ner.argz.max_steps=3"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: configs/paper.json: --set tasks.ner.argz.max_steps=3: unknown key tasks.ner.argz")


def test_the_shipped_configs_load_and_keep_the_manifest_format():
    paper = load_config(CONFIGS / "paper.json")
    assert paper.as_dict() == json.loads((CONFIGS / "paper.json").read_text())  # the manifest's "config" entry
    assert paper.xsr is not None and paper.tasks["qa"].eval_flag == "--eval_sets"
    counts = {name: len(build_steps(load_config(CONFIGS / f"{name}.json"))) for name in ("paper", "methods")}
    assert counts == {"paper": 165, "methods": 690}
    data_size = load_config(CONFIGS / "data_size.json", output_dir="elsewhere")
    assert data_size.as_dict()["output_dir"] == "elsewhere" and "extends" not in data_size.as_dict()
    assert data_size.as_dict()["adjust"] == paper.as_dict()["adjust"]
    bare = load_config(CONFIGS / "paper.json", ["xsr=null"])  # no XSR section: no XSR steps, as before
    assert bare.xsr is None and not any(step.key["task"] == "xsr" for step in build_steps(bare))


def test_a_tree_built_in_code_gives_its_keys():
    config = StudyConfig(model_name_or_path="m", seeds=[4])
    assert config.as_dict()["seeds"] == [4] and config.as_dict()["adjust"] == {"args": {}, "seeds": None}
    assert study_config.build_config(config.as_dict()) == config


def test_every_config_key_is_documented():
    def sections(cls: type) -> list[type]:
        found = [cls]
        kinds = typing.get_type_hints(cls)
        for name in study_config.schema_fields(cls):
            for inner in (kinds[name], *typing.get_args(kinds[name])):
                if dataclasses.is_dataclass(inner) and inner not in found:
                    found += sections(inner)
        return found

    for cls in sections(StudyConfig):
        for name, spec in study_config.schema_fields(cls).items():
            assert spec.metadata.get("doc"), f"{cls.__name__}.{name} has no doc"
