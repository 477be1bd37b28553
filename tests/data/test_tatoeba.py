"""Tatoeba readers: XTREME/LASER files, and the Hub (faked by tests/tatoeba_files.py)."""

from __future__ import annotations

import logging
import re

import datasets
import pytest

from tests.tatoeba_files import TATOEBA, fake_tatoeba_hub, lines
from xladjust.data import tatoeba
from xladjust.data.languages import TATOEBA_CODES
from xladjust.data.tatoeba import load_tatoeba, read_tatoeba_files
from xladjust.errors import InputError


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake Hub of :func:`tests.tatoeba_files.fake_tatoeba_hub`; the list of its calls."""
    return fake_tatoeba_hub(tmp_path / "hub", monkeypatch)


def test_local_laser_files_are_line_aligned_pairs():
    bitext = read_tatoeba_files(TATOEBA, "es")
    assert bitext.foreign == lines(TATOEBA / "tatoeba.spa-eng.spa")
    assert bitext.english == lines(TATOEBA / "tatoeba.spa-eng.eng")
    assert bitext.ids == [str(i) for i in range(10)] and bitext.source == str(TATOEBA / "tatoeba.spa-eng.spa")
    assert len(read_tatoeba_files(TATOEBA, "ru")) == 9


def test_local_files_with_xtreme_two_letter_names(tmp_path):
    (tmp_path / "tatoeba.es-eng.es").write_bytes((TATOEBA / "tatoeba.spa-eng.spa").read_bytes())
    (tmp_path / "tatoeba.es-eng.eng").write_bytes((TATOEBA / "tatoeba.spa-eng.eng").read_bytes())
    assert read_tatoeba_files(tmp_path, "es").english[0] == "Where is the train station?"


def test_local_file_mistakes(tmp_path, caplog):
    with pytest.raises(InputError, match=re.escape("expected tatoeba.vie-eng.vie + tatoeba.vie-eng.eng or")):
        read_tatoeba_files(TATOEBA, "vi")
    with pytest.raises(InputError, match="Tatoeba has no language 'xx'"):
        read_tatoeba_files(TATOEBA, "xx")
    (tmp_path / "tatoeba.spa-eng.spa").write_text("uno\ndos\ntres\n", encoding="utf-8")
    (tmp_path / "tatoeba.spa-eng.eng").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"tatoeba\.spa-eng\.spa: 3 lines but tatoeba\.spa-eng\.eng has 2"):
        read_tatoeba_files(tmp_path, "es")
    # A line break inside a sentence that is not "\n" stays; an empty side drops the pair, counted.
    (tmp_path / "tatoeba.spa-eng.spa").write_text("uno\u2028bis\n\ntres\r\n", encoding="utf-8")
    (tmp_path / "tatoeba.spa-eng.eng").write_text("one\ntwo\nthree\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        bitext = read_tatoeba_files(tmp_path, "es")
    assert (bitext.foreign, bitext.english, bitext.ids) == (["uno\u2028bis", "tres"], ["one", "three"], ["0", "2"])
    assert "dropped 1 of 3 pairs with an empty side" in caplog.text


def test_hub_mteb_first(hub):
    bitext = load_tatoeba("es")
    assert hub == [("mteb/tatoeba-bitext-mining", "spa-eng", "test")]
    assert bitext.foreign == lines(TATOEBA / "tatoeba.spa-eng.spa")  # sentence1 is the foreign side
    assert bitext.english == lines(TATOEBA / "tatoeba.spa-eng.eng")
    assert bitext.source == "mteb/tatoeba-bitext-mining:spa-eng[test]"


def test_hub_falls_back_to_google_xtreme(hub, caplog):
    with caplog.at_level(logging.WARNING):
        bitext = load_tatoeba("vi")  # the fake mteb repository has no vie-eng
    assert hub == [("mteb/tatoeba-bitext-mining", "vie-eng", "test"), ("google/xtreme", "tatoeba.vie", "validation")]
    assert bitext.source == "google/xtreme:tatoeba.vie[validation]"
    assert bitext.foreign[0] == "¿Dónde está la estación de tren?"  # the newline of the old script's rows stripped
    assert "BuilderConfig 'vie-eng' not found" in caplog.text


def test_hub_failure_on_a_refused_script_repository(hub, monkeypatch):
    fake = datasets.load_dataset

    def refuse_mteb(path, *args, **kwargs):
        if path == tatoeba.TATOEBA_HUB:
            raise RuntimeError("Dataset scripts are no longer supported, but found tatoeba-bitext-mining.py")
        return fake(path, *args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", refuse_mteb)
    assert load_tatoeba("es").source == "google/xtreme:tatoeba.spa[validation]"
    with pytest.raises(InputError, match="Tatoeba ru: no source could be loaded; tried .*scripts.*tatoeba.rus"):
        load_tatoeba("ru")


def test_local_dir_never_goes_to_the_hub(hub):
    assert load_tatoeba("es", TATOEBA).source.endswith("tatoeba.spa-eng.spa") and hub == []
    with pytest.raises(InputError, match="no Tatoeba files for 'vi'"):
        load_tatoeba("vi", TATOEBA)
    assert hub == []


def test_code_map_covers_the_paper_languages_and_xtreme():
    assert [TATOEBA_CODES[lang] for lang in ("es", "ru", "vi", "hi")] == ["spa", "rus", "vie", "hin"]
    assert len(TATOEBA_CODES) == 36 and len(set(TATOEBA_CODES.values())) == 36
