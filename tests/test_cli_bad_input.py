"""``songgen generate`` on issue 5's bad inputs: exit code 2, a message naming the problem, no file written."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from songgen_hf import XCodecModel
from songgen_hf.cli import main
from songgen_hf.testing import generate_argv, save_tiny_checkpoint, tiny_xcodec_config, write_reference_voices

RATE = 24000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("cli_bad") / "tiny", track_pattern="mixed_pro")


@pytest.fixture(scope="module")
def files(model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_inputs")
    paths = write_reference_voices(root, RATE)
    paths["latin1"] = root / "lyrics.txt"
    paths["latin1"].write_bytes("caf\xe9 au lait".encode("latin-1"))
    paths["bert"] = root / "bert"
    paths["bert"].mkdir()
    (paths["bert"] / "config.json").write_text(json.dumps({"model_type": "bert"}))
    paths["codec"] = root / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(paths["codec"])
    paths["no_processor"] = root / "no_processor"
    paths["no_processor"].mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(model_dir / name, paths["no_processor"])
    paths["empty"] = root / "empty"
    paths["empty"].mkdir()
    return paths


CASES = {
    "empty description and lyrics": (
        ["--description", " ", "--lyrics", ""],
        "--description and the lyrics are both empty",
    ),
    "lyrics too long": (
        ["--lyrics", "hold me close tonight the stars are shining bright " * 20],
        r"but the limit is 128 \(the lyrics encoder's max_position_embeddings\)",
    ),
    "unrepresentable characters": (
        ["--lyrics", "je t'aime, café ♥"],  # é is transliterated, ♥ has no reading
        r"Lyrics item 0 has characters .*: '♥'\. Remove them",
    ),
    "lyrics file not UTF-8": (["--lyrics-file", "{latin1}"], "is not UTF-8 text"),
    "voice missing": (["--reference-voice", "{missing}"], "--reference-voice .*missing.wav does not exist"),
    "voice silent": (["--reference-voice", "{silent}"], r"is silent \(all zeros\)"),
    "voice too short": (["--reference-voice", "{short}"], r"is 0\.50 s long, but the model needs at least 1 s"),
    "voice with NaN": (["--reference-voice", "{nan}"], "contains NaN or Inf samples"),
    "voice not audio": (["--reference-voice", "{text}"], "Convert it to WAV or FLAC"),
    "output directory missing": (
        ["--output", "{out}/no/such/dir/song.wav"],
        r"the directory .*no/such/dir does not exist; create it first",
    ),
    "output is a directory": (["--output", "{out}"], "is a directory; give a file name"),
    "model is bert": (["--model", "{bert}"], "is not a SongGen checkpoint: its config.json has model_type 'bert'"),
    "model is a codec": (["--model", "{codec}"], "model_type 'songgen_xcodec' \\(an X-Codec codec"),
    "model without processor": (["--model", "{no_processor}"], r"no processor files \(processor_config.json\)"),
    "model folder empty": (["--model", "{empty}"], r"--model .*empty is not a model folder \(no config.json there\)"),
    "tempo for a model without controls": (["--tempo-bpm", "120"], "this model has no tempo control"),
    "unknown cache": (["--cache", "paged"], r"--cache.*'paged'.*preallocated"),
    "codebook temperatures of a missing track": (
        ["--codebook-temperatures", "vocals=0.6"],
        r"--codebook-temperatures names track\(s\) \['vocals'\]; this "
        r"model's mixed_pro pattern has \['mix'\]",
    ),
    "codebook temperatures malformed": (["--codebook-temperatures", "mix:0.6"], "must look like TRACK=T1,T2"),
    "codebook temperature zero": (["--codebook-temperatures", "mix=0.6,0"], "each temperature must be a number"),
    "silent vocals without a vocal track": (
        ["--silence-instrumental-vocals"],
        "--silence-instrumental-vocals holds .* but this model cannot: its mixed_pro pattern has no vocal track",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_and_writes_nothing(case, model_dir, files, tmp_path, capsys):
    extra, message = CASES[case]
    names = {name: str(path) for name, path in files.items()}
    names.update(missing=str(tmp_path / "missing.wav"), out=str(tmp_path))
    extra = [arg.format(**names) for arg in extra]
    argv = generate_argv(model_dir, tmp_path / "song.wav", "--duration", "0.2", lyrics=None)
    # later options win in argparse, so a case can replace the description, model or output
    if "--lyrics" not in extra and "--lyrics-file" not in extra:
        argv += ["--lyrics", "la la la"]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and "Traceback" not in err  # before any weights load (no bar)
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even a temporary file
    assert not (tmp_path / "no").exists()  # a missing output directory is not created
