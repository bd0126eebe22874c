"""What a text-to-song call is asked: a song (:class:`SongRequest`, built by :func:`prepare_song`: parsed, read and
processed by the processor, planned by its sections, with the seed it is made from).

A prepared song is the processor's output (its features and what it understood), a value like a ``BatchFeature``:
the generation settings it is made with are checked by ``generate()``, which uses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from songgen_hf.modeling.limits import check_seed, check_song_count, is_int, is_number

SONG_KEYS = ("description", "lyrics", "reference_voice", "voice_start", "tempo_bpm", "key")


@dataclass(frozen=True, eq=False)
class SongRequest:
    """One song, checked and prepared once: what :func:`parse_song` read from the input, what the processor
    understood from it (``SongGenProcessor.interpret``) and the processor's inputs for the model.

    The CLI and the Space prepare a song before any weights load (so a lyric or voice mistake costs no load) and
    hand it to the pipeline, which then neither parses nor processes it again; a plain string or dict input is
    prepared by the pipeline itself.  Build one with :func:`prepare_song`."""

    description: str
    lyrics: str
    reference_voice: Any
    voice_start: float
    tempo_bpm: Any
    key: Any
    understood: dict | None
    features: Any  # the processor's BatchFeature (torch tensors)
    processor: Any = field(repr=False)  # the processor that prepared it: another one prepares the song anew
    max_lyrics_length: int | None = None
    truncation: bool = False
    # the length and windows its sections were planned for (``duration_s``, ``window_s``, ``context_s``; see
    # ``SongGenProcessor.plan_song``); empty: not planned
    plan_settings: tuple = ()
    # a song batched with songs that have a reference voice: it takes the processor's "no voice" row (zeros,
    # masked out), so that the batch's items carry the same tensors
    fill_missing_voice: bool = False
    # the seed it is made from: a pipeline call that gives none makes the song from it
    seed: int | None = None

    @property
    def plan(self) -> dict | None:
        """What each window of a song longer than one window sings (``understood["plan"]``), else ``None``."""
        return (self.understood or {}).get("plan")

    def as_input(self) -> dict[str, Any]:
        """The song as a pipeline input dict (to prepare it anew)."""
        song = {name: getattr(self, name) for name in SONG_KEYS if getattr(self, name) is not None}
        if self.reference_voice is None:
            song.pop("voice_start", None)
        return song


def prepare_song(
    processor,
    inputs: Any,
    max_lyrics_length: int | None = None,
    truncation: bool = False,
    duration_s: float | None = None,
    window_s: float | None = None,
    context_s: float | None = None,
    repeat_sections: bool | None = None,
    seed: int | None = None,
    repeat_whole_sections: bool | None = None,
    window_starts_on_bars: bool | None = None,
    style_tempo_bpm: float | None = None,
) -> SongRequest:
    """``inputs`` (a description string, a song dict or a :class:`SongRequest`) checked (:func:`parse_song`),
    read (``processor.interpret``) and processed (``processor(...)``) once.

    With ``duration_s`` (and the ``window_s`` / ``context_s`` the song will be generated with), a song longer
    than the model's window is planned by its sections: ``understood["plan"]`` says what each window sings, and
    the features carry each window's lyrics (``window_lyrics_input_ids``); a plan that cannot be sung is a
    ``ValueError`` here, before any generation.  ``seed`` (checked here): the seed the song is made from;
    ``repeat_sections=False``: a repeated section's windows do not return to its first occurrence (the plan says
    none does); ``repeat_whole_sections=False``: a repeated section opens with its first occurrence's first
    seconds only, rather than playing its music whole;
    ``window_starts_on_bars=False``: later windows start where the stride puts them, not on the tempo's bar lines.
    ``style_tempo_bpm``: the tempo of the adapter the song is made with
    (:func:`~songgen_hf.pipelines.adapters.choice_style_tempo`), for a model with a tempo control: a request that
    names no tempo is prepared at it (the song then carries it as its ``tempo_bpm``, and what was understood says
    so); a tempo the request names wins."""
    options = {
        "max_lyrics_length": max_lyrics_length,
        "truncation": truncation,
        "duration_s": duration_s,
        "window_s": window_s,
        "context_s": context_s,
        "repeat_sections": repeat_sections,
        "repeat_whole_sections": repeat_whole_sections,
        "window_starts_on_bars": window_starts_on_bars,
    }
    song = _prepare_song(processor, inputs, seed=seed, **options)
    if (
        style_tempo_bpm is not None
        and getattr(processor, "use_tempo_control", False)
        and song.understood is not None
        and song.understood.get("tempo_bpm") is None
    ):
        song = _prepare_song(processor, {**song.as_input(), "tempo_bpm": style_tempo_bpm}, seed=song.seed, **options)
    return song


def _prepare_song(
    processor,
    inputs,
    *,
    max_lyrics_length,
    truncation,
    duration_s,
    window_s,
    context_s,
    repeat_sections,
    seed,
    repeat_whole_sections,
    window_starts_on_bars,
) -> SongRequest:
    """:func:`prepare_song` of one request as given (no adapter's tempo)."""
    if seed is not None:
        seed = check_seed(seed)
    planned = {"duration_s": duration_s, "window_s": window_s, "context_s": context_s}
    planned = {key: value for key, value in planned.items() if value is not None}
    if planned and repeat_sections is not None:
        planned["repeat_sections"] = repeat_sections
    if planned and repeat_whole_sections is not None:
        planned["repeat_whole_sections"] = repeat_whole_sections
    if planned and window_starts_on_bars is not None:
        planned["window_starts_on_bars"] = window_starts_on_bars
    if getattr(processor, "model_config", None) is None:
        # a processor that cannot plan (another kind, or one that does not know its model yet: the pipeline tells
        # it, and prepares the song again): every window reads all the lyrics
        planned = {}
    if planned and "duration_s" not in planned:
        raise ValueError("window_s / context_s plan a song of a given length: pass duration_s too.")
    plan_settings = tuple(sorted(planned.items()))
    carried = {}
    if isinstance(inputs, SongRequest):
        made = (inputs.processor, inputs.max_lyrics_length, inputs.truncation, inputs.plan_settings)
        if made[0] is processor and made[1:] == (max_lyrics_length, truncation, plan_settings):  # features as asked
            return inputs if seed is None else replace(inputs, seed=seed)
        carried = {"seed": inputs.seed}
        inputs = inputs.as_input()
    song = parse_song(inputs)
    voice = {}
    if song["reference_voice"] is not None:
        voice = {"reference_voice": song["reference_voice"], "voice_start": song["voice_start"]}
    controls = {name: song[name] for name in ("tempo_bpm", "key") if song[name] is not None}
    texts = {"description": song["description"], "lyrics": song["lyrics"]}
    options = {"max_lyrics_length": max_lyrics_length, "truncation": truncation}
    prepare = getattr(processor, "prepare", None)
    if prepare is not None:  # checked, read and processed in one pass, its texts checked first
        features, understood = prepare(**texts, **voice, **controls, **options, **planned)
    else:  # a processor of another kind: read (where it can say) and processed, each checking what it reads
        interpret = getattr(processor, "interpret", None)
        understood = None if interpret is None else interpret(**texts, **controls)
        features = processor(**texts, **voice, **controls, **options, **planned, return_tensors="pt")
    return SongRequest(
        **song,
        understood=understood,
        features=features,
        processor=processor,
        max_lyrics_length=max_lyrics_length,
        truncation=truncation,
        plan_settings=plan_settings,
        **{**carried, **({} if seed is None else {"seed": seed})},
    )


def call_songs(inputs: Any) -> list | None:
    """The songs of a call's ``inputs`` as a list (one song, a list of one), at most ``MAX_SONGS_PER_CALL``; ``None``
    for inputs that are no song (a dataset or a generator, which transformers' ``Pipeline`` iterates itself)."""
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    if isinstance(inputs, list):
        if not inputs:
            raise ValueError("Got an empty list of songs; pass at least one description or dict.")
        check_song_count(len(inputs))
        return inputs
    return [inputs] if isinstance(inputs, (str, dict, SongRequest)) else None


def call_seed(seed: int | None, songs: list[SongRequest]) -> int | None:
    """The seed of a call that makes ``songs``: the call's own (checked), else the one its prepared songs carry;
    a call seeds torch once, so the songs of one call carry one seed, the call's if it gives one."""
    carried = {song.seed for song in songs if song.seed is not None}
    if seed is not None and carried - {seed}:
        raise ValueError(
            f"seed={seed} differs from the seed these songs were prepared with ({sorted(carried)}); give the seed in "
            "one place (prepare_song(seed=...) or the call)."
        )
    if len(carried) > 1:
        raise ValueError(
            f"These songs were prepared with different seeds ({sorted(carried)}); a call seeds once: make the songs "
            "of each seed in a call of their own."
        )
    return seed if seed is not None else next(iter(carried), None)


def parse_song(inputs: Any) -> dict[str, Any]:
    """Validate one pipeline input (a description string or a song dict) into a full song dict.  The texts' lengths
    are the processor's to check (``prepare_song`` hands them to it first, before anything reads them)."""
    if isinstance(inputs, str):
        inputs = {"description": inputs}
    elif not isinstance(inputs, dict):
        raise ValueError(
            f"A text-to-song input must be a description string, a dict with {list(SONG_KEYS)} or a list of "
            f"those; got {type(inputs).__name__}."
        )
    unknown = sorted(set(inputs) - set(SONG_KEYS))
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in a song dict; allowed keys are {list(SONG_KEYS)}.")
    description = inputs.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(
            f"Every song needs a non-empty 'description' string, got {description!r}; describe genre, mood, "
            "instruments and voice."
        )
    lyrics = inputs.get("lyrics")
    if lyrics is None:
        lyrics = ""
    elif not isinstance(lyrics, str):
        raise ValueError(f"'lyrics' must be a string (lines separated by '\\n'), got {type(lyrics).__name__}.")
    voice = inputs.get("reference_voice")
    if voice is not None and not _is_voice(voice):
        raise ValueError(
            "'reference_voice' must be an audio file path or an (array, sampling_rate) pair, got "
            f"{type(voice).__name__}."
        )
    if isinstance(voice, (str, os.PathLike)) and not os.path.isfile(voice):
        raise ValueError(f"'reference_voice' file {os.fspath(voice)!r} does not exist.")
    start = inputs.get("voice_start")
    if start is not None:
        if voice is None:
            raise ValueError("'voice_start' was given without a 'reference_voice'.")
        if not is_number(start, finite=True) or start < 0:
            raise ValueError(f"'voice_start' must be a number of seconds >= 0, got {start!r}.")
    # tempo_bpm / key are checked by the processor, which knows whether the model takes them
    return {
        "description": description,
        "lyrics": lyrics,
        "reference_voice": voice,
        "voice_start": 0.0 if start is None else float(start),
        "tempo_bpm": inputs.get("tempo_bpm"),
        "key": inputs.get("key"),
    }


def _is_voice(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike)):
        return True
    if isinstance(value, tuple) and len(value) == 2:
        array, rate = value
        is_rate = is_int(rate) and rate > 0
        return is_rate and (isinstance(array, (np.ndarray, torch.Tensor)) or isinstance(array, list))
    return False


__all__ = ["SONG_KEYS", "SongRequest", "call_seed", "call_songs", "parse_song", "prepare_song"]
