"""The documented limits on what a user may ask for, and the checking primitives every layer uses, in one place.

Every surface (processor, pipeline, CLI, Space) checks its inputs against these numbers *before*
any heavy work (tokenising, decoding audio, loading weights, generating), so that no single
request can exhaust memory or stall a shared server.  The README's "Input limits" table lists
them; change them here and only here.

Why these values:

* Descriptions are a sentence or a short paragraph (SongGen's training captions are under
  ~80 words).  The description encoder attends over every token pair, so its memory grows with
  the square of the length: a 100 000-character description once drove a process to 22 GB.
  2 000 characters and 512 tokens are several times the longest caption anyone trains on.
* Lyrics are bounded in tokens by the lyrics encoder's position table (per model); the
  character cap stops a huge paste before it is even tokenised.
* A reference voice is a few seconds of singing; the voice encoder reads a fixed-length clip,
  so a long file is only ever cut.  The cap is checked from the file header, before decoding.
* One decoding pass (a window) is bounded per model by its position table, which ``generate`` reads
  from the config; a longer song is made window after window, up to ``MAX_SONG_S`` (10 minutes).
* ``songgen codec encode/decode`` read or write a whole file in memory: 20 minutes is longer
  than any song, and at 48 kHz stereo its float32 samples already take ~0.5 GB.  Longer
  recordings are refused from the file header (split them first).  Above 30 seconds the codec
  runs in chunks unless ``--chunk-seconds`` says otherwise, so its activations stay bounded
  (a one-pass encode of a few minutes needs several GB).
* A synthetic corpus or a mixing augmentation of 100 000 clips is ~280 hours of audio at 10 s a
  clip, far beyond any run here; the job list of 10**9 clips alone would exhaust memory.
* Tokenizer vocabularies above 65 536 entries make the trainers allocate tables of tens of GB
  (a lyrics vocabulary of 10**9 aborted the process); T5's own has 32 128.
* ``songgen data encode`` holds a whole shard's audio in memory: 256 clips of 30 s with two
  stems is ~1.5 GB.
* A safetensors header above 100 MB is refused by the format itself (safetensors' own limit); a header that
  claims more is a corrupt file, read no further.
* The sizes a training command builds a model of (``train-singer --hidden-size/--layers/--intermediate-size``)
  each have a range far above any model trained here (songgen-tiny's singer: 256 wide, 4 layers), and the
  model they make together is counted on the meta device first: 500 M parameters train in ~8 GB (float32
  weights, gradients and AdamW's two moments), which a 16 GB machine or GPU still holds.  A training batch
  of 1 024 songs is 16x the largest any recipe uses (64).  A model that ``songgen train`` / ``codec train`` build
  from a ``model`` config is counted the same way: 4 B parameters (65 536 tensors) is three times the released
  SongGen (1.34 B), the largest model this package describes.
* A LoRA rank above a layer's width adds nothing a full update would not, and no layer the package builds is wider
  than ``MAX_MODEL_WIDTH``: ``MAX_LORA_RANK`` is that width (a rank of 10**9 would allocate its matrices first and
  fail in the allocator).  ``lora_alpha`` scales the update by ``alpha / r``: 65 536 is thousands of times any
  recipe's (32), and far below what overflows float16.
* An adapter file's rank is also checked against its weights' shapes before peft allocates its layers (``r: 65536``
  over rank-4 weights once took 3 GB in 7 s).  No trained adapter weight comes near 10 000 (LoRA's ``B`` starts at
  zero and ``A`` at about ``1 / sqrt(width)``; heads trained in full stay near the base's, below 10): a larger one
  (``1e30``) makes its layers' output swamp the base, and the song no longer depends on the seed; ``1e300`` in a
  float64 file is infinite once loaded in float32 (``MAX_ADAPTER_WEIGHT``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

MAX_DESCRIPTION_CHARS = 2_000
MAX_DESCRIPTION_TOKENS = 512
MAX_LYRICS_CHARS = 10_000
MAX_REFERENCE_VOICE_SECONDS = 600.0
MAX_BATCH_SIZE = 64
MAX_SONGS_PER_CALL = 1_024
MAX_CODEC_AUDIO_SECONDS = 1_200.0
CODEC_AUTO_CHUNK_SECONDS = 30.0
MAX_CORPUS_CLIPS = 100_000
MAX_TOKENIZER_VOCAB_SIZE = 65_536
MAX_ENCODE_SHARD_SIZE = 256
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
MAX_MODEL_WIDTH = 4_096
MAX_MODEL_LAYERS = 64
MAX_FEED_FORWARD_WIDTH = 65_536
MAX_TRAINED_PARAMETERS = 500_000_000
MAX_TRAINING_BATCH_SIZE = 1_024
MAX_FRESH_MODEL_PARAMETERS = 4_000_000_000
MAX_FRESH_MODEL_TENSORS = 65_536
MAX_LORA_RANK = 4_096
MAX_LORA_ALPHA = 65_536.0
MAX_ADAPTER_WEIGHT = 1e4


# ----------------------------------------------------------------------------------------------------
# Checks the pipeline, ``stream_song`` and the CLI run before any weights load.
#
# Each one reads arguments, file headers or the config only, and raises ``ValueError`` naming the
# argument and the fix; the CLI turns that into ``songgen: error: ...`` and exit code 2.

MAX_SEED = 2**64 - 1  # torch.manual_seed takes unsigned 64-bit seeds


# ---------------------------------------------------------------------------------- the checking primitives
# Every layer checks numbers with these (``bool`` is never a number: ``True`` is an ``int`` to Python, never a tempo
# or a step count to a user); the checks below and the CLI's, the model's and the pipelines' use them.


def is_number(value: Any, *, finite: bool = False) -> bool:
    """A real number (Python's or NumPy's), never a ``bool``; with ``finite`` also not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return not finite or math.isfinite(value)


