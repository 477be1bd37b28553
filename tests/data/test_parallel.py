"""Reading, validating and filtering parallel data."""

from __future__ import annotations

import pytest

from tests.conftest import PARALLEL
from xladjust.data.parallel import (
    AlignedPair,
    CorpusStats,
    FilterSettings,
    ParallelSource,
    apply_link_filters,
    build_sources,
    load_language_corpus,
    read_alignment_file,
    read_parallel_file,
    read_source,
    select_pairs,
)
from xladjust.errors import InputError


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_fixture_files_with_alignments():
    pairs = read_source(ParallelSource("es", str(PARALLEL / "es-en.txt"), str(PARALLEL / "es-en.align")))
    assert len(pairs) == 14
    assert pairs[0] == AlignedPair(
        ["el", "gato", "come", "pescado", "."], ["the", "cat", "eats", "fish", "."], [(i, i) for i in range(5)]
    )
    assert pairs[4].links == [(0, 0), (1, 1), (2, 3), (3, 2), (4, 4)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "uno dos ||| one two\nsin separador\n",
            r"line.*|:2: expected 'TARGET \|\|\| ENGLISH' with one '\|\|\|', found no",
        ),
        ("a ||| b ||| c\n", r":1: .*found 2 separators"),
        ("  ||| one two\n", r":1: the target \(left\) side of the pair is empty"),
        ("uno dos |||   \n", r":1: the English \(right\) side of the pair is empty"),
        ("\n", r":1: expected 'TARGET"),
    ],
)
def test_parallel_file_errors_name_file_line_and_expectation(tmp_path, text, expected):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError, match=expected) as info:
        read_parallel_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("alignment", "expected"),
    [
        ("0-0 1-1\n0-0\n0-0\n", r"has 3 lines but the parallel file .* has 2"),
        (
            "0-0 1-1\n0-5\n",
            r":2: link 0-5 is out of range: the target sentence has 2 words and the English sentence 2",
        ),
        ("0-0 1:1\n0-0\n", r":1: malformed link '1:1'; expected 'i-j'"),
        ("0-0 -1-1\n0-0\n", r":1: malformed link '-1-1'"),
        ("0-0 a-1\n0-0\n", r":1: malformed link 'a-1'"),
    ],
)
def test_alignment_file_errors(tmp_path, alignment, expected):
    text = write(tmp_path, "p.txt", "uno dos ||| one two\ntres cuatro ||| three four\n")
    align = write(tmp_path, "p.align", alignment)
    pairs = read_parallel_file(text)
    with pytest.raises(InputError, match=expected) as info:
        read_alignment_file(align, pairs, text)
    assert str(align) in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.txt: file not found"):
        read_parallel_file(tmp_path / "nope.txt")


def test_empty_alignment_line_means_no_links(tmp_path):
    text = write(tmp_path, "p.txt", "uno dos ||| one two\n")
    pairs = read_parallel_file(text)
    read_alignment_file(write(tmp_path, "p.align", "\n"), pairs, text)
    assert pairs[0].links == []


def test_link_filters_count_what_they_drop():
    pair = AlignedPair(
        ["a", "b", "c", "d", "."], ["w", "x", "y", "z", "."], [(0, 0), (1, 1), (1, 2), (2, 3), (3, 3), (4, 4)]
    )
    stats = CorpusStats()
    [kept] = apply_link_filters([pair], FilterSettings(), stats)
    # b has two partners and z has two: four links are not 1-to-1; "." == "." is identical.
    assert kept.links == [(0, 0)]
    assert stats.links_dropped_not_one_to_one == 4
    assert stats.links_dropped_identical == 1

    stats = CorpusStats()
    [kept] = apply_link_filters([pair], FilterSettings(one_to_one=False, filter_identical=False), stats)
    assert kept.links == sorted(pair.links)
    assert stats.links_dropped_not_one_to_one == stats.links_dropped_identical == 0


