"""Configuration of the told singer (:class:`~.modeling_songgen_singer.SongGenSinger`): its size and the score rows it
reads."""

from __future__ import annotations

from transformers import PreTrainedConfig

FILL_DTYPES = ("float32", "bfloat16")


class SongGenSingerConfig(PreTrainedConfig):
    r"""The told singer: a bidirectional transformer that fills a vocal track's first codebooks, told at every frame
    the syllable sung there, its note and the voice (a
    :class:`~songgen_hf.modeling.songgen.vocal_score_songgen.VocalScore`).

    Args:
        hidden_size (`int`), num_hidden_layers (`int`), num_attention_heads (`int`): the transformer's size.
        intermediate_size (`int`, *optional*): its feed-forward width (default 4 x hidden_size).
        num_codebooks (`int`, defaults to 3): the vocal track's codebooks it fills, coarsest first; the codec decodes
            them alone (the finer ones stay empty).
        codebook_size (`int`, defaults to 1024): the codec's codebook size; the id ``codebook_size`` is the mask.
        letters (`int`, defaults to 8): letters of a syllable's sung spelling it reads (the rest are cut).
        max_since (`int`, defaults to 62): frames since the note began, counted up to this.
        voices (`list[str]`): the voices it knows (espeak-ng names, as the synthetic corpus sang them), numbered
            from 1 in this order; a score in another voice is told no voice.
        dropout (`float`, defaults to 0.1): dropout in the transformer, in training.
        frame_rate (`float`, defaults to 50): codec frames per second (a score in seconds is read at this rate).
        fill_iterations (`int`, defaults to 8): passes per codebook when filling (MaskGIT's cosine schedule).
        fill_dtype (`str`, defaults to ``"float32"``): the precision a fill computes its transformer in:
            ``"bfloat16"`` runs it under autocast where the device computes bfloat16 natively (a CPU with AVX-512
            BF16 or AMX, a CUDA GPU that supports it) and in float32 elsewhere.
    """

    model_type = "songgen_singer"

    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int | None = None
    num_codebooks: int = 3
    codebook_size: int = 1024
    letters: int = 8
    max_since: int = 62
    voices: list[str] | tuple[str, ...] = ()
    dropout: float = 0.1
    frame_rate: float = 50.0
    fill_iterations: int = 8
    fill_dtype: str = "float32"
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        self.voices = [str(voice) for voice in self.voices]
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.hidden_size
        for name in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "num_codebooks",
            "codebook_size",
            "letters",
            "max_since",
            "fill_iterations",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})."
            )
        if self.fill_dtype not in FILL_DTYPES:
            raise ValueError(f"fill_dtype must be one of {', '.join(FILL_DTYPES)}, got {self.fill_dtype!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if len(set(self.voices)) != len(self.voices):
            raise ValueError("voices must not repeat a name.")
        super().__post_init__(**kwargs)

    @property
    def unit_rows(self) -> int:
        """Rows of the score at each frame: the letters, frames since the note began, its note, the voice."""
        return self.letters + 3

    @property
    def unit_vocabulary(self) -> int:
        """Ids a score row takes: letters are code points below 127, notes MIDI 0-127 (+ 1; 0 is "nothing")."""
        return max(130, self.max_since + 2, len(self.voices) + 1)


__all__ = ["FILL_DTYPES", "SongGenSingerConfig"]
