"""SimAlign-style word alignment from a multilingual encoder's vectors (Jalili Sabet et al. 2020).

For languages where a statistical aligner has too little data: the cosine similarities between the contextual
vectors of the two sentences (of the *original* encoder, hidden layer 8 by default, as SimAlign recommends for
mBERT and XLM-R) are turned into links by

- ``argmax``: links whose two tokens are each other's most similar token (the intersection of both directions);
- ``itermax``: argmax, then one more round (SimAlign's default ``max_count=2``) over the similarities re-weighted
  towards still-unaligned tokens (× 0.9 where one of the two is aligned, × 0 where both are), keeping mutual
  maxima that cover an unaligned token; pairs with a sentence of two tokens or fewer stop after argmax.

Similarities are SimAlign's ``(cos + 1) / 2``. At ``subword`` level (SimAlign's default) tokens are subwords and
two words are linked when any of their subwords are; at ``word`` level tokens are the mean of a word's subwords.
Everything runs on padded batches of pairs with masks; no loop over words or tokens. The ``simalign`` package
itself aligns one pair at a time with numpy and loads its own model by name, so it is not used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from xladjust.data.dictionary_alignment import DictionaryAligner, dictionary_paths
from xladjust.data.text import check_fast_tokenizer, tokenize_words
from xladjust.errors import InputError
from xladjust.run_folder import input_identity

logger = logging.getLogger(__name__)

Link = tuple[int, int]

SIMALIGN_ALPHA = 0.9


def _mutual_argmax(similarity: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, m, n) bool: entries that are the maximum of their row and of their column among the valid entries."""
    masked = similarity.masked_fill(~valid, float("-inf"))
    m, n = similarity.shape[1:]
    forward = F.one_hot(masked.argmax(2), n).bool()  # torch.argmax returns the first maximum, as numpy
    backward = F.one_hot(masked.argmax(1), m).bool().transpose(1, 2)
    return forward & backward & valid


