"""The writers every file goes through (xladjust.io): whole or not at all, strict JSON, the usual permissions."""

from __future__ import annotations

import csv
import json
import math
import os
import stat

import pytest

from xladjust import io


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    io.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), io.atomic_path(path) as temporary:
        temporary.write_text('{"a": 2, "half')
        raise RuntimeError("killed while writing")
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_json_is_strict_and_jsonl_keeps_the_record_order(tmp_path):
    io.write_json(tmp_path / "a.json", {"b": [math.nan, 1.0], "a": {"x": math.inf}})
    assert (
        tmp_path / "a.json"
    ).read_text() == '{\n  "a": {\n    "x": null\n  },\n  "b": [\n    null,\n    1.0\n  ]\n}\n'
    io.write_jsonl(tmp_path / "p" / "r.jsonl", [{"z": 1, "a": "é"}, {"z": -math.inf}])  # the folder is made too
    assert (tmp_path / "p" / "r.jsonl").read_text(encoding="utf-8") == '{"z": 1, "a": "é"}\n{"z": null}\n'


def test_csv_rows_by_name_or_in_order(tmp_path):
    io.write_csv(tmp_path / "t.csv", [{"b": 2, "a": "x,y"}, ["z", 3]], ["a", "b"])
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["a", "b"], ["x,y", "2"], ["z", "3"]]


def test_a_written_file_has_the_permissions_open_would_give_it(tmp_path):
    previous = os.umask(0o022)
    try:
        io.write_text(tmp_path / "report.md", "# Results\n")
        with open(tmp_path / "plain.md", "w", encoding="utf-8") as handle:  # the reference: a plain open()
            handle.write("# Results\n")
        with io.open_atomic(tmp_path / "model.bin") as handle:
            handle.write(b"\0")
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "plain.md").stat().st_mode)
    assert expected == 0o644
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "model.bin").stat().st_mode) == expected
