"""The loop behind a song longer than the model's window: ``plan_long_song`` lays out the windows (a
``LongSongPlan``) and ``generate_long_song`` runs one ordinary ``generate`` call per window.

The loop only calls ``generate``, so it stands beside the mixin rather than inside it; the rules are told below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from transformers.generation.streamers import BaseStreamer
from transformers.utils import logging

from songgen_hf.modeling.songgen.configuration_songgen import duration_frames
from songgen_hf.modeling.songgen.progress_songgen import report_stage
from songgen_hf.modeling.songgen.windows_songgen import (
    BEATS_PER_BAR,
    MAX_SONG_WINDOWS,
    anchor_frames,
    return_frames,
    slow_tempo_warning,
    song_windows,
)

logger = logging.get_logger(__name__)

# Songs longer than one decoding pass: window after window through the ordinary ``generate``.
#
# A SongGen decoder holds ``max_position_embeddings`` positions, its *window* (30 s for the released
# models).  A longer song is a loop of ordinary ``generate`` calls, each one window: the first starts the
# song (from the caller's audio prompt, if any); every later one continues from the previous window's last
# ``context_s`` seconds of codes through the audio-continuation path (``audio_prompt_codes``, every track of
# a dual-track pattern) and adds ``window - context`` new frames.  Each window gets the same conditioning
# (description, lyrics, voice, musical controls) and sampling settings -- except the lyrics when the processor
# planned them by the song's sections (``window_lyrics_input_ids``: each window its own lines, an instrumental
# window none; ``SongGenProcessor.plan_song``) -- and runs transformers' own loop
# with SongGen's hooks, its cache built and dropped per window: only the context is carried from one
# window to the next, so memory stays that of one window and time grows linearly with the song.
# Two things run on across windows besides the codes: a model with a tempo control is told the beats the song has
# counted at each later window's first frame (``_Metronome``), so no window restarts the beat, and the frames of a
# repeated section hold its first occurrence's accompaniment (``return_sources``, ``_held_returns``).
#
# The windows' new frames make one continuous code sequence, which the codec decodes once at the end:
# there are no seams to crossfade.  ``duration_s`` is the song's exact length; with ``min_duration_s`` a
# window may end the song early (the model's end-of-song), and the song then ends there.
#
# A streamer follows the whole song: each window's loop hands it its prompt and token columns, but only the
# song's last window ends it (``_WindowStreamer``).  A streamer that reverts the pattern itself (the audio
# ``SongGenStreamer``) is told where each later window starts (``start_window``) and reads that window's
# prompt as the song so far; any other streamer (a progress bar) gets each window's steps, not its prompt.
# A told singer re-sings the vocal track once, over the whole song, after the last window: its positions
# are sinusoidal (it was trained on crops and fills any length), and the song is decoded once after it.

# per-window arguments that cannot be carried across windows, and what to do instead
_REFUSED_ACROSS_WINDOWS = {
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
    # each window's own lyrics, ``(lyrics_input_ids, lyrics_attention_mask)`` of ``(batch, length)``, as the
    # processor planned them by the song's sections; None: every window reads the call's lyrics
    window_lyrics: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None
    # ``(batch, total_frames)`` True in the plan's instrumental sections, where a dual-track model's vocal track is
    # held at the codec's codes of silence; None: the vocal track is the model's throughout
    instrumental_frames: torch.Tensor | None = None
    # each window's own description and its controls (``input_ids``, ``attention_mask``, and ``tempo_bpm`` /
    # ``music_key_ids`` for a model with them), where a section's note sets the window's; None: the call's throughout
    window_descriptions: tuple[dict[str, torch.Tensor], ...] | None = None
    # the song's first frames that every later window reads first, within its context (0: the context is the
    # previous window's last frames only)
    anchor_frames: int = 0
    # ``(batch, windows)``: where each window's return starts in the song (frames), -1 for none; a window of a
    # repeated section that does not return whole (``return_sources``) opens with ``return_frames`` of its first
    # occurrence from there, copied into the song, and continues from them (the processor's plan, see
    # ``SongPlan.anchor_frames``).  None: no window returns
    window_anchor_frames: torch.Tensor | None = None
    return_frames: int = 0
    # ``(batch, windows)``: where each song's windows end (frames), as the processor cut them at its section edges
    # (a song of fewer windows than the batch's repeats its end); None: every window is as long as it can be
    window_ends: torch.Tensor | None = None
    # ``(batch, total_frames)``: for each frame of a repeated section, the frame of its first occurrence whose music
    # it plays again, -1 elsewhere (the processor's ``return_source_frames``): the window holds the song's first track
    # (the accompaniment of a dual-track model) at the song's codes there.  None: no section returns whole
    return_sources: torch.Tensor | None = None

    def window_spans(self, row: int = 0) -> list[tuple[int, int]]:
        """``(start, end)`` of every window of song ``row`` in the song's frames; each starts ``context_frames``
        before the previous one's end, the last one ends at ``total_frames``."""
        if self.window_ends is not None:
            ends = [int(end) for end in self.window_ends[row]]
            return [(0 if index == 0 else ends[index - 1] - self.context_frames, end) for index, end in enumerate(ends)]
        spans = [(0, min(self.window_frames, self.total_frames))]
        while spans[-1][1] < self.total_frames:
            start = spans[-1][1] - self.context_frames
            spans.append((start, min(start + self.window_frames, self.total_frames)))
        return spans

    def row_spans(self, batch: int) -> list[list[tuple[int, int]]]:
        """Per window, every song's ``(start, end)`` (:meth:`window_spans` of each row of ``batch``)."""
        if self.window_ends is None:
            return [[span] * batch for span in self.window_spans()]
        return [list(spans) for spans in zip(*(self.window_spans(row) for row in range(batch)))]


