"""Command-line glue: ``add_synth_arguments`` + ``run_synth`` for ``songgen data synth``."""

from __future__ import annotations

import argparse
import sys
import time


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
    return parser


V2_OPTIONS = ("instrumental_share", "drumless_share", "tempo_range", "slow_share", "transpose_range")


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

    from songgen_hf.arguments import check_count, check_number, check_path_given
    from songgen_hf.data.synth.corpus import MIN_MAX_DURATION
    from songgen_hf.limits import MAX_CORPUS_CLIPS

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
    from songgen_hf.atomic import check_writable

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
