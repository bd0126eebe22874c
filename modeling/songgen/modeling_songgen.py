"""SongGen: a single-stage autoregressive text-to-song model over X-Codec tokens.

``SongGenForCausalLM`` is the decoder with its heads; ``SongGenForConditionalGeneration`` adds
the conditioning encoders (description T5, lyrics, optional reference voice) and the codec.
All encoders run once per call, producing one cross-attention memory
``[voice ; description ; lyrics]`` that every decoder layer attends to.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForTextEncoding, HubertConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from songgen_hf.modeling.patterns import VOCAL_HEAD_PATTERNS
from songgen_hf.modeling.songgen.configuration_songgen import (
    MINOR_OFFSET,
    NUM_ARRANGEMENTS,
    NUM_KEYS,
    UNKNOWN_ARRANGEMENT,
    UNKNOWN_KEY,
    SongConditioningConfig,
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenLyricsEncoderConfig,
    SongGenSingerConfig,
    SongGenVoiceEncoderConfig,
)
from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationMixin
from songgen_hf.modeling.songgen.loss import check_labels, combine_row_losses, masked_row_cross_entropy
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_KWARG, accepts_past_key_values, cache_field, cache_of
from songgen_hf.modeling.songgen.quantization import Int8Linear, int8_matmul

# ----------------------------------------------------------------------------------------------------
# One matmul (or one lookup) for all token rows at inference time.
#
# SongGen keeps one embedding table and one LM head per token row (8 for mixed/mixed pro, 16
# for the parallel patterns), which is the checkpoint layout and what training, PEFT and
# conversion see.  A decoding step on CPU is a few milliseconds of mostly small calls, so eight
# ``(batch, H) x (H, V)`` head matmuls cost noticeably more than one ``(batch, H) x (H, 8V)``,
# and eight lookups-and-adds more than one lookup into the stacked tables and a sum.
#
# :class:`FusedRowWeights` keeps those stacked copies.  A copy is rebuilt whenever any source
# tensor is replaced (``.to()``, ``load_state_dict`` with ``assign``) or modified in place
# (optimizer steps, ``load_state_dict``), which the source's storage pointer and autograd
# version counter reveal; the fast paths only run without autograd, so training never sees them.
# Inside :func:`frozen_row_weights` (a ``generate()`` call) those checks run once per copy instead
# of at every decoding step: reading a hundred tensors' pointers and versions and the modules'
# kinds each step cost about 0.3 ms of a 10 ms CPU step, and no decoding step changes a weight.


def tensor_bytes(value: torch.Tensor) -> bytes:
    """A CPU tensor's values as bytes, to key a memo by them (any dtype, bfloat16 included).  A slice such as
    ``tempo_bpm[:, 0]`` keeps its parent's strides, which a byte view cannot follow: it is read from a dense copy."""
    flat = value.detach().reshape(-1)
    if flat.stride(-1) != 1:  # read every decoding step: copy only what a byte view cannot read in place
        flat = flat.clone(memory_format=torch.contiguous_format)
    return flat.view(torch.uint8).numpy().tobytes()


def weight_signature(tensors: Sequence[torch.Tensor]) -> tuple:
    """What identifies tensors' current values without reading them: a copy made from them is stale once this
    changes."""
    # Inference tensors have no version counter; they cannot be modified outside inference mode.
    return tuple((t.data_ptr(), -1 if t.is_inference() else t._version, t.dtype, t.device, t.shape) for t in tensors)


class FusedRowWeights:
    """Stacked copies of per-row weights, rebuilt only when a source changes."""

    def __init__(self):
        self._entries: dict[str, tuple[tuple, object]] = {}
        self._frozen = 0  # how many generate() calls (threads of a Space, say) are inside a freeze
        self._freeze_lock = threading.Lock()
        self._checked: set[str] = set()  # keys whose sources were checked in the current freeze
        self._fusable: dict[tuple, bool] = {}  # can_fuse answers remembered in the current freeze

    def __getstate__(self) -> dict:
        return {}  # a copied or pickled model starts with no copies and no freeze; they are rebuilt on use

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def get(self, key: str, tensors: Sequence[torch.Tensor], build: Callable[[list[torch.Tensor]], object]):
        if self._frozen and key in self._checked:
            return self._entries[key][1]
        signature = weight_signature(tensors)
        entry = self._entries.get(key)
        if entry is None or entry[0] != signature:
            with torch.no_grad():
                entry = (signature, build([t.detach() for t in tensors]))
            self._entries[key] = entry
        if self._frozen:
            self._checked.add(key)
        return entry[1]

    def fusable(self, modules: nn.ModuleList, kind: type) -> bool:
        """:func:`can_fuse`, with the modules' part of the answer remembered while frozen."""
        if not self._frozen:
            return can_fuse(modules, kind)
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return False
        key = (id(modules), kind)
        answer = self._fusable.get(key)
        if answer is None:
            answer = self._fusable[key] = can_fuse(modules, kind)
        return answer

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """While inside, the sources are trusted not to change: each copy is checked once, on first use."""
        with self._freeze_lock:
            self._frozen += 1
        try:
            yield
        finally:
            with self._freeze_lock:
                self._frozen -= 1
                if not self._frozen:
                    self._checked.clear()
                    self._fusable.clear()

    def clear(self) -> None:
        self._entries.clear()
        self._checked.clear()
        self._fusable.clear()


@contextlib.contextmanager
def frozen_row_weights(model: nn.Module) -> Iterator[None]:
    """Freeze every :class:`FusedRowWeights` under ``model`` (see :meth:`FusedRowWeights.frozen`) for one
    ``generate()`` call: its decoding steps do not change weights, hooks or adapters."""
    with contextlib.ExitStack() as stack:
        for module in model.modules():
            for value in module.__dict__.values():
                if isinstance(value, FusedRowWeights):
                    stack.enter_context(value.frozen())
        yield


_PLAIN = (torch.Tensor, nn.Parameter)


def can_fuse(modules: nn.ModuleList, kind: type) -> bool:
    """Plain, bias-free modules of one kind only: adapters, quantised or hooked layers keep their own path.

    Never while ``torch.compile`` traces (transformers compiles the decoding step on CUDA with a
    fullgraph): the copy bookkeeping is Python state the compiler cannot follow, and the
    compiled graph fuses the per-row calls by itself.
    """
    if torch.is_grad_enabled() or torch.compiler.is_compiling():
        return False
    # Runs every decoding step for every row (48-64 modules): the module dicts are read directly, since
    # ``parameters()`` / ``buffers()`` generators cost more than the fused matmul saves.
    for m in modules:
        if type(m) is not kind or m._forward_hooks or m._forward_pre_hooks:
            return False
        if m._parameters.get("bias") is not None or m.__dict__.get("max_norm") is not None:
            return False
        # a quantised weight (torchao's int8 tensor subclass) has its own kernel: stacking would dequantise it
        for tensors in (m._parameters, m._buffers):
            for t in tensors.values():
                if t is not None and type(t) not in _PLAIN:
                    return False
    return True


def fused_logits(cache: FusedRowWeights, key: str, hidden_states: torch.Tensor, heads: nn.ModuleList) -> torch.Tensor:
    """``(B, L, H)`` -> ``(B, rows, L, V)``, what stacking each head's output gives (float32 heads: to
    rounding; :class:`Int8Linear` heads: exactly, one packed-kernel call for all rows)."""
    batch, length, hidden = hidden_states.shape
    if type(heads[0]) is Int8Linear:
        rows = len(heads)
        values, scale = cache.get(  # one signature check for both stacks
            key,
            [h.weight_int8 for h in heads] + [h.weight_scale for h in heads],
            lambda ts: (torch.cat(ts[:rows], dim=0), torch.cat(ts[rows:], dim=0)),
        )
        logits = int8_matmul(hidden_states.reshape(-1, hidden), values, scale)  # (B * L, rows * V)
        return logits.reshape(batch, length, len(heads), -1).transpose(1, 2)
    weight = cache.get(key, [h.weight for h in heads], lambda ws: torch.cat(ws, dim=0))  # (rows * V, H)
    # (rows * V, H) @ (H, B * L): the weight streamed row by row, as it is stored.  A decoding step is a
    # matrix-vector product bound by reading the weight; on a 2-core CPU this order reads the 32 heads of a
    # dual-track model (36 MB in float32) in 3.3 ms where (B * L, H) @ (H, rows * V) took 4.2 ms.
    logits = (weight @ hidden_states.reshape(-1, hidden).to(weight.dtype).t()).t()  # (B * L, rows * V)
    return logits.reshape(batch, length, len(heads), -1).transpose(1, 2)


