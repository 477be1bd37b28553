"""Word-segmentation conformance: every word maps to exactly its own subwords, for every tokenizer family.

The text is real multilingual text: the Spanish, Russian, Vietnamese and Hindi translations (and their English
messages) of GLib's gettext catalog, read from the machine at test time (Debian's libglib2.0-data installs
``/usr/share/locale/{es,ru,vi,hi}/LC_MESSAGES/glib20.mo``; nothing of it is committed), plus words that tokenise to
nothing (zero-width and control characters), a lone ``▁`` before punctuation ("(118)") and Vietnamese and Hindi
sentences in both NFC and NFD.

The reference is independent of the code under test: each word's subwords are those of the sentence written out as
running text (" w1 w2 ...") that the tokenizer's character offsets place inside the word or in the space just before
it (a lone ``▁`` or ``Ġ``). Checked against it: the adjustment's features (token ids, word maps, links), the
analysis' word vectors and word strings, NER labels, and QA answer positions and offsets.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import PreTrainedTokenizer

from run_ner import decode_tags, encode_for_evaluation
from tests.tiny_families import TOKENIZER_FAMILIES, load_family
from xladjust.adjust.features import build_alignment_dataset, build_alignment_datasets, tokenize_pairs
from xladjust.analysis.word_vectors import encode_pairs
from xladjust.data.gettext_corpus import collect_language
from xladjust.data.parallel import AlignedPair, CorpusStats, LanguageCorpus
from xladjust.data.sentence_encoding import tokenize_sentences
from xladjust.errors import InputError
from xladjust.tasks.eval_sets import EvalSet
from xladjust.tasks.ner import IGNORE_INDEX, NER_LABELS, tokenize_and_align
from xladjust.tasks.qa.features import prepare_eval_features, prepare_train_features
from xladjust.tasks.tagging import TAGGING_TASKS

LOCALE = Path("/usr/share/locale")
CATALOG = "glib20.mo"
LANGUAGES = ("es", "ru", "vi", "hi")
PAIRS_PER_LANGUAGE = 30
# Words that some tokenizers reduce to nothing (WordPiece's normaliser drops control and zero-width characters).
EMPTY_WORDS = ("\u200b", "\x07", "\u200d", "\ufeff")


def catalog_pairs() -> list[tuple[list[str], list[str]]]:
    """Every 5th cleaned pair of each language's glib20.mo (up to PAIRS_PER_LANGUAGE), as word lists."""
    missing = [str(LOCALE / lang / "LC_MESSAGES" / CATALOG) for lang in LANGUAGES]
    missing = [path for path in missing if not Path(path).is_file()]
    if missing:
        pytest.fail(
            f"the conformance text is missing: {', '.join(missing)}; install Debian's libglib2.0-data, which "
            "ships GLib's catalogs for es, ru, vi and hi"
        )
    pairs = []
    for lang in LANGUAGES:
        cleaned = collect_language(lang, [LOCALE / lang / "LC_MESSAGES" / CATALOG]).pairs
        pairs += [(target.split(), english.split()) for target, english in cleaned[::5][:PAIRS_PER_LANGUAGE]]
    return pairs


@pytest.fixture(scope="module")
def pairs() -> list[tuple[list[str], list[str]]]:
    """Catalog pairs, NFD twins of the Vietnamese and Hindi ones, and pairs with empty words and "(118)"."""
    base = catalog_pairs()
    result = list(base)
    for target, english in base[2 * PAIRS_PER_LANGUAGE :]:  # vi and hi
        decomposed = [unicodedata.normalize("NFD", word) for word in target]
        if decomposed != target:
            result.append((decomposed, english))
    for number, (target, english) in enumerate(base[::7]):
        empty = EMPTY_WORDS[number % len(EMPTY_WORDS)]
        result.append(([empty, *target[:3], "(118)", empty, *target[3:], empty], [*english, empty, "(118)"]))
    result.append((["\u0301", *base[0][0]], list(base[0][1])))  # a lone combining mark
    return result


@pytest.fixture(scope="module", params=list(TOKENIZER_FAMILIES))
def tokenizer(request, tmp_path_factory):
    return load_family(request.param, tmp_path_factory.mktemp(request.param))


