"""Tokenised windows ("features") of extractive-QA examples, for training and for evaluation.

Each example becomes one or more features: the question, then a window of the context (``truncation=
"only_second"``); consecutive windows overlap by ``doc_stride`` tokens. Both functions take a batch of examples
(columns as produced by :mod:`xladjust.tasks.qa.data`) and are meant for ``Dataset.map(batched=True,
remove_columns=examples.column_names)``. Any fast tokenizer works, with or without ``token_type_ids``, padded on
either side. Questions are left-stripped, and cut (with a warning) when they are so long that a window would hold
no more than ``doc_stride`` context tokens.

Training features carry ``start_positions``/``end_positions`` (the CLS position when the window does not hold the
whole answer) and two bookkeeping columns, ``example_id`` and ``answer_status``, from which
:func:`train_window_stats` counts the examples whose answer no window contains; the script logs that and then drops
``TRAIN_BOOKKEEPING_COLUMNS`` before training. Counting from the mapped dataset, rather than from a side channel
inside the map function, stays right with ``num_proc > 1`` and with cached maps.

Evaluation features carry ``example_id`` and ``offset_mapping`` with ``None`` for every token outside the context
(question, special and padding tokens), as :mod:`xladjust.tasks.qa.postprocessing` expects.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.data.text import check_fast_tokenizer

logger = logging.getLogger(__name__)

ANSWER_IN_WINDOW = 1
ANSWER_OUTSIDE_WINDOW = 0
NO_ANSWER = -1  # the example has no answer at all (SQuAD 2.0 style)

TRAIN_BOOKKEEPING_COLUMNS = ("example_id", "window_index", "answer_status")
"""Columns of the training features that the model does not take; drop them after :func:`train_window_stats`."""


def _tokenize(examples: Mapping[str, Sequence[Any]], tokenizer, max_length: int, doc_stride: int, padding):
    check_fast_tokenizer(tokenizer, "offset mapping to find the answers in the contexts")
    if doc_stride >= max_length:
        raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_length ({max_length})")
    # Leading spaces in questions (frequent in SQuAD-style data) would become empty tokens and waste the window.
    questions = _fit_questions(
        [question.lstrip() for question in examples["question"]], tokenizer, max_length, doc_stride
    )
    return tokenizer(
        questions,
        list(examples["context"]),
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=padding,
    )


def _fit_questions(questions: list[str], tokenizer, max_length: int, doc_stride: int) -> list[str]:
    """Cut questions so that every window keeps more than ``doc_stride`` context tokens.

    Without room for the context to advance, the tokenizer cannot make overlapping windows (it panics); the original
    BERT SQuAD code capped questions the same way (``max_query_length``).
    """
    limit = max_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride - 1
    if limit < 1:
        raise ValueError(f"max_length {max_length} leaves no room for question and context (doc_stride {doc_stride})")
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    fitted = list(questions)
    for index, offsets in enumerate(encoded["offset_mapping"]):
        if len(offsets) > limit:
            fitted[index] = questions[index][: offsets[limit - 1][1]]
            logger.warning("Question cut to %d tokens to fit max_length %d: %r", limit, max_length, questions[index])
    return fitted


def _context_mask(encoding, index: int) -> np.ndarray:
    # sequence_ids holds None for special/padding tokens; as floats they become NaN and compare unequal to 1.
    return np.array(encoding.sequence_ids(index), dtype=float) == 1


def composes(tokenizer) -> bool:
    """Whether the tokenizer's normaliser folds a combining mark into its letter (NFC, NFKC: DeBERTa-v3's, XLM-R's;
    or drops it, as accent stripping does): then the mark has no offsets of its own. Other tokenizers (mBERT's
    cased WordPiece, byte-level BPE) keep every character's own offsets."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    return normalizer is not None and "\u0301" not in normalizer.normalize_str("e\u0301")


def _whole_characters(offsets: np.ndarray, in_context: np.ndarray, context: str, composing: bool) -> np.ndarray:
    """The context tokens' offsets with their ends moved past the combining marks that follow them.

    A normaliser that composes characters (``composing``: NFC, NFKC) gives a composed character the offsets of its
    base letter alone: in decomposed (NFD) text a token would end before the accents of its last letter, an answer
    would be read back as "co" for "có", and one at the end of a window would not be found in it. Other tokenizers'
    offsets are left as they are (a Devanagari vowel sign may be a token of its own there).
    """
    if not composing or unicodedata.is_normalized("NFC", context):  # the offsets are whole characters
        return offsets
    character_starts = [i for i, c in enumerate(context) if not unicodedata.category(c).startswith("M")]
    character_starts = np.array([*character_starts, len(context)], dtype=np.int64)
    whole = offsets.copy()
    whole[in_context, 1] = character_starts[np.searchsorted(character_starts, offsets[in_context, 1])]
    return whole


def _cls_index(input_ids: Sequence[int], tokenizer) -> int:
    cls_id = tokenizer.cls_token_id
    if cls_id is None:
        cls_id = tokenizer.bos_token_id
    if cls_id is not None:
        positions = np.flatnonzero(np.asarray(input_ids) == cls_id)
        if positions.size:
            return int(positions[0])  # not 0 when the tokenizer pads on the left
    return 0


