"""How many codebooks does a codec need to keep the key?  Key exact of round trips decoded from the first n.

    python recipes/songgen_tiny/probe_codec_key_depth.py CODEC [CODEC ...] --manifest CORPUS_V2/test.jsonl \
        [--num-clips 48] [--depths 1 2 3 4 8] [--output depth.json]

A codec of the X-Codec family is a residual quantizer: codebook 1 holds the coarse content and each next one
the residual of those before it.  An autoregressive model weighs its codebooks unequally (songgen-tiny's loss:
0.25 for each of the first three), so where a codec puts the pitch decides how hard the key is to learn.
For each codec (a codec folder, or a SongGen folder whose codec is used) this encodes the first
``--num-clips`` mixes of the manifest, decodes them from the first n codebooks for each n in ``--depths``,
and reports how often the evaluation's key estimator (``songgen evaluate``'s, MIREX-scored by mir_eval
there) finds the clip's key exactly, beside how often it does on the clean mixes.  Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from songgen_hf.data.audio import load_audio
from songgen_hf.evaluation.codec_evaluation import MAX_CLIP_SECONDS, load_clips, load_codec, score_audio
from songgen_hf.evaluation.systems import codec_round_trip


def key_exact_by_depth(folder: Path, clips, depths: list[int]) -> dict:
    """The clips scored and round-tripped exactly as ``songgen codec evaluate`` does, at each depth."""
    codec = load_codec(folder, "CODEC", folder.name, "model").codec
    rate = int(codec.config.sample_rate)
    limit = round(MAX_CLIP_SECONDS * rate)
    clean, by_depth = [], {depth: [] for depth in depths}
    for clip in clips:
        audio = load_audio(clip.paths["mix"], rate)[:limit]
        clean.append(score_audio(audio, clip, rate)["key_exact"])
        for depth in depths:
            round_trip = codec_round_trip(codec, audio, depth)[1]
            by_depth[depth].append(score_audio(round_trip, clip, rate)["key_exact"])
    return {"clean": float(np.mean(clean)), **{str(depth): float(np.mean(v)) for depth, v in by_depth.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("codecs", nargs="+", type=Path, help="codec or SongGen folders")
    parser.add_argument("--manifest", required=True, help="a corpus manifest with keys (corpus v2's test.jsonl)")
    parser.add_argument("--num-clips", type=int, default=48)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    clips, _ = load_clips(args.manifest, args.num_clips)
    report = {"manifest": str(args.manifest), "num_clips": args.num_clips, "key_exact": {}}
    for folder in args.codecs:
        report["key_exact"][str(folder)] = key_exact_by_depth(folder, clips, args.depths)
        print(json.dumps({str(folder): report["key_exact"][str(folder)]}), flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
