"""Dynamic padding of aligned pairs, turning per-sentence word numbers into batch-wide ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def _pad(rows: list[list[int]], value: int, multiple: int | None) -> np.ndarray:
    length = max(len(r) for r in rows)
    if multiple:
        length = -(-length // multiple) * multiple
    out = np.full((len(rows), length), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@dataclass
class AlignedPairCollator:
    """Pads both sides to the longest sentence of the batch and offsets word numbers and links.

    Output: ``{tgt,en}_input_ids``, ``{tgt,en}_attention_mask``, ``{tgt,en}_word_index`` (batch-wide word numbers,
    -1 elsewhere), ``{tgt,en}_num_words`` (python ints: the pooled table sizes), ``link_tgt``/``link_en``/
    ``link_pair`` (one entry per link), ``en_word_pair`` (the pair of each English word) and ``language_id``.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        offsets = {}
        for side in ("tgt", "en"):
            counts = np.array([f[f"{side}_num_words"] for f in features], dtype=np.int64)
            offsets[side] = np.concatenate([[0], np.cumsum(counts)[:-1]])
            ids = _pad([f[f"{side}_input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of)
            index = _pad([f[f"{side}_word_index"] for f in features], -1, self.pad_to_multiple_of)
            index = np.where(index >= 0, index + offsets[side][:, None], -1)
            mask = _pad([[1] * len(f[f"{side}_input_ids"]) for f in features], 0, self.pad_to_multiple_of)
            batch[f"{side}_input_ids"] = torch.from_numpy(ids)
            batch[f"{side}_attention_mask"] = torch.from_numpy(mask)
            batch[f"{side}_word_index"] = torch.from_numpy(index)
            batch[f"{side}_num_words"] = int(counts.sum())
            if side == "en":
                batch["en_word_pair"] = torch.from_numpy(np.repeat(np.arange(len(features)), counts))
        link_counts = np.array([len(f["link_tgt"]) for f in features], dtype=np.int64)
        link_pair = np.repeat(np.arange(len(features)), link_counts)
        link_tgt = np.concatenate([np.asarray(f["link_tgt"], dtype=np.int64) for f in features])
        link_en = np.concatenate([np.asarray(f["link_en"], dtype=np.int64) for f in features])
        batch["link_tgt"] = torch.from_numpy(link_tgt + offsets["tgt"][link_pair])
        batch["link_en"] = torch.from_numpy(link_en + offsets["en"][link_pair])
        batch["link_pair"] = torch.from_numpy(link_pair)
        batch["language_id"] = torch.tensor([f.get("language_id", 0) for f in features], dtype=torch.long)
        return batch
