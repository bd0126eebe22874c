"""``songgen data prepare`` on synthetic songs: stage throughput (CPU, tiny models) and the quality of
the stages that can be measured offline, against the synthetic corpus's ground truth.

    python benchmarks/prepare.py --json results/prepare.json [--num-songs 8] [--corpus DIR] [--threads 2]

The pipeline sees mixes only, written in assorted formats (WAV 16 kHz mono, FLAC 44.1 kHz stereo,
OGG 22.05 kHz, MP3 44.1 kHz stereo) and remixed with the accompaniment ``--accompaniment-db`` (12 dB)
below the vocals; each song's lyrics file is given.  No real separation, recognition or CLAP weights can be downloaded
here, so:

* **throughput** per stage uses the tiny random models of ``songgen_hf.data.prepare.tiny`` (their
  speed says what the pipeline's own work costs, not what htdemucs or Whisper would); separation
  is timed twice, with the tiny random Demucs and with the pass-through model that the rest of
  the run uses (random stems hold no voice, so later stages would have nothing to do);
* **quality**: VAD (silero-vad, the real model) on the ground-truth vocal stems, on the remixes
  and on the accompaniment alone (false voice); the pass-through run's clips against the truth:
  sample offset of each clip's vocals against the true vocal stem (cross-correlation), clip
  boundaries falling inside a sung note, user lyrics placed in the clip where they are sung,
  tempo and key of the captions.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))  # the tests' song-folder helpers

from prepare_songs import remix, sung_words, synth_corpus, write_songs  # noqa: E402

from songgen_hf.data.audio import load_audio  # noqa: E402
from songgen_hf.data.prepare.options import PrepareOptions  # noqa: E402
from songgen_hf.data.prepare.runner import prepare_songs  # noqa: E402
from songgen_hf.data.prepare.separation import DemucsSeparator  # noqa: E402
from songgen_hf.data.prepare.slicing import SliceOptions, voice_segments  # noqa: E402
from songgen_hf.data.prepare.tiny import save_passthrough_demucs, save_tiny_models  # noqa: E402
from songgen_hf.utils.atomic import write_text_atomic  # noqa: E402

RATE = 16000
TOLERANCE = 0.2  # seconds: the bar for VAD boundaries


def phrases(record: dict, gap: float = 0.2) -> list[list[float]]:
    """Sung phrases (start, end): notes closer than ``gap`` belong to one phrase."""
    out: list[list[float]] = []
    for onset, length in zip(record["attributes"]["note_onsets_s"], record["attributes"]["note_durations_s"]):
        if out and onset - out[-1][1] < gap:
            out[-1][1] = onset + length
        else:
            out.append([onset, onset + length])
    return out


def vad_quality(corpus: Path, records: list[dict], threshold: float, accompaniment_db: float) -> dict:
    options = SliceOptions(vad_threshold=threshold)
    result = {}
    for name in ("vocal stem", "remix", "accompaniment only"):
        starts, found, false_voice = [], [], 0.0
        for record in records:
            vocals = load_audio(corpus / record["vocal_path"], RATE)
            audio = {
                "vocal stem": vocals,
                "accompaniment only": load_audio(corpus / record["accompaniment_path"], RATE),
            }.get(name)
            audio = remix(corpus, record, accompaniment_db) if audio is None else audio
            segments = voice_segments(audio, options)
            onsets = [p[0] for p in phrases(record)]
            starts += [min(abs(s - o) for o in onsets) for s, _ in segments]
            found += [any(abs(s - o) <= TOLERANCE for s, _ in segments) for o in onsets]
            false_voice += sum(e - s for s, e in segments) if name == "accompaniment only" else 0.0
        entry = {
            "segments": len(starts),
            "segment_starts_within_0.2s": round(float(np.mean(np.array(starts) <= TOLERANCE)), 3) if starts else None,
            "median_start_error_s": round(float(np.median(starts)), 4) if starts else None,
            "phrase_onsets_found_within_0.2s": round(float(np.mean(found)), 3),
        }
        if name == "accompaniment only":
            entry["voice_detected_s"] = round(false_voice, 2)
        result[name] = entry
    return result


def lag(reference: np.ndarray, estimate: np.ndarray, window: int = 400) -> int:
    """Sample offset of ``estimate`` against ``reference`` (cross-correlation peak within +-window)."""
    n = min(len(reference), len(estimate))
    a, b = reference[:n] - reference[:n].mean(), estimate[:n] - estimate[:n].mean()
    spectrum = np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n))
    corr = np.fft.irfft(spectrum)
    candidates = np.concatenate([corr[-window:], corr[: window + 1]])
    return int(np.argmax(candidates)) - window


def clip_quality(corpus_dir: Path, corpus: Path, truth: dict, accompaniment_db: float) -> dict:
    records = [json.loads(line) for line in (corpus_dir / "manifest.jsonl").read_text().splitlines()]
    offsets, cut_notes, boundaries, placed, expected, tempo_ok, key_ok = {}, 0, 0, 0, 0, [], []
    for record in records:
        a = record["attributes"]
        source = truth[a["song"]]
        start = int(round(a["start_s"] * RATE))
        clip_vocals = load_audio(corpus_dir / record["vocal_path"], RATE)
        reference = remix(corpus, source, accompaniment_db)[start : start + len(clip_vocals)]
        fmt = Path(a["source"]).suffix
        offsets.setdefault(fmt, []).append(lag(reference, clip_vocals))
        notes = list(zip(source["attributes"]["note_onsets_s"], source["attributes"]["note_durations_s"]))
        for boundary in (a["start_s"], a["end_s"]):
            boundaries += 1
            cut_notes += any(on + 0.05 < boundary < on + length - 0.05 for on, length in notes)
        here = [w for w, t in sung_words(source) if a["start_s"] <= t < a["end_s"]]
        words = record["lyrics"].split()
        expected += len(here)
        placed += sum(min(here.count(w), words.count(w)) for w in set(here))
        true_tempo = source["attributes"]["tempo_bpm"]
        if a["tempo_bpm"]:
            tempo_ok.append(any(abs(a["tempo_bpm"] - true_tempo * f) <= 0.04 * true_tempo * f for f in (1, 2, 0.5)))
        key_ok.append(a["key"] == source["attributes"]["key"] and a["mode"] == source["attributes"]["mode"])
    return {
        "clips": len(records),
        "vocal_offset_samples_by_format": {
            fmt: {"max_abs": int(np.max(np.abs(v))), "values": sorted(set(v))} for fmt, v in offsets.items()
        },
        "boundaries_inside_a_sung_note": f"{cut_notes}/{boundaries}",
        "user_lyrics_words_in_the_right_clip": round(placed / max(expected, 1), 3),
        "tempo_within_4%_or_octave": round(float(np.mean(tempo_ok)), 3) if tempo_ok else None,
        "key_exact": round(float(np.mean(key_ok)), 3) if key_ok else None,
    }


def per_hour(seconds: dict, audio_seconds: float) -> dict:
    return {stage: round(value / 60 / (audio_seconds / 3600), 2) for stage, value in seconds.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--num-songs", type=int, default=8)
    parser.add_argument("--corpus", help="an existing synthetic corpus folder (else one is generated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--accompaniment-db", type=float, default=-12.0, help="accompaniment level in the remixed songs"
    )
    parser.add_argument("--vad-threshold", type=float, default=SliceOptions().vad_threshold)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        corpus = Path(args.corpus) if args.corpus else work / "corpus"
        if args.corpus:
            records = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
        else:
            records = synth_corpus(corpus, args.num_songs, seed=7, min_duration=8.0, max_duration=15.0)
        records = [r for r in records if r.get("vocal_path")][: args.num_songs]
        truth = write_songs(corpus, records, work / "songs", lyrics=True, accompaniment_db=args.accompaniment_db)
        models = save_tiny_models(work / "models")
        passthrough = str(save_passthrough_demucs(work / "models" / "passthrough"))
        audio_seconds = sum(len(load_audio(corpus / r["audio_path"], RATE)) / RATE for r in records)

        slicing = SliceOptions(min_seconds=3, target_seconds=6, max_seconds=12, vad_threshold=args.vad_threshold)
        options = PrepareOptions(
            separation_model=passthrough,
            asr_model=models["asr_model"],
            second_asr_model=models["second_asr_model"],
            clap_model=models["clap_model"],
            max_edit_distance=1.0,
            slicing=slicing,
        )
        summary = prepare_songs(work / "songs", work / "out", options, progress=False)
        quality = clip_quality(work / "out", corpus, truth, args.accompaniment_db)

        # the lyrics stage with recognition (no lyrics files), and the tiny random Demucs's separation
        for path in (work / "songs").glob("*.txt"):
            path.unlink()
        asr_summary = prepare_songs(work / "songs", work / "out", options, progress=False)
        separator = DemucsSeparator(models["separation_model"])
        began = time.perf_counter()
        for record in records:
            separator.separate(
                load_audio(corpus / record["audio_path"], 44100, mono=False),
                44100,
                len(load_audio(corpus / record["audio_path"], RATE)),
            )
        demucs_seconds = time.perf_counter() - began

        stage_seconds = dict(summary["stage_seconds"])
        stage_seconds["lyrics (2 tiny Whisper)"] = asr_summary["stage_seconds"]["lyrics"]
        stage_seconds["separate (tiny random Demucs)"] = demucs_seconds
        stage_seconds["separate"] = stage_seconds.pop("separate")
        stage_seconds["lyrics (user file)"] = stage_seconds.pop("lyrics")
        report = {
            "songs": len(records),
            "audio_minutes": round(audio_seconds / 60, 2),
            "threads": args.threads,
            "machine": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "vad_threshold": args.vad_threshold,
            "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
            "minutes_per_hour_of_music": per_hour(stage_seconds, audio_seconds),
            "summary": {k: summary[k] for k in ("clips", "hq_clips", "clips_dropped", "songs_dropped")},
            "asr_run_clips_dropped": asr_summary["clips_dropped"],
            "vad": vad_quality(corpus, records, args.vad_threshold, args.accompaniment_db),
            "clips": quality,
        }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
