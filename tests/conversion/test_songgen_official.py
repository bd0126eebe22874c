"""Converter for the released SongGen checkpoints.

The official checkpoint is synthesised from a tiny ``SongGenForConditionalGeneration``: its
state dict is renamed into the official layout by an inverse map written here, independently
of the converter (explicit regexes on our names), then written as an official-looking folder
(``config.json`` in the 4.43 schema with a T5 dict, safetensors).  Converting it back must
reproduce the model bit for bit.
"""

from __future__ import annotations

import json
import logging
import math
import re

import pytest
import torch
from safetensors.torch import save_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.conversion.songgen_official import (
    config_from_official,
    convert_official_songgen_state_dict,
    count_parameters,
    load_official_songgen,
    save_converted_songgen,
)
from songgen_hf.modeling.songgen.windows_songgen import max_duration_s
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

# Generic attributes a transformers-4.43 config.json carries for every (sub-)config.
GENERIC_43 = {
    "return_dict": True,
    "output_hidden_states": False,
    "output_attentions": False,
    "torchscript": False,
    "torch_dtype": "float32",
    "use_bfloat16": False,
    "tf_legacy_loss": False,
    "pruned_heads": {},
    "chunk_size_feed_forward": 0,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "max_length": 20,
    "do_sample": False,
    "top_k": 50,
    "bad_words_ids": None,
    "_name_or_path": "",
    "transformers_version": "4.43.3",
}

# our name -> official name; first match wins
INVERSE_RULES = [
    (r"text_encoder\.encoder\.embed_tokens\.weight", None),  # saved once, as shared.weight (tied)
    (r"lyrics_encoder\.embed_tokens\.weight", "embed_prompts.weight"),
    (r"lyrics_encoder\.input_proj\.(\w+)", r"lyrics_encoder.embed.out.0.\1"),
    (r"lyrics_encoder\.input_layer_norm\.(\w+)", r"lyrics_encoder.embed.out.1.\1"),
    (
        r"lyrics_encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(\w+)",
        r"lyrics_encoder.encoders.\1.self_attn.linear_\2.\3",
    ),
    (
        r"lyrics_encoder\.layers\.(\d+)\.self_attn\.pos_proj\.weight",
        r"lyrics_encoder.encoders.\1.self_attn.linear_pos.weight",
    ),
    (r"lyrics_encoder\.layers\.(\d+)\.self_attn\.(pos_bias_[uv])", r"lyrics_encoder.encoders.\1.self_attn.\2"),
    (
        r"lyrics_encoder\.layers\.(\d+)\.feed_forward\.fc([12])\.(\w+)",
        r"lyrics_encoder.encoders.\1.feed_forward.w_\2.\3",
    ),
    (r"lyrics_encoder\.layers\.(\d+)\.attn_layer_norm\.(\w+)", r"lyrics_encoder.encoders.\1.norm_mha.\2"),
    (r"lyrics_encoder\.layers\.(\d+)\.ffn_layer_norm\.(\w+)", r"lyrics_encoder.encoders.\1.norm_ff.\2"),
    (r"lyrics_encoder\.final_layer_norm\.(\w+)", r"lyrics_encoder.after_norm.\1"),
    (r"voice_encoder\.layer_aggregation\.(\w+)", r"mert_layer_agg.\1"),
    (r"voice_encoder\.projection\.(\w+)", r"audio_mert_to_dec_proj.\1"),
    # MERTModel saves its positional conv with the legacy weight-norm names
    (r"voice_encoder\.audio_encoder\.(.*)\.parametrizations\.weight\.original0", r"mert_model.\1.weight_g"),
    (r"voice_encoder\.audio_encoder\.(.*)\.parametrizations\.weight\.original1", r"mert_model.\1.weight_v"),
    (r"voice_encoder\.audio_encoder\.(.*)", r"mert_model.\1"),
    (r"decoder\.model\.(.*)", r"decoder.model.decoder.\1"),  # Parler's triple nesting
    (r"audio_encoder\..*", None),  # the codec is supplied separately (or embedded in its original layout)
    (r"(text_encoder\..*|enc_to_dec_proj\..*|lyrics_to_dec_proj\..*|decoder\.(vocal_)?lm_heads\..*)", r"\1"),
]


