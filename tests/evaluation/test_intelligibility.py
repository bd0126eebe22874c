"""The lyric-intelligibility proxy: word scoring, the chance-level derangement and the real recogniser."""

import io
import shutil
import subprocess

import numpy as np
import pytest

from songgen_hf.evaluation.intelligibility import (
    LyricRecogniser,
    corpus_vocabulary,
    derangement,
    describe_recall,
    hear_versions,
    lyric_words,
    paired_above_chance,
    prepare_audio,
    recall_summary,
    recall_with_chance,
    unigram_arpa,
    word_recall,
)

RATE = 16000
SPOKEN = "morning river yellow mountain forever window"
OTHER = "dancing heart ocean summer candle thunder"


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "You chase the Morning,\nunder the warm heart!",
            ["you", "chase", "the", "morning", "under", "the", "warm", "heart"],
        ),
        ("don't stop \u2014 we're here", ["don't", "stop", "we're", "here"]),
        ("", []),
        (None, []),
        ("1 2 3 ...", []),
    ],
)
def test_lyric_words_lowercase_and_drop_punctuation(text, words):
    assert lyric_words(text) == words


@pytest.mark.parametrize(
    "transcript, lyrics, expected",
    [
        (["sun", "moon"], "sun moon", 1.0),
        (["sun"], "sun sun moon", 1 / 3),  # multisets: a word sung twice and heard once counts once
        (["sun", "sun", "sun"], "sun moon", 0.5),  # hearing a word more often than it is sung adds nothing
        ([], "sun moon", 0.0),
        (["star"], "sun moon", 0.0),
        (["sun"], "", None),  # nothing to recall
    ],
)
def test_word_recall_counts_multisets(transcript, lyrics, expected):
    assert word_recall(transcript, lyrics) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("sung", [[True] * 2, [True] * 5, [True, False, True, True, False], [False, True, True]])
def test_derangement_pairs_each_sung_clip_with_another_sung_clip(sung):
    partners = derangement(sung)
    for index, partner in enumerate(partners):
        if sung[index]:
            assert partner is not None and partner != index and sung[partner]
        else:
            assert partner is None
    used = [partner for partner in partners if partner is not None]
    assert sorted(used) == [index for index, is_sung in enumerate(sung) if is_sung]  # a permutation of the sung clips


@pytest.mark.parametrize("sung", [[], [True], [True, False, False]])
def test_derangement_needs_two_sung_clips(sung):
    assert derangement(sung) == [None] * len(sung)


def test_recall_with_chance_scores_each_transcript_against_another_clips_lyrics():
    lyrics = ["sun moon", None, "rain wind"]
    scores = recall_with_chance([["sun", "moon"], None, ["sun"]], lyrics)
    assert scores[0] == {"lyric_recall": 1.0, "lyric_recall_chance": 0.0}  # clip 0 against clip 2's lyrics
    assert scores[1] == {"lyric_recall": None, "lyric_recall_chance": None}
    assert scores[2] == {"lyric_recall": 0.0, "lyric_recall_chance": 0.5}  # "sun" is half of clip 0's lyrics
    with pytest.raises(ValueError, match="one transcript per clip"):
        recall_with_chance([["sun"]], lyrics)


def test_recall_summary_averages_the_clips_that_have_a_score():
    lyrics = ["sun moon", None, "rain wind"]
    summary = recall_summary([["sun", "moon"], None, ["sun"]], lyrics)
    assert summary["recall"]["mean"] == pytest.approx(0.5) and summary["recall"]["n"] == 2  # 1.0 and 0.0
    assert summary["above_chance"]["mean"] == pytest.approx(0.25)  # (1.0 - 0.0 + 0.0 - 0.5) / 2
    low, high = summary["above_chance"]["ci95"]
    assert low <= 0.25 <= high
    assert describe_recall("songs", summary).split() == [
        "songs:",
        "recall",
        "0.500",
        "above",
        "chance",
        "+0.250",
        f"[{low:+.3f},",
        f"{high:+.3f}]",
    ]
    assert summary["per_clip_above_chance"] == [pytest.approx(1.0), None, pytest.approx(-0.5)]


