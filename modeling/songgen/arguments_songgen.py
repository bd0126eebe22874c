"""SongGen's checks of what a song is asked.

``check_generation_arguments`` refuses a bad length, window, cache, guidance or sampling setting with a one-line
error before any weights run: ``SongGenGenerationConfig.validate(model_config=...)`` runs it on every
``generate()`` call, and the loader on a folder's files before its weights load.  The song's texts and reference
voices are checked here too (``text_batch``, ``check_lyric_tags``, ``check_reference_voices``), by the processor,
before it reads them.  The ranges (``MAX_*``) stand here, where they are checked.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from songgen_hf.modeling.limits import (
    MAX_REFERENCE_VOICE_SECONDS,
    check_description_chars,
    check_lyrics_chars,
    is_int,
    is_number,
)
from songgen_hf.modeling.songgen.configuration_songgen import (
    default_window_s,
    duration_frames,
    fits_default_window,
    max_duration_s,
)
from songgen_hf.modeling.songgen.description_songgen import MAX_BPM, MIN_BPM, _keys, _tempo_candidates
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_IMPLEMENTATIONS, DEFAULT_CACHE_IMPLEMENTATION
from songgen_hf.modeling.songgen.windows_songgen import MAX_SONG_WINDOWS, anchor_frames, song_window_count, song_windows

# The generation arguments' checks: they need the config at most, never the weights.
#
# They run where the values are used, as transformers validates a GenerationConfig: ``generate()`` validates its
# call's settings (``SongGenGenerationConfig.validate(model_config=...)``) every time, the processor checks the
# lengths it plans a song for, and the loader runs the same validation on a folder's files before any weights load
# (the CLI, ``generate-many``, the Space).  Every surface words a problem the same way: ``names`` maps an argument
# to what the user typed (``{"duration_s": "--duration"}`` for the CLI), so a message names the user's own flag.
#
# Ranges and why:
#
# * ``duration_s`` > 0 and at most :data:`MAX_SONG_S`; 0 is not "the default": leave the argument out for
#   that.  Up to the model's default window (:func:`default_window_s`: its decoder position table, see
#   :func:`max_duration_s`, unless its config saves a shorter one) a song is one decoding pass; a longer one is made
#   window after window (:func:`plan_long_song`).  A multi-stream model
#   (S frames per decoding step) generates the next whole number of steps and ``generate`` cuts the song
#   back to the asked frames, so any duration is exact.
# * ``window_s`` > 0 and at most the model's window: the length of each pass of a song longer than it
#   (default: the model's default window); ``context_s`` > 0 and shorter than the window, in whole frames: the
#   seconds of the previous pass each pass continues from (default :data:`DEFAULT_CONTEXT_FRACTION` of
#   the window).
# * ``min_duration_s`` >= 0 (0 = no minimum) and at most the length budget.
# * ``max_new_tokens`` / ``max_length`` >= 1; with ``duration_s`` too, both are limits, and a step
#   cap that would cut the requested duration short is refused rather than silently winning or
#   losing.
# * ``guidance_scale`` in [1, :data:`MAX_GUIDANCE_SCALE`]: 1 is off; far above the range the
#   guided logits overflow float32 and sampling sees NaN.
# * ``control_guidance_scale`` in [0, :data:`MAX_GUIDANCE_SCALE`]: 0 is off; only for models with
#   musical controls (there is nothing else it could push towards).
# * ``silence_instrumental_vocals`` ``None``/``True``/``False``; ``True`` only for models that can (a
#   vocal track and an arrangement control), where ``None`` would quietly do nothing.
# * ``temperature`` in [:data:`MIN_TEMPERATURE`, :data:`MAX_TEMPERATURE`]: dividing logits by a
#   tinier temperature overflows them; above the cap every token is equally likely (noise).
# * ``codebook_temperatures`` a mapping of track name to a list of temperatures, each in the
#   ``temperature`` range, for at most K codebooks of a track the model's pattern has, on a pattern
#   with a row per track (an interleaving pattern alternates its tracks within each row); ``{}`` is
#   "none" (every row at ``temperature``), which turns a model's saved ones off.
# * ``top_k`` >= 0 (0 = off, transformers' convention; larger than the vocabulary = off);
#   ``top_p`` in (0, 1]; ``guidance_top_k`` >= 1; ``do_sample`` a bool; a ``streamer`` (checked where it is
#   attached, :func:`check_streamer`) has ``put``/``end``.
# * ``cache_implementation`` one of ``preallocated_cache.CACHE_IMPLEMENTATIONS``: an unknown name
#   is refused here, before any weights are read, not deep inside transformers' loop.

MAX_GUIDANCE_SCALE = 100.0
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 100.0
# the longest song any model is asked for: time grows linearly with length, and the codec decodes the
# whole song at once at the end, so the ceiling bounds both a request's wait and its audio's memory
MAX_SONG_S = 600.0
CONDITION_NAMES = ("description", "lyrics", "voice")
# every argument checked here; the pipeline and CLI pass whichever of them the user gave
CHECKED_ARGUMENTS = (
    "duration_s",
    "min_duration_s",
    "max_new_tokens",
    "max_length",
    "guidance_scale",
    "temperature",
    "top_k",
    "top_p",
    "do_sample",
    "guidance_top_k",
    "guidance_conditions",
    "cache_implementation",
    "control_guidance_scale",
    "silence_instrumental_vocals",
    "codebook_temperatures",
    "window_s",
    "context_s",
    "anchor_s",
    "repeat_sections",
    "repeat_whole_sections",
    "window_starts_on_bars",
)


def has_musical_controls(config) -> bool:
    """Whether a SongGen ``config``'s token model takes any musical control (tempo, key, arrangement)."""
    return any(config.decoder.control_switches().values())


