"""The vocal score composed for a request (modeling/songgen/processing_songgen.py): what the told singer is told."""

import dataclasses
import json
import math
from pathlib import Path

import pytest

from songgen_hf.modeling.music import FEMALE_VOICES, MALE_VOICES, SCALE_STEPS, VOCAL_REGISTERS
from songgen_hf.modeling.songgen.vocal_score_songgen import (
    VocalScore,
    compose_vocal_score,
    lyric_lines,
    request_scores,
    syllables_of,
    vocal_gender,
)

LYRICS = "we run across the night\nand sing until the morning light"


def test_words_the_corpus_sang_keep_its_spellings_and_others_split_by_vowel_groups():
    assert syllables_of("across") == ("uh", "cross")  # the corpus's near-phonetic spelling
    assert syllables_of("Tonight") == ("to", "night")
    assert syllables_of("shine") == ("shyne",)
    assert syllables_of("computer") == ("com", "pu", "ter")
    assert syllables_of("strange") == ("strange",)  # one vowel group: one syllable
    assert syllables_of("rhythm") == ("rhythm",)  # y is a vowel: still one group here
    assert lyric_lines("Hold me.we RUN!\n\n  ") == [["hold", "me"], ["we", "run"]]


@pytest.mark.parametrize("tempo,key", [(140.0, "E minor"), (72.0, "Bb major"), (100.0, "F# minor")])
def test_the_score_is_sung_on_the_tempo_grid_in_the_key_within_the_song(tempo, key):
    score = compose_vocal_score(LYRICS, "a song with a female singer", tempo, key, 10.0, seed=3)
    eighth = 30.0 / tempo
    assert len(score.syllables) >= 6
    for onset, duration in zip(score.onsets_s, score.durations_s):
        assert math.isclose(onset / eighth, round(onset / eighth), abs_tol=1e-3)  # on an eighth-note slot
        assert 0 < duration and onset + duration <= 10.0 - 0.5  # the song's closing chord is not sung over
    assert all(b >= a + d - 1e-6 for a, d, b in zip(score.onsets_s, score.durations_s, score.onsets_s[1:]))
    tonic, mode = key.split()
    root = {"E": 4, "Bb": 10, "F#": 6}[tonic]
    scale = {(root + step) % 12 for step in SCALE_STEPS[mode]}
    assert {note % 12 for note in score.midi} <= scale
    low, high = VOCAL_REGISTERS["female"]
    assert all(low <= note <= high for note in score.midi) and score.voice in FEMALE_VOICES
    # the syllables are the lyrics' own, in order, from the first
    expected = [s for word in LYRICS.split() for s in syllables_of(word)]
    assert list(score.syllables) == expected[: len(score.syllables)]


def test_a_long_line_goes_on_over_the_next_phrases_and_what_does_not_fit_is_not_sung():
    words = " ".join(["together"] * 30)  # 90 syllables in one line
    score = compose_vocal_score(words, "male vocals", 120.0, "C major", 10.0, seed=0)
    assert 6 <= len(score.syllables) < 90 and score.voice in MALE_VOICES
    assert score.end_s < 10.0
    starts = [onset for onset, syllable in zip(score.onsets_s, score.syllables)]
    assert starts == sorted(starts)


def test_the_same_request_and_seed_give_the_same_score_and_another_seed_another():
    one = compose_vocal_score(LYRICS, "pop", 110.0, "C major", 10.0, seed=5)
    assert one == compose_vocal_score(LYRICS, "pop", 110.0, "C major", 10.0, seed=5)
    assert one != compose_vocal_score(LYRICS, "pop", 110.0, "C major", 10.0, seed=6)
    assert compose_vocal_score(LYRICS, "pop", None, None, 10.0, seed=5) is not None  # tempo and key drawn


