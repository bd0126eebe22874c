"""Songs longer than the model's window: do they hold together, and what do they cost?

A song longer than the model's window is generated window after window, each continuing from the previous one's
last seconds of codes (``model.generate(duration_s=...)``; ``window_s`` / ``context_s`` choose the windows).  This
script measures, on the embedded default model (or ``--model``):

* **steadiness**: each window's tempo (librosa's beat tracker) and key (constant-Q chroma against the
  Krumhansl-Kessler profiles, scored with mir_eval's MIREX weighting) against the request and against the first
  window, over ``--prompts`` songs of ``--seconds`` generated in one batched ``generate`` call;
* **seams**: spectral flux and the change of the codec-token distribution in the ``--seam-s`` around each window
  edge, against the same statistics at random positions inside windows;
* **vocals per window**: silero-vad on the vocal stem of each window's new stretch (mean voice probability, the
  share of 32 ms frames above silero's own 0.5 threshold);
* **cost**: wall and CPU time (decoder steps and codec decoding) and peak resident memory of one song at each of
  ``--cost-seconds``, seconds per minute of song (on a shared machine the CPU time is the figure to compare).

    python benchmarks/long_songs.py --json docs/benchmarks/long_songs.json --songs /tmp/long_songs
    python benchmarks/long_songs.py --model TINY_FOLDER --seconds 2.2 --window-s 1 --context-s 0.4 ...  # plumbing

``--songs DIR`` keeps the generated songs, so a rerun with the same settings analyses them again without
generating.  The cost figures are wall times on a CPU shared with other programs: the report records the load
average.  The songs are the token model's own (no told singer re-sings their vocal track).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import cpu_model, git_commit, load_average, rss_mb, schema_report_head  # noqa: E402

# (genre, instruments, voice): crossed with TEMPOS and KEYS so that the prompts spread over both
STYLES = [
    ("pop", "piano, bass and drums", "female"),
    ("rock", "electric guitar, bass and drums", "male"),
    ("folk", "acoustic guitar and violin", "female"),
    ("funk", "slap bass, guitar and drums", "male"),
]
TEMPOS = [84, 96, 104, 112, 120, 128, 136, 148]
KEYS = ["C major", "A minor", "G major", "E minor", "D major", "B minor", "F major", "D minor"]
# Each song sings its own lines (so that a recogniser's chance level, scored against another song's lines, means
# something): verses from VERSE_LINES, choruses from CHORUS_LINES, words the recogniser's dictionary knows.
VERSE_LINES = [
    "we run across the night",
    "and sing until the light",
    "the city lights are low",
    "and nowhere left to go",
    "walking down the road alone",
    "finding my way back home",
    "every river finds the sea",
    "every song comes back to me",
    "the rain is on the window",
    "a letter on the table",
    "the morning train is leaving",
    "and you are still asleep",
    "my father built this house",
    "with wood from the old farm",
    "the summer fields are golden",
    "the winter roads are cold",
    "she dances in the kitchen",
    "the radio is playing",
    "we never had much money",
    "but we had time to dream",
    "the ocean keeps on calling",
    "the boats are coming in",
    "i waited by the station",
    "you never came that day",
    "the fire in the mountains",
    "is burning through the trees",
    "we drove along the river",
    "with music in the air",
    "the stars above the desert",
    "are shining on the sand",
    "an old guitar is singing",
    "a story of the past",
]
CHORUS_LINES = [
    "hold me close tonight",
    "never let me go",
    "we are young and free",
    "dancing in the rain",
    "take me to the sky",
    "light up the dark",
    "sing it loud and clear",
    "home is where you are",
    "turn the music up",
    "the night is ours",
    "run away with me",
    "we will find a way",
    "open up your heart",
    "stay another day",
    "carry me along",
    "we are on fire",
]
# the sections of every song: instrumental ones (no lines) between and around the sung ones
STRUCTURE = ["intro", "verse", "chorus", "bridge", "verse", "chorus", "outro"]


def section_lines(seconds: float) -> int:
    """Lines per verse: four in a two-minute song, fewer in a shorter one (a chorus sings half as many, at least
    one), so that the plan stays within what a song's length can sing."""
    return max(1, min(4, round(seconds / 30)))


