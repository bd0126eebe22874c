"""The told singer (SongGenSinger): the score it reads, its parallel fill, and generate()'s re-sung
vocal track."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
from songgen_hf.modeling.songgen.generation_songgen import _mix
from songgen_hf.modeling.songgen.vocal_score_songgen import VocalScore
from songgen_hf.modeling.songgen_singer.modeling_songgen_singer import score_units
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

SCORE = VocalScore(("la", "mooo"), (0.1, 0.3), (0.1, 0.04), (60, 72), "en+f2")


def _singer(seed=0, **overrides):
    torch.manual_seed(seed)
    sizes = dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en+m3", "en+f2"], dropout=0.0)
    return SongGenSinger(SongGenSingerConfig(**{**sizes, **overrides})).eval()


def test_the_score_rows_say_what_is_sung_at_each_frame():
    config = _singer().config
    units = score_units(config, SCORE, 30)
    assert units.shape == (config.unit_rows, 30)
    letters = config.letters
    since, pitch, voice = letters, letters + 1, letters + 2  # the rows after the letters
    assert units[0, 5:10].tolist() == [ord("l") + 1] * 5 and units[1, 5:10].tolist() == [ord("a") + 1] * 5
    assert not units[2:letters, 5:10].any() and not units[:, :5].any() and not units[:, 10:15].any()
    assert units[since, 5:10].tolist() == [1, 2, 3, 4, 5]
    assert units[pitch, 5:10].tolist() == [61] * 5 and units[pitch, 15:17].tolist() == [73] * 2
    assert units[voice, 5] == 2 and units[:4, 15].tolist() == [ord(c) + 1 for c in "mooo"]
    assert not units[:, 17:].any()  # 0.3 s + 0.04 s ends inside frame 16
    other = score_units(config, VocalScore(("la",), (0.1,), (0.1,), (60,), "en+f9"), 30)
    assert other[voice, 5] == 0 and other[0, 5] == ord("l") + 1  # a voice it never heard: told none
    assert not score_units(config, None, 30).any()


def test_the_fill_leaves_no_cell_masked_and_a_greedy_fill_repeats():
    singer = _singer()
    units = torch.stack([score_units(singer.config, SCORE, 40)] * 2)
    context = torch.randint(0, 1024, (2, 40), generator=torch.Generator().manual_seed(0))
    codes = singer.fill(context, units)
    assert codes.shape == (2, 3, 40) and int(codes.max()) < 1024 and int(codes.min()) >= 0
    assert torch.equal(codes, singer.fill(context, units))
    drawn = [
        singer.fill(context, units, temperature=1.0, generator=torch.Generator().manual_seed(seed))
        for seed in (0, 0, 1)
    ]
    assert torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[0], drawn[2])
    with pytest.raises(ValueError, match="temperature"):
        singer.fill(context, units, temperature=-1.0)


def test_a_saved_singer_reloads_and_fills_the_same(tmp_path):
    singer = _singer(seed=3)
    singer.save_pretrained(tmp_path)
    again = SongGenSinger.from_pretrained(tmp_path).eval()
    assert again.config.voices == ["en+m3", "en+f2"]
    units = score_units(singer.config, SCORE, 25)[None]
    context = torch.zeros(1, 25, dtype=torch.long)
    assert torch.equal(singer.fill(context, units), again.fill(context, units))


@pytest.mark.parametrize(
    "values",
    [dict(hidden_size=0), dict(hidden_size=65, num_attention_heads=2), dict(dropout=1.5), dict(voices=["a", "a"])],
)
def test_a_singer_config_that_cannot_work_is_refused(values):
    with pytest.raises(ValueError):
        SongGenSingerConfig(**values)


def _dual_track(pattern="parallel_stream2"):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def _generate(model, **kwargs):
    inputs = dummy_inputs(model.config, batch_size=2, with_labels=False, seed=0)
    inputs.pop("decoder_input_ids")
    torch.manual_seed(1)
    return model.generate(
        **inputs, duration_s=0.6, min_duration_s=0.6, do_sample=True, return_dict_in_generate=True, **kwargs
    )


def test_generate_resings_the_vocal_track_over_the_accompaniment_it_wrote():
    model, singer = _dual_track(), _singer()
    plain = _generate(model)
    sung = _generate(model, singer=singer, vocal_scores=[SCORE, None])
    assert torch.equal(sung.codes["accompaniment"], plain.codes["accompaniment"])  # the decoder's draws are untouched
    vocals = sung.codes["vocals"]
    assert vocals.shape[1] == singer.config.num_codebooks
    frames = int(sung.frame_lengths[0])
    context = plain.codes["accompaniment"][:1, 0, :].clamp(0, 1023)
    units = score_units(singer.config, SCORE, vocals.shape[-1])[None]
    padding = torch.arange(vocals.shape[-1])[None] >= frames
    assert torch.equal(vocals[:1], singer.fill(context, units, padding=padding))
    # no score: the decoder's own coarsest codebooks
    assert torch.equal(vocals[1], plain.codes["vocals"][1, : singer.config.num_codebooks])
    decoded = model.audio_encoder.decode(vocals[:1, :, :frames]).audio_values
    gain = model.config.stem_gains(model.pattern)["vocals"]
    assert torch.allclose(sung.vocals[:1, :, : decoded.shape[-1]], decoded * gain, atol=1e-5)
    assert torch.allclose(sung.audio, _mix(sung.accompaniment, sung.vocals), atol=1e-6)  # the song is their mix


def test_singing_arguments_that_cannot_work_are_refused():
    model, singer = _dual_track(), _singer()
    with pytest.raises(ValueError, match="go together"):
        _generate(model, singer=singer)
    with pytest.raises(ValueError, match="go together"):
        _generate(model, vocal_scores=[SCORE, SCORE])
    with pytest.raises(ValueError, match="one per song"):
        _generate(model, singer=singer, vocal_scores=[SCORE])
    with pytest.raises(ValueError, match="must be a SongGenSinger"):
        _generate(model, singer="my singer", vocal_scores=[SCORE, SCORE])
    with pytest.raises(ValueError, match="needs syllables"):
        _generate(model, singer=singer, vocal_scores=["la la", None])
    with pytest.raises(ValueError, match="dual-track"):
        _generate(_dual_track("mixed_pro"), singer=singer, vocal_scores=[SCORE, SCORE])
    with pytest.raises(ValueError, match="codebook_size"):
        _generate(model, singer=_singer(codebook_size=512), vocal_scores=[SCORE, SCORE])


def test_a_stream_cannot_play_a_vocal_track_sung_after_the_decoder():
    from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress
    from songgen_hf.pipelines.streaming import SongGenStreamer

    model, singer = _dual_track(), _singer()
    with pytest.raises(ValueError, match="stream"):
        _generate(model, singer=singer, vocal_scores=[SCORE, None], streamer=SongGenStreamer(model))
    # a progress bar only counts the decoder's steps: it may watch a sung song
    _generate(model, singer=singer, vocal_scores=[SCORE, None], streamer=GenerationProgress(total=100, disable=True))
