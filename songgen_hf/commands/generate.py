"""``songgen generate``: every input checked before the model loads, then the text-to-song pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from songgen_hf.commands.cli import CODEBOOK_TEMPERATURES_HELP, QUANTIZE_CHOICES
from songgen_hf.pipelines.loading import DEFAULT_MODEL_NAME, EMBEDDED_MODELS
from songgen_hf.utils.safe_files import read_text

AUDIO_OUTPUT_SUFFIXES = (".wav", ".flac", ".ogg")
STEM_NAMES = ("vocals", "accompaniment")


def _model_source(model: str | None) -> Path:
    """``--model`` as the folder the pipeline is prepared from (checked there): the embedded default without one,
    an official checkpoint's converted folder, a folder an interrupted export left half-renamed put back."""
    from songgen_hf.pipelines.loading import default_model_path, resolve_official
    from songgen_hf.utils.atomic import recover_directory

    if model is None:
        return default_model_path()
    if model.strip():
        recover_directory(Path(model))  # an export or a save killed between its renames: its complete copy goes back
    try:
        return Path(resolve_official(model)[0])
    except ValueError as error:
        raise ValueError(f"--model {error}") from None


def _check_output(output: Path, needed_bytes: int = 0, replace: bool | None = None, stems: bool = False) -> None:
    """The output's folder must exist: a typo in it should not silently create a new tree.  With ``replace`` given
    (``--overwrite``), a file already there (the song, or with ``stems`` a stem) is replaced only when the song's
    record proves songgen wrote it there, byte for byte, or when ``replace`` is true."""
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
    from songgen_hf.utils.atomic import check_writable

    if replace is False:
        targets = [output, *(stem_paths(output).values() if stems else ())]
        foreign = [path for path in targets if (path.exists() or path.is_symlink()) and not _proven(output, path)]
        if foreign:
            raise ValueError(
                f"--output {foreign[0]} already exists and songgen did not write it there (or it changed since); "
                "pass --overwrite to replace it, or choose another name."
            )
    # a probe write (os.access says yes to root on a read-only mount) and room for the song, before any work
    check_writable(output, "--output", needed_bytes)


def _proven(song_path: Path, path: Path) -> bool:
    """Whether the record beside the song at ``song_path`` vouches for ``path`` (the song or one of its stems) as
    songgen wrote it: a regular file of the size and SHA-256 the record lists."""
    from songgen_hf.utils.atomic import matches_proof
    from songgen_hf.utils.safe_files import read_json_object

    try:
        files = read_json_object(record_path(song_path), "the song's record", max_bytes=MAX_RECORD_BYTES).get("files")
        return isinstance(files, dict) and matches_proof(path, files.get(path.name))
    except (OSError, ValueError):
        return False


def stem_paths(output: Path) -> dict[str, Path]:
    """Where ``--stems`` writes each stem: ``OUT_vocals.wav`` beside ``OUT.wav``."""
    return {name: output.with_name(f"{output.stem}_{name}{output.suffix}") for name in STEM_NAMES}


def songgen_config(folder: Path):
    """The SongGen config of a model folder (an adapter's base's), read without weights; ``ValueError`` for
    another kind of folder."""
    from transformers import AutoConfig

    from songgen_hf.pipelines.adapter_folders import resolve_adapter_base
    from songgen_hf.pipelines.loading import is_adapter_folder

    config = AutoConfig.from_pretrained(resolve_adapter_base(folder) if is_adapter_folder(folder) else folder)
    if getattr(config, "model_type", None) != "songgen" or getattr(config, "decoder", None) is None:
        raise ValueError(f"{folder} is not a SongGen folder (model_type {config.model_type!r}).")
    return config


def _check_stems(folder: Path) -> None:
    """``--stems`` on a single-track model fails from the config alone, before any weights load."""
    decoder = songgen_config(folder).decoder
    if decoder.token_pattern().num_tracks < 2:
        raise ValueError(
            f"--stems needs a dual-track model, but {folder} uses the single-track {decoder.track_pattern!r} "
            "pattern (one mixed track); drop --stems."
        )


