"""Does the model sing the words when it is on track?  Held-out songs continued from their own first seconds.

    python recipes/songgen_tiny/probe_lyric_continuation.py MODEL --manifest CORPUS/test.jsonl \
        [--num-clips 48] [--prompt-seconds 3] [--seed 0] [--output continuation.json]

Free generation mixes two failures: the model may not know which word comes when (timing, alignment), or may
know and not articulate it.  Here each held-out sung clip's first ``--prompt-seconds`` of accompaniment and vocal
codes (the model's own codec) are the prompt, so the voice, the tempo and the place in the lyrics are given, and
the model continues the song with the model's saved sampling settings.  The vocal track after the prompt goes to
``songgen evaluate``'s lyric recogniser, beside:

* the clean vocal stem and its codec round trip over the same span (what a perfect continuation would score);
* the same continuation asked with *another* clip's lyrics (a derangement): recall of the true lyrics there is
  what the prompt alone carries (a word the voice was in the middle of, a repeated line), so
  ``right lyrics - other lyrics`` is the part of the words that the lyrics themselves steer.

Recall is over each clip's whole lyrics, with the mismatched-lyrics chance level (``recall_with_chance``).
Prints and writes JSON; means with bootstrap 95 % intervals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.data.audio import load_audio
from songgen_hf.data.manifest import read_manifest_rows
from songgen_hf.evaluation.codec_evaluation import MAX_CLIP_SECONDS, load_clips
from songgen_hf.evaluation.intelligibility import (LyricRecogniser, derangement, describe_recall, recall_summary,
                                                   word_recall)
from songgen_hf.evaluation.statistics import mean_with_ci
from songgen_hf.evaluation.systems import codec_round_trip


def continue_clips(model, processor, clips, captions: list[str], lyrics: list[str], prompt_frames: int,
                   seed: int) -> list[np.ndarray]:
    """Each clip's song continued from its first ``prompt_frames`` frames with its caption and ``lyrics`` (one per
    clip); the vocal track after the prompt."""
    rate, frame_rate = model.config.sampling_rate, model.config.frame_rate
    limit = round(MAX_CLIP_SECONDS * rate)
    tracks = []
    for index, (clip, caption, text) in enumerate(zip(clips, captions, lyrics, strict=True)):
        stems = {name: load_audio(clip.paths[name], rate)[:limit] for name in ("accompaniment", "vocals")}
        duration = len(stems["vocals"]) / rate
        with torch.inference_mode():  # the prompt: the first frames of each stem's own codes
            prompt = {name: model.audio_encoder.encode(torch.from_numpy(audio).float()[None, None]).audio_codes
                      [:, :model.config.decoder.num_codebooks, :prompt_frames] for name, audio in stems.items()}
        inputs = processor(description=[caption], lyrics=[text], truncation=True, return_tensors="pt")
        torch.manual_seed(seed * 100_003 + index)
        with torch.inference_mode():
            out = model.generate(**inputs, audio_prompt_codes=prompt, duration_s=duration, min_duration_s=duration,
                                 do_sample=True, return_dict_in_generate=True)
        start = round(prompt_frames / frame_rate * rate)
        tracks.append(out.vocals[0, 0, start:int(out.audio_lengths[0])].float().numpy())
    return tracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a dual-track SongGen folder (its codec encodes the prompts)")
    parser.add_argument("--manifest", required=True, help="a corpus manifest with stems and lyrics (test.jsonl)")
    parser.add_argument("--num-clips", type=int, default=48, help="records read; the sung ones are probed")
    parser.add_argument("--prompt-seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    model = SongGenForConditionalGeneration.from_pretrained(args.model).eval()
    if model.pattern.num_tracks != 2:
        raise SystemExit(f"{args.model} is a {model.pattern.name} model; this probe continues dual-track songs.")
    processor = SongGenProcessor.from_pretrained(args.model)
    records, vocabulary = load_clips(args.manifest, args.num_clips)
    clips = [clip for clip in records if clip.has_vocals]
    captions = {row["_line"]: row["caption"] for row in read_manifest_rows(Path(args.manifest))}
    captions = [captions[clip.line] for clip in clips]
    rate, prompt_frames = model.config.sampling_rate, round(args.prompt_seconds * model.config.frame_rate)
    start, limit = round(args.prompt_seconds * rate), round(MAX_CLIP_SECONDS * rate)
    clean = [load_audio(clip.paths["vocals"], rate)[:limit] for clip in clips]
    shortest = min(len(audio) for audio in clean) / rate
    if not 0 < args.prompt_seconds < shortest:
        raise SystemExit(f"--prompt-seconds must be above 0 and below the shortest sung clip ({shortest:.2f} s), "
                         f"got {args.prompt_seconds}.")
    recogniser = LyricRecogniser.for_lyrics(vocabulary)
    lyrics = [clip.lyrics for clip in clips]
    others = [lyrics[partner] for partner in derangement([True] * len(clips))]
    codebooks = model.config.decoder.num_codebooks

    def continued(texts):
        tracks = continue_clips(model, processor, clips, captions, texts, prompt_frames, args.seed)
        return [recogniser.transcribe(audio, rate) for audio in tracks]

    heard = {
        "clean vocal stem": [recogniser.transcribe(audio[start:], rate) for audio in clean],
        "codec round trip": [recogniser.transcribe(codec_round_trip(model.audio_encoder, audio, codebooks)[1][start:],
                                                   rate) for audio in clean],
        "continued, right lyrics": continued(lyrics),
        "continued, other lyrics": continued(others),
    }
    report = {"model": str(args.model), "manifest": args.manifest, "sung_clips": len(clips),
              "prompt_seconds": args.prompt_seconds, "seed": args.seed,
              "recogniser": recogniser.info()["recogniser"]}
    for name, transcripts in heard.items():
        report[name] = recall_summary(transcripts, lyrics)
        print(describe_recall(name, report[name]), flush=True)
    steer = [word_recall(a, text) - word_recall(b, text)
             for a, b, text in zip(heard["continued, right lyrics"], heard["continued, other lyrics"], lyrics)]
    report["lyrics_steer"] = mean_with_ci(steer)
    print(f"{'right - other lyrics':>28}: {report['lyrics_steer']['mean']:+.3f} {report['lyrics_steer']['ci95']}")
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
