"""Special token ids shared by every token pattern.

The layout code never spells out a number such as 1024 or 1025: it asks a
:class:`PatternTokenIds` instance, which is built from the model config.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PatternTokenIds:
    """Codebook size and the special ids a pattern places around the codes.

    Defaults are SongGen's (X-Codec, 8 x 1024 codebooks): codes ``0..1023``,
    PAD = EOS = 1024, BOS = 1025, 1088 ids per codebook embedding/head.

    ``eos_token_id=None`` means "same as PAD", which is SongGen's convention.
    When EOS and PAD differ, a row gets exactly one EOS after its last code and
    PAD after that; the forced end triangle of a generation mask holds PAD (as
    Parler-TTS does).
    """

    codebook_size: int = 1024
    pad_token_id: int = 1024
    bos_token_id: int = 1025
    eos_token_id: int | None = None
    vocab_size: int = 1088

    def __post_init__(self) -> None:
        if self.eos_token_id is None:
            # frozen dataclass: resolve the default in place once
            object.__setattr__(self, "eos_token_id", self.pad_token_id)
        for field_name in ("codebook_size", "pad_token_id", "bos_token_id", "eos_token_id", "vocab_size"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{field_name} must be an int, got {value!r}")
        if self.codebook_size < 1:
            raise ValueError(f"codebook_size must be >= 1, got {self.codebook_size}")
        if self.vocab_size <= self.codebook_size:
            raise ValueError(
                f"vocab_size ({self.vocab_size}) must exceed codebook_size ({self.codebook_size}) "
                "to leave room for the special ids"
            )
        for field_name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, field_name)
            if not self.codebook_size <= value < self.vocab_size:
                raise ValueError(
                    f"{field_name}={value} must lie in [codebook_size, vocab_size) = "
                    f"[{self.codebook_size}, {self.vocab_size}) so it can never be mistaken for a code"
                )
        if self.bos_token_id in (self.pad_token_id, self.eos_token_id):
            raise ValueError(
                f"bos_token_id ({self.bos_token_id}) must differ from pad_token_id ({self.pad_token_id}) "
                f"and eos_token_id ({self.eos_token_id}): the layouts tell the start and end triangles apart by id"
            )

    @property
    def special_ids(self) -> tuple[int, ...]:
        return tuple(sorted({self.bos_token_id, self.pad_token_id, self.eos_token_id}))
