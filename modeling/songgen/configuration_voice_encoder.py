"""Configuration of SongGen's reference-voice encoder (frozen MERT + learned layer mix + projection).

MERT-v1-330M is published as custom ``trust_remote_code`` code (``MERTConfig`` /
``MERTModel``), but for the v1-330M checkpoint every custom branch of that code is switched
off, so the network *is* a transformers ``HubertModel``.  Facts and their sources:

Read (m-a-p/MERT-v1-330M ``config.json`` on the Hub, mirrored verbatim by
``yizhilll/MERT`` ``scripts/hf_config/mert_large.json``, and ``modeling_MERT.py`` in both places):

* 24 layers, hidden 1024, 16 heads, FFN 4096, GELU, ``layer_norm_eps`` 1e-5;
* seven-layer conv front end, 512 channels, kernels (10, 3, 3, 3, 3, 2, 2), strides
  (5, 2, 2, 2, 2, 2, 2) -> hop 320 samples -> 75 Hz at 24 kHz; ``conv_bias`` false;
* ``feat_extract_norm`` **"group"** (GroupNorm on the first conv only, *not* the per-layer
  LayerNorm front end of wav2vec2-large; confirmed in the ``yizhilll/MERT`` repository's issues);
* ``do_stable_layer_norm`` true (pre-LN encoder layers + a final encoder LayerNorm);
* ``feat_proj_layer_norm`` true; conv positional embedding 128 taps / 16 groups, weight-norm;
* every dropout and ``layerdrop`` 0;
* ``feature_extractor_cqt`` false -> no nnAudio CQT branch, the feature projection is the plain
  ``LayerNorm(512) + Linear(512, 1024)`` of HuBERT;
* ``deepnorm`` false; ``attention_relax`` 32 is only consulted by MERT's *post*-LN encoder
  variant, which is not built when ``do_stable_layer_norm`` is true (and it is a softmax
  shift that cancels mathematically anyway);
* ``masked_spec_embed`` exists because ``mask_time_prob`` > 0 (0.075 in the GitHub copy of
  the config; the Hub excerpt that was read stops before that key).

Hence ``mert_v1_330m_config()`` below is a ``HubertConfig`` whose ``HubertModel`` has the same
parameter names and shapes as ``MERTModel`` (confidence: high for structure; the tensors
themselves were never downloaded).

One behavioural difference lives in transformers, not in MERT: with transformers >= 5 a
pre-LN HuBERT returns its last ``hidden_states`` entry *before* the final encoder LayerNorm,
while transformers 4.x (which SongGen and MERT were written against) returned it *after*.
``SongGenVoiceEncoder`` restores the 4.x stack; see its docstring.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, HubertConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# Field values of m-a-p/MERT-v1-330M's config.json that HubertConfig understands.  Keys of
# MERTConfig that HubertConfig lacks (attention_relax, deepnorm, feature_extractor_cqt*,
# sample_rate) select code paths that are inactive for this checkpoint, so they are dropped.
MERT_V1_330M_HUBERT_KWARGS: dict[str, Any] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "hidden_dropout": 0.0,
    "activation_dropout": 0.0,
    "attention_dropout": 0.0,
    "feat_proj_layer_norm": True,
    "feat_proj_dropout": 0.0,
    "final_dropout": 0.0,
    "layerdrop": 0.0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "conv_dim": [512, 512, 512, 512, 512, 512, 512],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "conv_pos_batch_norm": False,
    "do_stable_layer_norm": True,
    "apply_spec_augment": True,
    "mask_time_prob": 0.075,
    "mask_time_length": 10,
    "mask_feature_prob": 0.0,
    "mask_feature_length": 10,
    "vocab_size": 32,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

MERT_V1_330M_SAMPLING_RATE = 24000


def mert_v1_330m_config(**overrides: Any) -> HubertConfig:
    """The ``HubertConfig`` whose ``HubertModel`` matches ``m-a-p/MERT-v1-330M`` key for key.

    ``overrides`` replace individual fields (e.g. ``attn_implementation``).
    """
    return HubertConfig(**{**MERT_V1_330M_HUBERT_KWARGS, **overrides})


def conv_output_length(num_samples: int, kernels, strides) -> int:
    """Frames a stack of unpadded 1-D convolutions produces from ``num_samples`` samples."""
    length = int(num_samples)
    for kernel, stride in zip(kernels, strides):
        length = (length - int(kernel)) // int(stride) + 1
        if length <= 0:
            return 0
    return length


class SongGenVoiceEncoderConfig(PreTrainedConfig):
    r"""Configuration of [`SongGenVoiceEncoder`].

    Args:
        audio_encoder_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the frozen self-supervised audio encoder, built with
            ``AutoModel.from_config``.  Defaults to the MERT-v1-330M-shaped ``HubertConfig``
            (see the module docstring).  Any transformers speech encoder that returns
            ``hidden_states`` (HuBERT, wav2vec2, WavLM) works.
        sampling_rate (`int`, defaults to 24000):
            Rate the encoder expects; MERT-v1 is trained at 24 kHz.
        clip_seconds (`float`, defaults to 3.0):
            Length of the reference clip; inputs are padded/cropped to
            ``round(clip_seconds * sampling_rate)`` samples (72000) by the feature extractor.
        output_size (`int`, defaults to 1024):
            Width of the projected states, i.e. the decoder's cross-attention width.  The
            parent model sets it.
        freeze_audio_encoder (`bool`, defaults to `True`):
            Keep the audio encoder frozen: no gradients, always in eval mode, run under
            ``torch.no_grad``.  SongGen never trains MERT.
        use_attention_mask (`bool`, defaults to `True`):
            When a sample-level ``attention_mask`` is given, pass it to the encoder and mask
            the frames that cover padding.  ``False`` ignores it (except for spotting all-zero
            "no voice" rows), which is what the reference's all-ones voice mask amounts to;
            the two only differ for clips shorter than ``clip_seconds``.

    ``num_layers_to_aggregate`` (encoder layers + the embedding output, 25 for MERT-v1-330M),
    ``hidden_size``, ``max_samples``, ``frame_rate`` and ``num_frames()`` are derived.
    """

    model_type = "songgen_voice_encoder"
    sub_configs_defaults = {
        "audio_encoder_config": SubConfigSpec(
            config_class=AutoConfig, model_type="hubert", init_kwargs=MERT_V1_330M_HUBERT_KWARGS
        ),
    }

    audio_encoder_config: dict | PreTrainedConfig | None = None
    sampling_rate: int = MERT_V1_330M_SAMPLING_RATE
    clip_seconds: float = 3.0
    output_size: int = 1024
    freeze_audio_encoder: bool = True
    use_attention_mask: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        encoder = self.audio_encoder_config
        for field in ("hidden_size", "num_hidden_layers", "conv_kernel", "conv_stride"):
            if not hasattr(encoder, field):
                raise ValueError(
                    f"`audio_encoder_config` ({type(encoder).__name__}) has no `{field}`; use a conv-front-end "
                    "speech encoder config such as HubertConfig (see `mert_v1_330m_config()`)."
                )
        if int(self.sampling_rate) <= 0:
            raise ValueError(f"`sampling_rate` must be a positive number of Hz, got {self.sampling_rate}.")
        if not float(self.clip_seconds) > 0:
            raise ValueError(f"`clip_seconds` must be positive, got {self.clip_seconds}.")
        if int(self.output_size) <= 0:
            raise ValueError(f"`output_size` must be positive, got {self.output_size}.")
        if self.num_frames() <= 0:
            raise ValueError(
                f"A {self.clip_seconds} s clip gives no encoder frames with kernels "
                f"{list(encoder.conv_kernel)} and strides {list(encoder.conv_stride)}; lengthen `clip_seconds`."
            )

    @property
    def hidden_size(self) -> int:
        return int(self.audio_encoder_config.hidden_size)

    @property
    def num_layers_to_aggregate(self) -> int:
        """Hidden states mixed per frame: the embedding output plus one per encoder layer."""
        return int(self.audio_encoder_config.num_hidden_layers) + 1

    @property
    def max_samples(self) -> int:
        return int(round(float(self.clip_seconds) * int(self.sampling_rate)))

    @property
    def hop_length(self) -> int:
        return math.prod(int(s) for s in self.audio_encoder_config.conv_stride)

    @property
    def frame_rate(self) -> float:
        """Encoder frames per second (75.0 for MERT-v1 at 24 kHz)."""
        return int(self.sampling_rate) / self.hop_length

    def num_frames(self, num_samples: int | None = None) -> int:
        """Encoder frames for ``num_samples`` samples (default: a full clip; 224 for 72000)."""
        samples = self.max_samples if num_samples is None else num_samples
        encoder = self.audio_encoder_config
        return conv_output_length(samples, encoder.conv_kernel, encoder.conv_stride)


__all__ = [
    "SongGenVoiceEncoderConfig",
    "mert_v1_330m_config",
    "MERT_V1_330M_HUBERT_KWARGS",
    "MERT_V1_330M_SAMPLING_RATE",
    "conv_output_length",
]
