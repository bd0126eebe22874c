"""Musical controls: the requested tempo and key, added to the decoder's input at every step.

SongGen reads tempo and key only through the description's text ("... in A minor at 96 BPM").
A decoder trained from scratch on a few thousand songs does not learn to turn the digits of a
BPM into a rhythm, nor a key name into the pitch content of a thousand frames (songgen-tiny's
first models followed neither: their tempo error was no better than with the prompt removed).
Numbers are better given as numbers, as Stable Audio does for timing.  When enabled, two
additive input embeddings carry them:

* **tempo -> a metronome.**  At decoder position ``t`` the song is
  ``t * frames_per_position * bpm / (60 * frame_rate)`` beats in (a position holds S frames in a
  multi-stream layout, half a frame when two tracks interleave: ``TokenPattern.frames_per_position``);
  the sine and cosine of that phase over a few periods (a bar, half a bar, a beat, half a beat) go
  through a linear layer.  The decoder then only has to learn a *local* rule --
  "onsets where the beat phase is 0" -- instead of counting frames, and the rule holds for any
  tempo, including ones never heard in training.
* **key -> an embedding** of one of 24 keys (tonic pitch class + 12 for minor), or, with
  ``key_control_features="pitch_classes"``, a linear map of what the key *is*: which of the 12
  pitch classes its scale holds and which one is home (:func:`key_pitch_class_features`).  Each
  key's own embedding learns only from the songs in that key (about 40 of 1 024 in songgen-tiny's
  training set); the pitch-class map learns from every song, and what C major teaches about
  "E is in the scale" holds for A minor, G major and every key that shares it.  That matters most
  for a codec whose first codebook carries the pitch (codec v6).
* **arrangement -> an embedding** of whether the song has vocals and whether it has drums, each
  with / without / not said (3 x 3 = 9 ids, :func:`arrangement_id`).  Said in words ("instrumental",
  "no drums") these are a handful of tokens among forty, and songgen-tiny v5, trained on a corpus
  with 20 % instrumentals and 20 % drumless songs, still sang and drummed when asked not to
  (instrumentals 1 of 6, drumless 0 of 6 in its evaluation); as with tempo and key, the number
  reaches every step.

Unknown values (no tempo or key in the prompt, or dropped by condition dropout) use a learned
"unknown" vector, so the unconditional branch of classifier-free guidance is the model with the
controls dropped, exactly as training saw it.  Positions are the decoder's own positions, so
the phase is known for every step of cached generation (static caches included).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from songgen_hf.modeling.songgen.row_fusion import weight_signature

NUM_KEYS = 24
UNKNOWN_KEY = NUM_KEYS
"""``music_key_ids`` value for "no key asked"."""
MINOR_OFFSET = 12

# arrangement: each part is without (0), with (1) or not said (2); the id is 3 * vocals + drums
WITHOUT, WITH, NOT_SAID = 0, 1, 2
NUM_ARRANGEMENTS = 9
UNKNOWN_ARRANGEMENT = 3 * NOT_SAID + NOT_SAID
"""``arrangement_ids`` value for "neither vocals nor drums asked about"."""


def arrangement_id(vocals: bool | None, drums: bool | None) -> int:
    """The id of an arrangement request: ``vocals`` / ``drums`` True (with), False (without) or None (not said)."""

    def state(value: bool | None) -> int:
        return NOT_SAID if value is None else (WITH if value else WITHOUT)

    return 3 * state(vocals) + state(drums)


def arrangement_parts(arrangement: int) -> tuple[bool | None, bool | None]:
    """``(vocals, drums)`` of an arrangement id, the inverse of :func:`arrangement_id`."""
    if not 0 <= int(arrangement) < NUM_ARRANGEMENTS:
        raise ValueError(f"An arrangement id lies in 0..{NUM_ARRANGEMENTS - 1}, got {arrangement}.")
    states = divmod(int(arrangement), 3)
    return tuple(None if s == NOT_SAID else s == WITH for s in states)


def music_key_id(tonic_pitch_class: int, minor: bool) -> int:
    """The id of a key: its tonic's pitch class (C = 0 ... B = 11), plus 12 for minor."""
    if not 0 <= int(tonic_pitch_class) < 12:
        raise ValueError(f"A tonic pitch class lies in 0..11, got {tonic_pitch_class}.")
    return int(tonic_pitch_class) + (MINOR_OFFSET if minor else 0)


# Semitones above the tonic that each mode's scale holds (natural minor).
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
KEY_FEATURES = 24
KEY_CONTROL_FEATURES = ("embedding", "pitch_classes")


