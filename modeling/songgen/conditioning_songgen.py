"""SongGen's conditioning: what a token model that sings from a description and lyrics is told.

:class:`SongConditioningMixin` builds and runs the encoders that SongGen (autoregressive) and ResGen (masked
parallel) both condition on and fuses their outputs into one cross-attention memory ``[voice ; description ;
lyrics]``: the description T5, the VoiceBPE lyrics encoder (:class:`SongGenLyricsEncoder`), the optional
reference-voice encoder (:class:`SongGenVoiceEncoder`) and the X-Codec.  The musical controls
(:class:`SongGenMusicalControls`: tempo, key, arrangement) enter the token model's input at every position.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import nullcontext
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForTextEncoding
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from songgen_hf.modeling.songgen.configuration_songgen import (
    MINOR_OFFSET,
    NUM_ARRANGEMENTS,
    NUM_KEYS,
    UNKNOWN_ARRANGEMENT,
    UNKNOWN_KEY,
    SongGenLyricsEncoderConfig,
    SongGenVoiceEncoderConfig,
    control_each_dropout_probs,
)
from songgen_hf.modeling.songgen.row_fusion import tensor_bytes, weight_signature

# ----------------------------------------------------------------------------------------------------
# The musical controls: tempo, key and arrangement, added to the token model's input at every position.

# Semitones above the tonic that each mode's scale holds (natural minor).
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
KEY_FEATURES = 24
# the musical controls, each with the decoder config's switch that says the model uses it
CONTROL_SWITCHES = {"tempo": "use_tempo_control", "key": "use_key_control", "arrangement": "use_arrangement_control"}


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

    def beat_phase_features(
        self, position_ids: torch.Tensor, beats_per_frame: torch.Tensor, start_beats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, L, 2 * periods)`` sines and cosines of the beat phase over each period (in beats).

        ``start_beats`` ``(B,)``: the beats already counted at position 0 (a later window of a long song starts
        where the song's metronome stands there, not on a bar line); ``None``: 0."""
        beats = position_ids.double() * beats_per_frame.double().view(-1, 1)  # (B, L), double: long songs stay exact
        if start_beats is not None:
            beats = beats + start_beats.double().view(-1, 1)
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
        tempo_start_beats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        controls = (tempo_beats_per_frame, music_key_ids, arrangement_ids, tempo_start_beats)
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
            tuple(None if c is None else (c.dtype, tensor_bytes(c)) for c in controls),
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
        tempo_start_beats: torch.Tensor | None = None,
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
            features = self.beat_phase_features(position_ids, rate, tempo_start_beats).to(weight.dtype)
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


def add_musical_controls(
    hidden: torch.Tensor,
    musical_controls: SongGenMusicalControls | None,
    position_ids: torch.Tensor,
    tempo_beats_per_frame: torch.Tensor | None = None,
    music_key_ids: torch.Tensor | None = None,
    arrangement_ids: torch.Tensor | None = None,
    tempo_start_beats: torch.Tensor | None = None,
) -> torch.Tensor:
    """``hidden`` ``(B, L, width)`` plus the musical controls' input at ``position_ids``, as SongGen's and ResGen's
    token models take them (``tempo_start_beats``: the beats the metronome has counted at position 0, see
    :meth:`SongGenMusicalControls.beat_phase_features`); a model built without controls refuses them rather than
    ignoring them."""
    if musical_controls is not None:
        return hidden + musical_controls(
            position_ids,
            hidden.shape[0],
            tempo_beats_per_frame,
            music_key_ids,
            dtype=hidden.dtype,
            arrangement_ids=arrangement_ids,
            tempo_start_beats=tempo_start_beats,
        )
    if tempo_beats_per_frame is not None or music_key_ids is not None or arrangement_ids is not None:
        raise ValueError("This model has no musical controls (use_tempo/key/arrangement_control are off).")
    return hidden


def check_tempo_start(tempo_start_beats: torch.Tensor, batch: int, config) -> None:
    """Clear errors for a metronome start the model cannot take or that does not fit the batch."""
    if not config.use_tempo_control:
        raise ValueError(
            "tempo_start_beats was given but this model has no tempo control (decoder.use_tempo_control=False); "
            "leave it out."
        )
    if tempo_start_beats.dim() != 1 or tempo_start_beats.shape[0] != batch:
        raise ValueError(
            f"tempo_start_beats must hold one value per song ({batch}), got shape {tuple(tempo_start_beats.shape)}."
        )
    if not bool(torch.isfinite(tempo_start_beats).all() and (tempo_start_beats >= 0).all()):
        raise ValueError(f"tempo_start_beats must be finite beat counts >= 0, got {tempo_start_beats.tolist()}.")


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


# ----------------------------------------------------------------------------------------------------
# SongGen's lyrics encoder: token embedding + a relative-position Transformer encoder.
#
# The reference runs lyric ids through ``embed_prompts`` and a wenet/CosyVoice
# ``ConformerEncoder`` whose macaron FFN and convolution module are switched off.  What remains
# is, per input:
#
# 1. ``x = Dropout(LayerNorm(Linear(embed(ids))))``                 (the "LinearEmbed" input layer)
# 2. ``x = Dropout(x * sqrt(H))``, ``pos = Dropout(sinusoids(T-1 .. -(T-1)))``
# 3. ``num_hidden_layers`` pre-norm blocks, each
#    ``x = x + Dropout(RelPosSelfAttention(LN(x), pos))`` then ``x = x + Dropout(FFN(LN(x)))``
# 4. ``x = LN(x)``
#
# The attention is the Transformer-XL score with ESPnet's relative positions (details in
# [`SongGenLyricsSelfAttention`]).  Everything here is numerically the reference's forward pass,
# including what happens at padded positions (see [`SongGenLyricsEncoder.forward`]).  The
# projection to the decoder width (``lyrics_to_dec_proj``) belongs to the parent model.
#
# Weights of the official checkpoints are renamed by
# :func:`songgen_hf.conversion.official_keys.convert_official_lyrics_encoder_state_dict`.


