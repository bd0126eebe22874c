"""Tempo and key read from descriptions: the parser, the processor, the training collator."""

import math

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import SongGenProcessor
from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_KEY
from songgen_hf.modeling.songgen.description_songgen import musical_controls, parse_music_key_id, parse_tempo_bpm
from songgen_hf.testing import dummy_training_items, save_tiny_checkpoint, tiny_songgen_config, tiny_tokenizers
from songgen_hf.training.songgen_data import SongGenCollator

CONTROLS = {"use_tempo_control": True, "use_key_control": True}


@pytest.mark.parametrize(
    "text, bpm",
    [
        ("A lively blues in A major at 122 BPM, with organ", 122.0),
        ("slow ballad, 72 bpm", 72.0),
        ("at 96 beats per minute", 96.0),
        ("a 140-BPM club track", 140.0),
        ("tempo 99.5 BPM", 99.5),
        ("1200 BPM of noise", None),  # out of range: not a tempo
        ("a song from 1999", None),
        ("", None),
    ],
)
def test_tempo_is_read_from_the_text(text, bpm):
    assert parse_tempo_bpm(text) == bpm


@pytest.mark.parametrize(
    "text, key",
    [
        ("a blues in A major", 9),
        ("ballad in F# minor", 6 + 12),
        ("in E-flat major", 3),
        ("in F sharp minor", 6 + 12),
        ("Bb min groove", 10 + 12),
        ("Cb major", 11),
        ("a melancholic ballad in a minor", 9 + 12),  # lower case after "in"
        ("in the key of eb major", 3),
        ("a minor setback for the band", None),  # lower case elsewhere is an article
        ("no key here", None),
    ],
)
def test_key_is_read_from_the_text(text, key):
    assert parse_music_key_id(text) == key


def test_explicit_values_override_the_text_and_unknowns_are_marked():
    controls = musical_controls(
        ["in C minor at 90 BPM", "a song", "in D major"], tempo_bpm=[None, 100, None], key=[None, None, "Ab minor"]
    )
    assert controls["tempo_bpm"][:2] == [90.0, 100.0] and math.isnan(controls["tempo_bpm"][2])
    assert controls["music_key_ids"] == [12, UNKNOWN_KEY, 8 + 12]
    assert musical_controls(["x at 80 BPM"], use_key=False) == {"tempo_bpm": [80.0]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tempo_bpm": 5000}, r"\[20, 400\]"),
        ({"tempo_bpm": "fast"}, "number of beats per minute"),
        ({"tempo_bpm": [90, 100, 110]}, "one per song"),
        ({"key": "H minor"}, "Unknown key tonic"),
        ({"key": "A dorian"}, "Unknown key mode"),
        ({"key": "A"}, "a tonic and a mode"),
    ],
)
def test_bad_explicit_controls_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        musical_controls(["a", "b"], **kwargs)


def test_processor_adds_controls_only_for_models_that_take_them(tmp_path):
    plain = SongGenProcessor.for_config(tiny_songgen_config("mixed", use_voice_encoder=False), *tiny_tokenizers())
    inputs = plain("a pop song in C major at 120 bpm", "la la")
    assert "tempo_bpm" not in inputs and "music_key_ids" not in inputs
    with pytest.raises(ValueError, match="no tempo control"):
        plain("a pop song", "la la", tempo_bpm=120)

    folder = save_tiny_checkpoint(tmp_path, "mixed", use_voice_encoder=False, decoder=dict(CONTROLS))
    processor = SongGenProcessor.from_pretrained(folder)  # the flags come from the model's config.json
    assert {"tempo_bpm", "music_key_ids"} <= set(processor.model_input_names)
    inputs = processor(["a pop song in C major at 120 bpm", "a ballad"], ["la la", "oh"], key=[None, "E minor"])
    assert inputs["tempo_bpm"].dtype == torch.float32 and inputs["tempo_bpm"][0].item() == 120.0
    assert torch.isnan(inputs["tempo_bpm"][1])
    assert inputs["music_key_ids"].tolist() == [0, 4 + 12]
    model = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    torch.manual_seed(0)
    audio = model.generate(**inputs, duration_s=0.3, guidance_scale=3.0)
    assert audio.shape[0] == 2 and torch.isfinite(audio).all()


def test_collator_reads_the_captions_like_the_processor():
    config = tiny_songgen_config("mixed", use_voice_encoder=False, decoder=dict(CONTROLS))
    description_tokenizer, lyrics_tokenizer = tiny_tokenizers()
    pattern = config.decoder.token_pattern()
    collator = SongGenCollator(
        pattern, description_tokenizer, lyrics_tokenizer, use_tempo_control=True, use_key_control=True
    )
    items = dummy_training_items(["rock in E minor at 140 bpm", "an ambient piece"])
    batch = collator(items)
    assert batch["tempo_bpm"][0].item() == 140.0 and torch.isnan(batch["tempo_bpm"][1])
    assert batch["music_key_ids"].tolist() == [4 + 12, UNKNOWN_KEY]
    plain = SongGenCollator(pattern, description_tokenizer, lyrics_tokenizer)
    assert "tempo_bpm" not in plain(items)
