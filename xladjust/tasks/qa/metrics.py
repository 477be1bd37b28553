"""Extractive-QA scores (exact match, token F1) with MLQA's language-aware answer normalisation.

Normalisation follows ``normalize_answer`` of the official MLQA script (``mlqa_evaluation_v1.py``), applied in
the language of the *answer* (the context language), in this order:

1. NFC (our addition): composed and decomposed spellings of the same letters compare equal, and the Vietnamese
   word list below (written precomposed) matches decomposed input too. MLQA compares raw strings; predictions
   and references cut from the same context have the same form, so NFC does not change scores there.
2. Lower-casing (``str.lower``).
3. Removal of every punctuation character: Unicode categories ``P*`` plus ASCII ``string.punctuation`` (which adds
   the symbols ``$+<=>^`|~``). Combining marks (``Mn``/``Mc``, e.g. Devanagari vowel signs and virama) are *not*
   punctuation and stay; the Devanagari danda ``।`` (``Po``) and Spanish ``¿¡`` or Russian ``«»`` are removed.
4. Removal of whole-word "articles", exactly MLQA's lists (``ARTICLES``):

   - en: a, an, the
   - es: un, una, unos, unas, el, la, los, las
   - de: ein, eine, einen, einem, eines, einer, der, die, das, den, dem, des
   - vi: của, là, cái, chiếc, những (MLQA's list; they are not articles but "of", "is", two classifiers and the
     plural marker)
   - ar: every occurrence of ``ال``, also inside words (MLQA's regex does that; kept for comparable numbers)
   - hi, zh and every language MLQA does not cover (ru, el, ro, th, tr, bn, fi, id, ja, ko, sw, te): none

5. Tokenisation on whitespace; for zh MLQA's mixed segmentation (each CJK character is a token). Scripts without
   spaces that MLQA does not cover (th, ja) are whitespace-tokenised, so their F1 is close to exact match.

Exact match and F1 of one prediction are the maxima over the ground truths; as in MLQA/SQuAD v1, F1 is 0 when the
two token lists share no token (also when both normalise to nothing, while exact match is then 1).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

ARTICLES: dict[str, tuple[str, ...]] = {
    "en": ("a", "an", "the"),
    "es": ("un", "una", "unos", "unas", "el", "la", "los", "las"),
    "de": ("ein", "eine", "einen", "einem", "eines", "einer", "der", "die", "das", "den", "dem", "des"),
    "vi": ("của", "là", "cái", "chiếc", "những"),
}
"""Whole words removed per answer language, as in MLQA's ``remove_articles`` (Arabic is handled separately)."""

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    # MLQA, XQuAD and TyDi QA GoldP languages
    ("ar", "bn", "de", "el", "en", "es", "fi", "hi", "id", "ja", "ko", "ro", "ru", "sw", "te", "th", "tr", "vi", "zh")
)

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ARTICLE_PATTERNS = {lang: re.compile(r"\b(" + "|".join(words) + r")\b") for lang, words in ARTICLES.items()}
_ARABIC_ARTICLE = re.compile(r"\sال^|ال")  # MLQA's pattern verbatim; the first branch never matches
_CJK_CHARACTER = re.compile(r"([\u4e00-\u9fa5])")


def _check_language(lang: str) -> None:
    if lang not in SUPPORTED_LANGUAGES:
        known = ", ".join(sorted(SUPPORTED_LANGUAGES))
        raise ValueError(f"no answer normalisation for language {lang!r}; known: {known}")


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str, lang: str) -> str:
    """MLQA normalisation of ``text`` in answer language ``lang`` (see the module docstring)."""
    return " ".join(answer_tokens(text, lang))


def answer_tokens(text: str, lang: str) -> list[str]:
    """Tokens of the normalised answer, the units F1 counts."""
    _check_language(lang)
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(char for char in text if not _is_punctuation(char))
    if lang in _ARTICLE_PATTERNS:
        text = _ARTICLE_PATTERNS[lang].sub(" ", text)
    elif lang == "ar":
        text = _ARABIC_ARTICLE.sub(" ", text)
    if lang == "zh":
        # Spaces around each CJK character make them single tokens, as MLQA's mixed segmentation does.
        text = _CJK_CHARACTER.sub(r" \1 ", text)
    return text.split()


def _f1_tokens(prediction: list[str], truth: list[str]) -> float:
    common = sum((Counter(prediction) & Counter(truth)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction)
    recall = common / len(truth)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, ground_truths: Sequence[str], lang: str) -> float:
    """1.0 if the normalised prediction equals any normalised ground truth, else 0.0."""
    predicted = answer_tokens(prediction, lang)
    return float(any(predicted == answer_tokens(truth, lang) for truth in ground_truths))


def f1(prediction: str, ground_truths: Sequence[str], lang: str) -> float:
    """Best token-overlap F1 (0..1) of the prediction against the ground truths."""
    predicted = answer_tokens(prediction, lang)
    return max((_f1_tokens(predicted, answer_tokens(truth, lang)) for truth in ground_truths), default=0.0)


def evaluate_predictions(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], lang: str
) -> dict[str, object]:
    """Score predictions against every referenced question; all scores in percent (0..100).

    Returns ``exact_match`` and ``f1`` (means over ``references``; a question without a prediction scores 0, as in
    MLQA), ``missing`` (how many had no prediction), and per-example lists ``ids``, ``exact_match_per_example``,
    ``f1_per_example`` in the order of ``references``.
    """
    _check_language(lang)
    ids = list(references)
    em_scores: list[float] = []
    f1_scores: list[float] = []
    missing = 0
    for question_id in ids:
        truths = references[question_id]
        if question_id not in predictions:
            missing += 1
            em_scores.append(0.0)
            f1_scores.append(0.0)
            continue
        prediction = predictions[question_id]
        em_scores.append(100.0 * exact_match(prediction, truths, lang))
        f1_scores.append(100.0 * f1(prediction, truths, lang))
    count = len(ids)
    return {
        "exact_match": sum(em_scores) / count if count else 0.0,
        "f1": sum(f1_scores) / count if count else 0.0,
        "count": count,
        "missing": missing,
        "ids": ids,
        "exact_match_per_example": em_scores,
        "f1_per_example": f1_scores,
    }


def references_from_examples(examples) -> dict[str, list[str]]:
    """``{id: answer texts}`` from a dataset (or column dict) with the flattened SQuAD ``answers`` column."""
    return {
        question_id: list(answers["text"])
        for question_id, answers in zip(examples["id"], examples["answers"], strict=True)
    }
