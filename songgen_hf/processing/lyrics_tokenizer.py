"""VoiceBPE lyrics tokenizer (the XTTS-style BPE used by SongGen for lyrics).

The vocabulary is a ``tokenizers`` BPE model with a ``Whitespace``
pre-tokenizer, stored as the full ``Tokenizer.to_str()`` JSON in ``vocab.json``.
Encoding is: clean the text, prefix the language tag (``[en]``), replace every
space by the ``[SPACE]`` token, then run BPE. Lyrics fed to the model are
framed as ``[START] + encode(...) + [STOP]``.

All special ids are read from the vocabulary by token string, so the real
6681-token vocabulary ([STOP]=0, [UNK]=1, [SPACE]=2, [en]=259, [START]=261) and
small vocabularies trained with :func:`train_voicebpe_vocab` behave the same.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import warnings
from collections.abc import Iterable, Sequence

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

from songgen_hf.processing.song_structure import sung_lyrics
from songgen_hf.processing.text_cleaning import clean_lyrics, transliterate

__all__ = [
    "VOCAB_FILE_NAME",
    "START_TOKEN",
    "STOP_TOKEN",
    "SPACE_TOKEN",
    "UNK_TOKEN",
    "VoiceBpeTokenizer",
    "train_voicebpe_vocab",
]

VOCAB_FILE_NAME = "vocab.json"
STOP_TOKEN = "[STOP]"
UNK_TOKEN = "[UNK]"
SPACE_TOKEN = "[SPACE]"
START_TOKEN = "[START]"
REQUIRED_SPECIAL_TOKENS = (STOP_TOKEN, UNK_TOKEN, SPACE_TOKEN, START_TOKEN)

# Language tags look like "[en]", "[zh-cn]": lower case, unlike the upper-case
# control tokens above.
_LANGUAGE_TAG_RE = re.compile(r"^\[([a-z]{2,3}(?:-[a-z]+)?)\]$")

# Characters that survive English cleaning. Seeding the BPE alphabet with them
# keeps a small training corpus from leaving common punctuation as [UNK].
_DEFAULT_ALPHABET = list("abcdefghijklmnopqrstuvwxyz") + list(".,!?'-:;")


def _language_tag(lang: str) -> str:
    return f"[{lang}]"


def _write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a half-written file."""
    from songgen_hf.atomic import write_text_atomic  # staged, fsynced, renamed; plain umask permissions

    write_text_atomic(path, text)


def _resolve_vocab_path(folder_or_file: str | os.PathLike) -> str:
    path = os.fspath(folder_or_file)
    if os.path.isdir(path):
        path = os.path.join(path, VOCAB_FILE_NAME)
    if not os.path.isfile(path):
        raise ValueError(
            f"VoiceBPE vocab file not found at {path!r}. Pass the path of a tokenizers "
            f"'{VOCAB_FILE_NAME}' or a folder that contains one (train one with train_voicebpe_vocab)."
        )
    return path


def _parse_vocab_json(raw_json: str, source: str) -> Tokenizer:
    """Validate the serialized ``tokenizers`` JSON and build the Tokenizer."""
    hint = (
        "Expected the full tokenizers serialization (Tokenizer.to_str()/Tokenizer.save()) with a "
        "BPE model holding 'vocab' and 'merges'."
    )
    try:
        data = json.loads(raw_json)
    except json.JSONDecodeError as error:
        raise ValueError(f"VoiceBPE vocab {source!r} is not valid JSON ({error}). {hint}") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or "vocab" not in model or "merges" not in model:
        raise ValueError(
            f"VoiceBPE vocab {source!r} is not in the tokenizers JSON format: no 'model' with "
            f"'vocab' and 'merges'. A plain token->id mapping is not enough. {hint}"
        )
    if model.get("type", "BPE") != "BPE":
        raise ValueError(f"VoiceBPE vocab {source!r} holds a {model['type']!r} model, not BPE. {hint}")
    pre_tokenizer = data.get("pre_tokenizer")
    if not (isinstance(pre_tokenizer, dict) and pre_tokenizer.get("type") == "Whitespace"):
        # Still usable, but ids will not match the reference VoiceBPE pipeline.
        warnings.warn(
            f"VoiceBPE vocab {source!r} does not use a Whitespace pre-tokenizer "
            f"(found {pre_tokenizer!r}); token ids may differ from SongGen's.",
            stacklevel=3,
        )
    try:
        return Tokenizer.from_str(raw_json)
    except Exception as error:  # tokenizers raises its own Exception subclass
        raise ValueError(f"tokenizers could not load VoiceBPE vocab {source!r}: {error}. {hint}") from None


