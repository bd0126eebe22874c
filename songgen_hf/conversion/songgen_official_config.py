"""The official SongGen ``config.json`` -> :class:`SongGenConfig` mapping (sizes, patterns, hints).

Split from :mod:`.songgen_official`, which converts the weights; see its docstring for the layout.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from transformers import AutoConfig
from transformers.activations import ACT2FN

from songgen_hf.conversion import official_sizes
from songgen_hf.modeling import XCodecConfig
from songgen_hf.modeling.songgen import SongGenConfig, SongGenDecoderConfig
from songgen_hf.modeling.songgen.configuration_songgen import (
    SongGenLyricsEncoderConfig,
    SongGenVoiceEncoderConfig,
    mert_v1_330m_config,
)

logger = logging.getLogger(__name__)

# Attributes every transformers-4.x PretrainedConfig serialises; they carry no architecture.
_GENERIC_CONFIG_KEYS = frozenset(
    "return_dict output_hidden_states output_attentions torchscript torch_dtype dtype use_bfloat16 tf_legacy_loss "
    "pruned_heads tie_word_embeddings chunk_size_feed_forward is_encoder_decoder is_decoder "
    "cross_attention_hidden_size add_cross_attention tie_encoder_decoder max_length min_length do_sample "
    "early_stopping num_beams num_beam_groups diversity_penalty temperature top_k top_p typical_p "
    "repetition_penalty length_penalty no_repeat_ngram_size encoder_no_repeat_ngram_size bad_words_ids "
    "num_return_sequences output_scores return_dict_in_generate forced_bos_token_id forced_eos_token_id "
    "remove_invalid_values exponential_decay_length_penalty suppress_tokens begin_suppress_tokens "
    "architectures finetuning_task id2label label2id tokenizer_class prefix bos_token_id pad_token_id "
    "eos_token_id sep_token_id decoder_start_token_id task_specific_params problem_type _name_or_path "
    "_commit_hash _attn_implementation_internal _attn_implementation_autoset transformers_version model_type "
    "use_cache".split()
)
_TOP_KEYS = frozenset({"vocab_size", "prompt_cross_attention", "add_prenet", "text_encoder", "decoder"})
# official decoder fields that SongGenDecoderConfig takes under the same name and meaning
_DECODER_FIELDS = (
    "vocab_size max_position_embeddings num_hidden_layers ffn_dim num_attention_heads layerdrop "
    "activation_function hidden_size dropout attention_dropout activation_dropout initializer_factor "
    "num_codebooks pad_token_id bos_token_id eos_token_id use_cache".split()
)
_DECODER_KEYS = frozenset(_DECODER_FIELDS) | frozenset(
    "num_key_value_heads num_cross_attention_key_value_heads scale_embedding rope_embeddings rope_theta "
    "cross_attention_implementation_strategy track_pattern add_vocal_loss".split()
)
# The released models make songs of at most 30 s (the reference README's limit and its training data filter,
# clips of at most 30 s), though their sinusoidal table holds 6547 positions (about 130 s): their window is
# 30 s at 50 frames a second, and a longer song is made window after window rather than in one pass that
# reaches positions they never learnt to continue.
OFFICIAL_WINDOW_FRAMES = 1500
# The reference's hard-coded lyrics Conformer (6 blocks, 1024 wide, 16 heads, FFN 4096); used only
# when no weights are at hand (config_from_official without weight_shapes).
RELEASED_LYRICS_ENCODER = dict(hidden_size=1024, num_hidden_layers=6, num_attention_heads=16, intermediate_size=4096)
_SONGGEN_HF_CONFIG_KEYS = ("lyrics_encoder", "voice_encoder", "use_voice_encoder", "project_description_at_inference")
_PARLER_HINT = (
    "This looks like a Parler-TTS checkpoint (prompt embedding and DAC codec, no lyrics encoder); "
    "only SongGen checkpoints can be converted here."
)
_ALREADY_CONVERTED_HINT = (
    "This checkpoint is already in songgen-hf layout: load it with "
    "SongGenForConditionalGeneration.from_pretrained(folder) instead of converting it."
)


# ------------------------------------------------------------------------------ config
def _unknown_keys(config_dict: Mapping, allowed: frozenset) -> list[str]:
    return sorted(k for k in config_dict if k not in allowed and k not in _GENERIC_CONFIG_KEYS)


def _official_track_pattern(decoder: Mapping) -> str:
    pattern = decoder.get("track_pattern")
    if pattern is None:
        raise ValueError(
            "The official decoder config has no `track_pattern`; SongGen checkpoints always record it "
            "(mixed_pro or interleaving_A_V). " + _PARLER_HINT
        )
    vocal_loss = bool(decoder.get("add_vocal_loss", False))
    if pattern in ("mixed", "mixed_pro"):
        # The auxiliary vocal heads exist exactly when the vocal loss was on; our pattern names encode that.
        resolved = "mixed_pro" if vocal_loss else "mixed"
        if resolved != pattern:
            logger.warning(
                "Official track_pattern %r with add_vocal_loss=%s is converted as %r.", pattern, vocal_loss, resolved
            )
        return resolved
    if vocal_loss:
        logger.warning("add_vocal_loss=True is ignored for the dual-track pattern %r (no vocal heads).", pattern)
    return pattern


def _decoder_config(decoder: Mapping, codebook_size: int, sizes: Mapping | None = None) -> SongGenDecoderConfig:
    unsupported = []
    if decoder.get("rope_embeddings"):
        unsupported.append("rope_embeddings: true (songgen-hf uses sinusoidal absolute positions)")
    heads = decoder.get("num_attention_heads", 16)
    for name in ("num_key_value_heads", "num_cross_attention_key_value_heads"):
        if decoder.get(name) not in (None, heads):
            unsupported.append(f"{name}: {decoder[name]} (only plain multi-head attention, {heads} heads)")
    if decoder.get("tie_word_embeddings"):
        unsupported.append("tie_word_embeddings: true")
    if decoder.get("scale_embedding"):
        unsupported.append("scale_embedding: true (not used by any released model; semantics unverified)")
    if decoder.get("activation_function", "gelu") not in ACT2FN:
        unsupported.append(f"activation_function: {decoder['activation_function']!r}")
    if unsupported:
        raise ValueError("Unsupported official decoder options: " + "; ".join(unsupported) + ".")
    if decoder.get("cross_attention_implementation_strategy") is not None:
        logger.info(
            "cross_attention_implementation_strategy=%r only picks an attention kernel; ignored.",
            decoder["cross_attention_implementation_strategy"],
        )
    fields = {name: decoder[name] for name in _DECODER_FIELDS if name in decoder}
    fields.update(sizes or {})  # read off the weights (and checked against config.json)
    # Parler's LayerNorms use torch's default eps (1e-5), which is ours; it is not serialised.
    return SongGenDecoderConfig(
        **fields,
        codebook_size=codebook_size,
        track_pattern=_official_track_pattern(decoder),
        window_frames=OFFICIAL_WINDOW_FRAMES,
    )


def _check_projection(shapes, name: str, hidden: int, width: int, states: str, encoder: str) -> None:
    """Refuse a checkpoint whose projection ``name`` into the ``hidden``-wide decoder reads ``states`` of
    another width than the encoder's ``width`` (``encoder`` says which encoder, for the message)."""
    if shapes is None:
        return
    read = official_sizes.projection_width(shapes, name, hidden, f"the decoder is {hidden} wide")
    if read is not None and read != width:
        raise ValueError(f"{name} reads {read}-wide {states} but {encoder}; the checkpoint is inconsistent.")


