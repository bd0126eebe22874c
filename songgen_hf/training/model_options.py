"""The training options that change a SongGen before its run starts, applied in one place.

Some rebuild the model (``dual_track``, ``vocal_heads``: each returns a new model whose trained weights are
carried over, see :mod:`.track_layouts`); the rest write a setting into its config, checked
against the model they end up on.  The order matters: the settings go on the rebuilt model, since a rebuild keeps
only what the config already holds.
"""

from __future__ import annotations

from songgen_hf.modeling.songgen.configuration_songgen import check_stem_gains_db
from songgen_hf.training.track_layouts import as_dual_track, with_vocal_heads, without_vocal_heads


def apply_model_options(model, config):
    """``model`` (a SongGen) as ``config`` (a ``SongGenTrainingConfig``) asks it to be trained; possibly a new model."""
    if config.dual_track:
        model = as_dual_track(model)
    if config.vocal_heads is not None:
        model = with_vocal_heads(model) if config.vocal_heads else without_vocal_heads(model)
    if config.vocal_loss_weight is not None:
        if not model.config.decoder.has_vocal_heads:
            raise ValueError(
                f"vocal_loss_weight weighs the vocal heads, and this {model.config.decoder.track_pattern!r} "
                "model has none; set vocal_heads: true to add them."
            )
        model.config.vocal_loss_weight = config.vocal_loss_weight
    if config.input_token_noise_prob is not None:
        model.config.decoder.input_token_noise_prob = float(config.input_token_noise_prob)
    if config.stem_gains_db is not None:
        check_stem_gains_db(config.stem_gains_db, model.pattern)
        model.config.stem_gains_db = {str(track): float(gain) for track, gain in config.stem_gains_db.items()}
    return model


__all__ = ["apply_model_options"]
