"""A duration is the song's length at every front door; ending sooner is asked for with min_duration_s.

The model here is a tiny checkpoint rewired to end every song at once (its decoder's last norm emits a constant
and every token head scores the end token far above the rest), so a front door that lets the model decide the
length returns a few frames, and one that honours the duration returns all of them.
"""

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the text-to-song task and the Auto classes)
from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.pipelines import register_text_to_song_pipeline, stream_song
from songgen_hf.testing import save_tiny_checkpoint

register_text_to_song_pipeline()

SECONDS = 0.4
SONG = {"description": "a calm folk song with a male voice", "lyrics": "walk with me along the river"}


@pytest.fixture(scope="module")
def eager_folder(tmp_path_factory):
    """A tiny SongGen folder whose model wants to end the song at its first frame."""
    folder = save_tiny_checkpoint(tmp_path_factory.mktemp("ends_at_once"), track_pattern="mixed_pro")
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    eos = model.config.decoder.eos_token_id if hasattr(model.config.decoder, "eos_token_id") else None
    eos = eos if eos is not None else model.pattern.token_ids.eos_token_id
    with torch.no_grad():
        norm = model.decoder.model.layer_norm
        norm.weight.zero_()
        norm.bias.fill_(1.0)  # every position's hidden state is all ones
        for head in model.decoder.lm_heads:
            head.weight[eos].fill_(5.0)  # the end token's score: 5 x hidden size, far above any other
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_and_processor(eager_folder):
    model = SongGenForConditionalGeneration.from_pretrained(eager_folder).eval()
    return model, SongGenProcessor.from_pretrained(eager_folder)


def _samples(model, seconds=SECONDS):
    return round(seconds * model.config.frame_rate) * model.config.sampling_rate // model.config.frame_rate


def _generate(model, processor, **kwargs):
    inputs = processor(description=SONG["description"], lyrics=SONG["lyrics"], return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**inputs, do_sample=True, guidance_scale=1.0, **kwargs)
    audio = out.audio_values if hasattr(out, "audio_values") else out
    return audio.reshape(-1).shape[0]


def test_the_model_ends_at_once_when_allowed(model_and_processor):
    model, processor = model_and_processor
    assert _generate(model, processor, duration_s=SECONDS, min_duration_s=0) < _samples(model) // 2


def test_generate_gives_the_duration(model_and_processor):
    model, processor = model_and_processor
    assert _generate(model, processor, duration_s=SECONDS) == _samples(model)


def test_min_duration_is_the_earliest_end(model_and_processor):
    model, processor = model_and_processor
    got = _generate(model, processor, duration_s=SECONDS, min_duration_s=SECONDS / 2)
    assert _samples(model, SECONDS / 2) <= got < _samples(model)


def test_pipeline_gives_the_duration(eager_folder, model_and_processor):
    model, _ = model_and_processor
    song = pipeline("text-to-song", model=str(eager_folder))(SONG, duration_s=SECONDS, seed=0)
    assert song["audio"].shape[-1] == _samples(model)


def test_stream_gives_the_duration(model_and_processor):
    model, processor = model_and_processor
    torch.manual_seed(0)
    chunks = [
        chunk
        for _, chunk in stream_song(
            model, processor, SONG["description"], SONG["lyrics"], duration_s=SECONDS, guidance_scale=1.0
        )
    ]
    assert sum(len(chunk) for chunk in chunks) == _samples(model)


def test_cli_gives_the_duration(eager_folder, model_and_processor, tmp_path):
    from songgen_hf.commands.cli import main

    model, _ = model_and_processor
    out = tmp_path / "song.wav"
    main(
        [
            "generate",
            "--model",
            str(eager_folder),
            "--description",
            SONG["description"],
            "--lyrics",
            SONG["lyrics"],
            "--duration",
            str(SECONDS),
            "--seed",
            "0",
            "--output",
            str(out),
        ]
    )
    audio, rate = sf.read(out)
    assert rate == model.config.sampling_rate and np.asarray(audio).shape[0] == _samples(model)