def to_official_name(name: str) -> str | None:
    for pattern, replacement in INVERSE_RULES:
        if re.fullmatch(pattern, name):
            return None if replacement is None else re.sub(f"^{pattern}$", replacement, name)
    raise AssertionError(f"no inverse rule for {name}")


def reference_sinusoids(rows: int, dim: int) -> torch.Tensor:
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freq = torch.exp(torch.arange(half).float() * -scale)
    angles = torch.arange(rows).float()[:, None] * freq[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


def official_state_dict(model) -> dict[str, torch.Tensor]:
    official = {}
    for name, tensor in model.state_dict().items():
        new = to_official_name(name)
        if new is not None:
            official[new] = tensor.clone()
    # the reference saves its sinusoid table; a different row count must be tolerated
    official["decoder.model.decoder.embed_positions.weights"] = reference_sinusoids(
        300, model.config.decoder.hidden_size
    )
    return official


def official_config(track_pattern: str) -> dict:
    t5 = {
        **GENERIC_43,
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "vocab_size": 256,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_decoder_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "dropout_rate": 0.0,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "feed_forward_proj": "gated-gelu",
        "dense_act_fn": "gelu_new",
        "is_gated_act": True,
        "is_encoder_decoder": True,
        "use_cache": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
        "tie_word_embeddings": False,
        "n_positions": 512,
        "output_past": True,
    }
    decoder = {
        **GENERIC_43,
        "model_type": "songgen_decoder",
        "vocab_size": 1088,
        "max_position_embeddings": 256,
        "num_hidden_layers": 2,
        "hidden_size": 32,
        "ffn_dim": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "num_cross_attention_key_value_heads": 4,
        "activation_function": "gelu",
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "layerdrop": 0.0,
        "initializer_factor": 0.02,
        "scale_embedding": False,
        "tie_word_embeddings": False,
        "num_codebooks": 8,
        "pad_token_id": 1024,
        "bos_token_id": 1025,
        "eos_token_id": 1024,
        "rope_embeddings": False,
        "rope_theta": 10000.0,
        "cross_attention_implementation_strategy": None,
        "is_decoder": True,
        "add_cross_attention": True,
        "use_cache": True,
        "track_pattern": track_pattern,
        "add_vocal_loss": track_pattern == "mixed_pro",
    }
    return {
        "model_type": "songgen",
        "architectures": ["SongGenMixedForConditionalGeneration"],
        "is_encoder_decoder": True,
        "vocab_size": 300,
        "prompt_cross_attention": True,
        "add_prenet": True,
        "pad_token_id": 1024,
        "decoder_start_token_id": 1025,
        "text_encoder": t5,
        "decoder": decoder,
        "transformers_version": "4.43.3",
        "torch_dtype": "float32",
    }


def write_official_folder(folder, config: dict, state_dict: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(folder / "model.safetensors"))


def source_model(track_pattern: str) -> SongGenForConditionalGeneration:
    """A tiny model whose every parameter is distinct (norms and biases too), so a swapped key shows."""
    torch.manual_seed(11)
    model = SongGenForConditionalGeneration(tiny_songgen_config(track_pattern)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model


def logits(model, config):
    with torch.no_grad():
        out = model(**dummy_inputs(config, num_frames=12))
    return out.logits, out.vocal_logits


@pytest.fixture(scope="module", params=["mixed_pro", "interleaving_A_V"])
def setup(request, tmp_path_factory):
    pattern = request.param
    model = source_model(pattern)
    official = official_state_dict(model)
    folder = tmp_path_factory.mktemp(f"official_{pattern}")
    write_official_folder(folder, official_config(pattern), official)
    overrides = dict(voice=model.config.voice_encoder, lyrics_encoder_config=model.config.lyrics_encoder)
    return dict(pattern=pattern, model=model, official=official, folder=folder, overrides=overrides)


def convert(setup, state_dict=None, config_dict=None, **kwargs):
    config = config_from_official(
        config_dict or official_config(setup["pattern"]),
        codec_config=setup["model"].config.audio_encoder,
        **setup["overrides"],
    )
    return convert_official_songgen_state_dict(
        setup["official"] if state_dict is None else state_dict,
        config,
        codec_state_dict=setup["model"].audio_encoder.state_dict(),
        **kwargs,
    )


# ------------------------------------------------------------------------------ round trip
def test_layout_sanity(setup):
    official = setup["official"]
    assert "decoder.model.decoder.layers.1.encoder_attn.q_proj.weight" in official
    assert "lyrics_encoder.encoders.0.self_attn.linear_pos.weight" in official
    assert "mert_model.encoder.pos_conv_embed.conv.weight_g" in official
    assert "text_encoder.shared.weight" in official and "text_encoder.encoder.embed_tokens.weight" not in official
    assert official["decoder.model.decoder.embed_positions.weights"].shape[0] == 300  # != 256 in the config
    assert not any(k.startswith(("audio_encoder.", "voice_encoder.", "decoder.model.layers.")) for k in official)
    assert ("decoder.vocal_lm_heads.0.weight" in official) == (setup["pattern"] == "mixed_pro")


def test_load_official_folder_gives_identical_logits(setup):
    model = setup["model"]
    converted = load_official_songgen(setup["folder"], codec=model.audio_encoder, **setup["overrides"])
    assert converted.config.project_description_at_inference is False  # reference skips enc_to_dec_proj
    assert converted.config.track_pattern == setup["pattern"]
    ours, theirs = converted.state_dict(), model.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert converted.text_encoder.shared.weight is converted.text_encoder.encoder.embed_tokens.weight
    expected, expected_vocal = logits(model, model.config)
    got, got_vocal = logits(converted, converted.config)
    assert torch.equal(got, expected)
    if setup["pattern"] == "mixed_pro":
        assert torch.equal(got_vocal, expected_vocal)


def test_sharded_bin_and_file_list_inputs(setup, tmp_path):
    official, model = setup["official"], setup["model"]
    names = sorted(official)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(json.dumps(official_config(setup["pattern"])))
    for file, keys in shards.items():
        save_file({k: official[k].contiguous() for k in keys}, str(sharded / file))
    index = {"metadata": {}, "weight_map": {k: file for file, keys in shards.items() for k in keys}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "config.json").write_text(json.dumps(official_config(setup["pattern"])))
    torch.save(official, binary / "pytorch_model.bin")
    sources = [sharded, binary, [binary / "config.json", binary / "pytorch_model.bin"]]
    reference = model.state_dict()
    for source in sources:
        converted = load_official_songgen(source, codec=model.audio_encoder, **setup["overrides"]).state_dict()
        assert all(torch.equal(converted[k], reference[k]) for k in reference)


def test_t5_embedding_under_either_name(setup):
    official = dict(setup["official"])
    shared = official.pop("text_encoder.shared.weight")
    converted = convert(setup, {**official, "text_encoder.encoder.embed_tokens.weight": shared})
    assert converted["text_encoder.shared.weight"] is converted["text_encoder.encoder.embed_tokens.weight"]
    both = {**official, "text_encoder.shared.weight": shared, "text_encoder.encoder.embed_tokens.weight": shared + 1}
    with pytest.raises(ValueError, match="differ"):
        convert(setup, both)


def test_mixed_pro_to_interleaving_drops_vocal_heads(setup, caplog):
    if setup["pattern"] != "mixed_pro":
        pytest.skip("needs a mixed pro checkpoint")
    target = config_from_official(
        official_config("interleaving_A_V"), codec_config=setup["model"].config.audio_encoder, **setup["overrides"]
    )
    with caplog.at_level(logging.WARNING, logger="songgen_hf.conversion.songgen_official"):
        converted, notes = convert_official_songgen_state_dict(
            setup["official"], target, codec_state_dict=setup["model"].audio_encoder.state_dict(), return_notes=True
        )
    assert any("vocal_lm_heads" in note for note in notes)
    assert "vocal_lm_heads" in caplog.text
    assert not any("vocal_lm_heads" in k for k in converted)
    model = SongGenForConditionalGeneration(target)
    model.load_state_dict(converted, strict=True)
    assert torch.equal(model.decoder.lm_heads[3].weight, setup["model"].decoder.lm_heads[3].weight)


# ------------------------------------------------------------------------------ wrong inputs
def _without_layer(official, layer):
    return {k: v for k, v in official.items() if not k.startswith(f"decoder.model.decoder.layers.{layer}.")}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_layer", r"(?s)16 missing.*1 decoder layer\(s\).*Missing: decoder\.model\.layers\.1\."),
        ("extra_keys", r"(?s)2 unexpected.*foo\.bar.*lyrics_encoder\.encoders\.0\.conv_module\.weight"),
        ("already_converted", "from_pretrained"),
        ("parler", "Parler-TTS"),
    ],
)
def test_wrong_checkpoints_raise_clear_errors(setup, case, expected):
    official = setup["official"]
    if case == "missing_layer":
        state_dict = _without_layer(official, 1)
    elif case == "extra_keys":
        extra = {"foo.bar": torch.zeros(1), "lyrics_encoder.encoders.0.conv_module.weight": torch.zeros(1)}
        state_dict = {**official, **extra}
    elif case == "already_converted":
        state_dict = setup["model"].state_dict()
    else:  # Parler-TTS: prompt embedding + decoder, no lyrics encoder, a DAC codec
        state_dict = {k: v for k, v in official.items() if not k.startswith(("lyrics_encoder.", "lyrics_to_dec_proj."))}
        state_dict["audio_encoder.model.quantizer.quantizers.0.in_proj.weight"] = torch.zeros(8, 1024, 1)
    with pytest.raises(ValueError, match=expected):
        convert(setup, state_dict)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["decoder"].update(rope_embeddings=True), "rope_embeddings"),
        (lambda c: c.update(prompt_cross_attention=False), "prompt_cross_attention"),
        (lambda c: c["decoder"].update(num_key_value_heads=1), "num_key_value_heads"),
        (lambda c: c["decoder"].update(use_flash_codebooks=True), "decoder.use_flash_codebooks"),
        (lambda c: c.update(model_type="parler_tts"), "Parler-TTS"),
        (lambda c: c.update(lyrics_encoder={}), "from_pretrained"),
        (lambda c: c["decoder"].pop("track_pattern"), "track_pattern"),
    ],
)
def test_unsupported_config_options(edit, expected):
    config = official_config("mixed_pro")
    edit(config)
    with pytest.raises(ValueError, match=expected):
        config_from_official(config, voice=False)


