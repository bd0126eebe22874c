"""`songgen export`: half-precision storage, float32 on load, processor and card alongside."""

import json
from pathlib import Path

import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main as songgen_main
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.testing import dummy_inputs, save_tiny_checkpoint


def _stored_dtypes(folder: Path) -> set[str]:
    raw = (folder / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    return {entry["dtype"] for key, entry in header.items() if key != "__metadata__"}


def _export(source, output, *extra) -> int:
    return songgen_main(["export", str(source), "--output", str(output), *extra])


def test_export_halves_storage_and_loads_back_as_float32(tmp_path):
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    assert (
        _export(
            source,
            tmp_path / "release",
            "--generation",
            "guidance_scale=2.5",
            "top_k=40",
            "duration_s=0.4",
            "cpu_quantize=int8",
        )
        == 0
    )
    release = tmp_path / "release"

    assert _stored_dtypes(source) == {"F32"}
    assert _stored_dtypes(release) <= {"F16", "I64", "BOOL"} and "F16" in _stored_dtypes(release)
    ratio = (release / "model.safetensors").stat().st_size / (source / "model.safetensors").stat().st_size
    assert 0.45 < ratio < 0.6
    assert (release / "README.md").is_file()
    SongGenProcessor.from_pretrained(release)  # the tokenizers travelled with the weights

    original = SongGenForConditionalGeneration.from_pretrained(source).eval()
    exported = SongGenForConditionalGeneration.from_pretrained(release).eval()
    assert {p.dtype for p in exported.parameters()} == {torch.float32}
    settings = exported.generation_config
    assert (settings.guidance_scale, settings.top_k, settings.duration_s) == (2.5, 40, 0.4)
    assert settings.cpu_quantize == "int8"  # a loading choice the release recommends, saved with it
    inputs = dummy_inputs(original.config, with_voice=False)
    with torch.no_grad():
        expected, actual = original(**inputs).logits, exported(**inputs).logits
    assert (expected - actual).abs().max() < 2e-2 * expected.abs().max()


def test_export_refuses_a_folder_without_a_model(tmp_path, capsys):
    assert _export(tmp_path, tmp_path / "release") == 2
    assert "not a saved SongGen folder" in capsys.readouterr().err
    assert not (tmp_path / "release").exists()
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    assert _export(source, tmp_path / "release", "--generation", "guidance=3") == 2
    assert "Unknown generation setting(s) ['guidance']" in capsys.readouterr().err
    # a default length longer than the longest song is refused before anything is written
    assert _export(source, tmp_path / "release", "--generation", "duration_s=601") == 2
    assert "--generation duration_s must be" in capsys.readouterr().err
    assert not (tmp_path / "release").exists()


def test_export_saves_codebook_temperatures_and_refuses_tracks_the_model_lacks(tmp_path, capsys):
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)  # one track: "mix"
    release = tmp_path / "release"
    assert _export(source, release, "--generation", "codebook_temperatures={vocals: [0.6]}") == 2
    assert "--generation codebook_temperatures names track(s) ['vocals']" in capsys.readouterr().err
    # refused before the model loads
    assert _export(source, release, "--generation", "codebook_temperatures={mix: [0.6, 0]}") == 2
    assert "each temperature must be a number >= 0.001" in capsys.readouterr().err
    assert not release.exists()
    assert _export(source, release, "--generation", "codebook_temperatures={mix: [0.6, 0.8]}") == 0
    saved = json.loads((release / "generation_config.json").read_text())
    assert saved["codebook_temperatures"] == {"mix": [0.6, 0.8]}
    assert SongGenForConditionalGeneration.from_pretrained(release).generation_config.codebook_temperatures == {
        "mix": [0.6, 0.8]
    }


def test_export_refuses_to_write_over_its_own_source(tmp_path, capsys):
    source = save_tiny_checkpoint(tmp_path / "run" / "final", use_voice_encoder=False)
    stored = (source / "model.safetensors").read_bytes()
    assert _export(source, source) == 2  # it looks like an earlier export
    assert "holds SOURCE" in capsys.readouterr().err
    assert _export(source, tmp_path / "run", "--overwrite") == 2  # the folder that holds the source
    assert "holds SOURCE" in capsys.readouterr().err
    assert (source / "model.safetensors").read_bytes() == stored and _stored_dtypes(source) == {"F32"}


def test_export_swaps_in_a_fine_tuned_decoder_and_refuses_another_encoder(tmp_path, capsys):
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    codec = SongGenForConditionalGeneration.from_pretrained(source).audio_encoder
    with torch.no_grad():
        codec.acoustic_decoder.conv1.weight.add_(0.25)  # what a decoder-only fine-tune changes
    codec.save_pretrained(tmp_path / "decoder_tuned")
    assert _export(source, tmp_path / "release", "--codec", str(tmp_path / "decoder_tuned")) == 0
    exported = SongGenForConditionalGeneration.from_pretrained(tmp_path / "release").audio_encoder
    torch.testing.assert_close(
        exported.acoustic_decoder.conv1.weight, codec.acoustic_decoder.conv1.weight, rtol=1e-3, atol=1e-3
    )  # float16 storage

    with torch.no_grad():
        codec.quantizer.quantizers[0].codebook.embed.add_(0.1)  # a different code book: other tokens
    codec.save_pretrained(tmp_path / "other_codec")
    assert _export(source, tmp_path / "release2", "--codec", str(tmp_path / "other_codec")) == 2
    assert "does not encode like the model's codec" in capsys.readouterr().err
    assert not (tmp_path / "release2").exists()


