"""The checkpoint code every training loop shares (codec, SongGen stages, LoRA): complete-or-invisible
checkpoints, resume that skips incomplete ones and unpickles nothing but tensors and plain data,
no silent restart over an earlier run, pruning limited to the run's own checkpoints, staging
leftovers removed, and a log that holds each step once after a resume."""

import json
import logging
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator

from songgen_hf.commands import cli
from songgen_hf.training.accelerated import CheckpointedTrainer, project_configuration
from songgen_hf.training.checkpointing import (
    CHECKPOINT_DIR,
    LOG_FILE,
    MANIFEST_FILE,
    StepCounter,
    check_run_mode,
    checkpoint_folders,
    claim_run_outputs,
    latest_checkpoint,
    read_manifest,
    truncate_log,
)


class TinyTrainer(CheckpointedTrainer):
    """A prepared model + optimiser + scheduler, a hand-stepped scheduler as extra state, and steps
    that draw from the global RNG: what the real loops checkpoint, in milliseconds."""

    def __init__(self, output_dir, limit=3):
        self.output_dir = Path(output_dir)
        self.config = SimpleNamespace(checkpoints_total_limit=limit)
        self.accelerator = Accelerator(cpu=True, project_config=project_configuration(self.output_dir))
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.hand_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        self.hand_scheduler = torch.optim.lr_scheduler.LambdaLR(self.hand_optimizer, lambda s: 0.9**s)
        self.extra_state = (self.hand_scheduler,)
        self.counter = StepCounter()

    def run(self, steps, save_every=1):
        self._ensure_started()
        for _ in range(steps):
            loss = self.model(torch.randn(3, 4)).pow(2).mean()  # a fresh draw from the global RNG
            self.accelerator.backward(loss)
            self.optimizer.step()
            self.optimizer.zero_grad()
            self.scheduler.step()
            self.hand_optimizer.step()
            self.hand_scheduler.step()
            self.counter.step += 1
            self._log({"step": self.counter.step, "loss": loss.item(), "lr": self.hand_scheduler.get_last_lr()[0]})
            if self.counter.step % save_every == 0:
                self.save_checkpoint()


def _log(folder):
    return [json.loads(line) for line in (Path(folder) / LOG_FILE).read_text().splitlines()]


def _checkpoint(folder, n):
    return Path(folder) / CHECKPOINT_DIR / f"checkpoint_{n}"


def test_a_resumed_run_equals_an_uninterrupted_one_and_logs_each_step_once(tmp_path):
    TinyTrainer(tmp_path / "straight").run(6)
    interrupted = TinyTrainer(tmp_path / "cut")
    interrupted.run(3, save_every=3)
    interrupted.run(2, save_every=100)  # steps 4-5 made, then "killed" before their checkpoint
    resumed = TinyTrainer(tmp_path / "cut")
    resumed.start(resume=True)
    assert resumed.counter.step == 3 and [r["step"] for r in _log(tmp_path / "cut")] == [1, 2, 3]
    resumed.run(3, save_every=3)
    assert _log(tmp_path / "cut") == _log(tmp_path / "straight")


