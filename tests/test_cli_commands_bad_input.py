"""Bad input to ``songgen info / codec encode / codec decode / data ... / evaluate / export``.

Every argument is tried at 0, negative, NaN, inf, huge, the wrong kind of file or folder and
empty; each must end in exit code 2 and a one-line message that names the argument (or the file)
and the fix, before any heavy work, and write nothing.  One parametrised test per command.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
import tracemalloc

import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.commands.cli import main
from songgen_hf.modeling.limits import MAX_CODEC_AUDIO_SECONDS
from songgen_hf.testing import save_tiny_checkpoint, tiny_xcodec_config, write_tone_dataset


def _long_wav_header(path, seconds: float, rate: int = 16000) -> None:
    """A 16-bit mono WAV claiming ``seconds`` of audio, written sparse: gigabytes on paper, bytes on disk."""
    data = int(seconds * rate) * 2
    header = (
        b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
    )
    with open(path, "wb") as handle:
        handle.write(header + b"data" + struct.pack("<I", data))
        handle.truncate(44 + data)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("commands")
    paths = {"root": root, "codec": root / "codec", "songgen": root / "songgen", "dir": root / "dir"}
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(paths["codec"])
    save_tiny_checkpoint(paths["songgen"], track_pattern="mixed_pro")
    paths["dir"].mkdir()
    (paths["clip"],) = write_tone_dataset(root / "audio", num_clips=1, seconds=0.5)
    paths["text"] = root / "notes.txt"
    paths["text"].write_text("not audio, not weights\n")
    paths["text_wav"] = root / "notes.wav"
    paths["text_wav"].write_text("not audio\n")
    paths["ten_hours"] = root / "ten_hours.wav"
    _long_wav_header(paths["ten_hours"], 10 * 3600)
    paths["no_weights"] = root / "no_weights"
    paths["no_weights"].mkdir()
    (paths["no_weights"] / "config.json").write_text((paths["codec"] / "config.json").read_text())
    paths["cut_weights"] = root / "cut_weights"
    paths["cut_weights"].mkdir()
    (paths["cut_weights"] / "config.json").write_text((paths["codec"] / "config.json").read_text())
    weights = (paths["codec"] / "model.safetensors").read_bytes()
    (paths["cut_weights"] / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    paths["mistyped_config"] = root / "mistyped_config"
    paths["mistyped_config"].mkdir()
    (paths["mistyped_config"] / "config.json").write_text(json.dumps({"model_type": "songgen", "decoder": "oops"}))
    paths["bad_config"] = root / "bad_config"
    paths["bad_config"].mkdir()
    (paths["bad_config"] / "config.json").write_text("[1, 2, 3]")
    codes = {
        "good": {"audio_codes": torch.randint(0, 1024, (8, 10), dtype=torch.int16), "sampling_rate": 16000},
        "float": {"audio_codes": torch.rand(8, 10)},
        "bool": {"audio_codes": torch.ones(8, 10, dtype=torch.bool)},
        "1d": {"audio_codes": torch.zeros(10, dtype=torch.long)},
        "batch": {"audio_codes": torch.zeros(2, 8, 10, dtype=torch.long)},
        "empty": {"audio_codes": torch.zeros(8, 0, dtype=torch.long)},
        "range": {"audio_codes": torch.full((8, 10), 1024)},
        "negative": {"audio_codes": torch.full((8, 10), -1)},
        "too_many": {"audio_codes": torch.zeros(12, 10, dtype=torch.long)},
        "other_rate": {"audio_codes": torch.zeros(8, 10, dtype=torch.long), "sampling_rate": 24000},
        "no_key": {"codes": torch.zeros(8, 10, dtype=torch.long)},
        "huge": {"audio_codes": torch.zeros(1, int(MAX_CODEC_AUDIO_SECONDS * 50) + 1, dtype=torch.int16)},
    }
    for name, payload in codes.items():
        paths[f"codes_{name}"] = root / f"codes_{name}.pt"
        torch.save(payload, paths[f"codes_{name}"])
    paths["codes_zero_bytes"] = root / "zero.pt"
    paths["codes_zero_bytes"].write_bytes(b"")
    for name, change in (("songgen_mismatch", ("hidden_size", 64)), ("songgen_mistyped", ("num_hidden_layers", "two"))):
        paths[name] = root / name
        shutil.copytree(paths["songgen"], paths[name])
        config = json.loads((paths[name] / "config.json").read_text())
        config["decoder"][change[0]] = change[1]  # a config that is not these weights', or not a config at all
        (paths[name] / "config.json").write_text(json.dumps(config))
    paths["train_config"] = root / "train.yaml"
    paths["train_config"].write_text("max_steps: 1\n")
    paths["card_fields_unknown"] = root / "card.yaml"
    paths["card_fields_unknown"].write_text("model_summary: mine\nlicence: mit\n")
    paths["manifest"] = root / "manifest.jsonl"
    paths["manifest"].write_text(
        json.dumps({"id": "a", "audio_path": str(paths["clip"]), "caption": "calm piano", "lyrics": "la la\nhey"})
        + "\n"
    )
    return paths


def _run(argv, files, tmp_path, capsys):
    names = {key: str(value) for key, value in files.items()}
    names["out"] = str(tmp_path / "out")
    argv = [arg.format(**names) for arg in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a refused command must write nothing"
    return code, err


def _with(base, extra):
    """``base`` with ``extra`` options; a leading non-option replaces ``base``'s input (its third argument)."""
    if extra[0].startswith("--"):
        return base + extra
    return base[:2] + extra[:1] + base[3:] + extra[1:]


