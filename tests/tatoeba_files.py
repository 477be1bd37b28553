"""A fake Hub for the Tatoeba readers: parquet folders laid out like mteb/tatoeba-bitext-mining and google/xtreme."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from tests.tiny_models import FIXTURES

TATOEBA = FIXTURES / "tatoeba"
REAL_LOAD_DATASET = datasets.load_dataset


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_parquet(folder: Path, split: str, columns: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def fake_tatoeba_hub(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None, str | None]]:
    """Replace ``datasets.load_dataset`` by a reader of parquet folders ``REPO/CONFIG/SPLIT-*.parquet`` under
    ``root`` (the Hub's parquet layout); returns the list that records every ``(path, name, split)`` asked for.

    mteb/tatoeba-bitext-mining: configs ``spa-eng`` ... (foreign first), split ``test``, ``sentence1`` = foreign,
    ``sentence2`` = English. google/xtreme: configs ``tatoeba.spa`` ..., split ``validation``, ``source_sentence``
    (foreign, each line with its newline, as the old script read them) and ``target_sentence`` (English).
    """
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
    calls: list[tuple[str, str | None, str | None]] = []

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
