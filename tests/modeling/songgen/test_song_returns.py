"""Whole songs that stay one song: a repeated section's window prompted by its first occurrence, and today's
windows when it is off."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.generation_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor, format_plan, plan_song
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


def test_a_repeated_chorus_window_reads_the_first_occurrences_codes_as_its_prompt():
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
            do_sample=True,
            return_dict_in_generate=True,
            decode_audio=False,
        )
        song = out.codes["mix"][0]
        starts = out.window_starts.tolist()
        for index, window in enumerate(out.window_codes[1:], 1):
            prompt, start = window["mix"][0], starts[index]
            if repeat and index in repeated:
                # the first chorus's codes where this window's new stretch starts in the second, then the song's
                # last frames
                begin = min(returns[index], start)
                assert torch.equal(prompt[:, :length], song[:, begin : begin + length])
                assert torch.equal(prompt[:, length:context], song[:, start + length : start + context])
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
