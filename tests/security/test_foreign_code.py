"""Nothing a file names is run: each kind of file a command or loader reads carries a payload that would write a
marker file if it were unpickled, imported or called, and the command must refuse it in one clear line naming the
file, with the marker never written.

One row of :data:`CASES` per kind of file: ``plant(tmp_path, marker)`` writes the hostile input (a tiny, valid-looking
model around the payload) and returns what ``run`` needs; ``run`` is a command line (``songgen ...``, run in-process,
exit status 2 expected) or a loader call (a ``ValueError`` expected); ``names`` is what the message must contain.  A
new loader of foreign files is checked by adding a row.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("safetensors")


class Payload:
    """Unpickling it writes the marker file (what a hostile pickle does instead of ``os.system``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def _pickle_payload(path: Path, marker: Path, around: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**(around or {}), "payload": Payload(marker)}, path)
    return path


def _evil_module(folder: Path, marker: Path, name: str = "evil") -> None:
    """A Python file that writes the marker when imported (the target of an ``auto_map`` / ``klass``)."""
    (folder / f"{name}.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('code ran')\n")


# ------------------------------------------------------------------------------------------- separation models
def _demucs_safetensors(path: Path, marker: Path, klass: str = "os.system", structure: dict | None = None) -> Path:
    """A safetensors file whose metadata names a callable and its arguments: demucs' own loader imports
    ``klass`` and calls it with ``args``."""
    from safetensors.torch import save_file

    metadata = {"klass": klass, "args": json.dumps([f"touch {marker}"]), "kwargs": "{}"}
    if structure is not None:
        metadata["structure"] = json.dumps(structure)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"weight": torch.zeros(2)}, str(path), metadata=metadata)
    return path


def _plant_demucs_th(tmp, marker):
    return _pickle_payload(tmp / "evil.th", marker, {"klass": None, "args": [], "kwargs": {}, "state": {}})


def _plant_demucs_th_class(tmp, marker):
    """A ``.th`` package whose class is a callable outside the allow-list (``Path.write_text``, named by the
    pickle itself), with the marker as its arguments."""
    path = tmp / "other_class.th"
    torch.save({"klass": Path.write_text, "args": [str(marker), "code ran"], "kwargs": {}, "state": {}}, path)
    return path


def _plant_demucs_folder(tmp, marker):
    folder = tmp / "sep"
    _demucs_safetensors(folder / "evil.safetensors", marker)
    (folder / "evil.yaml").write_text("models: ['evil']\n")
    return folder


def _plant_demucs_structure(tmp, marker):
    """A known class, but the nested-state description names a module to import (demucs imports it)."""
    _evil_module(tmp, marker, "evil_structure")
    return _demucs_safetensors(
        tmp / "structured.safetensors",
        marker,
        klass="demucs.htdemucs.HTDemucs",
        structure={"_dict": [["weight", {"_class": "evil_structure.X"}]]},
    )


def _plant_demucs_bag_escape(tmp, marker):
    """A bag whose model signature is a path out of the folder, to a hostile file elsewhere."""
    _demucs_safetensors(tmp / "outside.safetensors", marker)
    folder = tmp / "bag"
    folder.mkdir()
    (folder / "bag.yaml").write_text("models: ['../outside']\n")
    return folder


def _hub_cache(tmp, monkeypatch) -> Path:
    import huggingface_hub

    cache = tmp / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _plant_demucs_hub(tmp, marker, monkeypatch):
    """``attacker/evilsep`` in the Hub cache, as after a download: what demucs would load from it runs the marker."""
    from songgen_hf.testing import write_hub_repo

    payload = _demucs_safetensors(tmp / "evilsep.safetensors", marker)
    write_hub_repo(
        _hub_cache(tmp, monkeypatch),
        "attacker/Demucs-evilsep",
        {"evilsep.yaml": b"models: ['evilsep']\n", "evilsep.safetensors": payload.read_bytes()},
    )
    return "attacker/evilsep"


def _load_demucs(reference, trust=False):
    from songgen_hf.data.prepare.separation import load_demucs

    load_demucs(str(reference), trust=trust)


def _prepare_argv(tmp, separation, *extra):
    import numpy as np
    import soundfile as sf

    songs = tmp / "songs"
    songs.mkdir(exist_ok=True)
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, 16000 * 12).astype(np.float32)
    sf.write(songs / "song.wav", noise, 16000)  # a clip's length: the separation model is loaded for it
    return [
        "data",
        "prepare",
        str(songs),
        "--output",
        str(tmp / "corpus"),
        "--separation-model",
        str(separation),
        "--asr-model",
        str(tmp),
        "--second-asr-model",
        "none",
        "--clap-model",
        "none",
        "--no-progress",
        *extra,
    ]