def is_int(value: Any) -> bool:
    """A whole number (Python's or NumPy's integer types), never a ``bool``."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_number(flag: str, value, *, minimum=None, maximum=None, above=None, below=None, example=None):
    """``value`` if it is a finite number within the bounds, else ``ValueError`` naming ``flag``.

    ``minimum``/``maximum`` are inclusive, ``above``/``below`` exclusive; ``None`` passes through."""
    if value is None:
        return None
    hint = f" Try {flag} {example}." if example is not None else ""
    if not is_number(value, finite=True):
        raise ValueError(f"{flag} must be a finite number, got {value!r}.{hint}")
    bounds = [
        (minimum, ">=", value < minimum if minimum is not None else False),
        (above, ">", value <= above if above is not None else False),
        (maximum, "<=", value > maximum if maximum is not None else False),
        (below, "<", value >= below if below is not None else False),
    ]
    if any(failed for _, _, failed in bounds):
        ranges = " and ".join(f"{sign} {bound:g}" for bound, sign, _ in bounds if bound is not None)
        raise ValueError(f"{flag} must be {ranges}, got {value:g}.{hint}")
    return value


def check_count(flag: str, value, *, minimum: int = 1, maximum: int | None = None, why: str = ""):
    """A whole number in ``[minimum, maximum]``; ``ValueError`` naming ``flag`` and the range otherwise."""
    if value is None:
        return None
    if not is_int(value):
        raise ValueError(f"{flag} must be a whole number, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:,}" if maximum is not None else ""
        raise ValueError(f"{flag} must be at least {minimum:,}{upper}, got {value:,}.{' ' + why if why else ''}")
    return value


def check_lora_sizes(rank: Any, alpha: Any, where: str, rank_name: str = "r", alpha_name: str = "lora_alpha") -> None:
    """A LoRA rank (a whole number in ``[1, MAX_LORA_RANK]``) and alpha (a finite number in ``(0, MAX_LORA_ALPHA]``),
    else ``ValueError`` naming ``where`` (the file or config that gives them)."""
    if not is_int(rank) or not 1 <= rank <= MAX_LORA_RANK:
        raise ValueError(
            f"{where}: {rank_name} (the LoRA rank) is {rank!r}; it must be a whole number from 1 to {MAX_LORA_RANK:,} "
            "(songgen_hf.modeling.limits.MAX_LORA_RANK: a rank past a layer's width adds nothing)."
        )
    if not is_number(alpha, finite=True) or not 0 < alpha <= MAX_LORA_ALPHA:
        raise ValueError(
            f"{where}: {alpha_name} is {alpha!r}; it must be a number above 0 and at most {MAX_LORA_ALPHA:,g} "
            "(songgen_hf.modeling.limits.MAX_LORA_ALPHA; usually the rank or twice it)."
        )


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``None`` or an int in ``[0, 2**64 - 1]``, the range ``torch.manual_seed`` accepts."""
    if seed is None:
        return None
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to 2**64 - 1, got {seed!r}; e.g. {name}=0.")
    return int(seed)


