"""AudioGen-style mixing augmentation on waveforms: two songs in, one new training song out.

Done at pre-encoding time (``songgen data encode --mix N``) so the codec never runs inside
the training loop.  A mix is fully described by a :class:`MixPlan` drawn up front from
``(seed, mix index)``, so a restarted encode redoes exactly the same mixes.

The level math, for a *primary* clip P (it sets the length L) and a *secondary* clip S (Ls):

1. **Reference level.**  Both mixtures are brought to the same RMS, ``reference_rms_db``
   (-25 dBFS as in AudioGen):  ``g_P = 10^(ref/20) / rms(P)``.
2. **SNR.**  S gets ``g_S = 10^((ref - snr)/20) / rms(S)``, hence, on the full clips,
   ``20 log10(rms(g_P P) / rms(g_S S)) = snr`` exactly.  ``snr`` is drawn uniformly from
   ``snr_db_range`` ([-5, 5] dB): either song may dominate.
3. **Overlap.**  S starts ``offset`` samples into P and is cut at P's end, so the two overlap
   for ``min(Ls, L - offset)`` samples.  Requiring at least ``min_overlap`` (0.5) of the
   shorter clip gives ``offset <= L - ceil(min_overlap * min(L, Ls))``; the offset is drawn
   uniformly from ``[0, that bound]``.
4. **Output level.**  The sum is rescaled to an RMS drawn from ``output_rms_db_range``
   ([-35, -15] dBFS), then scaled down further if its peak (over all tracks) would exceed
   ``peak_limit`` - clip protection never clips, it only lowers the gain.

The same gains and offset apply to the vocal and accompaniment stems, so for stems that sum
to their mixture the mixed stems still sum to the mixed mixture.  Text: captions are joined
(" and " for short tag-like captions, "; " when a caption is a sentence), lyrics come from the
song whose vocal is louder in the result (or both, joined by a line break).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

TRACKS = ("mix", "vocals", "accompaniment")


@dataclass(frozen=True)
class MixingOptions:
    num_mixes: int = 0
    """Extra mixed records to add to the dataset."""
    seed: int = 0
    snr_db_range: tuple[float, float] = (-5.0, 5.0)
    min_overlap: float = 0.5
    """Fraction of the shorter clip that must overlap the other."""
    reference_rms_db: float = -25.0
    output_rms_db_range: tuple[float, float] = (-35.0, -15.0)
    peak_limit: float = 0.99
    caption_separator: str | None = None
    """None chooses " and " or "; " from the captions; any string forces it."""
    lyrics: Literal["louder", "join"] = "louder"

    def __post_init__(self):
        if self.num_mixes < 0:
            raise ValueError(f"num_mixes must be >= 0, got {self.num_mixes}.")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}.")
        for name in ("snr_db_range", "output_rms_db_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {(low, high)}.")
        if self.lyrics not in ("louder", "join"):
            raise ValueError(f"lyrics must be 'louder' or 'join', got {self.lyrics!r}.")
        if not 0.0 < self.peak_limit <= 1.0:
            raise ValueError(f"peak_limit must be in (0, 1], got {self.peak_limit}.")


@dataclass(frozen=True)
class MixPlan:
    """Everything random about one mix, drawn before any audio is read."""

    index: int
    primary: int
    secondary: int
    snr_db: float
    offset_fraction: float
    output_rms_db: float


@dataclass(frozen=True)
class MixResult:
    tracks: dict[str, np.ndarray]
    """The mixed "mix" and, when both songs have them, "vocals" / "accompaniment"."""
    snr_db: float
    offset: int
    overlap: int
    overlap_fraction: float
    """overlap / min(L, Ls)."""
    primary_gain: float
    secondary_gain: float
    output_gain: float
    louder: Literal["primary", "secondary"]


def plan_mixes(num_records: int, options: MixingOptions) -> list[MixPlan]:
    if options.num_mixes and num_records < 2:
        raise ValueError(f"Mixing augmentation needs at least 2 usable records, found {num_records}.")
    plans = []
    for index in range(options.num_mixes):
        rng = np.random.default_rng([options.seed, index])
        primary, secondary = (int(i) for i in rng.choice(num_records, size=2, replace=False))
        plans.append(
            MixPlan(
                index=index,
                primary=primary,
                secondary=secondary,
                snr_db=float(rng.uniform(*options.snr_db_range)),
                offset_fraction=float(rng.random()),
                output_rms_db=float(rng.uniform(*options.output_rms_db_range)),
            )
        )
    return plans


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def max_offset(length: int, secondary_length: int, min_overlap: float) -> int:
    """Largest start of the secondary clip that keeps the required overlap."""
    needed = math.ceil(min_overlap * min(length, secondary_length))
    return max(0, length - needed)


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    if audio.shape[-1] >= length:
        return audio[:length]
    return np.pad(audio, (0, length - audio.shape[-1]))


def mix_tracks(
    primary: dict[str, np.ndarray],
    secondary: dict[str, np.ndarray],
    snr_db: float,
    offset_fraction: float,
    output_rms_db: float,
    min_overlap: float = 0.5,
    reference_rms_db: float = -25.0,
    peak_limit: float = 0.99,
) -> MixResult:
    """Mix two songs' tracks (mono float arrays at one rate) as described in the module docstring."""
    length, secondary_length = primary["mix"].shape[-1], secondary["mix"].shape[-1]
    level_p, level_s = rms(primary["mix"]), rms(secondary["mix"])
    if level_p < 1e-8 or level_s < 1e-8:
        raise ValueError("Cannot mix a silent clip: its level is undefined.")
    reference = db_to_amplitude(reference_rms_db)
    gain_p = reference / level_p
    gain_s = reference * db_to_amplitude(-snr_db) / level_s
    offset = min(
        int(offset_fraction * (max_offset(length, secondary_length, min_overlap) + 1)),
        max_offset(length, secondary_length, min_overlap),
    )
    overlap = min(secondary_length, length - offset)

    names = [t for t in TRACKS if primary.get(t) is not None and secondary.get(t) is not None]
    mixed = {}
    for name in names:
        track = gain_p * _fit(primary[name], length).astype(np.float64)
        track[offset : offset + overlap] += gain_s * _fit(secondary[name], secondary_length)[:overlap]
        mixed[name] = track
    output_gain = db_to_amplitude(output_rms_db) / max(rms(mixed["mix"]), 1e-12)
    peak = max(float(np.abs(track).max()) for track in mixed.values()) * output_gain
    if peak > peak_limit:
        output_gain *= peak_limit / peak

    if "vocals" in mixed:
        vocal_p = gain_p * rms(_fit(primary["vocals"], length))
        vocal_s = gain_s * rms(_fit(secondary["vocals"], secondary_length)[:overlap])
        louder = "primary" if vocal_p >= vocal_s else "secondary"
    else:
        louder = "primary" if snr_db >= 0 else "secondary"
    return MixResult(
        tracks={name: (track * output_gain).astype(np.float32) for name, track in mixed.items()},
        snr_db=float(snr_db),
        offset=int(offset),
        overlap=int(overlap),
        overlap_fraction=overlap / min(length, secondary_length),
        primary_gain=gain_p * output_gain,
        secondary_gain=gain_s * output_gain,
        output_gain=output_gain,
        louder=louder,
    )


def join_captions(first: str, second: str, separator: str | None = None) -> str:
    first, second = first.strip(), second.strip()
    if first == second:
        return first
    if separator is None:
        # sentence-style captions read better split by a semicolon than chained with "and"
        sentence = any(text.endswith(".") or ". " in text for text in (first, second))
        separator = "; " if sentence else " and "
    return f"{first.rstrip('.;, ')}{separator}{second}"


def choose_lyrics(primary: str, secondary: str, louder: str, mode: str = "louder") -> str:
    if mode == "join":
        return "\n".join(text for text in (primary.strip(), secondary.strip()) if text)
    return primary if louder == "primary" else secondary


__all__ = [
    "MixPlan",
    "MixResult",
    "MixingOptions",
    "choose_lyrics",
    "db_to_amplitude",
    "join_captions",
    "max_offset",
    "mix_tracks",
    "plan_mixes",
    "rms",
]