# what the processor returns per window (``window_<name>``) for a song whose sections carry notes
WINDOW_DESCRIPTION_KEYS = ("input_ids", "attention_mask", "tempo_bpm", "music_key_ids")
# the arguments of a song made by windows, or planned by them, that no single pass takes: plan_long_song takes them
# out of generate's arguments
WINDOW_ARGUMENTS = (
    "window_s",
    "context_s",
    "anchor_s",
    "window_anchor_frames",
    "window_ends",
    "return_source_frames",
    "repeat_sections",
    "repeat_whole_sections",
    "window_starts_on_bars",
    "window_lyrics_input_ids",
    "window_lyrics_attention_mask",
    "instrumental_frames",
    *(f"window_{name}" for name in WINDOW_DESCRIPTION_KEYS),
)


def plan_long_song(
    model, generation_config, kwargs: dict, explicit: dict, duration: float | None
) -> LongSongPlan | None:
    """The windows of the song this ``generate`` call asks for, or ``None`` when it fits one window.

    Takes ``window_s`` / ``context_s`` and the per-window lyrics (``window_lyrics_input_ids`` /
    ``window_lyrics_attention_mask``, see :func:`_window_lyrics`) out of ``kwargs`` (they are no arguments of a
    single pass: :data:`WINDOW_ARGUMENTS`); ``explicit`` holds this call's checked arguments, ``generation_config``
    the call's or the model's, ``duration`` the song's asked length (``generate()`` finds it).  A song
    of one window with planned lyrics of one window reads those.  ``generate`` asks only for a song longer than the
    default window or one that names any of :data:`WINDOW_ARGUMENTS`: any other is one pass."""
    window_s, context_s = kwargs.pop("window_s", None), kwargs.pop("context_s", None)
    anchor_s = kwargs.pop("anchor_s", None)
    returns = kwargs.pop("window_anchor_frames", None)
    ends = kwargs.pop("window_ends", None)
    sources = kwargs.pop("return_source_frames", None)
    if kwargs.pop("repeat_sections", None) is False:  # a repeated section's windows continue like any other
        returns = sources = None
    if kwargs.pop("repeat_whole_sections", None) is False:  # a repeated section opens with its first seconds only
        sources = None
    on_bars = kwargs.pop("window_starts_on_bars", None)
    if on_bars is None:
        on_bars = getattr(generation_config, "window_starts_on_bars", None) is not False
    planned = kwargs.pop("window_lyrics_input_ids", None), kwargs.pop("window_lyrics_attention_mask", None)
    instrumental = kwargs.pop("instrumental_frames", None)
    described = {name: kwargs.pop(f"window_{name}", None) for name in WINDOW_DESCRIPTION_KEYS}
    described = {name: value for name, value in described.items() if value is not None}
    config = model.config
    minimum = explicit.get("min_duration_s", getattr(generation_config, "min_duration_s", None))
    if duration is None:
        if returns is not None or ends is not None or sources is not None:
            which = (
                "window_anchor_frames are"
                if returns is not None
                else "window_ends are"
                if ends is not None
                else "return_source_frames are"
            )
            raise ValueError(f"{which} planned for a song of a given length: pass its duration_s.")
        if planned != (None, None) or instrumental is not None or described:
            which = (
                "window_lyrics_input_ids are"
                if planned != (None, None)
                else "instrumental_frames is"
                if instrumental is not None
                else "window_input_ids are"
            )
            raise ValueError(
                f"{which} planned for a song of a given length: pass the duration_s they were planned for."
            )
        return None
    window, context = song_windows(config, window_s, context_s)
    total = duration_frames(config, duration)
    ends = _window_ends(ends, total, window, context, duration, kwargs)
    if ends is None and total > window and on_bars and planned == (None, None) and not described:
        ends = _bar_line_ends(model, kwargs, total, window, context)
    spans = [(0, total)]
    if total > window:
        spans = LongSongPlan(total, window, context, None, window_ends=ends).window_spans()
    window_lyrics = _window_lyrics(*planned, len(spans), duration, kwargs)
    instrumental = _instrumental_frames(model, instrumental, total, duration, kwargs)
    window_descriptions = _window_descriptions(described, len(spans), duration, kwargs)
    if total <= window:
        if window_lyrics is not None:
            kwargs["lyrics_input_ids"], kwargs["lyrics_attention_mask"] = window_lyrics[0]
        if window_descriptions is not None:
            if not isinstance(kwargs.get("input_ids"), torch.Tensor):
                raise ValueError(
                    "window_input_ids replace the description of a planned song: pass the description as "
                    "input_ids=..., as the processor returns it, not positionally."
                )
            kwargs.update(window_descriptions[0])
        if instrumental is not None:  # checked and cut to the song: the one pass holds it
            kwargs["instrumental_frames"] = instrumental
        return None
    if getattr(config.decoder, "use_tempo_control", False):  # a window shorter than a bar is made, and said
        for row, tempo in enumerate(_slowest_tempos(kwargs.get("tempo_bpm"), window_descriptions)):
            warning = slow_tempo_warning(tempo, window / config.frame_rate)
            if warning is not None:
                logger.warning("Song %d: %s.", row, warning)
            elif on_bars and tempo is not None and BEATS_PER_BAR * 60.0 * config.frame_rate / tempo > window - context:
                logger.warning(
                    "Song %d: a bar at %g BPM is longer than each window's %g s of new song (window minus context), so "
                    "later windows cannot start on bar lines: they start where the stride puts them and their beat "
                    "counts on from the song's; raise window_s or lower context_s.",
                    row,
                    tempo,
                    (window - context) / config.frame_rate,
                )
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
        window_lyrics=window_lyrics,
        instrumental_frames=instrumental,
        window_descriptions=window_descriptions,
        anchor_frames=anchor_frames(config, anchor_s, window_s, context_s),
        window_anchor_frames=_window_anchor_frames(returns, len(spans), duration, kwargs),
        return_frames=return_frames(config, anchor_s, window_s, context_s),
        window_ends=ends,
        return_sources=_return_sources(sources, total, duration, kwargs),
    )


