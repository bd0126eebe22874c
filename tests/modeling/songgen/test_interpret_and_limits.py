"""``SongGenProcessor.interpret`` (what was understood), transliterated lyrics, and the text/voice limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import songgen_hf
from songgen_hf.modeling.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_DESCRIPTION_TOKENS,
    MAX_LYRICS_CHARS,
    MAX_REFERENCE_VOICE_SECONDS,
)
from songgen_hf.modeling.songgen import feature_extraction_songgen as voice_features
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.tokenization_songgen import latin_reading
from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

DEFAULT_MODEL = Path(songgen_hf.__file__).parent / "assets" / "songgen-tiny"
INTERPRET_KEYS = {
    "tempo_bpm",
    "tempo_source",
    "key",
    "key_source",
    "vocals",
    "drums",
    "lyrics_encoded",
    "musical_controls",
    "arrangement_control",
    "lyrics",
    "sections",
    "instrumental",
}


@pytest.fixture(scope="module")
def processor():
    """The embedded default model's processor (it takes the tempo, key and arrangement controls)."""
    return SongGenProcessor.from_pretrained(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def voice_processor():
    """A processor with a voice feature extractor (1 s clips) and no musical controls."""
    return SongGenProcessor.for_config(tiny_songgen_config("mixed"), *tiny_tokenizers())


# ---------------------------------------------------------------------- interpret
def test_interpret_says_what_was_understood(processor):
    reading = processor.interpret("a ballad in F# minor at 96 BPM, no drums", "Corazón, 2 times\nOlé")
    assert reading == {
        "tempo_bpm": 96.0,
        "tempo_source": "description",
        "key": "F# minor",
        "key_source": "description",
        "vocals": None,
        "drums": False,
        "musical_controls": True,
        "arrangement_control": True,
        "lyrics": "corazon, two times\nole",  # its lines, as the model reads each
        "lyrics_encoded": "corazon, two times.ole",  # the text the lyrics encoder reads
        "instrumental": False,
        "sections": [{"section": None, "label": "", "lines": ["corazon, two times", "ole"]}],
    }
    assert json.loads(json.dumps(reading)) == reading  # plain JSON
    reading = processor.interpret("in a minor mood", tempo_bpm=100, key="Bbm")
    assert set(reading) == INTERPRET_KEYS
    assert (reading["tempo_bpm"], reading["tempo_source"], reading["key"], reading["key_source"]) == (
        100.0,
        "argument",
        "Bb minor",
        "argument",
    )
    assert reading["instrumental"] is True and reading["lyrics"] == ""


def test_section_tags_are_structure_not_words(processor):
    lyrics = "[Verse 1]\nThe city lights\n\n[chorus]\nhold on [x2]\n[Pre-Chorus] we rise\n[guitar solo]"
    reading = processor.interpret("pop", lyrics)
    assert reading["lyrics_encoded"] == "the city lights..hold on.we rise"  # what the lyrics encoder reads
    assert reading["lyrics"] == "the city lights\nhold on\nwe rise"  # its sung lines, no tag words
    assert reading["sections"] == [
        {"section": "verse", "label": "Verse 1", "lines": ["the city lights"]},
        {"section": "chorus", "label": "chorus", "lines": ["hold on"]},
        {"section": "pre-chorus", "label": "Pre-Chorus", "lines": ["we rise"]},
        {"section": "other", "label": "guitar solo", "lines": []},  # an unknown tag: a section, never sung
    ]
    plain = processor(description="pop", lyrics="The city lights\n\nhold on\nwe rise", return_tensors=None)
    tagged = processor(description="pop", lyrics=lyrics, return_tensors=None)
    assert tagged["lyrics_input_ids"] == plain["lyrics_input_ids"]
    only_tags = processor.interpret("pop", "[intro]\n[outro]")
    assert only_tags["instrumental"] is True and only_tags["lyrics"] == ""


def test_interpret_reads_controls_a_model_lacks_and_says_they_are_unused(voice_processor):
    reading = voice_processor.interpret("pop in C major, 120-130 bpm", "la la")
    assert reading["musical_controls"] is False
    assert (reading["tempo_bpm"], reading["key"]) == (125.0, "C major")


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("200000 bpm",), {}, r"\[20, 400\] BPM"),
        (("0 bpm",), {}, r"\[20, 400\] BPM"),
        (("in H# major",), {}, "not a note name"),
        (("",), {"lyrics": ""}, "empty description and empty lyrics"),
        (("pop",), {"lyrics": "我爱你"}, "cannot represent.*'我'"),
        (("pop",), {"tempo_bpm": 1e9}, r"tempo_bpm must lie in \[20, 400\]"),
        (("pop",), {"key": "H minor"}, "Unknown key tonic"),
        (("x" * (MAX_DESCRIPTION_CHARS + 1),), {}, "MAX_DESCRIPTION_CHARS"),
        (("x " * (MAX_DESCRIPTION_TOKENS + 10),), {}, "MAX_DESCRIPTION_TOKENS"),
        (("pop",), {"lyrics": "la " * (MAX_LYRICS_CHARS // 3 + 1)}, "MAX_LYRICS_CHARS"),
        (("pop",), {"lyrics": "hold me close tonight " * 100}, "tokens long"),
        ((["pop", "rock"],), {}, "description must be a str"),
    ],
)
def test_interpret_refuses_what_call_refuses(processor, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        processor.interpret(*args, **kwargs)
    if isinstance(args[0], str):
        with pytest.raises(ValueError, match=message):
            processor(args[0], kwargs.get("lyrics", ""), tempo_bpm=kwargs.get("tempo_bpm"), key=kwargs.get("key"))


def test_explicit_controls_for_a_model_without_them_are_refused(voice_processor):
    for kwargs in ({"tempo_bpm": 120}, {"key": "C major"}):
        with pytest.raises(ValueError, match="this model has no"):
            voice_processor.interpret("pop", **kwargs)


# ---------------------------------------------------------------------- transliteration
@pytest.mark.parametrize(
    "lyrics, read_as",
    [
        ("corazón", "corazon"),
        ("Café", "cafe"),
        ("naïve", "naive"),
        ("Straße", "strasse"),
        ("smørrebrød", "smorrebrod"),
        ("Æther œuvre", "aether oeuvre"),
        ("Łódź Đorđe Þór", "lodz dorde thor"),
        ("¡Olé! ¿qué?", "ole! que?"),
        ("don’t — «stop»", "don't - stop"),
        ("ﬁne", "fine"),
    ],
)
def test_accented_latin_letters_are_spelled_plainly(processor, lyrics, read_as):
    assert processor.interpret("pop", lyrics)["lyrics"] == read_as
    tokenizer = processor.lyrics_tokenizer
    assert tokenizer.unknown_characters(lyrics) == []
    assert tokenizer.frame_lyrics(lyrics) == tokenizer.frame_lyrics(read_as)  # the model reads exactly that
    processor("pop", lyrics)  # accepted


@pytest.mark.parametrize("char", ["你", "😀", "♥", "ж", "²"])
def test_characters_without_a_latin_reading_are_named(processor, char):
    assert latin_reading(char) is None or not latin_reading(char).isalpha()
    with pytest.raises(ValueError, match=f"cannot represent.*'{char}'"):
        processor("pop", f"café {char}")


# ---------------------------------------------------------------------- limits, before any work
def test_a_100000_character_description_is_refused_at_once(processor, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the tokenizer was called")

    monkeypatch.setattr(type(processor.tokenizer), "__call__", never)
    monkeypatch.setattr(type(processor.lyrics_tokenizer), "__call__", never)
    start = time.perf_counter()
    for call in (lambda text: processor(text, "la la"), lambda text: processor.interpret(text, "la la")):
        with pytest.raises(ValueError, match=r"100,000 characters long; the limit is 2,000 characters"):
            call(("a very long description " * 4_167)[:100_000])
    assert time.perf_counter() - start < 1.0


def test_description_tokens_are_capped_and_truncation_cuts_to_the_cap(processor):
    text = "la " * 600  # under the character limit, over the token limit
    with pytest.raises(ValueError, match=rf"tokens long; the limit is {MAX_DESCRIPTION_TOKENS} tokens"):
        processor(text)
    inputs = processor(text, truncation=True)
    assert inputs["input_ids"].shape[1] <= MAX_DESCRIPTION_TOKENS


def test_lyrics_character_limit_comes_before_tokenizing(processor, monkeypatch):
    monkeypatch.setattr(type(processor.lyrics_tokenizer), "unknown_characters", lambda *a, **k: 1 / 0)
    with pytest.raises(ValueError, match=r"Lyrics item 1 is 10,001 characters long; the limit is 10,000"):
        processor(["pop", "rock"], ["la", "x" * (MAX_LYRICS_CHARS + 1)])


def _no_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("audio was decoded")

    monkeypatch.setattr(voice_features, "_read_window", refuse)
    monkeypatch.setattr(voice_features, "_to_mono_float", refuse)


def test_a_long_reference_voice_file_is_refused_from_its_header(voice_processor, tmp_path, monkeypatch):
    rate = 100  # a tiny rate keeps a 10-minute file a few kilobytes
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(int((MAX_REFERENCE_VOICE_SECONDS + 1) * rate), dtype=np.int16), rate, subtype="PCM_16")
    _no_decoding(monkeypatch)
    with pytest.raises(ValueError, match=r"601\.0 s long; the limit is 600 s .*MAX_REFERENCE_VOICE_SECONDS"):
        voice_processor("pop", "la", reference_voice=str(path))
    with open(path, "rb") as handle:  # a file object: its header too, and its position is kept
        with pytest.raises(ValueError, match="MAX_REFERENCE_VOICE_SECONDS"):
            voice_processor("pop", "la", reference_voice=handle)
        assert handle.tell() == 0


@pytest.mark.parametrize("shape", [(60_100,), (2, 60_100), (60_100, 2)])
def test_a_long_reference_voice_array_is_refused_from_its_shape(voice_processor, monkeypatch, shape):
    _no_decoding(monkeypatch)
    with pytest.raises(ValueError, match=r"Reference voice 1 is 601\.0 s long"):
        voice_processor(["a", "b"], ["la", "la"], reference_voice=[None, (np.zeros(shape, np.float32), 100)])


def test_a_reference_voice_within_the_limit_still_works(voice_processor):
    rate = 16000
    tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(2 * rate) / rate)).astype(np.float32)
    inputs = voice_processor("pop", "la", reference_voice=(tone, rate))
    assert inputs["voice_attention_mask"].sum() > 0