# ---------------------------------------------------------------------- the song's record
# A song this package writes travels with a small record beside it, ``SONG.wav.songgen.json``: what it was asked
# (description, lyrics, length, seed) and, for a song planned by its sections, where each section lies, so that a
# later edit can name a section ("chorus 2") and re-make it with its own words.  An edit's or an extension's output
# gets the record of its song with the edit added.
RECORD_SUFFIX = ".songgen.json"
MAX_RECORD_BYTES = 4 * 2**20


def record_path(song_path: str | Path) -> Path:
    """Where the record of the song at ``song_path`` lies: ``SONG.wav.songgen.json`` beside it."""
    song_path = Path(song_path)
    return song_path.with_name(song_path.name + RECORD_SUFFIX)


def song_record(song, duration_s: float | None, seed: int | None) -> dict:
    """The record of a song made from ``song`` (a prepared ``SongRequest``): what it was asked and its sections."""
    plan = (song.understood or {}).get("plan") or {}
    return {
        "description": song.description,
        "lyrics": song.lyrics,
        "duration_s": duration_s,
        "seed": seed,
        "sections": [
            {key: section[key] for key in ("section", "label", "start_s", "end_s", "lines") if key in section}
            for section in plan.get("sections") or ()
        ],
        "edits": [],
    }


def write_record(song_path: str | Path, record: dict) -> Path:
    """Write the record of the song at ``song_path`` atomically beside it."""
    import json

    from songgen_hf.utils.atomic import write_text_atomic

    return write_text_atomic(record_path(song_path), json.dumps(record, indent=2, ensure_ascii=False) + "\n")


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
    "window_s": "window",
    "context_s": "context",
    "anchor_s": "anchor",
    "repeat_sections": "repeat_sections",
    "repeat_whole_sections": "repeat_whole_sections",
    "window_starts_on_bars": "window_starts_on_bars",
}


