"""Editing a song, measured: how eventful its joins are and what an edited second costs.

For each of a few prompts, a song is made with the pipeline (as ``songgen generate`` makes it, with its stems), then
a stretch in its middle is re-made with new words (``songgen_hf.pipelines.editing.edit_song``, as ``songgen edit``
makes it).  Reported per song and in all:

* **the joins**: the level of the edited song in 20 ms frames every 10 ms (RMS, dB); its largest frame-to-frame
  change within 50 ms of each edge of the span (the crossfades and the samples just outside them), against the
  99th percentile of that change over the whole original song (``edge_over_p99`` <= 1: no more eventful than the
  song's own 99th percentile);
* **the cost**: the edit's wall seconds per edited second, with the song's own generation per second beside it
  (both on this machine, at the same thread count);
* that every sample outside the span is the song's (a check, not a figure);
* with ``--listen`` (the ``eval`` extra): the span's tempo and key against the ones asked (the description's, as
  the processor reads them), estimated on the edited span and on the same stretch of the original song, so the two
  are measured alike (tempo within 4 %, the key exactly); and the new words recognised on the span's vocal track
  (pocketsphinx restricted to the new lyrics' words), against chance: the same transcript scored against another
  song's new lyrics.

    python benchmarks/editing.py --songs 6 --seconds 16 --span 6 10.5 --threads 2 --listen \
        --json docs/benchmarks/editing.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import git_commit, schema_report_head  # noqa: E402

PROMPTS = [
    (
        "an upbeat pop song in C major at 120 bpm with drums, bass and a bright female voice",
        "we run across the night\nand sing until the light\nhold me close tonight\nthe stars are shining bright",
        "the city lights are calling\nwe dance until the morning",
    ),
    (
        "a melancholic piano ballad in A minor at 72 bpm with strings and a male voice",
        "walking down the road alone\nfinding my way home\nthe rain is on the window",
        "hold on to the night\nthe song is almost done",
    ),
    (
        "energetic rock in E minor at 140 bpm with electric guitar, drums and a male voice",
        "we run across the night\nand sing until the light\nla la la we go",
        "the fire in my heart\nwill never fall apart",
    ),
    (
        "a slow folk tune in D major at 90 bpm with acoustic guitar and a soft female voice",
        "walking down the road alone\nfinding my way home",
        "the river knows my name\nand nothing stays the same",
    ),
    (
        "a dreamy jazz piece in F major at 96 bpm with saxophone and a female singer",
        "hold me close tonight\nthe stars are shining bright",
        "blue moon above the bay\nstay with me until the day",
    ),
    (
        "a funky disco track in G minor at 116 bpm with bass, drums and a male voice",
        "move your feet and feel the beat\ndancing down the street",
        "lights go low and here we go\nnever let the music slow",
    ),
]
FRAME_S, STEP_S, EDGE_S = 0.020, 0.010, 0.050


def level_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """RMS level (dB) of mono ``audio`` in :data:`FRAME_S` frames every :data:`STEP_S`."""
    size, step = int(FRAME_S * rate), int(STEP_S * rate)
    count = 1 + (len(audio) - size) // step
    frames = np.stack([audio[i * step : i * step + size] for i in range(count)])
    return 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-5)


def edge_changes(original: np.ndarray, edited: np.ndarray, edges: list[int], rate: int) -> dict:
    """The largest frame-to-frame level change of ``edited`` within :data:`EDGE_S` of each edge (samples), and the
    99th percentile of the change over ``original``."""
    step = int(STEP_S * rate)
    song = np.abs(np.diff(level_db(original, rate)))
    changes = np.abs(np.diff(level_db(edited, rate)))
    at_edges = []
    for edge in edges:
        low = max(0, (edge - int(EDGE_S * rate)) // step - 2)
        high = min(len(changes), (edge + int(EDGE_S * rate)) // step + 1)
        at_edges.append(float(changes[low:high].max()))
    p99 = float(np.percentile(song, 99))
    if p99 <= 0:  # a song of one level throughout (silence): any change at an edge is more than its own
        return {"song_p99_db": 0.0, "edges_db": [round(c, 2) for c in at_edges], "edge_over_p99": float("inf")}
    return {
        "song_p99_db": round(p99, 2),
        "edges_db": [round(c, 2) for c in at_edges],
        "edge_over_p99": round(max(at_edges) / p99, 3),
    }


def span_controls(processor, description: str, original: np.ndarray, edited: np.ndarray, rate: int) -> dict:
    """The asked tempo and key against the ones estimated on the edited span and on the original's same stretch."""
    from songgen_hf.evaluation.metrics import (
        estimate_key_or_none,
        estimate_tempo_bpm,
        key_scores,
        parse_key,
        tempo_scores,
    )

    understood = processor.interpret(description, "")
    tempo, key = understood.get("tempo_bpm"), understood.get("key")
    row = {"asked_tempo_bpm": tempo, "asked_key": key}
    for name, audio in (("original", original), ("edited", edited)):
        if tempo:
            estimated = estimate_tempo_bpm(audio, rate)
            row[f"{name}_tempo_bpm"] = round(estimated, 1)
            row[f"{name}_tempo_acc1"] = tempo_scores(estimated, float(tempo))["tempo_acc1"]
        if key:
            found = estimate_key_or_none(audio, rate)
            row[f"{name}_key"] = None if found is None else found.name
            row[f"{name}_key_exact"] = key_scores(found, parse_key(*key.split()))["key_exact"]
    return row


