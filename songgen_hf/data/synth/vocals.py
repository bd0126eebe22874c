"""Sung vocals from espeak-ng: one spoken syllable per melody note, re-pitched.

Each syllable is spoken once per (voice, text) in a *monotone* (SSML prosody
range 0), which gives a nearly constant, known F0.  A pitch-synchronous
overlap-add (TD-PSOLA) then moves it to the note's pitch, with scoop and
vibrato, and stretches the vowel to the note length.  PSOLA keeps the formants
where they were, so the voice does not turn into a chipmunk when shifted, and it
lets the syllable cache be reused for every pitch.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
from scipy.signal import resample_poly

from songgen_hf.modeling.music import midi_to_hz

ESPEAK_SAMPLE_RATE = 22050
ESPEAK_WORDS_PER_MINUTE = 140  # slower than speech: longer vowels to sustain
SYLLABLE_TARGET_RMS = 0.1
_FRAME_SECONDS = 0.01


@dataclass(frozen=True)
class SyllableSample:
    """A trimmed monotone syllable ready for PSOLA."""

    audio: np.ndarray  # float64, at the corpus sampling rate
    period: int  # analysis pitch period in samples
    marks: np.ndarray  # analysis pitch marks (sample indices into ``audio``)
    nucleus: tuple[int, int]  # loud (vowel) region that gets stretched


@dataclass(frozen=True)
class SingingStyle:
    """Per-clip performance parameters (drawn from the clip's RNG)."""

    vibrato_semitones: float
    vibrato_hz: float
    scoop_semitones: float


@dataclass(frozen=True)
class SungNote:
    onset_s: float
    duration_s: float  # time until the singer stops (shorter than the notated length)
    midi: int
    syllable: str


def _parse_wav_stdout(raw: bytes) -> np.ndarray:
    """espeak-ng --stdout writes a 16-bit mono WAV whose size fields are placeholders,
    so read the chunks by hand and take everything after the ``data`` tag."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not return a WAV stream")
    position = 12
    while position + 8 <= len(raw):
        tag = raw[position : position + 4]
        size = int.from_bytes(raw[position + 4 : position + 8], "little")
        if tag == b"data":
            payload = raw[position + 8 :]
            payload = payload[: len(payload) // 2 * 2]
            return np.frombuffer(payload, dtype="<i2").astype(np.float64) / 32768.0
        position += 8 + size
    raise RuntimeError("espeak-ng WAV stream has no data chunk")


def speak_monotone(text: str, voice: str, pitch: int) -> np.ndarray:
    """Raw espeak-ng audio (22.05 kHz float) of ``text`` spoken at one pitch."""
    ssml = f'<speak><prosody range="0">{escape(text)}</prosody></speak>'
    command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(ESPEAK_WORDS_PER_MINUTE), "-m", "--stdout", ssml]
    result = subprocess.run(command, capture_output=True, check=True)
    return _parse_wav_stdout(result.stdout)


def _frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    count = max(1, len(audio) // frame)
    frames = audio[: count * frame].reshape(count, frame) if len(audio) >= frame else audio[None, :]
    return np.sqrt(np.mean(frames**2, axis=1))


def estimate_f0(audio: np.ndarray, sampling_rate: int, low_hz: float = 70.0, high_hz: float = 600.0) -> float:
    """Median autocorrelation F0 over the clearly voiced frames."""
    window = int(0.04 * sampling_rate)
    hop = window // 2
    shortest, longest = int(sampling_rate / high_hz), int(sampling_rate / low_hz)
    peak_rms = _frame_rms(audio, window).max() if len(audio) else 0.0
    estimates = []
    taper = np.hanning(window)
    for start in range(0, len(audio) - window, hop):
        frame = audio[start : start + window] * taper
        if np.sqrt(np.mean(frame**2)) < 0.2 * peak_rms:
            continue
        spectrum = np.fft.rfft(frame, 2 * window)
        correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:window]
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[0] > 0 and correlation[lag] / correlation[0] > 0.5:
            estimates.append(sampling_rate / lag)
    if not estimates:
        raise RuntimeError("no voiced frame found in espeak-ng output")
    return float(np.median(estimates))


def _pitch_marks(audio: np.ndarray, period: int) -> np.ndarray:
    """Marks one period apart, each nudged to the local waveform peak so grains
    are cut at the same phase of the glottal cycle."""
    anchor = int(np.argmax(np.abs(audio)))
    polarity = np.sign(audio[anchor]) or 1.0
    signed = polarity * audio
    reach = max(1, period // 8)

    def walk(step: int) -> list[int]:
        marks, position = [], anchor
        while True:
            guess = position + step * period
            if guess < 0 or guess >= len(audio):
                return marks
            lo, hi = max(0, guess - reach), min(len(audio), guess + reach + 1)
            position = lo + int(np.argmax(signed[lo:hi]))
            marks.append(position)

    return np.array(sorted(walk(-1) + [anchor] + walk(1)), dtype=np.int64)


@functools.lru_cache(maxsize=64)
def voice_reference_f0(voice: str, pitch: int, sampling_rate: int) -> float:
    """F0 of the voice's monotone, measured on a long open vowel."""
    spoken = speak_monotone("lah", voice, pitch)
    return estimate_f0(resample_poly(spoken, sampling_rate, ESPEAK_SAMPLE_RATE), sampling_rate)


def _syllable_period(audio: np.ndarray, voice: str, pitch: int, sampling_rate: int) -> int:
    """The syllable's own F0 unless it strays from the voice's monotone (an
    octave error on a short or breathy syllable), then the voice reference."""
    reference = voice_reference_f0(voice, pitch, sampling_rate)
    try:
        measured = estimate_f0(audio, sampling_rate)
    except RuntimeError:
        measured = reference
    f0 = measured if abs(np.log2(measured / reference)) < 0.15 else reference
    return int(round(sampling_rate / f0))


@functools.lru_cache(maxsize=4096)
def load_syllable(text: str, voice: str, pitch: int, sampling_rate: int) -> SyllableSample:
    """Speak, resample, trim and analyse one syllable (cached per process; the
    result depends only on the arguments, so caching never changes the output)."""
    spoken = speak_monotone(text, voice, pitch)
    audio = resample_poly(spoken, sampling_rate, ESPEAK_SAMPLE_RATE) if sampling_rate != ESPEAK_SAMPLE_RATE else spoken
    frame = int(_FRAME_SECONDS * sampling_rate)
    rms = _frame_rms(audio, frame)
    audible = np.flatnonzero(rms > 0.02 * rms.max())
    start, stop = audible[0] * frame, min(len(audio), (audible[-1] + 1) * frame)
    audio = audio[start:stop]
    rms = rms[audible[0] : audible[-1] + 1]
    loud = np.flatnonzero(rms > 0.3 * rms.max())
    nucleus = (int(loud[0] * frame), int(min(len(audio), (loud[-1] + 1) * frame)))
    period = _syllable_period(audio, voice, pitch, sampling_rate)
    audio = audio / (np.sqrt(np.mean(audio**2)) + 1e-12) * SYLLABLE_TARGET_RMS
    audio.setflags(write=False)
    marks = _pitch_marks(audio, period)
    marks.setflags(write=False)
    return SyllableSample(audio, period, marks, nucleus)


def _time_map(output_length: int, sample: SyllableSample) -> np.ndarray:
    """Source position for every output sample: consonants keep their natural
    speed and only the vowel nucleus is stretched (or squeezed); a note too
    short even for that compresses the whole syllable evenly."""
    source_length = len(sample.audio)
    outputs = np.arange(output_length, dtype=np.float64)
    head, tail_start = sample.nucleus
    tail = source_length - tail_start
    if output_length <= head + tail + (tail_start - head) // 2:
        return outputs * (source_length / max(1, output_length))
    knots_out = [0.0, head, output_length - tail, output_length]
    knots_in = [0.0, head, tail_start, source_length]
    return np.interp(outputs, knots_out, knots_in)


def _pitch_contour(num_samples: int, midi: int, style: SingingStyle, sampling_rate: int) -> np.ndarray:
    seconds = np.arange(num_samples) / sampling_rate
    semitones = -style.scoop_semitones * np.exp(-seconds / 0.035)
    # Vibrato fades in after the attack, as trained singers do on held notes.
    depth = style.vibrato_semitones * np.clip((seconds - 0.18) / 0.2, 0.0, 1.0)
    semitones = semitones + depth * np.sin(2 * np.pi * style.vibrato_hz * seconds)
    return midi_to_hz(midi) * 2.0 ** (semitones / 12.0)


def sing_syllable(
    sample: SyllableSample, midi: int, duration_s: float, style: SingingStyle, sampling_rate: int
) -> np.ndarray:
    """TD-PSOLA: two-period Hann grains from the analysis marks, re-laid at the
    target period, chosen along the time map."""
    length = max(1, int(round(duration_s * sampling_rate)))
    frequency = _pitch_contour(length, midi, style, sampling_rate)
    phase = np.cumsum(frequency / sampling_rate)
    synthesis_marks = np.concatenate([[0], np.flatnonzero(np.diff(np.floor(phase))) + 1])
    source_positions = _time_map(length, sample)[synthesis_marks]
    nearest = np.clip(np.searchsorted(sample.marks, source_positions), 1, len(sample.marks) - 1)
    previous_closer = (source_positions - sample.marks[nearest - 1]) < (sample.marks[nearest] - source_positions)
    analysis_marks = (
        sample.marks[nearest - previous_closer.astype(int)]
        if len(sample.marks) > 1
        else sample.marks[[0] * len(synthesis_marks)]
    )

    half = sample.period
    offsets = np.arange(-half, half + 1)
    padded = np.pad(sample.audio, half)
    grains = padded[analysis_marks[:, None] + half + offsets[None, :]] * np.hanning(2 * half + 1)[None, :]
    positions = synthesis_marks[:, None] + half + offsets[None, :]
    output = np.bincount(positions.ravel(), weights=grains.ravel(), minlength=length + 2 * half + 1)[
        half : half + length
    ]

    rms = np.sqrt(np.mean(output**2))
    if rms > 0:
        output *= SYLLABLE_TARGET_RMS / rms
    attack = min(length, int(0.005 * sampling_rate))
    release = min(length, int(min(0.03, 0.25 * duration_s) * sampling_rate))
    output[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False)
    if release:
        output[-release:] *= np.linspace(1.0, 0.0, release)
    return output


def render_vocal_track(
    notes: list[SungNote],
    voice: str,
    espeak_pitch: int,
    style: SingingStyle,
    num_samples: int,
    sampling_rate: int,
    note_gains_db: list[float] | None = None,
) -> np.ndarray:
    """Place every sung syllable at its onset; silence everywhere else."""
    track = np.zeros(num_samples, dtype=np.float64)
    for index, note in enumerate(notes):
        sample = load_syllable(note.syllable, voice, espeak_pitch, sampling_rate)
        sung = sing_syllable(sample, note.midi, note.duration_s, style, sampling_rate)
        if note_gains_db is not None:
            sung = sung * 10.0 ** (note_gains_db[index] / 20.0)
        start = int(round(note.onset_s * sampling_rate))
        stop = min(num_samples, start + len(sung))
        track[start:stop] += sung[: stop - start]
    return track
