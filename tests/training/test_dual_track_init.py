"""A trained mix model continued as a dual-track one (accompaniment + vocals in the same streams)."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.testing import dummy_inputs, tiny_songgen_config
from songgen_hf.training.resgen_trainer import ResGenTrainer
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_trainer import train_songgen
from songgen_hf.training.track_layouts import as_dual_track, with_vocal_heads

from .test_vocal_heads import _stage, _start


def _model(pattern):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def _logits(model, conditions, rows):
    with torch.no_grad():
        return model(**conditions, decoder_input_ids=rows).logits


@pytest.mark.parametrize("mix, dual", [("mixed", "parallel_std"), ("mixed_stream2", "parallel_stream2")])
def test_the_accompaniment_rows_start_as_the_mix_model(mix, dual):
    """Zero vocal embeddings: whatever the vocal codes, the accompaniment rows predict what the mix model
    predicted for the same codes as a mix; the vocal heads start as the mix heads."""
    model = _model(mix)
    new = as_dual_track(model)
    assert new.config.decoder.track_pattern == dual and model.config.decoder.track_pattern == mix  # a copy
    rows = model.pattern.num_rows
    conditions = dummy_inputs(model.config, batch_size=2, with_labels=False, seed=0)
    mix_rows = conditions.pop("decoder_input_ids")  # (batch * rows, length)
    batch = mix_rows.shape[0] // rows
    vocal_rows = torch.randint(0, 1024, mix_rows.shape, generator=torch.Generator().manual_seed(1))
    both = torch.cat([mix_rows.view(batch, rows, -1), vocal_rows.view(batch, rows, -1)], dim=1).flatten(0, 1)
    old_logits = _logits(model, conditions, mix_rows).view(
        batch, rows, *_logits(model, conditions, mix_rows).shape[-2:]
    )
    new_logits = _logits(new, conditions, both).view(batch, 2 * rows, *old_logits.shape[-2:])
    torch.testing.assert_close(new_logits[:, :rows], old_logits)
    torch.testing.assert_close(new_logits[:, rows:], old_logits)  # vocal heads = mix heads, same state
    assert as_dual_track(new) is new


def test_mixed_pro_vocal_heads_become_the_vocal_rows_heads():
    pro = with_vocal_heads(_model("mixed_stream2"))
    with torch.no_grad():
        for head in pro.decoder.vocal_lm_heads:
            head.weight.normal_()
    new = as_dual_track(pro)
    rows = pro.pattern.num_rows
    assert new.config.decoder.track_pattern == "parallel_stream2" and not hasattr(new.decoder, "vocal_lm_heads")
    for row in range(rows):
        assert torch.equal(new.decoder.lm_heads[rows + row].weight, pro.decoder.vocal_lm_heads[row].weight)
        assert torch.equal(new.decoder.lm_heads[row].weight, pro.decoder.lm_heads[row].weight)
        assert not new.decoder.model.embed_tokens[rows + row].weight.any()


def test_a_layout_without_a_dual_track_counterpart_is_refused():
    with pytest.raises(
        ValueError, match="'mixed_stream4' model cannot become dual-track.*mixed_stream2 -> parallel_stream2"
    ):
        as_dual_track(_model("mixed_stream4"))


def test_a_stage_continues_a_mix_model_as_dual_track(assets, tmp_path):
    start = _start(tmp_path, "mixed_stream2")
    final = train_songgen(_stage(assets, start, tmp_path / "dual", dual_track=True, stem_gains_db={"vocals": 1.6}))
    trained = SongGenForConditionalGeneration.from_pretrained(final)
    assert trained.config.decoder.track_pattern == "parallel_stream2"
    assert trained.config.stem_gains_db == {"vocals": 1.6}
    rows = trained.pattern.num_rows // 2
    assert all(trained.decoder.model.embed_tokens[rows + row].weight.any() for row in range(rows))  # they learnt
    conditions = dummy_inputs(trained.config, batch_size=1, with_labels=False, seed=0)
    conditions.pop("decoder_input_ids")
    out = trained.eval().generate(**conditions, duration_s=0.32, do_sample=True, return_dict_in_generate=True)
    assert (
        set(out.codes) == {"accompaniment", "vocals"} and out.vocals.shape == out.accompaniment.shape == out.audio.shape
    )


def test_dual_track_options_are_refused_where_they_mean_nothing():
    with pytest.raises(ValueError, match="dual_track continues a mix model from `init_from`"):
        SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, dual_track=True)
    with pytest.raises(ValueError, match="dual_track and vocal_heads both change"):
        SongGenTrainingConfig(train_data="x", init_from="y", dual_track=True, vocal_heads=True)
    with pytest.raises(ValueError, match=r"`dual_track` .* must be true/false or null"):
        SongGenTrainingConfig(train_data="x", init_from="y", dual_track="yes")
    with pytest.raises(ValueError, match="ResGen models the mix"):
        ResGenTrainer(SongGenTrainingConfig(train_data="x", init_from="y", dual_track=True))


def test_stem_gains_are_refused_for_a_model_that_sums_no_stems(assets, tmp_path):
    start = _start(tmp_path, "mixed_stream2")
    with pytest.raises(ValueError, match="'mixed_stream2' model decodes one track and sums no stems"):
        train_songgen(_stage(assets, start, tmp_path / "mix", stem_gains_db={"vocals": 1.6}))
    with pytest.raises(ValueError, match="stem_gains_db are SongGen options.*ResGen models the mix"):
        ResGenTrainer(SongGenTrainingConfig(train_data="x", init_from="y", stem_gains_db={"vocals": 1.6}))