def reference_segmentation(tokenizer, words: list[str], leading_space: bool = True) -> list[list[int]]:
    """Each word's token ids in the running text " w1 w2 ..." (no leading space: "w1 w2 ..."), by offsets."""
    text, owner = "", []
    for number, word in enumerate(words):
        space = " " if number or leading_space else ""
        text += space + word
        owner += [number] * (len(space) + len(word))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    per_word: list[list[int]] = [[] for _ in words]
    for token_id, (start, end) in zip(encoding["input_ids"], encoding["offset_mapping"], strict=True):
        per_word[owner[end - 1 if end > start else start]].append(token_id)
    return per_word


def special_layout(tokenizer) -> tuple[int, int]:
    """How many special tokens the tokenizer puts before and after a sentence."""
    word_ids = tokenizer([["x"]], is_split_into_words=True).word_ids(0)
    first = next(i for i, w in enumerate(word_ids) if w is not None)
    last = max(i for i, w in enumerate(word_ids) if w is not None)
    return first, len(word_ids) - 1 - last


def expected_word_maps(segments: list[list[int]], lead: int, trail: int) -> tuple[list[int], list[int], list[int]]:
    """Token ids between the specials, each token's pooled-word number, and the original positions kept."""
    kept = [number for number, ids in enumerate(segments) if ids]
    body_ids = [token for ids in segments for token in ids]
    first_word = 1 if lead else 0
    body_index = [first_word + rank for rank, number in enumerate(kept) for _ in segments[number]]
    count = first_word + len(kept)
    return body_ids, [0] * lead + body_index + [count] * trail, kept


def link_pattern(target: list[str], english: list[str]) -> list[list[int]]:
    return [[i, i] for i in range(min(len(target), len(english)))]


def test_every_family_keeps_each_word_and_its_subwords_in_the_adjustment_features(tokenizer, pairs):
    examples = {
        "target": [t for t, _ in pairs],
        "english": [e for _, e in pairs],
        "links": [link_pattern(t, e) for t, e in pairs],
    }
    features = tokenize_pairs(examples, tokenizer, max_seq_length=512, include_cls_sep=False)
    lead, trail = special_layout(tokenizer)
    empty_seen = 0
    for row, (target, english) in enumerate(pairs):
        numbers = {}
        for side, words in (("tgt", target), ("en", english)):
            segments = reference_segmentation(tokenizer, words)
            body, index, kept = expected_word_maps(segments, lead, trail)
            ids = features[f"{side}_input_ids"][row]
            assert ids[lead : len(ids) - trail] == body, (side, words)
            assert features[f"{side}_word_index"][row] == index, (side, words)
            assert features[f"{side}_word_source"][row] == kept
            assert features[f"{side}_num_words"][row] == int(bool(lead)) + len(kept) + int(bool(trail))
            numbers[side] = {number: int(bool(lead)) + rank for rank, number in enumerate(kept)}
            empty_seen += len(words) - len(kept)
        links = link_pattern(target, english)
        kept_links = [(i, j) for i, j in links if i in numbers["tgt"] and j in numbers["en"]]
        assert features["link_tgt"][row] == [numbers["tgt"][i] for i, _ in kept_links]
        assert features["link_en"][row] == [numbers["en"][j] for _, j in kept_links]
        assert features["links_truncated"][row] == len(links) - len(kept_links)
    if tokenizer.backend_tokenizer.normalizer is not None and "Bert" in type(tokenizer).__name__:
        assert empty_seen > 0  # WordPiece drops the control and zero-width words: the suite covers that case


def test_truncation_keeps_the_first_subwords_and_numbers_only_the_words_left(tokenizer, pairs):
    max_length = 12
    examples = {"target": [t for t, _ in pairs], "english": [e for _, e in pairs], "links": [[] for _ in pairs]}
    features = tokenize_pairs(examples, tokenizer, max_seq_length=max_length, include_cls_sep=False)
    lead, trail = special_layout(tokenizer)
    room = max_length - lead - trail
    for row, (target, _) in enumerate(pairs):
        segments = reference_segmentation(tokenizer, target)
        owners = [number for number, ids in enumerate(segments) for _ in ids][:room]
        cut = [ids[: owners.count(number)] for number, ids in enumerate(segments)]
        body, index, kept = expected_word_maps(cut, lead, trail)
        ids = features["tgt_input_ids"][row]
        assert ids[lead : len(ids) - trail] == body
        assert features["tgt_word_index"][row] == index
        assert features["tgt_word_source"][row] == kept


