"""Every shipped recipe parses with its config class, so the documented commands do not rot."""

from pathlib import Path

import pytest

from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.songgen_config import SongGenTrainingConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_parses(path):
    if path.name == "card.yaml":  # model-card fields for `songgen export --card-fields`
        from songgen_hf.model_card import render_model_card, validate_model_card
        from songgen_hf.testing import tiny_songgen_config
        from songgen_hf.training.config_files import read_config_file

        card = render_model_card(tiny_songgen_config(use_voice_encoder=False), **read_config_file(path))
        validate_model_card(card)
        assert "[More information needed]" not in str(card)
        return
    if path.name.startswith("codec"):
        config = CodecTrainingConfig.from_file(path)
        assert config.max_steps > 0
    else:
        config = SongGenTrainingConfig.from_file(path)
        assert config.stage
        if config.model:
            from songgen_hf import SongGenConfig

            SongGenConfig(**config.model)  # the model section is a valid SongGenConfig