def test_missing_codec_or_mert_says_how_to_supply_them(setup, tmp_path):
    folder, model = setup["folder"], setup["model"]
    with pytest.raises(ValueError, match="songgen convert xcodec"):
        load_official_songgen(folder, **setup["overrides"])
    no_mert = tmp_path / "no_mert"
    write_official_folder(
        no_mert,
        official_config(setup["pattern"]),
        {k: v for k, v in setup["official"].items() if not k.startswith("mert_model.")},
    )
    with pytest.raises(ValueError, match="mert_folder"):
        load_official_songgen(no_mert, codec=model.audio_encoder, **setup["overrides"])
    # a local MERT copy (MERTModel names, legacy weight norm) fills the gap
    mert = tmp_path / "mert"
    mert.mkdir()
    torch.save(
        {k[len("mert_model.") :]: v for k, v in setup["official"].items() if k.startswith("mert_model.")},
        mert / "pytorch_model.bin",
    )
    loaded = load_official_songgen(no_mert, codec=model.audio_encoder, mert_folder=mert, **setup["overrides"])
    assert torch.equal(logits(loaded, loaded.config)[0], logits(model, model.config)[0])
    # or no voice conditioning at all
    voiceless = load_official_songgen(
        no_mert, codec=model.audio_encoder, voice=False, lyrics_encoder_config=model.config.lyrics_encoder
    )
    assert voiceless.voice_encoder is None and voiceless.config.voice_encoder is None