def _bar_line_ends(model, kwargs: dict, total: int, window: int, context: int) -> torch.Tensor | None:
    """``(batch, windows)`` window ends for a song that ``generate`` tiles itself (no plan from the processor), each
    later window starting on a bar line of its song's ``tempo_bpm`` (:func:`.song_plan_songgen.window_spans`), as
    the processor plans them; ``None`` for a model without a tempo control or songs without a tempo."""
    from songgen_hf.modeling.songgen.song_plan_songgen import _padded, window_spans
    from songgen_hf.modeling.songgen.windows_songgen import bar_frames

    tempo = kwargs.get("tempo_bpm")
    if not getattr(model.config.decoder, "use_tempo_control", False) or tempo is None:
        return None
    tempos = torch.as_tensor(tempo, dtype=torch.float64).reshape(-1).cpu().tolist()
    batch = _call_batch(kwargs) or len(tempos)
    tempos = tempos * batch if len(tempos) == 1 else tempos
    bars = [bar_frames(model.config.frame_rate, bpm) for bpm in tempos]
    if all(bar is None for bar in bars):
        return None
    rows = [[end for _, end in window_spans(total, window, context, (), bar)] for bar in bars]
    count = max(len(row) for row in rows)
    return torch.tensor([_padded(row, count) for row in rows], dtype=torch.long)


def _slowest_tempos(tempo_bpm, window_descriptions) -> list[float | None]:
    """Per song, the slowest tempo its windows are asked (the call's ``tempo_bpm`` and each window's own; ``None``:
    none asked)."""
    columns = [] if tempo_bpm is None else [torch.as_tensor(tempo_bpm, dtype=torch.float64).reshape(-1, 1).cpu()]
    for window in window_descriptions or ():
        if window.get("tempo_bpm") is not None:
            columns.append(torch.as_tensor(window["tempo_bpm"], dtype=torch.float64).reshape(-1, 1).cpu())
    if not columns:
        return []
    batch = max(column.shape[0] for column in columns)
    tempos = torch.cat([column.expand(batch, 1) for column in columns], dim=1)
    tempos = torch.where(torch.isfinite(tempos) & (tempos > 0), tempos, float("inf")).amin(dim=1)
    return [None if math.isinf(tempo) else tempo for tempo in tempos.tolist()]


