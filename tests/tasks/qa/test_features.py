"""QA windows on tiny tokenizers built here: answer positions, lost answers, eval offsets, and a round trip."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from xladjust.tasks.qa.data import read_qa_file
from xladjust.tasks.qa.features import (
    ANSWER_IN_WINDOW,
    ANSWER_OUTSIDE_WINDOW,
    TRAIN_BOOKKEEPING_COLUMNS,
    prepare_eval_features,
    prepare_train_features,
    train_window_stats,
)
from xladjust.tasks.qa.metrics import evaluate_predictions, references_from_examples
from xladjust.tasks.qa.postprocessing import postprocess_predictions

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qa"


@pytest.fixture(scope="module")
def train_examples() -> datasets.Dataset:
    return read_qa_file(FIXTURES / "train.en.json")


def _corpus(examples: datasets.Dataset) -> list[str]:
    return list(examples["context"]) + list(examples["question"])


def bert_like(examples: datasets.Dataset, padding_side: str = "right") -> PreTrainedTokenizerFast:
    """WordPiece with [CLS] q [SEP] c [SEP] and token_type_ids; a small vocabulary forces sub-word splits."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokenizer.train_from_iterator(_corpus(examples), trainers.WordPieceTrainer(vocab_size=250, special_tokens=special))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        padding_side=padding_side,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def sentencepiece_like(examples: datasets.Dataset) -> PreTrainedTokenizerFast:
    """BPE over Metaspace with <s> q </s></s> c </s>, no token_type_ids; offsets of "▁word" include the space."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    special = ["<s>", "<pad>", "</s>", "<unk>"]
    tokenizer.train_from_iterator(_corpus(examples), trainers.BpeTrainer(vocab_size=300, special_tokens=special))
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )


TOKENIZERS = {
    "bert": lambda examples: bert_like(examples),
    "bert-left-padded": lambda examples: bert_like(examples, padding_side="left"),
    "sentencepiece": sentencepiece_like,
}


@pytest.fixture(scope="module", params=sorted(TOKENIZERS))
def tokenizer(request, train_examples):
    return TOKENIZERS[request.param](train_examples)


def map_features(examples: datasets.Dataset, function, tokenizer, **kwargs) -> datasets.Dataset:
    return examples.map(
        function,
        batched=True,
        batch_size=7,  # several batches, each with examples of several windows
        remove_columns=examples.column_names,
        fn_kwargs={"tokenizer": tokenizer, **kwargs},
        load_from_cache_file=False,
    )


def test_answer_positions_reproduce_the_answer(tokenizer, train_examples):
    settings = {"max_length": 40, "doc_stride": 12}
    train = map_features(train_examples, prepare_train_features, tokenizer, **settings)
    evaluation = map_features(train_examples, prepare_eval_features, tokenizer, **settings)
    assert len(train) == len(evaluation) > len(train_examples)  # same windows, several per example
    assert set(TRAIN_BOOKKEEPING_COLUMNS) <= set(train.column_names)
    expected_inputs = set(tokenizer.model_input_names)
    assert set(train.column_names) - set(TRAIN_BOOKKEEPING_COLUMNS) == expected_inputs | {
        "start_positions",
        "end_positions",
    }
    assert set(evaluation.column_names) == expected_inputs | {"example_id", "offset_mapping"}

    by_id = {example["id"]: example for example in train_examples}
    in_window = 0
    for feature, eval_feature in zip(train, evaluation, strict=True):
        assert feature["example_id"] == eval_feature["example_id"]
        assert len(feature["input_ids"]) == 40
        example = by_id[feature["example_id"]]
        answer = example["answers"]["text"][0]
        start, end = feature["start_positions"], feature["end_positions"]
        if feature["answer_status"] == ANSWER_IN_WINDOW:
            in_window += 1
            offsets = eval_feature["offset_mapping"]
            assert offsets[start] is not None and offsets[end] is not None
            # The tokens start..end are the smallest cover of the answer characters (BPE may merge "seeds." into
            # one token, so exact reproduction is checked for WordPiece below).
            answer_start = example["answers"]["answer_start"][0]
            answer_end = answer_start + len(answer)
            assert offsets[start][0] <= answer_start < offsets[start][1]
            assert offsets[end][0] < answer_end <= offsets[end][1]
            assert answer in example["context"][offsets[start][0] : offsets[end][1]]
        else:
            assert feature["answer_status"] == ANSWER_OUTSIDE_WINDOW
            cls_index = feature["input_ids"].index(tokenizer.cls_token_id)
            assert start == end == cls_index
            if tokenizer.padding_side == "right":
                assert cls_index == 0
    assert in_window >= len(train_examples)


def test_wordpiece_offsets_reproduce_answers_exactly(train_examples):
    tokenizer = bert_like(train_examples)
    train = map_features(train_examples, prepare_train_features, tokenizer, max_length=48, doc_stride=16)
    evaluation = map_features(train_examples, prepare_eval_features, tokenizer, max_length=48, doc_stride=16)
    contexts = dict(zip(train_examples["id"], train_examples["context"], strict=True))
    answers = dict(zip(train_examples["id"], (a["text"][0] for a in train_examples["answers"]), strict=True))
    for feature, eval_feature in zip(train, evaluation, strict=True):
        if feature["answer_status"] == ANSWER_IN_WINDOW:
            offsets = eval_feature["offset_mapping"]
            span = contexts[feature["example_id"]][
                offsets[feature["start_positions"]][0] : offsets[feature["end_positions"]][1]
            ]
            assert span == answers[feature["example_id"]]


def test_eval_offsets_are_none_outside_the_context(tokenizer, train_examples):
    evaluation = map_features(
        train_examples.select(range(3)), prepare_eval_features, tokenizer, max_length=40, doc_stride=12
    )
    special = set(tokenizer.all_special_ids)
    for feature in evaluation:
        offsets = feature["offset_mapping"]
        in_context = np.array([pair is not None for pair in offsets])
        assert in_context.any()
        context_positions = np.flatnonzero(in_context)
        # One contiguous context block, after the question, without special tokens.
        assert np.all(np.diff(context_positions) == 1)
        assert not special & {feature["input_ids"][i] for i in context_positions}
        question_end = feature["input_ids"].index(tokenizer.sep_token_id)
        assert context_positions[0] > question_end


def test_lost_answers_counted_on_long_context(tokenizer, train_examples):
    context = " ".join(dict.fromkeys(train_examples["context"]))  # the eight paragraphs as one long text
    long_answer = context[: context.index("Today")].strip()  # the whole first paragraph but one sentence
    short_answer = "2,500 visitors"
    examples = datasets.Dataset.from_dict(
        {
            "id": ["long", "short", "lost-too"],
            "title": ["", "", ""],
            "context": [context] * 3,
            "question": ["What is the first story?", "  How many visitors came?", "What is it?"],
            "answers": [
                {"text": [long_answer], "answer_start": [0]},
                {"text": [short_answer], "answer_start": [context.index(short_answer)]},
                {"text": [context[100:400]], "answer_start": [100]},
            ],
        }
    )
    features = map_features(examples, prepare_train_features, tokenizer, max_length=40, doc_stride=12)
    stats = train_window_stats(features)
    assert (stats.examples, stats.examples_without_answer_window, stats.unanswerable_examples) == (3, 2, 0)
    assert stats.features == len(features) > 20
    assert stats.summary().startswith("2 of 3 training examples have no window containing the answer")
    # With room for the whole context nothing is lost.
    roomy = map_features(examples.select([1]), prepare_train_features, tokenizer, max_length=384, doc_stride=128)
    assert train_window_stats(roomy).examples_without_answer_window == 0
    assert train_window_stats(features.remove_columns(["input_ids"])).examples == 3


def test_lost_count_matches_brute_force_on_fixture(tokenizer, train_examples):
    settings = {"max_length": 32, "doc_stride": 6}
    train = map_features(train_examples, prepare_train_features, tokenizer, **settings)
    evaluation = map_features(train_examples, prepare_eval_features, tokenizer, **settings)
    answers = {e["id"]: (e["answers"]["answer_start"][0], len(e["answers"]["text"][0])) for e in train_examples}
    covered = dict.fromkeys(answers, False)
    for feature in evaluation:
        pairs = [pair for pair in feature["offset_mapping"] if pair is not None]
        start, length = answers[feature["example_id"]]
        covered[feature["example_id"]] |= pairs[0][0] <= start and pairs[-1][1] >= start + length
    lost = sum(not value for value in covered.values())
    assert lost > 0
    assert train_window_stats(train).examples_without_answer_window == lost


def test_leading_whitespace_in_questions_is_ignored(tokenizer, train_examples):
    examples = train_examples.select(range(4))
    padded = examples.map(lambda example: {"question": "   \t" + example["question"]})
    plain_features = prepare_eval_features(examples[:], tokenizer, max_length=64, doc_stride=16)
    padded_features = prepare_eval_features(padded[:], tokenizer, max_length=64, doc_stride=16)
    assert padded_features["input_ids"] == plain_features["input_ids"]


def test_unanswerable_examples_and_bad_arguments(train_examples):
    tokenizer = bert_like(train_examples)
    batch = train_examples.select(range(2))[:]
    batch["answers"] = [{"text": [], "answer_start": []}, batch["answers"][1]]
    features = prepare_train_features(batch, tokenizer, max_length=384, doc_stride=128)
    assert features["start_positions"][0] == features["end_positions"][0] == 0
    stats = train_window_stats(features)
    assert (stats.unanswerable_examples, stats.examples_without_answer_window) == (1, 0)
    with pytest.raises(ValueError, match="doc_stride"):
        prepare_train_features(batch, tokenizer, max_length=64, doc_stride=64)


def test_round_trip_oracle_logits_give_gold_answers(tokenizer, train_examples):
    """Logits peaked at the training positions must be decoded back to the gold answers by post-processing."""
    settings = {"max_length": 48, "doc_stride": 16}
    train = map_features(train_examples, prepare_train_features, tokenizer, **settings)
    evaluation = map_features(train_examples, prepare_eval_features, tokenizer, **settings)
    start_logits = np.zeros((len(train), 48))
    end_logits = np.zeros((len(train), 48))
    status = np.asarray(train["answer_status"])
    rows = np.flatnonzero(status == ANSWER_IN_WINDOW)
    start_logits[rows, np.asarray(train["start_positions"])[rows]] = 5.0
    end_logits[rows, np.asarray(train["end_positions"])[rows]] = 5.0
    predictions = postprocess_predictions(train_examples, evaluation, start_logits, end_logits, max_answer_length=30)
    assert set(predictions) == set(train_examples["id"])
    # Examples whose answer no window holds cannot be recovered; all the others must be, exactly.
    recoverable = set(np.asarray(train["example_id"])[rows])
    assert len(recoverable) >= len(train_examples) - 2
    references = {key: value for key, value in references_from_examples(train_examples).items() if key in recoverable}
    result = evaluate_predictions(predictions, references, "en")
    assert result["exact_match"] == 100.0


QUIRK_CONTEXT = (
    "En 1996 el partido obtuvo (118) escaños en el Congreso de los Diputados, y los neoliberales celebraron en "
    "Barcelona."
)
QUIRK_ANSWERS = {  # as MLQA ships them: spans may start or end inside a word; "(118)" is one SentencePiece token
    "glued-punctuation": "118",
    "starts-inside-a-word": "liberales",
    "ends-inside-a-word": "Diputad",
    "inside-on-both-sides": "ngres",
}


def quirk_examples() -> datasets.Dataset:
    ids = list(QUIRK_ANSWERS)
    return datasets.Dataset.from_dict(
        {
            "id": ids,
            "title": [""] * len(ids),
            "context": [QUIRK_CONTEXT] * len(ids),
            "question": ["¿Qué?"] * len(ids),
            "answers": [{"text": [a], "answer_start": [QUIRK_CONTEXT.index(a)]} for a in QUIRK_ANSWERS.values()],
        }
    )


def gluing_sentencepiece() -> PreTrainedTokenizerFast:
    """XLM-R-like BPE over Metaspace whose vocabulary holds whole words, so "▁(118)" and "▁neoliberales" are single
    tokens, as in the real XLM-R vocabulary."""
    return sentencepiece_like(
        datasets.Dataset.from_dict({"context": [QUIRK_CONTEXT] * 50, "question": ["¿Qué?"] * 50})
    )


@pytest.mark.parametrize("which", ["tiny_xlmr", "gluing"])
def test_answers_inside_words_and_glued_punctuation_map_to_covering_tokens(which, request):
    if which == "tiny_xlmr":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue("tiny_xlmr"))
    else:
        tokenizer = gluing_sentencepiece()
        pieces = tokenizer.tokenize(QUIRK_CONTEXT)
        assert "▁(118)" in pieces and "▁neoliberales" in pieces
    examples = quirk_examples()
    settings = {"max_length": 96, "doc_stride": 32}
    train = map_features(examples, prepare_train_features, tokenizer, **settings)
    evaluation = map_features(examples, prepare_eval_features, tokenizer, **settings)
    assert train_window_stats(train).examples_without_answer_window == 0
    for feature, eval_feature in zip(train, evaluation, strict=True):
        if feature["answer_status"] != ANSWER_IN_WINDOW:
            continue
        answer = QUIRK_ANSWERS[feature["example_id"]]
        start_char = QUIRK_CONTEXT.index(answer)
        offsets = eval_feature["offset_mapping"]
        start, end = feature["start_positions"], feature["end_positions"]
        # The smallest token cover: the first token holds the answer's first character, the last its last one.
        assert offsets[start][0] <= start_char < offsets[start][1]
        assert offsets[end][0] < start_char + len(answer) <= offsets[end][1]
        assert start == 0 or offsets[start - 1] is None or offsets[start - 1][1] <= start_char
    start_logits = np.zeros((len(train), 96))
    end_logits = np.zeros((len(train), 96))
    rows = np.flatnonzero(np.asarray(train["answer_status"]) == ANSWER_IN_WINDOW)
    start_logits[rows, np.asarray(train["start_positions"])[rows]] = 5.0
    end_logits[rows, np.asarray(train["end_positions"])[rows]] = 5.0
    predicted = postprocess_predictions(examples, evaluation, start_logits, end_logits, max_answer_length=30)
    for question_id, answer in QUIRK_ANSWERS.items():
        assert answer in predicted[question_id] and predicted[question_id] in QUIRK_CONTEXT
    if which == "gluing":
        # Whole tokens come back; the ASCII parentheses are normalised away by both rule sets, the word is not.
        assert predicted["glued-punctuation"] == "(118)" and predicted["starts-inside-a-word"] == "neoliberales"
        references = references_from_examples(examples)
        for rules in ("squad", "mlqa"):
            scores = evaluate_predictions(predicted, references, "es", rules)
            assert scores["exact_match_per_example"][0] == 100.0 and scores["f1_per_example"][1] == 0.0


def test_window_stats_tell_apart_examples_that_share_an_id(train_examples):
    """TyDi GoldP English train reuses ids: examples are counted by their windows, not by id."""
    tokenizer = bert_like(train_examples)
    context = " ".join(dict.fromkeys(train_examples["context"]))
    examples = datasets.Dataset.from_dict(
        {
            "id": ["0", "0", "1"],
            "title": [""] * 3,
            "context": [context] * 3,
            "question": ["What is it?", "How many visitors came?", "What else?"],
            "answers": [
                {"text": [context[100:400]], "answer_start": [100]},  # longer than any window: lost
                {"text": ["2,500 visitors"], "answer_start": [context.index("2,500 visitors")]},
                {"text": [context[100:400]], "answer_start": [100]},
            ],
        }
    )
    features = map_features(examples, prepare_train_features, tokenizer, max_length=40, doc_stride=12)
    stats = train_window_stats(features)
    assert (stats.examples, stats.examples_without_answer_window) == (3, 2)
    assert features["window_index"][0] == 0 and max(features["window_index"]) > 0


def test_offsets_reach_past_combining_marks_only_for_a_normaliser_that_folds_them(tmp_path):
    from tests.tiny_families import load_family
    from xladjust.tasks.qa.features import _whole_characters, composes

    assert composes(load_family("deberta_v3", tmp_path / "deberta")) is True  # NFKC: é has no offsets of its own
    assert composes(load_family("wordpiece", tmp_path / "wordpiece")) is False  # mBERT cased keeps every character
    # A Hindi context with a nukta letter (U+0958, decomposed by NFC): not NFC, so the folding case applies.
    context = "\u0958\u093f \u0915\u093f"  # क़ि कि: a consonant and its vowel sign (category Mc), twice
    offsets = np.array([[0, 1], [1, 2], [3, 4], [4, 5]])  # pieces: "क़", "ि", "क", "ि" (the vowel signs alone)
    in_context = np.ones(4, dtype=bool)
    assert (_whole_characters(offsets, in_context, context, composing=False) == offsets).all()
    moved = _whole_characters(offsets, in_context, context, composing=True)
    assert moved[2].tolist() == [3, 5]  # a folding normaliser gives "कि" one token: its end includes the sign