def check_device(device: Any, name: str = "device") -> None:
    """Refuse a device that this machine cannot run on, before a model is moved there.

    Accepts what ``pipeline(device=...)`` accepts: ``None``, an int (-1 = CPU, N = accelerator N),
    a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or a ``torch.device``.
    """
    import torch  # here, not at the top: the CLI's parsers import this module before torch is needed

    if device is None:
        return
    if isinstance(device, bool) or not isinstance(device, (Integral, str, torch.device)):
        raise ValueError(f"{name} must be a string such as 'cpu' or 'cuda:0', got {device!r}.")
    if isinstance(device, Integral):
        if device < -1:
            raise ValueError(f"{name} {device} is not a device; use -1 (CPU) or an accelerator index >= 0.")
        if device == -1:
            return
        device = f"cuda:{int(device)}"  # what pipeline() makes of an index on a CUDA build
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} {str(device)!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' (N = GPU index) or 'mps'."
        ) from None
    kind = parsed.type
    if kind == "cpu":
        return
    if kind == "meta":
        raise ValueError(f"{name} 'meta' holds no weights and cannot generate; use 'cpu' or 'cuda'.")
    module = getattr(torch, kind, None) if kind != "mps" else torch.backends.mps
    available = bool(module is not None and getattr(module, "is_available", lambda: False)())
    if not available:
        build = (
            "this PyTorch build has no CUDA support"
            if kind == "cuda" and torch.version.cuda is None
            else (f"no {kind} device is available here")
        )
        raise ValueError(f"{name} {str(device)!r} cannot be used: {build}; use device 'cpu' (or leave it out).")
    count = getattr(module, "device_count", None)
    if parsed.index is not None and count is not None and parsed.index >= count():
        raise ValueError(
            f"{name} {str(device)!r} does not exist: this machine has {count()} {kind} device(s) "
            f"({kind}:0 to {kind}:{count() - 1})."
        )


def check_batch_size(batch_size: Any) -> int | None:
    """``None`` or a whole number of songs generated together, from 1 to :data:`MAX_BATCH_SIZE`."""
    if batch_size is None:
        return None
    if not is_int(batch_size) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(
            f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE} (songs generated together), "
            f"got {batch_size!r}."
        )
    return int(batch_size)


def check_pipeline_options(
    seed: Any = None, device: Any = None, batch_size: Any = None, names: dict[str, str] | None = None
) -> int | None:
    """A pipeline's own options: checked by the pipeline that uses them (its constructor, as a transformers pipeline
    checks its parameters) and, before any weights load, by ``prepare_pipeline`` (``names``: how messages spell
    them, e.g. ``{"device": "--device"}``).  Returns the seed (``None``: none given)."""
    names = names or {}
    if device is not None:
        check_device(device, names.get("device", "device"))
    if batch_size is not None:
        check_batch_size(batch_size)
    return None if seed is None else check_seed(seed, names.get("seed", "seed"))


