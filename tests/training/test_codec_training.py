"""X-Codec training: it learns, it resumes exactly, it refuses bad configs."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.modeling.xcodec.discriminator import MultiFrequencyDiscriminator
from songgen_hf.modeling.xcodec.period_discriminator import DiscriminatorEnsemble, MultiPeriodDiscriminator
from songgen_hf.testing import tiny_xcodec_config, write_tone_dataset
from songgen_hf.training.checkpointing import TerminationFlag, latest_checkpoint, read_manifest
from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.codec_trainer import LOG_FILE, CodecTrainer, build_discriminator, train_codec

from .tiny_stage import SMALL_CODEBOOK
from .tiny_stage import tiny_codec_config as _config
from .tiny_stage import tiny_codec_options as _options

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "songgen_tiny"


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    write_tone_dataset(folder, num_clips=16)
    return folder


def _records(output_dir):
    return [json.loads(line) for line in (output_dir / LOG_FILE).read_text().splitlines()]


@pytest.mark.slow
def test_tiny_codec_learns_to_reconstruct_tones(tones, tmp_path):
    model_options = {**SMALL_CODEBOOK, "quantizer_dropout": False}
    # the distance has fallen to ~0.44 of its start by step 60 and only creeps on after (~0.43 at step 120)
    config = _config(tones, tmp_path, model=model_options, max_steps=60, log_steps=20, eval_steps=60)
    final = train_codec(config)
    distances = [r["eval_mel_distance"] for r in _records(tmp_path) if "eval_mel_distance" in r]
    assert len(distances) == 2
    assert distances[-1] <= 0.5 * distances[0], distances
    # the final folder is the Hub layout: weight norm folded, loadable as is
    reloaded = XCodecModel.from_pretrained(final)
    assert not any("parametrizations" in key for key in reloaded.state_dict())
    audio = torch.randn(1, 1, 8000) * 0.1
    assert reloaded.eval().encode(audio).audio_codes.max() < 64


def test_resumed_run_continues_exactly(tones, tmp_path):
    """Steps 4-6 after a restart equal steps 4-6 of an uninterrupted run, GAN included."""
    gan = dict(use_discriminator=True, discriminator_hop_lengths=(32, 64), discriminator_channels=8, save_steps=3)
    straight = tmp_path / "straight"
    train_codec(_config(tones, straight, max_steps=6, **gan))
    interrupted = tmp_path / "interrupted"
    train_codec(_config(tones, interrupted, max_steps=3, **gan))
    assert latest_checkpoint(interrupted) is not None
    train_codec(_config(tones, interrupted, max_steps=6, **gan), resume=True)

    def losses(folder):
        return {
            r["step"]: (r["generator_loss"], r["discriminator_loss"]) for r in _records(folder) if "generator_loss" in r
        }

    expected, resumed = losses(straight), losses(interrupted)
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    assert resumed == expected  # bit for bit: same data, same RNG draws, same updates
    a = XCodecModel.from_pretrained(straight / "final").state_dict()
    b = XCodecModel.from_pretrained(interrupted / "final").state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_decoder_only_fine_tuning_keeps_every_code(tones, tmp_path):
    """Only fc2 and the acoustic decoder move, so the codes of any audio are unchanged."""
    base = train_codec(_config(tones, tmp_path / "base", max_steps=2))
    config = _config(
        tones,
        tmp_path / "decoder",
        max_steps=3,
        init_from=str(base),
        train_decoder_only=True,
        use_discriminator=True,
        discriminator_hop_lengths=(32, 64),
        discriminator_channels=8,
    )
    tuned = train_codec(config)
    before = XCodecModel.from_pretrained(base).eval()
    after = XCodecModel.from_pretrained(tuned).eval()
    audio = torch.randn(2, 1, 8000) * 0.1
    assert torch.equal(before.encode(audio).audio_codes, after.encode(audio).audio_codes)
    old, new = before.state_dict(), after.state_dict()
    moved = {key.split(".")[0] for key in old if not torch.equal(old[key], new[key])}
    assert moved == {"fc2", "acoustic_decoder"}
    records = [r for r in _records(tmp_path / "decoder") if "generator_loss" in r]
    assert len(records) == 3 and all("commitment" not in r and "adversarial" in r for r in records)


def test_period_discriminator_joins_the_frequency_one_after_its_warm_up(tones, tmp_path):
    """With `discriminator_periods` the discriminator is both kinds; during `discriminator_warmup_steps` only it
    learns from the GAN terms (no adversarial term in the generator's loss), afterwards both do."""
    config = _config(
        tones,
        tmp_path,
        max_steps=4,
        use_discriminator=True,
        discriminator_hop_lengths=(32, 64),
        discriminator_channels=8,
        discriminator_periods=(2, 3),
        period_discriminator_channels=8,
        discriminator_warmup_steps=2,
    )
    trainer = CodecTrainer(config)
    assert isinstance(trainer.discriminator, DiscriminatorEnsemble)
    assert trainer.optimizer_d.param_groups[0]["lr"] == config.learning_rate  # no discriminator rate given
    assert [type(m) for m in trainer.discriminator.members] == [MultiFrequencyDiscriminator, MultiPeriodDiscriminator]
    trainer.start()
    trainer.train()
    records = {r["step"]: r for r in _records(tmp_path) if "generator_loss" in r}
    assert sorted(records) == [1, 2, 3, 4]
    for step in (1, 2):
        assert "adversarial" not in records[step] and "discriminator_loss" in records[step]
    for step in (3, 4):
        assert "adversarial" in records[step] and "discriminator_loss" in records[step]


def test_the_discriminator_can_learn_at_its_own_rate(tones, tmp_path):
    config = _config(
        tones,
        tmp_path,
        use_discriminator=True,
        discriminator_hop_lengths=(32,),
        discriminator_channels=8,
        learning_rate=1e-4,
        discriminator_learning_rate=5e-4,
    )
    trainer = CodecTrainer(config)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-4
    assert trainer.optimizer_d.param_groups[0]["lr"] == 5e-4
    with pytest.raises(ValueError, match="discriminator_learning_rate.*> 0"):
        CodecTrainingConfig.from_file(RECIPES / "codec_v8.yaml", {"discriminator_learning_rate": 0.0})
    with pytest.raises(ValueError, match="discriminator_learning_rate.*> 0"):  # built in code, not from a file
        _config(tones, tmp_path, use_discriminator=True, discriminator_learning_rate=0.0)


def test_a_single_discriminator_kind_is_not_wrapped(tones, tmp_path):
    """Runs saved before the period discriminator existed hold a bare multi-frequency one; it stays bare."""
    frequency_only = build_discriminator(
        _config(tones, tmp_path, use_discriminator=True, discriminator_hop_lengths=(32,), discriminator_channels=8),
        16000,
    )
    period_only = build_discriminator(
        _config(
            tones,
            tmp_path,
            use_discriminator=True,
            discriminator_hop_lengths=(),
            discriminator_periods=(2,),
            period_discriminator_channels=8,
        ),
        16000,
    )
    assert type(frequency_only) is MultiFrequencyDiscriminator
    assert type(period_only) is MultiPeriodDiscriminator


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(discriminator_hop_lengths=(), discriminator_periods=()), "neither"),
        (dict(discriminator_periods=(0, 2)), "positive sample counts"),
        (dict(discriminator_warmup_steps=-1), "0 or positive"),
        (dict(period_discriminator_channels=0), "must be from 1 to"),
    ],
)
def test_bad_discriminator_settings_are_refused(tones, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(tones, tmp_path, use_discriminator=True, **overrides)


def test_frame_losses_train_an_istft_decoder_and_need_one(tones, tmp_path):
    """phase_weight / frame_magnitude_weight supervise the ISTFT decoder's frames; a DAC decoder is refused."""
    istft = {
        **SMALL_CODEBOOK,
        "acoustic_decoder_type": "istft",
        "istft_decoder_config": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2},
    }
    base = train_codec(_config(tones, tmp_path / "base", model=istft, max_steps=1))
    options = dict(
        max_steps=8,
        init_from=str(base),
        train_decoder_only=True,
        phase_weight=5.0,
        frame_magnitude_weight=10.0,
        learning_rate=3e-3,
    )
    train_codec(_config(tones, tmp_path / "frames", **options))
    records = [r for r in _records(tmp_path / "frames") if "generator_loss" in r]
    assert len(records) == 8 and all({"phase", "frame_magnitude"} <= set(r) for r in records)
    assert records[-1]["frame_magnitude"] < records[0]["frame_magnitude"]
    dac = train_codec(_config(tones, tmp_path / "dac", max_steps=1))
    with pytest.raises(ValueError, match="acoustic_decoder_type='istft'"):
        CodecTrainer(_config(tones, tmp_path / "refused", max_steps=1, init_from=str(dac), phase_weight=1.0))
    with pytest.raises(ValueError, match="phase_weight"):
        _config(tones, tmp_path / "negative", phase_weight=-1.0)


