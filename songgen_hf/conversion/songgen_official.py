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

The renames are one two-way table (:mod:`.official_keys`), which the exporter
(:mod:`.official_export`) reads backwards.  Every size is read off the weights and checked
against ``config.json`` (:mod:`.official_sizes`), so checkpoints of any size convert without
options; everything is checked against a weightless (meta-device) model before any weights load.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from transformers.initialization import no_init_weights

from songgen_hf.conversion.checkpoint_files import load_codec_folder, read_tensor_file
from songgen_hf.conversion.official_keys import (
    OFFICIAL_KEY_RULES,
    OFFICIAL_PREFIX_MAP,
    official_to_package_key,
    package_to_official_key,
)
from songgen_hf.conversion.official_sizes import tensor_shapes
from songgen_hf.conversion.songgen_official_config import _ALREADY_CONVERTED_HINT, _PARLER_HINT, config_from_official
from songgen_hf.conversion.xcodec_original import (
    _difference_lines,
    _first,
    _key_differences,
    convert_original_xcodec_state_dict,
    infer_config_from_state_dict,
    load_original_xcodec,
)
from songgen_hf.modeling import XCodecModel
from songgen_hf.modeling.songgen import SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.configuration_songgen import SongGenLyricsEncoderConfig, SongGenVoiceEncoderConfig
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

