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

For music, ``num_chroma=12`` appends a chroma vector per frame: the share of each pitch class
in the 50 Hz - 2 kHz power of a long (128 ms) window centred on the frame.  MFCCs are built to
discard pitch, and a 25 ms window cannot resolve it below ~300 Hz; a codec distilled from
log-mel/MFCC alone learns codes with no trace of harmony (measured on songgen-tiny's first
codec: a linear probe from its latent predicts a frame's strongest pitch class at chance
level, 8 %, where the log-spectrum gives 70 %).  X-Codec feeds the teacher's features into
its encoder and must reconstruct them from the codes, so with chroma in the teacher the codes
carry key and melody.
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

from songgen_hf.modeling.xcodec.pitch_classes import pitch_class_filters


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
        num_chroma (`int`, defaults to 0): pitch classes appended per frame (12, or 0 for none).
        chroma_window_length (`int`, defaults to 2048): window of the chroma analysis, centred on the frame.
        chroma_min_frequency / chroma_max_frequency (`float`): the range folded into pitch classes.
        chroma_scale (`float`, defaults to 1.0): weight of the chroma features in the semantic loss.
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
    num_chroma: int = 0
    chroma_window_length: int = 2048
    chroma_min_frequency: float = 50.0
    chroma_max_frequency: float = 2000.0
    chroma_scale: float = 1.0
    hidden_size: int | None = None

    def __post_init__(self, **kwargs):
        if self.num_chroma not in (0, 12, 24, 36):
            raise ValueError(f"num_chroma must be 0 or 12 (or 24/36 for finer bins), got {self.num_chroma}.")
        if self.num_chroma and self.chroma_window_length < self.window_length:
            raise ValueError(
                f"chroma_window_length ({self.chroma_window_length}) must be at least "
                f"window_length ({self.window_length})."
            )
        if self.window_length > self.n_fft:
            raise ValueError(f"window_length ({self.window_length}) must not exceed n_fft ({self.n_fft}).")
        if self.num_mfcc > self.num_mel_bins:
            raise ValueError(f"num_mfcc ({self.num_mfcc}) must not exceed num_mel_bins ({self.num_mel_bins}).")
        self.hidden_size = self.num_mel_bins + self.num_mfcc * (3 if self.use_deltas else 1) + self.num_chroma
        super().__post_init__(**kwargs)


def _dct_matrix(num_in: int, num_out: int) -> torch.Tensor:
    """Orthonormal DCT-II basis, (num_in, num_out)."""
    n = torch.arange(num_in, dtype=torch.float64)
    k = torch.arange(num_out, dtype=torch.float64)
    basis = torch.cos(math.pi / num_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / num_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


def _chroma_filters(config: MelTeacherConfig) -> torch.Tensor:
    """(bins, num_chroma) weights folding FFT bins in the chroma range onto pitch classes (A = 0)."""
    return pitch_class_filters(
        config.chroma_window_length,
        config.sampling_rate,
        config.chroma_min_frequency,
        config.chroma_max_frequency,
        num_classes=config.num_chroma,
    )


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
        buffers = {
            "window": torch.hann_window(config.window_length, periodic=False),
            "mel_filters": torch.from_numpy(np.asarray(filters, dtype=np.float32)),
            "dct": _dct_matrix(config.num_mel_bins, config.num_mfcc),
        }
        if config.num_chroma:
            buffers["chroma_window"] = torch.hann_window(config.chroma_window_length, periodic=False)
            buffers["chroma_filters"] = _chroma_filters(config)
        return buffers

    @torch.no_grad()
    def _init_weights(self, module):
        # No parameters; but from_pretrained builds models on the meta device, so the fixed
        # (non-persistent) buffers must be recomputed here or they stay uninitialised.
        if module is self:
            for name, value in self._fixed_buffers().items():
                init.copy_(getattr(self, name), value)

    def _chroma(self, audio: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Pitch-class shares per frame, centred where the short frames are, scaled to mean 0."""
        config = self.config
        extra = (config.chroma_window_length - config.window_length) // 2
        padded = F.pad(audio, (extra, config.chroma_window_length - config.window_length - extra))
        frames = padded.unfold(-1, config.chroma_window_length, config.hop_length)[:, :num_frames] * self.chroma_window
        power = torch.fft.rfft(frames).abs().pow(2) @ self.chroma_filters
        # shares rather than energies: loudness is the mel part's job; silence gives a flat vector
        shares = (power + 1e-8) / (power.sum(dim=-1, keepdim=True) + 1e-8 * config.num_chroma)
        return (shares * config.num_chroma - 1.0) * config.chroma_scale

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
        if self.config.num_chroma:
            parts.append(self._chroma(audio, frames.shape[1]))
        features = torch.cat(parts, dim=-1).to(input_values.dtype)
        return BaseModelOutput(last_hidden_state=features, hidden_states=(features,))


__all__ = ["MelTeacherConfig", "MelTeacherModel"]
