"""Dual-track patterns: accompaniment (A) and vocals (V) predicted together (§4.3).

Both tracks are delayed on their own (codebook delay, leading BOS column
removed), combined, and given one shared BOS column.  Layouts for K = 4,
T = 3, accompaniment ``a b c``, vocals ``x y z``, BOS column excluded.

Interleaving keeps K rows and alternates the tracks along time, so the
sequence is twice as long and the BOS/EOS triangles get slope 2; only the
position parity tells the tracks apart (no track embedding)::

    interleaving_A_V                  interleaving_V_A
    a x b y c z E E E E E E E E       x a y b z c E E E E E E E E
    B B a x b y c z E E E E E E       B B x a y b z c E E E E E E
    B B B B a x b y c z E E E E       B B B B x a y b z c E E E E
    B B B B B B a x b y c z E E       B B B B B B x a y b z c E E

Parallel stacks the tracks as 2K rows (A on top), same length as mixed.  The
A_V / V_A variants shift one track right by one step, so that track sees the
other's frame t before emitting its own frame t::

    parallel_std     parallel_A_V      parallel_V_A
    a b c E E E E    a b c E E E E E   B a b c E E E E
    B a b c E E E    B a b c E E E E   B B a b c E E E
    B B a b c E E    B B a b c E E E   B B B a b c E E
    B B B a b c E    B B B a b c E E   B B B B a b c E
    x y z E E E E    B x y z E E E E   x y z E E E E E
    B x y z E E E    B B x y z E E E   B x y z E E E E
    B B x y z E E    B B B x y z E E   B B x y z E E E
    B B B x y z E    B B B B x y z E   B B B x y z E E

``combine(a, v)`` / ``split(rows)`` work on delayed rows *without* the BOS
column: ``(..., K, n)`` per track ↔ ``(..., num_rows, m)`` combined.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch

from songgen_hf.modeling.patterns.base import TokenPattern


class DualTrackPattern(TokenPattern):
    """Common part of the accompaniment + vocals patterns."""

    track_names = ("accompaniment", "vocals")

    def combine(self, accompaniment: torch.Tensor, vocals: torch.Tensor) -> torch.Tensor:
        """Delayed per-track rows ``(..., K, n)`` → combined rows (no shared BOS column)."""
        if accompaniment.shape != vocals.shape:
            raise ValueError(f"accompaniment {tuple(accompaniment.shape)} and vocals {tuple(vocals.shape)} must match")
        if accompaniment.dim() < 2 or accompaniment.shape[-2] != self.num_codebooks:
            raise ValueError(f"delayed rows must be (..., {self.num_codebooks}, n), got {tuple(accompaniment.shape)}")
        return self._combine([accompaniment, vocals])

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined rows (no shared BOS column) → ``(accompaniment, vocals)`` delayed rows."""
        if rows.dim() < 2 or rows.shape[-2] != self.num_rows:
            raise ValueError(f"combined rows must be (..., {self.num_rows}, m), got {tuple(rows.shape)}")
        accompaniment, vocals = self._split(rows)
        return accompaniment, vocals


class InterleavingPattern(DualTrackPattern):
    """K rows; per row the two tracks alternate step by step.

    After the shared BOS column, codebook k of frame t sits at column
    ``2(t + k)`` for the first track and ``2(t + k) + 1`` for the second.
    A per-track length L becomes ``2L - 1`` — generation must budget frames
    *per track* (the reference passed one ``max_length`` to both the per-track
    mask and the combined stopping rule, halving the audio).
    """

    first_track: ClassVar[str]

    def _ordered(self, accompaniment, vocals):
        return (vocals, accompaniment) if self.first_track == "vocals" else (accompaniment, vocals)

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        first, second = self._ordered(*rows)
        return torch.stack((first, second), dim=-1).flatten(-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        # an odd width ends with a first-track cell whose partner was never
        # produced; it belongs to no complete step, so it is dropped
        width = rows.shape[-1] - rows.shape[-1] % 2
        first, second = rows[..., 0:width:2], rows[..., 1:width:2]
        return list(self._ordered(first, second))  # swapping twice restores (A, V)

    def _combined_width(self, stream_width: int) -> int:
        return 2 * stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width) // 2


class InterleavingAVPattern(InterleavingPattern):
    """Accompaniment first in each step (released ``SongGen_interleaving_A_V``)."""

    name = "interleaving_A_V"
    first_track = "accompaniment"


class InterleavingVAPattern(InterleavingPattern):
    """Vocals first in each step."""

    name = "interleaving_V_A"
    first_track = "vocals"


class ParallelPattern(DualTrackPattern):
    """2K rows: accompaniment rows 0..K-1, vocal rows K..2K-1.

    ``lagging_track`` (if any) is shifted right one column: it gets a leading
    BOS column and the other track a trailing PAD column, so both stay the
    same width.
    """

    rows_per_codebook = 2
    lagging_track: ClassVar[Literal["accompaniment", "vocals"] | None] = None

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        accompaniment, vocals = rows
        if self.lagging_track == "vocals":
            accompaniment, vocals = self._lead(accompaniment), self._lag(vocals)
        elif self.lagging_track == "accompaniment":
            accompaniment, vocals = self._lag(accompaniment), self._lead(vocals)
        return torch.cat((accompaniment, vocals), dim=-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        k = self.num_codebooks
        accompaniment, vocals = rows[..., :k, :], rows[..., k:, :]
        if self.lagging_track == "vocals":
            accompaniment, vocals = accompaniment[..., :-1], vocals[..., 1:]
        elif self.lagging_track == "accompaniment":
            accompaniment, vocals = accompaniment[..., 1:], vocals[..., :-1]
        return [accompaniment, vocals]

    def _lead(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.cat((rows, self._column(rows, self.token_ids.pad_token_id)), dim=-1)

    def _lag(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.cat((self._column(rows, self.token_ids.bos_token_id), rows), dim=-1)

    def _combined_width(self, stream_width: int) -> int:
        return stream_width + (self.lagging_track is not None)

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width - (self.lagging_track is not None))


class ParallelStdPattern(ParallelPattern):
    """Tracks aligned: frame t of both tracks in the same step."""

    name = "parallel_std"
    lagging_track = None


class ParallelAVPattern(ParallelPattern):
    """Vocals lag the accompaniment by one frame."""

    name = "parallel_A_V"
    lagging_track = "vocals"


class ParallelVAPattern(ParallelPattern):
    """Accompaniment lags the vocals by one frame."""

    name = "parallel_V_A"
    lagging_track = "accompaniment"