# ------------------------------------------------------------------------------------------- model folders
@pytest.fixture(scope="module")
def songgen_folder(tmp_path_factory):
    from songgen_hf.testing import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("songgen") / "model")


def _as_pickle_folder(
    source: Path, folder: Path, marker: Path, weights: str = "model.safetensors", pickled: str = "pytorch_model.bin"
) -> Path:
    """A copy of a saved folder whose safetensors weights became a pickle carrying the payload."""
    from safetensors.torch import load_file

    shutil.copytree(source, folder)
    tensors = load_file(str(folder / weights))
    (folder / weights).unlink()
    return _pickle_payload(folder / pickled, marker, tensors).parent


def _plant_model_folder(tmp, marker, songgen_folder):
    return _as_pickle_folder(songgen_folder, tmp / "model", marker)


def _plant_adapter(tmp, marker, songgen_folder):
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

    base = SongGenForConditionalGeneration.from_pretrained(songgen_folder)
    adapter = save_adapter(apply_lora(base, lora_config_for_songgen(r=2)), tmp / "adapter", songgen_folder)
    SongGenProcessor.from_pretrained(songgen_folder).save_pretrained(adapter)
    from safetensors.torch import load_file

    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_model.safetensors").unlink()
    _pickle_payload(adapter / "adapter_model.bin", marker, tensors)
    return adapter


def _plant_resgen(tmp, marker):
    from songgen_hf.testing import save_tiny_resgen_checkpoint

    folder = save_tiny_resgen_checkpoint(tmp / "resgen_source")
    moved = tmp / "resgen"
    shutil.copytree(folder, moved)
    shutil.rmtree(moved / "transformer")
    _as_pickle_folder(Path(folder) / "transformer", moved / "transformer", marker)
    return moved


def _singer_folder(tmp) -> Path:
    from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig

    folder = tmp / "singer_source"
    SongGenSinger(
        SongGenSingerConfig(
            voices=["a"], hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    ).save_pretrained(folder)
    return folder


def _plant_singer(tmp, marker):
    return _as_pickle_folder(_singer_folder(tmp), tmp / "singer", marker)


def _plant_singer_checkpoint(tmp, marker):
    """A train-singer run folder whose ``checkpoint/state.pt`` carries the payload (read by ``--resume``)."""
    from songgen_hf.modeling.songgen_singer import SongGenSingerConfig

    run = tmp / "run"
    SongGenSingerConfig(
        voices=["a"], hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    ).save_pretrained(run / "checkpoint")
    _pickle_payload(run / "checkpoint" / "state.pt", marker, {"step": 1})
    return run


def _resume_singer(run):
    from unittest import mock

    from songgen_hf.training import singer

    # any record will do: the checkpoint is read before a song is
    with mock.patch.multiple(
        singer,
        singer_records=lambda folders: [{}],
        singer_song=lambda record, config: None,
        record_score=lambda record: type("Score", (), {"voice": "a"})(),
    ):
        singer.train_singer(["unused"], run, steps=2, resume=True, device="cpu")


def _plant_training_checkpoint(tmp, marker):
    from songgen_hf.training.checkpointing import MANIFEST_FILE, read_manifest
    from tests.training.test_checkpoints import TinyTrainer, _checkpoint

    TinyTrainer(tmp).run(1)
    folder = _checkpoint(tmp, 0)
    _pickle_payload(folder / "optimizer.bin", marker)
    manifest = read_manifest(folder)
    manifest["files"]["optimizer.bin"] = (folder / "optimizer.bin").stat().st_size
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return tmp


def _resume_training(run):
    from tests.training.test_checkpoints import TinyTrainer

    TinyTrainer(run).start(resume=True)


def _plant_auto_map_config(tmp, marker, songgen_folder):
    """A SongGen folder whose config.json points the Auto classes at a module of the folder (remote code)."""
    folder = tmp / "remote_config"
    shutil.copytree(songgen_folder, folder)
    _evil_module(folder, marker)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForTextToWaveform": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _plant_auto_map_tokenizer(tmp, marker, songgen_folder):
    """The same with the tokenizer and processor configs naming a class of the folder."""
    folder = tmp / "remote_tokenizer"
    shutil.copytree(songgen_folder, folder)
    _evil_module(folder, marker)
    for name in ("tokenizer_config.json", "processor_config.json", "preprocessor_config.json"):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text())
            data["auto_map"] = {
                "AutoTokenizer": ["evil.EvilTokenizer", None],
                "AutoProcessor": "evil.EvilProcessor",
                "AutoFeatureExtractor": "evil.EvilExtractor",
            }
            path.write_text(json.dumps(data))
    return folder