def _window_descriptions(given: dict, windows: int, duration: float, kwargs: dict) -> tuple | None:
    """Per-window descriptions and controls (the processor's ``window_input_ids`` / ``window_attention_mask`` /
    ``window_tempo_bpm`` / ``window_music_key_ids``, ``(batch, windows, ...)``) as one dict per window, the
    descriptions cut to their longest row; ``None`` when none were given.  ``ValueError`` for ones that do not fit."""
    if not given:
        return None
    ids, mask = given.get("input_ids"), given.get("attention_mask")
    lyrics = kwargs.get("lyrics_input_ids")
    batch = lyrics.shape[0] if isinstance(lyrics, torch.Tensor) else None
    fits = isinstance(ids, torch.Tensor) and isinstance(mask, torch.Tensor) and ids.shape == mask.shape
    fits = fits and ids.dim() == 3 and ids.shape[1] == windows and (batch is None or ids.shape[0] == batch)
    for name in ("tempo_bpm", "music_key_ids"):
        value = given.get(name)
        fits = fits and (value is None or (isinstance(value, torch.Tensor) and value.shape == ids.shape[:2]))
    if not fits:
        shapes = {
            f"window_{k}": tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for k, v in given.items()
        }
        raise ValueError(
            f"The per-window descriptions {shapes} do not fit this song of {duration:g} s, made in {windows} "
            f"window{'s' if windows != 1 else ''}: pass window_input_ids and window_attention_mask (batch, windows, "
            "length) and their controls (batch, windows) as the processor returns them for the same duration_s."
        )
    described = []
    for index, (window_ids, window_mask) in enumerate(_cut_windows(ids, mask, windows)):
        window = {"input_ids": window_ids.contiguous(), "attention_mask": window_mask.contiguous()}
        window.update({name: given[name][:, index] for name in ("tempo_bpm", "music_key_ids") if name in given})
        described.append(window)
    return tuple(described)


def _cut_windows(ids: torch.Tensor, mask: torch.Tensor, windows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(ids, mask)`` ``(batch, windows, length)`` as one ``(batch, length)`` pair per window, each cut to its longest
    row (right-padded rows: the padding they share is cut)."""
    pairs = []
    for index in range(windows):
        used = mask[:, index].bool().any(0).nonzero()
        length = int(used.max()) + 1 if used.numel() else 1
        pairs.append((ids[:, index, :length], mask[:, index, :length]))
    return pairs


def _call_batch(kwargs: dict) -> int | None:
    """The songs in this ``generate`` call (from its lyrics or description ids), if it says."""
    lyrics = kwargs.get("lyrics_input_ids", kwargs.get("input_ids"))
    return lyrics.shape[0] if isinstance(lyrics, torch.Tensor) else None


def _unplanned_shape(value, dtypes: tuple, columns: int, kwargs: dict):
    """``None`` when ``value`` is a ``(batch, columns)`` tensor of one of ``dtypes`` for this call's songs, as the
    processor plans it; else its shape (or type) as an error names it."""
    batch = _call_batch(kwargs)
    if (
        isinstance(value, torch.Tensor)
        and value.dtype in dtypes
        and value.dim() == 2
        and value.shape[1] == columns
        and (batch is None or value.shape[0] == batch)
    ):
        return None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _window_ends(given, total: int, window: int, context: int, duration: float, kwargs: dict):
    """The processor's ``window_ends`` (``(batch, windows)`` frames where each song's windows end, cut at its
    section edges) checked against the call: each window within the model's window and adding new frames (a song
    of fewer windows than the batch's repeats its end), every song ending at the song's end.  ``None`` when none
    were given or for a song of one window."""
    if given is None or total <= window:
        return None
    batch = _call_batch(kwargs)
    fits = isinstance(given, torch.Tensor) and given.dtype in (torch.int32, torch.int64) and given.dim() == 2
    fits = fits and given.shape[1] > 0 and (batch is None or given.shape[0] == batch)
    if not fits:
        shape = tuple(given.shape) if isinstance(given, torch.Tensor) else type(given).__name__
        raise ValueError(
            f"window_ends must be an integer tensor (batch, windows) for this song of {duration:g} s, got {shape}: "
            "plan it with the same duration_s as the generation (processor(..., duration_s=...))."
        )
    given = given.cpu().long()
    if given.shape[1] > MAX_SONG_WINDOWS:
        raise ValueError(f"window_ends plans {given.shape[1]} windows; at most {MAX_SONG_WINDOWS} windows are made.")
    for row in given.tolist():
        news = [0, *row[:-1]]
        starts = [0, *(end - context for end in row[:-1])]
        done = [new >= total for new in news]  # a song of fewer windows: its end repeated
        if row[-1] != total or any(
            (end != total) if finished else (start < 0 or end - start > window or end <= new)
            for start, new, end, finished in zip(starts, news, row, done)
        ):
            raise ValueError(
                f"window_ends {row} do not tile this song of {duration:g} s ({total} frames) in windows of at most "
                f"{window} frames, each after the first starting {context} frames before the previous one's end: "
                "plan them with the same duration_s, window_s and context_s as the generation "
                "(processor(..., duration_s=...))."
            )
    return given


def _window_anchor_frames(given, windows: int, duration: float, kwargs: dict) -> torch.Tensor | None:
    """The processor's ``window_anchor_frames`` (``(batch, windows)`` song frames where a repeated section's window
    reads its first occurrence, -1 for a window that returns to none) checked against the call; ``None`` when none
    were given or no window returns."""
    if given is None:
        return None
    shape = _unplanned_shape(given, (torch.int32, torch.int64), windows, kwargs)
    if shape is not None:
        raise ValueError(
            f"window_anchor_frames must be an integer tensor (batch, windows) for this song of {duration:g} s in "
            f"{windows} windows, got {shape}: plan it with the same duration_s as the generation "
            "(processor(..., duration_s=...))."
        )
    given = given.cpu()
    return given if bool((given >= 0).any()) else None


def _return_sources(given, total: int, duration: float, kwargs: dict) -> torch.Tensor | None:
    """The processor's ``return_source_frames`` (``(batch, total)`` song frames a repeated section plays again, -1
    elsewhere) checked against the call: each an earlier frame of the song; ``None`` when none were given or none
    returns."""
    if given is None:
        return None
    shape = _unplanned_shape(given, (torch.int32, torch.int64), total, kwargs)
    if shape is not None:
        raise ValueError(
            f"return_source_frames must be an integer tensor (batch, frames) for this song of {duration:g} s "
            f"({total} frames), got {shape}: plan it with the same duration_s as the generation "
            "(processor(..., duration_s=...))."
        )
    given = given.cpu().long()
    frames = torch.arange(total).expand_as(given)
    if bool(((given >= frames) | (given < -1)).any()):
        raise ValueError(
            "return_source_frames must name, for each frame, an earlier frame of the song (or -1 for none): plan "
            "it with the processor (processor(..., duration_s=...))."
        )
    return given if bool((given >= 0).any()) else None


def _instrumental_frames(model, frames, total: int, duration: float, kwargs: dict) -> torch.Tensor | None:
    """The processor's ``instrumental_frames`` (``(batch, total)`` booleans, True in a planned song's instrumental
    sections) checked against the model and the call; ``None`` when none were given."""
    if frames is None:
        return None
    if "vocals" not in model.pattern.track_names:
        raise ValueError(
            f"instrumental_frames holds a dual-track model's vocal track silent in a song's instrumental sections, "
            f"but this model's pattern ({model.pattern.name}) has no vocal track of its own: leave it out (the "
            "planned window lyrics already leave those sections without words)."
        )
    batch = _call_batch(kwargs)
    shape = _unplanned_shape(frames, (torch.bool,), total, kwargs)
    if shape is not None:
        raise ValueError(
            f"instrumental_frames must be a boolean tensor (batch, frames) for this song of {duration:g} s "
            f"({total} frames){'' if batch is None else f' and a batch of {batch}'}, got {shape}: plan it with the "
            "same duration_s as the generation (processor(..., duration_s=...))."
        )
    return frames if bool(frames.any()) else None


def _window_lyrics(ids, mask, windows: int, duration: float, kwargs: dict) -> tuple | None:
    """Per-window lyrics ``(batch, windows, length)`` (the processor's ``window_lyrics_input_ids`` /
    ``window_lyrics_attention_mask`` for a song planned by its sections) as one ``(ids, mask)`` pair per window,
    each cut to its longest row; ``None`` when none were given.  ``ValueError`` for a pair that does not fit the
    call's lyrics or windows."""
    if ids is None and mask is None:
        return None
    if not isinstance(ids, torch.Tensor) or not isinstance(mask, torch.Tensor) or ids.shape != mask.shape:
        raise ValueError(
            "window_lyrics_input_ids and window_lyrics_attention_mask go together, as tensors of one shape "
            "(batch, windows, length): pass both, as the processor returns them."
        )
    lyrics = kwargs.get("lyrics_input_ids")
    batch = lyrics.shape[0] if isinstance(lyrics, torch.Tensor) else ids.shape[0]
    if ids.dim() != 3 or ids.shape[0] != batch or ids.shape[1] != windows:
        raise ValueError(
            f"window_lyrics_input_ids has shape {tuple(ids.shape)}, but this song of {duration:g} s is made in "
            f"{windows} window{'s' if windows != 1 else ''} for a batch of {batch}: plan the lyrics with the same "
            "duration_s, window_s and context_s as the generation (processor(..., duration_s=...))."
        )
    return tuple(_cut_windows(ids, mask, windows))


