"""The plan of a song longer than one window: its sections, and the lines and description each window sings.

``SongGenProcessor.plan_song`` writes the plan, the long-song loop follows it; the rules are told below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from transformers.utils import logging

from songgen_hf.modeling.songgen.tokenization_songgen import parse_song_structure, section_note
from songgen_hf.modeling.songgen.vocal_score_songgen import _WORD, syllables_of
from songgen_hf.modeling.songgen.windows_songgen import BEATS_PER_BAR, bar_line
from songgen_hf.modeling.songgen.windows_songgen import bar_frames as bar_length

logger = logging.get_logger(__name__)

# A song longer than one window, planned by its sections.
#
# The decoder makes such a song window after window (``generate_long_song``), each window continuing from the
# previous one's last seconds; the plan says what each window sings.  The rule:
#
# * the song's time is shared among its sections: a sung section (one with lines) in proportion to its syllables,
#   an instrumental one (a tag without lines) as long as the song's average sung section (all of them equally when
#   nothing is sung); a section's lines follow one another, each in proportion to its syllables.  Lyrics without
#   tags are one section: their lines are spread over the whole song by syllables;
# * a window sings the lines whose middle falls inside it, and a line that covers at least half of it; its
#   context (the previous window's last seconds, which it continues) counts, as a training clip's lyrics cover all
#   of the clip.  A window with no line is an instrumental window (empty lyrics: ``[START, STOP]``);
# * sections of sung kinds (:data:`SUNG_SECTION_KINDS`) need lines: an empty ``[verse]`` is a mistake, not a
#   pause.  Intro, bridge, break (``[instrumental]``, ``[solo]``...), outro and other tags (``[guitar solo]``) may
#   be left empty: they are instrumental stretches;
# * the sung sections together sing at most :data:`MAX_SYLLABLES_PER_SECOND`; more lines than that are refused,
#   naming the sections and the shortest duration that sings them;
# * windows start at the sections where the music changes: a window's new stretch that would run over the start
#   of a section with a note of its own or of a repeated section (each occurrence), or of the first section after
#   one, ends there, so that the next window plays that section from its first frame, its note and its return read
#   from the start
#   (:func:`window_spans` with the plan's :meth:`SongPlan.edges`).  An edge closer than
#   :data:`MIN_ALIGNED_STRIDE` of a window's stride after the stretch's start is played on instead;
# * a repeated section (the same tag, or the same lines) plays its first occurrence's music again for its whole
#   length: ``generate`` holds its accompaniment (a one-track model's mix, where the lines are the same too) at the
#   first occurrence's codes frame by frame (:meth:`SongPlan.return_sources`) while the window sings its own lines
#   over it.  With ``repeat_whole_sections=False`` it only opens with its first occurrence's first seconds
#   (``WindowPlan.anchor_s``) and goes its own way after them.
#
# A song that fits one window has no plan: it is sung in one pass with all its lyrics.

# A brisk pop vocal sings 3-4 syllables a second and fast rap 6-7; beyond 8 nothing is sung intelligibly.
MAX_SYLLABLES_PER_SECOND = 8.0
# A window cut at a section's edge adds at least this share of a full window's new stretch (window - context): a
# shorter one would cost a whole window's decoding (its context is decoded again) for a second or two of song.
MIN_ALIGNED_STRIDE = 0.25
SUNG_SECTION_KINDS = frozenset({"verse", "pre-chorus", "chorus", "post-chorus", "hook"})


def line_syllables(line: str) -> int:
    """The sung syllables of one lyric line (at least 1, so that every line takes some time)."""
    return max(1, sum(len(syllables_of(word)) for word in _WORD.findall(line.lower())))


def _seconds(value: float) -> float:
    return round(float(value), 2)


@dataclass(frozen=True)
class PlannedSection:
    """One section of a planned song: its kind and label (as :func:`parse_song_structure` read them), where it
    starts and ends in the song (seconds) and its sung lines (none: an instrumental stretch)."""

    kind: str | None
    label: str
    start_s: float
    end_s: float
    lines: tuple[str, ...]

    @property
    def name(self) -> str:
        """The tag as written (``"Verse 1"``; its note left out), its kind when the tag had no text, ``"lyrics"`` for
        untagged lines."""
        return self.label.split(":", 1)[0].strip() or self.kind or "lyrics"

    @property
    def instrumental(self) -> bool:
        return not self.lines

    @property
    def note(self) -> str:
        """How the section is played, from its tag (``[chorus: anthemic]``): read before the song's description."""
        return section_note(self.label)

    def to_dict(self) -> dict:
        return {
            "section": self.kind,
            "label": self.label,
            "start_s": _seconds(self.start_s),
            "end_s": _seconds(self.end_s),
            "lines": list(self.lines),
            "instrumental": self.instrumental,
            **({"note": self.note} if self.note else {}),
        }


