"""SongGen text-to-song Space: describe a song, give lyrics, hear it while it is generated.

The model folder comes from the ``SONGGEN_MODEL`` environment variable (a local folder, a Hub id
or an embedded model's name such as ``songgen-tiny``), else the embedded default model of
the installed ``songgen_hf``.  Only its config and model card are read when the app starts (to show
what the model is and decide which controls to show); the weights load on the first request, so the
page comes up at once and a missing model is reported in the UI instead of crashing the Space.

Every input is checked in :func:`check_inputs` before anything is loaded or tokenised, against
the limits of ``songgen_hf.modeling.limits`` and the model's longest song, so that one request (a pasted
book as the description, a NaN seed) gets a message naming the input and cannot take the
server down.  The sliders and the seed box run the same check when Gradio decodes the request,
so an API call out of range is told which setting is wrong (Gradio's own message names none).

Live playback uses ``gr.Audio(streaming=True)``, which Gradio encodes with ffmpeg.  Without
ffmpeg on PATH (``SONGGEN_SPACE_STREAMING=auto``, the default) the live player is hidden and
the song appears when it is finished; ``SONGGEN_SPACE_STREAMING=1`` / ``0`` force the choice.
A model folder with a told singer re-sings the vocal track of a sung request once the decoder has
written the whole song, so only its instrumental requests stream; the page says so (:func:`headline`).

Styles: ``SONGGEN_ADAPTERS`` (``NAME=DIR,NAME2=DIR2``, LoRA adapters of this model, as ``songgen finetune-lora``
writes them) are checked from their files when the app starts and listed on the page; a "Style" choice then picks
one per song, or the model alone.  They load onto the model with it (``songgen_hf.pipelines.adapters.AdapterSet``:
the base loads once, a song switches its adapter).  An adapter that cannot be used is named on the page, and the
model runs without any.

The server is bounded (:func:`launch`): the reference voice is the only file the page takes, so
uploads are refused outright for a model without a voice encoder and otherwise limited in size per
file and in total over the cache's lifetime (:class:`UploadGuard`); every file Gradio keeps (uploads,
the songs written for the players) is deleted once it is ``CACHE_MAX_AGE_S`` old; a refused voice
clip is deleted at once; and a raw API call with the wrong number of values is told what
``/generate`` takes.
"""

from __future__ import annotations

if __name__ == "__main__":  # said at once: importing torch and transformers takes most of the start (~15 s on 2 cores)
    print("Starting the SongGen Space: loading torch, transformers and the model's description…", flush=True)

import inspect
import math
import os
import queue
import random
import re
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass
from numbers import Real

import gradio as gr
import numpy as np
from starlette.middleware import Middleware

from songgen_hf.modeling.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_LYRICS_CHARS,
    MAX_REFERENCE_VOICE_SECONDS,
    check_description_chars,
    check_lyrics_chars,
    is_number,
)

MODEL_ENV = "SONGGEN_MODEL"
BASE_STYLE = "the model alone"  # the Style choice that uses no adapter
STREAMING_ENV = "SONGGEN_SPACE_STREAMING"
DEFAULT_SECONDS = 10.0
MIN_SECONDS = 1.0
# The longest song the page offers.  The library makes songs up to 600 s, window after window, in a time that grows
# with the length; on 2 CPU cores songgen-tiny takes about 3.5 minutes for a sung 2-minute song, three quarters of it
# the told singer (docs/benchmarks/song_stages.json), so a CPU Space stops at 2 minutes and says so, and a GPU one
# offers the library's whole range.
CPU_MAX_SECONDS = 120.0
# The settings' ranges: the sliders show them and check_inputs enforces them for API calls too.
GUIDANCE_RANGE = (1.0, 8.0)
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_K_RANGE = (0, 500)
# numpy's and most tools' seed range.  torch.manual_seed takes up to 2**64 - 1 (the pipeline's cap),
# but a browser's numbers are exact only up to 2**53, so the page keeps to the range every tool shares.
MAX_SEED = 2**32 - 1
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Uploads.  A 600 s reference voice is 19.2 MB as 16 kHz mono 16-bit WAV, so 25 MB per file takes every clip the
# duration limit allows in that form; a few seconds of singing is all the voice encoder needs.
MAX_UPLOAD_MB = 25
UPLOAD_BUDGET_MB = 250  # all clients together, per cache lifetime: what uploads can hold on the disk at once
CLIENT_UPLOAD_BUDGET_MB = 100  # one client (address), per cache lifetime: four files at the per-file limit
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # a form's boundaries and headers around the file
# Gradio's cache (uploads and the songs written for the players) is swept every CACHE_SWEEP_S seconds of files
# older than CACHE_MAX_AGE_S: long enough to download a song or generate again with the same voice clip.
CACHE_SWEEP_S, CACHE_MAX_AGE_S = 60, 600

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
    name: str | None = None
    parameters: int | None = None
    size_mb: float | None = None
    training_data: str | None = None
    limitations: str | None = None
    has_voice: bool = False
    dual_track: bool = False
    sung: bool = False  # a told singer re-sings the vocal track of sung requests after the decoder ends
    max_seconds: float = 30.0
    window_seconds: float = 30.0  # the model's default window: a longer song is made window after window
    lyrics_tokens: int | None = None  # the lyric tokens one song may have (songgen_hf.model_figures)
    cpu_capped: bool = False  # max_seconds is this CPU Space's limit (CPU_MAX_SECONDS), not the library's
    min_seconds: float = MIN_SECONDS
    seconds_step: float = 0.1
    sampling_rate: int = 16000


def _card_section(text: str, title: str) -> str | None:
    """The body of the card's ``## <title>`` section, or None."""
    match = re.search(rf"^##\s+{re.escape(title)}\s*$(.*?)(?=^##?\s|\Z)", text, re.MULTILINE | re.DOTALL | re.I)
    body = match.group(1).strip() if match else ""
    return body or None


