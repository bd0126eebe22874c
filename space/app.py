"""SongGen text-to-song Space: describe a song, give lyrics, hear it while it is generated.

The model folder comes from the ``SONGGEN_MODEL`` environment variable (a local folder or a
Hub id), else the embedded default model of the installed ``songgen_hf``.  Only its config is
read when the app starts (to decide which controls to show); the weights load on the first
request, so the page comes up at once and a missing model is reported in the UI instead of
crashing the Space.

Live playback uses ``gr.Audio(streaming=True)``, which Gradio encodes with ffmpeg.  Without
ffmpeg on PATH (``SONGGEN_SPACE_STREAMING=auto``, the default) the live player is hidden and
the song appears when it is finished; ``SONGGEN_SPACE_STREAMING=1`` / ``0`` force the choice.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from dataclasses import dataclass

import gradio as gr
import numpy as np

MODEL_ENV = "SONGGEN_MODEL"
STREAMING_ENV = "SONGGEN_SPACE_STREAMING"
DEFAULT_SECONDS = 10.0

EXAMPLES = [
    [
        "an upbeat pop song in c major at 120 bpm with drums, bass and a bright female voice",
        "[verse]\nthe city lights are calling out my name\nwe dance until the morning, never the same\n"
        "[chorus]\nhold on, hold on, the night is young",
    ],
    [
        "a melancholic piano ballad in a minor at 72 bpm with soft strings and a warm male voice",
        "[verse]\nthe rain is falling on an empty street\nI hear your echo in every heartbeat",
    ],
    [
        "a calm acoustic folk tune with fingerpicked guitar and a gentle female voice",
        "[verse]\nwalking down the river road alone\nfollowing the lanterns leading home",
    ],
]


# ---------------------------------------------------------------------------- model
@dataclass
class ModelInfo:
    """What the UI needs to know before the weights are loaded."""

    path: str | None
    error: str | None = None
    has_voice: bool = False
    dual_track: bool = False
    max_seconds: float = 30.0
    sampling_rate: int = 16000


def _model_info() -> ModelInfo:
    path = os.environ.get(MODEL_ENV, "").strip() or None
    if path is None:
        from songgen_hf.defaults import default_model_path

        try:
            path = str(default_model_path())
        except ValueError as error:
            return ModelInfo(None, f"No model is available. {error} Set {MODEL_ENV} to a SongGen model folder or Hub id.")
    # a path-like value that is not a folder would otherwise surface as a confusing Hub-id error
    if (os.path.isabs(path) or path.startswith(".")) and not os.path.isdir(path):
        return ModelInfo(path, f"No model folder at {path!r} ({MODEL_ENV}); point it at a SongGen model folder or Hub id.")
    try:
        from songgen_hf.modeling.songgen import SongGenConfig

        config = SongGenConfig.from_pretrained(path)
        pattern = config.decoder.token_pattern()
        frames = pattern.num_frames(config.decoder.max_position_embeddings)
        return ModelInfo(
            path,
            has_voice=config.voice_encoder is not None,
            dual_track=pattern.num_tracks > 1,
            max_seconds=max(1.0, frames / config.frame_rate),
            sampling_rate=int(config.sampling_rate),
        )
    except Exception as error:  # noqa: BLE001 - shown in the UI; the page must still come up
        return ModelInfo(path, f"Could not read the model config at {path!r}: {error}")


def _live_streaming() -> bool:
    choice = os.environ.get(STREAMING_ENV, "auto").strip().lower()
    if choice in ("1", "true", "yes", "on"):
        return True
    if choice in ("0", "false", "no", "off"):
        return False
    return shutil.which("ffmpeg") is not None


INFO = _model_info()
LIVE = _live_streaming()
_loaded: tuple | None = None
_load_lock = threading.Lock()


def load_model():
    """The (model, processor) pair, loaded once on first use; ``gr.Error`` when unavailable."""
    global _loaded
    if INFO.error:
        raise gr.Error(INFO.error)
    with _load_lock:
        if _loaded is None:
            import torch

            from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
            from songgen_hf.processing.processor import SongGenProcessor

            device = "cuda" if torch.cuda.is_available() else "cpu"
            try:
                model = SongGenForConditionalGeneration.from_pretrained(INFO.path).to(device).eval()
                processor = SongGenProcessor.from_pretrained(INFO.path)
            except Exception as error:  # noqa: BLE001 - reported in the UI
                raise gr.Error(f"Could not load the model from {INFO.path!r}: {error}") from error
            _loaded = (model, processor)
    return _loaded


# ---------------------------------------------------------------------------- handler
def to_int16(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] → int16 ourselves: Gradio would peak-normalise every float chunk on its own."""
    return np.rint(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def _generate_kwargs(guidance_scale, temperature, top_k, duration_s) -> dict:
    kwargs = {"duration_s": float(duration_s)}
    if guidance_scale is not None and float(guidance_scale) > 1.0:
        kwargs["guidance_scale"] = float(guidance_scale)
    if temperature is None or float(temperature) <= 0:
        kwargs["do_sample"] = False
    else:
        kwargs.update(do_sample=True, temperature=float(temperature), top_k=int(top_k or 0))
    return kwargs


def generate_song(description, lyrics, reference_voice, guidance_scale, temperature, top_k, seed, duration_s):
    """Yield ``(live chunk, full song, accompaniment, vocals, status)`` updates.

    Audio values are ``(sampling_rate, int16 array)``; outputs that do not change are
    ``gr.skip()``.  Live chunks come while the song is generated (when live playback is on),
    the full song and stems once at the end.
    """
    import torch

    from songgen_hf.pipelines.streaming import stream_song

    if not description or not str(description).strip():
        raise gr.Error("Describe the song first (genre, mood, instruments, voice).")
    model, processor = load_model()
    dual = model.pattern.num_tracks > 1
    seed = int(seed) if seed is not None else -1
    if seed < 0:
        seed = random.randrange(2**31)
    torch.manual_seed(seed)
    voice = reference_voice if (reference_voice and model.voice_encoder is not None) else None
    kwargs = _generate_kwargs(guidance_scale, temperature, top_k, duration_s)

    skip = gr.skip()
    pieces, accompaniment, vocals = [], [], []
    start, first = time.perf_counter(), None
    sampling_rate = INFO.sampling_rate
    try:
        for sampling_rate, chunk in stream_song(
            model, processor, str(description), str(lyrics or ""), reference_voice=voice, return_stems=dual, **kwargs
        ):
            if first is None:
                first = time.perf_counter() - start
            mix = chunk["audio"] if dual else chunk
            pieces.append(mix)
            if dual:
                accompaniment.append(chunk["accompaniment"])
                vocals.append(chunk["vocals"])
            done = sum(p.shape[0] for p in pieces) / sampling_rate
            status = f"Generating… {done:.1f} s of {float(duration_s):.0f} s (seed {seed})"
            live = (sampling_rate, to_int16(mix)) if LIVE else skip
            yield live, skip, skip, skip, status
    except ValueError as error:  # bad input (over-long lyrics, unusable reference voice, ...)
        raise gr.Error(str(error)) from error
    if not pieces:
        raise gr.Error("The model ended the song before producing any audio; try another seed.")
    song = np.concatenate(pieces)
    total = time.perf_counter() - start
    status = (
        f"Done: {song.shape[0] / sampling_rate:.1f} s of audio in {total:.1f} s "
        f"(first audio after {first:.1f} s, seed {seed})."
    )
    stems = (
        ((sampling_rate, to_int16(np.concatenate(accompaniment))), (sampling_rate, to_int16(np.concatenate(vocals))))
        if dual
        else (skip, skip)
    )
    yield skip, (sampling_rate, to_int16(song)), *stems, status


# ---------------------------------------------------------------------------- UI
def _notice() -> str:
    if INFO.error:
        return f"⚠️ {INFO.error}"
    if not LIVE:
        return "Live playback is off (it needs ffmpeg); the song appears when it is finished."
    return ""


with gr.Blocks(title="SongGen: text to song") as demo:
    gr.Markdown(
        "# SongGen: text to song\n"
        "Describe the music and write the lyrics; the song plays while it is being generated. "
        "Mono, 16 kHz, one song at a time."
    )
    notice = gr.Markdown(_notice(), visible=bool(_notice()))
    with gr.Row():
        with gr.Column():
            description = gr.Textbox(
                label="Description",
                lines=3,
                placeholder="genre, mood, tempo, key, instruments, voice",
            )
            lyrics = gr.Textbox(
                label="Lyrics",
                lines=8,
                placeholder="[verse]\nfirst line\nsecond line\n[chorus]\n…",
            )
            reference_voice = gr.Audio(
                label="Reference voice (optional, at least 3 s of singing)",
                sources=["upload", "microphone"],
                type="filepath",
                visible=INFO.has_voice,
            )
            with gr.Accordion("Settings", open=False):
                duration = gr.Slider(
                    1.0,
                    round(INFO.max_seconds, 1),
                    value=min(DEFAULT_SECONDS, round(INFO.max_seconds, 1)),
                    step=0.5,
                    label="Duration (s)",
                )
                guidance = gr.Slider(1.0, 8.0, value=3.0, step=0.5, label="Guidance scale (1 = off)")
                temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Temperature (0 = greedy)")
                top_k = gr.Slider(0, 500, value=50, step=1, label="Top-k (0 = off)")
                seed = gr.Number(value=0, precision=0, label="Seed (-1 = random)")
            button = gr.Button("Generate", variant="primary")
        with gr.Column():
            live = gr.Audio(label="Live", streaming=True, autoplay=True, interactive=False, visible=LIVE)
            song = gr.Audio(label="Song", type="numpy", interactive=False)
            accompaniment = gr.Audio(label="Accompaniment", interactive=False, visible=INFO.dual_track)
            vocals = gr.Audio(label="Vocals", interactive=False, visible=INFO.dual_track)
            status = gr.Markdown()
    gr.Examples(examples=EXAMPLES, inputs=[description, lyrics], cache_examples=False)
    button.click(
        generate_song,
        inputs=[description, lyrics, reference_voice, guidance, temperature, top_k, seed, duration],
        outputs=[live, song, accompaniment, vocals, status],
        api_name="generate",
        show_progress="minimal",
    )

demo.queue(max_size=20, default_concurrency_limit=1)

if __name__ == "__main__":
    demo.launch()
