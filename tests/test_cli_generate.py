"""songgen generate / info / convert songgen: files written, folder descriptions, exit codes."""

import json

import pytest
import soundfile as sf

import songgen_hf  # noqa: F401
from songgen_hf import XCodecModel
from songgen_hf.commands.cli import main
from songgen_hf.commands.generate import stem_paths
from songgen_hf.pipelines import loading
from songgen_hf.testing import generate_argv, save_tiny_checkpoint, tiny_xcodec_config

SECONDS = 0.3
SAMPLES = int(SECONDS * 16000)


def _generate(model_dir, output, *extra):
    seconds = ("--duration", str(SECONDS), "--min-duration", str(SECONDS))
    return main(generate_argv(model_dir, output, *seconds, *extra, lyrics=None))


def test_generate_writes_a_wav_of_the_requested_length(mixed_pro_dir, tmp_path, capsys):
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text("hold me close tonight\nthe stars are shining bright\n", encoding="utf-8")
    output = tmp_path / "out" / "song.wav"
    output.parent.mkdir()  # a missing output directory is an error (tests/test_cli_bad_input.py)
    sampling = ("--lyrics-file", str(lyrics), "--seed", "4", "--guidance-scale", "2", "--temperature", "0.9")
    assert _generate(mixed_pro_dir, output, *sampling, "--top-k", "20") == 0
    audio, rate = sf.read(output)
    assert rate == 16000 and audio.shape == (SAMPLES,)
    printed = capsys.readouterr().out
    assert str(output) in printed and f"{SECONDS:.2f} s of audio" in printed and "generated in" in printed
    assert not any(p.name.startswith(".") for p in output.parent.iterdir())  # atomic write left no temp file

    # the same seed reproduces the file, FLAC by extension
    flac = tmp_path / "again.flac"
    assert _generate(mixed_pro_dir, flac, *sampling, "--top-k", "20") == 0
    again, _ = sf.read(flac)
    assert again.shape == audio.shape and abs(again - audio).max() < 1e-3  # 16-bit PCM both ways


def test_generate_stems_on_a_dual_track_model(dual_dir, tmp_path, capsys):
    output = tmp_path / "song.wav"
    voice = tmp_path / "voice.wav"
    sf.write(voice, [0.1] * 36000, 24000)
    assert (
        _generate(
            dual_dir, output, "--lyrics", "la la la", "--stems", "--reference-voice", str(voice), "--voice-start", "0.1"
        )
        == 0
    )
    paths = stem_paths(output)
    assert paths == {"vocals": tmp_path / "song_vocals.wav", "accompaniment": tmp_path / "song_accompaniment.wav"}
    for path in [output, *paths.values()]:
        audio, rate = sf.read(path)
        assert rate == 16000 and audio.shape == (SAMPLES,)
    assert "song_vocals.wav" in capsys.readouterr().out


