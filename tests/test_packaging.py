"""The package metadata and requirements.txt name the same dependencies (the Makefile installs from the latter)."""

from __future__ import annotations

import tomllib

from tests.launch import ROOT


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_pyproject_declares_the_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dependencies"] == requirement_lines("requirements.txt")
    assert project["optional-dependencies"]["dev"] == requirement_lines("requirements-dev.txt")
