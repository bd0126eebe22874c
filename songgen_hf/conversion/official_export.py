"""Write a ``SongGenForConditionalGeneration`` in the official SongGen layout (the converter's inverse).

The folder is what ``LiuZH-19/SongGen_*`` holds and what the reference code
(``SongGenMixedForConditionalGeneration`` / ``SongGenDualTrackForConditionalGeneration``
``.from_pretrained``) and vllm-omni's SongGen stage (which calls that same ``from_pretrained``)
load:

* ``config.json``: ``model_type: "songgen"``, the class in ``architectures``, the lyrics
  vocabulary and flags at the top, a T5 ``text_encoder`` dict and a ``songgen_decoder`` dict with
  ``track_pattern`` / ``add_vocal_loss``.  No ``sampling_rate`` key: the reference config defines
  it as a read-only property (16000), so writing it would break its ``from_pretrained``.
* ``model.safetensors``: tensor names from the converter's own key table
  (:mod:`.official_keys`, read backwards), the decoder's sinusoid table
  (``decoder.model.decoder.embed_positions.weights``, which the reference saves), T5's tied
  embedding once as ``text_encoder.shared.weight``, MERT under ``mert_model.*`` with legacy
  weight-norm names, and -- unless ``embed_codec=False`` -- the X-Codec under
  ``audio_encoder.model.*`` in the original ``SoundStream`` names.  The reference re-initialises
  its codec's linear layers while building the model, so only the embedded copy restores them.
* ``generation_config.json``, the FLAN-T5-style description tokenizer and the VoiceBPE
  ``vocab.json`` (the reference reads the description tokenizer from the folder; its lyrics
  tokenizer is built into its package).
* ``xcodec/xcodec_hubert_general_audio_v2.pth`` and ``xcodec/config_hubert_general.yaml``: the
  codec as the reference's ``XCodecModel`` opens it, to be placed in
  ``songgen/xcodec_wrapper/xcodec_infer/ckpts/general_more/`` of a reference checkout.

Sizes the reference hard-codes (lyrics Conformer 6 x 1024 / 16 heads / FFN 4096, a 25-layer
1024-wide MERT mix) are not checked against: a model of another size is written all the same
(songgen-hf converts it back, reading sizes off the weights) and the notes say the reference
code cannot build it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from songgen_hf.conversion.official_keys import package_to_official_key
from songgen_hf.conversion.songgen_official import POSITIONS_KEY
from songgen_hf.conversion.songgen_official_config import RELEASED_LYRICS_ENCODER
from songgen_hf.conversion.xcodec_export import original_xcodec_state_dict, original_xcodec_yaml
from songgen_hf.modeling.songgen import SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.modeling_songgen import sinusoidal_table

logger = logging.getLogger(__name__)

ARCHITECTURES = {"dual": "SongGenDualTrackForConditionalGeneration", "mixed": "SongGenMixedForConditionalGeneration"}
XCODEC_SUBFOLDER = "xcodec"
XCODEC_CHECKPOINT = "xcodec_hubert_general_audio_v2.pth"
XCODEC_YAML = "config_hubert_general.yaml"
_T5_TIED = "text_encoder.encoder.embed_tokens.weight"
# T5 fields the official text_encoder dict carries (the rest of T5Config.to_dict() is generic).
_T5_FIELDS = (
    "vocab_size d_model d_kv d_ff num_layers num_decoder_layers num_heads relative_attention_num_buckets "
    "relative_attention_max_distance dropout_rate layer_norm_epsilon initializer_factor feed_forward_proj "
    "dense_act_fn is_gated_act is_encoder_decoder use_cache pad_token_id eos_token_id "
    "decoder_start_token_id tie_word_embeddings"
).split()
# flan-t5's own flags, as the reference's config.json carries them; songgen-hf's T5 config is encoder-only (no
# cache, tied input embedding), which the reference's T5ForConditionalGeneration must not be told.
_T5_REFERENCE_FLAGS = {"is_encoder_decoder": True, "use_cache": True, "tie_word_embeddings": False}


def official_config_dict(config: SongGenConfig, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The official ``config.json`` of a model with ``config`` (inverse of ``config_from_official``)."""
    decoder = config.decoder
    pattern = decoder.track_pattern
    heads = decoder.num_attention_heads
    decoder_dict = {
        "model_type": "songgen_decoder",
        "vocab_size": decoder.vocab_size,
        "max_position_embeddings": decoder.max_position_embeddings,
        "num_hidden_layers": decoder.num_hidden_layers,
        "ffn_dim": decoder.ffn_dim,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "num_cross_attention_key_value_heads": heads,
        "layerdrop": decoder.layerdrop,
        "use_cache": True,
        "activation_function": decoder.activation_function,
        "hidden_size": decoder.hidden_size,
        "dropout": decoder.dropout,
        "attention_dropout": decoder.attention_dropout,
        "activation_dropout": decoder.activation_dropout,
        "initializer_factor": decoder.initializer_factor,
        "scale_embedding": False,
        "num_codebooks": decoder.num_codebooks,
        "pad_token_id": decoder.pad_token_id,
        "bos_token_id": decoder.bos_token_id,
        "eos_token_id": decoder.eos_token_id,
        "tie_word_embeddings": False,
        "rope_embeddings": False,
        "rope_theta": 10000.0,
        "cross_attention_implementation_strategy": None,
        "is_decoder": True,
        "add_cross_attention": True,
        # the reference spells "mixed with vocal heads" as mixed_pro + add_vocal_loss (see _official_track_pattern)
        "track_pattern": pattern,
        "add_vocal_loss": pattern == "mixed_pro",
    }
    text = config.text_encoder.to_dict()
    text_dict = {
        "model_type": config.text_encoder.model_type,
        "architectures": ["T5ForConditionalGeneration"],
        **{key: text[key] for key in _T5_FIELDS if key in text},
        **_T5_REFERENCE_FLAGS,
    }
    kind = "dual" if pattern.startswith(("interleaving", "parallel")) else "mixed"
    written = {
        "model_type": "songgen",
        "architectures": [ARCHITECTURES[kind]],
        "is_encoder_decoder": True,
        "vocab_size": config.lyrics_encoder.vocab_size,
        "prompt_cross_attention": True,
        "add_prenet": bool(config.lyrics_encoder.use_encoder),
        "pad_token_id": decoder.pad_token_id,
        "decoder_start_token_id": decoder.bos_token_id,
        "torch_dtype": str(dtype).removeprefix("torch."),
        "text_encoder": text_dict,
        "decoder": decoder_dict,
    }
    return _over(_official_file(config, "config.json"), written)


