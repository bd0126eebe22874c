"""Stage 3: voice-activity detection on the vocal stem and slicing into clips that do not cut words.

VAD is silero-vad (its model ships inside the pip package: nothing is downloaded).  It returns the
voiced segments of the separated vocal stem; clip boundaries may only fall outside them:

* a clip starts in the last silent 20 ms of the vocal stem (20 dB under its loud frames) within 1 s
  before a segment's first voice -- silero fires late on sung onsets -- or 1 s before it when no
  frame there is silent; never before the middle of the gap since the previous segment.  It grows
  segment by segment while it stays within ``max_seconds`` and is shorter than ``target_seconds``;
* it ends in the first silent frame within 1 s after its last voice (or 1 s after it; never past
  the middle of the gap to the next segment), and is stretched into the gaps around it (never
  into voice) to reach ``min_seconds``;
* a clip still shorter than ``min_seconds`` joins the clip before it when both fit in ``max_seconds``
  (a song's last phrase), else it is dropped ("clip too short"); one voiced stretch longer
  than ``max_seconds`` is cut at its quietest 20 ms frame (counted as a forced cut), the only case
  where a cut can land in voice.

Stretches without voice (intros, solos) belong to no clip.  Times are in seconds at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songgen_hf.data.prepare.models import require

RATE = 16000
ENVELOPE_HOP = 320  # 20 ms frames for finding the quietest point of an over-long voiced stretch
REFINE_SECONDS = 1.0  # how far from the VAD boundary a clip boundary may move to find vocal silence
QUIET_DB = -20.0  # a 20 ms frame this far under the stem's loud frames (95th percentile) holds no note


@dataclass(frozen=True)
class SliceOptions:
    min_seconds: float = 10.0
    max_seconds: float = 30.0
    target_seconds: float = 15.0  # SongGen's clips are about 15 s
    pad_seconds: float = 0.3
    vad_threshold: float = 0.35  # lower than silero's 0.5 for speech: singing scores lower (docs/performance.md)
    min_silence_ms: int = 200  # a pause shorter than this does not split a segment: a breath between words

    def __post_init__(self):
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"Clip lengths need 0 < --min-clip-seconds ({self.min_seconds}) <= --max-clip-seconds "
                f"({self.max_seconds})."
            )
        if not 0 < self.vad_threshold < 1:
            raise ValueError(f"--vad-threshold must lie in (0, 1), got {self.vad_threshold}.")


_VAD_MODEL = None


def voice_segments(vocals: np.ndarray, options: SliceOptions) -> list[tuple[float, float]]:
    """Voiced (start, end) seconds of a 16 kHz vocal stem, by silero-vad."""
    global _VAD_MODEL
    silero = require("silero_vad")
    import torch

    if _VAD_MODEL is None:
        _VAD_MODEL = silero.load_silero_vad()
    peak = float(np.abs(vocals).max()) if vocals.size else 0.0
    if peak < 1e-4:
        return []
    # silero was trained on speech at conversational levels; peak-normalise so quiet stems are heard
    audio = torch.from_numpy(np.ascontiguousarray(vocals / peak * 0.9, dtype=np.float32))
    stamps = silero.get_speech_timestamps(
        audio,
        _VAD_MODEL,
        threshold=options.vad_threshold,
        sampling_rate=RATE,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=0,
    )
    return [(s["start"] / RATE, s["end"] / RATE) for s in stamps]


def _quietest_cut(vocals: np.ndarray, start: float, lo: float, hi: float) -> float:
    a, b = int(lo * RATE), int(hi * RATE)
    frames = vocals[a:b][: (b - a) // ENVELOPE_HOP * ENVELOPE_HOP].reshape(-1, ENVELOPE_HOP)
    if not len(frames):
        return hi
    return lo + (int(np.argmin(np.square(frames).mean(axis=1))) + 0.5) * ENVELOPE_HOP / RATE


def split_long(segments: list[tuple[float, float]], vocals: np.ndarray, options: SliceOptions) -> tuple[list, int]:
    """Segments longer than a clip can hold, cut at their quietest points; returns (segments, forced cuts)."""
    limit = options.max_seconds - 2 * options.pad_seconds
    out, forced = [], 0
    for start, end in segments:
        while end - start > limit:
            cut = _quietest_cut(vocals, start, start + min(options.min_seconds, limit) * 0.5, start + limit)
            out.append((start, cut))
            start, forced = cut, forced + 1
        out.append((start, end))
    return out, forced


def _frame_energies(vocals: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a, b = int(lo * RATE), int(hi * RATE)
    frames = vocals[a:b][: (b - a) // ENVELOPE_HOP * ENVELOPE_HOP].reshape(-1, ENVELOPE_HOP)
    return np.square(frames, dtype=np.float64).mean(axis=1)


def _quiet_cut(vocals: np.ndarray | None, lo: float, hi: float, fallback: float, before: bool, loud: float) -> float:
    """Where to cut in [lo, hi]: the quiet 20 ms frame (``QUIET_DB`` under ``loud``) nearest the voice, or,
    when no frame there is quiet (a note sounds throughout), the edge farthest from it: in doubt a
    clip takes more context rather than cutting a note.  ``fallback`` without vocals."""
    if vocals is None or hi - lo < ENVELOPE_HOP / RATE:
        return fallback
    quiet = np.flatnonzero(_frame_energies(vocals, lo, hi) <= loud * 10 ** (QUIET_DB / 10))
    if not len(quiet):
        return lo if before else hi
    frame = quiet[-1] if before else quiet[0]
    return lo + (int(frame) + 0.5) * ENVELOPE_HOP / RATE


def plan_clips(
    segments: list[tuple[float, float]], duration: float, options: SliceOptions, vocals: np.ndarray | None = None
) -> tuple[list, int]:
    """Clip (start, end, first segment, last segment) windows; returns (clips, clips dropped as too short).

    With the vocal stem, a clip starts/ends in vocal silence within ``REFINE_SECONDS`` before its
    first / after its last voiced segment (silero fires late on sung onsets), see :func:`_quiet_cut`;
    without it, ``pad`` seconds away."""
    clips, dropped, i = [], 0, 0
    pad = options.pad_seconds
    loud = 0.0
    if vocals is not None and len(vocals) >= ENVELOPE_HOP:
        loud = float(np.percentile(_frame_energies(vocals, 0.0, len(vocals) / RATE), 95))
    while i < len(segments):
        low = max((segments[i - 1][1] + segments[i][0]) / 2 if i else 0.0, clips[-1][1] if clips else 0.0)
        first = segments[i][0]
        start = max(_quiet_cut(vocals, max(low, first - REFINE_SECONDS), first, first - pad, True, loud), low)
        j = i
        while (
            j + 1 < len(segments)
            and segments[j + 1][1] + pad - start <= options.max_seconds
            and segments[j][1] + pad - start < options.target_seconds
        ):
            j += 1
        high = (segments[j][1] + segments[j + 1][0]) / 2 if j + 1 < len(segments) else duration
        last = segments[j][1]
        end = min(_quiet_cut(vocals, last, min(high, last + REFINE_SECONDS), last + pad, False, loud), high)
        if end - start < options.min_seconds:  # stretch into the gap, never into the next voice
            limit = segments[j + 1][0] if j + 1 < len(segments) else duration
            end = min(start + options.min_seconds, limit)
            start = max(low, min(start, end - options.min_seconds))  # then back into the gap before
        if end - start < options.min_seconds - 1e-6:
            merged = clips[-1][0] if clips and clips[-1][1] >= low - 1e-6 else None
            if merged is not None and segments[j][1] + pad - merged <= options.max_seconds:
                # a short tail joins the clip before it when the two fit in one clip
                clips[-1] = (clips[-1][0], round(min(segments[j][1] + pad, high), 4), clips[-1][2], j)
            else:
                dropped += 1
        else:
            clips.append((round(start, 4), round(min(end, start + options.max_seconds), 4), i, j))
        i = j + 1
    return clips, dropped


__all__ = ["SliceOptions", "plan_clips", "split_long", "voice_segments"]
