"""What a description asks for, read from the phrasings people write (issue #18, deliverable 5).

One table: each row is a description and the expected reading of the processor's strict parser:
the tempo (BPM or None), the key (canonical name or None), or ``REFUSED`` where the description
clearly asks for something outside what the model knows and must get a clear ``ValueError``.
"""

import pytest

from songgen_hf.modeling.songgen.description_songgen import (
    MAX_BPM,
    MIN_BPM,
    interpret_controls,
    musical_controls,
    read_arrangement,
    read_key,
    read_tempo,
)

REFUSED = "refused"

PHRASINGS = [
    # ---- tempo: units and spellings
    ("a pop song at 120 bpm", 120.0, None),
    ("a pop song at 120 BPM", 120.0, None),
    ("a pop song at 120 Bpm", 120.0, None),
    ("a club track, 128bpm", 128.0, None),
    ("a 140-BPM club track", 140.0, None),
    ("a 140-bpm banger", 140.0, None),
    ("96 beats per minute, soft piano", 96.0, None),
    ("96 beats a minute, soft piano", 96.0, None),
    ("96 beats an minute", 96.0, None),
    ("120 beats/min", 120.0, None),
    ("120 beats / min", 120.0, None),
    ("120 beat per minute", 120.0, None),
    ("90 b.p.m. boom bap", 90.0, None),
    ("90 b.p.m boom bap", 90.0, None),
    ("tempo 99.5 BPM", 99.5, None),
    ("lofi at 72.5 bpm", 72.5, None),
    ("slow ballad (60 bpm)", 60.0, None),
    ("~85 bpm chill hop", 85.0, None),
    # ---- tempo: "tempo of N", "BPM: N"
    ("tempo of 120", 120.0, None),
    ("at a tempo of 120, bright synths", 120.0, None),
    ("Tempo: 120", 120.0, None),
    ("tempo: 90 bpm", 90.0, None),
    ("tempo=132", 132.0, None),
    ("tempo is 100", 100.0, None),
    ("tempo around 110", 110.0, None),
    ("BPM: 120", 120.0, None),
    ("bpm 120, trap beat", 120.0, None),
    ("bpm=174 drum and bass", 174.0, None),
    # ---- tempo: ranges give their middle
    ("120-130 bpm", 125.0, None),
    ("120 - 130 BPM house", 125.0, None),
    ("120–130 bpm", 125.0, None),
    ("120 to 130 bpm", 125.0, None),
    ("90 bpm to 100 bpm", 95.0, None),
    ("between 90 and 100 bpm", 95.0, None),
    ("tempo: 120-130", 125.0, None),
    ("130-120 bpm", 125.0, None),
    # ---- tempo: numbers that are not a tempo
    ("a song from 1999", None, None),
    ("90s hip hop", None, None),
    ("up-tempo 90s dance pop", None, None),
    ("mid-tempo 2-step garage", None, None),
    ("uptempo 80s synthwave", None, None),
    ("a 3 minute song with 2 guitars", None, None),
    ("4/4 time, 16 bars", None, None),
    ("tempo: 4/4, swung", None, None),
    ("tempo 2 step", None, None),
    ("", None, None),
    # ---- tempo: out of range is refused, naming the range
    ("200000 bpm", REFUSED, None),
    ("0 bpm", REFUSED, None),
    ("10 bpm drone", REFUSED, None),
    ("1200 BPM of noise", REFUSED, None),
    ("-5 bpm", REFUSED, None),
    ("tempo of 0", REFUSED, None),
    ("BPM: 5000", REFUSED, None),
    ("10-30 bpm", REFUSED, None),
    ("200,000 bpm", REFUSED, None),
    # ---- key: capital tonics, any case of the mode
    ("B Minor", None, "B minor"),
    ("b minor", None, "B minor"),
    ("a rock song in E minor", None, "E minor"),
    ("C major", None, "C major"),
    ("C MAJOR pop", None, "C major"),
    ("d minor ballad", None, "D minor"),
    ("ballad in d minor", None, "D minor"),
    # ---- key: hyphens, accidentals, symbols
    ("G-minor", None, "G minor"),
    ("g-minor", None, "G minor"),
    ("C# Major", None, "C# major"),
    ("c# major", None, "C# major"),
    ("in F# minor", None, "F# minor"),
    ("F♯ minor", None, "F# minor"),
    ("E♭ major", None, "Eb major"),
    ("Eb major", None, "Eb major"),
    ("eb major", None, "Eb major"),
    ("Bb minor groove", None, "Bb minor"),
    ("in E-flat major", None, "Eb major"),
    ("in F sharp minor", None, "F# minor"),
    ("in F-sharp minor", None, "F# minor"),
    ("A flat major", None, "Ab major"),
    ("A-flat major", None, "Ab major"),
    ("Cb major", None, "B major"),
    ("E# minor", None, "F minor"),
    ("Db Major", None, "Db major"),
    # ---- key: maj/min and the "m" chord form
    ("Bb min groove", None, "Bb minor"),
    ("C maj", None, "C major"),
    ("Gmaj", None, "G major"),
    ("Am", None, "A minor"),
    ("sad song in Am", None, "A minor"),
    ("F#m", None, "F# minor"),
    ("Bbm", None, "Bb minor"),
    ("Ebm groove", None, "Eb minor"),
    ("C#m, 90 bpm", 90.0, "C# minor"),
    ("I am happy", None, None),
    ("a song in C", None, None),
    ("Am7 chords over a drone", None, None),
    # ---- key: "key of", "key:", "in the key of"
    ("key: a minor", None, "A minor"),
    ("Key: A minor", None, "A minor"),
    ("key of a minor", None, "A minor"),
    ("in the key of a minor", None, "A minor"),
    ("in the key of E", None, "E major"),
    ("key of G", None, "G major"),
    ("key: Bb", None, "Bb major"),
    ("key: am", None, "A minor"),
    ("key = D minor", None, "D minor"),
    ("the key is C# minor", None, "C# minor"),
    ("key: a warm piano", None, None),
    ("the key of a great song", None, None),
    ("low-key a cappella", None, None),
    # ---- key: the article "a" is not a key
    ("in a minor mood", None, None),
    ("A major hit song", None, None),
    ("a minor setback", None, None),
    ("a major label release", None, None),
    ("A minor setback for the band", None, None),
    ("a song with a minor twist", None, None),
    ("in a major way", None, None),
    ("in a minor key", None, None),
    ("Pop. A major hit.", None, None),
    ("a ballad in a minor", None, "A minor"),
    ("in a minor", None, "A minor"),
    ("in a minor, 80 bpm", 80.0, "A minor"),
    ("in a minor at 80 bpm", 80.0, "A minor"),
    ("in A minor", None, "A minor"),
    ("in A minor mood", None, "A minor"),
    ("A minor", None, "A minor"),
    ("A minor.", None, "A minor"),
    ("A minor, slow", None, "A minor"),
    ("A minor key ballad", None, "A minor"),
    ("a-minor", None, "A minor"),
    ("sad piano, A major", None, "A major"),
    ("epic A major anthem", None, "A major"),
    ("Sad Piano Ballad In A Minor", None, "A minor"),
    # ---- key: the first key named wins, ordinary words are skipped
    ("A major hit song in C minor", None, "C minor"),
    ("in D major, then a key change", None, "D major"),
    ("minority report", None, None),
    ("a majorly good time", None, None),
    ("Gen Z major label", None, None),
    # ---- key: meant but not a key is refused
    ("in H# major", None, REFUSED),
    ("in H minor", None, REFUSED),
    ("in X minor", None, REFUSED),
    ("H# major", None, REFUSED),
    ("key: H", None, REFUSED),
    ("in the key of Z", None, REFUSED),
    ("key of H-flat minor", None, REFUSED),
    # ---- both at once
    ("A lively blues in A major at 122 BPM, with organ", 122.0, "A major"),
    ("dark trap, F minor, 140 bpm", 140.0, "F minor"),
    ("BPM: 100, key: G major", 100.0, "G major"),
    ("an upbeat pop song with a female voice", None, None),
]


