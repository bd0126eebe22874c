"""The ``songgen`` command line.  Thin: it parses arguments and calls the library.

    songgen generate --description TEXT (--lyrics TEXT | --lyrics-file FILE) [--reference-voice AUDIO]
                     [--voice-start S] [--duration S] [--guidance-scale G] [--temperature T] [--top-k K] [--cache C]
                     [--top-p P] [--seed S] [--stems] [--output OUT.wav] [--model DIR]
    songgen info DIR [--json]
    songgen codec train CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen codec encode AUDIO --model DIR --output CODES.pt [--bandwidth KBPS] [--chunk-seconds S]
    songgen codec decode CODES.pt --model DIR --output OUT.wav [--chunk-seconds S]
    songgen codec evaluate MANIFEST --model CODEC [--baseline CODEC ...] --output DIR [--num-clips N] [--report FILE.md]
    songgen convert xcodec CHECKPOINT.pth OUTPUT_DIR [--config config.yaml] [--num-quantizers N]
    songgen convert songgen (REPO_ID | OFFICIAL_DIR) OUTPUT_DIR [--codec CODEC] [--mert MERT] [--no-voice]
                    [--lyrics-vocab FILE] [--revision REV] [--cache-dir DIR] [--token T] [--local-files-only]
    songgen data synth --output DIR --num-clips N [--seed S] [--workers W]
    songgen data prepare SONGS --output CORPUS [--separation-model M] [--asr-model M] [--clap-model M] [--dry-run]
    songgen data encode MANIFEST --codec DIR --output DIR
    songgen train STAGE_CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen finetune-lora CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen evaluate MANIFEST --output DIR [--model DIR] [--report FILE.md] [--num-prompts N] [--seed S] ...

Exit codes: 0 success, 2 bad input (the message says what to change), 143 interrupted after
saving a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

AUDIO_OUTPUT_SUFFIXES = (".wav", ".flac", ".ogg")
STEM_NAMES = ("vocals", "accompaniment")


# ---------------------------------------------------------------------- generate
def _model_folder(model: str | None) -> Path:
    from .pipelines.text_to_song import model_folder_or_default

    return model_folder_or_default(model)


def _check_output(output: Path) -> None:
    """The output's folder must exist: a typo in it should not silently create a new tree."""
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; give a file name such as {output / 'song.wav'}.")
    if output.suffix.lower() not in AUDIO_OUTPUT_SUFFIXES:
        raise ValueError(
            f"--output {output}: unsupported extension {output.suffix!r}; use {', '.join(AUDIO_OUTPUT_SUFFIXES)}."
        )
    folder = output.parent
    if not folder.is_dir():
        raise ValueError(
            f"--output {output}: the directory {folder} does not exist; create it first (mkdir -p {folder}) "
            "or pick another path."
        )
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--output {output}: the directory {folder} is not writable.")


def stem_paths(output: Path) -> dict[str, Path]:
    """Where ``--stems`` writes each stem: ``OUT_vocals.wav`` beside ``OUT.wav``."""
    return {name: output.with_name(f"{output.stem}_{name}{output.suffix}") for name in STEM_NAMES}


def _check_stems(folder: Path) -> None:
    """``--stems`` on a single-track model fails from the config alone, before any weights load."""
    from transformers import AutoConfig

    from .adapter_base import is_adapter_folder, resolve_adapter_base

    config = AutoConfig.from_pretrained(resolve_adapter_base(folder) if is_adapter_folder(folder) else folder)
    decoder = getattr(config, "decoder", None)
    if getattr(config, "model_type", None) != "songgen" or decoder is None:
        raise ValueError(f"{folder} is not a SongGen folder (model_type {config.model_type!r}).")
    if decoder.token_pattern().num_tracks < 2:
        raise ValueError(
            f"--stems needs a dual-track model, but {folder} uses the single-track {decoder.track_pattern!r} "
            "pattern (one mixed track); drop --stems."
        )