_T5_TOKENIZER_FILES = (
    "spiece.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
POSITIONS_KEY = "decoder.model.decoder.embed_positions.weights"  # the reference saves its sinusoid table
_SONGGEN_HF_KEY_PREFIXES = (
    "decoder.model.layers.",
    "decoder.model.embed_tokens.",
    "lyrics_encoder.embed_tokens.",
    "lyrics_encoder.layers.",
    "voice_encoder.",
)
_DAC_CODEC_PREFIXES = ("audio_encoder.model.quantizer.quantizers.", "audio_encoder.model.decoder.model.")
_CODEC_HINT = (
    "The checkpoint holds no X-Codec weights (audio_encoder.*). Convert the original codec first, e.g. "
    "`songgen convert xcodec xcodec_hubert_general_audio_v2.pth XCODEC_DIR`, and pass codec=XCODEC_DIR "
    "(or an XCodecModel)."
)
_MERT_HINT = (
    "The checkpoint holds no MERT weights (mert_model.*). Pass mert_folder= a local copy of "
    "m-a-p/MERT-v1-330M, or voice=False to build the model without reference-voice conditioning."
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
    counts = {
        name: sum(p.numel() for p in module.parameters()) if module is not None else 0 for name, module in parts.items()
    }
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["voice_head"] = counts["total"] - sum(counts[name] for name in parts)  # layer mix + projection
    frozen = counts["text_encoder"] + counts["voice_encoder_mert"] + counts["audio_encoder"]
    counts["trainable"] = counts["total"] - frozen
    return counts


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
        hints.append(
            f"The checkpoint has {len(layers)} decoder layer(s) ({', '.join(map(str, layers))}) but the "
            f"config says num_hidden_layers={config.decoder.num_hidden_layers}."
        )

    def wholly_missing(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in missing) and not any(k.startswith(prefix) for k in converted)

    for prefix, hint in (
        ("audio_encoder.", _CODEC_HINT),
        ("voice_encoder.audio_encoder.", _MERT_HINT),
        ("text_encoder.", "The checkpoint holds no text_encoder.* (FLAN-T5 encoder) weights."),
    ):
        if wholly_missing(prefix):
            hints.append(hint)
    return hints


def _check_against_model(state_dict: Mapping, converted: dict, unrouted: list[str], config: SongGenConfig) -> None:
    expected = expected_state_dict_shapes(config)
    missing, unexpected, mismatched = _key_differences(converted, set(converted), expected, unrouted)
    if not (missing or unexpected or mismatched):
        return
    lines = [
        f"The checkpoint does not match the SongGen model its config describes ({len(missing)} missing, "
        f"{len(unexpected)} unexpected, {len(mismatched)} shape-mismatched keys; names after conversion, "
        "unrouted keys under their official names)."
    ]
    lines.extend(_hints(state_dict, converted, missing, config))  # the likely cause first, then the evidence
    lines.extend(_difference_lines(missing, unexpected, mismatched))
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
        elif key in ("text_encoder.shared.weight", "text_encoder.encoder.embed_tokens.weight"):
            # T5's input embedding is one tensor under two names; checkpoints keep either or both.
            other = converted.get("text_encoder.shared.weight")
            if other is not None and not torch.equal(other, tensor):
                raise ValueError(
                    "text_encoder.shared.weight and text_encoder.encoder.embed_tokens.weight differ; "
                    "T5 ties them, so the checkpoint is inconsistent."
                )
            converted["text_encoder.shared.weight"] = tensor
            converted["text_encoder.encoder.embed_tokens.weight"] = tensor
        elif key.startswith("text_encoder.encoder."):
            converted[key] = tensor
        elif key.startswith(("text_encoder.decoder.", "text_encoder.lm_head.")):
            dropped_text_keys.append(key)
        elif key.startswith("decoder.vocal_lm_heads.") and not config.decoder.has_vocal_heads:
            dropped_vocal_heads.append(key)
        elif key == POSITIONS_KEY:
            continue  # sinusoids, recomputed by the model for any length
        else:
            new_key = official_to_package_key(key)  # the shared key table (official_keys.py)
            if new_key is None:
                unrouted.append(key)
            else:
                converted[new_key] = tensor
    if dropped_text_keys:
        note(f"Dropped {len(dropped_text_keys)} T5 decoder tensors (only the T5 encoder is used).")
    if dropped_vocal_heads:
        note(
            f"Dropped {len(dropped_vocal_heads)} decoder.vocal_lm_heads.* tensors: {config.decoder.track_pattern!r} "
            "has no vocal heads (as when the reference starts a dual-track model from mixed pro)."
        )

    # voice path
    if config.voice_encoder is None:
        if voice_keys:
            note(
                f"Dropped {len(voice_keys)} voice-path tensors (mert_*, audio_mert_to_dec_proj): "
                "no voice encoder configured."
            )
    else:
        if mert_state_dict is not None:
            embedded = [key for key in voice_keys if key.startswith("mert_model.")]
            if embedded:
                note(f"Replaced {len(embedded)} embedded mert_model.* tensors by the supplied MERT weights.")
            voice_keys = {key: value for key, value in voice_keys.items() if not key.startswith("mert_model.")}
            voice_keys.update({"mert_model." + key: value for key, value in mert_state_dict.items()})
        renamed: dict[str, torch.Tensor] = {}
        for key, tensor in voice_keys.items():
            new_key = official_to_package_key(key)
            if new_key in renamed:
                raise ValueError(f"Two checkpoint keys map to {new_key!r}; the checkpoint mixes weight-norm layouts.")
            renamed[new_key] = tensor
        converted.update(renamed)

    # codec
    if codec_state_dict is not None:
        if codec_keys:
            note(f"Dropped {len(codec_keys)} embedded audio_encoder.* tensors in favour of the supplied codec.")
        converted.update({"audio_encoder." + key: value for key, value in codec_state_dict.items()})
    elif any(key.startswith(_DAC_CODEC_PREFIXES) for key in codec_keys):
        unrouted.extend(codec_keys)  # a DAC (Parler-TTS) codec: report it, do not try to convert it
    elif codec_keys:
        prefix = "audio_encoder.model."
        soundstream = {key[len(prefix) :]: value for key, value in codec_keys.items() if key.startswith(prefix)}
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
        # weights_only for pickles; an empty, truncated or foreign file is a ValueError naming it
        part = read_tensor_file(path, expected="SongGen weight file (.safetensors / .bin)")
        if isinstance(part, Mapping) and isinstance(part.get("state_dict"), Mapping):
            part = part["state_dict"]
        if not isinstance(part, Mapping) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors).")
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
            shards = sorted(set(_read_json(index, "a shard index").get("weight_map", {}).values()))
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
    return _read_json(config_path, "the official SongGen config"), list(dict.fromkeys(weights))


def _read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``; ``ValueError`` naming the file when it is empty, not JSON or not an object."""
    try:
        data = read_json(path)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected {what}. Download the file again.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, expected {what} (a JSON object).")
    return data


def _load_codec(codec) -> XCodecModel:
    if isinstance(codec, XCodecModel):
        return codec
    path = Path(codec)
    if path.is_dir():
        return load_codec_folder(path, flag="--codec")
    if path.is_file():
        try:
            return load_original_xcodec(path)  # an original X-Codec .pth
        except ValueError as error:
            raise ValueError(
                f"--codec {path}: {error}\n(Options of the codec's own conversion are not available here: convert "
                f"it first with `songgen convert xcodec {path} CODEC_DIR [--config ...] [--num-quantizers N]` and "
                "pass --codec CODEC_DIR.)"
            ) from None
    raise FileNotFoundError(f"codec={codec!r} is neither an XCodecModel, a converted codec folder nor an X-Codec .pth.")


def _embedded_codec_config(state_dict: Mapping[str, torch.Tensor]):
    """The X-Codec config read off an embedded original codec (``audio_encoder.model.*``), else None."""
    prefix = "audio_encoder.model."
    soundstream = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
    if not soundstream or any(key.startswith(_DAC_CODEC_PREFIXES) for key in state_dict):
        return None  # none, or a Parler DAC: reported by the state-dict check with its hint
    try:
        return infer_config_from_state_dict(soundstream)
    except ValueError as error:
        raise ValueError(f"The embedded X-Codec (audio_encoder.model.*) does not give a config:\n{error}") from None


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
    local ``m-a-p/MERT-v1-330M``; its ``config.json`` gives MERT's sizes) likewise for MERT.
    ``voice``, ``lyrics_encoder_config`` and ``allow_unknown_keys``: see [`config_from_official`].

    Every size is read off the weights (``weight_shapes`` of [`config_from_official`]), so
    checkpoints of any size convert without options; ``config.json`` values must agree with them.
    """
    config_dict, weight_files = _resolve_inputs(folder_or_files)
    state_dict = _read_weights(weight_files)
    has_codec = any(key.startswith("audio_encoder.") for key in state_dict)
    if codec is None and not has_codec:
        raise ValueError(_CODEC_HINT)
    codec_model = _load_codec(codec) if codec is not None else None
    mert_state_dict = mert_config = None
    if mert_folder is not None:
        if not Path(mert_folder).is_dir():
            raise ValueError(f"--mert-folder {mert_folder} is not a folder; pass a local copy of m-a-p/MERT-v1-330M.")
        mert_state_dict = _read_weights(_weight_files(Path(mert_folder)))
        if (Path(mert_folder) / "config.json").is_file():  # its sizes: heads and strides are in no tensor shape
            mert_config = _read_json(Path(mert_folder) / "config.json", "a MERT config")
    elif voice is not False and voice is not None and not any(key.startswith("mert_model.") for key in state_dict):
        raise ValueError(_MERT_HINT)

    shapes = tensor_shapes(state_dict)
    if mert_state_dict is not None:  # the supplied MERT replaces any embedded one, shapes included
        shapes = {k: v for k, v in shapes.items() if not k.startswith("mert_model.")}
        shapes.update({f"mert_model.{k}": tuple(v.shape) for k, v in mert_state_dict.items()})
    config = config_from_official(
        config_dict,
        codec_config=codec_model.config if codec_model is not None else _embedded_codec_config(state_dict),
        voice=voice,
        lyrics_encoder_config=lyrics_encoder_config,
        allow_unknown_keys=allow_unknown_keys,
        weight_shapes=shapes,
        mert_config=mert_config,
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
    # The official files as the reference wrote them: what the exporter writes back for every value the model
    # does not decide (the reference's config flags, generation_config.json's max_length...), so
    # official -> songgen-hf -> official gives the same files.
    model.config.official_files = {
        "config.json": config_dict,
        "generation_config.json": _official_generation_config(folder_or_files),
    }
    return model.eval()


def _official_generation_config(folder_or_files) -> dict | None:
    """The official folder's ``generation_config.json`` (None without one)."""
    if isinstance(folder_or_files, (str, os.PathLike)):
        folder = Path(folder_or_files) if Path(folder_or_files).is_dir() else Path(folder_or_files).parent
        path = folder / "generation_config.json"
    else:
        path = next((Path(p) for p in folder_or_files if Path(p).name == "generation_config.json"), None)
    return _read_json(path, "the official generation config") if path is not None and path.is_file() else None


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
    from songgen_hf.utils.atomic import atomic_directory

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
        from songgen_hf.modeling.songgen.tokenization_songgen import VoiceBpeTokenizer

        try:
            VoiceBpeTokenizer.from_pretrained(source).save_pretrained(destination)
        except ValueError as error:
            logger.warning("Not copying %s: it is not a VoiceBPE lyrics vocabulary (%s).", source / "vocab.json", error)
    for name in _T5_TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)


__all__ = [
    "OFFICIAL_KEY_RULES",
    "POSITIONS_KEY",
    "config_from_official",
    "convert_official_songgen_state_dict",
    "count_parameters",
    "expected_state_dict_shapes",
    "load_official_songgen",
    "official_to_package_key",
    "package_to_official_key",
    "save_converted_songgen",
]
