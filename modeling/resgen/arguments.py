"""Checks of ResGen's sampling arguments that need the config at most, never the weights.

The diffusers pipeline's entry (``ResGenPipeline.check_inputs``, which ``generate`` goes through), the text-to-song
pipeline and the CLI all run :func:`check_resgen_arguments` before any compute, so every surface words a mistake the
same way (``names`` maps an argument to the user's own flag, e.g. ``{"duration_s": "--duration"}``).  The sampler
checks what it acts on at every call (``check_sampling``), as transformers validates a generation config; the CLI
runs the same check on a folder's config before any weights load.

* ``num_inference_steps``: a whole number >= 1, and at most the tokens to generate
  (frames x depth): each step reveals at least one token.
* ``guidance_scale``: ``None`` or in [1, 100]; 1 (or ``None``) is the exact conditional model.
* ``temperature`` > 0 (divides the confidence; at most 100); ``top_p`` in (0, 1].
* ``duration_s`` > 0 and at most the positional limit (``decoder.max_position_embeddings`` frames);
  an audio prompt must be shorter than the duration.
"""

from __future__ import annotations

import math
from typing import Any

from songgen_hf.modeling.limits import is_int, is_number
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


def _sampled_with(arguments: dict[str, Any]) -> dict[str, Any]:
    """The checked arguments the sampler acts on: the given (not ``None``) ones over :data:`SAMPLING_DEFAULTS`."""
    given = {key: value for key, value in arguments.items() if key in CHECKED_ARGUMENTS and value is not None}
    return {**SAMPLING_DEFAULTS, **given}


def check_sampling_arguments(
    arguments: dict[str, Any], config, names: dict[str, str] | None = None, prompt_frames: int = 0
):
    """``arguments`` (``None`` = not given: the sampler's defaults) checked against ``config`` with an audio prompt of
    ``prompt_frames``, as the sampler will act on them; ``ValueError`` naming the first bad one (as ``names`` spells
    it) and its fix."""
    check_resgen_arguments(_sampled_with(arguments), config, names or {}, int(prompt_frames))


__all__ = [
    "CHECKED_ARGUMENTS",
    "DEFAULT_DURATION_S",
    "DEFAULT_NUM_INFERENCE_STEPS",
    "SAMPLING_DEFAULTS",
    "check_sampling_arguments",
    "audio_prompt_frames",
    "check_resgen_arguments",
    "default_duration_s",
    "duration_frames",
    "max_duration_s",
]
