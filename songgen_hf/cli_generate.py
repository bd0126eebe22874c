"""``songgen generate``: every input checked before the model loads, then the text-to-song pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

AUDIO_OUTPUT_SUFFIXES = (".wav", ".flac", ".ogg")
STEM_NAMES = ("vocals", "accompaniment")


def _model_folder(model: str | None) -> Path:
    from songgen_hf.atomic import recover_directory
    from songgen_hf.pipelines.model_folders import model_folder_or_default

    if model is not None and model.strip():
        recover_directory(Path(model))  # an export or a save killed between its renames: its complete copy goes back
    return model_folder_or_default(model)


def _check_output(output: Path, needed_bytes: int = 0) -> None:
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
    from songgen_hf.atomic import check_writable

    # a probe write (os.access says yes to root on a read-only mount) and room for the song, before any work
    check_writable(output, "--output", needed_bytes)


def stem_paths(output: Path) -> dict[str, Path]:
    """Where ``--stems`` writes each stem: ``OUT_vocals.wav`` beside ``OUT.wav``."""
    return {name: output.with_name(f"{output.stem}_{name}{output.suffix}") for name in STEM_NAMES}


def _check_stems(folder: Path) -> None:
    """``--stems`` on a single-track model fails from the config alone, before any weights load."""
    from transformers import AutoConfig

    from songgen_hf.adapter_base import is_adapter_folder, resolve_adapter_base

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
_GENERATION_OPTIONS = {
    "duration_s": "duration",
    "min_duration_s": "min_duration",
    "guidance_scale": "guidance_scale",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "cache_implementation": "cache",
    "control_guidance_scale": "control_guidance_scale",
    "silence_instrumental_vocals": "silence_instrumental_vocals",
    "codebook_temperatures": "codebook_temperatures",
}
_GENERATION_FLAGS = {key: "--" + attribute.replace("_", "-") for key, attribute in _GENERATION_OPTIONS.items()}


def _checked_processor(folder: Path, song: dict):
    """The folder's processor, after it has prepared ``song`` once: lyric and reference-voice
    mistakes (too long, unknown characters, silent or short voice...) surface before the weights load."""
    from songgen_hf.pipelines.text_to_song import parse_song
    from songgen_hf.processing.processor import SongGenProcessor

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

    # Every input is checked before the model loads: mistakes should not cost a generation.
    output = Path(args.output)
    # 16-bit stereo at 48 kHz for the asked length (a minute if not given), the stems beside it with --stems
    seconds = args.duration if isinstance(args.duration, (int, float)) and 0 < args.duration < 3600 else 60
    _check_output(output, int(seconds * 48_000 * 2 * 2 * (3 if args.stems else 1)))
    lyrics = args.lyrics
    if args.lyrics_file is not None:
        lyrics_file = Path(args.lyrics_file)
        if not lyrics_file.is_file():
            raise ValueError(f"--lyrics-file {lyrics_file} does not exist.")
        try:
            lyrics = lyrics_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"--lyrics-file {lyrics_file} is not UTF-8 text ({error.reason}); save it as UTF-8."
            ) from None
    if not args.description.strip() and not (lyrics or "").strip():
        raise ValueError(
            "--description and the lyrics are both empty; describe the song (genre, mood, instruments, voice)."
        )
    song = {"description": args.description, "lyrics": lyrics}
    if args.no_progress:  # transformers' "Loading weights" bar too
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
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
    from songgen_hf.pipelines.checks import (
        check_device,
        check_model_files_and_arguments,
        check_seed,
        check_text_lengths,
    )

    check_text_lengths(args.description, lyrics or "")  # a huge paste is refused before anything else runs
    check_seed(args.seed, "--seed")
    check_device(args.device, "--device")
    from songgen_hf.modeling.songgen.quantization import check_quantize

    check_quantize(args.quantize, args.device, "--quantize")  # on this platform, before any weights load
    folder = _model_folder(args.model)
    from songgen_hf.pipelines.model_folders import is_resgen_folder_cheap as _is_resgen_folder

    if _is_resgen_folder(folder):  # a ResGen pipeline folder: the same command, ResGen's sampler
        return _generate_resgen(args, folder, song, output)
    if args.steps is not None:
        raise ValueError("--steps is for ResGen models (parallel decoding passes); SongGen decodes frame by frame.")
    from songgen_hf.arguments import parse_codebook_temperatures

    args.codebook_temperatures = parse_codebook_temperatures("--codebook-temperatures", args.codebook_temperatures)
    generation = {key: getattr(args, attribute) for key, attribute in _GENERATION_OPTIONS.items()}
    check_model_files_and_arguments(folder, generation, _GENERATION_FLAGS)  # durations vs the model's longest
    if args.stems:
        _check_stems(folder)
    processor = _checked_processor(folder, song)
    if hasattr(processor, "interpret"):  # what was read from the description, said before the wait
        from songgen_hf.pipelines.understood import format_understood

        print(
            format_understood(processor.interpret(song["description"], song["lyrics"] or "", args.tempo_bpm, args.key))
        )

    from songgen_hf.pipelines import GenerationProgress, expected_decoder_steps, load_text_to_song_pipeline

    options = {"device": args.device} if args.device is not None else {}
    if args.quantize is not None:
        options["quantize"] = args.quantize
    if args.singer is not None:
        options["singer"] = None if args.singer.strip().lower() == "none" else args.singer
    try:
        pipe = load_text_to_song_pipeline(str(folder), processor=processor, **options)
    except OSError as error:  # missing/corrupt files: an input problem, not a crash
        raise ValueError(f"Could not load a SongGen model from {folder}: {error}") from error
    if pipe.singer is not None and (song["lyrics"] or "").strip():
        print(
            "vocals: re-sung by the told singer from a score composed for the request (--singer none: the "
            "decoder's own)"
        )
    quantized = getattr(pipe.model.config, "quantization_config", None)
    if args.quantize is None and getattr(quantized, "quant_method", None) == "songgen_int8":
        what = "int8 token heads" if quantized.heads_only else "int8 weights"
        print(f"decoder: {what}, this model's choice on a CPU (--quantize fp32 for float32)")
    generation = {key: value for key, value in generation.items() if value is not None}
    progress = GenerationProgress(total=expected_decoder_steps(pipe.model, args.duration), disable=args.no_progress)
    _run_and_write(pipe, song, args.seed, progress, generation, output, stems=bool(args.stems))
    return 0


_RESGEN_OPTIONS = {
    "num_inference_steps": "steps",
    "duration_s": "duration",
    "guidance_scale": "guidance_scale",
    "temperature": "temperature",
    "top_p": "top_p",
}
_RESGEN_UNSUPPORTED = {
    "min_duration": "--min-duration",
    "top_k": "--top-k",
    "cache": "--cache",
    "stems": "--stems",
    "quantize": "--quantize",
    "control_guidance_scale": "--control-guidance-scale",
    "silence_instrumental_vocals": "--[no-]silence-instrumental-vocals",
    "codebook_temperatures": "--codebook-temperatures",
    "singer": "--singer",
}


def _generate_resgen(args: argparse.Namespace, folder: Path, song: dict, output: Path) -> int:
    """``songgen generate`` for a ResGen folder, through the text-to-song pipeline like SongGen."""

    from transformers import AutoConfig

    from songgen_hf.modeling.resgen import check_resgen_arguments
    from songgen_hf.modeling.resgen.arguments import DEFAULT_NUM_INFERENCE_STEPS
    from songgen_hf.pipelines import GenerationProgress, load_text_to_song_pipeline

    for attribute, flag in _RESGEN_UNSUPPORTED.items():  # every one defaults to None: given means not None
        if getattr(args, attribute) is not None:
            raise ValueError(f"{flag} does not apply to a ResGen model ({folder}); drop it.")
    generation = {key: getattr(args, attribute) for key, attribute in _RESGEN_OPTIONS.items()}
    flags = {key: "--" + attribute.replace("_", "-") for key, attribute in _RESGEN_OPTIONS.items()}
    check_resgen_arguments(generation, AutoConfig.from_pretrained(folder), flags)
    processor = _checked_processor(folder / "processor", song)  # lyric mistakes surface before the weights load
    if hasattr(processor, "interpret"):
        from songgen_hf.pipelines.understood import format_understood

        print(
            format_understood(processor.interpret(song["description"], song["lyrics"] or "", args.tempo_bpm, args.key))
        )
    options = {"device": args.device} if args.device is not None else {}
    try:
        pipe = load_text_to_song_pipeline(str(folder), processor=processor, **options)
    except OSError as error:
        raise ValueError(f"Could not load a ResGen model from {folder}: {error}") from error
    generation = {key: value for key, value in generation.items() if value is not None}
    steps = generation.get("num_inference_steps", DEFAULT_NUM_INFERENCE_STEPS)
    progress = GenerationProgress(total=steps, disable=args.no_progress)
    _run_and_write(pipe, song, args.seed, progress, generation, output, f" ({steps} passes)")
    return 0


def _run_and_write(
    pipe, song: dict, seed, progress, generation: dict, output: Path, note: str = "", stems: bool = False
) -> dict:
    """Generate, write the song (and ``stems``) atomically and say so (SongGen and ResGen alike); returns the
    pipeline's result.  A place that refuses the files (full disk, read-only) gets them written to a temporary
    folder instead, named in the error: a generated song is never lost."""
    import time

    from songgen_hf.atomic import write_or_rescue
    from songgen_hf.audio_io import write_audio

    started = time.perf_counter()
    result = pipe(song, seed=seed, streamer=progress, **generation)
    elapsed = time.perf_counter() - started
    rate = result["sampling_rate"]

    def write(path: Path) -> None:
        write_audio(path, result["audio"], rate)
        for name, stem in stem_paths(path).items() if stems else ():
            write_audio(stem, result[name], rate)

    write_or_rescue(output, write, "song" + (" and its stems" if stems else ""))
    seconds = result["audio"].shape[-1] / rate
    print(f"wrote {output}: {seconds:.2f} s of audio at {rate} Hz, generated in {elapsed:.1f} s{note}")
    for name, path in stem_paths(output).items() if stems else ():
        print(f"wrote {path} ({name})")
    return result
