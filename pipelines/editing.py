"""Editing a song: a stretch re-made (new words, a new feel), or the song continued past its end, every other
sample kept exactly as it was.

How an edit is made (:func:`edit_song`; :func:`extend_song` is the same with the span past the song's end):

* **the span** ``[start, end)`` is re-made as a later window of a long song is made: the text-to-song pipeline
  continues the song's own codes before the span (its *context*, the codec's codes of the song's audio, up to the
  model's default context) through ``audio_prompt_codes``, and adds the span's frames and a short stretch after
  it (:data:`FOLLOW_S`);
* **several candidates** are drawn in one batch, and the one whose end best continues into the song is kept: the
  *continuation score* (:func:`continuation_score`) is minus the mean absolute difference, in decibels, between the
  log-mel spectrograms (40 bands, 32 ms frames every 10 ms) of the candidate and of the song from the span's last
  half second (:data:`SCORED_BEFORE_END_S`, where the two are crossfaded) to the end of the song's audio in the
  window's tail (up to :data:`FOLLOW_S`), so 0 is a perfect match; with nothing after the span (its end is the
  song's) the first candidate is kept;
* **the join**: the output is the input's own samples, with the chosen candidate's samples in the span, faded in
  over the span's first :data:`DEFAULT_CROSSFADE_S` and out over its last (equal-power: sine and cosine gains).
  The crossfades lie inside the span, so every sample before ``start`` and from ``end`` on is the input's, bit for
  bit (the audio is composed from the input's samples and written with the input's sample format; nothing outside
  the span is decoded again).  An extension keeps every sample of the song and adds the new ones after it, the
  first of them shifted to meet the song's last sample and the shift faded out over the crossfade's length;
* **the words**: new lyrics are sung inside the span: the told singer's score is planned with the window's
  sections (the context and the stretch after the span instrumental, the span sung), its bars inside the span
  (:meth:`EditPlan.sections`), and the decoder reads the new lyrics as the window's.

A dual-track model continues each track from its own codes: give the song's stems (``songgen generate --stems``
writes them), or the mix is read as the accompaniment and the vocal track's context is the codec's silence.
Everything here that needs no weights (the file, the span) is checked before the model loads
(:func:`read_song`, :func:`plan_edit`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from songgen_hf.modeling.limits import check_number
from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S

DEFAULT_CANDIDATES = 4
MAX_CANDIDATES = 16
# short enough to keep the span's own start and end, long enough that no click is heard at a join
DEFAULT_CROSSFADE_S = 0.05
# the seconds after the span each candidate also makes: its continuation is scored on those the song has, and the
# told singer's last note rings out there (at least 0.8 s, vocal_score_songgen's MIN_FINAL_RING_S)
FOLLOW_S = 1.0
# the seconds of the span's end scored with what follows it
SCORED_BEFORE_END_S = 0.5
# codec frames encoded before the context, so that its first codes hear the audio before them as in the whole song
_ENCODE_MARGIN_FRAMES = 25
# a song file: at most 10 minutes of 8 channels of 64-bit samples at 48 kHz, with room for headers
MAX_SONG_FILE_BYTES = int(MAX_SONG_S * 48_000 * 8 * 8) + 2**20
# sample formats read and written back exactly (each read as float64, which holds every one of them)
EXACT_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
_FLAC_SUBTYPES = frozenset({"PCM_S8", "PCM_16", "PCM_24"})
EDIT_OUTPUT_SUFFIXES = (".wav", ".flac")
STEM_NAMES = ("vocals", "accompaniment")


class EditError(ValueError):
    """An edit that cannot be made as asked (the file, the span, the stems); the message says what to change."""


# ---------------------------------------------------------------------- the song file
@dataclass(frozen=True)
class SongAudio:
    """A song as read from its file: ``samples`` ``(channels, frames)`` float64, exactly the file's values, its
    sampling rate and its sample format (``subtype``, soundfile's name; ``None`` for an array given in Python)."""

    samples: np.ndarray
    sampling_rate: int
    subtype: str | None = None
    path: Path | None = None

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[-1])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sampling_rate


