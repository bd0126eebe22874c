"""``songgen data encode``: its options, their checks, and the run (:mod:`.encode` does the work).

Kept apart from :mod:`.encode` so that building ``songgen``'s parser, which every command does,
stays free of the encoder's imports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# the stems --stems offers (songgen_hf.data.encode.STEM_COLUMNS's keys, which a test compares): named here so
# that the options are listed without importing the encoder, and with it torch
STEM_NAMES = ("accompaniment", "vocals")


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
    parser.add_argument("--bandwidth", type=float, default=None, help="kbps; default: all codebooks")
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=None,
        help="encode clips longer than this in chunks of this length (default: 30)",
    )
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
    return parser


def check_encode_arguments(args: argparse.Namespace) -> None:
    """Every ``songgen data encode`` option, checked before the manifest is read or the codec loads.

    Without ``--max-duration`` clips longer than ``MAX_CODEC_AUDIO_SECONDS`` are skipped (measured
    from the file header), and without ``--chunk-seconds`` clips above ``CODEC_AUTO_CHUNK_SECONDS``
    are encoded in chunks of that length: no single file can exhaust memory."""

    from songgen_hf.arguments import (
        check_bandwidth,
        check_count,
        check_number,
        check_output_spares_inputs,
        check_path_given,
    )
    from songgen_hf.conversion.checkpoint_files import read_codec_config
    from songgen_hf.limits import (
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
    from songgen_hf.atomic import check_replaceable, check_writable

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
    check_bandwidth("--bandwidth", args.bandwidth, config.target_bandwidths)
    check_number(
        "--chunk-seconds",
        args.chunk_seconds,
        minimum=1 / config.frame_rate,
        maximum=MAX_CODEC_AUDIO_SECONDS,
        example=30,
    )
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


__all__ = ["add_encode_arguments", "check_encode_arguments", "run_encode"]