def test_export_accepts_a_new_kind_of_decoder_on_the_same_codes(tmp_path):
    """A DAC decoder replaced by an ISTFT one (codec_decoder.yaml's recipe): same tokens, new audio."""
    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.codec_trainer import build_codec

    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    original = SongGenForConditionalGeneration.from_pretrained(source).audio_encoder
    original.save_pretrained(tmp_path / "codec")
    swap = {
        "acoustic_decoder_type": "istft",
        "istft_decoder_config": {"hidden_size": 16, "intermediate_size": 32, "num_layers": 1},
    }
    codec = build_codec(
        CodecTrainingConfig(train_data="unused", init_from=str(tmp_path / "codec"), replace_decoder=swap)
    )
    codec.save_pretrained(tmp_path / "istft_codec")
    assert (
        _export(source, tmp_path / "release", "--storage-dtype", "float32", "--codec", str(tmp_path / "istft_codec"))
        == 0
    )
    exported = SongGenForConditionalGeneration.from_pretrained(tmp_path / "release").eval()
    assert exported.config.audio_encoder.acoustic_decoder_type == "istft"
    audio = torch.randn(1, 1, 8000) * 0.1
    assert torch.equal(exported.audio_encoder.encode(audio).audio_codes, original.eval().encode(audio).audio_codes)
    codes = original.encode(audio).audio_codes
    with torch.no_grad():
        decoded = exported.audio_encoder.decode(codes).audio_values
    assert decoded.shape == (1, 1, codes.shape[-1] * original.config.hop_length)


def test_export_without_vocal_heads_writes_a_smaller_folder_of_the_same_model(tmp_path):
    source = save_tiny_checkpoint(tmp_path / "final", track_pattern="mixed_pro", use_voice_encoder=False)
    for name, flags in (("with", []), ("without", ["--without-vocal-heads"])):
        assert _export(source, tmp_path / name, *flags) == 0
    with_heads, without = (
        SongGenForConditionalGeneration.from_pretrained(tmp_path / name).eval() for name in ("with", "without")
    )
    assert with_heads.config.decoder.track_pattern == "mixed_pro" and without.config.decoder.track_pattern == "mixed"
    vocal = {key for key in with_heads.state_dict() if key.startswith("decoder.vocal_lm_heads.")}
    assert vocal and set(without.state_dict()) == set(with_heads.state_dict()) - vocal
    assert (tmp_path / "without" / "model.safetensors").stat().st_size < (
        tmp_path / "with" / "model.safetensors"
    ).stat().st_size
    inputs = dummy_inputs(without.config, with_voice=False)
    with torch.no_grad():
        assert torch.equal(with_heads(**inputs).logits, without(**inputs).logits)


def test_export_replaces_only_an_earlier_export_and_never_a_users_folder(tmp_path, capsys):
    """export is a writer like the others: a folder it did not write is refused whatever it holds (a project
    folder with a config.json of its own included), an earlier export needs --overwrite, and a file the user
    added to an earlier export, or changed in it, is named and kept."""
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text("{}")
    (project / "notes.txt").write_text("my notes")
    for flags in ((), ("--overwrite",)):
        assert _export(source, project, *flags) == 2
        assert "--output" in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "notes.txt"]
    assert (project / "notes.txt").read_text() == "my notes"

    release = tmp_path / "release"
    assert _export(source, release) == 0
    assert (release / ".songgen-output.json").is_file()
    assert _export(source, release) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert _export(source, release, "--overwrite") == 0  # an earlier export, exactly as written: replaced
    (release / "mine.txt").write_text("added by hand")
    assert _export(source, release, "--overwrite") == 2
    assert "mine.txt" in capsys.readouterr().err
    assert (release / "mine.txt").read_text() == "added by hand"
    (release / "mine.txt").unlink()
    (release / "config.json").write_text((release / "config.json").read_text() + " ")  # edited by the user
    assert _export(source, release, "--overwrite") == 2
    assert "config.json" in capsys.readouterr().err


def test_export_refuses_card_fields_no_card_has(tmp_path, capsys):
    source = save_tiny_checkpoint(tmp_path / "final", use_voice_encoder=False)
    fields = tmp_path / "card.yaml"
    fields.write_text("model_summary: mine\nlicence: mit\n")
    assert _export(source, tmp_path / "release", "--card-fields", str(fields)) == 2
    err = capsys.readouterr().err
    assert "unknown model-card field(s) ['licence']" in err and "license" in err and "Traceback" not in err
    assert not (tmp_path / "release").exists()