@dataclass(frozen=True)
class WindowPlan:
    """One decoding window of a planned song: its span in the song (seconds, the context included), the names of
    the sections it overlaps and the lines it is conditioned on (none: an instrumental window)."""

    start_s: float
    end_s: float
    sections: tuple[str, ...]
    lines: tuple[str, ...]
    # the note of the section that holds most of the window's new stretch (after its context): ``""`` for none
    note: str = ""
    # where the window's new stretch starts (its start for the first window, after its context for the others)
    # and the index in the plan's sections of the section whose note it reads (None: no note)
    new_from_s: float | None = None
    note_section: int | None = None
    # where the window returns to in the song (seconds), for a window of a repeated section: its first occurrence, at
    # the point where this window's new stretch starts in its own occurrence, so that the section returns as it was
    # first played (``generate`` opens the window with its frames from there; ``repeat_sections``)
    anchor_s: float = 0.0
    # the repeated section whose first occurrence anchors the window (``""``: none)
    repeats: str = ""
    # the index in the plan's sections of the section that holds most of the window's new stretch (None: none)
    section: int | None = None

    def description(self, song_description: str) -> str:
        """What the window's description encoder reads: its section's note, then the song's description (the note
        first, so a tempo or key it names is the one read)."""
        if not self.note:
            return song_description
        return f"{self.note.rstrip('. ')}. {song_description}".strip()

    @property
    def lyrics(self) -> str:
        """What the window's lyrics encoder reads: its lines, one per line (``""``: an instrumental window)."""
        return "\n".join(self.lines)

    @property
    def instrumental(self) -> bool:
        return not self.lines

    def to_dict(self) -> dict:
        return {
            "start_s": _seconds(self.start_s),
            "end_s": _seconds(self.end_s),
            "sections": list(self.sections),
            "lines": list(self.lines),
            **({"note": self.note} if self.note else {}),
            **({"repeats": self.repeats, "anchor_s": _seconds(self.anchor_s)} if self.repeats else {}),
        }


