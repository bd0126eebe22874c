"""LoRA adapter folders as a user meets them: the base named portably (relative path, embedded
default by name), a missing base as a clear error on every surface, the base's processor from the
adapter folder, and ``songgen generate / info / export`` taking adapter folders."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft import PeftModel

import songgen_hf  # noqa: F401  (registers the model classes and the text-to-song task)
from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main as songgen
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import loading
from songgen_hf.pipelines.adapter_folders import BASE_RECORD_FILE, resolve_adapter_base
from songgen_hf.pipelines.loading import base_model_folder
from songgen_hf.pipelines.text_to_song import load_text_to_song_pipeline
from songgen_hf.testing import dummy_inputs, save_tiny_checkpoint
from songgen_hf.training.lora import apply_lora, load_lora, lora_config_for_songgen, save_adapter, set_adapter_base
from songgen_hf.training.lora_trainer import LoraTrainingConfig

SONG = {
    "description": "a melancholic piano ballad in A minor at 72 bpm with a female voice",
    "lyrics": "we run across the night",
}
CONTROLS = {"decoder": {"use_tempo_control": True, "use_key_control": True}}
# the bare adapter (save_adapter alone) and one laid out as `songgen finetune-lora` writes it (processor beside it)
ADAPTERS = ("adapter", "runs/lora/final")


def _logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def _random_adapter(model):
    """LoRA on ``model`` with non-zero B matrices, so the adapter changes every output."""
    peft_model = apply_lora(model, lora_config_for_songgen(r=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return peft_model.eval()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_folders") / "models"
    base = save_tiny_checkpoint(root / "base", **CONTROLS)
    peft_model = _random_adapter(SongGenForConditionalGeneration.from_pretrained(base))
    for name in ADAPTERS:
        save_adapter(peft_model, root / name)
    SongGenProcessor.from_pretrained(base).save_pretrained(root / ADAPTERS[1])
    inputs = dummy_inputs(peft_model.config, seed=1)
    expected = _logits(peft_model, inputs)
    assert (expected - _logits(SongGenForConditionalGeneration.from_pretrained(base).eval(), inputs)).abs().max() > 1e-3
    return {"root": root, "inputs": inputs, "logits": expected}


@pytest.fixture
def models(template, tmp_path):
    """A private copy of the base and its adapters (tests move and delete things), as if trained there."""
    root = Path(shutil.copytree(template["root"], tmp_path / "models"))
    for name in ADAPTERS:
        set_adapter_base(root / name, root / "base")
    return root


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = songgen([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------- the base, named portably
def test_adapter_moved_with_its_base_still_loads(models, template, tmp_path):
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.move(models, moved)
    for name, relative in zip(ADAPTERS, ("../base", "../../../base")):
        adapter = moved / name
        assert json.loads((adapter / BASE_RECORD_FILE).read_text())["base_model"] == {"relative_path": relative}
        # the absolute path PEFT records still names the template's base: the relative record is what is used
        assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] != str(
            moved / "base"
        )
        assert resolve_adapter_base(adapter) == str((moved / "base").resolve())
        model = load_lora(None, adapter).eval()
        assert model.get_base_model().name_or_path == str((moved / "base").resolve())
        torch.testing.assert_close(_logits(model, template["inputs"]), template["logits"], rtol=0, atol=0)


def _load_lora(adapter, out):
    load_lora(None, adapter)


def _processor(adapter, out):
    SongGenProcessor.from_pretrained(adapter)


def _pipeline(adapter, out):
    load_text_to_song_pipeline(str(adapter))


MISSING_BASE_SURFACES = {
    "load_lora": _load_lora,
    "processor": _processor,
    "pipeline": _pipeline,
    "generate": (
        "generate",
        "--model",
        "{adapter}",
        "--description",
        "a ballad",
        "--lyrics",
        "hi",
        "--output",
        "{out}/a.wav",
    ),
    "info": ("info", "{adapter}"),
    "export": ("export", "{adapter}", "--output", "{out}/exported"),
}


@pytest.mark.parametrize("surface", sorted(MISSING_BASE_SURFACES))
def test_missing_base_is_a_clear_error_naming_it_and_the_fix(models, tmp_path, capsys, surface):
    shutil.move(models / "base", tmp_path / "base_moved_away")
    adapter = models / ADAPTERS[1]
    action = MISSING_BASE_SURFACES[surface]
    if callable(action):
        with pytest.raises(ValueError) as error:
            action(adapter, tmp_path)
        message = str(error.value)
    else:
        code, out, message = _cli(capsys, *(arg.format(adapter=adapter, out=tmp_path) for arg in action))
        assert code == 2 and "Traceback" not in message
    assert "base model of the LoRA adapter" in message and "is missing" in message
    assert str(models / "base") in message  # where it was looked for
    assert "set_adapter_base" in message and "--base BASE" in message and "load_lora(BASE, ADAPTER)" in message
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "exported").exists()


def test_a_base_moved_on_its_own_is_found_again(models, template, tmp_path, capsys):
    new_base = tmp_path / "new_place" / "base"
    shutil.move(models / "base", new_base)
    adapter = models / ADAPTERS[0]
    # told explicitly
    torch.testing.assert_close(
        _logits(load_lora(new_base, adapter).eval(), template["inputs"]), template["logits"], rtol=0, atol=0
    )
    code, _, err = _cli(capsys, "export", adapter, "--base", new_base, "--output", tmp_path / "exported", "--no-card")
    assert code == 0, err
    # re-pointed for good: every loader follows
    with pytest.raises(ValueError, match="is not a SongGen model folder"):
        set_adapter_base(adapter, tmp_path)
    assert set_adapter_base(adapter, new_base) == str(new_base.resolve())
    assert resolve_adapter_base(adapter) == str(new_base.resolve())
    torch.testing.assert_close(
        _logits(load_lora(None, adapter).eval(), template["inputs"]), template["logits"], rtol=0, atol=0
    )
    assert SongGenProcessor.from_pretrained(adapter).use_tempo_control


def test_embedded_default_is_named_and_found_in_another_install(template, tmp_path, monkeypatch):
    install = tmp_path / "install_a" / "songgen_hf" / "assets" / loading.DEFAULT_MODEL_DIR.name
    shutil.copytree(template["root"] / "base", install)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", install)
    name = install.name
    assert base_model_folder(name) == str(install)
    assert LoraTrainingConfig(train_data="encoded", init_from=name).init_from == str(install)

    peft_model = _random_adapter(SongGenForConditionalGeneration.from_pretrained(base_model_folder(name)))
    expected = _logits(peft_model, template["inputs"])
    adapter = save_adapter(peft_model, tmp_path / "my-adapter")
    assert json.loads((adapter / BASE_RECORD_FILE).read_text())["base_model"] == {"embedded": name}

    # another machine: the package (and its embedded model) lives elsewhere, the adapter was copied over
    other = tmp_path / "install_b" / "songgen_hf" / "assets" / name
    shutil.move(install, other)
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", other)
    copied = Path(shutil.copytree(adapter, tmp_path / "copied" / "my-adapter"))
    assert resolve_adapter_base(copied) == str(other)
    torch.testing.assert_close(_logits(load_lora(None, copied).eval(), template["inputs"]), expected, rtol=0, atol=0)

    (copied / BASE_RECORD_FILE).write_text(json.dumps({"base_model": {"embedded": "songgen-large"}}))
    with pytest.raises(ValueError, match=rf"embedded model 'songgen-large', but this install embeds '{name}'"):
        load_lora(None, copied)


# ---------------------------------------------------------------------------------- the processor
@pytest.mark.parametrize("adapter_name", ADAPTERS)
def test_processor_from_an_adapter_folder_is_the_bases(models, adapter_name):
    base = SongGenProcessor.from_pretrained(models / "base")
    from_adapter = SongGenProcessor.from_pretrained(models / adapter_name)
    assert from_adapter.use_tempo_control and from_adapter.use_key_control  # what used to be lost
    assert from_adapter.to_dict() == base.to_dict()
    assert from_adapter.model_max_lyrics_length == base.model_max_lyrics_length is not None
    a, b = from_adapter(**SONG, return_tensors="pt"), base(**SONG, return_tensors="pt")
    assert a.keys() == b.keys() and {"tempo_bpm", "music_key_ids"} <= set(a)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_peft_from_pretrained_and_the_pipeline_give_the_same_song(models):
    adapter = models / ADAPTERS[1]
    processor = SongGenProcessor.from_pretrained(adapter)
    peft_model = PeftModel.from_pretrained(
        SongGenForConditionalGeneration.from_pretrained(models / "base"), str(adapter)
    ).eval()
    features = processor(**SONG, return_tensors="pt")
    options = dict(duration_s=0.3, min_duration_s=0.3, do_sample=False)
    reference = peft_model.generate(**features, **options, return_dict_in_generate=True).audio[0].float()
    song = load_text_to_song_pipeline(str(adapter))(SONG, **options)
    torch.testing.assert_close(torch.from_numpy(song["audio"]), reference, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("adapter_name", ADAPTERS)
def test_cli_generate_info_and_export_take_adapter_folders(models, template, tmp_path, capsys, adapter_name):
    adapter = models / adapter_name
    output = tmp_path / "song.wav"
    code, out, err = _cli(
        capsys,
        "generate",
        "--model",
        adapter,
        "--description",
        SONG["description"],
        "--lyrics",
        SONG["lyrics"],
        "--duration",
        "0.3",
        "--min-duration",
        "0.3",
        "--seed",
        "0",
        "--output",
        output,
        "--no-progress",
    )
    assert code == 0, err
    assert output.is_file() and "wrote" in out

    code, out, err = _cli(capsys, "info", adapter, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["model_type"] == "LoRA adapter for songgen" and info["adapter"]["rank"] == 4
    assert info["adapter"]["base_model"] == str((models / "base").resolve())
    assert info["base"]["model_type"] == "songgen" and "error" not in info["processor"]

    exported = tmp_path / "exported"
    code, _, err = _cli(capsys, "export", adapter, "--output", exported, "--storage-dtype", "float32", "--no-card")
    assert code == 0, err
    merged = SongGenForConditionalGeneration.from_pretrained(exported).eval()  # a plain folder: no PEFT needed
    torch.testing.assert_close(_logits(merged, template["inputs"]), template["logits"], rtol=0, atol=1e-5)
    assert SongGenProcessor.from_pretrained(exported).use_key_control

    code, _, err = _cli(capsys, "export", exported, "--base", models / "base", "--output", tmp_path / "again")
    assert code == 2 and "drop --base" in err