def listened_summary(rows: list[dict], vocals: list[np.ndarray], lyrics: list[str], rate: int) -> dict:
    """How often the spans keep the asked tempo and key (and the original's same stretches), and the new words'
    recall on the spans' vocal tracks against chance."""
    from songgen_hf.evaluation.intelligibility import LyricRecogniser, recall_with_chance

    def share(key: str) -> float | None:
        values = [row[key] for row in rows if key in row]
        return round(float(np.mean(values)), 3) if values else None

    recogniser = LyricRecogniser.for_lyrics(lyrics)
    transcripts = [recogniser.transcribe(audio, rate) for audio in vocals]
    scores = recall_with_chance(transcripts, lyrics)
    for row, transcript, score in zip(rows, transcripts, scores):
        row["span_vocals_heard"] = transcript
        row.update({key: None if value is None else round(value, 3) for key, value in score.items()})
    recalls = [score for score in scores if score["lyric_recall_chance"] is not None]
    return {
        "span_tempo_acc1": share("edited_tempo_acc1"),
        "original_stretch_tempo_acc1": share("original_tempo_acc1"),
        "span_key_exact": share("edited_key_exact"),
        "original_stretch_key_exact": share("original_key_exact"),
        "new_words_recall": round(float(np.mean([score["lyric_recall"] for score in recalls])), 3),
        "new_words_recall_chance": round(float(np.mean([score["lyric_recall_chance"] for score in recalls])), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="SongGen folder (default: the embedded songgen-tiny)")
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=16.0, help="each song's length")
    parser.add_argument("--span", type=float, nargs=2, default=(6.0, 10.5), metavar=("START", "END"))
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the report here")
    parser.add_argument(
        "--listen", action="store_true", help="also the span's tempo, key and recognised words (the eval extra)"
    )
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as transformers_logging

    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.pipelines.editing import edit_song

    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()
    pipe = load_text_to_song_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    rate = pipe.sampling_rate
    start, end = args.span
    rows, heard = [], []
    for index in range(args.songs):
        description, lyrics, new_lyrics = PROMPTS[index % len(PROMPTS)]
        began = time.perf_counter()
        song = pipe({"description": description, "lyrics": lyrics}, duration_s=args.seconds, seed=index)
        generated_s = time.perf_counter() - began
        stems = {name: (song[name], rate) for name in ("vocals", "accompaniment") if name in song}
        original = song["audio"].astype(np.float64)
        began = time.perf_counter()
        edited = edit_song(
            pipe,
            (original, rate),
            start,
            end,
            description,
            new_lyrics,
            stems=stems or None,
            seed=index,
            candidates=args.candidates,
        )
        edit_s = time.perf_counter() - began
        a, b = round(start * rate), round(end * rate)
        outside_kept = bool(
            np.array_equal(edited["audio"][:, :a], original[:, :a])
            and np.array_equal(edited["audio"][:, b:], original[:, b:])
        )
        joins = edge_changes(original[0], edited["audio"][0], [a, b], rate)
        listened = {}
        if args.listen:
            listened = span_controls(pipe.processor, description, original[0, a:b], edited["audio"][0, a:b], rate)
            heard.append(edited.get("vocals", edited["audio"])[0, a:b])
        rows.append(
            {
                "prompt": description,
                "new_lyrics": new_lyrics,
                "seed": index,
                "generate_s_per_song_s": round(generated_s / args.seconds, 3),
                "edit_s": round(edit_s, 2),
                "edit_s_per_edited_s": round(edit_s / (end - start), 3),
                "chosen": edited["chosen"],
                "continuation_scores_db": [round(score, 2) for score in edited["scores"]],
                "outside_the_span_bit_identical": outside_kept,
                **joins,
                **listened,
            }
        )
        print(
            f"song {index}: edges {joins['edges_db']} dB (song's p99 {joins['song_p99_db']} dB, "
            f"{joins['edge_over_p99']}x), {edit_s / (end - start):.2f} s per edited second, kept: {outside_kept}"
        )
    summary = {
        "songs": len(rows),
        "edges_within_song_p99": sum(row["edge_over_p99"] <= 1 for row in rows),
        "median_edge_over_p99": float(np.median([row["edge_over_p99"] for row in rows])),
        "median_edit_s_per_edited_s": float(np.median([row["edit_s_per_edited_s"] for row in rows])),
        "median_generate_s_per_song_s": float(np.median([row["generate_s_per_song_s"] for row in rows])),
        "all_outside_bit_identical": all(row["outside_the_span_bit_identical"] for row in rows),
    }
    if args.listen:
        summary.update(listened_summary(rows, heard, [row["new_lyrics"] for row in rows], rate))
    print(json.dumps(summary))
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        report = {
            **schema_report_head("editing", "benchmarks/editing.py", threads=args.threads),
            "commit": git_commit(),
            "model": args.model or "songgen-tiny (embedded)",
            "song_s": args.seconds,
            "span_s": [start, end],
            "candidates": args.candidates,
            "summary": summary,
            "songs": rows,
        }
        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
