"""Token patterns: the single source of truth for SongGen's decoder token layouts.

>>> pattern = get_token_pattern("interleaving_A_V", num_codebooks=8)
>>> pattern.sequence_length(1492)   # 1492 frames per track ≈ 29.84 s
2999

:class:`TokenPattern` holds the conventions (shapes, lengths, BOS column); :class:`CodebookDelay`, the single-track
(:class:`MixedPattern`), dual-track (:class:`DualTrackPattern`) and multi-stream (:class:`MultiStreamPattern`)
layouts build on it, and :class:`AuxiliaryVocalTargets` adds mixed pro's training-only vocal labels.

The token-pattern contract: how per-track codes become the decoder sequence.

A pattern answers every layout question the model, trainer and converter have:

* ``build_labels``     codes → decoder inputs, labels and loss mask (training);
* ``generation_mask``  which cells the sampler may choose and which are forced;
* ``revert``           a generated sequence → per-track codes and frame counts;
* ``sequence_length`` / ``num_frames``  frames per track ↔ decoder length.

Nothing outside this module knows where a code sits.

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

import dataclasses
import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

# ----------------------------------------------------------------------------------------------------
# Special token ids shared by every token pattern.
#
# The layout code never spells out a number such as 1024 or 1025: it asks a
# :class:`PatternTokenIds` instance, which is built from the model config.


@dataclass(frozen=True)
class PatternTokenIds:
    """Codebook size and the special ids a pattern places around the codes.

    Defaults are SongGen's (X-Codec, 8 x 1024 codebooks): codes ``0..1023``,
    PAD = EOS = 1024, BOS = 1025, 1088 ids per codebook embedding/head.

    ``eos_token_id=None`` means "same as PAD", which is SongGen's convention.
    When EOS and PAD differ, a row gets exactly one EOS after its last code and
    PAD after that; the forced end triangle of a generation mask holds PAD (as
    Parler-TTS does).
    """

    codebook_size: int = 1024
    pad_token_id: int = 1024
    bos_token_id: int = 1025
    eos_token_id: int | None = None
    vocab_size: int = 1088

    def __post_init__(self) -> None:
        if self.eos_token_id is None:
            # frozen dataclass: resolve the default in place once
            object.__setattr__(self, "eos_token_id", self.pad_token_id)
        for field_name in ("codebook_size", "pad_token_id", "bos_token_id", "eos_token_id", "vocab_size"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{field_name} must be an int, got {value!r}")
        if self.codebook_size < 1:
            raise ValueError(f"codebook_size must be >= 1, got {self.codebook_size}")
        if self.vocab_size <= self.codebook_size:
            raise ValueError(
                f"vocab_size ({self.vocab_size}) must exceed codebook_size ({self.codebook_size}) "
                "to leave room for the special ids"
            )
        for field_name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, field_name)
            if not self.codebook_size <= value < self.vocab_size:
                raise ValueError(
                    f"{field_name}={value} must lie in [codebook_size, vocab_size) = "
                    f"[{self.codebook_size}, {self.vocab_size}) so it can never be mistaken for a code"
                )
        if self.bos_token_id in (self.pad_token_id, self.eos_token_id):
            raise ValueError(
                f"bos_token_id ({self.bos_token_id}) must differ from pad_token_id ({self.pad_token_id}) "
                f"and eos_token_id ({self.eos_token_id}): the layouts tell the start and end triangles apart by id"
            )

    @property
    def special_ids(self) -> tuple[int, ...]:
        return tuple(sorted({self.bos_token_id, self.pad_token_id, self.eos_token_id}))


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


# ----------------------------------------------------------------------------------------------------
# The codebook delay: the one-track building block of every SongGen pattern.
#
# Each frame of a residual codec has K codes (one per codebook).  Predicting all K
# of a frame in the same decoder step would make codebook k blind to codebooks
# < k of that frame.  The delay shifts codebook k right by k steps, so when the
# decoder emits codebook k of frame t it has already seen codebooks 0..k-1 of
# frame t (they were emitted in earlier steps), at the price of K - 1 extra
# steps.
#
# Column c (counted *after* the leading BOS column) of row k therefore holds
# frame ``t = c - k``: BOS when t < 0, the code when t is a real frame, EOS for
# the first frame after the end, PAD beyond.  K = 4, T = 3 frames a b c::
#
#     column (after BOS)  0 1 2 3 4 5 6
#     row 0               a b c E E E E
#     row 1               B a b c E E E
#     row 2               B B a b c E E
#     row 3               B B B a b c E
#
# This is the §4.1 label layout: ``T + K`` columns, i.e. ``T + K + 1`` with the
# BOS column.  For generation, a sequence of length L (BOS column included) has
# room for ``L - K`` complete frames: cells of later frames are forced to PAD
# (the upper-right triangle), cells with t < 0 are forced to BOS (the
# lower-left triangle), everything else is free::
#
#     L = 10, K = 4
#     B . . . . . . E E E
#     B B . . . . . . E E
#     B B B . . . . . . E
#     B B B B . . . . . .
#
# Rows here never include the BOS column; the patterns add one shared BOS column
# after combining tracks.

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


# ----------------------------------------------------------------------------------------------------
# Training-only vocal targets (SongGen's "mixed pro", §4.2) for any one-track layout.
#
# The model predicts the mix; extra heads read the same hidden states and predict the separated
# vocal stem's codes, laid out exactly like the mix (same delay, same streams, same columns).  The
# mix decoder is therefore pushed to carry the voice in its state, which is what makes mixed pro
# sing more clearly than mixed; generation never reads the vocal heads.
#
# Laying the vocals out with the pattern's own ``_to_streams`` / ``delay`` / ``_combine`` means a
# vocal code lands in the cell of the mix code of the same frame, so the mix's loss mask is the
# vocals' too: for ``mixed_pro`` that is the plain codebook delay, for ``mixed_pro_stream2`` the
# vocals are folded into the same two streams as the mix.


class AuxiliaryVocalTargets:
    """Mixin for a pattern whose only track is ``mix``: adds ``vocals`` labels for the vocal heads.

    The vocal labels use the mixture's frame count: vocal codes are truncated to each item's
    mixture length, and where the vocal stem is shorter its rows end early with EOS then PAD.
    The vocal loss uses the *mixture's* loss mask (the reference takes its EOS mask from the
    mixture decoder inputs; BOS cells coincide), so a shorter vocal is supervised to predict PAD
    until the mixture ends.
    """

    auxiliary_track_names = ("vocals",)

    def build_labels(self, *tracks, frame_lengths=None, vocal_frame_lengths=None) -> PatternLabels:
        """Like :meth:`TokenPattern.build_labels` with a required ``vocals`` track.

        ``tracks``: ``{"mix": (B,K,T), "vocals": (B,K,Tv)}`` or ``(mix, vocals)``.
        ``Tv`` may differ from T; ``vocal_frame_lengths`` default to Tv.
        """
        named = self._named_tracks(tracks, self.track_names + self.auxiliary_track_names, "build_labels")
        mix, vocals = named["mix"], named["vocals"]
        labels = super().build_labels(mix, frame_lengths=frame_lengths)
        batch, _, num_frames = mix.shape
        if vocals.shape[0] != batch:
            raise ValueError(f"vocals batch size {vocals.shape[0]} != mix batch size {batch}")
        mix_lengths = _as_lengths(frame_lengths, batch, num_frames, mix.device, "frame_lengths")
        vocal_lengths = _as_lengths(vocal_frame_lengths, batch, vocals.shape[-1], mix.device, "vocal_frame_lengths")
        aligned_lengths = torch.minimum(vocal_lengths, mix_lengths)
        self._check_code_range(vocals, aligned_lengths.to(vocals.device), "vocals")
        aligned = _fit_frames(vocals.long().to(mix.device), num_frames)
        streams = self._to_streams([aligned], aligned_lengths)
        vocal_rows = self._combine([self.delay.delay(codes, lengths) for codes, lengths in streams])
        return dataclasses.replace(labels, vocal_labels=vocal_rows)


def _fit_frames(codes: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Crop or right-pad (with 0, never read: lengths mask it) to ``num_frames``."""
    if codes.shape[-1] >= num_frames:
        return codes[..., :num_frames]
    pad = codes.new_zeros((*codes.shape[:-1], num_frames - codes.shape[-1]))
    return torch.cat((codes, pad), dim=-1)


