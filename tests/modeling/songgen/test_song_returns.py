"""Whole songs that stay one song: a repeated section's window prompted by its first occurrence, and today's
windows when it is off."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.song_plan_songgen import format_plan, plan_song
from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config, tiny_tokenizers

RATE = 50.0
SONG = (
    "[verse 1]\nwe run across the night\nand sing until the light\n"
    "[chorus]\nhold me close tonight\nthe stars are shining bright\n"
    "[verse 2]\nthe city fades away\nwe wait for the day\n"
    "[chorus]\nhold me close tonight\nthe stars are shining bright\n"
)


def _model(pattern="mixed"):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def test_a_repeated_chorus_is_planned_from_its_first_occurrence():
    plan = plan_song(SONG, 60 * 50, 10 * 50, 4 * 50, RATE)
    first, second = (section for section in plan.sections if section.kind == "chorus")
    returning = [window for window in plan.windows if window.repeats]
    assert returning, "the second chorus has a window of its own"
    for window in plan.windows:
        new_from = window.start_s + (4.0 if window.start_s else 0.0)
        if window.repeats:
            assert window.repeats == "chorus"
            # the first chorus at the point where the window's new stretch starts in the second one
            assert window.anchor_s == pytest.approx(first.start_s + max(0.0, new_from - second.start_s))
            assert first.start_s <= window.anchor_s < min(first.end_s, window.start_s)
        else:
            assert window.anchor_s == 0.0  # the song's opening
    # verses with their own numbers are no repeats; the printout says where the chorus returns from
    assert all(window.repeats != "verse 2" for window in plan.windows)
    assert f"returns to chorus from {returning[0].to_dict()['anchor_s']:g} s" in format_plan(plan.to_dict())
    # identical lines under another tag are a repeat too
    again = plan_song(
        SONG.replace("[chorus]\nhold me close tonight\nthe stars", "[refrain]\nhold me close tonight\nthe stars", 1),
        3000,
        500,
        200,
        RATE,
    )
    assert any(window.repeats for window in again.windows)


def test_a_repeated_chorus_opens_with_its_first_occurrences_codes_and_continues_from_them():
    """repeat_whole_sections=False (the returns before whole ones): the window opens with its first occurrence's first
    codes, copied, and goes its own way after them."""
    model = _model()
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    lyrics = "[verse 1]\nla la\n[chorus]\noh oh\n[verse 2]\nna na\n[chorus]\noh oh"
    settings = dict(duration_s=2.0, window_s=0.6, context_s=0.3)
    features = processor("pop", lyrics, **settings)
    returns = features["window_anchor_frames"][0].tolist()
    plan = processor.plan_song(lyrics, **settings)
    repeated = [index for index, window in enumerate(plan.windows) if window.repeats]
    assert repeated and all(returns[i] >= 0 for i in repeated)
    assert all(returns[i] == -1 for i in range(len(returns)) if i not in repeated)
    context = 15  # 0.3 s at 50 Hz
    for repeat, anchor_s in ((True, None), (False, None), (True, 0.04)):
        # anchor_s=0.04 s (2 frames): the song's opening in the other windows, and what a chorus reads of its first
        # occurrence; by default a third of the context of the first occurrence, and no opening
        opening, length = (2, 2) if anchor_s else (0, 5)
        torch.manual_seed(1)
        out = model.generate(
            **features,
            **settings,
            **({} if anchor_s is None else {"anchor_s": anchor_s}),
            repeat_sections=repeat,
            repeat_whole_sections=False,
            do_sample=True,
            return_dict_in_generate=True,
            decode_audio=False,
        )
        song = out.codes["mix"][0]
        starts = out.window_starts.tolist()
        for index, window in enumerate(out.window_codes[1:], 1):
            prompt, start = window["mix"][0], starts[index]
            if repeat and index in repeated:
                # the second chorus opens with the first chorus's codes from where this window's new stretch starts
                # in it, copied into the song; the window continues from them (its prompt: the song's last frames)
                resumed = start + context - length  # where the song stood before the copy
                begin = min(returns[index], resumed - length)
                assert torch.equal(song[:, resumed : resumed + length], song[:, begin : begin + length])
                assert torch.equal(prompt[:, :context], song[:, start : start + context])
            else:  # the song's opening (none by default), then the previous window's last frames
                assert torch.equal(prompt[:, :opening], song[:, :opening])
                assert torch.equal(prompt[:, opening:context], song[:, start + opening : start + context])


@pytest.mark.parametrize("pattern", ["mixed", "interleaving_A_V"])
def test_without_anchors_or_repeats_each_window_continues_from_the_previous_ones_last_frames(pattern):
    """repeat_sections=False (and no anchor_s): each window continues from the previous one's last frames, the same
    codes as the windows made one by one."""
    model = _model(pattern)
    conditions = dummy_generation_inputs(model)
    torch.manual_seed(3)
    out = model.generate(
        **conditions,
        duration_s=0.5,
        window_s=0.3,
        context_s=0.1,
        repeat_sections=False,
        do_sample=True,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    torch.manual_seed(3)
    first = model.generate(
        **conditions, duration_s=0.3, do_sample=True, return_dict_in_generate=True, decode_audio=False
    )
    tail = {name: track[..., -5:] for name, track in first.codes.items()}
    second = model.generate(
        **conditions,
        audio_prompt_codes=tail,
        duration_s=0.3,
        do_sample=True,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    for name in model.pattern.track_names:
        assert torch.equal(out.codes[name], torch.cat([first.codes[name], second.codes[name][..., 5:]], dim=-1))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(repeat_sections="yes"), "repeat_sections must be True"),
    ],
)
def test_bad_anchor_and_repeat_arguments_are_named_from_the_config_alone(arguments, message):
    config = tiny_songgen_config("mixed", use_voice_encoder=False)
    with pytest.raises(ValueError, match=message):
        check_generation_arguments(dict(duration_s=2.0, **arguments), config)


def test_a_song_whose_chorus_returns_streams_as_generate_makes_it(tmp_path):
    """A repeated section's window reads earlier codes than the previous window's: the stream still follows the
    song generate() returns, each window's new frames once."""
    import numpy as np

    from songgen_hf.pipelines.streaming import SongGenStreamer
    from songgen_hf.testing import save_tiny_checkpoint, streamed_generation

    path = save_tiny_checkpoint(tmp_path / "model", track_pattern="mixed_pro")
    model = SongGenForConditionalGeneration.from_pretrained(path).eval()
    processor = SongGenProcessor.from_pretrained(path)
    lyrics = "[verse 1]\nla la\n[chorus]\noh oh\n[verse 2]\nna na\n[chorus]\noh oh"
    settings = dict(duration_s=2.0, window_s=0.6, context_s=0.3)
    features = processor("pop", lyrics, **settings)
    assert bool((features["window_anchor_frames"] >= 0).any())
    streamer = SongGenStreamer(model, chunk_frames=4, timeout=120)
    torch.manual_seed(2)
    chunks, streamed = streamed_generation(
        model, streamer, **features, **settings, do_sample=True, return_dict_in_generate=True
    )
    torch.manual_seed(2)
    whole = model.generate(**features, **settings, do_sample=True, return_dict_in_generate=True)
    for name in model.pattern.track_names:
        assert torch.equal(streamed.codes[name], whole.codes[name])
    audio = np.concatenate(chunks)
    assert audio.shape == (int(whole.audio_lengths[0]),)
    assert np.abs(audio - whole.audio[0, 0].numpy()).max() <= 1e-4