@dataclass(frozen=True)
class SongPlan:
    """What each window of a song longer than one window sings (see the rule above :data:`MAX_SYLLABLES_PER_SECOND`).

    ``windows`` tile the song as ``generate`` does: each of ``window_s`` seconds at most, each after the first
    starting ``context_s`` before the previous one's end."""

    duration_s: float
    window_s: float
    context_s: float
    sections: tuple[PlannedSection, ...]
    windows: tuple[WindowPlan, ...]
    # whether a repeated section's windows return to its first occurrence (``generate``'s ``repeat_sections``)
    repeat_sections: bool = True
    # whether a repeated section plays its first occurrence's music for its whole length (``generate``'s
    # ``repeat_whole_sections``) rather than opening with its first seconds only
    repeat_whole_sections: bool = True
    # the tempo on whose bar lines each later window starts (``None``: windows start where the stride puts them)
    bar_bpm: float | None = None

    def window_lyrics(self) -> list[str]:
        """Each window's lyrics, in order."""
        return [window.lyrics for window in self.windows]

    def window_descriptions(self, description: str) -> list[str]:
        """Each window's description, in order: the song's, after the note of the window's section if any."""
        return [window.description(description) for window in self.windows]

    def instrumental_frames(self, frame_rate: float) -> list[bool]:
        """One flag per codec frame of the song: True inside an instrumental section (its frames from the section's
        start, rounded, to its end, rounded)."""
        total = max(1, int(round(self.duration_s * frame_rate)))
        flags = [False] * total
        for section in self.sections:
            if section.instrumental:
                start, end = int(round(section.start_s * frame_rate)), int(round(section.end_s * frame_rate))
                flags[max(0, start) : min(total, end)] = [True] * (min(total, end) - max(0, start))
        return flags

    def window_ends(self, frame_rate: float) -> list[int]:
        """Where each window ends in the song, in codec frames (``generate``'s ``window_ends`` row): the windows
        as this plan cut them, section edges included."""
        return [int(round(window.end_s * frame_rate)) for window in self.windows]

    def edges(self) -> list[float]:
        """The section starts (seconds) where the music changes and a window starts: a section whose note differs
        from the one before it, or one that returns to an earlier section (:func:`section_edges`)."""
        return section_edges(self.sections)

    def anchor_frames(self, frame_rate: float) -> list[int]:
        """Where each window returns to in the song, in codec frames (``generate``'s ``window_anchor_frames`` row):
        a repeated section's first occurrence, -1 for a window that repeats none."""
        return [int(round(window.anchor_s * frame_rate)) if window.repeats else -1 for window in self.windows]

    def return_sources(self, frame_rate: float, same_lines_only: bool = False) -> list[int]:
        """One value per codec frame of the song (``generate``'s ``return_source_frames`` row): for a frame of a
        repeated section, the frame of its first occurrence at the same distance from the section's start (while the
        first occurrence lasts; a longer repeat plays on by itself past that), -1 elsewhere and everywhere when
        ``repeat_sections`` or ``repeat_whole_sections`` is off.  ``same_lines_only``: only sections that sing their
        first occurrence's lines (for a model whose one track carries the words too: other words are not the
        first occurrence's music)."""
        total = max(1, int(round(self.duration_s * frame_rate)))
        sources = [-1] * total
        if not (self.repeat_sections and self.repeat_whole_sections):
            return sources
        for section in self.sections:
            first = _first_occurrence(self.sections, section)
            if first is None or (same_lines_only and section.lines != first.lines):
                continue
            start, end = int(round(section.start_s * frame_rate)), min(total, int(round(section.end_s * frame_rate)))
            origin = int(round(first.start_s * frame_rate))
            length = int(round(first.end_s * frame_rate)) - origin
            for frame in range(max(0, start), min(end, start + length)):
                sources[frame] = origin + frame - start
        return sources

    def to_list(self) -> list[dict]:
        """The windows, JSON-able: ``[{"start_s", "end_s", "sections", "lines"}, ...]``."""
        return [window.to_dict() for window in self.windows]

    def note_plays(self, index: int) -> list[tuple[float, float]]:
        """Where the note of section ``index`` plays: the new stretches of the windows that read it, adjoining ones
        joined."""
        spans: list[tuple[float, float]] = []
        for window in self.windows:
            if window.note_section != index:
                continue
            start = window.start_s if window.new_from_s is None else window.new_from_s
            if spans and abs(spans[-1][1] - start) < 1e-9:
                spans[-1] = (spans[-1][0], window.end_s)
            else:
                spans.append((start, window.end_s))
        return spans

    def returns(self, index: int) -> bool:
        """Whether section ``index`` returns to its first occurrence in some window (``repeat_sections``)."""
        return any(window.repeats and window.section == index for window in self.windows)

    def warnings(self) -> list[str]:
        """What of the request the plan cannot give, said with the fix: a section's note that no window reads, or,
        where a repeated section only opens with its first occurrence's first seconds (``repeat_whole_sections``
        off), one that no window returns with (the section is shorter than the part of a window that would read it,
        or it comes before its first occurrence has been played for as long as a window reads).  A section that
        returns whole plays its first occurrence's music frame by frame, whatever its windows."""
        said = []
        for index, section in enumerate(self.sections):
            length = f"{section.start_s:.1f}-{section.end_s:.1f} s"
            if section.note and not self.note_plays(index):
                said.append(
                    f"the note of [{section.label}] ({length}) plays nowhere: no window's new stretch lies mostly "
                    f"in this {section.end_s - section.start_s:.1f} s section; give the section more lines, or use "
                    "shorter windows (window_s / --window)"
                )
            whole = self.repeat_whole_sections  # a whole return needs no window of its own
            if self.repeat_sections and not whole and _first_occurrence(self.sections, section) is not None:
                if not self.returns(index):
                    said.append(
                        f"[{section.label or section.kind}] ({length}) repeats an earlier section but does not return "
                        f"to it: no window's new stretch lies mostly in this {section.end_s - section.start_s:.1f} s "
                        "section; give the section more lines, or use shorter windows (window_s / --window)"
                    )
        if self.bar_bpm is not None:
            bar_s = BEATS_PER_BAR * 60.0 / self.bar_bpm
            stride = self.window_s - self.context_s
            if stride + 1e-9 < bar_s <= self.window_s + 1e-9:  # a bar longer than the window is said apart
                said.append(
                    f"a bar at {self.bar_bpm:g} BPM ({bar_s:.2f} s) is longer than each window's {stride:.2f} s of new "
                    "song (window minus context), so later windows cannot start on bar lines: they start where the "
                    "stride puts them and their beat counts on from the song's; raise window_s (--window) or lower "
                    "context_s (--context)"
                )
        return said

    def to_dict(self) -> dict:
        """The whole plan, JSON-able (what ``SongGenProcessor.interpret`` reports as ``"plan"``)."""
        return {
            "duration_s": _seconds(self.duration_s),
            "window_s": _seconds(self.window_s),
            "context_s": _seconds(self.context_s),
            "sections": [
                {
                    **section.to_dict(),
                    **(
                        {"note_plays": [[_seconds(a), _seconds(b)] for a, b in self.note_plays(index)]}
                        if section.note
                        else {}
                    ),
                }
                for index, section in enumerate(self.sections)
            ],
            "windows": self.to_list(),
            **({"repeat_whole_sections": self.repeat_whole_sections} if self.repeat_sections else {}),
            **({"windows_start_on_bars_of_bpm": _seconds(self.bar_bpm)} if self.bar_bpm is not None else {}),
            **({"warnings": self.warnings()} if self.warnings() else {}),
        }


