"""Configuration of SongGen's lyrics encoder (token embedding + relative-position Transformer).

The released SongGen checkpoints embed VoiceBPE lyric ids with a 7000 x 1024 table and run
them through a six-block Conformer that has its macaron FFN and convolution module switched
off, i.e. a pre-norm Transformer encoder with ESPnet-style relative-position attention.  The
defaults below reproduce that network; see ``lyrics_encoder.py`` for the maths.
"""

from __future__ import annotations

from transformers import PreTrainedConfig


class SongGenLyricsEncoderConfig(PreTrainedConfig):
    r"""Configuration of [`SongGenLyricsEncoder`].

    Args:
        vocab_size (`int`, defaults to 7000):
            Rows of the lyric token embedding (the reference's ``embed_prompts``; VoiceBPE uses
            6681 of them).
        hidden_size (`int`, defaults to 1024):
            Width of the embedding and of every encoder block.
        num_hidden_layers (`int`, defaults to 6):
            Encoder blocks.
        num_attention_heads (`int`, defaults to 16):
            Attention heads; ``hidden_size`` must be a multiple of it.
        intermediate_size (`int`, defaults to 4096):
            Inner width of each block's feed-forward network.
        hidden_act (`str`, defaults to `"silu"`):
            Feed-forward activation (the reference's "swish").
        dropout (`float`, defaults to 0.1):
            Dropout after the input projection, inside the feed-forward network and on both
            residual branches.
        positional_dropout (`float`, defaults to 0.1):
            Dropout applied, after the sqrt(hidden_size) scaling, to the scaled hidden states and
            to the relative position embeddings.
        attention_dropout (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm.
        max_position_embeddings (`int`, defaults to 5000):
            Number of relative distances the sinusoid table is first built for (distances
            -(N-1) .. N-1).  Longer lyrics are *not* an error: like the reference, the table
            is rebuilt on the fly for the longer length (the values of a sinusoid table do not
            depend on its size, so results are identical).  The table is not a parameter and
            is never saved.
        pad_token_id (`int`, defaults to 0):
            Padding id of the lyric tokenizer.  Informational only: the reference's embedding
            has no ``padding_idx`` (id 0 is also the end-of-lyrics token and its row is
            trained), so padded positions are excluded through ``attention_mask`` alone.
        use_encoder (`bool`, defaults to `True`):
            ``False`` skips the encoder and returns the raw token embeddings (the reference's
            ``add_prenet=False`` ablation).  Released models use ``True``.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the normal initialisation of linear and embedding weights.
    """

    model_type = "songgen_lyrics_encoder"

    vocab_size: int = 7000
    hidden_size: int = 1024
    num_hidden_layers: int = 6
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "silu"
    dropout: float = 0.1
    positional_dropout: float = 0.1
    attention_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 5000
    pad_token_id: int | None = 0
    use_encoder: bool = True
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )
        # The sinusoid interleaves sin/cos pairs over the channels.
        if self.hidden_size % 2 != 0:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be even for the sinusoidal positions.")
        if self.max_position_embeddings < 1:
            raise ValueError(f"max_position_embeddings must be positive, got {self.max_position_embeddings}.")
        super().__post_init__(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


__all__ = ["SongGenLyricsEncoderConfig"]
