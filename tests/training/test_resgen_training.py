"""ResGen on the SongGen training stack: the loss falls on a tiny corpus, the final folder is a
ResGenPipeline folder that generates, and a resumed run continues bit for bit."""

import json

import numpy as np
import pytest
import torch

from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline
from songgen_hf.training.resgen_trainer import train_resgen
from songgen_hf.training.songgen_trainer import LOG_FILE

from .tiny_stage import tiny_stage_config


def _config(assets, output_dir, **overrides):
    options = dict(
        model={"preset": "tiny"}, codec=None, max_steps=12, max_frames=25, mixed_precision="no", lr_scheduler="constant"
    )
    return tiny_stage_config(assets, output_dir, **{**options, **overrides})


def _log(folder):
    return [json.loads(line) for line in (folder / LOG_FILE).read_text().splitlines() if '"loss"' in line]


def test_loss_falls_and_the_final_folder_generates(assets, tmp_path):
    final = train_resgen(_config(assets, tmp_path / "run"))
    losses = [record["loss"] for record in _log(tmp_path / "run")]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    pipe = ResGenPipeline.from_pretrained(final)
    pipe.set_progress_bar_config(disable=True)
    audio = pipe(
        "a calm song", num_inference_steps=2, duration_s=0.3, generator=torch.Generator().manual_seed(0)
    ).audios
    assert audio.shape == (1, 1, 4800) and np.isfinite(audio).all()


def test_resume_continues_bit_for_bit(assets, tmp_path):
    train_resgen(_config(assets, tmp_path / "full", max_steps=4, save_steps=2))
    train_resgen(_config(assets, tmp_path / "half", max_steps=2, save_steps=2))
    train_resgen(_config(assets, tmp_path / "half", max_steps=4, save_steps=2), resume=True)
    full = [r["loss"] for r in _log(tmp_path / "full")]
    resumed = [r["loss"] for r in _log(tmp_path / "half")]
    assert resumed[-2:] == full[-2:]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codec": "some/codec"}, "the 'tiny' preset brings its own test codec"),
        ({"init_from": "no/such/folder", "model": None}, "is not a folder"),
        ({"model": {"preset": "huge"}}, "Unknown model preset 'huge'"),
    ],
)
def test_the_builder_refuses_what_songgen_refuses(assets, tmp_path, overrides, message):
    """ResGen is built by the same code as SongGen, so a config SongGen's builder refuses is refused here too,
    before any training starts."""
    from songgen_hf.training.resgen_trainer import build_resgen

    with pytest.raises(ValueError, match=message):
        build_resgen(_config(assets, tmp_path / "run", **overrides))


