"""transformers' own ``pipeline("text-to-song", ...)`` does what the package's loader does with LoRA adapters.

The base recommends int8 token heads on a CPU (``cpu_quantize: int8-heads``, as the embedded songgen-tiny does), and
the adapters are LoRAs of the documented default targets (the decoder layers and the output heads).  For each
front door the songs of a seed are the same bit for bit: ``pipeline(model=BASE, adapters=..., adapter=...)``,
``load_text_to_song_pipeline`` with the same arguments, ``pipeline(model=ADAPTER)`` and
``load_text_to_song_pipeline(ADAPTER)``.  An adapter of the embedded default loads with no network attempt and no
warning (peft used to ask the Hub for ``songgen-tiny/config.json`` on every load).
"""

from __future__ import annotations

import json
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.quantization import Int8Linear, check_int8_kernel
from songgen_hf.pipelines import load_text_to_song_pipeline, loading
from songgen_hf.testing import save_tiny_checkpoint

SONG = {"description": "a calm folk song with a female voice", "lyrics": "walking home"}
OPTIONS = dict(duration_s=0.3, min_duration_s=0.3, do_sample=True, seed=5)

pytestmark = pytest.mark.skipif(check_int8_kernel("cpu") is not None, reason="no int8 kernel on this CPU")


def _adapter(base: Path, folder: Path, seed: int, **options) -> Path:
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

    peft_model = apply_lora(
        SongGenForConditionalGeneration.from_pretrained(base), lora_config_for_songgen(r=4, alpha=8, **options)
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return save_adapter(peft_model, folder)


def _base(folder: Path) -> Path:
    """A tiny SongGen that recommends int8 token heads on a CPU, as songgen-tiny does."""
    save_tiny_checkpoint(folder, "parallel_stream2")
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "cpu_quantize": "int8-heads"}))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("front_doors")
    base = _base(root / "base")
    made = {"base": base, "a": _adapter(base, root / "a", 1), "b": _adapter(base, root / "b", 2)}
    made["layers"] = _adapter(base, root / "layers", 3, targets=("self_attn",))  # the heads left alone
    return {name: str(path) for name, path in made.items()}


def _song(pipe, **options) -> np.ndarray:
    return pipe(SONG, **{**OPTIONS, **options})["audio"]


def _heads(pipe) -> type:
    """The kind of the first output head under any LoRA layer around it."""
    head = pipe.model.decoder.lm_heads[0]
    return type(getattr(head, "base_layer", head))


def test_transformers_pipeline_with_adapters_of_the_heads_is_the_loaders(folders):
    adapters = {"a": folders["a"], "b": folders["b"]}
    theirs = pipeline("text-to-song", model=folders["base"], adapters=adapters)
    ours = load_text_to_song_pipeline(folders["base"], adapters=adapters)
    assert _heads(theirs) is _heads(ours) is torch.nn.Linear  # a LoRA of the heads needs them float
    for style in ("a", "b", {"a": 0.7, "b": 0.3}, None):
        assert np.array_equal(_song(theirs, adapter=style), _song(ours, adapter=style)), style
    assert not np.array_equal(_song(theirs, adapter="a"), _song(theirs))

    default_style = pipeline("text-to-song", model=folders["base"], adapters={"a": folders["a"]}, adapter="a")
    assert np.array_equal(_song(default_style), _song(ours, adapter="a"))
    ours_default = load_text_to_song_pipeline(folders["base"], adapters={"a": folders["a"]}, adapter="a")
    assert np.array_equal(_song(ours_default), _song(default_style))


def test_without_adapters_of_the_heads_both_keep_the_recommended_int8_heads(folders):
    plain = pipeline("text-to-song", model=folders["base"])
    assert isinstance(plain.model.decoder.lm_heads[0], Int8Linear)
    assert plain.model.config.quantization_config.heads_only  # marked as a model loaded so (saving refuses it)
    assert np.array_equal(_song(plain), _song(load_text_to_song_pipeline(folders["base"])))
    theirs = pipeline("text-to-song", model=folders["base"], adapters={"layers": folders["layers"]})
    ours = load_text_to_song_pipeline(folders["base"], adapters={"layers": folders["layers"]})
    assert _heads(theirs) is _heads(ours) is Int8Linear
    assert np.array_equal(_song(theirs, adapter="layers"), _song(ours, adapter="layers"))
    assert np.array_equal(_song(theirs), _song(plain))  # no style asked: the base's song


