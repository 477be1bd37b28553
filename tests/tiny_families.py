"""Tiny tokenizers of every family xladjust supports, and tiny encoders of every architecture it is tested on.

Each tokenizer is the transformers class the real models ship (``BertTokenizer`` for mBERT, ``XLMRobertaTokenizer``,
``DebertaV2Tokenizer`` for mDeBERTa-v3, ``RobertaTokenizer``, ``GemmaTokenizer`` for mmBERT's SentencePiece BPE, a
``tokenizer.json`` with byte-level BPE for ModernBERT, ``DistilBertTokenizer``), built from a vocabulary that the
``tokenizers`` trainers learn on the fixture text in well under a second, then saved and loaded back with
``AutoTokenizer`` as the scripts load them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizer,
    DebertaV2Config,
    DebertaV2Model,
    DebertaV2Tokenizer,
    DistilBertConfig,
    DistilBertModel,
    DistilBertTokenizer,
    GemmaTokenizer,
    ModernBertConfig,
    ModernBertModel,
    PreTrainedTokenizerFast,
    RobertaTokenizer,
    XLMRobertaConfig,
    XLMRobertaModel,
    XLMRobertaTokenizer,
)

from tests.tiny_models import fixture_text

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


@cache
def _wordpiece_vocab(size: int) -> dict[str, int]:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(fixture_text(), trainers.WordPieceTrainer(vocab_size=size, special_tokens=BERT_SPECIALS))
    return tok.get_vocab()


@cache
def _unigram_vocab(size: int, specials: tuple[str, ...]) -> list[tuple[str, float]]:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=size, special_tokens=list(specials), unk_token=specials[1])
    tok.train_from_iterator(fixture_text(), trainer)
    return [tuple(piece) for piece in json.loads(tok.to_str())["model"]["vocab"]]


def _bpe(pre_tokenizer, specials: list[str], size: int, alphabet: list[str]) -> tuple[dict[str, int], list[tuple]]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(
        fixture_text(), trainers.BpeTrainer(vocab_size=size, special_tokens=specials, initial_alphabet=alphabet)
    )
    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(merge) for merge in model["merges"]]


@cache
def _byte_level_bpe(size: int, specials: tuple[str, ...]) -> tuple[dict[str, int], list[tuple]]:
    return _bpe(
        pre_tokenizers.ByteLevel(add_prefix_space=False), list(specials), size, pre_tokenizers.ByteLevel.alphabet()
    )


@cache
def _sentencepiece_bpe(size: int) -> tuple[dict[str, int], list[tuple]]:
    """Gemma-style pieces (``▁`` marks a word start; byte fallback ``<0x..>`` for what the pieces do not cover)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *[f"<0x{byte:02X}>" for byte in range(256)]]
    return _bpe(pre_tokenizers.Metaspace(prepend_scheme="always"), specials, size, [])


def _reloaded(tokenizer, folder: Path):
    tokenizer.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def bert_tokenizer(size: int = 400) -> BertTokenizer:
    """mBERT: cased WordPiece, BERT normaliser (drops control characters), [CLS] x [SEP], token type ids."""
    return BertTokenizer(vocab=_wordpiece_vocab(size), do_lower_case=False, model_max_length=128)


def distilbert_tokenizer(size: int = 400) -> DistilBertTokenizer:
    """DistilBERT: the same WordPiece, without token type ids."""
    return DistilBertTokenizer(vocab=_wordpiece_vocab(size), do_lower_case=False, model_max_length=128)


def xlmr_tokenizer(size: int = 300) -> XLMRobertaTokenizer:
    """XLM-R: SentencePiece Unigram, ``▁`` word starts, NFKC (the real one's precompiled nmt_nfkc map does as much
    for composing characters), <s> x </s>, no token type ids."""
    tokenizer = XLMRobertaTokenizer(vocab=_unigram_vocab(size, tuple(ROBERTA_SPECIALS)), model_max_length=128)
    tokenizer.backend_tokenizer.normalizer = normalizers.NFKC()
    return tokenizer


def deberta_v3_tokenizer(size: int = 300) -> DebertaV2Tokenizer:
    """mDeBERTa-v3: SentencePiece Unigram with DeBERTa's normaliser, [CLS] x [SEP], token type ids."""
    specials = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    return DebertaV2Tokenizer(vocab=_unigram_vocab(size, specials), model_max_length=128)


