"""Word vectors from subword vectors, for a whole padded batch at once (no loop over words or tokens)."""

from __future__ import annotations

import torch

POOLING_MODES = ("avg", "first", "last")


def pool_words(hidden: torch.Tensor, word_index: torch.Tensor, num_words: int, mode: str = "avg") -> torch.Tensor:
    """Pool token vectors ``hidden`` (B, T, H) into word vectors (num_words, H).

    ``word_index`` (B, T) numbers the words of the whole batch from 0 to ``num_words - 1``; tokens marked -1
    (padding, unmapped) are ignored. ``avg`` is the mean of a word's subwords, ``first``/``last`` its first or
    last subword.
    """
    if mode not in POOLING_MODES:
        raise ValueError(f"unknown word pooling {mode!r}; expected one of {POOLING_MODES}")
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    flat_index = word_index.reshape(-1)
    # Unmapped tokens go to an extra bucket that is cut off, which avoids a data-dependent (syncing) selection.
    bucket = torch.where(flat_index >= 0, flat_index, num_words)
    if mode == "avg":
        sums = flat_hidden.new_zeros(num_words + 1, flat_hidden.shape[-1]).index_add_(0, bucket, flat_hidden)
        counts = torch.bincount(bucket, minlength=num_words + 1).clamp_(min=1)
        return (sums / counts.unsqueeze(1).to(sums.dtype))[:num_words]
    positions = torch.arange(flat_index.numel(), device=flat_index.device)
    reduce = "amin" if mode == "first" else "amax"
    chosen = torch.zeros(num_words + 1, dtype=torch.long, device=flat_index.device)
    chosen.scatter_reduce_(0, bucket, positions, reduce=reduce, include_self=False)
    return flat_hidden[chosen[:num_words]]
