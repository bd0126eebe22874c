"""Editing a song (songgen_hf/pipelines/editing.py): a span re-made from the song's codes before it, every other
sample the input's bit for bit, an extension that keeps the song, the new words planned into the span."""

import numpy as np
import pytest
import torch

from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.pipelines.editing import (
    EditError,
    context_codes,
    continuation_score,
    edit_song,
    equal_power_fades,
    extend_song,
    plan_edit,
)
from songgen_hf.testing import save_tiny_checkpoint

RATE = 16000
PATTERNS = ("mixed_pro", "mixed", "interleaving_A_V", "parallel_stream2", "mixed_stream2")
DESCRIPTION = "a pop song in C major at 120 bpm with drums and a female voice"


def _song(seconds: float, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Noise quantised to 16-bit values, as a song read from a 16-bit WAV is."""
    rng = np.random.default_rng(seed)
    return np.round(rng.standard_normal((channels, int(seconds * RATE))) * 0.1 * 32768) / 32768


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    built = {}

    def get(pattern: str):
        if pattern not in built:
            folder = save_tiny_checkpoint(tmp_path_factory.mktemp(pattern), pattern, use_voice_encoder=False)
            pipe = load_text_to_song_pipeline(str(folder))
            pipe.set_progress_bar_config(disable=True)
            built[pattern] = pipe
        return built[pattern]

    return get


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_sample_outside_the_span_is_the_songs_and_the_span_is_new(pipes, pattern):
    pipe = pipes(pattern)
    song = _song(3.0)
    result = edit_song(pipe, (song, RATE), 1.0, 1.6, DESCRIPTION, "la la", seed=0, candidates=2)
    audio = result["audio"]
    start, end = RATE, int(1.6 * RATE)
    assert audio.shape == song.shape and audio.dtype == np.float64
    np.testing.assert_array_equal(audio[:, :start], song[:, :start])
    np.testing.assert_array_equal(audio[:, end:], song[:, end:])
    assert np.mean(audio[:, start:end] != song[:, start:end]) > 0.9
    assert len(result["scores"]) == 2 and result["chosen"] == int(np.argmax(result["scores"]))
    assert all(score < 0 for score in result["scores"])  # scored on the 0.5 s after the span
    again = edit_song(pipe, (song, RATE), 1.0, 1.6, DESCRIPTION, "la la", seed=0, candidates=2)
    np.testing.assert_array_equal(again["audio"], audio)  # a seed makes the same edit


@pytest.mark.parametrize("pattern", ("mixed_pro", "interleaving_A_V"))
def test_the_span_continues_the_songs_own_codes(pipes, pattern):
    pipe = pipes(pattern)
    song = _song(3.0)
    plan = plan_edit(pipe.model.config, song.shape[-1], 1.0, 1.6)
    assert plan.context_frames == plan.window_start + plan.context_frames - plan.window_start > 0
    tracks = {name: song for name in pipe.model.pattern.track_names}
    codes = context_codes(pipe.model, tracks, plan)
    # the context is the codec's codes of the song's own frames before the span
    begin, end = plan.window_start * plan.hop, (plan.window_start + plan.context_frames) * plan.hop
    whole = pipe.model.audio_encoder.encode(torch.tensor(song[:, :end], dtype=torch.float32).view(1, 1, -1))
    for track in codes.values():
        assert track.shape == (1, pipe.model.config.decoder.num_codebooks, plan.context_frames)
        agree = (track == whole.audio_codes[:, : track.shape[1], begin // plan.hop :]).float().mean()
        assert agree > 0.9  # the same codes, up to the codec's edge
    # another song before the span (the same after it) makes another span from the same seed
    other = song.copy()
    other[:, : RATE // 2] = _song(0.5, seed=7)
    a = edit_song(pipe, (song, RATE), 1.0, 1.6, DESCRIPTION, seed=3, candidates=1)["audio"]
    b = edit_song(pipe, (other, RATE), 1.0, 1.6, DESCRIPTION, seed=3, candidates=1)["audio"]
    assert not np.array_equal(a[:, RATE : int(1.6 * RATE)], b[:, RATE : int(1.6 * RATE)])


def test_spans_at_the_songs_edges_and_a_stereo_song(pipes):
    pipe = pipes("mixed_pro")
    song = _song(2.0, channels=2)
    first = edit_song(pipe, (song, RATE), 0.0, 0.5, DESCRIPTION, candidates=1)
    assert first["audio"].shape == song.shape
    np.testing.assert_array_equal(first["audio"][:, RATE // 2 :], song[:, RATE // 2 :])
    # both channels get the new stretch; the song's own samples stay in each channel
    np.testing.assert_array_equal(first["audio"][0, 1000:7000], first["audio"][1, 1000:7000])
    last = edit_song(pipe, (song, RATE), 1.5, 2.0, DESCRIPTION, candidates=2)
    np.testing.assert_array_equal(last["audio"][:, : int(1.5 * RATE)], song[:, : int(1.5 * RATE)])
    assert last["scores"] == [0.0, 0.0] and last["chosen"] == 0  # nothing after the span to score against


@pytest.mark.parametrize("pattern", ("mixed_pro", "parallel_stream2"))
def test_extend_keeps_every_sample_of_the_song(pipes, pattern):
    pipe = pipes(pattern)
    song = _song(2.0)
    result = extend_song(pipe, (song, RATE), 1.0, DESCRIPTION, seed=1)
    audio = result["audio"]
    assert audio.shape == (1, 3 * RATE)
    np.testing.assert_array_equal(audio[:, : song.shape[-1]], song)
    # the first new sample meets the song's last one: no step at the join
    assert abs(audio[0, song.shape[-1]] - song[0, -1]) < 0.05


def test_a_dual_track_song_with_its_stems_keeps_each_stem_outside_the_span(pipes):
    pipe = pipes("interleaving_A_V")
    vocals, accompaniment = _song(3.0, seed=1) / 2, _song(3.0, seed=2) / 2
    song = vocals + accompaniment
    stems = {"vocals": (vocals, RATE), "accompaniment": (accompaniment, RATE)}
    result = edit_song(pipe, (song, RATE), 1.0, 1.6, DESCRIPTION, stems=stems, candidates=1)
    assert result["notes"] == []
    for name, original in (("audio", song), ("vocals", vocals), ("accompaniment", accompaniment)):
        np.testing.assert_array_equal(result[name][:, :RATE], original[:, :RATE])
        np.testing.assert_array_equal(result[name][:, int(1.6 * RATE) :], original[:, int(1.6 * RATE) :])
    without = edit_song(pipe, (song, RATE), 1.0, 1.6, DESCRIPTION, candidates=1)
    assert "stems were not given" in without["notes"][0]


@pytest.fixture(scope="module")
def singing(tmp_path_factory):
    """A dual-track tiny model with a told singer."""
    root = tmp_path_factory.mktemp("singing")
    folder = save_tiny_checkpoint(root / "model", "parallel_stream2", use_voice_encoder=False)
    torch.manual_seed(0)
    config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en-us+f2"])
    SongGenSinger(config).save_pretrained(root / "singer")
    pipe = load_text_to_song_pipeline(str(folder), singer=str(root / "singer"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_new_words_are_sung_inside_the_span(singing):
    from songgen_hf.pipelines.editing import _prepared_song, bar_seconds
    from songgen_hf.pipelines.text_to_song import song_score

    pipe = singing
    song = _song(8.0)
    lyrics = "we run across the night\nand sing until the light"
    bar = bar_seconds(pipe.processor, DESCRIPTION, lyrics)
    assert bar == 2.0  # 120 bpm
    for start, end in ((3.0, 5.5), (3.3, 5.5), (0.7, 4.5)):
        plan = plan_edit(pipe.model.config, song.shape[-1], start, end, bar_s=bar)
        offset = (plan.start_sample - plan.window_sample) / RATE
        if start > bar:  # the window starts whole bars before the span: the span starts a bar of the score
            assert offset == pytest.approx(round(offset / bar) * bar, abs=1 / plan.frame_rate)
        prepared = _prepared_song(pipe, DESCRIPTION, lyrics, plan)
        score = song_score(pipe.processor, prepared, plan.duration_s, seed=0)
        span_end = (plan.end_sample - plan.window_sample) / RATE
        assert score is not None and {"we", "run"} <= set(score.syllables)
        assert min(score.onsets_s) >= offset - 1e-6
        assert max(onset + length for onset, length in zip(score.onsets_s, score.durations_s)) <= span_end
    result = edit_song(pipe, (song, RATE), 3.0, 5.5, DESCRIPTION, lyrics, candidates=1)
    np.testing.assert_array_equal(result["audio"][:, : 3 * RATE], song[:, : 3 * RATE])
    np.testing.assert_array_equal(result["audio"][:, int(5.5 * RATE) :], song[:, int(5.5 * RATE) :])
    sung = result["understood"]["plan"]["sections"]
    assert [section["lines"] for section in sung] == [[], lyrics.splitlines(), []]
    # a span without a whole bar cannot sing words: said before anything is generated
    with pytest.raises(EditError, match="holds no whole bar at 120 BPM"):
        edit_song(pipe, (song, RATE), 3.0, 4.5, DESCRIPTION, lyrics)


@pytest.mark.parametrize(
    "start, end, message",
    [
        (1.0, 4.0, "lies past the song's end"),
        (1.0, 1.01, "shorter than one codec frame"),
        (0.1, 2.9, "longer than the model's window"),
        (1.5, 1.0, "must come after"),
        (-1.0, 1.0, "start_s must be >= 0 and <= 600, got -1"),
        (float("nan"), 1.0, "start_s must be"),
    ],
)
def test_a_span_that_cannot_be_edited_is_refused_from_the_config(start, end, message):
    from songgen_hf.testing import tiny_songgen_config

    config = tiny_songgen_config("interleaving_A_V")  # a window of 2.38 s
    with pytest.raises(ValueError, match=message):
        plan_edit(config, 3 * RATE, start, end)


def test_the_crossfades_are_equal_power_and_the_score_prefers_the_song():
    fade_in, fade_out = equal_power_fades(800)
    np.testing.assert_allclose(fade_in**2 + fade_out**2, 1.0)
    assert fade_in[0] < 0.01 and fade_out[-1] < 0.01
    song = _song(0.5)[0]
    assert continuation_score(song, song, RATE) == 0.0
    assert continuation_score(song * 0.5, song, RATE) < continuation_score(song * 0.9, song, RATE) < 0


def test_the_vocal_track_alone_is_sung_again_over_the_same_accompaniment(singing):
    from songgen_hf.pipelines.editing import bar_seconds, resing

    pipe = singing
    made = pipe({"description": DESCRIPTION, "lyrics": "la la la"}, duration_s=8.0, seed=0)
    song, vocals, accompaniment = (made[name].astype(np.float64) for name in ("audio", "vocals", "accompaniment"))
    stems = {"vocals": (vocals, RATE), "accompaniment": (accompaniment, RATE)}
    lyrics = "we run across the night"
    bar = bar_seconds(pipe.processor, DESCRIPTION, lyrics)
    plan = plan_edit(pipe.model.config, song.shape[-1], 3.0, 5.5, bar_s=bar)
    result = resing(pipe, (song, RATE), plan, DESCRIPTION, lyrics, stems=stems)
    start, end = 3 * RATE, int(5.5 * RATE)
    np.testing.assert_array_equal(result["accompaniment"], accompaniment)  # the same accompaniment throughout
    for name, original in (("audio", song), ("vocals", vocals)):
        np.testing.assert_array_equal(result[name][:, :start], original[:, :start])
        np.testing.assert_array_equal(result[name][:, end:], original[:, end:])
    assert np.mean(result["vocals"][:, start:end] != vocals[:, start:end]) > 0.9
    # inside the span, past the crossfades, the mix is the song's accompaniment plus the new vocals
    inner = slice(start + plan.crossfade, end - plan.crossfade)
    mixed = np.clip(result["mix_scale"] * (accompaniment[:, inner] + result["vocals"][:, inner]), -1, 1)
    np.testing.assert_allclose(result["audio"][:, inner], mixed, atol=1e-9)
    if np.abs(accompaniment + vocals).max() > 0.99:  # the song's mix was scaled to a 0.99 peak when it was made
        assert result["mix_scale"] == pytest.approx(0.99 / np.abs(accompaniment + vocals).max(), rel=1e-4)
    with pytest.raises(EditError, match="needs the song's stems"):
        resing(pipe, (song, RATE), plan, DESCRIPTION, lyrics, stems=None)
