"""ResGenPipeline (diffusers) and the one front door: the same saved folder serves
ResGenPipeline.from_pretrained, pipeline("text-to-song") and `songgen generate`; a song's sampling arguments are
checked once, where it enters."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from diffusers.pipelines.pipeline_utils import AudioPipelineOutput
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the text-to-song task)
from songgen_hf.commands.cli import main
from songgen_hf.modeling.resgen import ResGenRequest
from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline
from songgen_hf.pipelines.resgen_text_to_song import ResGenTextToSongPipeline
from songgen_hf.testing import generate_argv, save_tiny_resgen_checkpoint, tiny_resgen_config

from ..modeling.resgen.check_counting import counted_checks

DURATION = 0.3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_resgen_checkpoint(tmp_path_factory.mktemp("resgen"))


@pytest.fixture(scope="module")
def pipe(folder):
    loaded = ResGenPipeline.from_pretrained(folder)
    loaded.set_progress_bar_config(disable=True)
    return loaded


@pytest.fixture(scope="module")
def task(folder):
    return pipeline("text-to-song", model=str(folder))


def _call(pipe, **kwargs):
    kwargs = {
        "description": "an upbeat pop song",
        "lyrics": "hold me close tonight",
        "num_inference_steps": 3,
        "duration_s": DURATION,
        "generator": torch.Generator().manual_seed(0),
        **kwargs,
    }
    return pipe(**kwargs)


def test_the_saved_folder_has_diffusers_layout(folder):
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "ResGenPipeline"
    assert set(index) >= {"transformer", "scheduler", "processor"}
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    assert (folder / "transformer" / "model.safetensors").is_file()


def test_diffusers_pipeline_gives_finite_audio_with_a_progress_bar(pipe, capsys):
    pipe.set_progress_bar_config(disable=False)
    try:
        output = _call(pipe, guidance_scale=2.0)
    finally:
        pipe.set_progress_bar_config(disable=True)
    assert isinstance(output, AudioPipelineOutput)
    assert output.audios.shape == (1, 1, int(DURATION * 16000)) and output.audios.dtype == np.float32
    assert np.isfinite(output.audios).all()
    assert "3/3" in capsys.readouterr().err  # diffusers' progress bar counted the passes


def test_pipeline_save_load_round_trip(pipe, tmp_path):
    pipe.scheduler.register_to_config(latent_noise_scale=0.5)
    try:
        pipe.save_pretrained(tmp_path)
        again = ResGenPipeline.from_pretrained(tmp_path)
        again.set_progress_bar_config(disable=True)
        assert again.scheduler.config.latent_noise_scale == 0.5
        np.testing.assert_array_equal(_call(pipe).audios, _call(again).audios)
    finally:
        pipe.scheduler.register_to_config(latent_noise_scale=1.0)


def test_batches_and_pytorch_output(pipe):
    output = pipe(
        ["a pop song", "a slow folk tune"],
        lyrics=["la la", "walking down the road"],
        num_inference_steps=2,
        duration_s=DURATION,
        generator=[torch.Generator().manual_seed(s) for s in (1, 2)],
        output_type="pt",
    )
    assert output.audios.shape == (2, 1, int(DURATION * 16000)) and torch.isfinite(output.audios).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"num_inference_steps": 10_000}, "tokens to generate"),
        ({"guidance_scale": 0.9}, "guidance_scale"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"duration_s": 60.0}, "positional limit"),
        ({"audio_prompt": torch.zeros(16000)}, "not shorter than duration_s"),
        ({"lyrics": ["a", "b"]}, "one lyrics per song"),
        ({"output_type": "pil"}, "output_type"),
        ({"description": ""}, "non-empty description"),
        ({"lyrics": 3}, "lyrics must be a string"),
        ({"condition_inputs": {"input_ids": torch.ones(1, 3, dtype=torch.long)}}, "cannot go with condition_inputs"),
        ({"callback_on_step_end": "print"}, "callback_on_step_end must be a function"),
    ],
)
def test_bad_input_is_refused_before_any_compute(pipe, kwargs, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("generation started before the arguments were checked")

    for name in ("encode_audio_prompt", "prepare_conditions", "forward"):
        monkeypatch.setattr(pipe.transformer, name, no_compute)
    monkeypatch.setattr(type(pipe.processor), "__call__", no_compute)
    with pytest.raises(ValueError, match=match):
        _call(pipe, **kwargs)


def test_text_to_song_task_serves_the_same_folder(folder, pipe):
    task = pipeline("text-to-song", model=str(folder))
    assert isinstance(task, ResGenTextToSongPipeline)
    song = task(
        {"description": "an upbeat pop song", "lyrics": "hold me close tonight"},
        duration_s=DURATION,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert song["sampling_rate"] == 16000 and song["audio"].shape == (1, int(DURATION * 16000))
    assert np.isfinite(song["audio"]).all() and "understood" in song
    # the same sampler and scheduler as the diffusers pipeline: the same song for the same generator
    np.testing.assert_array_equal(song["audio"], _call(pipe).audios[0])
    with pytest.raises(ValueError, match="top_k"):
        task("a pop song", top_k=5)


def test_text_to_song_streamer_counts_one_tick_per_pass(folder):
    from songgen_hf.pipelines import GenerationProgress

    bar = GenerationProgress(total=3, disable=True)
    task = pipeline("text-to-song", model=str(folder))
    task("an upbeat pop song", duration_s=DURATION, num_inference_steps=3, streamer=bar)
    assert bar.steps == 3 and bar._bar is None  # opened, ticked once per pass, then closed


def test_songgen_generate_serves_the_same_folder(folder, tmp_path):
    output = tmp_path / "song.wav"
    sampling = ("--duration", str(DURATION), "--steps", "3", "--seed", "0")
    assert main(generate_argv(folder, output, *sampling, lyrics="la la la")) == 0
    audio, rate = sf.read(output)
    assert rate == 16000 and audio.shape == (int(DURATION * 16000),) and np.isfinite(audio).all()


def test_a_song_through_the_text_to_song_pipeline_is_checked_once(folder):
    sampling = {"duration_s": DURATION, "num_inference_steps": 3}
    with counted_checks() as built:
        task = pipeline("text-to-song", model=str(folder))
    assert built["checks"] == 0  # no defaults given: nothing to check until a call brings its arguments
    calls = {
        "one song": lambda: task("a pop song", **sampling),
        "two songs, one batch each": lambda: task(["a pop song", "a slow folk tune"], **sampling),
        "an audio prompt": lambda: task("a pop song", audio_prompt=torch.zeros(1600), **sampling),
    }
    for name, call in calls.items():
        with counted_checks() as checks:
            call()
        assert checks["checks"] == 1, name
    # defaults given at construction are checked there, once, and each call once with its own arguments
    with counted_checks() as built:
        task = pipeline("text-to-song", model=str(folder), num_inference_steps=3)
    with counted_checks() as called:
        task("a pop song", duration_s=DURATION)
    assert (built["checks"], called["checks"]) == (1, 1)


def test_songgen_generate_checks_a_resgen_song_once(folder, tmp_path):
    sampling = ("--duration", str(DURATION), "--steps", "3", "--seed", "0")
    with counted_checks() as checks:
        assert main(generate_argv(folder, tmp_path / "song.wav", *sampling)) == 0
    assert checks["checks"] == 1


@pytest.mark.parametrize(
    "kwargs, request_for, match",
    [
        ({"num_inference_steps": 0}, None, "num_inference_steps must be a whole number >= 1"),
        ({"guidance_scale": 0.9}, None, "guidance_scale must be a number >= 1"),
        ({"duration_s": 60.0}, None, "positional limit"),
        ({"audio_prompt": torch.zeros(16000)}, None, "not shorter than duration_s"),
        ({"generate_kwargs": {"num_inference_steps": 4}}, None, "num_inference_steps given twice"),
        # a request handed in vouches only for the arguments and the config it was checked for
        ({"num_inference_steps": 0}, {}, "num_inference_steps must be a whole number >= 1"),
        ({"audio_prompt": torch.zeros(16000)}, {}, "not shorter than duration_s"),
        ({"duration_s": 6.0}, {"decoder": {"max_position_embeddings": 512}}, "positional limit is 5.12 s"),
    ],
)
def test_text_to_song_refuses_bad_sampling_arguments_before_any_compute(task, kwargs, request_for, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("generation started before the arguments were checked")

    monkeypatch.setattr(task.model, "generate", no_compute)
    kwargs = {"duration_s": DURATION, "num_inference_steps": 3, **kwargs}
    if request_for is not None:
        checked = {key: value for key, value in kwargs.items() if key == "duration_s"}
        kwargs["request"] = ResGenRequest.check(
            {"num_inference_steps": 3, **checked}, tiny_resgen_config(**request_for)
        )
    with pytest.raises(ValueError, match=match):
        task("a pop song", **kwargs)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--steps", "0"], "--steps"),
        (["--top-k", "5"], "--top-k"),
        (["--guidance-scale", "0.5"], "--guidance-scale"),
        (["--control-guidance-scale", "2"], "--control-guidance-scale"),
        (["--no-silence-instrumental-vocals"], "--[no-]silence-instrumental-vocals"),
    ],
)
def test_songgen_generate_refuses_bad_flags(folder, tmp_path, flags, match, capsys):
    code = main(generate_argv(folder, tmp_path / "song.wav", *flags, lyrics="la"))
    assert code == 2 and match in capsys.readouterr().err


def test_every_front_door_gives_a_resgen_model_its_musical_controls(tmp_path):
    """The processor of a pipeline folder sits in processor/, away from the model's config.json: it must still
    read the description's tempo and key into tempo_bpm / music_key_ids, or the controls the model was trained
    with are silently left at "unknown"."""
    from songgen_hf.evaluation.runner import load_model_and_processor
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    folder = save_tiny_resgen_checkpoint(
        tmp_path / "controls", decoder={"use_tempo_control": True, "use_key_control": True}
    )
    description = "a pop song in E minor at 140 bpm"
    processors = {
        "diffusers": ResGenPipeline.from_pretrained(folder).processor,
        "text-to-song": pipeline("text-to-song", model=str(folder)).processor,
        "processor subfolder": SongGenProcessor.from_pretrained(folder, subfolder="processor"),
        "processor folder": SongGenProcessor.from_pretrained(folder / "processor"),
        "evaluate": load_model_and_processor(folder, "cpu")[1],
    }
    for door, processor in processors.items():
        features = processor(description=[description], lyrics=["la la"], return_tensors="pt")
        assert features["tempo_bpm"].tolist() == [140.0], door
        assert "music_key_ids" in features, door
    # and a folder without controls gets none
    plain = SongGenProcessor.from_pretrained(save_tiny_resgen_checkpoint(tmp_path / "plain") / "processor")
    assert "tempo_bpm" not in plain(description=[description], lyrics=["la la"], return_tensors="pt")


def test_the_task_chooses_the_pipeline_of_the_models_family(pipe):
    """pipeline("text-to-song") with a loaded ResGen builds ResGen's variant (the task's factory chooses it); the
    SongGen class built directly names the class that serves the model."""
    from songgen_hf.pipelines import TextToSongPipeline

    model, processor = pipe.transformer, pipe.processor
    task = pipeline("text-to-song", model=model, processor=processor)
    assert type(task) is ResGenTextToSongPipeline and task.model is model
    with pytest.raises(ValueError, match="served by ResGenTextToSongPipeline"):
        TextToSongPipeline(model=model, processor=processor)