def _official_file(config: SongGenConfig, name: str) -> dict:
    """The official file the model was converted from (recorded by the converter), or an empty dict."""
    recorded = (getattr(config, "official_files", None) or {}).get(name)
    return recorded if isinstance(recorded, dict) else {}


def _over(recorded: dict, written: dict) -> dict:
    """``recorded`` with every value ``written`` decides replaced (sub-dicts merged key by key): the values the
    model decides are the model's, everything else the reference wrote is kept as it was."""
    merged = dict(recorded)
    for key, value in written.items():
        merged[key] = (
            _over(recorded[key], value) if isinstance(value, dict) and isinstance(recorded.get(key), dict) else value
        )
    return merged


def reference_incompatibilities(config: SongGenConfig) -> list[str]:
    """What the reference code cannot build from this config (it hard-codes these sizes)."""
    notes = []
    lyrics = config.lyrics_encoder
    sizes = {name: getattr(lyrics, name) for name in RELEASED_LYRICS_ENCODER}
    if lyrics.use_encoder and sizes != RELEASED_LYRICS_ENCODER:
        notes.append(f"lyrics encoder {sizes} (the reference hard-codes {RELEASED_LYRICS_ENCODER})")
    voice = config.voice_encoder
    if voice is None:
        notes.append(
            "no voice encoder (the reference always builds mert_layer_agg / audio_mert_to_dec_proj and "
            "would leave them randomly initialised)"
        )
    elif (voice.num_layers_to_aggregate, voice.hidden_size) != (25, 1024):
        notes.append(
            f"MERT mix of {voice.num_layers_to_aggregate} layers x {voice.hidden_size} (the reference "
            "hard-codes MERT-v1-330M: 25 x 1024)"
        )
    return notes


def official_state_dict(model: SongGenForConditionalGeneration, embed_codec: bool = True) -> dict[str, torch.Tensor]:
    """The model's tensors under the official names (inverse of ``convert_official_songgen_state_dict``)."""
    state = model.state_dict()
    official: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, tensor in state.items():
        if key.startswith("audio_encoder."):
            continue
        if key == _T5_TIED:  # T5 ties it to shared.weight; the reference saves the shared name only
            if not torch.equal(tensor, state["text_encoder.shared.weight"]):
                raise ValueError(
                    f"{_T5_TIED} differs from text_encoder.shared.weight; T5 ties them, so the model "
                    "cannot be written in the official layout."
                )
            continue
        new_key = package_to_official_key(key)
        if new_key is None:
            unmapped.append(key)
        else:
            official[new_key] = tensor
    if unmapped:
        raise ValueError(
            f"{len(unmapped)} tensors have no official name, e.g. {', '.join(sorted(unmapped)[:5])}; "
            "the model uses a feature the official layout cannot hold (e.g. musical controls)."
        )
    decoder = model.config.decoder
    dtype = state["decoder.model.embed_tokens.0.weight"].dtype
    official[POSITIONS_KEY] = sinusoidal_table(decoder.max_position_embeddings, decoder.hidden_size).to(dtype)
    if embed_codec:
        codec = {
            key[len("audio_encoder.") :]: value for key, value in state.items() if key.startswith("audio_encoder.")
        }
        original = original_xcodec_state_dict(codec, model.config.audio_encoder)
        official.update({"audio_encoder.model." + key: value for key, value in original.items()})
    return official


