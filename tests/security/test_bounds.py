"""No file or argument exhausts the machine, and nothing about a model's size or kind is silent.

Grouped by kind, each a table:

* crafted ``config.json`` files over genuine tiny weights (a million layers, a hidden size 256 times the weights',
  a billion-wide one, a list, wrong-typed fields, a folder of another kind) for each of the package's models;
* crafted safetensors headers (larger than the format allows, longer than the file, not JSON, tensors the file
  cannot hold);

all loaded by ``from_pretrained`` in one child process whose address space is capped at 1 GB above what its
imports mapped, so that a multi-GB allocation fails the test instead of the machine; then ``songgen info`` on the
same folders (a warning or "corrupt", never 16 G parameters), and the size arguments and non-finite runs of the
training commands.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from songgen_hf.commands.cli import main

# ------------------------------------------------------------------------------------------ tiny folders
KINDS = ("songgen", "codec", "resgen", "singer")
MODEL_CLASSES = {
    "songgen": "songgen_hf.modeling.songgen:SongGenForConditionalGeneration",
    "codec": "songgen_hf.modeling:XCodecModel",
    "resgen": "songgen_hf.modeling.resgen:ResGenForConditionalGeneration",
    "singer": "songgen_hf.modeling.songgen_singer.modeling_songgen_singer:SongGenSinger",
}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """One genuine tiny folder of each kind (ResGen's model folder is its pipeline's ``transformer/``)."""
    from songgen_hf.modeling import XCodecModel
    from songgen_hf.modeling.resgen import ResGenForConditionalGeneration
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig
    from songgen_hf.testing import tiny_resgen_config, tiny_songgen_config, tiny_xcodec_config

    root = tmp_path_factory.mktemp("originals")
    torch.manual_seed(0)
    SongGenForConditionalGeneration(tiny_songgen_config()).save_pretrained(root / "songgen")
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(root / "codec")
    ResGenForConditionalGeneration(tiny_resgen_config()).save_pretrained(root / "resgen")
    singer = SongGenSingerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, codebook_size=64)
    SongGenSinger(singer).save_pretrained(root / "singer")
    return {kind: root / kind for kind in KINDS}


def _set(path: str, value):
    def edit(config: dict):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
        return config

    return edit


# (kind of model, config edit, what the error must say).  A None edit loads the folder as it is: the check passes
# genuine folders, under the same memory cap.
CONFIG_CASES = {
    "songgen intact": ("songgen", None, None),
    "songgen a million layers": (
        "songgen",
        _set("decoder.num_hidden_layers", 10**6),
        r"config.json says decoder.num_hidden_layers: 1,000,000, but model.safetensors holds "
        r"only [\d,]+ values in \d+ tensors",
    ),
    "songgen 8192 wide over 32": (
        "songgen",
        _set("decoder.hidden_size", 8192),
        r"config.json \(decoder.hidden_size: 8192\) describes a model of more than [\d,]+ "
        r"values .* but model.safetensors holds only",
    ),
    "songgen a billion wide": (
        "songgen",
        _set("decoder.hidden_size", 10**9),
        r"\(decoder.hidden_size: 1000000000\) describes a model of more than",
    ),
    "songgen 1e9 wide (a float)": (
        "songgen",
        _set("decoder.hidden_size", 1e9),
        r"fields of the wrong type: .*decoder.hidden_size: 1000000000.0 \(should be a "
        r"whole number\)",
    ),
    "songgen twice as wide": (
        "songgen",
        _set("decoder.hidden_size", 64),
        r"decoder.hidden_size: 64[^)]*\) (makes .* of shape .* but the weights hold it as|"
        r"describes)",
    ),
    "songgen a field of the wrong type": (
        "songgen",
        _set("decoder.num_attention_heads", "four"),
        r"decoder.num_attention_heads: 'four' \(should be a whole number\)",
    ),
    "songgen minus one layer": (
        "songgen",
        _set("decoder.num_hidden_layers", -1),
        r"says decoder.num_hidden_layers: -1; a layer count is a whole number >= 0",
    ),
    "songgen a billion positions": (
        "songgen",
        _set("decoder.max_position_embeddings", 10**9),
        r"\(decoder.max_position_embeddings: 1000000000\) describes a model of more than",
    ),
    "songgen a T5 of a million layers": (
        "songgen",
        _set("text_encoder.num_layers", 10**6),
        r"says text_encoder.num_layers: 1,000,000, but model.safetensors holds only",
    ),
    "songgen config a list": ("songgen", lambda config: [config], r"config.json holds a JSON list, not a model config"),
    "songgen config a number": ("songgen", lambda config: 7, r"config.json holds a JSON int, not a model config"),
    "codec intact": ("codec", None, None),
    "codec a billion codes": (
        "codec",
        _set("codebook_size", 10**9),
        r"\(codebook_size: 1000000000\) describes a model of more than",
    ),
    "codec a field of the wrong type": (
        "codec",
        _set("codebook_size", "many"),
        r"codebook_size: 'many' \(should be a whole number\)",
    ),
    "codec config a list": ("codec", lambda config: [config], r"holds a JSON list, not a model config"),
    "resgen intact": ("resgen", None, None),
    "resgen a million layers": (
        "resgen",
        _set("decoder.num_hidden_layers", 10**6),
        r"says decoder.num_hidden_layers: 1,000,000, but model.safetensors holds only",
    ),
    "resgen 8192 wide": (
        "resgen",
        _set("decoder.hidden_size", 8192),
        r"\(decoder.hidden_size: 8192\) describes a model of more than",
    ),
    "singer intact": ("singer", None, None),
    "singer a million layers": (
        "singer",
        _set("num_hidden_layers", 10**6),
        r"says num_hidden_layers: 1,000,000, but model.safetensors holds only",
    ),
    "singer 8192 wide": ("singer", _set("hidden_size", 8192), r"\(hidden_size: 8192\) describes a model of more than"),
    "singer a feed-forward of 1e12": (
        "singer",
        _set("intermediate_size", 10**12),
        r"\(intermediate_size: 1000000000000\) describes a model of more than",
    ),
    "singer given a SongGen folder": (
        "singer",
        "songgen",
        r"holds a 'songgen' model .*not the 'songgen_singer' model SongGenSinger loads",
    ),
    "codec given a singer folder": ("codec", "singer", r"holds a 'songgen_singer' model .*not the 'songgen_xcodec'"),
}


def _header_file(header, data: bytes = b"", claimed: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if claimed is None else claimed) + raw + data


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
# (model.safetensors's bytes, what the error must say): each replaces a genuine singer's weights
HEADER_CASES = {
    "a header over the format's 100 MB": (_header_file(b"{}", claimed=2**60), r"header claims [\d,]+ bytes, over"),
    "a header longer than the file": (
        _header_file(b"{}", claimed=10**6),
        r"header claims 1,000,000 bytes but the "
        r"file holds \d+",
    ),
    "a header that is not JSON": (_header_file(b"not json at all"), r"its header is not JSON"),
    "a header that is a list": (_header_file([1, 2]), r"its header is not a JSON object"),
    "a tensor of 10**12 values the file lacks": (
        _header_file({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}),
        r"'w' has data offsets \[0, 4000000000000\] outside the file's 0 data bytes",
    ),
    "an unknown dtype": (_header_file({"w": {**F32, "dtype": "Q7"}}, bytes(8)), r"'w' has the unknown dtype 'Q7'"),
    "a negative size": (_header_file({"w": {**F32, "shape": [-2]}}, bytes(8)), r"'w' has the shape \[-2\]"),
    "a shape its bytes do not fit": (
        _header_file({"w": {**F32, "shape": [3]}}, bytes(8)),
        r"'w' \(F32, shape \[3\]\) does not fit its 8 bytes",
    ),
    "shorter than a header": (b"\x01\x02", r"shorter than the 8-byte header length"),
}


@pytest.fixture(scope="module")
def crafted(originals, tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """``{case: (kind, folder)}`` for every case of both tables."""
    root = tmp_path_factory.mktemp("crafted")
    folders = {}
    for number, (case, (kind, edit, _)) in enumerate(CONFIG_CASES.items()):
        folder = root / f"config{number}"
        source = originals[edit] if isinstance(edit, str) else originals[kind]
        shutil.copytree(source, folder)
        if callable(edit):
            config = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(json.dumps(edit(config)))
        folders[case] = (kind, folder)
    for number, (case, (weights, _)) in enumerate(HEADER_CASES.items()):
        folder = root / f"header{number}"
        shutil.copytree(originals["singer"], folder)
        (folder / "model.safetensors").write_bytes(weights)
        folders[case] = ("singer", folder)
    return folders


# ------------------------------------------------------------------------------------------ loads under a cap
# The child maps torch, transformers and the package first (~1 GB of address space, nearly all shared libraries),
# then caps its address space at 1 GB above that and loads every case.
CAP_BYTES = 2**30
CHILD = """
import gc, importlib, json, resource, sys, time