def _check(code, err, message):
    assert code == 2, err
    last = err.splitlines()[-1] if err else ""
    assert last.startswith("songgen: error: ") and "Traceback" not in err, err
    assert re.search(message, last), last


ENCODE = ["codec", "encode", "{clip}", "--model", "{codec}", "--output", "{out}/codes.pt"]
ENCODE_CASES = {
    "audio missing": (["{root}/nope.wav"], r"AUDIO .*nope.wav does not exist"),
    "audio is a folder": (["{dir}"], r"AUDIO .*dir is a folder; pass one audio file"),
    "audio is text": (["{text_wav}"], r"AUDIO .*notes.wav is not an audio file soundfile can read.*convert it to WAV"),
    "audio ten hours long": (["{ten_hours}"], r"is 600.0 minutes long; songgen codec encode takes at most 20 minutes"),
    "model is SongGen": (
        ["--model", "{songgen}"],
        r"--model .*songgen holds a SongGen text-to-song model, not an X-Codec",
    ),
    "model folder empty": (["--model", "{dir}"], r"--model .*dir is not a model folder \(no config.json there\)"),
    "model is a file": (["--model", "{text}"], r"--model .*notes.txt is a file, not a folder"),
    "model config not an object": (["--model", "{bad_config}"], r"config.json is not a model config"),
    "model without weights": (["--model", "{no_weights}"], r"--model .*no_weights: the codec does not load"),
    "model weights cut in half": (["--model", "{cut_weights}"], r"--model .*cut_weights: the codec does not load"),
    "output is a folder": (["--output", "{dir}"], r"--output .*dir is a folder; give a file name"),
    "output not .pt": (["--output", "{out}/codes.wav"], r"use a \.pt file name"),
    "bandwidth not offered": (
        ["--bandwidth", "3"],
        r"--bandwidth 3 kbps is not offered by this codec; pick one of 0.5, 1",
    ),
    "bandwidth zero": (["--bandwidth", "0"], r"--bandwidth must be > 0, got 0"),
    "bandwidth negative": (["--bandwidth", "-1"], r"--bandwidth must be > 0"),
    "bandwidth nan": (["--bandwidth", "nan"], r"--bandwidth must be a finite number, got nan"),
    "bandwidth inf": (["--bandwidth", "inf"], r"--bandwidth must be a finite number, got inf"),
    "chunk zero": (["--chunk-seconds", "0"], r"--chunk-seconds must be >= 0.02 and <= 1200, got 0"),
    "chunk negative": (["--chunk-seconds", "-1"], r"--chunk-seconds must be >= 0.02"),
    "chunk nan": (["--chunk-seconds", "nan"], r"--chunk-seconds must be a finite number, got nan"),
    "chunk inf": (["--chunk-seconds", "inf"], r"--chunk-seconds must be a finite number, got inf"),
    "chunk huge": (["--chunk-seconds", "1e30"], r"--chunk-seconds must be .* <= 1200, got 1e\+30"),
    "chunk below a frame": (["--chunk-seconds", "0.001"], r"--chunk-seconds must be >= 0.02"),
}