# generate() argument -> `songgen generate` option attribute, and the flag named in messages
_GENERATION_OPTIONS = {"duration_s": "duration", "min_duration_s": "min_duration", "guidance_scale": "guidance_scale",
                       "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
                       "cache_implementation": "cache"}
_GENERATION_FLAGS = {key: "--" + attribute.replace("_", "-") for key, attribute in _GENERATION_OPTIONS.items()}


def _checked_processor(folder: Path, song: dict):
    """The folder's processor, after it has prepared ``song`` once: lyric and reference-voice
    mistakes (too long, unknown characters, silent or short voice...) surface before the weights load."""
    from .pipelines.text_to_song import parse_song
    from .processing.processor import SongGenProcessor

    song = parse_song(song)
    try:
        processor = SongGenProcessor.from_pretrained(folder)
    except OSError as error:
        raise ValueError(f"Could not load the SongGen processor from {folder}: {error}") from error
    voice = {}
    if song["reference_voice"] is not None:
        voice = {"reference_voice": song["reference_voice"], "voice_start": song["voice_start"]}
    controls = {name: song[name] for name in ("tempo_bpm", "key") if song[name] is not None}
    processor(description=song["description"], lyrics=song["lyrics"], return_tensors=None, **voice, **controls)
    return processor


def _generate(args: argparse.Namespace) -> int:
    import time

    # Every input is checked before the model loads: mistakes should not cost a generation.
    output = Path(args.output)
    _check_output(output)
    lyrics = args.lyrics
    if args.lyrics_file is not None:
        lyrics_file = Path(args.lyrics_file)
        if not lyrics_file.is_file():
            raise ValueError(f"--lyrics-file {lyrics_file} does not exist.")
        try:
            lyrics = lyrics_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"--lyrics-file {lyrics_file} is not UTF-8 text ({error.reason}); save it as UTF-8.") from None
    if not args.description.strip() and not (lyrics or "").strip():
        raise ValueError("--description and the lyrics are both empty; describe the song (genre, mood, instruments, voice).")
    song = {"description": args.description, "lyrics": lyrics}
    if args.reference_voice is not None:
        if not Path(args.reference_voice).is_file():
            raise ValueError(f"--reference-voice {args.reference_voice} does not exist.")
        song["reference_voice"] = args.reference_voice
        song["voice_start"] = args.voice_start if args.voice_start is not None else 0.0
    elif args.voice_start is not None:
        raise ValueError("--voice-start needs --reference-voice.")
    if args.tempo_bpm is not None:
        song["tempo_bpm"] = args.tempo_bpm
    if args.key is not None:
        song["key"] = args.key
    from .pipelines.checks import check_device, check_model_files_and_arguments, check_seed, check_text_lengths

    check_text_lengths(args.description, lyrics or "")  # a huge paste is refused before anything else runs
    check_seed(args.seed, "--seed")
    check_device(args.device, "--device")
    folder = _model_folder(args.model)
    generation = {key: getattr(args, attribute) for key, attribute in _GENERATION_OPTIONS.items()}
    check_model_files_and_arguments(folder, generation, _GENERATION_FLAGS)  # durations vs the model's longest
    if args.stems:
        _check_stems(folder)
    processor = _checked_processor(folder, song)
    if hasattr(processor, "interpret"):  # what was read from the description, said before the wait
        from .pipelines.understood import format_understood

        print(format_understood(processor.interpret(song["description"], song["lyrics"] or "", args.tempo_bpm, args.key)))

    from .data.audio import write_audio
    from .pipelines import GenerationProgress, expected_decoder_steps, load_text_to_song_pipeline

    options = {"device": args.device} if args.device is not None else {}
    try:
        pipe = load_text_to_song_pipeline(str(folder), processor=processor, **options)
    except OSError as error:  # missing/corrupt files: an input problem, not a crash
        raise ValueError(f"Could not load a SongGen model from {folder}: {error}") from error
    generation = {key: value for key, value in generation.items() if value is not None}
    progress = GenerationProgress(total=expected_decoder_steps(pipe.model, args.duration), disable=args.no_progress)
    started = time.perf_counter()
    result = pipe(song, seed=args.seed, streamer=progress, **generation)
    elapsed = time.perf_counter() - started

    rate = result["sampling_rate"]
    write_audio(output, result["audio"], rate)
    seconds = result["audio"].shape[-1] / rate
    print(f"wrote {output}: {seconds:.2f} s of audio at {rate} Hz, generated in {elapsed:.1f} s")
    if args.stems:
        for name, path in stem_paths(output).items():
            write_audio(path, result[name], rate)
            print(f"wrote {path} ({name})")
    return 0


