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

from transformers import AutoConfig
from transformers.configuration_utils import SubConfigSpec

from songgen_hf.modeling.patterns import available_token_patterns, get_token_pattern
from songgen_hf.modeling.songgen.configuration_conditioning import (
    MusicalControlsConfig,
    SongConditioningConfig,
    drop_unsupported_fields,
)
from songgen_hf.modeling.songgen.configuration_lyrics_encoder import SongGenLyricsEncoderConfig
from songgen_hf.modeling.songgen.configuration_voice_encoder import SongGenVoiceEncoderConfig
from songgen_hf.modeling.xcodec.configuration_xcodec import XCodecConfig

# The curriculum's starting point (SongGen): coarse codebooks first, fine ones later.
DEFAULT_INITIAL_CODEBOOK_WEIGHTS = (0.25, 0.25, 0.25, 0.05, 0.05, 0.05, 0.05, 0.05)


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
# neutral value loads as before (the key is dropped); one that switches it on is refused, since loading it
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
        pad_token_id / eos_token_id (1024), bos_token_id (1025): special ids (PAD = EOS).
        initializer_factor (`float`, defaults to 0.02): std of the normal init.
        use_tempo_control / use_key_control (`bool`, defaults to False): add the requested tempo
            (a beat-phase "metronome" over ``tempo_control_periods`` beats) and key to the input
            at every step (:mod:`.musical_controls`); off in the reference SongGen.
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
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    ffn_dim: int = 4096
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    layerdrop: float = 0.0
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 6547
    initializer_factor: float = 0.02
    scale_embedding: bool = False
    use_cache: bool = True
    pad_token_id: int | None = 1024
    bos_token_id: int | None = 1025
    eos_token_id: int | None = 1024
    tie_word_embeddings: bool = False
    is_decoder: bool = True
    add_cross_attention: bool = True
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
    sub_configs_defaults = {
        "text_encoder": SubConfigSpec(config_class=AutoConfig, model_type="t5"),
        "lyrics_encoder": SongGenLyricsEncoderConfig,
        "voice_encoder": SongGenVoiceEncoderConfig,
        "decoder": SongGenDecoderConfig,
        "audio_encoder": XCodecConfig,
    }

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


__all__ = [
    "SongGenConfig",
    "SongGenDecoderConfig",
    "DEFAULT_INITIAL_CODEBOOK_WEIGHTS",
    "check_input_token_noise_prob",
    "check_stem_gains_db",
]