def test_chroma_loss_trains_the_decoder_and_needs_long_segments(tones, tmp_path):
    """chroma_weight adds the pitch-class term to the generator loss; segments shorter than its window are refused."""
    base = train_codec(_config(tones, tmp_path / "base", max_steps=1))
    options = dict(max_steps=6, init_from=str(base), train_decoder_only=True, chroma_weight=30.0, segment_seconds=0.5)
    train_codec(_config(tones, tmp_path / "chroma", **options))
    records = [r for r in _records(tmp_path / "chroma") if "generator_loss" in r]
    assert len(records) == 6 and all("chroma" in r for r in records)
    assert records[-1]["chroma"] < records[0]["chroma"]
    with pytest.raises(ValueError, match="at least 4096"):
        CodecTrainer(_config(tones, tmp_path / "short", **{**options, "segment_seconds": 0.2}))
    with pytest.raises(ValueError, match="chroma_weight"):
        _config(tones, tmp_path / "negative", chroma_weight=-1.0)


def test_average_spectrum_loss_is_a_logged_generator_term_and_needs_a_window(tones, tmp_path):
    """average_spectrum_weight adds its term on the decoder alone (every code kept); too short segments are refused."""
    base = train_codec(_config(tones, tmp_path / "base", max_steps=1))
    options = dict(max_steps=3, init_from=str(base), train_decoder_only=True, average_spectrum_weight=2.0)
    final = train_codec(_config(tones, tmp_path / "comb", **options))
    records = [r for r in _records(tmp_path / "comb") if "generator_loss" in r]
    assert len(records) == 3 and all(r["average_spectrum"] > 0 for r in records)
    audio = torch.randn(1, 1, 4800, generator=torch.Generator().manual_seed(0)) * 0.1
    before, after = XCodecModel.from_pretrained(base).eval(), XCodecModel.from_pretrained(final).eval()
    with torch.no_grad():
        assert torch.equal(before.encode(audio).audio_codes, after.encode(audio).audio_codes)
        assert not torch.equal(
            before.decode(before.encode(audio).audio_codes).audio_values,
            after.decode(after.encode(audio).audio_codes).audio_values,
        )
    with pytest.raises(ValueError, match="at least 3200"):
        CodecTrainer(_config(tones, tmp_path / "short", **{**options, "segment_seconds": 0.15}))
    with pytest.raises(ValueError, match="average_spectrum_weight"):
        _config(tones, tmp_path / "negative", average_spectrum_weight=-1.0)