def _plant_tokenizer_pickle(tmp, marker, songgen_folder):
    """A pickle beside the tokenizer files, where old slow tokenizers kept their vocabularies."""
    folder = tmp / "tokenizer_pickle"
    shutil.copytree(songgen_folder, folder)
    for name in ("vocab.pkl", "tokenizer.pkl", "pytorch_model.bin"):
        _pickle_payload(folder / name, marker)
    return folder


def _plant_asr(tmp, marker):
    from songgen_hf.data.prepare.tiny import save_tiny_whisper

    return _as_pickle_folder(save_tiny_whisper(tmp / "whisper_source"), tmp / "whisper", marker)


def _load_asr(folder):
    from songgen_hf.data.prepare.models import load_asr

    load_asr(str(folder))


def _plant_xcodec_original(tmp, marker):
    return _pickle_payload(tmp / "xcodec.pth", marker, {"generator": {}})


@pytest.fixture(scope="module")
def codec_folder(tmp_path_factory):
    from songgen_hf.modeling import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    folder = tmp_path_factory.mktemp("codec") / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(folder)
    return folder


def _plant_codec(tmp, marker, codec_folder):
    return _as_pickle_folder(codec_folder, tmp / "codec", marker)


def _plant_codes(tmp, marker, codec_folder):
    """A codes file for ``codec decode`` (beside a clean codec) that carries the payload."""
    _pickle_payload(tmp / "codes.pt", marker, {"codes": torch.zeros(1, 2, 3, dtype=torch.long)})
    return codec_folder


def _encode_argv(tmp, codec):
    import numpy as np
    import soundfile as sf

    sf.write(tmp / "tone.wav", np.zeros(16000, dtype=np.float32), 16000)
    return ["codec", "encode", str(tmp / "tone.wav"), "--model", str(codec), "--output", str(tmp / "codes.pt")]


def _generate_argv(tmp, model, *extra):
    return [
        "generate",
        "--model",
        str(model),
        "--description",
        "a song",
        "--lyrics",
        "la la",
        "--duration",
        "1",
        "--output",
        str(tmp / "song.wav"),
        "--no-progress",
        *extra,
    ]


def _load_songgen(folder):
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    SongGenForConditionalGeneration.from_pretrained(folder)


def _load_singer(folder):
    from songgen_hf.modeling.songgen_singer import SongGenSinger

    SongGenSinger.from_pretrained(folder)


def _decode_argv(tmp, codec):
    return ["codec", "decode", str(tmp / "codes.pt"), "--model", str(codec), "--output", str(tmp / "out.wav")]


def _prepare(tmp, target):
    return _prepare_argv(tmp, target)