def can_silence_instrumental_vocals(config) -> bool:
    """Whether a SongGen ``config``'s model can hold the vocal track silent for instrumental requests: it has
    a vocal track of its own (a dual-track pattern) and reads the request (the arrangement control)."""
    decoder = config.decoder
    return "vocals" in decoder.token_pattern().track_names and bool(getattr(decoder, "use_arrangement_control", False))


def holds_silent_vocals(config, option: bool | None) -> bool:
    """How ``generate`` resolves ``silence_instrumental_vocals=option`` for a SongGen ``config``: ``None`` means
    wherever the model can, ``False`` never (``True`` on a model that cannot is refused by the argument check)."""
    return option is not False and can_silence_instrumental_vocals(config)


def _number(given: dict, names: dict, key: str, low: float, high: float, low_open: bool = False, hint: str = ""):
    value = given.get(key)
    if value is None:
        return
    low_ok = is_number(value) and (value > low if low_open else value >= low)
    if not (is_number(value) and math.isfinite(value) and low_ok and value <= high):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        span = f"a number {bound}" if math.isinf(high) else f"a number {bound} and <= {high:g}"
        raise ValueError(f"{names.get(key, key)} must be {span}, got {value!r}{hint}.")


def check_song_lengths(arguments: dict[str, Any], config=None, names: dict[str, str] | None = None) -> None:
    """Raise ``ValueError`` naming the argument and the fix for a bad ``duration_s``, ``min_duration_s``,
    ``window_s`` or ``context_s`` in ``arguments`` (``None`` = not given): the lengths a song's plan is made of,
    checked by the processor where it plans them and by :func:`check_generation_arguments` with the rest."""
    names = names or {}
    given = {key: value for key, value in arguments.items() if value is not None}

    def name(key: str) -> str:
        return names.get(key, key)

    window = round(max_duration_s(config), 2) if config is not None else math.inf
    usual = round(default_window_s(config), 2) if config is not None else math.inf
    longest = f" (the longest song is {MAX_SONG_S:g} s" + (
        ")" if config is None else f"; this model's window is {usual:g} s, longer songs are made window after window)"
    )
    _number(
        given,
        names,
        "duration_s",
        0.0,
        MAX_SONG_S,
        low_open=True,
        hint=f"{longest}; leave it out for the model's default length" if given.get("duration_s") == 0 else longest,
    )
    _number(given, names, "min_duration_s", 0.0, MAX_SONG_S, hint=f"{longest}; 0 or leaving it out means no minimum")
    whole = (
        f" (this model's window is {window:g} s; leave it out for the whole window)"
        if usual == window
        else f" (one pass of this model holds {window:g} s; leave it out for its default window of {usual:g} s)"
    )
    _number(given, names, "window_s", 0.0, window, low_open=True, hint=whole if config is not None else "")
    _number(
        given,
        names,
        "context_s",
        0.0,
        math.inf,
        low_open=True,
        hint="; it is how many seconds of the previous window each window continues from",
    )
    window_s, context_s = given.get("window_s"), given.get("context_s")
    if config is not None and (window_s is not None or context_s is not None):
        song_windows(config, window_s, context_s, names)
    if config is not None and given.get("duration_s") is not None:
        check_window_count(config, given["duration_s"], window_s, context_s, names)
    elif window_s is not None and context_s is not None and context_s >= window_s:
        raise ValueError(
            f"{name('context_s')} ({context_s:g} s) must be shorter than {name('window_s')} ({window_s:g} s): each "
            f"window continues from the previous one's last {name('context_s')} seconds and must add new ones."
        )


