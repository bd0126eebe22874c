"""Command-line glue: ``add_synth_arguments`` + ``run_synth`` for ``songgen data synth``."""

from __future__ import annotations

import argparse
import sys
import time


def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--output", required=True, help="corpus folder (created if missing)")
    parser.add_argument("--num-clips", type=int, default=1000, help="total clips, test split included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--min-duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--max-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--sampling-rate", type=int, default=16000)
    parser.add_argument("--test-fraction", type=float, default=0.0, help="held-out share written to test.jsonl")
    parser.add_argument("--overwrite", action="store_true", help="regenerate clips that are already complete")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run_synth(args: argparse.Namespace) -> int:
    from .corpus import synthesize_corpus
    from .tools import SystemToolsMissingError

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