def _generate(args: argparse.Namespace) -> int:

    # Every input is checked before the model loads: mistakes should not cost a generation.
    output = Path(args.output)
    # 16-bit stereo at 48 kHz for the asked length (a minute if not given), the stems beside it with --stems
    seconds = args.duration if isinstance(args.duration, (int, float)) and 0 < args.duration < 3600 else 60
    needed = int(seconds * 48_000 * 2 * 2 * (3 if args.stems else 1))
    _check_output(output, needed, replace=bool(args.overwrite), stems=bool(args.stems))
    lyrics = args.lyrics
    if args.lyrics_file is not None:
        lyrics_file = Path(args.lyrics_file)
        if not lyrics_file.exists():
            raise ValueError(f"--lyrics-file {lyrics_file} does not exist.")
        # far more than the longest lyrics (their characters are counted where they are checked): a bound on the read
        lyrics = read_text(lyrics_file, "--lyrics-file", max_bytes=2**20)
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
    folder = _model_source(args.model)
    from songgen_hf.pipelines.loading import is_resgen_folder_cheap as _is_resgen_folder

    resgen = _is_resgen_folder(folder)  # a ResGen pipeline folder: the same command, ResGen's sampler
    if resgen:
        for attribute, flag in _RESGEN_UNSUPPORTED.items():  # every one defaults to None: given means not None
            if getattr(args, attribute) is not None:
                raise ValueError(f"{flag} does not apply to a ResGen model ({folder}); drop it.")
        options = _RESGEN_OPTIONS
    else:
        if args.steps is not None:
            raise ValueError("--steps is for ResGen models (parallel decoding passes); SongGen decodes frame by frame.")
        from songgen_hf.commands.cli import parse_codebook_temperatures

        args.codebook_temperatures = parse_codebook_temperatures("--codebook-temperatures", args.codebook_temperatures)
        options = _GENERATION_OPTIONS
    generation = {key: getattr(args, attribute) for key, attribute in options.items()}
    names = {key: "--" + attribute.replace("_", "-") for key, attribute in options.items()}
    loading_options = {"seed": args.seed} if args.seed is not None else {}  # the songs' seed: the pipeline's
    if args.device is not None:
        loading_options["device"] = args.device
    if args.quantize is not None:
        loading_options["quantize"] = args.quantize
    if args.singer is not None:
        loading_options["singer"] = None if args.singer.strip().lower() == "none" else args.singer
    styles = {} if resgen else _adapter_options(args.adapter, folder)  # every adapter folder and weight
    if args.no_adapter_gate and not styles:
        raise ValueError("--no-adapter-gate applies to --adapter; give an adapter, or drop the flag.")
    gates = {}
    if styles:  # the song's adapter weighted by its description gate, as the pipeline weights it
        from songgen_hf.pipelines.adapters import check_adapters
        from songgen_hf.pipelines.description_gate import gated_choice

        check_adapters(styles["adapters"], None)  # the folders and their records, before any record is read
        asked = styles["adapter"]
        styles["adapter"], gates = gated_choice(styles["adapters"], asked, args.description, not args.no_adapter_gate)
    loading_options.update(styles)
    from songgen_hf.pipelines.text_to_song import prepare_pipeline

    # every check that needs no weights, once: the folder and its files, the device, the precision, the generation
    # arguments against the model's config and saved generation config (as generate() validates them)
    names.update({"model": "--model", "seed": "--seed", "device": "--device", "quantize": "--quantize"})
    arguments = prepare_pipeline(str(folder), generation=generation, names=names, **loading_options)
    if args.stems:
        _check_stems(folder)
    # the song prepared once by the folder's processor (checked, read, tokenised) before the weights load, and
    # planned by its sections for the asked length as the pipeline will plan it
    planned = ("duration_s", "window_s", "context_s", "repeat_sections", "repeat_whole_sections")
    planned += ("window_starts_on_bars",)
    from songgen_hf.pipelines.requests import prepare_song

    plan = {key: generation[key] for key in planned if generation.get(key) is not None}
    tempo = None if resgen else _style_tempo(folder, styles)
    song = prepare_song(arguments["processor"], song, **(plan if "duration_s" in plan else {}), style_tempo_bpm=tempo)
    if song.understood is not None:  # what was read from the description, said before the wait
        from songgen_hf.modeling.songgen.processing_songgen import format_understood

        print(format_understood(song.understood))
    from transformers import pipeline

    try:
        pipe = pipeline(**arguments)  # the weights, around the processor that prepared the song
    except OSError as error:  # missing/corrupt files: an input problem, not a crash
        kind = "ResGen" if resgen else "SongGen"
        raise ValueError(f"Could not load a {kind} model from {folder}: {error}") from error
    generation = {key: value for key, value in generation.items() if value is not None}
    if styles:
        generation["adapter_gate"] = False  # the gate was applied above, to the pipeline's adapter
    if resgen:
        from songgen_hf.modeling.resgen.arguments import DEFAULT_NUM_INFERENCE_STEPS

        steps = generation.get("num_inference_steps", DEFAULT_NUM_INFERENCE_STEPS)
        _run_and_write(pipe, song, _progress(steps, args.no_progress), generation, output, f" ({steps} passes)")
        return 0
    if styles:
        from songgen_hf.pipelines.adapters import describe_choice
        from songgen_hf.pipelines.description_gate import describe_gates

        gated = (
            f" (description gate: {describe_gates(gates)}; --no-adapter-gate for the adapter as asked)" if gates else ""
        )
        print(f"style: {describe_choice(styles['adapter'])}{gated}")
    if pipe.singer is not None and song.lyrics.strip():
        print(
            "vocals: re-sung by the told singer from a score composed for the request (--singer none: the "
            "decoder's own)"
        )
    quantized = getattr(pipe.model.config, "quantization_config", None)
    method = getattr(quantized, "quant_method", None)
    if args.quantize is None and method in ("songgen_int8", "songgen_bf16_heads"):
        what = "bfloat16 token heads" if method == "songgen_bf16_heads" else "int8 weights"
        what = "int8 token heads" if method == "songgen_int8" and quantized.heads_only else what
        print(f"decoder: {what}, this model's choice on a CPU (--quantize fp32 for float32)")
    from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps

    steps = expected_decoder_steps(pipe.model, args.duration, window_s=args.window, context_s=args.context)
    # the song's record beside it (what it was asked, its sections): `songgen edit --section` reads it
    record = song_record(song, args.duration, args.seed)
    progress = _progress(steps, args.no_progress)
    _run_and_write(pipe, song, progress, generation, output, stems=bool(args.stems), record=record)
    return 0


