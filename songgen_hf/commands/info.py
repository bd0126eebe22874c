"""``songgen info``: what a SongGen, ResGen, X-Codec or adapter folder holds, read without loading weights."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from songgen_hf.utils.safe_files import read_json


def _count(module) -> dict[str, int]:
    from songgen_hf.model_figures import count_parameters

    buffers = sum(b.numel() for b in module.buffers())
    return {"parameters": count_parameters(module), "buffers": buffers}


def _component_counts(model) -> dict[str, dict[str, int]] | str:
    if model is None:
        return "not counted (see warning)"
    if callable(getattr(model, "tie_weights", None)):
        model.tie_weights()  # tied weights counted once, in the component that owns them
    counts = {name: _count(child) for name, child in model.named_children()}
    counts["total"] = _count(model)
    return counts


def _codec_summary(config) -> dict:
    return {
        "model_type": config.model_type,
        "sampling_rate": config.sample_rate,
        "frame_rate": config.frame_rate,
        "hop_length": config.hop_length,
        "bandwidths_kbps": [float(bw) for bw in config.target_bandwidths],
        "codebooks": config.num_quantizers,
        "codebook_size": config.codebook_size,
        "decode_only": bool(getattr(config, "decode_only", False)),
        "semantic_teacher": getattr(config.semantic_model_config, "model_type", None),
    }


def _processor_summary(folder: Path) -> dict | None:
    if not (folder / "processor_config.json").is_file():
        return None
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    try:
        processor = SongGenProcessor.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as error:
        return {"error": str(error)}
    from songgen_hf.model_figures import lyrics_token_limit

    voice, lyrics = processor.feature_extractor, processor.lyrics_tokenizer
    return {
        "description_tokenizer": f"{type(processor.tokenizer).__name__} ({len(processor.tokenizer)} tokens)",
        "lyrics_tokenizer": f"{type(lyrics).__name__} ({lyrics.vocab_size} tokens)",
        "voice_features": None if voice is None else f"{voice.clip_seconds:g} s at {voice.sampling_rate} Hz",
        "max_lyrics_tokens": lyrics_token_limit(processor) or "no limit",
    }


# Ids and switches every generation_config.json carries; not choices a user would tune.
_GENERATION_PLUMBING = {
    "transformers_version",
    "_from_model_config",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
    "output_attentions",
    "output_hidden_states",
}


def _generation_defaults(folder: Path) -> dict | None:
    path = folder / "generation_config.json"
    if not path.is_file():
        return None
    values = read_json(path)
    return {key: value for key, value in values.items() if key not in _GENERATION_PLUMBING}


def _weights_summary(folder: Path) -> dict:
    """The weight files a folder loads (the shards its index names elsewhere too: the embedded models
    share one codec shard), their size and dtypes."""
    from songgen_hf.model_figures import size_mb
    from songgen_hf.modeling.weight_bounds import CorruptWeightsError, read_safetensors_header
    from songgen_hf.pipelines.loading import weight_files

    files = sorted({Path(p) for p in weight_files(folder)} | {p for p in folder.iterdir() if p.suffix == ".bin"})
    dtypes, corrupt = set(), []
    for path in files:
        if path.suffix == ".safetensors":
            try:  # the header alone, checked against the file's size: a damaged file is named, not counted as empty
                dtypes |= {dtype for dtype, _ in read_safetensors_header(path).values()}
            except CorruptWeightsError as error:
                corrupt.append(str(error))
    summary = {
        "files": [Path(os.path.relpath(p, folder)).as_posix() for p in files],
        "size_mb": size_mb(sum(p.stat().st_size for p in files)),
        "dtypes": sorted(dtypes),
    }
    if corrupt:
        summary["status"] = "corrupt: " + " ".join(corrupt)
    return summary


def _songgen_info(folder: Path, model=None) -> dict:
    from songgen_hf.modeling.songgen import SongGenConfig
    from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S
    from songgen_hf.modeling.songgen.configuration_songgen import default_window_s, max_duration_s

    config = SongGenConfig.from_pretrained(folder)
    pattern, decoder = config.decoder.token_pattern(), config.decoder
    voice = config.voice_encoder
    return {
        "folder": str(folder),
        "model_type": config.model_type,
        "track_pattern": decoder.track_pattern,
        "tracks": list(pattern.track_names),
        "stems": pattern.num_tracks > 1,
        "decoder": {
            "layers": decoder.num_hidden_layers,
            "hidden_size": decoder.hidden_size,
            "attention_heads": decoder.num_attention_heads,
            "codebooks": decoder.num_codebooks,
            "controls": _controls(decoder),
        },
        # a longer song is made window after window, up to the longest song: in windows of window_seconds unless a
        # call asks others (--window, up to longest_window_seconds, what one decoding pass holds)
        "window_seconds": round(default_window_s(config), 2),
        "longest_window_seconds": round(max_duration_s(config), 2),
        "longest_song_seconds": MAX_SONG_S,
        "parameters": _component_counts(model),
        "codec": _codec_summary(config.audio_encoder),
        "voice_encoder": None if voice is None else f"{voice.clip_seconds:g} s at {voice.sampling_rate} Hz",
        "processor": _processor_summary(folder),
        "generation_defaults": _generation_defaults(folder),
        "sub_models": _sub_models(folder),
    }


def _sub_models(folder: Path) -> dict | None:
    """The sub-models the folder holds (``singer/``...; an adapter's: its base's), each with its kind and weights."""
    from songgen_hf.pipelines.loading import sub_model_folders

    found = {}
    for name, path in sub_model_folders(folder).items():
        try:
            kind = read_json(path / "config.json").get("model_type")
        except (OSError, ValueError, AttributeError) as error:
            kind = f"unreadable config.json ({error})"
        found[name] = {"model_type": kind, "weights": _weights_summary(path)}
    return found or None


def _controls(decoder) -> list[str]:
    """The musical controls the token model takes (read from the description by the processor)."""
    return [
        name
        for name, on in (
            ("tempo", decoder.use_tempo_control),
            ("key", decoder.use_key_control),
            ("vocals/drums", decoder.use_arrangement_control),
        )
        if on
    ]


def _resgen_info(folder: Path, model=None) -> dict:
    """A ResGen pipeline folder (diffusers layout): the model in ``transformer/``, the scheduler, the processor."""
    from songgen_hf.modeling.resgen import ResGenConfig
    from songgen_hf.modeling.resgen.modeling_resgen import PIPELINE_MODEL_COMPONENT

    model_folder = folder / PIPELINE_MODEL_COMPONENT
    config = ResGenConfig.from_pretrained(model_folder if (model_folder / "config.json").is_file() else folder)
    decoder = config.decoder
    scheduler = folder / "scheduler" / "scheduler_config.json"
    return {
        "folder": str(folder),
        "model_type": config.model_type,
        "decoding": "masked parallel decoding of cumulative RVQ embeddings (a fixed number of passes)",
        "tracks": ["mix"],
        "stems": False,
        "decoder": {
            "layers": decoder.num_hidden_layers,
            "hidden_size": decoder.hidden_size,
            "attention_heads": decoder.num_attention_heads,
            "codebooks": decoder.num_codebooks,
            "mixture_components": decoder.num_mixtures,
            "latent_dim": decoder.latent_dim,
            "max_seconds": round(config.max_frames / config.frame_rate, 1),
            "controls": _controls(decoder),
        },
        "parameters": _component_counts(model),
        "codec": _codec_summary(config.audio_encoder),
        "scheduler": (
            {key: value for key, value in read_json(scheduler).items() if not key.startswith("_")}
            if scheduler.is_file()
            else None
        ),
        "processor": _processor_summary(folder / "processor"),
    }


def _codec_info(folder: Path, saved_type: str, model=None) -> dict:
    from songgen_hf.modeling import XCodecConfig

    config = XCodecConfig.from_pretrained(folder)  # also reads transformers' "xcodec" folders
    return {
        "folder": str(folder),
        "model_type": saved_type,
        "codec": {**_codec_summary(config), "model_type": saved_type},
        "parameters": _component_counts(model),
    }


def _adapter_records(folder: Path) -> dict:
    """What the adapter's songs are made with besides its weights, as ``finetune-lora`` recorded it: the tempo a
    song whose request names none is made at, the description gate that weighs the adapter per song, and the told
    singer's adapter with the register and voices it learnt (the same readers and checks as the pipeline's, so a
    damaged record shows here as it would fail there)."""
    from songgen_hf.pipelines.adapters import adapter_style_tempo
    from songgen_hf.pipelines.description_gate import read_description_gate
    from songgen_hf.pipelines.singer_adapters import read_learned_voice, singer_adapter_folder

    tempo = adapter_style_tempo(folder)
    singer = singer_adapter_folder(folder)
    records: dict = {"style_tempo_bpm": "none (songs keep the tempo their request names)" if tempo is None else tempo}
    gate = read_description_gate(folder)  # what weighs the adapter per song (pipelines/description_gate.py)
    records["description_gate"] = (
        {**gate.sizes, "thresholds": [gate.low, gate.high]}
        if gate is not None
        else "none (the adapter applies to every song at the weight asked)"
    )
    if singer is None:
        records["singer_adapter"] = "none (songs are sung by the base's singer)"
        return records
    learned = read_learned_voice(singer)
    records["singer_adapter"] = {
        "folder": singer.name,
        "learned_voice": "none (songs are planned in the corpus's registers)" if learned is None else learned.to_dict(),
    }
    return records


def _adapter_info(folder: Path) -> dict:
    """A LoRA adapter folder: the adapter, how it names its base, and the base as ``songgen info BASE`` shows it."""
    from songgen_hf.pipelines.adapter_folders import check_adapter_files, describe_adapter

    adapter = describe_adapter(folder)  # a missing base: a clear error naming it and the fix
    base = Path(adapter["base_model"])
    try:  # sizes out of range, a rank its weights do not hold, a damaged record: shown, as a model folder's config is
        check_adapter_files(folder)
        adapter["records"] = _adapter_records(folder)
        warning = None
    except ValueError as error:
        warning = str(error)
    if base.is_dir() and warning is None:
        from songgen_hf.pipelines.adapter_folders import adapter_effect

        effect = adapter_effect(folder, base)
        if effect:
            largest = sorted(
                ((value, name) for name, value in effect["modules"].items() if value == value), reverse=True
            )[:3]
            adapter["effect"] = {
                "measure": "|B A| alpha/r over |W| per adapted module (0: the adapter changes nothing)",
                "median": None if effect["median"] is None else round(effect["median"], 5),
                "max": None if effect["max"] is None else round(effect["max"], 5),
                "largest": {name: round(value, 5) for value, name in largest},
                "modules_without_a_base_weight": effect["homeless"],
            }
    own_processor = (folder / "processor_config.json").is_file() or not base.is_dir()
    info = {
        "folder": str(folder),
        "model_type": "LoRA adapter for songgen",
        "adapter": adapter,
        "processor": _processor_summary(folder if own_processor else base),
        "weights": _weights_summary(folder),
        "base": describe_folder(base) if base.is_dir() else str(base),
    }
    if warning:
        info["warning"] = warning
    return info


def describe_folder(folder: str | Path) -> dict:
    """What a saved SongGen or X-Codec folder holds, from its files and a weightless model."""
    from songgen_hf.conversion.checkpoint_files import read_model_type
    from songgen_hf.pipelines.loading import embedded_model_path, is_adapter_folder

    folder = embedded_model_path(folder) or Path(folder)  # an embedded model's name: its folder in this install
    if not folder.exists():
        from songgen_hf.utils.atomic import recover_directory

        recover_directory(folder)  # a save killed between its renames: its complete copy goes back, as loaders do
    if not folder.exists():
        from songgen_hf.conversion.conversion_cache import local_model_folder

        folder = local_model_folder(folder)  # a Hub id: its snapshot (an official checkpoint: converted once)
    if is_adapter_folder(folder):
        return _adapter_info(folder)
    model_type = read_model_type(folder, "FOLDER")  # missing, a file, no/invalid config.json: a clear error
    from huggingface_hub.errors import StrictDataclassError

    describe = {
        "songgen": _songgen_info,
        "songgen_resgen": _resgen_info,
        "songgen_xcodec": _codec_info,
        "xcodec": _codec_info,
    }.get(model_type)
    weights_folder = folder
    if model_type == "songgen_resgen":
        from songgen_hf.pipelines.loading import check_resgen_folder

        check_resgen_folder(folder)  # an incomplete copy: what it lacks, before any config is parsed
        weights_folder = folder / "transformer"
    if describe is not None:
        model, warning = _bounded_model(model_type, weights_folder)
        try:
            info = (
                describe(folder, model=model)
                if model_type in ("songgen", "songgen_resgen")
                else describe(folder, model_type, model=model)
            )
        except (
            TypeError,
            KeyError,
            AttributeError,
            OSError,
            StrictDataclassError,
        ) as error:  # config fields missing/mistyped
            raise ValueError(
                f"FOLDER {folder}: its config.json does not describe a valid {model_type} model "
                f"({type(error).__name__}: {error}); the folder is damaged, save or download it again."
            ) from None
    else:
        raise ValueError(
            f"{folder} holds a {model_type!r} model; songgen info describes SongGen ('songgen'), ResGen "
            "('songgen_resgen') and X-Codec ('songgen_xcodec', 'xcodec') folders."
        )
    info["weights"] = _weights_summary(weights_folder)
    if info.get("sub_models"):  # what the model loads in all, as the README, the cards and the Space state it
        from songgen_hf.model_figures import size_mb, weights_bytes

        info["weights"]["size_mb_with_sub_models"] = size_mb(weights_bytes(weights_folder))
    if warning:
        info["warning"] = warning
    return info


def _bounded_model(model_type: str, folder: Path):
    """``(model on the meta device or None, warning or None)``: the folder's model, built only after its config is
    bounded by its weights' header, so that a config claiming a huge model is reported, not built (or counted as
    16 G parameters).  A config that is no valid config of its type is a ``ValueError``."""
    from songgen_hf.modeling.weight_bounds import (
        CorruptWeightsError,
        WeightsMismatchError,
        check_model_folder,
        meta_model_within,
    )

    if model_type == "songgen":
        from songgen_hf.modeling.songgen import SongGenForConditionalGeneration as model_class
    elif model_type == "songgen_resgen":
        from songgen_hf.modeling.resgen import ResGenForConditionalGeneration as model_class
    else:
        from songgen_hf.modeling import XCodecModel as model_class
    try:
        model = check_model_folder(model_class, folder, accepted_types=("xcodec",))
    except (CorruptWeightsError, WeightsMismatchError) as error:
        return None, str(error)
    if model is None:  # no safetensors weights to bound it by: counted from the config, within a fixed bound
        config = model_class.config_class.from_pretrained(folder)
        model = meta_model_within(model_class, config, _UNWEIGHED_MAX_VALUES, _UNWEIGHED_MAX_TENSORS)
        if model is None:
            return None, (
                f"{folder / 'config.json'} describes a model of more than {_UNWEIGHED_MAX_VALUES:,} values "
                f"or {_UNWEIGHED_MAX_TENSORS:,} tensors, and the folder has no safetensors weights to "
                "check it against: not counted."
            )
    return model, None


# What a config without weights may describe before info stops counting: 16x the released SongGen (1.3 B values).
_UNWEIGHED_MAX_VALUES = 2**34
_UNWEIGHED_MAX_TENSORS = 2**16


def format_info(info: dict) -> str:
    from songgen_hf.model_figures import format_count

    lines = []

    def show(key: str, value, indent: int) -> None:
        pad = "  " * indent
        if isinstance(value, dict) and set(value) == {"parameters", "buffers"}:
            text = format_count(value["parameters"])
            if value["buffers"]:
                text += f" (+{format_count(value['buffers'])} buffer values)"
            lines.append(f"{pad}{key}: {text}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            for child, item in value.items():
                show(child, item, indent + 1)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}: {', '.join(str(item) for item in value) or '-'}")
        elif value is None or value is False:
            lines.append(f"{pad}{key}: no")
        elif value is True:
            lines.append(f"{pad}{key}: yes")
        else:
            lines.append(f"{pad}{key}: {value}")

    for key, value in info.items():
        show(key, value, 0)
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    info = describe_folder(args.folder)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def add_info_arguments(info: argparse.ArgumentParser) -> None:
    info.add_argument("folder", metavar="FOLDER", help="a model folder, Hub id or embedded model name")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_info)


# the command -> its options (songgen_hf.commands.cli lists it)
COMMANDS = {"info": add_info_arguments}