def check_generation_arguments(arguments: dict[str, Any], config=None, names: dict[str, str] | None = None) -> None:
    """Raise ``ValueError`` naming the argument and the fix for the first bad value in ``arguments``.

    ``arguments`` holds what the user passed (``None`` = not given).  With a SongGen ``config``
    the durations are also checked against the model's maximum and the step caps against the
    duration.
    """
    names = names or {}
    given = {key: value for key, value in arguments.items() if value is not None}

    def name(key: str) -> str:
        return names.get(key, key)

    def number(key: str, low: float, high: float, low_open: bool = False, hint: str = "") -> None:
        _number(given, names, key, low, high, low_open, hint)

    def integer(key: str, low: int, hint: str = "") -> None:
        value = given.get(key)
        if value is not None and not (is_int(value) and value >= low):
            raise ValueError(f"{name(key)} must be a whole number >= {low}, got {value!r}{hint}.")

    check_song_lengths(given, config, names)
    window_s, context_s = given.get("window_s"), given.get("context_s")
    number(
        "anchor_s",
        0.0,
        math.inf,
        hint="; it is how many seconds of the song's opening each later window reads first (0: none)",
    )
    if config is not None and given.get("anchor_s"):
        anchor_frames(config, given["anchor_s"], window_s, context_s, names)
    if given.get("repeat_sections") is not None and not isinstance(given["repeat_sections"], bool):
        raise ValueError(
            f"{name('repeat_sections')} must be True (a repeated section's windows read its first occurrence, the "
            f"default) or False (they continue like any other window), got {given['repeat_sections']!r}."
        )
    if given.get("repeat_whole_sections") is not None and not isinstance(given["repeat_whole_sections"], bool):
        raise ValueError(
            f"{name('repeat_whole_sections')} must be True (a repeated section plays its first occurrence's music for "
            "its whole length, the default) or False (it opens with its first occurrence's first seconds only), got "
            f"{given['repeat_whole_sections']!r}."
        )
    if given.get("window_starts_on_bars") is not None and not isinstance(given["window_starts_on_bars"], bool):
        raise ValueError(
            f"{name('window_starts_on_bars')} must be True (each later window of a long song starts on a bar line of "
            "the asked tempo, the default) or False (where the stride puts it), got "
            f"{given['window_starts_on_bars']!r}."
        )
    integer("max_new_tokens", 1, hint="; it caps the decoder steps (duration_s sets a length in seconds)")
    integer("max_length", 1)
    number("guidance_scale", 1.0, MAX_GUIDANCE_SCALE, hint="; 1 turns guidance off, 3 is typical")
    number("control_guidance_scale", 0.0, MAX_GUIDANCE_SCALE, hint="; 0 turns control guidance off")
    if given.get("control_guidance_scale") and config is not None and not has_musical_controls(config):
        raise ValueError(
            f"{name('control_guidance_scale')} pushes towards the musical controls (tempo, key, arrangement) but this "
            "model has none (decoder.use_tempo_control / use_key_control / use_arrangement_control are all off); "
            f"leave {name('control_guidance_scale')} out."
        )
    silence = given.get("silence_instrumental_vocals")
    if silence is not None and not isinstance(silence, bool):
        raise ValueError(f"{name('silence_instrumental_vocals')} must be True, False or None, got {silence!r}.")
    if silence and config is not None and not can_silence_instrumental_vocals(config):
        pattern = config.decoder.token_pattern()
        lacks = (
            f"its {pattern.name} pattern has no vocal track"
            if "vocals" not in pattern.track_names
            else "it reads no arrangement control (decoder.use_arrangement_control is off)"
        )
        raise ValueError(
            f"{name('silence_instrumental_vocals')} holds a dual-track model's vocal track silent for instrumental "
            f"requests, but this model cannot: {lacks}; leave {name('silence_instrumental_vocals')} out."
        )
    flags = {key: spelt for key, spelt in names.items() if not spelt.startswith("generation_config.")}
    greedy = "" if flags and "do_sample" not in flags else f"; for no sampling at all pass {name('do_sample')}=False"
    number(
        "temperature",
        MIN_TEMPERATURE,
        MAX_TEMPERATURE,
        hint=f"; lower is more predictable (0.7), 1 samples the model as trained{greedy}",
    )
    _check_codebook_temperatures(given.get("codebook_temperatures"), config, name("codebook_temperatures"))
    integer("top_k", 0, hint="; 0 turns top-k filtering off")
    number("top_p", 0.0, 1.0, low_open=True, hint="; 1 turns nucleus filtering off")
    integer("guidance_top_k", 1)
    check_cache_implementation(given.get("cache_implementation"), name("cache_implementation"))
    if "do_sample" in given and not isinstance(given["do_sample"], bool):
        raise ValueError(f"{name('do_sample')} must be True or False, got {given['do_sample']!r}.")
    conditions = given.get("guidance_conditions")
    if conditions is not None:
        listed = [conditions] if isinstance(conditions, str) else conditions
        if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(c, str) for c in listed):
            raise ValueError(
                f"{name('guidance_conditions')} must be a non-empty list of {list(CONDITION_NAMES)}, "
                f"got {conditions!r}; "
                "set guidance_scale=1 to turn guidance off."
            )
        unknown = sorted(set(listed) - set(CONDITION_NAMES))
        if unknown:
            raise ValueError(f"Unknown {name('guidance_conditions')} {unknown}; choose from {list(CONDITION_NAMES)}.")

    duration, minimum = given.get("duration_s"), given.get("min_duration_s")
    if duration is not None and minimum is not None and minimum > duration:
        raise ValueError(
            f"{name('min_duration_s')} ({minimum:g} s) is longer than {name('duration_s')} ({duration:g} s); "
            f"lower {name('min_duration_s')} or raise {name('duration_s')}."
        )
    if config is None or duration is None:
        return
    pattern = config.decoder.token_pattern()
    needed = pattern.sequence_length(duration_frames(config, duration))
    prefix = pattern.forced_prefix_length(pattern.generation_mask(1, 1))
    for key, allowed in (
        ("max_new_tokens", prefix + given.get("max_new_tokens", 0)),
        ("max_length", given.get("max_length")),
    ):
        if key in given and allowed < needed:
            raise ValueError(
                f"{name(key)}={given[key]} would stop the song before {name('duration_s')}={duration:g} s, which takes "
                f"{needed - (prefix if key == 'max_new_tokens' else 0)} "
                f"{'steps' if key == 'max_new_tokens' else 'positions'}; "
                "pass only one of them (the text-to-audio pipeline adds max_new_tokens=256: pass max_new_tokens=None "
                "there)."
            )


