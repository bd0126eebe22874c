"""Converter for original X-Codec ``.pth`` checkpoints.

The original-layout checkpoint is synthesised here from a tiny ``XCodecModel``: an
inverse key map written independently of the converter's forward map (explicit regexes on
the transformers names), and weight norm un-fused into (g, v) with g perturbed, so that the
converter's fusion changes the weights and has to be right.  The reference for the fused
weights is torch's own weight-norm parametrisation, not the converter's arithmetic.
"""

from __future__ import annotations

import io
import re

import pytest
import torch
import yaml

from songgen_hf import XCodecModel
from songgen_hf.conversion import (
    config_from_original_yaml,
    convert_original_xcodec_state_dict,
    load_original_xcodec,
    save_converted,
)
from songgen_hf.conversion.xcodec_original import fuse_weight_norm, infer_config_from_state_dict
from songgen_hf.testing import tiny_xcodec_config

RU = {"snake1": 0, "conv1": 1, "snake2": 2, "conv2": 3}  # DAC residual unit Sequential order

# transformers name (module path) -> original module path; applied first match wins
INVERSE_RULES = [
    (r"acoustic_encoder\.conv1$", lambda m: "encoder.block.0"),
    (r"acoustic_encoder\.snake1$", lambda m: "encoder.block.5"),
    (r"acoustic_encoder\.conv2$", lambda m: "encoder.block.6"),
    (
        r"acoustic_encoder\.block\.(\d)\.res_unit(\d)\.(\w+)$",
        lambda m: f"encoder.block.{int(m[1]) + 1}.block.{int(m[2]) - 1}.block.{RU[m[3]]}",
    ),
    (r"acoustic_encoder\.block\.(\d)\.snake1$", lambda m: f"encoder.block.{int(m[1]) + 1}.block.3"),
    (r"acoustic_encoder\.block\.(\d)\.conv1$", lambda m: f"encoder.block.{int(m[1]) + 1}.block.4"),
    (r"acoustic_decoder\.conv1$", lambda m: "decoder_2.model.0"),
    (r"acoustic_decoder\.snake1$", lambda m: "decoder_2.model.5"),
    (r"acoustic_decoder\.conv2$", lambda m: "decoder_2.model.6"),
    (r"acoustic_decoder\.block\.(\d)\.snake1$", lambda m: f"decoder_2.model.{int(m[1]) + 1}.block.0"),
    (r"acoustic_decoder\.block\.(\d)\.conv_t1$", lambda m: f"decoder_2.model.{int(m[1]) + 1}.block.1"),
    (
        r"acoustic_decoder\.block\.(\d)\.res_unit(\d)\.(\w+)$",
        lambda m: f"decoder_2.model.{int(m[1]) + 1}.block.{int(m[2]) + 1}.block.{RU[m[3]]}",
    ),
    # RepCodec: k=3 convs sit inside a wrapper module, the 1x1 conv2 of a residual unit does not
    (r"(encoder_semantic|decoder_semantic)\.(.*res_units\.\d+)\.conv2$", lambda m: f"{m[1]}.{m[2]}.conv2"),
    (r"(encoder_semantic|decoder_semantic)\.(.*)$", lambda m: f"{m[1]}.{m[2]}.conv"),
    (r"fc$", lambda m: "fc_prior"),
    (r"fc1$", lambda m: "fc_post1"),
    (r"fc2$", lambda m: "fc_post2"),
    (r"quantizer\.quantizers\.(\d+)\.codebook$", lambda m: f"quantizer.vq.layers.{m[1]}._codebook"),
    (r"(semantic_model(\..*)?)$", lambda m: m[1]),
]


def to_original_module(path: str) -> str:
    for pattern, build in INVERSE_RULES:
        match = re.fullmatch(pattern, path)
        if match:
            return build(match)
    raise AssertionError(f"no inverse rule for {path}")


def make_source_model(config) -> XCodecModel:
    """Tiny model whose every tensor is distinct, so a swapped key changes the output."""
    torch.manual_seed(1)
    model = XCodecModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("alpha"):
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias") and not name.startswith("semantic_model."):
                param.normal_(0.0, 0.02)
        for layer in model.quantizer.quantizers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            layer.codebook.cluster_size.uniform_(0, 5)
            layer.codebook.inited.fill_(1.0)
        # random DAC weights give audio in the hundreds; O(1) output makes 1e-5 a tight bound
        model.acoustic_decoder.conv2.weight.mul_(1e-2)
    return model