def _read_card(path: str) -> tuple[str | None, str | None, str | None]:
    """(model name, training data, limitations) from the folder's model card, if it has one."""
    try:
        from huggingface_hub import ModelCard
        from transformers.utils import cached_file

        readme = cached_file(path, "README.md", _raise_exceptions_for_missing_entries=False)
        if readme is None:
            return None, None, None
        card = ModelCard.load(readme)
    except Exception:  # noqa: BLE001 - a card is optional; offline Hub ids and odd READMEs get none
        return None, None, None
    training = _card_section(card.text, "Training data")
    datasets = getattr(card.data, "datasets", None)
    if training is None and datasets:
        training = ", ".join(datasets if isinstance(datasets, list) else [str(datasets)])
    return getattr(card.data, "model_name", None), training, _card_section(card.text, "Limitations")


def _weights_mb(path: str) -> float | None:
    """The weights a model folder loads, in MB as every surface states them (``songgen_hf.model_figures``: every
    safetensors shard, an embedded model's shared codec shard and its told singer's included), else a
    ``pytorch_model.bin``; None when there are none or a shard is missing."""
    from songgen_hf.model_figures import size_mb, weights_bytes
    from songgen_hf.pipelines.loading import weight_files

    try:
        if weight_files(path):
            return size_mb(weights_bytes(path))
    except ValueError:
        return None
    files = [os.path.join(path, name) for name in WEIGHT_FILES if os.path.isfile(os.path.join(path, name))]
    return size_mb(sum(os.path.getsize(file) for file in files)) if files else None