class TokenEmbedding(torch.nn.Module):
    """A stand-in encoder whose every hidden state is a fixed random vector per token id."""

    def __init__(self, vocab_size: int, hidden: int = 8):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, hidden)

    def forward(self, input_ids, attention_mask=None, output_hidden_states=True):
        vectors = self.embedding(input_ids)
        return type("Output", (), {"hidden_states": (vectors, vectors)})()


def test_analysis_word_vectors_pool_exactly_each_words_subwords(tokenizer, pairs):
    torch.manual_seed(0)
    model = TokenEmbedding(len(tokenizer)).eval()
    aligned = [AlignedPair(t, e, [tuple(link) for link in link_pattern(t, e)]) for t, e in pairs]
    index, vectors = encode_pairs(
        model,
        tokenizer,
        aligned,
        language="mixed",
        label="stand-in",
        layers=[0],
        pooling="avg",
        max_seq_length=512,
        batch_size=16,
        device="cpu",
    )
    expected_words, expected_vectors = [], []
    for target, english in pairs:
        segments = reference_segmentation(tokenizer, target)
        english_segments = reference_segmentation(tokenizer, english)
        links = link_pattern(target, english)
        if not any(segments[i] and english_segments[j] for i, j in links):
            continue  # the pair keeps no link: the analysis drops it
        for word, ids in zip(target, segments, strict=True):
            if ids:
                expected_words.append(word)
                expected_vectors.append(model.embedding.weight[ids].mean(0))
    assert index.tgt_text == expected_words
    torch.testing.assert_close(vectors[0].tgt_words, torch.stack(expected_vectors).detach())


@pytest.mark.parametrize("label_all_tokens", [False, True])
def test_ner_labels_sit_on_each_words_own_subwords(tokenizer, pairs, label_all_tokens):
    rng = np.random.default_rng(0)
    sentences = [t for t, _ in pairs]
    tags = [rng.integers(0, len(NER_LABELS), len(words)).tolist() for words in sentences]
    encoded = tokenize_and_align({"tokens": sentences, "ner_tags": tags}, tokenizer, 512, label_all_tokens)
    lead, trail = special_layout(tokenizer)
    for row, (words, word_tags) in enumerate(zip(sentences, tags, strict=True)):
        expected = [IGNORE_INDEX] * lead
        for ids, tag in zip(reference_segmentation(tokenizer, words), word_tags, strict=True):
            inside = NER_LABELS.index("I-" + NER_LABELS[tag][2:]) if NER_LABELS[tag].startswith("B-") else tag
            expected += [tag] + [inside if label_all_tokens else IGNORE_INDEX] * (len(ids) - 1) if ids else []
        assert encoded["labels"][row] == expected + [IGNORE_INDEX] * trail, words
        assert encoded["input_ids"][row][lead : len(expected)] == [
            t for ids in reference_segmentation(tokenizer, words) for t in ids
        ]