# the checked arguments checked only as a call gives them, never from a saved generation config: the step caps,
# do_sample and the long-song windows
_CALL_ONLY_ARGUMENTS = (
    "max_new_tokens",
    "max_length",
    "do_sample",
    "window_s",
    "context_s",
    "anchor_s",
    "repeat_sections",
    "repeat_whole_sections",
)
# generate()'s arguments that a saved generation config may hold too: where a call leaves one out, the saved value
# is what generate() uses, so it is checked in its place (named ``generation_config.KEY`` in messages)
SAVED_CHECKED_ARGUMENTS = tuple(key for key in CHECKED_ARGUMENTS if key not in _CALL_ONLY_ARGUMENTS)


def merged_generation_arguments(
    arguments: dict[str, Any], generation_config=None, names: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(arguments, names)`` that ``generate`` acts on: the given (not ``None``) checked arguments, and a saved
    ``generation_config``'s values for those left out, named ``generation_config.KEY``.  A saved ``duration_s``
    does not apply next to ``max_new_tokens`` / ``max_length`` / ``min_duration_s``, which then set the length."""
    merged = {key: value for key, value in arguments.items() if key in CHECKED_ARGUMENTS and value is not None}
    names = dict(names or {})
    if generation_config is None:
        return merged, names
    # a saved duration_s is no length of this call next to a step cap (which then sets the length), nor next to a
    # minimum (which grows it, whatever it is)
    lengths_set = any(key in merged for key in ("max_new_tokens", "max_length", "min_duration_s"))
    for key in SAVED_CHECKED_ARGUMENTS:
        value = getattr(generation_config, key, None)
        if key in merged or value is None or (key == "duration_s" and lengths_set):
            continue
        merged[key] = value
        names[key] = f"generation_config.{key}"
    return merged, names


def check_streamer(streamer: Any, name: str = "streamer") -> None:
    """A streamer is attached to a call, not part of the song it asks for (a request is the same song whichever
    progress bar or audio stream watches it), so it is checked where it is attached."""
    if streamer is not None and not all(callable(getattr(streamer, method, None)) for method in ("put", "end")):
        raise ValueError(
            f"{name} must be a transformers streamer (with put() and end()), such as "
            f"songgen_hf.pipelines.GenerationProgress(), got {type(streamer).__name__}."
        )


def _check_codebook_temperatures(value: Any, config, flag: str) -> None:
    """``{track: [temperature, ...]}``; with a config, also its pattern's tracks and codebook count (see the module
    docstring)."""
    if value is None:
        return
    example = '{"vocals": [0.6, 0.6, 0.6]}'
    if not isinstance(value, dict):
        raise ValueError(
            f"{flag} must map a track name to a list of temperatures, e.g. {example} ({{}} for none); got {value!r}."
        )
    if not value:  # none: every row at `temperature`, whatever the pattern
        return
    for track, temperatures in value.items():
        if not isinstance(temperatures, (list, tuple)) or not temperatures:
            raise ValueError(
                f"{flag}[{track!r}] must be a non-empty list of temperatures (its first codebooks'), "
                f"e.g. {example}; got {temperatures!r}."
            )
        for temperature in temperatures:
            if not (
                is_number(temperature)
                and math.isfinite(temperature)
                and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE
            ):
                raise ValueError(
                    f"{flag}[{track!r}] holds {temperature!r}; each temperature must be a number >= "
                    f"{MIN_TEMPERATURE:g} and <= {MAX_TEMPERATURE:g} (1 samples the model as trained)."
                )
    if config is None:
        return
    pattern = config.decoder.token_pattern()
    if pattern.row_tracks is None:
        raise ValueError(
            f"{flag} sets temperatures per track, but this model's {pattern.name} pattern alternates "
            "its tracks within each row; leave it out (temperature applies to every row)."
        )
    unknown = sorted(str(track) for track in value if track not in pattern.track_names)
    if unknown:
        raise ValueError(
            f"{flag} names track(s) {unknown}; this model's {pattern.name} pattern has {list(pattern.track_names)}."
        )
    for track, temperatures in value.items():
        if len(temperatures) > pattern.num_codebooks:
            raise ValueError(
                f"{flag}[{track!r}] lists {len(temperatures)} temperatures for a track of "
                f"{pattern.num_codebooks} codebooks; give at most {pattern.num_codebooks}."
            )


def check_window_count(
    config, duration_s: float, window_s: float | None, context_s: float | None, names: dict[str, str] | None = None
) -> None:
    """Refuse a song of more than :data:`MAX_SONG_WINDOWS` windows, saying how much new audio each must add.  A song
    that fits the default window, asked no windows, is one pass: there is nothing to count."""
    if window_s is None and context_s is None and fits_default_window(config, duration_s):
        return
    names = names or {}
    count = song_window_count(config, duration_s, window_s, context_s)
    if count <= MAX_SONG_WINDOWS:
        return
    window, context = song_windows(config, window_s, context_s)
    total = duration_frames(config, duration_s)
    needed = math.ceil((total - window) / (MAX_SONG_WINDOWS - 1)) / config.frame_rate
    window_name, context_name = names.get("window_s", "window_s"), names.get("context_s", "context_s")
    raise ValueError(
        f"A {duration_s:g} s song in windows of {window / config.frame_rate:g} s, each continuing from the previous "
        f"one's last {context / config.frame_rate:g} s, takes {count:,} windows that each add "
        f"{(window - context) / config.frame_rate:g} s of new audio; at most {MAX_SONG_WINDOWS} windows are made. "
        f"Raise {window_name} or lower {context_name} so each window adds at least {needed:.2f} s."
    )


def check_cache_implementation(value, name: str = "cache_implementation") -> None:
    """``ValueError`` naming the accepted values unless ``value`` is None or one of :data:`CACHE_IMPLEMENTATIONS`."""
    if value is not None and value not in CACHE_IMPLEMENTATIONS:
        raise ValueError(
            f"Unknown {name} {value!r}; SongGen accepts {', '.join(repr(v) for v in CACHE_IMPLEMENTATIONS)} "
            f"(default {DEFAULT_CACHE_IMPLEMENTATION!r}; 'static' for torch.compile with CUDA graphs)."
        )


# ----------------------------------------------------------------------------------------------------
# A song's texts and reference voices, checked against :mod:`songgen_hf.modeling.limits` (by the processor, first).
#
# They run before any tokenising or decoding and look only at lengths (a string's ``len``, an array's
# shape, an audio file's header), so a request far over a limit costs nothing: a 100 000-character
# description is refused before the tokenizer sees it, an hour-long reference voice before a sample is decoded.


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _is_array_with_rate(value: Any) -> bool:
    """An ``(array, sampling_rate)`` pair, as opposed to a tuple of per-song voices."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and is_number(value[1])
        and value[0] is not None
        and not isinstance(value[0], (str, os.PathLike, Real))
    )


