"""Checks of ResGen's sampling arguments that need the config at most, never the weights.

The diffusers pipeline's entry (``ResGenPipeline.check_inputs``, which ``generate`` goes through), the text-to-song
pipeline and the CLI all run :func:`check_resgen_arguments` before any compute, so every surface words a mistake the
same way (``names`` maps an argument to the user's own flag, e.g. ``{"duration_s": "--duration"}``).  A song's
arguments are checked once, where they enter, into a :class:`ResGenRequest` that the layers below are handed and
trust for exactly the arguments, config and audio prompt it was checked for.

* ``num_inference_steps``: a whole number >= 1, and at most the tokens to generate
  (frames x depth): each step reveals at least one token.
* ``guidance_scale``: ``None`` or in [1, 100]; 1 (or ``None``) is the exact conditional model.
* ``temperature`` > 0 (divides the confidence; at most 100); ``top_p`` in (0, 1].
* ``duration_s`` > 0 and at most the positional limit (``decoder.max_position_embeddings`` frames);
  an audio prompt must be shorter than the duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from songgen_hf.modeling.limits import is_int, is_number
from songgen_hf.modeling.requests import CheckedRequest
from songgen_hf.modeling.songgen.arguments_songgen import MAX_GUIDANCE_SCALE, MAX_TEMPERATURE

DEFAULT_DURATION_S = 10.0
DEFAULT_NUM_INFERENCE_STEPS = 16  # the paper's TTS setting
CHECKED_ARGUMENTS = ("num_inference_steps", "guidance_scale", "temperature", "top_p", "duration_s")
# what `ResGenPipeline.__call__` and `generate()` sample with when an argument is not given: a request is checked
# with them, since the sampler uses them (the default steps must fit the duration's tokens like given ones)
SAMPLING_DEFAULTS = {"num_inference_steps": DEFAULT_NUM_INFERENCE_STEPS, "temperature": 1.0, "top_p": 1.0}


def max_duration_s(config) -> float:
    """The longest song, in seconds, that a ResGen ``config``'s positions hold."""
    return config.max_frames / config.frame_rate


def duration_frames(config, seconds: float) -> int:
    return max(1, int(round(float(seconds) * config.frame_rate)))


def default_duration_s(config) -> float:
    return min(DEFAULT_DURATION_S, max_duration_s(config))


def check_resgen_arguments(
    arguments: dict[str, Any], config=None, names: dict[str, str] | None = None, prompt_frames: int = 0
) -> None:
    """Raise ``ValueError`` naming the argument and the fix for the first bad value (``None`` = not given)."""
    names = names or {}
    given = {key: value for key, value in arguments.items() if value is not None}

    def name(key: str) -> str:
        return names.get(key, key)

    steps = given.get("num_inference_steps")
    if steps is not None and (not is_int(steps) or steps < 1):
        raise ValueError(f"{name('num_inference_steps')} must be a whole number >= 1 (16 is typical), got {steps!r}.")
    scale = given.get("guidance_scale")
    if scale is not None and not (is_number(scale, finite=True) and 1.0 <= scale <= MAX_GUIDANCE_SCALE):
        raise ValueError(
            f"{name('guidance_scale')} must be a number >= 1 and <= {MAX_GUIDANCE_SCALE:g}, got {scale!r}; "
            "1 turns guidance off, 3 is typical."
        )
    temperature = given.get("temperature")
    if temperature is not None and not (is_number(temperature, finite=True) and 0 < temperature <= MAX_TEMPERATURE):
        raise ValueError(
            f"{name('temperature')} must be a number > 0 and <= {MAX_TEMPERATURE:g}, got {temperature!r}; it divides "
            "the confidence that orders unmasking (lower = most confident first, 1 = as the model scores)."
        )
    top_p = given.get("top_p")
    if top_p is not None and not (is_number(top_p, finite=True) and 0 < top_p <= 1):
        raise ValueError(
            f"{name('top_p')} must be a number > 0 and <= 1, got {top_p!r}; 1 keeps every mixture component."
        )
    duration = given.get("duration_s")
    limit = math.inf if config is None else round(max_duration_s(config), 2)
    if duration is not None and not (is_number(duration, finite=True) and 0 < duration <= limit):
        longest = "" if config is None else f" (this model's positional limit is {limit:g} s)"
        raise ValueError(f"{name('duration_s')} must be a number > 0 and <= {limit:g}, got {duration!r}{longest}.")
    if config is None:
        return
    frames = duration_frames(config, duration if duration is not None else default_duration_s(config))
    if prompt_frames >= frames:
        raise ValueError(
            f"The audio prompt ({prompt_frames / config.frame_rate:g} s) is not shorter than {name('duration_s')} "
            f"({frames / config.frame_rate:g} s); raise {name('duration_s')} or shorten the prompt."
        )
    tokens = (frames - prompt_frames) * config.decoder.num_codebooks
    if steps is not None and steps > tokens:
        raise ValueError(
            f"{name('num_inference_steps')}={steps} exceeds the {tokens} tokens to generate (frames x depth); "
            f"use at most {tokens} steps or a longer {name('duration_s')}."
        )