def window_spans(
    total_frames: int,
    window_frames: int,
    context_frames: int,
    edges: Sequence[int] = (),
    bar_frames: float | None = None,
) -> list[tuple[int, int]]:
    """``(start, end)`` frames of each window of a song, as ``generate`` tiles it: the first from 0, each next one
    ``context_frames`` before the previous one's end, the last one ending at ``total_frames``.

    ``edges`` (frames) are where a window's new stretch ends early, so that the next one starts there (see the rule
    above :data:`MAX_SYLLABLES_PER_SECOND`): an edge is used when it lies at least :data:`MIN_ALIGNED_STRIDE` of a
    stride after the stretch's start and no earlier than ``context_frames`` into the song (the next window reads
    that many frames before it); a window that cannot reach an edge lying less than that share past its end ends
    that share before it, so that the next window can.

    ``bar_frames`` (frames of a bar of the asked tempo; ``None``: none): each later window starts on a bar line
    (:func:`~.windows_songgen.bar_line`), as training crops do, so that its tempo control starts a bar there: the
    window before ends that much earlier (the last bar line it reaches, or the first one past a too short stretch).
    Where a bar is longer than a window's stride (``window - context``) the windows are as without bars; their
    tempo control still counts the song's beat on (``tempo_start_beats``)."""
    if not 0 < context_frames < window_frames:
        raise ValueError(f"A window of {window_frames} frames needs a context of 1 to {window_frames - 1} frames.")
    shortest = max(1, int(round(MIN_ALIGNED_STRIDE * (window_frames - context_frames))))
    if bar_frames is not None and bar_frames > window_frames - context_frames:
        bar_frames = None  # no bar fits a stride: every window as without bars (the plan says so)
    edges = sorted({int(edge) for edge in edges if 0 < edge < total_frames})
    spans, start, new_from = [], 0, 0
    while True:
        end = min(start + window_frames, total_frames)
        lowest = max(new_from + shortest, context_frames)
        cut = next((edge for edge in edges if lowest <= edge < end), None)
        if cut is None:
            # an edge just past this window's reach: end it early enough that the next window can start there
            beyond = next((edge for edge in edges if edge >= end), None)
            if beyond is not None and beyond < end + shortest and beyond - shortest >= lowest:
                cut = beyond - shortest
        end = end if cut is None else cut
        if bar_frames is not None and end < total_frames:
            end = _on_bar_line(
                end, start, new_from, min(start + window_frames, total_frames), context_frames, shortest, bar_frames
            )
        spans.append((start, end))
        if end >= total_frames:
            return spans
        start, new_from = end - context_frames, end