def test_ten_hour_file_is_refused_from_its_header_in_bounded_memory(files, tmp_path, capsys):
    """The 10-hour file (1.15 GB of samples on paper) is refused before a sample is read."""
    tracemalloc.start()
    started = time.perf_counter()
    code, err = _run(
        ["codec", "encode", "{ten_hours}", "--model", "{codec}", "--output", "{out}/c.pt"], files, tmp_path, capsys
    )
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _check(code, err, "600.0 minutes long")
    # reading it would allocate 2.3 GB of float32 samples; imports on a cold start stay far below 200 MB
    assert elapsed < 30 and peak < 200 * 2**20, (elapsed, peak)


def test_long_audio_is_encoded_in_chunks_without_being_asked(files, tmp_path, capsys):
    (clip,) = write_tone_dataset(tmp_path / "long", num_clips=1, seconds=31.0)
    assert main(["codec", "encode", str(clip), "--model", str(files["codec"]), "--output", str(tmp_path / "c.pt")]) == 0
    assert "encoding 31 s in 30 s chunks" in capsys.readouterr().err
    assert torch.load(tmp_path / "c.pt")["audio_codes"].shape == (8, 31 * 50)


DECODE = ["codec", "decode", "{codes_good}", "--model", "{codec}", "--output", "{out}/o.wav"]
DECODE_CASES = {
    "codes missing": (["{root}/nope.pt"], r"nope.pt does not exist; pass the codes file"),
    "codes a folder": (["{dir}"], r"dir is a folder; pass a file: the codes file"),
    "codes empty file": (["{codes_zero_bytes}"], r"zero.pt is not a readable codes file .*the file is empty"),
    "codes text": (["{text}"], r"notes.txt is not a readable codes file .*it is a text file"),
    "codes float": (["{codes_float}"], r"audio_codes are torch.float32, but codes are integer indices"),
    "codes bool": (["{codes_bool}"], r"audio_codes are torch.bool, but codes are integer indices"),
    "codes 1-D": (["{codes_1d}"], r"audio_codes has shape \(10,\); expected \(codebooks, frames\)"),
    "codes batch of two": (["{codes_batch}"], r"has shape \(2, 8, 10\); expected .* for one clip"),
    "codes no frames": (["{codes_empty}"], r"has shape \(1, 8, 0\), with no codes to decode"),
    "codes out of range": (["{codes_range}"], r"values run from 1024 to 1024, but this codec's codebooks hold 0..1023"),
    "codes negative": (["{codes_negative}"], r"values run from -1 to -1"),
    "codes too many codebooks": (["{codes_too_many}"], r"has 12 codebooks, but --model .* has 8"),
    "codes from another codec": (
        ["{codes_other_rate}"],
        r"were made by a 24000 Hz codec, but --model .* is a 16000 Hz codec",
    ),
    "codes without audio_codes": (
        ["{codes_no_key}"],
        r"holds a dict with keys \['codes'\]; expected a dict with 'audio_codes'",
    ),
    "codes longer than the bound": (
        ["{codes_huge}"],
        r"decode to 20.0 minutes of audio; songgen codec decode writes at most 20",
    ),
    "model is SongGen": (["--model", "{songgen}"], r"holds a SongGen text-to-song model, not an X-Codec"),
    "output a folder": (["--output", "{dir}"], r"--output .*dir is a folder"),
    "output extension": (["--output", "{out}/o.mp4"], r"unsupported extension '.mp4'; use .wav, .flac, .ogg"),
    "chunk nan": (["--chunk-seconds", "nan"], r"--chunk-seconds must be a finite number"),
    "chunk zero": (["--chunk-seconds", "0"], r"--chunk-seconds must be >= 0.02"),
    "chunk inf": (["--chunk-seconds", "inf"], r"--chunk-seconds must be a finite number"),
}


