"""Shared test builders: command lines of the scripts on the fixtures, small models, a script in a subprocess.

Test modules import from here (and from conftest's fixtures), never from each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import torch
from transformers import BertConfig, BertModel

from tests.launch import ROOT
from tests.tiny_models import FIXTURES, wordpiece_tokenizer
from xladjust.adjust.continual import ContinualAlignment, ContinualLearningArguments, build_continual_alignment

REAL_LOAD_DATASET = datasets.load_dataset
PARALLEL = FIXTURES / "parallel"
NLI = FIXTURES / "nli"
NER = FIXTURES / "ner"
POS = FIXTURES / "pos"
PAWSX = FIXTURES / "pawsx"
SIB200 = FIXTURES / "sib200"
BELEBELE = FIXTURES / "belebele"


def adjust_args(model, output_dir, languages=("es", "ru"), alignments=True, *extra: str) -> list[str]:
    args = ["--model_name_or_path", str(model), "--output_dir", str(output_dir), "--languages", *languages]
    args += ["--parallel_files", *[str(PARALLEL / f"{lang}-en.txt") for lang in languages]]
    if alignments:
        args += ["--alignment_files", *[str(PARALLEL / f"{lang}-en.align") for lang in languages]]
    args += ["--per_device_train_batch_size", "4", "--learning_rate", "2e-3", "--logging_steps", "2"]
    args += ["--disable_tqdm", "true", "--save_strategy", "no", "--seed", "1"]
    return args + list(extra)


CONTINUAL = [
    "--align_languages",
    "es",
    "--align_parallel_file",
    str(PARALLEL / "es-en.txt"),
    "--align_alignment_file",
    str(PARALLEL / "es-en.align"),
    "--align_batch_size",
    "4",
]


def task_args(model: Path, output: Path, *extra: str, batch_size: int = 4) -> list[str]:
    """The options every task script takes in the tests: model, output, small batches, no saving, seed 1."""
    return [
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output),
        "--per_device_train_batch_size",
        str(batch_size),
        "--per_device_eval_batch_size",
        "16",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        "--report_to",
        "none",
        "--seed",
        "1",
        *extra,
    ]


def xnli_args(model: Path, output: Path, *extra: str) -> list[str]:
    files = ["--train_file", str(NLI / "train.en.jsonl"), "--validation_files", str(NLI / "dev.{lang}.jsonl")]
    return task_args(model, output, *files, *extra, batch_size=8)


def ner_args(model: Path, output: Path, *extra: str) -> list[str]:
    files = ["--train_file", str(NER / "train.en.jsonl"), "--test_files", str(NER / "test.{lang}.conll")]
    return task_args(model, output, *files, *extra, batch_size=8)


def pos_args(model: Path, output: Path, *extra: str) -> list[str]:
    """run_ner.py --task_name pos on the CoNLL-U fixtures (English train, five test languages)."""
    files = ["--train_file", str(POS / "train.en.conllu"), "--test_files", str(POS / "test.{lang}.conllu")]
    return task_args(model, output, "--task_name", "pos", *files, *extra)


def pawsx_args(model: Path, output: Path, *extra: str) -> list[str]:
    """run_xnli.py --task_name pawsx on the official-layout tsv fixtures (x-final/LANG/...)."""
    files = ["--train_file", str(PAWSX / "en" / "train.tsv"), "--test_files", str(PAWSX / "{lang}" / "test_2k.tsv")]
    return task_args(model, output, "--task_name", "pawsx", *files, *extra)


def sib200_args(model: Path, output: Path, languages=("en", "es", "ru"), *extra: str) -> list[str]:
    """run_xnli.py --task_name sib200 on the fixtures laid out like data/CODE/{train,test}.tsv."""
    codes = {"en": "eng_Latn", "es": "spa_Latn", "ru": "rus_Cyrl"}
    tests = [f"{lang}={SIB200 / codes[lang] / 'test.tsv'}" for lang in languages]
    files = ["--train_file", str(SIB200 / "eng_Latn" / "train.tsv"), "--test_files", *tests]
    return task_args(model, output, "--task_name", "sib200", *files, "--eval_languages", *languages, *extra)


def belebele_args(model: Path, output: Path, languages=("en", "es", "ru"), *extra: str) -> list[str]:
    """run_belebele.py on the assembled-training-set tsv and Belebele's data/CODE.jsonl fixtures."""
    codes = {"en": "eng_Latn", "es": "spa_Latn", "ru": "rus_Cyrl"}
    tests = [f"{lang}={BELEBELE / (codes[lang] + '.jsonl')}" for lang in languages]
    files = ["--train_file", str(BELEBELE / "belebele_training_set.tsv"), "--test_files", *tests]
    return task_args(model, output, *files, "--eval_languages", *languages, "--max_seq_length", "96", *extra)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_script(script: str, args: list[str], kill_after: int | None = None) -> subprocess.CompletedProcess:
    prefix = [str(ROOT / "tests" / "kill_after_checkpoint.py"), str(kill_after)] if kill_after else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *prefix, str(ROOT / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def save_word_level_bert(path: Path, hidden: int = 64) -> Path:
    """A wider tiny BERT with whole-word pieces: tiny_bert's 400 pieces spell English out letter by letter, and
    from letters its 32 dimensions do not learn NLI in a few seconds."""
    tokenizer = wordpiece_tokenizer(vocab_size=4000)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def continual_for(model, tokenizer, output_dir: Path, **options) -> ContinualAlignment:
    args = ContinualLearningArguments(
        align_languages=["es"],
        align_parallel_file=[str(PARALLEL / "es-en.txt")],
        align_alignment_file=[str(PARALLEL / "es-en.align")],
        **{"align_batch_size": 4, **options},
    )
    return build_continual_alignment(args, model, tokenizer, seed=0, output_dir=str(output_dir))


class FakeHub:
    """``load_dataset`` over a folder laid out like the Hub: ``REPO/main/CONFIG/SPLIT-*.parquet`` for parquet
    repositories, ``REPO/refs/convert/parquet/CONFIG/SPLIT/0000.parquet`` for the exports."""

    def __init__(self, root: Path, scripts: set[str] = frozenset()):
        self.root, self.scripts, self.calls = root, set(scripts), []

    def add(self, repo: str, config: str, split: str, table: datasets.Dataset, export: bool = False) -> None:
        if export:
            path = self.root / repo / "refs/convert/parquet" / config / split / "0000.parquet"
        else:
            path = self.root / repo / "main" / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(path))

    def add_file(self, repo: str, path: str, text: str) -> None:
        """A file of the repository itself (read by path, e.g. Belebele's ``data/CODE.jsonl``)."""
        local = self.root / repo / "files" / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")

    def __call__(self, path, name=None, *, split, data_files=None, cache_dir=None, streaming=False):
        self.calls.append((path, name, split, None if data_files is None else data_files[split]))
        options = {"split": split, "cache_dir": str(self.root / ".cache"), "streaming": streaming}
        if data_files is not None and path == "json":  # a repository's own json file, REPO/files/PATH
            local = self.root / data_files[split].removeprefix("hf://datasets/").replace("/data/", "/files/data/", 1)
            if not local.is_file():
                raise datasets.exceptions.DataFilesNotFoundError(f"No (supported) data files found in {local.name}")
            return REAL_LOAD_DATASET("json", data_files={split: [str(local)]}, **options)
        if data_files is not None:  # the parquet loader over hf:// files
            assert path == "parquet" and set(data_files) == {split}
            prefix, rest = data_files[split].split("@refs%2Fconvert%2Fparquet/")
            local = self.root / prefix.removeprefix("hf://datasets/") / "refs/convert/parquet" / rest
            files = sorted(local.parent.glob(local.name))
            if not files:
                raise datasets.exceptions.DataFilesNotFoundError(f"No (supported) data files found in {prefix}")
            return REAL_LOAD_DATASET("parquet", data_files={split: [str(f) for f in files]}, **options)
        if path in self.scripts:
            raise RuntimeError(f"Dataset scripts are no longer supported, but found {path.split('/')[-1]}.py")
        folder = self.root / path / "main"
        if not folder.is_dir():
            raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")
        configs = sorted(p.name for p in folder.iterdir())
        if name not in configs:
            raise ValueError(f"BuilderConfig '{name}' not found. Available: {configs}")
        files = sorted((folder / name).glob(f"{split}-*.parquet"))
        if not files:
            raise ValueError(f'Unknown split "{split}". Should be one of [...].')
        return REAL_LOAD_DATASET("parquet", data_files={split: [str(f) for f in files]}, **options)


