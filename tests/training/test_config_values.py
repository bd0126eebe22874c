"""Training configs refuse wrong types and values by option name, before anything is built."""

import pytest

from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.config_files import dataclass_from_dict, parse_overrides
from songgen_hf.training.lora_trainer import LoraTrainingConfig
from songgen_hf.training.songgen_config import SongGenTrainingConfig


@pytest.mark.parametrize(
    "cls, override, message",
    [
        (SongGenTrainingConfig, "max_steps=1e30", r"`max_steps` .* must be a whole number, got '1e30' \(YAML reads"),
        (SongGenTrainingConfig, "save_steps=abc", r"`save_steps` .* must be a whole number, got 'abc'\.$"),
        (SongGenTrainingConfig, "max_steps=true", r"`max_steps` .* must be a whole number"),
        (SongGenTrainingConfig, "batch_size=null", r"`batch_size` .* cannot be null"),
        (SongGenTrainingConfig, "learning_rate=.nan", r"`learning_rate` .* must be finite"),
        (SongGenTrainingConfig, "learning_rate=.inf", r"`learning_rate` .* must be finite"),
        (SongGenTrainingConfig, "learning_rate=0", r"`learning_rate` .* must be > 0"),
        (SongGenTrainingConfig, "weight_decay=-0.1", r"`weight_decay` .* must be >= 0"),
        (SongGenTrainingConfig, "max_grad_norm=0", r"`max_grad_norm` .* must be > 0"),
        (SongGenTrainingConfig, "adam_betas=[0.9, .nan]", r"`adam_betas` .* must be finite"),
        (SongGenTrainingConfig, "adam_betas=0.9", r"`adam_betas` .* must be"),
        (SongGenTrainingConfig, "lyrics_dropout_prob=1.5", r"`lyrics_dropout_prob` .* must lie in \[0, 1\]"),
        (SongGenTrainingConfig, "use_voice=3", r"`use_voice` .* must be true/false"),
        (SongGenTrainingConfig, "stage=7", r"`stage` .* must be a string"),
        (CodecTrainingConfig, "segment_seconds=0", r"`segment_seconds` .* must be > 0"),
        (CodecTrainingConfig, "audio_gain=2.0", r"`audio_gain` .* must lie in \[0, 1\]"),
        (CodecTrainingConfig, "chroma_weight=-1.0", r"`chroma_weight` .* must be >= 0"),
        (CodecTrainingConfig, "discriminator_hop_lengths=[32, x]", r"`discriminator_hop_lengths` .* must be"),
        (LoraTrainingConfig, "lora_dropout=1.2", r"`lora_dropout` .* must lie in \[0, 1\]"),
        (LoraTrainingConfig, "lora_alpha=0", r"`lora_alpha` .* must be > 0"),
        (LoraTrainingConfig, "lora_r=8.5", r"`lora_r` .* must be a whole number"),
    ],
)
def test_bad_option_values_are_named(cls, override, message):
    with pytest.raises(ValueError, match=message):
        dataclass_from_dict(cls, parse_overrides([override]), source="test.yaml")


@pytest.mark.parametrize(
    "cls, override, field, expected",
    [
        (SongGenTrainingConfig, "learning_rate=3", "learning_rate", 3),  # an int where a float is expected
        (SongGenTrainingConfig, "max_frames=null", "max_frames", None),  # optional
        (
            SongGenTrainingConfig,
            "adam_betas=[0.8, 0.95]",
            "adam_betas",
            (0.8, 0.95),
        ),  # a YAML list, stored as the tuple
        (CodecTrainingConfig, "discriminator_channels=32", "discriminator_channels", 32),  # the int member of a union
    ],
)
def test_good_option_values_pass_unchanged(cls, override, field, expected):
    required = {"train_data": "data"} | ({"init_from": "base"} if cls is SongGenTrainingConfig else {})
    config = dataclass_from_dict(cls, {**required, **parse_overrides([override])}, source="test.yaml")
    assert getattr(config, field) == expected


@pytest.mark.parametrize(
    "cls, option, value, message",
    [
        (CodecTrainingConfig, "learning_rate", -1.0, r"`learning_rate` in CodecTrainingConfig must be > 0"),
        (CodecTrainingConfig, "lr_decay_gamma", 1.5, r"`lr_decay_gamma` .* must lie in \[0, 1\]"),
        (CodecTrainingConfig, "mel_weight", float("nan"), r"`mel_weight` .* must be finite"),
        (CodecTrainingConfig, "phase_weight", -1.0, r"`phase_weight` .* must be >= 0"),
        (CodecTrainingConfig, "max_steps", "100", r"`max_steps` .* must be a whole number"),
        (SongGenTrainingConfig, "adam_epsilon", 0.0, r"`adam_epsilon` in SongGenTrainingConfig must be > 0"),
        (SongGenTrainingConfig, "weight_decay", -0.01, r"`weight_decay` .* must be >= 0"),
        (SongGenTrainingConfig, "batch_size", 2.5, r"`batch_size` .* must be a whole number"),
        (LoraTrainingConfig, "max_grad_norm", 0.0, r"`max_grad_norm` in LoraTrainingConfig must be > 0"),
    ],
)
def test_configs_built_in_code_are_checked_like_files(cls, option, value, message):
    # The same checks as a YAML file or a --set override, by option name, before a later check
    # compares a value of the wrong type (a string max_steps would otherwise fail `< 1` with a TypeError).
    required = {"train_data": "data"} | ({"init_from": "base"} if cls is not CodecTrainingConfig else {})
    cls(**required)  # the defaults themselves pass
    with pytest.raises(ValueError, match=message):
        cls(**required, **{option: value})
