"""SongGen's argument checks beside its request.

``check_generation_arguments`` refuses a bad length, guidance or sampling setting with a one-line error before any
weights run; a ``GenerationRequest`` holds arguments so checked, which the pipeline and the CLI hand on to
``generate`` instead of checking them again.  The ranges (``MAX_*``) stand here, where they are checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from songgen_hf.modeling.limits import is_int, is_number
from songgen_hf.modeling.requests import CheckedRequest
from songgen_hf.modeling.songgen.preallocated_cache import check_cache_implementation
from songgen_hf.modeling.songgen.windows_songgen import (
    anchor_frames,
    check_window_count,
    duration_frames,
    max_duration_s,
    song_windows,
)

# The generation arguments' checks: they need the config at most, never the weights.
#
# A request is checked once, where it enters: the CLI and the pipeline before any weights load (the CLI on the
# folder's config), ``generate()`` when called directly; :class:`GenerationRequest` carries the checked arguments
# on, so no layer checks them again, and every surface words a problem the same way.  ``names`` maps an argument
# to what the user typed (``{"duration_s": "--duration"}`` for the CLI), so a message names the user's own flag.
#
# Ranges and why:
#
# * ``duration_s`` > 0 and at most :data:`MAX_SONG_S`; 0 is not "the default": leave the argument out for
#   that.  Up to the model's window (its decoder position table, see :func:`max_duration_s`) a song is one
#   decoding pass; a longer one is made window after window (:func:`plan_long_song`).  A multi-stream model
#   (S frames per decoding step) generates the next whole number of steps and ``generate`` cuts the song
#   back to the asked frames, so any duration is exact.
# * ``window_s`` > 0 and at most the model's window: the length of each pass of a song longer than it
#   (default: the model's window); ``context_s`` > 0 and shorter than the window, in whole frames: the
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
        value = given.get(key)
        if value is None:
            return
        low_ok = is_number(value) and (value > low if low_open else value >= low)
        if not (is_number(value) and math.isfinite(value) and low_ok and value <= high):
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            span = f"a number {bound}" if math.isinf(high) else f"a number {bound} and <= {high:g}"
            raise ValueError(f"{name(key)} must be {span}, got {value!r}{hint}.")

    def integer(key: str, low: int, hint: str = "") -> None:
        value = given.get(key)
        if value is not None and not (is_int(value) and value >= low):
            raise ValueError(f"{name(key)} must be a whole number >= {low}, got {value!r}{hint}.")

    window = round(max_duration_s(config), 2) if config is not None else math.inf
    longest = f" (the longest song is {MAX_SONG_S:g} s" + (
        ")" if config is None else f"; this model's window is {window:g} s, longer songs are made window after window)"
    )
    number(
        "duration_s",
        0.0,
        MAX_SONG_S,
        low_open=True,
        hint=f"{longest}; leave it out for the model's default length" if given.get("duration_s") == 0 else longest,
    )
    number("min_duration_s", 0.0, MAX_SONG_S, hint=f"{longest}; 0 or leaving it out means no minimum")
    whole = f" (this model's window is {window:g} s; leave it out for the whole window)"
    number("window_s", 0.0, window, low_open=True, hint=whole if config is not None else "")
    number(
        "context_s",
        0.0,
        math.inf,
        low_open=True,
        hint="; it is how many seconds of the previous window each window continues from",
    )
    window_s, context_s = given.get("window_s"), given.get("context_s")
    if config is not None and (window_s is not None or context_s is not None):
        song_windows(config, window_s, context_s, names)
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
    if config is not None and given.get("duration_s") is not None:
        check_window_count(config, given["duration_s"], window_s, context_s, names)
    elif window_s is not None and context_s is not None and context_s >= window_s:
        raise ValueError(
            f"{name('context_s')} ({context_s:g} s) must be shorter than {name('window_s')} ({window_s:g} s): each "
            f"window continues from the previous one's last {name('context_s')} seconds and must add new ones."
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
)
# generate()'s arguments that a saved generation config may hold too: where a call leaves one out, the saved value
# is what generate() uses, so it is checked in its place (named ``generation_config.KEY`` in messages)
SAVED_CHECKED_ARGUMENTS = tuple(key for key in CHECKED_ARGUMENTS if key not in _CALL_ONLY_ARGUMENTS)


def config_signature(config) -> tuple:
    """What the argument checks read from a SongGen ``config`` (its decoder and frame rate): two configs with the
    same signature accept exactly the same arguments (what loading sets, the weights' dtype and the source's name,
    is none of it: a request checked on a folder's files vouches for the model loaded from them)."""
    decoder = {
        key: value
        for key, value in config.decoder.to_dict().items()
        if not key.startswith("_") and key not in ("dtype", "torch_dtype", "transformers_version")
    }
    return (float(config.frame_rate), json.dumps(decoder, sort_keys=True, default=str))


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


@dataclass(frozen=True)
class GenerationRequest(CheckedRequest):
    """``generate()``'s arguments, checked once against a model's config and its saved generation config: a
    :class:`~songgen_hf.modeling.requests.CheckedRequest` whose context is the saved generation config.

    A request is checked where it enters (``prepare_pipeline`` and the CLI before any weights load, the pipeline's
    call, the Space, ``generate()`` called directly) and handed on, with a prepared song or as
    ``generate(..., request=request)``: no layer checks again when the request was checked for a config of the same
    signature with the same arguments.  Build one with :meth:`check`."""

    @classmethod
    def acted_on(cls, arguments: dict[str, Any], context: Any) -> dict[str, Any]:
        return merged_generation_arguments(arguments, context)[0]

    @classmethod
    def signature_of(cls, config, context: Any) -> tuple:
        return config_signature(config)

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any], config, names: dict[str, str], context: Any) -> None:
        check_generation_arguments(arguments, config, names)

    @classmethod
    def check(
        cls, arguments: dict[str, Any], config, generation_config=None, names: dict[str, str] | None = None
    ) -> GenerationRequest:
        """Check ``arguments`` (``None`` = not given) with ``generation_config``'s saved values against ``config``;
        ``ValueError`` naming the argument (as spelt in ``names``, a saved value as ``generation_config.KEY``) and
        the fix for the first bad one."""
        merged, names = merged_generation_arguments(arguments, generation_config, names)
        cls.check_arguments(merged, config, names, generation_config)
        return cls(MappingProxyType(merged), config_signature(config))

    def holds_for(self, arguments: dict[str, Any], config, generation_config=None) -> bool:
        """Whether this request vouches for ``arguments`` on a model with ``config`` and ``generation_config``."""
        return self.vouches_for(arguments, config, generation_config)


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


__all__ = [
    "can_silence_instrumental_vocals",
    "check_generation_arguments",
    "CHECKED_ARGUMENTS",
    "check_streamer",
    "config_signature",
    "GenerationRequest",
    "merged_generation_arguments",
    "SAVED_CHECKED_ARGUMENTS",
    "CONDITION_NAMES",
    "holds_silent_vocals",
    "MAX_GUIDANCE_SCALE",
    "MAX_SONG_S",
    "MAX_TEMPERATURE",
    "MIN_TEMPERATURE",
]