def _on_bar_line(end: int, start: int, new_from: int, reach: int, context: int, shortest: int, bar: float) -> int:
    """Where a window of ``start`` (its new stretch from ``new_from``, at most to ``reach``) ends so that the next
    one, ``context`` frames before that end, starts on a bar line: the last bar line at or before where it would
    start, else (a stretch shorter than ``shortest``) the first one after it within reach; ``end`` itself when no
    bar line fits."""
    earlier = bar_line(end - context, bar)
    if earlier + context - new_from >= shortest and earlier > start:
        return earlier + context
    later = bar_line(end - context, bar, after=True)
    if later + context <= reach and later + context > new_from and later > start:
        return later + context
    return end


def _padded(values: list, count: int, fill=None) -> list:
    """A song's per-window values for a batch of ``count`` windows: its own, then ``fill`` (its last value where
    ``None``) for the windows it does not have."""
    return list(values) + [values[-1] if fill is None else fill] * (count - len(values))


def section_edges(sections: Sequence[PlannedSection]) -> list[float]:
    """The starts (seconds) of the sections where the music changes: a note other than the section before's (a
    noted section, or the first one after it), every occurrence of a section that repeats (the first one too, so
    that each occurrence is made alike: from its own start, in windows of its own) and the first section after
    one."""
    repeated = [
        any(other is not section and _same_section(other, section) for other in sections) for section in sections
    ]
    return [
        section.start_s
        for index, section in enumerate(sections)
        if index and (section.note != sections[index - 1].note or repeated[index] or repeated[index - 1])
    ]


def _check_sections(sections: Sequence) -> None:
    """Sections of sung kinds without lines: a ``ValueError`` naming them all."""
    empty = [
        f"[{section.label or section.kind}] (section {index})"
        for index, section in enumerate(sections, 1)
        if section.kind in SUNG_SECTION_KINDS and not section.lines
    ]
    if empty:
        listed, kinds = ", ".join(empty), "/".join(sorted(SUNG_SECTION_KINDS))
        raise ValueError(
            f"The lyrics' {listed} {'has' if len(empty) == 1 else 'have'} no lines, but a {kinds} section is "
            "sung: write its lines under the tag (a repeated chorus written out again), or tag an instrumental "
            "stretch [break], [instrumental] or [solo] (intro, bridge, outro and other tags may stay empty)."
        )


