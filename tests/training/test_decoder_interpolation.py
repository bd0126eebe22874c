"""``songgen codec interpolate``: the decoder moves along the line between two decoders; the codes never move."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.commands.cli import main
from songgen_hf.testing import save_tiny_checkpoint, tiny_xcodec_config
from songgen_hf.training.codec_trainer import DECODER_SIDE


def _is_decoder(key):
    return key.split(".")[0] in DECODER_SIDE


def _interpolate(base, tuned, weight, output) -> int:
    return main(["codec", "interpolate", str(base), str(tuned), "--weight", str(weight), "--output", str(output)])


@pytest.fixture(scope="module")
def codecs(tmp_path_factory):
    """A tiny codec, a copy with every decoder tensor changed, and one with an encoder tensor changed."""
    root = tmp_path_factory.mktemp("interp")
    torch.manual_seed(0)
    base = XCodecModel(tiny_xcodec_config(teacher="mel")).eval()
    base.save_pretrained(root / "base")
    generator = torch.Generator().manual_seed(1)
    tuned = XCodecModel.from_pretrained(root / "base").eval()
    with torch.no_grad():
        for key, value in tuned.state_dict().items():
            if _is_decoder(key) and value.is_floating_point():
                value.add_(0.05 * torch.randn(value.shape, generator=generator))
    tuned.save_pretrained(root / "tuned")
    moved = XCodecModel.from_pretrained(root / "tuned").eval()
    with torch.no_grad():
        next(
            value for key, value in moved.state_dict().items() if not _is_decoder(key) and value.is_floating_point()
        ).add_(0.1)
    moved.save_pretrained(root / "moved")
    return root


def test_the_decoder_lies_on_the_line_and_every_code_stays_the_base_codecs(codecs, tmp_path, capsys):
    assert _interpolate(codecs / "base", codecs / "tuned", "0.25", tmp_path / "mid") == 0
    assert "codes are unchanged" in capsys.readouterr().out
    base, tuned, mid = (
        XCodecModel.from_pretrained(path).eval() for path in (codecs / "base", codecs / "tuned", tmp_path / "mid")
    )
    states = base.state_dict(), tuned.state_dict(), mid.state_dict()
    decoder_keys = [key for key in states[0] if _is_decoder(key) and states[0][key].is_floating_point()]
    assert decoder_keys
    for key in states[0]:
        expected = states[0][key] + 0.25 * (states[1][key] - states[0][key]) if key in decoder_keys else states[0][key]
        torch.testing.assert_close(states[2][key], expected, rtol=0, atol=1e-6)
    audio = torch.randn(1, 1, 8000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.inference_mode():
        codes = base.encode(audio).audio_codes
        assert torch.equal(mid.encode(audio).audio_codes, codes)
        # the decoded audio lies between the two decoders' (closer to the base's at a quarter of the way)
        out = [model.decode(codes).audio_values for model in (base, tuned, mid)]
    assert (out[2] - out[0]).norm() < (out[2] - out[1]).norm()
    assert not torch.equal(out[2], out[0])


def test_weight_zero_gives_the_base_decoder_and_a_songgen_folder_is_a_base(codecs, tmp_path):
    songgen = tmp_path / "songgen"
    save_tiny_checkpoint(songgen, track_pattern="mixed_pro")
    from songgen_hf.conversion.checkpoint_files import load_codec_of

    own = load_codec_of(songgen)
    own.save_pretrained(tmp_path / "own")
    assert _interpolate(songgen, tmp_path / "own", "0", tmp_path / "same") == 0
    same = XCodecModel.from_pretrained(tmp_path / "same").state_dict()
    assert all(torch.equal(value, same[key]) for key, value in own.state_dict().items())


@pytest.mark.parametrize("weight", ["-0.1", "1.5", "nan"])
def test_a_weight_outside_zero_to_one_is_refused(codecs, tmp_path, capsys, weight):
    assert _interpolate(codecs / "base", codecs / "tuned", weight, tmp_path / "out") == 2
    assert "--weight" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_codecs_with_different_codes_are_refused(codecs, tmp_path, capsys):
    assert _interpolate(codecs / "base", codecs / "moved", "0.5", tmp_path / "out") == 2
    assert "would change the codes" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_codecs_configured_differently_are_refused(codecs, tmp_path, capsys):
    XCodecModel(tiny_xcodec_config(teacher="mel", codebook_size=64)).save_pretrained(tmp_path / "other")
    assert _interpolate(codecs / "base", tmp_path / "other", "0.5", tmp_path / "out") == 2
    assert "configured differently" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_output_that_would_replace_base_or_tuned_is_refused(codecs, capsys):
    for target in (codecs / "base", codecs / "tuned", codecs):
        assert _interpolate(codecs / "base", codecs / "tuned", "0.5", target) == 2
        assert "would replace" in capsys.readouterr().err
    assert XCodecModel.from_pretrained(codecs / "tuned") is not None and (codecs / "base" / "config.json").is_file()
