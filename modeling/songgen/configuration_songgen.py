"""Configurations of SongGen: the decoder and the composite model.

``SongGenConfig`` is composed like transformers' MusicGen config: one sub-config per
component, each resolvable through ``AutoConfig``:

* ``text_encoder`` - the description encoder (T5; FLAN-T5-large in the released models),
* ``lyrics_encoder`` - VoiceBPE embedding + relative-position encoder,
* ``voice_encoder`` - the optional 3 s reference-voice encoder (MERT-shaped), or ``None``,
* ``decoder`` - the autoregressive transformer over codec tokens,
* ``audio_encoder`` - the X-Codec that turns tokens into audio.

Special ids and sizes live here and only here; token layouts live in the pattern objects.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, HubertConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from songgen_hf.modeling.patterns import available_token_patterns, get_token_pattern
from songgen_hf.modeling.xcodec.configuration_xcodec import XCodecConfig

# ----------------------------------------------------------------------------------------------------
# The musical controls' vocabulary: key ids, arrangement ids and the key control's input kinds.
#
# Shared by the config (which switches controls on), the model (which embeds them), the processor (which
# reads them from a description) and generation (which nulls them under guidance).

NUM_KEYS = 24
UNKNOWN_KEY = NUM_KEYS
"""``music_key_ids`` value for "no key asked"."""
MINOR_OFFSET = 12

# arrangement: each part is without (0), with (1) or not said (2); the id is 3 * vocals + drums
WITHOUT, WITH, NOT_SAID = 0, 1, 2
NUM_ARRANGEMENTS = 9
UNKNOWN_ARRANGEMENT = 3 * NOT_SAID + NOT_SAID
"""``arrangement_ids`` value for "neither vocals nor drums asked about"."""


def arrangement_id(vocals: bool | None, drums: bool | None) -> int:
    """The id of an arrangement request: ``vocals`` / ``drums`` True (with), False (without) or None (not said)."""

    def state(value: bool | None) -> int:
        return NOT_SAID if value is None else (WITH if value else WITHOUT)

    return 3 * state(vocals) + state(drums)


def arrangement_parts(arrangement: int) -> tuple[bool | None, bool | None]:
    """``(vocals, drums)`` of an arrangement id, the inverse of :func:`arrangement_id`."""
    if not 0 <= int(arrangement) < NUM_ARRANGEMENTS:
        raise ValueError(f"An arrangement id lies in 0..{NUM_ARRANGEMENTS - 1}, got {arrangement}.")
    states = divmod(int(arrangement), 3)
    return tuple(None if s == NOT_SAID else s == WITH for s in states)


def music_key_id(tonic_pitch_class: int, minor: bool) -> int:
    """The id of a key: its tonic's pitch class (C = 0 ... B = 11), plus 12 for minor."""
    if not 0 <= int(tonic_pitch_class) < 12:
        raise ValueError(f"A tonic pitch class lies in 0..11, got {tonic_pitch_class}.")
    return int(tonic_pitch_class) + (MINOR_OFFSET if minor else 0)


KEY_CONTROL_FEATURES = ("embedding", "pitch_classes")


# ----------------------------------------------------------------------------------------------------
# Configuration of SongGen's lyrics encoder (token embedding + relative-position Transformer).
#
# The released SongGen checkpoints embed VoiceBPE lyric ids with a 7000 x 1024 table and run
# them through a six-block Conformer that has its macaron FFN and convolution module switched
# off, i.e. a pre-norm Transformer encoder with ESPnet-style relative-position attention.  The
# defaults below reproduce that network; see ``lyrics_encoder.py`` for the maths.