# ----------------------------------------------------------------------------------------------------
# Single-track patterns: ``mixed`` and ``mixed_pro`` (§4.1, §4.2).
#
# Both predict the mixture's codes with the plain codebook delay; the decoder
# has K rows.  K = 4, T = 3, labels (BOS column excluded)::
#
#     a b c E E E E
#     B a b c E E E
#     B B a b c E E
#     B B B a b c E
#
# Mixed pro adds training-only vocal targets: the separated vocal stem's codes,
# delayed the same way and frame-aligned with the mixture, read by extra heads
# from the same hidden states.  Generation ignores them.


class MixedPattern(TokenPattern):
    """One track ("mix"), K rows: the codebook delay as is."""

    name = "mixed"
    track_names = ("mix",)

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        (only,) = rows
        return only

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return [rows]

    def _combined_width(self, stream_width: int) -> int:
        return stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width)


class MixedProPattern(AuxiliaryVocalTargets, MixedPattern):
    """``mixed`` plus auxiliary vocal labels for the training-only vocal heads (:class:`AuxiliaryVocalTargets`)."""

    name = "mixed_pro"


# ----------------------------------------------------------------------------------------------------
# Dual-track patterns: accompaniment (A) and vocals (V) predicted together (§4.3).
#
# Both tracks are delayed on their own (codebook delay, leading BOS column
# removed), combined, and given one shared BOS column.  Layouts for K = 4,
# T = 3, accompaniment ``a b c``, vocals ``x y z``, BOS column excluded.
#
# Interleaving keeps K rows and alternates the tracks along time, so the
# sequence is twice as long and the BOS/EOS triangles get slope 2; only the
# position parity tells the tracks apart (no track embedding)::
#
#     interleaving_A_V                  interleaving_V_A
#     a x b y c z E E E E E E E E       x a y b z c E E E E E E E E
#     B B a x b y c z E E E E E E       B B x a y b z c E E E E E E
#     B B B B a x b y c z E E E E       B B B B x a y b z c E E E E
#     B B B B B B a x b y c z E E       B B B B B B x a y b z c E E
#
# Parallel stacks the tracks as 2K rows (A on top), same length as mixed.  The
# A_V / V_A variants shift one track right by one step, so that track sees the
# other's frame t before emitting its own frame t::
#
#     parallel_std     parallel_A_V      parallel_V_A
#     a b c E E E E    a b c E E E E E   B a b c E E E E
#     B a b c E E E    B a b c E E E E   B B a b c E E E
#     B B a b c E E    B B a b c E E E   B B B a b c E E
#     B B B a b c E    B B B a b c E E   B B B B a b c E
#     x y z E E E E    B x y z E E E E   x y z E E E E E
#     B x y z E E E    B B x y z E E E   B x y z E E E E
#     B B x y z E E    B B B x y z E E   B B x y z E E E
#     B B B x y z E    B B B B x y z E   B B B x y z E E
#
# ``combine(a, v)`` / ``split(rows)`` work on delayed rows *without* the BOS
# column: ``(..., K, n)`` per track ↔ ``(..., num_rows, m)`` combined.


