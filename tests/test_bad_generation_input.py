"""Bad input to the generation surfaces: ``pipeline("text-to-song")``, ``model.generate``,
``stream_song`` and the device of each (``songgen generate``'s options: test_cli_bad_input.py).  Every
argument at 0, negative, NaN, inf, huge, the wrong type and empty gets the behaviour the user meant or a
``ValueError`` / exit code 2 naming the argument and the fix -- before any weights load where the check
does not need them.  One parametrised test per family.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the task and the auto classes)
from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main
from songgen_hf.modeling.limits import MAX_BATCH_SIZE, MAX_SONGS_PER_CALL, check_device
from songgen_hf.pipelines import load_text_to_song_pipeline, stream_song
from songgen_hf.testing import dummy_inputs, generate_argv, save_tiny_checkpoint, tiny_songgen_config

NAN, INF = float("nan"), float("inf")
DURATION = r"must be a number > 0 and <= 600"  # the longest song; the tiny test models' window is 4.96 s


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("bad_generation") / "tiny", track_pattern="mixed_pro")


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("text-to-song", model=str(model_dir))


# ---------------------------------------------------------------------- pipeline("text-to-song")
PIPELINE_CASES = {
    "duration 0": ({"duration_s": 0}, "duration_s must be a number > 0 .*leave it out for the model's default"),
    "duration NaN": ({"duration_s": NAN}, f"duration_s {DURATION}, got nan"),
    "duration inf": ({"duration_s": INF}, f"duration_s {DURATION}, got inf"),
    "duration negative": ({"duration_s": -2}, f"duration_s {DURATION}"),
    "duration above the longest": ({"duration_s": 601}, r"the longest song is 600 s"),
    "duration a string": ({"duration_s": "10"}, f"duration_s {DURATION}, got '10'"),
    "duration a bool": ({"duration_s": True}, f"duration_s {DURATION}, got True"),
    "min above duration": ({"duration_s": 1, "min_duration_s": 2}, r"min_duration_s \(2 s\) is longer than duration_s"),
    "max_new_tokens cutting the duration": (
        {"duration_s": 1, "max_new_tokens": 3},
        "max_new_tokens=3 would stop the song before duration_s=1 s",
    ),
    "max_new_tokens 0": ({"max_new_tokens": 0}, "max_new_tokens must be a whole number >= 1"),
    "max_new_tokens float": ({"max_new_tokens": 2.5}, "max_new_tokens must be a whole number >= 1"),
    "guidance NaN": ({"guidance_scale": NAN}, "guidance_scale must be a number >= 1 and <= 100, got nan"),
    "guidance huge": ({"guidance_scale": 1e300}, "guidance_scale must be a number >= 1 and <= 100"),
    "guidance a string": ({"guidance_scale": "3"}, "guidance_scale must be a number"),
    "temperature 0": ({"temperature": 0}, "temperature must be a number >= 0.001 .*pass do_sample=False"),
    "temperature NaN in generate_kwargs": ({"generate_kwargs": {"temperature": NAN}}, "temperature must be a number"),
    "duration given twice, differently": (
        {"duration_s": 2, "generate_kwargs": {"duration_s": 3}},
        "duration_s given twice, as an argument and in generate_kwargs, with different values; give each once",
    ),
    "top_k bool": ({"top_k": True}, "top_k must be a whole number >= 0, got True"),
    "top_k negative": ({"top_k": -5}, "top_k must be a whole number >= 0"),
    "top_p inf": ({"top_p": INF}, "top_p must be a number > 0 and <= 1"),
    "do_sample a string": ({"do_sample": "yes"}, "do_sample must be True or False, got 'yes'"),
    "guidance_top_k 0": ({"guidance_top_k": 0}, "guidance_top_k must be a whole number >= 1"),
    "guidance_conditions empty": ({"guidance_conditions": []}, "guidance_conditions must be a non-empty list"),
    "guidance_conditions unknown": ({"guidance_conditions": ["melody"]}, r"Unknown guidance_conditions \['melody'\]"),
    "seed 2**70": ({"seed": 2**70}, r"seed must be a whole number from 0 to 2\*\*64 - 1"),
    "seed negative": ({"seed": -1}, r"seed must be a whole number from 0 to 2\*\*64 - 1"),
    "seed bool": ({"seed": True}, "seed must be a whole number"),
    "seed float": ({"seed": 1.5}, "seed must be a whole number"),
    "seed string": ({"seed": "3"}, "seed must be a whole number"),
    "batch_size 0": ({"batch_size": 0}, f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}"),
    "batch_size huge": ({"batch_size": 10**6}, f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}"),
    "batch_size float": ({"batch_size": 2.5}, "batch_size must be a whole number"),
    "num_workers negative": ({"num_workers": -3}, "num_workers must be a whole number >= 0"),
    "truncation a string": ({"truncation": "yes"}, "truncation must be True or False, got 'yes'"),
    "streamer not a streamer": (
        {"streamer": 5},
        r"streamer must be a transformers streamer \(with put\(\) and end\(\)\)",
    ),
    "max_lyrics_length negative": ({"max_lyrics_length": -1}, "max_lyrics_length must be an int >= 2"),
}


@pytest.mark.parametrize("case", list(PIPELINE_CASES))
def test_pipeline_call_options_fail_before_anything_runs(case, pipe, monkeypatch):
    kwargs, message = PIPELINE_CASES[case]

    def refuse(*args, **kwargs):
        raise AssertionError("the processor or the model ran before the options were checked")

    monkeypatch.setattr(pipe.model, "generate", refuse)
    monkeypatch.setattr(pipe, "preprocess", refuse)
    with pytest.raises(ValueError, match=message):
        pipe("a pop song", **kwargs)


@pytest.mark.parametrize(
    "case",
    [
        "duration 0",
        "min above duration",
        "guidance NaN",
        "seed 2**70",
        "batch_size huge",
        "max_new_tokens cutting the duration",
    ],
)
def test_pipeline_construction_options_fail_before_the_weights_load(case, model_dir, no_weights):
    kwargs, message = PIPELINE_CASES[case]
    with pytest.raises(ValueError, match=message):
        load_text_to_song_pipeline(str(model_dir), **kwargs)


SONG_LIST_CASES = {
    "too many songs": (["pop"] * (MAX_SONGS_PER_CALL + 1), f"limit is {MAX_SONGS_PER_CALL}; split the list"),
    "a bad last item": (["pop", "rock", {"description": "jazz", "lyrics": 7}], "'lyrics' must be a string"),
    "a huge description": ({"description": "x" * 100_000}, "100,000 characters long; the limit is 2,000"),
    "huge lyrics": ({"description": "pop", "lyrics": "la\n" * 5000}, "The lyrics are 15,000 characters long"),
    "voice_start NaN": (
        {"description": "pop", "reference_voice": (np.zeros(16000, np.float32), 16000), "voice_start": NAN},
        "'voice_start' must be a number of seconds >= 0",
    ),
}


@pytest.mark.parametrize("case", list(SONG_LIST_CASES))
def test_pipeline_inputs_are_all_checked_before_the_first_song(case, pipe, monkeypatch):
    inputs, message = SONG_LIST_CASES[case]
    monkeypatch.setattr(pipe.model, "generate", lambda **kwargs: pytest.fail("generated before checking every song"))
    with pytest.raises(ValueError, match=message):
        pipe(inputs, duration_s=0.1)


# ---------------------------------------------------------------------- model.generate
GENERATE_CASES = {
    "duration 0": ({"duration_s": 0}, "leave it out for the model's default length"),
    "duration NaN": ({"duration_s": NAN}, f"duration_s {DURATION}, got nan"),
    "duration inf": ({"duration_s": INF}, f"duration_s {DURATION}"),
    "min above duration": ({"duration_s": 0.2, "min_duration_s": 0.5}, "min_duration_s .* is longer than duration_s"),
    "min NaN": ({"min_duration_s": NAN}, "min_duration_s must be a number >= 0"),
    "max_new_tokens with a duration it cuts": ({"duration_s": 1.0, "max_new_tokens": 4}, "would stop the song before"),
    "max_length with a duration it cuts": ({"duration_s": 1.0, "max_length": 4}, "max_length=4 would stop the song"),
    "min beyond max_new_tokens": ({"max_new_tokens": 10, "min_duration_s": 1.0}, "length budget holds"),
    "max_new_tokens inside the codebook delay": ({"max_new_tokens": 4}, r"first whole frame, which takes 8 steps"),
    "guidance NaN": ({"guidance_scale": NAN}, "guidance_scale must be a number >= 1"),
    "temperature tiny": ({"temperature": 1e-40}, "temperature must be a number >= 0.001"),
    "top_p NaN": ({"top_p": NAN}, "top_p must be a number > 0 and <= 1"),
    "do_sample None-like string": ({"do_sample": "false"}, "do_sample must be True or False"),
    "streamer not a streamer": ({"streamer": object()}, "streamer must be a transformers streamer"),
    "audio_prompt not a tensor": (
        {"audio_prompt": 5, "duration_s": 0.5},
        r"audio_prompt must be a float tensor \(batch, 1, samples\)",
    ),
    "audio_prompt_codes floats": (
        {"audio_prompt_codes": torch.zeros(1, 8, 5), "duration_s": 0.5},
        "audio_prompt_codes must be an integer tensor",
    ),
}


@pytest.mark.parametrize("case", list(GENERATE_CASES))
def test_model_generate_refuses_bad_arguments(case):
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config("mixed_pro")).eval()
    inputs = dummy_inputs(model.config, batch_size=1, with_labels=False)
    inputs.pop("decoder_input_ids")
    kwargs, message = GENERATE_CASES[case]
    with pytest.raises(ValueError, match=message):
        model.generate(**inputs, **kwargs)


def test_model_generate_lengths_do_what_was_asked():
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config("mixed_pro")).eval()
    inputs = dummy_inputs(model.config, batch_size=1, with_labels=False)
    inputs.pop("decoder_input_ids")
    rate = model.config.frame_rate

    def frames(**kwargs):
        out = model.generate(**inputs, do_sample=False, decode_audio=False, return_dict_in_generate=True, **kwargs)
        return int(out.frame_lengths[0]), out

    # a minimum above the model's default length grows the budget instead of being clipped to it
    model.generation_config.duration_s = 0.1
    got, _ = frames(min_duration_s=0.3)
    assert got >= round(0.3 * rate)
    model.generation_config.duration_s = None
    # a step cap the duration stays under is honoured alongside it: the duration decides
    got, _ = frames(duration_s=0.2, min_duration_s=0.2, max_new_tokens=500)
    assert got == round(0.2 * rate)
    # no duration on a model shorter than the 30 s default: its longest song, not an error
    _, out = frames(max_length=None)
    assert out.sequences.shape[-1] <= model.config.decoder.max_position_embeddings
    assert math.isclose(out.sequences.shape[-1], model.config.decoder.max_position_embeddings, rel_tol=0.05)


# ---------------------------------------------------------------------- stream_song
STREAM_CASES = {
    "description a number": ({"description": 5}, "description must be a string, got int"),
    "description None": ({"description": None}, "description must be a string, got NoneType"),
    "two descriptions": ({"description": ["a", "b"]}, "one song at a time; got 2 description strings"),
    "lyrics a number": ({"lyrics": 3}, "lyrics must be a string"),
    "huge description": ({"description": "x" * 100_000}, "100,000 characters long"),
    "timeout negative": ({"timeout": -1}, r"timeout must be a number of seconds > 0 or None"),
    "timeout NaN": ({"timeout": NAN}, r"timeout must be a number of seconds > 0 or None"),
    "timeout 0": ({"timeout": 0}, r"timeout must be a number of seconds > 0 or None"),
    "return_stems a string": ({"return_stems": "yes"}, "return_stems must be True or False"),
    "crossfade a string": ({"crossfade_ms": "10"}, "crossfade_ms must be a finite number >= 0"),
    "crossfade inf": ({"crossfade_ms": INF}, "crossfade_ms must be a finite number >= 0"),
    "chunk_frames 0": ({"chunk_frames": 0}, "chunk_frames must be an int >= 1"),
    "context_frames negative": ({"context_frames": -1}, "context_frames must be an int >= 0"),
    "duration 0": ({"duration_s": 0}, "leave it out for the model's default length"),
    "duration above the longest": ({"duration_s": 601}, r"longest song is 600 s"),
    "guidance NaN": ({"guidance_scale": NAN}, "guidance_scale must be a number >= 1"),
    "temperature 0": ({"temperature": 0}, "temperature must be a number >= 0.001"),
}


@pytest.mark.parametrize("case", list(STREAM_CASES))
def test_stream_song_checks_when_called_not_when_iterated(case, pipe, monkeypatch):
    kwargs, message = STREAM_CASES[case]
    monkeypatch.setattr(pipe.model, "generate", lambda **kwargs: pytest.fail("generation started"))
    arguments = {"description": "a pop song", "lyrics": "la la", **kwargs}
    with pytest.raises(ValueError, match=message):
        stream_song(pipe.model, pipe.processor, arguments.pop("description"), arguments.pop("lyrics"), **arguments)


# ---------------------------------------------------------------------- devices
def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)


def _one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def _no_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


DEVICE_CASES = {
    "gpu": ("gpu", None, r"'gpu' is not a device name; use 'cpu', 'cuda', 'cuda:N'"),
    "empty": ("", None, "'' is not a device name"),
    "cuda on a CPU build": (
        "cuda",
        _no_cuda,
        "'cuda' cannot be used: this PyTorch build has no CUDA support; use device 'cpu'",
    ),
    "cuda:7 on a one-GPU machine": (
        "cuda:7",
        _one_gpu,
        r"'cuda:7' does not exist: this machine has 1 cuda device\(s\) \(cuda:0 to cuda:0\)",
    ),
    "mps unavailable": ("mps", _no_mps, "'mps' cannot be used: no mps device is available here"),
    "meta": ("meta", None, "holds no weights"),
    "index below -1": (-2, None, "-2 is not a device; use -1"),
    "GPU index on a CPU build": (0, _no_cuda, "'cuda:0' cannot be used"),
    "a float": (1.5, None, "must be a string such as 'cpu'"),
    "a bool": (True, None, "must be a string such as 'cpu'"),
}


@pytest.mark.parametrize("case", list(DEVICE_CASES))
def test_devices_that_cannot_run_are_refused_before_loading(case, monkeypatch, model_dir, tmp_path, capsys, no_weights):
    device, setup, message = DEVICE_CASES[case]
    if setup is not None:
        setup(monkeypatch)
    with pytest.raises(ValueError, match=message):
        check_device(device)
    with pytest.raises(ValueError, match=message):
        load_text_to_song_pipeline(str(model_dir), device=device)
    if isinstance(device, str):
        argv = generate_argv(model_dir, tmp_path / "song.wav", "--device", device, description="pop", lyrics="")
        assert main(argv) == 2
        assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("device", [None, "cpu", "cpu:0", -1, torch.device("cpu")])
def test_cpu_devices_pass(device):
    check_device(device)
