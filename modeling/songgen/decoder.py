"""SongGen's decoder: a pre-LN transformer over summed codebook embeddings with cross-attention.

Each step reads one token per row (K codebooks, or 2K for the parallel patterns), sums the
rows' embeddings (averaged over tracks for parallel), adds sinusoidal positions, and predicts
one token per row with one head per row.  Cross-attention reads a single memory, the
concatenation ``[voice ; description ; lyrics]``.

Shapes follow transformers' MusicGen so ``GenerationMixin`` can drive it: token ids are
``(batch * rows, length)`` (a ``(batch, rows, length)`` tensor is accepted too), logits are
``(batch * rows, length, vocab)``.  Caches are transformers' ``EncoderDecoderCache`` over
``DynamicCache``, ``StaticCache`` or SongGen's preallocated cache; positions come from
``position_ids`` (default: the cache's length), so a static cache with fixed-shape masks works
unchanged.

A decoding step with a static or preallocated cache traces under ``torch.compile`` without a
graph break: nothing in it reads a tensor's value into Python.  The checks that would (token ids
in range, positions inside the table) run in eager mode only, and the position table's size is
decided from Python ints (the cache's length or capacity), never from ``positions.max()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from songgen_hf.modeling.songgen.cache_naming import cache_field
from songgen_hf.modeling.songgen.configuration_songgen import SongGenDecoderConfig
from songgen_hf.modeling.songgen.musical_controls import SongGenMusicalControls
from songgen_hf.modeling.songgen.row_fusion import FusedRowWeights, fused_embedding_sum


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
        if self.musical_controls is not None:
            hidden_states = hidden_states + self.musical_controls(
                position_ids,
                inputs_embeds.shape[0],
                tempo_beats_per_frame,
                music_key_ids,
                dtype=inputs_embeds.dtype,
                arrangement_ids=arrangement_ids,
            )
        elif tempo_beats_per_frame is not None or music_key_ids is not None or arrangement_ids is not None:
            raise ValueError("This decoder has no musical controls (use_tempo/key/arrangement_control are off).")
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


__all__ = [
    "codec_frame_rate",
    "SongGenAttention",
    "SongGenDecoderLayer",
    "SongGenDecoderModel",
    "SongGenSinusoidalPositions",
    "sinusoidal_table",
]