INFO_CASES = {
    "missing": ("{root}/nope", r"FOLDER .*nope does not exist"),
    "a file": ("{text}", r"FOLDER .*notes.txt is a file, not a folder"),
    "a checkpoint file": ("{codes_good}", r"It looks like an original checkpoint: convert it first"),
    "empty folder": ("{dir}", r"is not a model folder \(no config.json there\)"),
    "config a JSON list": ("{bad_config}", r"config.json is not a model config \(a JSON object\)"),
    "config field mistyped": (
        "{mistyped_config}",
        r"its config.json does not describe a valid songgen model \(TypeError",
    ),
}


SYNTH = ["data", "synth", "--output", "{out}", "--num-clips", "2"]
DATA_CASES = {
    "synth zero clips": (SYNTH + ["--num-clips", "0"], r"--num-clips must be at least 1 and at most 100,000, got 0"),
    "synth negative clips": (SYNTH + ["--num-clips", "-4"], r"--num-clips must be at least 1"),
    "synth 10**9 clips": (SYNTH + ["--num-clips", "1000000000"], r"--num-clips .* got 1,000,000,000"),
    "synth zero workers": (SYNTH + ["--workers", "0"], r"--workers must be at least 1"),
    "synth negative workers": (SYNTH + ["--workers", "-2"], r"--workers must be at least 1"),
    "synth a million workers": (SYNTH + ["--workers", "1000000"], r"--workers .* CPU core"),
    "synth negative seed": (SYNTH + ["--seed", "-1"], r"--seed must be at least 0"),
    "synth NaN duration": (SYNTH + ["--min-duration", "nan"], r"--min-duration must be a finite number"),
    "synth inf duration": (SYNTH + ["--max-duration", "inf"], r"--max-duration must be a finite number"),
    "synth huge duration": (SYNTH + ["--max-duration", "1e9"], r"--max-duration must be >= 4 and <= 600"),
    "synth min above max": (
        SYNTH + ["--min-duration", "10", "--max-duration", "5"],
        r"--min-duration 10 exceeds --max-duration 5",
    ),
    "synth zero rate": (SYNTH + ["--sampling-rate", "0"], r"--sampling-rate must be at least 8,000 and at most 96,000"),
    "synth NaN test fraction": (SYNTH + ["--test-fraction", "nan"], r"--test-fraction must be a finite number"),
    "synth test fraction 1": (SYNTH + ["--test-fraction", "1"], r"--test-fraction must be >= 0 and < 1"),
    "synth output is a file": (SYNTH + ["--output", "{text}"], r"--output .*notes.txt is a file"),
    "synth output empty": (SYNTH + ["--output", ""], r"--output is empty; give a path"),
    "tokenizers output empty": (["data", "tokenizers", "{manifest}", "--output", " "], r"--output is empty"),
    "tokenizers huge lyrics vocab": (
        ["data", "tokenizers", "{manifest}", "--output", "{out}", "--lyrics-vocab-size", "1000000000"],
        r"--lyrics-vocab-size must be at least 1 and at most 65,536",
    ),
    "tokenizers huge description vocab": (
        ["data", "tokenizers", "{manifest}", "--output", "{out}", "--description-vocab-size", "1000000000"],
        r"--description-vocab-size .* 65,536",
    ),
    "tokenizers zero vocab": (
        ["data", "tokenizers", "{manifest}", "--output", "{out}", "--lyrics-vocab-size", "0"],
        r"--lyrics-vocab-size must be at least 1",
    ),
    "tokenizers manifest a folder": (
        ["data", "tokenizers", "{dir}", "--output", "{out}"],
        r"Manifest .*dir is a folder",
    ),
    "tokenizers output a file": (
        ["data", "tokenizers", "{manifest}", "--output", "{text}"],
        r"--output .*notes.txt is a file",
    ),
}
ENCODE_DATA = ["data", "encode", "{manifest}", "--codec", "{codec}", "--output", "{out}"]