def key_pitch_class_features() -> torch.Tensor:
    """``(NUM_KEYS, 24)``: per key id, its scale's 12 pitch classes (1 in the scale, 0 outside; C first),
    then its tonic's pitch class one-hot.  The scale alone would not tell C major from A minor."""
    features = torch.zeros(NUM_KEYS, KEY_FEATURES)
    for key in range(NUM_KEYS):
        tonic, mode = key % MINOR_OFFSET, ("major", "minor")[key // MINOR_OFFSET]
        for step in SCALE_STEPS[mode]:
            features[key, (tonic + step) % 12] = 1.0
        features[key, 12 + tonic] = 1.0
    return features


def tempo_is_known(tempo_bpm: torch.Tensor) -> torch.Tensor:
    """True where a tempo was asked for: finite and positive (NaN or 0 mean unknown)."""
    return torch.isfinite(tempo_bpm) & (tempo_bpm > 0)


class SongGenMusicalControls(nn.Module):
    """``(position_ids, tempo_beats_per_frame, music_key_ids, arrangement_ids)`` -> an additive
    ``(B, L, hidden)`` input."""

    def __init__(self, config):
        super().__init__()
        hidden = self.hidden_size = config.hidden_size
        self.tempo_periods = tuple(float(p) for p in config.tempo_control_periods)
        self.tempo_projection = nn.Linear(2 * len(self.tempo_periods), hidden) if config.use_tempo_control else None
        self.unknown_tempo = nn.Parameter(torch.zeros(hidden)) if config.use_tempo_control else None
        key_features = getattr(config, "key_control_features", "embedding")
        by_pitch_classes = config.use_key_control and key_features == "pitch_classes"
        self.key_embedding = (
            nn.Embedding(NUM_KEYS + 1, hidden) if config.use_key_control and not by_pitch_classes else None
        )
        self.key_projection = nn.Linear(KEY_FEATURES, hidden) if by_pitch_classes else None
        self.unknown_key = nn.Parameter(torch.zeros(hidden)) if by_pitch_classes else None
        if by_pitch_classes:  # fixed by music theory: not a weight, rebuilt on load
            self.register_buffer("key_features", key_pitch_class_features(), persistent=False)
        use_arrangement = getattr(config, "use_arrangement_control", False)
        self.arrangement_embedding = nn.Embedding(NUM_ARRANGEMENTS, hidden) if use_arrangement else None

    def beat_phase_features(self, position_ids: torch.Tensor, beats_per_frame: torch.Tensor) -> torch.Tensor:
        """``(B, L, 2 * periods)`` sines and cosines of the beat phase over each period (in beats)."""
        beats = position_ids.double() * beats_per_frame.double().view(-1, 1)  # (B, L), double: long songs stay exact
        periods = torch.tensor(self.tempo_periods, dtype=torch.float64, device=beats.device)
        angle = 2 * math.pi * torch.remainder(beats[..., None] / periods, 1.0)
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)

    def key_input(self, music_key_ids: torch.Tensor) -> torch.Tensor:
        """``(B,)`` key ids -> ``(B, hidden)``: the key's embedding, or the map of its pitch classes."""
        if self.key_projection is None:
            return self.key_embedding(music_key_ids)
        weight = self.key_projection.weight
        known = (music_key_ids < NUM_KEYS).view(-1, 1)
        features = self.key_features[music_key_ids.clamp(max=NUM_KEYS - 1)].to(weight.dtype)
        return torch.where(known, self.key_projection(features), self.unknown_key.to(weight.dtype))

    def forward(
        self,
        position_ids: torch.Tensor,
        batch_size: int,
        tempo_beats_per_frame: torch.Tensor | None = None,
        music_key_ids: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
        arrangement_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        controls = (tempo_beats_per_frame, music_key_ids, arrangement_ids)
        # CPU decoding steps only: on an accelerator reading the position and the controls would be a device
        # sync every step, and the direct computation is a few asynchronous kernels there
        if (
            position_ids.shape[-1] == 1
            and position_ids.device.type == "cpu"
            and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
        ):
            table = self._song_table(int(position_ids.max()) + 1, batch_size, controls, dtype, position_ids.device)
            if table is not None:
                rows = position_ids.expand(batch_size, 1)
                return table.gather(1, rows[..., None].expand(-1, -1, table.shape[-1]))
        return self._compute(position_ids, batch_size, *controls, dtype=dtype)

    def _song_table(self, needed: int, batch_size: int, controls: tuple, dtype, device) -> torch.Tensor | None:
        """``(B, n >= needed, hidden)``: the input at every position for these controls, for decoding steps.

        A song's controls never change while it is generated and the tempo's features depend only on the
        position, so each decoding step reads one row of this table instead of recomputing the phase
        features and projections (0.7 ms of a ~10 ms step on a 2-core CPU).  Rebuilt (doubling) when a
        longer song needs more rows, and when the controls or this module's weights change.  ``None``
        (compute directly) where the table would exceed 64 MB.
        """
        parameters = list(self.parameters())
        signature = (
            batch_size,
            dtype,
            device,
            weight_signature(parameters),
            tuple(
                None if c is None else (c.dtype, c.detach().reshape(-1).view(torch.uint8).numpy().tobytes())
                for c in controls
            ),
        )
        cached = getattr(self, "_table", None)
        if cached is not None and cached[0] == signature and cached[1].shape[1] >= needed:
            return cached[1]
        length = max(needed, 256, 2 * cached[1].shape[1] if cached is not None and cached[0] == signature else 0)
        itemsize = torch.empty((), dtype=dtype or torch.float32).element_size()
        if batch_size * length * self.hidden_size * itemsize > 64 * 2**20:
            return None
        positions = torch.arange(length, device=device).unsqueeze(0)
        table = self._compute(positions, batch_size, *controls, dtype=dtype)
        self._table = (signature, table)
        return table

    def _compute(
        self,
        position_ids: torch.Tensor,
        batch_size: int,
        tempo_beats_per_frame: torch.Tensor | None = None,
        music_key_ids: torch.Tensor | None = None,
        arrangement_ids: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        length = position_ids.shape[-1]
        position_ids = position_ids.expand(batch_size, length)
        parts = []
        if self.tempo_projection is not None:
            weight = self.tempo_projection.weight
            if tempo_beats_per_frame is None:
                tempo_beats_per_frame = torch.full((batch_size,), float("nan"), device=weight.device)
            known = tempo_is_known(tempo_beats_per_frame).view(-1, 1, 1)
            rate = torch.where(known.view(-1), tempo_beats_per_frame, torch.zeros_like(tempo_beats_per_frame))
            features = self.beat_phase_features(position_ids, rate).to(weight.dtype)
            tempo = torch.where(known, self.tempo_projection(features), self.unknown_tempo.to(weight.dtype))
            parts.append(tempo)
        if self.key_embedding is not None or self.key_projection is not None:
            if music_key_ids is None:
                music_key_ids = torch.full((batch_size,), UNKNOWN_KEY, dtype=torch.long, device=position_ids.device)
            parts.append(self.key_input(music_key_ids.long()).unsqueeze(1).expand(-1, length, -1))
        if self.arrangement_embedding is not None:
            if arrangement_ids is None:
                arrangement_ids = torch.full(
                    (batch_size,), UNKNOWN_ARRANGEMENT, dtype=torch.long, device=position_ids.device
                )
            parts.append(self.arrangement_embedding(arrangement_ids.long()).unsqueeze(1).expand(-1, length, -1))
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total.to(dtype) if dtype is not None else total


def _check_ids(
    name: str, ids: torch.Tensor, batch: int, enabled: bool, switch: str, fix: str, largest: int, meaning: str
) -> None:
    if not enabled:
        what = switch.removeprefix("use_").removesuffix("_control")
        raise ValueError(f"{name} was given but this model has no {what} control (decoder.{switch}=False); {fix}.")
    if ids.dim() != 1 or ids.shape[0] != batch:
        raise ValueError(f"{name} must hold one id per song ({batch}), got shape {tuple(ids.shape)}.")
    if ((ids < 0) | (ids > largest)).any():
        raise ValueError(f"{name} lie in 0..{largest} ({meaning}), got {ids.tolist()}.")


def check_controls(
    tempo_bpm: torch.Tensor | None,
    music_key_ids: torch.Tensor | None,
    batch: int,
    config,
    arrangement_ids: torch.Tensor | None = None,
) -> None:
    """Clear errors for controls the model lacks or that do not fit the batch."""
    if tempo_bpm is not None:
        if not config.use_tempo_control:
            raise ValueError(
                "tempo_bpm was given but this model has no tempo control (decoder.use_tempo_control=False); "
                "drop tempo_bpm and put the tempo in the description instead."
            )
        if tempo_bpm.dim() != 1 or tempo_bpm.shape[0] != batch:
            raise ValueError(f"tempo_bpm must hold one value per song ({batch}), got shape {tuple(tempo_bpm.shape)}.")
        known = tempo_is_known(tempo_bpm)
        if (tempo_bpm[known] > 1000).any():
            raise ValueError(f"tempo_bpm values must be beats per minute (e.g. 120), got {tempo_bpm.tolist()}.")
    if music_key_ids is not None:
        _check_ids(
            "music_key_ids",
            music_key_ids,
            batch,
            config.use_key_control,
            "use_key_control",
            "drop it and put the key in the description instead",
            UNKNOWN_KEY,
            f"pitch class + 12 for minor; {UNKNOWN_KEY} = unknown",
        )
    if arrangement_ids is not None:
        _check_ids(
            "arrangement_ids",
            arrangement_ids,
            batch,
            getattr(config, "use_arrangement_control", False),
            "use_arrangement_control",
            "drop it and say 'instrumental' / 'no drums' in the description instead",
            NUM_ARRANGEMENTS - 1,
            f"3 * vocals + drums, each 0 without, 1 with, 2 not said; {UNKNOWN_ARRANGEMENT} = neither said",
        )


__all__ = [
    "KEY_CONTROL_FEATURES",
    "KEY_FEATURES",
    "MINOR_OFFSET",
    "NUM_ARRANGEMENTS",
    "NUM_KEYS",
    "UNKNOWN_ARRANGEMENT",
    "UNKNOWN_KEY",
    "SongGenMusicalControls",
    "arrangement_id",
    "arrangement_parts",
    "check_controls",
    "key_pitch_class_features",
    "music_key_id",
    "tempo_is_known",
]