def test_windows_start_at_the_sections_where_the_music_changes():
    from songgen_hf.modeling.songgen.song_plan_songgen import MIN_ALIGNED_STRIDE, window_spans

    # without edges: every window as long as it can be, each starting a context before the previous one's end
    assert window_spans(3000, 500, 200) == [
        (0, 500),
        (300, 800),
        (600, 1100),
        (900, 1400),
        (1200, 1700),
        (1500, 2000),
        (1800, 2300),
        (2100, 2600),
        (2400, 2900),
        (2700, 3000),
    ]
    spans = window_spans(3000, 500, 200, edges=[420, 1010, 2999])
    ends = [end for _, end in spans]
    assert 420 in ends and 1010 in ends and 2999 in ends and ends[-1] == 3000
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start == end - 200 and end - start <= 500  # the windows' contexts are as asked
    # an edge before the first context is played on; one just past a window's reach (closer than the shortest
    # new stretch) gets a window that ends early enough for the next one to start there
    stride = 500 - 200
    assert window_spans(3000, 500, 200, edges=[150]) == window_spans(3000, 500, 200)
    shortest = int(MIN_ALIGNED_STRIDE * stride)
    near = 500 + shortest - 1
    assert window_spans(3000, 500, 200, edges=[near])[:3] == [
        (0, near - shortest),
        (near - shortest - 200, near),
        (near - 200, near + 300),
    ]

    # the plan: each window whose new stretch starts a returning section starts at the section's start frame
    plan = plan_song(SONG, 60 * 50, 10 * 50, 4 * 50, RATE)
    second = [section for section in plan.sections if section.kind == "chorus"][1]
    returning = [window for window in plan.windows if window.repeats]
    assert returning[0].new_from_s == pytest.approx(round(second.start_s * RATE) / RATE)
    assert returning[0].anchor_s == pytest.approx(
        round(second.start_s * RATE) / RATE - second.start_s + plan.sections[1].start_s, abs=0.02
    )


