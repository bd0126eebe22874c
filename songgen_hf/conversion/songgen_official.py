"""Convert the released SongGen checkpoints (``LiuZH-19/SongGen_*``) into ``SongGenForConditionalGeneration``.

The official folders hold a Parler-TTS-style ``config.json`` (``model_type: "songgen"``, a T5
``text_encoder`` dict, a ``songgen_decoder`` dict) and safetensors whose names follow the
reference's module tree.  Routing of the official names:

* ``text_encoder.shared.weight`` (or ``.encoder.embed_tokens.weight``) -> both tied T5 names;
  ``text_encoder.encoder.*`` unchanged; ``text_encoder.decoder.*`` / ``.lm_head.*`` dropped
* ``enc_to_dec_proj.*``, ``lyrics_to_dec_proj.*``, ``decoder.lm_heads.*`` -> unchanged
* ``embed_prompts.weight``, ``lyrics_encoder.*`` -> ``lyrics_encoder.*`` (the lyrics converter)
* ``mert_layer_agg.*``, ``audio_mert_to_dec_proj.*``, ``mert_model.*`` -> ``voice_encoder.*`` (the voice converter)
* ``audio_encoder.model.*`` (X-Codec SoundStream) -> ``audio_encoder.*`` (the X-Codec converter), or
  dropped when a separately converted codec is supplied
* ``decoder.model.decoder.embed_positions.weights`` -> dropped (sinusoids, recomputed for any length)
* ``decoder.model.decoder.*`` -> ``decoder.model.*`` (Parler's triple nesting)
* ``decoder.vocal_lm_heads.*`` -> unchanged for mixed pro, dropped otherwise

Everything is checked against a weightless (meta-device) model before any weights are loaded.
The sizes of the official ``config.json`` are inferred from the reference code (spec
§9, unverified against the Hub files), hence the loud errors on anything unexpected.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import AutoConfig
from transformers.activations import ACT2FN
from transformers.initialization import no_init_weights

from ..modeling import XCodecConfig, XCodecModel
from ..modeling.songgen import SongGenConfig, SongGenDecoderConfig, SongGenForConditionalGeneration
from ..modeling.songgen.configuration_lyrics_encoder import SongGenLyricsEncoderConfig
from ..modeling.songgen.configuration_voice_encoder import SongGenVoiceEncoderConfig, mert_v1_330m_config
from ..modeling.songgen.lyrics_encoder import convert_official_lyrics_encoder_state_dict
from ..modeling.songgen.voice_encoder import (
    OFFICIAL_PREFIX_MAP,
    convert_mert_state_dict,
    convert_official_voice_state_dict,
)
from .xcodec_original import convert_original_xcodec_state_dict, load_original_xcodec

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
# The reference's hard-coded lyrics Conformer (6 blocks, 1024 wide, 16 heads, FFN 4096).
_RELEASED_LYRICS_ENCODER = dict(hidden_size=1024, num_hidden_layers=6, num_attention_heads=16, intermediate_size=4096)
_T5_TOKENIZER_FILES = (
    "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"
)
_SONGGEN_HF_CONFIG_KEYS = ("lyrics_encoder", "voice_encoder", "use_voice_encoder", "project_description_at_inference")
_SONGGEN_HF_KEY_PREFIXES = ("decoder.model.layers.", "decoder.model.embed_tokens.", "lyrics_encoder.embed_tokens.",
                            "lyrics_encoder.layers.", "voice_encoder.")
_DAC_CODEC_PREFIXES = ("audio_encoder.model.quantizer.quantizers.", "audio_encoder.model.decoder.model.")
_PARLER_HINT = ("This looks like a Parler-TTS checkpoint (prompt embedding and DAC codec, no lyrics encoder); "
                "only SongGen checkpoints can be converted here.")
_ALREADY_CONVERTED_HINT = ("This checkpoint is already in songgen-hf layout: load it with "
                           "SongGenForConditionalGeneration.from_pretrained(folder) instead of converting it.")
_CODEC_HINT = ("The checkpoint holds no X-Codec weights (audio_encoder.*). Convert the original codec first, e.g. "
               "`songgen convert xcodec xcodec_hubert_general_audio_v2.pth XCODEC_DIR`, and pass codec=XCODEC_DIR "
               "(or an XCodecModel).")
_MERT_HINT = ("The checkpoint holds no MERT weights (mert_model.*). Pass mert_folder= a local copy of "
              "m-a-p/MERT-v1-330M, or voice=False to build the model without reference-voice conditioning.")


# ------------------------------------------------------------------------------ config
def _unknown_keys(config_dict: Mapping, allowed: frozenset) -> list[str]:
    return sorted(k for k in config_dict if k not in allowed and k not in _GENERIC_CONFIG_KEYS)


def _official_track_pattern(decoder: Mapping) -> str:
    pattern = decoder.get("track_pattern")
    if pattern is None:
        raise ValueError("The official decoder config has no `track_pattern`; SongGen checkpoints always record it "
                         "(mixed_pro or interleaving_A_V). " + _PARLER_HINT)
    vocal_loss = bool(decoder.get("add_vocal_loss", False))
    if pattern in ("mixed", "mixed_pro"):
        # The auxiliary vocal heads exist exactly when the vocal loss was on; our pattern names encode that.
        resolved = "mixed_pro" if vocal_loss else "mixed"
        if resolved != pattern:
            logger.warning("Official track_pattern %r with add_vocal_loss=%s is converted as %r.",
                           pattern, vocal_loss, resolved)
        return resolved
    if vocal_loss:
        logger.warning("add_vocal_loss=True is ignored for the dual-track pattern %r (no vocal heads).", pattern)
    return pattern


def _decoder_config(decoder: Mapping, codebook_size: int) -> SongGenDecoderConfig:
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
        logger.info("cross_attention_implementation_strategy=%r only picks an attention kernel; ignored.",
                    decoder["cross_attention_implementation_strategy"])
    fields = {name: decoder[name] for name in _DECODER_FIELDS if name in decoder}
    # Parler's LayerNorms use torch's default eps (1e-5), which is ours; it is not serialised.
    return SongGenDecoderConfig(**fields, codebook_size=codebook_size, track_pattern=_official_track_pattern(decoder))


def config_from_official(
    config_dict: Mapping[str, Any],
    codec_config: XCodecConfig | None = None,
    voice: bool | SongGenVoiceEncoderConfig = True,
    *,
    lyrics_encoder_config: SongGenLyricsEncoderConfig | None = None,
    allow_unknown_keys: bool = False,
) -> SongGenConfig:
    """Map an official SongGen ``config.json`` (as a dict) to a [`SongGenConfig`].

    Args:
        config_dict: the parsed official ``config.json``.
        codec_config: the X-Codec to attach (default ``XCodecConfig()``, the hubert-general layout).
        voice: ``True`` for the MERT-v1-330M voice encoder, ``False`` for none, or a ready
            [`SongGenVoiceEncoderConfig`] (tests use a tiny one).
        lyrics_encoder_config: overrides the released lyrics-encoder sizes (6 x 1024, 16 heads,
            FFN 4096; the reference hard-codes them, so ``config.json`` does not record them).
            ``vocab_size`` and ``use_encoder`` always come from the official config.
        allow_unknown_keys: ignore (with a warning) keys this converter does not know instead of failing.

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
        raise ValueError(f"Unknown official config options: {', '.join(unknown)}. If they do not change the "
                         "architecture, pass allow_unknown_keys=True.")
    if unknown:
        logger.warning("Ignoring unknown official config options: %s", ", ".join(unknown))
    # A missing key means the official class default: prompt_cross_attention=False, add_prenet=False, vocab 1024.
    if not config_dict.get("prompt_cross_attention", False):
        raise ValueError("Unsupported official option prompt_cross_attention: false (lyrics prepended to the decoder "
                         "input); songgen-hf implements the released cross-attention conditioning only.")

    codec_config = copy.deepcopy(codec_config) if codec_config is not None else XCodecConfig()
    decoder_config = _decoder_config(decoder, codec_config.codebook_size)
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
    text_config = AutoConfig.for_model(text_type, **text_dict)

    lyrics_fields = dict(_RELEASED_LYRICS_ENCODER)
    if lyrics_encoder_config is not None:
        lyrics_fields = lyrics_encoder_config.to_dict()
        for key in ("model_type", "transformers_version", "architectures"):
            lyrics_fields.pop(key, None)
    lyrics_fields.update(
        vocab_size=config_dict.get("vocab_size", 1024), use_encoder=bool(config_dict.get("add_prenet", False))
    )
    lyrics_config = SongGenLyricsEncoderConfig(**lyrics_fields)

    if voice is True:
        voice_config = SongGenVoiceEncoderConfig(audio_encoder_config=mert_v1_330m_config(), use_attention_mask=False)
    elif voice is False or voice is None:
        voice_config = None
    elif isinstance(voice, SongGenVoiceEncoderConfig):
        voice_config = copy.deepcopy(voice)
    else:
        raise ValueError(f"voice must be True, False or a SongGenVoiceEncoderConfig, got {type(voice).__name__}.")

    return SongGenConfig(
        text_encoder=text_config,
        lyrics_encoder=lyrics_config,
        voice_encoder=voice_config,
        use_voice_encoder=voice_config is not None,
        decoder=decoder_config,
        audio_encoder=codec_config,
        project_description_at_inference=text_config.d_model != decoder_config.hidden_size,
    )


