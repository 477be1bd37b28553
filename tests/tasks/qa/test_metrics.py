"""EM/F1 under SQuAD v1.1 and MLQA rules: hand-computed cases per language, Unicode handling, aggregation."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from xladjust.tasks.qa.data import read_qa_file
from xladjust.tasks.qa.metrics import (
    MLQA_RULES,
    SQUAD_RULES,
    evaluate_predictions,
    exact_match,
    f1,
    normalize_answer,
    official_rules,
    references_from_examples,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qa"


def squad_normalize(text: str) -> str:
    """The plain SQuAD v1.1 normaliser (English articles, ASCII punctuation only), for contrast."""
    text = "".join(char for char in text.lower() if char not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_f1(prediction: str, truth: str) -> float:
    pred, gold = squad_normalize(prediction).split(), squad_normalize(truth).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    return 0.0 if common == 0 else 2 * common / (len(pred) + len(gold))


@pytest.mark.parametrize(
    ("lang", "prediction", "truths", "em", "f1_score"),
    [
        # English: articles a/an/the removed.
        ("en", "The Eiffel Tower", ["eiffel tower"], 1.0, 1.0),
        ("en", "an apple", ["apple"], 1.0, 1.0),
        ("en", "the big red dog", ["a red dog"], 0.0, 0.8),  # P = 2/3, R = 1
        ("en", "red dog", ["cat", "a red dog!"], 1.0, 1.0),  # max over ground truths
        # Spanish: un/una/unos/unas/el/la/los/las removed; ¿ ¡ are punctuation.
        ("es", "el río Tajo", ["río Tajo"], 1.0, 1.0),
        ("es", "los tres reyes magos", ["reyes"], 0.0, 0.5),  # P = 1/3, R = 1
        ("es", "¿Madrid?", ["Madrid"], 1.0, 1.0),
        ("es", "a Madrid", ["Madrid"], 0.0, 2 / 3),  # "a" is a Spanish preposition, not an article
        # Russian: no article removal, not even English ones; «» are punctuation.
        ("ru", "в Москве", ["Москве"], 0.0, 2 / 3),
        ("ru", "«Медный рыцарь»", ["Медный рыцарь"], 1.0, 1.0),
        ("ru", "the Beatles", ["Beatles"], 0.0, 2 / 3),
        ("ru", "Ёлка", ["ёлка"], 1.0, 1.0),
        # Vietnamese: diacritics kept; MLQA removes của/là/cái/chiếc/những.
        ("vi", "Hà Nội", ["hà nội."], 1.0, 1.0),
        ("vi", "thành phố Hà Nội", ["Hà Nội"], 0.0, 2 / 3),  # P = 2/4, R = 1
        ("vi", "ha noi", ["Hà Nội"], 0.0, 0.0),
        ("vi", "những con mèo", ["con mèo"], 1.0, 1.0),
        ("vi", "một chiếc cốc", ["một cốc"], 1.0, 1.0),
        # Hindi: danda is punctuation, vowel signs and virama are not; no article removal.
        ("hi", "दिल्ली।", ["दिल्ली"], 1.0, 1.0),
        ("hi", "नई दिल्ली", ["दिल्ली"], 0.0, 2 / 3),
        ("hi", "दिल्ली", ["दिलली"], 0.0, 0.0),  # differs only by the virama (Mn)
        ("hi", "किताब", ["कताब"], 0.0, 0.0),  # differs only by the vowel sign I (Mc)
        ("hi", "the किताब", ["किताब"], 0.0, 2 / 3),
        # Other MLQA languages.
        ("de", "der Hund", ["Hund"], 1.0, 1.0),
        ("ar", "الكتاب", ["كتاب"], 1.0, 1.0),
        ("zh", "北京大学", ["北京"], 0.0, 2 / 3),  # one token per CJK character: P = 2/4, R = 1
    ],
)
def test_hand_computed_scores(lang, prediction, truths, em, f1_score):
    assert exact_match(prediction, truths, lang) == em
    assert f1(prediction, truths, lang) == pytest.approx(f1_score)


def test_cases_where_plain_squad_normalisation_is_wrong():
    # Devanagari danda and Russian guillemets are Unicode punctuation but not in string.punctuation.
    assert squad_normalize("दिल्ली।") != squad_normalize("दिल्ली")
    assert exact_match("दिल्ली।", ["दिल्ली"], "hi") == 1.0
    assert squad_normalize("«Медный рыцарь»") != squad_normalize("Медный рыцарь")
    assert exact_match("«Медный рыцарь»", ["Медный рыцарь"], "ru") == 1.0
    # SQuAD strips the English article "a" from Spanish, where it is a preposition ...
    assert squad_normalize("a Madrid") == squad_normalize("Madrid")
    assert exact_match("a Madrid", ["Madrid"], "es") == 0.0
    # ... and keeps the Spanish article.
    assert squad_f1("la ciudad", "ciudad") == pytest.approx(2 / 3)
    assert f1("la ciudad", ["ciudad"], "es") == 1.0


def test_unicode_forms_and_marks():
    nfc = "Hà Nội"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert exact_match(nfd, [nfc], "vi") == 1.0
    assert normalize_answer(nfd, "vi") == "hà nội"
    # Vietnamese function words written decomposed are still found.
    assert normalize_answer(unicodedata.normalize("NFD", "những con mèo"), "vi") == "con mèo"
    word = "प्रकृतिवादी"
    assert {unicodedata.category(char) for char in word} >= {"Mn", "Mc"}
    assert normalize_answer(word + "।", "hi") == word


def test_whitespace_and_empty_answers():
    assert normalize_answer("  The   Red\tDog \n", "en") == "red dog"
    # As in MLQA/SQuAD v1: both empty after normalisation -> EM 1 but F1 0.
    assert exact_match("the", ["a"], "en") == 1.0
    assert f1("the", ["a"], "en") == 0.0
    assert f1("", ["dog"], "en") == 0.0


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="xx"):
        normalize_answer("text", "xx")
    with pytest.raises(ValueError, match="xx"):
        evaluate_predictions({}, {"q": ["a"]}, "xx")


def test_evaluate_predictions_in_percent_with_missing_prediction():
    predictions = {"q1": "the red dog", "q2": "cat", "extra": "ignored"}
    references = {"q1": ["red dog"], "q2": ["a black cat"], "q3": ["x"]}
    result = evaluate_predictions(predictions, references, "en")
    assert result["ids"] == ["q1", "q2", "q3"]
    assert result["exact_match_per_example"] == [100.0, 0.0, 0.0]
    assert result["f1_per_example"] == pytest.approx([100.0, 200 / 3, 0.0])
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx((100 + 200 / 3) / 3)
    assert result["missing"] == 1
    assert result["count"] == 3


@pytest.mark.parametrize("lang", ["es", "ru", "vi", "hi"])
def test_gold_answers_score_100_on_fixtures(lang):
    examples = read_qa_file(FIXTURES / f"dev.{lang}.json")
    references = references_from_examples(examples)
    predictions = {question_id: answers[-1] for question_id, answers in references.items()}
    result = evaluate_predictions(predictions, references, lang)
    assert result["exact_match"] == 100.0
    assert result["f1"] == 100.0


@pytest.mark.parametrize(
    ("lang", "prediction", "truths", "normalised", "em", "f1_score"),
    [
        # English: articles, ASCII punctuation, case and spacing.
        ("en", "The  Eiffel-Tower!", ["eiffeltower"], "eiffeltower", 1.0, 1.0),
        ("en", "the big red dog", ["a red dog"], "big red dog", 0.0, 0.8),  # P = 2/3, R = 1
        # Spanish: the English article "a" (a Spanish preposition) goes, the Spanish articles stay; ¿ ¡ stay.
        ("es", "a Madrid", ["Madrid"], "madrid", 1.0, 1.0),
        ("es", "la ciudad", ["ciudad"], "la ciudad", 0.0, 2 / 3),
        ("es", "¿Madrid?", ["Madrid"], "¿madrid", 0.0, 0.0),
        ("es", "The Beatles, el grupo", ["beatles grupo"], "beatles el grupo", 0.0, 0.8),  # P = 2/3, R = 1
        # Russian: «» are not ASCII and stay glued to the words.
        ("ru", "«Медный рыцарь»", ["Медный рыцарь"], "«медный рыцарь»", 0.0, 0.0),
        ("ru", "«Медный» рыцарь", ["Медный рыцарь"], "«медный» рыцарь", 0.0, 0.5),
        ("ru", "the Beatles", ["Beatles"], "beatles", 1.0, 1.0),
        ("ru", "(Москва)", ["Москва"], "москва", 1.0, 1.0),
        # Hindi: the danda (not ASCII) stays; ASCII full stop goes.
        ("hi", "नई दिल्ली।", ["नई दिल्ली"], "नई दिल्ली।", 0.0, 0.5),
        ("hi", "नई दिल्ली.", ["नई दिल्ली"], "नई दिल्ली", 1.0, 1.0),
        ("hi", "the किताब", ["किताब"], "किताब", 1.0, 1.0),
        # Vietnamese: MLQA's của/là/... are not removed, diacritics are kept, no NFC.
        ("vi", "những con mèo", ["con mèo"], "những con mèo", 0.0, 0.8),  # P = 2/3, R = 1
        ("vi", "Hà Nội.", ["hà nội"], "hà nội", 1.0, 1.0),
        ("vi", "an Hà Nội", ["Hà Nội"], "hà nội", 1.0, 1.0),
        # Chinese: no character segmentation under SQuAD rules; "：" is not ASCII.
        ("zh", "北京大学", ["北京"], "北京大学", 0.0, 0.0),
    ],
)
def test_squad_rules_on_hand_computed_cases(lang, prediction, truths, normalised, em, f1_score):
    assert normalize_answer(prediction, lang, SQUAD_RULES) == normalised
    assert exact_match(prediction, truths, lang, SQUAD_RULES) == em
    assert f1(prediction, truths, lang, SQUAD_RULES) == pytest.approx(f1_score)
    # The official SQuAD v1.1 normaliser, restated, agrees on every case.
    assert squad_normalize(prediction) == normalised
    assert max(squad_f1(prediction, truth) for truth in truths) == pytest.approx(f1_score)


def test_squad_rules_keep_unicode_only_punctuation_and_decompositions():
    for char in "।«»¿¡“”—":
        assert normalize_answer(f"x{char}", "ru", SQUAD_RULES) == f"x{char}"
        assert normalize_answer(f"x{char}", "ru", MLQA_RULES) == "x"
    for char in string.punctuation:
        assert normalize_answer(f"x{char}y", "en", SQUAD_RULES) == "xy"
    nfd = unicodedata.normalize("NFD", "Hà Nội")
    assert exact_match(nfd, ["Hà Nội"], "vi", SQUAD_RULES) == 0.0  # the script compares code points as they are
    assert normalize_answer("theater an apple", "en", SQUAD_RULES) == "theater apple"  # whole words only


def test_official_rules_per_benchmark():
    assert official_rules("xquad") == official_rules("tydiqa") == official_rules("local") == SQUAD_RULES
    assert official_rules("mlqa") == MLQA_RULES
    with pytest.raises(ValueError, match="rules"):
        evaluate_predictions({"q": "a"}, {"q": ["a"]}, "en", "xtreme")


def test_evaluate_predictions_under_both_rules():
    predictions = {"q1": "«Медный рыцарь»", "q2": "the Beatles"}
    references = {"q1": ["Медный рыцарь"], "q2": ["Beatles"]}
    mlqa = evaluate_predictions(predictions, references, "ru", MLQA_RULES)
    squad = evaluate_predictions(predictions, references, "ru", SQUAD_RULES)
    assert mlqa["exact_match_per_example"] == [100.0, 0.0]
    assert squad["exact_match_per_example"] == [0.0, 100.0]
    assert squad["f1"] == pytest.approx(50.0) and mlqa["f1"] == pytest.approx((100 + 200 / 3) / 2)
