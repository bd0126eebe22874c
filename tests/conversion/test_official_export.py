"""Export to the official SongGen layout: the exact inverse of the converter.

official -> package -> official must give the same tensors (bit for bit) under the same names and
the same config values; package -> official -> package must give the same model, for a plain, a
fine-tuned and a LoRA-merged model, through ``songgen export --format official``.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml
from safetensors.torch import load_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main as songgen
from songgen_hf.conversion.official_export import export_official
from songgen_hf.conversion.official_keys import (
    OFFICIAL_KEY_RULES,
    official_to_package_key,
    package_to_official_key,
)
from songgen_hf.conversion.songgen_official import (
    config_from_official,
    convert_official_songgen_state_dict,
    load_official_songgen,
)
from songgen_hf.conversion.songgen_official_config import _DECODER_KEYS, _TOP_KEYS
from songgen_hf.conversion.xcodec_original import convert_original_xcodec_state_dict
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.testing import save_tiny_checkpoint
from tests.conversion.test_size_inference import write_mert_folder
from tests.conversion.test_songgen_official import (
    official_config,
    official_state_dict,
    reference_sinusoids,
    source_model,
    write_official_folder,
)

T5_ARCHITECTURE = (
    "vocab_size",
    "d_model",
    "d_kv",
    "d_ff",
    "num_layers",
    "num_heads",
    "relative_attention_num_buckets",
    "relative_attention_max_distance",
    "layer_norm_epsilon",
    "feed_forward_proj",
    "dense_act_fn",
    "is_gated_act",
    "dropout_rate",
    "model_type",
)


@pytest.fixture(scope="module", params=["mixed_pro", "interleaving_A_V"])
def official(request, tmp_path_factory):
    """An official folder whose sinusoid table has the config's row count (the exporter writes that count)."""
    pattern = request.param
    model = source_model(pattern)
    tensors = official_state_dict(model)
    tensors["decoder.model.decoder.embed_positions.weights"] = reference_sinusoids(
        model.config.decoder.max_position_embeddings, model.config.decoder.hidden_size
    )
    config = official_config(pattern)
    if pattern == "interleaving_A_V":
        config["architectures"] = ["SongGenDualTrackForConditionalGeneration"]
    folder = tmp_path_factory.mktemp(f"official_{pattern}")
    write_official_folder(folder, config, tensors)
    mert = tmp_path_factory.mktemp(f"mert_{pattern}")
    write_mert_folder(mert, model)
    converted = load_official_songgen(folder, codec=model.audio_encoder, mert_folder=mert)
    return dict(pattern=pattern, model=model, tensors=tensors, config=config, converted=converted)


def test_every_package_key_round_trips_through_the_table(official):
    names = [name for name in official["model"].state_dict() if not name.startswith("audio_encoder.")]
    for name in names:
        official_name = package_to_official_key(name)
        assert official_name is not None and official_to_package_key(official_name) == name
    assert {package_to_official_key(k) for k in names} >= set(official["tensors"]) - {
        "decoder.model.decoder.embed_positions.weights"
    }
    assert len(OFFICIAL_KEY_RULES) > 10


def test_official_package_official_is_the_identity(official, tmp_path):
    out = tmp_path / "exported"
    notes = export_official(official["converted"], out, embed_codec=False)
    assert any("lyrics encoder" in note for note in notes)  # tiny: the reference hard-codes the released size
    tensors = load_file(str(out / "model.safetensors"))
    assert set(tensors) == set(official["tensors"])
    assert all(torch.equal(tensors[k], official["tensors"][k]) for k in tensors), [
        k for k in tensors if not torch.equal(tensors[k], official["tensors"][k])
    ][:5]
    config, original = json.loads((out / "config.json").read_text()), official["config"]
    for key in _TOP_KEYS - {"text_encoder", "decoder"} | {
        "model_type",
        "architectures",
        "pad_token_id",
        "decoder_start_token_id",
        "is_encoder_decoder",
    }:
        assert config[key] == original[key], key
    for key in (_DECODER_KEYS | {"model_type", "is_decoder", "add_cross_attention", "tie_word_embeddings"}) & set(
        original["decoder"]
    ):
        assert config["decoder"][key] == original["decoder"][key], key
    for key in T5_ARCHITECTURE:
        assert config["text_encoder"][key] == original["text_encoder"][key], key
    assert "sampling_rate" not in config  # a read-only property of the reference config: writing it breaks loading
    again = config_from_official(
        config, codec_config=official["model"].config.audio_encoder, voice=official["converted"].config.voice_encoder
    )
    assert again.decoder.to_dict() == official["converted"].config.decoder.to_dict()