# ------------------------------------------------------------------------------ state dict
def expected_state_dict_shapes(config: SongGenConfig) -> dict[str, torch.Size]:
    """Every key and shape of the model ``config`` builds, from a weightless meta-device instance."""
    with torch.device("meta"):
        model = SongGenForConditionalGeneration(config)
    return {key: value.shape for key, value in model.state_dict().items()}


def count_parameters(config: SongGenConfig) -> dict[str, int]:
    """Parameter counts per component (meta device, no memory): decoder, lyrics path, ..., total, trainable.

    "trainable" excludes what SongGen always freezes: the T5 description encoder, MERT and the codec.
    """
    with torch.device("meta"):
        model = SongGenForConditionalGeneration(config)
    parts = {
        "decoder": model.decoder,
        "text_encoder": model.text_encoder,
        "description_projection": model.enc_to_dec_proj,
        "lyrics_encoder": model.lyrics_encoder,
        "lyrics_projection": model.lyrics_to_dec_proj,
        "voice_encoder_mert": model.voice_encoder.audio_encoder if model.voice_encoder is not None else None,
        "audio_encoder": model.audio_encoder,
    }
    counts = {name: sum(p.numel() for p in module.parameters()) if module is not None else 0
              for name, module in parts.items()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["voice_head"] = counts["total"] - sum(counts[name] for name in parts)  # layer mix + projection
    frozen = counts["text_encoder"] + counts["voice_encoder_mert"] + counts["audio_encoder"]
    counts["trainable"] = counts["total"] - frozen
    return counts


def _first(keys: Iterable[str], limit: int = 10) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _hints(state_dict: Mapping, converted: Mapping, missing: list[str], config: SongGenConfig) -> list[str]:
    """Plain-language guesses at what went wrong, from the shape of the mismatch."""
    if any(key.startswith(_SONGGEN_HF_KEY_PREFIXES) for key in state_dict):
        return [_ALREADY_CONVERTED_HINT]
    hints = []
    no_lyrics = not any(key.startswith("lyrics_encoder.") for key in state_dict)
    if any(key.startswith(_DAC_CODEC_PREFIXES) for key in state_dict) or (
        no_lyrics and config.lyrics_encoder.use_encoder and "embed_prompts.weight" in state_dict
    ):
        hints.append(_PARLER_HINT)
    layers = sorted({int(m.group(1)) for key in converted if (m := re.match(r"decoder\.model\.layers\.(\d+)\.", key))})
    if layers and len(layers) != config.decoder.num_hidden_layers:
        hints.append(f"The checkpoint has {len(layers)} decoder layer(s) ({', '.join(map(str, layers))}) but the "
                     f"config says num_hidden_layers={config.decoder.num_hidden_layers}.")

    def wholly_missing(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in missing) and not any(k.startswith(prefix) for k in converted)

    for prefix, hint in (("audio_encoder.", _CODEC_HINT), ("voice_encoder.audio_encoder.", _MERT_HINT),
                         ("text_encoder.", "The checkpoint holds no text_encoder.* (FLAN-T5 encoder) weights.")):
        if wholly_missing(prefix):
            hints.append(hint)
    return hints


def _check_against_model(state_dict: Mapping, converted: dict, unrouted: list[str], config: SongGenConfig) -> None:
    expected = expected_state_dict_shapes(config)
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted((set(converted) - set(expected)) | set(unrouted))
    mismatched = sorted(
        f"{key}: checkpoint {tuple(converted[key].shape)} vs model {tuple(expected[key])}"
        for key in set(converted) & set(expected)
        if converted[key].shape != expected[key]
    )
    if not (missing or unexpected or mismatched):
        return
    lines = [
        f"The checkpoint does not match the SongGen model its config describes ({len(missing)} missing, "
        f"{len(unexpected)} unexpected, {len(mismatched)} shape-mismatched keys; names after conversion, "
        "unrouted keys under their official names)."
    ]
    lines.extend(_hints(state_dict, converted, missing, config))  # the likely cause first, then the evidence
    if missing:
        lines.append(f"Missing: {_first(missing)}")
    if unexpected:
        lines.append(f"Unexpected: {_first(unexpected)}")
    if mismatched:
        lines.append(f"Shape mismatches: {_first(mismatched, 5)}")
    raise ValueError("\n".join(lines))


def convert_official_songgen_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    config: SongGenConfig,
    *,
    codec_state_dict: Mapping[str, torch.Tensor] | None = None,
    mert_state_dict: Mapping[str, torch.Tensor] | None = None,
    return_notes: bool = False,
):
    """Rename an official SongGen state dict for ``SongGenForConditionalGeneration(config)``.

    Args:
        state_dict: the official tensors (all shards merged).
        config: the target config (usually from [`config_from_official`]).
        codec_state_dict: an ``XCodecModel`` state dict to use instead of any embedded
            ``audio_encoder.model.*`` (which is then dropped).
        mert_state_dict: a stand-alone MERT-v1-330M (``MERTModel``) state dict to use instead of
            embedded ``mert_model.*``.
        return_notes: also return the list of deliberate drops (they are logged either way).

    Returns:
        The converted dict (``(dict, notes)`` with ``return_notes``).  Tied tensors appear under
        both names, so ``load_state_dict(..., strict=True)`` succeeds.

    Raises:
        ValueError: any missing, unexpected or mis-shaped key, with up to ten names of each
            and hints (Parler-TTS checkpoint, already converted, codec or MERT not supplied).
    """
    converted: dict[str, torch.Tensor] = {}
    unrouted: list[str] = []
    notes: list[str] = []
    voice_keys, codec_keys = {}, {}

    def note(message: str) -> None:
        notes.append(message)
        logger.warning(message)

    dropped_text_keys, dropped_vocal_heads = [], []
    for key, tensor in state_dict.items():
        if key.startswith(tuple(OFFICIAL_PREFIX_MAP)):
            voice_keys[key] = tensor
        elif key.startswith("audio_encoder."):
            codec_keys[key] = tensor
        elif key == "embed_prompts.weight" or key.startswith("lyrics_encoder."):
            try:
                converted.update(convert_official_lyrics_encoder_state_dict({key: tensor}, prefix="lyrics_encoder."))
            except KeyError:
                unrouted.append(key)
        elif key in ("text_encoder.shared.weight", "text_encoder.encoder.embed_tokens.weight"):
            # T5's input embedding is one tensor under two names; checkpoints keep either or both.
            other = converted.get("text_encoder.shared.weight")
            if other is not None and not torch.equal(other, tensor):
                raise ValueError("text_encoder.shared.weight and text_encoder.encoder.embed_tokens.weight differ; "
                                 "T5 ties them, so the checkpoint is inconsistent.")
            converted["text_encoder.shared.weight"] = tensor
            converted["text_encoder.encoder.embed_tokens.weight"] = tensor
        elif key.startswith("text_encoder.encoder."):
            converted[key] = tensor
        elif key.startswith(("text_encoder.decoder.", "text_encoder.lm_head.")):
            dropped_text_keys.append(key)
        elif key.startswith(("enc_to_dec_proj.", "lyrics_to_dec_proj.", "decoder.lm_heads.")):
            converted[key] = tensor
        elif key.startswith("decoder.vocal_lm_heads."):
            if config.decoder.has_vocal_heads:
                converted[key] = tensor
            else:
                dropped_vocal_heads.append(key)
        elif key == "decoder.model.decoder.embed_positions.weights":
            continue  # sinusoids, recomputed by the model for any length
        elif key.startswith("decoder.model.decoder."):
            converted["decoder.model." + key[len("decoder.model.decoder."):]] = tensor
        else:
            unrouted.append(key)
    if dropped_text_keys:
        note(f"Dropped {len(dropped_text_keys)} T5 decoder tensors (only the T5 encoder is used).")
    if dropped_vocal_heads:
        note(f"Dropped {len(dropped_vocal_heads)} decoder.vocal_lm_heads.* tensors: {config.decoder.track_pattern!r} "
             "has no vocal heads (as when the reference starts a dual-track model from mixed pro).")

    # voice path
    if config.voice_encoder is None:
        if voice_keys:
            note(f"Dropped {len(voice_keys)} voice-path tensors (mert_*, audio_mert_to_dec_proj): "
                 "no voice encoder configured.")
    else:
        if mert_state_dict is not None:
            embedded = [key for key in voice_keys if key.startswith("mert_model.")]
            if embedded:
                note(f"Replaced {len(embedded)} embedded mert_model.* tensors by the supplied MERT weights.")
            voice_keys = {key: value for key, value in voice_keys.items() if not key.startswith("mert_model.")}
            converted.update(convert_mert_state_dict(mert_state_dict, target_prefix="voice_encoder."))
        converted.update(convert_official_voice_state_dict(voice_keys, target_prefix="voice_encoder."))

    # codec
    if codec_state_dict is not None:
        if codec_keys:
            note(f"Dropped {len(codec_keys)} embedded audio_encoder.* tensors in favour of the supplied codec.")
        converted.update({"audio_encoder." + key: value for key, value in codec_state_dict.items()})
    elif any(key.startswith(_DAC_CODEC_PREFIXES) for key in codec_keys):
        unrouted.extend(codec_keys)  # a DAC (Parler-TTS) codec: report it, do not try to convert it
    elif codec_keys:
        prefix = "audio_encoder.model."
        soundstream = {key[len(prefix):]: value for key, value in codec_keys.items() if key.startswith(prefix)}
        unrouted.extend(key for key in codec_keys if not key.startswith(prefix))
        if soundstream:
            try:
                codec = convert_original_xcodec_state_dict(soundstream, config.audio_encoder)
            except ValueError as error:
                raise ValueError(f"The embedded X-Codec (audio_encoder.model.*) does not convert:\n{error}") from error
            converted.update({"audio_encoder." + key: value for key, value in codec.items()})

    _check_against_model(state_dict, converted, unrouted, config)
    return (converted, notes) if return_notes else converted