def _duration_range(max_frames: int, frame_rate: float) -> dict:
    """The duration slider's step, bottom and top: 0.1 s steps (any length is exact: a multi-stream model
    generates to its next whole step and ``generate`` cuts the song back); the top is floored to a step
    and the bottom raised to one."""
    step_frames = max(1, round(frame_rate / 10))
    lowest = math.ceil(MIN_SECONDS * frame_rate / step_frames) * step_frames
    highest = max(lowest, max_frames // step_frames * step_frames)
    return {
        "seconds_step": round(step_frames / frame_rate, 6),
        "min_seconds": round(lowest / frame_rate, 6),
        "max_seconds": round(highest / frame_rate, 6),
    }


def _model_info() -> ModelInfo:
    path = os.environ.get(MODEL_ENV, "").strip() or None
    if path is None:
        from songgen_hf.pipelines.loading import default_model_path

        try:
            path = str(default_model_path())
        except ValueError as error:
            return ModelInfo(
                None, f"No model is available. {error} Set {MODEL_ENV} to a SongGen model folder or Hub id."
            )
    # a path-like value that is not a folder would otherwise surface as a confusing Hub-id error
    if (os.path.isabs(path) or path.startswith(".")) and not os.path.isdir(path):
        return ModelInfo(
            path, f"No model folder at {path!r} ({MODEL_ENV}); point it at a SongGen model folder or Hub id."
        )
    source = path
    try:  # an official SongGen checkpoint (LiuZH-19/SongGen_*): converted on the first start, then cached
        from songgen_hf.pipelines.loading import resolve_official

        path, _ = resolve_official(path)
    except Exception as error:  # noqa: BLE001 - shown in the UI; the page must still come up
        return ModelInfo(source, f"Could not prepare the model {source!r}: {error}")
    try:
        import torch

        from songgen_hf.modeling.songgen import SongGenConfig, SongGenForConditionalGeneration
        from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S
        from songgen_hf.modeling.songgen.configuration_songgen import default_window_s, duration_frames

        config = SongGenConfig.from_pretrained(path)
        pattern = config.decoder.token_pattern()
        cpu_capped = not torch.cuda.is_available() and CPU_MAX_SECONDS < MAX_SONG_S
        frames = duration_frames(config, CPU_MAX_SECONDS if cpu_capped else MAX_SONG_S)
        from songgen_hf.model_figures import count_parameters

        with torch.device("meta"):  # shapes only: the parameter count without memory or weights
            parameters = count_parameters(SongGenForConditionalGeneration(config))
    except Exception as error:  # noqa: BLE001 - shown in the UI; the page must still come up
        return ModelInfo(path, f"Could not read the model config at {path!r}: {error}")
    name, training, limitations = _read_card(path)
    from songgen_hf.model_figures import lyrics_token_limit

    try:  # the processor's own limit where its folder sets one, else the lyrics encoder's positions
        from transformers.utils import cached_file

        from songgen_hf.utils.safe_files import read_json

        saved = cached_file(path, "processor_config.json", _raise_exceptions_for_missing_entries=False)
        saved = read_json(saved, "processor_config.json").get("max_lyrics_length") if saved else None
    except (OSError, ValueError, AttributeError):
        saved = None
    lyrics_tokens = saved if isinstance(saved, int) else lyrics_token_limit(None, config)
    from songgen_hf.pipelines.loading import auto_singer_folder

    return ModelInfo(
        path,
        name=name or (source if path != source else os.path.basename(os.path.normpath(path)) or path),
        parameters=parameters,
        size_mb=_weights_mb(path),
        training_data=training,
        limitations=limitations,
        has_voice=config.voice_encoder is not None,
        dual_track=pattern.num_tracks > 1,
        sung=os.path.isdir(path) and auto_singer_folder(path) is not None,
        **_duration_range(frames, config.frame_rate),
        window_seconds=round(default_window_s(config), 2),
        lyrics_tokens=lyrics_tokens,
        cpu_capped=cpu_capped,
        sampling_rate=int(config.sampling_rate),
    )


def _live_streaming() -> bool:
    choice = os.environ.get(STREAMING_ENV, "auto").strip().lower()
    if choice in ("1", "true", "yes", "on"):
        return True
    if choice in ("0", "false", "no", "off"):
        return False
    return shutil.which("ffmpeg") is not None


def _preload_matplotlib() -> None:
    """Gradio runs every event inside a switch to matplotlib's "agg" backend, which imports matplotlib
    (and resolves its default backend through pyplot) on the first event: about 0.7 s that the first
    visitor would wait, even for a request refused at once.  Pay it while the Space starts instead."""
    try:
        import matplotlib
    except ImportError:  # Gradio then skips the switch too
        return
    matplotlib.use("agg")


def _adapters() -> tuple[dict[str, str], str | None]:
    """``({name: folder}, None)`` for the adapters the Space was started with (``SONGGEN_ADAPTERS``), each checked
    from its files against the model; ``({}, why)`` when one cannot be used."""
    if INFO.error:
        return {}, None
    from songgen_hf.pipelines.adapters import ADAPTERS_ENV, AdapterError, adapters_from_environment, check_adapters

    try:
        named = adapters_from_environment()
        if named and BASE_STYLE in named:
            raise AdapterError(f"{ADAPTERS_ENV}: {BASE_STYLE!r} names the model alone; call the adapter otherwise.")
        return (check_adapters(named, INFO.path) if named else {}), None
    except (AdapterError, OSError, ValueError) as error:
        return {}, f"The adapters in {ADAPTERS_ENV} are not used: {error}"


INFO = _model_info()
ADAPTERS, ADAPTER_ERROR = _adapters()
LIVE = _live_streaming()
_preload_matplotlib()
_loaded: dict = {}
_load_lock = threading.RLock()  # a loader asks for what it stands on


def _load(what: str):
    """What a song needs, loaded once on first use, the way ``songgen generate`` wires a song: ``"prepared"`` (the
    ``pipeline()`` arguments ``prepare_pipeline`` returns once every check that needs no weights passed: the folder,
    its files, the adapters), ``"processor"`` (among them, read from the model's files before any weights),
    ``"pipeline"`` (the weights at the precision every front door chooses, the adapters, the
    told singer) and its ``"model"``; ``gr.Error`` when unavailable."""
    if INFO.error:
        raise gr.Error(INFO.error, print_exception=False)
    with _load_lock:
        if what not in _loaded:
            try:
                _loaded[what] = _LOADERS[what]()
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001 - reported in the UI
                raise gr.Error(f"Could not load the {what} from {INFO.path!r}: {error}") from error
    return _loaded[what]


def _prepared():
    import torch

    from songgen_hf.pipelines import prepare_pipeline

    # a GPU when there is one; else the CPU, at the folder's recommended precision there (the embedded default's
    # reduced-precision token heads), so a seed makes the same song here as with songgen generate
    device = "cuda" if torch.cuda.is_available() else None
    return prepare_pipeline(INFO.path, device=device, **({"adapters": ADAPTERS} if ADAPTERS else {}))


def _pipeline():
    from transformers import pipeline

    pipe = pipeline(**_load("prepared"))  # around the processor the songs were prepared with
    pipe.set_progress_bar_config(disable=True)  # the status line is a call's progress; the log stays free of bars
    return pipe


_LOADERS = {
    "prepared": _prepared,
    "processor": lambda: _load("prepared")["processor"],
    "pipeline": _pipeline,
    "model": lambda: _load("pipeline").model,
}


def load_model():
    """The (model, processor) pair, loaded once on first use; ``gr.Error`` when unavailable."""
    return _load("model"), _load("processor")


# ---------------------------------------------------------------------------- input checks
def _plain(number: float) -> str:
    """12, 0.5, 4294967295: bounds as people write them (``:g`` would print 4.29497e+09)."""
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else f"{number:g}"


def check_control(value, name: str, low: float, high: float, whole: bool = False, hint: str = "") -> float:
    """A control's ``value`` (Gradio sends numbers as floats, whole ones too) as a float when it is a finite number
    in [low, high] (and whole if asked); else ValueError in the page's words."""
    shown = f"{_plain(low)} to {_plain(high)}"
    fix = f"; {hint}" if hint else ""
    if not is_number(value):
        raise ValueError(f"{name} must be a number from {shown}{fix}; got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be from {shown}{fix}; got {value:g}.")
    if whole and not value.is_integer():
        raise ValueError(f"{name} must be a whole number from {shown}{fix}; got {value:g}.")
    return value


def _check_text(value, name: str, check_length) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"The {name} must be text; got {type(value).__name__}.")
    check_length([value])  # the processor's own character cap and message
    return value


def _check_voice(reference_voice) -> str | None:
    if reference_voice is None or reference_voice == "":
        return None
    if not INFO.has_voice:
        raise ValueError("This model has no voice encoder, so it cannot use a reference voice; remove it.")
    path = str(reference_voice)
    try:
        import soundfile

        seconds = soundfile.info(path).duration  # the header only: nothing is decoded yet
    except Exception as error:  # noqa: BLE001 - any unreadable upload is the user's file
        raise ValueError(f"Could not read the reference voice ({error}); upload a WAV, FLAC or OGG file.") from None
    if seconds > MAX_REFERENCE_VOICE_SECONDS:
        raise ValueError(
            f"The reference voice is {seconds:.0f} s long; the limit is {MAX_REFERENCE_VOICE_SECONDS:.0f} s. "
            "Upload a short clip of singing (a few seconds is enough)."
        )
    return path