def song_lyrics(index: int, seconds: float) -> str:
    """Song ``index``'s lyrics in :data:`STRUCTURE`, its verses and chorus its own lines."""
    verse, chorus = section_lines(seconds), max(1, section_lines(seconds) // 2)
    verses = [VERSE_LINES[(2 * index * verse + offset) % len(VERSE_LINES)] for offset in range(2 * verse)]
    choruses = [CHORUS_LINES[(index * chorus + offset) % len(CHORUS_LINES)] for offset in range(chorus)]
    text, verse_number = [], 0
    for section in STRUCTURE:
        text.append(f"[{section}]")
        if section == "verse":
            text += verses[verse_number * verse : (verse_number + 1) * verse]
            verse_number += 1
        elif section == "chorus":
            text += choruses
    return "\n".join(text)


SILERO_RATE = 16_000
SILERO_THRESHOLD = 0.5  # silero-vad's own default speech threshold
SEAM_POSITIONS_PER_WINDOW = 8  # random within-window positions drawn per window


# Descriptions phrased apart from the corpus's "A GENRE song in KEY at N bpm with ...; VOICE vocals." (word order,
# tempo and key wording, slang), with the same asked tempo and key: ``--phrasing free``.
FREE_PHRASINGS = [
    "laid-back {genre} groove, about {tempo} beats per minute, {key} key, {instruments}, a {voice} singer up front",
    "{genre} jam in the key of {key}; tempo {tempo}; {instruments} with a {voice} voice",
    "write me something {genre}-ish with {instruments}. {tempo} BPM, key: {key}. {voice} lead vocal please",
    "a {voice}-fronted {genre} number with {instruments}, moving at {tempo} bpm, in {key}",
]


def noted(lyrics: str, tempo: float) -> tuple[str, float]:
    """``lyrics`` with a note on their bridge asking three quarters of the song's tempo, and that tempo."""
    slower = float(round(tempo * 0.75))
    return lyrics.replace("[bridge]", f"[bridge: half as busy, at {slower:g} bpm]", 1), slower


def prompts(count: int, seconds: float, phrasing: str = "corpus", notes: bool = False, first: int = 1) -> list[dict]:
    """``count`` sung requests of ``seconds`` with their asked tempo and key, in sections (deterministic), from the
    set's ``first`` (1-based: ``first=9`` takes the second half of 16); ``phrasing`` ``corpus`` words them as the
    training corpus does, ``free`` in :data:`FREE_PHRASINGS`."""
    songs = []
    for index in range(first - 1, first - 1 + count):
        genre, instruments, voice = STYLES[index % len(STYLES)]
        tempo, key = TEMPOS[index % len(TEMPOS)], KEYS[(index * 3) % len(KEYS)]
        if phrasing == "free":
            template = FREE_PHRASINGS[(index // len(STYLES)) % len(FREE_PHRASINGS)]
            description = template.format(genre=genre, tempo=tempo, key=key, instruments=instruments, voice=voice)
        else:
            description = f"A {genre} song in {key} at {tempo} bpm with {instruments}; {voice} vocals."
        lyrics = song_lyrics(index, seconds)
        song = {"description": description, "lyrics": lyrics, "tempo_bpm": float(tempo), "key": key}
        if notes:
            song["lyrics"], song["bridge_tempo_bpm"] = noted(song["lyrics"], tempo)
        songs.append(song)
    return songs


# ---------------------------------------------------------------------------------------------- generation
_PIPELINES: dict = {}


def load_pipeline(model: str | None, singer: str = "auto"):
    """The text-to-song pipeline of ``model`` (with its told singer for ``singer="auto"``), loaded once."""
    import songgen_hf

    if (model, singer) not in _PIPELINES:
        _PIPELINES[model, singer] = songgen_hf.load_text_to_song_pipeline(
            model, device="cpu", singer=None if singer == "none" else "auto"
        )
    return _PIPELINES[model, singer]


def _window_kwargs(args) -> dict:
    given = (("window_s", args.window_s), ("context_s", args.context_s), ("anchor_s", args.anchor_s))
    return {key: value for key, value in given if value}


def generate_songs(args, requests: list[dict]) -> dict:
    """All ``requests`` in one batched ``generate`` call, as the text-to-song pipeline makes each of them: planned by
    their sections (each window conditioned on its own lines) and, with the model's told singer, each vocal track
    sung from the song's score.  Stems, codes, plans and window layout as numpy arrays and dicts."""
    import torch

    from songgen_hf.modeling.songgen.vocal_score_songgen import request_score

    pipe = load_pipeline(args.model, args.singer)
    model, processor = pipe.model, pipe.processor
    lengths = {"duration_s": args.seconds, **_window_kwargs(args)}
    descriptions = [song["description"] for song in requests]
    lyrics = [song["lyrics"] for song in requests]
    planning = {key: value for key, value in lengths.items() if key != "anchor_s"}
    planning["repeat_sections"] = args.repeat_sections
    planning["repeat_whole_sections"] = args.repeat_whole_sections
    planning["window_starts_on_bars"] = args.window_starts_on_bars
    if not args.align:  # every window as long as it can be, whatever the sections
        planning["edges_s"] = []
    # planned once, handed on as the pipeline does; each on its asked tempo's bar lines
    plans = [processor.plan_song(text, **planning, tempo_bpm=song["tempo_bpm"]) for text, song in zip(lyrics, requests)]
    for song, reading in zip(requests, (processor.interpret(d) for d in descriptions)):
        read = (
            reading.get("tempo_bpm"),
            (reading.get("key") or {}).get("name") if isinstance(reading.get("key"), dict) else reading.get("key"),
        )
        if read[0] != song["tempo_bpm"]:
            raise SystemExit(f"the processor reads {song['description']!r} as {read}: not the asked tempo")
    if any(plan is None for plan in plans):
        raise SystemExit(f"--seconds {args.seconds:g} fits one window of this model: nothing to measure across windows")
    inputs = processor(description=descriptions, lyrics=lyrics, plans=plans)
    understood = [processor.interpret(d, lyrics=text, plan=plan) for d, text, plan in zip(descriptions, lyrics, plans)]
    singing = {}
    if pipe.singer is not None:
        scores = [
            request_score(processor, d, text, args.seconds, args.seed + args.first_prompt - 1 + row, understood=reading)
            for row, (d, text, reading) in enumerate(zip(descriptions, lyrics, understood))
        ]
        singing = {"singer": pipe.singer, "vocal_scores": scores}
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    with torch.inference_mode(), _beat_restarting(args.beat_restarts):
        out = model.generate(
            **inputs,
            min_duration_s=args.seconds,
            return_dict_in_generate=True,
            repeat_sections=args.repeat_sections,
            repeat_whole_sections=args.repeat_whole_sections,
            window_starts_on_bars=args.window_starts_on_bars,
            **lengths,
            **singing,
        )
    seconds = time.perf_counter() - start
    # each song's windows as the processor cut them (a song of fewer windows than the batch repeats its end)
    ends = [sorted({int(end) for end in row}) for row in inputs["window_ends"].tolist()]
    context = round(plans[0].context_s * model.config.frame_rate)
    starts = [[0, *(end - context for end in row[:-1])] for row in ends]
    return {
        "mix": out.audio[:, 0].float().numpy(),
        "vocals": out.vocals[:, 0].float().numpy() if out.vocals is not None else None,
        "accompaniment": out.accompaniment[:, 0].float().numpy() if out.accompaniment is not None else None,
        "codes": {name: track.numpy() for name, track in out.codes.items()},
        "plans": [reading["plan"] for reading in understood],
        "sung_by": "told singer" if singing else "token model",
        "sampling_rate": int(out.sampling_rate),
        "frame_rate": float(model.config.frame_rate),
        "window_starts": starts,
        "window_ends": ends,
        "generate_s": seconds,
        "model": str(model.name_or_path),
    }


@contextlib.contextmanager
def _beat_restarting(restarts: bool):
    """With ``restarts``, the tempo control's metronome starts from 0 at every window, as it did before the beat ran
    on across windows: the window study's ablation of the beat fix (``--beat-restarts-each-window``)."""
    if not restarts:
        yield
        return
    from songgen_hf.modeling.songgen.long_song_songgen import _Metronome

    real = _Metronome.start
    _Metronome.start = lambda self, row_starts, tempo_bpm: None
    try:
        yield
    finally:
        _Metronome.start = real


def songs_settings(args, requests: list[dict]) -> dict:
    return {
        "model": args.model or "songgen-tiny",
        "seconds": args.seconds,
        "window_s": args.window_s,
        "context_s": args.context_s,
        "anchor_s": args.anchor_s,
        "phrasing": args.phrasing,
        "align": args.align,
        "repeat_sections": args.repeat_sections,
        "repeat_whole_sections": args.repeat_whole_sections,
        "beat_restarts_each_window": args.beat_restarts,
        "window_starts_on_bars": args.window_starts_on_bars,
        "seed": args.seed,
        "singer": args.singer,
        "requests": requests,
    }


def load_or_generate(args, requests: list[dict]) -> dict:
    """The songs of these settings from ``--songs`` when it holds them, else generated (and kept there)."""
    import pickle

    settings = songs_settings(args, requests)
    folder = Path(args.songs) if args.songs else None
    if folder is not None and (folder / "songs.pkl").is_file():
        with open(folder / "songs.pkl", "rb") as handle:
            kept = pickle.load(handle)
        if kept["settings"] == settings:
            return {**kept["songs"], "reused": True}
    songs = generate_songs(args, requests)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import atomic_file

        with atomic_file(folder / "songs.pkl") as temporary, open(temporary, "wb") as handle:
            pickle.dump({"settings": settings, "songs": songs}, handle)
    return {**songs, "reused": False}


# ---------------------------------------------------------------------------------------------- measurements
def new_stretches(songs: dict, row: int) -> list[tuple[int, int]]:
    """Song ``row``'s windows' new frames ``(first, end)``: the first window whole, each later one after its
    context (each song in its own windows, cut at its section edges unless ``--no-align``)."""
    ends = songs["window_ends"][row]
    return [(0 if index == 0 else ends[index - 1], end) for index, end in enumerate(ends)]


def song_voices(songs: dict) -> list[np.ndarray | None]:
    """Each song's :func:`voice_frames` (None for a model without a vocal stem)."""
    if songs["vocals"] is None:
        return [None] * songs["mix"].shape[0]
    return [voice_frames(vocals, songs["sampling_rate"]) for vocals in songs["vocals"]]


def voice_between(voice: np.ndarray, start_s: float, end_s: float) -> dict:
    """silero's mean voice probability and active share (frames above its threshold) between two times."""
    frame_s = 512 / SILERO_RATE
    part = voice[int(start_s / frame_s) : int(end_s / frame_s)]
    if not part.size:
        return {"p_voice": None, "voice_active_fraction": None}
    return {"p_voice": float(part.mean()), "voice_active_fraction": float((part > SILERO_THRESHOLD).mean())}


def window_readings(songs: dict, requests: list[dict], voices: list) -> list[list[dict]]:
    """Per song, per window: tempo and key against the request and the first window, and the vocal stem's voice
    (``voices``: :func:`song_voices`)."""
    from songgen_hf.evaluation.metrics import (
        estimate_key_or_none,
        estimate_tempo_bpm,
        mirex_key_score,
        parse_key,
        tempo_scores,
    )

    rate, hop = songs["sampling_rate"], songs["sampling_rate"] / songs["frame_rate"]
    readings = []
    for row, request in enumerate(requests):
        asked_key = parse_key(*request["key"].split())
        voice = voices[row]
        windows = []
        for first, end in new_stretches(songs, row):
            clip = songs["mix"][row, round(first * hop) : round(end * hop)]
            tempo, key = estimate_tempo_bpm(clip, rate), estimate_key_or_none(clip, rate)
            reading = {
                "tempo_bpm": tempo,
                "key": None if key is None else key.name,
                "tempo_acc1": tempo_scores(tempo, request["tempo_bpm"])["tempo_acc1"] if tempo > 0 else 0.0,
                "key_exact": float(key == asked_key),
                "key_mirex": mirex_key_score(key, asked_key),
            }
            if windows:
                reference = windows[0]
                reading["tempo_vs_first_rel"] = (
                    abs(tempo - reference["tempo_bpm"]) / reference["tempo_bpm"] if reference["tempo_bpm"] > 0 else None
                )
                reading["tempo_acc1_vs_first"] = (
                    tempo_scores(tempo, reference["tempo_bpm"])["tempo_acc1"]
                    if reference["tempo_bpm"] > 0 and tempo > 0
                    else None
                )
                reading["key_mirex_vs_first"] = (
                    None if reference["_key"] is None else mirex_key_score(key, reference["_key"])
                )
            if voice is not None:
                reading.update(voice_between(voice, first / songs["frame_rate"], end / songs["frame_rate"]))
            reading["_key"] = key
            windows.append(reading)
        for reading in windows:
            del reading["_key"]
        readings.append(windows)
    return readings


def section_readings(songs: dict, voices: list, margin_s: float) -> list[list[dict]]:
    """Per song, per planned section: the vocal stem's voice inside it (``margin_s`` in from each end, where a
    phrase on the bar grid may cross the section's edge), and for a sung section what the recogniser hears of its
    lines, against the lines of the same section of another song (its chance level)."""
    from songgen_hf.evaluation.intelligibility import LyricRecogniser, recall_with_chance

    rate = songs["sampling_rate"]
    plans = songs["plans"]
    lines = [line for plan in plans for section in plan["sections"] for line in section["lines"]]
    recogniser = LyricRecogniser.for_lyrics(lines) if songs["vocals"] is not None and lines else None
    readings = []
    for row, plan in enumerate(plans):
        song = []
        for section in plan["sections"]:
            margin = min(margin_s, (section["end_s"] - section["start_s"]) / 4)
            start, end = section["start_s"] + margin, section["end_s"] - margin
            reading = {
                "section": section["section"],
                "start_s": section["start_s"],
                "end_s": section["end_s"],
                "instrumental": section["instrumental"],
                "lines": section["lines"],
            }
            if voices[row] is not None:
                reading.update(voice_between(voices[row], start, end))
            if recogniser is not None and not section["instrumental"]:
                reading["heard"] = recogniser.transcribe(
                    songs["vocals"][row, int(start * rate) : int(end * rate)], rate
                )
            song.append(reading)
        readings.append(song)
    # chance level: each song's transcript of its k-th section against the next song's k-th section's lines
    for index in range(min(len(song) for song in readings)):
        if any("heard" not in song[index] for song in readings):
            continue
        scores = recall_with_chance(
            [song[index]["heard"] for song in readings], ["\n".join(song[index]["lines"]) for song in readings]
        )
        for song, score in zip(readings, scores):
            song[index]["word_recall"] = score["lyric_recall"]
            song[index]["word_recall_chance"] = score["lyric_recall_chance"]
    return readings


def section_likeness(songs: dict, margin_s: float) -> list[dict]:
    """Per song: how alike its choruses are against a chorus and a verse, in timbre (MFCC 1-19) and harmony
    (chroma): each section's mean vector (``margin_s`` in from its ends) less the song's mean over its sections,
    cosine-compared; ``chorus_chorus`` is the mean over chorus pairs, ``chorus_verse`` over chorus-verse pairs."""
    import librosa

    rate = songs["sampling_rate"]
    rows = []
    for row, plan in enumerate(songs["plans"]):
        audio = songs["mix"][row].astype(np.float32)
        kinds, vectors = [], {"mfcc": [], "chroma": []}
        for section in plan["sections"]:
            if section["section"] not in ("chorus", "verse"):
                continue
            margin = min(margin_s, (section["end_s"] - section["start_s"]) / 4)
            clip = audio[int((section["start_s"] + margin) * rate) : int((section["end_s"] - margin) * rate)]
            if clip.size < rate // 4:  # a quarter second at least: a few analysis frames
                continue
            kinds.append(section["section"])
            vectors["mfcc"].append(librosa.feature.mfcc(y=clip, sr=rate, n_mfcc=20)[1:].mean(axis=1))
            vectors["chroma"].append(librosa.feature.chroma_cqt(y=clip, sr=rate).mean(axis=1))
        reading = {}
        for name, values in vectors.items():
            if kinds.count("chorus") < 2 or "verse" not in kinds:
                continue
            centred = np.array(values) - np.mean(values, axis=0)
            unit = centred / (np.linalg.norm(centred, axis=1, keepdims=True) + 1e-9)
            pairs = {"chorus_chorus": [], "chorus_verse": []}
            for i in range(len(kinds)):
                for j in range(i + 1, len(kinds)):
                    pair = {kinds[i], kinds[j]}
                    if pair == {"chorus"}:
                        pairs["chorus_chorus"].append(float(unit[i] @ unit[j]))
                    elif pair == {"chorus", "verse"}:
                        pairs["chorus_verse"].append(float(unit[i] @ unit[j]))
            reading[name] = {key: float(np.mean(value)) for key, value in pairs.items()}
        rows.append(reading)
    return rows


# The second chorus is compared with the first past its first seconds: returns that only opened with the first
# chorus copied its first 4.2 s, so a chorus that returns whole shows there
CHORUS_FOLLOW_SKIP_S = 5.0
CHROMA_HOP = 512  # samples: 32 ms at 16 kHz
# less than this much of the second chorus past its first seconds says nothing of whether it follows the first
CHORUS_FOLLOW_MIN_S = 1.0


def chroma_frames(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(frames, 12)`` constant-Q chroma of a whole song, each frame less its mean over the pitch classes and
    scaled to unit length (a frame of silence, all pitch classes alike, stays zero)."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=rate, hop_length=CHROMA_HOP).T
    centred = chroma - chroma.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.where(norms > 1e-6, centred / np.maximum(norms, 1e-9), 0.0)


def chorus_follow(audio: np.ndarray, rate: int, sections: list[dict], skip_s: float = CHORUS_FOLLOW_SKIP_S) -> dict:
    """Does the second chorus follow the first, past its first ``skip_s``, more closely than it follows the last
    verse before it?  Time-aligned: the chroma frame ``t`` seconds into the second chorus is compared (cosine of
    :func:`chroma_frames`) with the frame ``t`` seconds into the first chorus, and into the last verse, for every
    ``t`` from ``skip_s`` to where the shortest of the three ends; each likeness is the mean over those frames
    (frames of silence left out).  ``sections``: the plan's (``section``, ``start_s``, ``end_s``).  Values are
    ``None`` where the song has no second chorus, no verse before it or less than :data:`CHORUS_FOLLOW_MIN_S` past
    ``skip_s`` (``seconds_compared`` says how much there is)."""
    choruses = [section for section in sections if section["section"] == "chorus"]
    reading = {"to_first_chorus": None, "to_last_verse": None, "follows_first_chorus": None, "seconds_compared": 0.0}
    if len(choruses) < 2:
        return reading
    first, second = choruses[0], choruses[1]
    verses = [
        section for section in sections if section["section"] == "verse" and section["end_s"] <= second["start_s"]
    ]
    if not verses:
        return reading
    verse = verses[-1]
    seconds = min(section["end_s"] - section["start_s"] for section in (first, second, verse)) - skip_s
    frames = int(seconds * rate / CHROMA_HOP)
    if seconds < CHORUS_FOLLOW_MIN_S:
        return {**reading, "seconds_compared": max(0.0, float(frames * CHROMA_HOP / rate))}
    chroma = chroma_frames(audio, rate)

    def stretch(section: dict) -> np.ndarray:
        start = int(round((section["start_s"] + skip_s) * rate / CHROMA_HOP))
        return chroma[start : start + frames]

    again, to_first, to_verse = stretch(second), stretch(first), stretch(verse)
    count = min(len(again), len(to_first), len(to_verse))
    again, to_first, to_verse = again[:count], to_first[:count], to_verse[:count]
    sounding = (np.abs(again).sum(axis=1) > 0) & (np.abs(to_first).sum(axis=1) > 0) & (np.abs(to_verse).sum(axis=1) > 0)
    if not sounding.any():
        return reading
    first_likeness = float(np.mean(np.sum(again * to_first, axis=1)[sounding]))
    verse_likeness = float(np.mean(np.sum(again * to_verse, axis=1)[sounding]))
    return {
        "to_first_chorus": first_likeness,
        "to_last_verse": verse_likeness,
        "follows_first_chorus": first_likeness > verse_likeness,
        "seconds_compared": float(count * CHROMA_HOP / rate),
    }


def summarise_follow(rows: list[dict]) -> dict:
    """The second chorus against the first and against the last verse, over songs: means with intervals, and in how
    many songs it follows the first chorus more closely."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    kept = [row for row in rows if row["follows_first_chorus"] is not None]
    return {
        "to_first_chorus": mean_with_ci([row["to_first_chorus"] for row in kept]),
        "to_last_verse": mean_with_ci([row["to_last_verse"] for row in kept]),
        "first_minus_verse": mean_with_ci([row["to_first_chorus"] - row["to_last_verse"] for row in kept]),
        "songs_following_first_chorus": sum(bool(row["follows_first_chorus"]) for row in kept),
        "songs_measured": len(kept),
    }


def per_song_table(readings: list[list[dict]], follow: list[dict], stem: list[dict] | None = None) -> list[dict]:
    """Per song: whether its second chorus follows the first (in the mix, and in the accompaniment stem where there
    is one), beside each window's tempo and key."""
    keys = ("tempo_bpm", "tempo_acc1", "key", "key_exact")
    rows = []
    for row, (song, following) in enumerate(zip(readings, follow)):
        reading = {"song": row, "chorus_follow": following}
        if stem is not None:
            reading["chorus_follow_accompaniment"] = stem[row]
        reading["windows"] = [{key: window.get(key) for key in keys} for window in song]
        rows.append(reading)
    return rows


def summarise_likeness(rows: list[dict]) -> dict:
    """Chorus-chorus against chorus-verse likeness, with intervals over songs."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    summary = {}
    for name in ("mfcc", "chroma"):
        kept = [row[name] for row in rows if name in row]
        if kept:
            summary[name] = {
                "chorus_chorus": mean_with_ci([row["chorus_chorus"] for row in kept]),
                "chorus_verse": mean_with_ci([row["chorus_verse"] for row in kept]),
                "chorus_chorus_minus_chorus_verse": mean_with_ci(
                    [row["chorus_chorus"] - row["chorus_verse"] for row in kept]
                ),
            }
    return summary


def noted_readings(songs: dict, requests: list[dict]) -> dict:
    """Where a section's note asks another tempo (``--notes``: the bridge), the section's tempo against the note's
    and the song's, with intervals over songs."""
    from songgen_hf.evaluation.metrics import estimate_tempo_bpm, tempo_scores
    from songgen_hf.evaluation.statistics import mean_with_ci

    rate = songs["sampling_rate"]
    as_noted, as_song = [], []
    for row, request in enumerate(requests):
        if "bridge_tempo_bpm" not in request:
            continue
        section = next(s for s in songs["plans"][row]["sections"] if s["section"] == "bridge")
        clip = songs["mix"][row, int(section["start_s"] * rate) : int(section["end_s"] * rate)]
        tempo = estimate_tempo_bpm(clip, rate)
        as_noted.append(tempo_scores(tempo, request["bridge_tempo_bpm"])["tempo_acc1"] if tempo > 0 else 0.0)
        as_song.append(tempo_scores(tempo, request["tempo_bpm"])["tempo_acc1"] if tempo > 0 else 0.0)
    if not as_noted:
        return {}
    return {
        "bridge_tempo_within_4pct_of_note": mean_with_ci(as_noted),
        "bridge_tempo_within_4pct_of_song": mean_with_ci(as_song),
        "per_song": [{"as_noted": a, "as_song": b} for a, b in zip(as_noted, as_song)],
        "method": "librosa's beat tracker over the noted bridge (instrumental, three quarters of the song's tempo)",
    }


def summarise_sections(readings: list[list[dict]]) -> dict:
    """The vocal stem's voice in sung against instrumental sections and the recogniser's word recall against its
    chance level: per song means over its sections, then means with intervals over songs (and per section kind)."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    def song_mean(song: list[dict], field: str, keep) -> float | None:
        values = [section[field] for section in song if keep(section) and section.get(field) is not None]
        return float(np.mean(values)) if values else None

    summary = {}
    for field in ("voice_active_fraction", "p_voice"):
        sung = [song_mean(song, field, lambda section: not section["instrumental"]) for song in readings]
        silent = [song_mean(song, field, lambda section: section["instrumental"]) for song in readings]
        if all(value is None for value in sung):
            continue
        summary[field] = {
            "sung_sections": mean_with_ci(sung),
            "instrumental_sections": mean_with_ci(silent),
            "sung_minus_instrumental": mean_with_ci(
                [a - b for a, b in zip(sung, silent) if a is not None and b is not None]
            ),
        }
    recall = [song_mean(song, "word_recall", lambda section: True) for song in readings]
    if any(value is not None for value in recall):
        chance = [song_mean(song, "word_recall_chance", lambda section: True) for song in readings]
        kinds = sorted({section["section"] for song in readings for section in song if "word_recall" in section})
        summary["word_recall"] = {
            "recall": mean_with_ci(recall),
            "chance": mean_with_ci(chance),
            "above_chance": mean_with_ci([a - b for a, b in zip(recall, chance) if a is not None and b is not None]),
            "by_section_kind": {
                kind: {
                    "recall": mean_with_ci(
                        [s["word_recall"] for song in readings for s in song if s["section"] == kind]
                    ),
                    "above_chance": mean_with_ci(
                        [
                            s["word_recall"] - s["word_recall_chance"]
                            for song in readings
                            for s in song
                            if s["section"] == kind and s.get("word_recall_chance") is not None
                        ]
                    ),
                }
                for kind in kinds
            },
        }
    return summary


def voice_frames(vocals: np.ndarray, rate: int) -> np.ndarray:
    """silero-vad's voice probability per 32 ms frame of a whole vocal stem, peak-normalised to 0.9 as the
    evaluation's voice judge does (``songgen_hf.evaluation.voice_activity``)."""
    import torch
    from scipy.signal import resample_poly
    from silero_vad import load_silero_vad

    audio = np.asarray(vocals, dtype=np.float32)
    if rate != SILERO_RATE:
        audio = resample_poly(audio, SILERO_RATE, rate).astype(np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < 1e-4:
        return np.zeros(len(audio) // 512)
    model = _silero(load_silero_vad)
    with torch.inference_mode():
        frames = model.audio_forward(torch.from_numpy(audio / peak * 0.9), SILERO_RATE)
    return frames.reshape(-1).numpy()


_SILERO = {}


def _silero(loader):
    if "model" not in _SILERO:
        _SILERO["model"] = loader()
    return _SILERO["model"]


def spectral_flux(audio: np.ndarray, rate: int, hop_s: float = 0.01) -> tuple[np.ndarray, float]:
    """Half-wave rectified log-magnitude spectral flux per STFT frame, and the frames' hop in seconds."""
    from songgen_hf.evaluation.metrics import stft_power

    hop = max(1, round(hop_s * rate))
    power = stft_power(np.asarray(audio, dtype=np.float64), n_fft=4 * hop if 4 * hop >= 64 else 64, hop=hop)
    log = np.log(power + 1e-10)
    return np.maximum(np.diff(log, axis=0), 0.0).mean(axis=1), hop / rate


def token_change(codes: dict, row: int, frame: int, half: int) -> float | None:
    """Jensen-Shannon divergence (bits) between the first codebook's token histograms of every track in the
    ``half`` frames before and after ``frame``."""
    before, after = [], []
    for track in codes.values():
        before.append(track[row, 0, max(0, frame - half) : frame])
        after.append(track[row, 0, frame : frame + half])
    before, after = np.concatenate(before), np.concatenate(after)
    if before.size == 0 or after.size == 0:
        return None
    size = int(max(before.max(), after.max())) + 1
    p = np.bincount(before, minlength=size) / before.size
    q = np.bincount(after, minlength=size) / after.size
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / b[mask])).sum())

    return (kl(p, m) + kl(q, m)) / 2


def seam_statistics(songs: dict, seam_s: float, seed: int) -> dict:
    """Per song: each statistic at every window edge and at random positions inside windows (at least ``seam_s``
    from an edge and half of it from the song's ends)."""
    rng = np.random.default_rng(seed)
    frame_rate, rate = songs["frame_rate"], songs["sampling_rate"]
    half = max(1, round(seam_s * frame_rate / 2))
    rows = []
    for row in range(songs["mix"].shape[0]):
        ends = songs["window_ends"][row]
        edges = ends[:-1]  # where each later window's new frames begin
        total = ends[-1]
        allowed = [
            (first + 2 * half, end - 2 * half) if index else (half, end - 2 * half)
            for index, (first, end) in enumerate(new_stretches(songs, row))
        ]
        flux, flux_hop = spectral_flux(songs["mix"][row], rate)
        level = level_db(songs["mix"][row], rate)

        def flux_at(frame: int) -> float:
            centre = frame / frame_rate / flux_hop
            lo, hi = int(max(0, centre - seam_s / 2 / flux_hop)), int(centre + seam_s / 2 / flux_hop)
            return float(flux[lo:hi].mean())

        positions = []
        for lo, hi in allowed:
            if hi > lo:
                positions += [int(p) for p in rng.integers(lo, hi, size=SEAM_POSITIONS_PER_WINDOW)]
        positions = [p for p in positions if half <= p <= total - half]
        rows.append(
            {
                "edge_frames": edges,
                "flux_edges": [flux_at(edge) for edge in edges],
                "flux_inside": [flux_at(p) for p in positions],
                "tokens_edges": [token_change(songs["codes"], row, edge, half) for edge in edges],
                "tokens_inside": [token_change(songs["codes"], row, p, half) for p in positions],
                "level_edges": [level_jump(level, edge / frame_rate, seam_s) for edge in edges],
                "level_inside": [level_jump(level, p / frame_rate, seam_s) for p in positions],
            }
        )
    return rows


LEVEL_HOP_S = 0.05


def level_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """The mix's level (dB RMS) in 50 ms frames."""
    hop = max(1, round(LEVEL_HOP_S * rate))
    frames = np.asarray(audio, dtype=np.float64)[: len(audio) // hop * hop].reshape(-1, hop)
    return 10 * np.log10((frames**2).mean(axis=1) + 1e-10)


def level_jump(level: np.ndarray, at_s: float, seam_s: float) -> float | None:
    """The largest change of level (dB) between the half of ``seam_s`` before ``at_s`` and the half after: the
    quietest 50 ms of either side against the other side's median (a "stopped band" is a dip or a restart)."""
    centre, half = int(at_s / LEVEL_HOP_S), max(1, int(seam_s / 2 / LEVEL_HOP_S))
    before, after = level[max(0, centre - half) : centre], level[centre : centre + half]
    if before.size == 0 or after.size == 0:
        return None
    both = np.concatenate([before, after])
    return float(np.median(both) - both.min())


def summarise_seams(rows: list[dict], statistic: str) -> dict:
    """Edges against the inside of windows for one statistic: both with intervals over songs, each edge's
    percentile among its own song's inside values, and the share of edges inside the pooled 95 % spread of
    inside values (each song's values divided by its own inside median, so loud and quiet songs pool)."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    edges, inside, ranks, edges_scaled, inside_scaled, above = [], [], [], [], [], []
    for row in rows:
        edge = np.array([v for v in row[f"{statistic}_edges"] if v is not None], dtype=float)
        within = np.array([v for v in row[f"{statistic}_inside"] if v is not None], dtype=float)
        if edge.size == 0 or within.size == 0:
            continue
        # the edges above the song's own 95th percentile (5 % of the inside positions are, by definition)
        above.append(float((edge > np.percentile(within, 95)).mean()))
        edges.append(edge.mean())
        inside.append(within.mean())
        ranks += [float((within < value).mean()) for value in edge]
        scale = float(np.median(within)) or 1.0
        edges_scaled += list(edge / scale)
        inside_scaled += list(within / scale)
    if not edges:
        return {"n_songs": 0}
    low, high = (float(v) for v in np.percentile(inside_scaled, [2.5, 97.5]))
    edge_mean = mean_with_ci(edges_scaled)
    return {
        "n_songs": len(edges),
        "n_edges": len(edges_scaled),
        "edge_mean": mean_with_ci(edges),
        "inside_mean": mean_with_ci(inside),
        "edge_minus_inside": mean_with_ci(np.array(edges) - np.array(inside)),
        "edge_percentile_among_inside": mean_with_ci(ranks),
        "edge_scaled_mean": edge_mean,
        "inside_scaled_spread_95": [low, high],
        "edges_within_spread": float(np.mean([(low <= v <= high) for v in edges_scaled])),
        "edge_mean_within_spread": bool(low <= edge_mean["mean"] <= high),
        "edges_above_own_95th_percentile": mean_with_ci(above),
    }


def summarise_windows(readings: list[list[dict]]) -> dict:
    """Per window index (means with intervals over songs) and, per song, the later windows against the first."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    fields = [
        "tempo_acc1",
        "key_exact",
        "key_mirex",
        "tempo_acc1_vs_first",
        "tempo_vs_first_rel",
        "key_mirex_vs_first",
        "p_voice",
        "voice_active_fraction",
    ]
    count = max(len(song) for song in readings)
    per_window = []
    for index in range(count):
        values = [song[index] for song in readings if len(song) > index]
        per_window.append(
            {
                field: mean_with_ci([value.get(field) for value in values])
                for field in fields
                if any(value.get(field) is not None for value in values)
            }
        )

    def song_mean(song: list[dict], field: str, windows: slice) -> float | None:
        values = [w.get(field) for w in song[windows] if w.get(field) is not None]
        return float(np.mean(values)) if values else None

    later = slice(1, None)
    first = slice(0, 1)
    overall = {}
    for field in fields:
        later_values = [song_mean(song, field, later) for song in readings]
        if all(value is None for value in later_values):
            continue
        overall[field] = {"later_windows": mean_with_ci(later_values)}
        if not field.endswith("_first") and not field.endswith("_rel"):
            first_values = [song_mean(song, field, first) for song in readings]
            overall[field]["first_window"] = mean_with_ci(first_values)
            paired = [b - a for a, b in zip(first_values, later_values) if a is not None and b is not None]
            overall[field]["later_minus_first"] = mean_with_ci(paired)
    return {"per_window": per_window, "later_vs_first": overall}


# ---------------------------------------------------------------------------------------------- cost
def _reset_peak_rss() -> bool:
    """Restart this process's ``VmHWM`` at its current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def measure_cost(args, request: dict) -> dict:
    """One song at each of ``--cost-seconds`` (after a one-window warm-up), timed end to end with codec decoding,
    with the peak RSS of each generation."""
    import torch

    pipe = load_pipeline(args.model, "none")  # the decoder and codec: the told singer's passes are not timed here
    model, processor = pipe.model, pipe.processor
    inputs = processor(description=[request["description"]], lyrics=[request["lyrics"]])
    runs = []
    with torch.inference_mode():
        model.generate(**inputs, duration_s=1.0, min_duration_s=1.0)  # warm-up
        for seconds in args.cost_seconds:
            gc.collect()
            resettable = _reset_peak_rss()
            rss_start = rss_mb("VmRSS")
            torch.manual_seed(args.seed)
            start, cpu_start = time.perf_counter(), time.process_time()
            out = model.generate(
                **inputs,
                duration_s=seconds,
                min_duration_s=seconds,
                return_dict_in_generate=True,
                **_window_kwargs(args),
            )
            total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            starts = [] if out.window_starts is None else [int(s) for s in out.window_starts]
            first_track = next(iter(out.codes))
            decoded = (
                sum(int(window[first_track].shape[-1]) for window in out.window_codes)
                if out.window_codes
                else int(out.codes[first_track].shape[-1])
            )
            runs.append(
                {
                    "seconds": seconds,
                    "audio_s": int(out.audio_lengths[0]) / out.sampling_rate,
                    "windows": max(1, len(starts)),
                    "frames_decoded_by_windows": decoded,
                    "total_s": total,
                    "s_per_minute_of_song": total / (seconds / 60),
                    # on a shared machine the wall time follows the other programs' load; the process's CPU time
                    # (one thread) is the work itself
                    "cpu_s": cpu,
                    "cpu_s_per_minute_of_song": cpu / (seconds / 60),
                    "rss_start_mb": rss_start,
                    "peak_rss_mb": rss_mb("VmHWM") if resettable else None,
                    "peak_rss_growth_mb": rss_mb("VmHWM") - rss_start if resettable else None,
                    "load_average_after": load_average(),
                }
            )
            del out
    lengths = np.array([run["seconds"] for run in runs], dtype=float)
    summary = {"runs": runs}
    if len(runs) >= 2:
        for name, field in (("linear_fit_wall", "total_s"), ("linear_fit_cpu", "cpu_s")):
            totals = np.array([run[field] for run in runs], dtype=float)
            slope, intercept = np.polyfit(lengths / 60, totals, 1)
            summary[name] = {
                "s_per_minute": float(slope),
                "intercept_s": float(intercept),
                "max_relative_residual": float(np.max(np.abs(totals - (slope * lengths / 60 + intercept)) / totals)),
            }
        for field in ("s_per_minute_of_song", "cpu_s_per_minute_of_song"):
            summary[f"{field}_longest_over_shortest"] = runs[-1][field] / runs[0][field]
        peaks = [run["peak_rss_growth_mb"] for run in runs if run["peak_rss_growth_mb"] is not None]
        if len(peaks) == len(runs):
            summary["peak_rss_growth_longest_minus_shortest_mb"] = peaks[-1] - peaks[0]
    return summary


def load_or_measure_cost(args, request: dict) -> dict:
    """The cost runs of these settings from ``--songs`` when it holds them, else measured (and kept there)."""
    settings = {**songs_settings(args, [request]), "seconds": None, "cost_seconds": args.cost_seconds}
    kept = Path(args.songs) / "cost.json" if args.songs else None
    if kept is not None and kept.is_file():
        stored = json.loads(kept.read_text(encoding="utf-8"))
        if stored["settings"] == settings:
            return {**stored["cost"], "reused_from_songs_folder": True}
    cost = measure_cost(args, request)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(kept, json.dumps({"settings": settings, "cost": cost}, indent=2))
    return {**cost, "reused_from_songs_folder": False}


# ---------------------------------------------------------------------------------------------- main
def run(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    requests = prompts(args.prompts, args.seconds, args.phrasing, args.notes, args.first_prompt)
    report = schema_report_head("long_songs", "benchmarks/long_songs.py", threads=args.threads)
    report["commit"] = git_commit()
    report["machine"].update(
        platform=platform.platform(), torch=torch.__version__, load_average_at_start=load_average()
    )
    report["settings"] = {
        "model": args.model or "songgen-tiny (embedded default)",
        "prompts": args.prompts,
        "first_prompt": args.first_prompt,
        "seconds": args.seconds,
        "window_s": args.window_s or "the model's window",
        "context_s": args.context_s or "the model's default",
        "seam_s": args.seam_s,
        "seed": args.seed,
        "sampling": "the model's saved generation settings (guidance included)",
        "singer": "the model's told singer re-sings each vocal track" if args.singer == "auto" else "none",
        "cpu_quantize": "the model's CPU recommendation (as load_text_to_song_pipeline applies it)",
        "windows": "cut at the sections where the music changes" if args.align else "regular (--no-align)",
        "repeat_sections": args.repeat_sections,
        "repeat_whole_sections": args.repeat_whole_sections,
        "beat": "restarts at each window (ablation)" if args.beat_restarts else "runs on across windows",
        "window_starts": (
            "on the asked tempo's bar lines" if args.window_starts_on_bars else "where the stride puts them"
        ),
        "notes": "each bridge asks three quarters of the song's tempo" if args.notes else "none",
    }
    report["notes"] = list(args.note or [])
    if "quality" in args.parts:
        songs = load_or_generate(args, requests)
        voices = song_voices(songs)
        readings = window_readings(songs, requests, voices)
        sections = section_readings(songs, voices, args.section_margin_s)
        seams = seam_statistics(songs, args.seam_s, args.seed)
        report["songs"] = {
            "count": len(requests),
            "seconds": args.seconds,
            "sampling_rate": songs["sampling_rate"],
            "frame_rate": songs["frame_rate"],
            "windows_per_song": [len(ends) for ends in songs["window_ends"]],
            "window_ends_s": [[end / songs["frame_rate"] for end in ends] for ends in songs["window_ends"]],
            "window_layout": "cut at the sections where the music changes" if args.align else "regular",
            "repeat_sections": args.repeat_sections,
            "generate_s_batched": songs["generate_s"],
            "reused_from_songs_folder": songs["reused"],
        }
        report["steadiness"] = summarise_windows(readings)
        report["seams"] = {
            "spectral_flux": summarise_seams(seams, "flux"),
            "token_js_bits": summarise_seams(seams, "tokens"),
            "level_dip_db": summarise_seams(seams, "level"),
            "method": (
                f"mean half-wave rectified log-spectral flux (10 ms hop) of the mix in the {args.seam_s:g} s centred "
                "on the position; Jensen-Shannon divergence of the first codebook's token histogram (all tracks) in "
                f"the {args.seam_s / 2:g} s before against the {args.seam_s / 2:g} s after; level dip: the median "
                f"level (dB RMS, 50 ms frames) in the {args.seam_s:g} s around the position minus its quietest frame "
                "(a band that stops for a moment); edges are where each later "
                f"window's new frames begin; inside: {SEAM_POSITIONS_PER_WINDOW} random positions per window"
            ),
        }
        report["sections"] = {
            **summarise_sections(sections),
            "sung_by": songs["sung_by"],
            "method": (
                "each song planned by its section tags (SongGenProcessor.plan_song, as the pipeline plans it); "
                f"inside each section ({args.section_margin_s:g} s in from each end, at most a quarter of it): "
                f"silero-vad on the vocal stem (share of 32 ms frames above {SILERO_THRESHOLD}); for sung sections "
                "pocketsphinx on the vocal stem with the songs' lyric words as its vocabulary, multiset recall of "
                "the section's words, its chance level the same transcript against the next song's same section"
            ),
        }
        likeness = section_likeness(songs, args.section_margin_s)
        report["choruses"] = {
            **summarise_likeness(likeness),
            "method": (
                "each chorus and verse's mean MFCC 1-19 (timbre) and mean constant-Q chroma (harmony), less the "
                "song's mean over them, cosine-compared: chorus with chorus against chorus with verse, per song, "
                "means with 95 % bootstrap intervals over songs"
            ),
        }
        follow = [
            chorus_follow(songs["mix"][row], songs["sampling_rate"], plan["sections"])
            for row, plan in enumerate(songs["plans"])
        ]
        # the same on the accompaniment stem (a dual-track model's), where the voice singing other words is not heard
        stem = songs.get("accompaniment")
        follow_accompaniment = (
            None
            if stem is None
            else [
                chorus_follow(stem[row], songs["sampling_rate"], plan["sections"])
                for row, plan in enumerate(songs["plans"])
            ]
        )
        report["chorus_follow"] = {
            **summarise_follow(follow),
            **({} if follow_accompaniment is None else {"accompaniment_stem": summarise_follow(follow_accompaniment)}),
            "method": (
                f"time-aligned constant-Q chroma ({CHROMA_HOP}-sample hop; each frame less its mean over the pitch "
                "classes, unit length): the second chorus's frame t seconds into it against the first chorus's and "
                f"the last verse's t seconds into them, for t from {CHORUS_FOLLOW_SKIP_S:g} s to where the shortest "
                "of the three ends, cosine averaged over frames; a song follows its first chorus when the first "
                f"likeness is the higher; songs with less than {CHORUS_FOLLOW_MIN_S:g} s to compare are not measured"
            ),
        }
        report["notes_at_sections"] = noted_readings(songs, requests)
        report["prompts"] = requests
        report["per_song_choruses"] = likeness
        report["per_song"] = per_song_table(readings, follow, follow_accompaniment)
        report["per_song_seams"] = seams
        report["per_song_windows"] = readings
        report["per_song_sections"] = sections
    if "cost" in args.parts:
        report["cost"] = load_or_measure_cost(args, requests[0])
    report["machine"]["load_average_at_end"] = load_average()
    report["machine"]["cpu"] = cpu_model()
    return report


# settings that differ between the parts of one prompt set run in parts (``--merge``)
_PART_SETTINGS = ("prompts", "first_prompt")


def merge_reports(parts: list[dict], names: list[str] | None = None) -> dict:
    """One report over the prompts of ``parts`` (the quality parts of runs of the same settings on consecutive
    stretches of the prompt set, ``--first-prompt``): steadiness and chorus likeness summarised again over all their
    songs, the per-song table in prompt order.  The per-window and per-seam readings stay in the parts alone (the
    report names them, ``parts``), so each reading is kept once.  ``ValueError`` for parts of other settings, gaps
    or overlaps."""
    names = list(names) if names is not None else [None] * len(parts)
    order = sorted(range(len(parts)), key=lambda index: parts[index]["settings"].get("first_prompt", 1))
    parts, names = [parts[index] for index in order], [names[index] for index in order]
    shared = [{k: v for k, v in part["settings"].items() if k not in _PART_SETTINGS} for part in parts]
    if any(settings != shared[0] for settings in shared[1:]):
        raise ValueError("--merge takes parts of one run's settings (only --prompts and --first-prompt may differ)")
    expected = parts[0]["settings"].get("first_prompt", 1)
    for part in parts:
        if "steadiness" not in part:
            raise ValueError("--merge takes reports with the quality part")
        if part["settings"].get("first_prompt", 1) != expected:
            raise ValueError(f"--merge: the parts leave a gap or overlap at prompt {expected}")
        expected += part["settings"]["prompts"]
    readings = [song for part in parts for song in part["per_song_windows"]]
    follow = [row["chorus_follow"] for part in parts for row in part["per_song"]]
    stems = [row.get("chorus_follow_accompaniment") for part in parts for row in part["per_song"]]
    report = {key: parts[0][key] for key in ("benchmark", "schema_version")}
    report["command"] = "merged: " + " ; ".join(part["command"] for part in parts)
    report["date"] = max(part["date"] for part in parts)
    report["commit"] = sorted({part["commit"] for part in parts})
    report["machine"] = [part["machine"] for part in parts]
    report["settings"] = {
        **parts[0]["settings"],
        "prompts": sum(part["settings"]["prompts"] for part in parts),
        "first_prompt": parts[0]["settings"].get("first_prompt", 1),
        "merged_parts": len(parts),
    }
    report["notes"] = [note for part in parts for note in part.get("notes", [])]
    report["songs"] = {
        "count": len(readings),
        "windows_per_song": [count for part in parts for count in part["songs"]["windows_per_song"]],
        "generate_s_batched_per_part": [part["songs"]["generate_s_batched"] for part in parts],
    }
    report["steadiness"] = summarise_windows(readings)
    seams = [song for part in parts for song in part["per_song_seams"]]
    report["seams"] = {
        "spectral_flux": summarise_seams(seams, "flux"),
        "token_js_bits": summarise_seams(seams, "tokens"),
        "level_dip_db": summarise_seams(seams, "level"),
        "method": parts[0]["seams"]["method"],
    }
    report["chorus_follow"] = {
        **summarise_follow(follow),
        **({} if None in stems else {"accompaniment_stem": summarise_follow(stems)}),
        "method": parts[0]["chorus_follow"]["method"],
    }
    report["prompts"] = [prompt for part in parts for prompt in part["prompts"]]
    report["per_song"] = [{**row, "song": index} for index, row in enumerate(r for p in parts for r in p["per_song"])]
    report["parts"] = [name for name in names if name is not None]
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="a SongGen folder or an embedded model's name (default: songgen-tiny)"
    )
    parser.add_argument("--prompts", type=int, default=16, help="songs generated in one batch for the quality parts")
    parser.add_argument(
        "--first-prompt",
        type=int,
        default=1,
        help="the prompt set's first prompt taken (1-based): --prompts 8 --first-prompt 9 takes prompts 9-16",
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="length of those songs")
    parser.add_argument("--window-s", type=float, default=None, help="window length (default: the model's window)")
    parser.add_argument("--context-s", type=float, default=None, help="context carried into each window")
    parser.add_argument(
        "--anchor-s", type=float, default=None, help="the song's opening each later window reads first (default none)"
    )
    parser.add_argument(
        "--phrasing",
        choices=("corpus", "free"),
        default="corpus",
        help="corpus: descriptions worded as the training corpus words them; free: worded apart from it",
    )
    parser.add_argument(
        "--seam-s", type=float, default=1.0, help="the stretch around a position the seam statistics read"
    )
    parser.add_argument(
        "--section-margin-s", type=float, default=1.0, help="how far inside each section its readings start and end"
    )
    parser.add_argument(
        "--singer",
        choices=("auto", "none"),
        default="auto",
        help="auto: the told singer re-sings each vocal track, as the pipeline does; none: the token model's own",
    )
    parser.add_argument(
        "--no-align",
        dest="align",
        action="store_false",
        help="every window as long as it can be, not cut at the sections where the music changes",
    )
    parser.add_argument(
        "--no-repeat-sections",
        dest="repeat_sections",
        action="store_false",
        help="a repeated section's windows continue like any other (no return to its first occurrence)",
    )
    parser.add_argument(
        "--repeat-openings-only",
        dest="repeat_whole_sections",
        action="store_false",
        help="a repeated section opens with its first occurrence's first seconds only (the returns before whole ones)",
    )
    parser.add_argument(
        "--beat-restarts-each-window",
        dest="beat_restarts",
        action="store_true",
        help="the tempo control's metronome starts from 0 at every window, as before the beat ran on (an ablation)",
    )
    parser.add_argument(
        "--window-starts-mid-bar",
        dest="window_starts_on_bars",
        action="store_false",
        help="later windows start where the stride puts them, not on the asked tempo's bar lines (the beat runs on by "
        "an offset; the layout before bar-line starts)",
    )
    parser.add_argument("--notes", action="store_true", help="each song's bridge asks another tempo in a note")
    parser.add_argument("--cost-seconds", type=float, nargs="+", default=[60.0, 120.0, 240.0])
    parser.add_argument("--parts", nargs="+", choices=("quality", "cost"), default=["quality", "cost"])
    parser.add_argument("--songs", default=None, help="folder that keeps the generated songs for a rerun")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", action="append", help="a sentence for the report's notes (repeatable)")
    parser.add_argument("--json", required=True, help="where the report goes")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="REPORT",
        help="no run: one report over these reports' songs (parts of one run on consecutive --first-prompt stretches)",
    )
    args = parser.parse_args(argv)
    if args.merge:
        try:
            report = merge_reports(
                [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.merge],
                [Path(path).name for path in args.merge],
            )
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"--merge: {error}")
        _write_report(report, args.json)
        return 0
    problems = []
    if args.prompts < 1:
        problems.append(f"--prompts must be at least 1, got {args.prompts}")
    if args.first_prompt < 1:
        problems.append(f"--first-prompt must be at least 1, got {args.first_prompt}")
    if args.seconds <= 0 or any(s <= 0 for s in args.cost_seconds):
        problems.append("--seconds and --cost-seconds must be positive")
    if args.seam_s <= 0:
        problems.append(f"--seam-s must be positive, got {args.seam_s:g}")
    if problems:
        parser.error("; ".join(problems))
    _write_report(run(args), args.json)
    return 0


def _write_report(report: dict, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