# ------------------------------------------------------------------------------------------- the table
NOTHING_RAN = "nothing in it was run"
# id: (plant, run, names).  plant(tmp, marker[, fixtures]) -> target; run: ("cli", argv(tmp, target)) or a loader
# called with the target; names: what the one-line message must say (the file first), or None where the command
# never reads the payload (it may go on; the marker and the absence of a traceback are still checked).
CASES = {
    "demucs .th pickle": (_plant_demucs_th, _load_demucs, ["evil.th", NOTHING_RAN]),
    "demucs .th naming another class": (_plant_demucs_th_class, _load_demucs, ["other_class.th", NOTHING_RAN]),
    "demucs safetensors klass=os.system": (
        lambda tmp, marker: _demucs_safetensors(tmp / "evil.safetensors", marker),
        _load_demucs,
        ["evil.safetensors", "'os.system', which is not a known demucs model"],
    ),
    "demucs folder (yaml + safetensors)": (_plant_demucs_folder, _load_demucs, ["evil.safetensors", "not a known"]),
    "demucs nested state naming a module": (_plant_demucs_structure, _load_demucs, ["structured.safetensors", "code"]),
    "demucs bag reaching outside its folder": (_plant_demucs_bag_escape, _load_demucs, ["bag.yaml", "no folder"]),
    "demucs file (data prepare)": (_plant_demucs_th, ("cli", _prepare), ["evil.th", NOTHING_RAN]),
    "demucs Hub id of an unknown publisher (data prepare)": (
        _plant_demucs_hub,
        ("cli", _prepare),
        ["'attacker/evilsep'", "not of a known publisher", "--trust-separation"],
    ),
    "demucs Hub id of an unknown publisher, trusted": (
        _plant_demucs_hub,
        lambda target: _load_demucs(target, trust=True),
        ["evilsep.safetensors", "not a known"],
    ),
    "model folder pytorch_model.bin (generate)": (_plant_model_folder, ("cli", _generate_argv), ["pytorch_model.bin"]),
    "model folder pytorch_model.bin (from_pretrained)": (_plant_model_folder, _load_songgen, ["pytorch_model.bin"]),
    "LoRA adapter_model.bin (generate)": (_plant_adapter, ("cli", _generate_argv), ["adapter_model.bin", NOTHING_RAN]),
    "LoRA adapter_model.bin (export)": (
        _plant_adapter,
        ("cli", lambda tmp, adapter: ["export", str(adapter), "--output", str(tmp / "release")]),
        ["adapter_model.bin", NOTHING_RAN],
    ),
    "ResGen folder (generate)": (_plant_resgen, ("cli", _generate_argv), ["transformer/pytorch_model.bin"]),
    "singer folder (from_pretrained)": (_plant_singer, _load_singer, ["pytorch_model.bin", NOTHING_RAN]),
    "singer training checkpoint (train-singer --resume)": (
        _plant_singer_checkpoint,
        _resume_singer,
        ["state.pt", NOTHING_RAN],
    ),
    "training checkpoint (train --resume)": (
        _plant_training_checkpoint,
        _resume_training,
        ["Refusing checkpoint", NOTHING_RAN],
    ),
    "config.json with auto_map (generate)": (_plant_auto_map_config, ("cli", _generate_argv), None),
    "tokenizer and processor configs with auto_map (generate)": (
        _plant_auto_map_tokenizer,
        ("cli", _generate_argv),
        None,
    ),
    "pickles beside the tokenizer (generate)": (_plant_tokenizer_pickle, ("cli", _generate_argv), None),
    "X-Codec folder (codec encode)": (_plant_codec, ("cli", _encode_argv), ["pytorch_model.bin", NOTHING_RAN]),
    "codes file (codec decode)": (_plant_codes, ("cli", _decode_argv), ["codes.pt", NOTHING_RAN]),
    "model folder (info: sizes only)": (_plant_model_folder, ("cli", lambda tmp, folder: ["info", str(folder)]), None),
    "speech recogniser folder (data prepare)": (_plant_asr, _load_asr, ["pytorch_model.bin", NOTHING_RAN]),
    "original X-Codec checkpoint (convert xcodec)": (
        _plant_xcodec_original,
        ("cli", lambda tmp, target: ["convert", "xcodec", str(target), str(tmp / "out")]),
        ["xcodec.pth", NOTHING_RAN],
    ),
}
_FIXTURES = {"songgen_folder", "codec_folder"}


@pytest.mark.parametrize("case", list(CASES))
def test_no_file_runs_code(case, tmp_path, monkeypatch, capsys, request):
    import inspect

    plant, run, names = CASES[case]
    marker = tmp_path / "MARKER"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [str(tmp_path)] + [p for p in os.sys.path])  # a module planted here is importable
    extra = {name: request.getfixturevalue(name) for name in inspect.signature(plant).parameters if name in _FIXTURES}
    if "monkeypatch" in inspect.signature(plant).parameters:
        extra["monkeypatch"] = monkeypatch
    target = plant(tmp_path, marker, **extra)
    assert not marker.exists()
    if isinstance(run, tuple):
        from songgen_hf.commands.cli import main

        capsys.readouterr()  # what planting printed
        code = main(run[1](tmp_path, target))
        output = capsys.readouterr().err
        assert "Traceback" not in output, output
        message = output.strip().splitlines()[-1] if output.strip() else ""
        if names is not None:  # else the code a file names is never looked at: the command goes on as usual
            assert code == 2 and message.startswith("songgen") and ": error: " in message, output
    else:
        with pytest.raises(ValueError) as caught:
            run(target)
        message = str(caught.value)
    assert not marker.exists(), f"{case}: the payload ran"
    for name in names or ():
        assert name in message, message
    assert "weights_only=False" not in message and "can still be loaded" not in message  # never advice to run it


