"""Official checkpoints of sizes other than the released one convert without size options.

Two tiny models whose every size differs from each other and from the builders' default tiny
model (decoder width/layers/heads/FFN/codebooks, lyrics encoder width/blocks/heads/FFN/vocab,
T5 width/layers, MERT width/layers) are written in the official layout with the builders of
``test_songgen_official.py``; ``load_official_songgen`` gets only the folder, the codec and the
MERT folder (as ``m-a-p/MERT-v1-330M`` ships: weights and ``config.json``), and must reproduce
the source model's teacher-forced logits exactly.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.conversion.official_sizes import tensor_shapes
from songgen_hf.conversion.songgen_official import config_from_official, load_official_songgen
from songgen_hf.testing import dummy_inputs, tiny_songgen_config, tiny_voice_encoder_config
from tests.conversion.test_songgen_official import official_config, official_state_dict, write_official_folder

SIZES = {
    "wide": dict(
        decoder=dict(hidden_size=48, num_hidden_layers=3, num_attention_heads=6, ffn_dim=96),
        codebooks=8,
        lyrics=dict(vocab_size=350, hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40),
        t5=dict(d_model=16, d_kv=4, d_ff=24, num_layers=3, num_heads=4),
        mert=dict(hidden_size=32, layers=3),
    ),
    "narrow": dict(
        decoder=dict(hidden_size=40, num_hidden_layers=1, num_attention_heads=5, ffn_dim=80),
        codebooks=4,
        lyrics=dict(vocab_size=200, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48),
        t5=dict(d_model=24, d_kv=6, d_ff=40, num_layers=1, num_heads=2),
        mert=dict(hidden_size=24, layers=1),
    ),
}


def sized_model(name: str, pattern: str) -> SongGenForConditionalGeneration:
    size = SIZES[name]
    config = tiny_songgen_config(pattern, decoder={**size["decoder"], "num_codebooks": size["codebooks"]})
    config.lyrics_encoder = type(config.lyrics_encoder)(**{**config.lyrics_encoder.to_dict(), **size["lyrics"]})
    config.text_encoder = type(config.text_encoder)(**{**config.text_encoder.to_dict(), **size["t5"]})
    mert = tiny_voice_encoder_config(output_size=size["decoder"]["hidden_size"], clip_seconds=1.0)
    mert.audio_encoder_config.hidden_size = size["mert"]["hidden_size"]
    mert.audio_encoder_config.num_hidden_layers = size["mert"]["layers"]
    config.voice_encoder = mert
    torch.manual_seed(5)
    model = SongGenForConditionalGeneration(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model


def sized_official_config(model, pattern: str) -> dict:
    """The builders' official config.json with this model's sizes where the reference records them."""
    config = official_config(pattern)
    decoder, t5 = model.config.decoder, model.config.text_encoder
    same_names = {
        "decoder": (decoder, ("hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim", "num_codebooks")),
        "text_encoder": (t5, ("d_model", "d_kv", "d_ff", "num_layers", "num_heads")),
    }
    for section, (sub_config, fields) in same_names.items():
        config[section].update({field: getattr(sub_config, field) for field in fields})
    # the official config also records the key/value heads (as many as the attention heads) and the T5 decoder's depth
    for field in ("num_key_value_heads", "num_cross_attention_key_value_heads"):
        config["decoder"][field] = decoder.num_attention_heads
    config["text_encoder"]["num_decoder_layers"] = t5.num_layers
    config["vocab_size"] = model.config.lyrics_encoder.vocab_size
    return config


def write_mert_folder(folder, model) -> None:
    """A MERT folder as m-a-p/MERT-v1-330M ships one: MERT names (legacy weight norm) and a MERT config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    official = official_state_dict(model)
    save_file(
        {k[len("mert_model.") :]: v.contiguous() for k, v in official.items() if k.startswith("mert_model.")},
        str(folder / "model.safetensors"),
    )
    hubert = model.config.voice_encoder.audio_encoder_config.to_dict()
    mert = {
        **hubert,
        "model_type": "mert_model",
        "architectures": ["MERTModel"],
        "feature_extractor_cqt": False,
        "deepnorm": False,
        "attention_relax": 32.0,
        "sample_rate": 24000,
    }
    (folder / "config.json").write_text(json.dumps(mert))


@pytest.fixture(scope="module", params=[("wide", "mixed_pro"), ("narrow", "interleaving_A_V")], ids=lambda p: p[0])
def sized(request, tmp_path_factory):
    name, pattern = request.param
    model = sized_model(name, pattern)
    folder = tmp_path_factory.mktemp(f"official_{name}")
    official = official_state_dict(model)
    write_official_folder(folder, sized_official_config(model, pattern), official)
    mert = tmp_path_factory.mktemp(f"mert_{name}")
    write_mert_folder(mert, model)
    return dict(name=name, pattern=pattern, model=model, folder=folder, official=official, mert=mert)