class SongGenLyricsEncoderConfig(PreTrainedConfig):
    r"""Configuration of [`SongGenLyricsEncoder`].

    Args:
        vocab_size (`int`, defaults to 7000):
            Rows of the lyric token embedding (the reference's ``embed_prompts``; VoiceBPE uses
            6681 of them).
        hidden_size (`int`, defaults to 1024):
            Width of the embedding and of every encoder block.
        num_hidden_layers (`int`, defaults to 6):
            Encoder blocks.
        num_attention_heads (`int`, defaults to 16):
            Attention heads; ``hidden_size`` must be a multiple of it.
        intermediate_size (`int`, defaults to 4096):
            Inner width of each block's feed-forward network.
        hidden_act (`str`, defaults to `"silu"`):
            Feed-forward activation (the reference's "swish").
        dropout (`float`, defaults to 0.1):
            Dropout after the input projection, inside the feed-forward network and on both
            residual branches.
        positional_dropout (`float`, defaults to 0.1):
            Dropout applied, after the sqrt(hidden_size) scaling, to the scaled hidden states and
            to the relative position embeddings.
        attention_dropout (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm.
        max_position_embeddings (`int`, defaults to 5000):
            Number of relative distances the sinusoid table is first built for (distances
            -(N-1) .. N-1).  Longer lyrics are *not* an error: like the reference, the table
            is rebuilt on the fly for the longer length (the values of a sinusoid table do not
            depend on its size, so results are identical).  The table is not a parameter and
            is never saved.
        pad_token_id (`int`, defaults to 0):
            Padding id of the lyric tokenizer.  Informational only: the reference's embedding
            has no ``padding_idx`` (id 0 is also the end-of-lyrics token and its row is
            trained), so padded positions are excluded through ``attention_mask`` alone.
        use_encoder (`bool`, defaults to `True`):
            ``False`` skips the encoder and returns the raw token embeddings (the reference's
            ``add_prenet=False`` ablation).  Released models use ``True``.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the normal initialisation of linear and embedding weights.
    """

    model_type = "songgen_lyrics_encoder"

    vocab_size: int = 7000
    hidden_size: int = 1024
    num_hidden_layers: int = 6
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "silu"
    dropout: float = 0.1
    positional_dropout: float = 0.1
    attention_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 5000
    pad_token_id: int | None = 0
    use_encoder: bool = True
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )
        # The sinusoid interleaves sin/cos pairs over the channels.
        if self.hidden_size % 2 != 0:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be even for the sinusoidal positions.")
        if self.max_position_embeddings < 1:
            raise ValueError(f"max_position_embeddings must be positive, got {self.max_position_embeddings}.")
        super().__post_init__(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# ----------------------------------------------------------------------------------------------------
# Configuration of SongGen's reference-voice encoder (frozen MERT + learned layer mix + projection).
#
# MERT-v1-330M is published as custom ``trust_remote_code`` code (``MERTConfig`` /
# ``MERTModel``), but for the v1-330M checkpoint every custom branch of that code is switched
# off, so the network *is* a transformers ``HubertModel``.  Facts and their sources:
#
# Read (m-a-p/MERT-v1-330M ``config.json`` on the Hub, mirrored verbatim by
# ``yizhilll/MERT`` ``scripts/hf_config/mert_large.json``, and ``modeling_MERT.py`` in both places):
#
# * 24 layers, hidden 1024, 16 heads, FFN 4096, GELU, ``layer_norm_eps`` 1e-5;
# * seven-layer conv front end, 512 channels, kernels (10, 3, 3, 3, 3, 2, 2), strides
#   (5, 2, 2, 2, 2, 2, 2) -> hop 320 samples -> 75 Hz at 24 kHz; ``conv_bias`` false;
# * ``feat_extract_norm`` **"group"** (GroupNorm on the first conv only, *not* the per-layer
#   LayerNorm front end of wav2vec2-large; confirmed in the ``yizhilll/MERT`` repository's issues);
# * ``do_stable_layer_norm`` true (pre-LN encoder layers + a final encoder LayerNorm);
# * ``feat_proj_layer_norm`` true; conv positional embedding 128 taps / 16 groups, weight-norm;
# * every dropout and ``layerdrop`` 0;
# * ``feature_extractor_cqt`` false -> no nnAudio CQT branch, the feature projection is the plain
#   ``LayerNorm(512) + Linear(512, 1024)`` of HuBERT;
# * ``deepnorm`` false; ``attention_relax`` 32 is only consulted by MERT's *post*-LN encoder
#   variant, which is not built when ``do_stable_layer_norm`` is true (and it is a softmax
#   shift that cancels mathematically anyway);
# * ``masked_spec_embed`` exists because ``mask_time_prob`` > 0 (0.075 in the GitHub copy of
#   the config; the Hub excerpt that was read stops before that key).
#
# Hence ``mert_v1_330m_config()`` below is a ``HubertConfig`` whose ``HubertModel`` has the same
# parameter names and shapes as ``MERTModel`` (confidence: high for structure; the tensors
# themselves were never downloaded).
#
# One behavioural difference lives in transformers, not in MERT: with transformers >= 5 a
# pre-LN HuBERT returns its last ``hidden_states`` entry *before* the final encoder LayerNorm,
# while transformers 4.x (which SongGen and MERT were written against) returned it *after*.
# ``SongGenVoiceEncoder`` restores the 4.x stack; see its docstring.

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


# ----------------------------------------------------------------------------------------------------
# The config fields every song model conditioned like SongGen shares, and their checks.
#
# :class:`SongConditioningConfig` is the base of ``SongGenConfig`` (autoregressive) and
# ``ResGenConfig`` (masked parallel): the conditioning sub-configs (description T5, lyrics encoder,
# optional voice encoder, X-Codec), the condition-dropout probabilities and the checks that tie
# them to the token model in ``decoder``.  Subclasses add ``sub_configs_defaults`` with their own
# decoder config; their ``__post_init__`` runs after these checks (``super().__post_init__`` first).
#
# :class:`MusicalControlsConfig` is the base of both token models' configs: the tempo / key
# control switches (:class:`~.conditioning_songgen.SongGenMusicalControls`), the decoder block's sizes and the
# checks they share.


def drop_unsupported_fields(owner: str, kwargs: dict, unsupported: dict[str, tuple]) -> None:
    """Remove from a config's extra ``kwargs`` the options this package does not build, refusing one switched on.

    ``unsupported`` maps a field to ``(neutral values, fix)``: the field is dropped where its value is one of the
    neutral values (``None`` as the whole tuple: any value, for settings that only qualify another field), and a
    ``ValueError`` naming the field and the fix is raised otherwise.  transformers keeps unknown keys as
    attributes, so without this an old config would load with the option silently ignored."""
    for name, (neutral, fix) in unsupported.items():
        if name not in kwargs:
            continue
        value = kwargs.pop(name)
        if neutral is not None and value not in neutral:
            raise ValueError(
                f"This {owner} config sets {name}={value!r}, an option songgen-hf does not support: {fix}."
            )


UNSUPPORTED_CONTROL_FIELDS = {
    "tempo_control_rate": (
        (False, None),
        "the tempo control reads the beat phase only, so a model trained with the tempo's value as well would "
        "compute something else; use a model trained without it (tempo_control_rate: false)",
    ),
}
"""Options that earlier configs may carry (see :func:`drop_unsupported_fields`)."""


class MusicalControlsConfig(PreTrainedConfig):
    r"""Transformer sizes and musical-control switches shared by SongGen's and ResGen's token models.

    Args:
        hidden_size (`int`), num_attention_heads (`int`): the width must split evenly into heads.
        num_hidden_layers, ffn_dim, activation_function, dropout, attention_dropout, activation_dropout,
        layer_norm_eps, initializer_factor, add_cross_attention: the sizes and regularisation of SongGen's decoder
            block, which both token models are built of (defaults: SongGen's).
        use_tempo_control / use_key_control (`bool`, defaults to False): add the requested tempo
            (a beat-phase "metronome" over ``tempo_control_periods`` beats) and key to the input
            at every frame (:mod:`.conditioning_songgen`); off in the reference SongGen.
        use_arrangement_control (`bool`, defaults to False): add whether the song should have vocals
            and drums (with / without / not said, read from the description) the same way.
        key_control_features (`str`, defaults to "embedding"): how the key control reads a key: one
            learned vector per key ("embedding"), or a linear map of the key's scale pitch classes and
            tonic ("pitch_classes"), shared by every key (:func:`.conditioning_songgen.key_pitch_class_features`).
    """

    hidden_size: int = 1024
    num_attention_heads: int = 16
    num_hidden_layers: int = 24
    ffn_dim: int = 4096
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_factor: float = 0.02
    add_cross_attention: bool = True
    use_tempo_control: bool = False
    use_key_control: bool = False
    use_arrangement_control: bool = False
    tempo_control_periods: tuple[float, ...] | list[float] = (4.0, 2.0, 1.0, 0.5)
    key_control_features: str = "embedding"

    def __post_init__(self, **kwargs):
        drop_unsupported_fields(type(self).__name__.removesuffix("Config"), kwargs, UNSUPPORTED_CONTROL_FIELDS)
        if self.key_control_features not in KEY_CONTROL_FEATURES:
            raise ValueError(
                f"key_control_features must be one of {KEY_CONTROL_FEATURES}, got {self.key_control_features!r}."
            )
        self.tempo_control_periods = [float(p) for p in self.tempo_control_periods]
        if not self.tempo_control_periods or min(self.tempo_control_periods) <= 0:
            raise ValueError(f"tempo_control_periods must be positive beat counts, got {self.tempo_control_periods}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})."
            )
        super().__post_init__(**kwargs)

    @property
    def has_musical_controls(self) -> bool:
        return bool(self.use_tempo_control or self.use_key_control or self.use_arrangement_control)

    def control_switches(self) -> dict[str, bool]:
        """The switches as ``songgen_hf.modeling.songgen.description_songgen.musical_controls`` takes them."""
        return {
            "use_tempo": bool(self.use_tempo_control),
            "use_key": bool(self.use_key_control),
            "use_arrangement": bool(self.use_arrangement_control),
        }


CONDITION_DROPOUT_FIELDS = (
    "description_dropout_prob",
    "lyrics_dropout_prob",
    "voice_dropout_prob",
    "joint_dropout_prob",
    "control_dropout_prob",
    "control_each_dropout_prob",
)
"""The training-time condition dropout probabilities of :class:`SongConditioningConfig`."""


UNSUPPORTED_CONDITIONING_FIELDS = {
    "lyrics_memory_positions": (
        (False, None),
        "the lyrics memory has no absolute positions here, so a model trained with them would compute something "
        "else; use a model trained without them (lyrics_memory_positions: false)",
    ),
}
"""Options that earlier configs may carry (see :func:`drop_unsupported_fields`)."""


def conditioning_sub_configs(decoder: type[PreTrainedConfig]) -> dict:
    """The ``sub_configs_defaults`` of a :class:`SongConditioningConfig`: SongGen's encoders and codec, and
    ``decoder`` (the config class of the model's own token model)."""
    return {
        "text_encoder": SubConfigSpec(config_class=AutoConfig, model_type="t5"),
        "lyrics_encoder": SongGenLyricsEncoderConfig,
        "voice_encoder": SongGenVoiceEncoderConfig,
        "decoder": decoder,
        "audio_encoder": XCodecConfig,
    }


class SongConditioningConfig(PreTrainedConfig):
    r"""Conditioning sub-configs and condition dropout, shared by SongGen and ResGen.

    Args:
        text_encoder / lyrics_encoder / voice_encoder / decoder / audio_encoder: sub-configs
            (dicts are resolved through ``AutoConfig`` by their ``model_type``).
            ``voice_encoder=None`` (or ``use_voice_encoder=False``) builds a model without
            reference-voice conditioning.
        description_dropout_prob, lyrics_dropout_prob, voice_dropout_prob (`float`): training-time
            probability of replacing each condition by its null version, per example, so the model
            also learns the unconditional distribution classifier-free guidance needs.
        joint_dropout_prob (`float`): probability of dropping every condition together, as
            MusicGen/AudioGen drop the whole condition.  Guidance subtracts exactly this fully-null
            case; with independent drops alone it is rare (0.15 x 0.15).
        control_dropout_prob (`float`): probability of replacing the musical controls (tempo, key,
            arrangement) by "unknown" while the description and lyrics stay.  Without it the controls
            drop only with the description, so "described, controls unknown" is never seen, and
            control guidance (``control_guidance_scale`` in ``generate``), which subtracts exactly
            that case, has nothing to stand on.
        control_each_dropout_prob (`float` or `dict`, defaults to 0): probability of replacing each musical
            control the model uses by "unknown" on its own, per example, on top of the drops above; one number for
            every control, or one per control (``{"tempo": 0.0, "key": 0.5, "arrangement": 0.5}``, a control left
            out at 0).  The controls drop together otherwise, so "tempo told, key unknown" (how most people ask) is
            never trained, and what a run learns is learnt only against controls told in full.
    """

    is_composition = True

    text_encoder: dict | PreTrainedConfig | None = None
    lyrics_encoder: dict | PreTrainedConfig | None = None
    voice_encoder: dict | PreTrainedConfig | None = None
    decoder: dict | PreTrainedConfig | None = None
    audio_encoder: dict | PreTrainedConfig | None = None
    use_voice_encoder: bool = True
    description_dropout_prob: float = 0.0
    lyrics_dropout_prob: float = 0.0
    voice_dropout_prob: float = 0.0
    joint_dropout_prob: float = 0.0
    control_dropout_prob: float = 0.0
    control_each_dropout_prob: float | dict[str, float] = 0.0
    is_encoder_decoder: bool = True

    def __post_init__(self, **kwargs):
        drop_unsupported_fields(type(self).__name__.removesuffix("Config"), kwargs, UNSUPPORTED_CONDITIONING_FIELDS)
        # before the sub-configs resolve, so no default voice encoder is built for a voiceless model
        if not self.use_voice_encoder:
            self.voice_encoder = None
        super().__post_init__(**kwargs)
        if not self.use_voice_encoder:
            self.voice_encoder = None
        elif self.voice_encoder is not None:
            self.voice_encoder.output_size = self.decoder.hidden_size
        codec, decoder = self.audio_encoder, self.decoder
        if codec.num_quantizers < decoder.num_codebooks:
            raise ValueError(
                f"The codec has {codec.num_quantizers} codebooks but the token model predicts "
                f"{decoder.num_codebooks}; use a codec with at least as many or lower decoder.num_codebooks."
            )
        if codec.codebook_size != decoder.codebook_size:
            raise ValueError(
                f"codec codebook_size {codec.codebook_size} != decoder codebook_size {decoder.codebook_size}."
            )
        for name in CONDITION_DROPOUT_FIELDS:
            if name == "control_each_dropout_prob":
                control_each_dropout_probs(self.control_each_dropout_prob)
            elif not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}.")

    @property
    def sampling_rate(self) -> int:
        return self.audio_encoder.sample_rate

    @property
    def frame_rate(self) -> int:
        return self.audio_encoder.frame_rate

    def get_text_config(self, decoder=None, encoder=None) -> PreTrainedConfig:
        # "the text config" is ambiguous here (T5 encoder vs token model); generation wants the token model
        if encoder and not decoder:
            return self.text_encoder
        return self.decoder