def fused_embedding_sum(
    cache: FusedRowWeights, key: str, input_ids: torch.Tensor, tables: nn.ModuleList
) -> torch.Tensor:
    """``(B, rows, L)`` ids -> ``(B, L, H)``: the sum over rows of each row's embedding."""
    stacked = cache.get(key, [t.weight for t in tables], lambda ws: torch.cat(ws, dim=0))
    vocab = tables[0].num_embeddings
    offsets = torch.arange(len(tables), device=input_ids.device).view(1, -1, 1) * vocab
    return nn.functional.embedding(input_ids + offsets, stacked).sum(dim=1)


# Semitones above the tonic that each mode's scale holds (natural minor).
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
KEY_FEATURES = 24


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


def add_musical_controls(
    hidden: torch.Tensor,
    musical_controls: SongGenMusicalControls | None,
    position_ids: torch.Tensor,
    tempo_beats_per_frame: torch.Tensor | None = None,
    music_key_ids: torch.Tensor | None = None,
    arrangement_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """``hidden`` ``(B, L, width)`` plus the musical controls' input at ``position_ids``, as SongGen's and ResGen's
    token models take them; a model built without controls refuses them rather than ignoring them."""
    if musical_controls is not None:
        return hidden + musical_controls(
            position_ids,
            hidden.shape[0],
            tempo_beats_per_frame,
            music_key_ids,
            dtype=hidden.dtype,
            arrangement_ids=arrangement_ids,
        )
    if tempo_beats_per_frame is not None or music_key_ids is not None or arrangement_ids is not None:
        raise ValueError("This model has no musical controls (use_tempo/key/arrangement_control are off).")
    return hidden


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
# Weights of the official checkpoints are renamed by [`convert_official_lyrics_encoder_state_dict`].


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


# ---------------------------------------------------------------------------------------------
# official checkpoint names
# ---------------------------------------------------------------------------------------------

_OFFICIAL_LAYER = r"^lyrics_encoder\.encoders\.(\d+)\."


def official_lyrics_encoder_key_map() -> list[tuple[str, str]]:
    """``(official regex, replacement)`` pairs, official SongGen names -> [`SongGenLyricsEncoder`] names.

    Replacements are relative to the encoder module (prepend the parent's attribute name,
    e.g. ``"lyrics_encoder."``).  Apply with ``re.sub``; at most one pattern matches a key.
    ``lyrics_to_dec_proj.*`` is not listed: it belongs to the parent model.
    """
    return [
        (r"^embed_prompts\.weight$", "embed_tokens.weight"),
        (r"^lyrics_encoder\.embed\.out\.0\.(weight|bias)$", r"input_proj.\1"),
        (r"^lyrics_encoder\.embed\.out\.1\.(weight|bias)$", r"input_layer_norm.\1"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_q\.(weight|bias)$", r"layers.\1.self_attn.q_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_k\.(weight|bias)$", r"layers.\1.self_attn.k_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_v\.(weight|bias)$", r"layers.\1.self_attn.v_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_out\.(weight|bias)$", r"layers.\1.self_attn.out_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_pos\.weight$", r"layers.\1.self_attn.pos_proj.weight"),
        (_OFFICIAL_LAYER + r"self_attn\.(pos_bias_u|pos_bias_v)$", r"layers.\1.self_attn.\2"),
        (_OFFICIAL_LAYER + r"feed_forward\.w_1\.(weight|bias)$", r"layers.\1.feed_forward.fc1.\2"),
        (_OFFICIAL_LAYER + r"feed_forward\.w_2\.(weight|bias)$", r"layers.\1.feed_forward.fc2.\2"),
        (_OFFICIAL_LAYER + r"norm_mha\.(weight|bias)$", r"layers.\1.attn_layer_norm.\2"),
        (_OFFICIAL_LAYER + r"norm_ff\.(weight|bias)$", r"layers.\1.ffn_layer_norm.\2"),
        (r"^lyrics_encoder\.after_norm\.(weight|bias)$", r"final_layer_norm.\1"),
    ]


def convert_official_lyrics_encoder_state_dict(
    state_dict: dict[str, torch.Tensor],
    prefix: str = "",
    include_encoder: bool = True,
) -> dict[str, torch.Tensor]:
    """Pick the lyrics-path tensors out of an official SongGen state dict and rename them.

    Args:
        state_dict: official tensors (the whole model's or just the lyrics path's).  Keys
            that are not ``embed_prompts.weight`` or under ``lyrics_encoder.`` are ignored.
        prefix: prepended to every new name, e.g. ``"lyrics_encoder."`` for the parent.
        include_encoder: ``False`` keeps only the embedding (for ``use_encoder=False``).

    Raises:
        KeyError: a key under ``lyrics_encoder.`` has no mapping (e.g. a checkpoint trained
            with the convolution module or macaron FFN, which this port does not build).
    """
    patterns = [(re.compile(pattern), replacement) for pattern, replacement in official_lyrics_encoder_key_map()]
    converted = {}
    for name, tensor in state_dict.items():
        if name != "embed_prompts.weight" and not name.startswith("lyrics_encoder."):
            continue
        if name.startswith("lyrics_encoder.") and not include_encoder:
            continue
        for pattern, replacement in patterns:
            new_name, matched = pattern.subn(replacement, name)
            if matched:
                converted[prefix + new_name] = tensor
                break
        else:
            raise KeyError(f"no mapping for official lyrics-encoder key {name!r}")
    return converted


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
# Official -> package parameter names (``official_key_to_voice_encoder_key``):
#
# ==============================  =====================
# SongGen checkpoint              ``SongGenVoiceEncoder``
# ==============================  =====================
# ``mert_layer_agg.*``            ``layer_aggregation.*``
# ``audio_mert_to_dec_proj.*``    ``projection.*``
# ``mert_model.<hubert key>``     ``audio_encoder.<hubert key>``
# ==============================  =====================
#
# ``MERTModel`` keys equal ``HubertModel`` keys (read in ``modeling_MERT.py``), except that a
# checkpoint written by torch < 2.1 stores the positional conv's weight norm as
# ``weight_g``/``weight_v``; those become ``parametrizations.weight.original0``/``original1``.
# Whether SongGen's safetensors really embed ``mert_model.*`` is unverified (spec §9).  If they
# do not, a local copy of ``m-a-p/MERT-v1-330M`` loads straight into the encoder with
# ``HubertModel.from_pretrained(mert_dir, config=mert_v1_330m_config())`` (checked offline on a
# MERT-layout folder: ``model_type: "mert_model"``, ``pytorch_model.bin`` with ``weight_g``/``weight_v``;
# no missing or unexpected keys), or via ``convert_mert_state_dict`` for a raw state dict.

OFFICIAL_PREFIX_MAP: dict[str, str] = {
    "mert_layer_agg.": "layer_aggregation.",
    "audio_mert_to_dec_proj.": "projection.",
    "mert_model.": "audio_encoder.",
}

# Legacy ``torch.nn.utils.weight_norm`` names -> the parametrization names current torch uses.
_WEIGHT_NORM_RENAMES: dict[str, str] = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


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


# ---------------------------------------------------------------------- checkpoint keys
def official_key_to_voice_encoder_key(key: str) -> str | None:
    """Map one SongGen checkpoint key to a ``SongGenVoiceEncoder`` key (``None`` if not ours)."""
    for source, target in OFFICIAL_PREFIX_MAP.items():
        if key.startswith(source):
            mapped = target + key[len(source) :]
            if target == "audio_encoder.":
                for old, new in _WEIGHT_NORM_RENAMES.items():
                    if mapped.endswith(old):
                        mapped = mapped[: -len(old)] + new
            return mapped
    return None


def convert_official_voice_state_dict(
    state_dict: Mapping[str, torch.Tensor], target_prefix: str = "", source_prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Pick the voice-path tensors out of a SongGen checkpoint and rename them.

    Args:
        state_dict: the full official state dict (other keys are ignored).
        source_prefix: prefix in front of the official names, if any (e.g. ``"model."``).
        target_prefix: prefix of the voice encoder inside the caller's model
            (e.g. ``"voice_encoder."``).

    Returns:
        ``{target_prefix + our_key: tensor}``.  Raises ``ValueError`` when two official keys
        collide (e.g. both ``weight_g`` and ``parametrizations...original0``).
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if not key.startswith(source_prefix):
            continue
        mapped = official_key_to_voice_encoder_key(key[len(source_prefix) :])
        if mapped is None:
            continue
        mapped = target_prefix + mapped
        if mapped in converted:
            raise ValueError(f"Two checkpoint keys map to {mapped!r}; the checkpoint mixes weight-norm layouts.")
        converted[mapped] = tensor
    return converted


def convert_mert_state_dict(state_dict: Mapping[str, torch.Tensor], target_prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename a stand-alone ``m-a-p/MERT-v1-330M`` state dict (``MERTModel`` keys) for ``audio_encoder``."""
    prefixed = {"mert_model." + key: value for key, value in state_dict.items()}
    return convert_official_voice_state_dict(prefixed, target_prefix=target_prefix)


# ---------------------------------------------------------------------- test helper
def tiny_voice_encoder_config(output_size: int = 32, **overrides) -> SongGenVoiceEncoderConfig:
    """A MERT-shaped but tiny config for tests: hidden 32, 2 layers, 16 conv channels.

    Keeps MERT's layout (group-norm front end, strides (5, 2, 2, 2, 2, 2, 2) -> hop 320 ->
    75 Hz at 24 kHz, pre-LN encoder, weight-normed conv positions, ``masked_spec_embed``).
    """
    encoder = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout=0.0,
        activation_dropout=0.0,
        attention_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
        layerdrop=0.0,
        feat_extract_norm="group",
        conv_dim=[16] * 7,
        conv_stride=[5, 2, 2, 2, 2, 2, 2],
        conv_kernel=[10, 3, 3, 3, 3, 2, 2],
        conv_bias=False,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        mask_time_prob=0.075,
    )
    return SongGenVoiceEncoderConfig(audio_encoder_config=encoder, output_size=output_size, **overrides)


# ----------------------------------------------------------------------------------------------------
# Give a trained SongGen mixed pro's training-only vocal heads, or take them away.
#
# The vocal heads (``AuxiliaryVocalTargets`` in :mod:`songgen_hf.modeling.patterns`) only shape training: they make
# the decoder carry the voice in the state the mix heads read.  So a model trained without them can get them for a
# further stage (``mixed`` → ``mixed_pro``, ``mixed_stream2`` → ``mixed_pro_stream2``), and a
# release can drop them: generation never reads them, and at 2K heads of ``hidden × vocab`` they
# are a large share of a small model.
#
# New vocal heads start as copies of the mix heads of the same rows: both predict codes of the
# same codec's codebooks, so the copy starts near a sensible answer, and the first steps do not
# send the large gradients of a random head into the decoder the model already trained.

_WITHOUT_VOCAL_HEADS = {with_heads: without for without, with_heads in VOCAL_HEAD_PATTERNS.items()}


def with_vocal_heads(model):
    """A copy of ``model`` (a SongGen) whose pattern has vocal heads, initialised from its mix heads.

    A model that already has them is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern in _WITHOUT_VOCAL_HEADS:
        return model
    if pattern not in VOCAL_HEAD_PATTERNS:
        raise ValueError(
            f"a {pattern!r} model cannot get vocal heads: they exist for "
            f"{', '.join(f'{a} -> {b}' for a, b in VOCAL_HEAD_PATTERNS.items())}."
        )
    new = _rebuilt(model, VOCAL_HEAD_PATTERNS[pattern])
    with torch.no_grad():
        for vocal, mix in zip(new.decoder.vocal_lm_heads, new.decoder.lm_heads, strict=True):
            vocal.weight.copy_(mix.weight)
    return new


def without_vocal_heads(model):
    """A copy of ``model`` without vocal heads (``mixed_pro`` → ``mixed``, ``mixed_pro_stream2`` →
    ``mixed_stream2``); it generates exactly the same songs.  A model without them is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern not in _WITHOUT_VOCAL_HEADS:
        return model
    return _rebuilt(model, _WITHOUT_VOCAL_HEADS[pattern])


def _rebuilt(model, track_pattern: str):
    return rebuilt_with_pattern(model, track_pattern, may_change=lambda key: key.startswith("decoder.vocal_lm_heads."))


def rebuilt_with_pattern(model, track_pattern: str, state: dict | None = None, may_change=lambda key: False):
    """A copy of ``model`` with another ``track_pattern``, its weights loaded from ``state`` (default: the model's).

    Only parameters for which ``may_change(name)`` holds may be new or left over (the rows or heads the
    change adds or removes); anything else would mean the two layouts disagree, and is an error."""
    config = copy.deepcopy(model.config)
    config.decoder.track_pattern = track_pattern
    new = type(model)(config).to(dtype=model.dtype, device=model.device)
    missing, unexpected = new.load_state_dict(model.state_dict() if state is None else state, strict=False)
    moved = [key for key in (*missing, *unexpected) if not may_change(key)]
    if moved:
        raise RuntimeError(f"changing {model.config.decoder.track_pattern!r} to {track_pattern!r} moved {moved[:3]}")
    new.generation_config = model.generation_config
    new.train(model.training)
    return new


# ----------------------------------------------------------------------------------------------------
# SongGen's decoder: a pre-LN transformer over summed codebook embeddings with cross-attention.
#
# Each step reads one token per row (K codebooks, or 2K for the parallel patterns), sums the
# rows' embeddings (averaged over tracks for parallel), adds sinusoidal positions, and predicts
# one token per row with one head per row.  Cross-attention reads a single memory, the
# concatenation ``[voice ; description ; lyrics]``.
#
# Shapes follow transformers' MusicGen so ``GenerationMixin`` can drive it: token ids are
# ``(batch * rows, length)`` (a ``(batch, rows, length)`` tensor is accepted too), logits are
# ``(batch * rows, length, vocab)``.  Caches are transformers' ``EncoderDecoderCache`` over
# ``DynamicCache``, ``StaticCache`` or SongGen's preallocated cache; positions come from
# ``position_ids`` (default: the cache's length), so a static cache with fixed-shape masks works
# unchanged.
#
# A decoding step with a static or preallocated cache traces under ``torch.compile`` without a
# graph break: nothing in it reads a tensor's value into Python.  The checks that would (token ids
# in range, positions inside the table) run in eager mode only, and the position table's size is
# decided from Python ints (the cache's length or capacity), never from ``positions.max()``.


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """MusicGen's sinusoids: ``[cos(p * f_i), sin(p * f_i)]`` with f_i = 10000^(-i / (dim/2 - 1))."""
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1) * frequencies.unsqueeze(0)
    table = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    return table


class SongGenSinusoidalPositions(nn.Module):
    """Sinusoidal position embeddings, recomputed (not stored) and grown when needed."""

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("weights", sinusoidal_table(num_positions, dim), persistent=False)

    def reset(self) -> None:
        self.weights = sinusoidal_table(self.weights.shape[0], self.dim).to(self.weights.device)

    def ensure(self, num_positions: int) -> None:
        """Grow the table to hold positions ``0 .. num_positions - 1`` (a Python int: no device sync)."""
        if num_positions > self.weights.shape[0]:
            self.weights = sinusoidal_table(num_positions, self.dim).to(self.weights.device)

    @torch.no_grad()
    def forward(self, positions: torch.Tensor, num_positions: int | None = None) -> torch.Tensor:
        """``num_positions``: an upper bound of ``positions`` + 1 known without reading them (the decoder
        passes the cache's length or capacity).  Without it the positions are read, in eager mode only:
        under ``torch.compile`` that read would break the graph, and the table already holds the
        config's ``max_position_embeddings`` positions."""
        if num_positions is None and positions.numel() and not torch.compiler.is_compiling():
            num_positions = int(positions.max()) + 1
        if num_positions is not None:
            self.ensure(num_positions)
        return self.weights.index_select(0, positions.reshape(-1)).view(*positions.shape, self.dim)


@torch.compiler.assume_constant_result
def codec_frame_rate(config) -> float:
    """A SongGen config's codec frame rate (frames per second), a constant to ``torch.compile``.

    The codec config computes it with numpy, which a traced step would turn into a tensor and read
    back (a graph break); the value never changes, so the compiler takes it as a constant."""
    return float(config.frame_rate)


def eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class SongGenAttention(nn.Module):
    """Bias-free multi-head attention; self-attention is causal, cross-attention reuses its K/V."""

    def __init__(self, config: SongGenDecoderConfig, layer_idx: int, is_cross_attention: bool):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_cross_attention = is_cross_attention
        self.is_causal = not is_cross_attention
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        width = config.hidden_size
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.out_proj = nn.Linear(width, width, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, _ = hidden_states.shape
        query = self.q_proj(hidden_states).view(batch, length, -1, self.head_dim).transpose(1, 2)
        layer_cache = None
        if cache is not None:
            layer_cache = cache
            if isinstance(cache, EncoderDecoderCache):
                layer_cache = cache.cross_attention_cache if self.is_cross_attention else cache.self_attention_cache
        if self.is_cross_attention and layer_cache is not None and cache.is_updated.get(self.layer_idx):
            # the memory never changes during generation: its K/V were projected at the first step
            key, value = layer_cache.layers[self.layer_idx].keys, layer_cache.layers[self.layer_idx].values
        else:
            source = key_value_states if self.is_cross_attention else hidden_states
            key = self.k_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)
            value = self.v_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)
            if layer_cache is not None:
                key, value = layer_cache.update(key, value, self.layer_idx)
                if self.is_cross_attention:
                    cache.is_updated[self.layer_idx] = True
        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        return self.out_proj(output.reshape(batch, length, -1)), weights


class SongGenDecoderLayer(GradientCheckpointingLayer):
    """Pre-LN block: causal self-attention, cross-attention to the condition memory, GELU FFN."""

    def __init__(self, config: SongGenDecoderConfig, layer_idx: int):
        super().__init__()
        width = config.hidden_size
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout
        self.self_attn_layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.self_attn = SongGenAttention(config, layer_idx, is_cross_attention=False)
        self.encoder_attn_layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.encoder_attn = SongGenAttention(config, layer_idx, is_cross_attention=True)
        self.final_layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(width, config.ffn_dim, bias=False)
        self.fc2 = nn.Linear(config.ffn_dim, width, bias=False)
        self.activation_fn = ACT2FN[config.activation_function]

    def _residual(self, residual: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        if self.training:  # skipped, not called with training=False: a Python call per residual per decoding step
            update = nn.functional.dropout(update, p=self.dropout, training=True)
        return residual + update

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        layer_past: Cache | None = None,
        **kwargs,
    ) -> torch.Tensor:
        # `layer_past`: the one name for the cache that GradientCheckpointingLayer drops (under
        # checkpointing the recompute would write it twice) on transformers before and after 5.24
        update, _ = self.self_attn(
            self.self_attn_layer_norm(hidden_states),
            attention_mask=attention_mask,
            cache=layer_past,
            **kwargs,
        )
        hidden_states = self._residual(hidden_states, update)
        if encoder_hidden_states is not None:
            update, _ = self.encoder_attn(
                self.encoder_attn_layer_norm(hidden_states),
                key_value_states=encoder_hidden_states,
                attention_mask=encoder_attention_mask,
                cache=layer_past,
                **kwargs,
            )
            hidden_states = self._residual(hidden_states, update)
        update = self.activation_fn(self.fc1(self.final_layer_norm(hidden_states)))
        if self.training:
            update = nn.functional.dropout(update, p=self.activation_dropout, training=True)
        return self._residual(hidden_states, self.fc2(update))


class SongGenDecoderModel(nn.Module):
    """Embeddings, decoder layers and the final norm (no heads)."""

    def __init__(self, config: SongGenDecoderConfig):
        super().__init__()
        self.config = config
        self.num_rows = config.num_rows
        # Parallel patterns read two tracks' K rows each (multi-stream ones S streams' K rows); the
        # row groups' embeddings are averaged so the input scale matches single-track models.
        self.embedding_divisor = self.num_rows // config.num_codebooks
        self.embed_scale = math.sqrt(config.hidden_size) if config.scale_embedding else 1.0
        self.embed_tokens = nn.ModuleList(
            [nn.Embedding(config.vocab_size, config.hidden_size) for _ in range(self.num_rows)]
        )
        self.embed_positions = SongGenSinusoidalPositions(config.max_position_embeddings, config.hidden_size)
        self.musical_controls = SongGenMusicalControls(config) if config.has_musical_controls else None
        self.layers = nn.ModuleList([SongGenDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False
        self._row_fusion = FusedRowWeights()

    def embed(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """``(batch, rows, length)`` ids -> ``(batch, length, hidden)``."""
        if self._row_fusion.fusable(self.embed_tokens, nn.Embedding):
            summed = fused_embedding_sum(self._row_fusion, "embed_tokens", input_ids, self.embed_tokens)
        else:
            summed = sum(table(input_ids[:, row]) for row, table in enumerate(self.embed_tokens))
        return summed * (self.embed_scale / self.embedding_divisor)

    def _check_id_ranges(self, ids: torch.Tensor) -> None:
        """The step's ids in [0, vocab), read in one device sync per step."""
        low, high = torch.stack([ids.min(), ids.max()]).tolist()
        vocab = self.config.vocab_size
        if low < 0 or high >= vocab:
            raise ValueError(f"Decoder token ids must lie in [0, {vocab}), got [{low}, {high}].")

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        tempo_beats_per_frame: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        """``tempo_beats_per_frame`` / ``music_key_ids`` / ``arrangement_ids``: ``(batch,)`` musical controls
        (NaN / 24 / 8 = unknown), for decoders built with ``use_tempo_control`` / ``use_key_control`` /
        ``use_arrangement_control``."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of decoder input_ids or inputs_embeds.")
        if inputs_embeds is None:
            ids = input_ids.reshape(-1, self.num_rows, input_ids.shape[-1])
            # eager only: reading the range is a device sync and a graph break under torch.compile
            if ids.numel() and not torch.compiler.is_compiling():
                self._check_id_ranges(ids)
            inputs_embeds = self.embed(ids)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        num_positions = None  # an upper bound of the positions, known without reading them
        if position_ids is None:
            length = inputs_embeds.shape[1]
            past = cache.get_seq_length() if cache is not None else 0
            # a static cache's length is a tensor (so a compiled step is not specialised on it):
            # offset a fixed arange instead of building one from its value
            position_ids = (torch.arange(length, device=inputs_embeds.device) + past).unsqueeze(0)
            if isinstance(past, int):
                num_positions = past + length
            elif cache.get_max_length() > 0:
                num_positions = cache.get_max_length()
        self_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            **cache_field(cache),
        )
        cross_mask = None
        if encoder_hidden_states is not None:
            cross_mask = create_bidirectional_mask(
                config=self.config,
                inputs_embeds=inputs_embeds,
                attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
            )
        hidden_states = inputs_embeds + self.embed_positions(position_ids, num_positions).to(inputs_embeds.dtype)
        hidden_states = add_musical_controls(
            hidden_states, self.musical_controls, position_ids, tempo_beats_per_frame, music_key_ids, arrangement_ids
        )
        hidden_states = nn.functional.dropout(hidden_states, p=self.config.dropout, training=self.training)
        for layer in self.layers:
            if self.training and self.config.layerdrop and torch.rand(()) < self.config.layerdrop:
                continue
            hidden_states = layer(
                hidden_states,
                self_mask,
                encoder_hidden_states,
                encoder_attention_mask=cross_mask,
                layer_past=cache,
                **kwargs,
            )
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=self.layer_norm(hidden_states),
            **cache_field(cache if use_cache else None),
        )


# ----------------------------------------------------------------------------------------------------
# Turn a trained mix model into a dual-track one (accompaniment + vocals in the same streams).
#
# A mix model (``mixed``, ``mixed_stream2``, with or without mixed pro's vocal heads) and its dual-track
# counterpart (``parallel_std``, ``parallel_stream2``) share everything but the per-row code tables: the
# dual-track layout has twice the rows, the mix rows' layout repeated once per track.  So a trained mix
# model can start a dual-track training instead of a fresh model:
#
# * the **accompaniment rows** take the mix rows' embeddings and heads: an accompaniment is most of a
#   mix, coded by the same codec.  The decoder averages its input over the rows of a codebook (it
#   divides the sum by rows per codebook), which doubles here, so the embeddings are doubled too;
# * the **vocal rows' embeddings start at zero**: the decoder's input, a sum over rows, is then exactly
#   the mix model's input, so the first steps run the network the model already trained instead of
#   feeding it a second, unrelated sum;
# * the **vocal rows' heads** start as copies of mixed pro's vocal heads where the model has them (they
#   were trained to name vocal codes from this decoder's state), else of the mix heads.
#
# The new rows learn from the first step; nothing is frozen.

DUAL_TRACK_PATTERNS: dict[str, str] = {
    "mixed": "parallel_std",
    "mixed_pro": "parallel_std",
    "mixed_stream2": "parallel_stream2",
    "mixed_pro_stream2": "parallel_stream2",
}
"""A mix pattern -> the dual-track pattern with the same streams (tracks aligned frame by frame)."""


def as_dual_track(model):
    """A copy of ``model`` (a SongGen with a mix pattern) with the dual-track pattern of the same streams.

    A dual-track model is returned as is."""
    pattern = model.config.decoder.track_pattern
    if pattern in DUAL_TRACK_PATTERNS.values():
        return model
    if pattern not in DUAL_TRACK_PATTERNS:
        raise ValueError(
            f"a {pattern!r} model cannot become dual-track here; this works for "
            f"{', '.join(f'{a} -> {b}' for a, b in DUAL_TRACK_PATTERNS.items())}."
        )
    rows = model.pattern.num_rows
    state = dict(model.state_dict())
    vocal_heads = [state.pop(f"decoder.vocal_lm_heads.{row}.weight", None) for row in range(rows)]
    added = {
        f"decoder.{table}.{row}.weight" for table in ("model.embed_tokens", "lm_heads") for row in range(rows, 2 * rows)
    }
    new = rebuilt_with_pattern(model, DUAL_TRACK_PATTERNS[pattern], state, may_change=added.__contains__)
    if new.pattern.num_rows != 2 * rows:  # the mapping above pairs layouts whose rows double
        raise RuntimeError(f"{pattern!r} has {rows} rows but {new.pattern.name!r} {new.pattern.num_rows}")
    decoder = new.decoder
    scale = decoder.model.embedding_divisor / model.decoder.model.embedding_divisor
    with torch.no_grad():
        for row in range(rows):
            decoder.model.embed_tokens[row].weight.mul_(scale)
            decoder.model.embed_tokens[rows + row].weight.zero_()
            head = vocal_heads[row] if vocal_heads[row] is not None else decoder.lm_heads[row].weight
            decoder.lm_heads[rows + row].weight.copy_(head)
    return new


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
        return {name: mask for name, mask in drop.items() if mask is not None}

    @staticmethod
    def _controls_dropped(drop: dict) -> torch.Tensor | None:
        """Rows whose musical controls are unknown: dropped alone or with the description."""
        masks = [mask for mask in (drop.get("description"), drop.get("controls")) if mask is not None]
        if not masks:
            return None
        return masks[0] if len(masks) == 1 else masks[0] | masks[1]

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
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The memory, its mask and the musical controls for one forward pass, with training-time
        condition dropout applied (the controls drop with the description, and alone).

        ``encoder_outputs`` (a ``BaseModelOutput`` or tuple): a precomputed memory instead of the encoders, its
        mask ``encoder_attention_mask`` or else ``attention_mask`` (generation passes the memory's mask as
        ``attention_mask``, transformers' encoder-decoder convention); its controls are never dropped."""
        if encoder_outputs is not None:
            memory = (
                encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else encoder_outputs.last_hidden_state
            )
            memory_mask = encoder_attention_mask if encoder_attention_mask is not None else attention_mask
            controls = self._musical_control_inputs(tempo_bpm, music_key_ids, memory.shape[0], None, arrangement_ids)
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
            tempo_bpm, music_key_ids, memory.shape[0], self._controls_dropped(drop), arrangement_ids
        )
        return memory, memory_mask, controls

    def _musical_control_inputs(
        self, tempo_bpm, music_key_ids, batch: int, dropped: torch.Tensor | None, arrangement_ids=None
    ) -> dict:
        """Validated controls as the token model takes them; songs whose description is dropped lose them too.

        Generation passes the same controls at every step: outside training the result is kept for the
        last values seen (compared by value, a few microseconds), so a step does not convert and validate
        them again (~0.8 ms of a ~10 ms step on a 2-core CPU).
        """
        memo_key = None
        if dropped is None and not torch.is_grad_enabled() and not torch.compiler.is_compiling():
            memo_key = _controls_key(batch, self.device, (tempo_bpm, music_key_ids, arrangement_ids))
            memo = self.__dict__.get("_controls_memo")
            if memo_key is not None and memo is not None and memo[0] == memo_key:
                return dict(memo[1])
        controls = self._convert_controls(tempo_bpm, music_key_ids, batch, dropped, arrangement_ids)
        if memo_key is not None:
            self.__dict__["_controls_memo"] = (memo_key, dict(controls))
        return controls

    def _convert_controls(self, tempo_bpm, music_key_ids, batch: int, dropped, arrangement_ids) -> dict:
        decoder_config = self.config.decoder
        if tempo_bpm is not None:
            tempo_bpm = torch.as_tensor(tempo_bpm, dtype=torch.float32, device=self.device).reshape(-1)
        if music_key_ids is not None:
            music_key_ids = torch.as_tensor(music_key_ids, dtype=torch.long, device=self.device).reshape(-1)
        if arrangement_ids is not None:
            arrangement_ids = torch.as_tensor(arrangement_ids, dtype=torch.long, device=self.device).reshape(-1)
        if not torch.compiler.is_compiling():  # the checks read values: a graph break in a compiled step
            check_controls(tempo_bpm, music_key_ids, batch, decoder_config, arrangement_ids)
        controls = {}
        if tempo_bpm is not None:
            if dropped is not None:
                tempo_bpm = torch.where(dropped.to(tempo_bpm.device), float("nan"), tempo_bpm)
            tempo_bpm = torch.where(tempo_is_known(tempo_bpm), tempo_bpm, float("nan"))
            # beats per decoder position: a position holds S frames in a multi-stream layout, half a frame
            # when two tracks interleave, so the metronome keeps the music's beat whatever the pattern
            pattern = getattr(self, "pattern", None)
            frames_per_position = pattern.frames_per_position if pattern is not None else 1.0
            controls["tempo_beats_per_frame"] = tempo_bpm * frames_per_position / (60.0 * codec_frame_rate(self.config))
        if music_key_ids is not None:
            if dropped is not None:
                music_key_ids = torch.where(dropped.to(music_key_ids.device), UNKNOWN_KEY, music_key_ids)
            controls["music_key_ids"] = music_key_ids
        if arrangement_ids is not None:
            if dropped is not None:
                arrangement_ids = torch.where(dropped.to(arrangement_ids.device), UNKNOWN_ARRANGEMENT, arrangement_ids)
            controls["arrangement_ids"] = arrangement_ids
        return controls


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


@dataclass
class _SongGenLossOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    vocal_logits: torch.FloatTensor | None = None
    codebook_losses: torch.FloatTensor | None = None
    codebook_loss_sums: torch.FloatTensor | None = None
    codebook_token_counts: torch.LongTensor | None = None
    vocal_codebook_losses: torch.FloatTensor | None = None
    vocal_codebook_loss_sums: torch.FloatTensor | None = None
    vocal_codebook_token_counts: torch.LongTensor | None = None


# The cache field's name is the installed transformers' (``cache`` from 5.24, ``past_key_values``
# before; see cache_naming), so the class is made here rather than written out.
SongGenOutput = make_dataclass(
    "SongGenOutput",
    [
        (CACHE_KWARG, Cache | None, field(default=None)),
        ("encoder_last_hidden_state", torch.FloatTensor | None, field(default=None)),
        ("encoder_attention_mask", torch.LongTensor | None, field(default=None)),
    ],
    bases=(_SongGenLossOutput,),
    namespace={
        "__module__": __name__,
        "__doc__": """
    Args:
        loss: weighted per-codebook cross-entropy (plus the auxiliary vocal loss for mixed pro).
        logits: ``(batch * rows, length, vocab)``.
        vocal_logits: mixed pro's auxiliary vocal logits, same shape (training only).
        codebook_losses: ``(rows,)`` mean CE per row; ``codebook_loss_sums`` / ``codebook_token_counts``
            the same as sums and counts (for token-count normalisation across micro-batches).
        vocal_codebook_losses / vocal_codebook_loss_sums / vocal_codebook_token_counts: for mixed pro.
        cache (``past_key_values`` on transformers < 5.24): the key/value cache.
        encoder_last_hidden_state / encoder_attention_mask: the condition memory and its mask.
    """,
    },
)


# Resolvers that turn a checkpoint this package cannot read as it is (the official SongGen layout)
# into a folder it can: each takes (name_or_path, from_pretrained kwargs) and returns
# (path, kwargs) or None.  The conversion layer registers one (songgen_hf._auto_registration).
# A registry, not an import: modeling stays free of the converters and of Hub downloads (dependencies point one
# way), and from_pretrained is transformers' own when none is registered.  An entry is a callable, or the
# "module:function" path of one, imported on first use (a converter that costs nothing until a name needs it).
_PRETRAINED_RESOLVERS: list = []


def register_pretrained_resolver(resolver) -> None:
    """Add ``resolver`` (idempotent) to those :func:`resolve_pretrained_source` consults: a callable
    ``(name_or_path, kwargs) -> (name_or_path, kwargs) | None``, or its ``"module:function"`` path."""
    if resolver not in _PRETRAINED_RESOLVERS:
        _PRETRAINED_RESOLVERS.append(resolver)


def resolve_pretrained_source(name_or_path, kwargs: dict) -> tuple:
    """``(name_or_path, kwargs)`` as the first registered resolver rewrites them, else unchanged.  A local folder
    this package saved (the embedded default, a trained or exported model) is read as it is, no resolver asked."""
    if _saved_by_this_package(name_or_path, kwargs.get("subfolder") or ""):
        return name_or_path, kwargs
    for index, resolver in enumerate(_PRETRAINED_RESOLVERS):
        if isinstance(resolver, str):
            module, _, function = resolver.partition(":")
            resolver = _PRETRAINED_RESOLVERS[index] = getattr(importlib.import_module(module), function)
        resolved = resolver(name_or_path, kwargs)
        if resolved is not None:
            return resolved
    return name_or_path, kwargs


def _saved_by_this_package(name_or_path, subfolder: str) -> bool:
    """A local folder whose config.json is a SongGenConfig as this package saves it: with its encoders'
    sub-configs, which an official SongGen checkpoint's config lacks."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        return False
    try:
        config = json.loads((Path(name_or_path) / subfolder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "songgen" and "lyrics_encoder" in config


class SongGenPreTrainedModel(PreTrainedModel):
    config: SongGenConfig
    base_model_prefix = "songgen"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["SongGenDecoderLayer", "SongGenAttention"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _can_compile_fullgraph = True

    def _std(self) -> float:
        # a composite model (SongGen's or ResGen's) initialises with its token model's factor
        config = self.config.decoder if isinstance(self.config, SongConditioningConfig) else self.config
        return config.initializer_factor

    @torch.no_grad()
    def _init_weights(self, module):
        std = self._std()
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SongGenSinusoidalPositions):
            module.reset()
        elif isinstance(module, SongGenMusicalControls):
            if module.tempo_projection is not None:
                # the metronome enters at the scale of the sinusoidal positions it is added to, not at `std`
                projection = module.tempo_projection
                init.normal_(projection.weight, mean=0.0, std=projection.in_features**-0.5)
                init.zeros_(projection.bias)
                init.zeros_(module.unknown_tempo)
            if module.key_projection is not None:
                init.zeros_(module.unknown_key)  # as an embedding's row would start: the projection starts at `std`
                init.copy_(module.key_features, key_pitch_class_features())
        elif isinstance(module, SongGenVoiceEncoder):
            init.constant_(module.layer_aggregation.weight, 1.0 / module.num_states)
            init.zeros_(module.layer_aggregation.bias)
        if isinstance(self.config, SongGenConfig):
            init_lyrics_encoder_weights(module, self.config.lyrics_encoder)


class SongGenForCausalLM(SongGenPreTrainedModel):
    """The decoder with one head per token row (and mixed pro's training-only vocal heads)."""

    config: SongGenDecoderConfig
    config_class = SongGenDecoderConfig
    base_model_prefix = "model"

    def __init__(self, config: SongGenDecoderConfig):
        super().__init__(config)
        self.pattern = config.token_pattern()
        self.model = SongGenDecoderModel(config)
        rows = config.num_rows
        self.lm_heads = nn.ModuleList(
            [nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(rows)]
        )
        if config.has_vocal_heads:
            # one per row, laid out like the mix's (K for mixed_pro, S*K for mixed_pro_stream2)
            self.vocal_lm_heads = nn.ModuleList(
                [nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(rows)]
            )
        self._row_fusion = FusedRowWeights()
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def get_output_embeddings(self):
        return self.lm_heads

    def _stack_logits(self, hidden_states: torch.Tensor, name: str) -> torch.Tensor:
        heads = getattr(self, name)
        if self._row_fusion.fusable(heads, nn.Linear) or self._row_fusion.fusable(heads, Int8Linear):
            return fused_logits(self._row_fusion, name, hidden_states, heads)
        return torch.stack([head(hidden_states) for head in heads], dim=1)  # (B, rows, L, V)

    def _row_losses(self, logits: torch.Tensor, labels: torch.Tensor, name: str):
        batch, rows, length, vocab = logits.shape
        check_labels(labels, batch, rows, length, vocab, name)
        sums, counts = masked_row_cross_entropy(logits, labels)
        return sums / counts.clamp(min=1), sums, counts

    def _noisy_inputs(self, input_ids: torch.LongTensor | None) -> torch.LongTensor | None:
        """In training, codec tokens replaced by uniform random codes with ``input_token_noise_prob``; special
        ids (BOS, padding, EOS) are the pattern's structure and stay.  Uses torch's global generator, like dropout,
        so a resumed run that restores it draws the same noise."""
        if not self.training or input_ids is None:  # generation returns here, before any other work
            return input_ids
        probability = float(self.config.input_token_noise_prob)
        if probability == 0:
            return input_ids
        codes = self.config.codebook_size
        replace = (input_ids < codes) & (torch.rand(input_ids.shape, device=input_ids.device) < probability)
        return torch.where(replace, torch.randint_like(input_ids, codes), input_ids)

    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        vocal_labels: torch.LongTensor | None = None,
        codebook_weights: torch.Tensor | None = None,
        vocal_loss_weight: float = 0.1,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SongGenOutput:
        r"""
        input_ids: ``(batch * rows, length)`` or ``(batch, rows, length)`` decoder tokens.
        labels / vocal_labels: ``(batch, rows, length)`` targets from the token pattern, ``-100`` = ignored.
        codebook_weights: ``(K,)`` per-codebook loss weights (e.g. from ``CodebookCurriculum``);
            default uniform.
        logits_to_keep: if > 0, only the last ``logits_to_keep`` positions get logits (generation).
        """
        outputs = self.model(
            input_ids=self._noisy_inputs(input_ids),
            attention_mask=attention_mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            position_ids=position_ids,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self._stack_logits(hidden_states, "lm_heads")
        result = SongGenOutput(**cache_field(cache_of(outputs)))
        num_codebooks = self.config.num_codebooks
        weights = (
            codebook_weights if codebook_weights is not None else torch.full((num_codebooks,), 1.0 / num_codebooks)
        )
        if labels is not None:
            means, sums, counts = self._row_losses(logits, labels, "labels")
            result.codebook_losses, result.codebook_loss_sums, result.codebook_token_counts = means, sums, counts
            result.loss = combine_row_losses(means, weights, num_codebooks)
        if vocal_labels is not None:
            if not self.config.has_vocal_heads:
                raise ValueError(
                    f"vocal_labels are only used by patterns with vocal heads (mixed_pro, mixed_pro_stream2), "
                    f"not {self.config.track_pattern!r}."
                )
            vocal_logits = self._stack_logits(hidden_states, "vocal_lm_heads")
            means, sums, counts = self._row_losses(vocal_logits, vocal_labels, "vocal_labels")
            result.vocal_logits = vocal_logits.flatten(0, 1)
            result.vocal_codebook_losses, result.vocal_codebook_loss_sums = means, sums
            result.vocal_codebook_token_counts = counts
            vocal_loss = combine_row_losses(means, weights, num_codebooks)
            result.loss = (
                vocal_loss_weight * vocal_loss if result.loss is None else result.loss + vocal_loss_weight * vocal_loss
            )
        result.logits = logits.flatten(0, 1)
        return result


class SongGenForConditionalGeneration(SongConditioningMixin, SongGenGenerationMixin, SongGenPreTrainedModel):
    """SongGen: description + lyrics (+ reference voice) -> codec tokens -> audio."""

    config: SongGenConfig
    config_class = SongGenConfig
    output_modalities = ("audio",)
    # from_pretrained(dtype=bfloat16 / float16) keeps the codec in float32: it runs once per song and
    # writes the audio, and in bf16 its output carries a noise floor ~40 dB under the signal (measured on
    # the released-size codec); an fp32 audio prompt also enters it as it is.  A regex searched in each
    # key, anchored because MERT is ``voice_encoder.audio_encoder.*`` (it stays in the requested dtype).
    _keep_in_fp32_modules_strict = [r"^audio_encoder\."]
    # The same pattern for transformers' quantizers (torchao, bitsandbytes...), which skip the modules
    # listed here: a quantization_config never converts the codec.
    _keep_in_fp32_modules = [r"^audio_encoder\."]

    def __init__(self, config: SongGenConfig):
        super().__init__(config)
        self._build_conditioning(config)
        self.decoder = SongGenForCausalLM(config.decoder)
        self.pattern = self.decoder.pattern
        self.freeze_text_encoder()
        self.freeze_audio_encoder()
        self.post_init()
        self._set_generation_defaults()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``; an official SongGen repo id or folder is converted once
        (and cached) first, through the registered resolver (see ``register_pretrained_resolver``)."""
        pretrained_model_name_or_path, kwargs = resolve_pretrained_source(pretrained_model_name_or_path, kwargs)
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs)  # before anything is allocated
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @torch.no_grad()
    def silence_codes(self, num_frames: int) -> torch.LongTensor:
        """``(1, K, num_frames)``: the codec's codes of ``num_frames`` frames of digital silence.

        What ``songgen data encode`` gives an instrumental's vocal track (a silent stem, encoded), so
        a dual-track model held to these codes is held to what it learnt an instrumental's vocal
        track is.  Not a constant: the codec's edges differ from its steady state."""
        codec = self.audio_encoder
        weight = next(codec.parameters())
        # kept per length: encoding seconds of zeros costs as much as encoding seconds of music; the
        # fused-weights signature (storage, version counter, dtype, device) drops it when the codec changes
        key = (int(num_frames), *weight_signature([weight]))
        cache = self.__dict__.setdefault("_silence_codes_cache", {})
        if key not in cache:
            zeros = torch.zeros(
                1, 1, int(num_frames) * self.config.audio_encoder.hop_length, device=weight.device, dtype=weight.dtype
            )
            if len(cache) >= 4:
                cache.clear()
            cache[key] = codec.encode(zeros).audio_codes[:, : self.config.decoder.num_codebooks, :num_frames].long()
        return cache[key]

    def frozen_row_weights(self):
        """A context in which the fused row weights of every module hold still: one ``generate()`` call's
        decoding steps change no weights, hooks or adapters (see :class:`FusedRowWeights`)."""
        return frozen_row_weights(self)

    def _set_generation_defaults(self) -> None:
        # The reference samples with top-k 50 at temperature 1; 5.x leaves these unset otherwise.
        defaults = self.generation_config
        defaults.do_sample = True if defaults.do_sample is None else defaults.do_sample
        defaults.top_k = 50 if defaults.top_k is None else defaults.top_k
        defaults.temperature = 1.0 if defaults.temperature is None else defaults.temperature
        defaults.decoder_start_token_id = self.config.decoder.bos_token_id
        defaults.bos_token_id = self.config.decoder.bos_token_id
        defaults.pad_token_id = self.config.decoder.pad_token_id
        defaults.eos_token_id = self.config.decoder.eos_token_id

    def get_decoder(self):
        return self.decoder

    # ------------------------------------------------------------------ forward
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        vocal_labels: torch.LongTensor | None = None,
        codebook_weights: torch.Tensor | None = None,
        tempo_bpm: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SongGenOutput:
        r"""
        input_ids / attention_mask: T5 description tokens.
        tempo_bpm / music_key_ids / arrangement_ids: ``(batch,)`` musical controls for models built with them
            (the processor reads them from the description; NaN / 24 / 8 = not asked).  They are dropped
            with the description.
        lyrics_input_ids / lyrics_attention_mask: VoiceBPE lyrics tokens (``[START] ... [STOP]``).
        voice_values / voice_attention_mask: optional ``(batch, 72000)`` reference voice at 24 kHz.
        encoder_outputs / encoder_attention_mask: a precomputed condition memory (skips the encoders) and its
            mask (``attention_mask`` when ``encoder_attention_mask`` is not given).
        decoder_input_ids: ``(batch, rows, length)`` or ``(batch * rows, length)``.
        labels / vocal_labels: from ``self.pattern.build_labels(...)`` (``loss_labels()``).
        codebook_weights: ``(K,)`` curriculum weights for this step (default uniform).
        """
        memory, memory_mask, controls = self.condition_memory(
            input_ids,
            attention_mask,
            lyrics_input_ids,
            lyrics_attention_mask,
            voice_values,
            voice_attention_mask,
            tempo_bpm,
            music_key_ids,
            arrangement_ids,
            encoder_outputs=encoder_outputs,
            encoder_attention_mask=encoder_attention_mask,
        )
        if decoder_input_ids is None:
            raise ValueError(
                "Pass decoder_input_ids. For training, build them with the labels: "
                "`batch = model.pattern.build_labels(codes)`, then decoder_input_ids=batch.decoder_input_ids, "
                "labels=batch.loss_labels()."
            )
        if decoder_input_ids.dim() == 3 and labels is not None and decoder_input_ids.shape != labels.shape:
            raise ValueError(
                f"decoder_input_ids {tuple(decoder_input_ids.shape)} and labels {tuple(labels.shape)} must match."
            )
        output = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=memory,
            encoder_attention_mask=memory_mask,
            cache=cache,
            labels=labels,
            vocal_labels=vocal_labels,
            codebook_weights=codebook_weights,
            vocal_loss_weight=self.config.vocal_loss_weight,
            use_cache=use_cache,
            position_ids=position_ids,
            logits_to_keep=logits_to_keep,
            **controls,
            **kwargs,
        )
        output.encoder_last_hidden_state = memory
        output.encoder_attention_mask = memory_mask
        return output


# ----------------------------------------------------------------------------------------------------
# The told singer: a vocal track's codes filled in parallel from a score.
#
# SongGen's decoder writes the vocal track frame by frame and must find its place in the lyrics while it samples; at
# songgen-tiny's size its words stay at the recogniser's chance level.  Told *which* syllable is sung at every frame,
# on which note and in which voice, a small bidirectional transformer fills the vocal track's first codebooks so that
# the words are heard: the same split as speech synthesis's duration model +
# acoustic model, and SoundStorm's and ResGen's parallel fill, MaskGIT-style (every cell masked, then the most
# confident cells kept pass after pass, coarsest codebook first).
#
# The score comes from outside (``processing_songgen.compose_vocal_score`` for a request; a corpus
# record's syllable timing in training): anything with ``syllables``, ``onsets_s``, ``durations_s``, ``midi`` and
# ``voice``.  The accompaniment's first codebook, which the decoder wrote, is the singer's context, so what it sings
# sits on the song's beat and harmony.


def score_units(config: SongGenSingerConfig, score: Any, num_frames: int) -> torch.Tensor:
    """``(config.unit_rows, num_frames)`` ids of the score at each frame, 0 where nothing is sung.

    Rows ``:letters``: the sung syllable's letters (code point + 1, lower case); then frames since its note began
    (+ 1, at most ``max_since`` + 1), its MIDI note + 1 and the voice's number.  A syllable covers the frames from
    its onset to its end (frame ``k`` is ``[k, k + 1) / frame_rate``); a later syllable overwrites an overlap."""
    out = torch.zeros((config.unit_rows, num_frames), dtype=torch.long)
    if score is None:
        return out
    since, pitch, voice_row = config.letters, config.letters + 1, config.letters + 2
    voice = config.voices.index(score.voice) + 1 if score.voice in config.voices else 0
    rate = config.frame_rate
    for syllable, onset, duration, midi in zip(score.syllables, score.onsets_s, score.durations_s, score.midi):
        first = max(int(math.floor(float(onset) * rate + 1e-6)), 0)  # the tolerance: 0.3 s * 50 is 15, not 16
        last = min(int(math.ceil((float(onset) + float(duration)) * rate - 1e-6)), num_frames)
        if first >= last:
            continue
        letters = [min(ord(letter), 126) + 1 for letter in str(syllable).lower()[: config.letters]]
        out[: config.letters, first:last] = 0
        if letters:
            out[: len(letters), first:last] = torch.tensor(letters)[:, None]
        out[since, first:last] = torch.arange(last - first).clamp(max=config.max_since) + 1
        out[pitch, first:last] = min(max(int(midi), 0), 127) + 1
        out[voice_row, first:last] = voice
    return out


def sinusoidal_positions(frames: int, width: int, device=None) -> torch.Tensor:
    """``(frames, width)`` sinusoidal positions: a singer trained on crops fills a whole song."""
    where = torch.arange(frames, dtype=torch.float, device=device)[:, None]
    scale = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float, device=device) / width)
    return torch.cat([torch.sin(where * scale), torch.cos(where * scale)], dim=-1)


class SongGenSinger(PreTrainedModel):
    """Vocal codes (some masked) + the accompaniment's first codebook + the score -> one codebook's logits."""

    config_class = SongGenSingerConfig
    base_model_prefix = "singer"
    main_input_name = "codes"
    _supports_sdpa = True

    def __init__(self, config: SongGenSingerConfig):
        super().__init__(config)
        width, size = config.hidden_size, config.codebook_size
        self.codes = nn.ModuleList(nn.Embedding(size + 1, width) for _ in range(config.num_codebooks))
        self.context = nn.Embedding(size, width)
        self.units = nn.ModuleList(nn.Embedding(config.unit_vocabulary, width) for _ in range(config.unit_rows))
        self.level = nn.Embedding(config.num_codebooks, width)
        layer = nn.TransformerEncoderLayer(
            width,
            config.num_attention_heads,
            config.intermediate_size,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.body = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList(nn.Linear(width, size) for _ in range(config.num_codebooks))
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``, refusing a folder that holds another model (a SongGen folder would
        load as a singer with every weight missing) or a config its weights' header does not bear out."""
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @property
    def mask_id(self) -> int:
        return self.config.codebook_size

    def _init_weights(self, module):
        # Embeddings at unit scale: a frame's input is the sum of its codes', context's and score rows' embeddings
        # plus sinusoidal positions of amplitude 1; embeddings at initializer_range would start drowned by the
        # positions (what is sung was then learnt several times slower: held-out NLL 5.8 against 3.6 at step 500).
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        codes: torch.Tensor,
        context: torch.Tensor,
        units: torch.Tensor,
        level: int,
        padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``codes`` ``(B, num_codebooks, T)`` (``mask_id`` where unknown), ``context`` ``(B, T)``, ``units``
        ``(B, unit_rows, T)``, ``padding`` ``(B, T)`` True past a song's end: ``(B, T, codebook_size)`` logits of
        codebook ``level``."""
        hidden = sum(table(codes[:, k]) for k, table in enumerate(self.codes)) + self.context(context)
        hidden = hidden + sum(table(units[:, row]) for row, table in enumerate(self.units))
        hidden = hidden + sinusoidal_positions(codes.shape[-1], self.config.hidden_size, codes.device).to(hidden.dtype)
        hidden = hidden + self.level.weight[level]
        return self.heads[level](self.norm(self.body(hidden, src_key_padding_mask=padding)))

    @torch.no_grad()
    def fill(
        self,
        context: torch.Tensor,
        units: torch.Tensor,
        temperature: float = 0.0,
        top_k: int = 50,
        generator: torch.Generator | None = None,
        iterations: int | None = None,
        padding: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, num_codebooks, T)`` vocal codes for ``context`` ``(B, T)`` and ``units`` ``(B, unit_rows, T)``:
        codebook by codebook, every cell masked, then in ``iterations`` passes (the config's by default) the most
        confident cells kept (a cosine schedule of how many stay masked).  A cell takes its likeliest code at
        ``temperature`` 0, else one drawn from its ``top_k`` likeliest at that temperature (confidence: the drawn
        code's probability).  ``padding`` ``(B, T)``: True past each song's end (not attended to; filled all the
        same).  ``known`` ``(B, num_codebooks, T)``: codes already sung (``mask_id`` elsewhere), kept as they are
        and read like the cells the fill has kept (how a long song's window continues the previous one)."""
        if temperature < 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}.")
        iterations = iterations or self.config.fill_iterations
        batch, frames = context.shape
        codes = torch.full(
            (batch, self.config.num_codebooks, frames), self.mask_id, dtype=torch.long, device=context.device
        )
        if known is not None:
            codes = known.to(device=context.device, dtype=torch.long).clone()
        for level in range(self.config.num_codebooks):
            # the schedule runs over the cells open when this codebook starts (every frame without known codes)
            open_at_start = (codes[:, level] == self.mask_id).sum(-1).tolist()
            for step in range(iterations):
                logits = self(codes, context, units, level, padding).float()
                if temperature == 0:
                    confidence, choice = logits.softmax(-1).max(-1)
                else:
                    top = logits.topk(min(top_k, logits.shape[-1]), dim=-1)
                    weights = (top.values / temperature).softmax(-1)
                    pick = torch.multinomial(weights.flatten(0, 1), 1, generator=generator).view(batch, frames, 1)
                    choice, confidence = top.indices.gather(-1, pick)[..., 0], weights.gather(-1, pick)[..., 0]
                masked = codes[:, level] == self.mask_id
                for row in range(batch):
                    open_cells = int(masked[row].sum())
                    if open_cells == 0:
                        continue
                    keep_masked = int(open_at_start[row] * math.cos(math.pi / 2 * (step + 1) / iterations))
                    ranked = torch.where(masked[row], confidence[row], -1.0)
                    chosen = ranked.topk(max(1, open_cells - keep_masked)).indices
                    codes[row, level, chosen] = choice[row, chosen]
        return codes

    def checked_scores(self, model, vocal_scores, streamer=None) -> list:
        """``vocal_scores`` for re-singing ``model``'s songs, checked against the model (and an audio ``streamer``,
        which cannot play a vocal track sung after the decoder ends)."""
        if streamer is not None and hasattr(streamer, "frame_limit"):  # a SongGenStreamer, not a progress bar
            raise ValueError(
                "A singer re-sings the vocal track once the decoder has written the whole song, so an audio "
                "stream cannot play it: stream without singer/vocal_scores, or generate without streaming."
            )
        tracks = model.config.decoder.token_pattern().track_names
        if tuple(tracks) != ("accompaniment", "vocals"):
            raise ValueError(
                f"A singer fills a dual-track model's vocal track; this model's tracks are {list(tracks)}."
            )
        if self.config.codebook_size != model.config.audio_encoder.codebook_size:
            raise ValueError(
                f"The singer's codebook_size {self.config.codebook_size} is not the codec's "
                f"{model.config.audio_encoder.codebook_size}: it was trained on another codec's codes."
            )
        if isinstance(vocal_scores, (str, bytes)) or not hasattr(vocal_scores, "__len__"):
            raise ValueError("vocal_scores must be a list with one score (or None) per song.")
        for score in vocal_scores:
            if score is not None and not all(hasattr(score, name) for name in SCORE_FIELDS):
                raise ValueError(
                    f"Each vocal score needs {', '.join(SCORE_FIELDS)} (a VocalScore); got {type(score).__name__}."
                )
        return list(vocal_scores)

    @torch.no_grad()
    def sing(
        self,
        scores: list,
        codes: dict[str, torch.Tensor],
        lengths: dict[str, torch.Tensor],
        window: tuple[int, int] | None = None,
        progress=None,
    ) -> torch.Tensor:
        """The vocal track's codes ``(B, singer codebooks, T)`` sung from ``scores`` over the accompaniment the
        decoder wrote (``codes``/``lengths`` per track, as generate reverts them).  A song whose score is None keeps
        the decoder's coarsest codebooks (an instrumental's silence stays silence).

        ``window``: ``(frames, context)`` for a song longer than the decoder's window, sung window after window as
        it was generated: each window over ``frames`` frames, its first ``context`` frames the previous window's
        sung codes, kept.  Every pass attends over the whole of what it fills, so a song in one pass would cost
        the square of its length; by windows the cost grows with the song's length, and each window hears the
        end of the one before it, so the voice carries on across the edges.  ``progress(window, windows)`` is
        called as each window starts (a progress bar's "singing: window 3/6")."""
        accompaniment, vocals = codes["accompaniment"], codes["vocals"]
        batch, _, frames = vocals.shape
        if len(scores) != batch:
            raise ValueError(
                f"vocal_scores holds {len(scores)} scores for {batch} songs; give one per song (None to "
                "leave a song's vocal track to the decoder)."
            )
        config = self.config
        out = vocals[:, : config.num_codebooks].clone()
        rows = [row for row, score in enumerate(scores) if score is not None]
        if not rows or frames == 0:
            return out
        device = next(self.parameters()).device
        context = accompaniment[rows, 0].clamp(0, config.codebook_size - 1).to(device)
        units = torch.stack([score_units(config, scores[row], frames) for row in rows]).to(device)
        ends = lengths["vocals"][rows].to(device)
        padding = torch.arange(frames, device=device)[None] >= ends[:, None]
        if window is None or frames <= window[0]:
            if progress is not None:
                progress(1, 1)
            sung = self.fill(context, units, padding=padding)
        else:
            size, overlap = window
            if not 0 <= overlap < size:
                raise ValueError(f"window must be (frames, context) with 0 <= context < frames, got {window!r}.")
            sung = torch.full((len(rows), config.num_codebooks, frames), self.mask_id, dtype=torch.long, device=device)
            windows = 1 + math.ceil((frames - size) / (size - overlap))
            start, index = 0, 0
            while True:
                end = min(start + size, frames)
                index += 1
                if progress is not None:
                    progress(index, windows)
                sung[..., start:end] = self.fill(
                    context[:, start:end],
                    units[..., start:end],
                    padding=padding[:, start:end],
                    known=sung[..., start:end],
                )
                if end == frames:
                    break
                start = end - overlap
        out[rows] = sung.to(out.device, out.dtype)
        return out


SCORE_FIELDS = ("syllables", "onsets_s", "durations_s", "midi", "voice")


__all__ = [
    "add_musical_controls",
    "as_dual_track",
    "can_fuse",
    "check_controls",
    "codec_frame_rate",
    "convert_mert_state_dict",
    "convert_official_lyrics_encoder_state_dict",
    "convert_official_voice_state_dict",
    "DUAL_TRACK_PATTERNS",
    "frozen_row_weights",
    "fused_embedding_sum",
    "fused_logits",
    "FusedRowWeights",
    "init_lyrics_encoder_weights",
    "KEY_FEATURES",
    "key_pitch_class_features",
    "official_key_to_voice_encoder_key",
    "official_lyrics_encoder_key_map",
    "OFFICIAL_PREFIX_MAP",
    "relative_shift",
    "relative_sinusoid_table",
    "SCORE_FIELDS",
    "score_units",
    "sinusoidal_positions",
    "sinusoidal_table",
    "SongConditioningMixin",
    "SongGenAttention",
    "SongGenDecoderLayer",
    "SongGenDecoderModel",
    "SongGenForCausalLM",
    "SongGenForConditionalGeneration",
    "SongGenLyricsEncoder",
    "SongGenLyricsEncoderLayer",
    "SongGenLyricsFeedForward",
    "SongGenLyricsSelfAttention",
    "SongGenMusicalControls",
    "SongGenOutput",
    "SongGenPreTrainedModel",
    "SongGenRelativePositionalEncoding",
    "SongGenSinger",
    "SongGenSingerConfig",
    "SongGenSinusoidalPositions",
    "SongGenVoiceEncoder",
    "tempo_is_known",
    "tiny_voice_encoder_config",
    "VoiceEncoderOutput",
    "weight_signature",
]