def test_other_sizes_convert_without_options_and_match_logits(sized):
    model = sized["model"]
    converted = load_official_songgen(sized["folder"], codec=model.audio_encoder, mert_folder=sized["mert"])
    got, want = converted.config, model.config
    for part, fields in (
        (
            "decoder",
            ("hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim", "num_codebooks", "vocab_size"),
        ),
        ("lyrics_encoder", tuple(SIZES[sized["name"]]["lyrics"])),
        ("text_encoder", tuple(SIZES[sized["name"]]["t5"])),
    ):
        for field in fields:
            assert getattr(getattr(got, part), field) == getattr(getattr(want, part), field), (part, field)
    assert got.voice_encoder.audio_encoder_config.num_hidden_layers == SIZES[sized["name"]]["mert"]["layers"]
    ours, theirs = converted.state_dict(), model.state_dict()
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    inputs = dummy_inputs(model.config, num_frames=12)
    with torch.no_grad():
        expected, actual = model(**inputs), converted(**inputs)
    assert torch.equal(actual.logits, expected.logits)
    if sized["pattern"] == "mixed_pro":
        assert torch.equal(actual.vocal_logits, expected.vocal_logits)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["decoder"].update(num_hidden_layers=7), r"decoder\.num_hidden_layers=7 disagrees.*layers"),
        (lambda c: c["decoder"].update(hidden_size=64), r"decoder\.hidden_size=64 disagrees.*embed_tokens\.0\.weight"),
        (lambda c: c["decoder"].update(ffn_dim=12), r"decoder\.ffn_dim=12 disagrees.*fc1\.weight"),
        (lambda c: c["decoder"].update(num_codebooks=2), r"decoder\.num_codebooks=2 disagrees.*embedding tables"),
        (lambda c: c.update(vocab_size=999), r"vocab_size=999 disagrees.*embed_prompts\.weight"),
        (
            lambda c: c["text_encoder"].update(d_model=8),
            r"text_encoder\.d_model=8 disagrees.*text_encoder\.shared\.weight",
        ),
        (
            lambda c: c["text_encoder"].update(num_heads=3),
            r"text_encoder\.num_heads=3 disagrees.*relative_attention_bias",
        ),
        (lambda c: c["decoder"].update(num_attention_heads=7), r"num_attention_heads = 7 does not divide"),
        (lambda c: c["decoder"].pop("num_attention_heads"), r"reference default num_attention_heads.*cannot be read"),
    ],
    ids=["layers", "hidden", "ffn", "codebooks", "lyrics_vocab", "t5_width", "t5_heads", "heads", "heads_absent"],
)
def test_config_disagreeing_with_weights_names_the_keys(sized, edit, message):
    if sized["name"] != "narrow":
        pytest.skip("one size is enough")
    config = sized_official_config(sized["model"], sized["pattern"])
    edit(config)
    with pytest.raises(ValueError, match=message):
        config_from_official(
            config,
            codec_config=sized["model"].config.audio_encoder,
            weight_shapes=tensor_shapes(sized["official"]),
            mert_config=json.loads((sized["mert"] / "config.json").read_text()),
        )


def test_mert_sizes_need_its_config(sized, tmp_path):
    """MERT's heads and strides are in no shape: an embedded non-330M MERT without its config is refused by name."""
    if sized["name"] != "wide":
        pytest.skip("one size is enough")
    model = sized["model"]
    with pytest.raises(ValueError, match=r"(?s)not MERT-v1-330M \(mert_model\..*attention heads.*mert_folder"):
        load_official_songgen(sized["folder"], codec=model.audio_encoder)
    wrong = tmp_path / "mert"
    write_mert_folder(wrong, model)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 5}))
    with pytest.raises(ValueError, match=r"mert_layer_agg\.weight has shape \(1, 4, 1\).*5 layers"):
        load_official_songgen(sized["folder"], codec=model.audio_encoder, mert_folder=wrong)
    voiceless = load_official_songgen(sized["folder"], codec=model.audio_encoder, voice=False)
    assert voiceless.voice_encoder is None and voiceless.config.lyrics_encoder.num_hidden_layers == 3


def test_inconsistent_weights_are_named(sized):
    if sized["name"] != "wide":
        pytest.skip("one size is enough")
    shapes = tensor_shapes(sized["official"])
    config = sized_official_config(sized["model"], sized["pattern"])
    mert = json.loads((sized["mert"] / "config.json").read_text())
    broken = {**shapes, "lyrics_to_dec_proj.weight": (48, 20)}
    with pytest.raises(ValueError, match=r"lyrics_to_dec_proj\.weight reads 20-wide.*24 wide"):
        config_from_official(
            config, codec_config=sized["model"].config.audio_encoder, weight_shapes=broken, mert_config=mert
        )
    gap = {k: v for k, v in shapes.items() if not k.startswith("decoder.model.decoder.layers.1.")}
    with pytest.raises(ValueError, match=r"decoder layers are numbered 0\.\.2 with \[1\] missing"):
        config_from_official(
            config, codec_config=sized["model"].config.audio_encoder, weight_shapes=gap, mert_config=mert
        )
