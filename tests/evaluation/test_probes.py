"""Attribute probes: features, the logistic regression and fitting/caching from a manifest."""

import numpy as np
import pytest

from songgen_hf.evaluation.probes import AttributeProbes, LogisticProbe, load_or_fit_probes, probe_features

from .tiny_corpus import write_tiny_corpus

RATE = 16000


def _noise(rng, seconds=0.5):
    return rng.uniform(0.05, 0.5) * rng.standard_normal(int(seconds * RATE))


def _tone(rng, seconds=0.5):
    t = np.arange(int(seconds * RATE)) / RATE
    return rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * rng.uniform(200, 800) * t)


def test_probe_separates_noise_from_tones_it_has_not_seen():
    rng = np.random.default_rng(0)
    train = [(probe_features(_noise(rng), RATE), 1) for _ in range(6)]
    train += [(probe_features(_tone(rng), RATE), 0) for _ in range(6)]
    probe = LogisticProbe.fit(np.stack([x for x, _ in train]), np.array([y for _, y in train]))
    held_out_noise = np.stack([probe_features(_noise(rng), RATE) for _ in range(5)])
    held_out_tones = np.stack([probe_features(_tone(rng), RATE) for _ in range(5)])
    assert (probe.probability(held_out_noise) > 0.5).all()
    assert (probe.probability(held_out_tones) < 0.5).all()
    again = LogisticProbe.fit(np.stack([x for x, _ in train]), np.array([y for _, y in train]))
    assert np.array_equal(again.weights, probe.weights)  # deterministic


def test_features_ignore_loudness():
    rng = np.random.default_rng(1)
    clip = _tone(rng)
    assert np.allclose(probe_features(clip, RATE), probe_features(8 * clip, RATE))
    assert np.isfinite(probe_features(np.zeros(RATE), RATE)).all()


def test_a_probe_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        LogisticProbe.fit(np.ones((4, 3)), np.ones(4))


def test_fit_cache_and_refit(tmp_path):
    train, test = write_tiny_corpus(tmp_path / "corpus", num_train=8, num_test=2)
    output = tmp_path / "out"
    probes = load_or_fit_probes(output, train, RATE, max_clips=8, max_seconds=2.0)
    assert probes.info["num_clips"] == 8 and probes.info["num_drum_clips"] == 4
    assert probes.info["train_accuracy"]["vocals"] > 0.9 and probes.info["train_accuracy"]["drums"] > 0.9
    cached = AttributeProbes.load(output)
    assert np.array_equal(cached.vocals.weights, probes.vocals.weights)
    # other settings refit instead of reusing a cache made for something else
    refit = load_or_fit_probes(output, train, RATE, max_clips=6, max_seconds=2.0)
    assert refit.info["num_clips"] == 6
    with pytest.raises(ValueError, match="with and without drums"):
        load_or_fit_probes(tmp_path / "other", train, RATE, max_clips=2, max_seconds=2.0)


def test_an_instrumental_record_is_not_labelled_sung():
    from songgen_hf.evaluation.probes import record_has_vocals

    assert record_has_vocals({"lyrics": "we sing", "attributes": {}}) == 1  # corpus v1: lyrics mean a voice
    assert record_has_vocals({"lyrics": "", "attributes": {}}) == 0
    assert record_has_vocals({"lyrics": "", "attributes": {"has_vocals": False}}) == 0  # corpus v2 instrumental
    assert record_has_vocals({"lyrics": "la", "attributes": {"has_vocals": False}}) == 0  # the record's truth wins
    assert record_has_vocals({"lyrics": "", "attributes": {"has_vocals": True}}) == 1