# The curriculum's starting point (SongGen): coarse codebooks first, fine ones later.
DEFAULT_INITIAL_CODEBOOK_WEIGHTS = (0.25, 0.25, 0.25, 0.05, 0.05, 0.05, 0.05, 0.05)


MUSICAL_CONTROL_NAMES = ("tempo", "key", "arrangement")
"""The musical controls, in the order their training drops are drawn."""


def control_each_dropout_probs(value) -> dict[str, float]:
    """``control_each_dropout_prob`` as one probability per musical control: a number applies to every control, a
    mapping names some of them (the others 0).  Raises a ValueError naming the fix for anything else."""
    if isinstance(value, dict):
        unknown = sorted(str(name) for name in value if name not in MUSICAL_CONTROL_NAMES)
        if unknown:
            raise ValueError(
                f"control_each_dropout_prob names {', '.join(map(repr, unknown))}; the musical controls are "
                f"{', '.join(MUSICAL_CONTROL_NAMES)} (e.g. {{'tempo': 0.0, 'key': 0.5, 'arrangement': 0.5}})."
            )
        probs = {name: value.get(name, 0.0) for name in MUSICAL_CONTROL_NAMES}
    else:
        probs = dict.fromkeys(MUSICAL_CONTROL_NAMES, value)
    for name, prob in probs.items():
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            where = f"control_each_dropout_prob[{name!r}]" if isinstance(value, dict) else "control_each_dropout_prob"
            raise ValueError(
                f"{where} must be a probability in [0, 1], got {prob!r}; give one number for every musical control "
                "or one per control, e.g. {'tempo': 0.0, 'key': 0.5, 'arrangement': 0.5}."
            )
    return {name: float(prob) for name, prob in probs.items()}