class DualTrackPattern(TokenPattern):
    """Common part of the accompaniment + vocals patterns."""

    track_names = ("accompaniment", "vocals")

    def combine(self, accompaniment: torch.Tensor, vocals: torch.Tensor) -> torch.Tensor:
        """Delayed per-track rows ``(..., K, n)`` → combined rows (no shared BOS column)."""
        if accompaniment.shape != vocals.shape:
            raise ValueError(f"accompaniment {tuple(accompaniment.shape)} and vocals {tuple(vocals.shape)} must match")
        if accompaniment.dim() < 2 or accompaniment.shape[-2] != self.num_codebooks:
            raise ValueError(f"delayed rows must be (..., {self.num_codebooks}, n), got {tuple(accompaniment.shape)}")
        return self._combine([accompaniment, vocals])

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined rows (no shared BOS column) → ``(accompaniment, vocals)`` delayed rows."""
        if rows.dim() < 2 or rows.shape[-2] != self.num_rows:
            raise ValueError(f"combined rows must be (..., {self.num_rows}, m), got {tuple(rows.shape)}")
        accompaniment, vocals = self._split(rows)
        return accompaniment, vocals


class InterleavingPattern(DualTrackPattern):
    """K rows; per row the two tracks alternate step by step.

    After the shared BOS column, codebook k of frame t sits at column
    ``2(t + k)`` for the first track and ``2(t + k) + 1`` for the second.
    A per-track length L becomes ``2L - 1`` — generation must budget frames
    *per track* (the reference passed one ``max_length`` to both the per-track
    mask and the combined stopping rule, halving the audio).
    """

    first_track: ClassVar[str]

    def _ordered(self, accompaniment, vocals):
        return (vocals, accompaniment) if self.first_track == "vocals" else (accompaniment, vocals)

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        first, second = self._ordered(*rows)
        return torch.stack((first, second), dim=-1).flatten(-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        # an odd width ends with a first-track cell whose partner was never
        # produced; it belongs to no complete step, so it is dropped
        width = rows.shape[-1] - rows.shape[-1] % 2
        first, second = rows[..., 0:width:2], rows[..., 1:width:2]
        return list(self._ordered(first, second))  # swapping twice restores (A, V)

    def _combined_width(self, stream_width: int) -> int:
        return 2 * stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width) // 2


class InterleavingAVPattern(InterleavingPattern):
    """Accompaniment first in each step (released ``SongGen_interleaving_A_V``)."""

    name = "interleaving_A_V"
    first_track = "accompaniment"


class InterleavingVAPattern(InterleavingPattern):
    """Vocals first in each step."""

    name = "interleaving_V_A"
    first_track = "vocals"


class ParallelPattern(DualTrackPattern):
    """2K rows: accompaniment rows 0..K-1, vocal rows K..2K-1.

    ``lagging_track`` (if any) is shifted right one column: it gets a leading
    BOS column and the other track a trailing PAD column, so both stay the
    same width.
    """

    rows_per_codebook = 2
    lagging_track: ClassVar[Literal["accompaniment", "vocals"] | None] = None

    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        accompaniment, vocals = rows
        if self.lagging_track == "vocals":
            accompaniment, vocals = self._lead(accompaniment), self._lag(vocals)
        elif self.lagging_track == "accompaniment":
            accompaniment, vocals = self._lag(accompaniment), self._lead(vocals)
        return torch.cat((accompaniment, vocals), dim=-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        k = self.num_codebooks
        accompaniment, vocals = rows[..., :k, :], rows[..., k:, :]
        if self.lagging_track == "vocals":
            accompaniment, vocals = accompaniment[..., :-1], vocals[..., 1:]
        elif self.lagging_track == "accompaniment":
            accompaniment, vocals = accompaniment[..., 1:], vocals[..., :-1]
        return [accompaniment, vocals]

    def _lead(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.cat((rows, self._column(rows, self.token_ids.pad_token_id)), dim=-1)

    def _lag(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.cat((self._column(rows, self.token_ids.bos_token_id), rows), dim=-1)

    def _combined_width(self, stream_width: int) -> int:
        return stream_width + (self.lagging_track is not None)

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width - (self.lagging_track is not None))


class ParallelStdPattern(ParallelPattern):
    """Tracks aligned: frame t of both tracks in the same step."""

    name = "parallel_std"
    lagging_track = None


class ParallelAVPattern(ParallelPattern):
    """Vocals lag the accompaniment by one frame."""

    name = "parallel_A_V"
    lagging_track = "vocals"


class ParallelVAPattern(ParallelPattern):
    """Accompaniment lags the vocals by one frame."""

    name = "parallel_V_A"
    lagging_track = "accompaniment"


# ----------------------------------------------------------------------------------------------------
# AudioGen's multi-stream modelling: each track folded into S streams (``mixed_stream2`` /
# ``mixed_stream4``, and ``parallel_stream2`` for the two tracks of dual-track SongGen).
#
# Frame t of a track goes to stream ``t % S`` as that stream's frame ``t // S``; every stream gets
# the plain codebook delay and the delayed streams are stacked as ``S * K`` rows per track (stream 0
# on top, tracks in ``track_names`` order), so one decoding step emits S frames of every track and
# a song of T frames takes about ``T / S + K`` steps instead of ``T + K``.  The price is that the S
# frames of a step are predicted together, blind to each other (AudioGen measured the quality cost;
# ``songgen evaluate`` measures it here).
#
# K = 2, S = 2, T = 5 frames a b c d e (stream 0: a c e, stream 1: b d), labels, BOS column
# excluded::
#
#     a c e E E       stream 0, codebook 0
#     B a c e E       stream 0, codebook 1
#     b d E E E       stream 1, codebook 0
#     B b d E E       stream 1, codebook 1
#
# Lengths: ``sequence_length(T)`` is the shortest sequence holding T frames, which holds
# ``S * ceil(T / S)`` of them; generation therefore works in whole steps and refuses a frame
# budget that S does not divide (the generation argument checks).  Training takes any T: a stream
# with one frame fewer simply ends one column earlier.


class MultiStreamPattern(TokenPattern):
    """Each track (by default the one "mix") in ``stream_count`` interleaved streams of ``K`` delayed rows."""

    track_names = ("mix",)
    # subclasses set both, rows_per_codebook = stream_count * tracks: one group of K rows per stream
    # (embedding tables, heads, EOS chains)
    stream_count: ClassVar[int]
    rows_per_codebook: ClassVar[int]

    @property
    def num_streams(self) -> int:
        return self.stream_count * self.num_tracks

    @property
    def frames_per_step(self) -> int:
        return self.stream_count

    # ------------------------------------------------------------------ streams
    def _to_streams(self, codes, frame_lengths):
        return [stream for track in codes for stream in self._fold(track, frame_lengths)]

    def _fold(self, track, frame_lengths):
        s = self.stream_count
        per_stream = self._frames_per_stream(track.shape[-1])
        pad = per_stream * s - track.shape[-1]
        if pad:
            track = torch.cat((track, track.new_zeros((*track.shape[:-1], pad))), dim=-1)
        # frame f * S + j -> stream j, frame f
        folded = track.unflatten(-1, (per_stream, s))
        offsets = torch.arange(s, device=frame_lengths.device)
        lengths = (frame_lengths[:, None] - offsets[None, :] + s - 1).div(s, rounding_mode="floor").clamp(min=0)
        return [(folded[..., j], lengths[:, j]) for j in range(s)]

    def _from_streams(self, codes):
        s = self.stream_count
        return [torch.stack(codes[start : start + s], dim=-1).flatten(-2) for start in range(0, len(codes), s)]

    def _frames_per_stream(self, num_frames: int) -> int:
        return -(-num_frames // self.stream_count)

    def _frames_per_track(self, frames_per_stream: int) -> int:
        return frames_per_stream * self.stream_count

    # ------------------------------------------------------------------ rows
    def _combine(self, rows: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(rows, dim=-2)

    def _split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        return list(rows.split(self.num_codebooks, dim=-2))

    def _combined_width(self, stream_width: int) -> int:
        return stream_width

    def _stream_width(self, combined_width: int) -> int:
        return max(0, combined_width)


class MixedStream2Pattern(MultiStreamPattern):
    """Two streams: two frames per decoding step (AudioGen: about 2.3x faster)."""

    name = "mixed_stream2"
    stream_count = rows_per_codebook = 2


class MixedStream4Pattern(MultiStreamPattern):
    """Four streams: four frames per decoding step (AudioGen: about 3.6x faster)."""

    name = "mixed_stream4"
    stream_count = rows_per_codebook = 4


class MixedProStream2Pattern(AuxiliaryVocalTargets, MixedStream2Pattern):
    """Two streams plus mixed pro's training-only vocal targets, folded into the same two streams.

    The 2-stream model predicts the mix alone and so never has to represent the voice on its own;
    the vocal heads (one per row, 2K) make it, as mixed pro does for the single stream.  Generation
    is exactly ``mixed_stream2``'s.
    """

    name = "mixed_pro_stream2"


class ParallelStream2Pattern(MultiStreamPattern):
    """Dual-track SongGen (accompaniment and vocals, aligned as ``parallel_std``) in two streams each.

    Rows: accompaniment stream 0, accompaniment stream 1, vocals stream 0, vocals stream 1, K each
    (4K in all); one step emits two frames of both tracks, so a song takes as many steps as
    ``mixed_stream2``'s, where ``parallel_std`` takes twice as many.  What two tracks buy (measured on
    codec v6's round trips, measured with ``songgen evaluate``): the stems, which a user can remix,
    and control of the voice's level, which the codec lowers more than the accompaniment's; not more
    of the words, tempo or key than a mix model's ceiling.
    """

    name = "parallel_stream2"
    track_names = ("accompaniment", "vocals")
    stream_count = 2
    rows_per_codebook = 4


# ----------------------------------------------------------------------------------------------------
# Pattern names → classes, and the factory the config uses.

TOKEN_PATTERNS: dict[str, type[TokenPattern]] = {
    cls.name: cls
    for cls in (
        MixedPattern,
        MixedProPattern,
        ParallelStdPattern,
        ParallelAVPattern,
        ParallelVAPattern,
        InterleavingAVPattern,
        InterleavingVAPattern,
        MixedStream2Pattern,
        MixedStream4Pattern,
        MixedProStream2Pattern,
        ParallelStream2Pattern,
    )
}
"""Registered patterns by their ``track_pattern`` config name."""


VOCAL_HEAD_PATTERNS: dict[str, str] = {"mixed": "mixed_pro", "mixed_stream2": "mixed_pro_stream2"}
"""A pattern without vocal heads -> the same layout with mixed pro's training-only vocal heads."""


