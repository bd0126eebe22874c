"""ResGen's token model: a bidirectional transformer over frames with cross-attention to the conditions.

The input at each frame is the sum of the codec codebook vectors of its *unmasked* tokens (in the
quantizer's latent space, projected to the model width), plus a learned embedding of how many of
its depths are masked (the mask signal: masking is always finest-first, so the count says which
depths are missing), sinusoidal positions and, if enabled, SongGen's musical controls.  The blocks
are SongGen's decoder blocks with causal masking turned off; the output is the mixture of
Gaussians of :mod:`.mixture`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask

from songgen_hf.modeling.resgen.configuration_resgen import ResGenConfig, ResGenDecoderConfig
from songgen_hf.modeling.resgen.mixture import ResGenMixture, ResGenMixtureHead
from songgen_hf.modeling.songgen.conditioning_songgen import (
    SongGenMusicalControls,
    add_musical_controls,
    init_lyrics_encoder_weights,
)
from songgen_hf.modeling.songgen.modeling_songgen import (
    SongGenDecoderLayer,
    SongGenPreTrainedModel,
    SongGenSinusoidalPositions,
)


def cumulative_embedding(tokens: torch.Tensor, codebooks: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """``(B, T, C)`` sum of the codebook vectors ``(D, V, C)`` of the unmasked tokens of ``tokens`` ``(B, D, T)``."""
    depth = tokens.shape[1]
    keep = tokens != mask_token_id
    safe = tokens.clamp(max=codebooks.shape[1] - 1)
    total = 0
    for level in range(depth):
        vectors = codebooks[level][safe[:, level]]  # (B, T, C)
        total = total + vectors * keep[:, level].unsqueeze(-1).to(vectors.dtype)
    return total


def masked_target(codes: torch.Tensor, mask: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """z = sum of the codebook vectors of the masked tokens of the true ``codes`` ``(B, D, T)``."""
    total = 0
    for level in range(codes.shape[1]):
        vectors = codebooks[level][codes[:, level]]
        total = total + vectors * mask[:, level].unsqueeze(-1).to(vectors.dtype)
    return total


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes: a geometric sequence from 2^(-8/H) down to 2^(-8) (for H a power of two;
    other counts interleave the next power's slopes, as ALiBi does)."""

    def powers(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if num_heads & (num_heads - 1) == 0:
        return torch.tensor(powers(num_heads))
    closest = 2 ** math.floor(math.log2(num_heads))
    return torch.tensor(powers(closest) + powers(2 * closest)[0::2][: num_heads - closest])


def distance_bias(slopes: torch.Tensor, frames: int, frame_attention_mask: torch.Tensor | None, dtype) -> torch.Tensor:
    """Additive self-attention bias ``(B or 1, H, T, T)``: ``-slope_h * |i - j|``, and the dtype's minimum
    on padded key frames."""
    positions = torch.arange(frames, device=slopes.device)
    distance = (positions.unsqueeze(0) - positions.unsqueeze(1)).abs().to(dtype)
    bias = -slopes.to(dtype).view(1, -1, 1, 1) * distance
    if frame_attention_mask is not None:
        keep = frame_attention_mask.bool().to(slopes.device)[:, None, None, :]
        bias = bias.masked_fill(~keep, torch.finfo(dtype).min)
    return bias


class ResGenPreTrainedModel(PreTrainedModel):
    config: ResGenConfig
    config_class = ResGenConfig
    base_model_prefix = "resgen"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["SongGenDecoderLayer"]
    _supports_sdpa = True

    _std = SongGenPreTrainedModel._std

    @torch.no_grad()
    def _init_weights(self, module):
        SongGenPreTrainedModel._init_weights(self, module)  # linear/embedding/norm/positions/controls/voice
        input_std = getattr(module, "_resgen_input_std", None)  # set by ResGenTransformer (input_scale_init)
        if input_std is not None:
            init.normal_(module.weight, mean=0.0, std=input_std)
        if isinstance(module, ResGenTransformer):
            if module.alibi_slopes is not None:
                init.copy_(module.alibi_slopes, alibi_slopes(module.config.num_attention_heads))
            if module.depth_means is not None:  # the trainer sets them from the data (set_depth_means)
                init.zeros_(module.depth_means)
        # the mixture head is a plain Linear (small normal, zero bias): every component starts at
        # unit scale around the origin with equal weights
        if isinstance(self.config, ResGenConfig):
            init_lyrics_encoder_weights(module, self.config.lyrics_encoder)


class ResGenTransformer(ResGenPreTrainedModel):
    """tokens ``(B, D, T)`` + condition memory -> :class:`ResGenMixture` per frame.

    A ``PreTrainedModel`` of its own (like SongGen's decoder) so the attention implementation chosen
    for the composite model (sdpa, eager) reaches its layers."""

    config: ResGenDecoderConfig
    config_class = ResGenDecoderConfig
    base_model_prefix = "model"

    def __init__(self, config: ResGenDecoderConfig):
        super().__init__(config)
        width = config.hidden_size
        self.input_proj = nn.Linear(config.latent_dim, width)
        self.mask_embedding = nn.Embedding(config.num_codebooks + 1, width)  # index: masked depths at the frame
        self.embed_positions = SongGenSinusoidalPositions(config.max_position_embeddings, width)
        self.musical_controls = SongGenMusicalControls(config) if config.has_musical_controls else None
        self.layers = nn.ModuleList([SongGenDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        for layer in self.layers:
            layer.self_attn.is_causal = False  # every frame sees every frame (sdpa/flash read this flag)
        self.layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.head = ResGenMixtureHead(width, config.num_mixtures, config.latent_dim, config.min_log_scale)
        if config.input_scale_init:
            self.input_proj._resgen_input_std = config.latent_dim**-0.5
            self.mask_embedding._resgen_input_std = 1.0
        # learnt, saved with the weights; zero (no offset) until set_depth_means
        self.depth_means = (
            nn.Parameter(torch.zeros(config.num_codebooks, config.latent_dim)) if config.depth_means else None
        )
        if config.attention_bias == "alibi":  # a function of the config: not saved with the weights
            self.register_buffer("alibi_slopes", alibi_slopes(config.num_attention_heads), persistent=False)
        else:
            self.alibi_slopes = None
        self.post_init()

    def forward(
        self,
        tokens: torch.LongTensor,
        codebooks: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        frame_attention_mask: torch.Tensor | None = None,
        tempo_beats_per_frame: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
    ) -> ResGenMixture:
        config = self.config
        frames = tokens.shape[-1]
        weight = self.input_proj.weight
        masked = tokens == config.mask_token_id
        known = cumulative_embedding(tokens, codebooks, config.mask_token_id)
        if self.depth_means is not None:  # the known codewords relative to their depths' means
            known = known - torch.einsum("bdt,dc->btc", (~masked).to(known.dtype), self.depth_means.to(known.dtype))
        known = known.to(weight.dtype)
        counts = masked.sum(dim=1)
        hidden = self.input_proj(known) + self.mask_embedding(counts)
        positions = torch.arange(frames, device=tokens.device).unsqueeze(0)
        hidden = hidden + self.embed_positions(positions, frames).to(hidden.dtype)
        hidden = add_musical_controls(
            hidden, self.musical_controls, positions, tempo_beats_per_frame, music_key_ids, arrangement_ids
        )
        if self.alibi_slopes is not None:
            if config._attn_implementation not in ("eager", "sdpa"):
                raise ValueError(
                    f"attention_bias='alibi' needs an attention that takes an additive bias (eager or sdpa), "
                    f"not {config._attn_implementation!r}; load the model with attn_implementation='sdpa'."
                )
            self_mask = distance_bias(self.alibi_slopes, frames, frame_attention_mask, hidden.dtype)
        else:
            self_mask = create_bidirectional_mask(
                config=config, inputs_embeds=hidden, attention_mask=frame_attention_mask
            )
        cross_mask = create_bidirectional_mask(
            config=config,
            inputs_embeds=hidden,
            attention_mask=encoder_attention_mask,
            encoder_hidden_states=encoder_hidden_states,
        )
        hidden = nn.functional.dropout(hidden, p=config.dropout, training=self.training)
        for layer in self.layers:
            hidden = layer(hidden, self_mask, encoder_hidden_states, encoder_attention_mask=cross_mask)
        mixture = self.head(self.layer_norm(hidden))
        if self.depth_means is not None:  # every component centred on the masked depths' means
            offset = torch.einsum(
                "bdt,dc->btc", masked.to(mixture.means.dtype), self.depth_means.to(mixture.means.dtype)
            )
            mixture.means = mixture.means + offset.unsqueeze(2)
        return mixture

    @torch.no_grad()
    def set_depth_means(self, codes: torch.Tensor, codebooks: torch.Tensor) -> None:
        """Set ``depth_means`` to the mean codeword of each depth over every frame of ``codes`` ``(B, D, T)``
        (real frames only: pass unpadded codes), in the scaled latent the model sees (``codebooks`` as
        :meth:`ResGenForConditionalGeneration.codebooks`)."""
        if self.depth_means is None:
            raise ValueError("This model was built without depth_means (ResGenDecoderConfig.depth_means=False).")
        means = torch.stack([codebooks[d][codes[:, d].flatten()].mean(0) for d in range(self.config.num_codebooks)])
        self.depth_means.copy_(means.to(self.depth_means.dtype))


__all__ = ["ResGenPreTrainedModel", "ResGenTransformer", "cumulative_embedding", "masked_target"]