def split_reference_voices(reference_voice: Any, sampling_rate: Any, batch_size: int) -> tuple[list, list] | None:
    """Per-song ``(voices, rates)`` for the feature extractor, or ``None`` when no song has a voice."""
    if reference_voice is None:
        return None
    is_list = isinstance(reference_voice, (list, tuple)) and not _is_array_with_rate(reference_voice)
    # A flat list of numbers is one waveform (the feature extractor's convention), not one per song.
    if is_list and reference_voice and all(is_number(sample) for sample in reference_voice):
        is_list = False
    if not is_list:
        if batch_size != 1:
            raise ValueError(
                f"Got one reference voice for {batch_size} songs; pass a list with one entry (or None) per song."
            )
        voices = [reference_voice]
    else:
        voices = list(reference_voice)
        if len(voices) != batch_size:
            raise ValueError(
                f"Got {_count(len(voices), 'reference voice')} for {_count(batch_size, 'song')}; "
                "pass one entry (or None) per song."
            )
    if isinstance(sampling_rate, (list, tuple)):
        if len(sampling_rate) != batch_size:
            raise ValueError(
                f"sampling_rate has {_count(len(sampling_rate), 'entry', 'entries')} for {_count(batch_size, 'song')}; "
                "give one per song."
            )
        rates = list(sampling_rate)
    else:
        rates = [sampling_rate] * batch_size
    if all(voice is None for voice in voices):
        return None
    items = []
    for index, voice in enumerate(voices):
        if _is_array_with_rate(voice):  # the pair's own rate is the one that describes its samples
            voice, rates[index] = voice
        items.append(voice)
    return items, rates


