"""Extractive-QA scores (exact match, token F1) under two sets of answer-normalisation rules.

``rules="squad"``: the official SQuAD v1.1 script (``evaluate-v1.1.py``), which XTREME uses for XQuAD and TyDi QA
GoldP and the paper (Efimov et al. 2023) uses for every set. Whatever the language: lower-casing, removal of the
ASCII ``string.punctuation`` characters only (the Devanagari danda ``।``, ``«»``, ``¿¡`` stay), removal of the
English articles a/an/the as whole words (also in Spanish, where ``a`` is a preposition), whitespace tokenisation.
No Unicode normalisation, exactly as the script.

``rules="mlqa"``: ``normalize_answer`` of the official MLQA script (``mlqa_evaluation_v1.py``), applied in the
language of the *answer* (the context language), in this order:

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
   - hi, zh: none. The MLQA script knows only ``MLQA_SCRIPT_LANGUAGES`` and raises on any other; here every other
     language (ru, el, ro, th, tr, bn, fi, id, ja, ko, sw, te) gets MLQA's language-independent rules (steps 1-3
     and 5, no word removed), as MLQA does for hi and zh.

5. Tokenisation on whitespace; for zh MLQA's mixed segmentation (each CJK character is a token). Scripts without
   spaces that MLQA does not cover (th, ja) are whitespace-tokenised, so their F1 is close to exact match.

Which rules are *official* for a benchmark: :func:`official_rules` (SQuAD v1.1 for XQuAD and TyDi, MLQA for MLQA).
Under both rules, exact match and F1 of one prediction are the maxima over the ground truths, and F1 is 0 when the
two token lists share no token (also when both normalise to nothing, while exact match is then 1).

The evaluate modules ``squad_v1`` and ``mlqa`` (``squad_v1.py``, ``mlqa.py`` beside this file) compute through
:func:`score_qa`. This file imports nothing from the package, so that it travels with them: evaluate copies it when
it loads a module by path, and a metric Space holds it (docs/metrics.md).
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

MLQA_SCRIPT_LANGUAGES: frozenset[str] = frozenset(("ar", "de", "en", "es", "hi", "vi", "zh"))
"""The languages the official MLQA script has rules for (it raises on any other)."""

MLQA_RULES = "mlqa"
SQUAD_RULES = "squad"
RULES = (SQUAD_RULES, MLQA_RULES)

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")  # the SQuAD v1.1 script's pattern, applied in every language
_ARTICLE_PATTERNS = {lang: re.compile(r"\b(" + "|".join(words) + r")\b") for lang, words in ARTICLES.items()}
_ARABIC_ARTICLE = re.compile(r"\sال^|ال")  # MLQA's pattern verbatim; the first branch never matches
_CJK_CHARACTER = re.compile(r"([\u4e00-\u9fa5])")


def _check_language(lang: str) -> None:
    if lang not in SUPPORTED_LANGUAGES:
        known = ", ".join(sorted(SUPPORTED_LANGUAGES))
        raise ValueError(f"no answer normalisation for language {lang!r}; known: {known}")


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def official_rules(benchmark: str) -> str:
    """The rules of a benchmark's official evaluation script: MLQA's for ``mlqa``, SQuAD v1.1 for the others
    (``xquad``, ``tydiqa``, and local files named by language, which are SQuAD-format files)."""
    return MLQA_RULES if benchmark == "mlqa" else SQUAD_RULES


def _check_rules(rules: str) -> None:
    if rules not in RULES:
        raise ValueError(f"unknown answer-normalisation rules {rules!r}; expected one of {', '.join(RULES)}")


def normalize_answer(text: str, lang: str, rules: str = MLQA_RULES) -> str:
    """Normalisation of ``text`` in answer language ``lang`` under ``rules`` (see the module docstring)."""
    return " ".join(answer_tokens(text, lang, rules))


def squad_answer_tokens(text: str) -> list[str]:
    """SQuAD v1.1 ``normalize_answer(text).split()``: lower, ASCII punctuation out, a/an/the out, whitespace."""
    text = "".join(char for char in text.lower() if char not in _ASCII_PUNCTUATION)
    return _SQUAD_ARTICLES.sub(" ", text).split()


def answer_tokens(text: str, lang: str, rules: str = MLQA_RULES) -> list[str]:
    """Tokens of the normalised answer, the units F1 counts."""
    _check_language(lang)
    _check_rules(rules)
    if rules == SQUAD_RULES:
        return squad_answer_tokens(text)
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


def exact_match(prediction: str, ground_truths: Sequence[str], lang: str, rules: str = MLQA_RULES) -> float:
    """1.0 if the normalised prediction equals any normalised ground truth, else 0.0."""
    predicted = answer_tokens(prediction, lang, rules)
    return float(any(predicted == answer_tokens(truth, lang, rules) for truth in ground_truths))


def f1(prediction: str, ground_truths: Sequence[str], lang: str, rules: str = MLQA_RULES) -> float:
    """Best token-overlap F1 (0..1) of the prediction against the ground truths."""
    predicted = answer_tokens(prediction, lang, rules)
    return max((_f1_tokens(predicted, answer_tokens(truth, lang, rules)) for truth in ground_truths), default=0.0)


def evaluate_predictions(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], lang: str, rules: str = MLQA_RULES
) -> dict[str, object]:
    """Score predictions against every referenced question under ``rules``; all scores in percent (0..100).

    Returns ``exact_match`` and ``f1`` (means over ``references``; a question without a prediction scores 0, as in
    MLQA), ``missing`` (how many had no prediction), and per-example lists ``ids``, ``exact_match_per_example``,
    ``f1_per_example`` in the order of ``references``.
    """
    _check_language(lang)
    _check_rules(rules)
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
        em_scores.append(100.0 * exact_match(prediction, truths, lang, rules))
        f1_scores.append(100.0 * f1(prediction, truths, lang, rules))
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


def metric_features():
    """The inputs of the ``squad_v1`` and ``mlqa`` evaluate modules: those of the Hub's ``squad`` metric."""
    from datasets import Features, Sequence, Value

    answers = Sequence({"text": Value("string"), "answer_start": Value("int32")})
    return Features(
        {
            "predictions": {"id": Value("string"), "prediction_text": Value("string")},
            "references": {"id": Value("string"), "answers": answers},
        }
    )


def _by_id(rows: Sequence[Mapping], value: str, what: str) -> dict:
    by_id = {}
    for row in rows:
        if row["id"] in by_id:
            raise ValueError(f"{what}: id {row['id']!r} is repeated; expected one entry per question")
        by_id[row["id"]] = row[value]
    return by_id


def score_qa(
    predictions: Sequence[Mapping],
    references: Sequence[Mapping],
    lang: str,
    rules: str,
    per_example: bool = False,
) -> dict[str, object]:
    """:func:`evaluate_predictions` on the inputs of the evaluate modules (:func:`metric_features`): ``exact_match``
    and ``f1``, and with ``per_example`` everything :func:`evaluate_predictions` returns."""
    answers = _by_id(predictions, "prediction_text", "predictions")
    gold = {question: list(spans["text"]) for question, spans in _by_id(references, "answers", "references").items()}
    result = evaluate_predictions(answers, gold, lang, rules)
    return result if per_example else {"exact_match": result["exact_match"], "f1": result["f1"]}


def references_from_examples(examples) -> dict[str, list[str]]:
    """``{id: answer texts}`` from a dataset (or column dict) with the flattened SQuAD ``answers`` column."""
    return {
        question_id: list(answers["text"])
        for question_id, answers in zip(examples["id"], examples["answers"], strict=True)
    }
