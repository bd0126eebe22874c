"""Streaming audio while generate() runs: the chunks are the song generate() returns.

Tolerance: the streamed chunks concatenate to exactly ``frames * hop`` samples and match
``generate()``'s decoded audio to <= 1e-5 (measured <= 1.1e-6: float noise of decoding windows
of a different size; the default context and lookahead are derived from the codec's measured receptive
field, and the equal-gain crossfade of two equal signals is the signal itself).
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines.streaming import GenerationCancelled, SongGenStreamer, stream_song
from songgen_hf.testing import save_tiny_checkpoint, streamed_generation

TOLERANCE = 1e-5
DESCRIPTION = "a calm piano song with a soft female voice"
LYRICS = "la la la\nwe sing tonight"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("streaming")
    loaded = {}
    for pattern in ("mixed_pro", "interleaving_A_V"):
        path = save_tiny_checkpoint(folder / pattern, track_pattern=pattern)
        loaded[pattern] = (
            SongGenForConditionalGeneration.from_pretrained(path).eval(),
            SongGenProcessor.from_pretrained(path),
        )
    return loaded


def _generate_with_streamer(model, processor, streamer, **kwargs):
    """generate() in a thread feeding ``streamer``; returns (chunks, generate's output)."""
    inputs = processor(description=DESCRIPTION, lyrics=LYRICS)
    return streamed_generation(model, streamer, **inputs, return_dict_in_generate=True, **kwargs)


@pytest.mark.parametrize(
    "pattern, seconds, gains",
    [
        ("mixed_pro", 2.0, None),
        ("interleaving_A_V", 1.0, None),
        ("interleaving_A_V", 1.0, {"vocals": 6.0, "accompaniment": -2.0}),
    ],
)
def test_streamed_chunks_match_generate(checkpoints, pattern, seconds, gains):
    """Streamed audio (and a dual-track model's stems, at its stem gains) is generate()'s."""
    model, processor = checkpoints[pattern]
    dual = model.pattern.num_tracks > 1
    model.config.stem_gains_db = gains
    try:
        streamer = SongGenStreamer(model, chunk_frames=10, return_stems=dual, timeout=60)
        chunks, output = _generate_with_streamer(
            model, processor, streamer, do_sample=False, duration_s=seconds, min_duration_s=seconds
        )
    finally:
        model.config.stem_gains_db = None
    length = int(output.audio_lengths[0])
    assert length == int(output.frame_lengths[0]) * 320 == int(seconds * 16000)
    assert len(chunks) > 1  # audio came out while the loop was still running
    assert streamer.num_samples == length and streamer.num_frames == int(output.frame_lengths[0])
    if not dual:
        streamed = np.concatenate(chunks)
        assert streamed.dtype == np.float32 and streamed.shape == (length,)
        assert np.abs(streamed - output.audio[0, 0, :length].numpy()).max() <= TOLERANCE
        return
    stems = {}
    for name in ("accompaniment", "vocals", "audio"):
        stems[name] = np.concatenate([chunk[name] for chunk in chunks])
        assert stems[name].shape == (length,)
    for name in ("accompaniment", "vocals"):
        assert np.abs(stems[name] - getattr(output, name)[0, 0, :length].numpy()).max() <= TOLERANCE
    # the streamed mix is the plain sum (generate() rescales a clipping mix over the whole song)
    np.testing.assert_allclose(stems["audio"], stems["accompaniment"] + stems["vocals"], atol=1e-6)


def test_stream_song_greedy_matches_generate_and_streams_early(checkpoints):
    model, processor = checkpoints["mixed_pro"]
    inputs = processor(description=DESCRIPTION, lyrics=LYRICS)
    expected = model.generate(
        **inputs, do_sample=False, duration_s=1.0, min_duration_s=1.0, return_dict_in_generate=True
    )
    length = int(expected.audio_lengths[0])
    chunks = []
    for sampling_rate, chunk in stream_song(
        model, processor, DESCRIPTION, LYRICS, chunk_frames=5, do_sample=False, duration_s=1.0, min_duration_s=1.0
    ):
        assert sampling_rate == 16000 and chunk.dtype == np.float32 and chunk.ndim == 1
        chunks.append(chunk)
    assert len(chunks) > 1
    streamed = np.concatenate(chunks)
    assert streamed.shape == (length,)
    assert np.abs(streamed - expected.audio[0, 0, :length].numpy()).max() <= TOLERANCE


def test_crossfade_shapes(checkpoints):
    model, _ = checkpoints["mixed_pro"]
    signal = np.full((1, 160), 0.5, dtype=np.float32)
    same = SongGenStreamer(model)._blend(signal, signal)
    np.testing.assert_allclose(same, signal, atol=1e-7)  # equal gain: two equal decodes stay equal
    bumped = SongGenStreamer(model, crossfade_shape="equal_power")._blend(signal, signal)
    assert bumped.max() == pytest.approx(0.5 * np.sqrt(2), rel=1e-3)  # why it is not the default


def test_errors_before_and_during_streaming_propagate(checkpoints):
    model, processor = checkpoints["mixed_pro"]
    with pytest.raises(ValueError, match="temperature"):
        list(stream_song(model, processor, DESCRIPTION, LYRICS, temperature=-1.0, duration_s=0.5))

    def broken_decode(*args, **kwargs):
        raise RuntimeError("codec exploded")

    model.audio_encoder.decode = broken_decode
    try:
        with pytest.raises(RuntimeError, match="codec exploded"):
            list(stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=5, do_sample=False, duration_s=1.0))
    finally:
        del model.audio_encoder.decode
    assert not [t for t in threading.enumerate() if t.name == "songgen-stream"]


