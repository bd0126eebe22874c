"""A LoRA adapter folder cannot exhaust the machine, hang a load or make a silent, degenerate song.

Each case edits a copy of one genuine tiny adapter (a LoRA of the decoder layers and the output heads, rank 4):

* its ``adapter_config.json`` declares sizes out of range, or a rank its weights do not hold (``r: 65536`` over
  rank-4 weights once had peft allocate 3 GB before anything was found wrong): refused from the files, before any
  weights load, by every front door;
* its ``adapter_config.json`` is a FIFO, a link to ``/dev/zero``, a huge file, deeply nested JSON or no object: the
  safe reader refuses it in one line;
* its weights are NaN, infinite in float32 (``1e300`` stored as float64) or far beyond any trained adapter (``1e30``):
  refused when the adapter loads, naming the weight.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from songgen_hf.commands.cli import main
from songgen_hf.modeling.limits import MAX_ADAPTER_WEIGHT, MAX_LORA_ALPHA, MAX_LORA_RANK
from songgen_hf.pipelines import prepare_pipeline
from songgen_hf.pipelines.adapter_folders import check_adapter_files, load_lora
from songgen_hf.testing import save_tiny_checkpoint

RANK = 4
HEAD = "base_model.model.decoder.lm_heads.0"


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> dict[str, Path]:
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

    root = tmp_path_factory.mktemp("adapter_cases")
    base = save_tiny_checkpoint(root / "base")
    peft_model = apply_lora(
        SongGenForConditionalGeneration.from_pretrained(base), lora_config_for_songgen(r=RANK, alpha=2 * RANK)
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return {"base": base, "adapter": save_adapter(peft_model, root / "adapter")}


def _config(**changes):
    def edit(folder: Path) -> None:
        path = folder / "adapter_config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))

    return edit


# ------------------------------------------------------------------------------------------ declared sizes
SIZE_CASES = {
    "r 65536 over rank-4 weights": (
        _config(r=65536),
        rf"r \(the LoRA rank\) is 65536; it must be a whole number from 1 to {MAX_LORA_RANK:,}",
    ),
    "r 64 over rank-4 weights": (
        _config(r=64),
        r"declares r: 64, but its weights \(adapter_model.safetensors\) hold LoRA factors of rank 4 at most",
    ),
    "r 8 over rank-4 weights": (_config(r=8), r"declares r: 8, but its weights .* of rank 4 at most"),
    "r 2 over rank-4 weights": (
        _config(r=2),
        r"declares rank 2 for decoder\..*, but its weights hold lora_[AB] of rank 4 there",
    ),
    "r 1e9": (_config(r=1e9), r"r \(the LoRA rank\) is 1000000000.0; it must be a whole number"),
    "r true": (_config(r=True), r"r \(the LoRA rank\) is True; it must be a whole number"),
    "r missing": (_config(r=None), r"r \(the LoRA rank\) is None"),
    "lora_alpha 1e9": (_config(lora_alpha=1e9), rf"lora_alpha is 1000000000.0; .* at most {MAX_LORA_ALPHA:,g}"),
    "lora_alpha NaN": (_config(lora_alpha=float("nan")), r"lora_alpha is nan; it must be a number above 0"),
    "lora_alpha 0": (_config(lora_alpha=0), r"lora_alpha is 0; it must be a number above 0"),
    "a rank_pattern of 65536": (
        _config(rank_pattern={"lm_heads.0": 65536}),
        r"rank_pattern\['lm_heads.0'\] \(the LoRA rank\) is 65536",
    ),
    "a rank_pattern over rank-4 weights": (
        _config(rank_pattern={"lm_heads.0": 8}),
        r"declares rank_pattern\['lm_heads.0'\]: 8, but its weights .* of rank 4 at most",
    ),
    "a rank_pattern that is no pattern": (_config(rank_pattern={"(": 4}), r"rank_pattern key '\(' is not a valid"),
}


def _fifo(folder: Path) -> None:
    (folder / "adapter_config.json").unlink()
    os.mkfifo(folder / "adapter_config.json")


def _dev_zero(folder: Path) -> None:
    (folder / "adapter_config.json").unlink()
    (folder / "adapter_config.json").symlink_to("/dev/zero")


def _huge(folder: Path) -> None:
    with open(folder / "adapter_config.json", "r+b") as handle:
        handle.truncate(64 * 2**20)  # sparse: 64 MB on paper, nothing written


def _deep(folder: Path) -> None:
    (folder / "adapter_config.json").write_text("[" * 200_000 + "]" * 200_000)


FILE_CASES = {
    "a FIFO": (_fifo, r"adapter_config.json is a FIFO, socket or device, not a regular file"),
    "a link to /dev/zero": (_dev_zero, r"adapter_config.json is a FIFO, socket or device, not a regular file"),
    "a 64 MB file": (_huge, r"adapter_config.json is larger than 16 MB"),
    "JSON nested 200 000 deep": (_deep, r"JSON nested deeper than 64 levels"),
    "a JSON list": (lambda folder: (folder / "adapter_config.json").write_text("[]"), r"holds a JSON list"),
}


@pytest.fixture
def crafted(genuine, tmp_path):
    def make(edit) -> Path:
        folder = Path(shutil.copytree(genuine["adapter"], tmp_path / "crafted"))
        edit(folder)
        return folder

    return make


@pytest.mark.parametrize("case", [*SIZE_CASES, *FILE_CASES])
def test_an_adapters_config_is_checked_from_its_files_before_any_weights_load(case, genuine, crafted, no_weights):
    edit, expected = {**SIZE_CASES, **FILE_CASES}[case]
    folder = crafted(edit)
    with pytest.raises(ValueError, match=expected) as refused:
        check_adapter_files(folder)
    assert "adapter_config.json" in str(refused.value)
    # the pipeline's checks (and `songgen generate --adapter`'s) run the same, with the adapter named
    with pytest.raises(ValueError, match=expected) as refused:
        prepare_pipeline(str(genuine["base"]), adapters={"mine": str(folder)})
    assert str(refused.value).startswith("Adapter 'mine': ")
    # and an adapter given as the model: its own files first, before its base loads
    with pytest.raises(ValueError, match=expected):
        load_lora(None, folder)


@pytest.mark.parametrize("command", ["--adapter", "--model ADAPTER", "info"])
@pytest.mark.parametrize("case", ["r 65536 over rank-4 weights", "r 64 over rank-4 weights", "a link to /dev/zero"])
def test_the_cli_says_it_in_one_line(case, command, genuine, crafted, tmp_path, capsys):
    folder = crafted({**SIZE_CASES, **FILE_CASES}[case][0])
    song = ["--description", "a calm song", "--lyrics", "la", "--duration", "0.3", "--output", str(tmp_path / "a.wav")]
    argv = {
        "--adapter": ["generate", "--model", str(genuine["base"]), "--adapter", str(folder), *song],
        "--model ADAPTER": ["generate", "--model", str(folder), *song],
        "info": ["info", str(folder)],
    }[command]
    if command == "info" and case in SIZE_CASES:  # info reads files only: it shows the adapter with a warning
        assert main(argv) == 0
        assert re.search(r"warning: .*adapter_config.json", capsys.readouterr().out)
        return
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert "adapter_config.json" in error and not (tmp_path / "a.wav").exists()


def test_the_genuine_adapter_passes_and_its_files_are_read_once(genuine, monkeypatch):
    from songgen_hf.pipelines import adapter_folders
    from songgen_hf.utils import safe_files

    assert check_adapter_files(genuine["adapter"])["r"] == RANK
    reads = []
    original = safe_files.read_json

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(safe_files, "read_json", counted)
    for _ in range(3):  # unchanged: neither read nor checked again
        assert adapter_folders.check_adapter_files(genuine["adapter"])["r"] == RANK
    assert reads == []


def test_a_changed_adapter_config_is_read_again(genuine, crafted):
    folder = crafted(lambda folder: None)
    assert check_adapter_files(folder)["r"] == RANK
    _config(r=64)(folder)
    with pytest.raises(ValueError, match="declares r: 64"):
        check_adapter_files(folder)


# ------------------------------------------------------------------------------------------ weight values
def _weights(change):
    def edit(folder: Path) -> None:
        path = folder / "adapter_model.safetensors"
        tensors = load_file(path)
        key = f"{HEAD}.lora_B.weight"
        tensors[key] = change(tensors[key])
        save_file(tensors, path, metadata={"format": "pt"})

    return edit


VALUE_CASES = {
    "1e30": (_weights(lambda t: torch.full_like(t, 1e30)), rf"holds 1e\+30, beyond the {MAX_ADAPTER_WEIGHT:g}"),
    "1e300 stored as float64": (
        _weights(lambda t: torch.full(t.shape, 1e300, dtype=torch.float64)),
        r"holds infinite values in torch.float32",
    ),
    "all NaN": (_weights(lambda t: torch.full_like(t, float("nan"))), r"holds NaN values in torch.float32"),
    "one infinity": (_weights(lambda t: t.index_fill(0, torch.tensor([0]), float("inf"))), r"infinite values"),
}


@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_adapter_weights_that_are_not_finite_in_float32_are_refused_when_loaded(case, genuine, crafted):
    from transformers import pipeline

    from songgen_hf.pipelines import load_text_to_song_pipeline

    edit, expected = VALUE_CASES[case]
    folder = crafted(edit)
    check_adapter_files(folder)  # the files themselves are well formed: their values show once loaded
    with pytest.raises(ValueError, match=expected) as refused:
        load_lora(None, folder)
    assert "lm_heads.0.lora_B.weight" in str(refused.value)
    with pytest.raises(ValueError, match=expected):
        load_text_to_song_pipeline(str(genuine["base"]), adapters={"mine": str(folder)})
    with pytest.raises(ValueError, match=expected):
        pipeline("text-to-song", model=str(genuine["base"]), adapters={"mine": str(folder)})
