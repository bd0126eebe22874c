"""The one parser of song structure: section tags are structure, never sung words."""

import pytest

from songgen_hf.modeling.songgen.processing_songgen import format_understood
from songgen_hf.modeling.songgen.tokenization_songgen import parse_song_structure, section_kind, sung_lyrics


def test_tags_start_sections_and_are_not_sung():
    structure = parse_song_structure("[verse]\nthe city lights\n\n[Chorus 2]\nhold on [x2]\n[pre chorus] we rise")
    assert [(s.kind, s.label, s.lines) for s in structure.sections] == [
        ("verse", "verse", ("the city lights",)),
        ("chorus", "Chorus 2", ("hold on",)),
        ("pre-chorus", "pre chorus", ("we rise",)),
    ]
    assert structure.lines == ("the city lights", "hold on", "we rise")
    assert structure.sung_text() == "the city lights\n\nhold on\nwe rise"  # blank lines kept, tags gone


@pytest.mark.parametrize(
    "tag,kind",
    [
        ("Verse 1", "verse"),
        ("REFRAIN", "chorus"),
        ("Pre-Chorus: both", "pre-chorus"),
        ("post_chorus", "post-chorus"),
        ("hook x2", "hook"),
        ("Middle 8", "bridge"),
        ("intro", "intro"),
        ("Outro (fade)", "outro"),
        ("guitar solo", "other"),
        ("spoken", "other"),
    ],
)
def test_tag_kinds(tag, kind):
    assert section_kind(tag) == kind


def test_untagged_lyrics_read_as_written_and_parentheses_are_sung():
    lyrics = "Hold me close (oh oh)\r\n\r\n  the stars are bright  "
    assert sung_lyrics(lyrics) == "Hold me close (oh oh)\n\n  the stars are bright  "
    (section,) = parse_song_structure(lyrics).sections
    assert section.kind is None and section.lines == ("Hold me close (oh oh)", "the stars are bright")
    assert parse_song_structure("").sections == ()
    with pytest.raises(ValueError, match="Lyrics must be a str"):
        parse_song_structure(["a list"])


def test_only_tags_sing_nothing():
    structure = parse_song_structure("[intro]\n[instrumental]\n[outro]")
    assert [s.kind for s in structure.sections] == ["intro", "break", "outro"] and structure.sung_text() == ""


def test_the_cli_line_names_the_sections():
    understood = {
        "lyrics": "the city lights.hold on",
        "instrumental": False,
        "sections": [
            {"section": "verse", "label": "Verse 1", "lines": ["the city lights"]},
            {"section": "chorus", "label": "chorus", "lines": ["hold on"]},
        ],
    }
    assert format_understood(understood).endswith("lyrics 5 words in 2 sections (Verse 1, chorus)")


@pytest.mark.parametrize(
    "lyrics, message",
    [
        ("[chorus\nla la", r"line 1 \('\[chorus'\) has a '\[' or '\]' without its pair"),
        ("la la\n]chorus[\nhey", r"line 2 \('\]chorus\['\) has a '\[' or '\]' without its pair"),
        ("[verse]\nwe sing ]here", r"line 2 .* without its pair"),
        (
            "[chorus: at 90 bpm at 180 bpm]\nla la",
            r"section \[chorus: at 90 bpm at 180 bpm\] asks for two tempos in its "
            r"note \(90 BPM and 180 BPM\); keep one",
        ),
        ("[bridge: in A minor, then in C major]\nla", r"asks for two keys in its note \(A minor and C major\)"),
    ],
)
def test_tags_that_cannot_be_read_as_meant_are_refused_not_sung(lyrics, message):
    from songgen_hf.modeling.songgen.arguments_songgen import check_lyric_tags, text_batch

    with pytest.raises(ValueError, match=message):
        check_lyric_tags([lyrics])
    with pytest.raises(ValueError, match=message):  # where every request's lyrics enter the processor
        text_batch("a pop song", lyrics)


def test_well_formed_tags_and_notes_pass():
    from songgen_hf.modeling.songgen.arguments_songgen import check_lyric_tags

    check_lyric_tags(["[chorus: anthemic, at 140 bpm, in A major]\nhold on [x2]\n[verse 2]\nwe (oh oh) run"])
    check_lyric_tags(["[chorus: at 120 bpm, 120 bpm feel]\nla"])  # the same tempo twice is one ask
