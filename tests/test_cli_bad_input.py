"""``songgen generate`` on bad input: every option at 0, negative, NaN, inf, huge, the wrong type and empty, and
files and folders it cannot use, end in exit code 2 and a message naming the problem and the fix, before any weights
load, with no file written."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from songgen_hf import XCodecModel
from songgen_hf.commands.cli import main
from songgen_hf.testing import generate_argv, tiny_xcodec_config, write_reference_voices

RATE = 24000
DURATION = r"must be a number > 0 and <= 600"  # the longest song; the tiny test models' window is 4.96 s


@pytest.fixture(scope="module")
def files(mixed_pro_dir, tmp_path_factory):
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
        shutil.copy(mixed_pro_dir / name, paths["no_processor"])
    paths["empty"] = root / "empty"
    paths["empty"].mkdir()
    return paths


# options out of range, of the wrong kind or too long
OPTION_CASES = {
    "duration 0": (["--duration", "0"], rf"--duration {DURATION}, got 0\.0 .*leave it out for the model's default"),
    "duration negative": (["--duration", "-1"], f"--duration {DURATION}, got -1.0"),
    "duration NaN": (["--duration", "nan"], f"--duration {DURATION}, got nan"),
    "duration inf": (["--duration", "inf"], f"--duration {DURATION}, got inf"),
    "duration above the model's longest": (["--duration", "601"], r"got 601\.0 \(the longest song is 600 s"),
    "duration huge": (["--duration", "1e300"], f"--duration {DURATION}"),
    "min duration above duration": (
        ["--duration", "1", "--min-duration", "2"],
        r"--min-duration \(2 s\) is longer than --duration \(1 s\); lower --min-duration",
    ),
    "min duration negative": (["--min-duration", "-0.5"], "--min-duration must be a number >= 0"),
    "min duration NaN": (["--min-duration", "nan"], "--min-duration must be a number >= 0"),
    "min duration above the model's longest": (["--min-duration", "700"], r"longest song is 600 s"),
    "guidance NaN": (["--guidance-scale", "nan"], r"--guidance-scale must be a number >= 1 and <= 100, got nan"),
    "guidance inf": (["--guidance-scale", "inf"], "--guidance-scale must be a number >= 1 and <= 100"),
    "guidance 0": (["--guidance-scale", "0"], "1 turns guidance off"),
    "guidance negative": (["--guidance-scale", "-3"], "--guidance-scale must be a number >= 1"),
    "guidance huge": (["--guidance-scale", "1e30"], "--guidance-scale must be a number >= 1 and <= 100"),
    "temperature 0": (["--temperature", "0"], r"--temperature must be a number >= 0\.001 and <= 100, got 0\.0"),
    "temperature negative": (["--temperature", "-1"], "--temperature must be a number >= 0.001"),
    "temperature NaN": (["--temperature", "nan"], "--temperature must be a number >= 0.001"),
    "temperature inf": (["--temperature", "inf"], "--temperature must be a number >= 0.001"),
    "temperature tiny": (["--temperature", "1e-40"], "--temperature must be a number >= 0.001"),
    "top-k negative": (["--top-k", "-1"], "--top-k must be a whole number >= 0, got -1; 0 turns top-k filtering off"),
    "top-p 0": (["--top-p", "0"], r"--top-p must be a number > 0 and <= 1, got 0\.0"),
    "top-p negative": (["--top-p", "-0.5"], "--top-p must be a number > 0 and <= 1"),
    "top-p NaN": (["--top-p", "nan"], "--top-p must be a number > 0 and <= 1"),
    "top-p above 1": (["--top-p", "1.5"], "--top-p must be a number > 0 and <= 1"),
    "seed negative": (["--seed", "-1"], r"--seed must be a whole number from 0 to 2\*\*64 - 1, got -1"),
    "seed 2**70": (["--seed", str(2**70)], r"--seed must be a whole number from 0 to 2\*\*64 - 1"),
    "device gpu": (["--device", "gpu"], "--device 'gpu' is not a device name; use 'cpu', 'cuda'"),
    "device empty": (["--device", ""], "--device '' is not a device name"),
    "device meta": (["--device", "meta"], "holds no weights"),
    "description too long": (
        ["--description", "x" * 3000],
        "The description is 3,000 characters long; the limit is 2,000",
    ),
    "lyrics over 10,000 characters": (
        ["--lyrics", "la " * 4000],
        "The lyrics are 12,000 characters long; the limit is 10,000",
    ),
}


# files, folders and texts it cannot use ({name}: a path of the ``files`` fixture), and options this model lacks
INPUT_CASES = {
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


CASES = {**OPTION_CASES, **INPUT_CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_before_the_weights_load_and_writes_nothing(
    case, mixed_pro_dir, files, tmp_path, capsys, no_weights
):
    extra, message = CASES[case]
    names = {name: str(path) for name, path in files.items()}
    names.update(missing=str(tmp_path / "missing.wav"), out=str(tmp_path))
    extra = [arg.format(**names) for arg in extra]
    # later options win in argparse, so a case can replace the description, lyrics, model or output
    lyrics = None if "--lyrics-file" in extra else "la la"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(generate_argv(mixed_pro_dir, tmp_path / "song.wav", *extra, lyrics=lyrics)) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even a temporary file
    assert not (tmp_path / "no").exists()  # a missing output directory is not created


@pytest.mark.parametrize(
    "option, value",
    [("--top-k", "2.5"), ("--seed", "1.5"), ("--duration", "ten"), ("--temperature", ""), ("--top-p", "half")],
)
def test_cli_wrong_types_are_usage_errors(option, value, mixed_pro_dir, tmp_path, capsys, no_weights):
    with pytest.raises(SystemExit) as stop:  # argparse: exit code 2 with "invalid ... value"
        main(["generate", "--description", "pop", "--lyrics", "", "--model", str(mixed_pro_dir), option, value])
    assert stop.value.code == 2
    assert f"argument {option}: invalid" in capsys.readouterr().err