def _reading(read, text):
    try:
        return read(text, strict=True)
    except ValueError:
        return REFUSED


@pytest.mark.parametrize("text, tempo, key", PHRASINGS, ids=[row[0] or "<empty>" for row in PHRASINGS])
def test_description_phrasings(text, tempo, key):
    assert _reading(read_tempo, text) == tempo
    found = _reading(read_key, text)
    assert (found if found in (None, REFUSED) else found[1]) == key


def test_the_battery_is_large_and_varied():
    assert len(PHRASINGS) >= 100
    assert len({row[0] for row in PHRASINGS}) == len(PHRASINGS)  # no row counted twice
    assert sum(row[1] == REFUSED for row in PHRASINGS) >= 5 and sum(row[2] == REFUSED for row in PHRASINGS) >= 5


def test_refusals_name_the_range_or_the_fix():
    with pytest.raises(ValueError, match=rf"200000 BPM .*\[{MIN_BPM:g}, {MAX_BPM:g}\] BPM"):
        read_tempo("200000 bpm", strict=True)
    with pytest.raises(ValueError, match=r"'H# major'.*'H' is not a note name.*'F# minor'"):
        read_key("in H# major", strict=True)


def test_training_captions_are_read_leniently():
    # the same words, but a caption never stops training: out of range or invalid is just unknown
    assert read_tempo("1200 BPM of noise, then 90 bpm") == 90.0
    assert read_tempo("200000 bpm") is None
    assert read_key("in H# major") is None
    assert read_key("in H# major, later in C minor") == (12, "C minor")


