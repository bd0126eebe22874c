"""Styles on one base: several LoRA adapters loaded once, switched and blended per song with peft's API; a blend at
weight 0 is the base's song for a seed; every bad adapter, name or weight refused before any adapter weight loads."""

import json
import pickle
import shutil

import pytest
import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer

import songgen_hf  # noqa: F401  (registers the model classes and the text-to-song task)
from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines.adapters import (
    ADAPTERS_ENV,
    AdapterError,
    adapter_name_for,
    adapters_from_environment,
    parse_adapter_option,
)
from songgen_hf.pipelines.text_to_song import load_text_to_song_pipeline
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

SONG = {"description": "a calm folk song with a female voice", "lyrics": "walking home"}
OPTIONS = dict(duration_s=0.3, min_duration_s=0.3, do_sample=True, seed=5)


def _adapter(base, folder, seed: int, rank: int = 4, **options):
    """A LoRA adapter of ``base`` whose B matrices are random (so it changes every song), saved to ``folder``."""
    peft_model = apply_lora(
        SongGenForConditionalGeneration.from_pretrained(base),
        lora_config_for_songgen(r=rank, alpha=2 * rank, dropout=0.0, **options),
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return save_adapter(peft_model, folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("styles")
    base = save_tiny_checkpoint(root / "base")
    _adapter(base, root / "mine", seed=1)
    _adapter(base, root / "lofi" / "final", seed=2, rank=2)  # another rank: blends stack any ranks
    other = save_tiny_checkpoint(root / "other", decoder={"hidden_size": 48})
    _adapter(other, root / "foreign", seed=3)
    return root


@pytest.fixture(scope="module")
def pipe(models):
    return load_text_to_song_pipeline(
        str(models / "base"), adapters={"mine": models / "mine", "lofi": models / "lofi" / "final"}
    )


def _audio(pipe, **options) -> torch.Tensor:
    return torch.from_numpy(pipe(SONG, **{**OPTIONS, **options})["audio"])


def _peft_song(models, weights: dict[str, float]) -> torch.Tensor:
    """The reference: a fresh base with each adapter merged in at its weight (peft's own merge, no pipeline)."""
    model = SongGenForConditionalGeneration.from_pretrained(models / "base")
    folders = {"mine": models / "mine", "lofi": models / "lofi" / "final"}
    for name, weight in weights.items():
        adapted = PeftModel.from_pretrained(model, str(folders[name]), adapter_name=name)
        for layer in adapted.modules():  # scaling * weight: the update this adapter adds
            if isinstance(layer, LoraLayer):
                layer.set_scale(name, weight)
        model = adapted.merge_and_unload()
    pipe = load_text_to_song_pipeline(model.eval(), processor=SongGenProcessor.from_pretrained(models / "base"))
    return _audio(pipe)


def test_switching_picks_each_style_without_reloading_the_base(models, pipe):
    base_weight = pipe.model.decoder.model.layers[0].self_attn.q_proj.base_layer.weight
    pointer = base_weight.data_ptr()
    plain = load_text_to_song_pipeline(str(models / "base"))
    base, mine, lofi = _audio(pipe), _audio(pipe, adapter="mine"), _audio(pipe, adapter="lofi")
    assert torch.equal(base, _audio(plain))  # no adapter asked: the base's song, bit for bit
    assert not torch.equal(mine, base) and not torch.equal(lofi, base) and not torch.equal(mine, lofi)
    torch.testing.assert_close(mine, _peft_song(models, {"mine": 1.0}), rtol=0, atol=1e-4)
    assert torch.equal(_audio(pipe, adapter="mine"), mine)  # switching back gives the same song again
    assert pipe.model.decoder.model.layers[0].self_attn.q_proj.base_layer.weight.data_ptr() == pointer
    assert torch.equal(pipe.model.decoder.model.layers[0].self_attn.q_proj.base_layer.weight, base_weight)


def test_a_blend_is_the_weighted_sum_of_its_adapters_and_at_weight_0_the_base(models, pipe):
    base = _audio(pipe)
    assert torch.equal(_audio(pipe, adapter={"mine": 0.0}), base)
    assert torch.equal(_audio(pipe, adapter={"mine": 0.0, "lofi": 0.0}), base)
    blend = {"mine": 0.7, "lofi": 0.3}
    torch.testing.assert_close(_audio(pipe, adapter=blend), _peft_song(models, blend), rtol=0, atol=1e-4)
    torch.testing.assert_close(_audio(pipe, adapter={"mine": 1.0}), _audio(pipe, adapter="mine"), rtol=0, atol=1e-5)


def test_a_pipeline_default_style_and_the_plain_pipeline_factory(models):
    from transformers import pipeline

    named = load_text_to_song_pipeline(str(models / "base"), adapters=[models / "mine"], adapter="mine")
    assert named.adapters.names == ["mine"]
    plain = pipeline("text-to-song", model=str(models / "base"), adapters={"mine": str(models / "mine")})
    assert torch.equal(_audio(named), _audio(plain, adapter="mine"))
    assert not torch.equal(_audio(named), _audio(named, adapter=None))


@pytest.mark.parametrize(
    "adapter, message",
    [
        ("jazz", r"adapter='jazz' is not loaded; the loaded adapters are \['lofi', 'mine'\]"),
        ({"mine": -0.5}, r"weight for 'mine' is -0.5; a weight is a finite number >= 0"),
        ({"mine": float("nan")}, r"weight for 'mine' is nan"),
        ({"mine": 0.5, "jazz": 0.5}, r"The blend names 'jazz', which is not loaded"),
        ({}, "must be a loaded adapter's name or a blend"),
    ],
)
def test_a_style_that_names_no_loaded_adapter_or_a_bad_weight_is_refused(pipe, adapter, message):
    with pytest.raises(AdapterError, match=message):
        pipe(SONG, adapter=adapter, **OPTIONS)


def _no_weights_load(monkeypatch):
    """Any adapter or base weight read from here on fails the test: the refusals must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the refusal")

    monkeypatch.setattr(PeftModel, "from_pretrained", refuse)
    monkeypatch.setattr(SongGenForConditionalGeneration, "from_pretrained", refuse)


def test_bad_adapters_are_refused_before_any_weights_load(models, tmp_path, monkeypatch):
    base = str(models / "base")
    code = shutil.copytree(models / "mine", tmp_path / "code")
    (code / "modeling_evil.py").write_text("import os\n")
    remote = shutil.copytree(models / "mine", tmp_path / "remote")
    config = json.loads((remote / "adapter_config.json").read_text())
    (remote / "adapter_config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}))
    pickled = shutil.copytree(models / "mine", tmp_path / "pickled")
    (pickled / "adapter_model.safetensors").unlink()

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    (pickled / "adapter_model.bin").write_bytes(pickle.dumps({"w": Payload()}))
    twin = shutil.copytree(models / "mine", tmp_path / "twin" / "mine")
    _no_weights_load(monkeypatch)
    cases = [
        ({"foreign": models / "foreign"}, None, r"trained on .*other, not on this pipeline's base"),
        ([models / "mine", twin], None, r"Two adapters are named 'mine'"),
        ({"code": code}, None, r"ships code \(modeling_evil.py\); songgen runs no code"),
        ({"remote": remote}, None, r"ships code \(an auto_map"),
        ({"pickled": pickled}, None, r"adapter_model.bin"),
        ({"mine": models / "base"}, None, r"is a whole model"),
        ({"mine": models / "mine"}, {"mine": -1}, r"weight for 'mine' is -1"),
        ({"mine": models / "mine"}, "lofi", r"adapter='lofi' is not loaded"),
        (None, "mine", r"no adapter is loaded"),
    ]
    for adapters, adapter, message in cases:
        with pytest.raises(ValueError, match=message):
            load_text_to_song_pipeline(base, adapters=adapters, adapter=adapter)
    with pytest.raises(AdapterError, match="is itself a LoRA adapter"):
        load_text_to_song_pipeline(str(models / "mine"), adapters={"lofi": models / "lofi" / "final"})
    with pytest.raises(AdapterError, match="quantize='int8' replaces the decoder's linear layers"):
        load_text_to_song_pipeline(base, adapters={"mine": models / "mine"}, quantize="int8")


def test_an_adapter_of_another_base_shape_is_one_clear_error_when_loaded_onto_an_object(models):
    model = SongGenForConditionalGeneration.from_pretrained(models / "base")
    processor = SongGenProcessor.from_pretrained(models / "base")
    model.name_or_path = ""  # a model object that says nothing of its folder: the shapes decide
    with pytest.raises(AdapterError, match=r"Adapter 'foreign' .* does not fit this base") as caught:
        load_text_to_song_pipeline(model, processor=processor, adapters={"foreign": models / "foreign"})
    assert "\n" not in str(caught.value)


def test_names_options_and_the_environment():
    assert adapter_name_for("runs/my-lora/final") == "my-lora" and adapter_name_for("styles/lofi") == "lofi"
    assert parse_adapter_option("runs/a/final=0.7") == ("runs/a/final", 0.7)
    assert parse_adapter_option("runs/a/final") == ("runs/a/final", None)
    with pytest.raises(AdapterError, match="the weight after '=' must be a number"):
        parse_adapter_option("runs/a/final=loud")
    assert adapters_from_environment("mine=runs/a/final, runs/lofi/final") == {
        "mine": "runs/a/final",
        "lofi": "runs/lofi/final",
    }
    with pytest.raises(AdapterError, match=f"{ADAPTERS_ENV} names 'lofi' twice"):
        adapters_from_environment("lofi=a,lofi=b")


def _cli(capsys, *argv):
    from songgen_hf.commands.cli import main

    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_adapter_flags_switch_and_blend(models, tmp_path, capsys):
    import soundfile

    base = models / "base"
    song = ["--description", SONG["description"], "--lyrics", SONG["lyrics"], "--duration", "0.3"]
    common = [*song, "--min-duration", "0.3", "--seed", "3", "--no-progress", "--model", base]

    def generate(name, *flags):
        code, out, err = _cli(capsys, "generate", *common, "--output", tmp_path / f"{name}.wav", *flags)
        assert code == 0, err
        return soundfile.read(tmp_path / f"{name}.wav")[0], out

    plain, _ = generate("plain")
    zero, out = generate("zero", "--adapter", f"{models / 'mine'}=0")
    assert "style: blend mine x0" in out
    assert (plain == zero).all()  # weight 0: the base's song for the seed
    mine, out = generate("mine", "--adapter", models / "mine")
    assert "style: adapter mine" in out and not (mine == plain).all()
    blend, out = generate(
        "blend", "--adapter", f"{models / 'mine'}=0.7", "--adapter", f"{models / 'lofi' / 'final'}=0.3"
    )
    assert "style: blend mine x0.7, lofi x0.3" in out and not (blend == mine).all()

    for flags, message in [
        (["--adapter", models / "foreign"], "not on this pipeline's base"),
        (["--adapter", models / "mine", "--adapter", models / "mine"], "Two adapters are named 'mine'"),
        (["--adapter", f"{models / 'mine'}=-1"], "weight for 'mine' is -1.0"),
        (["--adapter", f"{models / 'mine'}=nan"], "weight for 'mine' is nan"),
    ]:
        code, _, err = _cli(capsys, "generate", *common, "--output", tmp_path / "x.wav", *flags)
        assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.wav").exists()


def test_adapters_that_adapt_the_heads_load_onto_float_heads(models, tmp_path):
    """A base that recommends int8 token heads on a CPU keeps its heads float under adapters that adapt the heads
    (the default targets), which a LoRA on an int8 head could not; layer-only adapters keep the recommendation, and
    int8 heads asked for outright are refused naming the adapters."""
    from songgen_hf.modeling.songgen.quantization import Int8Linear, check_int8_kernel
    from songgen_hf.pipelines.adapters import adapts_heads

    base = shutil.copytree(models / "base", tmp_path / "base")
    generation = json.loads((base / "generation_config.json").read_text())
    (base / "generation_config.json").write_text(json.dumps({**generation, "cpu_quantize": "int8-heads"}))
    heads = _adapter(base, tmp_path / "heads", seed=6)
    layers = _adapter(base, tmp_path / "layers", seed=7, targets=["self_attn", "encoder_attn", "ffn"])
    assert adapts_heads(heads) and not adapts_heads(layers)

    pipe = load_text_to_song_pipeline(str(base), adapters={"heads": heads})
    head = pipe.model.decoder.lm_heads[0]
    assert isinstance(head, LoraLayer) and type(head.base_layer) is torch.nn.Linear
    assert not torch.equal(_audio(pipe, adapter="heads"), _audio(pipe))
    assert torch.equal(_audio(pipe, adapter={"heads": 0.0}), _audio(pipe))
    if check_int8_kernel("cpu") is None:  # the recommendation applies where this CPU runs it
        pipe = load_text_to_song_pipeline(str(base), adapters={"layers": layers})
        assert type(pipe.model.decoder.lm_heads[0]) is Int8Linear
    with pytest.raises(AdapterError, match=r"quantize='int8-heads' replaces the output heads .*\['heads'\]"):
        load_text_to_song_pipeline(str(base), adapters={"heads": heads, "layers": layers}, quantize="int8-heads")