def generate_long_song(model, inputs, generation_config, kwargs: dict, plan: LongSongPlan):
    """Generate the song of ``plan`` window after window (see the module docstring); returns the whole song's
    codes per track, each song's length in frames, where each window starts (per window, or per song and window
    when the songs of the batch are cut in different windows) and each window's codes (the caller builds its
    output from them and decodes the song once).

    The songs of a batch are made window by window together, each in its own windows (``window_ends``): a pass
    is as long as the batch's longest window, and each song keeps the frames of its own window, continuing from
    its own last frames in the next pass."""
    rate = model.config.frame_rate
    codebook_size = model.config.decoder.codebook_size
    kwargs = {
        key: value
        for key, value in kwargs.items()
        if key not in ("duration_s", "min_duration_s", "return_dict_in_generate")
    }  # set per window below
    first_window = {key: kwargs.pop(key) for key in _PROMPT_KWARGS if key in kwargs}
    streamer = kwargs.pop("streamer", None)
    # checked before the first window: a singer with an audio stream is refused then, not after minutes of song
    singing = model._singing(kwargs.pop("singer", None), kwargs.pop("vocal_scores", None), streamer)
    silent = _silent_vocal_items(model, generation_config, kwargs)
    # the plan's instrumental sections are held unless silence_instrumental_vocals=False leaves them to the model
    holds_sections = _silence_option(model, generation_config, kwargs) is not False
    sections = plan.instrumental_frames if holds_sections else None
    # an instrumental's vocal track (or an instrumental section's stretch of it) is held at the whole song's
    # silence, each window at its stretch of it: the codec's edges at the song's ends only, and the windows' codes
    # (which a streamer plays) are the song's
    held = silent is not None or sections is not None
    song_silence = model.silence_codes(plan.total_frames) if held else None
    batch = _long_song_batch(inputs, kwargs, first_window)
    windows = plan.row_spans(batch)
    rows = range(batch)
    parts: dict[str, list[list[torch.Tensor]]] = {}
    window_codes, starts = [], []
    lengths = ended = None
    prompt = first_window
    metronome = _Metronome(model, batch)
    for index, spans in enumerate(windows):
        frames = max(end - start for start, end in spans)  # the pass: the batch's longest window
        row_starts = torch.tensor([start for start, _ in spans])
        own = torch.tensor([end - start for start, end in spans])  # each song's own window
        if plan.window_lyrics is not None:  # the window sings its own lines (an instrumental one none)
            kwargs["lyrics_input_ids"], kwargs["lyrics_attention_mask"] = plan.window_lyrics[index]
        window_inputs = inputs
        if plan.window_descriptions is not None:  # and is played as its section's note says
            described = dict(plan.window_descriptions[index])
            if inputs is not None:  # the description given positionally: the window's in its place
                window_inputs = described.pop("input_ids")
            kwargs.update(described)
        # the window's share of the song's minimum: the whole window unless the song may end inside it
        first = int(row_starts.min())
        local_min = frames if plan.min_frames is None else min(frames, max(0, plan.min_frames - first))
        # the tempo control counts on from where the song's beat stands at this window's first frame
        start_beats = metronome.start(row_starts, kwargs.get("tempo_bpm"))
        if start_beats is not None:
            kwargs["tempo_start_beats"] = start_beats
        report_stage(streamer, "generating", index + 1, len(windows))
        if index and hasattr(streamer, "start_window"):  # a stream is one song: its window, its new frames
            copied = spans[0][0] - (windows[index - 1][0][1] - plan.context_frames)  # a return's copied frames
            streamer.start_window(spans[0][0], plan.context_frames - copied)
        # a repeated section's frames in this window play its first occurrence's music: its first track held there
        returned = _held_returns(model, plan, parts, spans, frames, 0 if index == 0 else plan.context_frames)
        window_kwargs = {
            **kwargs,
            **prompt,
            "streamer": None if streamer is None else _WindowStreamer(streamer, later_window=index > 0),
            "duration_s": frames / rate,
            "min_duration_s": local_min / rate,
            "return_dict_in_generate": True,
        }
        out = model._generate_window(  # the song was checked by generate(); a window is not checked again
            window_inputs,
            generation_config,
            window_kwargs,
            decode_audio=False,
            held_track=returned,
            window_silence=None if song_silence is None else _row_stretches(song_silence, spans, frames),
            instrumental_frames=None if sections is None else _row_stretches(sections, spans, frames),
            row_frames=None if bool((own == frames).all()) else own,
        )
        window_codes.append(out.codes)
        starts.append([start for start, _ in spans])
        new_from = 0 if index == 0 else plan.context_frames
        for name, track in out.codes.items():
            songs = parts.setdefault(name, [[] for _ in rows])
            for row in rows:  # each song keeps its own window's new frames
                songs[row].append(track[row, ..., new_from : int(own[row])])
        window_lengths = torch.minimum(out.frame_lengths.to("cpu"), own)
        if lengths is None:
            lengths, ended = window_lengths.clone(), window_lengths < own
        else:
            # a song that ended in an earlier window keeps its length; this window's frames for it are dropped
            lengths = torch.where(ended, lengths, row_starts + window_lengths)
            ended = ended | (window_lengths < own)
        if bool(ended.all()) or index + 1 == len(windows):
            break
        # a returning section's window opens with its first occurrence's first frames, copied into the song: the
        # next window starts that many frames later and continues from them
        copied = _copy_returns(plan, parts, windows[index + 1], [end for _, end in spans], index + 1)
        windows[index + 1] = [
            (start + count, end) if count else (start, end) for (start, end), count in zip(windows[index + 1], copied)
        ]
        # the next window continues from the song's last seconds; a song that has ended still fills its row
        # of the batch, with its codes clamped into the codebook (the end-of-song pad is no code)
        prompt = {
            "audio_prompt_codes": {
                name: torch.stack(
                    [
                        _window_prompt(plan, parts[name][row], spans[row][1] + copied[row], copied[row] > 0)
                        for row in rows
                    ]
                ).clamp(0, codebook_size - 1)
                for name in out.codes
                if name in model.pattern.track_names
            }
        }
    if streamer is not None:
        streamer.end()  # the song's end, after its last window
    codes = {name: torch.stack([torch.cat(chunks, dim=-1) for chunks in songs]) for name, songs in parts.items()}
    device = next(iter(codes.values())).device
    if held and "vocals" in codes:
        # each window held its stretch of the song's silence already; set once more over the whole song, as a
        # single pass returns it, so that nothing a window's loop did between holds can show
        length = codes["vocals"].shape[-1]
        silence = song_silence[..., :length].to(device)
        frames_held = torch.zeros(len(silent) if silent is not None else len(sections), length, dtype=torch.bool)
        if silent is not None:
            frames_held |= silent.view(-1, 1)
        if sections is not None:
            frames_held = frames_held | sections[:, :length].cpu()
        codes["vocals"] = torch.where(frames_held.to(device).unsqueeze(1), silence, codes["vocals"])
    lengths = lengths.to(device)
    if singing is not None:  # sung over the whole song, window by window (SongGenSinger.sing)
        singer, scores = singing
        window = (plan.window_frames, plan.context_frames)
        codes["vocals"] = singer.sing(
            scores,
            codes,
            {name: lengths for name in codes},
            window=window,
            progress=lambda index, total: report_stage(streamer, "singing", index, total),
        )
    shared = all(start == window[0] for window in starts for start in window)  # one grid: a start per window
    starts = [window[0] for window in starts] if shared else [list(row) for row in zip(*starts)]
    return codes, lengths, starts, tuple(window_codes)


