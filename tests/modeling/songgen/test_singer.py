"""The told singer (SongGenSinger): the score it reads, its parallel fill, and generate()'s re-sung
vocal track."""

import math

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


def _fill_pass_by_pass(singer, context, units, temperature=0.0, generator=None, known=None, padding=None):
    """The fill with every pass's input computed whole by ``forward``: what the fill's cached inputs must equal."""
    iterations, (batch, frames) = singer.config.fill_iterations, context.shape
    codes = torch.full((batch, singer.config.num_codebooks, frames), singer.mask_id) if known is None else known.clone()
    for level in range(singer.config.num_codebooks):
        open_at_start = (codes[:, level] == singer.mask_id).sum(-1).tolist()
        for step in range(iterations):
            with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=singer.fills_in_bfloat16("cpu")):
                logits = singer(codes, context, units, level, padding).float()
            if temperature == 0:
                confidence, choice = logits.softmax(-1).max(-1)
            else:
                top = logits.topk(50, dim=-1)
                weights = (top.values / temperature).softmax(-1)
                pick = torch.multinomial(weights.flatten(0, 1), 1, generator=generator).view(batch, frames, 1)
                choice, confidence = top.indices.gather(-1, pick)[..., 0], weights.gather(-1, pick)[..., 0]
            masked = codes[:, level] == singer.mask_id
            for row in range(batch):
                if int(masked[row].sum()):
                    keep = int(open_at_start[row] * math.cos(math.pi / 2 * (step + 1) / iterations))
                    ranked = torch.where(masked[row], confidence[row], -1.0)
                    chosen = ranked.topk(max(1, int(masked[row].sum()) - keep)).indices
                    codes[row, level, chosen] = choice[row, chosen]
    return codes


@pytest.mark.parametrize("fill_dtype", ["float32", "bfloat16"])
def test_the_fill_reuses_what_does_not_change_between_passes_and_sings_the_same_codes(fill_dtype):
    singer = _singer(num_hidden_layers=2, num_attention_heads=2, fill_dtype=fill_dtype)
    generator = torch.Generator().manual_seed(5)
    context = torch.randint(0, 1024, (2, 37), generator=generator)
    units = torch.stack([score_units(singer.config, SCORE, 37), torch.randint(0, 9, (singer.config.unit_rows, 37))])
    known = torch.full((2, 3, 37), singer.mask_id)
    known[..., :6] = torch.randint(0, 1024, (2, 3, 6), generator=generator)
    padding = torch.arange(37)[None] >= torch.tensor([[37], [30]])
    assert torch.equal(singer.fill(context, units), _fill_pass_by_pass(singer, context, units))
    assert torch.equal(
        singer.fill(context, units, known=known, padding=padding),
        _fill_pass_by_pass(singer, context, units, known=known, padding=padding),
    )
    drawn = singer.fill(context, units, temperature=1.0, generator=torch.Generator().manual_seed(2), known=known)
    again = _fill_pass_by_pass(singer, context, units, 1.0, torch.Generator().manual_seed(2), known=known)
    assert torch.equal(drawn, again)


@pytest.mark.parametrize("fill_dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("window", [None, (16, 4)])
def test_a_song_sung_alone_gets_the_codes_it_gets_beside_songs_of_other_lengths(window, fill_dtype):
    singer = _singer(fill_dtype=fill_dtype)
    other = VocalScore(("oh", "yeah"), (0.0, 0.4), (0.3, 0.3), (64, 67), "en+m3")
    # two songs of 40 frames with scores: sung together in one batch, each equal to itself sung alone
    scores, lengths = [SCORE, other, None, other], torch.tensor([40, 25, 40, 40])
    generator = torch.Generator().manual_seed(1)
    codes = {name: torch.randint(0, 1024, (4, 4, 40), generator=generator) for name in ("accompaniment", "vocals")}
    seen = []
    together = singer.sing(scores, codes, {"vocals": lengths}, window=window, progress=lambda *at: seen.append(at))
    for row, score in enumerate(scores):
        end = int(lengths[row])
        alone = singer.sing(
            [score],
            {name: track[row : row + 1, :, :end] for name, track in codes.items()},
            {"vocals": lengths[row : row + 1]},
            window=window,
        )
        assert torch.equal(together[row, :, :end], alone[0])  # bit for bit
        # past a song's end (the codec never decodes it) and in a song without a score: the decoder's codes
        assert torch.equal(together[row, :, end:], codes["vocals"][row, :3, end:])
    assert torch.equal(together[2], codes["vocals"][2, :3])
    # a group per length, each sung in its own windows: 40 frames in 3 windows of 16, 25 frames in 2
    expected = 2 if window is None else 5
    assert seen == [(index, expected) for index in range(1, expected + 1)]


def test_a_saved_singer_reloads_and_fills_the_same(tmp_path):
    singer = _singer(seed=3)
    singer.save_pretrained(tmp_path)
    again = SongGenSinger.from_pretrained(tmp_path).eval()
    assert again.config.voices == ["en+m3", "en+f2"]
    units = score_units(singer.config, SCORE, 25)[None]
    context = torch.zeros(1, 25, dtype=torch.long)
    assert torch.equal(singer.fill(context, units), again.fill(context, units))


def test_inference_runs_the_layers_as_their_own_forward_does():
    singer = _singer(num_hidden_layers=2, num_attention_heads=2)
    hidden = torch.randn(2, 23, singer.config.hidden_size, generator=torch.Generator().manual_seed(4))
    padding = torch.arange(23)[None] >= torch.tensor([[23], [17]])
    with torch.no_grad():
        ours = singer._logits(hidden, 1, padding)
        layers = singer.heads[1](singer.norm(singer.body(hidden, src_key_padding_mask=padding)))
    torch.testing.assert_close(ours[0], layers[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[1, :17], layers[1, :17], rtol=1e-4, atol=1e-4)  # the padded frames: unread


def test_a_singer_fills_in_bfloat16_only_when_its_config_asks_and_the_device_computes_it():
    assert not _singer().fills_in_bfloat16("cpu")
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert _singer(fill_dtype="bfloat16").fills_in_bfloat16("cpu") == native
    assert not _singer(fill_dtype="bfloat16").fills_in_bfloat16("meta")


@pytest.mark.parametrize(
    "values",
    [
        dict(hidden_size=0),
        dict(hidden_size=65, num_attention_heads=2),
        dict(dropout=1.5),
        dict(voices=["a", "a"]),
        dict(fill_dtype="float16"),
    ],
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
    units = score_units(singer.config, SCORE, frames)[None]
    assert torch.equal(vocals[:1, :, :frames], singer.fill(context[:, :frames], units))  # sung to its end, no further
    assert torch.equal(vocals[0, :, frames:], plain.codes["vocals"][0, : singer.config.num_codebooks, frames:])
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
