"""The pipeline and `songgen generate` with reduced precision (--quantize) and multi-stream models:
options reach the loaded model, bad values are refused before any weights load, and a stream
model's steps, progress bar and streamed audio are right."""

import numpy as np
import pytest
import soundfile as sf
import torch

import songgen_hf  # noqa: F401  (registers the task)
from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main
from songgen_hf.modeling.songgen import quantization
from songgen_hf.modeling.songgen.quantization import Int8Linear
from songgen_hf.pipelines import GenerationProgress, expected_decoder_steps, load_text_to_song_pipeline
from songgen_hf.pipelines.streaming import SongGenStreamer
from songgen_hf.testing import generate_argv, save_tiny_checkpoint

from .test_streaming import TOLERANCE, _generate_with_streamer

SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory):
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("mixed") / "tiny", track_pattern="mixed", use_voice_encoder=False
    )


@pytest.fixture(scope="module")
def stream_dir(tmp_path_factory):
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("stream2") / "tiny", track_pattern="mixed_stream2", use_voice_encoder=False
    )


@pytest.fixture
def no_weight_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the arguments were checked")

    monkeypatch.setattr(SongGenForConditionalGeneration, "from_pretrained", refuse)


def _cli(model_dir, output, *extra):
    return main(generate_argv(model_dir, output, *extra))


# ---------------------------------------------------------------------------- --quantize
# bf16 loading is refused on a CPU without bfloat16 kernels (tested below with the support faked away)
CPU_BF16 = pytest.mark.skipif(
    not quantization._bf16_supported("cpu"), reason="this CPU has no bfloat16 kernels (AVX-512 BF16 / AMX)"
)


@pytest.mark.parametrize("precision", ["int8", pytest.param("bf16", marks=CPU_BF16)])
def test_pipeline_loads_the_asked_precision_and_generates(mixed_dir, precision):
    pipe = load_text_to_song_pipeline(str(mixed_dir), quantize=precision)
    head = pipe.model.decoder.lm_heads[0]
    if precision == "bf16":
        assert head.weight.dtype == torch.bfloat16
    else:  # on a CPU: the packed int8 kernel's layer (torchao is the int8 of GPUs)
        assert isinstance(head, Int8Linear) and head.weight_int8.dtype == torch.int8
    assert all(p.dtype == torch.float32 for p in pipe.model.audio_encoder.parameters())
    song = pipe(SONG, duration_s=0.2, min_duration_s=0.2, seed=0)
    assert song["audio"].shape == (1, 3200) and np.isfinite(song["audio"]).all()


def test_pipeline_refuses_bad_quantize_values_before_loading(mixed_dir, no_weight_loading):
    with pytest.raises(
        ValueError, match=r"quantize must be one of \['int8', 'int8-heads', 'bf16-heads', 'bf16', 'fp32'\]"
    ):
        load_text_to_song_pipeline(str(mixed_dir), quantize="int4")


def test_pipeline_refuses_quantize_for_an_already_loaded_model(mixed_dir, monkeypatch):
    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: True)  # the refusal does not depend on the CPU
    model = SongGenForConditionalGeneration.from_pretrained(mixed_dir)
    with pytest.raises(ValueError, match="quantize applies when the pipeline loads the model"):
        load_text_to_song_pipeline(model, quantize="bf16")


@pytest.mark.parametrize("precision", ["int8", pytest.param("bf16", marks=CPU_BF16)])
def test_cli_quantize_writes_a_song(mixed_dir, tmp_path, precision):
    output = tmp_path / "song.wav"
    assert _cli(mixed_dir, output, "--quantize", precision, "--duration", "0.2", "--min-duration", "0.2") == 0
    audio, rate = sf.read(output)
    assert rate == 16000 and audio.shape == (3200,)


def test_cli_refuses_unknown_and_unsupported_precisions(mixed_dir, tmp_path, monkeypatch, capsys, no_weight_loading):
    with pytest.raises(SystemExit) as exit_info:  # argparse: not one of the choices
        _cli(mixed_dir, tmp_path / "a.wav", "--quantize", "int4")
    assert exit_info.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err
    monkeypatch.setattr(quantization, "_bf16_supported", lambda kind: False)
    assert _cli(mixed_dir, tmp_path / "b.wav", "--quantize", "bf16") == 2
    assert "songgen: error: --quantize=bf16: this CPU has no bfloat16 support" in capsys.readouterr().err
    assert not (tmp_path / "b.wav").exists()


# ---------------------------------------------------------------------------- multi-stream models
def test_stream_model_progress_counts_about_t_over_s_steps(stream_dir):
    pipe = load_text_to_song_pipeline(str(stream_dir))
    bar = GenerationProgress(disable=True)
    song = pipe(SONG, duration_s=0.4, min_duration_s=0.4, streamer=bar, seed=0)
    assert song["audio"].shape == (1, 6400)
    k = pipe.model.config.decoder.num_codebooks
    assert bar.steps == expected_decoder_steps(pipe.model, 0.4) == 20 // 2 + k - 1


def test_stream_model_takes_a_duration_between_two_steps_and_writes_exactly_it(stream_dir, tmp_path):
    # 0.3 s = 15 frames, between two 2-frame steps: generated to 16 frames and cut back, in the CLI and the pipeline
    assert _cli(stream_dir, tmp_path / "a.wav", "--duration", "0.3", "--min-duration", "0.3") == 0
    audio, rate = sf.read(tmp_path / "a.wav")
    assert audio.shape[0] == round(0.3 * rate) == 15 * 320
    pipe = load_text_to_song_pipeline(str(stream_dir), duration_s=0.3, min_duration_s=0.3)
    assert pipe(SONG, seed=0)["audio"].reshape(-1).shape[0] == 15 * 320


def test_stream_model_streams_the_song_generate_returns(stream_dir):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    model = SongGenForConditionalGeneration.from_pretrained(stream_dir).eval()
    processor = SongGenProcessor.from_pretrained(stream_dir)
    streamer = SongGenStreamer(model, chunk_frames=6, timeout=60)
    chunks, output = _generate_with_streamer(
        model, processor, streamer, do_sample=False, duration_s=1.0, min_duration_s=1.0
    )
    length = int(output.audio_lengths[0])
    assert length == 50 * 320 and len(chunks) > 1
    streamed = np.concatenate(chunks)
    assert streamed.shape == (length,)
    assert np.abs(streamed - output.audio[0, 0, :length].numpy()).max() <= TOLERANCE