# ---------------------------------------------------------------------- info
def _count(module) -> dict[str, int]:
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return {"parameters": params, "buffers": buffers}


def _component_counts(model) -> dict[str, dict[str, int]]:
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
    from .processing.processor import SongGenProcessor

    try:
        processor = SongGenProcessor.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as error:
        return {"error": str(error)}
    voice, lyrics = processor.feature_extractor, processor.lyrics_tokenizer
    return {
        "description_tokenizer": f"{type(processor.tokenizer).__name__} ({len(processor.tokenizer)} tokens)",
        "lyrics_tokenizer": f"{type(lyrics).__name__} ({lyrics.vocab_size} tokens)",
        "voice_features": None if voice is None else f"{voice.clip_seconds:g} s at {voice.sampling_rate} Hz",
        "max_lyrics_length": processor.max_lyrics_length or "no limit",
    }


# Ids and switches every generation_config.json carries; not choices a user would tune.
_GENERATION_PLUMBING = {"transformers_version", "_from_model_config", "bos_token_id", "eos_token_id", "pad_token_id",
                        "decoder_start_token_id", "output_attentions", "output_hidden_states"}


def _generation_defaults(folder: Path) -> dict | None:
    path = folder / "generation_config.json"
    if not path.is_file():
        return None
    values = json.loads(path.read_text(encoding="utf-8"))
    return {key: value for key, value in values.items() if key not in _GENERATION_PLUMBING}


def _weights_summary(folder: Path) -> dict:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    dtypes = set()
    for path in files:
        if path.suffix == ".safetensors":
            dtypes |= _safetensors_dtypes(path)
    return {
        "files": [p.name for p in files],
        "size_mb": round(sum(p.stat().st_size for p in files) / 2**20, 2),
        "dtypes": sorted(dtypes),
    }


