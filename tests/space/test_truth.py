"""The Space tells the truth: which model, its size, training data and longest song; what the
description was understood as; a named message for every bad input; an API without hidden inputs."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
import soundfile as sf  # noqa: E402

from songgen_hf.modeling.limits import MAX_DESCRIPTION_CHARS  # noqa: E402
from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S  # noqa: E402
from songgen_hf.pipelines.loading import DEFAULT_MODEL_DIR  # noqa: E402
from songgen_hf.testing import save_tiny_checkpoint  # noqa: E402

from .test_app import DESCRIPTION, LYRICS, _import_app  # noqa: E402

GOOD = {
    "guidance_scale": 1.0,
    "temperature": 0.0,
    "top_k": 50,
    "seed": 0,
    "duration_s": 1.0,
    "repeat_whole_sections": True,
}


@pytest.fixture(scope="module")
def default_app():
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        pytest.skip("this install has no embedded default model")
    return _import_app("songgen_space_truth_default", "", "0")  # empty SONGGEN_MODEL: the embedded default


@pytest.fixture(scope="module")
def voice_model(tmp_path_factory):
    return str(save_tiny_checkpoint(tmp_path_factory.mktemp("voice") / "model", track_pattern="mixed_pro"))


def _call(app, description=DESCRIPTION, lyrics=LYRICS, **changes):
    values = {**GOOD, **changes}
    return app.generate_song(
        description,
        lyrics,
        values["guidance_scale"],
        values["temperature"],
        values["top_k"],
        values["seed"],
        values["duration_s"],
        values.get("repeat_whole_sections", True),
        values.get("reference_voice"),
    )


# ---------------------------------------------------------------------------- which model
def test_the_page_names_the_model_its_size_training_data_and_longest_song(default_app):
    from huggingface_hub import ModelCard

    from songgen_hf.modeling.songgen import SongGenConfig

    info = default_app.INFO
    card = ModelCard.load(DEFAULT_MODEL_DIR / "README.md")
    assert info.error is None and info.name == card.data.model_name
    assert f"Parameters: {info.parameters / 1e6:.1f} M" in card.text  # the count agrees with the card's
    # the size counts the codec shard it loads and the told singer's weights too, in MB of 10^6 bytes
    files = [DEFAULT_MODEL_DIR / name for name in ("songgen.safetensors", "codec.safetensors")]
    files += list((DEFAULT_MODEL_DIR / "singer").glob("*.safetensors"))
    assert info.size_mb == round(sum(os.path.getsize(path) for path in files) / 1e6, 1)
    assert info.training_data and info.training_data in card.text  # the card's own words
    assert info.limitations and "synthetic" in info.limitations
    config = SongGenConfig.from_pretrained(DEFAULT_MODEL_DIR)
    # past its window (the saved default: the 10 s it was trained on) the model goes on window after window: the
    # slider reaches the library's longest song, or on a CPU the Space's own limit, and says which
    window = config.decoder.default_window_frames / config.frame_rate
    assert window == 10.0
    longest = default_app.CPU_MAX_SECONDS if info.cpu_capped else MAX_SONG_S
    assert info.max_seconds == longest > window and info.window_seconds == round(window, 2)
    assert default_app.duration.maximum == info.max_seconds
    assert f"At most {longest:g} s" in default_app.duration.info and f"Past {info.window_seconds:g} s" in (
        default_app.duration.info
    )
    assert ("on this CPU Space" in default_app.duration.info) == info.cpu_capped
    summary = default_app.about.value
    for shown in (
        info.name,
        f"{info.parameters / 1e6:.1f} M parameters",
        f"{info.size_mb:.1f} MB",
        f"songs up to {info.max_seconds:g} s (in windows of {info.window_seconds:g} s)",
        "Training data:** described by its model card",
    ):
        assert shown in summary, (shown, summary)
    # no figure of the card re-typed or quoted out of context on the page's first screen; all of it in the details
    assert info.training_data[:40] not in summary and info.training_data in default_app._model_details()


@pytest.mark.parametrize("name", ["songgen-tiny"])
def test_each_embedded_model_by_name_gets_a_tenth_second_slider_up_to_its_longest_song(name):
    # the default decodes 2 frames a step and still takes any length (it generates to its next whole
    # step and generate() cuts the song back), so it gets 0.1 s stops
    from songgen_hf.modeling.songgen import SongGenConfig
    from songgen_hf.pipelines import loading
    from songgen_hf.pipelines.loading import weight_files

    app = _import_app(f"songgen_space_truth_{name.replace('-', '_')}", name, "0")
    info, folder = app.INFO, loading.embedded_folder(name)
    assert info.error is None and info.name.startswith(name)
    singer = [path for path in (folder / "singer").glob("*.safetensors")]
    assert info.size_mb == round(sum(os.path.getsize(path) for path in weight_files(folder) + singer) / 1e6, 1)
    assert info.size_mb > 40  # its own shard and the codec's (21 MB)
    config = SongGenConfig.from_pretrained(folder)
    assert config.decoder.token_pattern().frames_per_step == 2
    assert info.seconds_step == pytest.approx(0.1)
    window = config.decoder.token_pattern().num_frames(config.decoder.max_position_embeddings) / config.frame_rate
    assert info.max_seconds == (app.CPU_MAX_SECONDS if info.cpu_capped else MAX_SONG_S) > window
    assert (app.duration.minimum, app.duration.maximum, app.duration.step) == (info.min_seconds, info.max_seconds, 0.1)


def test_a_folder_without_a_card_says_so(voice_model):
    app = _import_app("songgen_space_truth_nocard", voice_model, "0")
    assert app.INFO.name == "model" and app.INFO.training_data is None
    assert "not stated" in app.about.value and "songs up to" in app.about.value


# ---------------------------------------------------------------------------- the API
def _parameters(app) -> dict:
    return {p["parameter_name"]: p for p in app.demo.get_api_info()["named_endpoints"]["/generate"]["parameters"]}


def test_api_has_no_hidden_required_input(default_app, voice_model):
    parameters = _parameters(default_app)  # the embedded default has no voice encoder
    assert "reference_voice" not in parameters and not default_app.reference_voice.visible
    assert list(parameters) == [
        "description",
        "lyrics",
        "guidance_scale",
        "temperature",
        "top_k",
        "seed",
        "duration_s",
        "repeat_whole_sections",
    ]
    # only the description is required: no lyrics is an instrumental request
    assert [name for name, p in parameters.items() if not p["parameter_has_default"]] == ["description"]
    voice_app = _import_app("songgen_space_truth_voice", voice_model, "0")
    voice = _parameters(voice_app)["reference_voice"]
    assert voice["parameter_has_default"] and voice["parameter_default"] is None and voice_app.reference_voice.visible
    for app in (default_app, voice_app):
        by_id = {block._id: block for block in app.demo.blocks.values()}
        (dependency,) = [d for d in app.demo.config["dependencies"] if d["api_name"] == "generate"]
        assert all(by_id[i].visible for i in dependency["inputs"]), "an input the page hides"


def test_a_reference_voice_is_used_when_the_model_has_a_voice_encoder(voice_model, tmp_path, default_app, monkeypatch):
    import songgen_hf.pipelines.streaming as streaming

    app = _import_app("songgen_space_truth_voice_use", voice_model, "0")
    rng = np.random.default_rng(0)
    voice = tmp_path / "voice.wav"
    sf.write(
        voice,
        (0.3 * np.sin(np.arange(32000) / 16000 * 2 * np.pi * 220) + 0.05 * rng.standard_normal(32000)).astype(
            np.float32
        ),
        16000,
    )
    seen, stream_song = [], streaming.stream_song

    def spy(model, processor, song, lyrics=None, **kwargs):  # the Space streams the song it prepared
        voice_values = song.features.get("voice_values")
        seen.append(None if voice_values is None else float(voice_values.abs().sum()))
        return stream_song(model, processor, song, lyrics, **kwargs)

    monkeypatch.setattr(streaming, "stream_song", spy)
    song = list(_call(app, reference_voice=str(voice)))[-1][1]
    list(_call(app))
    assert song[1].shape == (16000,) and seen[0] > 0 and seen[1] is None  # the voice reached the model's inputs
    with pytest.raises(gr.Error, match="no voice encoder"):  # never silently dropped
        next(_call(default_app, reference_voice=str(voice)))


# ---------------------------------------------------------------------------- bad inputs
MAX = "max"  # the model's longest song, filled in per app
BAD_INPUTS = [
    ({"description": ""}, "Describe the song"),
    ({"description": "   \n"}, "Describe the song"),
    ({"description": None}, "Describe the song"),
    ({"description": 42}, "description must be text"),
    ({"description": "x" * 100_000}, f"100,000 characters long; the limit is {MAX_DESCRIPTION_CHARS:,}"),
    ({"lyrics": "la " * 10_000}, "lyrics are 30,000 characters long"),
    ({"guidance_scale": 0.0}, "Guidance scale must be from 1 to 8"),
    ({"guidance_scale": -3.0}, "Guidance scale must be from 1 to 8"),
    ({"guidance_scale": math.nan}, "Guidance scale must be from 1 to 8.*got nan"),
    ({"guidance_scale": 1e9}, "Guidance scale must be from 1 to 8"),
    ({"temperature": -0.5}, "Temperature must be from 0 to 2"),
    ({"temperature": math.inf}, "Temperature must be from 0 to 2"),
    ({"temperature": math.nan}, "Temperature must be from 0 to 2"),
    ({"top_k": -1}, "Top-k must be a whole number from 0 to 500|Top-k must be from 0 to 500"),
    ({"top_k": 2.5}, "Top-k must be a whole number"),
    ({"top_k": math.nan}, "Top-k must be from 0 to 500"),
    ({"top_k": 10**12}, "Top-k must be from 0 to 500"),
    ({"seed": -2}, "Seed must be from -1 to 4294967295; -1 picks a random seed"),
    ({"seed": 2**70}, "Seed must be from -1 to 4294967295"),
    ({"seed": math.nan}, "Seed must be from -1 to 4294967295"),
    ({"seed": math.inf}, "Seed must be from -1"),
    ({"seed": 1.5}, "Seed must be a whole number"),
    ({"seed": "7"}, "Seed must be a number"),
    ({"duration_s": 0.0}, "Duration must be from 1 to {max}"),
    ({"duration_s": -5.0}, "Duration must be from 1 to {max}"),
    ({"duration_s": math.nan}, "Duration must be from 1 to {max}"),
    ({"duration_s": math.inf}, "Duration must be from 1 to {max}"),
    ({"duration_s": 1e6}, "Duration must be from 1 to {max}; .*longest song this Space makes"),
    ({"duration_s": MAX}, None),  # just over the model's longest song
    ({"reference_voice": "/no/such/voice.wav"}, "no voice encoder"),
]


@pytest.mark.parametrize(
    "change, message", BAD_INPUTS, ids=[f"{k}={str(v)[:12]}" for (c, _) in BAD_INPUTS for k, v in c.items()]
)
def test_bad_input_is_a_named_error_before_any_loading(default_app, change, message):
    import re

    longest = default_app.INFO.max_seconds
    if change.get("duration_s") == MAX:
        change, message = {"duration_s": longest + 0.05}, "Duration must be from 1 to {max}"
    message = message.replace("{max}", re.escape(f"{longest:g}"))
    default_app._loaded.clear()
    started = time.perf_counter()
    with pytest.raises(gr.Error, match=message):
        next(_call(default_app, **change))
    assert time.perf_counter() - started < 0.5 and not default_app._loaded  # checked before anything loads


@pytest.fixture(scope="module")
def server(default_app):
    _, url, _ = default_app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield url
    default_app.demo.close()


def call_api(url: str, values: list) -> tuple[str, dict | list | None]:
    """One call of ``/generate`` over Gradio's plain HTTP API: (last event, its data).

    Raw JSON rather than gradio_client, which refuses to send NaN; a browser or curl can.
    """
    import json

    import httpx

    body = json.dumps({"data": values})  # allow_nan: NaN and Infinity go out as JavaScript writes them
    posted = httpx.post(
        f"{url}gradio_api/call/generate", content=body, headers={"content-type": "application/json"}, timeout=30
    )
    posted.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/generate/{posted.json()['event_id']}", timeout=120).text
    events = [block.split("\n") for block in stream.strip().split("\n\n")]
    event, data = events[-1][0].removeprefix("event: "), events[-1][1].removeprefix("data: ")
    return event, json.loads(data)


# Through HTTP: Gradio decodes each value first (the sliders' and the seed box's own checks).
API_CASES = [
    ({"seed": math.nan}, "Seed must be from -1 to 4294967295"),
    ({"seed": 2**70}, "Seed must be from -1 to 4294967295"),
    ({"seed": 0.5}, "Seed must be a whole number"),
    ({"duration_s": 0}, "Duration must be from 1 to"),
    ({"duration_s": math.nan}, "Duration must be from 1 to"),
    ({"duration_s": math.inf}, "Duration must be from 1 to"),
    ({"top_k": 2.5}, "Top-k must be a whole number"),
    ({"guidance_scale": 100}, "Guidance scale must be from 1 to 8"),
    ({"temperature": -1}, "Temperature must be from 0 to 2"),
    ({"description": "x" * 100_000}, "the limit is 2,000"),
]


@pytest.mark.parametrize(
    "change, message", API_CASES, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(API_CASES)]
)
def test_bad_input_through_the_api_names_the_setting(server, change, message):
    import re

    values = {"description": DESCRIPTION, "lyrics": LYRICS, **GOOD, **change}
    event, data = call_api(server, list(values.values()))
    assert event == "error" and data and re.search(message, data["error"]), (event, data)


# ---------------------------------------------------------------------------- what was understood
class _Reader:
    def __init__(self, reading):
        self.reading = reading

    def interpret(self, description, lyrics="", tempo_bpm=None, key=None):
        return self.reading


@pytest.mark.parametrize(
    "reading, expected",
    [
        (
            {
                "tempo_bpm": 140.0,
                "tempo_source": "description",
                "key": "E minor",
                "key_source": "description",
                "musical_controls": True,
                "lyrics": "la la la.we sing tonight",
                "instrumental": False,
            },
            [
                "tempo 140 BPM (from the description)",
                "key E minor (from the description)",
                "sung lyrics",
                "> la la la.we sing tonight",
            ],
        ),
        (
            {
                "tempo_bpm": None,
                "tempo_source": None,
                "key": None,
                "key_source": None,
                "musical_controls": False,
                "lyrics": "",
                "instrumental": True,
            },
            ["tempo not stated", "key not stated", "instrumental (no lyrics)", "no tempo/key controls"],
        ),
        (
            {
                "tempo_bpm": 96.5,
                "tempo_source": "argument",
                "key": "C# major",
                "key_source": "description",
                "musical_controls": True,
                "lyrics": "mi corazon *x*",
                "instrumental": False,
            },
            ["tempo 96.5 BPM (from the argument)", "key C# major", "> mi corazon \\*x\\*"],
        ),
        (
            {
                "tempo_bpm": None,
                "key": None,
                "musical_controls": True,
                "lyrics": "the city lights.hold on",
                "sections": [
                    {"section": "verse", "label": "Verse 1", "lines": ["the city lights"]},
                    {"section": "chorus", "label": "chorus", "lines": ["hold on"]},
                    {"section": "other", "label": "guitar solo", "lines": []},
                ],
                "instrumental": False,
            },
            [
                "section tags are structure, never sung",
                "> **\\[Verse 1\\]**  \n> the city lights  \n> **\\[chorus\\]**  \n"
                "> hold on  \n> **\\[guitar solo\\]** (nothing sung)",
            ],
        ),
    ],
)
def test_understood_markdown_says_what_was_read(reading, expected, default_app):
    text = default_app.understood_markdown(_Reader(reading), "a song", "")
    for part in expected:
        assert part in text, (part, text)
    assert ("no tempo/key controls" in text) == (not reading["musical_controls"])
    assert ("reads them" in text) == bool(reading["lyrics"])


def test_the_first_update_shows_the_reading_before_the_weights_load(default_app):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    if not hasattr(SongGenProcessor, "interpret"):
        pytest.skip("SongGenProcessor.interpret is not in this tree yet")
    default_app._loaded.clear()
    first = next(
        _call(
            default_app,
            description="energetic rock in E minor at 140 bpm with a male voice",
            lyrics="Mi corazón\nat 3 o'clock",
        )
    )
    understood = first[5]
    for part in (
        "tempo 140 BPM (from the description)",
        "key E minor (from the description)",
        "sung lyrics",
        "> mi corazon",
    ):
        assert part in understood, (part, understood)
    assert "model" not in default_app._loaded  # said before the weights load


def test_section_tags_are_shown_as_structure_not_as_sung_words(default_app):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    processor = SongGenProcessor.from_pretrained(default_app.INFO.path)
    if "sections" not in processor.interpret("a song", lyrics="la"):
        pytest.skip("this tree's processor does not report the song's sections yet")
    text = default_app.understood_markdown(processor, DESCRIPTION, default_app.EXAMPLES[0][1])
    lyrics = text.split("reads them")[1]
    assert "**\\[verse\\]**  \n> the city lights are calling out my name" in lyrics
    assert "**\\[chorus\\]**  \n> hold on, hold on, the night is young" in lyrics
    assert "verse." not in lyrics and "chorus." not in lyrics and lyrics.count("verse") == 1


def test_a_song_longer_than_the_window_shows_its_plan_as_the_cli_prints_it(default_app):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.modeling.songgen.song_plan_songgen import format_plan

    processor = SongGenProcessor.from_pretrained(default_app.INFO.path)  # knows its model's window
    lyrics = "[intro]\n[verse]\nthe city lights\nare calling out my name\n[chorus]\nhold on\n[outro]"
    text = default_app.understood_markdown(processor, DESCRIPTION, lyrics, 120.0)
    plan = processor.interpret(DESCRIPTION, lyrics, duration_s=120.0)["plan"]
    assert "**Plan of the song**" in text and format_plan(plan) in text and len(plan["windows"]) > 3
    assert "Plan" not in default_app.understood_markdown(processor, DESCRIPTION, lyrics, 10.0)  # one window


def test_a_refused_reading_is_a_named_error(default_app):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    if not hasattr(SongGenProcessor, "interpret"):
        pytest.skip("SongGenProcessor.interpret is not in this tree yet")
    with pytest.raises(gr.Error, match="200000"):
        next(_call(default_app, description="a pop song at 200000 bpm"))


def test_a_seed_makes_the_same_song_in_the_space_as_with_songgen_generate(default_app, tmp_path):
    """The Space loads the model at the precision every front door gives it (the embedded default's int8 token
    heads on a CPU), so the same inputs and seed give the CLI's song."""
    import torch

    from songgen_hf.commands.cli import main

    settings = {"guidance_scale": 3.0, "temperature": 1.0, "top_k": 50, "seed": 5, "duration_s": 1.0}
    *_, last = _call(default_app, **settings)
    rate, space_song = last[1]
    threads = torch.get_num_threads()
    argv = ["generate", "--description", DESCRIPTION, "--lyrics", LYRICS, "--duration", "1", "--seed", "5"]
    argv += ["--guidance-scale", "3", "--temperature", "1", "--top-k", "50", "--threads", str(threads)]
    assert main([*argv, "--no-progress", "--output", str(tmp_path / "cli.wav")]) == 0
    cli_song, cli_rate = sf.read(tmp_path / "cli.wav", dtype="int16")
    assert rate == cli_rate and space_song.shape == cli_song.shape
    # the same samples, up to how each front door rounds them to 16 bits (a different precision differs by
    # thousands of steps)
    assert np.abs(space_song.astype(np.int32) - cli_song.astype(np.int32)).max() <= 3


def test_an_api_call_gets_none_for_what_it_does_not_set_and_the_singers_progress(default_app):
    """The last update is what an API client keeps: every output is a value or None, never Gradio's update dict;
    a sung song's status follows the decoder's and the told singer's stages while it is made."""
    updates = list(_call(default_app, description="a pop song at 120 bpm with a female voice", duration_s=4.0))
    assert not [value for value in updates[-1] if isinstance(value, dict)], updates[-1]
    assert updates[-1][0] is None and updates[-1][1] is not None
    statuses = [update[4] for update in updates if isinstance(update[4], str)]
    assert any(": generating" in status for status in statuses), statuses
    assert any(": singing" in status for status in statuses), statuses
    *_, instrumental = _call(default_app, lyrics="", duration_s=1.0)
    assert not [value for value in instrumental if isinstance(value, dict)] and instrumental[0] is None


def test_a_users_mistake_is_a_message_without_a_traceback_in_the_server_log(default_app):
    for bad in ({"duration_s": 200.0}, {"temperature": float("nan")}):
        with pytest.raises(gr.Error) as refused:
            next(_call(default_app, **bad))
        assert refused.value.print_exception is False, bad
