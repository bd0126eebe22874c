"""Songs longer than one decoding pass: window after window through the ordinary ``generate``.

A SongGen decoder holds ``max_position_embeddings`` positions, its *window* (30 s for the released
models).  A longer song is a loop of ordinary ``generate`` calls, each one window: the first starts the
song (from the caller's audio prompt, if any); every later one continues from the previous window's last
``context_s`` seconds of codes through the audio-continuation path (``audio_prompt_codes``, every track of
a dual-track pattern) and adds ``window - context`` new frames.  Each window gets the same conditioning
(description, lyrics, voice, musical controls) and sampling settings, and runs transformers' own loop
with SongGen's hooks, its cache built and dropped per window: only the context is carried from one
window to the next, so memory stays that of one window and time grows linearly with the song.

The windows' new frames make one continuous code sequence, which the codec decodes once at the end:
there are no seams to crossfade.  ``duration_s`` is the song's exact length; with ``min_duration_s`` a
window may end the song early (the model's end-of-song), and the song then ends there.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch

from songgen_hf.modeling.songgen.generation_arguments import check_generation_arguments, duration_frames, song_windows

# per-window arguments that cannot be carried across windows, and what to do instead
_REFUSED_ACROSS_WINDOWS = {
    "streamer": "a streamer follows one decoding pass",
    "singer": "the singer re-sings one pass's vocal track",
    "vocal_scores": "the singer re-sings one pass's vocal track",
    "max_new_tokens": "a step cap applies to one pass; duration_s sets the song's length",
    "max_length": "a step cap applies to one pass; duration_s sets the song's length",
    "output_scores": "scores are kept for one pass only",
    "output_logits": "logits are kept for one pass only",
    "encoder_outputs": "each window encodes the conditions itself",
}
_PROMPT_KWARGS = ("audio_prompt", "audio_prompt_codes", "audio_prompt_frame_lengths", "audio_prompt_padding_mask")


@dataclass(frozen=True)
class LongSongPlan:
    """How a song longer than one window is cut into windows (all in codec frames)."""

    total_frames: int
    window_frames: int
    context_frames: int
    # None: the song is exactly total_frames long; otherwise it may end from this frame on
    min_frames: int | None

    def window_spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` of every window in the song's frames; each starts ``context_frames`` before the
        previous one's end, the last one ends at ``total_frames``."""
        spans = [(0, min(self.window_frames, self.total_frames))]
        while spans[-1][1] < self.total_frames:
            start = spans[-1][1] - self.context_frames
            spans.append((start, min(start + self.window_frames, self.total_frames)))
        return spans


def plan_long_song(model, generation_config, kwargs: dict, explicit: dict) -> LongSongPlan | None:
    """The windows of the song this ``generate`` call asks for, or ``None`` when it fits one window.

    Takes ``window_s`` / ``context_s`` out of ``kwargs`` (they are no arguments of a single pass);
    ``explicit`` holds this call's checked arguments, ``generation_config`` the call's or the model's."""
    window_s, context_s = kwargs.pop("window_s", None), kwargs.pop("context_s", None)
    config = model.config
    duration = explicit.get("duration_s")
    minimum = explicit.get("min_duration_s", getattr(generation_config, "min_duration_s", None))
    if duration is None and explicit.get("max_new_tokens") is None and explicit.get("max_length") is None:
        duration = getattr(generation_config, "duration_s", None)  # a saved default length
        saved = {"duration_s": duration, "min_duration_s": None if "min_duration_s" in explicit else minimum}
        check_generation_arguments(saved, config, names={key: f"generation_config.{key}" for key in saved})
        if duration is None and getattr(generation_config, "max_new_tokens", None) is None and minimum:
            # generate's default length (one window at most) grows to an asked minimum
            duration = minimum
    if duration is None:
        return None
    window, context = song_windows(config, window_s, context_s)
    total = duration_frames(config, duration)
    if total <= window:
        return None
    for key, why in _REFUSED_ACROSS_WINDOWS.items():
        if kwargs.get(key) not in (None, False):
            raise ValueError(
                f"{key} cannot be used for a song of {duration:g} s, longer than one window of "
                f"{window / config.frame_rate:g} s ({why}); leave {key} out or ask for at most that duration_s."
            )
    return LongSongPlan(
        total_frames=total,
        window_frames=window,
        context_frames=context,
        min_frames=None if minimum is None else duration_frames(config, minimum) if minimum else 0,
    )