def test_teacher_overrides_reweigh_chroma_of_an_existing_codec(tones, tmp_path):
    """A run continued with a louder chroma keeps every learned weight and saves the new setting."""
    chroma = {**SMALL_CODEBOOK, "semantic_model_config": {"num_chroma": 12, "chroma_scale": 0.25}}
    base = train_codec(_config(tones, tmp_path / "base", model=chroma, max_steps=1))
    config = _config(
        tones, tmp_path / "louder", max_steps=1, init_from=str(base), teacher_overrides={"chroma_scale": 1.0}
    )
    trainer = CodecTrainer(config)
    before = XCodecModel.from_pretrained(base)
    before.apply_weight_norm()  # the trainer's layout
    assert trainer.model.config.semantic_model_config.chroma_scale == 1.0
    old_state, new_state = before.state_dict(), trainer.model.state_dict()
    assert old_state.keys() == new_state.keys()
    assert all(torch.equal(new_state[key], old_state[key]) for key in old_state)
    audio = torch.randn(1, 16000) * 0.1
    old_features = before.semantic_model(audio).last_hidden_state[..., -12:]
    new_features = trainer.model.semantic_model(audio).last_hidden_state[..., -12:]
    torch.testing.assert_close(new_features, old_features * 4)
    saved = XCodecModel.from_pretrained(trainer.train())
    assert saved.config.semantic_model_config.chroma_scale == 1.0


