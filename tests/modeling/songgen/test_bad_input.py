"""Issue 5's bad inputs through the processor and the pipeline: each a ValueError that says what to change."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

import songgen_hf  # noqa: F401  (registers the pipeline)
from songgen_hf import XCodecModel
from songgen_hf.modeling.songgen.feature_extraction_songgen import VoiceFeatureExtractor
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.pipelines.text_to_song import check_songgen_folder
from songgen_hf.testing import save_tiny_checkpoint, tiny_tokenizers, tiny_xcodec_config, write_reference_voices

RATE = 24000
SECONDS = 0.2
LONG_LYRICS = "hold me close tonight the stars are shining bright " * 20  # ~700 tokens with the tiny vocabulary


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("bad_input") / "tiny", track_pattern="mixed_pro")


@pytest.fixture(scope="module")
def processor(folder):
    return SongGenProcessor.from_pretrained(folder)


@pytest.fixture(scope="module")
def pipe(folder):
    return load_text_to_song_pipeline(folder)


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """Reference-voice files, good and bad; the tiny voice encoder takes 1 s clips."""
    root = tmp_path_factory.mktemp("voices")
    paths = write_reference_voices(root, RATE)
    paths["missing"] = root / "missing.wav"
    return paths


# ---------------------------------------------------------------------- description and lyrics
def test_empty_description_and_empty_lyrics(processor, pipe):
    with pytest.raises(ValueError, match="Got an empty description and empty lyrics"):
        processor("", "")
    with pytest.raises(ValueError, match="Song 1 has an empty description and empty lyrics"):
        processor(["a pop song", "  "], ["la la", "\n"])
    assert processor("", "la la la")["lyrics_input_ids"].shape[0] == 1  # either one alone is fine for the processor
    assert processor("a calm ambient track", "")["input_ids"].shape[0] == 1
    with pytest.raises(ValueError, match="needs a non-empty 'description'"):
        pipe({"description": "", "lyrics": ""}, duration_s=SECONDS)


def test_lyrics_longer_than_the_model_accepts(folder, processor, pipe):
    assert processor.model_max_lyrics_length == 128  # the tiny lyrics encoder's max_position_embeddings
    limit = r"the limit is 128 \(the lyrics encoder's max_position_embeddings\)"
    with pytest.raises(ValueError, match=rf"Lyrics item 0 is \d+ tokens long \(with \[START\]/\[STOP\]\) but {limit}"):
        processor("a pop song", LONG_LYRICS)
    with pytest.raises(ValueError, match=limit):
        pipe({"description": "a pop song", "lyrics": LONG_LYRICS}, duration_s=SECONDS)
    assert processor("a pop song", LONG_LYRICS, truncation=True)["lyrics_input_ids"].shape == (1, 128)
    # an explicit limit wins over the model's, and names no model field
    with pytest.raises(ValueError, match=r"but the limit is 20\. Shorten"):
        processor("a pop song", LONG_LYRICS[:200], max_lyrics_length=20)
    # a processor built by hand learns the limit from the model it is paired with in the pipeline
    from transformers import pipeline

    bare = SongGenProcessor(*tiny_tokenizers(), feature_extractor=processor.feature_extractor)
    assert bare.model_max_lyrics_length is None
    pipeline("text-to-song", model=str(folder), processor=bare)
    assert bare.model_max_lyrics_length == 128


def test_characters_the_lyrics_tokenizer_cannot_represent(processor, pipe):
    tokenizer = processor.lyrics_tokenizer
    # accented Latin letters are spelled plainly; what has no Latin reading is still named
    assert tokenizer.unknown_characters("café 你好 love 😀 你") == ["你", "好", "😀"]
    assert tokenizer.unknown_characters("rock & roll, 100% at 9:30!") == []  # cleaning spells these out
    with pytest.raises(ValueError, match=r"Lyrics item 0 has characters .*: '😀'\. Remove"):
        processor("a pop song", "café 😀")
    with pytest.raises(ValueError, match=r"Lyrics item 1 has characters .*: '你'\. Remove"):
        processor(["a", "b"], ["fine words ñ", "你"])
    with pytest.raises(ValueError, match="cannot represent"):
        pipe({"description": "a pop song", "lyrics": "我爱你"}, duration_s=SECONDS)


# ---------------------------------------------------------------------- reference voice
@pytest.mark.parametrize(
    "name, message",
    [
        ("missing", "does not exist"),
        ("silent", r"is silent \(all zeros\) in the 1 s clip used; pass a recording"),
        ("short", r"is 0\.50 s long, but the model needs at least 1 s of voice\. Use a recording of 1 s or more\."),
        ("nan", "contains NaN or Inf samples"),
        ("text", r"Could not read reference voice .*Convert it to WAV or FLAC"),
    ],
)
def test_bad_reference_voice_files(processor, pipe, voices, name, message):
    path = str(voices[name])
    with pytest.raises(ValueError, match=message):
        processor("a pop song", "la la", reference_voice=path)
    with pytest.raises(ValueError, match="does not exist" if name == "missing" else message):
        pipe({"description": "a pop song", "reference_voice": path}, duration_s=SECONDS)


def test_bad_reference_voice_arrays(processor, pipe):
    tone = 0.1 * np.ones(RATE, dtype=np.float32)
    assert processor("pop", "la", reference_voice=(tone, RATE))["voice_attention_mask"].all()  # exactly 1 s is enough
    cases = [
        ((np.zeros(RATE, dtype=np.float32), RATE), r"is silent \(all zeros\)"),
        ((np.full(RATE, 1e-6, dtype=np.float32), RATE), r"is silent \(peak 1\.0e-06\)"),
        ((tone[: RATE // 4], RATE), r"is 0\.25 s long"),
        ((np.full(RATE, np.nan, dtype=np.float32), RATE), "NaN or Inf"),
        ((np.array(["not", "audio"]), RATE), "pass real-valued float or integer PCM"),
    ]
    for voice, message in cases:
        with pytest.raises(ValueError, match=message):
            processor("pop", "la", reference_voice=voice)
        with pytest.raises(ValueError, match=message):
            pipe({"description": "pop", "reference_voice": voice}, duration_s=SECONDS)
    with pytest.raises(ValueError, match="must be an audio file path"):
        pipe({"description": "pop", "reference_voice": 3}, duration_s=SECONDS)
    # a late start leaves too little voice: the message says so and suggests an earlier start
    long_tone = 0.1 * np.ones(int(1.5 * RATE), dtype=np.float32)
    with pytest.raises(ValueError, match=r"has only 0\.70 s from start=0\.8 s.*\(or an earlier start\)"):
        processor("pop", "la", reference_voice=(long_tone, RATE), voice_start=0.8)


def test_strict_voice_off_keeps_padding_and_warns(processor, caplog):
    short = processor(
        "pop", "la", reference_voice=(0.1 * np.ones(RATE // 2, dtype=np.float32), RATE), strict_voice=False
    )
    assert int(short["voice_attention_mask"].sum()) == RATE // 2  # zero-padded, as for training data
    with caplog.at_level(logging.WARNING):
        processor("pop", "la", reference_voice=(np.zeros(RATE, dtype=np.float32), RATE), strict_voice=False)
    assert "digital silence" in caplog.text


def test_real_clip_length_is_three_seconds():
    extractor = VoiceFeatureExtractor()  # the released models' 3 s at 24 kHz
    with pytest.raises(ValueError, match=r"is 2\.00 s long, but the model needs at least 3 s of voice"):
        extractor(0.1 * np.ones(2 * RATE, dtype=np.float32), sampling_rate=RATE, strict=True)
    # resampling may land a few samples short of 3 s at the end of a file: still accepted
    ok = extractor(0.1 * np.ones(3 * 44100, dtype=np.float32), sampling_rate=44100, strict=True, return_tensors="np")
    assert ok["attention_mask"].sum() >= 3 * RATE - 240


# ---------------------------------------------------------------------- model folder
@pytest.fixture(scope="module")
def bad_folders(folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_models")
    empty = root / "empty"
    empty.mkdir()
    bert = root / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    junk = root / "junk"
    junk.mkdir()
    (junk / "config.json").write_text("{not json")
    codec = root / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(codec)
    no_weights = root / "no_weights"
    no_weights.mkdir()
    shutil.copy(folder / "config.json", no_weights)
    no_processor = root / "no_processor"
    no_processor.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(folder / name, no_processor)
    return {
        "missing": root / "missing",
        "file": folder / "config.json",
        "empty": empty,
        "bert": bert,
        "junk": junk,
        "codec": codec,
        "no_weights": no_weights,
        "no_processor": no_processor,
    }


FOLDER_MESSAGES = {
    "missing": "is not a model folder: it does not exist",
    "file": "is not a model folder but a file",
    "empty": r"is not a model folder \(no config.json there\)",
    "bert": "is not a SongGen checkpoint: its config.json has model_type 'bert', not 'songgen'",
    "junk": "is not a valid model config",
    "codec": r"model_type 'songgen_xcodec' \(an X-Codec codec: use `songgen codec \.\.\.`\)",
    "no_weights": r"has a SongGen config.json but no weights \(model.safetensors\)",
    "no_processor": r"has SongGen weights but no processor files \(processor_config.json\)",
}


@pytest.mark.parametrize("name", sorted(FOLDER_MESSAGES))
def test_model_folder_that_is_not_a_songgen_checkpoint(bad_folders, name):
    with pytest.raises(ValueError, match=FOLDER_MESSAGES[name]):
        load_text_to_song_pipeline(bad_folders[name])


def test_folder_checks_accept_good_folders_and_adapters(folder, tmp_path):
    assert check_songgen_folder(folder) == str(folder)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="adapter"):  # an adapter without weights is refused, naming what is missing
        check_songgen_folder(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(folder)}))
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    assert check_songgen_folder(tmp_path) == str(tmp_path)  # its base is checked with it
    with pytest.raises(ValueError, match="no config.json"):
        check_songgen_folder(tmp_path, allow_adapter=False)


def test_plain_pipeline_call_on_a_folder_without_processor(bad_folders):
    from transformers import pipeline

    with pytest.raises(ValueError, match="processor config file 'processor_config.json' is missing"):
        pipeline("text-to-song", model=str(bad_folders["no_processor"]))
