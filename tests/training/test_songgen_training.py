"""SongGen training: it learns, resumes bit for bit, normalises by token count, freezes stage 2a,
runs on two processes, and refuses bad configs."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.loss import combine_row_losses
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training import songgen_cli
from songgen_hf.training.checkpointing import latest_checkpoint
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_data import hq_filter_indices
from songgen_hf.training.songgen_trainer import LOG_FILE, SongGenTrainer, load_tokenizers, train_songgen

from .interruption import logged_losses as _losses
from .interruption import sigterm_during_step
from .tiny_stage import next_stage_config, save_tiny_start
from .tiny_stage import tiny_stage_config as _config

REPO = Path(__file__).resolve().parents[2]

try:  # written alongside this trainer; the trainer uses it when present
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
except ImportError:
    SongGenProcessor = None


def test_tiny_model_learns_repeated_data_and_saves_a_self_contained_folder(assets, tmp_path):
    final = train_songgen(_config(assets, tmp_path, max_steps=12, warmup_steps=1, codebook_curriculum=False))
    losses = list(_losses(tmp_path).values())
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses
    model = SongGenForConditionalGeneration.from_pretrained(final)
    assert model.config.track_pattern == "mixed_pro"
    # the folder carries its tokenizers: a next stage needs nothing but init_from
    description, lyrics = load_tokenizers(SongGenTrainingConfig(train_data="x", init_from=str(final)))
    assert lyrics.vocab_size <= model.config.lyrics_encoder.vocab_size and len(description) > 3
    if SongGenProcessor is not None:
        processor = SongGenProcessor.from_pretrained(final)
        assert processor.feature_extractor.sampling_rate == model.config.voice_encoder.sampling_rate
    assert json.loads((final / "training_config.json").read_text())["final_step"] == 12


def test_killed_and_resumed_run_equals_an_uninterrupted_one(assets, tmp_path, monkeypatch):
    """SIGTERM during step 3 saves a checkpoint and exits 143; the resumed run's steps 4-6 then equal
    a straight run's bit for bit, with accumulation, condition dropout, voice crops, random crops,
    length grouping, warm-up + cosine schedule and the curriculum all in play."""
    options = dict(
        gradient_accumulation_steps=2,
        batch_size=1,
        save_steps=100,
        max_frames=40,
        group_by_length=True,
        voice_dropout_prob=0.5,
        description_dropout_prob=0.3,
        warmup_steps=2,
        max_steps=6,
        eval_steps=2,
        eval_duration_s=0.2,  # sampling in the middle must not disturb the run
    )
    straight = tmp_path / "straight"
    train_songgen(_config(assets, straight, **options))

    interrupted = tmp_path / "interrupted"
    with monkeypatch.context() as patch, pytest.raises(SystemExit) as stop:
        sigterm_during_step(patch, SongGenTrainer, step=3)
        train_songgen(_config(assets, interrupted, **options))
    assert stop.value.code == 143 and latest_checkpoint(interrupted) is not None
    assert sorted(_losses(interrupted)) == [1, 2, 3]
    train_songgen(_config(assets, interrupted, **options), resume=True)

    expected, resumed = _losses(straight), _losses(interrupted)
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    assert resumed == expected
    for step in (2, 4, 6):
        samples = sorted((straight / "samples" / f"step_{step:07d}").glob("*.wav"))
        assert len(samples) == 2 and all(p.stat().st_size > 44 for p in samples)
    a = SongGenForConditionalGeneration.from_pretrained(straight / "final").state_dict()
    b = SongGenForConditionalGeneration.from_pretrained(interrupted / "final").state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_run_cut_short_by_schedule_steps_equals_the_start_of_the_longer_run(assets, tmp_path):
    """max_steps=3 with schedule_steps=6 is steps 1-3 of a 6-step run: same lr schedule, same curriculum."""
    options = dict(warmup_steps=2, max_frames=40)
    train_songgen(_config(assets, tmp_path / "long", max_steps=6, **options))
    train_songgen(_config(assets, tmp_path / "cut", max_steps=3, schedule_steps=6, **options))
    train_songgen(_config(assets, tmp_path / "short", max_steps=3, **options))
    long, cut, short = (_losses(tmp_path / name) for name in ("long", "cut", "short"))
    assert cut == {step: long[step] for step in (1, 2, 3)}
    assert short[3] != long[3]  # a 3-step schedule decays differently: the option is what makes them equal
    with pytest.raises(ValueError, match="schedule_steps"):
        _config(assets, tmp_path, max_steps=6, schedule_steps=5)


def test_accumulated_loss_is_the_token_weighted_mean(assets, tmp_path):
    """Two micro-batches of unequal token counts, accumulated, give the loss and gradients of the
    single batch holding both: CE summed over all supervised tokens / their number, per row."""
    trainer = SongGenTrainer(_config(assets, tmp_path, max_steps=1, batch_size=1))
    dataset, collate = trainer.dataset, trainer.loader.collate_fn
    short, long = dataset[0], dataset[3]
    assert short["num_frames"] < long["num_frames"]
    micro = [collate([short]), collate([long])]
    counts = [(b["labels"] != -100).sum(dim=(0, 2)) for b in micro]
    assert counts[0].sum() < counts[1].sum()
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights = trainer.codebook_weights()

    def gradients():
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        return grads

    accumulated = trainer.accumulate_gradients(micro)
    accumulated_grads = gradients()
    joint = trainer.accumulate_gradients([collate([short, long])])
    joint_grads = gradients()

    with torch.no_grad():
        outputs = [model(**b, codebook_weights=weights) for b in micro]
    k = model.config.decoder.num_codebooks

    def weighted(sums, token_counts):
        return combine_row_losses(sums / token_counts, weights, k)

    expected = weighted(sum(o.codebook_loss_sums for o in outputs), sum(counts)) + 0.1 * weighted(
        sum(o.vocal_codebook_loss_sums for o in outputs),
        sum((b["vocal_labels"] != -100).sum(dim=(0, 2)) for b in micro),
    )
    naive = sum(o.loss for o in outputs) / 2  # the mean of micro-batch means: what must NOT happen
    assert accumulated["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert joint["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert abs(float(naive) - float(expected)) > 1e-3
    assert accumulated["tokens"] == joint["tokens"] == int(sum(counts).sum())
    assert accumulated_grads.keys() == joint_grads.keys()
    for name, grad in accumulated_grads.items():
        torch.testing.assert_close(grad, joint_grads[name], rtol=1e-4, atol=1e-6, msg=name)


CONDITIONING = ("text_encoder", "enc_to_dec_proj", "lyrics_encoder", "lyrics_to_dec_proj", "voice_encoder")


def test_stage_2a_trains_only_the_decoder(assets, tmp_path):
    start = save_tiny_start(tmp_path / "step1")  # a stage's final folder carries its tokenizers and processor
    options = dict(stage="step2a", freeze="conditioning", voice_dropout_prob=1 / 3, learning_rate=1e-2)
    final = train_songgen(next_stage_config(assets, start, tmp_path / "step2a", **options))
    before = SongGenForConditionalGeneration.from_pretrained(start).state_dict()
    trained = SongGenForConditionalGeneration.from_pretrained(final)
    after = trained.state_dict()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and all(key.startswith("decoder.") for key in changed), sorted(changed)[:5]
    assert not any(key.startswith(CONDITIONING) for key in changed)
    assert trained.config.voice_dropout_prob == pytest.approx(1 / 3)
    assert (final / "vocab.json").is_file() and (final / "tokenizer.json").is_file()
    if SongGenProcessor is not None:
        assert (final / "processor_config.json").is_file()


def test_init_from_a_half_precision_folder_trains_float32_master_weights(tmp_path):
    """A stage continued from a folder stored in float16 gets float32 weights to train (AdamW's small
    updates would be lost in half precision), equal to the stored ones."""
    from songgen_hf.training.songgen_trainer import build_model

    start = save_tiny_checkpoint(tmp_path / "step1")
    half = tmp_path / "half"
    SongGenForConditionalGeneration.from_pretrained(start).half().save_pretrained(half)
    assert SongGenForConditionalGeneration.from_pretrained(half).dtype == torch.float16
    model = build_model(
        SongGenTrainingConfig(train_data="x", init_from=str(half)), SongGenForConditionalGeneration, None, None
    )
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    stored = SongGenForConditionalGeneration.from_pretrained(half).float().state_dict()
    assert all(torch.equal(model.state_dict()[key], value) for key, value in stored.items())


def test_hq_filter_selects_rows(assets):
    data = datasets.load_from_disk(str(assets / "encoded"))
    energies = data["vocal_energy"]
    threshold = sorted(energies)[2]
    assert hq_filter_indices(data, {"min_vocal_energy": threshold}) == [
        i for i, e in enumerate(energies) if e >= threshold
    ]
    assert hq_filter_indices(data, {"attributes": {"genre": ["pop", "jazz"]}}) == [0, 2]
    assert hq_filter_indices(data, {"attributes": {"clap_score": {"min": 0.15}, "tempo_bpm": 120}}) == [3]
    with pytest.raises(ValueError, match=r"Unknown hq_filter option\(s\) \['min_energy'\]"):
        SongGenTrainingConfig(train_data="x", init_from="y", hq_filter={"min_energy": 1})


def test_bad_configs_are_refused(assets, tmp_path):
    path = tmp_path / "stage.yaml"
    path.write_text("train_data: somewhere\ninit_from: model\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['learning_rat'\]"):
        SongGenTrainingConfig.from_file(path)
    with pytest.raises(ValueError, match="exactly one of `init_from`"):
        SongGenTrainingConfig(train_data="x", init_from="y", model={"preset": "tiny"})
    with pytest.raises(ValueError, match="freeze must be one of"):
        SongGenTrainingConfig(train_data="x", init_from="y", freeze="decoder")
    with pytest.raises(ValueError, match="not a saved dataset"):
        SongGenTrainer(_config(assets, tmp_path, train_data=str(tmp_path)))
    with pytest.raises(ValueError, match="no checkpoint"):
        SongGenTrainer(_config(assets, tmp_path / "fresh", max_steps=1)).resume()
    assert songgen_cli.main([str(path)]) == 2  # the CLI turns the refusal into exit code 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_cpu_run_completes_and_saves(assets, tmp_path):
    """Two CPU processes with gloo.  `accelerate launch --cpu --num_processes 2` alone starts a single
    process unless mpirun is set up, so the processes are started by torchrun (`--multi_gpu`) and
    ACCELERATE_USE_CPU makes accelerate choose its multi-CPU mode."""
    shared = dict(batch_size=1, max_steps=2, learning_rate=1e-4)
    config = _config(assets, tmp_path / "run", gradient_accumulation_steps=2, **shared)
    path = tmp_path / "stage.json"
    path.write_text(json.dumps(dataclasses.asdict(config)))
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "songgen_hf.training.songgen_cli",
        str(path),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    started = time.time()
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    final = tmp_path / "run" / "final"
    assert (final / "model.safetensors").is_file() and (final / "vocab.json").is_file()
    log = [json.loads(line) for line in (tmp_path / "run" / LOG_FILE).read_text().splitlines()]
    assert log[0]["processes"] == 2
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    # Step 1 reads sampler batches 0-3 (process 0: 0 and 2, process 1: 1 and 3): its loss, normalised
    # by the tokens of both processes, is the loss of one process accumulating the same 4 songs.
    train_songgen(_config(assets, tmp_path / "single", gradient_accumulation_steps=4, **shared))
    single = [json.loads(line) for line in (tmp_path / "single" / LOG_FILE).read_text().splitlines()]
    two, one = log[1], single[1]
    assert two["step"] == one["step"] == 1 and two["tokens"] == one["tokens"]
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    # the gradient too (its norm, before clipping): DDP's mean over processes is undone by the trainer
    assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)
    assert time.time() - started < 120


def test_a_fresh_model_takes_its_codec_from_the_codec_option(assets, tmp_path):
    from songgen_hf.modeling import XCodecModel
    from songgen_hf.testing import tiny_songgen_config
    from songgen_hf.training.songgen_trainer import build_songgen

    codec = XCodecModel.from_pretrained(assets / "codec")
    model_options = tiny_songgen_config(use_voice_encoder=False).to_dict()
    for name in ("audio_encoder", "model_type", "transformers_version", "architectures"):
        model_options.pop(name, None)
    model = build_songgen(_config(assets, tmp_path, model=model_options, codec=str(assets / "codec")))
    assert model.config.audio_encoder.to_dict() == codec.config.to_dict()
    trained = codec.state_dict()
    assert all(torch.equal(tensor, trained[name]) for name, tensor in model.audio_encoder.state_dict().items())

    with pytest.raises(ValueError, match="already has its own"):
        _config(assets, tmp_path, model={}, init_from=str(tmp_path), codec=str(assets / "codec"))
    with pytest.raises(ValueError, match="full `model` config"):
        build_songgen(_config(assets, tmp_path, codec=str(assets / "codec")))
    with pytest.raises(ValueError, match="not a saved X-Codec or SongGen folder"):
        build_songgen(_config(assets, tmp_path, model=model_options, codec=str(tmp_path)))


def test_a_fresh_model_can_share_the_codec_of_a_songgen_release(assets, tmp_path):
    """``codec=`` a SongGen folder takes that model's own codec (a ResGen beside songgen-tiny decodes with its
    codec)."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint, tiny_songgen_config
    from songgen_hf.training.songgen_trainer import build_songgen

    release = tmp_path / "release"
    save_tiny_checkpoint(release, seed=3, use_voice_encoder=False)
    source = SongGenForConditionalGeneration.from_pretrained(release).audio_encoder.state_dict()
    model_options = tiny_songgen_config(use_voice_encoder=False).to_dict()
    for name in ("audio_encoder", "model_type", "transformers_version", "architectures"):
        model_options.pop(name, None)
    model = build_songgen(_config(assets, tmp_path / "run", model=model_options, codec=str(release)))
    assert all(torch.equal(tensor, source[name]) for name, tensor in model.audio_encoder.state_dict().items())


