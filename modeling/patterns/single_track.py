"""Single-track patterns: ``mixed`` and ``mixed_pro`` (§4.1, §4.2).

Both predict the mixture's codes with the plain codebook delay; the decoder
has K rows.  K = 4, T = 3, labels (BOS column excluded)::

    a b c E E E E
    B a b c E E E
    B B a b c E E
    B B B a b c E

Mixed pro adds training-only vocal targets: the separated vocal stem's codes,
delayed the same way and frame-aligned with the mixture, read by extra heads
from the same hidden states.  Generation ignores them.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import PatternLabels, TokenPattern, _as_lengths


class MixedPattern(TokenPattern):
    """One track ("mix"), K rows: the codebook delay as is."""

    name = "mixed"
    track_names = ("mix",)

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        (only,) = rows
        return only

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return [rows]

    def _combined_width(self, stream_width: int) -> int:
        return stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width)


class MixedProPattern(MixedPattern):
    """``mixed`` plus auxiliary vocal labels for the training-only vocal heads.

    The vocal labels use the mixture's frame count: vocal codes are truncated
    to each item's mixture length, and where the vocal stem is shorter the row
    ends early with EOS then PAD.  The vocal loss uses the *mixture's* loss
    mask (the reference takes its EOS mask from the mixture decoder inputs;
    BOS cells coincide), so a shorter vocal is supervised to predict PAD until
    the mixture ends.
    """

    name = "mixed_pro"
    auxiliary_track_names = ("vocals",)

    def build_labels(self, *tracks, frame_lengths=None, vocal_frame_lengths=None) -> PatternLabels:
        """Like :meth:`TokenPattern.build_labels` with a required ``vocals`` track.

        ``tracks``: ``{"mix": (B,K,T), "vocals": (B,K,Tv)}`` or ``(mix, vocals)``.
        ``Tv`` may differ from T; ``vocal_frame_lengths`` default to Tv.
        """
        named = self._named_tracks(tracks, self.track_names + self.auxiliary_track_names, "build_labels")
        mix, vocals = named["mix"], named["vocals"]
        labels = super().build_labels(mix, frame_lengths=frame_lengths)
        batch, _, num_frames = mix.shape
        if vocals.shape[0] != batch:
            raise ValueError(f"vocals batch size {vocals.shape[0]} != mix batch size {batch}")
        mix_lengths = _as_lengths(frame_lengths, batch, num_frames, mix.device, "frame_lengths")
        vocal_lengths = _as_lengths(vocal_frame_lengths, batch, vocals.shape[-1], mix.device, "vocal_frame_lengths")
        aligned_lengths = torch.minimum(vocal_lengths, mix_lengths)
        self._check_code_range(vocals, aligned_lengths.to(vocals.device), "vocals")
        aligned = self._fit_frames(vocals.long().to(mix.device), num_frames)
        vocal_rows = self.delay.delay(aligned, aligned_lengths)
        return dataclasses.replace(labels, vocal_labels=vocal_rows)

    @staticmethod
    def _fit_frames(codes: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Crop or right-pad (with 0, never read: lengths mask it) to ``num_frames``."""
        if codes.shape[-1] >= num_frames:
            return codes[..., :num_frames]
        pad = codes.new_zeros((*codes.shape[:-1], num_frames - codes.shape[-1]))
        return torch.cat((codes, pad), dim=-1)