def answer_token_span(
    offsets: np.ndarray, context_mask: np.ndarray, start_char: int, end_char: int
) -> tuple[int, int] | None:
    """Token indices ``(start, end)`` (inclusive) of the answer characters ``[start_char, end_char)`` in one window.

    ``offsets`` is the window's ``(n_tokens, 2)`` character offsets, ``context_mask`` marks its context tokens.
    Returns None when the window does not contain the whole answer.
    """
    context_tokens = np.flatnonzero(context_mask)
    if context_tokens.size == 0:
        return None
    starts = offsets[context_tokens, 0]
    ends = offsets[context_tokens, 1]
    if starts[0] > start_char or ends[-1] < end_char:
        return None
    # First token ending after the answer's first character, last token starting before its end: an answer that
    # begins or ends inside a word still maps to the tokens covering it, and surrounding spaces are skipped.
    first = int(np.searchsorted(ends, start_char, side="right"))
    last = int(np.searchsorted(starts, end_char, side="left")) - 1
    if first > last:
        return None
    return int(context_tokens[first]), int(context_tokens[last])


def prepare_train_features(
    examples: Mapping[str, Sequence[Any]],
    tokenizer,
    max_length: int = 384,
    doc_stride: int = 128,
    padding: bool | str = "max_length",
) -> dict[str, list]:
    """Training windows with start/end token positions of the (first) answer; see the module docstring."""
    encoding = _tokenize(examples, tokenizer, max_length, doc_stride, padding)
    composing = composes(tokenizer)
    sample_of_feature = encoding.pop("overflow_to_sample_mapping")
    offset_mapping = encoding.pop("offset_mapping")
    start_positions, end_positions, example_ids, statuses, window_indices = [], [], [], [], []
    for index, sample in enumerate(sample_of_feature):
        # Windows of one example are consecutive; counting them (rather than grouping by id) keeps examples apart
        # when training files reuse question ids.
        window_indices.append(window_indices[-1] + 1 if index and sample_of_feature[index - 1] == sample else 0)
        answers = examples["answers"][sample]
        cls_index = _cls_index(encoding["input_ids"][index], tokenizer)
        span = None
        if answers["answer_start"]:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            offsets = np.asarray(offset_mapping[index], dtype=np.int64).reshape(-1, 2)
            in_context = _context_mask(encoding, index)
            offsets = _whole_characters(offsets, in_context, examples["context"][sample], composing)
            span = answer_token_span(offsets, in_context, start_char, end_char)
            statuses.append(ANSWER_OUTSIDE_WINDOW if span is None else ANSWER_IN_WINDOW)
        else:
            statuses.append(NO_ANSWER)
        start, end = span if span is not None else (cls_index, cls_index)
        start_positions.append(start)
        end_positions.append(end)
        example_ids.append(examples["id"][sample])
    features = dict(encoding)
    features["start_positions"] = start_positions
    features["end_positions"] = end_positions
    features["example_id"] = example_ids
    features["window_index"] = window_indices
    features["answer_status"] = statuses
    return features


def prepare_eval_features(
    examples: Mapping[str, Sequence[Any]],
    tokenizer,
    max_length: int = 384,
    doc_stride: int = 128,
    padding: bool | str = "max_length",
) -> dict[str, list]:
    """Evaluation windows with ``example_id`` and context-only ``offset_mapping`` (None elsewhere)."""
    encoding = _tokenize(examples, tokenizer, max_length, doc_stride, padding)
    composing = composes(tokenizer)
    sample_of_feature = encoding.pop("overflow_to_sample_mapping")
    offset_mapping = encoding.pop("offset_mapping")
    example_ids, context_offsets = [], []
    for index, sample in enumerate(sample_of_feature):
        in_context = _context_mask(encoding, index)
        offsets = np.asarray(offset_mapping[index], dtype=np.int64).reshape(-1, 2)
        offsets = _whole_characters(offsets, in_context, examples["context"][sample], composing).tolist()
        context_offsets.append(
            [pair if keep else None for pair, keep in zip(offsets, in_context.tolist(), strict=True)]
        )
        example_ids.append(examples["id"][sample])
    features = dict(encoding)
    features["example_id"] = example_ids
    features["offset_mapping"] = context_offsets
    return features


@dataclass(frozen=True)
class TrainWindowStats:
    """How many training examples kept their answer in at least one window."""

    examples: int
    features: int
    examples_without_answer_window: int  # answerable, but no window contains the whole answer
    unanswerable_examples: int

    def summary(self) -> str:
        return (
            f"{self.examples_without_answer_window} of {self.examples} training examples have no window containing "
            f"the answer (trained as no-answer at the CLS token); {self.features} features"
        )


def train_window_stats(features: Mapping[str, Sequence[Any]]) -> TrainWindowStats:
    """Count, from mapped training features (a ``Dataset`` or column dict), examples whose answer every window lost.

    Examples are told apart by their first window (``window_index`` 0), not by id, which training data may reuse.
    """
    statuses = np.asarray(list(features["answer_status"]), dtype=np.int64)
    example_index = np.cumsum(np.asarray(list(features["window_index"]), dtype=np.int64) == 0) - 1
    n_examples = int(example_index.max()) + 1 if example_index.size else 0
    # Per example: the best status over its windows (1 if any window holds the answer).
    best = np.full(n_examples, NO_ANSWER - 1, dtype=np.int64)
    np.maximum.at(best, example_index, statuses)
    return TrainWindowStats(
        examples=n_examples,
        features=len(statuses),
        examples_without_answer_window=int(np.sum(best == ANSWER_OUTSIDE_WINDOW)),
        unanswerable_examples=int(np.sum(best == NO_ANSWER)),
    )
