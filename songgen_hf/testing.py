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


__all__ = ["tiny_xcodec_config"]
