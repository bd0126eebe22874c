"""Command-line glue: ``add_synth_arguments`` + ``run_synth`` for ``songgen data synth``."""

from __future__ import annotations

import argparse
import sys
import time


def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--output", required=True, help="corpus folder (created if missing)")
    parser.add_argument("--num-clips", type=int, default=1000, help="total clips, test split included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (at most 4 per CPU core)")
    parser.add_argument("--min-duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--max-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--sampling-rate", type=int, default=16000)
    parser.add_argument("--test-fraction", type=float, default=0.0, help="held-out share written to test.jsonl")
    parser.add_argument("--overwrite", action="store_true", help="regenerate clips that are already complete")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


# fluidsynth's accepted synth.sample-rate range
SAMPLING_RATE_RANGE = (8000, 96000)
# the longest clip worth rendering: a whole song; clips are rendered in memory at once
MAX_CLIP_SECONDS = 600.0


def check_synth_arguments(args: argparse.Namespace) -> None:
    """Every ``songgen data synth`` option, checked before any clip is planned or rendered."""
    import os
    from pathlib import Path

    from ...arguments import check_count, check_number, check_path_given
    from ...limits import MAX_CORPUS_CLIPS
    from .corpus import MIN_MAX_DURATION

    check_path_given("--output", args.output)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give the corpus folder to create (or an existing corpus folder).")
    check_count("--num-clips", args.num_clips, minimum=1, maximum=MAX_CORPUS_CLIPS,
                why="A corpus is a list of clips planned in memory; make larger corpora in several folders.")
    cores = os.cpu_count() or 1  # a little oversubscription is harmless; thousands of forks are not
    check_count("--workers", args.workers, minimum=1, maximum=4 * cores,
                why=f"This machine has {cores} CPU core(s); more worker processes only add memory.")
    check_count("--seed", args.seed, minimum=0, maximum=2**63 - 1)
    check_count("--sampling-rate", args.sampling_rate, minimum=SAMPLING_RATE_RANGE[0], maximum=SAMPLING_RATE_RANGE[1],
                why="e.g. --sampling-rate 16000 (the codec's rate).")
    check_number("--min-duration", args.min_duration, above=0, maximum=MAX_CLIP_SECONDS, example=5)
    check_number("--max-duration", args.max_duration, minimum=MIN_MAX_DURATION, maximum=MAX_CLIP_SECONDS, example=15)
    if args.min_duration > args.max_duration:
        raise ValueError(
            f"--min-duration {args.min_duration:g} exceeds --max-duration {args.max_duration:g}; swap them or lower it."
        )
    check_number("--test-fraction", args.test_fraction, minimum=0, below=1, example=0.1)


def run_synth(args: argparse.Namespace) -> int:
    from .corpus import synthesize_corpus
    from .tools import SystemToolsMissingError

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