def _generation_config(model: SongGenForConditionalGeneration) -> dict[str, Any]:
    """The official ``generation_config.json``: the token ids and the sampling settings the model holds, over
    the file the model was converted from (its ``max_length`` and every other key kept; a sampling setting the
    file lacks is added only where the model's differs from the default)."""
    decoder = model.config.decoder
    generation = model.generation_config
    values = {
        "decoder_start_token_id": decoder.bos_token_id,
        "bos_token_id": decoder.bos_token_id,
        "pad_token_id": decoder.pad_token_id,
        "eos_token_id": decoder.eos_token_id,
        "do_sample": bool(getattr(generation, "do_sample", True)),
    }
    for key in ("max_length", "guidance_scale", "temperature", "top_k", "top_p"):
        value = getattr(generation, key, None)
        if value is not None:
            values[key] = value
    recorded = _official_file(model.config, "generation_config.json")
    if not recorded:
        return values
    kept = {
        key: value
        for key, value in values.items()
        if key in recorded or value != _REFERENCE_GENERATION_DEFAULTS.get(key)
    }
    return _over(recorded, kept)


# What the reference's transformers (4.x GenerationConfig) uses for a key its generation_config.json leaves out:
# writing these values adds a key without changing a song.
_REFERENCE_GENERATION_DEFAULTS = {"temperature": 1.0, "top_k": 50, "top_p": 1.0, "max_length": 20}


def export_official(
    model: SongGenForConditionalGeneration,
    output_dir: str | os.PathLike,
    processor=None,
    *,
    embed_codec: bool = True,
    storage_dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
) -> list[str]:
    """Write ``model`` (and ``processor``'s tokenizers) to ``output_dir`` in the official layout, atomically.

    Returns the notes (also logged): what the reference code could not build, and where the
    codec files go.  Floating-point tensors are stored as ``storage_dtype``.
    """
    from safetensors.torch import save_file

    from songgen_hf.utils.atomic import atomic_directory

    if model.config.decoder.has_musical_controls:
        raise ValueError(
            "The model uses tempo/key controls, which the official SongGen layout has no place for; "
            "export it in the release format instead (songgen export without --format official)."
        )
    from songgen_hf.utils.atomic import check_replaceable

    target = Path(output_dir)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    check_replaceable(target, overwrite, "output_dir")  # only an earlier export of this package is replaced
    tensors = {
        key: (value.to(storage_dtype) if value.is_floating_point() else value).contiguous()
        for key, value in official_state_dict(model, embed_codec=embed_codec).items()
    }
    notes = [
        f"The reference code cannot build this model: {note}." for note in reference_incompatibilities(model.config)
    ]
    with atomic_directory(target, mark="export official") as staging:
        staging = Path(staging)
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        _write_json(staging / "config.json", official_config_dict(model.config, storage_dtype))
        _write_json(staging / "generation_config.json", _generation_config(model))
        codec_dir = staging / XCODEC_SUBFOLDER
        codec_dir.mkdir()
        codec = {
            key[len("audio_encoder.") :]: value
            for key, value in model.state_dict().items()
            if key.startswith("audio_encoder.")
        }
        torch.save(original_xcodec_state_dict(codec, model.config.audio_encoder), codec_dir / XCODEC_CHECKPOINT)
        import yaml

        (codec_dir / XCODEC_YAML).write_text(
            yaml.safe_dump(original_xcodec_yaml(model.config.audio_encoder)), encoding="utf-8"
        )
        if processor is not None:
            processor.tokenizer.save_pretrained(staging)
            processor.lyrics_tokenizer.save_pretrained(staging)
    notes.append(
        f"For the reference code, copy {target / XCODEC_SUBFOLDER}/* into "
        "songgen/xcodec_wrapper/xcodec_infer/ckpts/general_more/ of its checkout (its XCodecModel opens "
        "the codec from there)."
    )
    for note in notes:
        logger.warning(note)
    return notes


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


__all__ = [
    "ARCHITECTURES",
    "export_official",
    "official_config_dict",
    "official_state_dict",
    "reference_incompatibilities",
]
