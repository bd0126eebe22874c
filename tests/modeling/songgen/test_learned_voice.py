"""A singer adapter's learnt voice (modeling/songgen/vocal_score_songgen.py): what its training songs' scores sang,
and the register and voice a song sung with it is planned in (song_voice, the one place that decides them)."""

import numpy as np
import pytest

from songgen_hf.modeling.music import FEMALE_VOICES, MALE_VOICES, VOCAL_REGISTERS
from songgen_hf.modeling.songgen.vocal_score_songgen import (
    MIN_REGISTER_SEMITONES,
    LearnedVoice,
    SungRegister,
    compose_vocal_score,
    song_voice,
)

LYRICS = "deep below the mountain\nwe carry the stone\nhear the river calling\nlong and low"
DEEP_VOICES = ("en-us+m3", "en-us+m7")


def _deep(songs: int = 12) -> LearnedVoice:
    """What a low male choir's songs sang: notes 34-50 (as `songgen data synth --style bass_choir` draws them)."""
    rng = np.random.default_rng(0)
    sung = [("male", rng.integers(34, 51, size=10).tolist(), DEEP_VOICES[i % 2]) for i in range(songs)]
    return LearnedVoice.from_scores(sung)


def test_what_the_songs_sang_is_their_notes_median_and_range_and_their_voices_shares():
    rng = np.random.default_rng(1)
    notes = [rng.integers(36, 49, size=12).tolist() for _ in range(9)]
    sung = [("male", notes[i], "en-us+m3" if i < 6 else None) for i in range(9)]
    sung += [(None, [70, 71], "x"), ("female", [60, 62, 64], "en-us+f2"), ("male", [-1, -1], "en-us+m1")]
    learned = LearnedVoice.from_scores(sung)
    everything = np.concatenate(notes)
    register = learned.register("male")
    assert register.median == pytest.approx(float(np.median(everything)))
    assert register.low <= np.quantile(everything, 0.025) and register.high >= np.quantile(everything, 0.975)
    assert register.high - register.low >= MIN_REGISTER_SEMITONES
    assert abs((register.low + register.high) / 2 - register.median) <= 1  # centred on what was sung
    # the songs of unknown gender or notes are left out; a gender with too few notes is not recorded
    assert register.songs == 9 and dict(register.voices) == pytest.approx({"en-us+m3": 6 / 9, "": 3 / 9})
    assert learned.register("female") is None and learned.gender_share("male") == 1.0
    assert LearnedVoice.from_scores([("male", [40, 41], "en-us+m1"), (None, [40] * 20, None)]) is None
    assert LearnedVoice.from_dict(learned.to_dict()) == learned


def test_a_song_with_the_learnt_voice_is_planned_in_its_register_and_voices():
    deep = _deep().register("male")
    for seed in range(8):
        # "a choir of bass singers" names no gender: the adapter's songs were all male, so the song is
        score = compose_vocal_score(
            LYRICS, "a choir of bass singers", 100, "C major", 8.0, seed, voice_style=[(_deep(), 1)]
        )
        assert score.voice in DEEP_VOICES
        assert all(deep.low <= note <= deep.high for note in score.midi)
        plain = compose_vocal_score(LYRICS, "a choir of bass singers", 100, "C major", 8.0, seed)
        assert np.median(score.midi) < np.median(plain.midi) - 5


def test_without_a_style_or_at_weight_0_the_score_is_the_corpus_one_bit_for_bit():
    for seed in range(6):
        plain = compose_vocal_score(LYRICS, "a song", 100, None, 8.0, seed)
        assert compose_vocal_score(LYRICS, "a song", 100, None, 8.0, seed, voice_style=None) == plain
        assert compose_vocal_score(LYRICS, "a song", 100, None, 8.0, seed, voice_style=[(_deep(), 0.0)]) == plain
        assert compose_vocal_score(LYRICS, "a song", 100, None, 8.0, seed, voice_style=()) == plain


def test_a_blend_weighs_the_register_and_the_voices():
    deep = _deep().register("male")
    base_low, base_high = VOCAL_REGISTERS["male"]
    for weight in (0.25, 0.5, 1.5):
        _, (low, high), _ = song_voice("a man sings", np.random.default_rng(0), [(_deep(), weight)])
        assert low == round(base_low + weight * (deep.low - base_low))
        assert high == round(base_high + weight * (deep.high - base_high))
    # at half weight the voice is the adapter's about half the time, a corpus voice otherwise
    voices = [song_voice("a man sings", np.random.default_rng(seed), [(_deep(), 0.5)])[2] for seed in range(400)]
    share = np.mean([voice in DEEP_VOICES for voice in voices])
    assert 0.5 < share < 0.8  # DEEP_VOICES are corpus voices too: 0.5 + 0.5 * 2/7
    assert set(voices) <= set(MALE_VOICES)
    # two adapters' updates add, as the singer's blend adds theirs
    _, (low, high), _ = song_voice("a man sings", np.random.default_rng(0), [(_deep(), 0.5), (_deep(), 0.5)])
    assert (low, high) == (deep.low, deep.high)


def test_a_gender_the_adapter_never_sang_keeps_the_corpus_register_and_voices():
    for seed in range(6):
        gender, register, voice = song_voice("a woman sings", np.random.default_rng(seed), [(_deep(), 1.0)])
        assert (gender, register) == ("female", VOCAL_REGISTERS["female"]) and voice in FEMALE_VOICES


def test_a_bad_record_is_refused_naming_what_is_wrong():
    good = _deep().to_dict()
    with pytest.raises(ValueError, match="'tenor' is not a sung gender"):
        LearnedVoice.from_dict({"tenor": good["male"]})
    with pytest.raises(ValueError, match="low and high must be MIDI notes"):
        LearnedVoice.from_dict({"male": {**good["male"], "low": 60, "high": 40}})
    with pytest.raises(ValueError, match="median must lie within"):
        LearnedVoice.from_dict({"male": {**good["male"], "median": 90}})
    with pytest.raises(ValueError, match="shares must add up to 1"):
        LearnedVoice.from_dict({"male": {**good["male"], "voices": {"en-us+m1": 0.5}}})
    with pytest.raises(ValueError, match="exactly"):
        LearnedVoice.from_dict({"male": {**good["male"], "extra": 1}})
    with pytest.raises(ValueError, match="at least one gender"):
        LearnedVoice.from_dict({})
    with pytest.raises(ValueError, match="whole number"):
        SungRegister(30.5, 50, 40, (("", 1.0),), 3)