def test_qa_answer_positions_and_offsets_cover_exactly_the_answer(tokenizer, pairs):
    examples = {"id": [], "question": [], "context": [], "answers": []}
    answers = []
    for row, (target, english) in enumerate(pairs):
        segments = reference_segmentation(tokenizer, target, leading_space=False)
        candidates = [number for number, ids in enumerate(segments) if ids]
        if "(118)" in target:
            candidates = [target.index("(118)")]
        number = candidates[len(candidates) // 2]
        context = " ".join(target)
        start = len(" ".join(target[:number])) + (1 if number else 0)
        examples["id"].append(str(row))
        examples["question"].append(" ".join(english))
        examples["context"].append(context)
        examples["answers"].append({"text": [target[number]], "answer_start": [start]})
        answers.append((target, number, segments))
    train = prepare_train_features(examples, tokenizer, max_length=384, doc_stride=64)
    evaluation = prepare_eval_features(examples, tokenizer, max_length=384, doc_stride=64)
    assert len(train["input_ids"]) == len(evaluation["input_ids"]) == len(pairs)  # one window each
    for row, (target, number, segments) in enumerate(answers):
        offsets = evaluation["offset_mapping"][row]
        context_positions = [position for position, pair in enumerate(offsets) if pair is not None]
        ids = train["input_ids"][row]
        assert [ids[p] for p in context_positions] == [t for word in segments for t in word]
        owner = [w for w, word in enumerate(segments) for _ in word]
        answer_positions = [p for p, w in zip(context_positions, owner, strict=True) if w == number]
        start, end = train["start_positions"][row], train["end_positions"][row]
        assert answer_positions[0] <= start <= end == answer_positions[-1]
        context = examples["context"][row]
        assert context[offsets[start][0] : offsets[end][1]].strip() == target[number]
        # Tokens before the start hold only spaces of the answer's own word (a lone ▁ or Ġ), none of its characters.
        assert all(not context[offsets[p][0] : offsets[p][1]].strip() for p in answer_positions if p < start)


class WhitespaceSlowTokenizer(PreTrainedTokenizer):
    """A Python ("slow") tokenizer: no word_ids(), no offsets."""

    def __init__(self, **kwargs):
        self.vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
        super().__init__(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", **kwargs)

    def get_vocab(self):
        return dict(self.vocab)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def _tokenize(self, text, **kwargs):
        return text.split()

    def _convert_token_to_id(self, token):
        return self.vocab.get(token, 1)

    def _convert_id_to_token(self, index):
        return {i: t for t, i in self.vocab.items()}.get(index, "[UNK]")


def test_a_slow_tokenizer_is_refused_naming_what_is_missing(tmp_path):
    slow = WhitespaceSlowTokenizer()
    pair = AlignedPair(["hola", "mundo"], ["hello", "world"], [(0, 0), (1, 1)])
    corpus = LanguageCorpus("es", [pair], [], CorpusStats(), CorpusStats())
    with pytest.raises(InputError, match=r"WhitespaceSlowTokenizer is not a fast tokenizer: it has no word_ids\(\)"):
        build_alignment_datasets([corpus], slow, max_seq_length=16, include_cls_sep=True)
    with pytest.raises(InputError, match=r"no word_ids\(\)"):
        tokenize_and_align({"tokens": [["hola"]], "ner_tags": [[0]]}, slow, 16)
    with pytest.raises(InputError, match="no word_ids"):
        encode_pairs(
            TokenEmbedding(4),
            slow,
            [pair],
            language="es",
            label="slow",
            layers=[0],
            pooling="avg",
            max_seq_length=16,
            batch_size=2,
            device="cpu",
        )
    examples = {
        "id": ["1"],
        "question": ["q"],
        "context": ["hola"],
        "answers": [{"text": ["hola"], "answer_start": [0]}],
    }
    with pytest.raises(InputError, match="no offset mapping"):
        prepare_train_features(examples, slow, max_length=32, doc_stride=8)


def test_sentences_are_cut_at_the_models_limit_when_it_is_below_max_seq_length(tmp_path, pairs):
    tokenizer = load_family("wordpiece", tmp_path)
    tokenizer.model_max_length = 16
    aligned = [AlignedPair(t, e, [tuple(link) for link in link_pattern(t, e)]) for t, e in pairs]
    stats = CorpusStats()
    dataset = build_alignment_dataset(
        aligned, tokenizer, max_seq_length=256, include_cls_sep=True, language_id=0, stats=stats
    )
    assert max(len(ids) for side in ("tgt", "en") for ids in dataset[f"{side}_input_ids"]) == 16
    assert stats.links_dropped_truncated > 0
    sentences = tokenize_sentences(tokenizer, [" ".join(t) for t, _ in pairs], max_length=256)
    assert max(len(ids) for ids in sentences["input_ids"]) == 16


def test_ner_scores_a_word_without_subwords_as_predicted_o_and_says_why(tmp_path, caplog):
    tokenizer = load_family("wordpiece", tmp_path)  # WordPiece's normaliser drops the zero-width space
    examples = Dataset.from_dict({"id": ["es-0"], "tokens": [["Hola", "\u200b", "mundo"]], "ner_tags": [[1, 5, 0]]})
    features = encode_for_evaluation(examples[:], tokenizer, 32, TAGGING_TASKS["ner"])
    assert features["word_starts"][0][1] == -1
    predictions = np.full((1, len(features["input_ids"][0])), NER_LABELS.index("B-PER"))
    with caplog.at_level("WARNING"):
        _, records = decode_tags(
            EvalSet("predict", "es", examples, "test", features), predictions, TAGGING_TASKS["ner"]
        )
    assert records[0]["predicted"] == ["B-PER", "O", "B-PER"]
    assert "1 words without a subword (beyond --max_seq_length, or tokenised to nothing)" in caplog.text
