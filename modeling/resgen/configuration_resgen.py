"""Configurations of ResGen: the bidirectional transformer over frames and the composite model.

``ResGenConfig`` is composed like ``SongGenConfig`` (one sub-config per component, each resolvable
through ``AutoConfig``) and shares its conditioning fields and checks
(:class:`~..songgen.configuration_conditioning.SongConditioningConfig`): the description T5,
the lyrics encoder, the optional voice encoder and the X-Codec.  Only the token model differs:
``decoder`` is a :class:`ResGenDecoderConfig`, a non-causal transformer whose output is a mixture
of Gaussians over the codec's quantizer space.  The sub-config keeps the name ``decoder`` so the
processor (``SongGenProcessor.for_config``) reads the musical-control switches from the same place.
"""

from __future__ import annotations

from songgen_hf.modeling.resgen.masking import MASK_SCHEDULES
from songgen_hf.modeling.songgen.configuration_songgen import (
    MusicalControlsConfig,
    SongConditioningConfig,
    conditioning_sub_configs,
)

ATTENTION_BIASES = ("none", "alibi")


class ResGenDecoderConfig(MusicalControlsConfig):
    r"""The bidirectional transformer that predicts the cumulative embedding of masked RVQ tokens.

    Args:
        num_codebooks (`int`, defaults to 8): RVQ depths modelled (the codec's first ``num_codebooks``).
        codebook_size (`int`, defaults to 1024): codes per codebook; id ``codebook_size`` marks a masked token.
        latent_dim (`int`): the codec quantizer's vector size (acoustic + semantic, X-Codec's
            ``codebook_dim``); set from the codec by :class:`ResGenConfig`.
        num_mixtures (`int`, defaults to 8): Gaussians in the output mixture (diagonal covariances).
        min_log_scale (`float`, defaults to -7): floor of the predicted log standard deviations, so the
            likelihood stays finite when a component collapses onto one codeword.
        latent_scale (`float`, defaults to 1): multiplies the codec's codebook vectors wherever the
            model sees them (its inputs, the loss's targets, the sampler's quantization), so the
            latent the mixture models can be put at unit scale.  X-Codec's summed 8-depth latent has a
            per-dimension RMS of about 6 (songgen-tiny's codec: 6.05; depth-0 codewords have norm ~96),
            against about 1 for the mask embedding and the musical controls; at scale 1 the latent
            drowns both.  Token choice is unchanged (the nearest codeword is scale-free); 1 keeps the
            models trained before it.
        attention_bias (`str`, defaults to ``"none"``): ``"alibi"`` adds a fixed penalty
            ``-slope_h * |i - j|`` to self-attention scores (ALiBi's geometric slopes, one per head,
            symmetric since every frame sees every frame).  A masked frame's content comes from its
            neighbours, and sinusoidal positions alone leave attention uniform for many steps: a
            small model trained briefly then predicts one mixture everywhere.  The bias makes
            attention local from the first step (the nearest frames weigh most in some heads, the
            whole song in others).  Not in the paper; ``"none"`` keeps models trained before it.
        input_scale_init (`bool`, defaults to False): initialise the latent's input projection with
            std ``latent_dim ** -0.5`` and the mask embedding with std 1, so a frame's known latent and
            its mask count enter at the scale of the positions they are added to rather than at the
            0.02 of other weights.
        depth_means (`bool`, defaults to False): a learnt mean vector per depth (the trainer starts it at
            the training codes' mean codeword): the model reads known codewords relative to their
            depths' means and its mixture is centred on the masked depths' means.  The codec latent has
            a large mean (per-dimension RMS 0.54 against a spread of 0.84 for songgen-tiny's codec)
            that the trunk otherwise builds as one constant vector in its residual stream, which
            drowns what varies between frames.  Not in the paper; off keeps models trained before it.
        hidden_size, num_hidden_layers, num_attention_heads, ffn_dim, activation_function, dropout,
        attention_dropout, activation_dropout, layer_norm_eps: transformer sizes (SongGen's decoder block).
        max_position_embeddings (`int`, defaults to 1500): longest sequence in frames (30 s at 50 Hz);
            the positional limit every duration is checked against.
        initializer_factor (`float`, defaults to 0.02): std of the normal init.
        use_tempo_control / use_key_control / key_control_features / tempo_control_periods: SongGen's musical controls
            (:mod:`songgen_hf.modeling.songgen.conditioning_songgen`), added to every frame's input.
    """

    model_type = "songgen_resgen_decoder"

    num_codebooks: int = 8
    codebook_size: int = 1024
    latent_dim: int = 0
    num_mixtures: int = 8
    min_log_scale: float = -7.0
    latent_scale: float = 1.0
    attention_bias: str = "none"
    input_scale_init: bool = False
    depth_means: bool = False
    max_position_embeddings: int = 1500
    use_cache: bool = False
    is_decoder: bool = False

    def __post_init__(self, **kwargs):
        for name in ("num_codebooks", "codebook_size", "num_mixtures", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not (isinstance(self.latent_scale, (int, float)) and 0 < self.latent_scale < float("inf")):
            raise ValueError(f"latent_scale must be a positive finite number, got {self.latent_scale!r}.")
        if self.attention_bias not in ATTENTION_BIASES:
            raise ValueError(f"attention_bias must be one of {ATTENTION_BIASES}, got {self.attention_bias!r}.")
        super().__post_init__(**kwargs)

    @property
    def mask_token_id(self) -> int:
        """The id of a masked token in a ``(batch, depth, frames)`` code tensor."""
        return self.codebook_size


def check_nll_beta(value) -> None:
    """The one check of a beta-NLL exponent (model config and training option alike)."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise ValueError(f"nll_beta must be a number in [0, 1] (0 = plain NLL, 0.5 = beta-NLL's usual), got {value!r}.")


class ResGenConfig(SongConditioningConfig):
    r"""The composite ResGen model: SongGen's conditioning, a masked cumulative-embedding transformer, X-Codec.

    Args:
        text_encoder / lyrics_encoder / voice_encoder / audio_encoder: as in ``SongGenConfig``.
        decoder: a :class:`ResGenDecoderConfig` (its ``latent_dim`` is set from the codec).
        description_dropout_prob, lyrics_dropout_prob, voice_dropout_prob, joint_dropout_prob (`float`):
            training-time condition dropout, as in SongGen.  Guidance subtracts the fully-null
            condition, so ``joint_dropout_prob`` (all conditions at once, default 0.1) is what makes
            guidance work.
        mask_schedule (`str`, defaults to ``"cosine"``): gamma(r), the fraction of tokens masked at
            ratio r, for training masks (the sampler's schedule is the scheduler's).
        nll_beta (`float`, defaults to 0): the loss's beta-NLL exponent in [0, 1]: each masked frame's
            NLL is weighted by its predicted variance to this power (no gradient through the weight),
            so frames missing only fine residuals stop dominating the gradient.  0 is the paper's
            plain NLL; see :func:`~.mixture.mixture_nll_sum`.
    """

    model_type = "songgen_resgen"
    sub_configs_defaults = conditioning_sub_configs(ResGenDecoderConfig)

    joint_dropout_prob: float = 0.1
    mask_schedule: str = "cosine"
    nll_beta: float = 0.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.decoder.latent_dim = int(self.audio_encoder.codebook_dim)
        if self.mask_schedule not in MASK_SCHEDULES:
            raise ValueError(f"Unknown mask_schedule {self.mask_schedule!r}; choose one of {sorted(MASK_SCHEDULES)}.")
        check_nll_beta(self.nll_beta)

    @property
    def max_frames(self) -> int:
        """The positional limit: the longest song in codec frames."""
        return int(self.decoder.max_position_embeddings)


__all__ = ["ResGenConfig", "ResGenDecoderConfig", "check_nll_beta"]