def test_a_repeated_section_no_window_returns_with_is_a_warning_and_no_repeats_plans_no_return():
    # the second chorus is one short line in a long song: no window's new stretch lies mostly in it
    lyrics = (
        "[verse]\nla la la la la la la la la la la la la la\n[chorus]\noh\n"
        "[verse]\nna na na na na na na na na na na na na na\n[chorus]\noh\n[verse]\nda da da da da da da da da"
    )
    plan = plan_song(lyrics, 8 * 50, 3 * 50, 1 * 50, RATE, repeat_whole_sections=False)
    warned = [text for text in plan.warnings() if "does not return" in text and text.startswith("[chorus]")]
    assert len(warned) == 1 and warned[0].startswith("[chorus]") and "shorter windows" in warned[0]
    assert "warning: [chorus]" in format_plan(plan.to_dict())
    # by default the chorus returns whole, frame by frame, whatever its windows: nothing to warn of
    whole = plan_song(lyrics, 8 * 50, 3 * 50, 1 * 50, RATE)
    assert not [text for text in whole.warnings() if "does not return" in text]
    second = [section for section in whole.sections if section.kind == "chorus"][1]
    assert whole.return_sources(RATE)[round(second.start_s * RATE)] >= 0
    # repeat_sections=False: no window returns, and neither the printout nor the warnings say one does
    plain = plan_song(SONG, 60 * 50, 10 * 50, 4 * 50, RATE, repeat_sections=False)
    assert not any(window.repeats for window in plain.windows) and "returns to" not in format_plan(plain.to_dict())
    assert not plain.warnings()


def test_window_ends_reach_generate_and_bad_ones_are_refused_before_any_window():
    model = _model()
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    lyrics = "[intro]\n[verse]\nla la la\n[chorus: anthemic]\noh oh oh oh\n[outro]"  # windows cut at the chorus
    settings = dict(duration_s=2.4, window_s=0.6, context_s=0.2)
    features = dict(processor(["pop", "rock"], [lyrics, "la la\noh oh"], **settings))
    plan = processor.plan_song(lyrics, **settings)
    # each song of a processor call in its own windows, the shorter list repeating its end
    other = processor.plan_song("la la\noh oh", **settings)
    count = len(plan.windows)
    assert count > len(other.windows) and features["window_ends"][0].tolist() == plan.window_ends(RATE)
    assert features["window_ends"][1].tolist() == other.window_ends(RATE) + [120] * (count - len(other.windows))
    lengths = []
    real = type(model)._generate_window

    def window(inputs, generation_config, kwargs, *args, **state):  # one pass per window of the long song
        own = state.get("row_frames")
        lengths.append(round(kwargs["duration_s"] * RATE) if own is None else int(own[0]))
        return real(model, inputs, generation_config, kwargs, *args, **state)

    model._generate_window = window
    greedy = dict(do_sample=False, decode_audio=False, return_dict_in_generate=True)
    out = model.generate(**features, **settings, **greedy)
    spans = [(round(w.start_s * RATE), round(w.end_s * RATE)) for w in plan.windows]
    assert lengths == [end - start for start, end in spans]  # the first song's own windows
    assert all(track.shape[-1] == 120 for track in out.codes.values())
    del model._generate_window
    # each song of the batch is the song it is alone: its windows end as they would in a pass of their own
    for row, (description, text) in enumerate([("pop", lyrics), ("rock", "la la\noh oh")]):
        alone = model.generate(**processor(description, text, **settings), **settings, **greedy)
        assert all(torch.equal(out.codes[name][row], alone.codes[name][0]) for name in out.codes)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    long = dict(features, window_ends=features["window_ends"].clone())
    long["window_ends"][1, 1] = long["window_ends"][1, 0] + 31  # a window of 31 frames, longer than the model's
    with pytest.raises(ValueError, match=r"window_ends \[.*\] do not tile this song"):
        model.generate(**long, **settings)
    gap = dict(features, window_ends=features["window_ends"].clone())
    gap["window_ends"][:, -1] = 119
    with pytest.raises(ValueError, match=r"do not tile this song of 2\.4 s \(120 frames\)"):
        model.generate(**gap, **settings)
    with pytest.raises(ValueError, match="window_ends are planned for a song of a given length"):
        model.generate(**{name: value for name, value in features.items() if name != "window_anchor_frames"})
    assert not calls


@pytest.mark.parametrize("pattern", ["interleaving_A_V", "parallel_std", "mixed_stream2"])
def test_songs_cut_in_other_windows_batch_together_as_they_are_alone(pattern):
    """A dual-track, a parallel and a multi-stream pattern: a song with a noted chorus (windows cut at it) and one
    without, made in one batch, are each the song made alone."""
    model = _model(pattern)
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    settings = dict(duration_s=2.4, window_s=0.6, context_s=0.2)
    songs = [("pop", "[intro]\n[verse]\nla la la\n[chorus: anthemic]\noh oh oh oh\n[outro]"), ("rock", "la la\noh oh")]
    greedy = dict(do_sample=False, decode_audio=False, return_dict_in_generate=True)
    features = processor([d for d, _ in songs], [text for _, text in songs], **settings)
    assert features["window_ends"][0].tolist() != features["window_ends"][1].tolist()
    together = model.generate(**features, **settings, **greedy)
    for row, (description, text) in enumerate(songs):
        alone = model.generate(**processor(description, text, **settings), **settings, **greedy)
        assert together.frame_lengths[row] == alone.frame_lengths[0]
        assert all(torch.equal(together.codes[name][row], alone.codes[name][0]) for name in alone.codes)
