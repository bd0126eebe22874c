"""How the evaluation's library-based tempo and key estimators compare with the hand-written ones.

    python -m songgen_hf.evaluation.agreement corpus/manifest.jsonl [--max-clips N] [--max-duration S]

For each clip of a ``songgen data synth`` manifest (its ground truth is in ``attributes``), the
mix's first ``--max-duration`` seconds are measured by both estimator families:

* hand-written (:mod:`songgen_hf.data.synth.analysis`): spectral-flux autocorrelation for tempo,
  peak-picked FFT chroma with Krumhansl-Kessler profiles for key;
* library-based (:mod:`.metrics`): librosa's beat tracker, librosa's constant-Q chroma with the same
  profiles; both key estimates scored with mir_eval's MIREX weighting.

It prints a Markdown table of each against the ground truth and of the two against each other
(the figure ``docs/evaluation.md`` quotes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from songgen_hf.data.synth.analysis import estimate_key, estimate_tempo
from songgen_hf.data.synth.corpus_v2 import SLOW_BPM
from songgen_hf.evaluation.metrics import (
    MIN_ANALYSIS_SECONDS,
    SILENCE_RMS,
    estimate_key_or_none,
    estimate_tempo_bpm,
    key_scores,
    parse_key,
    require_eval_libraries,
    tempo_scores,
)
from songgen_hf.evaluation.prompts import read_manifest_rows, resolve_audio


def hand_written_tempo(audio: np.ndarray, sampling_rate: int) -> float:
    minimum = int(MIN_ANALYSIS_SECONDS * sampling_rate)
    audio = np.pad(audio, (0, max(0, minimum - len(audio))))
    return float(estimate_tempo(audio, sampling_rate))


def hand_written_key(audio: np.ndarray, sampling_rate: int):
    if len(audio) == 0 or np.sqrt(np.mean(np.square(audio, dtype=np.float64))) < SILENCE_RMS:
        return None
    return estimate_key(audio, sampling_rate)


def measure(manifest: Path, max_clips: int | None, max_duration: float, sampling_rate: int = 16000) -> list[dict]:
    """Per clip: ground truth and both families' estimates and scores."""
    from songgen_hf.data.audio import load_audio

    require_eval_libraries()
    rows = [row for row in read_manifest_rows(manifest, what="manifest") if isinstance(row.get("attributes"), dict)]
    measured = []
    for row in rows[:max_clips]:
        attributes = row["attributes"]
        audio = load_audio(resolve_audio(row, "audio_path", manifest.parent, manifest, True), sampling_rate)
        audio = np.asarray(audio[: int(round(max_duration * sampling_rate))], dtype=np.float64)
        reference_bpm, reference_key = float(attributes["tempo_bpm"]), parse_key(attributes["key"], attributes["mode"])
        clip = {"id": row.get("id"), "tempo_bpm": reference_bpm, "key": reference_key.name}
        for family, tempo_of, key_of in (
            ("hand_written", hand_written_tempo, hand_written_key),
            ("library", estimate_tempo_bpm, estimate_key_or_none),
        ):
            tempo, key = tempo_of(audio, sampling_rate), key_of(audio, sampling_rate)
            clip[family] = {
                "tempo_bpm": tempo,
                "key": None if key is None else key.name,
                **tempo_scores(tempo, reference_bpm),
                **key_scores(key, reference_key),
            }
        old, new = clip["hand_written"], clip["library"]
        clip["agree"] = {
            "tempo_acc1": tempo_scores(new["tempo_bpm"], old["tempo_bpm"])["tempo_acc1"]
            if old["tempo_bpm"] > 0
            else 0.0,
            "key_exact": float(old["key"] == new["key"]),
        }
        measured.append(clip)
    return measured


def agreement_table(measured: list[dict]) -> str:
    def mean(family: str, name: str) -> float:
        return float(np.mean([clip[family][name] for clip in measured]))

    lines = [
        "| estimators | tempo Acc1 | tempo Acc2 | tempo mean abs error (BPM) | key exact | key MIREX |",
        "|---|---|---|---|---|---|",
    ]
    for family, label in (("hand_written", "hand-written vs ground truth"), ("library", "library vs ground truth")):
        lines.append(
            f"| {label} | {mean(family, 'tempo_acc1'):.2f} | {mean(family, 'tempo_acc2'):.2f} | "
            f"{mean(family, 'tempo_abs_error_bpm'):.1f} | {mean(family, 'key_exact'):.2f} | "
            f"{mean(family, 'key_mirex'):.2f} |"
        )
    lines.append(
        f"| library vs hand-written (agreement) | {mean('agree', 'tempo_acc1'):.2f} | | | "
        f"{mean('agree', 'key_exact'):.2f} | |"
    )
    # Slow songs apart: a tempo estimator's typical failure there is reading them at double tempo.
    slow = [clip for clip in measured if clip["tempo_bpm"] < SLOW_BPM]
    fast = [clip for clip in measured if clip["tempo_bpm"] >= SLOW_BPM]
    lines.append(
        f"\n{len(measured)} clips ({len(slow)} below {SLOW_BPM} BPM). Tempo Acc1 below / at or above "
        f"{SLOW_BPM} BPM: "
        + "; ".join(
            f"{label} {_share(slow, family)} / {_share(fast, family)}"
            for family, label in (("hand_written", "hand-written"), ("library", "library"))
        )
        + "."
    )
    return "\n".join(lines)


def _share(clips: list[dict], family: str) -> str:
    return f"{np.mean([clip[family]['tempo_acc1'] for clip in clips]):.2f}" if clips else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m songgen_hf.evaluation.agreement", description=__doc__.split("\n")[0]
    )
    parser.add_argument("manifest", help="a `songgen data synth` manifest (manifest.jsonl or test.jsonl)")
    parser.add_argument("--max-clips", type=int, default=None, help="first N clips (default: all)")
    parser.add_argument("--max-duration", type=float, default=10.0, help="seconds of each mix (as `songgen evaluate`)")
    args = parser.parse_args(argv)
    try:
        if args.max_clips is not None and args.max_clips < 1:
            raise ValueError(f"--max-clips must be at least 1, got {args.max_clips}.")
        if not args.max_duration > 0:
            raise ValueError(f"--max-duration must be positive, got {args.max_duration}.")
        print(agreement_table(measure(Path(args.manifest), args.max_clips, args.max_duration)))
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