def test_paired_recall_compares_versions_clip_by_clip():
    lyrics = ["sun moon", "rain wind", "sky sea"]
    better = recall_summary([["sun", "moon"], ["rain"], ["sky"]], lyrics)
    worse = recall_summary([["sun"], [], ["sky"]], lyrics)
    paired = paired_above_chance(better, worse)
    assert paired["n"] == 3 and paired["mean"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert paired_above_chance(worse, better)["mean"] == pytest.approx(-paired["mean"])
    with pytest.raises(ValueError):
        paired_above_chance(better, recall_summary([["sun"], []], lyrics[:2]))  # not the same clips


def test_vocabulary_and_language_model_cover_exactly_the_corpus_words():
    assert corpus_vocabulary(["The sun", "the MOON", None]) == ["moon", "sun", "the"]
    arpa = unigram_arpa(["moon", "sun"])
    assert "ngram 1=4" in arpa and arpa.count(f"{-np.log10(2):.6f}") == 3  # </s> and both words equally likely


def test_prepare_audio_is_16k_int16_at_a_fixed_peak_and_none_for_silence():
    tone = 0.01 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) + 0.5  # quiet, with a DC offset, at 8 kHz
    pcm = np.frombuffer(prepare_audio(tone, 8000), dtype="<i2")
    assert len(pcm) == 16000 and abs(int(pcm.max()) - round(0.9 * 32767)) < 200 and abs(pcm.mean()) < 300
    assert prepare_audio(np.zeros(RATE), RATE) is None and prepare_audio(np.zeros(0), RATE) is None
    with pytest.raises(ValueError, match="mono"):
        prepare_audio(np.zeros((2, RATE)), RATE)


