"""Tiny encoders and tokenizers built offline in milliseconds from the fixture text."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

FIXTURES = Path(__file__).parent / "fixtures"


TOKENIZER_FIXTURES = ("ner", "nli", "parallel", "qa", "tatoeba")
"""The fixture folders the tiny tokenizers learn their vocabulary from; fixtures added for other tasks stay out, so
that adding one does not change the vocabulary every other test runs with."""


def fixture_text() -> list[str]:
    """Every line of the text fixtures of :data:`TOKENIZER_FIXTURES`, both sides of the parallel files included."""
    lines = []
    for path in sorted(p for folder in TOKENIZER_FIXTURES for p in (FIXTURES / folder).rglob("*")):
        if path.suffix in {".txt", ".jsonl", ".json", ".conll", ".tsv"} and path.is_file():
            lines += path.read_text(encoding="utf-8").replace("|||", "\n").splitlines()
    return [line for line in lines if line.strip()]


def wordpiece_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A BERT-style cased WordPiece tokenizer ([CLS] x [SEP])."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(fixture_text(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )


def unigram_tokenizer(vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """An XLM-R-style SentencePiece (Unigram, Metaspace) tokenizer (<s> x </s>)."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(fixture_text(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=128,
    )


def save_tiny_bert(path: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    tokenizer = wordpiece_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_tiny_xlmr(path: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    tokenizer = unigram_tokenizer()
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=130,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