def test_embedded_original_codec_is_converted_or_replaced(setup):
    from songgen_hf.conversion import convert_original_xcodec_state_dict
    from tests.conversion.test_xcodec_original import original_checkpoint

    codec = setup["model"].audio_encoder
    original, _ = original_checkpoint(codec)
    embedded = {**setup["official"], **{f"audio_encoder.model.{k}": v for k, v in original.items()}}
    config = config_from_official(official_config(setup["pattern"]), codec_config=codec.config, **setup["overrides"])
    converted = convert_official_songgen_state_dict(embedded, config)
    direct = convert_original_xcodec_state_dict(original, codec.config)
    assert all(torch.equal(converted[f"audio_encoder.{k}"], v) for k, v in direct.items())
    SongGenForConditionalGeneration(config).load_state_dict(converted, strict=True)
    replaced, notes = convert(setup, embedded, return_notes=True)
    assert any("supplied codec" in note for note in notes)
    assert torch.equal(replaced["audio_encoder.acoustic_decoder.conv1.weight"], codec.acoustic_decoder.conv1.weight)


# ------------------------------------------------------------------------------ saving
def test_save_converted_with_tokenizers(setup, tmp_path):
    if setup["pattern"] != "mixed_pro":
        pytest.skip("one pattern is enough")
    from songgen_hf.modeling.songgen.tokenization_songgen import (
        VoiceBpeTokenizer,
        train_description_tokenizer,
        train_voicebpe_vocab,
    )

    source = tmp_path / "official"
    write_official_folder(source, official_config("mixed_pro"), setup["official"])
    train_voicebpe_vocab(["la la love", "oh the night is young"] * 5, vocab_size=60, path=source)
    train_description_tokenizer(["a happy pop song", "sad piano ballad"] * 10, vocab_size=40, save_directory=source)
    model = load_official_songgen(source, codec=setup["model"].audio_encoder, **setup["overrides"])
    output = tmp_path / "converted"
    save_converted_songgen(model, output, source_folder=source)
    assert (output / "vocab.json").read_text() == (source / "vocab.json").read_text()
    assert VoiceBpeTokenizer.from_pretrained(output).encode("la la") == VoiceBpeTokenizer.from_pretrained(
        source
    ).encode("la la")
    assert (output / "tokenizer_config.json").is_file() and (output / "tokenizer.json").is_file()
    reloaded = SongGenForConditionalGeneration.from_pretrained(output).eval()
    assert reloaded.config.project_description_at_inference is False
    assert torch.equal(logits(reloaded, reloaded.config)[0], logits(setup["model"], setup["model"].config)[0])
    with pytest.raises(FileExistsError):
        save_converted_songgen(model, output)
    save_converted_songgen(model, output, overwrite=True)
    assert not (output / "vocab.json").exists()  # replaced as a whole
    assert not any(p.name.startswith(".converted") for p in tmp_path.iterdir())