def test_pairs_without_links_after_filtering_are_dropped_and_counted():
    pairs = [AlignedPair(["x"], ["x"], [(0, 0)]), AlignedPair(["a"], ["b"], [(0, 0)]), AlignedPair(["a"], ["b"])]
    stats = CorpusStats()
    kept = apply_link_filters(pairs, FilterSettings(), stats)
    assert [p.target for p in kept] == [["a"]]
    assert stats.pairs_dropped_no_links == 2


def test_select_pairs_drops_long_pairs_and_samples_deterministically():
    pairs = [AlignedPair([f"w{i}"] * (1 + i % 5), ["e"] * 3, [(0, 0)]) for i in range(40)]
    settings = FilterSettings(max_words=4)
    stats = CorpusStats()
    train, held_out = select_pairs(pairs, settings, stats, seed=3, max_train_pairs=10, validation_pairs=5)
    assert stats.pairs_read == 40 and stats.pairs_dropped_too_long == 8
    assert len(train) == 10 and len(held_out) == 5
    assert not {id(p) for p in train} & {id(p) for p in held_out}
    again, held_again = select_pairs(pairs, settings, CorpusStats(), seed=3, max_train_pairs=10, validation_pairs=5)
    assert again == train and held_again == held_out
    other, _ = select_pairs(pairs, settings, CorpusStats(), seed=4, max_train_pairs=10, validation_pairs=5)
    assert other != train
    with pytest.raises(InputError, match="leaves no training pairs"):
        select_pairs(pairs, settings, CorpusStats(), seed=3, max_train_pairs=None, validation_pairs=32)


def test_load_language_corpus_with_alignment_file():
    source = ParallelSource("es", str(PARALLEL / "es-en.txt"), str(PARALLEL / "es-en.align"))
    corpus = load_language_corpus(source, FilterSettings(), seed=0, validation_pairs=3)
    assert len(corpus.train) == 11 and len(corpus.held_out) == 3
    assert corpus.stats.pairs_read == 14
    # every Spanish sentence ends with "." aligned to "." which the identical filter removes
    assert corpus.stats.links_dropped_identical == 11
    assert corpus.held_out_stats.links_dropped_identical == 3


def test_dataset_source_with_translation_column(tmp_path):
    import datasets

    rows = [
        {"en": "The cat eats fish.", "es": "El gato come pescado."},
        {"en": "The house is big.", "es": "La casa es grande."},
    ]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"translation": rows})}).save_to_disk(tmp_path / "en-es")
    pairs = read_source(ParallelSource("es", dataset_name=str(tmp_path), dataset_config="en-es"))
    assert pairs[0].english == ["The", "cat", "eats", "fish", "."]
    assert pairs[0].target == ["El", "gato", "come", "pescado", "."]

    datasets.Dataset.from_dict({"text": ["x"]}).save_to_disk(tmp_path / "en-ru")
    expected = r"has columns \['text'\]; expected a 'translation' column .*--parallel_columns ENGLISH TARGET"
    with pytest.raises(InputError, match=expected):
        read_source(ParallelSource("ru", dataset_name=str(tmp_path), dataset_config="en-ru"))


def save_split(folder, columns: dict, features=None):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict(columns, features=features)}).save_to_disk(folder)


def test_dataset_source_with_sentence_transformers_columns(tmp_path, caplog):
    # sentence-transformers' parallel-sentences-* layout: English first, the other language second.
    english = ["The cat eats fish.", "The house is big.", None, "Hello."]
    target = ["El gato come pescado.", "La casa es grande.", "Hola.", ""]
    save_split(tmp_path / "en-es", {"english": english, "non_english": target})
    pairs = read_source(ParallelSource("es", dataset_name=str(tmp_path), dataset_config="en-es"))
    assert [(p.target, p.english) for p in pairs] == [
        (["El", "gato", "come", "pescado", "."], ["The", "cat", "eats", "fish", "."]),
        (["La", "casa", "es", "grande", "."], ["The", "house", "is", "big", "."]),
    ]
    assert "dropped 2 rows with an empty side" in caplog.text  # None and "" are empty sides, counted
    # The same rows through explicit columns, in either order of the file, and with {lang} in a name.
    save_split(tmp_path / "pair", {"es": target[:2], "en": english[:2]})
    named = ParallelSource("es", dataset_name=str(tmp_path), dataset_config="pair", columns=("en", "{lang}"))
    assert read_source(named) == pairs
    swapped = ParallelSource("es", dataset_name=str(tmp_path), dataset_config="pair", columns=("es", "en"))
    assert [p.target for p in read_source(swapped)] == [p.english for p in pairs]  # the first column is English


