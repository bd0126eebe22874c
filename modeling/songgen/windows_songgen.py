"""How a song longer than the model's window is cut into windows: each window's length and context, a long song's
anchor and returns, how many windows it takes, and the bars its windows start on.

The argument checks (which refuse a window setting before any weights run), the long-song loop, the processor's plan
and the progress estimate all count windows the same way, so the arithmetic stands apart from them and reads only the
model's config.  The lengths every song asks (a song's frames, the model's window) are the config's
(``configuration_songgen``): a song that fits the default window is one pass and never comes here.
"""

from __future__ import annotations

import math

from songgen_hf.modeling.songgen.configuration_songgen import (
    default_window_frames,
    default_window_s,
    duration_frames,
    max_duration_s,
    window_frames,
)

# each window after the first continues from this share of the window: 12 s of a 30 s window, the share
# MusicGen's extended generation keeps (an 18 s stride), so each pass sees enough of the song to hold its
# tempo and key while most of the window is new music
DEFAULT_CONTEXT_FRACTION = 0.4


def song_windows(
    config, window_s: float | None = None, context_s: float | None = None, names: dict[str, str] | None = None
) -> tuple[int, int]:
    """``(window, context)`` in codec frames for a song longer than one decoding pass of a SongGen ``config``.

    ``window_s`` defaults to the model's saved default window (:func:`default_window_frames`: its window unless
    its config saves a shorter one), up to the model's window (:func:`max_duration_s`), ``context_s`` to
    :data:`DEFAULT_CONTEXT_FRACTION` of the window; the context must leave at least one new frame per
    window.  Raises ``ValueError`` naming the argument (as spelt in ``names``) otherwise."""
    names = names or {}
    longest = window_frames(config)
    window = default_window_frames(config) if window_s is None else duration_frames(config, window_s)
    if window > longest:  # a window_s within the checked range can still round one frame over
        window = longest
    context = (
        max(1, int(round(DEFAULT_CONTEXT_FRACTION * window)))
        if context_s is None
        else duration_frames(config, context_s)
    )
    if context >= window:
        window_name, context_name = names.get("window_s", "window_s"), names.get("context_s", "context_s")
        told = f"{context_name}={context_s:g} s" if context_s is not None else f"the default {context_name}"
        raise ValueError(
            f"{told} ({context} frames) is not shorter than the window of {window} frames "
            f"({window / config.frame_rate:g} s): each window continues from the previous one's last {context_name} "
            f"seconds and must add new ones; lower {context_name} or raise {window_name}."
        )
    return window, context


def anchor_frames(
    config, anchor_s: float | None, window_s: float | None = None, context_s: float | None = None, names=None
) -> int:
    """Codec frames of a long song's *anchor*: the song's opening that each later window reads before the previous
    window's last seconds (its context is the anchor, then the rest of the context from where the song is).  The
    anchor must leave at least one frame of the previous window in the context."""
    if not anchor_s:
        return 0
    names = names or {}
    _, context = song_windows(config, window_s, context_s)
    anchor = duration_frames(config, anchor_s)
    if anchor >= context:
        anchor_name, context_name = names.get("anchor_s", "anchor_s"), names.get("context_s", "context_s")
        raise ValueError(
            f"{anchor_name}={anchor_s:g} s ({anchor} frames) is not shorter than the context of {context} frames "
            f"({context / config.frame_rate:g} s): a later window reads the song's opening and then the previous "
            f"window's last seconds, within its context; lower {anchor_name} or raise {context_name}."
        )
    return anchor


# a returning section that only opens with its first occurrence (``repeat_whole_sections=False``, or a one-track
# model's section with other lines) opens with this share of the context copied from it (``anchor_s``, where given,
# sets it): 4 s of a 12 s context, so that the section is recognisably the first one and the window still sings most
# of it in its own words
DEFAULT_RETURN_FRACTION = 1 / 3