def relative_sinusoid_table(max_distance: int, hidden_size: int, device=None) -> torch.Tensor:
    """Sinusoids for relative distances ``max_distance-1, ..., 1, 0, -1, ..., -(max_distance-1)``.

    Row ``k`` encodes distance ``r = (max_distance - 1) - k`` as ``[sin(r w_0), cos(r w_0),
    sin(r w_1), ...]`` with ``w_i = 10000^(-2i/H)``, in float32 (``(2 * max_distance - 1, H)``).
    A positive ``r`` means the key lies ``r`` steps to the *left* of the query.  The descending
    order is what lets [`relative_shift`] turn a "query x distance" matrix into a
    "query x key" matrix by pure re-striding.  Entries are elementwise functions of ``r``, so a
    bigger table holds exactly the same rows as a smaller one around its centre.
    """
    frequencies = torch.exp(
        torch.arange(0, hidden_size, 2, dtype=torch.float32, device=device) * -(math.log(10000.0) / hidden_size)
    )
    distances = torch.arange(max_distance - 1, -max_distance, -1, dtype=torch.float32, device=device)
    angles = distances[:, None] * frequencies[None, :]
    table = torch.empty(distances.numel(), hidden_size, dtype=torch.float32, device=device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


class SongGenRelativePositionalEncoding(nn.Module):
    """Scales the block input by sqrt(H) and returns the relative-position embeddings.

    Why the scaling: the reference (ESPnet's ``RelPositionalEncoding``) keeps the classic
    "embeddings * sqrt(d_model)" step of absolute encodings even though the positions are no
    longer added to ``x``; the trained weights expect that magnitude, so it is reproduced.

    The sinusoid table is a cache, not state: it is built lazily in float32 for
    ``max(config.max_position_embeddings, T)`` distances on the input's device, grown when a
    longer input arrives (as the reference does), and cast to the input dtype when sliced.
    """

    def __init__(self, config: SongGenLyricsEncoderConfig):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.initial_max_distance = config.max_position_embeddings
        self.input_scale = math.sqrt(config.hidden_size)
        self.dropout = nn.Dropout(config.positional_dropout)
        self._table: torch.Tensor | None = None  # (2 * N - 1, H), float32

    def _table_for(self, length: int, device: torch.device) -> torch.Tensor:
        table = self._table
        if table is None or table.device != device or table.shape[0] < 2 * length - 1:
            max_distance = max(self.initial_max_distance, length)
            if table is not None and table.device == device:
                max_distance = max(max_distance, (table.shape[0] + 1) // 2)
            table = relative_sinusoid_table(max_distance, self.hidden_size, device=device)
            self._table = table
        return table

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, H)`` -> scaled ``(B, T, H)`` and embeddings of distances ``T-1 .. -(T-1)``, ``(1, 2T-1, H)``."""
        length = hidden_states.shape[1]
        table = self._table_for(length, hidden_states.device)
        centre = (table.shape[0] - 1) // 2
        position_embeddings = table[centre - length + 1 : centre + length].to(hidden_states.dtype)[None]
        hidden_states = hidden_states * self.input_scale
        return self.dropout(hidden_states), self.dropout(position_embeddings)


def relative_shift(scores_by_distance: torch.Tensor) -> torch.Tensor:
    """Re-index ``(..., T, 2T-1)`` "query i x distance column m" scores to ``(..., T, T)`` "query i x key j".

    Column ``m`` of the input holds distance ``r = T-1-m`` (see [`relative_sinusoid_table`]).
    Query ``i`` and key ``j`` are ``r = i - j`` apart, so the wanted entry is column
    ``m = T-1-i+j``.  In a contiguous row-major buffer that entry sits at flat offset
    ``i(2T-1) + T-1-i+j = (T-1) + i(2T-2) + j``: each next query row is read one full row
    (``2T-1``) further on, minus the one column its wanted distances move to the left.  The
    result is therefore just a strided *view* of the input with storage offset ``T-1``, row stride
    ``2T-2`` and column stride 1 -- no copy, no index tensor.
    (This is the same re-indexing the reference obtains by left-padding a zero column and
    re-viewing the buffer as ``(2T, T)``.)  The view never reads two outputs from one element,
    so autograd's scatter back is exact.
    """
    scores_by_distance = scores_by_distance.contiguous()
    *batch_shape, length, num_distances = scores_by_distance.shape
    if num_distances != 2 * length - 1:
        raise ValueError(f"expected 2T-1 = {2 * length - 1} distance columns, got {num_distances}.")
    matrix_stride = length * num_distances
    batch_strides = []
    for size in reversed(batch_shape):
        batch_strides.insert(0, matrix_stride)
        matrix_stride *= size
    return scores_by_distance.as_strided(
        (*batch_shape, length, length),
        (*batch_strides, num_distances - 1, 1),
        scores_by_distance.storage_offset() + length - 1,
    )


# ---------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------


class SongGenLyricsSelfAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL / ESPnet relative positions.

    For query ``i``, key ``j`` and head ``h`` (``d = head_dim``)::

        score(i, j) = [ (q_i + u_h) . k_j  +  (q_i + v_h) . p_{i-j} ] / sqrt(d)

    where ``p_r = pos_proj(sinusoid(r))`` (no bias) and ``u``/``v`` are the learned
    ``pos_bias_u``/``pos_bias_v`` (Transformer-XL's content and position biases).  The second
    term is computed once for every (query, distance) pair -- ``(B, heads, T, 2T-1)`` -- and
    re-indexed to (query, key) by [`relative_shift`].

    Keys at padded positions are excluded before the softmax; a query with no valid key at all
    gets all-zero attention weights (the reference fills its NaN softmax row with zeros), so
    its output is ``out_proj.bias``.  Padded *queries* are computed like any other row.

    Two interchangeable back ends: ``"eager"`` spells the score out; ``"sdpa"`` feeds
    ``q + u`` as the query to ``scaled_dot_product_attention`` and passes the position term
    (already divided by sqrt(d)) plus the padding mask as its additive ``attn_mask``.
    """

    def __init__(self, config: SongGenLyricsEncoderConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.attention_dropout = config.attention_dropout
        hidden = config.hidden_size
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.pos_proj = nn.Linear(hidden, hidden, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(self.num_heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.empty(self.num_heads, self.head_dim))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        """``(B, T, H)`` -> ``(B, heads, T, d)``."""
        return states.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """
        Args:
            hidden_states: ``(B, T, H)``.
            position_embeddings: ``(1, 2T-1, H)`` sinusoids of distances ``T-1 .. -(T-1)``.
            key_padding_mask: ``(B, T)`` bool, ``True`` = valid key; ``None`` = all valid.
        """
        query = self._split_heads(self.q_proj(hidden_states))
        key = self._split_heads(self.k_proj(hidden_states))
        value = self._split_heads(self.v_proj(hidden_states))
        positions = self._split_heads(self.pos_proj(position_embeddings))  # (1, heads, 2T-1, d)

        # pos_bias_* are (heads, d); broadcast over batch and time.
        query_with_content_bias = query + self.pos_bias_u[:, None, :]
        query_with_position_bias = query + self.pos_bias_v[:, None, :]
        position_scores = relative_shift(query_with_position_bias @ positions.transpose(-2, -1))

        dropout = self.attention_dropout if self.training else 0.0
        if self.config._attn_implementation == "eager":
            context = self._eager(query_with_content_bias, key, value, position_scores, key_padding_mask, dropout)
        else:
            context = self._sdpa(query_with_content_bias, key, value, position_scores, key_padding_mask, dropout)
        return self.out_proj(context.transpose(1, 2).flatten(2))

    def _eager(self, query, key, value, position_scores, key_padding_mask, dropout: float) -> torch.Tensor:
        scores = (query @ key.transpose(-2, -1) + position_scores) / math.sqrt(self.head_dim)
        if key_padding_mask is not None:
            masked = ~key_padding_mask[:, None, None, :]
            # A finite minimum gives the same probabilities as -inf on rows with a valid key
            # (exp underflows to exactly 0) but no NaN on fully masked rows, which are then
            # zeroed as in the reference -- and their gradients stay finite.
            scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)
            probabilities = scores.softmax(dim=-1).masked_fill(masked, 0.0)
        else:
            probabilities = scores.softmax(dim=-1)
        probabilities = F.dropout(probabilities, p=dropout, training=dropout > 0)
        return probabilities @ value

    def _sdpa(self, query, key, value, position_scores, key_padding_mask, dropout: float) -> torch.Tensor:
        scale = 1.0 / math.sqrt(self.head_dim)
        bias = position_scores * scale
        if key_padding_mask is not None:
            bias = bias.masked_fill(~key_padding_mask[:, None, None, :], torch.finfo(bias.dtype).min)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=dropout, scale=scale)
        if key_padding_mask is not None:
            # With a finite mask a query without any valid key would average all values;
            # the reference returns zeros there.
            has_valid_key = key_padding_mask.any(dim=-1)[:, None, None, None]
            context = context * has_valid_key.to(context.dtype)
        return context


class SongGenLyricsFeedForward(nn.Module):
    """``fc2(Dropout(act(fc1(x))))``."""

    def __init__(self, config: SongGenLyricsEncoderConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(hidden_states))))


