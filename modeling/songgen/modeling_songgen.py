"""SongGen: a single-stage autoregressive text-to-song model over X-Codec tokens.

``SongGenForCausalLM`` is the decoder with its heads; ``SongGenForConditionalGeneration`` adds
the conditioning encoders (description T5, lyrics, optional reference voice: :mod:`.conditioning_songgen`)
and the codec.  All encoders run once per call, producing one cross-attention memory
``[voice ; description ; lyrics]`` that every decoder layer attends to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from songgen_hf.modeling.songgen.conditioning_songgen import (
    SongConditioningMixin,
    SongGenMusicalControls,
    SongGenVoiceEncoder,
    add_musical_controls,
    init_lyrics_encoder_weights,
    key_pitch_class_features,
)
from songgen_hf.modeling.songgen.configuration_songgen import (
    SongConditioningConfig,
    SongGenConfig,
    SongGenDecoderConfig,
)
from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationMixin
from songgen_hf.modeling.songgen.loss import check_labels, combine_row_losses, masked_row_cross_entropy
from songgen_hf.modeling.songgen.preallocated_cache import CACHE_KWARG, accepts_past_key_values, cache_field, cache_of
from songgen_hf.modeling.songgen.quantization import Bf16Linear, Int8Linear
from songgen_hf.modeling.songgen.row_fusion import (
    FusedRowWeights,
    frozen_row_weights,
    fused_embedding_sum,
    fused_logits,
    weight_signature,
)
from songgen_hf.modeling.weight_bounds import resolve_pretrained_source

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
        tempo_start_beats: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        """``tempo_beats_per_frame`` / ``music_key_ids`` / ``arrangement_ids``: ``(batch,)`` musical controls
        (NaN / 24 / 8 = unknown), for decoders built with ``use_tempo_control`` / ``use_key_control`` /
        ``use_arrangement_control``; ``tempo_start_beats`` ``(batch,)``: the beats the tempo control has counted
        at position 0 (``None``: 0)."""
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
            hidden_states,
            self.musical_controls,
            position_ids,
            tempo_beats_per_frame,
            music_key_ids,
            arrangement_ids,
            tempo_start_beats,
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
        fusion = self._row_fusion
        if fusion.fusable(heads, nn.Linear) or fusion.fusable(heads, Int8Linear) or fusion.fusable(heads, Bf16Linear):
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
        """transformers' ``from_pretrained``; a name this package gives a folder (an embedded model's, an official
        SongGen repo id or folder: converted once and cached) is resolved first (``weight_bounds``'s registry, the
        same whatever was imported)."""
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
        tempo_start_beats: torch.Tensor | None = None,
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
        tempo_start_beats: ``(batch,)`` the beats the tempo control has counted at the first frame (default 0: the
            song starts on a bar line); a long song's later windows continue the song's beat with it.
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
            tempo_start_beats=tempo_start_beats,
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


__all__ = [
    "eager_attention",
    "resolve_pretrained_source",
    "sinusoidal_table",
    "SongGenAttention",
    "SongGenDecoderLayer",
    "SongGenDecoderModel",
    "SongGenForCausalLM",
    "SongGenForConditionalGeneration",
    "SongGenOutput",
    "SongGenPreTrainedModel",
    "SongGenSinusoidalPositions",
]
