"""Dictionary links (--aligner dictionary): a hand-made dictionary and sentences, against links written out by hand."""

from __future__ import annotations

import pytest

from xladjust.data.dictionary_alignment import DictionaryAligner, dictionary_paths, read_dictionary
from xladjust.data.parallel import AlignedPair, CorpusStats, FilterSettings, apply_link_filters
from xladjust.errors import InputError

# English first (MUSE's en-es.txt), with a tab line, a repeat in other case, two multi-word entries and a blank line.
EN_ES = """the el
the la
cat gato
Dog\tperro
DOG perro
new york nueva york
ice cream\thelado

house casa
eats come
hotel hotel
"""


@pytest.fixture
def en_es(tmp_path):
    path = tmp_path / "en-es.txt"
    path.write_text(EN_ES, encoding="utf-8")
    return path


def reversed_file(path, tmp_path):
    """The same entries the other way round (MUSE's es-en.txt)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        sides = line.split("\t") if "\t" in line else line.split()
        lines.append("\t".join(reversed(sides)) if "\t" in line else " ".join(reversed(sides)))
    out = tmp_path / "es-en.txt"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_counts_of_the_file(en_es):
    partners, stats = read_dictionary(str(en_es))
    assert stats.as_dict() == {"lines": 11, "entries": 7, "multi_word_skipped": 2, "repeated_skipped": 1}
    assert partners["perro"] == {"dog"} and partners["dog"] == {"perro"} and partners["the"] == {"el", "la"}
    assert "york" not in partners and "helado" not in partners


HAND_LINKED = [
    # (target, English, the links by hand)
    ("El gato come", "The cat eats", [(0, 0), (1, 1), (2, 2)]),  # case-folded both sides
    ("el perro y el gato", "the dog and the cat", [(0, 0), (0, 3), (1, 1), (3, 0), (3, 3), (4, 4)]),  # repeats
    ("la casa", "THE HOUSE", [(0, 0), (1, 1)]),
    ("nueva york", "new york", []),  # a multi-word entry links nothing
    ("el hotel", "the hotel", [(0, 0), (1, 1)]),  # identical words: the filters decide
]
SENTENCES = [(target.split(), english.split(), links) for target, english, links in HAND_LINKED]


@pytest.mark.parametrize("direction", ["en-es", "es-en"])
def test_links_by_hand_in_both_directions(en_es, tmp_path, direction):
    path = en_es if direction == "en-es" else reversed_file(en_es, tmp_path)
    aligner = DictionaryAligner(str(path), "es")
    links = aligner.align([t for t, _, _ in SENTENCES], [e for _, e, _ in SENTENCES])
    assert links == [expected for _, _, expected in SENTENCES]


def test_the_usual_filters_apply_to_dictionary_links(en_es):
    targets, englishes = [t for t, _, _ in SENTENCES], [e for _, e, _ in SENTENCES]
    links = DictionaryAligner(str(en_es), "es").align(targets, englishes)
    pairs = [AlignedPair(t, e, found) for t, e, found in zip(targets, englishes, links, strict=True)]
    stats = CorpusStats()
    kept = apply_link_filters(pairs, FilterSettings(), stats)
    # Repeated "el … el" / "the … the" links are not one-to-one; "hotel hotel" is identical.
    assert [p.links for p in kept] == [[(0, 0), (1, 1), (2, 2)], [(1, 1), (4, 4)], [(0, 0), (1, 1)], [(0, 0)]]
    assert stats.links_dropped_not_one_to_one == 4 and stats.links_dropped_identical == 1
    assert stats.pairs_dropped_no_links == 1  # "nueva york"


def test_settings_change_with_the_file_content(en_es):
    before = DictionaryAligner(str(en_es), "es").settings()
    en_es.write_text(EN_ES + "dog can\n", encoding="utf-8")
    after = DictionaryAligner(str(en_es), "es").settings()
    assert before["aligner"] == "dictionary" and before["dictionary_sha256"] != after["dictionary_sha256"]


def test_a_line_of_one_word_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the el\ngato\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.txt:2: expected 'SOURCE TARGET'"):
        read_dictionary(str(path))
    with pytest.raises(InputError, match="dictionary file not found"):
        read_dictionary(str(tmp_path / "missing.txt"))


def test_dictionary_paths_take_lang_entries_and_a_template():
    assert dictionary_paths(["es=a.txt", "d/{lang}-en.txt"], ["es", "ru"]) == {"es": "a.txt", "ru": "d/ru-en.txt"}
    with pytest.raises(InputError, match="has no dictionary for 'ru'"):
        dictionary_paths(["es=a.txt"], ["es", "ru"])
    with pytest.raises(InputError, match="'vi' is not one of --languages"):
        dictionary_paths(["vi=a.txt"], ["es"])
    with pytest.raises(InputError, match="expected LANG=PATH entries, or one PATH with {lang}"):
        dictionary_paths(["plain.txt"], ["es"])
