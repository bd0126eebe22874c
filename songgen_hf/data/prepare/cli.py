"""``songgen data prepare SONGS --output CORPUS``: arguments and the command (no heavy import at parse time)."""

from __future__ import annotations

import argparse
import json
import math


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_prepare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from songgen_hf.data.prepare.describe import DEFAULT_CLAP_MODEL
    from songgen_hf.data.prepare.lyrics import DEFAULT_ASR_MODEL, DEFAULT_MAX_EDIT_DISTANCE, SECOND_ASR_MODEL
    from songgen_hf.data.prepare.options import DEFAULT_HQ_VOCAL_ENERGY, DEFAULT_MIN_VOCAL_ENERGY
    from songgen_hf.data.prepare.separation import DEFAULT_SEPARATION_MODEL

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
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def options_from_args(args: argparse.Namespace):
    from songgen_hf.data.prepare.options import PrepareOptions
    from songgen_hf.data.prepare.slicing import SliceOptions
    from songgen_hf.pipelines.checks import check_device

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
    options = options_from_args(args)
    if args.dry_run:
        from songgen_hf.data.prepare.plan import dry_run, format_plan

        plan = dry_run(args.songs, args.output, options)
        print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
        return 0
    from songgen_hf.data.prepare.runner import format_summary, prepare_songs

    summary = prepare_songs(args.songs, args.output, options, progress=not args.no_progress)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    if summary["clips"] == 0:
        raise ValueError(
            f"No clip was kept from {summary['songs']} songs (reasons above, and in "
            f"{args.output}/summary.json); fix the inputs or loosen the thresholds, then run again."
        )
    return 0


__all__ = ["add_prepare_arguments", "options_from_args", "run_prepare"]