def _style_tempo(folder: Path, styles: dict) -> float | None:
    """The tempo the song is made at when its request names none: the chosen adapters' recorded tempo, or the adapter
    folder's given as ``--model`` (the pipeline asks the same function, so what is printed is what is made)."""
    from songgen_hf.pipelines.loading import is_adapter_folder

    if not styles and not is_adapter_folder(folder):
        return None  # a plain model: no adapter to ask
    from songgen_hf.pipelines.adapters import adapter_style_tempo, choice_style_tempo

    if styles:
        return choice_style_tempo(styles["adapters"], styles["adapter"])
    return adapter_style_tempo(folder)


def _adapter_options(given: list[str] | None, folder: Path) -> dict:
    """``--adapter DIR[=WEIGHT]`` (repeatable) as the pipeline's ``adapters`` and ``adapter`` (checked from the files
    by :func:`~songgen_hf.pipelines.prepare_pipeline`, before any weights load): one adapter at its full weight is
    that adapter, anything else the blend of them all."""
    if not given:
        return {}
    from songgen_hf.pipelines.adapters import named_adapters, parse_adapter_option
    from songgen_hf.pipelines.loading import is_adapter_folder

    if is_adapter_folder(folder):
        raise ValueError(
            f"--model {folder} is itself a LoRA adapter; give its base as --model and each adapter with --adapter."
        )
    parsed = [parse_adapter_option(text) for text in given]
    named = named_adapters([path for path, _ in parsed])  # each folder and the style checked with the pipeline's
    weights = {name: (1.0 if weight is None else weight) for name, (_, weight) in zip(named, parsed)}
    choice = next(iter(weights)) if len(weights) == 1 and parsed[0][1] is None else weights
    return {"adapters": named, "adapter": choice}


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
    "window": "--window",
    "context": "--context",
    "anchor": "--anchor",
    "repeat_sections": "--no-repeat-sections",
    "repeat_whole_sections": "--repeat-openings-only",
    "window_starts_on_bars": "--window-starts-mid-bar",
    "adapter": "--adapter",
}


def _progress(steps: int, no_progress: bool):
    """The job's progress from the first window to the written file: one bar on a terminal, one line per stage
    (``generating: window 2/6``, ``singing: window 3/6``, ``decoding audio``, ``writing``) with --no-progress or
    when stderr is no terminal (a log keeps every stage, never a bar's redraws)."""
    import sys

    from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress

    lines = no_progress or not sys.stderr.isatty()
    return GenerationProgress(total=steps, lines=lines, keep_open=True)


def _run_and_write(
    pipe, song, progress, generation: dict, output: Path, note: str = "", stems: bool = False, record=None
) -> dict:
    """Generate, write the song (and ``stems``, and its ``record`` beside it: ``SONG.wav.songgen.json``) atomically
    and say so (SongGen and ResGen alike); returns the pipeline's result.  A place that refuses the files (full
    disk, read-only) gets them written to a temporary folder instead, named in the error: a generated song is never
    lost."""
    import time

    from songgen_hf.utils.atomic import file_proof, write_or_rescue
    from songgen_hf.utils.audio_io import write_audio

    started = time.perf_counter()
    result = pipe(song, streamer=progress, **generation)
    elapsed = time.perf_counter() - started
    rate = result["sampling_rate"]

    def write(path: Path) -> None:
        written = {}
        for name, stem in stem_paths(path).items() if stems else ():
            write_audio(stem, result[name], rate)
            written[stem.name] = file_proof(stem)

        def record_staged(staged: Path) -> None:
            # the record, with the size and SHA-256 of every file written, lands just before the song appears, so
            # a later run can prove the song its own before replacing it (and refuse a file of yours)
            files = {**written, path.name: file_proof(staged)}
            write_record(path, {**(record if record is not None else {"edits": []}), "files": files})

        write_audio(path, result["audio"], rate, on_staged=record_staged)

    if progress is not None:
        progress.stage("writing")
    try:
        write_or_rescue(output, write, "song" + (" and its stems" if stems else ""))
    finally:
        if progress is not None:
            progress.close()
    seconds = result["audio"].shape[-1] / rate
    print(f"wrote {output}: {seconds:.2f} s of audio at {rate} Hz, generated in {elapsed:.1f} s{note}")
    for name, path in stem_paths(output).items() if stems else ():
        print(f"wrote {path} ({name})")
    return result


