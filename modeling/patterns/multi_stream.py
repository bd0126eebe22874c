"""AudioGen's multi-stream modelling: each track folded into S streams (``mixed_stream2`` /
``mixed_stream4``, and ``parallel_stream2`` for the two tracks of dual-track SongGen).

Frame t of a track goes to stream ``t % S`` as that stream's frame ``t // S``; every stream gets
the plain codebook delay and the delayed streams are stacked as ``S * K`` rows per track (stream 0
on top, tracks in ``track_names`` order), so one decoding step emits S frames of every track and
a song of T frames takes about ``T / S + K`` steps instead of ``T + K``.  The price is that the S
frames of a step are predicted together, blind to each other (AudioGen measured the quality cost;
``songgen evaluate`` measures it here).

K = 2, S = 2, T = 5 frames a b c d e (stream 0: a c e, stream 1: b d), labels, BOS column
excluded::

    a c e E E       stream 0, codebook 0
    B a c e E       stream 0, codebook 1
    b d E E E       stream 1, codebook 0
    B b d E E       stream 1, codebook 1

Lengths: ``sequence_length(T)`` is the shortest sequence holding T frames, which holds
``S * ceil(T / S)`` of them; generation therefore works in whole steps and refuses a frame
budget that S does not divide (``generation_arguments``).  Training takes any T: a stream
with one frame fewer simply ends one column earlier.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from songgen_hf.modeling.patterns.base import TokenPattern
from songgen_hf.modeling.patterns.vocal_targets import AuxiliaryVocalTargets


class MultiStreamPattern(TokenPattern):
    """Each track (by default the one "mix") in ``stream_count`` interleaved streams of ``K`` delayed rows."""

    track_names = ("mix",)
    # subclasses set both, rows_per_codebook = stream_count * tracks: one group of K rows per stream
    # (embedding tables, heads, EOS chains)
    stream_count: ClassVar[int]
    rows_per_codebook: ClassVar[int]

    @property
    def num_streams(self) -> int:
        return self.stream_count * self.num_tracks

    @property
    def frames_per_step(self) -> int:
        return self.stream_count

    # ------------------------------------------------------------------ streams
    def _to_streams(self, codes, frame_lengths):
        return [stream for track in codes for stream in self._fold(track, frame_lengths)]

    def _fold(self, track, frame_lengths):
        s = self.stream_count
        per_stream = self._frames_per_stream(track.shape[-1])
        pad = per_stream * s - track.shape[-1]
        if pad:
            track = torch.cat((track, track.new_zeros((*track.shape[:-1], pad))), dim=-1)
        # frame f * S + j -> stream j, frame f
        folded = track.unflatten(-1, (per_stream, s))
        offsets = torch.arange(s, device=frame_lengths.device)
        lengths = (frame_lengths[:, None] - offsets[None, :] + s - 1).div(s, rounding_mode="floor").clamp(min=0)
        return [(folded[..., j], lengths[:, j]) for j in range(s)]

    def _from_streams(self, codes):
        s = self.stream_count
        return [torch.stack(codes[start : start + s], dim=-1).flatten(-2) for start in range(0, len(codes), s)]

    def _frames_per_stream(self, num_frames: int) -> int:
        return -(-num_frames // self.stream_count)

    def _frames_per_track(self, frames_per_stream: int) -> int:
        return frames_per_stream * self.stream_count

    # ------------------------------------------------------------------ rows
    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(rows, dim=-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return list(rows.split(self.num_codebooks, dim=-2))

    def _combined_width(self, stream_width: int) -> int:
        return stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width)


class MixedStream2Pattern(MultiStreamPattern):
    """Two streams: two frames per decoding step (AudioGen: about 2.3x faster)."""

    name = "mixed_stream2"
    stream_count = rows_per_codebook = 2


class MixedStream4Pattern(MultiStreamPattern):
    """Four streams: four frames per decoding step (AudioGen: about 3.6x faster)."""

    name = "mixed_stream4"
    stream_count = rows_per_codebook = 4


class MixedProStream2Pattern(AuxiliaryVocalTargets, MixedStream2Pattern):
    """Two streams plus mixed pro's training-only vocal targets, folded into the same two streams.

    The 2-stream model predicts the mix alone and so never has to represent the voice on its own;
    the vocal heads (one per row, 2K) make it, as mixed pro does for the single stream.  Generation
    is exactly ``mixed_stream2``'s.
    """

    name = "mixed_pro_stream2"


class ParallelStream2Pattern(MultiStreamPattern):
    """Dual-track SongGen (accompaniment and vocals, aligned as ``parallel_std``) in two streams each.

    Rows: accompaniment stream 0, accompaniment stream 1, vocals stream 0, vocals stream 1, K each
    (4K in all); one step emits two frames of both tracks, so a song takes as many steps as
    ``mixed_stream2``'s, where ``parallel_std`` takes twice as many.  What two tracks buy (measured on
    codec v6's round trips, measured with ``songgen evaluate``): the stems, which a user can remix,
    and control of the voice's level, which the codec lowers more than the accompaniment's; not more
    of the words, tempo or key than a mix model's ceiling.
    """

    name = "parallel_stream2"
    track_names = ("accompaniment", "vocals")
    stream_count = 2
    rows_per_codebook = 4
