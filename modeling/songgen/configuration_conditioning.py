"""The config fields every song model conditioned like SongGen shares, and their checks.

:class:`SongConditioningConfig` is the base of ``SongGenConfig`` (autoregressive) and
``ResGenConfig`` (masked parallel): the conditioning sub-configs (description T5, lyrics encoder,
optional voice encoder, X-Codec), the condition-dropout probabilities and the checks that tie
them to the token model in ``decoder``.  Subclasses add ``sub_configs_defaults`` with their own
decoder config; their ``__post_init__`` runs after these checks (``super().__post_init__`` first).

:class:`MusicalControlsConfig` is the base of both token models' configs: the tempo / key
control switches (:mod:`.musical_controls`) and the transformer-size checks they share.
"""

from __future__ import annotations

from transformers import PreTrainedConfig

from songgen_hf.modeling.songgen.musical_controls import KEY_CONTROL_FEATURES


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
        use_tempo_control / use_key_control (`bool`, defaults to False): add the requested tempo
            (a beat-phase "metronome" over ``tempo_control_periods`` beats) and key to the input
            at every frame (:mod:`.musical_controls`); off in the reference SongGen.
        use_arrangement_control (`bool`, defaults to False): add whether the song should have vocals
            and drums (with / without / not said, read from the description) the same way.
        key_control_features (`str`, defaults to "embedding"): how the key control reads a key: one
            learned vector per key ("embedding"), or a linear map of the key's scale pitch classes and
            tonic ("pitch_classes"), shared by every key (:func:`.musical_controls.key_pitch_class_features`).
    """

    hidden_size: int = 1024
    num_attention_heads: int = 16
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
        """The switches as ``songgen_hf.processing.musical_controls.musical_controls`` takes them."""
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
            if not 0.0 <= getattr(self, name) <= 1.0:
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


__all__ = ["CONDITION_DROPOUT_FIELDS", "MusicalControlsConfig", "SongConditioningConfig", "drop_unsupported_fields"]