class _Metronome:
    """Where the song's beat stands at each window's first frame, for the tempo control.

    The decoder's tempo control counts beats from a pass's first position, and a song's first window starts on a
    bar line, as training crops do; a later window starts wherever the song's windows put it, so it is told the
    beats counted there (``tempo_start_beats``): the beats of the window before, counted on at that window's tempo
    up to this one's first frame (a window whose section asks another tempo changes the beat's speed there, not its
    phase).  Nothing is told for a model without a tempo control or a song without a tempo, and never for the first
    window, whose metronome starts at 0 as before."""

    def __init__(self, model, batch: int):
        decoder = model.config.decoder
        self.active = bool(getattr(decoder, "use_tempo_control", False))
        self.frame_rate = float(model.config.frame_rate)
        self.batch = batch
        self.beats = self.starts = self.rate = None

    def start(self, row_starts: torch.Tensor, tempo_bpm) -> torch.Tensor | None:
        """``(batch,)`` beats counted at each song's window start (``row_starts``, song frames); ``None`` for the
        first window or where no metronome runs."""
        if not self.active or tempo_bpm is None:
            return None
        bpm = torch.as_tensor(tempo_bpm, dtype=torch.float64).reshape(-1).cpu()
        if bpm.numel() == 1:
            bpm = bpm.expand(self.batch)
        rate = torch.where(torch.isfinite(bpm) & (bpm > 0), bpm / (60.0 * self.frame_rate), float("nan"))
        starts = row_starts.to(torch.float64)
        if self.beats is None:
            self.beats, self.starts, self.rate = torch.zeros(self.batch, dtype=torch.float64), starts, rate
            return None
        # the previous window's tempo up to here, or this one's where the previous had none
        counting = torch.where(torch.isnan(self.rate), rate, self.rate).nan_to_num(0.0)
        self.beats = self.beats + (starts - self.starts) * counting
        self.starts, self.rate = starts, rate
        return self.beats.clone()


