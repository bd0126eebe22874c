"""The Gradio Space (space/app.py) with tiny checkpoints: the handler directly, then over HTTP.

The app is imported by path, once per configuration, with ``SONGGEN_MODEL`` (and the live
playback switch) set in the environment first, because it reads both when it is imported.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from songgen_hf.testing import save_tiny_checkpoint  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "space" / "app.py"
DESCRIPTION = "a calm piano song with a soft female voice"
LYRICS = "la la la\nwe sing tonight"


def _import_app(name: str, model: str, streaming: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv("SONGGEN_MODEL", model)
        patch.setenv("SONGGEN_SPACE_STREAMING", streaming)
        spec = importlib.util.spec_from_file_location(name, APP)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # gradio resolves the handler's module while building the API
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("space")
    return {p: str(save_tiny_checkpoint(folder / p, track_pattern=p)) for p in ("mixed_pro", "interleaving_A_V")}


def _run(app, seconds=1.0, **kwargs):
    # description, lyrics, guidance, temperature (0 = greedy), top-k, seed, duration[, reference voice]
    return list(app.generate_song(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, seconds, **kwargs))


def _is_audio(value, length=None):
    rate, samples = value
    return (
        rate == 16000 and samples.dtype == np.int16 and samples.ndim == 1 and (length is None or len(samples) == length)
    )


def test_handler_streams_int16_chunks_and_stems(models):
    app = _import_app("songgen_space_dual", models["interleaving_A_V"], "1")
    assert app.INFO.error is None and app.INFO.dual_track and app.INFO.has_voice
    assert app.reference_voice.visible and app.accompaniment.visible and app.live.visible
    updates = _run(app)
    assert updates[0][4].startswith("Loading")  # the first update says what was understood, before the weights load
    live = [update[0] for update in updates[1:-1]]
    assert live and all(_is_audio(chunk) for chunk in live)
    _, song, accompaniment, vocals, status, _ = updates[-1]
    assert _is_audio(song, 16000) and _is_audio(accompaniment, 16000) and _is_audio(vocals, 16000)
    assert sum(len(chunk[1]) for chunk in live) == 16000
    np.testing.assert_array_equal(np.concatenate([chunk[1] for chunk in live]), song[1])
    assert "Done" in status


def test_a_song_longer_than_the_models_window_streams_across_its_windows(tmp_path):
    # a decoder of 40 positions holds 32 frames (0.64 s): 1.5 s is four windows, continuing from 13 frames each
    short = {"max_position_embeddings": 40}
    folder = save_tiny_checkpoint(tmp_path / "short", track_pattern="mixed_pro", decoder=short)
    app = _import_app("songgen_space_windows", str(folder), "1")
    assert app.INFO.window_seconds == 0.64 and app.INFO.max_seconds > 1.5
    assert "Past 0.64 s (the model's window) the song is made window after window" in app.duration.info
    updates = _run(app, seconds=1.5)
    live = [update[0][1] for update in updates[1:-1]]
    song, status = updates[-1][1], updates[-1][4]
    assert len(live) > 1 and _is_audio(song, 24000)
    np.testing.assert_array_equal(np.concatenate(live), song[1])
    assert "Done: 1.5 s of audio" in status


@pytest.mark.parametrize("pattern", ["interleaving_A_V", "mixed_pro"])
def test_the_duration_slider_is_the_songs_length_and_the_status_says_so(models, pattern):
    app = _import_app(f"songgen_space_length_{pattern}", models[pattern], "1")
    assert app.INFO.seconds_step == pytest.approx(0.1) and not app.INFO.sung
    assert "the song plays while it is being generated" in app.headline()
    updates = _run(app, seconds=1.3)
    live = np.concatenate([update[0][1] for update in updates[1:-1]])
    song, status = updates[-1][1], updates[-1][4]
    assert len(live) == len(song[1]) == round(1.3 * 16000)  # what was streamed is the whole song, as long as asked
    assert status.startswith("Done: 1.3 s of audio") and all("of 1.3 s" in update[4] for update in updates[1:-1])


def test_missing_model_is_a_ui_error(tmp_path):
    app = _import_app("songgen_space_missing", str(tmp_path / "no-model-here"), "0")
    assert "No model folder" in app.INFO.error and app.notice.visible
    with pytest.raises(gr.Error):
        _run(app)
    with pytest.raises(gr.Error, match="Describe"):
        next(app.generate_song("  ", LYRICS, 1.0, 0.0, 50, 0, 1.0))


def test_client_round_trip(models, tmp_path):
    # live playback as the machine allows it: Gradio encodes streamed audio with ffmpeg
    app = _import_app("songgen_space_single", models["mixed_pro"], "auto")
    assert app.LIVE == (shutil.which("ffmpeg") is not None)
    assert not app.accompaniment.visible
    updates = _run(app, seconds=1.0)
    assert _is_audio(updates[-1][1], 16000)
    try:
        _, url, _ = app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        client = gradio_client.Client(url, download_files=str(tmp_path), verbose=False, analytics_enabled=False)
        result = client.predict(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, api_name="/generate")
    finally:
        app.demo.close()
    song_path = result[1]
    assert str(song_path).endswith(".wav") and os.path.isfile(song_path)
    import soundfile

    audio, rate = soundfile.read(song_path, dtype="int16")
    assert rate == 16000 and audio.shape == (16000,)
    np.testing.assert_array_equal(audio, updates[-1][1][1])  # greedy: the same song as the direct call
    assert "Done" in result[4]
    assert result[5].startswith("**Understood:** tempo not stated") and "> la la la" in result[5]


def test_a_model_with_a_told_singer_gives_the_sung_song_of_the_pipeline(tmp_path):
    import torch

    from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
    from songgen_hf.pipelines import load_text_to_song_pipeline

    folder = save_tiny_checkpoint(tmp_path / "sung", track_pattern="parallel_stream2", use_voice_encoder=False)
    torch.manual_seed(0)
    SongGenSinger(
        SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en-us+f2"])
    ).save_pretrained(folder / "singer")
    app = _import_app("songgen_space_singer", str(folder), "1")
    # the page promises live playback only where there is some: instrumentals, not sung songs
    assert app.INFO.sung and app.live.label == "Live (instrumentals)"
    assert "a sung song appears when it is finished" in app.headline() and "the song plays" not in app.headline()
    updates = _run(app, seconds=1.3)
    assert not [update[0] for update in updates[1:-1] if update[0] is not gr.skip() and isinstance(update[0], tuple)]
    assert "appears when finished" in updates[1][4] and "Generating 1.3 s" in updates[1][4]
    _, song, accompaniment, vocals, status, _ = updates[-1]
    assert _is_audio(song, 20800) and _is_audio(vocals, 20800) and "told singer" in status
    assert status.startswith("Done: 1.3 s of audio")
    # the same request through the pipeline (greedy, no guidance, seed 0): the same song, the same sung vocals
    expected = load_text_to_song_pipeline(str(folder))(
        {"description": DESCRIPTION, "lyrics": LYRICS}, duration_s=1.3, do_sample=False, guidance_scale=1.0, seed=0
    )
    np.testing.assert_array_equal(app.to_int16(expected["vocals"][0]), vocals[1])
    np.testing.assert_array_equal(app.to_int16(expected["audio"][0]), song[1])
    # an instrumental request to the same model is not sung, so it streams
    updates = list(app.generate_song(DESCRIPTION, "", 1.0, 0.0, 50, 0, 1.3))
    live = [update[0][1] for update in updates[1:-1] if isinstance(update[0], tuple)]
    assert live and np.array_equal(np.concatenate(live), updates[-1][1][1]) and len(updates[-1][1][1]) == 20800


def test_the_choruses_return_whole_box_reaches_the_songs_plan(models, monkeypatch):
    """The "Choruses return whole" box is the planner's ``repeat_whole_sections``: on (the default) a repeated
    section plays its first occurrence's music whole, off it opens with its first seconds only; the song is
    planned with it both where the Space prepares it and where the stream makes it."""
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    app = _import_app("songgen_space_whole_returns", models["mixed_pro"], "1")
    real, seen = SongGenProcessor.plan_song, []

    def plan_song(self, *args, **kwargs):
        seen.append(kwargs.get("repeat_whole_sections"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SongGenProcessor, "plan_song", plan_song)
    seconds = min(app.INFO.max_seconds, round(app.INFO.window_seconds * 2.5, 1))
    assert seconds > app.INFO.window_seconds
    lyrics = "[chorus]\noh oh oh\n[verse]\nla la la\n[chorus]\noh oh oh"
    for whole in (True, False):
        seen.clear()
        updates = list(app.generate_song(DESCRIPTION, lyrics, 1.0, 0.0, 50, 0, seconds, whole))
        assert _is_audio(updates[-1][1]) and seen and set(seen) == {whole}
    with pytest.raises(gr.Error, match="Choruses return whole is a checkbox: send true or false"):
        next(app.generate_song(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, "yes"))
