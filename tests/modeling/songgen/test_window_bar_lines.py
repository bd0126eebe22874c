"""Each later window of a long song starts on a bar line of the asked tempo, as the model's training crops do: the
window before ends early enough that the next one's context starts there, the tempo control counts the song's beat
on (a whole number of bars at that frame), and the first window makes the same music it made before."""

from __future__ import annotations

import logging

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.song_plan_songgen import format_plan, plan_song, window_spans
from songgen_hf.modeling.songgen.windows_songgen import bar_frames, bar_line
from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config, tiny_tokenizers

CONTROLS = {"use_tempo_control": True, "use_key_control": True}
RATE = 50.0
# windows of 40 frames continuing from the previous one's last 8 (a stride of 32 frames); a bar at 400 BPM is 30
# frames, at 380 BPM 31.58: both fit a stride, and neither stride is a whole number of bars
LONG = dict(duration_s=3.0, window_s=0.8, context_s=0.16)
TEMPOS = torch.tensor([400.0, 380.0])


def _model(pattern: str, controls: dict = CONTROLS):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(
        tiny_songgen_config(pattern, use_voice_encoder=False, decoder=controls)
    ).eval()


def _on_a_bar_line(frame: int, bar: float) -> bool:
    return any(int(round(k * bar)) == frame for k in range(int(frame / bar) + 2))


@pytest.mark.parametrize("bpm", [60.0, 96.0, 140.0, 173.0])
@pytest.mark.parametrize("edges", [(), (1234, 3000, 3050)])
def test_later_windows_start_on_bar_lines_and_keep_their_context(bpm, edges):
    bar = bar_frames(RATE, bpm)
    spans = window_spans(6000, 500, 200, edges, bar)
    assert spans[0][0] == 0 and spans[-1][1] == 6000
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start == end - 200  # the context is the same as ever
        assert _on_a_bar_line(next_start, bar)
        assert 0 < end - start <= 500
    # a window cut at a section's edge ends less than a bar before it, so the section starts in the next one's new
    # stretch (or it is played on, as without bars)
    plain_ends = {end for _, end in window_spans(6000, 500, 200, edges)}
    for edge in set(edges) & plain_ends:
        assert any(0 <= edge - end < bar for _, end in spans[:-1])


def test_without_bars_or_with_a_bar_longer_than_the_stride_the_windows_are_as_before():
    plain = window_spans(6000, 500, 200, (1234,))
    assert window_spans(6000, 500, 200, (1234,), None) == plain
    assert window_spans(6000, 500, 200, (1234,), bar_frames(RATE, 39.0)) == plain  # a bar of 307.7 frames
    assert bar_line(172, 85.714) == 171 and bar_line(172, 85.714, after=True) == 257 and bar_line(0, 85.7) == 0


def test_the_plan_starts_windows_on_bar_lines_and_says_when_it_cannot():
    lyrics = "[verse]\nla la la la\nna na na\n[chorus]\noh oh oh oh\n[verse]\nhey hey hey\n[chorus]\noh oh oh oh"
    plan = plan_song(lyrics, 6000, 500, 200, RATE, bar_bpm=96.0)
    assert plan.to_dict()["windows_start_on_bars_of_bpm"] == 96.0 and not plan.warnings()
    bar = bar_frames(RATE, 96.0)
    ends = plan.window_ends(RATE)
    assert all(_on_a_bar_line(end - 200, bar) for end in ends[:-1])
    assert plan_song(lyrics, 6000, 500, 200, RATE).window_ends(RATE) != ends
    # a bar of 6.15 s, longer than each window's 6 s of new song: a stated fallback
    slow = plan_song(lyrics, 6000, 500, 200, RATE, bar_bpm=39.0)
    assert slow.window_ends(RATE) == plan_song(lyrics, 6000, 500, 200, RATE).window_ends(RATE)
    (warning,) = slow.warnings()
    assert "later windows cannot start on bar lines" in warning and "raise window_s" in warning


def test_the_processor_plans_on_the_asked_tempo_only_for_a_model_with_a_tempo_control():
    settings = dict(duration_s=20.0, window_s=5.0, context_s=2.0)
    lyrics = "[verse]\nla la la\n[chorus]\noh oh oh oh\n[verse]\nna na na\n[chorus]\noh oh oh oh"
    model = _model("parallel_stream2")
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    bar = bar_frames(RATE, 132.0)
    for features in (
        processor("pop at 132 bpm", lyrics, **settings),
        processor("pop", lyrics, tempo_bpm=132.0, **settings),
    ):
        ends = features["window_ends"][0].tolist()
        assert all(_on_a_bar_line(end - 100, bar) for end in ends[:-1] if end < 1000)
    plan = processor.interpret("pop at 132 bpm", lyrics, **settings)["plan"]
    assert plan["windows_start_on_bars_of_bpm"] == 132.0
    assert "windows start on bar lines of 132 BPM" in format_plan(plan)
    off = processor("pop at 132 bpm", lyrics, **settings, window_starts_on_bars=False)["window_ends"][0].tolist()
    assert off == processor("pop", lyrics, **settings)["window_ends"][0].tolist()  # no tempo: no bar lines
    assert off != processor("pop at 132 bpm", lyrics, **settings)["window_ends"][0].tolist()
    plain = _model("parallel_stream2", {})
    plain_processor = SongGenProcessor.for_config(plain.config, *tiny_tokenizers())
    assert "windows_start_on_bars_of_bpm" not in plain_processor.interpret("pop at 132 bpm", lyrics, **settings)["plan"]
    with pytest.raises(ValueError, match="window_starts_on_bars must be True or False"):
        processor("pop at 132 bpm", lyrics, **settings, window_starts_on_bars="yes")