def test_the_known_publishers_load_without_the_flag_and_offline_is_said_right(tmp_path, monkeypatch):
    """An allow-listed namespace is looked up in the cache (and, missing offline, said to be missing there); an
    unknown one is refused before the cache is looked at, whatever the cache holds."""
    from songgen_hf.data.prepare.separation import separation_repo

    _hub_cache(tmp_path, monkeypatch)
    assert separation_repo("htdemucs_ft") == ("adefossez/HTDemucs-ft", "htdemucs_ft")
    assert separation_repo("someone/mdx_extra", trust=True) == ("someone/Demucs-mdx_extra", "mdx_extra")
    with pytest.raises(ValueError, match="not in the local cache.*adefossez/HTDemucs"):
        _load_demucs("htdemucs")
    with pytest.raises(ValueError, match="not of a known publisher") as caught:
        _load_demucs("someone/htdemucs")
    assert "cache" not in str(caught.value)
    for bad in ("../x", "a/b/c", "name with space"):
        with pytest.raises(ValueError, match="neither an existing file or folder nor a demucs model name"):
            separation_repo(bad, trust=True)
    from songgen_hf.data.prepare.plan import model_status

    assert model_status("separation", "someone/htdemucs")["status"] == "refused"
    assert model_status("separation", "someone/htdemucs", trust=True)["status"] == "missing"  # offline, not cached
    assert model_status("separation", "htdemucs")["status"] == "missing"


def test_a_real_demucs_file_still_loads_in_every_form(tmp_path):
    """The data-only loader reads what demucs writes: a ``.th`` package (``torch.save`` of class, arguments and
    weights, as ``demucs.states.serialize_model``), the safetensors folder, and a Fraction argument."""
    from demucs.htdemucs import HTDemucs

    from songgen_hf.data.prepare.separation import load_demucs
    from songgen_hf.data.prepare.tiny import save_tiny_demucs

    folder = save_tiny_demucs(tmp_path / "tiny")
    model = load_demucs(str(folder))
    package = {
        "klass": type(model),
        "args": [],
        "kwargs": dict(model._init_args_kwargs[1]),
        "state": {k: v.half() for k, v in model.state_dict().items()},
        "training_args": {"lr": 3e-4},
    }
    torch.save(package, tmp_path / "tiny.th")
    again = load_demucs(str(tmp_path / "tiny.th"))
    assert type(again) is type(model)
    for (name, value), (_, loaded) in zip(model.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(loaded, value.half().float(), msg=name)
    from fractions import Fraction

    small = dict(
        sources=["vocals", "other"],
        audio_channels=1,
        channels=4,
        depth=2,
        segment=Fraction(3, 2),
        t_layers=1,
        nfft=256,
        bottom_channels=0,
        dconv_mode=0,
        samplerate=16000,
    )
    torch.save(
        {"klass": HTDemucs, "args": [], "kwargs": small, "state": HTDemucs(**small).state_dict()}, tmp_path / "ht.th"
    )
    assert load_demucs(str(tmp_path / "ht.th")).segment == Fraction(3, 2)


def test_a_plain_pickle_model_folder_still_loads(tmp_path, songgen_folder):
    """The check refuses code, not pickles: a ``pytorch_model.bin`` of tensors alone loads as before."""
    from safetensors.torch import load_file

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.weight_bounds import check_model_folder_pickles

    folder = tmp_path / "plain"
    shutil.copytree(songgen_folder, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(tensors, folder / "pytorch_model.bin")
    check_model_folder_pickles(folder)
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    state = model.state_dict()
    assert all(torch.equal(state[name], value) for name, value in tensors.items() if name in state)


@pytest.mark.parametrize("argument", [{"depth": 10**6}, {"t_layers": 10**6}, {"channels": 10**9}])
def test_a_demucs_file_with_absurd_sizes_is_refused_before_building(tmp_path, argument):
    """A million layers would take minutes to build even on the meta device: the sizes are refused first."""
    from demucs.htdemucs import HTDemucs

    from songgen_hf.data.prepare.separation import load_demucs

    small = dict(
        sources=["vocals", "other"],
        audio_channels=1,
        channels=4,
        depth=2,
        t_layers=1,
        nfft=256,
        bottom_channels=0,
        dconv_mode=0,
        samplerate=16000,
    )
    state = HTDemucs(**small).state_dict()
    torch.save({"klass": HTDemucs, "args": [], "kwargs": {**small, **argument}, "state": state}, tmp_path / "big.th")
    name = next(iter(argument))
    with pytest.raises(ValueError, match=f"{name}=.*beyond"):
        load_demucs(str(tmp_path / "big.th"))