def test_embedded_and_separate_codec(official, tmp_path):
    """The codec goes into the weights (audio_encoder.model.*) and into xcodec/ in the original layout, losslessly."""
    model = official["converted"]
    out = tmp_path / "with_codec"
    export_official(model, out)
    tensors = load_file(str(out / "model.safetensors"))
    codec = {k: v for k, v in model.state_dict().items() if k.startswith("audio_encoder.")}
    assert any(k.startswith("audio_encoder.model.encoder.block.0.weight_g") for k in tensors)
    back = convert_official_songgen_state_dict(tensors, model.config)
    assert all(torch.equal(back[k], v) for k, v in codec.items())
    original = torch.load(out / "xcodec" / "xcodec_hubert_general_audio_v2.pth", weights_only=True)
    separate = convert_original_xcodec_state_dict(original, model.config.audio_encoder)
    assert all(torch.equal(separate[k[len("audio_encoder.") :]], v) for k, v in codec.items())
    generator = yaml.safe_load((out / "xcodec" / "config_hubert_general.yaml").read_text())["generator"]
    assert (
        generator["name"] == "SoundStream" and generator["config"]["bins"] == model.config.audio_encoder.codebook_size
    )


def _perturbed(model):
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    return model


@pytest.mark.parametrize("kind", ["plain", "fine_tuned", "lora"])
def test_cli_export_official_round_trips(kind, tmp_path, capsys):
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, merge_lora, save_adapter

    base = save_tiny_checkpoint(tmp_path / "base", track_pattern="mixed_pro")
    model = SongGenForConditionalGeneration.from_pretrained(base).eval()
    source = base
    if kind == "fine_tuned":
        torch.manual_seed(4)
        model = _perturbed(model)
        source = tmp_path / "tuned"
        model.save_pretrained(source)
        SongGenProcessor.from_pretrained(base).save_pretrained(source)
    elif kind == "lora":
        peft_model = apply_lora(model, lora_config_for_songgen(r=4, alpha=8, dropout=0.0))
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if ".lora_B." in name:
                    parameter.normal_(0.0, 0.2)
        source = save_adapter(peft_model, tmp_path / "adapter", base_model_path=base)
        model = merge_lora(peft_model).eval()
    out = tmp_path / "official"
    assert songgen(["export", "--format", "official", str(source), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "official SongGen layout" in printed and "xcodec" in printed
    assert json.loads((out / "config.json").read_text())["model_type"] == "songgen"
    assert (out / "vocab.json").is_file() and (out / "tokenizer_config.json").is_file()
    back = load_official_songgen(out, codec=model.audio_encoder, voice=model.config.voice_encoder)
    ours, theirs = back.state_dict(), model.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--format", "official", "{src}", "{out}", "--codec", "{src}"], "--codec .*only apply to --format release"),
        (["--format", "official", "{src}"], "No output folder"),
        (["{src}", "{out}", "--output", "{out}2"], "Two output folders"),
    ],
)
def test_bad_export_arguments(argv, message, tmp_path, capsys):
    src = save_tiny_checkpoint(tmp_path / "src")
    argv = [arg.format(src=src, out=tmp_path / "out") for arg in argv]
    assert songgen(["export", *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):  # argparse itself refuses an unknown format
        songgen(["export", "--format", "zip", str(src), str(tmp_path / "out")])


def test_official_files_round_trip_identically(official, tmp_path):
    """official -> songgen-hf folder -> official: config.json and generation_config.json come back as the reference
    wrote them (every key, flag and value: max_length, the T5 flags, the 4.43 bookkeeping), weights equal."""
    from tests.conversion.test_size_inference import write_mert_folder

    source = tmp_path / "official"
    write_official_folder(source, official["config"], official["tensors"])
    generation = {
        "_from_model_config": False,
        "bos_token_id": 1025,
        "decoder_start_token_id": 1025,
        "do_sample": True,
        "eos_token_id": 1024,
        "max_length": 1500,
        "pad_token_id": 1024,
        "transformers_version": "4.43.3",
    }
    (source / "generation_config.json").write_text(json.dumps(generation))
    write_mert_folder(tmp_path / "mert", official["model"])
    converted = load_official_songgen(source, codec=official["model"].audio_encoder, mert_folder=tmp_path / "mert")
    converted.save_pretrained(tmp_path / "converted")  # what the conversion cache holds
    export_official(
        SongGenForConditionalGeneration.from_pretrained(tmp_path / "converted"), tmp_path / "back", embed_codec=False
    )
    assert json.loads((tmp_path / "back" / "config.json").read_text()) == official["config"]
    assert json.loads((tmp_path / "back" / "generation_config.json").read_text()) == generation
    tensors = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert set(tensors) == set(official["tensors"])
    assert all(torch.equal(tensors[k], official["tensors"][k]) for k in tensors)


def test_an_official_export_of_a_package_model_writes_the_reference_t5_flags(tmp_path):
    """Without an official file to keep, the T5 flags are flan-t5's, as the reference's config.json carries them."""
    model = SongGenForConditionalGeneration.from_pretrained(save_tiny_checkpoint(tmp_path / "ours"))
    export_official(model, tmp_path / "official", embed_codec=False)
    text_encoder = json.loads((tmp_path / "official" / "config.json").read_text())["text_encoder"]
    assert (text_encoder["is_encoder_decoder"], text_encoder["use_cache"], text_encoder["tie_word_embeddings"]) == (
        True,
        True,
        False,
    )