def test_generate_shows_a_progress_bar(mixed_pro_dir, tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "--description",
                "pop",
                "--lyrics",
                "",
                "--model",
                str(mixed_pro_dir),
                "--output",
                str(tmp_path / "a.wav"),
                "--duration",
                "0.1",
            ]
        )
        == 0
    )
    assert "generating" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lyrics-file", "/no/such/lyrics.txt"], "--lyrics-file /no/such/lyrics.txt does not exist"),
        (["--lyrics", "x", "--output", "song.mp3"], "unsupported extension '.mp3'"),
        (["--lyrics", "x", "--model", "/no/such/model"], "is not a model folder"),
        (["--lyrics", "x", "--stems"], "--stems needs a dual-track model"),
        (["--lyrics", "x", "--voice-start", "1"], "--voice-start needs --reference-voice"),
        (["--lyrics", "x", "--reference-voice", "/no/voice.wav"], "does not exist"),
        (["--lyrics", "x", "--temperature", "-1"], "--temperature must be a number >= 0.001 and <= 100, got -1.0"),
    ],
)
def test_generate_bad_input_exits_2_with_a_message(mixed_pro_dir, tmp_path, capsys, args, message):
    argv = generate_argv(mixed_pro_dir, tmp_path / "o.wav", "--duration", "0.1", description="pop", lyrics=None)
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_generate_makes_a_song_longer_than_the_window_window_after_window(mixed_pro_dir, tmp_path, capsys):
    output = tmp_path / "long.wav"
    windows = ("--window", "0.3", "--context", "0.1", "--anchor", "0.04")  # 0.7 s: (0, 15), (10, 25), (20, 35)
    argv = generate_argv(mixed_pro_dir, output, "--duration", "0.7", *windows, "--seed", "1", lyrics=None)
    assert main([*argv, "--lyrics", "la la"]) == 0
    audio, rate = sf.read(output)
    assert rate == 16000 and audio.shape == (int(0.7 * 16000),)
    printed = capsys.readouterr()
    # its cost is said before it starts: the windows decode 0.3 + 0.3 + 0.3 s for a 0.7 s song
    assert "plan: 0.7 s in 3 windows of at most 0.3 s" in printed.out + printed.err
    assert "(0.9 s decoded in all, 1.29x the song)" in printed.out + printed.err
    # a chorus sung twice returns to its first occurrence; --no-repeat-sections: it continues like any window
    chorus = "[verse 1]\nla la\n[chorus]\noh oh\n[verse 2]\nna na\n[chorus]\noh oh"
    long_argv = generate_argv(
        mixed_pro_dir, output, "--duration", "2", "--window", "0.6", "--context", "0.3", lyrics=None
    )
    # by default for its whole length, with --repeat-openings-only its first seconds only
    cases = (([], "whole length"), (["--no-repeat-sections"], None), (["--repeat-openings-only"], "only"))
    for flags, returns in cases:
        output.unlink()
        assert main([*long_argv, "--lyrics", chorus, *flags]) == 0
        assert sf.read(output)[0].shape == (2 * 16000,)
        printed = capsys.readouterr()
        printed = printed.out + printed.err
        assert ("returns to chorus from" in printed) is (returns is not None)  # the plan says what is done
        said = [line for line in printed.splitlines() if line.strip().startswith("returns:")]
        assert said[0].endswith(returns) if said else returns is None, said


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "0.3", "--context", "0.3"], "--context=0.3 s (15 frames) is not shorter than the window"),
        (["--window", "60"], "--window must be a number > 0 and <= 4.96, got 60.0 (this model's window is 4.96 s"),
        (["--context", "0"], "--context must be a number > 0"),
        (["--duration", "601"], "--duration must be a number > 0 and <= 600"),
        (
            ["--duration", "600", "--window", "0.04", "--context", "0.02"],
            "takes 29,999 windows that each add 0.02 s of new audio; at most 256 windows are made. Raise --window or "
            "lower --context so each window adds at least 2.36 s",
        ),
    ],
)
def test_window_flags_are_checked_before_the_weights_load(mixed_pro_dir, tmp_path, capsys, monkeypatch, args, message):
    from songgen_hf import pipelines

    def no_load(*args, **kwargs):
        raise AssertionError("the weights were loaded")

    monkeypatch.setattr(pipelines, "load_text_to_song_pipeline", no_load)
    argv = generate_argv(mixed_pro_dir, tmp_path / "o.wav", "--duration", "2", description="pop", lyrics=None)
    assert main([*argv, "--lyrics", "x", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_generate_help_tells_the_window_flags(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--window SECONDS" in text and "--context SECONDS" in text
    assert "shorter than --window" in text and "window after window" in text


def test_generate_without_a_model_uses_the_embedded_default(monkeypatch, tmp_path, capsys, mixed_pro_dir):
    argv = generate_argv(None, tmp_path / "d.wav", "--duration", "0.1", description="pop", lyrics="")
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    assert main(argv) == 2
    assert "embedded default model is not in this install" in capsys.readouterr().err
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", mixed_pro_dir)
    assert main(argv) == 0 and (tmp_path / "d.wav").is_file()


def test_generate_needs_description_and_lyrics():
    with pytest.raises(SystemExit) as stop:  # argparse: usage error, exit code 2
        main(["generate", "--description", "pop"])
    assert stop.value.code == 2


def test_info_on_a_songgen_folder(dual_dir, capsys):
    assert main(["info", str(dual_dir)]) == 0
    text = capsys.readouterr().out
    for expected in (
        "model_type: songgen",
        "track_pattern: interleaving_A_V",
        "stems: yes",
        "decoder:",
        "text_encoder:",
        "bandwidths_kbps: 0.5, 1.0, 1.5, 2.0, 4.0",
        "voice_encoder: 1 s at 24000 Hz",
        "VoiceBpeTokenizer",
        "top_k: 50",
        "model.safetensors",
    ):
        assert expected in text, expected
    assert main(["info", str(dual_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    parameters = info["parameters"]
    parts = [name for name in parameters if name != "total"]
    assert {"text_encoder", "lyrics_encoder", "voice_encoder", "decoder", "audio_encoder"} <= set(parts)
    assert parameters["total"]["parameters"] == sum(parameters[name]["parameters"] for name in parts)
    assert info["codec"]["frame_rate"] == 50 and info["codec"]["decode_only"] is False
    assert info["tracks"] == ["accompaniment", "vocals"] and info["stems"] is True
    assert info["processor"]["voice_features"] == "1 s at 24000 Hz"
    assert info["weights"]["dtypes"] == ["F32"]
    assert info["decoder"]["controls"] == []  # the tiny test model has none; "controls: -" in the text
    assert "controls: -" in text
    # one decoding pass holds the window; longer songs are made window after window up to the longest song
    from songgen_hf.modeling.songgen import SongGenConfig

    config = SongGenConfig.from_pretrained(dual_dir)
    positions = config.decoder.max_position_embeddings  # the interleaving pattern spends two per frame
    window = round(config.decoder.token_pattern().num_frames(positions) / config.frame_rate, 2)
    assert 0 < window < positions / config.frame_rate
    assert info["window_seconds"] == window and info["longest_song_seconds"] == 600
    assert info["longest_window_seconds"] == window  # no default window saved: the windows are one pass long
    assert f"window_seconds: {window:g}" in text and "longest_song_seconds: 600" in text


def test_info_names_the_musical_controls(tmp_path, capsys):
    folder = save_tiny_checkpoint(
        tmp_path / "controlled",
        track_pattern="mixed",
        use_voice_encoder=False,
        decoder={"use_tempo_control": True, "use_arrangement_control": True},
    )
    assert main(["info", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decoder"]["controls"] == ["tempo", "vocals/drums"]


def test_info_on_codec_folders(tmp_path, capsys):
    folder = tmp_path / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel", decode_only=True)).save_pretrained(folder)
    assert main(["info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "songgen_xcodec" and info["codec"]["decode_only"] is True
    assert "semantic_model" not in info["parameters"] and info["parameters"]["total"]["parameters"] > 0

    # transformers' own X-Codec layout ("xcodec"), described without loading its weights
    from transformers import XcodecConfig

    hf_folder = tmp_path / "hf_xcodec"
    hf_folder.mkdir()
    (hf_folder / "config.json").write_text(XcodecConfig().to_json_string())
    assert main(["info", str(hf_folder)]) == 0
    text = capsys.readouterr().out
    assert "model_type: xcodec" in text and "semantic_model:" in text and "semantic_teacher: hubert" in text


def test_info_on_a_resgen_pipeline_folder(tmp_path, capsys):
    from songgen_hf.testing import save_tiny_resgen_checkpoint

    folder = save_tiny_resgen_checkpoint(tmp_path / "resgen")
    assert main(["info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "songgen_resgen" and info["tracks"] == ["mix"]
    parameters = info["parameters"]
    parts = [name for name in parameters if name != "total"]
    assert {"text_encoder", "lyrics_encoder", "decoder", "audio_encoder"} <= set(parts)
    assert parameters["total"]["parameters"] == sum(parameters[name]["parameters"] for name in parts)
    assert (
        1 <= info["decoder"]["codebooks"] <= info["codec"]["codebooks"] and info["decoder"]["mixture_components"] >= 1
    )
    assert info["scheduler"]["mask_schedule"] and info["processor"]["lyrics_tokenizer"].startswith("VoiceBpeTokenizer")
    assert info["weights"]["files"] == ["model.safetensors"] and info["weights"]["size_mb"] > 0
    # an incomplete copy says what it lacks
    (folder / "transformer" / "model.safetensors").unlink()
    assert main(["info", str(folder)]) == 2
    assert "no weights in transformer/" in capsys.readouterr().err


def test_info_bad_folders_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 2
    assert "nothing does not exist" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert main(["info", str(tmp_path)]) == 2
    assert "holds a 'bert' model" in capsys.readouterr().err


def test_convert_songgen_missing_source_exits_2(tmp_path, capsys):
    assert main(["convert", "songgen", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("cache", ["static", "dynamic"])
def test_generate_cache_choice_gives_the_default_caches_song(mixed_pro_dir, tmp_path, cache):
    """--cache picks the decoding cache; greedy decoding gives the same song with any of them."""
    default, chosen = tmp_path / "default.wav", tmp_path / f"{cache}.wav"
    assert _generate(mixed_pro_dir, default, "--lyrics", "la la", "--top-k", "1", "--seed", "0") == 0
    assert _generate(mixed_pro_dir, chosen, "--lyrics", "la la", "--top-k", "1", "--seed", "0", "--cache", cache) == 0
    assert (sf.read(default)[0] == sf.read(chosen)[0]).all()


def test_codebook_temperatures_flag_matches_the_saved_setting_and_none_turns_it_off(mixed_pro_dir, tmp_path):
    import shutil

    k = json.loads((mixed_pro_dir / "config.json").read_text())["decoder"]["num_codebooks"]
    saved = tmp_path / "saved"
    shutil.copytree(mixed_pro_dir, saved)
    settings_file = saved / "generation_config.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    settings_file.write_text(json.dumps({**settings, "codebook_temperatures": {"mix": [50.0] * k}}))
    songs = {}
    for name, folder, extra in (
        ("plain", mixed_pro_dir, ()),
        ("saved", saved, ()),
        ("saved_off", saved, ("--codebook-temperatures", "none")),
        ("flag", mixed_pro_dir, ("--codebook-temperatures", "mix=" + ",".join(["50"] * k))),
    ):
        output = tmp_path / f"{name}.wav"
        assert _generate(folder, output, "--lyrics", "la la", "--seed", "3", *extra) == 0
        songs[name] = sf.read(output)[0]
    assert (songs["saved_off"] == songs["plain"]).all()
    assert (songs["flag"] == songs["saved"]).all()
    assert not (songs["saved"] == songs["plain"]).all()
