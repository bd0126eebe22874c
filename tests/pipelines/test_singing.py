"""A release with a told singer: `songgen export --singer` saves it beside the model, the text-to-song pipeline finds
it there and re-sings each sung request's vocal track from a composed score (pipelines/loading.py)."""

import json

import numpy as np
import pytest
import torch

from songgen_hf.commands.cli import main as songgen_main
from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.testing import save_tiny_checkpoint

SUNG = {
    "description": "a pop song in C major at 120 bpm with a female voice",
    "lyrics": "we run across the night\nand sing until the light",
}


def _singer_folder(folder, seed=0):
    torch.manual_seed(seed)
    config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=["en-us+f2"])
    SongGenSinger(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("singing")
    source = save_tiny_checkpoint(root / "final", "parallel_stream2", use_voice_encoder=False)
    assert (
        songgen_main(
            [
                "export",
                str(source),
                "--output",
                str(root / "release"),
                "--no-card",
                "--singer",
                str(_singer_folder(root / "singer_run")),
            ]
        )
        == 0
    )
    return root


def test_export_stores_the_singer_in_half_precision_and_it_loads_as_float32(release):
    stored = release / "release" / "singer"
    raw = (stored / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert {entry["dtype"] for key, entry in header.items() if key != "__metadata__"} == {"F16"}
    loaded = SongGenSinger.from_pretrained(stored)
    original = SongGenSinger.from_pretrained(release / "singer_run")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    for (name, a), (_, b) in zip(original.state_dict().items(), loaded.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3), name


def test_the_pipeline_sings_with_the_releases_singer_unless_told_not_to(release):
    folder = str(release / "release")
    pipe = load_text_to_song_pipeline(folder)
    assert isinstance(pipe.singer, SongGenSinger)
    plain = load_text_to_song_pipeline(folder, singer=None)
    assert plain.singer is None
    sung, unsung = (p(SUNG, duration_s=2.0, min_duration_s=2.0, seed=3) for p in (pipe, plain))
    # the decoder's draws are the same; only the vocal track is sung again
    np.testing.assert_allclose(sung["accompaniment"], unsung["accompaniment"], atol=1e-6)
    assert np.abs(sung["vocals"] - unsung["vocals"]).max() > 1e-3
    again = pipe(SUNG, duration_s=2.0, min_duration_s=2.0, seed=3)
    np.testing.assert_array_equal(again["audio"], sung["audio"])
    # an instrumental request has no score: its vocal track stays the decoder's (coarsest codebooks)
    songs = pipe(
        [SUNG, {"description": "an instrumental jazz piece"}], duration_s=1.0, min_duration_s=1.0, seed=0, batch_size=2
    )
    assert len(songs) == 2 and songs[1]["audio"].shape == songs[0]["audio"].shape


def test_a_song_longer_than_the_window_is_sung_through_the_pipeline(release):
    folder = str(release / "release")
    pipe, plain = load_text_to_song_pipeline(folder), load_text_to_song_pipeline(folder, singer=None)
    long = dict(duration_s=2.0, window_s=0.8, context_s=0.1, seed=3)  # windows (0, 40), (35, 75), (70, 100)
    sung, unsung = (p(SUNG, **long) for p in (pipe, plain))
    assert sung["audio"].shape == unsung["audio"].shape == (1, round(2.0 * sung["sampling_rate"]))
    np.testing.assert_allclose(sung["accompaniment"], unsung["accompaniment"], atol=1e-6)
    assert np.abs(sung["vocals"] - unsung["vocals"]).max() > 1e-3


def test_a_singer_that_cannot_be_used_is_named(release, tmp_path):
    folder = str(release / "release")
    with pytest.raises(ValueError, match="not a singer folder"):
        load_text_to_song_pipeline(folder, singer=str(tmp_path))
    with pytest.raises(ValueError, match="must be 'auto', None"):
        load_text_to_song_pipeline(folder, singer=3)
    one_track = save_tiny_checkpoint(tmp_path / "mixed", "mixed_pro", use_voice_encoder=False)
    with pytest.raises(ValueError, match="dual-track"):
        load_text_to_song_pipeline(str(one_track), singer=str(release / "singer_run"))
    assert load_text_to_song_pipeline(str(one_track)).singer is None  # "auto" without a singer folder
    assert songgen_main(["export", folder, "--output", str(tmp_path / "bad"), "--singer", str(tmp_path)]) == 2
    assert not (tmp_path / "bad").exists()


def test_songgen_generate_sings_with_the_folders_singer_and_none_turns_it_off(release, tmp_path, capsys):
    import soundfile

    base = [
        "generate",
        "--model",
        str(release / "release"),
        "--description",
        SUNG["description"],
        "--lyrics",
        SUNG["lyrics"],
        "--duration",
        "1",
        "--min-duration",
        "1",
        "--seed",
        "0",
        "--no-progress",
        "--stems",
    ]
    assert songgen_main([*base, "--output", str(tmp_path / "sung.wav")]) == 0
    assert "re-sung by the told singer" in capsys.readouterr().out
    assert songgen_main([*base, "--singer", "none", "--output", str(tmp_path / "own.wav")]) == 0
    assert "re-sung" not in capsys.readouterr().out
    sung, own = (soundfile.read(tmp_path / f"{name}_vocals.wav")[0] for name in ("sung", "own"))
    assert sung.shape == own.shape and np.abs(sung - own).max() > 1e-3
    assert songgen_main([*base, "--singer", str(tmp_path), "--output", str(tmp_path / "bad.wav")]) == 2
    assert "not a singer folder" in capsys.readouterr().err


def test_songgen_evaluate_measures_what_generate_makes_the_folders_singer_unless_told_none(release, tmp_path):
    import argparse

    from songgen_hf.commands.evaluate import _sampling_options, add_evaluate_arguments

    parser = add_evaluate_arguments(argparse.ArgumentParser())

    def singer(*extra, model=release / "release"):
        args = parser.parse_args(["manifest.jsonl", "--model", str(model), "--output", str(tmp_path / "out"), *extra])
        return _sampling_options(args, model).singer

    assert singer() == str(release / "release" / "singer")
    assert singer("--singer", "none") is None
    assert singer("--singer", str(release / "singer_run")) == str(release / "singer_run")
    single = save_tiny_checkpoint(tmp_path / "single", "mixed_stream2", use_voice_encoder=False)
    _singer_folder(single / "singer")  # a singer beside a model without a vocal track is not used by default
    assert singer(model=single) is None


def test_a_long_songs_progress_shows_every_stage_to_the_written_file(release, tmp_path, capsys):
    """One line per stage off a terminal (--no-progress or a log), from the first window to the written file, the
    told singer's windows included; the pipeline's own bar follows the same stages."""
    from songgen_hf.pipelines import GenerationProgress

    argv = ["generate", "--model", str(release / "release"), "--description", SUNG["description"]]
    # 6 s at 120 bpm (two sung bars) in windows of 2.5 s, each continuing from the previous one's last 0.5 s
    argv += ["--lyrics", SUNG["lyrics"], "--duration", "6", "--window", "2.5", "--context", "0.5", "--seed", "3"]
    assert songgen_main([*argv, "--no-progress", "--output", str(tmp_path / "long.wav")]) == 0
    printed = capsys.readouterr()
    stages = [line for line in printed.err.splitlines() if line.split(":")[0] in ("generating", "singing")]
    stages += [line for line in printed.err.splitlines() if line in ("decoding audio", "writing")]
    assert stages == [
        "generating: window 1/3",
        "generating: window 2/3",
        "generating: window 3/3",
        "singing: window 1/3",
        "singing: window 2/3",
        "singing: window 3/3",
        "decoding audio",
        "writing",
    ], printed.err
    assert printed.err.index("writing") < len(printed.err) and "wrote" in printed.out
    # the pipeline: the same stages on its bar (a streamer of the caller's own replaces it)
    progress = GenerationProgress(disable=True, keep_open=True)
    load_text_to_song_pipeline(str(release / "release"))(
        SUNG, duration_s=6.0, window_s=2.5, context_s=0.5, seed=3, streamer=progress
    )
    assert progress.stages[-4:] == [
        "singing: window 1/3",
        "singing: window 2/3",
        "singing: window 3/3",
        "decoding audio",
    ]
    assert progress.steps > 0