def _safetensors_dtypes(path: Path) -> set[str]:
    """Tensor dtypes of a safetensors file, from its header (no weights read); none if it is unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="np") as handle:
            return {handle.get_slice(name).get_dtype() for name in handle.keys()}
    except (SafetensorError, OSError):
        return set()


def _songgen_info(folder: Path) -> dict:
    import torch

    from .modeling.songgen import SongGenConfig, SongGenForConditionalGeneration

    config = SongGenConfig.from_pretrained(folder)
    with torch.device("meta"):  # shapes only: parameter counts without memory or weights
        model = SongGenForConditionalGeneration(config)
    pattern, decoder = model.pattern, config.decoder
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
            "max_seconds": round(pattern.num_frames(decoder.max_position_embeddings) / config.frame_rate, 1),
        },
        "parameters": _component_counts(model),
        "codec": _codec_summary(config.audio_encoder),
        "voice_encoder": None if voice is None else f"{voice.clip_seconds:g} s at {voice.sampling_rate} Hz",
        "processor": _processor_summary(folder),
        "generation_defaults": _generation_defaults(folder),
    }


def _codec_info(folder: Path, saved_type: str) -> dict:
    import torch

    from .modeling import XCodecConfig, XCodecModel

    config = XCodecConfig.from_pretrained(folder)  # also reads transformers' "xcodec" folders
    with torch.device("meta"):
        model = XCodecModel(config)
    return {
        "folder": str(folder),
        "model_type": saved_type,
        "codec": {**_codec_summary(config), "model_type": saved_type},
        "parameters": _component_counts(model),
    }


def _adapter_info(folder: Path) -> dict:
    """A LoRA adapter folder: the adapter, how it names its base, and the base as ``songgen info BASE`` shows it."""
    from .adapter_base import describe_adapter

    adapter = describe_adapter(folder)  # a missing base: a clear error naming it and the fix
    base = Path(adapter["base_model"])
    own_processor = (folder / "processor_config.json").is_file() or not base.is_dir()
    return {"folder": str(folder), "model_type": "LoRA adapter for songgen", "adapter": adapter,
            "processor": _processor_summary(folder if own_processor else base), "weights": _weights_summary(folder),
            "base": describe_folder(base) if base.is_dir() else str(base)}


def describe_folder(folder: str | Path) -> dict:
    """What a saved SongGen or X-Codec folder holds, from its files and a weightless model."""
    from .adapter_base import is_adapter_folder
    from .conversion.checkpoint_files import read_model_type

    folder = Path(folder)
    if is_adapter_folder(folder):
        return _adapter_info(folder)
    model_type = read_model_type(folder, "FOLDER")  # missing, a file, no/invalid config.json: a clear error
    from huggingface_hub.errors import StrictDataclassError

    describe = {"songgen": _songgen_info, "songgen_xcodec": _codec_info, "xcodec": _codec_info}.get(model_type)
    if describe is not None:
        try:
            info = describe(folder) if model_type == "songgen" else describe(folder, model_type)
        except (TypeError, KeyError, AttributeError, OSError, StrictDataclassError) as error:  # config fields missing/mistyped
            raise ValueError(
                f"FOLDER {folder}: its config.json does not describe a valid {model_type} model "
                f"({type(error).__name__}: {error}); the folder is damaged, save or download it again."
            ) from None
    else:
        raise ValueError(
            f"{folder} holds a {model_type!r} model; songgen info describes SongGen ('songgen') and X-Codec "
            "('songgen_xcodec', 'xcodec') folders."
        )
    info["weights"] = _weights_summary(folder)
    return info


def _human(number: int) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= limit:
            return f"{number / limit:.2f} {suffix}"
    return str(number)


def format_info(info: dict) -> str:
    lines = []

    def show(key: str, value, indent: int) -> None:
        pad = "  " * indent
        if isinstance(value, dict) and set(value) == {"parameters", "buffers"}:
            text = _human(value["parameters"])
            if value["buffers"]:
                text += f" (+{_human(value['buffers'])} buffer values)"
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


# ---------------------------------------------------------------------- codec, convert, data
def _codec_train(args: argparse.Namespace) -> int:
    from .training.codec_config import CodecTrainingConfig
    from .training.codec_trainer import train_codec
    from .training.config_files import parse_overrides

    config = CodecTrainingConfig.from_file(args.config, parse_overrides(args.set))
    final = train_codec(config, resume=args.resume, overwrite=args.overwrite)
    print(f"trained codec saved to {final}")
    return 0


def _codec_encode(args: argparse.Namespace) -> int:
    from .cli_codec import codec_encode

    return codec_encode(args)


def _codec_decode(args: argparse.Namespace) -> int:
    from .cli_codec import codec_decode

    return codec_decode(args)


def _codec_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.codec_evaluation import run_codec_evaluate

    return run_codec_evaluate(args)


def _check_convert_output(text: str, overwrite: bool) -> None:
    """Refused before the (slow) conversion: no name, a file in the way, or a folder without --overwrite."""
    from .arguments import check_path_given

    check_path_given("OUTPUT", text)  # "" would be the current folder, replaced with --overwrite
    output = Path(text)
    if output.exists() and not output.is_dir():
        raise ValueError(f"OUTPUT {output} is a file; give the name of a folder to create.")
    if output.exists() and not overwrite:
        raise ValueError(f"OUTPUT {output} already exists; pass --overwrite to replace it, or pick another folder.")


def _convert_xcodec(args: argparse.Namespace) -> int:
    from .conversion.xcodec_original import load_original_xcodec, save_converted

    _check_convert_output(args.output, args.overwrite)
    model = load_original_xcodec(args.checkpoint, config=args.config, num_quantizers=args.num_quantizers)
    target = save_converted(model, args.output, overwrite=args.overwrite)
    print(f"converted {args.checkpoint} -> {target}")
    return 0


def _convert_songgen(args: argparse.Namespace) -> int:
    from .conversion.conversion_cache import convert_official_songgen
    from .conversion.hub import looks_like_repo_id

    source = Path(args.source)
    if not source.exists() and not looks_like_repo_id(args.source):
        raise ValueError(f"{source} does not exist; pass the SongGen Hub id (e.g. LiuZH-19/SongGen_mixed_pro) or the "
                         "downloaded official SongGen folder.")
    if source.is_file():
        raise ValueError(
            f"{source} is a file; songgen convert songgen takes the downloaded official SongGen folder "
            "(config.json + model.safetensors) or its Hub id. To convert an X-Codec .pth use songgen convert xcodec."
        )
    _check_convert_output(args.output, args.overwrite)
    if args.mert_folder is not None and not Path(args.mert_folder).is_dir():
        raise ValueError(f"--mert-folder {args.mert_folder} is not a folder; pass a local copy of m-a-p/MERT-v1-330M.")
    target = convert_official_songgen(
        args.source, args.output, overwrite=args.overwrite,
        revision=args.revision, cache_dir=args.cache_dir, token=args.token, local_files_only=args.local_files_only,
        codec=args.codec, mert=args.mert_folder or args.mert, voice=not args.no_voice, lyrics_vocab=args.lyrics_vocab,
        allow_unknown_keys=args.allow_unknown_keys,
    )
    print(f"converted {args.source} -> {target}")
    return 0


def _data_synth(args: argparse.Namespace) -> int:
    from .data.synth.cli import run_synth

    return run_synth(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="songgen", description="SongGen text-to-song and the X-Codec codec.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a song from a description and lyrics")
    generate.add_argument("--description", required=True, help="genre, mood, instruments, voice...")
    lyrics = generate.add_mutually_exclusive_group(required=True)
    lyrics.add_argument("--lyrics", help='the lyrics (lines separated by newlines; "" for an instrumental)')
    lyrics.add_argument("--lyrics-file", help="a UTF-8 text file with the lyrics")
    generate.add_argument("--reference-voice", help="audio file whose voice to imitate (voice-encoder models)")
    generate.add_argument("--voice-start", type=float, help="seconds into the reference voice where the clip starts")
    generate.add_argument("--tempo-bpm", type=float, help="tempo for models with musical controls (default: from the description)")
    generate.add_argument("--key", help='key such as "F# minor", for models with musical controls (default: from the description)')
    generate.add_argument("--duration", type=float,
                          help="length budget in seconds, > 0 and at most the model's max_seconds (songgen info); "
                               "default: the model's")
    generate.add_argument("--min-duration", type=float, help="minimum length in seconds")
    generate.add_argument("--guidance-scale", type=float, help="classifier-free guidance, 1 (off) to 100")
    generate.add_argument("--temperature", type=float)
    generate.add_argument("--top-k", type=int)
    generate.add_argument("--cache", help="decoding cache: preallocated (default, fastest without compile), static "
                                          "(fixed shapes, for torch.compile / CUDA graphs) or dynamic")
    generate.add_argument("--top-p", type=float)
    generate.add_argument("--seed", type=int, help="make the song reproducible (0 to 2**64 - 1)")
    generate.add_argument(
        "--stems", action="store_true", help="also write OUT_vocals / OUT_accompaniment (dual-track models)"
    )
    generate.add_argument("--output", default="song.wav", help=".wav, .flac or .ogg (default: song.wav)")
    generate.add_argument("--model", help="SongGen folder or Hub id; an official SongGen one (LiuZH-19/SongGen_*) is "
                                          "converted once and cached (default: the embedded model)")
    generate.add_argument("--device", help="cpu, cuda, cuda:1... (default: first GPU if any)")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(handler=_generate)

    info = commands.add_parser("info", help="what a SongGen or X-Codec folder holds")
    info.add_argument("folder", metavar="FOLDER")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_info)

    codec = commands.add_parser("codec", help="train or run the X-Codec audio codec").add_subparsers(
        dest="codec_command", required=True
    )
    train = codec.add_parser("train", help="train a codec from a config (JSON/YAML)")
    train.add_argument("config")
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    train.add_argument(
        "--overwrite", action="store_true",
        help="delete an earlier run in output_dir (checkpoints, train log, final) and start at step 0",
    )
    train.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override config options")
    train.set_defaults(handler=_codec_train)

    encode = codec.add_parser("encode", help="audio file -> codes (.pt)")
    encode.add_argument("audio", metavar="AUDIO")
    encode.add_argument("--model", required=True, help="codec folder")
    encode.add_argument("--output", required=True, help="codes file (.pt)")
    encode.add_argument("--bandwidth", type=float, default=None, help="kbps; default: all codebooks")
    encode.add_argument("--chunk-seconds", type=float, default=None,
                        help="encode in chunks of this length (default: 30 s chunks for audio longer than 30 s)")
    encode.set_defaults(handler=_codec_encode)

    decode = codec.add_parser("decode", help="codes (.pt) -> audio file")
    decode.add_argument("codes", metavar="CODES")
    decode.add_argument("--model", required=True, help="codec folder")
    decode.add_argument("--output", required=True, help=".wav, .flac or .ogg")
    decode.add_argument("--chunk-seconds", type=float, default=None,
                        help="decode in chunks of this length (default: 30 s chunks beyond 30 s)")
    decode.set_defaults(handler=_codec_decode)

    evaluate_codec = codec.add_parser(
        "evaluate", help="what codecs' round trips keep of held-out songs: tempo, key, lyric recall, frame-rate comb"
    )
    evaluate_codec.add_argument("manifest", metavar="MANIFEST", help="corpus manifest from `songgen data synth` (test.jsonl)")
    evaluate_codec.add_argument("--model", required=True, help="codec folder, or a SongGen folder (its codec is used)")
    evaluate_codec.add_argument("--baseline", action="extend", nargs="+", metavar="CODEC",
                                help="codec or SongGen folders to compare with (repeatable)")
    evaluate_codec.add_argument("--output", required=True, help="folder for codec_evaluation.json")
    evaluate_codec.add_argument("--num-clips", type=int, default=64, metavar="N",
                                help="score the first N records of MANIFEST (default 64)")
    evaluate_codec.add_argument("--report", help="Markdown report (default OUTPUT/codec_evaluation.md); its figure goes "
                                                 "to the folder named after it")
    evaluate_codec.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default 0)")
    evaluate_codec.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    evaluate_codec.set_defaults(handler=_codec_evaluate)

    convert = commands.add_parser("convert", help="convert official checkpoints").add_subparsers(
        dest="convert_command", required=True
    )
    xcodec = convert.add_parser("xcodec", help="original X-Codec .pth -> save_pretrained folder")
    xcodec.add_argument("checkpoint", metavar="CHECKPOINT")
    xcodec.add_argument("output", metavar="OUTPUT")
    xcodec.add_argument("--config", help="the original YAML config (else inferred from the weights)")
    xcodec.add_argument("--num-quantizers", type=int,
                        help="codebook count; required when inferring a layout other than the released 8 or 12")
    xcodec.add_argument("--overwrite", action="store_true")
    xcodec.set_defaults(handler=_convert_xcodec)
    songgen = convert.add_parser("songgen", help="official SongGen Hub id or folder -> save_pretrained folder")
    songgen.add_argument("source", help="Hub id (LiuZH-19/SongGen_mixed_pro) or official folder (config.json + weights)")
    songgen.add_argument("output", metavar="OUTPUT")
    songgen.add_argument("--codec", help="X-Codec: folder, Hub id, original .pth or REPO_ID:FILE.pth "
                                         "(default: the embedded one, else hf-audio/xcodec-hubert-general-balanced)")
    songgen.add_argument("--mert", help="MERT folder or Hub id (default: embedded, else m-a-p/MERT-v1-330M)")
    songgen.add_argument("--mert-folder", help="local MERT-v1-330M folder (same as --mert with a folder)")
    songgen.add_argument("--lyrics-vocab", help="VoiceBPE vocab.json, path or REPO_ID:FILE (default: the checkpoint's, "
                                                "else the reference code's, downloaded once)")
    songgen.add_argument("--revision", help="branch, tag or commit of the SongGen repo (default: main)")
    songgen.add_argument("--cache-dir", help="Hugging Face Hub cache folder (default: HF_HUB_CACHE)")
    songgen.add_argument("--token", help="Hub token (default: the one `hf auth login` saved)")
    songgen.add_argument("--local-files-only", action="store_true", help="use the Hub cache only, download nothing")
    songgen.add_argument("--no-voice", action="store_true", help="build without the reference-voice encoder")
    songgen.add_argument("--allow-unknown-keys", action="store_true", help="ignore unexpected config keys")
    songgen.add_argument("--overwrite", action="store_true")
    songgen.set_defaults(handler=_convert_songgen)

    data = commands.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    from .data.synth.cli import add_synth_arguments

    synth = add_synth_arguments(data.add_parser("synth", help="generate the synthetic song corpus"))
    synth.set_defaults(handler=_data_synth)
    from .data.encode import add_encode_arguments, run_encode

    encode_data = add_encode_arguments(data.add_parser("encode", help="manifest -> codec codes (datasets save_to_disk)"))
    encode_data.set_defaults(handler=run_encode)
    from .data.tokenizers import add_tokenizer_arguments, run_tokenizers

    from .data.prepare.cli import add_prepare_arguments, run_prepare

    prepare = add_prepare_arguments(data.add_parser("prepare", help="a folder of your songs -> a training manifest "
                                                    "(separation, VAD slicing, lyrics, captions)"))
    prepare.set_defaults(handler=run_prepare)
    tokenizers = add_tokenizer_arguments(data.add_parser("tokenizers", help="train the description and lyrics tokenizers on a manifest"))
    tokenizers.set_defaults(handler=run_tokenizers)

    from .training.songgen_cli import add_train_arguments, run_train

    train_songgen = add_train_arguments(commands.add_parser("train", help="train one SongGen stage (accelerate)"))
    train_songgen.set_defaults(handler=run_train)
    from .training.lora_cli import add_finetune_lora_arguments, run_finetune_lora

    finetune = add_finetune_lora_arguments(
        commands.add_parser("finetune-lora", help="fine-tune a SongGen model with a LoRA adapter (PEFT)")
    )
    finetune.set_defaults(handler=run_finetune_lora)
    from .training.export import add_export_arguments, run_export

    export = add_export_arguments(commands.add_parser("export", help="a trained SongGen folder -> a compact release folder"))
    export.set_defaults(handler=run_export)
    from .evaluation.cli import add_evaluate_arguments, run_evaluate

    evaluate = add_evaluate_arguments(
        commands.add_parser("evaluate", help="weight-free controllability benchmark on held-out corpus prompts")
    )
    evaluate.set_defaults(handler=run_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .command_runner import run_command

    return run_command(build_parser(), None, argv)


if __name__ == "__main__":
    sys.exit(main())
