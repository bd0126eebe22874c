"""Spectrograms of one held-out corpus clip, its codec round trip, and songs generated from its prompt.

    python recipes/songgen_tiny/plot_song_spectrograms.py corpus_v2/test.jsonl --output docs/evaluation/song_spectrograms.png \
        [--clip 0] [--model songgen-tiny [--model FOLDER ...]] [--seed 0]

The first model's codec makes the round trip; each model sings the clip's caption and lyrics for the
clip's length with its own sampling settings (guidance included), so the panels show what the codec
keeps and what the model makes of the same request, on one colour scale (`plot_codec_spectrograms`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--clip", type=int, default=0, help="row of the manifest (default 0)")
    parser.add_argument("--model", action="append", help="a SongGen folder or embedded name (repeatable; default songgen-tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=8.0, help="how much of each panel to draw")
    args = parser.parse_args()

    import songgen_hf  # noqa: F401  (registers the pipeline)
    from transformers import pipeline

    from songgen_hf.data.audio import load_audio
    from songgen_hf.data.manifest import read_manifest_rows
    from songgen_hf.evaluation.plots import plot_codec_spectrograms
    from songgen_hf.evaluation.systems import codec_round_trip

    rows = read_manifest_rows(args.manifest)
    if not 0 <= args.clip < len(rows):
        raise SystemExit(f"--clip {args.clip}: {args.manifest} has {len(rows)} rows.")
    row = rows[args.clip]
    models = args.model or ["songgen-tiny"]
    pipes = {name: pipeline("text-to-song", model=name) for name in models}
    first = pipes[models[0]].model
    rate = first.config.sampling_rate
    clean = load_audio(args.manifest.parent / row["audio_path"], rate)
    _, round_trip = codec_round_trip(first.audio_encoder, clean, first.config.decoder.num_codebooks)
    songs = {}
    for name, pipe in pipes.items():
        seconds = min(row["duration"], args.seconds)
        out = pipe({"description": row["caption"], "lyrics": row.get("lyrics") or ""}, duration_s=seconds,
                   min_duration_s=seconds, seed=args.seed)
        songs[f"{name}: generated from the caption and lyrics (seed {args.seed})"] = np.asarray(out["audio"]).reshape(-1)
    title = f"{row['id']}: {row['caption']}"
    path = plot_codec_spectrograms(clean, {f"{models[0]}'s codec": round_trip}, rate, args.output, title,
                                   max_seconds=args.seconds, others=songs)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
