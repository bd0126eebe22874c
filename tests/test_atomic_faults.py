"""Fault injection for songgen_hf.utils.atomic: a real child process is SIGKILLed before each file-system step of a
file write and of a folder replace (every os call the write makes, and between the chunks of data it writes),
and the old or the new result must always be under its name, at once or after the recovery that every later
write, resume and load runs first (itself killed at each of its steps too); a later write then goes on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songgen_hf.utils.atomic import recover_directory

from .atomic_kills import in_child as _in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kills run in forked children (POSIX)")


def _trial(name: str, folder: Path) -> dict:
    """One of tests/atomic_kills.py's trials, in a small interpreter of its own (see there why)."""
    script = Path(__file__).with_name("atomic_kills.py")
    done = subprocess.run([sys.executable, str(script), name, str(folder)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]  # an assertion at one of the kills, with its step
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first_write", [False, True], ids=["replace", "first-write"])
def test_a_folder_replace_killed_at_every_step_never_loses_the_old_or_the_new(tmp_path, first_write):
    counts = _trial("folder-first-write" if first_write else "folder-replace", tmp_path / "run")
    print(
        f"\nfolder {'first write' if first_write else 'replace'}: {counts['tried']} kills during the write, "
        f"{counts['recovery_kills']} during recoveries; as before or complete at once after "
        f"{counts['intact_at_once']}, after the recovery {counts['intact_after']} of {counts['tried']}",
        file=sys.stderr,
    )
    assert counts["tried"] > 20 and counts["intact_after"] == counts["tried"]
    if not first_write:
        assert counts["recovery_kills"] > 0  # some kills left a parked copy whose recovery was killed too


def test_a_file_write_killed_at_every_step_leaves_the_old_or_the_new_file(tmp_path):
    counts = _trial("file-write", tmp_path)
    print(f"\nfile write: {counts['tried']} kills, {counts['intact']} intact", file=sys.stderr)
    assert counts["tried"] > 10 and counts["intact"] == counts["tried"]


def test_a_singer_checkpoint_killed_at_every_step_resumes(tmp_path):
    """``train-singer``'s own checkpoint writer, killed at each step of a save over an earlier checkpoint:
    the run folder always resumes, from the earlier checkpoint or the new one."""
    import torch

    from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig
    from songgen_hf.training import singer as training

    model = SongGenSinger(
        SongGenSingerConfig(voices=["en+f2"], hidden_size=32, num_hidden_layers=1, num_attention_heads=1)
    )
    optimiser = torch.optim.AdamW(model.parameters())
    generator = torch.Generator().manual_seed(0)
    run = tmp_path / "run"

    def save(step_number):
        return lambda step: training._save_checkpoint(run, model, optimiser, step_number, generator, [])

    save(5)(None)
    _, steps = _in_child(0, save(10))
    resumed = set()
    for kill_at in range(1, steps + 1):
        save(5)(None)
        killed, _ = _in_child(kill_at, save(10))
        assert killed
        recover_directory(run / "checkpoint")  # what train_singer(resume=True) runs first
        state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
        resumed.add(state["step"])
        assert SongGenSingerConfig.from_pretrained(run / "checkpoint").hidden_size == 32
    assert resumed <= {5, 10} and 5 in resumed and 10 in resumed, resumed


def test_train_singer_resumes_after_a_kill_between_the_renames(tmp_path):
    """The case that lost a whole run: ``checkpoint/`` moved aside, the new one not yet in place. ``--resume``
    puts the parked copy back and goes on to the end."""
    import torch

    from songgen_hf.training import singer as training
    from tests.training.test_singer_training import SIZES, _encoded

    train = _encoded(tmp_path / "train", list(range(1, 9)))
    run = tmp_path / "run"
    options = dict(batch_size=2, learning_rate=3e-3, save_steps=3, log_steps=3, **SIZES)
    training.train_singer([train], run, steps=4, **options)  # a checkpoint at step 3
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig

    model = SongGenSinger(SongGenSingerConfig.from_pretrained(run / "checkpoint"))
    model.load_state_dict(state["model"])
    optimiser = torch.optim.AdamW(model.parameters())
    optimiser.load_state_dict(state["optimiser"])
    generator = torch.Generator()
    generator.set_state(state["generator"])
    _, steps = _in_child(
        0, lambda step: training._save_checkpoint(run, model, optimiser, 3, generator, state["history"])
    )
    for kill_at in range(1, steps + 1):
        _in_child(
            kill_at, lambda step: training._save_checkpoint(run, model, optimiser, 3, generator, state["history"])
        )
        if not (run / "checkpoint").exists():
            break
    assert not (run / "checkpoint").exists(), "no step of the save left the name empty"
    final = training.train_singer([train], run, steps=6, resume=True, **options)
    assert (final / "config.json").is_file()
    assert torch.load(run / "checkpoint" / "state.pt", weights_only=True)["step"] == 3