class SongGenLyricsEncoderLayer(GradientCheckpointingLayer):
    """Pre-norm block: relative-position self-attention, then feed-forward, each residual."""

    def __init__(self, config: SongGenLyricsEncoderConfig):
        super().__init__()
        self.attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = SongGenLyricsSelfAttention(config)
        self.ffn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = SongGenLyricsFeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attended = self.self_attn(self.attn_layer_norm(hidden_states), position_embeddings, key_padding_mask)
        hidden_states = hidden_states + self.dropout(attended)
        return hidden_states + self.dropout(self.feed_forward(self.ffn_layer_norm(hidden_states)))


# ---------------------------------------------------------------------------------------------
# encoder
# ---------------------------------------------------------------------------------------------


class SongGenLyricsEncoder(nn.Module):
    """Lyric ids -> contextual lyric states at ``hidden_size`` (before ``lyrics_to_dec_proj``).

    Owns the token embedding (``embed_tokens``, the reference's top-level ``embed_prompts``)
    and, when ``config.use_encoder``, the encoder stack.  Attention back end: eager when
    ``config._attn_implementation == "eager"``, otherwise ``scaled_dot_product_attention``
    (flash kernels cannot take the dense relative-position bias).
    """

    def __init__(self, config: SongGenLyricsEncoderConfig):
        super().__init__()
        self.config = config
        # No padding_idx: id 0 is both the pad and the end-of-lyrics token in the reference
        # framing, and its row is trained.
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        if config.use_encoder:
            self.input_proj = nn.Linear(config.hidden_size, config.hidden_size)
            self.input_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.input_dropout = nn.Dropout(config.dropout)
            self.position_encoding = SongGenRelativePositionalEncoding(config)
            self.layers = nn.ModuleList(SongGenLyricsEncoderLayer(config) for _ in range(config.num_hidden_layers))
            self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch of lyric ids.

        Args:
            input_ids: ``(B, L)`` lyric token ids.
            attention_mask: ``(B, L)``, 1/``True`` on real tokens, 0/``False`` on padding; any
                integer, float or bool dtype.  ``None`` means no padding.

        Returns:
            ``hidden_states`` ``(B, L, hidden_size)`` and the attention mask (the input mask
            unchanged, or all-ones ``long`` when none was given) for the parent's cross-attention.

        Padding semantics (identical to the reference): padded positions are never used as
        *keys*, so valid positions do not depend on how much padding follows them.  Padded
        positions themselves are *not* zeroed -- they run through every block as queries over
        the valid keys and come out as ordinary-looking vectors; consumers must apply the
        returned mask.  With ``use_encoder=False`` the raw embeddings (of the pad id) are
        returned there.
        """
        hidden_states = self.embed_tokens(input_ids)
        key_padding_mask = None if attention_mask is None else attention_mask.bool()
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.long)
        if not self.config.use_encoder:
            return hidden_states, attention_mask

        hidden_states = self.input_dropout(self.input_layer_norm(self.input_proj(hidden_states)))
        hidden_states, position_embeddings = self.position_encoding(hidden_states)
        for layer in self.layers:
            hidden_states = layer(hidden_states, position_embeddings, key_padding_mask)
        return self.final_layer_norm(hidden_states), attention_mask


# ---------------------------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def init_lyrics_encoder_weights(module: nn.Module, config: SongGenLyricsEncoderConfig) -> None:
    """Initialise one module of the lyrics encoder (call it from the parent's ``_init_weights``).

    Linear and embedding weights ~ N(0, ``initializer_range``) with zero biases, LayerNorms at
    ones/zeros (as the reference's parent model initialises them), and the relative-position
    biases ``pos_bias_u``/``pos_bias_v`` xavier-uniform (as the reference's attention does).
    Only ``pos_bias_*`` are special: a parent whose generic init already covers Linear,
    LayerNorm and Embedding may call this just for [`SongGenLyricsSelfAttention`] instances.
    Uses ``transformers.initialization`` so tensors already loaded from a checkpoint are skipped.
    """
    if isinstance(module, SongGenLyricsSelfAttention):
        init.xavier_uniform_(module.pos_bias_u)
        init.xavier_uniform_(module.pos_bias_v)
    elif isinstance(module, nn.Linear):
        init.normal_(module.weight, mean=0.0, std=config.initializer_range)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        init.normal_(module.weight, mean=0.0, std=config.initializer_range)
    elif isinstance(module, nn.LayerNorm):
        init.ones_(module.weight)
        init.zeros_(module.bias)


# ----------------------------------------------------------------------------------------------------
# SongGen's reference-voice encoder: frozen MERT -> learned layer mix -> projection.
#
# Pipeline (SongGen §2.5; shapes for MERT-v1-330M and a 3 s clip at 24 kHz):
#
# 1. ``input_values`` (B, 72000) -> frozen ``HubertModel`` (= MERT-v1-330M, see
#    ``configuration_voice_encoder``) with ``output_hidden_states`` -> 25 states of (B, 224, 1024).
# 2. ``layer_aggregation`` = ``Conv1d(25, 1, kernel_size=1)``: a learned weighted sum over the 25
#    states plus a bias, the same for every frame and channel (reference name ``mert_layer_agg``,
#    weight [1, 25, 1], bias [1]).
# 3. ``projection`` = ``Linear(1024, output_size)`` (reference ``audio_mert_to_dec_proj``).
#
# Rows whose waveform is all zeros (or whose ``attention_mask`` is all zeros) are "no voice":
# their frame mask is all zeros.  Those rows are not run through the encoder at all; their
# states are zeros, which cross-attention never reads because the mask hides them (the
# reference feeds the zeros to MERT and masks the result, so outputs are the same).  With no
# voiced row in the batch the encoder is skipped entirely.
#
# **transformers-5 hidden-state semantics.**  In transformers 4.x (SongGen's pin, 4.43) a
# pre-LN HuBERT's ``hidden_states`` were [embedding output, layer 1 .. layer 23 outputs,
# LayerNorm(layer 24 output)].  transformers 5 records hidden states with hooks and its last
# entry is the layer-24 output *before* the final encoder LayerNorm (checked on 5.23; the final
# LayerNorm only reaches ``last_hidden_state``).  The layer mix was trained on the 4.x stack, so
# ``_encode`` replaces the last entry with ``last_hidden_state``.  For post-LN encoders the two
# coincide, so this is right for any HuBERT/wav2vec2-style encoder.
#
# The official checkpoints' names for these weights, and their renaming, are in
# :mod:`songgen_hf.conversion.official_keys`.


class VoiceEncoderOutput(NamedTuple):
    """``hidden_states`` (B, frames, output_size) and ``attention_mask`` (B, frames), bool."""

    hidden_states: torch.Tensor
    attention_mask: torch.Tensor


class SongGenVoiceEncoder(nn.Module):
    """Frozen speech/music SSL encoder + learned layer aggregation + projection.

    A plain ``nn.Module`` meant to live inside the SongGen model (e.g. as ``voice_encoder``;
    the parent may leave it ``None`` when no voice conditioning is configured, which skips
    building the 315 M-parameter encoder altogether).

    Args:
        config: [`SongGenVoiceEncoderConfig`].
    """

    def __init__(self, config: SongGenVoiceEncoderConfig):
        super().__init__()
        self.config = config
        self.audio_encoder = AutoModel.from_config(config.audio_encoder_config)
        num_states = config.num_layers_to_aggregate
        self.layer_aggregation = nn.Conv1d(num_states, 1, kernel_size=1)
        self.projection = nn.Linear(config.hidden_size, config.output_size)
        self.reset_aggregation()
        if config.freeze_audio_encoder:
            self.freeze_audio_encoder()

    # ------------------------------------------------------------------ setup helpers
    @torch.no_grad()
    def reset_aggregation(self) -> None:
        """Start the layer mix as a plain mean of the states (a checkpoint overwrites it).

        The reference keeps PyTorch's default Conv1d init; a mean is a calmer starting point
        for training from scratch and changes nothing once weights are loaded.
        """
        self.layer_aggregation.weight.fill_(1.0 / self.config.num_layers_to_aggregate)
        self.layer_aggregation.bias.zero_()

    def freeze_audio_encoder(self) -> None:
        """Stop gradients into the encoder and keep it in eval mode from now on."""
        self.config.freeze_audio_encoder = True
        self.audio_encoder.requires_grad_(False)
        self.audio_encoder.eval()

    def train(self, mode: bool = True) -> SongGenVoiceEncoder:
        super().train(mode)
        # A frozen encoder stays in eval mode so dropout / SpecAugment never touch it.
        if self.config.freeze_audio_encoder:
            self.audio_encoder.eval()
        return self

    @property
    def num_states(self) -> int:
        return self.config.num_layers_to_aggregate

    def num_frames(self, num_samples: int) -> int:
        return self.config.num_frames(num_samples)

    # ------------------------------------------------------------------ forward
    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> VoiceEncoderOutput:
        """Encode reference clips.

        Args:
            input_values: (B, samples) or (B, 1, samples) waveforms at ``config.sampling_rate``,
                prepared by ``VoiceFeatureExtractor`` (all-zero row = no voice).
            attention_mask: optional (B, samples), 1 for real samples.

        Returns:
            ``VoiceEncoderOutput(hidden_states (B, frames, output_size),
            attention_mask (B, frames) bool)``; no-voice rows are all zeros / all False.
        """
        if input_values.dim() == 3 and input_values.shape[1] == 1:
            input_values = input_values[:, 0]
        if input_values.dim() != 2:
            raise ValueError(
                f"`input_values` must be (batch, samples) or (batch, 1, samples), got {tuple(input_values.shape)}."
            )
        if attention_mask is not None and attention_mask.shape != input_values.shape:
            raise ValueError(
                f"`attention_mask` {tuple(attention_mask.shape)} must match `input_values` {tuple(input_values.shape)}."
            )
        batch, num_samples = input_values.shape
        num_frames = self.num_frames(num_samples)
        if num_frames <= 0:
            raise ValueError(f"{num_samples} samples are too short for the voice encoder's conv front end.")

        has_voice = (input_values != 0).any(dim=-1)
        if attention_mask is not None:
            has_voice = has_voice & attention_mask.bool().any(dim=-1)
        frame_mask = has_voice[:, None].expand(batch, num_frames)
        use_mask = attention_mask is not None and self.config.use_attention_mask
        if use_mask:
            frame_mask = frame_mask & self._frames_from_sample_mask(attention_mask, num_frames)

        proj = self.projection
        hidden = torch.zeros(batch, num_frames, proj.out_features, device=proj.weight.device, dtype=proj.weight.dtype)
        voiced = has_voice.nonzero(as_tuple=True)[0]
        if voiced.numel() > 0:
            rows = input_values.index_select(0, voiced)
            row_mask = attention_mask.index_select(0, voiced) if use_mask else None
            states = self._encode(rows, row_mask)  # (b, L+1, frames, hidden)
            mixed = self._aggregate(states)
            projected = self.projection(mixed)
            # out-of-place so gradients reach the aggregation/projection of voiced rows only
            hidden = hidden.index_copy(0, voiced.to(hidden.device), projected.to(hidden.dtype))
        return VoiceEncoderOutput(hidden, frame_mask.contiguous())

    def _encode(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Stacked encoder states (b, L+1, frames, hidden) with transformers-4.x semantics."""
        encoder = self.audio_encoder
        reference = next(encoder.parameters())
        input_values = input_values.to(device=reference.device, dtype=reference.dtype)
        if attention_mask is not None:
            attention_mask = attention_mask.to(device=reference.device, dtype=torch.long)
        frozen = self.config.freeze_audio_encoder
        with torch.no_grad() if frozen else nullcontext():
            out = encoder(input_values, attention_mask=attention_mask, output_hidden_states=True, return_dict=True)
            states = list(out.hidden_states)
            if len(states) != self.num_states:
                raise RuntimeError(
                    f"The audio encoder returned {len(states)} hidden states, expected {self.num_states} "
                    "(embedding output + one per layer)."
                )
            states[-1] = out.last_hidden_state
            stacked = torch.stack(states, dim=1)
        return stacked

    def _aggregate(self, states: torch.Tensor) -> torch.Tensor:
        """Per-frame weighted sum over the L+1 states: (b, L+1, T, H) -> (b, T, H)."""
        b, num_states, frames, width = states.shape
        conv = self.layer_aggregation
        # A kernel-1 Conv1d over channels = layers is one weighted sum; flattening (T, H) into
        # the conv's length axis runs it as a single call.
        mixed = conv(states.to(conv.weight.dtype).reshape(b, num_states, frames * width))
        return mixed.reshape(b, frames, width)

    def _frames_from_sample_mask(self, attention_mask: torch.Tensor, num_frames: int) -> torch.Tensor:
        """A frame is valid when the conv front end computed it from real samples only."""
        encoder_config = self.config.audio_encoder_config
        frame_lengths = attention_mask.long().sum(dim=-1)
        for kernel, stride in zip(encoder_config.conv_kernel, encoder_config.conv_stride):
            frame_lengths = torch.div(frame_lengths - int(kernel), int(stride), rounding_mode="floor") + 1
        frame_lengths = frame_lengths.clamp(min=0, max=num_frames)
        positions = torch.arange(num_frames, device=attention_mask.device)
        return positions[None, :] < frame_lengths[:, None]


@torch.compiler.assume_constant_result
def codec_frame_rate(config) -> float:
    """A SongGen config's codec frame rate (frames per second), a constant to ``torch.compile``.

    The codec config computes it with numpy, which a traced step would turn into a tensor and read
    back (a graph break); the value never changes, so the compiler takes it as a constant."""
    return float(config.frame_rate)


# ----------------------------------------------------------------------------------------------------
# SongGen's conditioning, shared by every token model that sings from a description and lyrics.
#
# :class:`SongConditioningMixin` builds and runs the encoders both SongGen (autoregressive) and
# ResGen (masked parallel) condition on: the description T5 and its projection, the VoiceBPE lyrics
# encoder and its projection, the optional reference-voice encoder, and the X-Codec.  Their outputs
# form one cross-attention memory ``[voice ; description ; lyrics]`` that every layer of the token
# model attends to, plus the musical controls (tempo, key) the token model adds to its input.
#
# Training-time condition dropout lives here too (:meth:`condition_memory`): a dropped description
# or lyrics becomes zeros with its mask kept, a dropped voice is masked out, and the musical
# controls drop with the description (and, with ``control_dropout_prob``, alone).  Classifier-free
# guidance subtracts exactly this null memory, so both models guide the same way.
#
# The mixin goes before ``PreTrainedModel`` in the bases; the model's config must carry the fields
# of :class:`~.configuration_songgen.SongConditioningConfig` and a ``decoder`` whose
# ``hidden_size`` is the memory width.


class SongConditioningMixin:
    """Description, lyrics and voice encoders, the codec, and the condition memory they make."""

    def _build_conditioning(self, config) -> None:
        """Create the encoders and the codec (call in ``__init__`` before the token model, so that
        parameter order, and with it every saved checkpoint, stays the same for both models)."""
        width = config.decoder.hidden_size
        self.text_encoder = AutoModelForTextEncoding.from_config(config.text_encoder)
        self.enc_to_dec_proj = nn.Linear(config.text_encoder.d_model, width)
        self.lyrics_encoder = SongGenLyricsEncoder(config.lyrics_encoder)
        self.lyrics_to_dec_proj = (
            nn.Linear(config.lyrics_encoder.hidden_size, width) if config.lyrics_encoder.use_encoder else None
        )
        self.voice_encoder = SongGenVoiceEncoder(config.voice_encoder) if config.voice_encoder is not None else None
        self.audio_encoder = AutoModel.from_config(config.audio_encoder)

    # ------------------------------------------------------------------ freezing
    def freeze_text_encoder(self) -> None:
        """The description encoder stays frozen in every SongGen stage."""
        self.text_encoder.requires_grad_(False)

    def freeze_audio_encoder(self) -> None:
        self.audio_encoder.requires_grad_(False)

    def freeze_conditioning(self) -> None:
        """Stage 2a: only the token model trains (T5, projections, lyrics and voice paths frozen)."""
        for module in (
            self.text_encoder,
            self.enc_to_dec_proj,
            self.lyrics_encoder,
            self.lyrics_to_dec_proj,
            self.voice_encoder,
        ):
            if module is not None:
                module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        # frozen encoders never run dropout
        self.text_encoder.eval()
        self.audio_encoder.eval()
        return self

    def get_input_embeddings(self):
        # as MusicGen: the description encoder's token embedding (transformers' quantizers ask for it)
        return self.text_encoder.get_input_embeddings()

    # ------------------------------------------------------------------ memory
    def encode_condition_segments(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        project_description: bool = True,
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Run every conditioning encoder once: ``{name: (states (B, n, hidden), mask (B, n))}``
        in memory order ``voice`` (if given), ``description``, ``lyrics``."""
        if input_ids is None or lyrics_input_ids is None:
            raise ValueError(
                "SongGen needs a description (input_ids) and lyrics (lyrics_input_ids); use the processor."
            )
        batch = input_ids.shape[0]
        if lyrics_input_ids.shape[0] != batch:
            raise ValueError(f"{batch} descriptions but {lyrics_input_ids.shape[0]} lyrics; pass one of each per song.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if lyrics_attention_mask is None:
            lyrics_attention_mask = torch.ones_like(lyrics_input_ids)
        if lyrics_input_ids.numel() and lyrics_input_ids.max() >= self.config.lyrics_encoder.vocab_size:
            raise ValueError(
                f"Lyrics token ids reach {int(lyrics_input_ids.max())} but the lyrics vocabulary has "
                f"{self.config.lyrics_encoder.vocab_size} entries; use the model's own lyrics tokenizer."
            )
        frozen = not any(p.requires_grad for p in self.text_encoder.parameters())
        with torch.no_grad() if frozen else contextlib.nullcontext():
            description = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        description = description * attention_mask.unsqueeze(-1).to(description.dtype)
        if project_description:
            description = self.enc_to_dec_proj(description)
        lyrics, lyrics_attention_mask = self.lyrics_encoder(lyrics_input_ids, lyrics_attention_mask)
        if self.lyrics_to_dec_proj is not None:
            lyrics = self.lyrics_to_dec_proj(lyrics)
        segments = {}
        if voice_values is not None:
            if self.voice_encoder is None:
                raise ValueError("This model has no voice encoder (config.use_voice_encoder=False); drop voice_values.")
            voice, voice_mask = self.voice_encoder(voice_values, voice_attention_mask)
            segments["voice"] = (voice.to(description.dtype), voice_mask.to(torch.long))
        segments["description"] = (description, attention_mask.to(torch.long))
        segments["lyrics"] = (lyrics.to(description.dtype), lyrics_attention_mask.to(torch.long))
        return segments

    @staticmethod
    def fuse_condition_segments(
        segments: dict[str, tuple[torch.Tensor, torch.Tensor]], drop: dict[str, torch.Tensor | bool] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate segments into the cross-attention memory ``(B, M, hidden)`` and mask ``(B, M)``.

        ``drop[name]`` (a bool or per-example bools) replaces a condition by its null version:
        description and lyrics become zeros with their mask kept (what classifier-free guidance
        subtracts), a voice is masked out, which is how the reference represents "no voice".
        """
        states, masks = [], []
        for name, (hidden, mask) in segments.items():
            dropped = (drop or {}).get(name)
            if dropped is not None and dropped is not False:
                keep = ~torch.as_tensor(dropped, device=hidden.device).expand(hidden.shape[0])
                if name == "voice":
                    mask = mask * keep.view(-1, 1).to(mask.dtype)
                else:
                    hidden = hidden * keep.view(-1, 1, 1).to(hidden.dtype)
            states.append(hidden)
            masks.append(mask)
        return torch.cat(states, dim=1), torch.cat(masks, dim=1)

    def encode_conditions(self, *args, drop: dict[str, torch.Tensor | bool] | None = None, **kwargs):
        """The cross-attention memory and mask: :meth:`encode_condition_segments` then
        :meth:`fuse_condition_segments`."""
        return self.fuse_condition_segments(self.encode_condition_segments(*args, **kwargs), drop)

    def _condition_drop_mask(self, probability: float, batch: int, device) -> torch.Tensor | None:
        if not self.training or probability <= 0:
            return None
        return torch.rand(batch, device=device) < probability

    def training_condition_drops(self, batch: int, device) -> dict[str, torch.Tensor]:
        """Per-example condition dropout for one training batch (empty outside training).

        Each condition drops with its own probability, and all of them together with
        ``joint_dropout_prob``: guidance subtracts that fully-null case, which independent drops
        alone make rare.  ``"controls"`` (the musical controls alone, ``control_dropout_prob``) is
        the case control guidance subtracts; the controls also drop with the description."""
        drop = {
            "description": self._condition_drop_mask(self.config.description_dropout_prob, batch, device),
            "lyrics": self._condition_drop_mask(self.config.lyrics_dropout_prob, batch, device),
            "voice": self._condition_drop_mask(self.config.voice_dropout_prob, batch, device),
        }
        joint = self._condition_drop_mask(self.config.joint_dropout_prob, batch, device)
        if joint is not None:
            drop = {name: joint if mask is None else mask | joint for name, mask in drop.items()}
        # drawn last, so the other masks take the same random numbers whether control dropout is on or off
        drop["controls"] = self._condition_drop_mask(self.config.control_dropout_prob, batch, device)
        # after every other mask, and only when asked: a run without it draws the same numbers as before it existed
        probs = control_each_dropout_probs(getattr(self.config, "control_each_dropout_prob", 0.0))
        if self.training and any(probs.values()):
            used = [name for name, switch in CONTROL_SWITCHES.items() if getattr(self.config.decoder, switch, False)]
            if used:
                # one draw per used control whatever its probability, so one number and the same number per
                # control draw alike; a control at 0 keeps no mask
                rows = torch.rand(len(used), batch, device=device)
                drop.update(
                    {f"control_{name}": rows[row] < probs[name] for row, name in enumerate(used) if probs[name] > 0}
                )
        return {name: mask for name, mask in drop.items() if mask is not None}

    @staticmethod
    def _controls_dropped(drop: dict) -> torch.Tensor | dict[str, torch.Tensor] | None:
        """Rows whose musical controls are unknown: dropped alone or with the description (one mask for every
        control), and with ``control_each_dropout_prob`` each control on its own (``{control: mask}``)."""
        together = _either(drop.get("description"), drop.get("controls"))
        if not any(f"control_{name}" in drop for name in CONTROL_SWITCHES):
            return together
        return {name: _either(drop.get(f"control_{name}"), together) for name in CONTROL_SWITCHES}

    def condition_memory(
        self,
        input_ids,
        attention_mask,
        lyrics_input_ids,
        lyrics_attention_mask,
        voice_values,
        voice_attention_mask,
        tempo_bpm=None,
        music_key_ids=None,
        arrangement_ids=None,
        encoder_outputs=None,
        encoder_attention_mask=None,
        tempo_start_beats=None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The memory, its mask and the musical controls for one forward pass, with training-time
        condition dropout applied (the controls drop with the description, and alone).

        ``encoder_outputs`` (a ``BaseModelOutput`` or tuple): a precomputed memory instead of the encoders, its
        mask ``encoder_attention_mask`` or else ``attention_mask`` (generation passes the memory's mask as
        ``attention_mask``, transformers' encoder-decoder convention); its controls are never dropped.
        ``tempo_start_beats`` ``(batch,)``: the beats the tempo control has counted at the first frame (a later
        window of a long song continues the song's beat; ``None``: 0)."""
        if encoder_outputs is not None:
            memory = (
                encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else encoder_outputs.last_hidden_state
            )
            memory_mask = encoder_attention_mask if encoder_attention_mask is not None else attention_mask
            controls = self._musical_control_inputs(
                tempo_bpm, music_key_ids, memory.shape[0], None, arrangement_ids, tempo_start_beats
            )
            return memory, memory_mask, controls
        batch = input_ids.shape[0] if input_ids is not None else 0
        device = input_ids.device if input_ids is not None else None
        drop = self.training_condition_drops(batch, device)
        memory, memory_mask = self.encode_conditions(
            input_ids,
            attention_mask,
            lyrics_input_ids,
            lyrics_attention_mask,
            voice_values,
            voice_attention_mask,
            drop=drop,
        )
        controls = self._musical_control_inputs(
            tempo_bpm, music_key_ids, memory.shape[0], self._controls_dropped(drop), arrangement_ids, tempo_start_beats
        )
        return memory, memory_mask, controls

    def _musical_control_inputs(
        self,
        tempo_bpm,
        music_key_ids,
        batch: int,
        dropped: torch.Tensor | None,
        arrangement_ids=None,
        tempo_start_beats=None,
    ) -> dict:
        """Validated controls as the token model takes them; songs whose description is dropped lose them too.

        Generation passes the same controls at every step: outside training the result is kept for the
        last values seen (compared by value, a few microseconds), so a step does not convert and validate
        them again (~0.8 ms of a ~10 ms step on a 2-core CPU).
        """
        memo_key = None
        if dropped is None and not torch.is_grad_enabled() and not torch.compiler.is_compiling():
            memo_key = _controls_key(batch, self.device, (tempo_bpm, music_key_ids, arrangement_ids, tempo_start_beats))
            memo = self.__dict__.get("_controls_memo")
            if memo_key is not None and memo is not None and memo[0] == memo_key:
                return dict(memo[1])
        controls = self._convert_controls(tempo_bpm, music_key_ids, batch, dropped, arrangement_ids, tempo_start_beats)
        if memo_key is not None:
            self.__dict__["_controls_memo"] = (memo_key, dict(controls))
        return controls

    def _convert_controls(
        self, tempo_bpm, music_key_ids, batch: int, dropped, arrangement_ids, tempo_start_beats=None
    ) -> dict:
        decoder_config = self.config.decoder
        if tempo_start_beats is not None:
            tempo_start_beats = torch.as_tensor(tempo_start_beats, dtype=torch.float64, device=self.device).reshape(-1)
            if not torch.compiler.is_compiling():
                check_tempo_start(tempo_start_beats, batch, decoder_config)
        if tempo_bpm is not None:
            tempo_bpm = torch.as_tensor(tempo_bpm, dtype=torch.float32, device=self.device).reshape(-1)
        if music_key_ids is not None:
            music_key_ids = torch.as_tensor(music_key_ids, dtype=torch.long, device=self.device).reshape(-1)
        if arrangement_ids is not None:
            arrangement_ids = torch.as_tensor(arrangement_ids, dtype=torch.long, device=self.device).reshape(-1)
        if not torch.compiler.is_compiling():  # the checks read values: a graph break in a compiled step
            check_controls(tempo_bpm, music_key_ids, batch, decoder_config, arrangement_ids)
        controls = {}
        # one mask for every control, or (control_each_dropout_prob) a mask per control
        dropped_of = dropped if isinstance(dropped, dict) else dict.fromkeys(CONTROL_SWITCHES, dropped)
        if tempo_bpm is not None:
            if (dropped := dropped_of.get("tempo")) is not None:
                tempo_bpm = torch.where(dropped.to(tempo_bpm.device), float("nan"), tempo_bpm)
            tempo_bpm = torch.where(tempo_is_known(tempo_bpm), tempo_bpm, float("nan"))
            # beats per decoder position: a position holds S frames in a multi-stream layout, half a frame
            # when two tracks interleave, so the metronome keeps the music's beat whatever the pattern
            pattern = getattr(self, "pattern", None)
            frames_per_position = pattern.frames_per_position if pattern is not None else 1.0
            controls["tempo_beats_per_frame"] = tempo_bpm * frames_per_position / (60.0 * codec_frame_rate(self.config))
            if tempo_start_beats is not None:
                controls["tempo_start_beats"] = tempo_start_beats
        if music_key_ids is not None:
            if (dropped := dropped_of.get("key")) is not None:
                music_key_ids = torch.where(dropped.to(music_key_ids.device), UNKNOWN_KEY, music_key_ids)
            controls["music_key_ids"] = music_key_ids
        if arrangement_ids is not None:
            if (dropped := dropped_of.get("arrangement")) is not None:
                arrangement_ids = torch.where(dropped.to(arrangement_ids.device), UNKNOWN_ARRANGEMENT, arrangement_ids)
            controls["arrangement_ids"] = arrangement_ids
        return controls


def _either(first: torch.Tensor | None, second: torch.Tensor | None) -> torch.Tensor | None:
    """Rows dropped by either mask (``None``: no mask)."""
    if first is None or second is None:
        return second if first is None else first
    return first | second


def _controls_key(batch: int, device, controls: tuple) -> tuple | None:
    """What identifies the controls' values (``None``: not tensors, not memoised)."""
    key = [batch, device]
    for value in controls:
        if value is None:
            key.append(None)
        elif isinstance(value, torch.Tensor) and value.device.type == "cpu":
            key.append((value.dtype, tuple(value.shape), tensor_bytes(value)))
        else:  # lists, or tensors on an accelerator (reading them would be a device sync each step)
            return None
    return tuple(key)


__all__ = [
    "add_musical_controls",
    "check_controls",
    "check_tempo_start",
    "codec_frame_rate",
    "init_lyrics_encoder_weights",
    "KEY_FEATURES",
    "key_pitch_class_features",
    "relative_shift",
    "relative_sinusoid_table",
    "SongConditioningMixin",
    "SongGenLyricsEncoder",
    "SongGenLyricsEncoderLayer",
    "SongGenLyricsFeedForward",
    "SongGenLyricsSelfAttention",
    "SongGenMusicalControls",
    "SongGenRelativePositionalEncoding",
    "SongGenVoiceEncoder",
    "tempo_is_known",
    "VoiceEncoderOutput",
]