def test_bar_aligned_crops_start_on_a_bar_of_the_captions_tempo():
    """120 BPM at 50 Hz is a bar every 100 frames: every crop starts on one; plain crops start anywhere."""
    import datasets
    import numpy as np

    from songgen_hf.training.songgen_data import EncodedSongDataset

    frames = 930
    codes = np.tile(np.arange(frames, dtype=np.int64), (8, 1))  # each code is its frame index
    rows = datasets.Dataset.from_dict(
        {
            "codes_mix": [codes, codes],
            "codes_vocals": [None, None],
            "codes_accompaniment": [None, None],
            "num_frames": [frames, frames],
            "caption": ["rock in E minor at 120 BPM", "an ambient piece"],
            "lyrics": ["la", "la"],
            "language": ["en", "en"],
            "vocal_path": ["", ""],
            "voice_start": [0.0, 0.0],
        }
    )

    def starts(dataset, index):
        found = set()
        for epoch in range(40):
            dataset.set_epoch(epoch)
            found.add(int(dataset[index]["codes"]["mix"][0, 0]))
        return found

    aligned = EncodedSongDataset(rows, 8, max_frames=500, seed=0, bar_frame_rate=50.0)
    assert len(starts(aligned, 0)) > 1 and all(start % 100 == 0 for start in starts(aligned, 0))
    assert any(start % 100 for start in starts(aligned, 1))  # no tempo in the caption: any start
    plain = EncodedSongDataset(rows, 8, max_frames=500, seed=0)
    assert any(start % 100 for start in starts(plain, 0))