def return_frames(config, anchor_s: float | None, window_s: float | None = None, context_s: float | None = None) -> int:
    """Codec frames a repeated section opens with, copied from its first occurrence: ``anchor_s`` where given
    (checked by :func:`anchor_frames`), else :data:`DEFAULT_RETURN_FRACTION` of the context (0 for a context of one
    frame)."""
    if anchor_s:
        return anchor_frames(config, anchor_s, window_s, context_s)
    _, context = song_windows(config, window_s, context_s)
    return min(context - 1, int(round(DEFAULT_RETURN_FRACTION * context)))


# A song of more windows than this is refused: each window re-reads its context, so thousands of windows of a
# frame or two (``window_s=0.04, context_s=0.02``, or a config's ``window_frames: 2``) would decode the song's
# context thousands of times over for hours, where the same song in a few dozen windows takes minutes.  A
# 10-minute song needs each window to add 600 / 256 = 2.3 s of new audio.
MAX_SONG_WINDOWS = 256


def song_window_count(config, duration_s: float, window_s: float | None = None, context_s: float | None = None) -> int:
    """How many decoding passes a song of ``duration_s`` takes with these windows (1 when it fits one)."""
    window, context = song_windows(config, window_s, context_s)
    total = duration_frames(config, duration_s)
    return 1 if total <= window else 1 + math.ceil((total - window) / (window - context))


# a bar of the tempo control's music: 4 beats (the corpus and most captions are in 4/4; training crops start on
# bar lines of 4 beats)
BEATS_PER_BAR = 4


def bar_frames(frame_rate: float, tempo_bpm: float | None) -> float | None:
    """Codec frames (fractional) of one bar of :data:`BEATS_PER_BAR` beats at ``tempo_bpm``; ``None`` for no tempo
    (``None``, NaN or not positive)."""
    if tempo_bpm is None or not math.isfinite(float(tempo_bpm)) or float(tempo_bpm) <= 0:
        return None
    return BEATS_PER_BAR * 60.0 * float(frame_rate) / float(tempo_bpm)


def bar_line(frame: int, bar: float, after: bool = False) -> int:
    """The bar line (``round(k * bar)`` frames, ``k`` a whole number, as training crops start) at or before
    ``frame``, or at or after it with ``after``."""
    k = math.floor((frame + 0.5) / bar) if not after else math.ceil((frame - 0.5) / bar)
    while not after and k > 0 and int(round(k * bar)) > frame:
        k -= 1
    while after and int(round(k * bar)) < frame:
        k += 1
    return int(round(max(k, 0) * bar))


def slow_tempo_warning(tempo_bpm: float | None, window_s: float) -> str | None:
    """What is said, with the fix, of a song made in windows of ``window_s`` seconds at ``tempo_bpm`` (``None`` or
    NaN: none asked) too slow for a bar of :data:`BEATS_PER_BAR` beats to fit one window; ``None`` when it fits.

    Such a song is still made: each window's tempo control counts the song's beat on from where the previous one
    left it, so no window restarts the beat; but no window hears a whole bar, which is less than anything the model
    was trained on (crops of whole bars)."""
    if tempo_bpm is None or not math.isfinite(float(tempo_bpm)) or float(tempo_bpm) <= 0:
        return None
    from songgen_hf.modeling.songgen.description_songgen import MAX_BPM

    bar_s = BEATS_PER_BAR * 60.0 / float(tempo_bpm)
    if bar_s <= window_s + 1e-9:
        return None
    fastest = math.ceil(BEATS_PER_BAR * 60.0 / window_s)
    faster = f", or ask a tempo of at least {fastest:g} BPM" if fastest <= MAX_BPM else ""
    return (
        f"a tempo of {float(tempo_bpm):g} BPM makes a bar of {bar_s:.2f} s ({BEATS_PER_BAR} beats), longer than the "
        f"window of {window_s:g} s: the song is made, each window counting the song's beat on, but no window hears a "
        f"whole bar; raise window_s (--window) to at least {math.ceil(bar_s * 100) / 100:g} s{faster}"
    )


__all__ = [
    "BEATS_PER_BAR",
    "bar_frames",
    "bar_line",
    "slow_tempo_warning",
    "DEFAULT_CONTEXT_FRACTION",
    "default_window_frames",
    "default_window_s",
    "duration_frames",
    "max_duration_s",
    "song_windows",
    "window_frames",
]