def argmax_links(similarity: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Mutual argmax of a batch of similarity matrices (B, m, n); ``rows`` (B, m) / ``columns`` (B, n) mark real
    tokens (the rest is padding)."""
    return _mutual_argmax(similarity, rows[:, :, None] & columns[:, None, :])


def itermax_links(similarity: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """SimAlign's itermax (``max_count=2``, alpha 0.9) for a batch; same arguments as :func:`argmax_links`."""
    valid = rows[:, :, None] & columns[:, None, :]
    links = _mutual_argmax(similarity, valid)
    row_free = ~links.any(2) & rows
    column_free = ~links.any(1) & columns
    free_x = row_free[:, :, None].to(similarity.dtype)
    free_y = column_free[:, None, :].to(similarity.dtype)
    weights = (SIMALIGN_ALPHA * free_x + SIMALIGN_ALPHA * free_y).clamp(0.0, 1.0)
    # SimAlign stops when no row or no column is left unaligned, and skips the round for sentences of <= 2 tokens.
    more = row_free.any(1) & column_free.any(1) & (torch.minimum(rows.sum(1), columns.sum(1)) > 2)
    new = _mutual_argmax(similarity * weights, valid) & ((free_x + free_y) > 0) & more[:, None, None]
    return links | new


def pairwise_similarity(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SimAlign's similarity ``(cos + 1) / 2`` between every source and target vector of each pair: (B, m, n)."""
    return (F.normalize(source.float(), dim=-1) @ F.normalize(target.float(), dim=-1).transpose(1, 2) + 1.0) / 2.0


MATCHINGS = {"argmax": argmax_links, "itermax": itermax_links}


class SimAligner:
    """Aligns word-tokenised pairs with SimAlign's matching on an encoder's hidden states.

    The model is loaded on the first call (a cached alignment never loads it). ``settings()`` is what the cache
    of :func:`xladjust.data.parallel.align_pairs` is keyed on.
    """

    name = "simalign"

    def __init__(
        self,
        model_name_or_path: str,
        *,
        tokenizer_name: str | None = None,
        layer: int = 8,
        method: str = "itermax",
        level: str = "subword",
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        model_kwargs: dict[str, Any] | None = None,
    ):
        if method not in MATCHINGS:
            raise InputError(f"unknown SimAlign method {method!r}; expected one of {list(MATCHINGS)}")
        if level not in ("subword", "word"):
            raise InputError(f"unknown SimAlign level {level!r}; expected 'subword' or 'word'")
        self.model_name_or_path = model_name_or_path
        self.tokenizer_name = tokenizer_name or model_name_or_path
        self.layer, self.method, self.level, self.batch_size = layer, method, level, batch_size
        self.device = torch.device(device)
        self.model_kwargs = model_kwargs or {}
        self._model = self._tokenizer = None

    def settings(self) -> dict[str, Any]:
        return {
            "aligner": self.name,
            "model": input_identity(self.model_name_or_path),
            "layer": self.layer,
            "method": self.method,
            "level": self.level,
        }

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        try:  # a missing folder, a Hub id offline: the user's to fix, not a traceback
            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_name, **self.model_kwargs)
            check_fast_tokenizer(self._tokenizer)
            model = AutoModel.from_pretrained(self.model_name_or_path, **self.model_kwargs)
        except OSError as error:
            message = str(error).strip().splitlines()[0]
            raise InputError(f"SimAlign cannot load its encoder: {message}", self.model_name_or_path) from None
        self._model = model.to(self.device).eval()
        count = self._model.config.num_hidden_layers
        if not -(count + 1) <= self.layer <= count:
            raise InputError(f"--simalign_layer {self.layer} does not exist: the encoder has hidden states 0..{count}")

    def _encode(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token vectors (B, T, H) of ``self.layer`` and each token's word (B, T; -1: special token, padding)."""
        tokenizer = self._tokenizer
        max_length = min(int(tokenizer.model_max_length), 512)
        encoding = tokenize_words(
            tokenizer,
            sentences,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        word_ids = [[-1 if w is None else w for w in encoding.word_ids(row)] for row in range(len(sentences))]
        with torch.no_grad():
            outputs = self._model(
                input_ids=encoding["input_ids"].to(self.device),
                attention_mask=encoding["attention_mask"].to(self.device),
                output_hidden_states=True,
            )
        return outputs.hidden_states[self.layer], torch.tensor(word_ids, device=self.device)

    def _side(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Vectors to compare (B, N, H), which of them are real (B, N) and the token → word one-hot map (B, N, W)."""
        hidden, words = self._encode(sentences)
        num_words = max(len(s) for s in sentences)
        one_hot = F.one_hot(words.clamp(min=0), num_words).to(hidden.dtype) * (words >= 0)[:, :, None]
        if self.level == "subword":
            return hidden, words >= 0, one_hot
        counts = one_hot.sum(1)  # (B, W): subwords per word; 0 for words truncated or tokenised to nothing
        vectors = one_hot.transpose(1, 2) @ hidden / counts.clamp(min=1)[:, :, None]
        identity = torch.eye(num_words, device=hidden.device, dtype=hidden.dtype).expand(len(sentences), -1, -1)
        return vectors, counts > 0, identity

    def align_batch(self, targets: Sequence[Sequence[str]], englishes: Sequence[Sequence[str]]) -> list[list[Link]]:
        if self._model is None:
            self._load()
        target_vectors, target_real, target_words = self._side(targets)
        english_vectors, english_real, english_words = self._side(englishes)
        similarity = pairwise_similarity(target_vectors, english_vectors)
        token_links = MATCHINGS[self.method](similarity, target_real, english_real).to(similarity.dtype)
        # Words are linked when any of their tokens are: W_tgtᵀ · L · W_en > 0.
        word_links = target_words.float().transpose(1, 2) @ token_links @ english_words.float() > 0
        pair, i, j = (column.tolist() for column in word_links.nonzero(as_tuple=True))
        links: list[list[Link]] = [[] for _ in targets]
        for p, a, b in zip(pair, i, j, strict=True):
            links[p].append((a, b))
        return links

    def align(self, targets: Sequence[Sequence[str]], englishes: Sequence[Sequence[str]]) -> list[list[Link]]:
        """Sorted links ``(target_index, english_index)`` per pair; pairs are batched by length to pad little."""
        if len(targets) != len(englishes):
            raise InputError(f"{len(targets)} target sentences but {len(englishes)} English ones; expected pairs")
        started = time.perf_counter()
        order = np.argsort([max(len(t), len(e)) for t, e in zip(targets, englishes, strict=True)], kind="stable")
        result: list[list[Link]] = [[] for _ in targets]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            aligned = self.align_batch([targets[i] for i in chunk], [englishes[i] for i in chunk])
            for index, links in zip(chunk, aligned, strict=True):
                result[index] = sorted(links)
        logger.info(
            "simalign (%s, %s level, layer %d): %d links for %d pairs in %.1f s",
            self.method,
            self.level,
            self.layer,
            sum(map(len, result)),
            len(result),
            time.perf_counter() - started,
        )
        return result


def build_aligner(
    data_args: Any, model_args: Any, device: str | torch.device
) -> SimAligner | dict[str, DictionaryAligner] | None:
    """The aligner ``--aligner`` asks for: None for eflomal (the default path), a :class:`SimAligner` over the
    original encoder (``--model_name_or_path``) for ``simalign``, one :class:`DictionaryAligner` per language of
    ``--dictionary_files`` for ``dictionary`` (the files read and checked now)."""
    aligner = getattr(data_args, "aligner", "eflomal")
    if aligner == "dictionary":
        paths = dictionary_paths(data_args.dictionary_files, data_args.languages)
        return {language: DictionaryAligner(path, language) for language, path in paths.items()}
    if aligner != "simalign":
        return None
    return SimAligner(
        model_args.model_name_or_path,
        tokenizer_name=model_args.tokenizer_name,
        layer=data_args.simalign_layer,
        method=data_args.simalign_method,
        level=data_args.simalign_level,
        device=device,
        model_kwargs={
            "cache_dir": model_args.cache_dir,
            "revision": model_args.model_revision,
            "token": model_args.token,
        },
    )
