"""The guided lyrics attention's training options (``SongGenTrainingConfig.lyrics_*``) applied to a SongGen.

Kept apart from the trainer: which of them a model accepts, and which are refused because they would be ignored
or would drop trained weights (``modeling/songgen/lyrics_alignment.py`` says what they do)."""

from __future__ import annotations

from songgen_hf.modeling.songgen.configuration_songgen import check_lyrics_alignment

ALIGNMENT_FIELDS = ("lyrics_alignment_weight", "lyrics_alignment_heads", "lyrics_alignment_width")


def apply_lyrics_options(model, config) -> None:
    """Add absolute lyric positions where ``lyrics_memory_positions`` asks, and write the alignment settings that
    are not null into the model's config, checked as the config checks them."""
    has_positions = model.lyrics_positions is not None
    if config.lyrics_memory_positions_gain and (not config.lyrics_memory_positions or has_positions):
        raise ValueError("lyrics_memory_positions_gain sets where lyric positions that lyrics_memory_positions: true "
                         f"adds start; this model {'already has trained ones' if has_positions else 'gets none'}. "
                         "Leave it at 0.")
    if config.lyrics_memory_positions:
        model.add_lyrics_memory_positions(config.lyrics_memory_positions_gain)
    elif config.lyrics_memory_positions is False and has_positions:
        raise ValueError("lyrics_memory_positions: false would drop the trained lyric positions of this model; "
                         "leave it null to keep them.")
    for name in ALIGNMENT_FIELDS:
        if getattr(config, name) is not None:
            setattr(model.config, name, getattr(config, name))
    check_lyrics_alignment(model.config.lyrics_alignment_weight, model.config.lyrics_alignment_heads,
                           model.config.lyrics_alignment_width, model.config.decoder.num_attention_heads)


__all__ = ["ALIGNMENT_FIELDS", "apply_lyrics_options"]