def test_teacher_overrides_that_change_the_feature_size_are_refused(tones, tmp_path):
    base = train_codec(_config(tones, tmp_path / "base", max_steps=1))
    with pytest.raises(ValueError, match="feature size"):
        CodecTrainer(
            _config(tones, tmp_path / "run", max_steps=1, init_from=str(base), teacher_overrides={"num_chroma": 12})
        )
    with pytest.raises(ValueError, match=r"Unknown teacher setting\(s\) \['chroma_scal'\]"):
        CodecTrainer(
            _config(tones, tmp_path / "run", max_steps=1, init_from=str(base), teacher_overrides={"chroma_scal": 1})
        )
    with pytest.raises(ValueError, match="set `init_from`"):
        _config(tones, tmp_path / "run", max_steps=1, teacher_overrides={"chroma_scale": 1.0})


def test_decoder_only_needs_a_codec_to_start_from(tones, tmp_path):
    with pytest.raises(ValueError, match="set `init_from`"):
        _config(tones, tmp_path, max_steps=1, train_decoder_only=True)


def test_resume_without_checkpoint_is_refused(tones, tmp_path):
    trainer = CodecTrainer(_config(tones, tmp_path, max_steps=1))
    with pytest.raises(ValueError, match="no checkpoint"):
        trainer.resume()


def test_unknown_config_key_is_refused(tmp_path):
    path = tmp_path / "codec.yaml"
    path.write_text("train_data: somewhere\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['learning_rat'\]"):
        CodecTrainingConfig.from_file(path)


def test_missing_training_data_is_refused(tmp_path):
    with pytest.raises(ValueError, match="neither a folder"):
        CodecTrainer(_config(tmp_path / "nowhere.txt", tmp_path / "run", max_steps=1))


def test_too_short_segments_are_refused(tones, tmp_path):
    with pytest.raises(ValueError, match="Raise segment_seconds"):
        CodecTrainer(_config(tones, tmp_path, max_steps=1, segment_seconds=0.05))


def test_sigterm_becomes_a_flag():
    with TerminationFlag() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.requested


_TRAIN_IN_CHILD = """
import json, sys
from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.codec_trainer import train_codec
train_codec(CodecTrainingConfig(**json.loads(sys.argv[1])))
"""


