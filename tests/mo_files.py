"""A tiny GNU .mo writer for tests: catalogs are generated in tmp dirs, never committed."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

MO_MAGIC = 0x950412DE


def context(ctxt: str, msgid: str) -> str:
    """The msgid of a context entry (``msgctxt`` + ``msgid``)."""
    return f"{ctxt}\x04{msgid}"


def plural(*parts: str) -> str:
    """A plural msgid (``singular, plural``) or msgstr (every form)."""
    return "\x00".join(parts)


def header(charset: str = "UTF-8", plural_forms: str = "nplurals=2; plural=(n != 1);") -> str:
    return (
        "Project-Id-Version: xladjust-test 1.0\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\n"
        "Content-Transfer-Encoding: 8bit\n"
        f"Plural-Forms: {plural_forms}\n"
    )


def write_mo(
    path: str | Path,
    messages: Iterable[tuple[str, str]],
    charset: str = "UTF-8",
    plural_forms: str = "nplurals=2; plural=(n != 1);",
    byte_order: str = "<",
) -> Path:
    """Write ``(msgid, msgstr)`` pairs (raw: ``\\x04`` context, ``\\x00`` plural parts) plus the header entry."""
    entries = {"": header(charset, plural_forms)}
    entries.update(messages)
    encoded = sorted((msgid.encode(charset), msgstr.encode(charset)) for msgid, msgstr in entries.items())
    count = len(encoded)
    originals, translations = 28, 28 + 8 * count
    offset = 28 + 16 * count  # strings follow both tables; no hash table
    ids, strs, blob = [], [], b""
    for table, index in ((ids, 0), (strs, 1)):
        for pair in encoded:
            table.append((len(pair[index]), offset + len(blob)))
            blob += pair[index] + b"\x00"
    data = struct.pack(f"{byte_order}7I", MO_MAGIC, 0, count, originals, translations, 0, offset)
    data += b"".join(struct.pack(f"{byte_order}2I", *item) for item in ids + strs) + blob
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