def text_batch(description: Any, lyrics: Any, single: bool = False) -> tuple[list[str], list[str]]:
    """Descriptions and lyrics as equal-length lists of str, within the length limits (no tokenizing).

    ``single``: exactly one song, each a ``str`` (:meth:`SongGenProcessor.interpret`).
    """
    if description is None:
        raise ValueError("SongGenProcessor needs a description (a text prompt per song).")
    if single and not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}.")
    if single and not isinstance(lyrics, str):
        raise ValueError(f"lyrics must be a str, got {type(lyrics).__name__}.")
    descriptions = _as_text_batch(description, "description")
    if lyrics is None:
        lyrics = [""] * len(descriptions)
    lyric_texts = _as_text_batch(lyrics, "lyrics")
    if len(lyric_texts) != len(descriptions):
        raise ValueError(
            f"Got {_count(len(descriptions), 'description')} but {_count(len(lyric_texts), 'lyric string')}; "
            "pass one of each per song (use '' for a song without lyrics)."
        )
    # Before anything else reads the text: a huge paste must cost nothing.
    check_description_chars(descriptions)
    check_lyrics_chars(lyric_texts)
    check_lyric_tags(lyric_texts)
    for index, (text, words) in enumerate(zip(descriptions, lyric_texts)):
        if not text.strip() and not words.strip():
            song = f"Song {index} has" if len(descriptions) > 1 else "Got"
            raise ValueError(
                f"{song} an empty description and empty lyrics; give a description (genre, mood, "
                "instruments, voice), lyrics, or both."
            )
    return descriptions, lyric_texts