WIKIMATRIX = "sentence-transformers/parallel-sentences-wikimatrix"


def add_fake_wikimatrix(fake: FakeHub, languages: tuple[str, ...] = ("es",), dev_rows: int = 3) -> None:
    """``sentence-transformers/parallel-sentences-wikimatrix`` as the Hub lays it out: one config ``en-LANG`` per
    language plus ``all``, splits ``train`` and ``dev`` (``en-es/train-00000-of-00001.parquet``), two string
    columns ``english`` and ``non_english``. The rows are the fixture pairs (``dev``: the first ``dev_rows``)."""
    columns: dict[str, list[str]] = {"english": [], "non_english": []}
    for language in languages:
        lines = (PARALLEL / f"{language}-en.txt").read_text(encoding="utf-8").splitlines()
        target, english = zip(*(line.split(" ||| ") for line in lines), strict=True)
        features = datasets.Features({"english": datasets.Value("string"), "non_english": datasets.Value("string")})
        rows = {"english": list(english), "non_english": list(target)}
        fake.add(WIKIMATRIX, f"en-{language}", "train", datasets.Dataset.from_dict(rows, features=features))
        dev = {name: values[:dev_rows] for name, values in rows.items()}
        fake.add(WIKIMATRIX, f"en-{language}", "dev", datasets.Dataset.from_dict(dev, features=features))
        for name in columns:
            columns[name] += rows[name]
    fake.add(WIKIMATRIX, "all", "train", datasets.Dataset.from_dict(columns))