cases = json.loads(open(sys.argv[1]).read())
classes = {}
for kind, where in json.loads(sys.argv[2]).items():
    module, name = where.split(":")
    classes[kind] = getattr(importlib.import_module(module), name)
import songgen_hf.modeling.weight_bounds  # noqa: F401  (its imports too, before the cap)

with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
cap = mapped + int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
results = {}
for case, (kind, folder) in cases.items():
    start = time.perf_counter()
    try:
        model = classes[kind].from_pretrained(folder)
        del model
        outcome = {"error": None}
    except BaseException as error:  # MemoryError included: the cap is what the test measures
        outcome = {"error": type(error).__name__, "mro": [k.__name__ for k in type(error).__mro__],
                   "message": str(error)}
    outcome["seconds"] = round(time.perf_counter() - start, 3)
    results[case] = outcome
    gc.collect()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def capped_loads(crafted, tmp_path_factory) -> dict[str, dict]:
    listing = tmp_path_factory.mktemp("child") / "cases.json"
    listing.write_text(json.dumps({case: [kind, str(folder)] for case, (kind, folder) in crafted.items()}))
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "HF_HUB_OFFLINE": "1"}
    import os

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(listing), json.dumps(MODEL_CLASSES), str(CAP_BYTES)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_crafted_config_is_refused_under_a_1_gb_cap(case, capped_loads, crafted):
    kind, _, expected = CONFIG_CASES[case]
    outcome = capped_loads[case]
    print(f"{case}: {outcome}")
    if expected is None:
        assert outcome["error"] is None, outcome
        return
    assert "ModelBoundsError" in outcome.get("mro", []), outcome  # a ValueError the CLI shows as one line
    assert str(crafted[case][1]) in outcome["message"]
    assert re.search(expected, outcome["message"]), outcome["message"]
    assert "Traceback" not in outcome["message"]


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_a_crafted_header_is_named_corrupt_under_a_1_gb_cap(case, capped_loads, crafted):
    outcome = capped_loads[case]
    print(f"{case}: {outcome}")
    assert outcome["error"] == "CorruptWeightsError", outcome
    assert f"{crafted[case][1] / 'model.safetensors'} is a corrupt safetensors file" in outcome["message"]
    assert re.search(HEADER_CASES[case][1], outcome["message"]), outcome["message"]