def check_lyric_tags(lyrics: Sequence[str]) -> None:
    """Section tags that cannot be read as the user meant: a ``[`` or ``]`` left over once every ``[tag]`` is read
    (``[chorus``, ``]chorus[``: sung as words otherwise), and a note asking two tempos or two keys
    (``[chorus: at 90 bpm at 180 bpm]``).  A ``ValueError`` naming the line or the section and both asks."""
    # the lyrics tokenizer's tag reader, imported here: importing the model needs no tokenizer
    from songgen_hf.modeling.songgen.tokenization_songgen import _TAG as _LYRIC_TAG
    from songgen_hf.modeling.songgen.tokenization_songgen import parse_song_structure

    for index, text in enumerate(lyrics):
        song = f"Lyrics item {index}" if len(lyrics) > 1 else "The lyrics"
        for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
            left = _LYRIC_TAG.sub(" ", line)
            if "[" in left or "]" in left:
                raise ValueError(
                    f"{song}' line {number} ({line.strip()[:60]!r}) has a '[' or ']' without its pair: a section tag "
                    "is written [name] (e.g. [chorus]); close the bracket, or remove it (brackets are never sung)."
                )
        for section in parse_song_structure(text).sections:
            note = section.note
            if not note:
                continue
            tempos = [f"{bpm:g} BPM" for _, bpm, _, _ in _tempo_candidates(note) if MIN_BPM <= bpm <= MAX_BPM]
            keys = [name for _, name in _keys(note, strict=False)]
            for asked, kind in ((list(dict.fromkeys(tempos)), "tempos"), (list(dict.fromkeys(keys)), "keys")):
                if len(asked) > 1:
                    raise ValueError(
                        f"{song}' section [{section.label}] asks for two {kind} in its note ({asked[0]} and "
                        f"{asked[1]}); keep one."
                    )


