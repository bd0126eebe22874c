"""The codebook delay: the one-track building block of every SongGen pattern.

Each frame of a residual codec has K codes (one per codebook).  Predicting all K
of a frame in the same decoder step would make codebook k blind to codebooks
< k of that frame.  The delay shifts codebook k right by k steps, so when the
decoder emits codebook k of frame t it has already seen codebooks 0..k-1 of
frame t (they were emitted in earlier steps), at the price of K - 1 extra
steps.

Column c (counted *after* the leading BOS column) of row k therefore holds
frame ``t = c - k``: BOS when t < 0, the code when t is a real frame, EOS for
the first frame after the end, PAD beyond.  K = 4, T = 3 frames a b c::

    column (after BOS)  0 1 2 3 4 5 6
    row 0               a b c E E E E
    row 1               B a b c E E E
    row 2               B B a b c E E
    row 3               B B B a b c E

This is the §4.1 label layout: ``T + K`` columns, i.e. ``T + K + 1`` with the
BOS column.  For generation, a sequence of length L (BOS column included) has
room for ``L - K`` complete frames: cells of later frames are forced to PAD
(the upper-right triangle), cells with t < 0 are forced to BOS (the
lower-left triangle), everything else is free::

    L = 10, K = 4
    B . . . . . . E E E
    B B . . . . . . E E
    B B B . . . . . . E
    B B B B . . . . . .

Rows here never include the BOS column; the patterns add one shared BOS column
after combining tracks.
"""

from __future__ import annotations

import torch

from songgen_hf.modeling.patterns.token_ids import PatternTokenIds

FREE = -1
"""Value of a free (to be sampled) cell in a generation mask."""


class CodebookDelay:
    """Delay / un-delay the K codebooks of one stream of codes.

    All tensors are ``(batch, num_codebooks, columns)`` LongTensors; the
    ``columns`` of the row tensors exclude the BOS column.
    """

    def __init__(self, num_codebooks: int, token_ids: PatternTokenIds) -> None:
        if isinstance(num_codebooks, bool) or not isinstance(num_codebooks, int) or num_codebooks < 1:
            raise ValueError(f"num_codebooks must be a positive int, got {num_codebooks!r}")
        self.num_codebooks = num_codebooks
        self.token_ids = token_ids

    # ------------------------------------------------------------------ lengths
    def sequence_length(self, num_frames: int) -> int:
        """Length (BOS column included) that fits exactly ``num_frames`` frames."""
        return num_frames + self.num_codebooks

    def num_frames(self, sequence_length: int) -> int:
        """Complete frames that fit in ``sequence_length`` (BOS column included)."""
        return max(0, sequence_length - self.num_codebooks)

    # ------------------------------------------------------------------ helpers
    def frame_grid(self, width: int, device: torch.device | str | None = None) -> torch.Tensor:
        """``(K, width)`` frame index ``t = column - k`` of every cell."""
        columns = torch.arange(width, device=device)
        return columns[None, :] - torch.arange(self.num_codebooks, device=device)[:, None]

    @staticmethod
    def _frames_at(codes: torch.Tensor, frame_grid: torch.Tensor) -> torch.Tensor:
        """Codes looked up at each cell's frame (clamped; callers mask invalid cells)."""
        batch, num_codebooks, num_frames = codes.shape
        width = frame_grid.shape[-1]
        if num_frames == 0:
            return codes.new_zeros((batch, num_codebooks, width))
        index = frame_grid.clamp(0, num_frames - 1).expand(batch, -1, -1)
        return codes.gather(2, index)

    # ------------------------------------------------------------------ layout
    def delay(self, codes: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
        """Training rows ``(B, K, T + K)``: ``[BOS]*k + codes[:len] + [EOS] + [PAD]*...``.

        ``frame_lengths`` (B,) gives each item's real frame count; later frames
        of ``codes`` are ignored, so a short item ends with EOS and then PAD up
        to the batch width.
        """
        ids = self.token_ids
        batch, _, num_frames = codes.shape
        width = num_frames + self.num_codebooks
        frame = self.frame_grid(width, codes.device)[None]  # (1, K, W)
        length = frame_lengths.to(codes.device).view(batch, 1, 1)
        rows = torch.full_like(frame.expand(batch, -1, -1), ids.pad_token_id)
        rows = torch.where(frame == length, ids.eos_token_id, rows)
        real = (frame >= 0) & (frame < length)
        rows = torch.where(real, self._frames_at(codes.long(), frame[0]), rows)
        return torch.where(frame < 0, ids.bos_token_id, rows)

    def generation_rows(
        self,
        batch_size: int,
        width: int,
        num_frames: int,
        prompt: torch.Tensor | None = None,
        prompt_frame_lengths: torch.Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Generation-mask rows ``(B, K, width)`` with room for ``num_frames`` frames.

        Cells of frames ``< num_frames`` are free (``-1``) unless a prompt
        frame is laid in there; BOS before frame 0, PAD from frame
        ``num_frames`` on.  ``prompt`` is ``(B, K, P)`` codes with per-item
        lengths ``prompt_frame_lengths`` (B,), each ``<= num_frames``.
        """
        if prompt is not None:
            device = prompt.device
        frame = self.frame_grid(width, device)[None]
        rows = torch.full((batch_size, self.num_codebooks, width), self.token_ids.pad_token_id, device=device)
        rows = torch.where(frame < num_frames, FREE, rows)
        if prompt is not None:
            length = prompt_frame_lengths.to(device).view(batch_size, 1, 1)
            real = (frame >= 0) & (frame < length)
            rows = torch.where(real, self._frames_at(prompt.long(), frame[0]), rows)
        return torch.where(frame < 0, self.token_ids.bos_token_id, rows)

    def undelay(self, rows: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Read frames ``0..num_frames-1`` back out of delayed rows → ``(B, K, num_frames)``.

        Pure gathering: whatever id sits in a frame's cell is returned, special
        ids included; judging validity is the caller's job.
        """
        batch, num_codebooks, width = rows.shape
        if num_frames > 0 and width < num_frames + num_codebooks - 1:
            raise ValueError(
                f"rows of width {width} cannot hold {num_frames} delayed frames of {num_codebooks} codebooks"
            )
        index = (
            torch.arange(num_frames, device=rows.device)[None, :]
            + torch.arange(num_codebooks, device=rows.device)[:, None]
        )
        return rows.gather(2, index.expand(batch, -1, -1))

    def generation_mask(
        self,
        batch_size: int,
        sequence_length: int,
        prompt: torch.Tensor | None = None,
        prompt_frame_lengths: torch.Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The §4.1 mask ``(B, K, L)`` for one track, BOS column included."""
        rows = self.generation_rows(
            batch_size,
            sequence_length - 1,
            self.num_frames(sequence_length),
            prompt,
            prompt_frame_lengths,
            device,
        )
        bos = rows.new_full((*rows.shape[:-1], 1), self.token_ids.bos_token_id)
        return torch.cat((bos, rows), dim=-1)
