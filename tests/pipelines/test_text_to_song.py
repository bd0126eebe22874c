"""pipeline("text-to-song") on tiny checkpoints: inputs, outputs, options, defaults and errors."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import songgen_hf  # noqa: F401  (registers the model, processor and auto classes)
from songgen_hf.pipelines import (
    GenerationProgress,
    TextToSongPipeline,
    expected_decoder_steps,
    loading,
    register_text_to_song_pipeline,
    text_to_song_pipeline,
)
from songgen_hf.testing import save_tiny_checkpoint

register_text_to_song_pipeline()

SECONDS = 0.2
SAMPLES = int(SECONDS * 16000)
SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}


@pytest.fixture(scope="module")
def pipe(mixed_pro_dir):
    return pipeline("text-to-song", model=str(mixed_pro_dir))


@pytest.fixture(scope="module")
def dual_pipe(dual_dir):
    return pipeline("text-to-song", model=str(dual_dir))


def _check_song(song, stems=False, samples=None):
    expected = {"audio", "sampling_rate"} | ({"vocals", "accompaniment"} if stems else set())
    assert set(song) - {"understood"} == expected  # "understood": tests/pipelines/test_understood.py
    assert song["sampling_rate"] == 16000
    for key in expected - {"sampling_rate"}:
        audio = song[key]
        assert isinstance(audio, np.ndarray) and audio.dtype == np.float32
        assert audio.ndim == 2 and audio.shape[0] == 1 and 0 < audio.shape[1] <= SAMPLES
        assert audio.shape == song["audio"].shape
        if samples is not None:
            assert audio.shape[1] == samples
        assert np.isfinite(audio).all()


def test_registration_is_idempotent(pipe):
    register_text_to_song_pipeline()
    entry = PIPELINE_REGISTRY.supported_tasks["text-to-song"]
    assert entry["impl"] is text_to_song_pipeline and entry["type"] == "text"
    assert isinstance(pipe, TextToSongPipeline) and not pipe.has_stems


def test_string_input_is_trimmed_to_the_songs_own_length(pipe):
    song = pipe("a calm ambient track", duration_s=SECONDS, seed=3)
    _check_song(song)
    # the same draw through the model directly: the pipeline cuts the audio at audio_lengths
    torch.manual_seed(3)
    inputs = pipe.processor("a calm ambient track", "")
    direct = pipe.model.generate(**inputs, duration_s=SECONDS, return_dict_in_generate=True)
    length = int(direct.audio_lengths[0])
    assert song["audio"].shape == (1, length)
    np.testing.assert_allclose(song["audio"], direct.audio[0, :, :length].numpy(), atol=1e-6)


def test_dict_input_on_a_dual_track_model_returns_stems(dual_pipe):
    assert dual_pipe.has_stems
    song = dual_pipe(SONG, duration_s=SECONDS, min_duration_s=SECONDS, seed=0)
    _check_song(song, stems=True, samples=SAMPLES)
    mix = song["vocals"] + song["accompaniment"]
    peak = np.abs(mix).max()
    expected = mix * (0.99 / peak) if peak > 0.99 else mix
    np.testing.assert_allclose(song["audio"], expected, atol=1e-5)


def test_list_input_returns_a_list_batched_or_not(pipe, tmp_path):
    voice_file = tmp_path / "voice.wav"
    sf.write(voice_file, 0.1 * np.sin(np.arange(36000) / 10.0).astype(np.float32), 24000)
    songs = [
        "a slow folk tune",
        {**SONG, "reference_voice": str(voice_file), "voice_start": 0.25},
        {"description": "jazz", "reference_voice": (np.full(16000, 0.1, dtype=np.float32), 16000)},
    ]
    for batch_size in (1, 3):
        out = pipe(songs, duration_s=SECONDS, min_duration_s=SECONDS, batch_size=batch_size, seed=1)
        assert isinstance(out, list) and len(out) == 3
        for song in out:
            _check_song(song, samples=SAMPLES)
    assert len(pipe(("a", "b"), duration_s=SECONDS)) == 2  # a tuple counts as a list


def test_seed_makes_a_call_reproducible(pipe):
    first = pipe(SONG, duration_s=SECONDS, seed=7)["audio"]
    again = pipe(SONG, duration_s=SECONDS, seed=7)["audio"]
    other = pipe(SONG, duration_s=SECONDS, seed=8)["audio"]
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)
    seeded = pipeline("text-to-song", model=pipe.model, processor=pipe.processor, seed=7)
    np.testing.assert_array_equal(seeded(SONG, duration_s=SECONDS)["audio"], first)


def test_generation_kwargs_reach_generate(pipe, monkeypatch):
    seen = {}
    original = pipe.model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(pipe.model, "generate", spy)
    sent = dict(
        duration_s=SECONDS,
        min_duration_s=0.1,
        guidance_scale=2.0,
        temperature=0.7,
        top_k=20,
        top_p=0.9,
        do_sample=True,
        max_new_tokens=100,  # a cap the duration stays under
        control_guidance_scale=0.0,
        silence_instrumental_vocals=False,
    )
    pipe(SONG, **sent, generate_kwargs={"guidance_conditions": ["lyrics"]})
    assert {name: seen[name] for name in sent} == sent
    assert seen["do_sample"] is True and seen["silence_instrumental_vocals"] is False  # flags stay bools
    assert seen["guidance_conditions"] == ["lyrics"] and seen["return_dict_in_generate"] is True
    assert {"input_ids", "attention_mask", "lyrics_input_ids", "lyrics_attention_mask"} <= set(seen)


def test_duration_controls_length_and_progress_counts_steps(pipe):
    for seconds in (0.2, 0.4):
        bar = GenerationProgress(disable=True)
        song = pipe(SONG, duration_s=seconds, min_duration_s=seconds, streamer=bar)
        assert song["audio"].shape == (1, int(seconds * 16000))
        assert bar.steps == expected_decoder_steps(pipe.model, seconds) > 0
    # construction-time options apply to every call
    short = pipeline("text-to-song", model=pipe.model, processor=pipe.processor, duration_s=0.1, min_duration_s=0.1)
    assert short("drums")["audio"].shape == (1, 1600)


def test_text_to_audio_alias_on_the_same_folder(mixed_pro_dir):
    tta = pipeline("text-to-audio", model=str(mixed_pro_dir))
    out = tta("a pop song", forward_params={"duration_s": SECONDS})
    assert out["sampling_rate"] == 16000
    assert out["audio"].ndim == 1 and 0 < out["audio"].shape[0] <= SAMPLES


def test_model_object_finds_its_processor_and_saving_needs_no_remote_code(pipe, mixed_pro_dir, tmp_path):
    from_object = pipeline("text-to-song", model=pipe.model)
    assert from_object.processor is not None
    from_object.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert "custom_pipelines" not in config
    reloaded = pipeline("text-to-song", model=str(tmp_path / "saved"))
    _check_song(reloaded("rock", duration_s=SECONDS))


def test_default_model_is_the_embedded_folder(monkeypatch, tmp_path, mixed_pro_dir):
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "not-shipped")
    with pytest.raises(ValueError, match="embedded default model is not in this install"):
        pipeline("text-to-song")
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", mixed_pro_dir)
    pipe = pipeline("text-to-song")  # offline: the conftest sets HF_HUB_OFFLINE
    assert pipe.model.name_or_path == str(mixed_pro_dir)
    _check_song(pipe("pop", duration_s=SECONDS))


def test_the_embedded_default_loads_without_transformers_default_warning_and_shows_its_stages(
    monkeypatch, mixed_pro_dir, capsys
):
    import logging

    from songgen_hf.pipelines import text_to_song

    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", mixed_pro_dir)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.pipelines")
    logger.addHandler(handler)
    try:
        pipe = pipeline("text-to-song")
        assert not [record for record in records if "No model was supplied" in record.getMessage()]
        # the notice itself is what keeps it out: without it transformers' warning reaches the log
        monkeypatch.setattr(text_to_song._EmbeddedDefaultNotice, "filter", lambda self, record: True)
        pipeline("text-to-song")
        assert [record for record in records if "No model was supplied" in record.getMessage()]
    finally:
        logger.removeHandler(handler)
    capsys.readouterr()
    # the pipeline follows its own call, as the CLI does: one line per stage when asked for lines
    pipe.set_progress_bar_config(lines=True)
    _check_song(pipe("pop", duration_s=SECONDS))
    assert [line for line in capsys.readouterr().err.splitlines() if line in ("generating", "decoding audio")] == [
        "generating",
        "decoding audio",
    ]
    pipe.set_progress_bar_config(disable=True)
    _check_song(pipe("pop", duration_s=SECONDS))
    assert "generating" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "inputs, message",
    [
        (42, "must be a description string"),
        ({"lyrics": "la la"}, "needs a non-empty 'description'"),
        ({"description": "   "}, "needs a non-empty 'description'"),
        ({"description": "pop", "tempo": 120}, r"Unknown key\(s\) \['tempo'\]"),
        ({"description": "pop", "lyrics": ["a", "b"]}, "'lyrics' must be a string"),
        ({"description": "pop", "reference_voice": 3}, "'reference_voice' must be an audio file path"),
        ({"description": "pop", "reference_voice": "/no/such/voice.wav"}, "does not exist"),
        ({"description": "pop", "voice_start": 1.0}, "without a 'reference_voice'"),
        ({"description": "pop", "tempo_bpm": 120}, "no tempo control"),  # this model has no musical controls
        ([], "empty list"),
        (["pop", 7], "must be a description string"),
    ],
)
def test_bad_inputs_name_the_problem(pipe, inputs, message):
    with pytest.raises(ValueError, match=message):
        pipe(inputs, duration_s=SECONDS)


def test_musical_controls_come_from_the_description_or_the_song_dict(tmp_path, monkeypatch):
    folder = save_tiny_checkpoint(
        tmp_path, "mixed", use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    controlled = pipeline("text-to-song", model=str(folder))
    seen = []
    original = controlled.model.generate

    def spy(**kwargs):
        seen.append((kwargs["tempo_bpm"].tolist(), kwargs["music_key_ids"].tolist()))
        return original(**kwargs)

    monkeypatch.setattr(controlled.model, "generate", spy)
    controlled("a ballad in D minor at 80 BPM", duration_s=SECONDS)
    controlled({"description": "a ballad in D minor at 80 BPM", "tempo_bpm": 100, "key": "E major"}, duration_s=SECONDS)
    assert seen == [([80.0], [2 + 12]), ([100.0], [4])]


def test_bad_options_name_the_problem(pipe):
    with pytest.raises(ValueError, match=r"Unknown text-to-song argument\(s\) \['durations'\]"):
        pipe("pop", durations=1.0)
    with pytest.raises(ValueError, match=r"seed must be a whole number from 0 to 2\*\*64 - 1"):
        pipe("pop", seed=-1)
    with pytest.raises(ValueError, match="generate_kwargs must be a dict"):
        pipe("pop", generate_kwargs=[1])
    with pytest.raises(ValueError, match="'voice_start' must be a number"):
        pipe({"description": "pop", "reference_voice": (np.zeros(100, dtype=np.float32), 16000), "voice_start": -1})


def test_non_songgen_models_are_refused():
    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    with pytest.raises(ValueError, match="needs a SongGen model"):
        TextToSongPipeline(model=XCodecModel(tiny_xcodec_config(teacher="mel")))