def check_inputs(
    description,
    lyrics,
    guidance_scale,
    temperature,
    top_k,
    seed,
    duration_s,
    reference_voice=None,
    style=None,
    repeat_whole_sections=True,
) -> dict:
    """Every input checked and normalised before any work; ``ValueError`` naming the input and the fix."""
    description = _check_text(description, "description", check_description_chars)
    if not description.strip():
        raise ValueError("Describe the song first (genre, mood, instruments, voice).")
    lyrics = _check_text(lyrics, "lyrics", check_lyrics_chars)
    if seed is None:
        seed = -1  # an emptied seed box means "random", as -1 does
    seed = int(check_control(seed, "Seed", -1, MAX_SEED, whole=True, hint="-1 picks a random seed"))
    return {
        "description": description,
        "lyrics": lyrics,
        "guidance_scale": check_control(guidance_scale, "Guidance scale", *GUIDANCE_RANGE, hint="1 turns it off"),
        "temperature": check_control(temperature, "Temperature", *TEMPERATURE_RANGE, hint="0 is greedy"),
        "top_k": int(check_control(top_k, "Top-k", *TOP_K_RANGE, whole=True, hint="0 turns it off")),
        "seed": random.randrange(2**31) if seed < 0 else seed,
        "duration_s": check_control(
            duration_s,
            "Duration",
            INFO.min_seconds,
            INFO.max_seconds,
            hint=f"{INFO.max_seconds:g} s is the longest song this Space makes",
        ),
        "reference_voice": _check_voice(reference_voice),
        "style": _check_style(style),
        "repeat_whole_sections": _check_switch(repeat_whole_sections, "Choruses return whole"),
    }


def _check_switch(value, label: str) -> bool:
    """A checkbox's value (``None``: an API call that left it out, its default: on)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    raise ValueError(f"{label} is a checkbox: send true or false, got {str(value)[:40]!r}.")


def _check_style(style) -> str | None:
    """The adapter a song asks for (``None``: the model alone), one the Space was started with."""
    if style is None or style == "" or style == BASE_STYLE:
        return None
    if isinstance(style, str) and style in ADAPTERS:
        return style
    offered = ", ".join([BASE_STYLE, *ADAPTERS]) if ADAPTERS else f"{BASE_STYLE} (no adapters were loaded)"
    raise ValueError(f"Style {str(style)[:80]!r} is not one this Space offers: {offered}.")


class _CheckedSlider(gr.Slider):
    """A slider whose decoded value goes through :func:`check_number` with the setting's name."""

    is_template = True  # rendered by the front end as a plain Slider

    def preprocess(self, payload):
        name = self.label.split(" (")[0]
        try:
            check_control(payload, name, self.minimum, self.maximum, whole=float(self.step).is_integer())
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return super().preprocess(payload)


class _SeedBox(gr.Number):
    """The seed box: NaN, fractions and out-of-range seeds get a named message, not a crash in decoding."""

    is_template = True

    def preprocess(self, payload):
        try:
            check_control(
                -1 if payload is None else payload, "Seed", -1, MAX_SEED, whole=True, hint="-1 picks a random seed"
            )
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return super().preprocess(payload)


class _VoiceUpload(gr.Audio):
    """The reference voice input: an upload that the checks refuse is deleted at once, not kept for the rest of
    the cache's lifetime (Gradio hands the app the uploaded file itself, or its copy where the app's cache is
    another folder)."""

    is_template = True

    def preprocess(self, payload):
        path = super().preprocess(payload)
        try:
            _check_voice(path)
        except ValueError as error:
            if path:  # a file in Gradio's cache that nobody can use
                try:
                    os.remove(path)
                except OSError:
                    pass
            raise gr.Error(str(error), print_exception=False) from None
        return path


# ---------------------------------------------------------------------------- what was understood
def understood_markdown(processor, description: str, lyrics: str, duration_s: float | None = None) -> str:
    """What the processor reads from the inputs (tempo, key, lyrics; for a song of ``duration_s`` longer than the
    model's window, the plan of its sections and windows), as Markdown; ValueError for a refused reading."""
    interpret = getattr(processor, "interpret", None)
    if interpret is None:  # an older songgen_hf: nothing to report rather than a guess
        return ""
    planned = {} if duration_s is None else {"duration_s": duration_s}
    return reading_markdown(interpret(description, lyrics=lyrics, **planned))


def reading_markdown(reading: dict | None) -> str:
    """What the processor read from a song (``SongGenProcessor.interpret``'s reading, a prepared song's
    ``understood``), as Markdown."""
    if reading is None:
        return ""
    parts = []
    for field, label, unit in (("tempo_bpm", "tempo", " BPM"), ("key", "key", "")):
        value, source = reading.get(field), reading.get(f"{label}_source")
        if value is None:
            parts.append(f"{label} not stated (the model picks one)")
        else:
            shown = _plain(value) if isinstance(value, Real) else str(value)
            parts.append(f"{label} {shown}{unit}" + (f" (from the {source})" if source else ""))
    for part in ("vocals", "drums"):
        if reading.get(part) is not None:
            parts.append(f"{'with' if reading[part] else 'without'} {part}")
    parts.append("instrumental (no lyrics)" if reading.get("instrumental") else "sung lyrics")
    text = "**Understood:** " + ", ".join(parts) + "."
    if not reading.get("musical_controls"):
        text += " This model has no tempo/key controls: it hears them only as words of the description."
    sung, sections = reading.get("lyrics"), reading.get("sections")
    if isinstance(sung, str) and sung and isinstance(sections, list) and any(s.get("section") for s in sections):
        text += (
            "\n\n**Lyrics as the model reads them** (section tags are structure, never sung; lower case, accents "
            "and numbers spelled out):\n\n" + _sections_markdown(sections)
        )
    elif isinstance(sung, str) and sung:
        shown = sung if len(sung) <= 600 else sung[:600] + "…"
        text += (
            "\n\n**Lyrics as the model reads them** (lower case, accents and numbers spelled out):\n\n> "
            + "  \n> ".join(_escape(line) for line in shown.splitlines())
        )
    plan = reading.get("plan")
    if plan:  # the CLI's text: the song is made window after window, each singing its own lines
        from songgen_hf.modeling.songgen.song_plan_songgen import format_plan

        text += "\n\n**Plan of the song** (each window sings the lines shown):\n\n```\n" + format_plan(plan) + "\n```"
    return text


