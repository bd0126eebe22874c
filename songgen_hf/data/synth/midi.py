"""A small Standard MIDI File (format 0) writer.

Only what the accompaniment needs: one tempo, one time signature, program changes,
notes on any channel (channel 9, i.e. "channel 10", is General MIDI drums) and an
end-of-track placed at an explicit time so the renderer keeps going through the
release tail.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class MidiNote:
    channel: int
    pitch: int
    start_beat: float
    duration_beats: float
    velocity: int


def _variable_length(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    if value < 0:
        raise ValueError("delta times cannot be negative")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def _beats_to_ticks(beats: float) -> int:
    return int(round(beats * TICKS_PER_BEAT))


def tempo_microseconds_per_beat(tempo_bpm: float) -> int:
    return int(round(60_000_000 / tempo_bpm))


def _without_same_pitch_overlaps(notes: list[MidiNote]) -> list[tuple[MidiNote, int, int]]:
    """Tick spans per note, each cut where the next note of the same channel and
    pitch starts: MIDI cannot hold two copies of one key, and a late note-off
    would otherwise silence the newer note."""
    spans = []
    for note in notes:
        if not (0 <= note.channel < 16 and 0 <= note.pitch < 128):
            raise ValueError(f"invalid note {note}")
        start = _beats_to_ticks(note.start_beat)
        spans.append([note, start, max(start + 1, _beats_to_ticks(note.start_beat + note.duration_beats))])
    spans.sort(key=lambda span: (span[0].channel, span[0].pitch, span[1]))
    for current, following in zip(spans, spans[1:]):
        same_key = (current[0].channel, current[0].pitch) == (following[0].channel, following[0].pitch)
        if same_key and current[2] > following[1]:
            current[2] = max(current[1] + 1, following[1])
    return [tuple(span) for span in spans]


def encode_midi(
    notes: list[MidiNote],
    programs: dict[int, int],
    tempo_bpm: float,
    time_signature: tuple[int, int] = (4, 4),
    end_beat: float | None = None,
) -> bytes:
    """Serialise ``notes`` to the bytes of a format-0 MIDI file.

    ``programs`` maps channel -> GM program (0-based); ``end_beat`` places the
    end-of-track event (defaults to the last note-off).
    """
    # (tick, priority, payload): at equal ticks setup comes first, then note-offs,
    # then note-ons, so a repeated pitch is released before it is struck again.
    events: list[tuple[int, int, bytes]] = []
    numerator, denominator = time_signature
    events.append((0, 0, b"\xff\x51\x03" + tempo_microseconds_per_beat(tempo_bpm).to_bytes(3, "big")))
    events.append((0, 0, b"\xff\x58\x04" + bytes([numerator, denominator.bit_length() - 1, 24, 8])))
    for channel, program in sorted(programs.items()):
        if channel != DRUM_CHANNEL:
            events.append((0, 1, bytes([0xC0 | channel, program & 0x7F])))
    last_tick = 0
    for note, start, end in _without_same_pitch_overlaps(notes):
        velocity = min(127, max(1, int(note.velocity)))
        events.append((start, 3, bytes([0x90 | note.channel, note.pitch, velocity])))
        events.append((end, 2, bytes([0x80 | note.channel, note.pitch, 0])))
        last_tick = max(last_tick, end)
    end_tick = last_tick if end_beat is None else max(last_tick, _beats_to_ticks(end_beat))
    events.sort(key=lambda event: (event[0], event[1], event[2]))

    track = bytearray()
    previous_tick = 0
    for tick, _, payload in events:
        track += _variable_length(tick - previous_tick) + payload
        previous_tick = tick
    track += _variable_length(end_tick - previous_tick) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def write_midi(path: str | Path, *args, **kwargs) -> Path:
    """Encode with :func:`encode_midi` and write to ``path``."""
    path = Path(path)
    path.write_bytes(encode_midi(*args, **kwargs))
    return path