# ------------------------------------------------------------------------------------------ songgen info
INFO_CASES = {
    "songgen a million layers": r"warning: .*says decoder.num_hidden_layers: 1,000,000",
    "songgen a billion wide": r"warning: .*\(decoder.hidden_size: 1000000000\) describes a model of more than",
    "codec a billion codes": r"warning: .*\(codebook_size: 1000000000\)",
    "songgen twice as wide": r"warning: .*decoder.hidden_size: 64",
}


@pytest.mark.parametrize("case", list(INFO_CASES))
def test_info_warns_of_a_config_its_weights_disagree_with_and_counts_nothing(case, crafted, capsys):
    assert main(["info", str(crafted[case][1])]) == 0
    out = capsys.readouterr().out
    assert re.search(INFO_CASES[case], out), out
    assert re.search(r"^parameters: not counted \(see warning\)$", out, re.M), out
    assert " B\n" not in out and " B (" not in out  # no billions of parameters reported


def test_info_counts_a_genuine_folder_without_a_warning(originals, capsys):
    assert main(["info", str(originals["songgen"])]) == 0
    out = capsys.readouterr().out
    assert "warning" not in out and re.search(r"^  total: [\d.]+ M", out, re.M), out


@pytest.mark.parametrize(
    "case",
    ["a header over the format's 100 MB", "a tensor of 10**12 values the file lacks", "a header that is not JSON"],
)
def test_info_reports_a_corrupt_header_as_corrupt(case, originals, tmp_path, capsys):
    folder = tmp_path / "codec"
    shutil.copytree(originals["codec"], folder)
    (folder / "model.safetensors").write_bytes(HEADER_CASES[case][0])
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  status: corrupt: .*model.safetensors is a corrupt safetensors file: ", out, re.M), out
    assert re.search(HEADER_CASES[case][1], out), out


