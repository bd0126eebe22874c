"""Every shipped recipe parses with its config class, so the documented commands do not rot."""

from pathlib import Path

import pytest

from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.songgen_config import SongGenTrainingConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_parses(path):
    if path.name == "card.yaml" or path.name.startswith(
        "card_"
    ):  # model-card fields for `songgen export --card-fields`
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
        if config.model and path.parent.name.startswith("resgen"):
            from songgen_hf.modeling.resgen import ResGenConfig

            model = ResGenConfig(**config.model)  # the model section is a valid ResGenConfig
            assert model.decoder.num_hidden_layers == config.model["decoder"]["num_hidden_layers"]
        elif config.model:
            from songgen_hf import SongGenConfig

            SongGenConfig(**config.model)  # the model section is a valid SongGenConfig


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("build.sh")), ids=lambda p: p.parent.name)
def test_build_script_is_valid_bash_and_names_existing_recipes(path):
    """A build script that no longer parses, or names a recipe file that was renamed, fails here, not hours
    into a rebuild."""
    import re
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    checked = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    named = re.findall(r"\$RECIPE/([\w.-]+\.(?:yaml|py))", path.read_text())
    assert named, "the script names no recipe file"
    missing = [name for name in named if not (path.parent / name).is_file()]
    assert not missing, f"{path.name} names recipe files that do not exist: {missing}"