def gemma_tokenizer(size: int = 600) -> GemmaTokenizer:
    """mmBERT's tokenizer family: SentencePiece BPE (Gemma) that adds no ``▁`` before the first word."""
    vocab, merges = _sentencepiece_bpe(size)
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=128, add_bos_token=True)
    return tokenizer


def roberta_tokenizer(size: int = 500, add_prefix_space: bool = False) -> RobertaTokenizer:
    """RoBERTa: byte-level BPE (``Ġ`` word starts), <s> x </s>; saved with or without ``add_prefix_space``."""
    vocab, merges = _byte_level_bpe(size, tuple(ROBERTA_SPECIALS))
    return RobertaTokenizer(vocab=vocab, merges=merges, add_prefix_space=add_prefix_space, model_max_length=128)


def modernbert_tokenizer(size: int = 500) -> PreTrainedTokenizerFast:
    """ModernBERT: a ``tokenizer.json`` with byte-level BPE, no prefix space, [CLS] x [SEP] by a template (so
    offsets keep the space before a word), no token type ids."""
    vocab, merges = _byte_level_bpe(size, tuple(BERT_SPECIALS))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )


TOKENIZER_FAMILIES = {
    "wordpiece": bert_tokenizer,
    "wordpiece_no_token_types": distilbert_tokenizer,
    "sentencepiece_unigram": xlmr_tokenizer,
    "deberta_v3": deberta_v3_tokenizer,
    "sentencepiece_bpe": gemma_tokenizer,
    "byte_level_bpe": roberta_tokenizer,
    "byte_level_bpe_prefix_space": lambda: roberta_tokenizer(add_prefix_space=True),
    "byte_level_bpe_template": modernbert_tokenizer,
}
"""Family name → builder; every builder's tokenizer is saved and loaded back by :func:`load_family`."""


def load_family(name: str, folder: Path):
    """The family's tokenizer as ``AutoTokenizer`` loads it from a saved folder (what the scripts see)."""
    return _reloaded(TOKENIZER_FAMILIES[name](), folder)


# ---------------------------------------------------------------------------------------------------------------
# Tiny encoders of each architecture, each with its family's tokenizer.


def _sizes(hidden: int, layers: int) -> dict[str, int]:
    return {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": 2}


def save_tiny_encoder(architecture: str, path: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A saved 2-layer encoder of ``architecture`` (bert, xlm-roberta, deberta-v2, modernbert, distilbert)."""
    torch.manual_seed(seed)
    if architecture == "bert":
        tokenizer = bert_tokenizer()
        config = BertConfig(
            vocab_size=len(tokenizer),
            intermediate_size=2 * hidden,
            max_position_embeddings=128,
            **_sizes(hidden, layers),
        )
        model = BertModel(config)
    elif architecture == "xlm-roberta":
        tokenizer = xlmr_tokenizer()
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),
            intermediate_size=2 * hidden,
            max_position_embeddings=130,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **_sizes(hidden, layers),
        )
        model = XLMRobertaModel(config, add_pooling_layer=False)
    elif architecture == "deberta-v2":
        tokenizer = deberta_v3_tokenizer()
        config = DebertaV2Config(
            vocab_size=len(tokenizer),
            intermediate_size=2 * hidden,
            max_position_embeddings=128,
            pad_token_id=tokenizer.pad_token_id,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1,
            position_buckets=32,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            type_vocab_size=0,
            **_sizes(hidden, layers),
        )
        model = DebertaV2Model(config)
    elif architecture == "modernbert":
        tokenizer = modernbert_tokenizer()
        config = ModernBertConfig(
            vocab_size=len(tokenizer),
            intermediate_size=2 * hidden,
            max_position_embeddings=128,
            pad_token_id=tokenizer.pad_token_id,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            global_attn_every_n_layers=2,
            local_attention=16,
            attn_implementation="eager",
            **_sizes(hidden, layers),
        )
        model = ModernBertModel(config)
    elif architecture == "distilbert":
        tokenizer = distilbert_tokenizer()
        config = DistilBertConfig(
            vocab_size=len(tokenizer),
            dim=hidden,
            n_layers=layers,
            n_heads=2,
            hidden_dim=2 * hidden,
            max_position_embeddings=128,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = DistilBertModel(config)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


ARCHITECTURES = ("bert", "xlm-roberta", "deberta-v2", "modernbert", "distilbert")
