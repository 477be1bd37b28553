"""Tatoeba readers: XTREME/LASER files, and a fake Hub laid out like mteb/tatoeba-bitext-mining and google/xtreme."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import datasets
import pytest

from tests.tiny_models import FIXTURES
from xladjust.data import tatoeba
from xladjust.data.languages import TATOEBA_CODES
from xladjust.data.tatoeba import load_tatoeba, read_tatoeba_files
from xladjust.errors import InputError

TATOEBA = FIXTURES / "tatoeba"
REAL_LOAD_DATASET = datasets.load_dataset


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_parquet(folder: Path, split: str, columns: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake ``load_dataset`` over parquet folders ``REPO/CONFIG/SPLIT-*.parquet``, as the Hub's parquet layout.

    mteb/tatoeba-bitext-mining: configs ``spa-eng`` ... (foreign first), split ``test``, ``sentence1`` = foreign,
    ``sentence2`` = English. google/xtreme: configs ``tatoeba.spa`` ..., split ``validation``, ``source_sentence``
    (foreign, each line with its newline, as the old script read them) and ``target_sentence`` (English).
    """
    root = tmp_path / "hub"
    spa, eng = lines(TATOEBA / "tatoeba.spa-eng.spa"), lines(TATOEBA / "tatoeba.spa-eng.eng")
    write_parquet(root / "mteb/tatoeba-bitext-mining/spa-eng", "test", {"sentence1": spa, "sentence2": eng})
    rus, rus_eng = lines(TATOEBA / "tatoeba.rus-eng.rus"), lines(TATOEBA / "tatoeba.rus-eng.eng")
    write_parquet(root / "mteb/tatoeba-bitext-mining/rus-eng", "test", {"sentence1": rus, "sentence2": rus_eng})
    for code in ("spa", "vie"):
        write_parquet(
            root / f"google/xtreme/tatoeba.{code}",
            "validation",
            {
                "source_sentence": [s + "\n" for s in spa],
                "target_sentence": [e + "\n" for e in eng],
                "source_lang": [code] * len(spa),
                "target_lang": ["eng"] * len(spa),
            },
        )
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        folder = root / path / str(name)
        if not folder.is_dir():
            configs = sorted(p.name for p in (root / path).iterdir())
            raise ValueError(f"BuilderConfig '{name}' not found. Available: {configs}")
        files = sorted(folder.glob(f"{split}-*.parquet"))
        if not files:
            raise ValueError(f'Unknown split "{split}"; the folder has {sorted(p.name for p in folder.iterdir())}')
        return REAL_LOAD_DATASET("parquet", data_files=[str(f) for f in files], split="train")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    return calls


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
