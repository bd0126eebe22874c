"""Configs that carry options this package does not build: harmless at their neutral value, refused when on."""

import json

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.resgen import ResGenConfig
from songgen_hf.modeling.songgen import SongGenConfig
from songgen_hf.testing import dummy_inputs, save_tiny_checkpoint, tiny_resgen_config, tiny_songgen_config

NEUTRAL = {
    "decoder": {
        "input_conv_kernel": 0,
        "opening_loss_weight": 1.0,
        "opening_loss_frames": 50,
        "tempo_control_rate": False,
    },
    "top": {
        "lyrics_alignment_weight": 0.0,
        "lyrics_alignment_heads": 2,
        "lyrics_alignment_width": 0.1,
        "lyrics_memory_positions": False,
    },
}


def _with_options(folder, decoder=None, top=None):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["decoder"].update(decoder or {})
    config.update(top or {})
    path.write_text(json.dumps(config))


def test_a_config_carrying_the_options_switched_off_loads_the_same_model(tmp_path):
    folder = save_tiny_checkpoint(tmp_path / "plain", use_voice_encoder=False)
    plain = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    _with_options(folder, **NEUTRAL)
    old = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    inputs = dummy_inputs(plain.config, with_labels=False)
    with torch.no_grad():
        assert torch.equal(plain(**inputs).logits, old(**inputs).logits)
    old.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert not {*NEUTRAL["top"]} & set(saved) and not {*NEUTRAL["decoder"]} & set(saved["decoder"])  # dropped


@pytest.mark.parametrize(
    "where, name, value",
    [
        ("decoder", "input_conv_kernel", 4),
        ("decoder", "opening_loss_weight", 3.0),
        ("decoder", "tempo_control_rate", True),
        ("top", "lyrics_alignment_weight", 0.5),
        ("top", "lyrics_memory_positions", True),
    ],
)
def test_a_config_with_an_option_switched_on_is_refused_by_name(tmp_path, where, name, value):
    folder = save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False)
    _with_options(folder, **{where: {name: value}})
    with pytest.raises(ValueError, match=rf"sets {name}={value!r}, an option songgen-hf does not support: .*"):
        SongGenForConditionalGeneration.from_pretrained(folder)


def test_the_checks_hold_for_configs_built_in_code_and_for_resgen():
    with pytest.raises(ValueError, match="input_conv_kernel=3"):
        tiny_songgen_config("mixed_pro", decoder={"input_conv_kernel": 3})
    with pytest.raises(ValueError, match="lyrics_alignment_weight=1.0"):
        SongGenConfig(lyrics_alignment_weight=1.0)
    with pytest.raises(ValueError, match="lyrics_memory_positions=True"):
        tiny_resgen_config(lyrics_memory_positions=True)
    quiet = ResGenConfig.from_dict({**tiny_resgen_config().to_dict(), "lyrics_memory_positions": False})
    assert not hasattr(quiet, "lyrics_memory_positions")
