"""Pattern names → classes, and the factory the config uses."""

from __future__ import annotations

from songgen_hf.modeling.patterns.base import TokenPattern
from songgen_hf.modeling.patterns.dual_track import (
    InterleavingAVPattern,
    InterleavingVAPattern,
    ParallelAVPattern,
    ParallelStdPattern,
    ParallelVAPattern,
)
from songgen_hf.modeling.patterns.multi_stream import (
    MixedProStream2Pattern,
    MixedStream2Pattern,
    MixedStream4Pattern,
    ParallelStream2Pattern,
)
from songgen_hf.modeling.patterns.single_track import MixedPattern, MixedProPattern
from songgen_hf.modeling.patterns.token_ids import PatternTokenIds

TOKEN_PATTERNS: dict[str, type[TokenPattern]] = {
    cls.name: cls
    for cls in (
        MixedPattern,
        MixedProPattern,
        ParallelStdPattern,
        ParallelAVPattern,
        ParallelVAPattern,
        InterleavingAVPattern,
        InterleavingVAPattern,
        MixedStream2Pattern,
        MixedStream4Pattern,
        MixedProStream2Pattern,
        ParallelStream2Pattern,
    )
}
"""Registered patterns by their ``track_pattern`` config name."""


VOCAL_HEAD_PATTERNS: dict[str, str] = {"mixed": "mixed_pro", "mixed_stream2": "mixed_pro_stream2"}
"""A pattern without vocal heads -> the same layout with mixed pro's training-only vocal heads."""


def available_token_patterns() -> tuple[str, ...]:
    return tuple(TOKEN_PATTERNS)


def get_token_pattern(
    name: str,
    num_codebooks: int = 8,
    bos_token_id: int = 1025,
    pad_token_id: int = 1024,
    *,
    eos_token_id: int | None = None,
    codebook_size: int = 1024,
    vocab_size: int = 1088,
) -> TokenPattern:
    """Build the pattern registered as ``name`` (a SongGen ``track_pattern`` value).

    ``eos_token_id=None`` means EOS = PAD, as in SongGen.  Raises ``ValueError``
    for an unknown name (listing the valid ones) or inconsistent ids.
    """
    try:
        cls = TOKEN_PATTERNS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown token pattern {name!r}; valid names: {', '.join(TOKEN_PATTERNS)}") from None
    token_ids = PatternTokenIds(
        codebook_size=codebook_size,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        vocab_size=vocab_size,
    )
    return cls(num_codebooks, token_ids)
