"""Frame-aligned chunk plans for long-audio encoding and decoding.

A chunk owns a *core* range of frames and is computed on a wider *context* range; only the
core is kept.  Cores tile the signal without gaps or overlap, and each core sits inside its
context by at least ``context_frames`` on both sides wherever the signal allows, so every kept
frame was computed with (at least) that much real signal around it.  For the convolutional
parts of X-Codec, whose receptive field is far below a second, one second of context makes
chunked output equal to the unchunked output to float precision: there is no seam to hide,
so no crossfade is needed.  A full-attention teacher (HuBERT) only sees its context window,
so with such a teacher a small fraction of codes can differ from the unchunked encoding.

Because X-Codec frames are exactly ``hop_length`` samples apart, a chunk boundary at a frame
index is a boundary at a sample index, and all offsets stay integers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """Frames ``[core_start, core_end)`` are kept; ``[context_start, context_end)`` are computed."""

    core_start: int
    core_end: int
    context_start: int
    context_end: int

    @property
    def keep_offset(self) -> int:
        """Index of the first kept frame inside the computed range."""
        return self.core_start - self.context_start

    @property
    def keep_length(self) -> int:
        return self.core_end - self.core_start


def plan_chunks(total_frames: int, chunk_frames: int, context_frames: int) -> list[Chunk]:
    """Split ``total_frames`` into cores of ``chunk_frames`` with ``context_frames`` each side."""
    if chunk_frames < 1:
        raise ValueError(f"chunk length must be at least one frame, got {chunk_frames} frames.")
    if context_frames < 0:
        raise ValueError(f"context must be non-negative, got {context_frames} frames.")
    chunks = []
    for start in range(0, total_frames, chunk_frames):
        end = min(start + chunk_frames, total_frames)
        chunks.append(
            Chunk(
                core_start=start,
                core_end=end,
                context_start=max(0, start - context_frames),
                context_end=min(total_frames, end + context_frames),
            )
        )
    return chunks


def seconds_to_frames(seconds: float, frame_rate: int, name: str) -> int:
    frames = int(round(seconds * frame_rate))
    if frames < 0 or (name == "chunk_seconds" and frames < 1):
        raise ValueError(f"`{name}`={seconds} is too small: it must cover at least one frame (1/{frame_rate} s).")
    return frames


__all__ = ["Chunk", "plan_chunks", "seconds_to_frames"]