def generate_long_song(model, inputs, generation_config, kwargs: dict, plan: LongSongPlan):
    """Generate the song of ``plan`` window after window (see the module docstring); returns the whole song's
    codes per track, each song's length in frames, the first frame of each window and each window's codes (the
    caller builds its output from them and decodes the song once)."""
    rate = model.config.frame_rate
    codebook_size = model.config.decoder.codebook_size
    kwargs = {
        key: value
        for key, value in kwargs.items()
        if key not in ("duration_s", "min_duration_s", "return_dict_in_generate")
    }  # set per window below
    first_window = {key: kwargs.pop(key) for key in _PROMPT_KWARGS if key in kwargs}
    parts: dict[str, list[torch.Tensor]] = {}
    window_codes, starts = [], []
    lengths = ended = None
    prompt = first_window
    for start, end in plan.window_spans():
        frames = end - start
        # the window's share of the song's minimum: the whole window unless the song may end inside it
        local_min = frames if plan.min_frames is None else min(frames, max(0, plan.min_frames - start))
        out = model.generate(
            inputs,
            generation_config=generation_config,
            **kwargs,
            **prompt,
            duration_s=frames / rate,
            min_duration_s=local_min / rate,
            decode_audio=False,
            return_dict_in_generate=True,
        )
        window_codes.append(out.codes)
        starts.append(start)
        new_from = 0 if start == 0 else plan.context_frames
        for name, track in out.codes.items():
            parts.setdefault(name, []).append(track[..., new_from:frames])
        window_lengths = out.frame_lengths.to("cpu")
        if lengths is None:
            lengths, ended = window_lengths.clone(), window_lengths < frames
        else:
            # a song that ended in an earlier window keeps its length; this window's frames for it are dropped
            lengths = torch.where(ended, lengths, start + window_lengths)
            ended = ended | (window_lengths < frames)
        if bool(ended.all()):
            break
        # the next window continues from this one's last seconds; a song that has ended still fills its row
        # of the batch, with its codes clamped into the codebook (the end-of-song pad is no code)
        prompt = {
            "audio_prompt_codes": {
                name: track[..., frames - plan.context_frames : frames].clamp(0, codebook_size - 1)
                for name, track in out.codes.items()
                if name in model.pattern.track_names
            }
        }
    codes = {name: torch.cat(chunks, dim=-1) for name, chunks in parts.items()}
    device = next(iter(codes.values())).device
    silent = _silent_vocal_items(model, generation_config, kwargs)
    if silent is not None and "vocals" in codes:
        # each window held its own stretch of silence, whose first and last frames are the codec's edges; a
        # single pass holds the whole song's silence, and so does a long song
        silence = model.silence_codes(codes["vocals"].shape[-1]).to(device)
        codes["vocals"] = torch.where(silent.to(device).view(-1, 1, 1), silence, codes["vocals"])
    lengths = lengths.to(device)
    return codes, lengths, starts, tuple(window_codes)


def _silent_vocal_items(model, generation_config, kwargs: dict) -> torch.Tensor | None:
    """Which songs ``generate`` holds at a silent vocal track (``None``: none), as each window decided it."""
    option = kwargs.get("silence_instrumental_vocals")
    if option is None:
        option = getattr(generation_config or model.generation_config, "silence_instrumental_vocals", None)
    return model._silent_vocal_items(SimpleNamespace(silence_instrumental_vocals=option), kwargs)


__all__ = ["LongSongPlan", "generate_long_song", "plan_long_song"]