def test_batch_of_two_is_refused(checkpoints):
    model, processor = checkpoints["mixed_pro"]
    with pytest.raises(ValueError, match="one song at a time"):
        next(stream_song(model, processor, [DESCRIPTION, DESCRIPTION], [LYRICS, LYRICS]))
    streamer = SongGenStreamer(model, timeout=60)
    inputs = processor(description=[DESCRIPTION, DESCRIPTION], lyrics=[LYRICS, LYRICS])
    with pytest.raises(ValueError, match="batch size 1"):
        model.generate(**inputs, streamer=streamer, duration_s=0.5)
    with pytest.raises(ValueError, match="batch size 1"):
        next(iter(streamer))  # the consumer hears about it too instead of blocking


def test_leaving_early_cancels_generation(checkpoints):
    model, processor = checkpoints["mixed_pro"]
    songs = stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=5, do_sample=False, duration_s=4.0)
    start = time.perf_counter()
    next(songs)
    songs.close()  # joins the thread, which stops at its next step
    assert time.perf_counter() - start < 30
    assert not [t for t in threading.enumerate() if t.name == "songgen-stream"]
    streamer = SongGenStreamer(model)
    streamer.cancel()
    with pytest.raises(GenerationCancelled):
        streamer.put(torch.ones(model.pattern.num_rows, 1, dtype=torch.long))


def test_argument_checks_and_timeout(checkpoints):
    model, _ = checkpoints["mixed_pro"]
    with pytest.raises(ValueError, match="dual-track"):
        SongGenStreamer(model, return_stems=True)
    with pytest.raises(ValueError, match="context"):
        SongGenStreamer(model, context_frames=0, crossfade_ms=10)
    with pytest.raises(ValueError, match="chunk_frames"):
        SongGenStreamer(model, chunk_frames=0)
    with pytest.raises(TimeoutError):
        next(iter(SongGenStreamer(model, timeout=0.05)))


