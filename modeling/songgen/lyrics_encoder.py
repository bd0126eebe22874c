"""SongGen's lyrics encoder: token embedding + a relative-position Transformer encoder.

The reference runs lyric ids through ``embed_prompts`` and a wenet/CosyVoice
``ConformerEncoder`` whose macaron FFN and convolution module are switched off.  What remains
is, per input:

1. ``x = Dropout(LayerNorm(Linear(embed(ids))))``                 (the "LinearEmbed" input layer)
2. ``x = Dropout(x * sqrt(H))``, ``pos = Dropout(sinusoids(T-1 .. -(T-1)))``
3. ``num_hidden_layers`` pre-norm blocks, each
   ``x = x + Dropout(RelPosSelfAttention(LN(x), pos))`` then ``x = x + Dropout(FFN(LN(x)))``
4. ``x = LN(x)``

The attention is the Transformer-XL score with ESPnet's relative positions (details in
[`SongGenLyricsSelfAttention`]).  Everything here is numerically the reference's forward pass,
including what happens at padded positions (see [`SongGenLyricsEncoder.forward`]).  The
projection to the decoder width (``lyrics_to_dec_proj``) belongs to the parent model.

Weights of the official checkpoints are renamed by [`convert_official_lyrics_encoder_state_dict`].
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from songgen_hf.modeling.songgen.configuration_lyrics_encoder import SongGenLyricsEncoderConfig

# ---------------------------------------------------------------------------------------------
# relative positions
# ---------------------------------------------------------------------------------------------


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


__all__ = [
    "SongGenLyricsEncoder",
    "SongGenLyricsEncoderLayer",
    "SongGenLyricsFeedForward",
    "SongGenLyricsSelfAttention",
    "SongGenRelativePositionalEncoding",
    "convert_official_lyrics_encoder_state_dict",
    "init_lyrics_encoder_weights",
    "official_lyrics_encoder_key_map",
    "relative_shift",
    "relative_sinusoid_table",
]
