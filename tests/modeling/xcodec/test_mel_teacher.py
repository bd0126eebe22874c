"""The weight-free teacher's chroma features: the pitch class a codec distilled from it must keep."""

import math

import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.modeling.xcodec import MelTeacherConfig, MelTeacherModel
from songgen_hf.testing import tiny_xcodec_config

RATE = 16000


def _tone(frequency: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return (0.3 * torch.sin(2 * math.pi * frequency * t))[None]


@pytest.mark.parametrize("frequency, pitch_class", [(440.0, 0), (261.63, 3), (196.0, 10), (92.5, 9), (1479.98, 9)])
def test_chroma_names_the_pitch_class_of_a_tone(frequency, pitch_class):
    teacher = MelTeacherModel(MelTeacherConfig(num_chroma=12)).eval()
    features = teacher(_tone(frequency)).last_hidden_state[0]
    chroma = features[:, -12:]
    assert chroma.shape[-1] == 12 and teacher.config.hidden_size == 80 + 39 + 12
    middle = chroma[5:-5]  # away from the zero padding at the edges
    assert (middle.argmax(dim=-1) == pitch_class).all()
    torch.testing.assert_close(middle.mean(dim=-1), torch.zeros(middle.shape[0]), rtol=0, atol=1e-4)


def test_chroma_keeps_the_frame_grid_and_the_other_features():
    plain = MelTeacherModel(MelTeacherConfig()).eval()
    with_chroma = MelTeacherModel(MelTeacherConfig(num_chroma=12, chroma_scale=0.5)).eval()
    audio = torch.randn(2, 12400) * 0.1
    a, b = plain(audio).last_hidden_state, with_chroma(audio).last_hidden_state
    assert b.shape[:2] == a.shape[:2]
    assert torch.equal(b[..., : a.shape[-1]], a)
    silence = with_chroma(torch.zeros(1, 4000)).last_hidden_state[0, :, -12:]
    torch.testing.assert_close(silence, torch.zeros_like(silence), rtol=0, atol=1e-4)  # flat: no pitch


def test_chroma_teacher_codec_saves_and_reloads(tmp_path):
    codec = XCodecModel(tiny_xcodec_config(teacher="mel", semantic_model_config={"num_chroma": 12}))
    assert codec.config.semantic_hidden_size == 24 + 3 * 8 + 12  # mel bands, MFCCs with deltas, chroma
    codec.eval().save_pretrained(tmp_path)
    reloaded = XCodecModel.from_pretrained(tmp_path).eval()
    audio = torch.randn(1, 1, 16000) * 0.1
    assert torch.equal(reloaded.encode(audio).audio_codes, codec.encode(audio).audio_codes)


def test_bad_chroma_settings_are_refused():
    with pytest.raises(ValueError, match="num_chroma must be"):
        MelTeacherConfig(num_chroma=7)
    with pytest.raises(ValueError, match="chroma_window_length"):
        MelTeacherConfig(num_chroma=12, chroma_window_length=256)
