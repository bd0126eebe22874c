"""The levers of ``finetune-lora`` beyond rank and learning rate: more targets (token embeddings, musical controls,
the description's projection), DoRA, steps as epochs over the songs, and a trigger phrase before every training
description."""

from __future__ import annotations

import math

import pytest

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, trainable_parameter_names
from songgen_hf.training.lora_trainer import LoraTrainer, LoraTrainingConfig

from ..data.tone_songs import write_tone_songs


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    controls = {"use_tempo_control": True, "use_key_control": True, "use_arrangement_control": True}
    return save_tiny_checkpoint(tmp_path_factory.mktemp("levers_base") / "base", decoder=controls)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, base_dir):
    from songgen_hf.data.encode import EncodeOptions, encode_manifest

    root = tmp_path_factory.mktemp("levers_data")
    manifest = write_tone_songs(root / "songs", num_songs=5)
    encode_manifest(manifest, base_dir, root / "encoded", EncodeOptions())
    return root / "encoded"


def _config(encoded, base_dir, output_dir, **overrides):
    options = dict(
        train_data=str(encoded),
        init_from=str(base_dir),
        output_dir=str(output_dir),
        batch_size=2,
        lora_r=4,
        lora_alpha=8,
        log_steps=1,
        save_steps=100,
        max_steps=2,
        seed=0,
    )
    options.update(overrides)
    return LoraTrainingConfig(**options)


def test_more_targets_reach_the_embeddings_the_controls_and_the_description_projection(base_dir):
    model = SongGenForConditionalGeneration.from_pretrained(base_dir)
    targets = ["heads", "embeddings", "controls", "description"]
    peft_model = apply_lora(model, lora_config_for_songgen(r=4, alpha=8, targets=targets, use_dora=True))
    names = trainable_parameter_names(peft_model)
    assert any(".decoder.model.embed_tokens.0.lora_embedding_A" in name for name in names)
    for control in ("tempo_projection", "key_embedding", "arrangement_embedding"):  # the key by its name here
        assert any(f"musical_controls.{control}.lora_" in name for name in names), control
    assert any(".enc_to_dec_proj.lora_A" in name for name in names)
    # DoRA: a magnitude per output of every adapted linear, besides the low-rank pair
    assert any(".enc_to_dec_proj.lora_magnitude_vector" in name for name in names)
    # the description encoder itself, the lyrics' projection and the codec stay out of reach
    outside = ("text_encoder", "lyrics_encoder", "lyrics_to_dec_proj", "audio_encoder", "voice_encoder")
    assert not [name for name in names if any(f".{part}." in name for part in outside)]


def test_epochs_set_the_steps_and_the_trigger_phrase_leads_every_description(encoded, base_dir, tmp_path):
    trainer = LoraTrainer(
        _config(encoded, base_dir, tmp_path / "run", epochs=3, trigger_phrase="  velvetrow style ", lora_use_dora=True)
    )
    rows = len(trainer.dataset)
    assert rows == 5 and trainer.config.max_steps == math.ceil(3 * rows / 2)
    captions = [trainer.dataset[index]["caption"] for index in range(rows)]
    originals = [LoraTrainer(_config(encoded, base_dir, tmp_path / "plain")).dataset[i]["caption"] for i in range(rows)]
    assert captions == [f"velvetrow style, {caption}" for caption in originals]
    config = trainer.peft_model.peft_config[trainer.peft_model.active_adapter]
    assert config.use_dora


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": 0}, "epochs must be a positive number"),
        ({"trigger_phrase": "   "}, "trigger_phrase must be some words"),
        ({"lora_targets": ["embeddingz"]}, "Unknown LoRA target"),
    ],
)
def test_bad_lever_settings_are_refused_by_name(encoded, base_dir, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(encoded, base_dir, tmp_path, **overrides)