@pytest.mark.parametrize("case", ["songgen config a list", "songgen a field of the wrong type"])
def test_info_refuses_an_invalid_config_in_one_line(case, crafted, capsys):
    assert main(["info", str(crafted[case][1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and "Traceback" not in err and "config.json" in err, err


# ------------------------------------------------------------------------------------------ size arguments
SINGER_ARGUMENTS = {
    "--layers 1e6": (["--layers", "1000000"], r"--layers must be from 1 to 64, got 1000000"),
    "--hidden-size 1e9": (["--hidden-size", "1000000000"], r"--hidden-size must be a multiple of 64 from 64 to 4096"),
    "--intermediate-size 1e12": (["--intermediate-size", str(10**12)], r"--intermediate-size must be from 1 to 65536"),
    "sizes together too large": (
        ["--hidden-size", "4096", "--layers", "64"],
        r"make a singer of over [\d,]+ parameters; the limit is 500,000,000",
    ),
    "--batch-size 1e9": (["--batch-size", "1000000000"], r"--batch-size must be at most 1024"),
    "--learning-rate inf": (["--learning-rate", "inf"], r"--learning-rate must be a number in \(0, 1\], got inf"),
    "--learning-rate nan": (["--learning-rate", "nan"], r"--learning-rate must be a number in \(0, 1\], got nan"),
}


@pytest.mark.parametrize("case", list(SINGER_ARGUMENTS))
def test_train_singer_refuses_sizes_out_of_range_before_building(case, tmp_path, capsys):
    arguments, expected = SINGER_ARGUMENTS[case]
    assert main(["train-singer", str(tmp_path), "--output", str(tmp_path / "run"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songgen: error: ") and re.search(expected, err), err
    assert not (tmp_path / "run").exists()


TRAINING_CONFIG_VALUES = {
    "songgen batch_size 1e9": ("songgen", {"batch_size": 10**9}, r"`batch_size` .* must be from 1 to 1,024"),
    "songgen max_frames 1e9": ("songgen", {"max_frames": 10**9}, r"`max_frames` .* from 1 to 65,536"),
    "songgen num_workers 1e4": ("songgen", {"num_workers": 10**4}, r"`num_workers` .* from 0 to 64"),
    "codec batch_size 1e9": ("codec", {"batch_size": 10**9}, r"`batch_size` .* from 1 to 1,024"),
    "codec discriminator 1e9 wide": (
        "codec",
        {"period_discriminator_channels": 10**9},
        r"`period_discriminator_channels` .* from 1 to 4,096",
    ),
}


@pytest.mark.parametrize("case", list(TRAINING_CONFIG_VALUES))
def test_training_configs_bound_their_sizes(case, tmp_path):
    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.songgen_config import SongGenTrainingConfig

    kind, values, expected = TRAINING_CONFIG_VALUES[case]
    if kind == "songgen":
        build = lambda: SongGenTrainingConfig(train_data=str(tmp_path), model={"preset": "tiny"}, **values)  # noqa
    else:
        build = lambda: CodecTrainingConfig(train_data=str(tmp_path), **values)  # noqa
    with pytest.raises(ValueError, match=expected):
        build()


def test_a_fresh_training_model_is_counted_before_it_is_built():
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.weight_bounds import build_fresh_model
    from songgen_hf.testing import tiny_songgen_config

    huge = tiny_songgen_config(decoder={"hidden_size": 2**20, "num_attention_heads": 4})
    with pytest.raises(
        ValueError,
        match=r"describes a SongGenForConditionalGeneration of more than 4,000,000,000 "
        r"parameters .*hidden_size: 1048576",
    ):
        build_fresh_model(SongGenForConditionalGeneration, huge, where="`model`")
    model = build_fresh_model(SongGenForConditionalGeneration, tiny_songgen_config())
    assert next(model.parameters()).device.type == "cpu"  # a model within the bound is built for real


# ------------------------------------------------------------------------------------------ non-finite runs
def test_a_singer_run_gone_non_finite_stops_with_the_step_and_saves_nothing(tmp_path):
    from songgen_hf.training import singer as training
    from tests.training.test_singer_training import _encoded

    train = _encoded(tmp_path / "train", [1, 2])
    with pytest.raises(
        ValueError,
        match=r"Training stopped at step 1: the weight \S+ holds non-finite values .*"
        r"lower --learning-rate",
    ):
        training.train_singer(
            [train],
            tmp_path / "run",
            steps=3,
            batch_size=2,
            learning_rate=float("inf"),
            device="cpu",
            hidden_size=64,
            num_hidden_layers=1,
            num_attention_heads=1,
        )
    assert not (tmp_path / "run" / "final").exists()


def test_the_finite_check_names_a_nan_loss_and_passes_a_finite_step():
    from songgen_hf.training.finite import check_finite_training

    model = torch.nn.Linear(2, 2)
    check_finite_training(model, torch.tensor(0.5), 7)  # nothing to say
    with pytest.raises(ValueError, match=r"Training stopped at step 7: the loss is nan"):
        check_finite_training(model, torch.tensor(float("nan")), 7)
    with torch.no_grad():
        model.bias[1] = float("inf")
    with pytest.raises(ValueError, match=r"step 8: the weight bias holds non-finite values \(loss 0.5\)"):
        check_finite_training(model, 0.5, 8)


# ------------------------------------------------------------------------------------------ devices
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device exists here")
def test_data_prepare_refuses_cuda_on_a_cpu_build(tmp_path, capsys):
    (tmp_path / "songs").mkdir()
    code = main(["data", "prepare", str(tmp_path / "songs"), "--output", str(tmp_path / "out"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("songgen: error: --device 'cuda' cannot be used") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_check_leaves_the_random_generator_as_it_was(originals):
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.weight_bounds import check_pretrained

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_pretrained(SongGenForConditionalGeneration, originals["songgen"], {})  # builds the model on meta
    assert torch.equal(torch.rand(3), expected)  # a seeded model built after a load is the same as without it