# ------------------------------------------------------------------------------ files
def _read_weights(files: list[Path]) -> dict[str, torch.Tensor]:
    state_dict: dict[str, torch.Tensor] = {}
    for path in files:
        if path.suffix == ".safetensors":
            part = load_file(str(path))
        else:
            part = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(part, Mapping) and isinstance(part.get("state_dict"), Mapping):
                part = part["state_dict"]
            if not isinstance(part, Mapping):
                raise ValueError(f"{path} does not hold a state dict.")
        overlap = set(part) & set(state_dict)
        if overlap:
            raise ValueError(f"Tensors appear in more than one weight file: {_first(overlap)}")
        state_dict.update(part)
    return state_dict


def _weight_files(folder: Path) -> list[Path]:
    """The weight files of a transformers-style folder (single file or sharded with an index)."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            missing = [name for name in shards if not (folder / name).is_file()]
            if missing:
                raise FileNotFoundError(f"{index} lists shards that are not in the folder: {', '.join(missing)}")
            return [folder / name for name in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    raise FileNotFoundError(
        f"No model.safetensors, pytorch_model.bin or shard index in {folder} (found: {', '.join(found) or 'nothing'})."
    )


def _resolve_inputs(folder_or_files) -> tuple[dict, list[Path]]:
    """(config dict, weight files) of an official folder or of an explicit list of its files."""
    if isinstance(folder_or_files, (str, os.PathLike)) and Path(folder_or_files).is_dir():
        folder = Path(folder_or_files)
        config_path, weights = folder / "config.json", _weight_files(folder)
    else:
        single = isinstance(folder_or_files, (str, os.PathLike))
        paths = [Path(folder_or_files)] if single else [Path(p) for p in folder_or_files]
        configs = [p for p in paths if p.name == "config.json"]
        if len(configs) != 1:
            raise ValueError("Pass the official folder, or a list of files with one config.json and the weights.")
        config_path = configs[0]
        weights = []
        for path in paths:
            if path.name.endswith(".index.json"):
                weights.extend(_weight_files(path.parent))
            elif path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
                weights.append(path)
        if not weights:
            raise ValueError("No weight files (.safetensors / .bin) among the given files.")
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} does not exist; the official folder must hold its config.json.")
    return json.loads(config_path.read_text()), list(dict.fromkeys(weights))


def _load_codec(codec) -> XCodecModel:
    if isinstance(codec, XCodecModel):
        return codec
    path = Path(codec)
    if path.is_dir():
        return XCodecModel.from_pretrained(path)
    if path.is_file():
        return load_original_xcodec(path)  # an original X-Codec .pth
    raise FileNotFoundError(f"codec={codec!r} is neither an XCodecModel, a converted codec folder nor an X-Codec .pth.")


def load_official_songgen(
    folder_or_files,
    codec: XCodecModel | str | os.PathLike | None = None,
    voice: bool | SongGenVoiceEncoderConfig = True,
    *,
    mert_folder: str | os.PathLike | None = None,
    lyrics_encoder_config: SongGenLyricsEncoderConfig | None = None,
    allow_unknown_keys: bool = False,
) -> SongGenForConditionalGeneration:
    """Build a ``SongGenForConditionalGeneration`` from an official SongGen folder (eval mode).

    ``folder_or_files`` is the downloaded ``LiuZH-19/SongGen_*`` folder or a list of its files
    (``config.json`` + ``model.safetensors`` / shards and index / ``pytorch_model.bin``).
    ``codec`` (an ``XCodecModel``, a ``songgen convert xcodec`` folder or the original ``.pth``)
    is required when the folder embeds no codec and replaces an embedded one; ``mert_folder`` (a
    local ``m-a-p/MERT-v1-330M``) likewise for MERT.  ``voice``, ``lyrics_encoder_config`` and
    ``allow_unknown_keys``: see [`config_from_official`].
    """
    config_dict, weight_files = _resolve_inputs(folder_or_files)
    state_dict = _read_weights(weight_files)
    has_codec = any(key.startswith("audio_encoder.") for key in state_dict)
    if codec is None and not has_codec:
        raise ValueError(_CODEC_HINT)
    codec_model = _load_codec(codec) if codec is not None else None
    mert_state_dict = None
    if mert_folder is not None:
        mert_state_dict = _read_weights(_weight_files(Path(mert_folder)))
    elif voice is not False and voice is not None and not any(key.startswith("mert_model.") for key in state_dict):
        raise ValueError(_MERT_HINT)

    config = config_from_official(
        config_dict,
        codec_config=codec_model.config if codec_model is not None else None,
        voice=voice,
        lyrics_encoder_config=lyrics_encoder_config,
        allow_unknown_keys=allow_unknown_keys,
    )
    converted = convert_official_songgen_state_dict(
        state_dict,
        config,
        codec_state_dict=codec_model.state_dict() if codec_model is not None else None,
        mert_state_dict=mert_state_dict,
    )
    del state_dict
    # Every parameter is overwritten by the strict load below, so random initialisation
    # (minutes for 1.2 B parameters) is skipped; fixed buffers are still built by the constructors.
    with no_init_weights():
        model = SongGenForConditionalGeneration(config)
    model.tie_weights()  # skipped with the initialisation; T5 shares its input embedding
    model.load_state_dict(converted, strict=True)
    return model.eval()


def save_converted_songgen(
    model: SongGenForConditionalGeneration,
    output_dir: str | os.PathLike,
    source_folder: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """``save_pretrained`` into ``output_dir`` atomically, with the tokenizers of ``source_folder``.

    From the official folder, the VoiceBPE lyrics vocabulary (``vocab.json``, loaded and saved
    through ``VoiceBpeTokenizer`` so a foreign ``vocab.json`` is caught) and the FLAN-T5
    tokenizer files are copied when present.  Nothing is written to ``output_dir`` unless
    everything succeeds.
    """
    from ..atomic import atomic_directory

    target = Path(output_dir)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    with atomic_directory(target) as staging:
        model.save_pretrained(staging)
        if source_folder is not None:
            _copy_tokenizers(Path(source_folder), staging)
    return target


def _copy_tokenizers(source: Path, destination: Path) -> None:
    if (source / "vocab.json").is_file():
        from ..processing.lyrics_tokenizer import VoiceBpeTokenizer

        try:
            VoiceBpeTokenizer.from_pretrained(source).save_pretrained(destination)
        except ValueError as error:
            logger.warning("Not copying %s: it is not a VoiceBPE lyrics vocabulary (%s).", source / "vocab.json", error)
    for name in _T5_TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)


__all__ = [
    "config_from_official",
    "convert_official_songgen_state_dict",
    "count_parameters",
    "expected_state_dict_shapes",
    "load_official_songgen",
    "save_converted_songgen",
]
