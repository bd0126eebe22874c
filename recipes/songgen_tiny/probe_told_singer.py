"""Where does a trained told singer lose the words: the score it is told, or the song it sings over?

    python recipes/songgen_tiny/probe_told_singer.py SINGER ENCODED_HELD_OUT --decode MODEL [--songs 76]
        [--output told_singer.json]

SINGER is a ``songgen train-singer`` folder (its final/), ENCODED_HELD_OUT held-out songs encoded with both stems by
MODEL's codec (``songgen data encode``).  Each sung held-out song's vocal track is filled by the singer in five
versions, over the song's real accompaniment: told the song's own score (the corpus's syllable timing, notes and
voice: the yardstick of session 44's ``probe_aligned_singer.py``), a score composed from its caption and lyrics the
way generation composes one (``processing/vocal_score.py``), one composed at the song's true tempo and key, that
composed score's syllables hidden (the control),
and the real codes' first codebooks (the ceiling).  All are heard by ``songgen evaluate``'s lyric recogniser, the
vocabulary the songs' lyrics; recall above the mismatched-lyrics chance, also paired song by song.

Session 45 (``docs/evaluation.md``): on songgen-tiny's generated songs the singer's words stay near chance (+0.024,
paired with the decoder's own +0.010 [-0.013, +0.035]) where session 44's yardstick was +0.041.  This probe says
which part of that gap is the composed score and which the generated accompaniment.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("singer", type=Path, help="a `songgen train-singer` final/ folder")
    parser.add_argument("held_out", type=Path, help="held-out songs encoded with both stems")
    parser.add_argument("--decode", required=True, help="the SongGen model whose codec made the codes")
    parser.add_argument("--songs", type=int, default=76, help="sung held-out songs heard")
    parser.add_argument("--seed", type=int, default=0, help="the composed scores' seed (song i: seed + i)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.songs < 1:
        raise SystemExit("--songs must be at least 1.")

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.evaluation.intelligibility import hear_versions
    from songgen_hf.modeling.songgen.singer import SongGenSinger, score_units
    from songgen_hf.processing.vocal_score import compose_vocal_score, request_scores
    from songgen_hf.training.singer import hide_syllables, singer_records, singer_song

    singer = SongGenSinger.from_pretrained(args.singer).eval()
    model = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
    processor = SongGenProcessor.from_pretrained(args.decode)
    records = [record for record in singer_records([args.held_out]) if len((record["lyrics"] or "").split()) >= 2]
    records = records[: args.songs]
    if not records:
        raise SystemExit(f"{args.held_out} holds no sung song with a score and a vocal stem.")
    config = singer.config
    made = []
    for index, record in enumerate(records):
        song = singer_song(record, config)
        frames = song["codes"].shape[-1]
        context = song["context"][None]
        seconds = frames / config.frame_rate
        composed = request_scores(processor, [record["caption"]], [record["lyrics"]], seconds, args.seed + index)[0]
        composed_units = score_units(config, composed, frames)[None]
        attributes = json.loads(record["attributes"]) if isinstance(record["attributes"], str) else record["attributes"]
        key = f"{attributes['key']} {attributes['mode']}"
        true_grid = compose_vocal_score(record["lyrics"], record["caption"], attributes["tempo_bpm"], key, seconds,
                                        args.seed + index)
        versions = {
            "real codebooks 1-3": song["codes"][None],
            "told the song's own score": singer.fill(context, song["units"][None]),
            "told a composed score": singer.fill(context, composed_units),
            "told a score composed at the song's tempo and key": singer.fill(
                context, score_units(config, true_grid, frames)[None]),
            "composed score, syllables hidden": singer.fill(context, hide_syllables(composed_units, config.letters)),
        }
        made.append((record["lyrics"], versions))
        print(f"{index + 1}/{len(records)} filled", flush=True)
    names = list(made[0][1])
    with torch.no_grad():
        report = hear_versions(model.audio_encoder, model.config.sampling_rate, made, names, verbose=True,
                               pairs=[("told the song's own score", "told a composed score"),
                                      ("told a composed score", "composed score, syllables hidden")])
    if args.output:
        args.output.write_text(json.dumps({"singer": str(args.singer), "held_out": str(args.held_out),
                                           "songs": len(made), "seed": args.seed, "words": report}, indent=1) + "\n")


if __name__ == "__main__":
    main()