def check_threads(flag: str, value) -> int | None:
    """``value`` if it is None or a whole number >= 1, else ``ValueError`` naming ``flag``."""
    if value is not None and not (is_int(value) and value >= 1):
        raise ValueError(
            f"{flag} must be a whole number of threads >= 1, got {value!r}; leave it out to use the "
            "cores no other program is keeping busy."
        )
    return value


def check_song_count(count: int) -> None:
    if count > MAX_SONGS_PER_CALL:
        raise ValueError(
            f"Got {count} songs in one call, but the limit is {MAX_SONGS_PER_CALL}; split the list into several calls."
        )


def _which(name: str, index: int, count: int) -> str:
    return f"{name} {index}" if count > 1 else f"The {name}"


def check_description_chars(descriptions: Sequence[str]) -> None:
    for index, text in enumerate(descriptions):
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise ValueError(
                f"{_which('description', index, len(descriptions))} is {len(text):,} characters long; the limit is "
                f"{MAX_DESCRIPTION_CHARS:,} characters (songgen_hf.modeling.limits.MAX_DESCRIPTION_CHARS). "
                "Describe the song in a sentence or a short paragraph (genre, mood, instruments, voice, tempo, key); "
                "words to be sung go in the lyrics."
            )


def check_description_tokens(token_counts: Sequence[int]) -> None:
    for index, count in enumerate(token_counts):
        if count > MAX_DESCRIPTION_TOKENS:
            raise ValueError(
                f"{_which('description', index, len(token_counts))} is {count} tokens long; the limit is "
                f"{MAX_DESCRIPTION_TOKENS} tokens (songgen_hf.modeling.limits.MAX_DESCRIPTION_TOKENS). Shorten it to a "
                "sentence or a short paragraph, or pass truncation=True to cut it."
            )


def check_lyrics_chars(lyrics: Sequence[str]) -> None:
    for index, text in enumerate(lyrics):
        if len(text) > MAX_LYRICS_CHARS:
            raise ValueError(
                f"{f'Lyrics item {index} is' if len(lyrics) > 1 else 'The lyrics are'} {len(text):,} characters long; "
                f"the limit is {MAX_LYRICS_CHARS:,} characters "
                "(songgen_hf.modeling.limits.MAX_LYRICS_CHARS). Give the lyrics of one song, a few verses and a chorus."
            )


__all__ = [
    "check_count",
    "check_number",
    "is_int",
    "is_number",
    "check_batch_size",
    "check_device",
    "check_lora_sizes",
    "check_pipeline_options",
    "check_seed",
    "check_song_count",
    "check_threads",
    "CODEC_AUTO_CHUNK_SECONDS",
    "MAX_BATCH_SIZE",
    "MAX_CODEC_AUDIO_SECONDS",
    "MAX_CORPUS_CLIPS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_DESCRIPTION_TOKENS",
    "MAX_ENCODE_SHARD_SIZE",
    "MAX_FEED_FORWARD_WIDTH",
    "MAX_FRESH_MODEL_PARAMETERS",
    "MAX_FRESH_MODEL_TENSORS",
    "MAX_ADAPTER_WEIGHT",
    "MAX_LORA_ALPHA",
    "MAX_LORA_RANK",
    "MAX_LYRICS_CHARS",
    "MAX_MODEL_LAYERS",
    "MAX_MODEL_WIDTH",
    "MAX_REFERENCE_VOICE_SECONDS",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "MAX_SEED",
    "MAX_SONGS_PER_CALL",
    "MAX_TOKENIZER_VOCAB_SIZE",
    "MAX_TRAINED_PARAMETERS",
    "MAX_TRAINING_BATCH_SIZE",
]


class ModelFolderError(Exception):
    """A model folder that cannot be loaded (its config does not match its weights, a field of the wrong type, a
    pickle that names code), raised by the loaders that transformers' ``pipeline()`` calls: transformers wraps a
    loader's ``ValueError``/``OSError`` in its own text with every traceback, so the loaders raise this instead and
    the message reaches the user whole."""
