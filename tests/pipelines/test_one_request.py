"""One request, checked once: prepare_pipeline checks what needs no weights, a prepared song carries its checked
generation request and seed, and every front door (the pipeline of either family, stream_song) makes it with what it
carries, checking nothing again; anything it does not vouch for is checked anew."""

from __future__ import annotations

import numpy as np
import pytest

import songgen_hf  # noqa: F401  (registers the text-to-song task)
from songgen_hf.modeling.requests import CheckedRequest
from songgen_hf.modeling.resgen import ResGenRequest
from songgen_hf.modeling.songgen import arguments_songgen
from songgen_hf.modeling.songgen.arguments_songgen import GenerationRequest
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import PipelineOptions, prepare_pipeline, prepare_song, stream_song
from songgen_hf.testing import save_tiny_resgen_checkpoint

SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}
ARGUMENTS = {"duration_s": 0.3, "temperature": 0.9}


@pytest.fixture
def counted(monkeypatch):
    """How often SongGen's generation arguments are checked."""
    calls = []
    original = arguments_songgen.check_generation_arguments

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(arguments_songgen, "check_generation_arguments", counting)
    return calls


@pytest.fixture(scope="module")
def prepared(mixed_pro_dir):
    return prepare_pipeline(str(mixed_pro_dir), generation=ARGUMENTS, seed=3)


@pytest.fixture(scope="module")
def pipe(prepared, mixed_pro_dir):
    return prepared.load(processor=SongGenProcessor.from_pretrained(mixed_pro_dir))


def test_both_families_requests_are_checked_requests(prepared):
    assert isinstance(prepared.request, GenerationRequest) and isinstance(prepared.request, CheckedRequest)
    assert issubclass(ResGenRequest, CheckedRequest)
    assert prepared.options == PipelineOptions(seed=3)


def test_prepare_pipeline_checks_before_any_weights_load(mixed_pro_dir, no_weights):
    with pytest.raises(ValueError, match="--device"):
        prepare_pipeline(str(mixed_pro_dir), device="tpu:7", names={"device": "--device"})
    with pytest.raises(ValueError, match="seed"):
        prepare_pipeline(str(mixed_pro_dir), seed=-1)
    with pytest.raises(ValueError, match="--duration"):
        prepare_pipeline(str(mixed_pro_dir), generation={"duration_s": -1.0}, names={"duration_s": "--duration"})
    with pytest.raises(ValueError, match="^--model .*does not exist"):
        prepare_pipeline(str(mixed_pro_dir / "missing"), names={"model": "--model"})


def test_a_prepared_song_is_made_without_a_second_check(pipe, prepared, counted):
    song = prepare_song(pipe.processor, SONG, duration_s=0.3, request=prepared.request)
    assert song.generation is prepared.request
    first = pipe(song, **ARGUMENTS)
    assert counted == []  # the request checked from the folder's files vouches for the loaded model
    again = pipe(SONG, **ARGUMENTS)  # a plain dict: checked once, here
    assert len(counted) == 1
    np.testing.assert_array_equal(first["audio"], again["audio"])  # the pipeline's seed (3) made both


def test_other_arguments_are_checked_anew(pipe, prepared, counted):
    song = prepare_song(pipe.processor, SONG, duration_s=0.3, request=prepared.request)
    pipe(song, duration_s=0.3, temperature=0.8)  # not what the request was checked for
    assert len(counted) == 1
    with pytest.raises(ValueError, match="temperature"):
        pipe(song, duration_s=0.3, temperature=-1.0)


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


def test_options_are_given_in_one_place(mixed_pro_dir, pipe):
    from songgen_hf.pipelines import TextToSongPipeline

    with pytest.raises(ValueError, match="Give seed in options only"):
        TextToSongPipeline(model=pipe.model, processor=pipe.processor, options=PipelineOptions(seed=1), seed=2)


def test_stream_song_takes_a_prepared_song(pipe, prepared, counted):
    song = prepare_song(pipe.processor, SONG, duration_s=0.3, request=prepared.request, seed=5)
    streamed = np.concatenate([chunk for _, chunk in stream_song(pipe.model, pipe.processor, song, **ARGUMENTS)])
    assert counted == []
    raw = stream_song(pipe.model, pipe.processor, SONG["description"], SONG["lyrics"], seed=5, **ARGUMENTS)
    np.testing.assert_array_equal(streamed, np.concatenate([chunk for _, chunk in raw]))
    assert len(counted) == 1
    with pytest.raises(ValueError, match="carries its lyrics"):
        stream_song(pipe.model, pipe.processor, song, "other lyrics", **ARGUMENTS)


def test_a_resgen_song_carries_its_request(tmp_path_factory, monkeypatch):
    folder = save_tiny_resgen_checkpoint(tmp_path_factory.mktemp("resgen_request"))
    arguments = {"duration_s": 0.3, "num_inference_steps": 2}
    prepared = prepare_pipeline(str(folder), generation=arguments, seed=0)
    assert isinstance(prepared.request, ResGenRequest)
    processor = SongGenProcessor.from_pretrained(folder / "processor")
    song = prepare_song(processor, SONG, request=prepared.request)
    task = prepared.load(processor=processor)
    checks = []
    original = ResGenRequest.check_arguments.__func__

    def counting(cls, *args, **kwargs):
        checks.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(ResGenRequest, "check_arguments", classmethod(counting))
    made = task(song, **arguments)
    assert checks == [] and made["audio"].shape[-1] > 0
    again = task(SONG, **arguments)
    assert len(checks) == 1
    np.testing.assert_array_equal(made["audio"], again["audio"])


def test_a_prepared_pipeline_prepares_its_songs_before_the_weights(mixed_pro_dir, counted, monkeypatch):
    """``prepared.prepare_song`` reads the model's processor once (no weights) and hands the song its checked request;
    the pipeline ``load()`` builds holds that processor, so the song is made as prepared, checked nothing again."""
    prepared = prepare_pipeline(str(mixed_pro_dir), generation=ARGUMENTS, seed=3)
    assert len(counted) == 1  # checked here, against the folder's files
    song = prepared.prepare_song(SONG, duration_s=0.3)
    assert song.generation is prepared.request and song.processor is prepared.processor()
    with pytest.raises(ValueError, match="lyrics"):  # a lyric mistake is refused before any load
        prepared.prepare_song({**SONG, "lyrics": "[chorus"})
    loaded = prepared.load()
    assert loaded.processor is song.processor
    calls = []
    monkeypatch.setattr(SongGenProcessor, "prepare", lambda *args, **kwargs: calls.append(args))
    result = loaded(song, **ARGUMENTS)
    assert len(counted) == 1 and calls == []  # no second check, no second processor run
    assert result["audio"].shape[-1] == round(0.3 * result["sampling_rate"])