def _speak(text: str) -> np.ndarray:
    import soundfile as sf

    from songgen_hf.data.audio import resample

    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "-g", "5", "--stdout", text], capture_output=True, check=True
    ).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return resample(audio, rate, RATE)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_the_restricted_recogniser_hears_spoken_words_and_not_others():
    recogniser = LyricRecogniser.for_lyrics([SPOKEN, OTHER, "the we oh"])
    assert recogniser.vocabulary == corpus_vocabulary([SPOKEN, OTHER, "the we oh"]) and not recogniser.unknown_words
    transcript = recogniser.transcribe(_speak(SPOKEN), RATE)
    assert set(transcript) <= set(recogniser.vocabulary)  # it can only answer with corpus words
    matched, mismatched = recall_with_chance([transcript, []], [SPOKEN, OTHER])[0].values()
    assert matched >= 0.6, transcript
    assert mismatched <= 0.2, transcript
    assert recogniser.transcribe(np.zeros(RATE), RATE) == []
    assert "pocketsphinx" in recogniser.info()["recogniser"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_hear_versions_decodes_each_version_and_pairs_them_clip_by_clip():
    import torch

    class Passthrough:  # a "codec" whose codes are the audio itself
        def decode(self, codes):
            return type("Decoded", (), {"audio_values": codes[None, None]})()

    songs = [
        (text, {"spoken": torch.from_numpy(_speak(text)), "silent": torch.zeros(RATE)}) for text in (SPOKEN, OTHER)
    ]
    report = hear_versions(Passthrough(), RATE, songs, ["spoken", "silent"], pairs=[("spoken", "silent")])
    assert report["silent"]["recall"]["mean"] == 0.0 and report["spoken"]["above_chance"]["mean"] > 0.3
    paired = report["paired"]["spoken - silent"]
    assert paired["n"] == 2 and paired["mean"] == pytest.approx(report["spoken"]["above_chance"]["mean"])
    assert "paired" not in hear_versions(Passthrough(), RATE, songs, ["silent"])


def test_a_vocabulary_outside_the_dictionary_is_refused():
    with pytest.raises(ValueError, match="English lyrics"):
        LyricRecogniser(["xqzzyv", "blorptang"])


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_songgen_evaluate_scores_lyric_recall_and_its_chance_level_per_system(tmp_path):
    import json

    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import add_lyric_recall
    from songgen_hf.evaluation.systems import SYSTEMS, SystemClip

    from .tiny_corpus import write_tiny_corpus

    _, manifest = write_tiny_corpus(tmp_path, num_train=1, num_test=3, seconds=1.0)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row, lyrics in zip(rows, (SPOKEN, OTHER, "")):  # the third prompt is an instrumental
        row["lyrics"] = lyrics
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    prompts = load_prompts(manifest, 3, 10.0)
    spoken = _speak(SPOKEN)
    # every system "sings" prompt 0's lyrics on prompt 0 and is silent elsewhere
    clips = {
        system: [SystemClip(spoken, None), SystemClip(np.zeros(RATE), None), SystemClip(np.zeros(RATE), None)]
        for system in SYSTEMS
    }
    scored = [{"systems": {system: {} for system in SYSTEMS}} for _ in prompts]
    info = add_lyric_recall(scored, prompts, clips, manifest, RATE)
    assert info["vocabulary_size"] == len(corpus_vocabulary([SPOKEN, OTHER]))
    for system in SYSTEMS:
        first, second, instrumental = (row["systems"][system] for row in scored)
        assert first["lyric_recall"] >= 0.6 and first["lyric_recall_chance"] <= 0.2  # chance: against OTHER
        assert second == {"lyric_recall": 0.0, "lyric_recall_chance": 0.0}
        assert instrumental == {"lyric_recall": None, "lyric_recall_chance": None}


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_a_dual_track_systems_vocal_track_is_scored_on_its_own(tmp_path):
    """Words sung but buried in the mix show on the vocal track; a one-track system gets no vocal-track scores."""
    import json

    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import add_lyric_recall
    from songgen_hf.evaluation.systems import SystemClip

    from .tiny_corpus import write_tiny_corpus

    _, manifest = write_tiny_corpus(tmp_path, num_train=1, num_test=2, seconds=1.0)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row, lyrics in zip(rows, (SPOKEN, OTHER)):
        row["lyrics"] = lyrics
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    prompts = load_prompts(manifest, 2, 10.0)
    spoken, silence = _speak(SPOKEN), np.zeros(RATE)
    clips = {
        # the mix is silent (the words are lost there), the vocal track sings prompt 0's lyrics
        "guided": [SystemClip(silence, None, vocals=spoken), SystemClip(silence, None, vocals=silence)],
        "unguided": [SystemClip(spoken, None), SystemClip(silence, None)],  # one track
    }
    scored = [{"systems": {system: {} for system in clips}} for _ in prompts]
    add_lyric_recall(scored, prompts, clips, manifest, RATE, tuple(clips))
    guided = scored[0]["systems"]["guided"]
    assert guided["lyric_recall"] == 0.0
    assert guided["lyric_recall_vocal_track"] >= 0.6 and guided["lyric_recall_vocal_track_chance"] <= 0.2
    assert scored[1]["systems"]["guided"]["lyric_recall_vocal_track"] == 0.0
    assert scored[0]["systems"]["unguided"]["lyric_recall"] >= 0.6
    assert not any("vocal_track" in name for row in scored for name in row["systems"]["unguided"])


def test_the_evaluation_reports_each_systems_recall_above_chance_clip_by_clip_with_its_interval():
    from songgen_hf.evaluation.runner import aggregate_rows

    margins = [0.3, 0.1, None, -0.1]  # the third clip has no lyrics: left out, not counted as zero
    rows = []
    for index, margin in enumerate(margins):
        scores = {"lyric_recall": None, "lyric_recall_chance": None, "onset_count": 3.0}
        if margin is not None:
            scores.update(
                lyric_recall=0.4 + margin,
                lyric_recall_chance=0.4,
                lyric_recall_vocal_track=0.5,
                lyric_recall_vocal_track_chance=0.5 - 2 * margin,
            )
        rows.append(
            {
                "id": str(index),
                "target": {"syllables": 3},
                "codec": {"si_sdr_db": 0.0, "log_mel_distance": 0.0},
                "systems": {"guided": scores},
            }
        )
    guided = aggregate_rows(rows, resamples=200)["guided"]
    assert guided["lyric_margin"]["n"] == 3 and guided["lyric_margin"]["mean"] == pytest.approx(0.1)
    low, high = guided["lyric_margin"]["ci95"]
    assert -0.1 - 1e-9 <= low < 0.1 < high <= 0.3 + 1e-9
    assert guided["vocal_track_lyric_margin"]["mean"] == pytest.approx(0.2)
