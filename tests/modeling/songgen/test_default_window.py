"""A model's saved default window (``decoder.default_window_frames``: songgen-tiny's 10 s, the crops it was trained
on) is the window every path makes a longer song in when the call names none: the processor's plan, ``generate``'s
own tiling, the step estimate and the no-length default; a call's ``window_s`` overrides it up to one decoding pass,
and a model that saves none keeps its whole window.  The bad inputs of whole songs are still said before any
weights load with the shorter windows: a context no shorter than the window, a tempo too slow for a bar per window
(or per stride), a repeated section longer than a window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import SongGenDecoderConfig
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.windows_songgen import (
    default_window_s,
    max_duration_s,
    song_window_count,
    song_windows,
)
from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "songgen_hf" / "assets" / "songgen-tiny"
RATE = 50.0
DEFAULT = 40  # frames: 0.8 s windows in a model whose one pass holds 496 frames (9.92 s)
CONTROLS = {"use_tempo_control": True, "use_key_control": True}
LYRICS = "[verse]\nla la la\n[chorus]\noh oh oh oh\n[verse]\nna na na\n[chorus]\noh oh oh oh"


def _model(default: int | None = DEFAULT, pattern: str = "parallel_stream2"):
    torch.manual_seed(0)
    decoder = {**CONTROLS, **({} if default is None else {"default_window_frames": default})}
    config = tiny_songgen_config(pattern, use_voice_encoder=False, decoder=decoder)
    return SongGenForConditionalGeneration(config).eval()


def _processor(model):
    return SongGenProcessor.for_config(model.config, *tiny_tokenizers())


def test_the_saved_window_is_the_default_and_a_call_overrides_it_up_to_one_pass():
    config = _model().config
    assert max_duration_s(config) == 9.92 and default_window_s(config) == DEFAULT / RATE
    assert song_windows(config) == (40, 16)  # the context: 0.4 of the default window
    assert song_windows(config, 2.0) == (100, 40) and song_windows(config, 9.92) == (496, 198)
    assert song_window_count(config, 0.8) == 1 and song_window_count(config, 3.0) == 6
    check_generation_arguments({"duration_s": 3.0, "window_s": 9.92}, config)  # the whole pass, asked
    with pytest.raises(ValueError, match="one pass of this model holds 9.92 s; leave it out for its default window"):
        check_generation_arguments({"duration_s": 3.0, "window_s": 10.0}, config)
    # no saved window: the whole pass, as before; one longer than the pass is capped at it
    assert song_windows(_model(None).config) == (496, 198) and default_window_s(_model(None).config) == 9.92
    assert song_windows(_model(1000).config) == (496, 198)
    for bad in (1, 0, -5, 2.5, True, "500"):
        with pytest.raises(ValueError, match="default_window_frames must be a whole number of codec frames >= 2"):
            SongGenDecoderConfig(default_window_frames=bad)


def test_the_plan_generate_and_the_step_estimate_all_read_the_saved_window():
    model = _model()
    processor = _processor(model)
    plan = processor.plan_song(LYRICS, duration_s=3.0, tempo_bpm=400.0)
    assert (plan.window_s, plan.context_s) == (0.8, 0.32)
    assert processor.plan_song(LYRICS, duration_s=3.0, window_s=2.0).window_s == 2.0
    assert processor.plan_song(LYRICS, duration_s=0.8) is None  # one default window: one pass, all its lyrics
    features = processor("pop at 400 bpm", LYRICS, duration_s=3.0)
    settings = dict(duration_s=3.0, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(3)
    saved = model.generate(**features, **settings)
    starts = saved.window_starts[0].tolist() if saved.window_starts.dim() > 1 else saved.window_starts.tolist()
    assert len(starts) >= 6 and starts[0] == 0
    assert max(b - a for a, b in zip(starts, starts[1:])) <= DEFAULT - 16  # at most a stride of the saved window
    # the same song as with the saved window asked in the call
    torch.manual_seed(3)
    told = model.generate(**features, **settings, window_s=0.8, context_s=0.32)
    assert all(torch.equal(saved.codes[name], told.codes[name]) for name in model.pattern.track_names)
    # the estimate counts the same windows; a call's own window counts its own
    assert expected_decoder_steps(model, 3.0) == expected_decoder_steps(model, 3.0, window_s=0.8, context_s=0.32)
    assert expected_decoder_steps(model, 3.0) != expected_decoder_steps(model, 3.0, window_s=2.0)
    # no length asked: one pass of at most the default window
    torch.manual_seed(3)
    plain = model.generate(**processor("pop at 400 bpm", "la la la"), return_dict_in_generate=True, decode_audio=False)
    assert plain.window_starts is None and int(plain.frame_lengths.max()) == DEFAULT
    assert expected_decoder_steps(model) == expected_decoder_steps(model, DEFAULT / RATE)


def test_a_song_of_one_default_window_is_one_pass_however_it_is_asked():
    """A song that fits the default window and asks no windows goes straight to its one pass (no window
    arithmetic, no long-song plan); asked with the same window it is the same song."""
    from songgen_hf.modeling.songgen import configuration_songgen, windows_songgen

    model = _model()
    config = model.config
    assert configuration_songgen.fits_default_window(config, DEFAULT / RATE)
    assert not configuration_songgen.fits_default_window(config, (DEFAULT + 1) / RATE)
    # the lengths every song asks are the config's; the windows' module hands on the same functions
    for name in ("duration_frames", "window_frames", "default_window_frames", "max_duration_s", "default_window_s"):
        assert getattr(windows_songgen, name) is getattr(configuration_songgen, name)
    features = _processor(model)("pop at 400 bpm", "la la la", duration_s=DEFAULT / RATE)
    settings = dict(duration_s=DEFAULT / RATE, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    torch.manual_seed(5)
    plain = model.generate(**features, **settings)
    torch.manual_seed(5)
    windowed = model.generate(**features, **settings, window_s=DEFAULT / RATE, context_s=0.32)
    assert plain.window_starts is None and windowed.window_starts is None
    assert all(torch.equal(plain.codes[name], windowed.codes[name]) for name in model.pattern.track_names)
    assert expected_decoder_steps(model, DEFAULT / RATE) == expected_decoder_steps(model, DEFAULT / RATE, window_s=0.8)


def test_bad_input_with_the_default_window_is_said_before_any_weights_load():
    config = _model().config
    processor = SongGenProcessor.for_config(config, *tiny_tokenizers())
    # a context no shorter than the (default) window: refused, naming both arguments
    for call in (
        lambda: check_generation_arguments({"duration_s": 3.0, "context_s": 0.8}, config),
        lambda: processor("pop", LYRICS, duration_s=3.0, context_s=1.0),
    ):
        with pytest.raises(ValueError, match=r"context_s=\S+ s \(\d+ frames\) is not shorter than the window of 40"):
            call()
    # a bar (4 beats) longer than the 24-frame stride but within the window: later windows start where the stride
    # puts them, said with the fix; a bar longer than the window: the song is made, said with the fix
    (stride,) = processor.interpret("pop at 400 bpm", LYRICS, duration_s=3.0)["plan"]["warnings"]
    assert "later windows cannot start on bar lines" in stride and "raise window_s (--window)" in stride
    (slow,) = processor.interpret("pop at 100 bpm", LYRICS, duration_s=3.0)["plan"]["warnings"]
    assert "makes a bar of 2.40 s (4 beats), longer than the window of 0.8 s" in slow


def test_a_repeated_section_longer_than_the_default_window_returns_whole_across_its_windows():
    model = _model()
    processor = _processor(model)
    features = processor("pop at 400 bpm", LYRICS, duration_s=4.0)
    plan = processor.plan_song(LYRICS, duration_s=4.0, tempo_bpm=400.0)
    (first, first_end), (second, second_end) = [
        (round(section.start_s * RATE), round(section.end_s * RATE))
        for section in plan.sections
        if section.kind == "chorus"
    ]
    assert second_end - second > DEFAULT  # longer than a window: held window after window
    torch.manual_seed(1)
    out = model.generate(**features, duration_s=4.0, do_sample=True, return_dict_in_generate=True, decode_audio=False)
    accompaniment = out.codes["accompaniment"][0]
    length = min(second_end - second, first_end - first)
    assert torch.equal(accompaniment[:, second : second + length], accompaniment[:, first : first + length])
    assert len({start for start in out.window_starts.tolist() if second - DEFAULT <= start < second_end}) >= 2


def test_songgen_tiny_saves_the_10_s_it_was_trained_on():
    """The embedded default makes a longer song in 10 s windows (the recipe's max_frames), a 10 s song in one pass;
    the whole 31.68 s pass stays a call's choice; the processor loaded from its folder plans the same windows."""
    from songgen_hf.modeling.songgen import SongGenConfig

    config = SongGenConfig.from_pretrained(TINY)
    recipe = (ROOT / "recipes" / "songgen_tiny" / "songgen_v12_dual_track.yaml").read_text(encoding="utf-8")
    assert f"max_frames: {config.decoder.default_window_frames}" in recipe
    assert default_window_s(config) == 10.0 and max_duration_s(config) == 31.68
    assert song_windows(config) == (500, 200) and song_window_count(config, 10.0) == 1
    assert song_window_count(config, 120.0) == 20 and song_window_count(config, 120.0, window_s=31.68) == 6
    check_generation_arguments({"duration_s": 120.0, "window_s": 31.68}, config)
    processor = SongGenProcessor.from_pretrained(TINY)
    assert processor.plan_song(LYRICS, duration_s=120.0).window_s == 10.0
    assert processor.plan_song(LYRICS, duration_s=10.0) is None
    card = (TINY / "README.md").read_text(encoding="utf-8")
    assert "a window of 31.68 s (one decoding pass)" in card and "by default in windows of 10 s" in card


def test_info_and_export_say_and_save_the_default_window(tmp_path, capsys):
    from songgen_hf.commands.cli import main as songgen
    from songgen_hf.testing import save_tiny_checkpoint

    source = save_tiny_checkpoint(tmp_path / "model", "parallel_stream2", use_voice_encoder=False)
    release = tmp_path / "release"
    assert songgen(["export", str(source), str(release), "--default-window", "0.8"]) == 0
    saved = json.loads((release / "config.json").read_text(encoding="utf-8"))
    assert saved["decoder"]["default_window_frames"] == 40
    assert "by default in windows of 0.8 s" in (release / "README.md").read_text(encoding="utf-8")
    capsys.readouterr()
    assert songgen(["info", str(release), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["window_seconds"] == 0.8 and info["longest_window_seconds"] == 9.92
    # a default window longer than one pass, or not positive: refused, naming the flag
    for bad in ("20", "0"):
        assert songgen(["export", str(source), str(tmp_path / f"bad{bad}"), "--default-window", bad]) != 0
        assert "--default-window" in capsys.readouterr().err