def available_token_patterns() -> tuple[str, ...]:
    return tuple(TOKEN_PATTERNS)


def get_token_pattern(
    name: str,
    num_codebooks: int = 8,
    bos_token_id: int = 1025,
    pad_token_id: int = 1024,
    *,
    eos_token_id: int | None = None,
    codebook_size: int = 1024,
    vocab_size: int = 1088,
) -> TokenPattern:
    """Build the pattern registered as ``name`` (a SongGen ``track_pattern`` value).

    ``eos_token_id=None`` means EOS = PAD, as in SongGen.  Raises ``ValueError``
    for an unknown name (listing the valid ones) or inconsistent ids.
    """
    try:
        cls = TOKEN_PATTERNS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown token pattern {name!r}; valid names: {', '.join(TOKEN_PATTERNS)}") from None
    token_ids = PatternTokenIds(
        codebook_size=codebook_size,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        vocab_size=vocab_size,
    )
    return cls(num_codebooks, token_ids)


__all__ = [
    "AuxiliaryVocalTargets",
    "available_token_patterns",
    "CodebookDelay",
    "DualTrackPattern",
    "FREE",
    "get_token_pattern",
    "IGNORE_INDEX",
    "InterleavingAVPattern",
    "InterleavingPattern",
    "InterleavingVAPattern",
    "MixedPattern",
    "MixedProPattern",
    "MixedProStream2Pattern",
    "MixedStream2Pattern",
    "MixedStream4Pattern",
    "MultiStreamPattern",
    "ParallelAVPattern",
    "ParallelPattern",
    "ParallelStdPattern",
    "ParallelStream2Pattern",
    "ParallelVAPattern",
    "PatternLabels",
    "PatternTokenIds",
    "RevertedCodes",
    "TOKEN_PATTERNS",
    "TokenPattern",
]
