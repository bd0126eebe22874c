"""Fault injection for songgen_hf.atomic: a real child process is SIGKILLed before each file-system step of a
file write and of a folder replace (every os call the write makes, and between the chunks of data it writes),
and the old or the new result must always be under its name, at once or after the recovery that every later
write, resume and load runs first (itself killed at each of its steps too); a later write then goes on."""

import os
import shutil
import signal
import sys

import pytest

from songgen_hf import atomic
from songgen_hf.atomic import atomic_directory, atomic_file, recover_directory

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kills run in forked children (POSIX)")

# every os-level operation a write, a replace or a recovery performs goes through one of these
_COUNTED = ("open", "close", "fsync", "replace", "rename", "unlink", "rmdir", "mkdir", "chmod")
OLD = {"model.safetensors": "old weights " * 500, "config.json": '{"v": "old"}'}
NEW = {"model.safetensors": "new weights " * 700, "config.json": '{"v": "new"}', "tokenizer.json": "{}"}


def _in_child(kill_at: int, action) -> tuple[bool, int]:
    """Run ``action(step)`` in a forked child that SIGKILLs itself at its ``kill_at``-th counted step (0: never);
    returns (killed, steps counted)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count, and die at the chosen step like a power cut or an OOM kill would
        os.close(read_end)
        count = [0]

        def step():
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        real = {name: getattr(os, name) for name in _COUNTED}

        def counted(function):
            def call(*args, **kwargs):
                step()
                return function(*args, **kwargs)

            return call

        for name, function in real.items():
            setattr(os, name, counted(function))
        code = 0
        try:
            action(step)
        except BaseException:
            code = 3
        os.write(write_end, str(count[0]).encode())
        os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    counted = os.read(read_end, 64)
    os.close(read_end)
    if os.WIFEXITED(status):
        assert os.WEXITSTATUS(status) == 0, "the write failed without being killed"
    return os.WIFSIGNALED(status), int(counted or 0)


def _folder(path) -> dict | None:
    if not path.is_dir():
        return None
    return {p.name: p.read_text() for p in path.iterdir() if p.name != atomic.MARKER_FILE}


def _write_folder(target, files):
    def action(step):
        with atomic_directory(target, mark="test") as staging:
            for name, text in files.items():
                with open(staging / name, "w") as handle:
                    for start in range(0, len(text), 1024):  # a kill between the chunks of a file's data too
                        step()
                        handle.write(text[start : start + 1024])
                        handle.flush()

    return action


def _fill(target, files):
    target.mkdir()
    for name, text in files.items():
        (target / name).write_text(text)


@pytest.mark.parametrize("first_write", [False, True], ids=["replace", "first-write"])
def test_a_folder_replace_killed_at_every_step_never_loses_the_old_or_the_new(tmp_path, first_write):
    root = tmp_path / "run"
    root.mkdir()
    target = root / "checkpoint"
    if not first_write:
        _fill(target, OLD)
    killed, steps = _in_child(0, _write_folder(target, NEW))
    assert not killed and _folder(target) == NEW and steps > 20
    tried = intact_at_once = intact_after = recovery_kills = 0
    for kill_at in range(1, steps + 1):
        shutil.rmtree(target, ignore_errors=True)
        if not first_write:
            _fill(target, OLD)
        killed, _ = _in_child(kill_at, _write_folder(target, NEW))
        assert killed
        tried += 1
        state = _folder(target)
        allowed = [NEW] if first_write else [OLD, NEW]
        assert state is None or state in allowed, (kill_at, state)
        intact_at_once += state in allowed or (first_write and state is None and not any(root.iterdir()))
        # the recovery a later run starts with, itself killed at each of its steps (where it has work), then run
        parked = any(path.name != "checkpoint" for path in root.iterdir())
        for recover_kill in range(1, 40 if parked else 1):
            killed, _ = _in_child(recover_kill, lambda step: recover_directory(target))
            if not killed:
                break
            recovery_kills += 1
            after_kill = _folder(target)
            assert after_kill is None or after_kill in allowed, (kill_at, recover_kill, after_kill)
        recover_directory(target)
        state = _folder(target)
        if first_write:
            assert state in (None, NEW), (kill_at, state)
        else:
            assert state in (OLD, NEW), (kill_at, state)  # never neither: the only copy is never deleted
        intact_after += state in allowed or (first_write and state is None)
        # and the next write (a resume's next checkpoint) goes on and leaves nothing else behind
        _write_folder(target, {"config.json": "newer"})(lambda: None)
        assert _folder(target) == {"config.json": "newer"}
        assert [p.name for p in root.iterdir()] == ["checkpoint"], (kill_at, sorted(os.listdir(root)))
    print(
        f"\nfolder {'first write' if first_write else 'replace'}: {tried} kills during the write, "
        f"{recovery_kills} during recoveries; as before or complete at once after {intact_at_once}, after the "
        f"recovery {intact_after} of {tried}",
        file=sys.stderr,
    )
    assert intact_after == tried


def test_a_file_write_killed_at_every_step_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "codes.pt"
    old, new = b"old" * 3000, b"new" * 4000

    def action(step):
        with atomic_file(target) as temporary, open(temporary, "wb") as handle:
            for start in range(0, len(new), 1000):
                step()
                handle.write(new[start : start + 1000])

    target.write_bytes(old)
    killed, steps = _in_child(0, action)
    assert not killed and target.read_bytes() == new and steps > 10
    tried = intact = 0
    for kill_at in range(1, steps + 1):
        target.write_bytes(old)
        killed, _ = _in_child(kill_at, action)
        assert killed
        tried += 1
        intact += target.read_bytes() in (old, new)  # under its name at once: one rename publishes a file
        assert target.read_bytes() in (old, new), kill_at
        action(lambda: None)  # the next write removes the dead writer's staged file
        assert sorted(os.listdir(tmp_path)) == ["codes.pt"], kill_at
    print(f"\nfile write: {tried} kills, {intact} intact", file=sys.stderr)
    assert intact == tried


def test_a_singer_checkpoint_killed_at_every_step_resumes(tmp_path):
    """``train-singer``'s own checkpoint writer, killed at each step of a save over an earlier checkpoint:
    the run folder always resumes, from the earlier checkpoint or the new one."""
    import torch

    from songgen_hf.modeling.songgen.singer import SongGenSinger, SongGenSingerConfig
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
    from songgen_hf.modeling.songgen.singer import SongGenSinger, SongGenSingerConfig

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
