"""Songs longer than one window: generate() continues window after window from the previous one's codes."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import SongGenDecoderConfig
from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S, check_generation_arguments
from songgen_hf.modeling.songgen.long_song_songgen import LongSongPlan
from songgen_hf.modeling.songgen.windows_songgen import max_duration_s, song_windows
from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config

# 0.5 s at 50 Hz = 25 frames: windows (0, 15) and (10, 25), the second continuing from the first one's last 5 frames
LONG = dict(duration_s=0.5, window_s=0.3, context_s=0.1)
FRAMES, WINDOW, CONTEXT = 25, 15, 5


def _model(pattern):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def test_windows_tile_the_song_with_their_contexts():
    plan = LongSongPlan(total_frames=FRAMES, window_frames=WINDOW, context_frames=CONTEXT, min_frames=None)
    spans = plan.window_spans()
    assert spans == [(0, 15), (10, 25)]
    spans = LongSongPlan(total_frames=40, window_frames=WINDOW, context_frames=CONTEXT, min_frames=None).window_spans()
    assert spans == [(0, 15), (10, 25), (20, 35), (30, 40)]
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end - start == CONTEXT


@pytest.mark.parametrize("pattern", ["mixed", "interleaving_A_V"])
def test_a_three_window_song_is_one_continuous_code_sequence(pattern):
    model = _model(pattern)
    conditions = dummy_generation_inputs(model)
    settings = dict(LONG, duration_s=0.6, do_sample=True, top_k=50, return_dict_in_generate=True)
    torch.manual_seed(7)
    out = model.generate(**conditions, **settings)
    frames = 30  # windows (0, 15), (10, 25), (20, 30)
    assert out.window_starts.tolist() == [0, 10, 20]
    assert out.frame_lengths.tolist() == [frames, frames]  # duration_s is exact
    assert out.audio.shape == (2, 1, frames * model.config.audio_encoder.hop_length)
    assert out.audio.abs().sum() > 0
    for name in model.pattern.track_names:
        song = out.codes[name]
        assert song.shape == (2, model.config.decoder.num_codebooks, frames)
        windows = [window[name] for window in out.window_codes]
        assert [w.shape[-1] for w in windows] == [15, 15, 10]
        for previous, window in zip(windows, windows[1:]):
            # each window starts from the previous one's last frames, every track of the pattern
            assert torch.equal(window[..., :CONTEXT], previous[..., -CONTEXT:])
        # the song is the windows' new frames, in order
        for window, start in zip(windows, out.window_starts.tolist()):
            assert torch.equal(song[..., start : start + window.shape[-1]], window)
    if model.pattern.num_tracks == 2:
        assert out.vocals.shape == out.accompaniment.shape == out.audio.shape

    # the same seed gives the same song; another seed another one
    torch.manual_seed(7)
    again = model.generate(**conditions, **settings, decode_audio=False)
    torch.manual_seed(8)
    other = model.generate(**conditions, **settings, decode_audio=False)
    for name in model.pattern.track_names:
        assert torch.equal(again.codes[name], out.codes[name])
        assert not torch.equal(other.codes[name], out.codes[name])


def test_a_song_within_the_window_is_one_pass_and_a_saved_longer_default_is_windowed():
    model = _model("mixed")
    settings = dict(window_s=0.3, context_s=0.1, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    out = model.generate(**dummy_generation_inputs(model), duration_s=0.2, **settings)
    assert out.window_starts is None and out.sequences is not None
    assert out.frame_lengths.tolist() == [10, 10]
    model.generation_config.duration_s = 0.5
    out = model.generate(**dummy_generation_inputs(model), **settings)
    assert out.window_starts.tolist() == [0, 10] and out.frame_lengths.tolist() == [FRAMES, FRAMES]


def test_window_defaults_come_from_the_model_window():
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    longest = config.decoder.token_pattern().num_frames(config.decoder.max_position_embeddings)
    window, context = song_windows(config)
    assert window == longest
    assert 0 < context < window and context == round(0.4 * window)
    assert song_windows(config, window_s=0.3, context_s=0.1) == (15, 5)


def test_a_window_shorter_than_the_position_table_is_the_models_window():
    """A model trained on shorter songs than its position table holds makes a longer song window after window
    of its trained length, and refuses a window_s above it."""
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    config.decoder.window_frames = 15
    assert max_duration_s(config) == 0.3 and song_windows(config) == (15, 6)
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(config).eval()
    out = model.generate(
        **dummy_generation_inputs(model),
        duration_s=0.5,
        do_sample=False,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    assert out.window_starts.tolist() == [0, 9, 18] and out.frame_lengths.tolist() == [FRAMES, FRAMES]
    with pytest.raises(ValueError, match=r"window_s must be a number > 0 and <= 0\.3"):
        check_generation_arguments({"window_s": 0.4}, config)
    # a trained window longer than the table: the table decides
    config.decoder.window_frames = 10_000
    assert max_duration_s(config) == 4.96


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "30"])
def test_a_bad_trained_window_is_refused_by_the_config(value):
    with pytest.raises(ValueError, match="window_frames must be a whole number of codec frames >= 1"):
        SongGenDecoderConfig(window_frames=value)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"context_s": 0.3, "window_s": 0.3}, r"context_s=0.3 s \(15 frames\) is not shorter than the window"),
        ({"context_s": 4.0, "window_s": 2.0}, "lower context_s or raise window_s"),
        ({"context_s": 4.96}, r"not shorter than the window of 248 frames"),
        ({"window_s": 10.0}, r"window_s must be a number > 0 and <= 4\.96, got 10\.0 \(this model's window is 4\.96 s"),
        ({"window_s": 0.0}, "window_s must be a number > 0"),
        ({"context_s": -1.0}, "context_s must be a number > 0"),
        ({"duration_s": MAX_SONG_S + 1}, r"the longest song is 600 s; this model's window is 4\.96 s"),
        ({"min_duration_s": 700.0}, r"min_duration_s must be a number >= 0 and <= 600"),
    ],
)
def test_bad_window_arguments_fail_from_the_config_alone(arguments, message):
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    with pytest.raises(ValueError, match=message):
        check_generation_arguments(arguments, config)


def test_a_long_duration_passes_the_config_check_and_the_flag_names_are_the_callers():
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    assert max_duration_s(config) < 120.0
    check_generation_arguments({"duration_s": 120.0, "window_s": 4.0, "context_s": 1.0}, config)
    with pytest.raises(ValueError, match="--context .*lower --context or raise --window"):
        check_generation_arguments(
            {"window_s": 1.0, "context_s": 2.0}, config, names={"window_s": "--window", "context_s": "--context"}
        )
    with pytest.raises(ValueError, match=r"context_s \(2 s\) must be shorter than window_s \(1 s\)"):
        check_generation_arguments({"window_s": 1.0, "context_s": 2.0})


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"output_scores": True}, "output_scores cannot be used for a song of 0.5 s, longer than one window of 0.3 s"),
        ({"window_s": 0.3, "context_s": 0.3}, "not shorter than the window"),
    ],
)
def test_bad_long_song_requests_fail_before_any_window(extra, message):
    model = _model("mixed")
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(ValueError, match=message):
        model.generate(**dummy_generation_inputs(model), **{**LONG, **extra})
    assert not calls


def test_an_instrumental_long_song_holds_the_whole_songs_silence_on_its_vocal_track():
    from songgen_hf.modeling.songgen.configuration_songgen import arrangement_id

    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False, decoder={"use_arrangement_control": True})
    model = SongGenForConditionalGeneration(config).eval()
    inputs = {
        **dummy_generation_inputs(model),
        "arrangement_ids": torch.tensor(
            [arrangement_id(vocals=False, drums=True), arrangement_id(vocals=True, drums=True)]
        ),
    }
    torch.manual_seed(1)
    out = model.generate(**inputs, **LONG, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    assert out.window_starts.tolist() == [0, 10]
    silence = model.silence_codes(FRAMES)[0]
    assert torch.equal(out.codes["vocals"][0], silence)  # as one pass holds it, edges only at the song's ends
    assert not torch.equal(out.codes["vocals"][1], silence)


@pytest.mark.parametrize("pattern", ["interleaving_A_V", "parallel_stream2"])
def test_a_planned_instrumental_section_holds_the_vocal_track_at_silence(pattern):
    """A dual-track model without an arrangement control: the plan's instrumental frames (here 6-17 of a
    three-window song, across a window edge) hold the vocal track at the song's silence; the rest is sampled."""
    model = _model(pattern)
    inputs = dummy_generation_inputs(model)
    frames = torch.zeros(2, 30, dtype=torch.bool)
    frames[:, 6:18] = True
    frames[1, :] = False  # the second song has no instrumental section
    settings = dict(LONG, duration_s=0.6, do_sample=True, top_k=0, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(5)
    out = model.generate(**inputs, **settings, instrumental_frames=frames)
    assert out.window_starts.tolist() == [0, 10, 20]
    silence = model.silence_codes(30)[0]
    vocals = out.codes["vocals"]
    assert torch.equal(vocals[0, :, 6:18], silence[:, 6:18])
    assert not torch.equal(vocals[0, :, :6], silence[:, :6]) and not torch.equal(vocals[0, :, 18:], silence[:, 18:])
    assert not torch.equal(vocals[1, :, 6:18], silence[:, 6:18])
    # each window held its own stretch: the window codes agree with the song
    for window, start in zip(out.window_codes, out.window_starts.tolist()):
        held = frames[0, start : start + window["vocals"].shape[-1]]
        assert torch.equal(window["vocals"][0][:, held], silence[:, start : start + held.shape[0]][:, held])

    # silence_instrumental_vocals=False leaves the vocal track to the model
    torch.manual_seed(5)
    free = model.generate(**inputs, **settings, instrumental_frames=frames, silence_instrumental_vocals=False)
    assert not torch.equal(free.codes["vocals"][0, :, 6:18], silence[:, 6:18])


@pytest.mark.parametrize(
    "pattern, frames, message",
    [
        ("mixed", torch.ones(2, 25, dtype=torch.bool), r"pattern \(mixed\) has no vocal track of its own"),
        ("interleaving_A_V", torch.ones(2, 24, dtype=torch.bool), r"boolean tensor \(batch, frames\) .* \(25 frames\)"),
        ("interleaving_A_V", torch.ones(3, 25, dtype=torch.bool), "a batch of 2, got"),
        ("interleaving_A_V", torch.ones(2, 25), r"boolean tensor .*got \(2, 25\)"),
    ],
)
def test_bad_instrumental_frames_fail_before_any_window(pattern, frames, message):
    model = _model(pattern)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(ValueError, match=message):
        model.generate(**dummy_generation_inputs(model), **LONG, instrumental_frames=frames)
    with pytest.raises(ValueError, match="instrumental_frames is planned for a song of a given length"):
        model.generate(**dummy_generation_inputs(model), max_new_tokens=5, instrumental_frames=frames)
    assert not calls


def test_min_duration_lets_a_window_end_the_song(monkeypatch):
    model = _model("mixed")
    real_generate, real_window = type(model).generate, type(model)._generate_window
    windows = []

    def window_ending_early(inputs, generation_config, kwargs, *args, **window):
        windows.append(kwargs["min_duration_s"])
        out = real_window(model, inputs, generation_config, kwargs, *args, **window)
        if len(windows) == 2:  # the model ends the first song 3 frames into the second window
            out.frame_lengths[0] = 3
        return out

    monkeypatch.setattr(model, "_generate_window", window_ending_early)
    out = real_generate(
        model,
        **dummy_generation_inputs(model),
        **dict(LONG, duration_s=0.6),
        min_duration_s=0.3,
        do_sample=False,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    # each window's share of the minimum: all of the first window, the rest of the 15 frames, then none
    assert windows == pytest.approx([0.3, 0.1, 0.0])
    assert out.frame_lengths.tolist() == [10 + 3, 30]  # the first song ended in its window; the other went on
    assert out.window_starts.tolist() == [0, 10, 20]


def test_the_text_to_song_pipeline_passes_the_window_arguments_through(tmp_path):
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    pipe = load_text_to_song_pipeline(save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False))
    song = pipe(
        {"description": "pop", "lyrics": "la la"}, duration_s=0.6, window_s=0.3, context_s=0.1, seed=0, do_sample=False
    )
    assert song["audio"].shape == (1, round(0.6 * song["sampling_rate"]))
    with pytest.raises(ValueError, match="lower context_s or raise window_s"):
        pipe("pop", window_s=0.3, context_s=0.3)


def test_the_progress_bar_counts_every_windows_steps():
    from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps
    from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress

    model = _model("mixed")
    long = dict(LONG, duration_s=0.6)  # windows (0, 15), (10, 25), (20, 30)
    single = expected_decoder_steps(model, 0.3)
    total = expected_decoder_steps(model, long["duration_s"], window_s=long["window_s"], context_s=long["context_s"])
    # the first window's steps, then the two later windows' new frames (a window's context is its prompt)
    assert total > single + 10
    bar = GenerationProgress(total=total, disable=True)
    model.generate(**dummy_generation_inputs(model), **long, do_sample=False, streamer=bar, decode_audio=False)
    assert bar.steps == total  # one bar over the song: not reset, nor ended, at each window's end
    assert bar._bar is None  # ended once, with the song


def _tiny_singer():
    from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig

    torch.manual_seed(0)
    config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en+f2"])
    return SongGenSinger(config).eval()


def test_a_long_song_is_sung_window_by_window_over_the_whole_song():
    from songgen_hf.modeling.songgen.vocal_score_songgen import VocalScore

    model, singer = _model("interleaving_A_V"), _singer_with_log(_tiny_singer())
    score = VocalScore(("la", "la", "loo"), (0.05, 0.25, 0.45), (0.1, 0.1, 0.1), (60, 62, 64), "en+f2")
    settings = dict(LONG, duration_s=0.6, do_sample=True, return_dict_in_generate=True)
    torch.manual_seed(3)
    plain = model.generate(**dummy_generation_inputs(model), **settings)
    torch.manual_seed(3)
    sung = model.generate(**dummy_generation_inputs(model), **settings, singer=singer, vocal_scores=[score, None])
    assert torch.equal(sung.codes["accompaniment"], plain.codes["accompaniment"])  # the decoder's draws
    vocals = sung.codes["vocals"]
    assert vocals.shape == (2, singer.config.num_codebooks, 30)
    assert torch.equal(vocals[1], plain.codes["vocals"][1, : singer.config.num_codebooks])  # no score: unsung
    assert not torch.equal(vocals[0], plain.codes["vocals"][0, : singer.config.num_codebooks])
    # one fill per window of the song, each over at most a window, each keeping the previous window's last frames
    assert singer.fills == [(15, 0), (15, 5), (10, 5)]
    assert sung.vocals.shape == sung.audio.shape == (2, 1, 30 * model.config.audio_encoder.hop_length)


def _singer_with_log(singer):
    """``singer`` noting each fill's length and how many of its frames came known."""
    singer.fills = []
    real_fill = singer.fill

    def fill(context, units, *args, known=None, **kwargs):
        kept = 0 if known is None else int((known[0, 0] != singer.mask_id).sum())
        singer.fills.append((context.shape[-1], kept))
        return real_fill(context, units, *args, known=known, **kwargs)

    singer.fill = fill
    return singer


def test_a_fill_keeps_the_codes_it_is_given():
    singer = _tiny_singer()
    context = torch.randint(0, 1024, (1, 12), generator=torch.Generator().manual_seed(0))
    units = torch.zeros(1, singer.config.unit_rows, 12, dtype=torch.long)
    known = torch.full((1, singer.config.num_codebooks, 12), singer.mask_id)
    known[..., :4] = torch.randint(0, 1024, (1, singer.config.num_codebooks, 4), generator=torch.Generator())
    filled = singer.fill(context, units, known=known)
    assert torch.equal(filled[..., :4], known[..., :4])
    assert int(filled.max()) < singer.mask_id
    # nothing known is the plain fill
    nothing = torch.full_like(known, singer.mask_id)
    assert torch.equal(singer.fill(context, units, known=nothing), singer.fill(context, units))


def test_a_long_song_is_decoded_a_window_at_a_time_as_if_whole():
    """The codec decodes a long song in window-sized chunks, each with the codec's context on both sides, and the
    audio is the whole song's decode."""
    model = _model("mixed")
    conditions = dummy_generation_inputs(model)
    torch.manual_seed(3)
    out = model.generate(**conditions, **dict(LONG, duration_s=0.6), return_dict_in_generate=True)
    calls = []
    decode = model.audio_encoder.decode

    def spy(*args, **kwargs):
        calls.append(kwargs.get("chunk_seconds"))
        return decode(*args, **kwargs)

    whole = decode(out.codes["mix"], audio_codes_lengths=out.frame_lengths).audio_values
    torch.testing.assert_close(out.audio, whole, rtol=0, atol=1e-5)
    model.audio_encoder.decode = spy
    torch.manual_seed(3)
    model.generate(**conditions, **dict(LONG, duration_s=0.6))
    assert calls == [LONG["window_s"]]


@pytest.mark.parametrize("pattern", ["mixed", "interleaving_A_V", "parallel_std", "mixed_stream2"])
def test_each_later_window_reads_the_songs_opening_first_with_an_anchor(pattern):
    """anchor_s: a later window's context is the song's opening (where it plays as asked), then the previous
    window's last frames; its new frames follow as before, and the song stays one continuous sequence."""
    model = _model(pattern)
    conditions = dummy_generation_inputs(model)
    settings = dict(duration_s=0.6, window_s=0.3, context_s=0.1, do_sample=True, top_k=50, return_dict_in_generate=True)
    torch.manual_seed(7)
    out = model.generate(**conditions, **settings, anchor_s=0.04, decode_audio=False)  # 2 of the 5 context frames
    assert out.window_starts.tolist() == [0, 10, 20]
    for index, start in enumerate(out.window_starts.tolist()[1:], 1):
        for name in model.pattern.track_names:
            window, song = out.window_codes[index][name], out.codes[name]
            assert torch.equal(window[..., :2], song[..., :2]), (index, name)  # the anchor: the song's opening
            assert torch.equal(window[..., 2:5], song[..., start + 2 : start + 5]), (index, name)  # then recent
            new = min(window.shape[-1], song.shape[-1] - start)
            assert torch.equal(window[..., 5:new], song[..., start + 5 : start + new]), (index, name)
    torch.manual_seed(7)
    plain = model.generate(**conditions, **settings, decode_audio=False)
    torch.manual_seed(7)
    zero = model.generate(**conditions, **settings, anchor_s=0, decode_audio=False)
    for name in model.pattern.track_names:  # anchor_s=0 is today's windows exactly
        assert torch.equal(zero.codes[name], plain.codes[name])
        assert torch.equal(plain.window_codes[1][name][..., :5], plain.codes[name][..., 10:15])


def test_an_anchor_as_long_as_the_context_is_refused_before_anything_runs():
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    names = {"anchor_s": "--anchor", "context_s": "--context"}
    with pytest.raises(ValueError, match=r"--anchor=0.1 s \(5 frames\) is not shorter than the context of 5 frames"):
        check_generation_arguments({"anchor_s": 0.1, "context_s": 0.1, "window_s": 0.3}, config, names=names)
    with pytest.raises(ValueError, match=r"--anchor must be a number >= 0"):
        check_generation_arguments({"anchor_s": -1.0}, config, names=names)