def _truncate(folder, name):
    with open(folder / name, "r+b") as handle:
        handle.truncate(max(1, os.path.getsize(folder / name) // 2))


DAMAGE = {
    "no manifest (killed before it was written, or an older version's checkpoint)": (
        lambda f: (f / MANIFEST_FILE).unlink(),
        "no checkpoint.json",
    ),
    "a file cut short": (lambda f: _truncate(f, "optimizer.bin"), "optimizer.bin has"),
    "a file missing (the issue's case: 1 of 5 files)": (
        lambda f: (f / "model.safetensors").unlink(),
        "model.safetensors is missing",
    ),
    "a file nobody wrote": (lambda f: (f / "custom_checkpoint_0.pkl").write_bytes(b"x"), "custom_checkpoint_0.pkl"),
    "a manifest cut short": (lambda f: _truncate(f, MANIFEST_FILE), "unreadable checkpoint.json"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_resume_skips_an_incomplete_checkpoint_with_a_warning_naming_it(tmp_path, caplog, damage):
    TinyTrainer(tmp_path).run(4, save_every=2)  # checkpoint_0 (step 2), checkpoint_1 (step 4)
    newest = _checkpoint(tmp_path, 1)
    spoil, reason = DAMAGE[damage]
    spoil(newest)
    trainer = TinyTrainer(tmp_path)
    with caplog.at_level(logging.WARNING):
        trainer.start(resume=True)
    assert trainer.counter.step == 2
    assert f"Skipping incomplete checkpoint {newest}" in caplog.text and reason in caplog.text
    assert newest.is_dir()  # skipped, never deleted on its own
    with pytest.raises(ValueError, match="incomplete"):
        TinyTrainer(tmp_path).resume(newest)


class Payload:
    """What a crafted checkpoint file carries: unpickling it would write a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


@pytest.mark.parametrize("name", ["optimizer.bin", "scheduler.bin", "random_states_0.pkl", "extra_state_0.pt"])
def test_resume_never_unpickles_code(tmp_path, name):
    """A pickle that would run code, planted in each pickle-based file of a checkpoint (with the
    manifest updated so the checkpoint looks complete): resume refuses it and the code never runs."""
    TinyTrainer(tmp_path).run(1)
    folder, marker = _checkpoint(tmp_path, 0), tmp_path / "pwned"
    torch.save({"state": Payload(marker)}, folder / name)  # torch.save pickles it like the real file
    manifest = read_manifest(folder)
    manifest["files"][name] = (folder / name).stat().st_size
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="Refusing checkpoint .* objects other than tensors and plain data"):
        TinyTrainer(tmp_path).start(resume=True)
    assert not marker.exists()
    torch.load(folder / name, weights_only=False)  # what accelerate does with custom state: the code runs
    assert marker.read_text() == "code ran"


def test_no_accelerate_custom_state_is_written(tmp_path):
    """accelerate reloads its custom_checkpoint_N.pkl with weights_only=False: nothing may depend on one."""
    TinyTrainer(tmp_path).run(1)
    names = set(read_manifest(_checkpoint(tmp_path, 0))["files"])
    assert not [n for n in names if n.startswith("custom_checkpoint")]
    assert read_manifest(_checkpoint(tmp_path, 0))["counter"] == {"step": 1, "epoch": 0, "batches_in_epoch": 0}


def _claimed(folder: Path, name: str, make) -> None:
    """An entry a run wrote and claimed, as the trainers claim theirs (:func:`claim_run_outputs`)."""
    make(folder / name)
    claim_run_outputs(folder, name)


EARLIER_RUNS = {
    "checkpoints": lambda d: TinyTrainer(d).run(1),
    "log only (killed before its first checkpoint)": lambda d: _claimed(
        d, LOG_FILE, lambda path: path.write_text('{"step": 0}\n')
    ),
    "final only": lambda d: _claimed(d, "final", lambda path: path.mkdir(parents=True)),
}


@pytest.mark.parametrize("earlier", EARLIER_RUNS, ids=list(EARLIER_RUNS))
def test_a_fresh_start_over_an_earlier_run_is_refused_and_overwrite_says_what_it_deletes(tmp_path, earlier):
    EARLIER_RUNS[earlier](tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for attempt in (lambda: check_run_mode(tmp_path, False, False), lambda: TinyTrainer(tmp_path).run(1)):
        with pytest.raises(ValueError, match="already holds a training run.*--resume.*--overwrite"):
            attempt()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing touched
    with pytest.raises(ValueError, match="contradict"):
        check_run_mode(tmp_path, True, True)

    fresh = TinyTrainer(tmp_path)
    fresh.start(overwrite=True)
    fresh.run(2)
    log = _log(tmp_path)
    assert log[0]["event"].startswith("--overwrite: deleted") and log[0]["deleted"]
    assert [r["step"] for r in log[1:]] == [1, 2] and not (tmp_path / "final").exists()
    assert [n for n, _ in checkpoint_folders(tmp_path)] == [0, 1]


USERS_FILES = {
    "a take in samples/": ("samples/take1.wav", b"RIFF my own take"),
    "notes in final/": ("final/notes.txt", b"what I changed"),
    "a file beside the checkpoints": ("checkpoints/README", b"keep these"),
    "a log of the user's": (LOG_FILE, None),
}


@pytest.mark.parametrize("case", USERS_FILES, ids=list(USERS_FILES))
def test_overwrite_deletes_nothing_when_a_file_there_is_not_the_runs(tmp_path, case):
    """--overwrite proves every entry it would delete against the marker the run left (claimed as it wrote): one
    file of the user's among them (added, or the run's own file changed since) and nothing is deleted, the file
    named, before any model is built."""
    TinyTrainer(tmp_path).run(1)
    _claimed(tmp_path, "final", lambda path: path.mkdir())
    _claimed(tmp_path, "samples", lambda path: (path / "step_0000001").mkdir(parents=True))
    name, data = USERS_FILES[case]
    if data is None:  # the run's own log, changed by the user since
        with open(tmp_path / name, "a", encoding="utf-8") as handle:
            handle.write('{"note": "mine"}\n')
    else:
        (tmp_path / name).write_bytes(data)
    before = {str(p): p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}
    with pytest.raises(ValueError, match=f"--overwrite: .*({name}).*nothing was deleted"):
        check_run_mode(tmp_path, False, True)
    with pytest.raises(ValueError, match="nothing was deleted"):
        TinyTrainer(tmp_path).start(overwrite=True)
    assert {str(p): p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")} == before

    (tmp_path / name).unlink() if data is not None else claim_run_outputs(tmp_path, LOG_FILE)
    fresh = TinyTrainer(tmp_path)
    fresh.start(overwrite=True)  # every entry the run's own again: all of it goes
    assert not (tmp_path / "samples").exists() and not (tmp_path / "final").exists()


def test_overwrite_refuses_an_earlier_run_with_no_proof_of_whose_it_is(tmp_path):
    """A folder with run-like names but no marker (written by hand, or by another program) is never deleted."""
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "take1.wav").write_bytes(b"mine")
    with pytest.raises(ValueError, match="no .songgen-output.json"):
        check_run_mode(tmp_path, False, True)
    assert (tmp_path / "samples" / "take1.wav").read_bytes() == b"mine"


COMMANDS = {
    "codec train": (["codec", "train"], ""),
    "train": (["train"], "model: {preset: tiny}\n"),
    "finetune-lora": (["finetune-lora"], "init_from: songgen-tiny\n"),
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_every_training_command_refuses_a_fresh_run_over_an_earlier_one(tmp_path, capsys, command):
    """Exit code 2 and a message offering --resume / --overwrite, before anything is built or deleted."""
    words, extra = COMMANDS[command]
    (tmp_path / "run" / CHECKPOINT_DIR / "checkpoint_0").mkdir(parents=True)
    config = tmp_path / "config.yaml"
    config.write_text(f"train_data: {tmp_path / 'nowhere'}\noutput_dir: {tmp_path / 'run'}\n{extra}")
    assert cli.main([*words, str(config)]) == 2
    error = capsys.readouterr().err
    assert "already holds a training run" in error and "--resume" in error and "--overwrite" in error
    assert (tmp_path / "run" / CHECKPOINT_DIR / "checkpoint_0").is_dir()
    assert cli.main([*words, str(config), "--resume", "--overwrite"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_the_limit_prunes_only_this_runs_complete_checkpoints_oldest_first(tmp_path):
    TinyTrainer(tmp_path, limit=2).run(2)  # checkpoints 0, 1 of run A
    foreign = _checkpoint(tmp_path, 1)
    manifest = read_manifest(foreign)
    manifest["lineage"] = "another-run"  # e.g. a checkpoint copied in from elsewhere
    (foreign / MANIFEST_FILE).write_text(json.dumps(manifest))
    broken = _checkpoint(tmp_path, 0)
    (broken / MANIFEST_FILE).unlink()
    resumed = TinyTrainer(tmp_path, limit=2)
    resumed.start(resume=True)  # from the "foreign" one: the only complete checkpoint
    assert resumed._lineage == "another-run"
    fresh_lineage = TinyTrainer(tmp_path / "b", limit=2)
    fresh_lineage.run(3)
    assert [n for n, _ in checkpoint_folders(tmp_path / "b")] == [1, 2]  # oldest pruned after the newest is complete
    resumed._lineage = "run-c"  # pretend this run is another lineage: it must not prune the others
    resumed.run(3)
    assert [n for n, _ in checkpoint_folders(tmp_path)] == [0, 1, 3, 4]
    assert broken.is_dir() and foreign.is_dir()


def test_staging_left_by_killed_writes_is_removed_by_the_next_write(tmp_path):
    TinyTrainer(tmp_path).run(1)
    root = tmp_path / CHECKPOINT_DIR
    shutil.copytree(root / "checkpoint_0", root / ".checkpoint_1.tmp")  # killed mid-write
    shutil.copytree(root / "checkpoint_0", root / ".checkpoint_0.pruned.tmp")  # killed mid-prune
    trainer = TinyTrainer(tmp_path)
    trainer.start(resume=True)
    assert trainer.counter.step == 1
    trainer.run(1)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint_0", "checkpoint_1"]


def test_log_truncation_drops_later_steps_and_a_line_cut_by_the_kill(tmp_path):
    log = tmp_path / LOG_FILE
    log.write_text(
        '{"step": 0, "event": "start"}\n{"step": 1, "loss": 1}\n{"step": 2, "loss": 2}\n'
        '{"step": 2, "event": "terminated; checkpoint saved"}\n{"step": 3, "loss": 3}\n{"step": 4, "lo'
    )
    assert truncate_log(log, 2) == 2
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [0, 1, 2, 2]
    assert truncate_log(log, 2) == 0 and truncate_log(tmp_path / "absent.jsonl", 2) == 0


def test_a_run_that_saved_nothing_yet_has_nothing_to_resume(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    with pytest.raises(ValueError, match="no checkpoint under .* --overwrite"):
        TinyTrainer(tmp_path).start(resume=True)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
def test_a_checkpoint_limit_that_keeps_nothing_or_is_not_a_count_is_refused(limit):
    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.songgen_config import SongGenTrainingConfig

    with pytest.raises(ValueError, match="checkpoints_total_limit"):
        CodecTrainingConfig(train_data="x", checkpoints_total_limit=limit)
    with pytest.raises(ValueError, match="checkpoints_total_limit"):
        SongGenTrainingConfig(train_data="x", init_from="y", checkpoints_total_limit=limit)
    assert CodecTrainingConfig(train_data="x", checkpoints_total_limit=None).checkpoints_total_limit is None