def test_benchmark_tiny_report(tmp_path):
    spec = importlib.util.spec_from_file_location("streaming_benchmark", ROOT / "benchmarks" / "streaming.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    out = tmp_path / "streaming.json"
    benchmark.main(["--json", str(out), "--tiny", "--seconds", "1", "--threads", "1", "--cpu"])
    report = json.loads(out.read_text())
    # --tiny is the fallback when this install ships no embedded default model
    assert report["tiny"] or report["model_source"] == "embedded default"
    assert report["audio_seconds"] == 1.0
    assert 0 < report["streaming"]["time_to_first_chunk_s"] <= report["streaming"]["total_s"]
    assert report["generate"]["total_s"] > 0
    assert report["parity"]["same_length"] and report["parity"]["within_tolerance"]
    assert report["codec"]["receptive_field_frames"] > 0 and report["codec"]["defaults_cover_receptive_field"]


@pytest.mark.parametrize(
    "name", ["mixed", "parallel_std", "parallel_A_V", "interleaving_V_A", "mixed_stream2", "mixed_stream4"]
)
def test_songs_that_end_early_stream_exactly_for_every_pattern(checkpoints, name):
    """Feed the columns of a finished song (EOS triangle included) by hand, for any layout."""
    from types import SimpleNamespace

    from songgen_hf.modeling.patterns import get_token_pattern

    model, _ = checkpoints["mixed_pro"]
    pattern = get_token_pattern(name, num_codebooks=model.pattern.num_codebooks)
    frames = 37
    generator = torch.Generator().manual_seed(1)
    tracks = [
        torch.randint(0, 1024, (1, pattern.num_codebooks, frames), generator=generator) for _ in pattern.track_names
    ]
    sequence = pattern.build_labels(*tracks).sequence[0]
    # the loop keeps going until every row has ended; a few PAD columns past the triangle
    sequence = torch.cat([sequence, torch.full((sequence.shape[0], 3), pattern.token_ids.pad_token_id)], dim=-1)
    fake = SimpleNamespace(pattern=pattern, audio_encoder=model.audio_encoder, config=model.config)
    streamer = SongGenStreamer(fake, chunk_frames=4, return_stems=len(tracks) > 1)
    streamer.put(sequence[:, :1])
    for column in sequence[:, 1:].unbind(-1):
        streamer.put(column)
    streamer.end()
    chunks = list(streamer)
    assert len(chunks) > 2 and streamer.num_frames == frames
    with torch.no_grad():
        expected = [model.audio_encoder.decode(codes).audio_values[0, 0].numpy() for codes in tracks]
    if len(tracks) == 1:
        streamed = {"mix": np.concatenate(chunks)}
    else:
        streamed = {key: np.concatenate([chunk[key] for chunk in chunks]) for key in pattern.track_names}
    for track_name, reference in zip(pattern.track_names, expected):
        assert streamed[track_name].shape == (frames * 320,)
        assert np.abs(streamed[track_name] - reference).max() <= TOLERANCE


def _istft_codec(phase="accumulated", num_layers=2, n_fft=None, seed=3):
    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    torch.manual_seed(seed)
    options = {"hidden_size": 16, "intermediate_size": 32, "num_layers": num_layers, "phase": phase}
    if n_fft:
        options["n_fft"] = n_fft
    return XCodecModel(
        tiny_xcodec_config(teacher="mel", acoustic_decoder_type="istft", istft_decoder_config=options)
    ).eval()


def _stream_codes(model, codec, frames=61, **streamer_options):
    """Feed random codes of ``frames`` frames through a streamer built on ``codec``; (streamed, whole decode)."""
    from types import SimpleNamespace

    pattern = model.pattern
    codes = torch.randint(0, 1024, (1, pattern.num_codebooks, frames), generator=torch.Generator().manual_seed(2))
    vocals = torch.randint(0, 1024, codes.shape, generator=torch.Generator().manual_seed(5))
    sequence = pattern.build_labels(codes, vocals).sequence[0]
    fake = SimpleNamespace(pattern=pattern, audio_encoder=codec, config=model.config)
    streamer = SongGenStreamer(fake, chunk_frames=7, **streamer_options)
    streamer.put(sequence[:, :1])
    for column in sequence[:, 1:].unbind(-1):
        streamer.put(column)
    streamer.end()
    chunks = list(streamer)
    assert len(chunks) > 3
    with torch.no_grad():
        whole = codec.decode(codes).audio_values[0, 0].numpy()
    return np.concatenate(chunks), whole


def test_receptive_field_is_measured_on_the_codec():
    """ISTFT: 3 frames for the input conv, 3 per ConvNeXt block, plus the overlap of the synthesis windows."""
    from songgen_hf.pipelines.streaming import codec_receptive_field_frames

    narrow, wide = _istft_codec(num_layers=2), _istft_codec(num_layers=6, n_fft=2560)
    assert codec_receptive_field_frames(narrow) == 3 + 2 * 3 + math.ceil((640 - 160) / 320)
    assert codec_receptive_field_frames(wide) == 3 + 6 * 3 + math.ceil((1280 - 160) / 320)
    assert wide._streaming_receptive_field == 25  # cached: a streamer per song does not re-measure


def test_the_default_models_wide_decoder_streams_exactly_with_the_default_settings(checkpoints):
    """songgen-tiny's ISTFT decoder (6 blocks, n_fft 2560) reaches 25 frames: fixed 16/12 frames of
    context/lookahead (enough for the DAC decoder) leave seams, the codec-derived defaults do not."""
    from songgen_hf.pipelines import loading
    from songgen_hf.pipelines.streaming import codec_receptive_field_frames

    model, _ = checkpoints["mixed_pro"]
    codec = SongGenForConditionalGeneration.from_pretrained(loading.default_model_path()).audio_encoder.eval()
    assert codec_receptive_field_frames(codec) == 25
    streamed, whole = _stream_codes(model, codec, frames=90)
    assert streamed.shape == whole.shape
    tolerance = 1e-4 * max(1.0, np.abs(whole).max())
    assert np.abs(streamed - whole).max() <= tolerance
    # how large the seams are depends on the codec's weights (v4's reached 1e-3 of the peak, v5's 7e-4, codec v8's
    # decoder 2e-4, twice the tolerance); what matters is that too little context is not exact while the default is
    short, _ = _stream_codes(model, codec, frames=90, context_frames=16, lookahead_frames=12)
    assert np.abs(short - whole).max() > 1.5 * tolerance


@pytest.mark.parametrize("phase", ["accumulated", "absolute"])
def test_istft_codec_streams_exactly_with_continuous_phase(checkpoints, phase):
    """An ISTFT codec's phases sum over the whole song; streamed windows must carry them on."""
    model, _ = checkpoints["mixed_pro"]
    streamed, whole = _stream_codes(model, _istft_codec(phase=phase))
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 1e-4 * max(1.0, np.abs(whole).max())


# 1.2 s at 50 Hz in windows of 0.5 s continuing from 0.1 s: (0, 25), (20, 45), (40, 60)
LONG = dict(duration_s=1.2, window_s=0.5, context_s=0.1)
LONG_FRAMES, LONG_STARTS = 60, [0, 20, 40]


class _WindowLog(SongGenStreamer):
    """A streamer noting how many chunks it had handed out when each later window started."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.window_starts = []

    def start_window(self, start_frame, context_frames):
        self.window_starts.append((start_frame, context_frames, self.num_chunks))
        super().start_window(start_frame, context_frames)


@pytest.mark.parametrize("pattern", ["mixed_pro", "interleaving_A_V"])
def test_a_three_window_song_streams_across_its_windows_as_generate_makes_it(checkpoints, pattern):
    """The chunks flow while the windows are generated, and join into the song generate() returns with the same
    seed: each window's new frames once, its context (the previous window's last frames) not again."""
    model, processor = checkpoints[pattern]
    dual = model.pattern.num_tracks > 1
    settings = dict(LONG, do_sample=True, top_k=50)
    streamer = _WindowLog(model, chunk_frames=4, return_stems=dual, timeout=120)
    torch.manual_seed(11)
    chunks, streamed_output = _generate_with_streamer(model, processor, streamer, **settings)
    torch.manual_seed(11)
    inputs = processor(description=DESCRIPTION, lyrics=LYRICS)
    output = model.generate(**inputs, **settings, return_dict_in_generate=True)
    assert output.window_starts.tolist() == streamed_output.window_starts.tolist() == LONG_STARTS
    for name in model.pattern.track_names:
        assert torch.equal(streamed_output.codes[name], output.codes[name])  # streaming takes no draws
    # told where each later window starts, with chunks out before it: the stream did not wait for the song
    assert [start for start, _, _ in streamer.window_starts] == LONG_STARTS[1:]
    assert {context for _, context, _ in streamer.window_starts} == {5}
    assert 0 < streamer.window_starts[0][2] < streamer.window_starts[1][2] < len(chunks)
    length = LONG_FRAMES * 320
    assert int(output.audio_lengths[0]) == length
    assert streamer.num_frames == LONG_FRAMES and streamer.num_samples == length
    if not dual:
        streamed = np.concatenate(chunks)
        assert streamed.shape == (length,)
        assert np.abs(streamed - output.audio[0, 0].numpy()).max() <= TOLERANCE
        return
    for name in ("accompaniment", "vocals"):
        stem = np.concatenate([chunk[name] for chunk in chunks])
        assert stem.shape == (length,)
        assert np.abs(stem - getattr(output, name)[0, 0].numpy()).max() <= TOLERANCE


def test_an_instrumental_long_songs_silent_vocal_track_streams_as_generate_holds_it():
    """generate() holds an instrumental's vocal track at the whole song's silence, each window at its stretch of it
    (a window's own silence would differ: the codec's edges), so the stream plays the song's silence."""
    from songgen_hf.modeling.songgen.configuration_songgen import arrangement_id
    from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config

    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False, decoder={"use_arrangement_control": True})
    model = SongGenForConditionalGeneration(config).eval()
    inputs = dummy_generation_inputs(model, batch_size=1)
    inputs["arrangement_ids"] = torch.tensor([arrangement_id(vocals=False, drums=True)])
    streamer = SongGenStreamer(model, chunk_frames=4, return_stems=True, timeout=120)
    torch.manual_seed(2)
    chunks, output = streamed_generation(
        model, streamer, **inputs, **LONG, do_sample=True, return_dict_in_generate=True
    )
    assert output.window_starts.tolist() == LONG_STARTS
    assert torch.equal(output.codes["vocals"][0], model.silence_codes(LONG_FRAMES)[0])
    for name in ("accompaniment", "vocals"):
        stem = np.concatenate([chunk[name] for chunk in chunks])
        assert stem.shape == (LONG_FRAMES * 320,)
        assert np.abs(stem - getattr(output, name)[0, 0].numpy()).max() <= TOLERANCE