def test_dataset_columns_choose_a_layout_and_check_it(tmp_path):
    from datasets import Features, Translation, Value

    # A translation column wins over english/non_english; one name picks a translation column named otherwise.
    rows = {"translation": [{"en": "Yes .", "es": "Sí ."}], "english": ["No ."], "non_english": ["No ."]}
    save_split(tmp_path / "both", rows)
    (pair,) = read_source(ParallelSource("es", dataset_name=str(tmp_path), dataset_config="both"))
    assert pair.english == ["Yes", "."]
    features = Features({"pairs": Translation(languages=["en", "es"]), "id": Value("int32")})
    save_split(tmp_path / "renamed", {"pairs": [{"en": "Yes .", "es": "Sí ."}], "id": [1]}, features)
    source = ParallelSource("es", dataset_name=str(tmp_path), dataset_config="renamed", columns=("pairs",))
    assert read_source(source)[0].target == ["Sí", "."]
    with pytest.raises(InputError, match=r"row 0: 'pairs' has keys \['en', 'es'\]; expected 'en' and 'ru'"):
        read_source(ParallelSource("ru", dataset_name=str(tmp_path), dataset_config="renamed", columns=("pairs",)))
    with pytest.raises(InputError, match=r"has no column 'english' \(columns: \['pairs', 'id'\]\)"):
        read_source(
            ParallelSource("es", dataset_name=str(tmp_path), dataset_config="renamed", columns=("english", "es"))
        )
    save_split(tmp_path / "numbers", {"english": ["one"], "non_english": [1]})
    with pytest.raises(InputError, match=r"row 0: column 'non_english' holds int; expected a sentence"):
        read_source(ParallelSource("es", dataset_name=str(tmp_path), dataset_config="numbers"))


def test_build_sources_matches_flags_to_languages():
    sources = build_sources(["es", "ru"], ["a.txt", "b.txt"], ["a.align", "b.align"], None, None)
    assert [(s.language, s.parallel_file, s.alignment_file) for s in sources] == [
        ("es", "a.txt", "a.align"),
        ("ru", "b.txt", "b.align"),
    ]
    sources = build_sources(["es"], None, None, "Helsinki-NLP/opus-100", None)
    assert sources[0].dataset_config == "en-es"
    with pytest.raises(InputError, match="--parallel_files has 1 values for 2 languages"):
        build_sources(["es", "ru"], ["a.txt"], None, None, None)
    with pytest.raises(InputError, match="--alignment_files has 1 values"):
        build_sources(["es", "ru"], ["a.txt", "b.txt"], ["a.align"], None, None)
    with pytest.raises(InputError, match="no parallel data"):
        build_sources(["es"], None, None, None, None)
    with pytest.raises(InputError, match="repeats a language"):
        build_sources(["es", "es"], ["a", "b"], None, None, None)
    with pytest.raises(InputError, match="English is always the other side"):
        build_sources(["en"], ["a"], None, None, None)
    sources = build_sources(["es", "ru"], None, None, "org/corpus", ["a", "b"], "dev", ["english", "non_english"])
    assert [(s.dataset_config, s.dataset_split, s.columns) for s in sources] == [
        ("a", "dev", ("english", "non_english")),
        ("b", "dev", ("english", "non_english")),
    ]
    with pytest.raises(InputError, match="--parallel_columns names the columns of a dataset"):
        build_sources(["es"], ["a.txt"], None, None, None, columns=["english", "non_english"])
    with pytest.raises(InputError, match="--parallel_columns takes ENGLISH TARGET"):
        build_sources(["es"], None, None, "org/corpus", None, columns=["a", "b", "c"])