def _long_song_batch(inputs, kwargs: dict, prompt: dict) -> int:
    """The songs of a long-song call, from its description, lyrics or first window's prompt."""
    batch = _call_batch(kwargs)
    if batch is None and isinstance(inputs, torch.Tensor):
        batch = inputs.shape[0]
    if batch is None:
        codes = prompt.get("audio_prompt_codes")
        first = next(iter(codes.values())) if isinstance(codes, dict) else codes
        batch = first.shape[0] if isinstance(first, torch.Tensor) else 1
    return int(batch)


def _row_stretches(values: torch.Tensor, spans: list[tuple[int, int]], frames: int) -> torch.Tensor:
    """Each song's stretch of a per-frame tensor over the whole song (``(batch or 1, ..., total)``) for this pass
    of ``frames``: from its own window's start, continued past the song's end by its last frame."""
    rows = []
    for row, (start, _) in enumerate(spans):
        whole = values[row if values.shape[0] > 1 else 0]
        value = whole[..., start : start + frames]
        if value.shape[-1] < frames:  # whole steps past the song's end, cut from the song afterwards
            tail = whole[..., -1:]
            value = torch.cat([value, tail.expand(*tail.shape[:-1], frames - value.shape[-1])], dim=-1)
        rows.append(value)
    return torch.stack(rows)


