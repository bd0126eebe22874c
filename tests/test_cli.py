"""The songgen console script: codec round trip, training, clear errors and exit codes."""

import subprocess
import sys

import torch

from songgen_hf import XCodecModel
from songgen_hf.commands.cli import main
from songgen_hf.data.audio import load_audio
from songgen_hf.testing import tiny_xcodec_config, write_tone_dataset

from .fresh_interpreter import fresh_interpreter


def test_codec_encode_then_decode(tmp_path, capsys):
    model_dir = tmp_path / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(model_dir)
    (clip,) = write_tone_dataset(tmp_path / "audio", num_clips=1, seconds=1.3)
    assert main(["codec", "encode", str(clip), "--model", str(model_dir), "--output", str(tmp_path / "c.pt")]) == 0
    codes = torch.load(tmp_path / "c.pt")["audio_codes"]
    assert codes.shape == (8, 65)
    assert (
        main(
            ["codec", "decode", str(tmp_path / "c.pt"), "--model", str(model_dir), "--output", str(tmp_path / "o.wav")]
        )
        == 0
    )
    assert load_audio(tmp_path / "o.wav", 16000).shape == (65 * 320,)


def test_codec_encode_and_decode_take_a_half_precision_folder(tmp_path):
    """A codec saved in float16 gives the codes of its float32 upcast, not a dtype error."""
    half, full = tmp_path / "half", tmp_path / "full"
    XCodecModel(tiny_xcodec_config(teacher="mel")).half().save_pretrained(half)
    XCodecModel.from_pretrained(half, dtype=torch.float32).save_pretrained(full)
    (clip,) = write_tone_dataset(tmp_path / "audio", num_clips=1, seconds=0.7)
    for folder in (half, full):
        assert (
            main(
                ["codec", "encode", str(clip), "--model", str(folder), "--output", str(tmp_path / f"{folder.name}.pt")]
            )
            == 0
        )
    codes = {name: torch.load(tmp_path / f"{name}.pt")["audio_codes"] for name in ("half", "full")}
    assert torch.equal(codes["half"], codes["full"])
    assert (
        main(["codec", "decode", str(tmp_path / "half.pt"), "--model", str(half), "--output", str(tmp_path / "o.wav")])
        == 0
    )


def test_codec_train_through_the_cli(tmp_path):
    write_tone_dataset(tmp_path / "tones", num_clips=4, seconds=0.5)
    config = tmp_path / "codec.yaml"
    config.write_text(
        f"train_data: {tmp_path / 'tones'}\noutput_dir: {tmp_path / 'run'}\n"
        "model: {preset: tiny, teacher: mel}\nsegment_seconds: 0.3\nbatch_size: 2\nuse_discriminator: false\n"
    )
    assert main(["codec", "train", str(config), "--set", "max_steps=2", "log_steps=1"]) == 0
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_bad_input_gives_exit_code_2_and_a_message(tmp_path, capsys):
    assert main(["codec", "decode", str(tmp_path / "missing.pt"), "--model", str(tmp_path), "--output", "x.wav"]) == 2
    assert "songgen: error" in capsys.readouterr().err
    assert main(["codec", "encode", "nothing.wav", "--model", str(tmp_path / "nope"), "--output", "c.pt"]) == 2
    assert "AUDIO nothing.wav does not exist" in capsys.readouterr().err  # the cheapest check comes first
    (clip,) = write_tone_dataset(tmp_path / "audio", num_clips=1, seconds=0.5)
    assert main(["codec", "encode", str(clip), "--model", str(tmp_path / "nope"), "--output", "c.pt"]) == 2
    assert "--model" in (err := capsys.readouterr().err) and "nope does not exist" in err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "songgen_hf.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "codec" in result.stdout and "convert" in result.stdout


def test_parser_leaves_the_data_stack_unloaded():
    """Every command builds the whole parser; the corpus renderer (scipy.signal) and datasets/pandas load
    only when a data command runs, not for ``songgen generate`` (they were about 0.9 s of its start)."""
    loaded = set(fresh_interpreter()["stages"]["build_parser()"])  # a fresh interpreter's after build_parser()
    assert not loaded & {"datasets", "pandas", "scipy.signal", "songgen_hf.data.synth.corpus"}, loaded