def test_stream_song_streams_a_long_song_and_closing_it_stops_the_windows(checkpoints):
    model, processor = checkpoints["mixed_pro"]
    # the lyrics planned over the windows, each window with its own lines, as the pipeline plans them
    planned = processor(description=DESCRIPTION, lyrics=LYRICS, **LONG)
    assert planned["window_lyrics_input_ids"].shape[:2] == (1, len(LONG_STARTS))
    torch.manual_seed(5)
    expected = model.generate(**planned, **LONG, do_sample=True, return_dict_in_generate=True)
    torch.manual_seed(5)
    chunks = [chunk for _, chunk in stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=4, **LONG)]
    streamed = np.concatenate(chunks)
    assert streamed.shape == (LONG_FRAMES * 320,)
    assert np.abs(streamed - expected.audio[0, 0].numpy()).max() <= TOLERANCE

    # closed after its first chunk: the generating thread stops within the window it is in, no later window
    # starts, and nothing more comes out
    real_generate = type(model).generate
    windows = []

    def counted(self, *args, **kwargs):
        if kwargs.get("_window_of_checked_song"):
            windows.append(1)
        return real_generate(self, *args, **kwargs)

    type(model).generate = counted
    try:
        songs = stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=2, do_sample=False, **LONG)
        next(songs)
        songs.close()
    finally:
        type(model).generate = real_generate
    assert len(windows) == 1
    assert not [t for t in threading.enumerate() if t.name == "songgen-stream"]
    with pytest.raises(StopIteration):
        next(songs)


