"""Reference-voice feature extraction: loading, mono, resampling, 3 s crop, padding, batching."""

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly
from transformers import Wav2Vec2FeatureExtractor

from songgen_hf.modeling.songgen.feature_extraction_songgen import VoiceFeatureExtractor

CLIP = 72000


@pytest.fixture(scope="module")
def extractor():
    return VoiceFeatureExtractor()


def _stereo(seconds, rate, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 523 * t + 0.3)
    return np.stack([left, right], axis=1).astype(np.float32)  # (samples, channels)


def test_wav_44k_stereo_to_24k_mono(extractor, tmp_path):
    audio = _stereo(4.0, 44100)
    path = tmp_path / "voice.wav"
    sf.write(path, audio, 44100, subtype="FLOAT")
    out = extractor(str(path))
    assert out["input_values"].shape == (1, CLIP) and out["input_values"].dtype == torch.float32
    assert out["attention_mask"].shape == (1, CLIP) and int(out["attention_mask"].sum()) == CLIP
    # independent reference: average channels, 44100 -> 24000 is 80/147 polyphase
    expected = resample_poly(audio.mean(axis=1), 80, 147)[:CLIP]
    np.testing.assert_allclose(out["input_values"][0].numpy(), expected, atol=1e-5)


def test_crop_offset_is_sample_exact_at_24k(extractor):
    ramp = np.arange(5 * 24000, dtype=np.float32) / 1e5
    out = extractor(ramp, sampling_rate=24000, start=1.25, return_tensors="np")
    np.testing.assert_array_equal(out["input_values"][0], ramp[30000 : 30000 + CLIP])


@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_crop_after_resampling_matches_full_resample(extractor, rate):
    mono = _stereo(6.0, rate, seed=1).mean(axis=1)
    start = 1.7
    out = extractor(mono, sampling_rate=rate, start=start, return_tensors="np")["input_values"][0]
    from fractions import Fraction

    ratio = Fraction(24000, rate)
    full = resample_poly(mono, ratio.numerator, ratio.denominator)
    offset = round(start * 24000)
    np.testing.assert_allclose(out, full[offset : offset + CLIP], atol=1e-5)


def test_file_and_array_paths_agree(extractor, tmp_path):
    audio = _stereo(5.0, 22050, seed=2)
    path = tmp_path / "v.flac"
    sf.write(path, audio, 22050, subtype="PCM_24")
    decoded, _ = sf.read(path, dtype="float32")
    from_file = extractor(path, start=0.9, return_tensors="np")["input_values"]
    from_array = extractor(decoded, sampling_rate=22050, start=0.9, return_tensors="np")["input_values"]
    np.testing.assert_allclose(from_file, from_array, atol=1e-6)


def test_short_clip_is_padded_and_masked(extractor):
    audio = 0.1 * np.ones(24000 * 2, dtype=np.float32)  # 2 s
    out = extractor(audio, sampling_rate=24000, start=0.5, return_tensors="np")
    assert out["attention_mask"][0].sum() == 36000
    assert np.all(out["input_values"][0, :36000] == np.float32(0.1))
    assert np.all(out["input_values"][0, 36000:] == 0)


def test_batch_with_none_voice(extractor, tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _stereo(3.5, 44100), 44100)
    tensor = torch.from_numpy(_stereo(3.2, 32000, seed=4).T.copy())  # (channels, samples)
    out = extractor([path, None, tensor], sampling_rate=[None, None, 32000], start=[0.2, 0.0, 1.2])
    values, mask = out["input_values"], out["attention_mask"]
    assert values.shape == mask.shape == (3, CLIP)
    assert torch.count_nonzero(values[1]) == 0 and torch.count_nonzero(mask[1]) == 0
    assert mask[0].all() and mask[2].sum() == round((3.2 - 1.2) * 24000)


