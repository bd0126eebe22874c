"""Each check in the object that uses the value, and no object that carries "checked": ``generate()`` validates its
call's settings (``SongGenGenerationConfig.validate``) every time, the processor the lengths it plans a song for,
ResGen's sampler its own settings, and ``prepare_pipeline`` runs the same validation on a folder's files before any
weights load.  A prepared song is the processor's output: a pipeline made from the same processor takes it as it is,
and its seed, and nothing else rides along."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import numpy as np
import pytest
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the text-to-song task)
from songgen_hf.modeling.resgen import arguments as resgen_arguments
from songgen_hf.modeling.songgen import arguments_songgen
from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationConfig
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import prepare_pipeline, prepare_song, stream_song
from songgen_hf.testing import save_tiny_resgen_checkpoint

SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}
ARGUMENTS = {"duration_s": 0.3, "temperature": 0.9}


@pytest.fixture
def counted(monkeypatch):
    """SongGen's checks of generation settings (``validate``: all of them) and of a song's lengths (the processor's
    plan), by the caller that ran them; the lengths checked inside the full check are not counted twice."""
    calls = []
    for check in ("check_generation_arguments", "check_song_lengths"):
        original = getattr(arguments_songgen, check)

        def counting(*args, _original=original, **kwargs):
            caller = inspect.stack()[1].function
            if caller != "check_generation_arguments":
                calls.append(caller)
            return _original(*args, **kwargs)

        monkeypatch.setattr(arguments_songgen, check, counting)
        for module in ("generation_songgen", "processing_songgen"):  # where it is imported by name
            target = importlib.import_module(f"songgen_hf.modeling.songgen.{module}")
            if hasattr(target, check):
                monkeypatch.setattr(target, check, counting)
    return calls


@pytest.fixture(scope="module")
def prepared(mixed_pro_dir):
    return prepare_pipeline(str(mixed_pro_dir), generation=ARGUMENTS, seed=3)


@pytest.fixture(scope="module")
def pipe(prepared, mixed_pro_dir):
    return pipeline(**{**prepared, "processor": SongGenProcessor.from_pretrained(mixed_pro_dir)})


def test_no_carriers_and_no_proofs(prepared):
    assert importlib.util.find_spec("songgen_hf.modeling.requests") is None
    assert not hasattr(arguments_songgen, "GenerationRequest") and not hasattr(resgen_arguments, "ResGenRequest")
    # transformers' pipeline() arguments, as a caller would write them: nothing that vouches for a check
    assert isinstance(prepared, dict) and set(prepared) == {"task", "model", "pipeline_class", "processor", "seed"}
    assert prepared["seed"] == 3
    song = prepare_song(prepared["processor"], SONG, duration_s=0.3)
    assert not hasattr(song, "generation") and not hasattr(song, "prepared_as")
    pipelines = importlib.import_module("songgen_hf.pipelines")
    assert not {"PipelineOptions", "PreparedPipeline"} & set(dir(pipelines))
    assert not hasattr(importlib.import_module("songgen_hf.pipelines.loading"), "TextToSongSource")


def test_prepare_pipeline_checks_before_any_weights_load(mixed_pro_dir, no_weights):
    with pytest.raises(ValueError, match="--device"):
        prepare_pipeline(str(mixed_pro_dir), device="tpu:7", names={"device": "--device"})
    with pytest.raises(ValueError, match="seed"):
        prepare_pipeline(str(mixed_pro_dir), seed=-1)
    with pytest.raises(ValueError, match="--duration"):
        prepare_pipeline(str(mixed_pro_dir), generation={"duration_s": -1.0}, names={"duration_s": "--duration"})
    with pytest.raises(ValueError, match="^--model .*does not exist"):
        prepare_pipeline(str(mixed_pro_dir / "missing"), names={"model": "--model"})


def test_generate_validates_its_settings_once_per_call(pipe, counted):
    song = prepare_song(pipe.processor, SONG, duration_s=0.3)
    assert counted == ["plan_song"]  # the processor checks the length it plans for
    first = pipe(song, **ARGUMENTS)
    assert counted == ["plan_song", "validate"]  # generate() validates what it uses, once
    again = pipe(SONG, **ARGUMENTS)  # a plain dict: planned by the processor, validated by generate()
    assert counted[2:] == ["plan_song", "validate"]
    np.testing.assert_array_equal(first["audio"], again["audio"])  # the pipeline's seed (3) made both
    with pytest.raises(ValueError, match="temperature must be a number >= 0.001"):
        pipe(song, duration_s=0.3, temperature=-1.0)


def test_the_config_validates_for_a_model(pipe):
    saved = SongGenGenerationConfig(duration_s=0.3)
    saved.validate(model_config=pipe.model.config, arguments={"temperature": 0.9})
    with pytest.raises(ValueError, match="^generation_config.duration_s must be"):
        SongGenGenerationConfig(duration_s=-1.0).validate(model_config=pipe.model.config)
    with pytest.raises(ValueError, match="^--temperature must be"):
        saved.validate(
            model_config=pipe.model.config, arguments={"temperature": 0}, names={"temperature": "--temperature"}
        )
    SongGenGenerationConfig(duration_s=-1.0).validate()  # without a model: transformers' own validation only


def test_a_song_carries_its_seed(pipe):
    seeded = prepare_song(pipe.processor, SONG, duration_s=0.3, seed=11)
    assert seeded.seed == 11
    np.testing.assert_array_equal(pipe(seeded, **ARGUMENTS)["audio"], pipe(SONG, seed=11, **ARGUMENTS)["audio"])
    assert pipe(seeded, seed=11, **ARGUMENTS)["audio"].shape[-1] > 0  # the same seed in both places: fine
    with pytest.raises(ValueError, match="differs from the seed these songs were prepared with"):
        pipe(seeded, seed=12, **ARGUMENTS)
    other = prepare_song(pipe.processor, SONG, duration_s=0.3, seed=12)
    with pytest.raises(ValueError, match="prepared with different seeds"):
        pipe([seeded, other], **ARGUMENTS)
    with pytest.raises(ValueError, match="seed"):
        prepare_song(pipe.processor, SONG, seed=2**70)


def test_the_pipeline_checks_its_own_options(pipe):
    """Seed, device and batch size are checked by the pipeline that uses them (its constructor), whoever built it;
    ``prepare_pipeline`` runs the same checks before any weights load."""
    from songgen_hf.pipelines import TextToSongPipeline

    with pytest.raises(ValueError, match="seed"):
        TextToSongPipeline(model=pipe.model, processor=pipe.processor, seed=-1)
    with pytest.raises(ValueError, match="device"):
        TextToSongPipeline(model=pipe.model, processor=pipe.processor, device="tpu:7")
    with pytest.raises(ValueError, match="batch_size"):
        TextToSongPipeline(model=pipe.model, processor=pipe.processor, batch_size=0)
    with pytest.raises(ValueError, match="Unknown text-to-song argument.*options"):  # nothing of a check rides along
        TextToSongPipeline(model=pipe.model, processor=pipe.processor, options=object())


def test_stream_song_takes_a_prepared_song(pipe, counted):
    song = prepare_song(pipe.processor, SONG, duration_s=0.3, seed=5)
    streamed = np.concatenate([chunk for _, chunk in stream_song(pipe.model, pipe.processor, song, **ARGUMENTS)])
    raw = stream_song(pipe.model, pipe.processor, SONG["description"], SONG["lyrics"], seed=5, **ARGUMENTS)
    np.testing.assert_array_equal(streamed, np.concatenate([chunk for _, chunk in raw]))
    with pytest.raises(ValueError, match="carries its lyrics"):
        stream_song(pipe.model, pipe.processor, song, "other lyrics", **ARGUMENTS)
    with pytest.raises(ValueError, match="temperature"):  # at the call, not at the first chunk
        stream_song(pipe.model, pipe.processor, song, duration_s=0.3, temperature=-1.0)


def test_resgen_checks_its_sampling_where_it_samples(tmp_path_factory, monkeypatch):
    folder = save_tiny_resgen_checkpoint(tmp_path_factory.mktemp("resgen_request"))
    arguments = {"duration_s": 0.3, "num_inference_steps": 2}
    prepared = prepare_pipeline(str(folder), generation=arguments, seed=0)
    processor = SongGenProcessor.from_pretrained(folder / "processor")
    song = prepare_song(processor, SONG)
    task = pipeline(**{**prepared, "processor": processor})
    checks = []
    from songgen_hf.modeling.resgen import sampling_resgen

    original = sampling_resgen.check_sampling_arguments

    def counting(*args, **kwargs):
        checks.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(sampling_resgen, "check_sampling_arguments", counting)
    made = task(song, **arguments)
    assert len(checks) == 1 and made["audio"].shape[-1] > 0  # the sampler's, once
    again = task(SONG, **arguments)
    np.testing.assert_array_equal(made["audio"], again["audio"])
    with pytest.raises(ValueError, match="num_inference_steps"):
        task(SONG, duration_s=0.3, num_inference_steps=0)
    with pytest.raises(ValueError, match="--steps"):  # before any weights, on the folder's config
        prepare_pipeline(str(folder), generation={"num_inference_steps": 0}, names={"num_inference_steps": "--steps"})


def test_a_prepared_pipeline_prepares_its_songs_before_the_weights(mixed_pro_dir, counted, monkeypatch):
    """``prepare_pipeline`` reads the model's processor once (no weights); the pipeline ``pipeline(**arguments)``
    builds holds that processor, so the song is made as prepared, with no second processor run."""
    arguments = prepare_pipeline(str(mixed_pro_dir), generation=ARGUMENTS, seed=3)
    assert counted == ["validate"]  # on the folder's files
    song = prepare_song(arguments["processor"], SONG, duration_s=0.3)
    assert song.processor is arguments["processor"]
    with pytest.raises(ValueError, match="lyrics"):  # a lyric mistake is refused before any load
        prepare_song(arguments["processor"], {**SONG, "lyrics": "[chorus"})
    loaded = pipeline(**arguments)
    assert loaded.processor is song.processor
    calls = []
    monkeypatch.setattr(SongGenProcessor, "prepare", lambda *args, **kwargs: calls.append(args))
    result = loaded(song, **ARGUMENTS)
    assert counted == ["validate", "plan_song", "validate"] and calls == []  # generate() validates; no re-processing
    assert result["audio"].shape[-1] == round(0.3 * result["sampling_rate"])