# ---------------------------------------------------------------------- the command's options
def add_generate_arguments(generate: argparse.ArgumentParser) -> None:
    generate.add_argument("--description", required=True, help="genre, mood, instruments, voice...")
    lyrics = generate.add_mutually_exclusive_group(required=True)
    lyrics.add_argument("--lyrics", help='the lyrics (lines separated by newlines; "" for an instrumental)')
    lyrics.add_argument("--lyrics-file", help="a UTF-8 text file with the lyrics")
    generate.add_argument("--reference-voice", help="audio file whose voice to imitate (voice-encoder models)")
    generate.add_argument("--voice-start", type=float, help="seconds into the reference voice where the clip starts")
    generate.add_argument(
        "--tempo-bpm", type=float, help="tempo for models with musical controls (default: from the description)"
    )
    generate.add_argument(
        "--key", help='key such as "F# minor", for models with musical controls (default: from the description)'
    )
    generate.add_argument(
        "--duration",
        type=float,
        help="the song's length in seconds, > 0 and at most the longest song (songgen info: 600); longer than "
        "the model's window, it is made window after window (--window, --context); default: the model's",
    )
    generate.add_argument(
        "--window",
        type=float,
        metavar="SECONDS",
        help="songs longer than the model's window: the seconds of each window, > 0 and at most the longest one "
        "pass makes (songgen info: longest_window_seconds; default: the model's window, songgen info: "
        "window_seconds, 10 s for songgen-tiny, the length it was trained on)",
    )
    generate.add_argument(
        "--context",
        type=float,
        metavar="SECONDS",
        help="songs longer than the model's window: the seconds of the previous window each window continues "
        "from, > 0 and shorter than --window (default: 0.4 of the window)",
    )
    generate.add_argument(
        "--anchor",
        type=float,
        metavar="SECONDS",
        help="songs longer than the model's window: the seconds of the song's opening each later window reads "
        "first, within its --context, so it keeps the song's key and tempo (0: none)",
    )
    generate.add_argument(
        "--no-repeat-sections",
        dest="repeat_sections",
        action="store_const",
        const=False,
        default=None,
        help="songs longer than the model's window: a repeated section (a chorus again) continues like any other "
        "window, rather than playing its first occurrence's music again",
    )
    generate.add_argument(
        "--repeat-openings-only",
        dest="repeat_whole_sections",
        action="store_const",
        const=False,
        default=None,
        help="songs longer than the model's window: a repeated section opens with its first occurrence's first "
        "seconds and goes its own way after them, rather than playing its first occurrence's accompaniment for its "
        "whole length (the default)",
    )
    generate.add_argument(
        "--window-starts-mid-bar",
        dest="window_starts_on_bars",
        action="store_const",
        const=False,
        default=None,
        help="songs longer than the model's window: each later window starts where the stride puts it, its beat "
        "counted on from the song's, rather than on a bar line of the asked tempo (the default, as training crops "
        "start)",
    )
    generate.add_argument(
        "--min-duration",
        type=float,
        help="let the song end earlier, when the model ends it, but not before this many seconds "
        "(0 to --duration; default: the song is exactly --duration long)",
    )
    generate.add_argument("--guidance-scale", type=float, help="classifier-free guidance, 1 (off) to 100")
    generate.add_argument(
        "--control-guidance-scale",
        type=float,
        help="further guidance towards the tempo, key and arrangement alone, 0 (off) to 100; for "
        "models trained with control_dropout_prob (1.5x the decoding work)",
    )
    generate.add_argument("--codebook-temperatures", nargs="+", metavar="TRACK=T,...", help=CODEBOOK_TEMPERATURES_HELP)
    generate.add_argument(
        "--silence-instrumental-vocals",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="dual-track models with an arrangement control: hold the vocal track at the codec's "
        "codes of silence when the description asks for an instrumental (default: on where the "
        "model can; --no-silence-instrumental-vocals leaves the vocal track to the model)",
    )
    generate.add_argument(
        "--singer",
        metavar="FOLDER|none",
        help="dual-track models: the told singer that re-sings the vocal track from a score composed "
        "for the request (a `songgen train-singer` folder); none keeps the decoder's own vocals "
        "(default: the model folder's singer/, if it has one)",
    )
    generate.add_argument(
        "--temperature",
        type=float,
        help="sampling temperature, > 0; lower is safer, higher more varied (default: the model's)",
    )
    generate.add_argument(
        "--top-k", type=int, help="sample among the K likeliest tokens, 0 = all (default: the model's)"
    )
    generate.add_argument(
        "--cache",
        help="decoding cache: preallocated (default, fastest without compile), static "
        "(fixed shapes, for torch.compile / CUDA graphs) or dynamic",
    )
    generate.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="decoder precision: int8 weights (on a CPU PyTorch's packed kernel; on a GPU torchao, "
        'pip install -e ".[quantize]"), int8-heads (the token heads only), bf16-heads (the token heads in '
        "bfloat16, where it is native), bfloat16, or fp32; the codec stays float32 (default: the model's "
        "recommendation on a CPU, songgen-tiny's bf16-heads, or int8-heads without native bfloat16, else fp32)",
    )
    generate.add_argument(
        "--top-p",
        type=float,
        help="nucleus sampling: the likeliest tokens up to this total probability, in (0, 1] (default: the model's)",
    )
    generate.add_argument("--steps", type=int, help="ResGen models: parallel decoding passes (default 16)")
    generate.add_argument("--seed", type=int, help="make the song reproducible (0 to 2**64 - 1)")
    generate.add_argument(
        "--stems",
        action="store_true",
        default=None,
        help="also write OUT_vocals / OUT_accompaniment (dual-track models)",
    )
    generate.add_argument("--output", default="song.wav", help=".wav, .flac or .ogg (default: song.wav)")
    generate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output that songgen did not write there (a song it wrote is replaced anyway: "
        "its record beside it proves it)",
    )
    embedded = "; ".join(f"{name}, {what}" for name, what in EMBEDDED_MODELS.items())
    generate.add_argument(
        "--model",
        help="SongGen folder or Hub id, a ResGen pipeline folder, or an embedded model's name "
        f"({embedded}); an official SongGen one (LiuZH-19/SongGen_*) "
        f"is converted once and cached (default: {DEFAULT_MODEL_NAME})",
    )
    generate.add_argument(
        "--adapter",
        action="append",
        metavar="DIR[=WEIGHT]",
        help="a LoRA adapter folder of the model (songgen finetune-lora's .../final) to sing in its style, at "
        "WEIGHT (default 1; 0 = the base); repeat it to blend styles, e.g. --adapter a/final=0.7 --adapter b/final=0.3",
    )
    generate.add_argument(
        "--no-adapter-gate",
        action="store_true",
        help="apply --adapter at the weight asked whatever the description; by default an adapter that records its "
        "training descriptions is weighted by how close the description is to them (0 = the base's song)",
    )
    generate.add_argument("--device", help="cpu, cuda, cuda:1... (default: first GPU if any)")
    generate.add_argument(
        "--no-progress", action="store_true", help="no progress bar: one line per stage instead (as in a log)"
    )
    generate.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the generation (default: SONGGEN_NUM_THREADS or OMP_NUM_THREADS if "
        "set, else the cores other programs are not keeping busy, at least 1)",
    )
    generate.set_defaults(handler=_generate_with_threads)


def _generate_with_threads(args: argparse.Namespace) -> int:
    """``songgen generate``, its generation on ``--threads`` threads (checked first) or the thread policy's."""
    from songgen_hf.utils.threads import thread_request

    with thread_request(args.threads, "--threads"):  # checked; the pipeline applies it as generation starts
        return _generate(args)


# the command -> its options (songgen_hf.commands.cli lists it)
COMMANDS = {"generate": add_generate_arguments}