DATA_CASES.update(
    {
        f"encode {name}": (_with(ENCODE_DATA, extra), message)
        for name, (extra, message) in {
            "manifest missing": (["{root}/nope.jsonl"], r"MANIFEST .*nope.jsonl does not exist"),
            "manifest a folder": (["{dir}"], r"MANIFEST .*dir is a folder"),
            "codec folder empty": (["--codec", "{dir}"], r"--codec .*dir is not a model folder"),
            "output is a file": (["--output", "{text}"], r"--output .*notes.txt is a file"),
            "output empty": (["--output", "", "--overwrite"], r"--output is empty; give a path"),
            "bandwidth not offered": (["--bandwidth", "3"], r"--bandwidth 3 kbps is not offered"),
            "chunk NaN": (["--chunk-seconds", "nan"], r"--chunk-seconds must be a finite number"),
            "batch zero": (["--batch-size", "0"], r"--batch-size must be at least 1 and at most 64"),
            "batch huge": (["--batch-size", "100000000"], r"--batch-size .* got 100,000,000"),
            "shard negative": (["--shard-size", "-1"], r"--shard-size must be at least 1 and at most 256"),
            "voice clip NaN": (["--voice-clip-seconds", "nan"], r"--voice-clip-seconds must be a finite number"),
            "min duration NaN": (["--min-duration", "nan"], r"--min-duration must be a finite number"),
            "max duration above the bound": (["--max-duration", "36000"], r"--max-duration must be > 0 and <= 1200"),
            "min above max": (
                ["--min-duration", "10", "--max-duration", "5"],
                r"--min-duration 10 exceeds --max-duration 5",
            ),
            "caption chars negative": (["--max-caption-chars", "-1"], r"--max-caption-chars must be at least 1"),
            "mix 10**9": (["--mix", "1000000000"], r"--mix must be at least 0 and at most 100,000"),
            "mix SNR NaN": (["--mix-snr", "nan", "5"], r"--mix-snr must be a finite number"),
            "mix SNR reversed": (["--mix-snr", "5", "-5"], r"--mix-snr LOW HIGH: LOW 5 exceeds HIGH -5"),
            "mix seed negative": (["--mix-seed", "-1"], r"--mix-seed must be at least 0"),
        }.items()
    }
)