def read_song(path: str | Path, sampling_rate: int, what: str = "SONG") -> SongAudio:
    """The song at ``path``, checked: a regular file (a FIFO or a device is refused without blocking), at most
    :data:`MAX_SONG_FILE_BYTES`, audio soundfile reads, at ``sampling_rate`` (the model's: a song at another rate
    is refused with the rate it needs, as resampling would change every sample), at most ``MAX_SONG_S`` long.
    ``EditError`` (or the safe reader's ``FileReadError``, a ``ValueError`` too) otherwise.  The file is only read."""
    import soundfile as sf

    from songgen_hf.utils.safe_files import open_regular

    path = Path(path)
    if not path.exists():
        raise EditError(f"{what} {path} does not exist.")
    handle = open_regular(path, what)
    try:
        size = os.fstat(handle).st_size
        if size > MAX_SONG_FILE_BYTES:
            raise EditError(
                f"{what} {path} is {size / 2**20:.0f} MB, larger than any song of at most {MAX_SONG_S / 60:g} minutes "
                f"({MAX_SONG_FILE_BYTES / 2**20:.0f} MB); check that it is the right file."
            )
        with os.fdopen(handle, "rb", closefd=False) as stream:
            try:
                with sf.SoundFile(stream) as audio:
                    rate, frames, subtype = int(audio.samplerate), int(audio.frames), audio.subtype
                    if rate != sampling_rate:
                        raise EditError(
                            f"{what} {path} is at {rate} Hz, but this model makes songs at {sampling_rate} Hz; "
                            f"resample it first (e.g. ffmpeg -i {path.name} -ar {sampling_rate} "
                            f"song_{sampling_rate}.wav): an edit keeps every other sample exactly, so it does not "
                            "resample for you."
                        )
                    if frames < 1:
                        raise EditError(f"{what} {path} holds no audio.")
                    if frames > MAX_SONG_S * rate:
                        raise EditError(
                            f"{what} {path} is {frames / rate:.0f} s long; songs of at most {MAX_SONG_S:g} s "
                            "(songgen_hf.modeling.songgen.arguments_songgen.MAX_SONG_S) can be edited."
                        )
                    samples = audio.read(dtype="float64", always_2d=True).T
            except (sf.LibsndfileError, RuntimeError, TypeError) as error:
                raise EditError(
                    f"{what} {path} is not audio that can be read ({str(error).strip() or type(error).__name__}); "
                    "give a WAV or FLAC file."
                ) from None
    finally:
        os.close(handle)
    if not np.isfinite(samples).all():
        raise EditError(f"{what} {path} holds NaN or infinite samples; it cannot be edited.")
    return SongAudio(np.ascontiguousarray(samples), rate, subtype, path)