def test_channel_layouts_downmix_the_same(extractor):
    audio = _stereo(3.0, 24000)
    a = extractor(audio, sampling_rate=24000, return_tensors="np")["input_values"]
    b = extractor(audio.T, sampling_rate=24000, return_tensors="np")["input_values"]
    c = extractor(torch.from_numpy(audio.T.copy())[None], sampling_rate=24000, return_tensors="np")["input_values"]
    np.testing.assert_allclose(a[0], audio.mean(axis=1), atol=1e-7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_integer_pcm_is_scaled(extractor):
    pcm = (np.sin(np.linspace(0, 200, 72000)) * 16384).astype(np.int16)
    out = extractor(pcm, sampling_rate=24000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(out, pcm / 32768.0, atol=1e-7)


def test_normalisation_matches_wav2vec2_formula():
    extractor = VoiceFeatureExtractor(do_normalize=True)
    audio = 0.05 + 0.2 * _stereo(2.0, 24000).mean(axis=1)  # 2 s -> padded
    out = extractor([audio, None], sampling_rate=24000, return_tensors="np")
    values, mask = out["input_values"], out["attention_mask"]
    valid = values[0, :48000]
    assert abs(valid.mean()) < 1e-5 and abs(valid.std() - 1) < 1e-4
    assert np.all(values[0, 48000:] == 0) and np.all(values[1] == 0)
    padded = np.zeros(CLIP, dtype=np.float32)
    padded[:48000] = audio
    reference = Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([padded], [mask[0]])[0]
    np.testing.assert_allclose(values[0], reference, atol=1e-5)


def test_save_and_load(tmp_path):
    extractor = VoiceFeatureExtractor(do_normalize=True, clip_seconds=2.0)
    extractor.save_pretrained(tmp_path)
    loaded = VoiceFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.do_normalize and loaded.clip_seconds == 2.0 and loaded.max_length == 48000
    assert loaded.sampling_rate == 24000 and loaded.return_attention_mask
    audio = _stereo(3.0, 24000).mean(axis=1)
    np.testing.assert_array_equal(
        loaded(audio, sampling_rate=24000, return_tensors="np")["input_values"],
        extractor(audio, sampling_rate=24000, return_tensors="np")["input_values"],
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sampling_rate": "24000"}, "integer number of Hz"),
        ({"sampling_rate": 24000.5}, "whole number of Hz"),
        ({"sampling_rate": True}, "integer number of Hz"),
        ({"sampling_rate": -5}, "positive"),
        ({}, "pass its rate"),
        ({"sampling_rate": 24000, "start": 5.0}, "beyond the end"),
        ({"sampling_rate": 24000, "start": -1}, ">= 0"),
    ],
)
def test_bad_arguments(extractor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extractor(np.zeros(24000 * 3, dtype=np.float32) + 0.1, **kwargs)


def test_bad_audio(extractor, tmp_path):
    with pytest.raises(ValueError, match="NaN or Inf"):
        extractor(np.full(24000, np.nan, dtype=np.float32), sampling_rate=24000)
    with pytest.raises(ValueError, match="empty"):
        extractor(np.zeros(0, dtype=np.float32), sampling_rate=24000)
    with pytest.raises(ValueError, match="shape"):
        extractor(np.zeros((2, 3, 100), dtype=np.float32), sampling_rate=24000)
    with pytest.raises(ValueError, match="dtype"):
        extractor(np.array(["a", "b"]), sampling_rate=24000)
    broken = tmp_path / "broken.wav"
    broken.write_text("this is not audio")
    with pytest.raises(ValueError, match="Convert it to WAV or FLAC"):
        extractor(broken)
    with pytest.raises(ValueError, match="does not exist"):
        extractor(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="one per voice"):
        extractor([None, None], start=[0.0])


def test_features_drive_the_voice_encoder(extractor):
    from songgen_hf.modeling.songgen.conditioning_songgen import SongGenVoiceEncoder
    from songgen_hf.testing import tiny_voice_encoder_config

    torch.manual_seed(0)
    encoder = SongGenVoiceEncoder(tiny_voice_encoder_config()).eval()
    feats = extractor([_stereo(3.0, 48000).T, None], sampling_rate=48000)
    hidden, mask = encoder(feats["input_values"], feats["attention_mask"])
    assert hidden.shape == (2, 224, 32)
    assert mask[0].all() and not mask[1].any()