# ------------------------------------------------------------------------------ full size
def full_official_config(pattern: str) -> dict:
    config = official_config(pattern)
    config["vocab_size"] = 7000
    config["text_encoder"].update(
        vocab_size=32128,
        d_model=1024,
        d_kv=64,
        d_ff=2816,
        num_layers=24,
        num_decoder_layers=24,
        num_heads=16,
        dropout_rate=0.1,
    )
    config["decoder"].update(
        max_position_embeddings=6547,
        num_hidden_layers=24,
        hidden_size=1024,
        ffn_dim=4096,
        num_attention_heads=16,
        num_key_value_heads=16,
        num_cross_attention_key_value_heads=16,
        dropout=0.1,
    )
    return config


@pytest.mark.parametrize("pattern, decoder_millions", [("mixed_pro", 429.5), ("interleaving_A_V", 420.6)])
def test_full_size_parameter_counts(pattern, decoder_millions):
    config = config_from_official(full_official_config(pattern))
    assert config.project_description_at_inference is False
    assert config.lyrics_encoder.num_hidden_layers == 6 and config.lyrics_encoder.vocab_size == 7000
    assert config.voice_encoder.num_layers_to_aggregate == 25 and config.voice_encoder.use_attention_mask is False
    # the released models' window is the 30 s they were made for, not the 130 s their position table holds
    assert config.decoder.window_frames == 1500 and max_duration_s(config) == 30.0
    counts = count_parameters(config)
    assert counts["decoder"] / 1e6 == pytest.approx(decoder_millions, rel=0.02)
    assert counts["text_encoder"] / 1e6 == pytest.approx(341, rel=0.03)  # FLAN-T5-large encoder, spec §2.2
    assert counts["trainable"] / 1e6 == pytest.approx(523 - (429.5 - decoder_millions), rel=0.03)  # spec §2.6