def check_input_token_noise_prob(value) -> None:
    """``input_token_noise_prob`` is a probability in [0, 1): 1 would leave no real context to learn from."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"input_token_noise_prob must be a probability in [0, 1), got {value!r}.")


def check_stem_gains_db(gains, pattern) -> None:
    """``stem_gains_db`` names tracks of a multi-track ``pattern``, each with a finite gain within +-24 dB."""
    if gains is None:
        return
    track_names = pattern.track_names
    if len(track_names) < 2:
        raise ValueError(
            f"stem_gains_db={gains!r} is set, but a {pattern.name!r} model decodes one track and sums no stems; "
            "remove it, or use a dual-track pattern."
        )
    if not isinstance(gains, dict):
        raise ValueError(f"stem_gains_db must map track names to dB, e.g. {{'vocals': 1.6}}; got {gains!r}.")
    for track, gain in gains.items():
        if track not in track_names:
            raise ValueError(f"stem_gains_db names {track!r}; this model's tracks are {', '.join(track_names)}.")
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not -24.0 <= gain <= 24.0:
            raise ValueError(f"stem_gains_db[{track!r}] must be a number of dB in [-24, 24], got {gain!r}.")


# Options that earlier configs may carry but this SongGen does not build: a saved config holding one at its
# neutral value loads as the same model (the key is dropped); one that switches it on is refused, since loading it
# would quietly give a different model (or a different fine-tuning) than the one the config describes.
UNSUPPORTED_DECODER_FIELDS = {
    "input_conv_kernel": ((0, None), "the decoder has no input convolution; remove the key or set it to 0"),
    "opening_loss_weight": (
        (1, None),
        "the training loss weighs every frame alike; remove the key or set it to 1 (the weights load unchanged: "
        "generation never used it)",
    ),
    "opening_loss_frames": (None, ""),
}
UNSUPPORTED_SONGGEN_FIELDS = {
    "lyrics_alignment_weight": (
        (0, None),
        "training has no guided lyrics attention loss; set it to 0 (the weights load unchanged: generation "
        "never used it)",
    ),
    "lyrics_alignment_heads": (None, ""),
    "lyrics_alignment_width": (None, ""),
}


class SongGenDecoderConfig(MusicalControlsConfig):
    r"""The autoregressive decoder over codec tokens.

    Args:
        vocab_size (`int`, defaults to 1088): ids per codebook: 1024 codes + specials, padded to a multiple of 64.
        codebook_size (`int`, defaults to 1024): real codec codes per codebook (ids ``0..codebook_size-1``).
        num_codebooks (`int`, defaults to 8): codebooks per track.
        track_pattern (`str`, defaults to ``"mixed_pro"``): token layout, one of
            ``mixed``, ``mixed_pro``, ``parallel_std``, ``parallel_A_V``, ``parallel_V_A``,
            ``interleaving_A_V``, ``interleaving_V_A``, or AudioGen's multi-stream ``mixed_stream2`` /
            ``mixed_stream4`` (S = 2 / 4 frames per decoding step: the decoder embeds and predicts
            ``S * num_codebooks`` rows, see ``num_rows``; ``num_codebooks`` stays the codec's K), and
            ``mixed_pro_stream2``: ``mixed_stream2`` with mixed pro's training-only vocal heads.
        hidden_size, num_hidden_layers, num_attention_heads, ffn_dim: transformer sizes
            (SongGen: 1024, 24, 16, 4096).
        activation_function (`str`, defaults to ``"gelu"``), dropout (0.1), attention_dropout,
        activation_dropout, layerdrop: regularisation as in the reference.
        max_position_embeddings (`int`): rows of the sinusoidal table; it grows on demand.
        window_frames (`int`, *optional*): codec frames (per track) the model makes in one decoding pass, its
            *window*; a longer song is made window after window.  Set it to the length the model was trained to
            generate when its position table is longer (the released SongGen checkpoints: a 6547-row table,
            trained for songs of at most 30 s).  ``None``: as many frames as the position table holds.
        default_window_frames (`int`, *optional*): codec frames (per track) of each window a song longer than it is
            made in when a call names no ``window_s``: the length the model was trained on, where that is shorter
            than its window (songgen-tiny: 500, its 10 s training crops).  A call's ``window_s`` overrides it, up to
            the window.  ``None``: the window.
        pad_token_id / eos_token_id (1024), bos_token_id (1025): special ids (PAD = EOS).
        initializer_factor (`float`, defaults to 0.02): std of the normal init.
        use_tempo_control / use_key_control (`bool`, defaults to False): add the requested tempo
            (a beat-phase "metronome" over ``tempo_control_periods`` beats) and key to the input
            at every step (:mod:`.conditioning_songgen`); off in the reference SongGen.
        key_control_features (`str`, defaults to "embedding"): the key as one learned vector per key, or
            ("pitch_classes") a linear map of its scale's pitch classes and tonic, shared by all keys.
        input_token_noise_prob (`float`, defaults to 0): in training, each codec token of the decoder's *input*
            is replaced by a random code with this probability (targets stay clean).  With clean teacher
            forcing the frames in context already predict the next one's tempo, key and voice; a context
            that cannot be fully trusted makes the model read the controls at every step.  Generation never
            uses it.  0 is the reference's clean teacher forcing.
    """

    model_type = "songgen_decoder"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]  # the name from transformers 5.24, and before

    vocab_size: int = 1088
    codebook_size: int = 1024
    num_codebooks: int = 8
    track_pattern: str = "mixed_pro"
    layerdrop: float = 0.0
    max_position_embeddings: int = 6547
    window_frames: int | None = None
    default_window_frames: int | None = None
    scale_embedding: bool = False
    use_cache: bool = True
    pad_token_id: int | None = 1024
    bos_token_id: int | None = 1025
    eos_token_id: int | None = 1024
    tie_word_embeddings: bool = False
    is_decoder: bool = True
    input_token_noise_prob: float = 0.0

    def __post_init__(self, **kwargs):
        drop_unsupported_fields("SongGen decoder", kwargs, UNSUPPORTED_DECODER_FIELDS)
        if self.track_pattern not in available_token_patterns():
            raise ValueError(
                f"Unknown track_pattern {self.track_pattern!r}; choose one of {sorted(available_token_patterns())}."
            )
        if not self.codebook_size < self.vocab_size:
            raise ValueError(f"vocab_size ({self.vocab_size}) must exceed codebook_size ({self.codebook_size}).")
        check_input_token_noise_prob(self.input_token_noise_prob)
        if self.window_frames is not None and (
            isinstance(self.window_frames, bool) or not isinstance(self.window_frames, int) or self.window_frames < 1
        ):
            raise ValueError(
                f"window_frames must be a whole number of codec frames >= 1 (or None for the whole position "
                f"table), got {self.window_frames!r}."
            )
        default = self.default_window_frames
        if default is not None and (isinstance(default, bool) or not isinstance(default, int) or default < 2):
            raise ValueError(
                f"default_window_frames must be a whole number of codec frames >= 2 (a window holds a frame of "
                f"context and a new one), or None for the whole window; got {default!r}."
            )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and not self.codebook_size <= value < self.vocab_size:
                raise ValueError(f"{name}={value} must be a special id in [{self.codebook_size}, {self.vocab_size}).")
        super().__post_init__(**kwargs)

    def token_pattern(self):
        """The pattern object for this config: the one place that knows the token layout."""
        return get_token_pattern(
            self.track_pattern,
            num_codebooks=self.num_codebooks,
            bos_token_id=self.bos_token_id,
            pad_token_id=self.pad_token_id,
            eos_token_id=self.eos_token_id,
            codebook_size=self.codebook_size,
            vocab_size=self.vocab_size,
        )

    @property
    def num_rows(self) -> int:
        """Token rows the decoder reads and predicts per step (2K for parallel patterns, S*K for multi-stream)."""
        return self.token_pattern().num_rows

    @property
    def has_vocal_heads(self) -> bool:
        return self.token_pattern().has_auxiliary_vocal_targets


class SongGenConfig(SongConditioningConfig):
    r"""The composite SongGen model.

    Args:
        text_encoder / lyrics_encoder / voice_encoder / decoder / audio_encoder: sub-configs
            (dicts are resolved through ``AutoConfig`` by their ``model_type``).
            ``voice_encoder=None`` builds a model without reference-voice conditioning.
        description_dropout_prob, lyrics_dropout_prob, voice_dropout_prob (`float`): training-time
            probability of replacing each condition by its null version, per example, so the model
            also learns the unconditional distribution classifier-free guidance needs.  The
            reference only ever drops the voice.
        joint_dropout_prob (`float`, defaults to 0): probability of dropping description and lyrics
            together (and the voice, if any), as MusicGen/AudioGen drop the whole condition.  Guidance
            subtracts exactly this fully-null case; with independent drops alone it is rare (0.15 x 0.15).
        vocal_loss_weight (`float`, defaults to 0.1): weight of mixed pro's auxiliary vocal loss.
        project_description_at_inference (`bool`, defaults to `True`): apply ``enc_to_dec_proj`` to
            the description states when generating.  The released SongGen checkpoints were
            trained with the projection but generate without it (the reference skips it when the
            T5 and decoder widths match); the converter sets this to `False` to reproduce them.
        stem_gains_db (`dict[str, float]`, *optional*): dual-track models only: a gain in dB per track
            (``"accompaniment"``, ``"vocals"``), applied to each decoded stem before the stems are summed into
            the song.  A codec need not return every stem at its level (songgen-tiny's gives the vocal stem
            back 2.8 dB and the accompaniment 1.2 dB quieter), so a sum of decoded stems is not balanced like
            the mixes the model learnt from; ``{"vocals": 1.6}`` restores its corpus's balance.  The returned
            stems carry their gains, so they still sum to the song.
    """

    model_type = "songgen"
    sub_configs_defaults = conditioning_sub_configs(SongGenDecoderConfig)

    vocal_loss_weight: float = 0.1
    project_description_at_inference: bool = True
    initial_codebook_weights: list[float] | tuple[float, ...] | None = None
    stem_gains_db: dict[str, float] | None = None
    decoder_start_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self, **kwargs):
        drop_unsupported_fields("SongGen", kwargs, UNSUPPORTED_SONGGEN_FIELDS)
        super().__post_init__(**kwargs)
        self.decoder_start_token_id = self.decoder.bos_token_id
        self.pad_token_id = self.decoder.pad_token_id
        if self.initial_codebook_weights is None:
            k = self.decoder.num_codebooks
            weights = list(DEFAULT_INITIAL_CODEBOOK_WEIGHTS) if k == 8 else [1.0 / k] * k
            self.initial_codebook_weights = weights
        if len(self.initial_codebook_weights) != self.decoder.num_codebooks:
            raise ValueError(
                f"initial_codebook_weights has {len(self.initial_codebook_weights)} entries for "
                f"{self.decoder.num_codebooks} codebooks."
            )
        check_stem_gains_db(self.stem_gains_db, self.decoder.token_pattern())

    def stem_gains(self, pattern) -> dict[str, float]:
        """The linear gain of each of ``pattern``'s decoded stems (1 where none is set), after checking
        ``stem_gains_db`` against the pattern: it may have been set on a loaded config."""
        check_stem_gains_db(self.stem_gains_db, pattern)
        return {track: 10.0 ** ((self.stem_gains_db or {}).get(track, 0.0) / 20.0) for track in pattern.track_names}

    @property
    def track_pattern(self) -> str:
        return self.decoder.track_pattern

    def validate_token_ids(self):
        # PAD/EOS/BOS are inside the 1088-id vocabulary by construction (checked in the decoder config).
        return


# ----------------------------------------------------------------------------------------------------
# The lengths a SongGen config sets: a song's codec frames and the model's window (one decoding pass).
#
# Every song asks them (the argument checks, generate's length, the processor's plan).  A song that fits the
# default window is one pass and needs nothing more; the windows of a longer song are ``windows_songgen``'s.


def duration_frames(config, seconds: float) -> int:
    """Codec frames for ``seconds`` (at least 1), the rounding ``generate`` uses."""
    return max(1, int(round(float(seconds) * config.frame_rate)))


def window_frames(config) -> int:
    """Codec frames (per track) of one decoding pass of a SongGen ``config``, its *window*: what the decoder's
    position table holds, or the fewer frames the model was trained to make (``decoder.window_frames``)."""
    decoder = config.decoder
    table = decoder.token_pattern().num_frames(decoder.max_position_embeddings)
    trained = getattr(decoder, "window_frames", None)
    return table if trained is None else min(table, trained)


def max_duration_s(config) -> float:
    """The window in seconds: the longest song a SongGen ``config`` makes in one decoding pass (and the longest
    ``window_s`` a call may ask)."""
    return window_frames(config) / config.frame_rate


def default_window_frames(config) -> int:
    """Codec frames of each window of a song made window after window when the call names no ``window_s``: the
    config's saved ``decoder.default_window_frames`` (the length the model was trained on, where that is shorter than
    its window), at most the window; the window itself for a model that saves none.  A song of at most this many
    frames is one decoding pass."""
    longest = window_frames(config)
    saved = getattr(config.decoder, "default_window_frames", None)
    return longest if saved is None else min(longest, int(saved))


def default_window_s(config) -> float:
    """:func:`default_window_frames` in seconds: past this a song is made window after window by default."""
    return default_window_frames(config) / config.frame_rate


def fits_default_window(config, duration_s: float) -> bool:
    """Whether a song of ``duration_s`` seconds is one decoding pass of a SongGen ``config`` when the call names no
    ``window_s`` / ``context_s``: it is no longer than :func:`default_window_frames`."""
    return duration_frames(config, duration_s) <= default_window_frames(config)


__all__ = [
    "arrangement_id",
    "arrangement_parts",
    "check_input_token_noise_prob",
    "check_stem_gains_db",
    "CONDITION_DROPOUT_FIELDS",
    "conditioning_sub_configs",
    "control_each_dropout_probs",
    "conv_output_length",
    "DEFAULT_INITIAL_CODEBOOK_WEIGHTS",
    "default_window_frames",
    "default_window_s",
    "drop_unsupported_fields",
    "duration_frames",
    "fits_default_window",
    "KEY_CONTROL_FEATURES",
    "max_duration_s",
    "mert_v1_330m_config",
    "MERT_V1_330M_HUBERT_KWARGS",
    "MERT_V1_330M_SAMPLING_RATE",
    "MINOR_OFFSET",
    "music_key_id",
    "MUSICAL_CONTROL_NAMES",
    "MusicalControlsConfig",
    "NOT_SAID",
    "NUM_ARRANGEMENTS",
    "NUM_KEYS",
    "SongConditioningConfig",
    "SongGenConfig",
    "SongGenDecoderConfig",
    "SongGenLyricsEncoderConfig",
    "SongGenVoiceEncoderConfig",
    "UNKNOWN_ARRANGEMENT",
    "UNKNOWN_KEY",
    "WITH",
    "WITHOUT",
    "window_frames",
]