def test_a_streamer_is_told_of_windows_only_after_a_first_one(checkpoints):
    model, _ = checkpoints["mixed_pro"]
    with pytest.raises(RuntimeError, match="before the song's first window"):
        SongGenStreamer(model).start_window(35, 15)


def test_stream_song_shows_its_windows_progress_and_streams_the_same_song(checkpoints, capsys):
    from songgen_hf.pipelines import GenerationProgress

    model, processor = checkpoints["mixed_pro"]

    def streamed(progress):
        chunks = stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=4, seed=5, progress=progress, **LONG)
        return np.concatenate([chunk for _, chunk in chunks])

    windows = [f"generating: window {index}/{len(LONG_STARTS)}" for index in range(1, len(LONG_STARTS) + 1)]
    quiet = streamed(False)
    own = GenerationProgress(disable=True, keep_open=True)  # a caller's own, for a status line
    assert np.array_equal(streamed(own), quiet)
    assert own.stages == windows and own.steps > 0
    assert capsys.readouterr().err == ""
    assert np.array_equal(streamed("lines"), quiet)  # one line per stage, for a log
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("generating")] == windows
    assert np.array_equal(streamed(None), quiet)  # the default: a bar on a terminal only (pytest's stderr is none)
    assert "generating" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="progress must be"):
        stream_song(model, processor, DESCRIPTION, LYRICS, progress="bar")
