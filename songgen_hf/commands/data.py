"""``songgen data``: the corpus commands (synth, encode, prepare, tokenizers, excerpts); each command's options,
their checks and its handler.  The work itself is in :mod:`songgen_hf.data`, imported when a command runs."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from songgen_hf.commands.cli import add_codec_arguments

# Defaults the options show that are defined beside code which imports numpy or torch (the encoder's stems,
# data.excerpts.DEFAULT_FIELDS, the prepare stages' models and thresholds): named here so that the parser imports
# neither; a test compares each with its source.
STEM_NAMES = ("accompaniment", "vocals")  # songgen_hf.data.encode.STEM_COLUMNS's keys
EXCERPT_FIELDS = ("audio_path", "vocal_path", "accompaniment_path")
DEFAULT_SEPARATION_MODEL = "htdemucs"
DEFAULT_ASR_MODEL = "openai/whisper-small"
SECOND_ASR_MODEL = "openai/whisper-base"
DEFAULT_CLAP_MODEL = "laion/clap-htsat-unfused"
DEFAULT_MAX_EDIT_DISTANCE = 0.2
DEFAULT_MIN_VOCAL_ENERGY = 10.0
DEFAULT_HQ_VOCAL_ENERGY = 50.0


# ---------------------------------------------------------------------- data synth
def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--output", required=True, help="corpus folder (created if missing)")
    parser.add_argument("--num-clips", type=int, default=1000, help="total clips, test split included")
    parser.add_argument("--seed", type=int, default=0, help="the same seed writes the same clips (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (at most 4 per CPU core)")
    parser.add_argument("--min-duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--max-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--sampling-rate", type=int, default=16000, help="Hz of the written audio (default 16000)")
    parser.add_argument("--test-fraction", type=float, default=0.0, help="held-out share written to test.jsonl")
    parser.add_argument("--overwrite", action="store_true", help="regenerate clips that are already complete")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v2 = parser.add_argument_group(
        "corpus v2 and v3 (docs/synthetic_corpus.md); the knobs need --corpus-version 2 or 3"
    )
    v2.add_argument(
        "--corpus-version",
        type=int,
        choices=(1, 2, 3),
        default=1,
        help="1: the corpus songgen-tiny v4 was built on (default); 2: instrumentals, drumless songs, "
        "60-180 BPM, DC-free stems, more caption phrasings; 3: v2 with the accompaniment of songs "
        "below 90 BPM on the beat, so that they do not read at double tempo",
    )
    v2.add_argument("--instrumental-share", type=float, default=None, help="share of instrumentals (default 0.2)")
    v2.add_argument("--drumless-share", type=float, default=None, help="share of songs without drums (default 0.2)")
    v2.add_argument(
        "--tempo-range",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=None,
        help="tempo range in BPM (default 60 180)",
    )
    v2.add_argument("--slow-share", type=float, default=None, help="share of tempos below 90 BPM (default 0.3)")
    v2.add_argument(
        "--transpose-range",
        type=int,
        default=None,
        metavar="R",
        help="transposed copies: the same songs (same --seed, --num-clips, ...) each moved by 1 to R "
        "semitones up or down, the caption naming the new key (0 to 6; e.g. 4)",
    )
    v2.add_argument(
        "--style",
        default=None,
        metavar="NAME",
        help="every song in one style: a corpus genre (pop, rock, ...) or a style no corpus draws (calypso: "
        "steel drums, marimba, tuba and hand percussion; gospel: 12/8, every part on triplet eighths; bass_choir: "
        "three low male voices singing together; harp_five: 5/4 on harp or celesta, pizzicato or bassoon and "
        "wood blocks, two female voices together), e.g. for a LoRA's style set",
    )
    parser.set_defaults(handler=run_synth)
    return parser


V2_OPTIONS = ("instrumental_share", "drumless_share", "tempo_range", "slow_share", "transpose_range", "style")


def v2_options(args: argparse.Namespace) -> dict:
    """The v2 knobs given on the command line, as ``synthesize_corpus`` keywords."""
    given = {name: getattr(args, name, None) for name in V2_OPTIONS}
    options = {name: value for name, value in given.items() if value is not None and name != "tempo_range"}
    if given["tempo_range"] is not None:
        options["min_tempo"], options["max_tempo"] = given["tempo_range"]
    return options


# fluidsynth's accepted synth.sample-rate range
SAMPLING_RATE_RANGE = (8000, 96000)
# the longest clip worth rendering: a whole song; clips are rendered in memory at once
MAX_CLIP_SECONDS = 600.0


def check_synth_arguments(args: argparse.Namespace) -> None:
    """Every ``songgen data synth`` option, checked before any clip is planned or rendered."""
    import os
    from pathlib import Path

    from songgen_hf.commands.cli import check_count, check_number, check_path_given
    from songgen_hf.data.synth.corpus import MIN_MAX_DURATION
    from songgen_hf.modeling.limits import MAX_CORPUS_CLIPS

    check_path_given("--output", args.output)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(
            f"--output {output} is a file; give the corpus folder to create (or an existing corpus folder)."
        )
    check_count(
        "--num-clips",
        args.num_clips,
        minimum=1,
        maximum=MAX_CORPUS_CLIPS,
        why="A corpus is a list of clips planned in memory; make larger corpora in several folders.",
    )
    cores = os.cpu_count() or 1  # a little oversubscription is harmless; thousands of forks are not
    check_count(
        "--workers",
        args.workers,
        minimum=1,
        maximum=4 * cores,
        why=f"This machine has {cores} CPU core(s); more worker processes only add memory.",
    )
    check_count("--seed", args.seed, minimum=0, maximum=2**63 - 1)
    check_count(
        "--sampling-rate",
        args.sampling_rate,
        minimum=SAMPLING_RATE_RANGE[0],
        maximum=SAMPLING_RATE_RANGE[1],
        why="e.g. --sampling-rate 16000 (the codec's rate).",
    )
    check_number("--min-duration", args.min_duration, above=0, maximum=MAX_CLIP_SECONDS, example=5)
    check_number("--max-duration", args.max_duration, minimum=MIN_MAX_DURATION, maximum=MAX_CLIP_SECONDS, example=15)
    if args.min_duration > args.max_duration:
        raise ValueError(
            f"--min-duration {args.min_duration:g} exceeds --max-duration {args.max_duration:g}; swap them or lower it."
        )
    check_number("--test-fraction", args.test_fraction, minimum=0, below=1, example=0.1)
    given = [f"--{name.replace('_', '-')}" for name in V2_OPTIONS if getattr(args, name, None) is not None]
    version = getattr(args, "corpus_version", 1)
    if given and version == 1:
        raise ValueError(f"{', '.join(given)} only apply to corpus v2 and v3; add --corpus-version 2 or drop them.")
    if version >= 2:
        from songgen_hf.data.synth.corpus import CorpusConfig
        from songgen_hf.data.synth.corpus_v2 import check_v2_config

        for name in ("instrumental_share", "drumless_share", "slow_share"):
            if getattr(args, name) is not None:
                check_number(f"--{name.replace('_', '-')}", getattr(args, name), minimum=0, maximum=1, example=0.2)
        if getattr(args, "transpose_range", None) is not None:
            from songgen_hf.data.synth.corpus_v2 import MAX_TRANSPOSE

            check_count(
                "--transpose-range",
                args.transpose_range,
                minimum=0,
                maximum=MAX_TRANSPOSE,
                why="Semitones each song moves at most, e.g. --transpose-range 4.",
            )
        check_v2_config(CorpusConfig(corpus_version=version, **v2_options(args)))
    from songgen_hf.utils.atomic import check_writable

    # 16-bit WAVs of the mix and up to three stems per clip, at the clips' mean length: said now, not mid-corpus
    mean_seconds = (args.min_duration + args.max_duration) / 2
    needed = int(args.num_clips * mean_seconds * args.sampling_rate * 2 * 4)
    check_writable(output / "manifest.jsonl", "--output", needed)


def run_synth(args: argparse.Namespace) -> int:
    from songgen_hf.data.synth.corpus import synthesize_corpus
    from songgen_hf.data.synth.tools import SystemToolsMissingError

    check_synth_arguments(args)
    started = time.perf_counter()
    try:
        manifest = synthesize_corpus(
            args.output,
            args.num_clips,
            seed=args.seed,
            num_workers=args.workers,
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            sampling_rate=args.sampling_rate,
            overwrite=args.overwrite,
            test_fraction=args.test_fraction,
            progress=not args.no_progress,
            corpus_version=getattr(args, "corpus_version", 1),
            **v2_options(args),
        )
    except SystemToolsMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    rate = args.num_clips / elapsed if elapsed > 0 else float("inf")
    print(f"wrote {manifest} ({args.num_clips} clips in {elapsed:.1f}s, {rate:.2f} clips/s incl. skipped)")
    return 0


# the corpus renderer (FluidSynth, espeak-ng, numpy) loads no model: it starts without torch and transformers
run_synth.needs_models = False


# ---------------------------------------------------------------------- data encode
def add_encode_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "manifest", help="JSONL manifest (audio_path / vocal_path / accompaniment_path, caption, lyrics)"
    )
    parser.add_argument(
        "--codec",
        required=True,
        help="X-Codec folder, or a SongGen folder (its codec; songgen-tiny = the embedded model)",
    )
    parser.add_argument("--output", required=True, help="dataset folder to create (save_to_disk layout)")
    add_codec_arguments(parser, "encode clips")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per codec forward (1-64)")
    parser.add_argument("--shard-size", type=int, default=64, help="records per resumable shard (1-256)")
    parser.add_argument(
        "--voice-clip-seconds",
        type=float,
        default=3.0,
        help="length of the reference-voice clip kept per record (default 3)",
    )
    parser.add_argument(
        "--stems",
        nargs="*",
        choices=STEM_NAMES,
        default=list(STEM_NAMES),
        help="stems to encode besides the mix (default: all listed; mixed pro needs only vocals)",
    )
    parser.add_argument(
        "--no-silent-vocals",
        action="store_true",
        help="leave instrumentals (no vocal stem, no lyrics) without vocal codes instead of silent ones",
    )
    parser.add_argument("--min-duration", type=float, default=None, help="seconds (SongGen kept > 2 s)")
    parser.add_argument(
        "--max-duration", type=float, default=None, help="seconds (SongGen kept < 30 s; default and upper bound: 1200)"
    )
    parser.add_argument("--max-caption-chars", type=int, default=None, help="SongGen kept < 600")
    parser.add_argument(
        "--refuse-wrong-rate", action="store_true", help="skip files not at the codec's rate instead of resampling them"
    )
    parser.add_argument(
        "--on-error",
        choices=("skip", "raise"),
        default="skip",
        help="a clip that fails to encode: skip it and list it (default), or stop",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output and discard unfinished work"
    )
    parser.add_argument("--keep-shards", action="store_true", help="keep OUTPUT.partial/ after assembly")
    parser.add_argument("--mix", type=int, default=0, metavar="N", help="add N mixing-augmented records")
    parser.add_argument("--mix-seed", type=int, default=0, help="seed of the mixing augmentation (default 0)")
    parser.add_argument(
        "--mix-snr",
        type=float,
        nargs=2,
        default=(-5.0, 5.0),
        metavar=("LOW", "HIGH"),
        help="dB range of the level between the two mixed songs (default -5 5)",
    )
    parser.add_argument(
        "--mix-min-overlap",
        type=float,
        default=0.5,
        help="least share of the shorter song the mix overlaps, in (0, 1] (default 0.5)",
    )
    parser.add_argument(
        "--mix-lyrics",
        choices=("louder", "join"),
        default="louder",
        help="a mix's lyrics: the louder song's (default) or both joined",
    )
    parser.set_defaults(handler=run_encode)
    return parser


def check_encode_arguments(args: argparse.Namespace) -> None:
    """Every ``songgen data encode`` option, checked before the manifest is read or the codec loads.

    Without ``--max-duration`` clips longer than ``MAX_CODEC_AUDIO_SECONDS`` are skipped (measured
    from the file header), and without ``--chunk-seconds`` clips above ``CODEC_AUTO_CHUNK_SECONDS``
    are encoded in chunks of that length: no single file can exhaust memory."""

    from songgen_hf.commands.cli import (
        check_codec_arguments,
        check_count,
        check_number,
        check_output_spares_inputs,
        check_path_given,
    )
    from songgen_hf.conversion.checkpoint_files import read_codec_config
    from songgen_hf.modeling.limits import (
        CODEC_AUTO_CHUNK_SECONDS,
        MAX_BATCH_SIZE,
        MAX_CODEC_AUDIO_SECONDS,
        MAX_CORPUS_CLIPS,
        MAX_ENCODE_SHARD_SIZE,
    )

    for flag, value in (("MANIFEST", args.manifest), ("--codec", args.codec), ("--output", args.output)):
        check_path_given(flag, value)
    manifest = Path(args.manifest)
    if not manifest.exists():
        raise ValueError(f"MANIFEST {manifest} does not exist; pass a JSONL manifest (one record per line).")
    if not manifest.is_file():
        raise ValueError(
            f"MANIFEST {manifest} is a folder; pass the JSONL manifest file inside it (e.g. manifest.jsonl)."
        )
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give the name of a dataset folder to create.")
    check_output_spares_inputs("--output", output, {"MANIFEST": manifest, "--codec": args.codec})
    from songgen_hf.utils.atomic import check_replaceable, check_writable

    check_replaceable(output, args.overwrite, "--output")  # before the codec loads: never the user's own folder
    check_writable(output, "--output")
    check_count("--batch-size", args.batch_size, maximum=MAX_BATCH_SIZE)
    check_count(
        "--shard-size", args.shard_size, maximum=MAX_ENCODE_SHARD_SIZE, why="A shard's audio is held in memory at once."
    )
    check_number("--voice-clip-seconds", args.voice_clip_seconds, above=0, maximum=60, example=3)
    check_number("--min-duration", args.min_duration, minimum=0, maximum=MAX_CODEC_AUDIO_SECONDS, example=2)
    check_number("--max-duration", args.max_duration, above=0, maximum=MAX_CODEC_AUDIO_SECONDS, example=30)
    check_count("--max-caption-chars", args.max_caption_chars, minimum=1)
    check_count("--mix", args.mix, minimum=0, maximum=MAX_CORPUS_CLIPS)
    check_count("--mix-seed", args.mix_seed, minimum=0, maximum=2**63 - 1)
    for value in args.mix_snr:
        check_number("--mix-snr", value, minimum=-60, maximum=60, example="-5 5")
    if args.mix_snr[0] > args.mix_snr[1]:
        raise ValueError(f"--mix-snr LOW HIGH: LOW {args.mix_snr[0]:g} exceeds HIGH {args.mix_snr[1]:g}; swap them.")
    if args.min_duration is not None and args.max_duration is not None and args.min_duration > args.max_duration:
        raise ValueError(
            f"--min-duration {args.min_duration:g} exceeds --max-duration {args.max_duration:g}; swap them."
        )
    check_number("--mix-min-overlap", args.mix_min_overlap, above=0, maximum=1, example=0.5)
    config = read_codec_config(args.codec, flag="--codec", songgen_codec=True)
    check_codec_arguments(args, config)
    if args.max_duration is None:
        args.max_duration = MAX_CODEC_AUDIO_SECONDS
    if args.chunk_seconds is None:
        args.chunk_seconds = CODEC_AUTO_CHUNK_SECONDS


def run_encode(args: argparse.Namespace) -> int:
    from songgen_hf.data.encode import EncodeOptions, encode_manifest, read_encoding_info
    from songgen_hf.data.manifest import ValidationOptions
    from songgen_hf.data.mixing import MixingOptions

    check_encode_arguments(args)
    options = EncodeOptions(
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        bandwidth=args.bandwidth,
        chunk_seconds=args.chunk_seconds,
        voice_clip_seconds=args.voice_clip_seconds,
        stems=tuple(args.stems),
        silent_vocals_for_instrumentals=not args.no_silent_vocals,
        on_error=args.on_error,
        overwrite=args.overwrite,
        keep_shards=args.keep_shards,
        validation=ValidationOptions(
            wrong_rate="refuse" if args.refuse_wrong_rate else "resample",
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            max_caption_chars=args.max_caption_chars,
        ),
        mixing=MixingOptions(
            num_mixes=args.mix,
            seed=args.mix_seed,
            snr_db_range=tuple(args.mix_snr),
            min_overlap=args.mix_min_overlap,
            lyrics=args.mix_lyrics,
        ),
    )
    output = encode_manifest(args.manifest, args.codec, args.output, options)
    if output is not None:
        info = read_encoding_info(output)
        validation = info["validation"]
        print(
            f"wrote {output}: {info['num_rows']} rows ({info['num_augmented']} augmented); manifest "
            f"{validation['ok']}/{validation['total']} ok, skipped {validation['reasons'] or 'none'}; "
            f"{len(info['encode_failures'])} failed to encode"
        )
    return 0


# ---------------------------------------------------------------------- data prepare
def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_prepare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "songs",
        metavar="SONGS",
        help="folder of audio files (wav, flac, mp3, ogg; any rate and channels); "
        "NAME.txt beside a song gives its lyrics, NAME.tags.txt / tags.txt its tags",
    )
    parser.add_argument(
        "--output", required=True, metavar="CORPUS", help="corpus folder (manifest.jsonl, audio/, work/)"
    )
    parser.add_argument(
        "--separation-model",
        default=DEFAULT_SEPARATION_MODEL,
        help=f"demucs model name (Hub: adefossez/...), folder or file (default {DEFAULT_SEPARATION_MODEL})",
    )
    parser.add_argument(
        "--trust-separation-model",
        action="store_true",
        help="allow a --separation-model Hub id outside the known publishers (adefossez); its files "
        "are still read as data only",
    )
    parser.add_argument(
        "--asr-model",
        default=DEFAULT_ASR_MODEL,
        help=f"speech recogniser, Hub id or folder (default {DEFAULT_ASR_MODEL})",
    )
    parser.add_argument(
        "--second-asr-model",
        default=SECOND_ASR_MODEL,
        help=(
            f"second recogniser for the edit-distance filter; 'none' turns the filter off (default {SECOND_ASR_MODEL})"
        ),
    )
    parser.add_argument(
        "--clap-model",
        default="auto",
        help=f"CLAP model for the caption filter; 'auto' = {DEFAULT_CLAP_MODEL} when available, 'none' = off",
    )
    parser.add_argument(
        "--max-edit-distance",
        type=_number,
        default=DEFAULT_MAX_EDIT_DISTANCE,
        help="drop clips whose two transcripts differ by more than this fraction of words (default 0.2)",
    )
    parser.add_argument(
        "--min-clap-score", type=_number, default=0.0, help="drop clips below this CLAP similarity (default 0)"
    )
    parser.add_argument(
        "--min-vocal-energy",
        type=_number,
        default=DEFAULT_MIN_VOCAL_ENERGY,
        help=f"drop clips with less vocal energy (mean square x 1e4; default {DEFAULT_MIN_VOCAL_ENERGY:g})",
    )
    parser.add_argument(
        "--hq-vocal-energy",
        type=_number,
        default=DEFAULT_HQ_VOCAL_ENERGY,
        help=f"vocal energy above which a clip can be HQ (default {DEFAULT_HQ_VOCAL_ENERGY:g})",
    )
    parser.add_argument("--min-clip-seconds", type=_number, default=10.0, help="shortest clip kept (default 10)")
    parser.add_argument("--max-clip-seconds", type=_number, default=30.0, help="longest clip kept (default 30)")
    parser.add_argument("--target-clip-seconds", type=_number, default=15.0, help="preferred clip length (default 15)")
    parser.add_argument(
        "--vad-threshold",
        type=_number,
        default=0.35,
        help="silero-vad voice probability; singing scores lower than speech (default 0.35)",
    )
    parser.add_argument(
        "--target-lufs", type=_number, default=-14.0, help="loudness of the normalised mix (default -14)"
    )
    parser.add_argument("--language", default="en", help="language of the lyrics (ISO code; default en)")
    parser.add_argument("--device", default="cpu", help="torch device for the models (cpu, cuda, cuda:1 ...)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan (songs, estimated clips, models) and stop"
    )
    parser.add_argument("--json", action="store_true", help="print the plan or summary as JSON")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars: one line as each song starts a stage instead, as when stderr is no terminal",
    )
    parser.set_defaults(handler=run_prepare)
    return parser


def prepare_options(args: argparse.Namespace):
    from songgen_hf.data.prepare.options import PrepareOptions
    from songgen_hf.data.prepare.slicing import SliceOptions
    from songgen_hf.modeling.limits import check_device

    check_device(args.device, "--device")  # a CUDA device on a CPU build: refused before any model loads
    if not args.min_clip_seconds <= args.target_clip_seconds <= args.max_clip_seconds:
        raise ValueError(
            f"--target-clip-seconds {args.target_clip_seconds:g} must lie between --min-clip-seconds "
            f"{args.min_clip_seconds:g} and --max-clip-seconds {args.max_clip_seconds:g}."
        )
    slicing = SliceOptions(
        min_seconds=args.min_clip_seconds,
        max_seconds=args.max_clip_seconds,
        target_seconds=args.target_clip_seconds,
        vad_threshold=args.vad_threshold,
    )
    return PrepareOptions(
        separation_model=args.separation_model,
        trust_separation_model=args.trust_separation_model,
        asr_model=args.asr_model,
        second_asr_model=args.second_asr_model,
        clap_model=args.clap_model,
        max_edit_distance=args.max_edit_distance,
        min_clap_score=args.min_clap_score,
        min_vocal_energy=args.min_vocal_energy,
        hq_vocal_energy=args.hq_vocal_energy,
        target_lufs=args.target_lufs,
        language=args.language,
        device=args.device,
        slicing=slicing,
    )


def run_prepare(args: argparse.Namespace) -> int:
    options = prepare_options(args)
    if args.dry_run:
        from songgen_hf.data.prepare.plan import dry_run, format_plan

        plan = dry_run(args.songs, args.output, options)
        print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
        return 0
    from songgen_hf.data.prepare.runner import format_summary, prepare_songs

    summary = prepare_songs(args.songs, args.output, options, progress="lines" if args.no_progress else True)
    if not summary:  # one of several launched processes: the main one reports for all
        return 0
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    if summary["clips"] == 0:
        raise ValueError(
            f"No clip was kept from {summary['songs']} songs (reasons above, and in "
            f"{args.output}/summary.json); fix the inputs or loosen the thresholds, then run again."
        )
    return 0


# ---------------------------------------------------------------------- data tokenizers
def add_tokenizer_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("manifest", help="JSONL manifest with caption and lyrics fields (the training split)")
    parser.add_argument("--output", required=True, help="folder to write description_tokenizer/ and lyrics_tokenizer/")
    parser.add_argument(
        "--description-vocab-size", type=int, default=1000, help="tokens of the description tokenizer (default 1000)"
    )
    parser.add_argument(
        "--description-algorithm",
        choices=("bpe", "unigram"),
        default="bpe",
        help="bpe keeps every frequent word and number whole on a small corpus",
    )
    parser.add_argument(
        "--lyrics-vocab-size", type=int, default=512, help="tokens of the lyrics tokenizer (default 512)"
    )
    parser.set_defaults(handler=run_tokenizers)
    return parser


def run_tokenizers(args: argparse.Namespace) -> int:
    from songgen_hf.data.tokenizers import DESCRIPTION_SUBFOLDER, LYRICS_SUBFOLDER, train_corpus_tokenizers

    output = train_corpus_tokenizers(
        args.manifest, args.output, args.description_vocab_size, args.lyrics_vocab_size, args.description_algorithm
    )
    print(f"wrote {output / DESCRIPTION_SUBFOLDER} and {output / LYRICS_SUBFOLDER}")
    return 0


# ---------------------------------------------------------------------- data excerpts
def add_excerpt_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("manifest", metavar="MANIFEST", help="JSONL manifest (e.g. corpus/train.jsonl)")
    parser.add_argument("--output", required=True, help="folder to create: excerpts.jsonl and audio/*.flac")
    parser.add_argument("--seconds", type=float, default=1.6, help="window length per record (default 1.6)")
    parser.add_argument("--max-mb", type=float, default=60.0, help="size budget of the folder in MB (default 60)")
    parser.add_argument(
        "--fields",
        nargs="+",
        default=list(EXCERPT_FIELDS),
        help="audio fields to cut, each at the same window (default: mix and both stems)",
    )
    parser.add_argument("--sampling-rate", type=int, default=16_000, help="rate of the written files (default 16000)")
    parser.add_argument("--skip", type=int, default=0, help="start at this record (a previous run's next --skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the windows' positions")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    parser.set_defaults(handler=run_excerpts)
    return parser


def run_excerpts(args: argparse.Namespace) -> int:
    from songgen_hf.data.excerpts import MANIFEST_NAME, options_from_args, write_excerpts

    options = options_from_args(args)
    summary = write_excerpts(options, progress=lambda line: print(line, file=sys.stderr))
    ending = (
        "every record was taken"
        if summary.exhausted
        else f"the budget stopped it; a second, disjoint set: --skip {summary.next_skip}"
    )
    print(
        f"{summary.records} records, {summary.files} files, {summary.bytes / 1e6:.1f} MB in {options.output} "
        f"({options.output / MANIFEST_NAME}); {ending}"
    )
    return 0


# the group -> its commands, each with its help and options (songgen_hf.commands.cli lists it)
COMMANDS = {
    "data": {
        "synth": ("generate the synthetic song corpus", add_synth_arguments),
        "encode": ("manifest -> codec codes (datasets save_to_disk)", add_encode_arguments),
        "prepare": (
            "a folder of your songs -> a training manifest (separation, VAD slicing, lyrics, captions)",
            add_prepare_arguments,
        ),
        "tokenizers": ("train the description and lyrics tokenizers on a manifest", add_tokenizer_arguments),
        "excerpts": (
            "a compact codec-training set: one window per record, FLAC, to a size budget",
            add_excerpt_arguments,
        ),
    }
}


__all__ = [
    "add_encode_arguments",
    "add_excerpt_arguments",
    "add_prepare_arguments",
    "add_synth_arguments",
    "add_tokenizer_arguments",
    "check_encode_arguments",
    "check_synth_arguments",
    "prepare_options",
    "run_encode",
    "run_excerpts",
    "run_prepare",
    "run_synth",
    "run_tokenizers",
]