def config_from_official(
    config_dict: Mapping[str, Any],
    codec_config: XCodecConfig | None = None,
    voice: bool | SongGenVoiceEncoderConfig = True,
    *,
    lyrics_encoder_config: SongGenLyricsEncoderConfig | None = None,
    allow_unknown_keys: bool = False,
    weight_shapes: Mapping[str, Any] | None = None,
    mert_config: Mapping | Any | None = None,
) -> SongGenConfig:
    """Map an official SongGen ``config.json`` (as a dict) to a [`SongGenConfig`].

    Args:
        config_dict: the parsed official ``config.json``.
        codec_config: the X-Codec to attach (default ``XCodecConfig()``, the hubert-general layout).
        voice: ``True`` for the MERT-v1-330M voice encoder, ``False`` for none, or a ready
            [`SongGenVoiceEncoderConfig`] (tests use a tiny one).
        lyrics_encoder_config: overrides the lyrics-encoder sizes, which the reference hard-codes
            (6 x 1024, 16 heads, FFN 4096) so ``config.json`` does not record them.  Rarely
            needed: with ``weight_shapes`` they are read off the weights.  ``vocab_size`` and
            ``use_encoder`` always come from the official config.
        allow_unknown_keys: ignore (with a warning) keys this converter does not know instead of failing.
        weight_shapes: ``{official tensor name: shape}`` of the checkpoint (see
            :func:`official_sizes.tensor_shapes`).  Every size a shape determines -- decoder width,
            layers, FFN, vocabulary and codebook count; the lyrics encoder's vocabulary, width,
            blocks, heads and FFN; the T5 encoder's sizes; the voice path's MERT layer count and
            width -- is then taken from the weights, and a ``config.json`` value that disagrees is
            a ``ValueError`` naming both.  Without it, the released sizes are assumed.
        mert_config: the MERT ``config.json`` (dict or config) of a separately supplied MERT
            (``mert_folder``); it sets the voice encoder's network when ``voice`` is ``True``.

    ``project_description_at_inference`` is set as the reference generates: it skips
    ``enc_to_dec_proj`` when the T5 and decoder widths match (spec §8, defect 1).  The voice
    encoder ignores sample-level padding masks, like the reference's all-ones voice mask.
    """
    config_dict = dict(config_dict)
    model_type = config_dict.get("model_type")
    if model_type == "parler_tts" or (config_dict.get("decoder") or {}).get("model_type") == "parler_tts_decoder":
        raise ValueError(_PARLER_HINT)
    if any(key in config_dict for key in _SONGGEN_HF_CONFIG_KEYS):
        raise ValueError(_ALREADY_CONVERTED_HINT)
    if model_type not in (None, "songgen"):
        raise ValueError(f"config.json has model_type {model_type!r}; expected an official SongGen config ('songgen').")
    for name in ("text_encoder", "decoder"):
        if not isinstance(config_dict.get(name), Mapping):
            raise ValueError(f"The official config has no `{name}` dict; is this a SongGen config.json?")
    decoder = dict(config_dict["decoder"])
    unknown = [f"top-level {k}" for k in _unknown_keys(config_dict, _TOP_KEYS)]
    unknown += [f"decoder.{k}" for k in _unknown_keys(decoder, _DECODER_KEYS)]
    if unknown and not allow_unknown_keys:
        raise ValueError(
            f"Unknown official config options: {', '.join(unknown)}. If they do not change the "
            "architecture, pass allow_unknown_keys=True."
        )
    if unknown:
        logger.warning("Ignoring unknown official config options: %s", ", ".join(unknown))
    # A missing key means the official class default: prompt_cross_attention=False, add_prenet=False, vocab 1024.
    if not config_dict.get("prompt_cross_attention", False):
        raise ValueError(
            "Unsupported official option prompt_cross_attention: false (lyrics prepended to the decoder "
            "input); songgen-hf implements the released cross-attention conditioning only."
        )

    codec_config = copy.deepcopy(codec_config) if codec_config is not None else XCodecConfig()
    shapes = weight_shapes
    sizes = None
    if shapes is not None:
        sizes = official_sizes.decoder_sizes(decoder, shapes, _official_track_pattern(decoder))
    decoder_config = _decoder_config(decoder, codec_config.codebook_size, sizes)
    if codec_config.num_quantizers < decoder_config.num_codebooks:
        raise ValueError(
            f"The decoder predicts {decoder_config.num_codebooks} codebooks (decoder.num_codebooks / "
            f"{official_sizes.DECODER_PREFIX}embed_tokens.*) but the X-Codec has only "
            f"{codec_config.num_quantizers}; pass the codec the model was trained with."
        )
    special = (("pad_token_id", decoder_config.pad_token_id), ("decoder_start_token_id", decoder_config.bos_token_id))
    for name, ours in special:
        if config_dict.get(name) not in (None, ours):
            raise ValueError(f"Top-level {name}={config_dict[name]} disagrees with the decoder's {ours}.")

    text_dict = dict(config_dict["text_encoder"])
    text_type = text_dict.pop("model_type", None)
    if text_type is None:
        raise ValueError("The official text_encoder dict has no model_type (expected 't5').")
    for key in ("_name_or_path", "transformers_version", "architectures", "torch_dtype", "_commit_hash"):
        text_dict.pop(key, None)
    if shapes is not None:
        text_dict.update(official_sizes.text_encoder_sizes(text_dict, shapes))
    text_config = AutoConfig.for_model(text_type, **text_dict)
    hidden = decoder_config.hidden_size
    _check_projection(
        shapes,
        "enc_to_dec_proj.weight",
        hidden,
        text_config.d_model,
        "description states",
        f"the T5 encoder is {text_config.d_model} wide (config.json text_encoder.d_model)",
    )

    lyrics_fields = dict(RELEASED_LYRICS_ENCODER)
    if lyrics_encoder_config is not None:
        lyrics_fields = lyrics_encoder_config.to_dict()
        for key in ("model_type", "transformers_version", "architectures"):
            lyrics_fields.pop(key, None)
    use_encoder = bool(config_dict.get("add_prenet", False))
    lyrics_fields.update(vocab_size=config_dict.get("vocab_size", 1024), use_encoder=use_encoder)
    if shapes is not None and lyrics_encoder_config is None:
        lyrics_fields.update(official_sizes.lyrics_sizes(config_dict, shapes, use_encoder) or {})
    lyrics_config = SongGenLyricsEncoderConfig(**lyrics_fields)
    _check_projection(
        shapes,
        "lyrics_to_dec_proj.weight",
        hidden,
        lyrics_config.hidden_size,
        "lyrics states",
        f"the lyrics encoder is {lyrics_config.hidden_size} wide",
    )

    if voice is True:
        if shapes is not None:
            encoder = official_sizes.mert_encoder_config(shapes, mert_config)
        elif mert_config is not None:
            encoder = official_sizes.hubert_config_from_mert(mert_config)
        else:
            encoder = mert_v1_330m_config()
        voice_config = SongGenVoiceEncoderConfig(audio_encoder_config=encoder, use_attention_mask=False)
    elif voice is False or voice is None:
        voice_config = None
    elif isinstance(voice, SongGenVoiceEncoderConfig):
        voice_config = copy.deepcopy(voice)
    else:
        raise ValueError(f"voice must be True, False or a SongGenVoiceEncoderConfig, got {type(voice).__name__}.")
    if voice_config is not None and shapes is not None:
        official_sizes.check_voice_path(shapes, voice_config.audio_encoder_config)
        official_sizes.projection_width(
            shapes, "audio_mert_to_dec_proj.weight", hidden, f"the decoder is {hidden} wide"
        )

    return SongGenConfig(
        text_encoder=text_config,
        lyrics_encoder=lyrics_config,
        voice_encoder=voice_config,
        use_voice_encoder=voice_config is not None,
        decoder=decoder_config,
        audio_encoder=codec_config,
        project_description_at_inference=text_config.d_model != decoder_config.hidden_size,
    )
