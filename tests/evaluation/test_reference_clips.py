"""The reference systems: the codec round trip is what a perfect token model of the model's tracks sounds like."""

import json

import numpy as np
import pytest

from songgen_hf.data.audio import load_audio
from songgen_hf.evaluation.prompts import load_prompts
from songgen_hf.evaluation.runner import _reference_clips, load_model_and_processor
from songgen_hf.evaluation.systems import codec_round_trip
from songgen_hf.testing import save_tiny_checkpoint

from .tiny_corpus import write_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    _, test = write_tiny_corpus(root / "corpus", num_train=1, num_test=2, seconds=1.0)
    records = [json.loads(line) for line in test.read_text().splitlines()]
    records[1].pop("vocal_path")  # an instrumental: no vocal stem
    records[1]["lyrics"] = ""
    test.write_text("".join(json.dumps(record) + "\n" for record in records))
    return root, test


def _round_trip(model, path, samples):
    audio = (
        np.zeros(samples, dtype=np.float32) if path is None else load_audio(path, model.config.sampling_rate)[:samples]
    )
    return codec_round_trip(model.audio_encoder, audio, model.config.decoder.num_codebooks)


@pytest.mark.parametrize(
    "pattern, gains", [("mixed_stream2", None), ("parallel_stream2", None), ("parallel_stream2", {"vocals": 1.6})]
)
def test_the_round_trip_is_the_models_tracks_decoded(corpus, pattern, gains):
    """A dual-track model's round trip sums its stems' round trips at its stem gains, as generation does."""
    root, test = corpus
    folder = root / f"{pattern}_{bool(gains)}"
    model, _ = load_model_and_processor(
        save_tiny_checkpoint(folder, track_pattern=pattern, use_voice_encoder=False, stem_gains_db=gains), "cpu"
    )
    prompts = load_prompts(test, 2, 1.0)
    clips, damage, _ = _reference_clips(model, prompts, None)
    for prompt, truth, resynthesis in zip(prompts, clips["ground_truth"], clips["codec_resynthesis"]):
        samples = len(truth.audio)
        if pattern == "mixed_stream2":
            codes, expected = _round_trip(model, prompt.audio_path, samples)
            assert set(truth.codes) == {"mix"} and np.array_equal(truth.codes["mix"], codes)
            assert truth.vocals is None and resynthesis.vocals is None  # one track: no vocal track to score
        else:  # the stems' round trips summed; the instrumental's vocal track is silence through the codec
            accompaniment_codes, accompaniment = _round_trip(model, prompt.accompaniment_path, samples)
            vocal_codes, vocals = _round_trip(model, prompt.vocal_path, samples)
            gain = 10 ** ((gains or {}).get("vocals", 0.0) / 20)
            expected = accompaniment + vocals * gain
            assert set(truth.codes) == {"accompaniment", "vocals"}
            assert np.array_equal(truth.codes["vocals"], vocal_codes)
            assert np.array_equal(truth.codes["accompaniment"], accompaniment_codes)
            # the vocal track alone, for the intelligibility proxy: the clean stem, and its round trip at its gain
            clean = np.zeros(samples) if prompt.vocal_path is None else load_audio(prompt.vocal_path, 16000)[:samples]
            np.testing.assert_array_equal(truth.vocals, clean)
            np.testing.assert_allclose(resynthesis.vocals, vocals * gain, rtol=0, atol=1e-6)
        np.testing.assert_allclose(resynthesis.audio, expected, rtol=0, atol=1e-6)
    assert prompts[1].vocal_path is None and len(damage) == 2
