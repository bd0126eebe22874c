"""``songgen convert`` on files that are not checkpoints, and on X-Codec checkpoints with an unreleased codebook count.

Each case runs the CLI in-process and expects exit code 2 with a message naming the file or the
option and saying what to do, never a raw ``EOFError`` / ``UnpicklingError`` / ``KeyError``.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from fractions import Fraction

import pytest
import torch
from safetensors.torch import save_file

from songgen_hf.commands.cli import main
from songgen_hf.conversion.xcodec_original import infer_config_from_state_dict, load_original_xcodec
from songgen_hf.testing import tiny_xcodec_config

from .test_xcodec_original import make_source_model, original_checkpoint

NOT_READABLE = r"is not a readable .*Check that the download or copy finished"


def _write_files(root):
    """Every kind of broken input, keyed by case name."""
    files = {}
    files["empty"] = root / "empty.pth"
    files["empty"].write_bytes(b"")
    files["text"] = root / "notes.pth"
    files["text"].write_text("these are my notes\nnot weights\n")
    files["garbage"] = root / "garbage.pth"
    files["garbage"].write_bytes(bytes(range(256)) * 8)
    good = root / "good.pth"
    torch.save({"fc_post2.weight": torch.zeros(4, 4)}, good)
    files["truncated zip"] = root / "truncated.pth"
    files["truncated zip"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["unsafe pickle"] = root / "unsafe.pth"
    torch.save({"weights": OrderedDict(), "extra": Fraction(1, 2)}, files["unsafe pickle"])
    files["list pickle"] = root / "list.pth"
    torch.save([1, 2, 3], files["list pickle"])
    files["truncated safetensors"] = root / "cut.safetensors"
    save_file({"a": torch.zeros(64)}, str(root / "whole.safetensors"))
    files["truncated safetensors"].write_bytes((root / "whole.safetensors").read_bytes()[:40])
    files["folder"] = root / "a_folder"
    files["folder"].mkdir()
    files["missing"] = root / "missing.pth"
    return files


XCODEC_CASES = {
    "empty": "the file is empty \\(0 bytes\\)",
    "text": "it is a text file",
    "garbage": "neither a torch.save pickle nor a safetensors file",
    "truncated zip": "zip archive that torch cannot read",
    "unsafe pickle": "is a pickle that would build or call Python objects other than tensors .*nothing in it was run",
    "list pickle": "Expected a state dict .* got list",
    "truncated safetensors": "safetensors header or data is damaged",
    "folder": "is a directory; pass the original .pth checkpoint file",
    "missing": "does not exist; pass the X-Codec checkpoint",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return _write_files(tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("case", list(XCODEC_CASES))
def test_convert_xcodec_names_the_broken_file(case, broken, tmp_path, capsys):
    path = broken[case]
    assert main(["convert", "xcodec", str(path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and "Traceback" not in err
    assert str(path) in err and re.search(XCODEC_CASES[case], err), err
    if case in ("empty", "text", "garbage", "truncated zip", "truncated safetensors"):
        assert re.search(NOT_READABLE, err), err
    assert not (tmp_path / "out").exists()


def _official_folder(root, config, weights_name="model.safetensors", weights=b""):
    root.mkdir()
    (root / "config.json").write_text(config)
    (root / weights_name).write_bytes(weights)
    return root


SONGGEN_CASES = {
    "empty safetensors": (dict(), r"model.safetensors is not a readable SongGen weight file .* the file is empty"),
    "garbage safetensors": (dict(weights=bytes(range(256)) * 4), r"model.safetensors is not a readable SongGen weight"),
    "text pytorch_model.bin": (
        dict(weights_name="pytorch_model.bin", weights=b"hello\n"),
        r"pytorch_model.bin is not a readable SongGen weight file .*: it is a text file",
    ),
    "config not JSON": (dict(config="{oops"), r"config.json is not valid JSON .*Download the file again"),
    "config a list": (dict(config="[1, 2]"), r"config.json holds a JSON list, expected the official SongGen config"),
    "source is a file": (None, r"is a file; songgen convert songgen takes the downloaded official SongGen folder"),
    "output is a file": ("output", r"OUTPUT .* is a file; give the name of a folder to create"),
    "codec is garbage": ("codec", r"--codec .*garbage.pth: .*is not a readable X-Codec checkpoint"),
    "mert folder is a file": ("mert", r"--mert-folder .* is not a folder"),
}


@pytest.mark.parametrize("case", list(SONGGEN_CASES))
def test_convert_songgen_names_the_broken_input(case, broken, tmp_path, capsys):
    spec, message = SONGGEN_CASES[case]
    config = json.dumps({"model_type": "songgen"})
    source, extra, output = tmp_path / "official", [], tmp_path / "out"
    if isinstance(spec, dict):
        _official_folder(source, spec.pop("config", config), **spec)
    elif spec is None:
        source = broken["text"]
    else:
        _official_folder(source, config, weights=b"")
        if spec == "output":
            output = broken["text"]
        elif spec == "codec":
            extra = ["--codec", str(broken["garbage"])]
            save_file({"audio_encoder.x": torch.zeros(1)}, str(source / "model.safetensors"))
        else:
            extra = ["--mert-folder", str(broken["text"])]
            save_file({"audio_encoder.x": torch.zeros(1)}, str(source / "model.safetensors"))
    assert main(["convert", "songgen", str(source), str(output), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and "Traceback" not in err
    assert re.search(message, err, re.S), err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ codebook counts
@pytest.fixture(scope="module")
def original():
    """An original-layout checkpoint of the tiny codec (8 codebooks, like the released files)."""
    state, _ = original_checkpoint(make_source_model(tiny_xcodec_config()))
    return state


def _without_codebooks(state, drop):
    return {
        k: v for k, v in state.items() if not any(k.startswith(f"quantizer.vq.layers.{q}._codebook.") for q in drop)
    }


CODEBOOK_CASES = {
    # dropped codebooks, extra CLI options, expected message
    "lost the last codebook": (
        {7},
        [],
        r"holds 7 codebooks \(quantizer.vq.layers.0..6\), which matches no released "
        r"X-Codec layout .*--num-quantizers 7 \(Python: num_quantizers=7\)",
    ),
    "lost a middle codebook": ({3}, [], r"quantizer.vq.layers.\[3\] is missing"),
    "count contradicts the option": (
        {7},
        ["--num-quantizers", "8"],
        r"--num-quantizers\) is 8, but the checkpoint holds 7",
    ),
    "option zero": ({7}, ["--num-quantizers", "0"], r"must be a whole number >= 1, got 0"),
    "option negative": ({7}, ["--num-quantizers", "-3"], r"must be a whole number >= 1, got -3"),
}


@pytest.mark.parametrize("case", list(CODEBOOK_CASES))
def test_unreleased_codebook_count_is_refused(case, original, tmp_path, capsys):
    drop, extra, message = CODEBOOK_CASES[case]
    path = tmp_path / "xcodec.pth"
    torch.save(_without_codebooks(original, drop), path)
    assert main(["convert", "xcodec", str(path), str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err, re.S), err
    assert not (tmp_path / "out").exists()


def test_released_counts_and_an_explicit_count_are_accepted(original, tmp_path):
    assert infer_config_from_state_dict(original).num_quantizers == 8  # the released layout needs no option
    seven = _without_codebooks(original, {7})
    assert infer_config_from_state_dict(seven, num_quantizers=7).num_quantizers == 7
    # end to end with the tiny architecture: the explicit count converts the 7-codebook file
    path = tmp_path / "seven.pth"
    torch.save(seven, path)
    config = tiny_xcodec_config(target_bandwidths=[0.5, 1.0, 1.5, 2.0, 3.5])
    model = load_original_xcodec(path, config, num_quantizers=7)
    assert model.config.num_quantizers == 7 and len(model.quantizer.quantizers) == 7
    with pytest.raises(ValueError, match=r"num_quantizers \(--num-quantizers\) is 8, but the config builds 7"):
        load_original_xcodec(path, config, num_quantizers=8)


def test_existing_output_is_refused_before_converting(original, tmp_path, capsys):
    path, output = tmp_path / "xcodec.pth", tmp_path / "out"
    torch.save(_without_codebooks(original, {7}), path)  # would fail later; the output check comes first
    output.mkdir()
    assert main(["convert", "xcodec", str(path), str(output)]) == 2
    assert "OUTPUT" in (err := capsys.readouterr().err) and "already exists; pass --overwrite" in err


def test_an_output_that_holds_the_checkpoint_is_refused_even_with_overwrite(original, tmp_path, capsys):
    """Converting into the checkpoint's own folder would delete the checkpoint once the new folder is complete."""
    folder = tmp_path / "xcodec"
    folder.mkdir()
    path = folder / "xcodec.pth"
    torch.save(original, path)
    for output in (folder, tmp_path):
        assert main(["convert", "xcodec", str(path), str(output), "--overwrite"]) == 2
        assert "holds CHECKPOINT" in capsys.readouterr().err
    assert path.is_file()


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)), r"is not an original X-Codec YAML config"),
        (b"just a sentence", r"The yaml has no generator config"),
    ],
)
def test_config_that_is_not_an_original_yaml(content, message, original, tmp_path, capsys):
    path, config = tmp_path / "xcodec.pth", tmp_path / "config.yaml"
    torch.save(original, path)
    config.write_bytes(content)
    assert main(["convert", "xcodec", str(path), str(tmp_path / "out"), "--config", str(config)]) == 2
    assert re.search(message, capsys.readouterr().err)
