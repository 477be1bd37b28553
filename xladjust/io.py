"""Every file xladjust writes goes through here: whole or not at all, and strict where it is JSON.

Each writer puts its content into a temporary file beside the target and renames it into place (atomic on POSIX),
so a reader (a rerun, the study runner, run_report.py) never sees half a file, and a killed process leaves either
the old file or the new one. JSON is strict: NaN and infinities become ``null`` at any depth.

- :func:`write_text`, :func:`write_bytes`: plain content;
- :func:`write_json`: indented, keys sorted (results, records, configs);
- :func:`write_jsonl`: one compact object per line (predictions, per-query files);
- :func:`write_csv`: a header and one row per mapping;
- :func:`atomic_path`: for a library that writes by itself (``figure.savefig``, ``save_file``): write to the
  temporary path it yields, and it is renamed into place when the block ends without an error;
- :func:`open_atomic`: a binary file handle for content streamed in pieces (too large to hold at once).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO


def strict(value: Any) -> Any:
    """``value`` with NaN and ±inf replaced by None (at any depth), so that it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return value


@contextlib.contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block succeeds."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        yield Path(temporary)
        # mkstemp makes the file private (0600); the result gets the permissions a plain open() would give it.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def open_atomic(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle to stream into; the file appears at ``path`` only when the block ends without an error."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        yield handle


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) whole, or not at all."""
    write_bytes(path, text.encode("utf-8"))


def write_lines(path: str | Path, lines: Iterable[str]) -> None:
    """One line per item, each ended by a newline."""
    write_text(path, "".join(f"{line}\n" for line in lines))


def json_text(payload: Any, *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """Strict JSON of ``payload`` (NaN/inf → null), non-ASCII kept as it is."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(
        strict(payload), indent=indent, ensure_ascii=False, sort_keys=sort_keys, allow_nan=False, separators=separators
    )


def write_json(path: str | Path, payload: Any, *, sort_keys: bool = True) -> None:
    """Strict JSON, indented, keys sorted (unless ``sort_keys=False``), ending with a newline."""
    write_text(path, json_text(payload, sort_keys=sort_keys) + "\n")


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """One strict JSON object per line, keys in the records' own order."""
    write_text(path, "".join(json.dumps(strict(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records))


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any] | Sequence[Any]], fieldnames: Sequence[str]) -> None:
    """A header of ``fieldnames``, then one line per row (a mapping by field name, or a sequence in their order)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(fieldnames)
    for row in rows:
        writer.writerow([row.get(name, "") for name in fieldnames] if isinstance(row, Mapping) else list(row))
    write_text(path, buffer.getvalue())
