"""Whole songs asked in ways that cannot work as asked, said before any weights load: a window no longer than its
context is refused; a tempo too slow for a bar to fit a window is made and said, with the fix."""

from __future__ import annotations

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.modeling.songgen.song_plan_songgen import format_plan
from songgen_hf.modeling.songgen.windows_songgen import BEATS_PER_BAR, slow_tempo_warning
from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

LYRICS = "[verse]\nla la la\n[chorus]\noh oh oh oh\n[verse]\nna na na\n[chorus]\noh oh oh oh"


def _processor(**decoder):
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False, decoder=decoder)
    return config, SongGenProcessor.for_config(config, *tiny_tokenizers())


def test_a_window_no_longer_than_its_context_is_refused_when_the_song_is_planned():
    _, processor = _processor()
    for call in (
        lambda: processor("pop", LYRICS, duration_s=2.0, window_s=0.3, context_s=0.3),
        lambda: processor.interpret("pop", LYRICS, duration_s=2.0, window_s=0.3, context_s=0.5),
        lambda: processor.prepare("pop", LYRICS, duration_s=2.0, window_s=0.3, context_s=0.4),
    ):
        with pytest.raises(ValueError, match=r"context_s=0\.\d s \(\d+ frames\) is not shorter than the window") as e:
            call()
        assert "lower context_s or raise window_s" in str(e.value)


def test_a_tempo_too_slow_for_a_bar_per_window_is_said_with_the_fix():
    # 4 beats at 100 BPM are 2.4 s: a 0.6 s window holds a quarter of a bar
    said = slow_tempo_warning(100.0, 0.6)
    assert BEATS_PER_BAR == 4 and "makes a bar of 2.40 s (4 beats), longer than the window of 0.6 s" in said
    assert "raise window_s (--window) to at least 2.4 s, or ask a tempo of at least 400 BPM" in said
    assert slow_tempo_warning(400.0, 0.6) is None and slow_tempo_warning(None, 0.6) is None
    # no tempo a description can ask (at most 400 BPM) fits a bar in 0.4 s: only the window is named
    assert slow_tempo_warning(100.0, 0.4).endswith("raise window_s (--window) to at least 2.4 s")
    assert slow_tempo_warning(float("nan"), 0.6) is None
    config, processor = _processor(use_tempo_control=True)
    settings = dict(duration_s=2.4, window_s=0.6, context_s=0.2)
    understood = processor.interpret("pop at 100 bpm", LYRICS, **settings)
    assert any("a tempo of 100 BPM makes a bar of 2.40 s" in text for text in understood["plan"]["warnings"])
    assert "warning: a tempo of 100 BPM" in format_plan(understood["plan"])
    # a section's note that asks a slower tempo is the one said
    noted = processor.interpret("pop at 400 bpm", LYRICS.replace("[chorus]", "[chorus: at 50 bpm]", 1), **settings)
    assert any("a tempo of 50 BPM" in text for text in noted["plan"]["warnings"])
    # a bar that fits the window but not its 0.4 s stride: later windows cannot start on bar lines, said once
    (said,) = processor.interpret("pop at 400 bpm", LYRICS, **settings)["plan"]["warnings"]
    assert "later windows cannot start on bar lines" in said
    # fast enough, or a model without a tempo control: nothing to say
    assert (
        "warnings" not in processor.interpret("pop at 400 bpm", LYRICS, **settings, window_starts_on_bars=False)["plan"]
    )
    assert (
        "warnings"
        not in processor.interpret("pop at 400 bpm", LYRICS, duration_s=2.4, window_s=0.8, context_s=0.1)["plan"]
    )
    _, plain = _processor()
    assert "warnings" not in plain.interpret("pop at 100 bpm", LYRICS, **settings)["plan"]
    # the song is made, each window counting the song's beat on
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(config).eval()
    out = model.generate(
        **processor("pop at 100 bpm", LYRICS, **settings),
        **settings,
        do_sample=False,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    assert out.frame_lengths.tolist() == [120]