def original_checkpoint(model: XCodecModel) -> tuple[dict, dict]:
    """(original-layout state dict, transformers-layout dict holding the (g, v) halves).

    Acoustic conv weights W become v = W * s (random positive row scales) and
    g = ||W_row|| * (1 + noise), i.e. a *different* fused weight than W.  The second dict
    is what a weight-normalised ``XCodecModel`` would load, for the reference."""
    torch.manual_seed(2)
    original, parametrized = {}, {}
    for key, tensor in model.state_dict().items():
        module, param = key.rsplit(".", 1)
        if key.startswith("semantic_model.") and ".parametrizations.weight.original" in key:
            conv = key.split(".parametrizations.")[0]
            original[f"{conv}.weight_{'g' if key.endswith('original0') else 'v'}"] = tensor.clone()
            parametrized[key] = tensor.clone()
            continue
        acoustic_conv = (
            key.startswith(("acoustic_encoder.", "acoustic_decoder.")) and param == "weight" and tensor.dim() == 3
        )
        if acoustic_conv:
            rows = tensor.shape[0]
            v = tensor * torch.empty(rows, 1, 1).uniform_(0.5, 2.0)
            g = tensor.flatten(1).norm(dim=1).view(rows, 1, 1) * (1 + 0.2 * torch.randn(rows, 1, 1))
            original[f"{to_original_module(module)}.weight_g"] = g
            original[f"{to_original_module(module)}.weight_v"] = v
            parametrized[f"{module}.parametrizations.weight.original0"] = g
            parametrized[f"{module}.parametrizations.weight.original1"] = v
        else:
            original[f"{to_original_module(module)}.{param}"] = tensor.clone()
            parametrized[key] = tensor.clone()
    return original, parametrized


def reference_model(config, parametrized: dict) -> XCodecModel:
    """Fused weights computed by torch's weight-norm parametrisation."""
    model = XCodecModel(config).eval()
    model.apply_weight_norm()
    model.load_state_dict(parametrized, strict=True)
    model.remove_weight_norm()
    return model


@pytest.fixture(scope="module")
def setup():
    config = tiny_xcodec_config()
    source = make_source_model(config)
    original, parametrized = original_checkpoint(source)
    reference = reference_model(config, parametrized)
    torch.manual_seed(3)
    audio = 0.3 * torch.randn(2, 1, 16000)
    with torch.inference_mode():
        ref_codes = reference.encode(audio).audio_codes
        ref_audio = reference.decode(ref_codes).audio_values
    return dict(
        config=config,
        source=source,
        original=original,
        reference=reference,
        audio=audio,
        ref_codes=ref_codes,
        ref_audio=ref_audio,
    )


def assert_matches_reference(model: XCodecModel, setup) -> None:
    with torch.inference_mode():
        codes = model.encode(setup["audio"]).audio_codes
        audio = model.decode(setup["ref_codes"]).audio_values
    assert torch.equal(codes, setup["ref_codes"])
    assert (audio - setup["ref_audio"]).abs().max().item() <= 1e-5


def test_layout_sanity(setup):
    original = setup["original"]
    # the synthesised checkpoint looks like the released files: legacy weight norm, wrapped convs
    assert "encoder.block.1.block.0.block.1.weight_g" in original
    assert "decoder_2.model.2.block.1.weight_v" in original  # a ConvTranspose1d
    assert "encoder_semantic.conv_blocks.0.res_units.1.conv1.conv.weight" in original
    assert "decoder_semantic.conv2.conv.weight" in original
    assert "quantizer.vq.layers.7._codebook.embed_avg" in original
    assert "semantic_model.encoder.pos_conv_embed.conv.weight_g" in original
    # g was perturbed, so the fused weight really differs from the source model's
    key = "acoustic_decoder.block.1.conv_t1.weight"
    assert not torch.allclose(setup["reference"].state_dict()[key], setup["source"].state_dict()[key])


def test_convert_and_load_strict(setup):
    converted = convert_original_xcodec_state_dict(setup["original"], setup["config"])
    model = XCodecModel(setup["config"]).eval()
    assert set(converted) == set(model.state_dict())
    model.load_state_dict(converted, strict=True)
    assert_matches_reference(model, setup)
    ref = setup["reference"].state_dict()
    for key in ("acoustic_encoder.block.0.conv1.weight", "acoustic_decoder.block.1.conv_t1.weight"):
        torch.testing.assert_close(converted[key], ref[key], rtol=1e-6, atol=1e-7)


def test_fuse_weight_norm_matches_torch_for_transposed_conv():
    conv = torch.nn.ConvTranspose1d(6, 4, 10, stride=5)
    torch.nn.utils.parametrizations.weight_norm(conv)
    with torch.no_grad():
        conv.parametrizations.weight.original0.uniform_(0.5, 2.0)
    expected = conv.weight.detach()
    fused = fuse_weight_norm(conv.parametrizations.weight.original0, conv.parametrizations.weight.original1)
    assert fused.shape == (6, 4, 10)
    torch.testing.assert_close(fused, expected, rtol=1e-6, atol=1e-7)


