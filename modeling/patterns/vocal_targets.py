"""Training-only vocal targets (SongGen's "mixed pro", §4.2) for any one-track layout.

The model predicts the mix; extra heads read the same hidden states and predict the separated
vocal stem's codes, laid out exactly like the mix (same delay, same streams, same columns).  The
mix decoder is therefore pushed to carry the voice in its state, which is what makes mixed pro
sing more clearly than mixed; generation never reads the vocal heads.

Laying the vocals out with the pattern's own ``_to_streams`` / ``delay`` / ``_combine`` means a
vocal code lands in the cell of the mix code of the same frame, so the mix's loss mask is the
vocals' too: for ``mixed_pro`` that is the plain codebook delay, for ``mixed_pro_stream2`` the
vocals are folded into the same two streams as the mix.
"""

from __future__ import annotations

import dataclasses

import torch

from songgen_hf.modeling.patterns.base import PatternLabels, _as_lengths


class AuxiliaryVocalTargets:
    """Mixin for a pattern whose only track is ``mix``: adds ``vocals`` labels for the vocal heads.

    The vocal labels use the mixture's frame count: vocal codes are truncated to each item's
    mixture length, and where the vocal stem is shorter its rows end early with EOS then PAD.
    The vocal loss uses the *mixture's* loss mask (the reference takes its EOS mask from the
    mixture decoder inputs; BOS cells coincide), so a shorter vocal is supervised to predict PAD
    until the mixture ends.
    """

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
        aligned = _fit_frames(vocals.long().to(mix.device), num_frames)
        streams = self._to_streams([aligned], aligned_lengths)
        vocal_rows = self._combine([self.delay.delay(codes, lengths) for codes, lengths in streams])
        return dataclasses.replace(labels, vocal_labels=vocal_rows)


def _fit_frames(codes: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Crop or right-pad (with 0, never read: lengths mask it) to ``num_frames``."""
    if codes.shape[-1] >= num_frames:
        return codes[..., :num_frames]
    pad = codes.new_zeros((*codes.shape[:-1], num_frames - codes.shape[-1]))
    return torch.cat((codes, pad), dim=-1)
