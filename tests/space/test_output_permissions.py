"""Output files get the permissions the umask asks for (0644 under umask 022), not mkstemp's 0600:
``write_audio`` (the CLI's song.wav, evaluation and training samples) and the Space's song file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from songgen_hf.data.audio import write_audio
from songgen_hf.utils.atomic import umask_file_mode

AUDIO = np.zeros(1600, dtype=np.float32)


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
@pytest.mark.parametrize("name", ["song.wav", "song.flac"])
def test_write_audio_honours_the_umask(tmp_path, umask, mask, expected, name):
    umask(mask)
    assert umask_file_mode() == expected
    path = write_audio(tmp_path / name, AUDIO, 16000)
    assert _mode(path) == expected
    write_audio(path, AUDIO, 16000)  # replacing an existing file: the new one gets the same mode
    assert _mode(path) == expected and sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_the_spaces_song_file_honours_the_umask(tmp_path, umask, monkeypatch, mask, expected):
    gr = pytest.importorskip("gradio")
    umask(mask)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    song = gr.Audio(label="Song", type="numpy", interactive=False)  # as in space/app.py
    # a distinct signal per case: Gradio caches files by content hash and would reuse an earlier file
    samples = np.full(1600, mask, dtype=np.int16)
    data = song.postprocess((16000, samples))
    assert data.path.endswith(".wav") and os.path.isfile(data.path)
    assert _mode(data.path) == expected