def audio_prompt_frames(config, audio_prompt=None, audio_prompt_codes=None) -> int:
    """The frames an audio prompt (waveform at the codec's rate) or its codes ``(..., frames)`` fill; 0 without one,
    or for one that is no tensor (refused where the prompt itself is checked)."""
    if audio_prompt is not None:
        shape = getattr(audio_prompt, "shape", None)
        return int(config.audio_encoder.num_frames(int(shape[-1]))) if shape else 0
    shape = getattr(audio_prompt_codes, "shape", None)
    return int(shape[-1]) if shape else 0


def _signature(config) -> tuple:
    """What :func:`check_resgen_arguments` reads from a ``config``: two configs with the same signature accept
    exactly the same arguments."""
    return (float(config.frame_rate), int(config.max_frames), int(config.decoder.num_codebooks))


def _sampled_with(arguments: dict[str, Any]) -> dict[str, Any]:
    """The checked arguments the sampler acts on: the given (not ``None``) ones over :data:`SAMPLING_DEFAULTS`."""
    given = {key: value for key, value in arguments.items() if key in CHECKED_ARGUMENTS and value is not None}
    return {**SAMPLING_DEFAULTS, **given}


@dataclass(frozen=True)
class ResGenRequest(CheckedRequest):
    """ResGen's sampling arguments, checked once against a model's config (and an audio prompt's length): a
    :class:`~songgen_hf.modeling.requests.CheckedRequest` whose context is the prompt's frames.

    A request is checked where a song enters (the CLI before any weights load, the text-to-song pipeline's call,
    ``ResGenPipeline.__call__`` or ``generate()`` called directly) and handed on; the layers below do not check again
    when handed a request checked with the same arguments, for a config of the same signature and the same prompt
    length.  Build one with :meth:`check`."""

    @classmethod
    def acted_on(cls, arguments: dict[str, Any], context: Any) -> dict[str, Any]:
        return _sampled_with(arguments)

    @classmethod
    def signature_of(cls, config, context: Any) -> tuple:
        return (*_signature(config), int(context or 0))

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any], config, names: dict[str, str], context: Any) -> None:
        check_resgen_arguments(arguments, config, names, int(context or 0))

    @classmethod
    def check(
        cls, arguments: dict[str, Any], config, names: dict[str, str] | None = None, prompt_frames: int = 0
    ) -> ResGenRequest:
        """Check ``arguments`` (``None`` = not given; the sampler's defaults for those left out) against
        ``config`` with a prompt of ``prompt_frames``; ``ValueError`` naming the argument (as spelt in ``names``)
        and the fix for the first bad one."""
        return cls.checked(arguments, config, names, int(prompt_frames))

    @property
    def prompt_frames(self) -> int:
        """The audio prompt's frames this request was checked with."""
        return self.signature[-1]

    def holds_for(self, arguments: dict[str, Any], config, prompt_frames: int = 0) -> bool:
        """Whether this request vouches for ``arguments`` on a model with ``config`` and a prompt of
        ``prompt_frames``."""
        return self.vouches_for(arguments, config, int(prompt_frames))


__all__ = [
    "CHECKED_ARGUMENTS",
    "DEFAULT_DURATION_S",
    "DEFAULT_NUM_INFERENCE_STEPS",
    "SAMPLING_DEFAULTS",
    "ResGenRequest",
    "audio_prompt_frames",
    "check_resgen_arguments",
    "default_duration_s",
    "duration_frames",
    "max_duration_s",
]
