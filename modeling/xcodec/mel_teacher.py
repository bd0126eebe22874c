"""A weight-free semantic teacher: log-mel + MFCC features at the codec frame rate.

X-Codec distils a frozen self-supervised encoder (HuBERT/WavLM) into its tokens.  Where no
pretrained teacher can be had, the natural fallback is what HuBERT itself started from: its
first training iteration clustered MFCC features.  This module produces such features with
the interface of a transformers audio encoder (``hidden_states`` at one frame per hop), so
the codec, its semantic loss and its configs treat it exactly like HuBERT.

Frames use a 400-sample window and a 320-sample hop without centring: on the codec's
160-sample padded input that yields exactly HuBERT-base's frame count.  The features are
log-mel energies (fixed affine scaling to roughly [-1, 1]) followed by MFCCs and, optionally,
their first and second time differences.  No parameters, nothing in the state dict.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.audio_utils import mel_filter_bank
from transformers.modeling_outputs import BaseModelOutput


class MelTeacherConfig(PreTrainedConfig):
    r"""Configuration of [`MelTeacherModel`].

    Args:
        sampling_rate (`int`, defaults to 16000): input sampling rate.
        window_length (`int`, defaults to 400): analysis window (HuBERT-base's receptive field).
        hop_length (`int`, defaults to 320): frame hop; must equal the codec hop.
        n_fft (`int`, defaults to 512): FFT size (zero-padded window).
        num_mel_bins (`int`, defaults to 80): mel bands.
        num_mfcc (`int`, defaults to 13): cepstral coefficients kept.
        use_deltas (`bool`, defaults to `True`): append first and second MFCC differences.
        min_frequency / max_frequency (`float`): mel filterbank range (``None`` = Nyquist).
    """

    model_type = "songgen_mel_teacher"

    sampling_rate: int = 16000
    window_length: int = 400
    hop_length: int = 320
    n_fft: int = 512
    num_mel_bins: int = 80
    num_mfcc: int = 13
    use_deltas: bool = True
    min_frequency: float = 0.0
    max_frequency: float | None = None
    hidden_size: int | None = None

    def __post_init__(self, **kwargs):
        if self.window_length > self.n_fft:
            raise ValueError(f"window_length ({self.window_length}) must not exceed n_fft ({self.n_fft}).")
        if self.num_mfcc > self.num_mel_bins:
            raise ValueError(f"num_mfcc ({self.num_mfcc}) must not exceed num_mel_bins ({self.num_mel_bins}).")
        self.hidden_size = self.num_mel_bins + self.num_mfcc * (3 if self.use_deltas else 1)
        super().__post_init__(**kwargs)


def _dct_matrix(num_in: int, num_out: int) -> torch.Tensor:
    """Orthonormal DCT-II basis, (num_in, num_out)."""
    n = torch.arange(num_in, dtype=torch.float64)
    k = torch.arange(num_out, dtype=torch.float64)
    basis = torch.cos(math.pi / num_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / num_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


def _time_difference(features: torch.Tensor) -> torch.Tensor:
    """Central difference along time (dim 1) with edge replication."""
    padded = F.pad(features.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)
    return (padded[:, 2:] - padded[:, :-2]) / 2


class MelTeacherModel(PreTrainedModel):
    """Deterministic log-mel/MFCC "teacher" with the output contract of ``HubertModel``."""

    config: MelTeacherConfig
    config_class = MelTeacherConfig
    main_input_name = "input_values"
    base_model_prefix = "mel_teacher"

    # log10 energies of 16 kHz audio in [-1, 1] span roughly [-5, 0]; map that to [-1, 1].
    _LOG_CENTER = 2.5
    _LOG_SCALE = 2.5

    def __init__(self, config: MelTeacherConfig):
        super().__init__(config)
        for name, value in self._fixed_buffers().items():
            self.register_buffer(name, value, persistent=False)
        self.post_init()

    def _fixed_buffers(self) -> dict[str, torch.Tensor]:
        config = self.config
        filters = mel_filter_bank(
            num_frequency_bins=config.n_fft // 2 + 1,
            num_mel_filters=config.num_mel_bins,
            min_frequency=config.min_frequency,
            max_frequency=config.max_frequency or config.sampling_rate / 2,
            sampling_rate=config.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        return {
            "window": torch.hann_window(config.window_length, periodic=False),
            "mel_filters": torch.from_numpy(np.asarray(filters, dtype=np.float32)),
            "dct": _dct_matrix(config.num_mel_bins, config.num_mfcc),
        }

    @torch.no_grad()
    def _init_weights(self, module):
        # No parameters; but from_pretrained builds models on the meta device, so the fixed
        # (non-persistent) buffers must be recomputed here or they stay uninitialised.
        if module is self:
            for name, value in self._fixed_buffers().items():
                init.copy_(getattr(self, name), value)

    def num_frames(self, num_samples: int) -> int:
        return max(0, (num_samples - self.config.window_length) // self.config.hop_length + 1)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        if input_values.dim() != 2:
            raise ValueError(f"MelTeacherModel expects (batch, samples) audio, got shape {tuple(input_values.shape)}.")
        if input_values.shape[-1] < self.config.window_length:
            raise ValueError(
                f"Audio of {input_values.shape[-1]} samples is shorter than one analysis window "
                f"({self.config.window_length}); pad it or pass longer audio."
            )
        audio = input_values.float()
        frames = audio.unfold(-1, self.config.window_length, self.config.hop_length) * self.window
        spectrum = torch.fft.rfft(frames, n=self.config.n_fft).abs().pow(2)
        mel = spectrum @ self.mel_filters
        log_mel = (torch.log10(mel.clamp(min=1e-10)) + self._LOG_CENTER) / self._LOG_SCALE
        mfcc = log_mel @ self.dct
        parts = [log_mel, mfcc]
        if self.config.use_deltas:
            delta = _time_difference(mfcc)
            parts += [delta, _time_difference(delta)]
        features = torch.cat(parts, dim=-1).to(input_values.dtype)
        return BaseModelOutput(last_hidden_state=features, hidden_states=(features,))


__all__ = ["MelTeacherConfig", "MelTeacherModel"]
