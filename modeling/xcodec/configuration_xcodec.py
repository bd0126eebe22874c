"""Configuration of the X-Codec audio codec.

``XCodecConfig`` extends transformers' ``XcodecConfig`` field for field, so a folder saved
by transformers' ``XcodecModel`` (the ``hf-audio/xcodec-*`` layout, ``model_type: "xcodec"``)
loads as it is.  What it adds is what training and deployment need: the EMA quantiser's
hyper-parameters, quantiser dropout, and a ``decode_only`` switch that builds only the
modules a token-to-audio generator needs.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import PreTrainedConfig, XcodecConfig

TRANSFORMERS_XCODEC_MODEL_TYPE = "xcodec"
ACOUSTIC_DECODER_TYPES = ("dac", "istft")


class XCodecConfig(XcodecConfig):
    r"""Configuration of [`XCodecModel`].

    All fields of transformers' ``XcodecConfig`` keep their meaning (bandwidths, sampling
    rate, the DAC ``acoustic_model_config``, the semantic teacher's
    ``semantic_model_config``, codebook size and dimension).  The semantic teacher can be
    any transformers audio encoder that returns hidden states at the codec frame rate
    (HuBERT, WavLM, ...) or the weight-free ``songgen_mel_teacher``.

    Args:
        decode_only (`bool`, defaults to `False`):
            Build only the RVQ tables, ``fc2`` and the acoustic decoder.  Skips the semantic
            teacher (94 M parameters for HuBERT-base), the acoustic encoder and the semantic
            encoder/decoder: enough to turn generated tokens into audio.
        codebook_decay (`float`, defaults to 0.99):
            EMA decay of the codebook statistics during training.
        codebook_epsilon (`float`, defaults to 1e-5):
            Laplace smoothing of the EMA cluster sizes.
        kmeans_init (`bool`, defaults to `True`):
            Initialise each untrained codebook with k-means on the first training batch.
        kmeans_iters (`int`, defaults to 50):
            Lloyd iterations of that k-means.
        kmeans_max_samples (`int`, defaults to 10000):
            Frames sampled from the first batch for k-means.
        threshold_ema_dead_code (`float`, defaults to 2.0):
            Codes whose EMA usage falls below this are re-seeded from the current batch.
        quantizer_dropout (`bool`, defaults to `True`):
            In training, draw the number of codebooks per step uniformly from the
            ``target_bandwidths`` (X-Codec's bandwidth dropout: n_q in {1, 2, 3, 4, 8}).
        acoustic_decoder_type (`str`, defaults to `"dac"`):
            ``"dac"``: X-Codec's DAC decoder (the layout transformers' ``XcodecModel`` loads).
            ``"istft"``: a Vocos-style decoder (``ISTFTDecoder`` in :mod:`.modeling_xcodec`) that runs at the frame rate
            and ends in an inverse STFT; a songgen-hf extension (X-Codec 2.0 decodes this way).
        istft_decoder_config (`dict`, *optional*):
            ``hidden_size``, ``intermediate_size``, ``num_layers``, ``n_fft`` of the ISTFT decoder.
    """

    model_type = "songgen_xcodec"

    decode_only: bool = False
    codebook_decay: float = 0.99
    codebook_epsilon: float = 1e-5
    kmeans_init: bool = True
    kmeans_iters: int = 50
    kmeans_max_samples: int = 10000
    threshold_ema_dead_code: float = 2.0
    quantizer_dropout: bool = True
    acoustic_decoder_type: str = "dac"
    istft_decoder_config: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.acoustic_decoder_type not in ACOUSTIC_DECODER_TYPES:
            raise ValueError(
                f"acoustic_decoder_type must be one of {ACOUSTIC_DECODER_TYPES}, got {self.acoustic_decoder_type!r}."
            )
        self.target_bandwidths = [float(bw) for bw in self.target_bandwidths]
        if list(self.target_bandwidths) != sorted(self.target_bandwidths):
            raise ValueError(f"`target_bandwidths` must be sorted ascending, got {self.target_bandwidths}.")
        if self.num_quantizers < 1:
            raise ValueError(
                f"`target_bandwidths` {self.target_bandwidths} give {self.num_quantizers} quantizers at "
                f"{self.bandwidth_per_quantizer} kbps each; raise the largest bandwidth."
            )

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs) -> tuple[dict[str, Any], dict[str, Any]]:
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        # transformers' own X-Codec layout is a supported input, not a mismatch.
        if config_dict.get("model_type") == TRANSFORMERS_XCODEC_MODEL_TYPE:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs

    @property
    def sampling_rate(self) -> int:
        return self.sample_rate

    @property
    def bandwidth_per_quantizer(self) -> float:
        """kbps carried by one codebook: log2(codebook_size) bits at the frame rate."""
        return self.codebook_nbits * self.frame_rate / 1000

    def num_quantizers_for_bandwidth(self, bandwidth: float | None) -> int:
        """Number of codebooks used at ``bandwidth`` kbps (``None`` = all)."""
        if bandwidth is None:
            return self.num_quantizers
        if not any(math.isclose(float(bandwidth), bw) for bw in self.target_bandwidths):
            raise ValueError(
                f"Unsupported bandwidth {bandwidth} kbps. Pick one of {self.target_bandwidths} "
                "(or pass bandwidth=None for all codebooks)."
            )
        return max(1, math.floor(float(bandwidth) / self.bandwidth_per_quantizer + 1e-9))

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` of audio: one per ``hop_length``, rounding up
        from 80 samples past the last full hop (the teacher sees 160 padded samples a side
        and has a 400-sample receptive field)."""
        return (num_samples - self.hop_length // 4) // self.hop_length + 1


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


__all__ = ["MelTeacherConfig", "XCodecConfig"]
