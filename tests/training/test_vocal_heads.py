"""Mixed pro's vocal heads added to a trained model for a further stage, and dropped again for a release."""

import json

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.testing import dummy_inputs, tiny_songgen_config
from songgen_hf.training.resgen_trainer import ResGenTrainer
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_trainer import LOG_FILE, SongGenTrainer, train_songgen
from songgen_hf.training.track_layouts import with_vocal_heads, without_vocal_heads

from .tiny_stage import next_stage_config, save_tiny_start


def _model(pattern):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def _song(model, conditions):
    torch.manual_seed(3)
    out = model.generate(
        **conditions, duration_s=0.32, do_sample=True, top_k=50, return_dict_in_generate=True, decode_audio=False
    )
    return out.codes["mix"]


@pytest.mark.parametrize("plain, pro", [("mixed", "mixed_pro"), ("mixed_stream2", "mixed_pro_stream2")])
def test_vocal_heads_start_as_the_mix_heads_and_never_change_a_song(plain, pro):
    model = _model(plain)
    added = with_vocal_heads(model)
    assert added.config.decoder.track_pattern == pro and model.config.decoder.track_pattern == plain  # a copy
    heads = added.decoder
    assert len(heads.vocal_lm_heads) == len(heads.lm_heads) == model.pattern.num_rows
    assert all(torch.equal(v.weight, m.weight) for v, m in zip(heads.vocal_lm_heads, heads.lm_heads))
    assert all(torch.equal(value, added.state_dict()[key]) for key, value in model.state_dict().items())
    assert with_vocal_heads(added) is added

    conditions = dummy_inputs(model.config, batch_size=2, with_labels=False, seed=0)
    conditions.pop("decoder_input_ids")
    with torch.no_grad():
        for head in added.decoder.vocal_lm_heads:  # whatever they learnt, generation does not read them
            head.weight.normal_()
    dropped = without_vocal_heads(added)
    assert dropped.config.decoder.track_pattern == plain and not hasattr(dropped.decoder, "vocal_lm_heads")
    assert torch.equal(_song(model, conditions), _song(added, conditions))
    assert torch.equal(_song(model, conditions), _song(dropped, conditions))
    assert without_vocal_heads(dropped) is dropped


def test_a_layout_without_a_vocal_head_variant_is_refused():
    with pytest.raises(
        ValueError, match="'interleaving_A_V' model cannot get vocal heads.*mixed_stream2 -> mixed_pro_stream2"
    ):
        with_vocal_heads(_model("interleaving_A_V"))


def _start(tmp_path, pattern):
    return save_tiny_start(tmp_path / "start", pattern, use_voice_encoder=False)


def _stage(assets, init_from, output_dir, **options):
    return next_stage_config(assets, init_from, output_dir, use_voice=False, **options)


def test_a_stage_adds_vocal_heads_trains_them_and_a_later_stage_drops_them(assets, tmp_path):
    start = _start(tmp_path, "mixed_stream2")
    final = train_songgen(_stage(assets, start, tmp_path / "pro", vocal_heads=True, vocal_loss_weight=0.5))
    trained = SongGenForConditionalGeneration.from_pretrained(final)
    assert trained.config.decoder.track_pattern == "mixed_pro_stream2" and trained.config.vocal_loss_weight == 0.5
    logged = [json.loads(line) for line in (tmp_path / "pro" / LOG_FILE).read_text().splitlines()]
    assert [r["vocal_loss"] > 0 for r in logged if "loss" in r] == [True, True]
    heads = trained.decoder
    assert any(not torch.equal(v.weight, m.weight) for v, m in zip(heads.vocal_lm_heads, heads.lm_heads))

    final = train_songgen(_stage(assets, final, tmp_path / "plain", vocal_heads=False))
    again = SongGenForConditionalGeneration.from_pretrained(final)
    assert again.config.decoder.track_pattern == "mixed_stream2" and not hasattr(again.decoder, "vocal_lm_heads")


def test_vocal_head_options_are_refused_where_they_mean_nothing(assets, tmp_path):
    start = _start(tmp_path, "mixed_stream2")
    with pytest.raises(ValueError, match="has none; set vocal_heads: true"):
        SongGenTrainer(_stage(assets, start, tmp_path / "a", vocal_loss_weight=0.3))
    with pytest.raises(ValueError, match="vocal_heads changes a model from `init_from`"):
        SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, vocal_heads=True)
    with pytest.raises(ValueError, match=r"`vocal_heads` .* must be true/false or null"):
        SongGenTrainingConfig(train_data="x", init_from="y", vocal_heads="yes")
    with pytest.raises(ValueError, match=r"`vocal_loss_weight` .* must be >= 0"):
        SongGenTrainingConfig(train_data="x", init_from="y", vocal_loss_weight=-1.0)
    with pytest.raises(ValueError, match="ResGen has none"):
        ResGenTrainer(SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, vocal_loss_weight=0.3))


def test_a_stage_can_start_from_the_embedded_default_by_name(tmp_path, monkeypatch):
    """``init_from: songgen-tiny`` is the shipped default (as for LoRA); a local folder of that name wins."""
    from songgen_hf.pipelines import loading
    from songgen_hf.training.songgen_trainer import build_songgen

    monkeypatch.chdir(tmp_path)
    config = SongGenTrainingConfig(train_data="x", init_from="songgen-tiny")
    assert config.init_from == str(loading.default_model_path())
    model = build_songgen(config)  # v12, dual-track: stored in float16, trained in float32
    assert model.config.decoder.track_pattern == "parallel_stream2" and {p.dtype for p in model.parameters()} == {
        torch.float32
    }
    with pytest.raises(ValueError, match="a 'parallel_stream2' model cannot get vocal heads"):  # it has a vocal track
        with_vocal_heads(model)
    (tmp_path / "songgen-tiny").mkdir()
    assert SongGenTrainingConfig(train_data="x", init_from="songgen-tiny").init_from == "songgen-tiny"
    with pytest.raises(ValueError, match="not a folder; pass the previous stage's final model or an embedded"):
        build_songgen(SongGenTrainingConfig(train_data="x", init_from="no-such-model"))
