"""The embedded models' layout: sharded checkpoints whose codec shard is stored once and shared by name."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.conversion.embedded_layout import CODEC_SHARD, INDEX_FILE, MODEL_SHARD, main, split_codec_shard
from songgen_hf.pipelines.adapter_folders import base_record, resolve_adapter_base
from songgen_hf.pipelines.loading import weight_files
from songgen_hf.testing import save_tiny_checkpoint


@pytest.fixture()
def two_models(tmp_path):
    """A mixed-pro and a 2-stream tiny model on the same codec, side by side like the install's assets."""
    first = save_tiny_checkpoint(tmp_path / "assets" / "first", track_pattern="mixed_pro", seed=0)
    second = save_tiny_checkpoint(tmp_path / "assets" / "second", track_pattern="mixed_stream2", seed=1)
    tensors_first = load_file(str(first / "model.safetensors"))
    tensors_second = load_file(str(second / "model.safetensors"))
    codec = {name: tensor for name, tensor in tensors_first.items() if name.startswith("audio_encoder.")}
    assert any(not torch.equal(tensor, tensors_second[name]) for name, tensor in codec.items())  # seeds differ
    save_file(tensors_second | codec, str(second / "model.safetensors"), metadata={"format": "pt"})
    return first, second


def _state(folder):
    return SongGenForConditionalGeneration.from_pretrained(folder).state_dict()


def test_split_folders_load_the_same_weights_and_share_one_codec_file(two_models):
    first, second = two_models
    before = {folder: _state(folder) for folder in two_models}
    assert split_codec_shard(first)["codec_shard"] == CODEC_SHARD
    assert split_codec_shard(second, codec_from=first)["codec_shard"] == "../first/codec.safetensors"
    for folder in two_models:
        assert not (folder / "model.safetensors").exists() and (folder / INDEX_FILE).is_file()
        after = _state(folder)
        assert after.keys() == before[folder].keys()
        assert all(torch.equal(after[name], before[folder][name]) for name in after)
    assert not (second / CODEC_SHARD).exists()  # stored once
    index = json.loads((second / INDEX_FILE).read_text())
    shards = {
        shard: {name for name, s in index["weight_map"].items() if s == shard}
        for shard in set(index["weight_map"].values())
    }
    # every shard holds exactly the tensors its index maps to it: no loader can read one from the wrong model
    for shard, names in shards.items():
        assert set(load_file(str((second / shard).resolve())).keys()) == names
    assert all(name.startswith("audio_encoder.") for name in shards["../first/codec.safetensors"])
    assert sorted(weight_files(second)) == sorted([str(second / MODEL_SHARD), str((first / CODEC_SHARD).resolve())])


def test_a_model_on_another_codec_cannot_share_it(tmp_path):
    first = save_tiny_checkpoint(tmp_path / "first", seed=0)
    other = save_tiny_checkpoint(tmp_path / "other", seed=5)
    split_codec_shard(first)
    with pytest.raises(ValueError, match=r"codec differs from .*first's in \d+ tensors.*without --codec-from"):
        split_codec_shard(other, codec_from=first)
    assert (other / "model.safetensors").is_file() and not (other / INDEX_FILE).exists()  # left as it was
    with pytest.raises(ValueError, match="no model.safetensors to split"):
        split_codec_shard(first)
    with pytest.raises(SystemExit) as exit_info:  # the command line says the same, without a traceback
        main([str(other), "--codec-from", str(first)])
    assert exit_info.value.code == 2


def test_a_lora_adapter_names_an_embedded_model_portably(tmp_path):
    from songgen_hf.pipelines import loading

    folder = loading.embedded_folder("songgen-tiny")
    assert base_record(folder, tmp_path) == {"embedded": "songgen-tiny"}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(folder)}))
    (adapter / "songgen_adapter.json").write_text(json.dumps({"base_model": {"embedded": "songgen-tiny"}}))
    assert resolve_adapter_base(adapter) == str(folder)
    (adapter / "songgen_adapter.json").write_text(json.dumps({"base_model": {"embedded": "songgen-huge"}}))
    with pytest.raises(ValueError, match=r"embedded model 'songgen-huge'.*this install embeds 'songgen-tiny'"):
        resolve_adapter_base(adapter)


def test_a_folder_copied_away_from_the_shared_codec_shard_names_it(two_models, tmp_path):
    from songgen_hf import load_text_to_song_pipeline
    from songgen_hf.pipelines.loading import model_folder_or_default

    first, second = two_models
    split_codec_shard(first)
    split_codec_shard(second, codec_from=first)
    copy = tmp_path / "copied"
    shutil.copytree(second, copy)
    with pytest.raises(ValueError, match=r"missing the weight shard \.\./first/codec\.safetensors.*save_pretrained"):
        load_text_to_song_pipeline(str(copy))
    with pytest.raises(ValueError, match=r"--model .*missing the weight shard"):
        model_folder_or_default(str(copy))