def _copy_returns(plan: LongSongPlan, parts: dict, spans: list, song_ends: list[int], index: int) -> list[int]:
    """Before window ``index``: for each song whose window returns to an earlier section (``window_anchor_frames``),
    copy ``return_frames`` of the first occurrence from where it returns into the song's codes (every track), at
    most as many as leave the window one frame of its own; returns the frames copied per song (0: none)."""
    copied = []
    for row, ((_, end), song_end) in enumerate(zip(spans, song_ends)):
        start = -1 if plan.window_anchor_frames is None else int(plan.window_anchor_frames[row, index])
        if start >= 0 and _returns_whole(plan, row, song_end):
            start = -1  # the section returns whole, held frame by frame: nothing is copied
        count = min(plan.return_frames, end - song_end - 1) if start >= 0 and song_end < end else 0
        if count <= 0:
            copied.append(0)
            continue
        start = min(start, song_end - count)  # the first occurrence lies in the song so far
        for songs in parts.values():
            song = torch.cat(songs[row], dim=-1)
            songs[row] = [song[..., :song_end], song[..., start : start + count]]
        copied.append(count)
    return copied


def _returns_whole(plan: LongSongPlan, row: int, frame: int) -> bool:
    """Whether song ``row``'s frame ``frame`` plays an earlier frame's music again (``return_sources``)."""
    sources = plan.return_sources
    return sources is not None and frame < sources.shape[-1] and int(sources[row, frame]) >= 0


def returned_track(pattern) -> str:
    """The track a repeated section takes from its first occurrence: a dual-track model's accompaniment (the window
    sings its own words over it), else the pattern's one track."""
    return "accompaniment" if "accompaniment" in pattern.track_names else pattern.track_names[0]


def _held_returns(model, plan: LongSongPlan, parts: dict, spans: list, frames: int, new_from: int):
    """``(track, codes (batch, K, frames))`` this pass holds :func:`returned_track` at, from each song's
    ``return_sources``: in each song's own window after its context, where the frame it plays again is already
    made (-1 elsewhere); ``None`` when nothing is held."""
    track = returned_track(model.pattern)
    if plan.return_sources is None or track not in parts:
        return None
    held = torch.full((len(spans), model.config.decoder.num_codebooks, frames), -1, dtype=torch.long)
    for row, (start, end) in enumerate(spans):
        song = torch.cat(parts[track][row], dim=-1)
        sources = plan.return_sources[row, start : min(end, start + frames)]
        local = torch.arange(sources.shape[-1])
        keep = (sources >= 0) & (sources < song.shape[-1]) & (local >= new_from)
        if bool(keep.any()):
            held[row][:, local[keep]] = song[:, sources[keep]].cpu()
    return (track, held) if bool((held >= 0).any()) else None


def _window_prompt(plan: LongSongPlan, chunks: list[torch.Tensor], song_end: int, returning: bool) -> torch.Tensor:
    """The next window's prompt of one track for one song, ``context_frames`` long: the song's last frames, which
    the window continues (a returning section's first frames copied in included); another window reads the song's
    opening first (``anchor_frames``; none when 0).  ``chunks`` are the song's frames so far (``song_end`` of
    them)."""
    song = torch.cat(chunks, dim=-1)[..., :song_end]
    length = 0 if returning else plan.anchor_frames
    return torch.cat([song[..., :length], song[..., song_end - plan.context_frames + length :]], dim=-1)


class _WindowStreamer(BaseStreamer):
    """One window's view of a long song's ``streamer``: the window's loop ends, the song goes on.

    ``end`` is left to :func:`generate_long_song`, after the last window.  A later window's prompt (the previous
    window's last frames, in the pattern's layout) reaches a streamer that was told the window started
    (``start_window``) and reads it as the song so far; any other streamer gets the window's steps only.
    ``frame_limit`` (where ``generate`` cuts the window) is passed on to a streamer that has one."""

    def __init__(self, streamer, later_window: bool):
        self.streamer = streamer
        self._skip_prompt = later_window and not hasattr(streamer, "start_window")

    @property
    def frame_limit(self):
        return getattr(self.streamer, "frame_limit", None)

    @frame_limit.setter
    def frame_limit(self, value) -> None:
        if hasattr(self.streamer, "frame_limit"):
            self.streamer.frame_limit = value

    def put(self, value) -> None:
        if self._skip_prompt:
            self._skip_prompt = False
            return
        self.streamer.put(value)

    def end(self) -> None:
        pass


def _silence_option(model, generation_config, kwargs: dict) -> bool | None:
    """The call's ``silence_instrumental_vocals``, else the generation config's (``None``: not set)."""
    option = kwargs.get("silence_instrumental_vocals")
    if option is None:
        option = getattr(generation_config or model.generation_config, "silence_instrumental_vocals", None)
    return option


def _silent_vocal_items(model, generation_config, kwargs: dict) -> torch.Tensor | None:
    """Which songs ``generate`` holds at a silent vocal track (``None``: none), as each window decided it."""
    option = _silence_option(model, generation_config, kwargs)
    return model._silent_vocal_items(SimpleNamespace(silence_instrumental_vocals=option), kwargs)


__all__ = [
    "generate_long_song",
    "LongSongPlan",
    "plan_long_song",
    "returned_track",
    "WINDOW_DESCRIPTION_KEYS",
]