def test_warm_start_copies_a_songgens_conditioning_and_decoder_layers(assets, tmp_path):
    """``warm_start_from``: the SongGen's encoders, projections and decoder layer i land in the fresh ResGen by
    name; ResGen's own parts (input projection, mask embedding, mixture head) keep their initialisation."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint
    from songgen_hf.training.resgen_trainer import build_resgen

    songgen_folder = save_tiny_checkpoint(tmp_path / "songgen", seed=7, use_voice_encoder=False)
    songgen = SongGenForConditionalGeneration.from_pretrained(songgen_folder).state_dict()
    torch.manual_seed(0)
    fresh = build_resgen(_config(assets, tmp_path / "a")).state_dict()
    torch.manual_seed(0)
    warm = build_resgen(_config(assets, tmp_path / "b", warm_start_from=str(songgen_folder))).state_dict()

    shared = ["text_encoder.shared.weight", "lyrics_encoder.layers.1.fc2.weight", "enc_to_dec_proj.weight"]
    shared = [name for name in shared if name in warm] + [n for n in warm if n == "lyrics_to_dec_proj.weight"]
    assert len(shared) >= 3
    for name in shared:
        assert torch.equal(warm[name], songgen[name]) and not torch.equal(fresh[name], songgen[name]), name
    layer = [n for n in warm if n.startswith("decoder.layers.1.")]
    assert layer and all(torch.equal(warm[n], songgen["decoder.model." + n[len("decoder.") :]]) for n in layer)
    for name in ("decoder.input_proj.weight", "decoder.mask_embedding.weight", "decoder.head.proj.weight"):
        assert torch.equal(warm[name], fresh[name]), name
    codec = [n for n in warm if n.startswith("audio_encoder.")]
    assert all(torch.equal(warm[n], fresh[n]) for n in codec)  # the codec is the `codec` option's business


def test_warm_start_reports_and_refuses_what_it_cannot_use(assets, tmp_path):
    from songgen_hf import ResGenForConditionalGeneration, SongGenForConditionalGeneration
    from songgen_hf.modeling.resgen.warm_start import warm_start_from_songgen
    from songgen_hf.testing import save_tiny_checkpoint, tiny_resgen_config
    from songgen_hf.training.resgen_trainer import build_resgen
    from songgen_hf.training.songgen_trainer import SongGenTrainer

    songgen_folder = save_tiny_checkpoint(tmp_path / "songgen", use_voice_encoder=False)
    songgen = SongGenForConditionalGeneration.from_pretrained(songgen_folder).state_dict()
    wider = ResGenForConditionalGeneration(tiny_resgen_config(decoder={"hidden_size": 48}))
    report = warm_start_from_songgen(wider, songgen)
    assert any(name.startswith("text_encoder.") for name in report["copied"])  # the conditioning still fits
    assert not any(name.startswith("decoder.layers.") for name in report["copied"])
    assert any(name.startswith("decoder.layers.") for name in report["shape_mismatch"])
    with pytest.raises(ValueError, match="no SongGen weight fits"):
        warm_start_from_songgen(wider, {name: t for name, t in songgen.items() if name.startswith("decoder.lm_heads.")})

    resgen_folder = tmp_path / "resgen"
    train_resgen(_config(assets, resgen_folder, max_steps=1))
    with pytest.raises(ValueError, match="warm_start_from"):
        build_resgen(_config(assets, tmp_path / "a", warm_start_from=str(resgen_folder / "final")))
    with pytest.raises(ValueError, match="init_from"):
        _config(assets, tmp_path / "b", model={}, init_from=str(songgen_folder), warm_start_from=str(songgen_folder))
    with pytest.raises(ValueError, match="ResGen training option"):
        SongGenTrainer._build_model(None, _config(assets, tmp_path / "c", warm_start_from=str(songgen_folder)))


def test_depth_means_start_at_the_training_codes_mean_and_resume_exactly(assets, tmp_path):
    import datasets

    from songgen_hf import ResGenForConditionalGeneration

    model = {"preset": "tiny", "decoder": {"depth_means": True, "attention_bias": "alibi", "input_scale_init": True}}
    train_resgen(_config(assets, tmp_path / "zero", model=model, max_steps=1, learning_rate=1e-12))
    start = ResGenForConditionalGeneration.from_pretrained(tmp_path / "zero" / "final")
    rows = datasets.load_from_disk(str(assets / "encoded"))
    codes = torch.cat([torch.as_tensor(np.asarray(r)[:4]) for r in rows["codes_mix"]], dim=1)
    expected = torch.stack([start.codebooks()[d][codes[d]].mean(0) for d in range(4)])
    assert torch.allclose(start.decoder.depth_means, expected, atol=1e-5)

    train_resgen(_config(assets, tmp_path / "full", model=model, max_steps=4, save_steps=2))
    train_resgen(_config(assets, tmp_path / "half", model=model, max_steps=2, save_steps=2))
    train_resgen(_config(assets, tmp_path / "half", model=model, max_steps=4, save_steps=2), resume=True)
    assert [r["loss"] for r in _log(tmp_path / "half")][-2:] == [r["loss"] for r in _log(tmp_path / "full")][-2:]


def test_nll_beta_continues_a_trained_model_with_the_beta_nll_loss(assets, tmp_path):
    """``nll_beta`` (a training option) is written into the model it trains, including one from ``init_from``,
    so a second stage can change the loss; the saved model keeps it.  SongGen's trainer refuses it."""
    from songgen_hf import ResGenForConditionalGeneration
    from songgen_hf.training.songgen_trainer import SongGenTrainer

    first = tmp_path / "first"
    train_resgen(_config(assets, first, max_steps=2))
    assert ResGenForConditionalGeneration.from_pretrained(first / "final").config.nll_beta == 0.0
    second = tmp_path / "second"
    train_resgen(_config(assets, second, model={}, init_from=str(first / "final"), nll_beta=0.5, max_steps=2))
    assert ResGenForConditionalGeneration.from_pretrained(second / "final").config.nll_beta == 0.5
    assert all(np.isfinite(row["loss"]) for row in _log(second))
    with pytest.raises(ValueError, match="nll_beta must be a number in \\[0, 1\\]"):
        _config(assets, tmp_path / "c", nll_beta=2.0)
    with pytest.raises(ValueError, match="nll_beta is a ResGen loss option"):
        SongGenTrainer._build_model(None, _config(assets, tmp_path / "d", nll_beta=0.5))