EVALUATE = ["evaluate", "{manifest}", "--output", "{out}", "--model", "{songgen}"]
EXPORT = ["export", "{songgen}", "--output", "{out}/release"]
GENERATE = ["generate", "--description", "a song", "--lyrics", "la la", "--duration", "1", "--output", "{dir}/s.wav"]
MODEL_CASES = {
    "evaluate NaN duration": (EVALUATE + ["--max-duration", "nan"], r"--max-duration must be a finite number"),
    "evaluate inf duration": (EVALUATE + ["--max-duration", "inf"], r"--max-duration must be a finite number"),
    "evaluate inf guidance": (EVALUATE + ["--guidance-scale", "inf"], r"--guidance-scale must be a finite number"),
    "evaluate negative control guidance": (
        EVALUATE + ["--control-guidance-scale", "-1"],
        r"--control-guidance-scale must be >= 0 and <= 100",
    ),
    "evaluate NaN temperature": (EVALUATE + ["--temperature", "nan"], r"--temperature must be a finite number"),
    "evaluate zero temperature": (EVALUATE + ["--temperature", "0"], r"--temperature must be > 0"),
    "evaluate NaN top-p": (EVALUATE + ["--top-p", "nan"], r"--top-p must be a finite number"),
    "evaluate huge batch": (
        EVALUATE + ["--batch-size", "1000000000"],
        r"--batch-size must be at least 1 and at most 64",
    ),
    "evaluate seed 2**70": (EVALUATE + ["--seed", str(2**70)], r"--seed must be at least 0 and at most"),
    "evaluate negative top-k": (EVALUATE + ["--top-k", "-1"], r"--top-k must be at least 0"),
    "evaluate meta device": (EVALUATE + ["--device", "meta"], r"--device 'meta' holds no weights"),
    "evaluate singer not a folder": (EVALUATE + ["--singer", "{dir}"], r"--singer .*dir is not a singer folder"),
    "export singer not a singer": (EXPORT + ["--singer", "{codec}"], r"--singer .*codec is not a singer folder"),
    "export output is a file": (EXPORT + ["--output", "{text}"], r"--output .*notes.txt is a file"),
    "export output empty": (EXPORT + ["--output", ""], r"--output is empty; give a path"),
    "evaluate output empty": (EVALUATE + ["--output", ""], r"--output is empty; give a path"),
    "convert output empty": (["convert", "xcodec", "{codes_good}", "", "--overwrite"], r"OUTPUT is empty; give a path"),
    "export output holds other files": (
        EXPORT + ["--output", "{no_weights}"],
        r"already exists and is not empty; pass --overwrite",
    ),
    "export over a folder it did not write": (
        EXPORT + ["--output", "{no_weights}", "--overwrite"],
        r"was not written by songgen",
    ),
    "convert over a folder it did not write": (
        ["convert", "xcodec", "{codes_good}", "{no_weights}", "--overwrite"],
        r"OUTPUT .*no_weights was not written by songgen",
    ),
    "export card fields unknown": (
        EXPORT + ["--output", "{out}/r", "--card-fields", "{card_fields_unknown}"],
        r"unknown model-card field\(s\) \['licence'\]",
    ),
    "generate model config disagrees with its weights": (
        GENERATE + ["--model", "{songgen_mismatch}"],
        r"makes .* of shape .* but the weights hold it as .*: the config does not belong to these weights",
    ),
    "generate model config field of the wrong type": (
        GENERATE + ["--model", "{songgen_mistyped}"],
        r"has fields of the wrong type: decoder.num_hidden_layers: 'two' \(should be a whole number\)",
    ),
    "train set yaml tag": (
        ["train", "{train_config}", "--set", "max_steps=!!python/name:os.system"],
        r"is a YAML tag, not a value",
    ),
    "export source is a codec": (
        ["export", "{codec}", "--output", "{out}/r"],
        r"SOURCE .*codec holds a 'songgen_xcodec' model",
    ),
    "export NaN guidance": (
        EXPORT + ["--generation", "guidance_scale=nan"],
        r"--generation guidance_scale must be a finite",
    ),
    "export negative top_k": (EXPORT + ["--generation", "top_k=-3"], r"--generation top_k must be at least 0"),
    "export top_p above 1": (EXPORT + ["--generation", "top_p=2"], r"--generation top_p must be > 0 and <= 1"),
    "export unknown setting": (EXPORT + ["--generation", "bogus=1"], r"Unknown generation setting\(s\) \['bogus'\]"),
    "export unknown CPU precision": (
        EXPORT + ["--generation", "cpu_quantize=int4"],
        r"--generation cpu_quantize must be one of \['int8', 'int8-heads', 'bf16-heads', 'bf16', 'fp32'\] or null",
    ),
    "export codec is SongGen": (EXPORT + ["--codec", "{songgen}"], r"--codec .*holds a SongGen text-to-song model"),
    "export card fields not text": (EXPORT + ["--card-fields", "{codes_good}"], r"--card-fields .* is not UTF-8 text"),
    "export card fields missing": (
        EXPORT + ["--card-fields", "{root}/nope.yaml"],
        r"--card-fields .*nope.yaml does not exist",
    ),
}


# every table above, as full command lines: ``{command case: (argv, what the error line must match)}``
COMMAND_CASES = {
    **{f"codec encode {case}": (_with(ENCODE, extra), message) for case, (extra, message) in ENCODE_CASES.items()},
    **{f"codec decode {case}": (_with(DECODE, extra), message) for case, (extra, message) in DECODE_CASES.items()},
    **{f"info {case}": (["info", folder], message) for case, (folder, message) in INFO_CASES.items()},
    **{f"data {case}": value for case, value in DATA_CASES.items()},
    **MODEL_CASES,
}


@pytest.mark.parametrize("case", list(COMMAND_CASES))
def test_a_bad_argument_exits_2_with_one_line_and_writes_nothing(case, files, tmp_path, capsys):
    argv, message = COMMAND_CASES[case]
    _check(*_run(argv, files, tmp_path, capsys), message)
