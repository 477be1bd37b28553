"""Reading the task files: JSON records (JSON lines or an array) and csv/tsv rows, each with its line number.

Every error names the file and the line (or the record number of a JSON array), as :class:`InputError` does.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from xladjust.errors import InputError

_FILE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".json": "json", ".jsonl": "json"}
"""File suffix → format; MultiNLI ships its tsv files as .txt."""


def iter_json_records(path: str | Path) -> Iterator[tuple[int | None, int, dict[str, Any]]]:
    """Yield ``(line, record_number, record)`` from JSON lines, or from a JSON array (line is then None).

    ``.json`` files may be either, as for ``datasets``' json loader: an array when the first character
    is ``[``. Records are numbered from 1.
    """
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", path, e.lineno) from None
        for number, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise InputError(f"record {number}: expected a JSON object, found {type(record).__name__}", path)
            yield None, number, record
        return
    number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", path, line_number) from None
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, found {type(record).__name__}", path, line_number)
        number += 1
        yield line_number, number, record


def csv_reader(f: Any, fmt: str, quoted: bool = False) -> Any:
    """A csv reader of ``fmt``. tsv fields are never quoted (XNLI, MultiNLI and PAWS-X sentences contain unbalanced
    quotes), unless ``quoted``: tsv files written by pandas (SIB-200, Belebele's training set) quote a field holding
    a quote, a tab or a line break, doubling its quotes."""
    if fmt == "tsv":
        return csv.reader(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
    return csv.reader(f)


def read_header(path: str | Path, fmt: str, quoted: bool = False) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [name.strip() for name in next(csv_reader(f, fmt, quoted), [])]


def iter_delimited(path: str | Path, fmt: str, quoted: bool = False) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` of a csv/tsv file with a header line; the header is line 1 (``quoted``: see
    :func:`csv_reader`).

    For a quoted field spanning lines, the line is the one where the row ends.
    """
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv_reader(f, fmt, quoted)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise InputError("empty file, expected a header line", path, 1)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise InputError(
                    f"expected {len(header)} fields as in the header, found {len(row)}", path, reader.line_num
                )
            yield reader.line_num, dict(zip(header, row, strict=True))


def check_columns(path: str | Path, columns: Sequence[str], required: Sequence[str], line: int | None) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; found: {', '.join(columns) or 'none'}", path, line
        )


def file_format(path: str | Path, fmt: str | None = None) -> str:
    """``csv``, ``tsv`` or ``json`` from ``fmt`` or the file suffix."""
    fmt = fmt or _FILE_FORMATS.get(Path(path).suffix.lower())
    if fmt not in ("csv", "tsv", "json"):
        raise InputError(f"cannot tell the format from the suffix; use one of {', '.join(_FILE_FORMATS)}", path)
    return fmt


def iter_records(path: str | Path, fmt: str, quoted: bool = False) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
    """Yield ``(line, where, record)`` of a json/jsonl/csv/tsv file (``fmt`` from :func:`file_format`): ``where`` is
    ``"record N: "`` for the records of a JSON array (they have no line), else empty."""
    if fmt == "json":
        for line, number, record in iter_json_records(path):
            yield line, "" if line is not None else f"record {number}: ", record
        return
    for line, row in iter_delimited(path, fmt, quoted):
        yield line, "", row
