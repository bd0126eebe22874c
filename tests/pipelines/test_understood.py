"""What was understood, said: the pipeline returns ``SongGenProcessor.interpret``'s reading with
each song, and ``songgen generate`` prints it in one line before generating."""

from __future__ import annotations

import pytest
from transformers import pipeline

import songgen_hf  # noqa: F401
from songgen_hf.commands.cli import main
from songgen_hf.modeling.songgen.processing_songgen import format_understood
from songgen_hf.testing import generate_argv, save_tiny_checkpoint

LYRICS = "hold me close tonight\nthe stars are shining bright"


@pytest.fixture(scope="module")
def controlled_dir(tmp_path_factory):
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("controls") / "tiny",
        "mixed",
        use_voice_encoder=False,
        decoder={"use_tempo_control": True, "use_key_control": True},
    )


@pytest.fixture(scope="module")
def pipe(controlled_dir):
    return pipeline("text-to-song", model=str(controlled_dir))


def test_each_song_carries_what_the_processor_understood(pipe):
    songs = pipe(
        [
            "a rock song in E minor at 140 bpm",
            {"description": "a ballad at 80 bpm", "lyrics": LYRICS, "tempo_bpm": 100, "key": "A major"},
        ],
        duration_s=0.1,
    )
    first, second = (song["understood"] for song in songs)
    assert first == pipe.processor.interpret("a rock song in E minor at 140 bpm")
    assert (first["tempo_bpm"], first["tempo_source"], first["key"], first["key_source"]) == (
        140.0,
        "description",
        "E minor",
        "description",
    )
    assert first["instrumental"] is True and first["musical_controls"] is True
    assert (second["tempo_bpm"], second["tempo_source"], second["key"], second["key_source"]) == (
        100.0,
        "argument",
        "A major",
        "argument",
    )
    assert second["instrumental"] is False
    single = pipe("calm piano", duration_s=0.1)  # a single song is a dict with the same key
    assert single["understood"]["tempo_bpm"] is None and single["understood"]["key"] is None


@pytest.mark.parametrize(
    "reading, line",
    [
        (
            {
                "tempo_bpm": 140.0,
                "tempo_source": "description",
                "key": "E minor",
                "key_source": "description",
                "musical_controls": True,
                "lyrics": "hold me close tonight.the stars are shining bright",
                "instrumental": False,
            },
            "understood: tempo 140 BPM (from the description), key E minor (from the description), lyrics 9 words",
        ),
        (
            {
                "tempo_bpm": 92.5,
                "tempo_source": "argument",
                "key": None,
                "key_source": None,
                "musical_controls": True,
                "lyrics": "",
                "instrumental": True,
            },
            "understood: tempo 92.5 BPM (as given), key not stated, instrumental (no lyrics)",
        ),
        (
            {
                "tempo_bpm": None,
                "tempo_source": None,
                "key": "C major",
                "key_source": "description",
                "musical_controls": False,
                "lyrics": "don't stop",
                "instrumental": False,
            },
            "understood: tempo not stated, key C major (from the description) (this model has no tempo/key controls, "
            "so they do not steer it), lyrics 2 words",
        ),
    ],
)
def test_the_line_the_cli_prints(reading, line):
    assert format_understood(reading) == line


def test_cli_prints_the_understood_line_before_generating(controlled_dir, tmp_path, capsys):
    rock = "a rock song in E minor at 140 bpm"
    argv = generate_argv(controlled_dir, tmp_path / "song.wav", "--duration", "0.1", description=rock, lyrics=LYRICS)
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == "understood: tempo 140 BPM (from the description), key E minor (from the description), lyrics 9 words"
    )
    assert out[1].startswith(f"wrote {tmp_path / 'song.wav'}")
    assert (
        main(
            argv[:5]
            + [
                "--tempo-bpm",
                "100",
                "--model",
                str(controlled_dir),
                "--output",
                str(tmp_path / "b.wav"),
                "--duration",
                "0.1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "tempo 100 BPM (as given)" in capsys.readouterr().out