def test_sigterm_to_the_process_group_saves_a_checkpoint_with_data_workers(tones, tmp_path):
    """SLURM's scancel and ``timeout`` signal every process of the job, data workers included.  The
    workers must not die of it (PyTorch's default): the run saves its checkpoint and exits 143."""
    import subprocess
    import sys
    import time

    output = tmp_path / "run"
    options = _options(tones, output, batch_size=2, max_steps=100000, num_workers=2)
    child = subprocess.Popen(
        [sys.executable, "-c", _TRAIN_IN_CHILD, json.dumps(options)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not (
            (output / LOG_FILE).is_file()
            and any("generator_loss" in line for line in (output / LOG_FILE).read_text().splitlines())
        ):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never logged a training step"
            time.sleep(0.2)
        os.killpg(child.pid, signal.SIGTERM)
        returncode = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert returncode == 143, child.stderr.read().decode()[-2000:]
    records = _records(output)
    assert records[-1]["event"] == "terminated; checkpoint saved"
    checkpoint = latest_checkpoint(output)
    assert checkpoint is not None and read_manifest(checkpoint)["counter"]["step"] == records[-1]["step"]


@pytest.mark.parametrize("override", [None, False])
def test_quantizer_dropout_override_decides_how_many_codebooks_each_step_trains(tones, tmp_path, override):
    """Off, every step trains all eight codebooks; left to the codec (on), some steps train fewer."""
    model_options = {**SMALL_CODEBOOK, "quantizer_dropout": True}
    config = _config(tones, tmp_path, model=model_options, max_steps=8, quantizer_dropout=override)
    final = train_codec(config)
    used = [record["num_quantizers"] for record in _records(tmp_path) if "num_quantizers" in record]
    assert len(used) == 8
    if override is False:
        assert used == [8] * 8
        assert XCodecModel.from_pretrained(final).config.quantizer_dropout is False
    else:
        assert min(used) < 8


def test_init_from_a_songgen_folder_continues_its_codec(tones, tmp_path):
    """A released SongGen folder's own codec is the starting point, weight for weight."""
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "songgen", use_voice_encoder=False)
    trainer = CodecTrainer(_config(tones, tmp_path / "run", max_steps=1, init_from=str(folder), model={}))
    codec = SongGenForConditionalGeneration.from_pretrained(folder).audio_encoder
    codec.apply_weight_norm()  # the trainer's layout
    expected, got = codec.state_dict(), trainer.model.state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(got[key], expected[key]) for key in expected)


def test_init_from_a_half_precision_codec_trains_float32_master_weights(tones, tmp_path):
    """A codec stored in float16 (as releases store it) is continued in float32: AdamW's
    updates at a 2e-4 learning rate are below float16's resolution for most weights."""
    base = tmp_path / "half"
    small = {key: value for key, value in SMALL_CODEBOOK.items() if key not in ("preset", "teacher")}
    XCodecModel(tiny_xcodec_config(teacher="mel", **small)).half().save_pretrained(base)
    assert XCodecModel.from_pretrained(base).dtype == torch.float16  # the folder really is half precision
    trainer = CodecTrainer(_config(tones, tmp_path / "run", max_steps=1, init_from=str(base), model={}))
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    stored = XCodecModel.from_pretrained(base).float()
    stored.apply_weight_norm()
    assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in stored.state_dict().items())


def test_init_from_a_folder_that_is_neither_codec_nor_songgen_is_refused(tones, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="pass an X-Codec folder or a SongGen folder"):
        CodecTrainer(_config(tones, tmp_path / "run", max_steps=1, init_from=str(folder)))


def test_a_songgen_folder_missing_its_codec_weights_is_refused(tmp_path):
    """Its codec would load random: garbage codes without an error."""
    from safetensors.torch import load_file, save_file

    from songgen_hf.conversion.checkpoint_files import load_codec_of
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "songgen", use_voice_encoder=False)
    for path in folder.glob("*.safetensors"):
        tensors = {k: v for k, v in load_file(path).items() if not k.startswith("audio_encoder.acoustic_encoder.")}
        save_file(tensors, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lack .* of its codec's tensors"):
        load_codec_of(folder, "--codec")


def test_a_codec_run_shows_its_progress_as_the_trainer_logs(tones, tmp_path, capsys):
    """Off a terminal (as under pytest), one line per logged step: step, loss, steps per second, time left."""
    output = tmp_path / "run"
    train_codec(_config(tones, output, max_steps=4, log_steps=2, eval_steps=4, save_steps=100))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("codec train: step")]
    assert [line.split(" | ")[0] for line in lines] == ["codec train: step 2/4", "codec train: step 4/4"]
    losses = [record for record in _records(output) if record.get("step") == 4 and "generator_loss" in record]
    assert losses and f"loss {losses[-1]['generator_loss']:.4f}" in lines[-1]
    assert "steps/s" in lines[-1] and "left" in lines[0]
    assert latest_checkpoint(output) is None  # save_steps beyond max_steps: no checkpoint