def _escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text)


def _sections_markdown(sections: list, limit: int = 600) -> str:
    """The song's sections as a quote: each section's tag in bold brackets, then its sung lines; cut at ``limit``
    characters of lyrics."""
    rows, left = [], limit
    for section in sections:
        if section.get("section"):
            label = section.get("label") or section["section"]
            rows.append(f"**\\[{_escape(label)}\\]**" + ("" if section.get("lines") else " (nothing sung)"))
        for line in section.get("lines", []):
            if left <= 0:
                return "> " + "  \n> ".join(rows + ["…"])
            rows.append(_escape(line if len(line) <= left else line[:left] + "…"))
            left -= len(line)
    return "> " + "  \n> ".join(rows)


# ---------------------------------------------------------------------------- handler
def to_int16(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] → int16 ourselves: Gradio would peak-normalise every float chunk on its own."""
    return np.rint(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def _generate_kwargs(
    guidance_scale: float, temperature: float, top_k: int, duration_s: float, repeat_whole_sections: bool = True
) -> dict:
    kwargs = {"duration_s": duration_s}
    if not repeat_whole_sections:  # the default plays a repeated section whole; only the other way is passed
        kwargs["repeat_whole_sections"] = False
    if guidance_scale > 1.0:
        kwargs["guidance_scale"] = guidance_scale
    if temperature <= 0:
        kwargs["do_sample"] = False
    else:
        kwargs.update(do_sample=True, temperature=temperature, top_k=top_k)
    return kwargs


def generate_song(
    description,
    lyrics=None,
    guidance_scale=3.0,
    temperature=1.0,
    top_k=50,
    seed=0,
    duration_s=DEFAULT_SECONDS,
    repeat_whole_sections=True,
    reference_voice=None,
    style=None,
):
    """Yield ``(live chunk, full song, accompaniment, vocals, status, understood)`` updates.

    Audio values are ``(sampling_rate, int16 array)``; outputs that do not change are
    ``gr.skip()``.  What the description was understood as comes first, live chunks while the
    song is generated (when live playback is on), the full song and stems at the end.
    ``reference_voice`` is an input of the app only for models with a voice encoder, ``style`` (an adapter's name,
    or :data:`BASE_STYLE`) only when the Space was started with adapters.  ``repeat_whole_sections`` (the "Choruses
    return whole" box): a repeated section of a song longer than one window plays its first occurrence's music for
    its whole length; off, it opens with its first seconds only.
    """
    try:
        request = check_inputs(
            description,
            lyrics,
            guidance_scale,
            temperature,
            top_k,
            seed,
            duration_s,
            reference_voice,
            style,
            repeat_whole_sections,
        )
        from songgen_hf.pipelines.requests import prepare_song

        # the style weighted by the description gate, as the pipeline weights it: the tempo and singer follow it
        style, gates = _gated_style(request["style"], request["description"])
        processor = _load("processor")
        seconds = request["duration_s"]
        whole = request["repeat_whole_sections"]
        kwargs = _generate_kwargs(request["guidance_scale"], request["temperature"], request["top_k"], seconds, whole)
        # the song checked, read and processed once, for its length and seed: the stream and the pipeline take it
        # as it is, and check its generation arguments once against the loaded model
        song = prepare_song(
            processor,
            {name: request[name] for name in ("description", "lyrics", "reference_voice")},
            duration_s=seconds,
            seed=request["seed"],
            style_tempo_bpm=_style_tempo(style),
            **({} if whole else {"repeat_whole_sections": False}),
        )
        understood = reading_markdown(song.understood)
        if gates:  # what the description gate chose, said with what was understood
            from songgen_hf.pipelines.adapters import describe_choice
            from songgen_hf.pipelines.description_gate import describe_gates

            understood += f"\n\nStyle: {describe_choice(style)} (description gate: {describe_gates(gates)})"
    except ValueError as error:
        raise gr.Error(str(error), print_exception=False) from error
    from songgen_hf.pipelines.streaming import stream_song

    skip = gr.skip()
    seed = request["seed"]
    yield skip, skip, skip, skip, f"Loading the model… (seed {seed})", understood
    pipe = _load("pipeline")
    model = _load("model")
    if ADAPTERS:  # this song's style: the adapter's layers switched on (or all off), no weights loaded
        pipe.adapters.activate(style)
        kwargs["adapter"] = style  # the pipeline's own call (a sung song) switches them likewise
        kwargs["adapter_gate"] = False  # the gate was applied above
    dual = model.pattern.num_tracks > 1
    if pipe.singer is not None and request["lyrics"].strip():
        yield from _sung_song(pipe, song, kwargs, understood)
        return
    kwargs.pop("adapter", None)
    kwargs.pop("adapter_gate", None)

    pieces, accompaniment, vocals = [], [], []
    start, first = time.perf_counter(), None
    sampling_rate = INFO.sampling_rate
    try:
        for sampling_rate, chunk in stream_song(
            model,
            processor,
            song,
            return_stems=dual,
            progress=False,  # the status line is this call's progress; the server's log stays free of bars
            **kwargs,
        ):
            if first is None:
                first = time.perf_counter() - start
            mix = chunk["audio"] if dual else chunk
            pieces.append(mix)
            if dual:
                accompaniment.append(chunk["accompaniment"])
                vocals.append(chunk["vocals"])
            done = sum(p.shape[0] for p in pieces) / sampling_rate
            status = f"Generating… {done:.1f} s of {seconds:g} s (seed {seed})"
            live = (sampling_rate, to_int16(mix)) if LIVE else skip
            yield live, skip, skip, skip, status, skip
    except ValueError as error:  # bad input the checks cannot see (over-long lyrics in tokens, a silent voice)
        raise gr.Error(str(error), print_exception=False) from error
    if not pieces:
        raise gr.Error("The model ended the song before producing any audio; try another seed.", print_exception=False)
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
    # the reading again: an API client keeps only the last update of each output, so every output this call does
    # not set is None there (the live player's chunks have all been played)
    yield None, (sampling_rate, to_int16(song)), *(stems if dual else (None, None)), status, understood


def _gated_style(style: str | None, description: str):
    """``(the adapter choice a song of ``description`` is made with, its gates)``: the chosen adapter weighted by its
    description gate (:func:`~songgen_hf.pipelines.description_gate.gated_choice`, the pipeline's one answer)."""
    if style is None or not ADAPTERS:
        return style, {}
    from songgen_hf.pipelines.description_gate import gated_choice

    return gated_choice(ADAPTERS, style, description)


def _style_tempo(style: str | None) -> float | None:
    """The tempo a song of ``style`` is made at when its request names none (the adapter's recorded tempo; for a
    Space started on an adapter folder, that folder's): the one answer the pipeline gives, so the streamed song and
    the sung one are the pipeline's for the seed, and the reading shown says the tempo they are made at."""
    from songgen_hf.pipelines.adapters import adapter_style_tempo, choice_style_tempo
    from songgen_hf.pipelines.loading import is_adapter_folder

    if ADAPTERS:
        return choice_style_tempo(ADAPTERS, style)
    return adapter_style_tempo(INFO.path) if INFO.path and is_adapter_folder(INFO.path) else None


def _sung_song(pipe, song, kwargs: dict, understood):
    """A sung request to a model with a told singer: the pipeline's song (the singer re-sings the vocal track once
    the decoder has written the whole song, so there is no live playback), the one ``songgen generate`` makes with
    the same seed."""
    skip, seed, seconds = gr.skip(), song.seed, kwargs["duration_s"]
    yield (
        skip,
        skip,
        skip,
        skip,
        (
            f"Generating {seconds:g} s (seed {seed}); the told singer sings the lyrics once "
            "the song is written, so it appears when finished."
        ),
        skip,
    )
    start = time.perf_counter()
    stages: queue.Queue = queue.Queue()
    outcome: dict = {}

    def run() -> None:  # the song in a thread, its stages (the decoder's and the singer's windows) to the status
        from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress

        class Stages(GenerationProgress):
            def stage(self, name, index=1, total=1):
                super().stage(name, index, total)
                stages.put(self.stages[-1])

        try:
            outcome["song"] = pipe(song, streamer=Stages(disable=True, keep_open=True), **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the request below
            outcome["error"] = error
        stages.put(None)

    worker = threading.Thread(target=run, name="songgen-sung-song", daemon=True)
    worker.start()
    while (stage := stages.get()) is not None:
        yield skip, skip, skip, skip, f"Generating {seconds:g} s (seed {seed}): {stage}…", skip
    worker.join()
    if isinstance(outcome.get("error"), ValueError):
        raise gr.Error(str(outcome["error"]), print_exception=False) from outcome["error"]
    if "error" in outcome:
        raise outcome["error"]
    song = outcome["song"]
    rate = song["sampling_rate"]
    status = (
        f"Done: {song['audio'].shape[-1] / rate:.1f} s of audio in {time.perf_counter() - start:.1f} s (seed "
        f"{seed}; sung by the told singer)."
    )
    yield None, *((rate, to_int16(song[name][0])) for name in ("audio", "accompaniment", "vocals")), status, understood


# ---------------------------------------------------------------------------- server limits
class UploadGuard:
    """ASGI middleware in front of Gradio's upload route (``POST .../upload``), which takes any file from anyone.

    ``max_bytes`` 0 refuses every upload (the page has no file input); otherwise a request must declare its
    length and stay within ``max_bytes`` (plus a form's overhead).  The budgets are charged by the bytes that
    arrive, as they arrive, never by what a header declares: all clients together may send ``budget_bytes`` and
    one client ``client_budget_bytes`` in the last ``window_s`` seconds, the longest a file stays in the swept
    cache.  A request that runs over a budget is cut where it stands and answered 429.  Gradio's
    ``max_file_size`` still cuts a file that sends more than it declared.  Refusals are one line of text with a
    4xx status, as Gradio's own are.
    """

    def __init__(self, app, max_bytes: int, budget_bytes: int, window_s: float, client_budget_bytes: int | None = None):
        self.app, self.max_bytes, self.budget_bytes, self.window_s = app, max_bytes, budget_bytes, window_s
        self.client_budget_bytes = budget_bytes if client_budget_bytes is None else client_budget_bytes
        self._arrived: deque[tuple[float, str, int]] = deque()  # (when, client, bytes) of upload bodies received
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload")
        ):
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        refusal = self.refusal(dict(scope["headers"]).get(b"content-length")) or self.charge(client, 0)
        if refusal is not None:
            await self._refuse(send, *refusal)
            return
        cut: list[tuple[int, str]] = []
        started = []

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request" and not cut:
                over = self.charge(client, len(message.get("body", b"")))
                if over is not None:
                    cut.append(over)
                    return {"type": "http.disconnect"}  # the app stops reading; the rest is never stored
            return message

        async def guarded_send(message):
            if cut:
                return  # the app's answer to a request cut short: ours goes instead
            started.append(True)
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not cut:
                raise
        if cut and not started:
            await self._refuse(send, *cut[0])

    @staticmethod
    async def _refuse(send, status: int, message: str) -> None:
        body = message.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def refusal(self, declared: bytes | None) -> tuple[int, str] | None:
        """(HTTP status, message) refusing an upload that declares ``declared`` bytes, or None to let it start.
        The declared size is never charged to a budget: only the bytes that arrive are."""
        if self.max_bytes <= 0:
            return 403, "This Space takes no uploads: its model has no voice encoder."
        try:
            size = int(declared)
        except (TypeError, ValueError):
            return 411, "An upload must declare its size (a Content-Length header)."
        if size < 0 or size > self.max_bytes + MULTIPART_OVERHEAD_BYTES:
            return 413, (
                f"The upload is {size / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:g} MB per file "
                "(a few seconds of singing is enough for a reference voice)."
            )
        return None

    def charge(self, client: str, size: int) -> tuple[int, str] | None:
        """Charge ``size`` bytes that arrived from ``client``; (429, message) when that would run over the Space's
        or the client's budget (then nothing is charged), else None.  ``size`` 0 asks whether a budget is full."""
        with self._lock:
            now = time.monotonic()
            while self._arrived and now - self._arrived[0][0] > self.window_s:
                self._arrived.popleft()
            held = sum(size for _, _, size in self._arrived)
            mine = sum(size for _, who, size in self._arrived if who == client)
            if mine + size > self.client_budget_bytes or (size == 0 and mine >= self.client_budget_bytes):
                return 429, (
                    f"You have uploaded {mine / 1e6:.0f} MB in the last {self.window_s / 60:g} minutes, the limit "
                    "for one client; try again in a few minutes."
                )
            if held + size > self.budget_bytes or (size == 0 and held >= self.budget_bytes):
                return 429, (
                    f"The Space has taken {held / 1e6:.0f} MB of uploads in the last "
                    f"{self.window_s / 60:g} minutes, its limit; try again in a few minutes."
                )
            if size:
                self._arrived.append((now, client, size))
        return None


class _Blocks(gr.Blocks):
    """Blocks whose events answer a call with the wrong number of values with a message (Gradio hides its own
    too-few message unless every error is shown, and ignores extra values)."""

    def validate_inputs(self, block_fn, inputs):
        wanted = len(block_fn.inputs)
        if len(inputs) != wanted:
            names = ", ".join(list(inspect.signature(block_fn.fn).parameters)[:wanted])
            endpoint = f"/{block_fn.api_name}" if getattr(block_fn, "api_name", None) else "This event"
            raise gr.Error(
                f"{endpoint} takes {wanted} values in this order: {names}; got {len(inputs)}.", print_exception=False
            )
        super().validate_inputs(block_fn, inputs)


def launch(**kwargs):
    """``demo.launch`` with the server's limits (keyword arguments go to ``launch`` as well).

    The per-client upload budget is keyed on the address that connected, never on a header a client can write:
    uvicorn (under Gradio) takes the client's address from ``X-Forwarded-For`` when the connection comes from a
    proxy it trusts, 127.0.0.1 by default, so behind a local proxy every client could name its own.  Unless the
    Space is told which proxies to trust (uvicorn's own ``FORWARDED_ALLOW_IPS``, e.g. ``127.0.0.1`` behind a
    local nginx that overwrites the header), it trusts none."""
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")  # read by uvicorn when Gradio builds its server
    max_bytes = MAX_UPLOAD_MB * 10**6 if INFO.has_voice else 0
    guard = Middleware(
        UploadGuard,
        max_bytes=max_bytes,
        budget_bytes=UPLOAD_BUDGET_MB * 10**6,
        client_budget_bytes=CLIENT_UPLOAD_BUDGET_MB * 10**6,
        window_s=CACHE_MAX_AGE_S + CACHE_SWEEP_S,
    )
    return demo.launch(max_file_size=max_bytes, app_kwargs={"middleware": [guard]}, **kwargs)


# ---------------------------------------------------------------------------- UI
def headline() -> str:
    """What the page says about playback: true for this model and this server."""
    if not LIVE:
        playback = "the song appears when it is finished."
    elif INFO.sung:
        playback = (
            "an instrumental plays while it is being generated; a sung song appears when it is finished, "
            "since this model's told singer sings the vocals once the music is written."
        )
    else:
        playback = "the song plays while it is being generated."
    return f"Describe the music and write the lyrics; {playback} Mono, one song at a time."


def _notice() -> str:
    if INFO.error:
        return f"⚠️ {INFO.error}"
    notes = [f"⚠️ {ADAPTER_ERROR}"] if ADAPTER_ERROR else []
    if not LIVE:
        notes.append("Live playback is off (it needs ffmpeg); the song appears when it is finished.")
    return "\n\n".join(notes)


def adapters_summary() -> str:
    """The adapters this Space was started with, by name and folder name, and how a song picks one."""
    if not ADAPTERS:
        return ""
    listed = ", ".join(f"**{name}** (`{_adapter_id(folder)}`)" for name, folder in ADAPTERS.items())
    return f"**Styles (LoRA adapters):** {listed}. Pick one under Style, or {BASE_STYLE}."


def _adapter_id(folder: str) -> str:
    """An adapter folder as a reader names it: its run's name for a finetune-lora ``final``, else its own."""
    path = os.path.normpath(folder)
    head, tail = os.path.split(path)
    return f"{os.path.basename(head)}/{tail}" if tail == "final" and head else tail


def model_summary() -> str:
    """The loaded model in two lines: name, size, longest song, conditioning; what it was trained on."""
    if INFO.error:
        return ""
    from songgen_hf.model_figures import format_count

    size = f"{format_count(INFO.parameters)} parameters" if INFO.parameters else "size unknown"
    if INFO.size_mb:
        size += f" ({INFO.size_mb:.1f} MB of weights{', its told singer’s included' if INFO.sung else ''})"
    voice = "takes a reference voice" if INFO.has_voice else "no reference voice"
    stems = ", returns accompaniment and vocal stems" if INFO.dual_track else ""
    # the card's own words, in full under "About this model": a sentence taken out of them can mislead
    training = (
        "described by its model card under “About this model”"
        if INFO.training_data
        else "not stated (the model folder has no model card with a “Training data” section)"
    )
    summary = (
        f"**Model:** {INFO.name} · {size} · songs up to {INFO.max_seconds:g} s "
        f"(in windows of {INFO.window_seconds:g} s) · "
        f"{INFO.sampling_rate / 1000:g} kHz mono · {voice}{stems}\n\n**Training data:** {training}"
    )
    return summary + (f"\n\n{adapters_summary()}" if ADAPTERS else "")


def _duration_info() -> str:
    """The duration slider's note: how far it goes and why, and what happens past the model's window."""
    limit = f"At most {INFO.max_seconds:g} s"
    if INFO.cpu_capped:
        limit += " on this CPU Space (the library makes up to 10 minutes: songgen generate --duration)"
    return (
        f"{limit}. Past {INFO.window_seconds:g} s (the model's window) the song is made window after window, "
        "each continuing the one before."
    )


def _model_id() -> str:
    """How a reader names the model (the embedded model's name, a Hub id, a folder's own name), never the server's
    folder."""
    from songgen_hf.pipelines.loading import embedded_model_name

    if INFO.path and os.path.isdir(INFO.path):
        return embedded_model_name(INFO.path) or os.path.basename(os.path.normpath(INFO.path))
    return str(INFO.path)


def _model_details() -> str:
    sections = [f"**{INFO.name}** (`{_model_id()}`)"]
    sections += [
        f"### {title}\n\n{body}"
        for title, body in (("Limitations", INFO.limitations), ("Training data", INFO.training_data))
        if body
    ]
    return "\n\n".join(sections)


def _song_in_style(
    description, lyrics, guidance_scale, temperature, top_k, seed, duration_s, repeat_whole_sections, style
):
    """:func:`generate_song` for a model without a voice input: the Style is the last input."""
    yield from generate_song(
        description, lyrics, guidance_scale, temperature, top_k, seed, duration_s, repeat_whole_sections, None, style
    )


with _Blocks(title="SongGen: text to song", delete_cache=(CACHE_SWEEP_S, CACHE_MAX_AGE_S)) as demo:
    gr.Markdown("# SongGen: text to song\n" + headline())
    notice = gr.Markdown(_notice(), visible=bool(_notice()))
    about = gr.Markdown(model_summary(), visible=not INFO.error)
    with gr.Accordion("About this model", open=False, visible=not INFO.error):
        gr.Markdown(_model_details())
    with gr.Row():
        with gr.Column():
            description = gr.Textbox(
                label="Description",
                lines=3,
                placeholder="genre, mood, tempo, key, instruments, voice",
                info=f"Up to {MAX_DESCRIPTION_CHARS:,} characters.",
            )
            lyrics = gr.Textbox(
                label="Lyrics",
                lines=8,
                placeholder="[verse]\nfirst line\nsecond line\n[chorus]\n…",
                info=f"Up to {MAX_LYRICS_CHARS:,} characters"
                + (f" and {INFO.lyrics_tokens} lyric tokens" if INFO.lyrics_tokens else "")
                + "; leave empty for an instrumental.",
            )
            # an input only for models that use it: a hidden input would still be a required API parameter
            reference_voice = _VoiceUpload(
                label=f"Reference voice (optional, at least 3 s of singing, at most {MAX_REFERENCE_VOICE_SECONDS:g} s "
                f"and {MAX_UPLOAD_MB} MB)",
                sources=["upload", "microphone"],
                type="filepath",
                visible=INFO.has_voice,
            )
            # an input only when there are adapters to choose from, like the reference voice
            style = gr.Dropdown(
                [BASE_STYLE, *ADAPTERS],
                value=BASE_STYLE,
                label="Style",
                info="A LoRA adapter this Space was started with, or the model alone.",
                visible=bool(ADAPTERS),
            )
            with gr.Accordion("Settings", open=False):
                duration = _CheckedSlider(
                    INFO.min_seconds,
                    INFO.max_seconds,
                    value=min(DEFAULT_SECONDS, INFO.max_seconds),
                    step=INFO.seconds_step,
                    label="Duration (s)",
                    info=_duration_info(),
                )
                guidance = _CheckedSlider(*GUIDANCE_RANGE, value=3.0, step=0.5, label="Guidance scale (1 = off)")
                temperature = _CheckedSlider(*TEMPERATURE_RANGE, value=1.0, step=0.05, label="Temperature (0 = greedy)")
                top_k = _CheckedSlider(*TOP_K_RANGE, value=50, step=1, label="Top-k (0 = off)")
                seed = _SeedBox(value=0, precision=0, label=f"Seed (-1 = random, up to {MAX_SEED})")
                whole_returns = gr.Checkbox(
                    value=True,
                    label="Choruses return whole",
                    info=f"Past {INFO.window_seconds:g} s: a repeated section plays its first occurrence's music for "
                    "its whole length (new words over it where its lines differ); off, it opens with its first "
                    "seconds only and goes its own way.",
                )
            button = gr.Button("Generate", variant="primary")
        with gr.Column():
            live = gr.Audio(
                label="Live (instrumentals)" if INFO.sung else "Live",
                streaming=True,
                autoplay=True,
                interactive=False,
                visible=LIVE,
            )
            song = gr.Audio(label="Song", type="numpy", interactive=False)
            accompaniment = gr.Audio(label="Accompaniment", interactive=False, visible=INFO.dual_track)
            vocals = gr.Audio(label="Vocals", interactive=False, visible=INFO.dual_track)
            status = gr.Markdown()
            understood = gr.Markdown()
    gr.Examples(examples=EXAMPLES, inputs=[description, lyrics], cache_examples=False)
    button.click(
        generate_song if INFO.has_voice or not ADAPTERS else _song_in_style,
        inputs=[description, lyrics, guidance, temperature, top_k, seed, duration, whole_returns]
        + ([reference_voice] if INFO.has_voice else [])
        + ([style] if ADAPTERS else []),
        outputs=[live, song, accompaniment, vocals, status, understood],
        api_name="generate",
        show_progress="minimal",
    )

demo.queue(max_size=20, default_concurrency_limit=1)

if __name__ == "__main__":
    launch()
