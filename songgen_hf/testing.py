"""Tiny configurations for offline tests and smoke tests.

Everything here builds in-process from configs, so tests (ours and users') never download a
checkpoint.  The sizes are the smallest that keep the real structure: X-Codec's hop of
8·5·4·2 = 320 samples and a HuBERT front end whose conv strides also multiply to 320.
"""

from __future__ import annotations

from typing import Any

from transformers import DacConfig, HubertConfig

from .modeling import MelTeacherConfig, XCodecConfig

TINY_ACOUSTIC = dict(
    encoder_hidden_size=8,
    decoder_hidden_size=32,
    hidden_size=16,
    downsampling_ratios=[8, 5, 4, 2],
    upsampling_ratios=[8, 5, 4, 2],
    n_codebooks=2,
    codebook_size=64,
    codebook_dim=8,
    sampling_rate=16000,
)

TINY_HUBERT = dict(
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    conv_dim=[16] * 7,
    conv_stride=[5, 2, 2, 2, 2, 2, 2],
    conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)


def tiny_xcodec_config(teacher: str = "hubert", **overrides: Any) -> XCodecConfig:
    """A ~0.3 M-parameter X-Codec with the real frame rate, bandwidths and codebook size.

    Args:
        teacher: ``"hubert"`` (a 2-layer random HuBERT, the structure of the real teacher) or
            ``"mel"`` (the weight-free log-mel/MFCC teacher).
        **overrides: any ``XCodecConfig`` field; ``acoustic_model_config`` /
            ``semantic_model_config`` dicts are merged into the tiny defaults.
    """
    acoustic = {**TINY_ACOUSTIC, **overrides.pop("acoustic_model_config", {})}
    semantic_overrides = overrides.pop("semantic_model_config", {})
    if teacher == "hubert":
        semantic = HubertConfig(**{**TINY_HUBERT, **semantic_overrides})
    elif teacher == "mel":
        semantic = MelTeacherConfig(**{"num_mel_bins": 24, "num_mfcc": 8, **semantic_overrides})
    else:
        raise ValueError(f"Unknown teacher {teacher!r}; use 'hubert' or 'mel'.")
    return XCodecConfig(acoustic_model_config=DacConfig(**acoustic), semantic_model_config=semantic, **overrides)



def write_tone_dataset(folder, num_clips: int = 16, seconds: float = 1.0, sampling_rate: int = 16000, seed: int = 0):
    """Write ``num_clips`` WAV files of decaying harmonic tones over a -34 dB noise floor.

    A quick codec-training corpus: pitched content like music, and a noise floor so the
    log-magnitude losses are well defined everywhere (pure tones leave most STFT bins at the
    log floor, which rewards a silent output).  Returns the list of paths.
    """
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    paths = []
    for index in range(num_clips):
        f0 = rng.uniform(110, 880)
        harmonics = sum(0.3 / (k + 1) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(3))
        envelope = np.minimum(1.0, t * 20) * np.exp(-t * rng.uniform(0.5, 2.0))
        audio = harmonics * envelope + 0.02 * rng.standard_normal(t.shape[0])
        path = folder / f"tone_{index:03d}.wav"
        sf.write(path, audio.astype(np.float32), sampling_rate)
        paths.append(path)
    return paths


__all__ = ["tiny_xcodec_config", "write_tone_dataset"]