def _as_text_batch(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a str or a list of str, got {type(value).__name__}.")
    if not value:
        raise ValueError(f"{name} is an empty list; pass at least one song.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{name} item {index} is a {type(item).__name__}, not a str.")
    return list(value)


def reference_voice_seconds(item: Any, rate: Any) -> float | None:
    """A reference voice's length in seconds from its header or shape; ``None`` when it cannot be told
    cheaply (unreadable file, array without a rate): the feature extractor then gives its own error."""
    if item is None:
        return None
    if (
        isinstance(item, (str, os.PathLike))
        or isinstance(item, io.IOBase)
        or (hasattr(item, "read") and hasattr(item, "seek"))
    ):
        import soundfile as sf  # only here: text-only use of the processor does not need it

        try:
            if isinstance(item, (str, os.PathLike)):
                if not os.path.isfile(item):
                    return None
                info = sf.info(os.fspath(item))
            else:  # a file object: read the header, then put the position back for the real read
                position = item.tell()
                try:
                    info = sf.info(item)
                finally:
                    item.seek(position)
        except Exception:  # noqa: BLE001 - any unreadable header is reported by the feature extractor
            return None
        return float(info.frames) / float(info.samplerate) if info.samplerate else None
    if not is_number(rate) or not rate > 0:
        return None
    shape = getattr(item, "shape", None)
    if shape is None:
        try:
            shape = np.shape(item)
        except Exception:  # noqa: BLE001 - a ragged or odd object: the feature extractor names the problem
            return None
    shape = [int(size) for size in shape if int(size) != 1]
    if not shape:
        return None
    # (samples,), (channels, samples) or (samples, channels): the longest axis holds the samples.
    return max(shape) / float(rate)


def check_reference_voices(items: Sequence[Any], rates: Sequence[Any]) -> None:
    for index, (item, rate) in enumerate(zip(items, rates)):
        seconds = reference_voice_seconds(item, rate)
        if seconds is not None and seconds > MAX_REFERENCE_VOICE_SECONDS:
            where = f"Reference voice {index}" if len(items) > 1 else "The reference voice"
            raise ValueError(
                f"{where} is {seconds:,.1f} s long; the limit is {MAX_REFERENCE_VOICE_SECONDS:g} s "
                "(songgen_hf.modeling.limits.MAX_REFERENCE_VOICE_SECONDS). Cut a few seconds of clear singing "
                "from it (only a 3 s clip is used)."
            )


def check_lyrics_limit(value: Any, name: str = "max_lyrics_length") -> int | None:
    """``value`` (a lyric token limit, or ``None``) as an int, else ``ValueError`` naming ``name``."""
    if value is None:
        return None
    if not is_int(value) or value < 2:
        raise ValueError(f"{name} must be an int >= 2 (room for [START] and [STOP]) or None, got {value!r}.")
    return int(value)


__all__ = [
    "can_silence_instrumental_vocals",
    "check_cache_implementation",
    "check_lyric_tags",
    "check_lyrics_limit",
    "check_reference_voices",
    "check_window_count",
    "reference_voice_seconds",
    "split_reference_voices",
    "text_batch",
    "check_generation_arguments",
    "check_song_lengths",
    "CHECKED_ARGUMENTS",
    "check_streamer",
    "merged_generation_arguments",
    "SAVED_CHECKED_ARGUMENTS",
    "CONDITION_NAMES",
    "holds_silent_vocals",
    "MAX_GUIDANCE_SCALE",
    "MAX_SONG_S",
    "MAX_TEMPERATURE",
    "MIN_TEMPERATURE",
]
