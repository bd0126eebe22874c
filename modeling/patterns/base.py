"""The token-pattern contract: how per-track codes become the decoder sequence.

A pattern answers every layout question the model, trainer and converter have:

* ``build_labels``     codes → decoder inputs, labels and loss mask (training);
* ``generation_mask``  which cells the sampler may choose and which are forced;
* ``revert``           a generated sequence → per-track codes and frame counts;
* ``sequence_length`` / ``num_frames``  frames per track ↔ decoder length.

Nothing outside this package knows where a code sits.

How every pattern is built (the subclasses only say how to combine rows)::

    track codes (B,K,T) ──delay──► rows (B,K,T+K) ──combine──► (B,R,N) ──prepend BOS column──► (B,R,N+1)

Conventions used throughout
---------------------------
* A *sequence* has shape ``(B, R, L)`` with ``R = num_rows`` and **includes**
  the leading BOS column (column 0 is BOS in every row).  This is what the
  decoder sees and what ``generate`` returns.
* ``sequence_length(T)`` is the shortest sequence holding T complete frames
  per track; pass it as ``max_length`` to generation.
* Training appends the EOS as if it were one more frame: the full training
  sequence for T frames has ``training_sequence_length(T)`` columns and
  ``labels`` / ``decoder_input_ids`` are its last / first ``N = that - 1``
  columns (teacher forcing: labels are the inputs shifted left by one).

Adding a layout
---------------
Implement ``_combine`` / ``_split`` (how per-stream delayed rows share the
decoder rows) and ``_combined_width`` / ``_stream_width`` (their widths).  A
pattern that folds one track into several streams (AudioGen's multi-stream:
frame t goes to stream ``t % S``) also overrides ``_to_streams`` /
``_from_streams`` / ``_frames_per_stream`` / ``_frames_per_track`` and
``num_streams``; everything else — labels, masks, revert — follows.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from songgen_hf.modeling.patterns.delay import FREE, CodebookDelay
from songgen_hf.modeling.patterns.token_ids import PatternTokenIds

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PatternLabels:
    """Teacher-forcing tensors, all ``(B, num_rows, N)``.

    ``labels`` holds the exact §4 layout (codes, BOS, EOS, PAD ids, no -100);
    ``decoder_input_ids`` is the same full sequence one column earlier, so it
    starts with the BOS column.  ``loss_mask`` is True where a position is
    supervised: not a BOS label and not after an EOS/PAD input — every real
    code plus exactly one EOS per row.  ``vocal_labels`` (mixed pro only) is
    frame-aligned with ``labels`` and shares ``loss_mask``.
    """

    decoder_input_ids: torch.Tensor
    labels: torch.Tensor
    loss_mask: torch.Tensor
    vocal_labels: torch.Tensor | None = None

    @property
    def sequence(self) -> torch.Tensor:
        """The full training sequence ``(B, R, N + 1)``, BOS column included."""
        return torch.cat((self.decoder_input_ids[..., :1], self.labels), dim=-1)

    def loss_labels(self, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
        """``labels`` with unsupervised positions set to ``ignore_index`` (for cross-entropy)."""
        return self.labels.masked_fill(~self.loss_mask, ignore_index)

    def vocal_loss_labels(self, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
        if self.vocal_labels is None:
            raise ValueError("this pattern has no vocal labels (only mixed_pro builds them)")
        return self.vocal_labels.masked_fill(~self.loss_mask, ignore_index)


@dataclass(frozen=True)
class RevertedCodes:
    """Per-track codes read back from a sequence.

    ``codes[name]`` is ``(B, K, T)`` with ``T = pattern.num_frames(L)``; frames
    at or past ``frame_lengths[name][b]`` hold the fill value, so no special id
    ever appears.  ``frame_lengths[name]`` is ``(B,)``.
    """

    codes: dict[str, torch.Tensor]
    frame_lengths: dict[str, torch.Tensor]


class TokenPattern(ABC):
    """Base class of every SongGen token pattern (see the module docstring)."""

    name: ClassVar[str]
    track_names: ClassVar[tuple[str, ...]]
    auxiliary_track_names: ClassVar[tuple[str, ...]] = ()
    rows_per_codebook: ClassVar[int] = 1

    def __init__(self, num_codebooks: int = 8, token_ids: PatternTokenIds | None = None) -> None:
        self.token_ids = token_ids if token_ids is not None else PatternTokenIds()
        self.delay = CodebookDelay(num_codebooks, self.token_ids)

    def __repr__(self) -> str:
        ids = self.token_ids
        return (
            f"{type(self).__name__}(name={self.name!r}, num_codebooks={self.num_codebooks}, "
            f"bos={ids.bos_token_id}, eos={ids.eos_token_id}, pad={ids.pad_token_id}, "
            f"codebook_size={ids.codebook_size})"
        )

    # ------------------------------------------------------------------ facts
    @property
    def num_codebooks(self) -> int:
        """K, codebooks per track."""
        return self.delay.num_codebooks

    @property
    def num_rows(self) -> int:
        """Rows of the decoder sequence (= embedding tables = heads)."""
        return self.rows_per_codebook * self.num_codebooks

    @property
    def num_tracks(self) -> int:
        return len(self.track_names)

    @property
    def num_streams(self) -> int:
        """Delayed streams combined into the rows (= tracks unless a track is folded)."""
        return self.num_tracks

    @property
    def frames_per_step(self) -> int:
        """Frames of a track one decoding step completes: S for multi-stream patterns, else 1.

        Generation works in whole steps, so a generated song holds a multiple of this many frames.
        """
        return 1

    @functools.cached_property  # read by the musical controls on every decoding step
    def frames_per_position(self) -> float:
        """Frames of a track per decoder position, delay aside: S for multi-stream patterns, 1/2 for
        interleaving (a frame of each track takes a position), else 1.

        Whatever is laid out along the decoder's positions in time (the tempo control's metronome)
        advances by this many codec frames per position."""

        # the slope of positions against frames: constant offsets (a track lagging by one) cancel
        def width(frames: int) -> int:
            return self._combined_width(self._frames_per_stream(frames))

        return 1200 / (width(2400) - width(1200))  # 1200: a multiple of every S

    @property
    def has_auxiliary_vocal_targets(self) -> bool:
        """True when training also predicts vocal codes (mixed pro's vocal heads)."""
        return "vocals" in self.auxiliary_track_names

    @property
    def row_groups(self) -> tuple[tuple[int, ...], ...]:
        """Rows that form one EOS chain (codebook k may end only after k-1 ended).

        One group of K rows, or two (one per track) for parallel patterns.
        """
        k = self.num_codebooks
        return tuple(tuple(range(g * k, (g + 1) * k)) for g in range(self.rows_per_codebook))

    @property
    def row_tracks(self) -> tuple[tuple[str, int], ...] | None:
        """``(track, codebook)`` of every row, or ``None`` where a row holds more than one track.

        Rows come in groups of K (one per track, or per stream with the streams track by track), so
        a row's track follows from its group; an interleaving pattern alternates its two tracks along
        one group of rows, and no row belongs to one track there.  Per-track sampling settings
        (``codebook_temperatures``) read this.
        """
        groups = self.rows_per_codebook
        if groups % self.num_tracks:
            return None
        per_track = groups // self.num_tracks
        k = self.num_codebooks
        return tuple((self.track_names[row // k // per_track], row % k) for row in range(self.num_rows))

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Per-stream delayed rows ``(..., K, n)`` → combined rows ``(..., R, _combined_width(n))``."""

    @abstractmethod
    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Inverse of ``_combine`` for a width ``_combined_width(n)``."""

    @abstractmethod
    def _combined_width(self, stream_width: int) -> int:
        """Width of the combined rows for per-stream rows of ``stream_width`` columns."""

    @abstractmethod
    def _stream_width(self, combined_width: int) -> int:
        """Largest per-stream width whose combination fits in ``combined_width`` columns."""

    def _to_streams(
        self, codes: list[torch.Tensor], frame_lengths: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(track, frame_lengths) for track in codes]

    def _from_streams(self, codes: list[torch.Tensor]) -> list[torch.Tensor]:
        return codes

    def _frames_per_stream(self, num_frames: int) -> int:
        return num_frames

    def _frames_per_track(self, frames_per_stream: int) -> int:
        return frames_per_stream

    # ------------------------------------------------------------------ lengths
    def sequence_length(self, num_frames: int) -> int:
        """Shortest decoder length L (BOS column included) holding ``num_frames`` frames per track.

        It holds ``num_frames`` rounded up to a multiple of ``frames_per_step``.
        """
        _check_count("num_frames", num_frames)
        stream_width = self._frames_per_stream(num_frames) + self.num_codebooks - 1
        return 1 + self._combined_width(stream_width)

    def num_frames(self, sequence_length: int) -> int:
        """Complete frames per track in a sequence of ``sequence_length`` (inverse of ``sequence_length``)."""
        _check_count("sequence_length", sequence_length, minimum=1)
        return self._frames_per_track(self._stream_capacity(sequence_length))

    def training_sequence_length(self, num_frames: int) -> int:
        """Columns of the full training sequence (BOS column + N label columns) for T frames."""
        _check_count("num_frames", num_frames)
        return 1 + self._combined_width(self._frames_per_stream(num_frames) + self.num_codebooks)

    def _stream_capacity(self, sequence_length: int) -> int:
        return max(0, self._stream_width(sequence_length - 1) + 1 - self.num_codebooks)

    # ------------------------------------------------------------------ training
    def build_labels(self, *tracks, frame_lengths=None) -> PatternLabels:
        """Lay codes out for teacher forcing.

        ``tracks``: one mapping ``{track name: (B, K, T) codes}`` or the tensors
        positionally in ``track_names`` order.  Tracks of one pattern share B
        and T.  ``frame_lengths`` (int, sequence or (B,) tensor, default T)
        gives each item's real frames; shorter items get EOS then PAD up to the
        batch width (frames past an item's length may hold anything).

        Returns :class:`PatternLabels` of width ``N = training_sequence_length(T) - 1``.
        """
        named = self._named_tracks(tracks, self.track_names, "build_labels")
        codes = [named[name] for name in self.track_names]
        batch, _, num_frames = self._check_same_shape(codes)
        lengths = _as_lengths(frame_lengths, batch, num_frames, codes[0].device, "frame_lengths")
        for name, track in zip(self.track_names, codes):
            self._check_code_range(track, lengths, name)
        return self._teacher_forcing(codes, lengths)

    def _teacher_forcing(self, codes: list[torch.Tensor], lengths: torch.Tensor) -> PatternLabels:
        streams = self._to_streams([c.long() for c in codes], lengths)
        rows = self._combine([self.delay.delay(c, n) for c, n in streams])
        sequence = torch.cat((self._column(rows, self.token_ids.bos_token_id), rows), dim=-1)
        decoder_input_ids, labels = sequence[..., :-1], sequence[..., 1:]
        ids = self.token_ids
        # §4.1: no BOS target, and nothing after an ended row (input EOS/PAD)
        # except the EOS itself, whose input is still the row's last code.
        loss_mask = (
            (labels != ids.bos_token_id)
            & (decoder_input_ids != ids.eos_token_id)
            & (decoder_input_ids != ids.pad_token_id)
        )
        return PatternLabels(decoder_input_ids=decoder_input_ids, labels=labels, loss_mask=loss_mask)

    # ------------------------------------------------------------------ generation
    def generation_mask(
        self,
        batch_size: int,
        sequence_length: int,
        prompt=None,
        prompt_frame_lengths=None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Forced cells of a ``(B, num_rows, sequence_length)`` sequence; ``-1`` = free.

        BOS fills the cells before each row's first frame (column 0 included),
        PAD the cells of frames that cannot complete within the length.  An
        optional ``prompt`` (mapping or positional tuple of ``(B, K, P)`` codes per
        track, per-item ``prompt_frame_lengths``) is laid into its frame cells so
        audio continuation forces the prompt instead of sampling it.  The free
        cells of ``generation_mask(B, sequence_length(T))`` are exactly the code
        cells of the training labels for T frames.
        """
        _check_count("batch_size", batch_size, minimum=1)
        _check_count("sequence_length", sequence_length, minimum=1)
        capacity = self._stream_capacity(sequence_length)
        stream_width = self._stream_width(sequence_length - 1)
        if prompt is None:
            streams = [(None, None)] * self.num_streams
        else:
            streams = self._prompt_streams(prompt, prompt_frame_lengths, batch_size, sequence_length)
            device = streams[0][0].device
        rows = [
            self.delay.generation_rows(batch_size, stream_width, capacity, codes, lengths, device)
            for codes, lengths in streams
        ]
        combined = self._fit_width(self._combine(rows), sequence_length - 1)
        return torch.cat((self._column(combined, self.token_ids.bos_token_id), combined), dim=-1)

    def track_cells(self, track: str, codes: torch.Tensor, sequence_length: int) -> torch.Tensor:
        """Where one track's frames sit in a generated sequence, filled with ``codes``.

        Returns ``(B, num_rows, sequence_length)``: in each cell of ``track``'s frame ``t`` and
        codebook ``k`` (for ``t`` below both ``codes``' length and the sequence's capacity) the code
        ``codes[:, k, t]``; ``-1`` in every other cell (the other tracks, BOS, PAD).  Used to hold one
        track to given codes while the others sample (a dual-track model's vocal track kept silent
        for an instrumental), without the pattern's layout leaving this class.
        """
        if track not in self.track_names:
            raise ValueError(f"pattern {self.name!r} has tracks {list(self.track_names)}, not {track!r}")
        _check_count("sequence_length", sequence_length, minimum=1)
        if not isinstance(codes, torch.Tensor) or codes.dim() != 3 or codes.shape[1] != self.num_codebooks:
            shape = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
            raise ValueError(f"codes must be (batch, {self.num_codebooks}, frames), got {shape}")
        batch, _, num_frames = codes.shape
        capacity = self._stream_capacity(sequence_length)
        width = self._stream_width(sequence_length - 1)
        lengths = torch.full((batch,), min(num_frames, self._frames_per_track(capacity)), device=codes.device)
        self._check_code_range(codes, lengths, track)
        # the same codes for every track, then every other track's cells freed: streams come track by track
        streams = self._to_streams([codes.long()] * self.num_tracks, lengths)
        per_track = self.num_streams // self.num_tracks
        size = self.token_ids.codebook_size
        rows = []
        for index, (stream, stream_lengths) in enumerate(streams):
            laid = self.delay.generation_rows(batch, width, capacity, stream, stream_lengths, codes.device)
            rows.append(laid if self.track_names[index // per_track] == track else torch.full_like(laid, FREE))
        combined = self._combine(rows)[..., : sequence_length - 1]
        combined = torch.where((combined >= 0) & (combined < size), combined, FREE)  # BOS/PAD cells are free too
        missing = sequence_length - 1 - combined.shape[-1]
        if missing > 0:  # room the tracks cannot fill (a frame that cannot complete): nothing of this track there
            combined = torch.cat((combined, combined.new_full((*combined.shape[:-1], missing), FREE)), dim=-1)
        return torch.cat((self._column(combined, FREE), combined), dim=-1)

    def _prompt_streams(self, prompt, prompt_frame_lengths, batch_size, sequence_length):
        # a single tensor or a mapping is one argument; a tuple/list lists the tracks
        args = (prompt,) if isinstance(prompt, (torch.Tensor, Mapping)) else tuple(prompt)
        named = self._named_tracks(args, self.track_names, "generation_mask prompt")
        codes = [named[name] for name in self.track_names]
        batch, _, num_frames = self._check_same_shape(codes)
        if batch != batch_size:
            raise ValueError(f"prompt batch size {batch} != batch_size {batch_size}")
        lengths = _as_lengths(prompt_frame_lengths, batch, num_frames, codes[0].device, "prompt_frame_lengths")
        room = self.num_frames(sequence_length)
        if int(lengths.max()) > room:
            raise ValueError(
                f"a prompt of {int(lengths.max())} frames does not fit: sequence_length={sequence_length} "
                f"holds {room} frames per track for pattern {self.name!r}"
            )
        for name, track in zip(self.track_names, codes):
            self._check_code_range(track, lengths, f"prompt {name}")
        return self._to_streams([c.long() for c in codes], lengths)

    @staticmethod
    def apply_mask(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Overwrite forced cells: ``mask`` wherever it is not ``-1``, else ``ids``.

        ``mask`` is ``(B, R, L)``; ``ids`` is ``(B, R, L')`` or the flattened
        ``(B*R, L')`` layout of the sampling loop, with ``L' <= L`` (the
        first ``L'`` mask columns apply).  Returns a new tensor.
        """
        if mask.dim() != 3:
            raise ValueError(f"mask must be (batch, rows, length), got shape {tuple(mask.shape)}")
        if ids.dim() == 2:
            mask = mask.reshape(-1, mask.shape[-1])
        if ids.dim() != mask.dim() or ids.shape[:-1] != mask.shape[:-1] or ids.shape[-1] > mask.shape[-1]:
            raise ValueError(f"ids of shape {tuple(ids.shape)} do not fit a mask of shape {tuple(mask.shape)}")
        mask = mask[..., : ids.shape[-1]].to(ids.device)
        return torch.where(mask == FREE, ids, mask.to(ids.dtype))

    @staticmethod
    def forced_prefix_length(mask: torch.Tensor) -> int:
        """Leading columns of ``mask`` without any free cell (a prompted decoder can start there)."""
        free_columns = (mask == FREE).flatten(0, -2).any(dim=0)
        if not bool(free_columns.any()):
            return mask.shape[-1]
        return int(free_columns.long().argmax())

    # ------------------------------------------------------------------ revert
    def revert(
        self,
        sequence: torch.Tensor,
        *,
        invalid_frames: Literal["truncate", "drop"] = "truncate",
        fill_value: int = 0,
    ) -> RevertedCodes:
        """Read per-track codes out of a ``(B, num_rows, L)`` sequence (BOS column included).

        A frame is valid when all its K codes are real codes (``0 <= id <
        codebook_size``).  With ``invalid_frames="truncate"`` (default) an
        item ends at its first invalid frame: a stray special id in the middle
        ends the audio there.  The reference instead drops every invalid frame
        and keeps going, which stitches audio across the gap; ``"drop"``
        reproduces that (valid frames moved to the front, order kept).
        Frames at/after an item's length are set to ``fill_value``.
        """
        if invalid_frames not in ("truncate", "drop"):
            raise ValueError(f"invalid_frames must be 'truncate' or 'drop', got {invalid_frames!r}")
        if fill_value in self.token_ids.special_ids:
            raise ValueError(f"fill_value {fill_value} is a special id; pick a code or a negative value")
        self._check_sequence(sequence)
        length = sequence.shape[-1]
        stream_width = self._stream_width(length - 1)
        rows = self._fit_width(sequence[..., 1:].long(), self._combined_width(stream_width))
        capacity = self._stream_capacity(length)
        codes = self._from_streams([self.delay.undelay(r, capacity) for r in self._split(rows)])
        out_codes, out_lengths = {}, {}
        for name, track in zip(self.track_names, codes):
            out_codes[name], out_lengths[name] = self._valid_frames(track, invalid_frames, fill_value)
        return RevertedCodes(codes=out_codes, frame_lengths=out_lengths)

    def _valid_frames(self, codes: torch.Tensor, invalid_frames: str, fill_value: int):
        batch, num_codebooks, num_frames = codes.shape
        valid = ((codes >= 0) & (codes < self.token_ids.codebook_size)).all(dim=1)  # (B, T)
        if invalid_frames == "drop":
            order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
            codes = codes.gather(2, order[:, None, :].expand(-1, num_codebooks, -1))
            lengths = valid.sum(dim=1)
        else:
            lengths = valid.long().cumprod(dim=1).sum(dim=1)
        keep = torch.arange(num_frames, device=codes.device)[None, :] < lengths[:, None]
        return torch.where(keep[:, None, :], codes, fill_value), lengths

    # ------------------------------------------------------------------ shared checks/utilities
    def _column(self, rows: torch.Tensor, value: int) -> torch.Tensor:
        """One column of ``value`` shaped like ``rows`` (which may have width 0)."""
        return rows.new_full((*rows.shape[:-1], 1), value)

    def _fit_width(self, rows: torch.Tensor, width: int) -> torch.Tensor:
        """Crop, or right-pad with PAD (cells of frames that cannot complete), to ``width``."""
        if rows.shape[-1] >= width:
            return rows[..., :width]
        pad = rows.new_full((*rows.shape[:-1], width - rows.shape[-1]), self.token_ids.pad_token_id)
        return torch.cat((rows, pad), dim=-1)

    def _named_tracks(self, tracks: tuple, names: tuple[str, ...], where: str) -> dict[str, torch.Tensor]:
        if len(tracks) == 1 and isinstance(tracks[0], Mapping):
            named = dict(tracks[0])
            if set(named) != set(names):
                raise ValueError(f"{where}: pattern {self.name!r} expects tracks {list(names)}, got {sorted(named)}")
        elif len(tracks) == len(names):
            named = dict(zip(names, tracks))
        else:
            raise ValueError(
                f"{where}: pattern {self.name!r} expects {len(names)} track(s) {list(names)} "
                f"(positionally or as a mapping), got {len(tracks)} argument(s)"
            )
        for name, codes in named.items():
            self._check_codes_tensor(codes, name)
        return named

    def _check_codes_tensor(self, codes, name: str) -> None:
        if not isinstance(codes, torch.Tensor):
            raise ValueError(f"track {name!r} must be a torch.Tensor, got {type(codes).__name__}")
        if codes.dtype == torch.bool or codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"track {name!r} must hold integer codes, got dtype {codes.dtype}")
        if codes.dim() != 3:
            raise ValueError(
                f"track {name!r} must be (batch, num_codebooks, frames), got rank {codes.dim()} "
                f"shape {tuple(codes.shape)}"
            )
        if codes.shape[1] != self.num_codebooks:
            raise ValueError(
                f"track {name!r} has {codes.shape[1]} codebooks, pattern {self.name!r} was built for "
                f"num_codebooks={self.num_codebooks}"
            )

    @staticmethod
    def _check_same_shape(codes: list[torch.Tensor]) -> tuple[int, int, int]:
        shapes = {tuple(c.shape) for c in codes}
        if len(shapes) != 1:
            raise ValueError(f"tracks must share (batch, codebooks, frames), got shapes {sorted(shapes)}")
        return shapes.pop()

    def _check_code_range(self, codes: torch.Tensor, lengths: torch.Tensor, name: str) -> None:
        used = torch.arange(codes.shape[-1], device=codes.device)[None, None, :] < lengths.view(-1, 1, 1)
        bad = used & ((codes < 0) | (codes >= self.token_ids.codebook_size))
        if bool(bad.any()):
            b, k, t = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"track {name!r} holds {int(codes[b, k, t])} at (item {b}, codebook {k}, frame {t}); codes must "
                f"lie in [0, {self.token_ids.codebook_size}) within each item's frame length"
            )

    def _check_sequence(self, sequence) -> None:
        if not isinstance(sequence, torch.Tensor) or sequence.dim() != 3:
            shape = tuple(sequence.shape) if isinstance(sequence, torch.Tensor) else type(sequence).__name__
            raise ValueError(f"sequence must be a (batch, rows, length) tensor, got {shape}")
        if sequence.is_floating_point() or sequence.dtype == torch.bool:
            raise ValueError(f"sequence must hold integer ids, got dtype {sequence.dtype}")
        if sequence.shape[1] != self.num_rows:
            raise ValueError(
                f"sequence has {sequence.shape[1]} rows; pattern {self.name!r} with K={self.num_codebooks} "
                f"uses {self.num_rows}"
            )
        if sequence.shape[-1] < 1:
            raise ValueError("sequence must include at least the BOS column")


def _check_count(name: str, value, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _as_lengths(lengths, batch: int, num_frames: int, device, name: str) -> torch.Tensor:
    """Normalise per-item frame lengths to a (B,) LongTensor within [0, num_frames]."""
    if lengths is None:
        return torch.full((batch,), num_frames, dtype=torch.long, device=device)
    if isinstance(lengths, int) and not isinstance(lengths, bool):
        lengths = [lengths] * batch
    if isinstance(lengths, Sequence) or isinstance(lengths, torch.Tensor):
        lengths = torch.as_tensor(lengths, device=device)
    else:
        raise ValueError(f"{name} must be None, an int, a sequence or a tensor, got {type(lengths).__name__}")
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"{name} must be integers, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), got {tuple(lengths.shape)}")
    if bool(((lengths < 0) | (lengths > num_frames)).any()):
        raise ValueError(f"{name} must lie in [0, {num_frames}] (the tensor's frame count), got {lengths.tolist()}")
    return lengths.long()