def as_song(song: Any, sampling_rate: int | None = None, what: str = "song") -> SongAudio:
    """``song`` (a :class:`SongAudio`, an ``(array, sampling_rate)`` pair or an array ``(samples,)`` / ``(channels,
    samples)`` at ``sampling_rate``) as a :class:`SongAudio` with float64 samples."""
    if isinstance(song, SongAudio):
        return song
    if isinstance(song, (str, os.PathLike)):
        if sampling_rate is None:
            raise EditError(f"Reading the {what} from a file needs the model's sampling rate.")
        return read_song(song, sampling_rate, what)
    rate = sampling_rate
    if isinstance(song, tuple) and len(song) == 2:
        song, rate = song
    samples = np.asarray(song.detach().cpu() if hasattr(song, "detach") else song, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[None]
    if samples.ndim != 2 or samples.shape[-1] < 1 or not np.isfinite(samples).all():
        raise EditError(f"The {what} must be finite audio (samples,) or (channels, samples), got {samples.shape}.")
    if rate is None:
        raise EditError(f"Give the {what}'s sampling rate: (array, sampling_rate).")
    return SongAudio(np.ascontiguousarray(samples), int(rate))


# ---------------------------------------------------------------------- the span
@dataclass(frozen=True)
class EditPlan:
    """Where an edit lies in the song and in the window that re-makes it.

    The span is ``[start_sample, end_sample)`` of the song (past its end for an extension).  The window starts at
    the song's frame ``window_start`` and holds ``frames`` codec frames: ``context_frames`` of the song's own codes,
    then the new ones up to the frame holding ``end_sample``, then ``tail_frames`` more, of which the first
    ``follow_frames`` (those the song has) score each candidate's continuation.  ``bar_s``: the bar of the song's
    tempo the context was cut to (``None``: not cut), so that the span starts on a bar of the told singer's
    score."""

    start_sample: int
    end_sample: int
    window_start: int
    context_frames: int
    frames: int
    tail_frames: int
    follow_frames: int
    crossfade: int
    hop: int
    sampling_rate: int
    extend: bool = False
    bar_s: float | None = None

    @property
    def frame_rate(self) -> float:
        return self.sampling_rate / self.hop

    @property
    def duration_s(self) -> float:
        """The window's length, the ``duration_s`` it is generated with."""
        return self.frames / self.frame_rate

    @property
    def window_sample(self) -> int:
        """The song's sample where the window's audio starts."""
        return self.window_start * self.hop

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sampling_rate

    @property
    def end_s(self) -> float:
        return self.end_sample / self.sampling_rate

    def sung_bars(self, bar_s: float) -> tuple[float, float]:
        """``(start, end)`` seconds into the window of the whole bars (of ``bar_s``, on the score's grid, which starts
        with the window) that lie inside the span and leave the last note room to ring before the window ends; an
        empty stretch (``end <= start``) when none does."""
        from songgen_hf.modeling.music import MIN_FINAL_RING_S

        start = (self.start_sample - self.window_sample) / self.sampling_rate
        end = (self.end_sample - self.window_sample) / self.sampling_rate
        first = math.ceil(start / bar_s - 1e-6)
        last = min(math.floor(end / bar_s + 1e-6), int((self.duration_s - MIN_FINAL_RING_S + 1e-9) // bar_s))
        return first * bar_s, last * bar_s

    def sections(self, lyrics: str, bar_s: float | None = None) -> list[dict]:
        """The window's sections, as a plan hands them to the told singer's score: the context and the stretch after
        the span instrumental, the span singing ``lyrics``.  With ``bar_s`` the sung section is cut to the whole bars
        inside the span (:meth:`sung_bars`), so every sung note starts and ends in the span."""
        start = (self.start_sample - self.window_sample) / self.sampling_rate
        end = (self.end_sample - self.window_sample) / self.sampling_rate
        sung = (start, end) if bar_s is None else self.sung_bars(bar_s)
        lines = [line for line in (lyrics or "").splitlines() if line.strip()]
        sections = []
        if sung[0] > 0:
            sections.append({"section": "context", "start_s": 0.0, "end_s": sung[0], "lines": []})
        sections.append({"section": "edit", "start_s": sung[0], "end_s": max(sung), "lines": lines})
        if max(sung) < self.duration_s:
            sections.append({"section": "after", "start_s": max(sung), "end_s": self.duration_s, "lines": []})
        return sections


def _round_sample(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))


def plan_edit(
    config,
    song_samples: int,
    start_s: float,
    end_s: float,
    *,
    context_s: float | None = None,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
    follow_s: float = FOLLOW_S,
    bar_s: float | None = None,
    extend: bool = False,
    names: dict[str, str] | None = None,
) -> EditPlan:
    """The :class:`EditPlan` of re-making ``[start_s, end_s)`` of a song of ``song_samples`` samples with a model of
    ``config`` (a ``SongGenConfig``; no weights needed), or ``EditError`` naming the option (``names``: how messages
    spell ``start_s`` / ``end_s`` / ``context_s``, e.g. ``{"start_s": "--start"}``): a span outside the song,
    shorter than one codec frame, or longer than the model's window.  ``bar_s``: the context is cut to whole bars
    of this length (where it holds one), so that the told singer's bars start with the span.  ``extend``: the span
    lies past the song's end (``start_s`` is the song's length)."""
    from songgen_hf.modeling.songgen.windows_songgen import max_duration_s, song_windows

    names = {key: key for key in ("start_s", "end_s", "context_s", "crossfade_s")} | (names or {})
    rate = int(config.sampling_rate)
    hop = int(config.audio_encoder.hop_length)
    frame_rate = rate / hop
    song_s = song_samples / rate
    for key, value in (("start_s", start_s), ("end_s", end_s)):
        check_number(names[key], value, minimum=0, maximum=MAX_SONG_S, example=round(song_s / 2, 2))
    check_number(names["crossfade_s"], crossfade_s, minimum=0, maximum=1, example=DEFAULT_CROSSFADE_S)
    start, end = _round_sample(start_s, rate), _round_sample(end_s, rate)
    if not extend and end > song_samples:
        raise EditError(
            f"{names['end_s']} {end_s:g} lies past the song's end ({song_s:.2f} s); give a span inside the song "
            "(songgen extend continues a song past its end)."
        )
    if end <= start:
        raise EditError(f"{names['end_s']} {end_s:g} must come after {names['start_s']} {start_s:g}.")
    if end - start < hop:
        raise EditError(
            f"The span {start_s:g}-{end_s:g} s is shorter than one codec frame ({1 / frame_rate:g} s); "
            "give a longer one."
        )
    # a span is re-made in one decoding pass: as long as one can be, whatever window a long song is made in
    window, default_context = song_windows(config, max_duration_s(config), None)
    first = start // hop  # the first frame re-made
    last = -(-end // hop)  # past the frame holding the span's last sample
    new = last - first
    most = window - (1 if first else 0)  # a window that continues the song keeps a frame of it at least
    if new > most and extend:
        raise EditError(
            f"{names['end_s']} {end_s - start_s:g} s is longer than the model's window less a frame of context "
            f"({most / frame_rate:.2f} s; songgen info: longest_window_seconds); extend the song in steps of at most "
            "that."
        )
    if new > most:
        raise EditError(
            f"The span {start_s:g}-{end_s:g} s ({(end - start) / rate:.2f} s) is longer than the model's window "
            f"({most / frame_rate:.2f} s with a frame of context; songgen info: longest_window_seconds); edit it in "
            "parts."
        )
    context = default_context
    if context_s is not None:
        check_number(names["context_s"], context_s, above=0, maximum=window / frame_rate, example=5)
        context = max(1, int(round(context_s * frame_rate)))
    tail = min(int(round(follow_s * frame_rate)), window - new - (1 if first else 0))
    after = 0 if extend else max(0, song_samples // hop - last)  # whole frames of the song after the span
    context = min(context, first, window - new - tail)
    if bar_s is not None:
        check_number("bar_s", bar_s, above=0, maximum=60, example=2)
        bar, inside = bar_s * rate, start - first * hop  # the span's start within its first frame
        bars = math.floor((context * hop + inside) / bar)
        if bars >= 1:  # the window starts whole bars before the span (at most a frame's samples more)
            context = math.floor((bars * bar - inside) / hop)
    crossfade = _round_sample(crossfade_s, rate)
    if not extend:
        crossfade = min(crossfade, (end - start) // 2)
    return EditPlan(
        start_sample=start,
        end_sample=end,
        window_start=first - context,
        context_frames=context,
        frames=context + new + tail,
        tail_frames=tail,
        follow_frames=min(tail, after),
        crossfade=crossfade,
        hop=hop,
        sampling_rate=rate,
        extend=extend,
        bar_s=bar_s,
    )


def bar_seconds(
    processor, description: str, lyrics: str, tempo_bpm: float | None = None, style_tempo_bpm: float | None = None
) -> float | None:
    """The length of a bar of the song as the processor reads its tempo from ``description`` (or ``tempo_bpm``), the
    bar the told singer's score is written in; ``None`` when the lyrics have no words to sing.  ``style_tempo_bpm``:
    the adapter's recorded tempo, which a request that names none is made at (as
    :func:`~songgen_hf.pipelines.requests.prepare_song` prepares it)."""
    from songgen_hf.modeling.songgen.vocal_score_songgen import BEATS_PER_BAR, DEFAULT_TEMPO_BPM, lyric_lines

    if not lyric_lines(lyrics or ""):
        return None
    understood = processor.interpret(description, lyrics, tempo_bpm=tempo_bpm)
    tempo = understood.get("tempo_bpm")
    if tempo is None and getattr(processor, "use_tempo_control", False):
        tempo = style_tempo_bpm
    return BEATS_PER_BAR * 60.0 / float(tempo or DEFAULT_TEMPO_BPM)


# ---------------------------------------------------------------------- the score and the join
_MEL_BANDS = 40


def _log_mel(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(frames, bands)`` log-mel spectrogram (dB) of mono ``audio``: 32 ms Hann frames every 10 ms."""
    from transformers.audio_utils import mel_filter_bank

    size, step = int(0.032 * rate), int(0.010 * rate)
    n_fft = 1 << (size - 1).bit_length()
    if audio.shape[-1] < size:
        audio = np.pad(audio, (0, size - audio.shape[-1]))
    count = 1 + (audio.shape[-1] - size) // step
    frames = np.stack([audio[i * step : i * step + size] for i in range(count)]) * np.hanning(size)
    power = np.abs(np.fft.rfft(frames, n=n_fft)) ** 2
    bank = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=_MEL_BANDS,
        min_frequency=0.0,
        max_frequency=rate / 2,
        sampling_rate=rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return 10.0 * np.log10(np.maximum(power @ bank, 1e-10))


def continuation_score(candidate: np.ndarray, song: np.ndarray, sampling_rate: int) -> float:
    """How well a candidate continues into the song: minus the mean absolute difference (dB) between the log-mel
    spectrograms of ``candidate`` and ``song`` (mono, the same stretch: what follows the span); 0 is a perfect
    match, lower is worse."""
    a = _log_mel(np.asarray(candidate, dtype=np.float64), sampling_rate)
    b = _log_mel(np.asarray(song, dtype=np.float64), sampling_rate)
    frames = min(len(a), len(b))
    return -float(np.mean(np.abs(a[:frames] - b[:frames])))


def equal_power_fades(length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fade_in, fade_out)`` gains over ``length`` samples: sine and cosine of a quarter turn, so that their
    squares sum to 1 at every sample."""
    phase = (np.arange(length) + 0.5) / max(length, 1) * (math.pi / 2)
    return np.sin(phase), np.cos(phase)


def splice(song: np.ndarray, new: np.ndarray, plan: EditPlan) -> np.ndarray:
    """The song with ``new`` (the span's samples, ``(channels or 1, span)``) in its span, crossfaded inside the span's
    edges; for an extension, the song followed by ``new``.  Samples outside the span are the song's own values."""
    start, end, fade = plan.start_sample, plan.end_sample, plan.crossfade
    new = np.broadcast_to(np.asarray(new, dtype=np.float64), (song.shape[0], end - start))
    if plan.extend:
        tail = new.copy()
        if fade:  # meet the song's last sample, the shift faded out (no step, no click, the song untouched)
            _, fade_out = equal_power_fades(fade)
            shift = song[:, -1:] - tail[:, :1]
            tail[:, :fade] += shift * fade_out[: tail.shape[-1]] ** 2
        return np.concatenate([song, np.clip(tail, -1.0, 1.0)], axis=-1)
    out = song.copy()
    middle = new.copy()
    if fade:
        fade_in, fade_out = equal_power_fades(fade)
        middle[:, :fade] = song[:, start : start + fade] * fade_out + new[:, :fade] * fade_in
        middle[:, -fade:] = song[:, end - fade : end] * fade_in + new[:, -fade:] * fade_out
    out[:, start:end] = np.clip(middle, -1.0, 1.0)
    return out


# ---------------------------------------------------------------------- the model's part
def _mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]


def context_codes(model, tracks: dict[str, np.ndarray | None], plan: EditPlan) -> dict | None:
    """The song's codes the window continues from, per track of the model's pattern (``tracks``: each track's
    samples, ``None`` for a vocal track held at the codec's silence), or ``None`` when the span starts the song."""
    import torch

    if plan.context_frames == 0:
        return None
    hop, end = plan.hop, plan.window_start + plan.context_frames
    begin = max(0, plan.window_start - _ENCODE_MARGIN_FRAMES)
    codebooks = model.config.decoder.num_codebooks
    device = next(model.audio_encoder.parameters()).device
    codes = {}
    for name in model.pattern.track_names:
        samples = tracks.get(name)
        if samples is None:
            codes[name] = model.silence_codes(plan.context_frames).to(device).long()
            continue
        audio = torch.as_tensor(_mono(samples)[begin * hop : end * hop], dtype=torch.float32)
        with torch.no_grad():
            encoded = model.audio_encoder.encode(audio.view(1, 1, -1).to(device)).audio_codes
        codes[name] = encoded[:, :codebooks, -plan.context_frames :].long()
    return codes


def _tracks(model, song: SongAudio, stems: dict | None) -> tuple[dict[str, np.ndarray | None], str | None]:
    """Each of the model's tracks' samples for the context, and a note when the song's stems were missing."""
    names = model.pattern.track_names
    if names == ("mix",) or len(names) == 1:
        return {names[0]: song.samples}, None
    if stems:
        return {name: stems[name].samples for name in names}, None
    note = (
        "the song's stems were not given: the mix is read as the accompaniment and the vocal track continues from "
        "silence (songgen generate --stems writes the stems beside the song)"
    )
    return {"accompaniment": song.samples, "vocals": None}, note


def _check_stems(stems: Any, song: SongAudio) -> dict[str, SongAudio] | None:
    if stems is None:
        return None
    if not isinstance(stems, dict) or set(stems) != set(STEM_NAMES):
        raise EditError(f"stems must be a dict with {list(STEM_NAMES)}, as songgen generate --stems writes them.")
    checked = {name: as_song(value, song.sampling_rate, f"{name} stem") for name, value in stems.items()}
    for name, stem in checked.items():
        if stem.num_samples != song.num_samples or stem.sampling_rate != song.sampling_rate:
            raise EditError(
                f"The {name} stem ({stem.num_samples} samples at {stem.sampling_rate} Hz) does not match the song "
                f"({song.num_samples} at {song.sampling_rate} Hz); give the stems written with it."
            )
    return checked


def _prepared_song(pipe, description: str, lyrics: str, plan: EditPlan):
    """The window's song, prepared by the pipeline's processor, its score's plan the window's sections."""
    from songgen_hf.pipelines.requests import prepare_song

    request = {"description": description, "lyrics": lyrics}
    tempo = pipe.song_style_tempo(description)  # the tempo the song was made at, when it names none
    song = prepare_song(pipe.processor, request, duration_s=plan.duration_s, style_tempo_bpm=tempo)
    understood = dict(song.understood or {})
    # the told singer's score reads the plan's sections: the new words are sung inside the span
    understood["plan"] = {"sections": plan.sections(lyrics, plan.bar_s)}
    return replace(song, understood=understood)


def check_edit_words(plan: EditPlan, lyrics: str) -> None:
    """Refuse new lyrics that the span cannot sing (no whole bar of the song's tempo inside it, with room for the
    last note to ring), before anything is generated: the words would otherwise be dropped without a word said."""
    if plan.bar_s is None:
        return
    sung = plan.sung_bars(plan.bar_s)
    if sung[1] - sung[0] < plan.bar_s - 1e-6:
        tempo = 4 * 60.0 / plan.bar_s
        raise EditError(
            f"The span {plan.start_s:g}-{plan.end_s:g} s holds no whole bar at {tempo:g} BPM ({plan.bar_s:.2f} s) "
            "with room for the last note to ring, too little to sing new words in; give a longer span (or one that "
            "ends earlier in the window), or no lyrics."
        )


def _draw_candidates(pipe, song, prompt, plan: EditPlan, candidates: int, seed: int, generation: dict) -> list[dict]:
    """``candidates`` songs of the window, drawn in one batch from ``seed``: each ``{"audio": (1, samples)}`` (and
    the stems of a dual-track model), the window's audio from its first frame."""
    seconds = plan.duration_s
    arguments = {"duration_s": seconds, "min_duration_s": seconds, **generation}
    if prompt is not None:
        arguments["audio_prompt_codes"] = {
            name: codes.expand(candidates, -1, -1).contiguous() for name, codes in prompt.items()
        }
        if len(prompt) == 1:
            arguments["audio_prompt_codes"] = next(iter(arguments["audio_prompt_codes"].values()))
    result = pipe([song] * candidates, batch_size=candidates, seed=seed, **arguments)
    return result if isinstance(result, list) else [result]


def _window_samples(audio: np.ndarray, plan: EditPlan, start: int, end: int) -> np.ndarray:
    """The window's samples ``[start, end)`` of the song (song sample indices), zero past what it decoded."""
    audio = np.asarray(audio, dtype=np.float64)
    offset = plan.window_sample
    piece = audio[..., max(0, start - offset) : max(0, end - offset)]
    if piece.shape[-1] < end - start:
        piece = np.pad(piece, [(0, 0)] * (piece.ndim - 1) + [(0, end - start - piece.shape[-1])])
    return piece


def remake(
    pipe,
    song: Any,
    plan: EditPlan,
    description: str,
    lyrics: str = "",
    *,
    stems: dict | None = None,
    seed: int = 0,
    candidates: int = DEFAULT_CANDIDATES,
    generation: dict | None = None,
) -> dict:
    """Re-make ``plan``'s span of ``song`` with ``pipe`` (a text-to-song pipeline of a SongGen model); see the
    module docstring.  Returns ``{"audio": (channels, samples) float64, "sampling_rate", "scores", "chosen",
    "notes", "start_s", "end_s"}`` and, with ``stems``, ``"vocals"`` / ``"accompaniment"`` composed the same way."""
    from songgen_hf.modeling.limits import check_seed

    song = as_song(song, pipe.sampling_rate)
    if song.sampling_rate != pipe.sampling_rate:
        raise EditError(f"The song is at {song.sampling_rate} Hz; this model needs {pipe.sampling_rate} Hz.")
    candidates = check_candidates(candidates)
    seed = check_seed(seed)
    stems = _check_stems(stems, song)
    if not isinstance(description, str) or not description.strip():
        raise EditError("An edit needs a description of the song (genre, mood, instruments, voice).")
    if getattr(pipe, "singer", None) is not None:  # the told singer sings bars: the span must hold one
        check_edit_words(plan, lyrics)
    model = pipe.model
    tracks, note = _tracks(model, song, stems)
    prompt = context_codes(model, tracks, plan)
    prepared = _prepared_song(pipe, description, lyrics, plan)
    drawn = _draw_candidates(pipe, prepared, prompt, plan, candidates, seed, dict(generation or {}))
    # scored from the span's last half second (a candidate that falls silent as the span ends joins badly) to the
    # end of what the song has after it
    follow_start = max(plan.start_sample, plan.end_sample - _round_sample(SCORED_BEFORE_END_S, song.sampling_rate))
    follow_end = plan.end_sample + plan.follow_frames * plan.hop
    scores = []
    for candidate in drawn:
        if plan.follow_frames:
            reference = _mono(song.samples[:, follow_start:follow_end])
            mine = _mono(_window_samples(candidate["audio"], plan, follow_start, follow_end))
            scores.append(continuation_score(mine, reference, song.sampling_rate))
        else:
            scores.append(0.0)
    chosen = int(np.argmax(scores))  # the first of equals: the first drawn when nothing follows the span
    best = drawn[chosen]
    span = (plan.start_sample, plan.end_sample)
    result = {
        "audio": splice(song.samples, _window_samples(best["audio"], plan, *span), plan),
        "sampling_rate": song.sampling_rate,
        "scores": scores,
        "chosen": chosen,
        "start_s": plan.start_s,
        "end_s": plan.end_s,
        "notes": [note] if note else [],
        "understood": prepared.understood,
    }
    if stems is not None:
        for name in STEM_NAMES:
            result[name] = splice(stems[name].samples, _window_samples(best[name], plan, *span), plan)
    return result


def resing(
    pipe,
    song: Any,
    plan: EditPlan,
    description: str,
    lyrics: str,
    *,
    stems: dict,
    seed: int = 0,
) -> dict:
    """Re-sing ``plan``'s span of a dual-track ``song`` with new words over its own accompaniment: the told singer
    fills the vocal track's codes of the window from a score of ``lyrics`` planned into the span (as
    :func:`remake` plans it), over the codec's codes of the song's accompaniment stem; no decoder step runs.  The
    accompaniment stem is the song's throughout; the vocal stem and the mix take the new vocals in the span,
    crossfaded as :func:`splice` does.  Needs the song's ``stems`` and a pipeline with a told singer."""
    import torch

    from songgen_hf.modeling.limits import check_seed
    from songgen_hf.pipelines.text_to_song import song_score

    if getattr(pipe, "singer", None) is None:
        raise EditError("Re-singing the vocal track alone needs a model with a told singer (songgen-tiny has one).")
    song = as_song(song, pipe.sampling_rate)
    stems = _check_stems(stems, song)
    if stems is None:
        raise EditError(
            "Re-singing the vocal track alone needs the song's stems (songgen generate --stems writes them)."
        )
    seed = check_seed(seed)
    if not isinstance(description, str) or not description.strip():
        raise EditError("An edit needs a description of the song (genre, mood, instruments, voice).")
    check_edit_words(plan, lyrics)
    prepared = _prepared_song(pipe, description, lyrics, plan)
    # planned in the register and voices of the singer that sings it (a singer adapter's learnt voice, if any)
    score = song_score(pipe.processor, prepared, plan.duration_s, seed, pipe.song_voice_style(description))
    if score is None:
        raise EditError("The new lyrics have no words to sing; give --lyrics to re-sing the vocal track with.")
    model = pipe.model
    # the window's codes of each stem, from its first frame to the song's end or the window's
    frames = min(plan.frames, song.num_samples // plan.hop - plan.window_start)
    whole = replace(plan, context_frames=frames, window_start=plan.window_start)
    codes = context_codes(model, {name: stems[name].samples for name in STEM_NAMES}, whole)
    lengths = {name: torch.tensor([frames], device=track.device) for name, track in codes.items()}
    singer = pipe.song_singer(description)  # the singer of the pipeline's style for the song, as a call sings it
    with torch.no_grad():
        sung = singer.sing(singer.checked_scores(model, [score]), codes, lengths)
        audio = model.audio_encoder.decode(sung, audio_codes_lengths=lengths["vocals"]).audio_values
    gain = model.config.stem_gains(model.pattern)["vocals"]
    vocals = (audio[0].float().cpu().numpy() * gain).astype(np.float64)
    span = (plan.start_sample, plan.end_sample)
    new_vocals = _window_samples(vocals, plan, *span)
    accompaniment = stems["accompaniment"].samples[:, span[0] : span[1]]
    # a mix that would have clipped was scaled down as a whole when it was made (its stems were not): the span's
    # new mix gets the song's own scale
    summed = stems["accompaniment"].samples + stems["vocals"].samples
    scale = float(np.sum(song.samples * summed) / max(float(np.sum(summed * summed)), 1e-12))
    scale = 1.0 if abs(scale - 1.0) < 1e-3 else scale
    return {
        "mix_scale": scale,
        "audio": splice(song.samples, scale * (accompaniment + new_vocals), plan),
        "vocals": splice(stems["vocals"].samples, new_vocals, plan),
        "accompaniment": stems["accompaniment"].samples.copy(),
        "sampling_rate": song.sampling_rate,
        "scores": [0.0],
        "chosen": 0,
        "start_s": plan.start_s,
        "end_s": plan.end_s,
        "notes": [],
        "understood": prepared.understood,
    }


def check_candidates(candidates: Any, flag: str = "candidates") -> int:
    """``candidates`` as a whole number from 1 to :data:`MAX_CANDIDATES`, or a ``ValueError`` naming ``flag``."""
    check_number(flag, candidates, minimum=1, maximum=MAX_CANDIDATES, example=DEFAULT_CANDIDATES)
    if candidates != int(candidates):
        raise EditError(f"{flag} must be a whole number, got {candidates!r}.")
    return int(candidates)


def _singers_bar(pipe, description: str, lyrics: str) -> float | None:
    """The bar the pipeline's told singer would sing ``lyrics`` in (``None``: no singer, or no words)."""
    if getattr(pipe, "singer", None) is None or not isinstance(description, str):
        return None
    return bar_seconds(pipe.processor, description, lyrics, style_tempo_bpm=pipe.song_style_tempo(description))


def edit_song(
    pipe,
    song: Any,
    start_s: float,
    end_s: float,
    description: str,
    lyrics: str = "",
    *,
    stems: dict | None = None,
    seed: int = 0,
    candidates: int = DEFAULT_CANDIDATES,
    context_s: float | None = None,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
    **generation,
) -> dict:
    """Re-make ``[start_s, end_s)`` of ``song`` (a file path, an ``(array, sampling_rate)`` pair or a
    :class:`SongAudio`) as ``description`` and ``lyrics`` say, keeping every other sample; see the module docstring.
    ``generation``: further ``generate`` arguments (``guidance_scale``, ``temperature``, ``top_k``...)."""
    song = as_song(song, pipe.sampling_rate)
    bar = _singers_bar(pipe, description, lyrics)
    plan = plan_edit(
        pipe.model.config, song.num_samples, start_s, end_s, context_s=context_s, crossfade_s=crossfade_s, bar_s=bar
    )
    return remake(
        pipe, song, plan, description, lyrics, stems=stems, seed=seed, candidates=candidates, generation=generation
    )


def plan_extension(config, song_samples: int, duration_s: float, **options) -> EditPlan:
    """The :class:`EditPlan` of ``duration_s`` seconds after the song's end (:func:`plan_edit` with
    ``extend=True``)."""
    names = {"end_s": "duration", **options.pop("names", {})}
    check_number(names["end_s"], duration_s, above=0, maximum=MAX_SONG_S, example=10)
    rate = int(config.sampling_rate)
    start = song_samples / rate
    return plan_edit(config, song_samples, start, start + duration_s, extend=True, names=names, **options)


def extend_song(
    pipe,
    song: Any,
    duration_s: float,
    description: str,
    lyrics: str = "",
    *,
    stems: dict | None = None,
    seed: int = 0,
    context_s: float | None = None,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
    **generation,
) -> dict:
    """``song`` continued for ``duration_s`` seconds from its last seconds (its context), every sample of it kept:
    the output's first samples are the song's own.  One candidate is drawn (nothing follows to score against)."""
    song = as_song(song, pipe.sampling_rate)
    bar = _singers_bar(pipe, description, lyrics)
    plan = plan_extension(
        pipe.model.config, song.num_samples, duration_s, context_s=context_s, crossfade_s=crossfade_s, bar_s=bar
    )
    return remake(pipe, song, plan, description, lyrics, stems=stems, seed=seed, candidates=1, generation=generation)


# ---------------------------------------------------------------------- writing
def output_subtype(song: SongAudio, output: str | Path) -> str:
    """The sample format ``output`` is written in: the song's own, so that every kept sample is written back as it
    was read; ``EditError`` for a format that cannot hold it (a lossy song, or FLAC for float samples)."""
    suffix = Path(output).suffix.lower()
    if suffix not in EDIT_OUTPUT_SUFFIXES:
        raise EditError(
            f"--output {output}: an edit is written as {' or '.join(EDIT_OUTPUT_SUFFIXES)}, which keep every "
            f"sample exactly; {suffix or 'no extension'} does not."
        )
    subtype = song.subtype or "FLOAT"
    if subtype not in EXACT_SUBTYPES:
        subtype = "FLOAT"  # a lossy song (Ogg Vorbis, MP3): its decoded samples, kept exactly as 32-bit floats
    if suffix == ".flac" and subtype not in _FLAC_SUBTYPES:
        raise EditError(f"--output {output}: FLAC cannot hold this song's {subtype} samples exactly; write a .wav.")
    return subtype


def write_song(path: str | Path, audio: np.ndarray, sampling_rate: int, subtype: str) -> Path:
    """Write an edited song atomically in ``subtype`` (``songgen_hf.utils.audio_io.write_audio``)."""
    from songgen_hf.utils.audio_io import write_audio

    return write_audio(path, audio, sampling_rate, subtype=subtype)


__all__ = [
    "DEFAULT_CANDIDATES",
    "DEFAULT_CROSSFADE_S",
    "EditError",
    "EditPlan",
    "FOLLOW_S",
    "SongAudio",
    "bar_seconds",
    "check_edit_words",
    "continuation_score",
    "edit_song",
    "extend_song",
    "plan_edit",
    "plan_extension",
    "read_song",
    "remake",
    "resing",
    "splice",
]
