"""How many codebooks does a codec need to keep the key, and the words?  Scores of round trips decoded from the first n.

    python recipes/songgen_tiny/probe_codec_key_depth.py CODEC [CODEC ...] --manifest CORPUS/test.jsonl \
        [--num-clips 48] [--depths 1 2 3 4 8] [--words] [--output depth.json]

A codec of the X-Codec family is a residual quantizer: codebook 1 holds the coarse content and each next one
the residual of those before it.  An autoregressive model weighs its codebooks unequally (songgen-tiny's loss:
0.25 for each of the first three) and predicts the fine ones far less surely than the first, so where a codec puts
the pitch, and the words, decides how hard they are to learn.  For each codec (a codec folder, or a SongGen folder
whose codec is used) this encodes the first ``--num-clips`` mixes of the manifest, decodes them from the first n
codebooks for each n in ``--depths``, and reports how often the evaluation's key estimator (``songgen evaluate``'s,
MIREX-scored by mir_eval there) finds the clip's key exactly, beside how often it does on the clean mixes.  With
``--words`` it also round-trips the sung clips' vocal stems and reports the lyric recall of ``songgen codec
evaluate``'s recogniser at each depth, with its mismatched-lyrics chance level.  Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from songgen_hf.data.audio import load_audio
from songgen_hf.evaluation.codec_evaluation import MAX_CLIP_SECONDS, load_clips, load_codec, score_audio
from songgen_hf.evaluation.intelligibility import LyricRecogniser, recall_with_chance
from songgen_hf.evaluation.systems import codec_round_trip


def key_exact_by_depth(codec, clips, depths: list[int]) -> dict:
    """The clips' mixes scored and round-tripped exactly as ``songgen codec evaluate`` does, at each depth."""
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


def word_recall_by_depth(codec, clips, depths: list[int], recogniser: LyricRecogniser) -> dict:
    """Lyric recall (and its chance level) of the sung clips' vocal stems, clean and at each depth."""
    rate = int(codec.config.sample_rate)
    limit = round(MAX_CLIP_SECONDS * rate)
    sung = [clip for clip in clips if clip.has_vocals]
    transcripts: dict[str, list] = {"clean": [], **{str(depth): [] for depth in depths}}
    for clip in sung:
        audio = load_audio(clip.paths["vocals"], rate)[:limit]
        transcripts["clean"].append(recogniser.transcribe(audio, rate))
        for depth in depths:
            transcripts[str(depth)].append(recogniser.transcribe(codec_round_trip(codec, audio, depth)[1], rate))
    lyrics = [clip.lyrics for clip in sung]
    report = {"sung_clips": len(sung)}
    for version, heard in transcripts.items():
        scores = recall_with_chance(heard, lyrics)
        report[version] = {name: float(np.mean([s[name] for s in scores if s[name] is not None]))
                           for name in ("lyric_recall", "lyric_recall_chance")}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("codecs", nargs="+", type=Path, help="codec or SongGen folders")
    parser.add_argument("--manifest", required=True, help="a corpus manifest with keys (corpus v2's test.jsonl)")
    parser.add_argument("--num-clips", type=int, default=48)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    parser.add_argument("--words", action="store_true", help="also the vocal stems' lyric recall at each depth")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    clips, vocabulary = load_clips(args.manifest, args.num_clips)
    recogniser = LyricRecogniser.for_lyrics(vocabulary) if args.words else None
    report = {"manifest": str(args.manifest), "num_clips": args.num_clips, "key_exact": {}}
    if recogniser is not None:
        report["lyric_recall_vocals"] = {}
    for folder in args.codecs:
        codec = load_codec(folder, "CODEC", folder.name, "model").codec
        report["key_exact"][str(folder)] = key_exact_by_depth(codec, clips, args.depths)
        print(json.dumps({str(folder): report["key_exact"][str(folder)]}), flush=True)
        if recogniser is not None:
            report["lyric_recall_vocals"][str(folder)] = word_recall_by_depth(codec, clips, args.depths, recogniser)
            print(json.dumps({str(folder): report["lyric_recall_vocals"][str(folder)]}), flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