@pytest.mark.parametrize("adapter", ["a", "layers"])
def test_transformers_pipeline_of_an_adapter_folder_is_the_loaders(folders, adapter):
    theirs = pipeline("text-to-song", model=folders[adapter])
    ours = load_text_to_song_pipeline(folders[adapter])
    assert type(theirs.model.decoder.lm_heads[0]) is type(ours.model.decoder.lm_heads[0]) is Int8Linear  # merged
    assert np.array_equal(_song(theirs), _song(ours))


@pytest.fixture
def no_network(monkeypatch):
    """Every connection and name look-up is recorded and fails; the Hub's offline switch is off, so a look-up the
    package lets through is attempted (and recorded) rather than skipped."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:3] if args and isinstance(args[0], socket.socket) else args[:2])
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return attempts


def test_an_adapter_of_the_embedded_default_loads_offline_without_a_look_up(folders, tmp_path, monkeypatch, no_network):
    embedded = tmp_path / "install" / "songgen_hf" / "assets" / loading.DEFAULT_MODEL_NAME
    shutil.copytree(folders["base"], embedded)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", embedded)
    adapter = _adapter(embedded, tmp_path / "mine", 4)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == "songgen-tiny"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        as_model = _song(load_text_to_song_pipeline(str(adapter)))
        # transformers' own door reads the base's config copied beside the adapter, never the Hub's "songgen-tiny"
        assert np.array_equal(_song(pipeline("text-to-song", model=str(adapter))), as_model)
        styled = load_text_to_song_pipeline(loading.DEFAULT_MODEL_NAME, adapters={"mine": str(adapter)})
        theirs = pipeline("text-to-song", model=str(embedded), adapters={"mine": str(adapter)})
        assert np.array_equal(_song(styled, adapter="mine"), _song(theirs, adapter="mine"))
    assert no_network == []
    assert [str(warning.message) for warning in caught] == []
    assert as_model.shape == _song(styled, adapter="mine").shape


def test_each_adapter_file_is_read_once_per_song_from_the_cli(folders, tmp_path, monkeypatch):
    from songgen_hf.commands.cli import main
    from songgen_hf.utils import safe_files

    adapter = Path(shutil.copytree(folders["a"], tmp_path / "fresh" / "a"))  # a path no check has seen
    reads = []
    original = safe_files.read_json

    def counted(path, *args, **kwargs):
        reads.append(Path(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(safe_files, "read_json", counted)
    argv = ["generate", "--model", folders["base"], "--adapter", str(adapter), "--description", "a song"]
    assert main([*argv, "--lyrics", "la", "--duration", "0.3", "--output", str(tmp_path / "song.wav")]) == 0
    adapter_reads = [path.relative_to(adapter).as_posix() for path in reads if path.is_relative_to(adapter)]
    assert sorted(adapter_reads) == ["adapter_config.json", "songgen_adapter.json"]


def test_an_adapter_folder_takes_the_precision_its_caller_chose(folders):
    from songgen_hf.modeling.limits import ModelFolderError
    from songgen_hf.modeling.songgen.quantization import SongGenInt8Config

    chosen = pipeline("text-to-song", model=folders["a"], dtype=torch.float32)
    assert type(chosen.model.decoder.lm_heads[0]) is torch.nn.Linear  # float32 asked: no recommendation applies
    assert np.array_equal(_song(chosen), _song(load_text_to_song_pipeline(folders["a"], quantize="fp32")))
    with pytest.raises(ModelFolderError, match="is a LoRA adapter folder, and int8 applies to a merged model"):
        pipeline("text-to-song", model=folders["a"], model_kwargs={"quantization_config": SongGenInt8Config()})