class VoiceBpeTokenizer:
    """Lyrics tokenizer: cleaning + ``[lang]`` prefix + ``[SPACE]`` convention + BPE.

    Padding: batches are right-padded with the ``[STOP]`` id (0 in the real
    vocabulary), matching SongGen, which pads lyrics with id 0; the
    ``attention_mask`` marks real tokens (including ``[START]``/``[STOP]``) with 1.
    """

    vocab_file_name = VOCAB_FILE_NAME
    padding_side = "right"

    def __init__(self, vocab_file: str | os.PathLike):
        self.vocab_file = _resolve_vocab_path(vocab_file)
        with open(self.vocab_file, encoding="utf-8") as handle:
            # Kept verbatim so save_pretrained reproduces the original file byte for byte.
            self._raw_json = handle.read()
        self._tokenizer = _parse_vocab_json(self._raw_json, self.vocab_file)

        vocab = self._tokenizer.get_vocab(with_added_tokens=True)
        missing = [token for token in REQUIRED_SPECIAL_TOKENS if token not in vocab]
        if missing:
            raise ValueError(
                f"VoiceBPE vocab {self.vocab_file!r} lacks required special tokens {missing}. "
                f"The vocabulary must contain {list(REQUIRED_SPECIAL_TOKENS)} plus language tags such "
                "as '[en]'; retrain it with train_voicebpe_vocab, which reserves them."
            )
        self._language_ids = {
            match.group(1): token_id for token, token_id in vocab.items() if (match := _LANGUAGE_TAG_RE.match(token))
        }
        self._register_special_tokens(vocab)
        self._special_ids = (
            frozenset(
                token_id for token_id, token in self._tokenizer.get_added_tokens_decoder().items() if token.special
            )
            | {vocab[token] for token in REQUIRED_SPECIAL_TOKENS}
            | set(self._language_ids.values())
        )

    def _register_special_tokens(self, vocab: dict[str, int]) -> None:
        """Make sure control tokens and language tags are matched whole.

        If they only lived in the BPE vocab, the Whitespace pre-tokenizer would
        split "[SPACE]" into "[", "SPACE", "]". Registering a token that already
        has an id reuses that id, so the vocabulary size does not change.
        """
        registered = {token.content for token in self._tokenizer.get_added_tokens_decoder().values()}
        wanted = list(REQUIRED_SPECIAL_TOKENS) + [_language_tag(lang) for lang in sorted(self._language_ids)]
        to_add = [token for token in wanted if token not in registered]
        if to_add:
            self._tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in to_add])

    # ------------------------------------------------------------------ I/O

    @classmethod
    def from_pretrained(cls, folder_or_file: str | os.PathLike) -> VoiceBpeTokenizer:
        """Load from a ``vocab.json`` file or a folder containing one (local only)."""
        return cls(folder_or_file)

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write ``vocab.json`` into ``save_directory`` atomically; returns its path."""
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained expects a folder, but {save_directory!r} is a file.")
        path = os.path.join(save_directory, VOCAB_FILE_NAME)
        _write_text_atomically(path, self._raw_json)
        return path

    # ------------------------------------------------------- special tokens

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def _required_id(self, token: str) -> int:
        return self._tokenizer.token_to_id(token)

    @property
    def start_token_id(self) -> int:
        return self._required_id(START_TOKEN)

    @property
    def stop_token_id(self) -> int:
        return self._required_id(STOP_TOKEN)

    @property
    def space_token_id(self) -> int:
        return self._required_id(SPACE_TOKEN)

    @property
    def unk_token_id(self) -> int:
        return self._required_id(UNK_TOKEN)

    @property
    def pad_token_id(self) -> int:
        """SongGen pads lyrics with 0, which is ``[STOP]`` in the real vocabulary."""
        return self.stop_token_id

    @property
    def languages(self) -> list[str]:
        """Language codes that have a ``[lang]`` tag in the vocabulary."""
        return sorted(self._language_ids)

    def lang_token_id(self, lang: str) -> int:
        """Id of the ``[lang]`` tag; ``ValueError`` if the vocabulary has no such tag."""
        if not isinstance(lang, str) or lang not in self._language_ids:
            raise ValueError(
                f"Unknown language {lang!r}: the vocab has no '[{lang}]' tag. Use one of {self.languages}."
            )
        return self._language_ids[lang]

    # ------------------------------------------------------- encode/decode

    def encode(self, text: str, lang: str = "en") -> list[int]:
        """Clean ``text``, prefix ``[lang]``, map spaces to ``[SPACE]`` and run BPE.

        No ``[START]``/``[STOP]`` framing; see :meth:`frame_lyrics` for that.
        """
        if not isinstance(text, str):
            raise ValueError(f"Lyrics must be a str, got {type(text).__name__}; join lines with '\\n' first.")
        self.lang_token_id(lang)  # validate before doing any work
        prepared = (_language_tag(lang) + self._clean(text, lang)).replace(" ", SPACE_TOKEN)
        return self._tokenizer.encode(prepared, add_special_tokens=False).ids

    def _has_token(self, char: str) -> bool:
        return self._tokenizer.token_to_id(char) is not None

    def _clean(self, text: str, lang: str) -> str:
        """:func:`clean_lyrics`, then letters the vocabulary lacks spelled in plain Latin ("é" -> "e").

        Only missing characters are replaced, so a vocabulary that has "é" (the multilingual
        XTTS one) still reads it as before; one without it reads "e" instead of [UNK].
        """
        return transliterate(clean_lyrics(text, lang=lang), keep=self._has_token)

    def clean(self, lyrics: str, lang: str = "en") -> str:
        """The lyrics as the model reads them: section tags left out (:mod:`~songgen_hf.processing.song_structure`),
        cleaned, transliterated, lines joined by ".".

        ``"Corazón, 2 times\\nOlé"`` -> ``"corazon, two times.ole"``; ``""`` for no lyrics.
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        return self._clean(lyrics.replace("\n", "."), lang) if lyrics else ""

    def char_token_indices(self, lyrics: str, lang: str = "en") -> tuple[str, list[int]]:
        """The lyrics as the model reads them (:meth:`clean`) and, for each of their characters, the index of the
        token of :meth:`frame_lyrics` that holds it (``[START]`` is index 0): where a sung syllable sits among the
        lyric tokens."""
        cleaned = self.clean(lyrics, lang)
        if not cleaned:
            return "", []
        tag = _language_tag(lang)
        prepared = (tag + cleaned).replace(" ", SPACE_TOKEN)
        owner = [0] * len(prepared)
        for index, (start, end) in enumerate(self._tokenizer.encode(prepared, add_special_tokens=False).offsets):
            owner[start:end] = [index + 1] * (end - start)  # + 1: [START] comes first
        indices, at = [], len(tag)
        for char in cleaned:
            indices.append(owner[at])
            at += len(SPACE_TOKEN) if char == " " else 1
        return cleaned, indices

    def decode(self, ids: Iterable[int]) -> str:
        """Turn ids back into text: ``[SPACE]`` becomes " ", other special tokens are dropped.

        Accepts a list of ints or a 1-D tensor/array. Since BPE pieces carry no
        word-boundary markers, pieces are concatenated directly.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        pieces = []
        for token_id in ids:
            if isinstance(token_id, bool) or not isinstance(token_id, numbers.Integral):
                raise ValueError(f"decode expects integer ids, got {token_id!r}.")
            token_id = int(token_id)
            token = self._tokenizer.id_to_token(token_id)
            if token is None:
                raise ValueError(f"Token id {token_id} is outside the vocabulary (size {self.vocab_size}).")
            if token_id == self.space_token_id:
                pieces.append(" ")
            elif token_id not in self._special_ids:
                pieces.append(token)
        return "".join(pieces)

    def frame_lyrics(self, lyrics: str, lang: str = "en") -> list[int]:
        """SongGen's lyric ids: ``[START] + encode(lyrics with "\\n" -> ".") + [STOP]``, section tags left out.

        Empty (or whitespace-only) lyrics give ``[START, STOP]`` without a
        language tag, as in the reference preprocessing. Windows line endings
        are treated as plain newlines.
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        if not lyrics:
            return [self.start_token_id, self.stop_token_id]
        body = self.encode(lyrics.replace("\n", "."), lang=lang)
        return [self.start_token_id, *body, self.stop_token_id]

    def unknown_characters(self, lyrics: str, lang: str = "en") -> list[str]:
        """Characters of ``lyrics`` that still become ``[UNK]`` after cleaning, each once, in order.

        Prepared exactly as :meth:`frame_lyrics` does, so an empty list means every character of
        the cleaned lyrics has a token.  (Cleaning already spells out digits and common symbols.)
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        if not lyrics:
            return []
        self.lang_token_id(lang)
        prepared = (_language_tag(lang) + self._clean(lyrics.replace("\n", "."), lang)).replace(" ", SPACE_TOKEN)
        encoding = self._tokenizer.encode(prepared, add_special_tokens=False)
        unknown = self.unk_token_id
        spans = [
            prepared[start:end] for token_id, (start, end) in zip(encoding.ids, encoding.offsets) if token_id == unknown
        ]
        return list(dict.fromkeys(char for span in spans for char in span))  # a fused [UNK] may span several

    def __call__(
        self,
        lyrics: str | Sequence[str],
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        return_tensors: str | None = "pt",
        lang: str = "en",
    ) -> dict:
        """Frame and pad a lyric string or a batch of them.

        Returns ``{"input_ids", "attention_mask"}``. ``padding``: ``True`` /
        ``"longest"`` pads to the longest item, ``"max_length"`` pads to
        ``max_length``, ``False`` / ``"do_not_pad"`` leaves lengths ragged
        (only allowed with ``return_tensors=None``). Padding is on the right
        with :attr:`pad_token_id`. Items longer than ``max_length`` raise
        unless ``truncation=True``, which cuts them but keeps the final
        ``[STOP]``. A single string gives a batch of one when returning
        tensors, and flat lists otherwise (the Hugging Face convention).
        """
        is_single = isinstance(lyrics, str)
        batch = [lyrics] if is_single else lyrics
        if not isinstance(batch, (list, tuple)):
            raise ValueError(f"Lyrics must be a str or a list of str, got {type(lyrics).__name__}.")
        for index, item in enumerate(batch):
            if not isinstance(item, str):
                raise ValueError(
                    f"Lyrics item {index} is a {type(item).__name__}, not a str; "
                    "pass one string per song (use '' for songs without lyrics)."
                )
        if return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}.")
        if padding in (True, "longest"):
            pad_to = "longest"
        elif padding == "max_length":
            pad_to = "max_length"
        elif padding in (False, "do_not_pad"):
            pad_to = None
        else:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}.")
        valid_max_length = isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 2
        if max_length is not None and not valid_max_length:
            raise ValueError(f"max_length must be an int >= 2 (room for [START] and [STOP]), got {max_length!r}.")
        if pad_to == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length; pass max_length=<int> or use padding=True.")

        sequences = [
            self._fit_length(self.frame_lyrics(item, lang=lang), index, max_length, truncation)
            for index, item in enumerate(batch)
        ]

        if pad_to is None:
            if return_tensors == "pt" and len({len(ids) for ids in sequences}) > 1:
                raise ValueError("Ragged lyrics cannot become one tensor; use padding=True or return_tensors=None.")
            masks = [[1] * len(ids) for ids in sequences]
        else:
            target = max_length if pad_to == "max_length" else max(len(ids) for ids in sequences)
            masks = [[1] * len(ids) + [0] * (target - len(ids)) for ids in sequences]
            sequences = [ids + [self.pad_token_id] * (target - len(ids)) for ids in sequences]

        if return_tensors == "pt":
            import torch  # optional dependency, only needed for tensors

            return {
                "input_ids": torch.tensor(sequences, dtype=torch.long),
                "attention_mask": torch.tensor(masks, dtype=torch.long),
            }
        if is_single:
            return {"input_ids": sequences[0], "attention_mask": masks[0]}
        return {"input_ids": sequences, "attention_mask": masks}

    def _fit_length(self, ids: list[int], index: int, max_length: int | None, truncation: bool) -> list[int]:
        if max_length is None or len(ids) <= max_length:
            return ids
        if not truncation:
            raise ValueError(
                f"Lyrics item {index} is {len(ids)} tokens long (with [START]/[STOP]), more than "
                f"max_length={max_length}. Shorten the lyrics, raise max_length, or pass truncation=True."
            )
        return ids[: max_length - 1] + [self.stop_token_id]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_file={self.vocab_file!r}, vocab_size={self.vocab_size}, "
            f"languages={self.languages})"
        )


def train_voicebpe_vocab(
    texts: Iterable[str],
    vocab_size: int,
    path: str | os.PathLike,
    *,
    languages: Sequence[str] = ("en",),
    min_frequency: int = 2,
    clean_lang: str = "en",
) -> VoiceBpeTokenizer:
    """Train a VoiceBPE vocabulary on lyric lines and save it as ``vocab.json``.

    Texts are cleaned with :func:`clean_lyrics` exactly as :meth:`VoiceBpeTokenizer.encode`
    does. The specials are reserved first, in the real vocabulary's order
    (``[STOP]``=0, ``[UNK]``=1, ``[SPACE]``=2), then ``[START]`` and one
    ``[lang]`` tag per entry of ``languages``.

    About ``[SPACE]``: ``tokenizers`` training does not split on added tokens,
    so text with literal "[SPACE]" would teach merges like "SPAC". Training on
    the cleaned text with ordinary spaces is equivalent: the Whitespace
    pre-tokenizer cuts words at spaces during training exactly where
    ``[SPACE]`` cuts them at encode time, so no merge can cross a space.

    ``path`` is a folder (``vocab.json`` is written inside) or a ``.json``
    file path. The file is written atomically. Returns the loaded tokenizer.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be an iterable of lyric strings, not a single str; wrap it in a list.")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}.")
    language_tags = []
    for lang in languages:
        if not isinstance(lang, str) or not _LANGUAGE_TAG_RE.match(_language_tag(lang)):
            raise ValueError(f"Language code {lang!r} must be lower case like 'en' or 'zh-cn'.")
        language_tags.append(_language_tag(lang))
    if not language_tags:
        raise ValueError("languages must contain at least one code, e.g. ('en',).")
    special_tokens = [STOP_TOKEN, UNK_TOKEN, SPACE_TOKEN, START_TOKEN, *language_tags]

    def cleaned_lines():
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"texts item {index} is a {type(text).__name__}, not a str.")
            yield clean_lyrics(text, lang=clean_lang)

    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[AddedToken(token, special=True, normalized=False) for token in special_tokens],
        initial_alphabet=_DEFAULT_ALPHABET,
        show_progress=False,
    )
    tokenizer.train_from_iterator(cleaned_lines(), trainer=trainer)

    target = os.fspath(path)
    if not target.endswith(".json") or os.path.isdir(target):
        target = os.path.join(target, VOCAB_FILE_NAME)
    _write_text_atomically(target, tokenizer.to_str())
    return VoiceBpeTokenizer(target)
