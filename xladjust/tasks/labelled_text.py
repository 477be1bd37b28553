"""Datasets of labelled texts (PAWS-X pairs, SIB-200 sentences): one builder, one label parser and one set of
counts, so that every reader of these tasks returns the same columns and says the same about what it dropped."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class TextLoadStats:
    """What a reader read and dropped (``dropped``: reason → rows), for the log and the results."""

    source: str
    language: str
    rows_read: int = 0
    examples: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "dropped": dict(self.dropped)}

    def log(self) -> None:
        logger.info("%s [%s]: %d examples of %d rows", self.source, self.language, self.examples, self.rows_read)
        if self.dropped:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items()))
            logger.warning("%s [%s]: %d rows dropped (%s)", self.source, self.language, self.dropped.total(), reasons)


def parse_label(value: Any, names: Sequence[str]) -> int | None:
    """Label id of a name (exact, then case-insensitive) or an id (int or digit string); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value < len(names) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    lowered = [name.lower() for name in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text.isascii() and text.isdigit() and int(text) < len(names):
        return int(text)
    return None


def build_text_dataset(language: str, texts: Mapping[str, list[str]], labels: list[int], names: Sequence[str]) -> Any:
    """A dataset with ``id`` (``{language}-{index}``), the text columns of ``texts`` in order, and ``label``, a
    ``ClassLabel`` over ``names``."""
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features(
        {"id": Value("string"), **{name: Value("string") for name in texts}, "label": ClassLabel(names=list(names))}
    )
    ids = [f"{language}-{i}" for i in range(len(labels))]
    return Dataset.from_dict({"id": ids, **texts, "label": labels}, features=features)