def plan_song(
    lyrics: str,
    total_frames: int,
    window_frames: int,
    context_frames: int,
    frame_rate: float,
    syllables=line_syllables,
    repeat_sections: bool = True,
    edges_s: Sequence[float] | None = None,
    repeat_whole_sections: bool = True,
    bar_bpm: float | None = None,
) -> SongPlan:
    """The plan of a song of ``total_frames`` codec frames at ``frame_rate``, made in windows of ``window_frames``
    that continue from the previous ``context_frames`` (see the rule above :data:`MAX_SYLLABLES_PER_SECOND`).

    ``syllables(line)`` counts a line's sung syllables; ``repeat_sections=False``: a repeated section's windows
    continue like any other (no return); ``repeat_whole_sections=False``: a repeated section opens with its first
    occurrence's first seconds only (:meth:`SongPlan.return_sources` is then empty); ``edges_s``: where windows start
    (seconds), instead of this song's own
    :func:`section_edges` (songs of one batch share their windows: the union of theirs); ``bar_bpm``: the asked
    tempo, on whose bar lines each later window starts (:func:`window_spans`; ``None``: none).  Raises ``ValueError``
    naming the sections for an empty sung section or more syllables than the song's length can sing."""
    structure = parse_song_structure(lyrics)
    sections = structure.sections
    _check_sections(sections)
    duration = total_frames / frame_rate
    counts = [[syllables(line) for line in section.lines] for section in sections]
    sung = [sum(section_counts) for section_counts in counts if section_counts]
    rest = sum(sung) / len(sung) if sung else 1.0  # an instrumental section lasts as long as an average sung one
    weights = [sum(section_counts) if section_counts else rest for section_counts in counts]
    scale = duration / sum(weights) if weights else 0.0
    if sung:
        sung_seconds = sum(sung) * scale
        rate = sum(sung) / sung_seconds
        if rate > MAX_SYLLABLES_PER_SECOND:
            named = ", ".join(
                f"{f'[{section.label or section.kind}]' if section.kind else 'untagged'} {sum(section_counts)}"
                for section, section_counts in zip(sections, counts)
                if section_counts
            )
            shortest = math.ceil(duration * rate / MAX_SYLLABLES_PER_SECOND)
            raise ValueError(
                f"The lyrics hold {sum(sung)} syllables (by section: {named}) for {sung_seconds:.1f} s of sung "
                f"sections in a {duration:g} s song: {rate:.1f} syllables a second, more than the "
                f"{MAX_SYLLABLES_PER_SECOND:g} a second a song can sing. Ask for a song of at least {shortest} s "
                "(the duration), or shorten the lyrics."
            )
    planned, timed_lines, start = [], [], 0.0
    for section, section_counts, weight in zip(sections, counts, weights):
        end = start + weight * scale
        planned.append(PlannedSection(section.kind, section.label, start, end, section.lines))
        line_start = start
        for line, count in zip(section.lines, section_counts):
            line_end = line_start + count * scale
            timed_lines.append((line_start, line_end, line))
            line_start = line_end
        start = end
    if edges_s is None:
        edges_s = section_edges(planned)
    edges = [int(round(edge * frame_rate)) for edge in edges_s]
    bar = bar_length(frame_rate, bar_bpm)
    bar_bpm = None if bar is None else float(bar_bpm)
    # a window started on the bar line before a section's start plays that section from its own new stretch's start
    late = 1.0 if bar is None else bar + 1.0
    windows = []
    for index, (first, last) in enumerate(window_spans(total_frames, window_frames, context_frames, edges, bar)):
        begin, end = first / frame_rate, last / frame_rate
        new_from = begin if index == 0 else begin + context_frames / frame_rate
        lines = tuple(
            line
            for line_start, line_end, line in timed_lines
            if begin <= (line_start + line_end) / 2 < end
            or min(end, line_end) - max(begin, line_start) >= (end - begin) / 2
        )
        names = tuple(section.name for section in planned if section.start_s < end and section.end_s > begin)
        # the section the window's new stretch mostly lies in sets its note (a window plays on from its context)
        holding = max(planned, key=lambda s: min(end, s.end_s) - max(new_from, s.start_s), default=None)
        anchor, repeats = 0.0, ""
        first = _first_occurrence(planned, holding) if repeat_sections else None
        # a repeated section returns in the window that starts it (its later windows play on from it)
        if first is not None and index and -late <= (new_from - holding.start_s) * frame_rate <= 1.0:
            # the first occurrence at the point where this window's new stretch starts in its own occurrence
            point = first.start_s + max(0.0, new_from - holding.start_s)
            if point < begin:  # it is in the song so far, before the stretch the window continues from
                anchor, repeats = point, holding.name
        noted = holding is not None and bool(holding.note)
        windows.append(
            WindowPlan(
                begin,
                end,
                names,
                lines,
                note=holding.note if holding is not None else "",
                new_from_s=new_from,
                note_section=planned.index(holding) if noted else None,
                anchor_s=anchor,
                repeats=repeats,
                section=None if holding is None else planned.index(holding),
            )
        )
    plan = SongPlan(
        duration,
        window_frames / frame_rate,
        context_frames / frame_rate,
        tuple(planned),
        tuple(windows),
        repeat_sections=repeat_sections,
        repeat_whole_sections=repeat_whole_sections,
        bar_bpm=bar_bpm,
    )
    for warning in plan.warnings():
        logger.warning("Song plan: %s.", warning)
    return plan


