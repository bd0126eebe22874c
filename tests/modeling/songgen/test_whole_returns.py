"""A repeated section plays its first occurrence's music for its whole length: the plan says which frame each of its
frames plays again, generate holds the accompaniment (a one-track model's mix, where the lines are the same) at
those codes window after window, in a batch and in a stream as alone; repeat_whole_sections=False keeps the returns
that only open with the first occurrence's first seconds."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.song_plan_songgen import plan_song
from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

RATE = 50.0
SAME = "[verse 1]\nla la la\n[chorus]\noh oh oh oh\n[verse 2]\nna na na\n[chorus]\noh oh oh oh"
# the second chorus sings other words under the same tag
OTHER = "[verse 1]\nla la la\n[chorus]\noh oh oh oh\n[verse 2]\nna na na\n[chorus]\nhey hey hey hey"
SETTINGS = dict(duration_s=3.0, window_s=0.6, context_s=0.2)


def _model(pattern: str):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()


def _choruses(plan) -> list[tuple[int, int]]:
    return [
        (round(section.start_s * RATE), round(section.end_s * RATE))
        for section in plan.sections
        if section.kind == "chorus"
    ]


def test_the_plan_maps_each_frame_of_a_repeated_section_to_its_first_occurrence():
    plan = plan_song(SAME, 150, 30, 10, RATE)
    (first, first_end), (second, second_end) = _choruses(plan)
    sources = plan.return_sources(RATE)
    assert len(sources) == 150
    for frame, source in enumerate(sources):
        if second <= frame < min(second_end, second + first_end - first):
            assert source == first + frame - second  # the same distance from the section's start
        else:
            assert source == -1
    assert plan.to_dict()["repeat_whole_sections"] is True
    # other words under the same tag: new words over the same music, unless the model's one track carries the words
    other = plan_song(OTHER, 150, 30, 10, RATE)
    assert other.return_sources(RATE) == sources
    assert all(source == -1 for source in other.return_sources(RATE, same_lines_only=True))
    assert plan.return_sources(RATE, same_lines_only=True) == sources
    # returns turned off, or only openings: no frame is played again
    for options in (dict(repeat_sections=False), dict(repeat_whole_sections=False)):
        assert set(plan_song(SAME, 150, 30, 10, RATE, **options).return_sources(RATE)) == {-1}
    # a repeat longer than its first occurrence plays on by itself past it
    longer = plan_song(SAME.replace("[chorus]\noh oh oh oh", "[chorus]\noh oh", 1), 150, 30, 10, RATE)
    (first, first_end), (second, second_end) = _choruses(longer)
    held = [frame for frame, source in enumerate(longer.return_sources(RATE)) if source >= 0]
    assert held == list(range(second, second + first_end - first)) and second + first_end - first < second_end


def _generate(model, features, **options):
    torch.manual_seed(1)
    return model.generate(
        **features, **SETTINGS, **options, do_sample=True, return_dict_in_generate=True, decode_audio=False
    )


@pytest.mark.parametrize("pattern", ["parallel_stream2", "interleaving_A_V", "parallel_std"])
@pytest.mark.parametrize("lyrics", [SAME, OTHER], ids=["same lines", "other lines"])
def test_a_dual_track_chorus_returns_with_its_first_occurrences_accompaniment_for_its_whole_length(pattern, lyrics):
    model = _model(pattern)
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    features = processor("pop", lyrics, **SETTINGS)
    plan = processor.plan_song(lyrics, **SETTINGS)
    (first, first_end), (second, second_end) = _choruses(plan)
    assert second_end - second > 30  # the chorus is longer than a window (30 frames): held window after window
    sources = features["return_source_frames"][0]
    frames = torch.arange(second, second_end)
    assert torch.equal(sources[frames], frames - second + first)  # the choruses are as long: the whole of it
    out = _generate(model, features)
    accompaniment, vocals = out.codes["accompaniment"][0], out.codes["vocals"][0]
    # the second chorus's accompaniment is the first's, frame for frame, across the windows it spans
    assert torch.equal(accompaniment[:, second:second_end], accompaniment[:, first:first_end])
    assert len({start for start in out.window_starts.tolist() if second - 10 <= start < second_end}) >= 2
    # the vocal track sings the window's own lines over it
    assert not torch.equal(vocals[:, second:second_end], vocals[:, first:first_end])
    # the returns before: the window opens with a few of the first chorus's frames and goes its own way after them
    opening = _generate(model, features, repeat_whole_sections=False)
    track = opening.codes["accompaniment"][0]
    assert not torch.equal(track[:, second:second_end], track[:, first:first_end])
    # processor-side too: a song planned with openings only carries no frame to play again
    planned = processor("pop", lyrics, **SETTINGS, repeat_whole_sections=False)
    assert set(planned["return_source_frames"][0].tolist()) == {-1}


def test_a_one_track_model_repeats_the_whole_mix_only_where_the_words_are_the_same():
    model = _model("mixed")
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    same = processor("pop", SAME, **SETTINGS)
    (first, first_end), (second, second_end) = _choruses(processor.plan_song(SAME, **SETTINGS))
    mix = _generate(model, same).codes["mix"][0]
    assert torch.equal(mix[:, second:second_end], mix[:, first:first_end])
    # other words: the mix is not the first chorus's (its words would be); the window opens with the first chorus's
    # first frames as before and sings its own lines after them
    other = processor("pop", OTHER, **SETTINGS)
    assert set(other["return_source_frames"][0].tolist()) == {-1}
    assert bool((other["window_anchor_frames"] >= 0).any())
    mix = _generate(model, other).codes["mix"][0]
    assert not torch.equal(mix[:, second:second_end], mix[:, first:first_end])


def test_songs_that_return_whole_are_the_same_in_a_batch_and_in_a_stream(tmp_path):
    import numpy as np

    from songgen_hf.pipelines.streaming import SongGenStreamer
    from songgen_hf.testing import save_tiny_checkpoint, streamed_generation

    path = save_tiny_checkpoint(tmp_path / "model", track_pattern="parallel_stream2", use_voice_encoder=False)
    model = SongGenForConditionalGeneration.from_pretrained(path).eval()
    processor = SongGenProcessor.from_pretrained(path)
    songs = [("pop", SAME), ("rock", "[intro]\n[verse]\nla la\n[chorus]\noh oh oh\n[bridge]\n[chorus]\noh oh oh")]
    greedy = dict(do_sample=False, decode_audio=False, return_dict_in_generate=True)
    features = processor([d for d, _ in songs], [text for _, text in songs], **SETTINGS)
    assert features["window_ends"][0].tolist() != features["window_ends"][1].tolist()
    together = model.generate(**features, **SETTINGS, **greedy)
    for row, (description, text) in enumerate(songs):
        alone = model.generate(**processor(description, text, **SETTINGS), **SETTINGS, **greedy)
        assert all(torch.equal(together.codes[name][row], alone.codes[name][0]) for name in alone.codes)
        sources = features["return_source_frames"][row]
        held = (sources >= 0).nonzero().flatten()
        accompaniment = alone.codes["accompaniment"][0]
        assert held.numel() and torch.equal(accompaniment[:, held], accompaniment[:, sources[held]])
    single = processor("pop", SAME, **SETTINGS)
    streamer = SongGenStreamer(model, chunk_frames=4, timeout=120)
    torch.manual_seed(2)
    chunks, streamed = streamed_generation(
        model, streamer, **single, **SETTINGS, do_sample=True, return_dict_in_generate=True
    )
    torch.manual_seed(2)
    whole = model.generate(**single, **SETTINGS, do_sample=True, return_dict_in_generate=True)
    for name in model.pattern.track_names:
        assert torch.equal(streamed.codes[name], whole.codes[name])
    # the stream plays the song generate returns, each window's new frames once (its mix is not scaled to the
    # whole song's peak, which a stream cannot know: the codes are what is compared)
    assert np.concatenate(chunks).shape == (int(whole.audio_lengths[0]),)


def test_bad_return_frames_and_options_are_refused_before_any_window():
    model = _model("parallel_stream2")
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    features = dict(processor("pop", SAME, **SETTINGS))
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    ahead = features["return_source_frames"].clone()
    ahead[0, 5] = 7  # frame 5 cannot play frame 7 again: it is not made yet
    with pytest.raises(ValueError, match="return_source_frames must name, for each frame, an earlier frame"):
        model.generate(**{**features, "return_source_frames": ahead}, **SETTINGS)
    with pytest.raises(ValueError, match=r"return_source_frames must be an integer tensor \(batch, frames\)"):
        model.generate(**{**features, "return_source_frames": ahead[:, :100]}, **SETTINGS)
    with pytest.raises(ValueError, match="repeat_whole_sections must be True"):
        model.generate(**features, **SETTINGS, repeat_whole_sections="no")
    with pytest.raises(ValueError, match="repeat_whole_sections must be True or False"):
        processor("pop", SAME, **SETTINGS, repeat_whole_sections=None)
    assert not calls


def test_the_pipeline_hands_whole_returns_to_generate_and_turns_them_off(tmp_path, monkeypatch):
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "model", "parallel_stream2", use_voice_encoder=False)
    pipe = load_text_to_song_pipeline(folder)
    model, real = pipe.model, type(pipe.model).generate
    songs = []

    def generate(*args, **kwargs):
        out = real(model, *args, **kwargs)
        songs.append((kwargs, out.codes["accompaniment"]))
        return out

    monkeypatch.setattr(model, "generate", generate)
    requests = [{"description": "pop", "lyrics": SAME}, {"description": "rock", "lyrics": OTHER}]
    pipe(requests, batch_size=2, seed=0, do_sample=False, **SETTINGS)
    ((kwargs, accompaniment),) = songs
    sources = kwargs["return_source_frames"]
    assert sources.shape == (2, 150)  # one row per song of the batch
    for row in range(2):
        held = (sources[row] >= 0).nonzero().flatten()
        assert held.numel() and torch.equal(accompaniment[row][:, held], accompaniment[row][:, sources[row][held]])
    pipe(requests[0], seed=0, do_sample=False, repeat_whole_sections=False, **SETTINGS)
    kwargs, accompaniment = songs[-1]
    assert kwargs["repeat_whole_sections"] is False
    held = (sources[0] >= 0).nonzero().flatten()
    assert not torch.equal(accompaniment[0][:, held], accompaniment[0][:, sources[0][held]])
