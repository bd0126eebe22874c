"""Nothing a model folder holds is lost: `songgen export` of a LoRA adapter keeps its base's sub-models (the told
singer) and generation settings (cpu_quantize), so the release sings the adapter's song for a seed; `songgen info`
lists the sub-models."""

import json

import numpy as np
import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main as songgen
from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.pipelines.loading import sub_model_folders
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, save_adapter

SUNG = {
    "description": "a pop song in C major at 120 bpm with a female voice",
    "lyrics": "we run across the night\nand sing until the light",
}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """A half-precision release with a singer and int8 heads recommended for CPUs, and a LoRA adapter over it."""
    root = tmp_path_factory.mktemp("adapter_export")
    final = save_tiny_checkpoint(root / "final", "parallel_stream2", use_voice_encoder=False)
    torch.manual_seed(0)
    singer_config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en-us+f2"])
    SongGenSinger(singer_config).save_pretrained(root / "singer_run")
    base = root / "base"
    assert (
        songgen(
            [
                "export",
                str(final),
                str(base),
                "--no-card",
                "--singer",
                str(root / "singer_run"),
                "--generation",
                "cpu_quantize=int8-heads",
            ]
        )
        == 0
    )
    peft_model = apply_lora(
        SongGenForConditionalGeneration.from_pretrained(base).eval(), lora_config_for_songgen(r=4, alpha=8, dropout=0.0)
    )
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".lora_B." in name:
                parameter.normal_(0.0, 0.2)
    save_adapter(peft_model, root / "adapter", base_model_path=base)
    return root


def test_the_export_of_an_adapter_keeps_the_singer_and_settings_and_sings_the_same_song(adapter, capsys):
    base, source, release = adapter / "base", adapter / "adapter", adapter / "release"
    assert set(sub_model_folders(source)) == {"singer"}  # an adapter's sub-models are its base's
    assert songgen(["export", str(source), str(release), "--no-card"]) == 0
    assert set(sub_model_folders(release)) == {"singer"}
    settings = json.loads((release / "generation_config.json").read_text())
    assert settings["cpu_quantize"] == json.loads((base / "generation_config.json").read_text())["cpu_quantize"]
    songs = []
    for folder in (source, release):
        pipe = load_text_to_song_pipeline(str(folder))
        assert isinstance(pipe.singer, SongGenSinger)
        assert type(pipe.model.decoder.lm_heads[0]).__name__ == "Int8Linear"  # the base's cpu_quantize, both ways
        songs.append(pipe(SUNG, duration_s=1.0, min_duration_s=1.0, seed=3))
    np.testing.assert_array_equal(songs[0]["audio"], songs[1]["audio"])
    np.testing.assert_array_equal(songs[0]["vocals"], songs[1]["vocals"])

    capsys.readouterr()
    assert songgen(["info", str(release), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sub_models"]["singer"]["model_type"] == "songgen_singer"
    assert info["sub_models"]["singer"]["weights"]["files"] == ["model.safetensors"]


def test_an_unknown_sub_model_is_copied_as_it_is(adapter, tmp_path):
    source = adapter / "base_with_extra"
    import shutil

    shutil.copytree(adapter / "base", source)
    (source / "critic").mkdir()
    (source / "critic" / "config.json").write_text('{"model_type": "something_new"}')
    (source / "critic" / "weights.bin").write_bytes(b"\x00\x01")
    assert songgen(["export", str(source), str(tmp_path / "release"), "--no-card"]) == 0
    assert set(sub_model_folders(tmp_path / "release")) == {"critic", "singer"}
    assert (tmp_path / "release" / "critic" / "weights.bin").read_bytes() == b"\x00\x01"


def test_songgen_info_lists_the_embedded_models_singer(capsys):
    assert songgen(["info", "songgen-tiny"]) == 0
    out = capsys.readouterr().out
    assert "sub_models:\n  singer:\n    model_type: songgen_singer" in out