def _same_section(one: PlannedSection, other: PlannedSection) -> bool:
    """Whether ``other`` repeats ``one``: the same tag (its note left out, case aside) or the same sung lines."""
    if one.lines and one.lines == other.lines:
        return True
    return bool(one.kind) and one.name.lower() == other.name.lower()


def _first_occurrence(planned: Sequence[PlannedSection], section: PlannedSection | None) -> PlannedSection | None:
    """The first earlier section that ``section`` repeats (:func:`_same_section`); ``None`` when it repeats none."""
    if section is None:
        return None
    for earlier in planned:
        if earlier is section:
            return None
        if _same_section(earlier, section):
            return earlier
    return None


def format_plan(plan: dict) -> str:
    """A plan (``SongPlan.to_dict()``) in a few lines: the windows, the sections' times, what each window sings."""

    def span(item: dict) -> str:
        return f"{item['start_s']:g}-{item['end_s']:g} s"

    windows = plan["windows"]
    decoded = sum(window["end_s"] - window["start_s"] for window in windows)  # contexts are decoded again
    lines = [
        f"plan: {plan['duration_s']:g} s in {len(windows)} windows of at most {plan['window_s']:g} s, each continuing "
        f"from the previous one's last {plan['context_s']:g} s ({decoded:.1f} s decoded in all, "
        f"{decoded / plan['duration_s']:.2f}x the song)"
    ]
    if plan.get("windows_start_on_bars_of_bpm"):
        lines.append(f"  windows start on bar lines of {plan['windows_start_on_bars_of_bpm']:g} BPM")
    sections = [
        f"{(section.get('label') or '').split(':', 1)[0].strip() or section.get('section') or 'lyrics'} {span(section)}"
        + " ("
        + (
            "instrumental"
            if section.get("instrumental")
            else f"{len(section['lines'])} line{'s' if len(section['lines']) != 1 else ''}"
        )
        + (f"; {section['note']}" if section.get("note") else "")
        + (
            (
                ", played " + ", ".join(f"{a:g}-{b:g} s" for a, b in section["note_plays"])
                if section["note_plays"]
                else ", played nowhere"
            )
            if section.get("note") and "note_plays" in section
            else ""
        )
        + ")"
        for section in plan["sections"]
    ]
    if sections:
        lines.append("  sections: " + ", ".join(sections))
    if any(window.get("repeats") for window in windows) and "repeat_whole_sections" in plan:
        lines.append(
            "  returns: a repeated section plays its first occurrence's music for its whole length"
            if plan["repeat_whole_sections"]
            else "  returns: a repeated section opens with its first occurrence's first seconds only"
        )
    for index, window in enumerate(windows, 1):
        count = len(window["lines"])
        sung = f"{count} line{'s' if count != 1 else ''}" if count else "instrumental"
        where = f" ({', '.join(window['sections'])})" if window["sections"] else ""
        note = f"; played as: {window['note']}" if window.get("note") else ""
        repeat = f"; returns to {window['repeats']} from {window['anchor_s']:g} s" if window.get("repeats") else ""
        lines.append(f"  window {index} {span(window)}: {sung}{where}{note}{repeat}")
    lines += [f"  warning: {warning}" for warning in plan.get("warnings", [])]
    return "\n".join(lines)


__all__ = [
    "format_plan",
    "line_syllables",
    "MAX_SYLLABLES_PER_SECOND",
    "plan_song",
    "PlannedSection",
    "SongPlan",
    "SUNG_SECTION_KINDS",
    "WindowPlan",
    "window_spans",
]
