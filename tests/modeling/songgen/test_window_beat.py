"""The tempo control's beat runs on across a long song's windows: each later window's metronome starts where the
song's beat stands at its first frame, for every token pattern; a song of one window is made as before."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config, tiny_tokenizers

CONTROLS = {"use_tempo_control": True, "use_key_control": True}
RATE = 50.0
# windows of 20 frames continuing from the previous one's last 8: starts 0, 12, 24, 36 (12 frames at 97 BPM is
# 0.39 of a beat, so no later window starts on a beat)
LONG = dict(duration_s=1.0, window_s=0.4, context_s=0.16)
TEMPOS = torch.tensor([97.0, 131.0])


def _model(pattern: str):
    torch.manual_seed(0)
    config = tiny_songgen_config(pattern, use_voice_encoder=False, decoder=CONTROLS)
    return SongGenForConditionalGeneration(config).eval()


def _spy_on_the_metronome(model) -> list[list[tuple]]:
    """Every beat-phase computation of the decoder's tempo control, grouped by window (one list per ``generate``
    pass): ``(positions, beats per position, beats counted at position 0)``."""
    controls = model.decoder.model.musical_controls
    real = controls.beat_phase_features
    windows: list[list[tuple]] = []

    def spy(positions, rate, start=None):
        windows[-1].append((positions.clone(), rate.clone(), None if start is None else start.clone()))
        return real(positions, rate, start)

    controls.beat_phase_features = spy
    generate, window = type(model).generate, type(model)._generate_window

    def counted(*args, **kwargs):  # the song's own call
        windows.append([])
        return generate(model, *args, **kwargs)

    def each_window(*args, **kwargs):  # and each of its passes
        windows.append([])
        return window(model, *args, **kwargs)

    model.generate = counted
    model._generate_window = each_window
    return windows


@pytest.mark.parametrize("pattern", ["mixed", "mixed_pro", "interleaving_A_V", "parallel_std", "parallel_stream2"])
def test_each_later_windows_metronome_continues_the_songs_beat(pattern):
    model = _model(pattern)
    windows = _spy_on_the_metronome(model)
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": TEMPOS}
    torch.manual_seed(3)
    out = model.generate(
        **conditions, **LONG, do_sample=True, guidance_scale=2.0, return_dict_in_generate=True, decode_audio=False
    )
    windows = windows[1:]  # the song's own call, then one pass per window
    starts = out.window_starts.tolist()
    assert starts == [0, 12, 24, 36] and len(windows) == len(starts)
    controls = model.decoder.model.musical_controls
    features_of = type(controls).beat_phase_features.__get__(controls)  # not the spy
    frames_per_position = model.pattern.frames_per_position
    beats_per_frame = TEMPOS.double() / (60.0 * RATE)
    for start, calls in zip(starts, windows):
        assert calls, "every window reads the tempo control"
        for positions, rate, counted in calls:
            # the songs' own rows (guidance adds rows with the tempo unknown)
            rate, positions = rate[:2].double(), positions.expand(rate.shape[0], -1)[:2]
            assert torch.allclose(rate, beats_per_frame * frames_per_position)
            if start == 0:
                assert counted is None  # the first window counts from 0, as a single pass does
                continue
            # the window's position p is the whole song's position p + start / frames_per_position: the beats the
            # window counts there are the song's, and so are the phase features the decoder reads
            assert torch.allclose(counted[:2], start * beats_per_frame)
            whole = (positions.double() + start / frames_per_position) * rate.view(-1, 1)
            window = positions.double() * rate.view(-1, 1) + counted[:2].view(-1, 1)
            assert torch.allclose(window, whole, rtol=0, atol=1e-6)
            features = features_of(positions, rate, counted[:2])
            reference = features_of(positions + start / frames_per_position, rate)
            assert torch.allclose(features, reference, atol=1e-6)


def test_a_song_of_one_window_is_made_as_before_and_the_start_is_read():
    """A song that fits one window never gets a metronome start; its codes are those of a pass told 0 beats, and a
    start of half a beat changes them (the control reads it)."""
    model = _model("parallel_stream2")
    windows = _spy_on_the_metronome(model)
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": TEMPOS}
    settings = dict(duration_s=0.4, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(4)
    plain = model.generate(**conditions, **settings)
    assert all(counted is None for calls in windows for _, _, counted in calls)
    del model.generate
    torch.manual_seed(4)
    told = model.generate(**conditions, **settings, tempo_start_beats=torch.zeros(2))
    torch.manual_seed(4)
    shifted = model.generate(**conditions, **settings, tempo_start_beats=torch.full((2,), 0.5))
    for name in model.pattern.track_names:
        assert torch.equal(plain.codes[name], told.codes[name])
    assert any(not torch.equal(plain.codes[name], shifted.codes[name]) for name in model.pattern.track_names)


def test_bad_metronome_starts_are_named():
    model = _model("mixed")
    conditions = {**dummy_generation_inputs(model), "tempo_bpm": TEMPOS}
    with pytest.raises(ValueError, match=r"tempo_start_beats must hold one value per song \(2\)"):
        model.generate(**conditions, duration_s=0.2, tempo_start_beats=torch.zeros(3))
    with pytest.raises(ValueError, match="tempo_start_beats must be finite beat counts >= 0"):
        model.generate(**conditions, duration_s=0.2, tempo_start_beats=torch.tensor([0.0, float("nan")]))
    plain = SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()
    with pytest.raises(ValueError, match="this model has no tempo control"):
        plain.generate(**dummy_generation_inputs(plain), duration_s=0.2, tempo_start_beats=torch.zeros(2))


def test_songs_in_other_windows_keep_their_own_beat_in_a_batch():
    """Two songs cut in different windows (one has a noted chorus) at different tempos: each window of each song
    counts its own song's beat, so the batch makes each song as it is made alone."""
    model = _model("parallel_stream2")
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    settings = dict(duration_s=3.2, window_s=0.8, context_s=0.2)
    songs = [
        ("pop at 320 bpm", "[intro]\n[verse]\nla la la\n[chorus: anthemic]\noh oh oh oh\n[outro]"),
        ("rock at 400 bpm", "la la\noh oh"),
    ]
    greedy = dict(do_sample=False, decode_audio=False, return_dict_in_generate=True)
    features = processor([d for d, _ in songs], [text for _, text in songs], **settings)
    assert features["window_ends"][0].tolist() != features["window_ends"][1].tolist()
    together = model.generate(**features, **settings, **greedy)
    for row, (description, text) in enumerate(songs):
        alone = model.generate(**processor(description, text, **settings), **settings, **greedy)
        assert all(torch.equal(together.codes[name][row], alone.codes[name][0]) for name in alone.codes)