def _counted_starts(model) -> list:
    """The beats the tempo control is told it has counted at each pass's position 0 (None: 0), pass by pass."""
    controls = model.decoder.model.musical_controls
    real = controls.beat_phase_features
    told = []

    def spy(positions, rate, start=None):
        told.append(None if start is None else start[:2].clone())
        return real(positions, rate, start)

    controls.beat_phase_features = spy
    return told


@pytest.mark.parametrize("pattern", ["mixed", "mixed_pro", "interleaving_A_V", "parallel_std", "parallel_stream2"])
def test_generate_starts_each_songs_later_windows_on_its_bar_lines_with_the_beat_running_on(pattern):
    model = _model(pattern)
    told = _counted_starts(model)
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": TEMPOS}
    settings = dict(**LONG, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(3)
    out = model.generate(**conditions, **settings)
    starts = out.window_starts.tolist()  # one row per song: the songs' bars differ
    beats_per_frame = TEMPOS.double() / (60.0 * RATE)
    counted = [value for value in told if value is not None]
    for row, bpm in enumerate(TEMPOS.tolist()):
        bar = bar_frames(RATE, bpm)
        assert starts[row][0] == 0 and len(starts[row]) > 1
        assert all(_on_a_bar_line(start, bar) for start in starts[row])
        # each later window's metronome stands on a bar line there: the song's beats, a whole number of bars
        # within half a frame's beat
        for start in starts[row][1:]:
            beats = start * float(beats_per_frame[row])
            assert any(
                torch.isclose(value[row].double(), torch.tensor(beats, dtype=torch.float64)) for value in counted
            )
            assert abs(beats - 4 * round(beats / 4)) <= 0.5 * float(beats_per_frame[row]) + 1e-9
    # the offset mode keeps the plain stride, and the first window's music is the same in both: the bar-line
    # window's frames are the first frames of the window made without bar lines, but for the higher codebooks of
    # its last frames, which a delay pattern fills as its shorter pass ends
    torch.manual_seed(3)
    offset = model.generate(**conditions, **settings, window_starts_on_bars=False)
    assert offset.window_starts.tolist() == [0, 32, 64, 96, 128]
    tail = int((model.config.decoder.num_codebooks - 1) * max(1, model.pattern.frames_per_position)) + 1
    first_end = min(starts[row][1] for row in range(2)) + 8 - tail
    assert first_end > 0
    for name in model.pattern.track_names:
        assert torch.equal(out.codes[name][..., :first_end], offset.codes[name][..., :first_end])


def test_a_song_of_one_window_is_made_as_before():
    model = _model("parallel_stream2")
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": TEMPOS}
    settings = dict(duration_s=0.8, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(4)
    on = model.generate(**conditions, **settings)
    torch.manual_seed(4)
    off = model.generate(**conditions, **settings, window_starts_on_bars=False)
    assert all(torch.equal(on.codes[name], off.codes[name]) for name in model.pattern.track_names)


def test_a_slow_tempo_is_said_and_a_bad_option_refused(caplog):
    model = _model("mixed")
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": torch.tensor([320.0, 320.0])}  # a bar of 37.5 frames
    with caplog.at_level(logging.WARNING):
        out = model.generate(**conditions, **LONG, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    assert out.window_starts.tolist() == [0, 32, 64, 96, 128]
    assert "later windows cannot start on bar lines" in caplog.text
    with pytest.raises(ValueError, match="window_starts_on_bars must be True"):
        model.generate(**conditions, **LONG, window_starts_on_bars="yes")


def test_stream_song_hands_the_plan_options_to_the_planner(tmp_path):
    from songgen_hf.pipelines.streaming import stream_song
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "model", "parallel_stream2", use_voice_encoder=False, decoder=CONTROLS)
    model = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    processor = SongGenProcessor.from_pretrained(folder)
    real, planned = processor.plan_song, []

    def plan_song(*args, **kwargs):
        planned.append(kwargs)
        return real(*args, **kwargs)

    processor.plan_song = plan_song
    lyrics = "[verse]\nla la la\n[chorus]\noh oh oh oh\n[verse]\nna na na\n[chorus]\noh oh oh oh"
    options = dict(repeat_sections=True, repeat_whole_sections=False, window_starts_on_bars=False)
    chunks = list(stream_song(model, processor, "pop at 400 bpm", lyrics, do_sample=False, **LONG, **options))
    assert chunks and planned
    assert all(planned_kwargs[key] == value for planned_kwargs in planned for key, value in options.items())