def test_explicit_values_win_and_say_so():
    assert interpret_controls("in C minor at 90 bpm", tempo_bpm=100, key="F#m") == {
        "tempo_bpm": 100.0,
        "tempo_source": "argument",
        "key": "F# minor",
        "key_source": "argument",
        "vocals": None,
        "drums": None,
    }
    assert interpret_controls("in C minor at 90 bpm, no drums") == {
        "tempo_bpm": 90.0,
        "tempo_source": "description",
        "key": "C minor",
        "key_source": "description",
        "vocals": None,
        "drums": False,
    }
    assert interpret_controls("a pop song") == {
        "tempo_bpm": None,
        "tempo_source": None,
        "key": None,
        "key_source": None,
        "vocals": None,
        "drums": None,
    }
    for bad in ({"tempo_bpm": 0}, {"tempo_bpm": float("nan")}, {"key": "H minor"}, {"key": "A dorian"}):
        with pytest.raises(ValueError):
            interpret_controls("pop", **bad)


def test_every_synthetic_corpus_caption_is_read_back():
    """The captions the synthetic corpus trains on state key and tempo; the parser must find them all."""
    import numpy as np

    from songgen_hf.data.synth import descriptions
    from songgen_hf.modeling.music import GENRES, PITCH_CLASS_NAMES

    rng = np.random.default_rng(0)
    programs = list(descriptions.GM_PROGRAMS)
    for mood in descriptions.MOODS:
        for genre in GENRES:
            for pitch, tonic in enumerate(PITCH_CLASS_NAMES):
                for mode in ("major", "minor"):
                    attributes = {
                        "mood": mood,
                        "genre": genre,
                        "key": tonic,
                        "mode": mode,
                        "tempo_bpm": float(rng.integers(60, 180)),
                        "drums": bool(rng.integers(0, 2)),
                        "instruments": [{"program": programs[int(rng.integers(0, len(programs)))]}],
                        "vocal_gender": "female",
                        "time_signature": ("4/4", "3/4")[int(rng.integers(0, 2))],
                    }
                    caption = descriptions.describe(attributes, rng)
                    assert read_key(caption, strict=True)[0] == pitch + (12 if mode == "minor" else 0), caption
                    assert read_tempo(caption, strict=True) == attributes["tempo_bpm"], caption
                    assert read_arrangement(caption) == (True, attributes["drums"]), caption


@pytest.mark.parametrize(
    ("text", "vocals", "drums"),
    [
        ("A happy pop song with piano, drums, and a female voice.", True, True),
        ("instrumental rock, no vocals", False, None),
        ("Instrumental only; a steady drum beat", False, True),
        ("no vocals or drums, just piano", False, False),
        ("without drums or percussion, male singer", True, False),
        ("no drums and female vocals", True, False),  # the negation covers only a list of parts
        ("drumless ballad with male lead vocals", True, False),
        ("no singing, flute on the melody", False, None),
        ("a folk tune with no percussion", None, False),
        ("no real drums, a drum machine", None, True),  # "real" is not a negated part: there are drums
        ("without any drums", None, False),
        ("vocal-less lo-fi with a drum loop", False, True),
        ("a cappella choir", True, None),
        (
            "an upbeat synthwave track in A minor",
            None,
            None,
        ),  # "upbeat" is not a beat, "Instrumentation" no instrumental
        ("Instrumentation: strings and organ", None, None),
    ],
)
def test_arrangement_phrasings(text, vocals, drums):
    assert read_arrangement(text) == (vocals, drums)


def test_arrangement_ids_follow_the_switch():
    """Only a model built with the arrangement control gets ids; "not said" is the unknown id 8."""
    texts = ["instrumental, no drums", "female vocals and drums", "a pop song"]
    assert "arrangement_ids" not in musical_controls(texts, use_tempo=False, use_key=False)
    ids = musical_controls(texts, use_tempo=False, use_key=False, use_arrangement=True)["arrangement_ids"]
    assert ids == [0, 4, 8]  # 3 * vocals + drums, each 0 without / 1 with / 2 not said


def test_every_v2_corpus_caption_states_its_arrangement():
    """Corpus v2 has instrumentals and drumless songs; every caption must be read back as built."""
    from songgen_hf.data.synth.corpus import CorpusConfig
    from songgen_hf.data.synth.corpus_v2 import plan_caption

    config = CorpusConfig(corpus_version=2)
    seen = set()
    for index in range(200):
        caption, attributes = plan_caption(config, "train", index)
        assert read_arrangement(caption) == (attributes["has_vocals"], attributes["has_drums"]), caption
        seen.add((attributes["has_vocals"], attributes["has_drums"]))
    assert seen == {(True, True), (True, False), (False, True), (False, False)}