def test_training_checkpoint_file_with_bytesio(setup, tmp_path):
    path = tmp_path / "ckpt_00005000.pth"
    checkpoint = {
        "codec_model": {**setup["original"], "some_buffer_io": io.BytesIO(b"\x00" * 8)},
        "optimizer_g": {"state": {}, "param_groups": [{"lr": 2e-4}]},
        "steps": 5000,
        "epoch": 3,
    }
    torch.save(checkpoint, path)
    model = load_original_xcodec(path, setup["config"])
    assert not model.training
    assert_matches_reference(model, setup)


def test_flat_file_with_bytesio_and_save_converted(setup, tmp_path):
    path = tmp_path / "xcodec.pth"
    torch.save({**setup["original"], "junk": io.BytesIO(b"abc")}, path)
    model = load_original_xcodec(path, setup["config"])
    out = save_converted(model, tmp_path / "converted")
    assert (out / "config.json").is_file() and (out / "preprocessor_config.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left over
    assert_matches_reference(XCodecModel.from_pretrained(out).eval(), setup)
    with pytest.raises(FileExistsError):
        save_converted(model, out)
    save_converted(model, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted", "xcodec.pth"]


def test_decode_only_conversion(setup):
    config = tiny_xcodec_config(decode_only=True)
    converted = convert_original_xcodec_state_dict(setup["original"], config)
    assert {k.split(".")[0] for k in converted} == {"acoustic_decoder", "fc2", "quantizer"}
    model = XCodecModel(config).eval()
    model.load_state_dict(converted, strict=True)
    with torch.inference_mode():
        audio = model.decode(setup["ref_codes"]).audio_values
    assert (audio - setup["ref_audio"]).abs().max() <= 1e-5


def _error(state_dict, config) -> str:
    with pytest.raises(ValueError) as info:
        convert_original_xcodec_state_dict(state_dict, config)
    return str(info.value)


def test_missing_layer_is_reported(setup):
    broken = {k: v for k, v in setup["original"].items() if not k.startswith("decoder_2.model.3.block.1.")}
    message = _error(broken, setup["config"])
    assert "acoustic_decoder.block.2.conv_t1.weight" in message and "missing" in message


def test_extra_keys_are_reported(setup):
    message = _error({**setup["original"], "discriminator.conv.weight": torch.zeros(3)}, setup["config"])
    assert "discriminator.conv.weight" in message and "1 unexpected" in message


def test_shape_mismatch_is_reported(setup):
    broken = dict(setup["original"])
    broken["fc_post2.weight"] = torch.zeros(8, 32)
    assert "fc2.weight" in _error(broken, setup["config"])


def test_transformers_layout_is_recognised(setup):
    message = _error(setup["reference"].state_dict(), setup["config"])
    assert "from_pretrained" in message


def test_twelve_codebook_checkpoint_suggests_bandwidths(setup):
    yue = dict(setup["original"])
    for q in range(8, 12):
        for name in ("inited", "cluster_size", "embed", "embed_avg"):
            yue[f"quantizer.vq.layers.{q}._codebook.{name}"] = yue[f"quantizer.vq.layers.0._codebook.{name}"]
    message = _error(yue, setup["config"])
    assert "12 codebooks" in message and "6 kbps" in message
    # and with the matching bandwidths it converts
    config = tiny_xcodec_config(target_bandwidths=[1, 1.5, 2, 4, 6])
    assert len(convert_original_xcodec_state_dict(yue, config)) == len(setup["original"]) - 60 + 16


def test_config_from_original_yaml(tmp_path):
    text = """
generator:
  name: SoundStream
  config:
    n_filters: 32
    D: 256
    target_bandwidths: [0.5, 1, 1.5, 2, 4]
    ratios: [8, 5, 4, 2]
    sample_rate: 16000
    bins: 1024
    semantic_techer: hubert_base_general
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = config_from_original_yaml(path)
    assert config.num_quantizers == 8 and config.hop_length == 320 and config.codebook_dim == 1024
    assert config.acoustic_model_config.hidden_size == 256
    assert config.acoustic_model_config.upsampling_ratios == [8, 5, 4, 2]
    assert config.semantic_model_config.model_type == "hubert"
    assert config.semantic_model_config.num_hidden_layers == 12
    wavlm = config_from_original_yaml(
        {**yaml.safe_load(text)["generator"]["config"], "semantic_techer": "wavlm_base_plus"}
    )
    assert wavlm.semantic_model_config.model_type == "wavlm"
    yue = config_from_original_yaml({"D": 256, "target_bandwidths": [1, 1.5, 2, 4, 6]})
    assert yue.num_quantizers == 12
    with pytest.raises(ValueError, match="Unknown semantic teacher"):
        config_from_original_yaml({"semantic_techer": "whisper"})


def test_infer_config_from_weights(setup):
    config = infer_config_from_state_dict(setup["original"])
    assert config.acoustic_model_config.hidden_size == setup["config"].acoustic_model_config.hidden_size
    assert config.acoustic_model_config.downsampling_ratios == [8, 5, 4, 2]
    assert config.num_quantizers == 8 and config.target_bandwidths == [0.5, 1.0, 1.5, 2.0, 4.0]