def test_nothing_to_sing_gives_no_score_and_bad_values_are_named():
    assert compose_vocal_score("", "pop", 120.0, "C major", 10.0) is None
    assert compose_vocal_score("... !!", "pop", 120.0, "C major", 10.0) is None
    assert compose_vocal_score(LYRICS, "pop", 60.0, "C major", 1.0) is None  # not one bar fits
    with pytest.raises(ValueError, match="positive tempo"):
        compose_vocal_score(LYRICS, "pop", -5.0, "C major", 10.0)
    with pytest.raises(ValueError, match="tonic"):
        compose_vocal_score(LYRICS, "pop", 120.0, "H major", 10.0)
    with pytest.raises(ValueError, match="as many onsets"):
        VocalScore(("la",), (0.0, 1.0), (0.5,), (60,), "en+f2")


def test_the_voice_follows_the_description():
    import numpy as np

    rng = np.random.default_rng(0)
    assert vocal_gender("a ballad sung by a woman", rng) == "female"
    assert vocal_gender("Male vocals, rock", rng) == "male"
    drawn = {vocal_gender("a pop song", np.random.default_rng(seed)) for seed in range(20)}
    assert drawn == {"female", "male"}


def test_request_scores_follow_what_the_processor_understood():
    from songgen_hf import SongGenProcessor
    from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

    config = tiny_songgen_config(
        "parallel_stream2", use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    processor = SongGenProcessor.for_config(config, *tiny_tokenizers())
    scores = request_scores(
        processor,
        ["a rock song at 150 bpm in A minor, male vocals", "an instrumental jazz piece", "a pop song without vocals"],
        [LYRICS, "", LYRICS],
        8.0,
        seed=2,
    )
    assert scores[1] is None and scores[2] is None
    assert scores[0] == compose_vocal_score(
        LYRICS, "a rock song at 150 bpm in A minor, male vocals", 150.0, "A minor", 8.0, seed=2
    )
    with pytest.raises(ValueError, match="as many lyrics"):
        request_scores(processor, ["a"], [], 8.0)


# Scores composed by the code before the shared music rules moved out of the corpus generator (data/synth) into
# songgen_hf.modeling.music: the same request and seed must still give the same score, note for note.
BEFORE_MOVE = Path(__file__).parent / "data" / "vocal_scores_before_move.json"


@pytest.mark.parametrize("index", range(4))
def test_a_composed_score_is_the_one_composed_before_the_move(index):
    case = json.loads(BEFORE_MOVE.read_text())[index]
    score = dataclasses.asdict(compose_vocal_score(**case["request"]))
    assert json.loads(json.dumps(score)) == case["score"]


def test_section_tags_are_not_sung():
    assert lyric_lines("[verse]\nthe city lights") == [["the", "city", "lights"]]
    assert lyric_lines("[Chorus 2]\nhold on [x2]\n[bridge] we rise") == [["hold", "on"], ["we", "rise"]]
    tagged = "[verse]\nwe run across the night\n\n[chorus]\nand sing until the morning light\n[outro]"
    plain = "we run across the night\n\nand sing until the morning light"
    assert compose_vocal_score(tagged, "female vocals", 120.0, "C major", 12.0, seed=5) == compose_vocal_score(
        plain, "female vocals", 120.0, "C major", 12.0, seed=5
    )
    assert "verse" not in compose_vocal_score(tagged, "female vocals", 120.0, "C major", 12.0, seed=5).syllables
    assert compose_vocal_score("[intro]\n[instrumental break]", "pop", 120.0, None, 10.0) is None


SECTIONED = """[intro]
[verse]
we run across the night
and sing until the light
hold me close tonight
the stars are shining bright
[chorus]
walking down the road alone
finding my way back home
[bridge]
[verse]
every river finds the sea
every song comes back to me
[chorus]
walking down the road alone
finding my way back home
[outro]"""


def _default_processor():
    """The embedded default's processor: it knows its model's window (31.6 s) and reads long lyrics."""
    from songgen_hf import SongGenProcessor
    from songgen_hf.pipelines.loading import default_model_path

    return SongGenProcessor.from_pretrained(default_model_path())


def _planned_score(duration_s: float, tempo: float = 120.0, lyrics: str = SECTIONED):
    from songgen_hf.modeling.songgen.vocal_score_songgen import request_score

    processor = _default_processor()
    description = f"a pop song at {tempo:g} bpm in C major, female vocals"
    understood = processor.interpret(description, lyrics, duration_s=duration_s)
    score = request_score(processor, description, lyrics, duration_s, seed=1, understood=understood)
    return understood["plan"], score


def test_a_planned_song_sings_each_section_in_its_own_time_and_nothing_in_instrumental_ones():
    plan, score = _planned_score(120.0)
    bar = 4 * 60.0 / 120.0
    sections = plan["sections"]
    assert [s["instrumental"] for s in sections] == [True, False, False, True, False, False, True]
    for section in sections:
        inside = [
            syllable
            for syllable, onset in zip(score.syllables, score.onsets_s)
            # a section's bars: its span rounded to the bar grid
            if round(section["start_s"] / bar) * bar <= onset < round(section["end_s"] / bar) * bar
        ]
        expected = [s for line in section["lines"] for word in line.lower().split() for s in syllables_of(word)]
        if section["instrumental"]:
            assert inside == []
        else:  # every planned line is sung, inside its section, in order
            assert inside == expected
    # the whole song is sung, not only its first lines (a one-window song sings at most six)
    assert score.end_s > sections[-2]["start_s"] and len(lyric_lines(SECTIONED)) > 6
    assert all(b >= a + d - 1e-6 for a, d, b in zip(score.onsets_s, score.durations_s, score.onsets_s[1:]))


def test_a_short_section_sings_a_line_a_bar_and_a_song_in_one_window_keeps_its_score():
    # at 60 s the verses' bars are too few for a line every two bars: each line takes one bar
    plan, score = _planned_score(60.0, tempo=140.0)
    verse = plan["sections"][1]
    bar = 4 * 60.0 / 140.0
    first, end = round(verse["start_s"] / bar) * bar, round(verse["end_s"] / bar) * bar
    onsets = [o for o in score.onsets_s if first <= o < end]
    assert len(onsets) == sum(len(syllables_of(w)) for line in verse["lines"] for w in line.lower().split())
    # a song that fits one window (songgen-tiny's 10 s) has no plan, and its score is the one-pass score
    from songgen_hf.modeling.songgen.vocal_score_songgen import request_score

    processor = _default_processor()
    understood = processor.interpret("pop, female vocals", SECTIONED, duration_s=10.0)
    assert "plan" not in understood
    assert request_score(processor, "pop, female vocals", SECTIONED, 10.0, 1, understood=understood) == (
        compose_vocal_score(SECTIONED, "pop, female vocals", None, None, 10.0, seed=1)
    )
    # a longer one is planned in the default model's 10 s windows
    assert processor.interpret("pop, female vocals", SECTIONED, duration_s=20.0)["plan"]["window_s"] == 10.0


def test_the_pipeline_scores_a_long_song_by_its_plan():
    from songgen_hf.pipelines.requests import prepare_song
    from songgen_hf.pipelines.text_to_song import song_score

    processor = _default_processor()
    song = prepare_song(processor, {"description": "pop at 120 bpm, male vocals", "lyrics": SECTIONED}, duration_s=120)
    score = song_score(processor, song, 120.0, seed=1)
    assert song.plan == _planned_score(120.0)[0]  # the plan the processor reads from the lengths
    bar = 4 * 60.0 / 120.0
    for section in song.plan["sections"]:
        first, end = round(section["start_s"] / bar) * bar, round(section["end_s"] / bar) * bar
        sung = [onset for onset in score.onsets_s if first <= onset < end]
        assert (not sung) == section["instrumental"]
