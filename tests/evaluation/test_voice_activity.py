"""The second judge of "vocals as asked": silero-vad's voice probability, and its place in `songgen evaluate`."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest

from songgen_hf.evaluation.voice_activity import VOICE_THRESHOLD, VoiceDetector

RATE = 16_000


def _percussion(seconds: float = 3.0) -> np.ndarray:
    """Decaying noise bursts four times a second: an instrument with no voice in it."""
    rng = np.random.default_rng(0)
    clicks = np.zeros(int(seconds * RATE))
    clicks[:: RATE // 4] = 1.0
    return 0.3 * np.convolve(clicks, np.exp(-np.arange(800) / 100) * rng.standard_normal(800), "same")


def _speak(text: str) -> np.ndarray:
    import soundfile as sf

    from songgen_hf.data.audio import resample

    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", text], capture_output=True, check=True
    ).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return resample(audio, rate, RATE)


def test_silence_has_no_voice_and_the_decision_follows_the_threshold():
    detector = VoiceDetector()
    assert detector.probability(np.zeros(RATE), RATE) == 0.0
    assert detector.scores(np.zeros(RATE), RATE, expects_vocals=False) == {"p_voice": 0.0, "voice_agree": 1.0}
    assert detector.scores(np.zeros(RATE), RATE, expects_vocals=True)["voice_agree"] == 0.0
    assert "silero-vad" in detector.info()["detector"] and detector.info()["threshold"] == VOICE_THRESHOLD


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_a_voice_is_heard_over_an_instrument_and_the_instrument_alone_is_not():
    detector = VoiceDetector()
    drums = _percussion()
    voice = _speak("the river runs under the moon tonight")[: drums.size]
    mixed = drums.copy()
    mixed[: voice.size] += 0.7 * voice
    alone, with_voice = detector.probability(drums, RATE), detector.probability(mixed, RATE)
    assert alone < VOICE_THRESHOLD < with_voice
    assert with_voice > 20 * VOICE_THRESHOLD
    # the rate of the clip does not matter: the same audio at 44.1 kHz reads the same
    from songgen_hf.data.audio import resample

    assert detector.probability(resample(mixed, RATE, 44_100), 44_100) == pytest.approx(with_voice, abs=0.05)


def test_songgen_evaluate_adds_the_detectors_scores_to_every_system(tmp_path):
    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import add_voice_scores
    from songgen_hf.evaluation.systems import SYSTEMS, SystemClip

    from .tiny_corpus import write_tiny_corpus

    _, manifest = write_tiny_corpus(tmp_path, num_train=1, num_test=2, seconds=1.0)
    prompts = load_prompts(manifest, 2, 10.0)
    clips = {system: [SystemClip(np.zeros(RATE), None), SystemClip(_percussion(1.0), None)] for system in SYSTEMS}
    rows = [{"systems": {system: {} for system in SYSTEMS}} for _ in prompts]
    info = add_voice_scores(rows, prompts, clips, RATE)
    assert info["threshold"] == VOICE_THRESHOLD
    for row, prompt in zip(rows, prompts):
        for system in SYSTEMS:
            scores = row["systems"][system]
            assert scores["p_voice"] < VOICE_THRESHOLD
            assert scores["voice_agree"] == float(not prompt.expects_vocals)
