"""``songgen generate`` replaces an existing ``--output`` only when the song's record beside it proves songgen wrote
it there, byte for byte (or with ``--overwrite``): a file of the user's of the same name is never lost."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from songgen_hf.commands.cli import main
from songgen_hf.commands.generate import record_path, stem_paths
from songgen_hf.testing import generate_argv

SECONDS = ("--duration", "0.3", "--min-duration", "0.3")


def _generate(model_dir, output, *extra) -> int:
    return main(generate_argv(model_dir, output, *SECONDS, *extra))


def test_a_song_songgen_wrote_is_replaced_and_its_record_proves_each_file(dual_dir, tmp_path):
    output = tmp_path / "song.wav"
    assert _generate(dual_dir, output, "--seed", "1", "--stems") == 0
    files = json.loads(record_path(output).read_text(encoding="utf-8"))["files"]
    assert set(files) == {output.name, *(path.name for path in stem_paths(output).values())}
    assert files[output.name]["size"] == output.stat().st_size
    first = output.read_bytes()
    assert _generate(dual_dir, output, "--seed", "2", "--stems") == 0  # its own earlier song: replaced
    assert output.read_bytes() != first and sf.info(str(output)).frames > 0


@pytest.mark.parametrize("case", ["a file of the user's", "a song the user changed since", "a stem of the user's"])
def test_a_file_songgen_cannot_prove_its_own_is_kept_without_overwrite(dual_dir, tmp_path, capsys, case):
    output, model = tmp_path / "song.wav", dual_dir
    stems = ("--stems",) if case == "a stem of the user's" else ()
    if case == "a file of the user's":
        output.write_bytes(b"my own recording")
        target = output
    else:
        assert _generate(model, output, *stems) == 0
        target = stem_paths(output)["vocals"] if stems else output
        target.write_bytes(target.read_bytes()[:-32] + b"\1" * 32)
    mine = target.read_bytes()
    assert _generate(model, output, *stems) == 2
    error = capsys.readouterr().err
    assert f"--output {target} already exists and songgen did not write it there" in error and "--overwrite" in error
    assert target.read_bytes() == mine
    assert _generate(model, output, *stems, "--overwrite") == 0  # asked for: replaced
    assert target.read_bytes() != mine
