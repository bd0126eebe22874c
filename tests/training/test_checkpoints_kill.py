"""A real training run SIGKILLed again and again while it writes checkpoints, resumed each time:
every resume works, no incomplete checkpoint is ever visible, and the end result equals an
uninterrupted run's, step by step.

The runs are child processes forked from a forkserver that has already imported torch and the
trainer, so each of the dozen runs starts in milliseconds instead of re-importing for seconds.
Half the kills come from outside after a random delay into a checkpoint write; the other half are
placed at a uniformly random function call inside a checkpoint write (the child counts the calls
of its first save, then SIGKILLs itself at a random call of a later one), so every stage of the
write (tensors, optimiser, RNG files, manifest, fsync, rename, pruning) gets hit.
"""

import json
import multiprocessing
import os
import random
import signal
import sys
import time

import torch
from safetensors.torch import load_file

from songgen_hf.testing import write_tone_dataset
from songgen_hf.training.checkpointing import (
    CHECKPOINT_DIR,
    LOG_FILE,
    checkpoint_folders,
    incomplete_reason,
    latest_checkpoint,
    read_manifest,
)

KILLS = 12
MAX_STEPS = 20
LIMIT = 2
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["torch", "songgen_hf.training.codec_trainer"])


def _options(tones, output_dir):
    return dict(
        train_data=str(tones),
        output_dir=str(output_dir),
        num_eval_clips=1,
        seed=0,
        model={"preset": "tiny", "teacher": "mel", "codebook_size": 64, "target_bandwidths": [0.3, 0.6, 0.9, 1.2, 2.4]},
        segment_seconds=0.15,
        batch_size=2,
        learning_rate=3e-3,
        use_discriminator=False,
        log_steps=1,
        eval_steps=1000,
        save_steps=1,
        checkpoints_total_limit=LIMIT,
        max_steps=MAX_STEPS,
    )


def _train(options, resume, kill_fraction, save_started):
    """Child: train (resuming if asked); signal when the second save starts; with ``kill_fraction``,
    SIGKILL itself at that fraction of the function calls a save makes (counted on the first save)."""
    import logging

    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.codec_trainer import CodecTrainer

    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    trainer = CodecTrainer(CodecTrainingConfig(**options))
    trainer.start(resume=resume)
    original = trainer.save_checkpoint
    state = {"saves": 0, "calls": 0, "target": None}

    def profile(frame, event, arg):
        if event in ("call", "c_call"):
            state["calls"] += 1
            if state["target"] is not None and state["calls"] >= state["target"]:
                os.kill(os.getpid(), signal.SIGKILL)

    def save():
        state["saves"] += 1
        if state["saves"] == 2:
            save_started.set()
        if kill_fraction is None:
            return original()
        if state["saves"] >= 2:  # the first save counts the calls, a later one is killed
            state["target"] = max(1, int(kill_fraction * state["count"]))
        state["calls"] = 0
        sys.setprofile(profile)
        try:
            return original()
        finally:
            sys.setprofile(None)
            state.setdefault("count", state["calls"])

    trainer.save_checkpoint = save
    trainer.train()


def _run(options, resume=False, kill_fraction=None, kill_delay=None):
    started = CONTEXT.Event()
    child = CONTEXT.Process(target=_train, args=(options, resume, kill_fraction, started))
    child.start()
    if kill_delay is not None:
        assert started.wait(120), "the run never reached its second checkpoint"
        time.sleep(kill_delay)
        child.kill()
    child.join(180)
    return child.exitcode


def _losses(output_dir):
    lines = (output_dir / LOG_FILE).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [(r["step"], r["generator_loss"]) for r in records if "generator_loss" in r]


def test_sigkill_during_checkpoint_writes_never_costs_a_resume_or_exactness(tmp_path):
    tones = tmp_path / "tones"
    write_tone_dataset(tones, num_clips=4, seconds=0.5)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _run(_options(tones, straight)) == 0

    rng = random.Random(18)
    interrupted_writes = 0
    for kill in range(KILLS):
        by_itself = kill % 2 == 1
        before = latest_checkpoint(killed, warn=False)
        # read now: the run may prune this checkpoint once it has written newer ones
        before_step = None if before is None else read_manifest(before)["counter"]["step"]
        code = _run(
            _options(tones, killed),
            resume=kill > 0,
            kill_fraction=rng.random() if by_itself else None,
            kill_delay=None if by_itself else rng.uniform(0.0, 0.05),
        )
        assert code == -signal.SIGKILL, f"kill {kill}: the run ended with {code} instead of being killed"
        # what a kill leaves: only complete checkpoint_N folders, at most a staging folder beside them
        folders = checkpoint_folders(killed)
        assert folders and all(incomplete_reason(folder) is None for _, folder in folders), kill
        leftovers = [p.name for p in (killed / CHECKPOINT_DIR).iterdir() if p.name.startswith(".")]
        assert all(name.endswith(".tmp") for name in leftovers), leftovers
        interrupted_writes += bool(leftovers)
        # the run made progress, and resumes from a checkpoint at least as new as the last one
        newest = latest_checkpoint(killed, warn=False)
        assert before_step is None or read_manifest(newest)["counter"]["step"] >= before_step

    assert interrupted_writes >= KILLS // 3, f"only {interrupted_writes} of {KILLS} kills hit a write"
    assert _run(_options(tones, killed), resume=True) == 0

    expected, resumed = _losses(straight), _losses(killed)
    assert [step for step, _ in resumed] == list(range(1, MAX_STEPS + 1))  # every step logged once
    assert resumed == expected  # every loss, the final one included, bit for bit
    final_a = load_file(straight / "final" / "model.safetensors")
    final_b = load_file(killed / "final" / "model.safetensors")
    assert final_a.keys() == final_b.keys() and all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    # the limit kept this lineage's newest checkpoints; nothing staged is left anywhere
    assert len(checkpoint_folders(killed)) == LIMIT
    assert not [p for p in killed.rglob(".*") if p.name.endswith(".tmp")]
