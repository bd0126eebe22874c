"""Training a T5-style description tokenizer from scratch.

Released SongGen checkpoints use FLAN-T5's SentencePiece tokenizer, which ships with them.
Where no pretrained text encoder exists (our embedded default model, offline tests), a small
text encoder is trained from scratch and needs a tokenizer with T5's conventions:
``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2, ``</s>`` appended to every text, right padding.
This builds one with the ``tokenizers`` Unigram trainer (the algorithm behind T5's
SentencePiece model) or its BPE trainer, and wraps it as a ``PreTrainedTokenizerFast`` so it
saves, loads and pads like any transformers tokenizer.

Why BPE is offered: on a small closed-vocabulary corpus (the synthetic one has ~260 distinct
words) the Unigram trainer stops far below the requested size and keeps pieces such as
"thi" + "s" or "11" + "3", so a tempo is spread over two tokens.  BPE keeps merging until the
vocabulary is full, which turns every frequent word and number into one token while unseen
words still fall back to sub-words.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")


def train_description_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000, save_directory: str | Path | None = None, algorithm: str = "unigram"
) -> PreTrainedTokenizerFast:
    """Train a Unigram (default) or BPE tokenizer on ``texts`` with T5's special tokens and post-processing."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("train_description_tokenizer needs at least one non-empty text.")
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}.")
    if algorithm not in ("unigram", "bpe"):
        raise ValueError(f"algorithm must be 'unigram' or 'bpe', got {algorithm!r}.")
    tokenizer = Tokenizer(models.Unigram() if algorithm == "unigram" else models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    if algorithm == "bpe":  # "piano," and "piano" should be one word plus a comma, not two words
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    if algorithm == "unigram":
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", shrinking_factor=0.75
        )
    else:
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        padding_side="right",
        model_max_length=512,
    )
    if save_directory is not None:
        wrapped.save_pretrained(save_directory)
    return wrapped


__all__ = ["train_description_tokenizer", "SPECIAL_TOKENS"]