def _split_encoded(assets, root):
    """The encoded folder as two folders (first and second half, each with its encoding.json)."""
    whole = datasets.load_from_disk(str(assets / "encoded"))
    half = len(whole) // 2
    folders = []
    for name, rows in (("first", range(half)), ("second", range(half, len(whole)))):
        folder = root / name
        whole.select(list(rows)).save_to_disk(str(folder))
        (folder / "encoding.json").write_text((assets / "encoded" / "encoding.json").read_text())
        folders.append(str(folder))
    return whole, folders


def test_a_list_of_encoded_folders_trains_like_their_concatenation(assets, tmp_path):
    whole, folders = _split_encoded(assets, tmp_path / "parts")
    trainer = SongGenTrainer(_config(assets, tmp_path / "inspect", train_data=folders, max_steps=1))
    assert trainer.num_rows["total"] == len(whole)
    assert list(trainer.dataset.data["id"]) == list(whole["id"])  # in the order given
    train_songgen(_config(assets, tmp_path / "one", max_steps=3, warmup_steps=1))
    train_songgen(_config(assets, tmp_path / "two", train_data=folders, max_steps=3, warmup_steps=1))
    assert _losses(tmp_path / "two") == _losses(tmp_path / "one")


def test_encoded_folders_from_different_codecs_are_refused(assets, tmp_path):
    _, folders = _split_encoded(assets, tmp_path / "parts")
    info_file = Path(folders[1]) / "encoding.json"
    info = json.loads(info_file.read_text())
    info.setdefault("settings", {})["codec_parameters_sha256"] = "0" * 64
    info_file.write_text(json.dumps(info))
    with pytest.raises(ValueError, match="encoded by different codecs"):
        SongGenTrainer(_config(assets, tmp_path / "run", train_data=folders))
    with pytest.raises(ValueError, match="not a saved dataset"):
        SongGenTrainer(_config(assets, tmp_path / "run2", train_data=[folders[0], str(tmp_path)]))
    _, folders = _split_encoded(assets, tmp_path / "parts_stems")
    second = datasets.load_from_disk(folders[1]).remove_columns(["codes_vocals"])
    second.save_to_disk(str(tmp_path / "no_vocals"))
    (tmp_path / "no_vocals" / "encoding.json").write_text((Path(folders[1]) / "encoding.json").read_text())
    with pytest.raises(ValueError, match="hold different columns.*same --stems"):
        SongGenTrainer(_config(assets, tmp_path / "run3", train_data=[folders[0], str(tmp_path / "no_vocals")]))


def test_train_data_lists_in_config_files(tmp_path):
    path = tmp_path / "stage.yaml"
    path.write_text("train_data: [encoded_a, encoded_b]\ninit_from: model\n")
    assert SongGenTrainingConfig.from_file(path).train_data == ["encoded_a", "encoded_b"]
    for bad in ([], ["a", ""], ["a", 3]):
        with pytest.raises(ValueError, match="train_data"):
            SongGenTrainingConfig(train_data=bad, init_from="y")


def test_a_training_run_shows_its_progress_as_the_trainer_logs(assets, tmp_path, capsys):
    """Off a terminal (as under pytest), one line per logged step: step, loss, steps per second, time left."""
    output = tmp_path / "run"
    train_songgen(_config(assets, output, max_steps=3, log_steps=1))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train: step")]
    assert [line.split(" | ")[0] for line in lines] == [f"train: step {step}/3" for step in (1, 2, 3)]
    losses = [
        record["loss"] for record in map(json.loads, (output / LOG_FILE).read_text().splitlines()) if "loss" in record
    ]
    assert f"loss {losses[-1]:.4f}" in lines[-1] and "steps/s" in lines[-1] and "left" in lines[0]
