"""``pipeline("text-to-song")``: descriptions and lyrics in, songs out.

Usage (the task is registered when ``songgen_hf`` is imported)::

    from transformers import pipeline
    import songgen_hf  # registers "text-to-song"

    pipe = pipeline("text-to-song", model="path/to/songgen")  # no model: the embedded default
    song = pipe({"description": "an upbeat pop song with a female voice",
                 "lyrics": "hold me close tonight\nthe stars are shining bright"},
                duration_s=20, guidance_scale=3.0, seed=0)
    song["audio"]          # float32 (channels, samples), cut to the song's own length
    song["sampling_rate"]  # 16000
    song["vocals"], song["accompaniment"]  # dual-track models only

The built-in ``"text-to-audio"`` task also serves SongGen folders (description only, audio not
trimmed); this task adds lyrics, a reference voice, per-song trimming, the stems of dual-track
models and input checks that say what is wrong.

**Default model.**  ``pipeline()`` resolves a task without ``model`` through the registry entry's
``default["model"]``, which it treats as a ``(repo id or folder, revision)`` pair.  The entry
registered here looks the folder up when it is read (:class:`_EmbeddedDefaultModel`), through
``songgen_hf.pipelines.loading.default_model_path()``: the embedded folder loads offline like any local
path, and while it is not shipped the same ``ValueError`` as everywhere else explains it.

**Front doors.**  Registering the task is all that importing the package does to transformers (its public
``PIPELINE_REGISTRY.register_pipeline``); nothing of ``transformers.pipelines`` is replaced.  Plain
``pipeline("text-to-song", model=FOLDER)`` therefore reads a folder as transformers does.
:func:`load_text_to_song_pipeline` (also ``songgen_hf.load_text_to_song_pipeline``) is the checked front door:
it accepts every kind of source (a folder, an embedded model's name such as ``"songgen-tiny"``, a Hub id, an
official SongGen checkpoint, a LoRA adapter, a saved ResGen pipeline), checks the files and arguments before
any weights load and says what is wrong in one line.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForTextToWaveform, BatchFeature, GenerationConfig, Pipeline

from songgen_hf.modeling.limits import (
    check_batch_size,
    check_pipeline_options,
    check_seed,
    is_int,
)
from songgen_hf.modeling.songgen.arguments_songgen import CHECKED_ARGUMENTS
from songgen_hf.modeling.songgen.long_song_songgen import WINDOW_DESCRIPTION_KEYS
from songgen_hf.pipelines import loading
from songgen_hf.pipelines.loading import (
    AUTO,
    check_songgen_folder,
    resolve_singer,
)
from songgen_hf.pipelines.requests import SongRequest, call_seed, call_songs, prepare_song
from songgen_hf.utils.threads import apply_thread_policy

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------
# the pipeline that sings a prepared song (pipelines/requests.py)


_DEFAULT_STYLE = object()  # song_style_tempo's adapter left out: the pipeline's own style
_CALL_VOICE = "_call_voice_style"  # how a call hands its songs' voice style down to preprocess (never stored)


def song_score(processor, song: SongRequest, duration_s: float, seed: int, voice_style=None):
    """The vocal score of one prepared song (None when nothing is to be sung), from what the processor understood;
    ``voice_style``: the learnt voices of the singer adapters it is sung with (the pipeline's ``song_voice_style``)."""
    from songgen_hf.modeling.songgen.vocal_score_songgen import request_score

    return request_score(
        processor,
        song.description,
        song.lyrics,
        duration_s,
        seed,
        song.tempo_bpm,
        song.key,
        understood=song.understood,
        voice_style=voice_style,
    )


TASK = "text-to-song"
STEM_NAMES = ("vocals", "accompaniment")
# generate() arguments of SongGen that are not GenerationConfig fields.
SONGGEN_GENERATE_KWARGS = frozenset(
    {
        "duration_s",
        "min_duration_s",
        "window_s",
        "context_s",
        "anchor_s",
        "repeat_sections",
        "repeat_whole_sections",
        "window_starts_on_bars",
        "guidance_conditions",
        "guidance_top_k",
        "control_guidance_scale",
        "codebook_temperatures",
        "silence_instrumental_vocals",
        "audio_prompt",
        "audio_prompt_padding_mask",
        "audio_prompt_codes",
        "audio_prompt_frame_lengths",
        "streamer",
        "generation_config",
        "logits_processor",
        "stopping_criteria",
    }
)
PREPROCESS_KWARGS = frozenset({"max_lyrics_length", "truncation"})

_LOADING_KWARGS = ("local_files_only", "cache_dir", "force_download")
_GENERATION_CONFIG_KEYS = frozenset(key for key in vars(GenerationConfig()) if not key.startswith("_"))


class TextToSongPipeline(Pipeline):
    r"""Generates songs with a SongGen model (``SongGenForConditionalGeneration``).

    Inputs (``pipe(inputs, **kwargs)``):

    * a string: the description of an instrumental song (no lyrics);
    * a dict with ``"description"`` (required), ``"lyrics"`` (lines separated by ``"\n"``),
      ``"reference_voice"`` (an audio file path or an ``(array, sampling_rate)`` pair; models with
      a voice encoder only), ``"voice_start"`` (seconds into the reference where the clip
      starts) and, for models with musical controls, ``"tempo_bpm"`` / ``"key"`` (e.g. ``"A minor"``)
      to override what the description says;
    * a :class:`~songgen_hf.pipelines.requests.SongRequest` (:func:`~songgen_hf.pipelines.prepare_song`): a song
      processed already (by this pipeline's processor: another one prepares it anew), made from the seed it carries;
    * a list of those: one song each, returned as a list.  ``batch_size=N`` generates N songs per
      ``generate`` call.

    Keyword arguments (at call time, or at construction as defaults for every call):

    * ``duration_s``: the song's length in seconds; ``min_duration_s`` (0 up to ``duration_s``) lets it end
      earlier when the model ends it (without it the song is exactly ``duration_s`` long);
    * ``guidance_scale``, ``temperature``, ``top_k``, ``top_p``, ``do_sample``,
      ``max_new_tokens`` and any other ``GenerationConfig`` field; ``guidance_conditions``,
      ``guidance_top_k``, ``control_guidance_scale``, ``codebook_temperatures`` (e.g. ``{"vocals": [0.6, 0.6,
      0.6]}``: a track's first codebooks sampled at their own temperatures), ``silence_instrumental_vocals``,
      ``streamer`` (e.g. a
      :class:`~songgen_hf.pipelines.GenerationProgress`) and anything else in ``generate_kwargs={...}``
      go to ``model.generate``;
    * ``seed``: calls ``torch.manual_seed(seed)`` once at the start of the call, so the same call
      with the same seed gives the same songs (items of a list still differ from one another,
      as they draw successive random numbers).  It seeds torch's global generator;
    * ``max_lyrics_length`` / ``truncation``: lyric length limit and cutting (see the processor).

    ``adapter``: the style of the songs, with LoRA adapters loaded at construction (``adapters={"mine": DIR, ...}``,
    see :mod:`songgen_hf.pipelines.adapters`): a loaded adapter's name, a blend ``{"mine": 0.7, "lofi": 0.3}``, or
    ``None`` (the base alone; the default unless the pipeline was built with ``adapter=``).  Switching reloads
    nothing.  ``adapter_gate`` (default True): each adapter that records a description gate
    (:mod:`songgen_hf.pipelines.description_gate`) applies to a song at its weight times the gate of the song's
    description (0: the base's song, 1: the adapter's), and the song's output says so (``"adapter_gate"``: each
    adapter's gate); songs of one call whose gates differ are made in calls of their own, in order.
    ``adapter_gate=False``: every song at the weight asked (a dataset or generator input needs it with a gated
    adapter: its songs are not known before they are generated).

    At construction only, ``singer``: ``"auto"`` (default; the model folder's ``singer/``, if any), ``None``, a
    ``songgen train-singer`` folder or a ``SongGenSinger``: it re-sings each sung request's vocal track from a score
    composed for the request (``pipelines/loading.py``; the score's draws come from ``seed``).

    Each song is a dict: ``"audio"`` (float32 numpy ``(channels, samples)``, cut to the song's
    length), ``"sampling_rate"``, ``"understood"`` (what the processor read from the song: tempo,
    key and where each came from, the lyrics; see ``SongGenProcessor.interpret``) and, for
    dual-track models, ``"vocals"`` and ``"accompaniment"`` (same shape as ``"audio"``, which is
    their mix).

    Every argument is checked before any song is prepared or generated (and, through
    :func:`load_text_to_song_pipeline`, before the weights load); see ``songgen_hf.modeling.limits`` and
    ``songgen_hf.modeling.songgen.arguments_songgen`` for the ranges.
    """

    _pipeline_calls_generate = True
    # Soft: a model object without a processor falls back to its own folder in __init__, with
    # that error (if any) shown instead of pipeline()'s generic one.
    _load_processor = None
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(
        self,
        *args,
        seed: int | None = None,
        singer: Any = AUTO,
        adapters: Any = None,
        **kwargs,
    ):
        self._seed = check_pipeline_options(seed, kwargs.get("device"), kwargs.get("batch_size"))
        adapter = kwargs.pop("adapter", None)
        # pipeline() forwards its loading flags to the pipeline class too; they concern loading only.
        for key in _LOADING_KWARGS:
            kwargs.pop(key, None)
        model = kwargs.get("model", args[0] if args else None)
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if pipeline_class(model_type) is not TextToSongPipeline:
            raise ValueError(
                f"{type(model).__name__} is served by {pipeline_class(model_type).__name__}; build that, or "
                "pipeline('text-to-song', model=...), which chooses the pipeline of the model's family."
            )
        if not hasattr(model, "pattern") or model_type != "songgen":
            raise ValueError(
                f"The text-to-song pipeline needs a SongGen model, got {type(model).__name__} "
                f"(model_type {model_type!r}); use the text-to-audio task for other models."
            )
        defaults_ = _generation_arguments(kwargs)
        if defaults_:  # the defaults for every call, validated now; generate() validates them with each call's own
            model.generation_config.validate(model_config=model.config, arguments=defaults_)
        super().__init__(*args, **kwargs)
        if self.processor is None:
            self.processor = _processor_for(self.model)
            self.tokenizer = self.processor.tokenizer
            self.feature_extractor = self.processor.feature_extractor
        if getattr(self.processor, "model_max_lyrics_length", None) is None:
            # A processor built by hand does not know the model; the lyric limit comes from it.
            self.processor.model_max_lyrics_length = self.model.config.lyrics_encoder.max_position_embeddings
        if getattr(self.processor, "model_config", False) is None:  # likewise the window that plans long songs
            self.processor.model_config = self.model.config
        self.sampling_rate = int(self.model.config.sampling_rate)
        self.adapters = None  # the styles loaded onto the base (songgen_hf.pipelines.adapters)
        named = None
        if adapters is not None:
            from songgen_hf.pipelines.adapters import check_adapters

            named = check_adapters(adapters, getattr(self.model, "name_or_path", "") or None)  # files first
        self._adapter = self._checked_adapter(adapter, named)  # the default style, before any adapter weight loads
        _apply_recommended_int8(self.model, named)
        if named is not None:
            from songgen_hf.pipelines.adapters import AdapterSet

            self.adapters = AdapterSet(self.model, named)
        self.singer = resolve_singer(self.model, singer)  # the told singer that re-sings the vocal track, or None
        self._merged_voice = None  # a merged adapter's learnt voice, under every song's
        self._singer_styles = self._adapted_singers(singer, named)

    def _adapted_singers(self, singer: Any, named: dict | None):
        """The singer's share of the adapters (``ADAPTER/singer_adapter``,
        :mod:`songgen_hf.pipelines.singer_adapters`): a merged adapter's folded into the pipeline's singer now; loaded
        adapters' kept as the singers each style switches to (None when no adapter adapts the singer).  Only the
        base's own singer takes them: they were trained on it."""
        merged_from = _MERGED_ADAPTERS.get(self.model)
        if self.singer is None or (merged_from is None and named is None):
            return None
        if not (isinstance(singer, str) and singer == AUTO):
            logger.info("The pipeline sings with a singer of its own: the adapters' singer updates are left out.")
            return None
        from songgen_hf.pipelines.singer_adapters import SingerStyles, merged_singer, merged_voice

        if merged_from is not None:
            self.singer = merged_singer(self.singer, merged_from)
            self._merged_voice = merged_voice(merged_from)
        styles = SingerStyles(self.singer, named) if named else None
        return styles if styles else None

    def _checked_adapter(self, choice: Any, loaded: dict | None = None):
        if choice is None:  # the base alone: a song without adapters never imports them
            return None
        from songgen_hf.pipelines.adapters import check_adapter_choice

        if loaded is None and self.adapters is not None:
            loaded = self.adapters.folders
        return check_adapter_choice(choice, loaded)

    @property
    def has_stems(self) -> bool:
        """Whether songs come with ``"vocals"`` and ``"accompaniment"`` (dual-track patterns)."""
        return self.model.pattern.num_tracks > 1

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, **kwargs):
        """Generate one song per input; see the class docstring for inputs, options and outputs."""
        # The call's own options are checked before the first song is prepared, and every song is prepared (its
        # text, voice and plan checked by the processor) before the first is generated: a bad last item of a list
        # costs the generation of none.  The generation settings are generate()'s to validate, which uses them.
        seed = check_seed(kwargs.pop("seed")) if "seed" in kwargs else None
        adapter = self._checked_adapter(kwargs.pop("adapter")) if "adapter" in kwargs else self._adapter
        gate = True
        if "adapter_gate" in kwargs:  # checked when given; a call without adapters never imports the gate
            from songgen_hf.pipelines.description_gate import check_gate_option

            gate = check_gate_option(kwargs.pop("adapter_gate"))
        gates = {}
        songs = call_songs(inputs)
        if self.adapters is not None and adapter is not None:
            # each song's adapter weighted by how close its description is to the adapter's training songs'; songs
            # whose choices differ are made in calls of their own, each as it would be asked alone
            from songgen_hf.pipelines.description_gate import gate_groups, made_by_groups

            groups = gate_groups(self.adapters.folders, adapter, songs, gate)
            if len(groups) > 1:  # each group a call of its own, with the call's seed and options
                options = {**kwargs, "adapter_gate": False, **({} if seed is None else {"seed": seed})}
                return made_by_groups(lambda part, choice: self(part, **options, adapter=choice), songs, groups)
            adapter, gates = groups[0].choice, groups[0].gates  # the call's songs' choice, gated once here
        choice = adapter if self.adapters is not None else None  # what the style's records are read of
        if "batch_size" in kwargs:
            check_batch_size(kwargs["batch_size"])
        num_workers = kwargs.get("num_workers")
        if num_workers is not None and (not is_int(num_workers) or num_workers < 0):
            raise ValueError(f"num_workers must be a whole number >= 0 (data-loading workers), got {num_workers!r}.")
        arguments = self._call_arguments(kwargs)
        if songs is not None:
            # every song checked, read and processed now, once (the length it is planned for, by its sections, when
            # longer than one window): a bad last song costs no generation of the others
            options = {key: kwargs[key] for key in PREPROCESS_KWARGS if key in kwargs}
            plan = self._plan_settings(arguments)
            tempo = self._style_tempo_of(choice)
            songs = [prepare_song(self.processor, song, **options, **plan, style_tempo_bpm=tempo) for song in songs]
            seed = call_seed(seed, songs)
            if seed is None:
                seed = self._seed
            # each song says which seed it is made from (its vocal score's draws come from it), as a value of its own
            songs = [song if song.seed == seed else replace(song, seed=seed) for song in songs]
            understood = [song.understood for song in songs]
            batch_size = kwargs.get("batch_size") or self._batch_size or 1
            # Batched items must carry the same tensors; songs without a voice then get the processor's "no voice"
            # row (zeros, masked out) when another song has one.
            if batch_size > 1 and any(song.reference_voice is not None for song in songs):
                songs = [replace(song, fill_missing_voice=True) for song in songs]
            inputs = songs if isinstance(inputs, (list, tuple)) else songs[0]
        if seed is None:
            seed = self._seed
        if self.adapters is not None:  # the style of this call's songs: adapter layers switched, no weights loaded
            self.adapters.activate(adapter)
            self.singer = self._singer_of(choice)  # and its told singer
        if self.singer is not None:  # the register and voices its scores are planned in: the call's own, handed down
            kwargs[_CALL_VOICE] = self._voice_style_of(choice)
        if seed is not None:
            torch.manual_seed(seed)
        if songs is None:  # a dataset or a generator: its items are prepared by preprocess, from the call's seed
            kwargs["seed"] = seed
        progress = self._progress(kwargs, arguments, len(inputs) if isinstance(inputs, list) else 1)
        try:
            result = super().__call__(inputs, **kwargs)
        finally:
            if progress is not None:
                progress.close()
        if songs is not None:
            for reading, output in zip(understood, result if isinstance(inputs, list) else [result]):
                if reading is not None:
                    output["understood"] = reading
                if gates:  # what the description gate chose for the song
                    output["adapter_gate"] = dict(gates)
        return result

    def song_style_tempo(self, description: str, adapter: Any = _DEFAULT_STYLE, adapter_gate: bool = True):
        """The tempo (BPM) a song of ``description`` is made at when its request names none, or None: the recorded
        tempo (:func:`~songgen_hf.pipelines.adapters.choice_style_tempo`) of ``adapter`` (default: the pipeline's
        style) weighted by the description gate as a call weighs it, or a merged adapter folder's.  Asked by the
        pipeline's calls and by edits and extensions of its songs alike."""
        return self._style_tempo_of(self._song_choice(description, adapter, adapter_gate))

    def _style_tempo_of(self, choice) -> float | None:
        if self.adapters is not None:
            return None if choice is None else self.adapters.style_tempo(choice)
        merged_from = _MERGED_ADAPTERS.get(self.model)
        if merged_from is None:
            return None
        from songgen_hf.pipelines.adapters import adapter_style_tempo

        return adapter_style_tempo(merged_from)

    def song_voice_style(self, description: str, adapter: Any = _DEFAULT_STYLE, adapter_gate: bool = True):
        """The learnt voices (``vocal_score_songgen.song_voice``) the told singer's score of a song of ``description``
        is planned in: a merged adapter's and those of ``adapter``'s singer adapters (default: the pipeline's style,
        gated as a call gates it); None: the corpus's.  Each call (and a re-sung edit) asks it for its own songs and
        hands the answer down: it is never kept on the pipeline, so two calls never see each other's."""
        return self._voice_style_of(self._song_choice(description, adapter, adapter_gate))

    def _voice_style_of(self, choice):
        merged, styles = getattr(self, "_merged_voice", None), getattr(self, "_singer_styles", None)
        if styles is None:
            return merged
        voices = styles.voice_for(choice)
        return (*(merged or ()), *(voices or ())) or None

    def song_singer(self, description: str, adapter: Any = _DEFAULT_STYLE, adapter_gate: bool = True):
        """The told singer that sings a song of ``description`` (None: none): the singer of ``adapter``'s singer
        adapters (default: the pipeline's style, gated as a call gates it), the base's own for the base alone."""
        return self._singer_of(self._song_choice(description, adapter, adapter_gate))

    def _singer_of(self, choice):
        styles = getattr(self, "_singer_styles", None)
        return self.singer if styles is None else styles.singer_for(choice)

    def _song_choice(self, description: str, adapter: Any, adapter_gate: bool):
        """The adapters a song of ``description`` is made with, gated as a call gates them; None: the base alone."""
        choice = self._adapter if adapter is _DEFAULT_STYLE else self._checked_adapter(adapter)
        if adapter_gate is not True:  # checked when given (the default imports nothing)
            from songgen_hf.pipelines.description_gate import check_gate_option

            check_gate_option(adapter_gate)
        if self.adapters is None or choice is None:
            return None  # the base alone: a song without adapters never imports the gate
        return self.adapters.gated(choice, description, adapter_gate)[0]

    # what the model's family decides of a call: its generation arguments and their request
    def _call_arguments(self, kwargs: dict) -> dict:
        """The call's generation arguments (``None``: not given) over the pipeline's saved defaults."""
        defaults_ = {**getattr(self, "_forward_params", {}), **getattr(self, "_generate_kwargs", {})}
        return {**_generation_arguments(defaults_), **_generation_arguments(kwargs)}

    def set_progress_bar_config(self, **kwargs) -> None:
        """The call's progress bar, as diffusers' pipelines set theirs: ``disable=True`` turns it off, ``lines=True``
        prints one line per stage instead, anything else goes to tqdm.  By default a bar follows each call on a
        terminal (generating, the told singer's windows, decoding), and nothing shows elsewhere."""
        self._progress_bar_config = dict(kwargs)

    def _progress(self, kwargs: dict, arguments: dict, songs: int):
        """A :class:`GenerationProgress` for this call, set as its streamer, unless the call brings its own."""
        saved = {**getattr(self, "_forward_params", {}), **getattr(self, "_generate_kwargs", {})}
        for given in (kwargs, kwargs.get("generate_kwargs"), saved, saved.get("generate_kwargs")):
            if isinstance(given, dict) and given.get("streamer") is not None:
                return None  # the caller's own streamer (a bar, an audio stream)
        config = {"disable": None, **getattr(self, "_progress_bar_config", {})}  # tqdm: a bar on a terminal only
        if config["disable"] is True:
            return None
        if config["disable"] is None and not config.get("lines"):
            file = config.get("file") or sys.stderr
            if not getattr(file, "isatty", lambda: False)():  # tqdm would draw nothing there: no bar is made
                return None
        from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps
        from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress

        lengths = {key: arguments.get(key) for key in ("duration_s", "max_new_tokens", "window_s", "context_s")}
        calls = -(-songs // (kwargs.get("batch_size") or self._batch_size or 1))
        try:
            steps = expected_decoder_steps(self.model, **lengths) * calls
        except (TypeError, ValueError):  # settings generate() refuses, with their fix, before the bar moves
            steps = None
        kwargs["streamer"] = progress = GenerationProgress(total=steps, keep_open=True, **config)
        return progress

    def _plan_settings(self, arguments: dict) -> dict:
        """``duration_s`` / ``window_s`` / ``context_s`` (and ``repeat_sections`` / ``repeat_whole_sections``) of
        this call (given, else the saved default length, as ``generate`` reads it) for ``prepare_song``; empty when
        the call sets no length in seconds."""
        duration = arguments.get("duration_s")
        if duration is None and arguments.get("max_new_tokens") is None and arguments.get("max_length") is None:
            saved = self.model.generation_config
            duration = getattr(saved, "duration_s", None)
            if duration is None and getattr(saved, "max_new_tokens", None) is None:
                duration = arguments.get("min_duration_s", getattr(saved, "min_duration_s", None)) or None
        if duration is None:
            return {}
        plan = {"duration_s": duration, "window_s": arguments.get("window_s"), "context_s": arguments.get("context_s")}
        plan["repeat_sections"] = arguments.get("repeat_sections")
        plan["repeat_whole_sections"] = arguments.get("repeat_whole_sections")
        on_bars = arguments.get("window_starts_on_bars")
        plan["window_starts_on_bars"] = (
            getattr(self.model.generation_config, "window_starts_on_bars", None) if on_bars is None else on_bars
        )
        return {key: value for key, value in plan.items() if value is not None}

    def understood(self, song: dict) -> dict | None:
        """What the processor reads from a parsed song (tempo, key, their sources, lyrics), or ``None``
        for a processor that cannot say."""
        interpret = getattr(self.processor, "interpret", None)
        if isinstance(song, SongRequest):
            return song.understood
        if interpret is None:
            return None
        return interpret(song["description"], lyrics=song["lyrics"], tempo_bpm=song["tempo_bpm"], key=song["key"])

    def _sanitize_parameters(self, generate_kwargs: dict | None = None, seed: int | None = None, **kwargs):
        preprocess_params, forward_params = {}, {}
        voice = {"voice_style": kwargs.pop(_CALL_VOICE)} if _CALL_VOICE in kwargs else {}  # the call's, when it is one
        # what each song is prepared with: its plan for the call's length, and its score's seed (the call's, for songs
        # that do not carry one)
        defaults = _generation_arguments(getattr(self, "_forward_params", {}))
        arguments = {**defaults, **_generation_arguments({**kwargs, "generate_kwargs": generate_kwargs or {}})}
        preprocess_params["song_plan"] = self._plan_settings(arguments)
        preprocess_params["score"] = {"seed": 0 if seed is None else seed, "duration_s": arguments.get("duration_s")}
        preprocess_params["score"].update(voice)
        if generate_kwargs is not None:
            if not isinstance(generate_kwargs, dict):
                raise ValueError(f"generate_kwargs must be a dict, got {type(generate_kwargs).__name__}.")
            forward_params.update(generate_kwargs)
        if "max_lyrics_length" in kwargs:  # the processor's own check, before the first song is prepared
            from songgen_hf.modeling.songgen.arguments_songgen import check_lyrics_limit

            check_lyrics_limit(kwargs["max_lyrics_length"])
        if not isinstance(kwargs.get("truncation", False), bool):
            raise ValueError(f"truncation must be True or False, got {kwargs['truncation']!r}.")
        unknown = []
        for key, value in kwargs.items():
            if key in PREPROCESS_KWARGS:
                preprocess_params[key] = value
            elif key in SONGGEN_GENERATE_KWARGS or key in _GENERATION_CONFIG_KEYS:
                forward_params[key] = value
            else:
                unknown.append(key)
        if unknown:
            raise ValueError(
                f"Unknown text-to-song argument(s) {sorted(unknown)}. Use seed, duration_s, min_duration_s, "
                "guidance_scale, temperature, top_k, top_p, do_sample, max_new_tokens, max_lyrics_length, "
                "truncation, or pass other generate() arguments in generate_kwargs={...}."
            )
        return preprocess_params, forward_params, {}

    # ------------------------------------------------------------------ steps
    def preprocess(
        self,
        inputs,
        max_lyrics_length: int | None = None,
        truncation: bool = False,
        score: dict | None = None,
        song_plan: dict | None = None,
    ):
        # once: __call__ prepared it
        song = prepare_song(self.processor, inputs, max_lyrics_length, truncation, **(song_plan or {}))
        fill_missing_voice = song.fill_missing_voice or getattr(inputs, "fill_missing_voice", False)
        features = BatchFeature(dict(song.features), tensor_type="pt")  # a copy: the request stays as prepared
        window_lyrics = None
        if "window_lyrics_input_ids" in features:
            window_lyrics = tuple(features.pop(f"window_lyrics_{name}")[0] for name in ("input_ids", "attention_mask"))
        instrumental = features.pop("instrumental_frames")[0] if "instrumental_frames" in features else None
        anchors = features.pop("window_anchor_frames")[0] if "window_anchor_frames" in features else None
        sources = features.pop("return_source_frames")[0] if "return_source_frames" in features else None
        ends = features.pop("window_ends")[0] if "window_ends" in features else None
        described = {
            name: features.pop(f"window_{name}")[0] for name in WINDOW_DESCRIPTION_KEYS if f"window_{name}" in features
        }
        if self.model.dtype.is_floating_point:  # the window tempos as the song's tempo is cast below
            described = {k: v.to(self.model.dtype) if v.is_floating_point() else v for k, v in described.items()}
        if fill_missing_voice and "voice_values" not in features and self.processor.feature_extractor is not None:
            empty = self.processor.feature_extractor([None], return_tensors="np")
            features["voice_values"] = torch.from_numpy(empty["input_values"].astype(np.float32))
            features["voice_attention_mask"] = torch.from_numpy(empty["attention_mask"].astype(np.int64))
        if self.model.dtype.is_floating_point:
            features = features.to(dtype=self.model.dtype)  # casts float tensors only (voice audio)
        features = dict(features)
        if window_lyrics is not None:  # a list, so that batched songs collate into one entry each
            features["window_lyrics"] = [window_lyrics]
        if instrumental is not None:  # likewise
            features["instrumental_frames"] = [instrumental]
        if anchors is not None:  # likewise
            features["window_anchor_frames"] = [anchors]
        if sources is not None:  # likewise
            features["return_source_frames"] = [sources]
        if ends is not None:  # likewise
            features["window_ends"] = [ends]
        if described:  # likewise: each window's description, where a section's note sets it
            features["window_descriptions"] = [described]
        if score is not None and self.singer is not None:  # a list, so that batches of songs collate into a list
            duration = score["duration_s"] or getattr(self.model.generation_config, "duration_s", None) or 10.0
            seed = song.seed if song.seed is not None else score["seed"]
            # the call's voice style; a song prepared outside a call is planned in the pipeline's own style's
            voice = score["voice_style"] if "voice_style" in score else self.song_voice_style(song.description)
            features["vocal_scores"] = [song_score(self.processor, song, float(duration), seed, voice)]
        return features

    def _forward(self, model_inputs, **forward_params):
        apply_thread_policy()  # the cores other programs leave free, unless the user chose (songgen_hf.utils.threads)
        generate_kwargs = self._prepare_generate_kwargs(forward_params, return_dict_in_generate=True)
        scores = model_inputs.pop("vocal_scores", None)
        if scores is not None:  # one list per song once collated into a batch
            scores = [item for entry in scores for item in (entry if isinstance(entry, list) else [entry])]
            generate_kwargs = {**generate_kwargs, "singer": self.singer, "vocal_scores": scores}
        window_lyrics = model_inputs.pop("window_lyrics", None)
        if window_lyrics is not None:  # each window of a long song sings its planned lines
            model_inputs.update(_stack_window_lyrics(window_lyrics))
        described = model_inputs.pop("window_descriptions", None)
        if described is not None:  # each window played as its section's note says
            model_inputs.update(_stack_window_descriptions(described))
        instrumental = model_inputs.pop("instrumental_frames", None)
        if instrumental is not None:  # and its vocal track rests in the instrumental sections
            rows = [row for entry in instrumental for row in (entry if isinstance(entry, list) else [entry])]
            model_inputs["instrumental_frames"] = torch.stack(rows)
        anchors = model_inputs.pop("window_anchor_frames", None)
        if anchors is not None:  # and each repeated section returns to its first occurrence
            rows = [row for entry in anchors for row in (entry if isinstance(entry, list) else [entry])]
            model_inputs["window_anchor_frames"] = torch.stack(_padded_windows(rows, fill=-1))
        sources = model_inputs.pop("return_source_frames", None)
        if sources is not None:  # and plays its first occurrence's music for its whole length
            rows = [row for entry in sources for row in (entry if isinstance(entry, list) else [entry])]
            model_inputs["return_source_frames"] = torch.stack(rows)
        ends = model_inputs.pop("window_ends", None)
        if ends is not None:  # each song in its own windows, cut at its section edges
            rows = [row for entry in ends for row in (entry if isinstance(entry, list) else [entry])]
            model_inputs["window_ends"] = torch.stack(_padded_windows(rows))
        output = self.model.generate(**model_inputs, **generate_kwargs)
        # Only per-song tensors with a leading batch axis: the pipeline splits batches row by row.
        result = {"audio": output.audio, "audio_lengths": output.audio_lengths}
        for name in STEM_NAMES:
            if getattr(output, name, None) is not None:
                result[name] = getattr(output, name)
        return result

    def postprocess(self, model_outputs):
        audio = model_outputs["audio"]
        lengths = model_outputs.get("audio_lengths")
        songs = []
        for row in range(audio.shape[0]):
            length = audio.shape[-1] if lengths is None else int(lengths[row])
            song = {"audio": _to_numpy(audio[row], length), "sampling_rate": self.sampling_rate}
            for name in STEM_NAMES:
                if model_outputs.get(name) is not None:
                    song[name] = _to_numpy(model_outputs[name][row], length)
            songs.append(song)
        return songs[0] if len(songs) == 1 else songs

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any):
        """Save the model and processor.

        Unlike ``Pipeline.save_pretrained`` no ``custom_pipelines`` entry or copy of this module
        is written: the task comes with the package, and such an entry would make
        ``pipeline()`` demand ``trust_remote_code`` for the saved folder.
        """
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)


def _generation_arguments(options: dict) -> dict:
    """The checked generation arguments among pipeline options (top level or in ``generate_kwargs``)."""
    return loading.pipeline_arguments(options, CHECKED_ARGUMENTS)


def _stack_window_descriptions(entries: list) -> dict[str, torch.Tensor]:
    """The songs' per-window descriptions (one dict of ``(windows, ...)`` tensors per song, one list per song once
    collated) as ``window_<name>`` ``(batch, windows, ...)``, the descriptions right-padded (0, masked)."""
    songs = [song for entry in entries for song in (entry if isinstance(entry, list) else [entry])]
    length = max(song["input_ids"].shape[-1] for song in songs)
    stacked = {}
    for name in songs[0]:
        rows = [song[name] for song in songs]
        if name in ("input_ids", "attention_mask"):
            rows = [torch.nn.functional.pad(row, (0, length - row.shape[-1])) for row in rows]
        stacked[f"window_{name}"] = torch.stack(_padded_windows(rows))
    return stacked


def _stack_window_lyrics(entries: list) -> dict[str, torch.Tensor]:
    """The songs' per-window lyrics (one ``(ids, mask)`` pair of ``(windows, length)`` per song, one list per song
    once collated) as ``window_lyrics_input_ids`` / ``window_lyrics_attention_mask`` ``(batch, windows, length)``,
    right-padded with the lyrics' padding (0, masked)."""
    pairs = [pair for entry in entries for pair in (entry if isinstance(entry, list) else [entry])]
    length = max(ids.shape[-1] for ids, _ in pairs)
    ids = [torch.nn.functional.pad(ids, (0, length - ids.shape[-1])) for ids, _ in pairs]
    mask = [torch.nn.functional.pad(mask, (0, length - mask.shape[-1])) for _, mask in pairs]
    return {
        "window_lyrics_input_ids": torch.stack(_padded_windows(ids)),
        "window_lyrics_attention_mask": torch.stack(_padded_windows(mask)),
    }


def _padded_windows(rows: list[torch.Tensor], fill: int | None = None) -> list[torch.Tensor]:
    """The songs' per-window rows (``(windows, ...)`` each) for a batch: a song of fewer windows than the batch's
    longest repeats its last window's row (or takes ``fill``), as the processor pads a batch's songs."""
    count = max(row.shape[0] for row in rows)
    padded = []
    for row in rows:
        missing = count - row.shape[0]
        if missing:
            tail = row[-1:] if fill is None else torch.full_like(row[-1:], fill)
            row = torch.cat([row, tail.expand(missing, *row.shape[1:])])
        padded.append(row)
    return padded


def _to_numpy(waveform: torch.Tensor, length: int) -> np.ndarray:
    """``(channels, samples)`` float32, cut to ``length`` samples."""
    waveform = waveform[..., :length].detach().to("cpu", torch.float32)
    if waveform.dim() == 1:
        waveform = waveform[None]
    return np.ascontiguousarray(waveform.numpy())


def _processor_for(model):
    """The processor saved beside a model that was passed as an object."""
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    folder = getattr(model, "name_or_path", "") or ""
    if not os.path.isdir(folder):
        raise ValueError(
            "This SongGen model was not loaded from a folder with a processor; pass "
            "processor=SongGenProcessor.from_pretrained(...) to pipeline()."
        )
    try:
        return SongGenProcessor.from_pretrained(folder)
    except OSError as error:  # missing/corrupt processor files: the folder is incomplete, not a crash
        raise ValueError(str(error)) from error


def _merged_adapter(folder: str, base: str, load_kwargs: dict, device: Any = None):
    """The adapter in ``folder`` loaded onto its ``base`` and merged, with the base's recommended CPU precision
    unless the caller chose one (``load_kwargs``: a ``dtype`` or a placement), as for the base itself and for the
    adapter's ``songgen export``: the same song for a seed.  Recommended int8 layers are left to the pipeline built
    around the model (:func:`_apply_recommended_int8`), as for a base folder."""
    from songgen_hf.modeling.songgen.quantization import (
        BF16_HEADS,
        INT8_HEADS,
        SongGenBf16HeadsConfig,
        SongGenInt8Config,
        default_quantize,
    )
    from songgen_hf.pipelines.adapter_folders import load_lora, merge_lora

    load_kwargs = {key: value for key, value in load_kwargs.items() if value not in (None, "auto")}
    quantize = None
    if os.path.isdir(base) and not load_kwargs:
        quantize = default_quantize(base, device)
        if quantize == "bf16":
            load_kwargs["dtype"] = torch.bfloat16
    model = merge_lora(load_lora(None, folder, **load_kwargs)).eval()
    _MERGED_ADAPTERS[model] = folder  # its singer adapter, if any, is merged by the pipeline around it
    if quantize in ("int8", INT8_HEADS):
        _RECOMMENDED_INT8[model] = SongGenInt8Config(heads_only=quantize == INT8_HEADS)
    elif quantize == BF16_HEADS:
        _RECOMMENDED_INT8[model] = SongGenBf16HeadsConfig()
    return model


# ---------------------------------------------------------------------- registration
class _EmbeddedDefaultModel(dict):
    """The task's ``default`` entry, whose ``"model"`` is resolved each time ``pipeline()`` reads it.

    ``pipeline()`` unpacks ``default["model"]`` into ``(model, revision)`` and loads ``model``
    like any path or repo id, so returning the local folder with revision ``None`` makes the
    default load offline.  Reading it late keeps ``songgen_hf.pipelines.loading`` the one place that
    decides the folder (tests repoint it) and raises its clear error while the folder is missing.
    The stored value is only what a plain ``dict`` view (e.g. JSON) shows.
    """

    def __init__(self):
        super().__init__(model=(str(loading.DEFAULT_MODEL_DIR), None))

    def __getitem__(self, key):
        if key == "model":
            return (str(loading.default_model_path()), None)
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


class TextToSongModelLoader:
    """The model class the task registers: ``pipeline()``'s loader hands it a folder or repo id, and it loads
    through ``AutoModelForTextToWaveform``.  transformers' public ``pt_model`` extension point, so plain
    ``pipeline("text-to-song", model=FOLDER)`` loads what :func:`load_text_to_song_pipeline` loads.

    When the caller chose no precision, the folder's recommendation for CPUs applies (:func:`_recommended_loading`:
    the embedded songgen-tiny's bfloat16 token heads).  Its reduced-precision layers are made from the float weights
    once they are loaded, so the pipeline makes them instead (:func:`_apply_recommended_int8`), once it knows its
    adapters: a
    LoRA on the heads (the documented default) needs them float, as ``load_text_to_song_pipeline`` loads them."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from songgen_hf.modeling.limits import ModelFolderError
        from songgen_hf.modeling.songgen.quantization import SongGenInt8Config
        from songgen_hf.modeling.weight_bounds import ModelBoundsError, RefusedPickleError

        deferred = None
        try:
            path = pretrained_model_name_or_path
            if isinstance(path, (str, os.PathLike)) and loading.is_adapter_folder(path):
                # pipeline() hands an adapter folder here with its base's config: loaded as load_text_to_song_pipeline
                # loads it (onto the base its record names, merged, the base's recommended precision)
                return _adapter_model(os.fspath(path), kwargs)
            if isinstance(pretrained_model_name_or_path, (str, os.PathLike)):
                kwargs = _recommended_loading(os.fspath(pretrained_model_name_or_path), kwargs)
                if isinstance(kwargs.pop(_RECOMMENDED, None), SongGenInt8Config):
                    deferred = kwargs.pop("quantization_config")
            model = AutoModelForTextToWaveform.from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except (ModelBoundsError, RefusedPickleError) as error:
            raise ModelFolderError(str(error)) from None  # whole, not inside transformers' wrapped tracebacks
        if deferred is not None:
            _RECOMMENDED_INT8[model] = deferred
        return model


def _adapter_model(folder: str, kwargs: dict):
    """:class:`TextToSongModelLoader`'s model of a LoRA adapter folder (:func:`_merged_adapter`), in the precision
    the caller chose (``dtype``; int8 is refused: its layers take no merge), every refusal whole."""
    from songgen_hf.modeling.limits import ModelFolderError
    from songgen_hf.pipelines.adapter_folders import resolve_adapter_base

    try:
        if kwargs.get("quantization_config") is not None:
            raise ValueError(
                f"{folder} is a LoRA adapter folder, and int8 applies to a merged model: merge it first (songgen "
                "export ADAPTER) and load that, or leave the precision out (its base's recommendation applies)."
            )
        chosen = {"dtype": kwargs.get("dtype", kwargs.get("torch_dtype")), "device_map": kwargs.get("device_map")}
        return _merged_adapter(folder, resolve_adapter_base(folder), chosen)
    except ValueError as error:
        raise ModelFolderError(str(error)) from None  # whole, not inside transformers' wrapped tracebacks


# models TextToSongModelLoader loaded in float32 whose folder recommends int8 layers on this CPU -> their
# SongGenInt8Config; the pipeline built around the model applies it (weak: a model dropped before any pipeline
# leaves no entry)
_RECOMMENDED_INT8: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# models merged from a LoRA adapter folder -> that folder, whose singer adapter the pipeline built around the model
# folds into its told singer (weak, as above)
_MERGED_ADAPTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RECOMMENDED = "_songgen_recommended"  # marks the quantization_config _recommended_loading added


def _apply_recommended_int8(model, adapters: dict[str, str] | None) -> None:
    """Pack ``model``'s recommended int8 layers (a model :class:`TextToSongModelLoader` loaded without a precision
    choice), unless an adapter adapts what they would replace: peft adapts float linears only, so those stay float
    (``load_text_to_song_pipeline`` loads the same)."""
    recommended = _RECOMMENDED_INT8.pop(model, None)
    if recommended is None:
        return
    if adapters:
        from songgen_hf.pipelines.adapters import adapts_heads

        # full int8 replaces every decoder linear an adapter can target; int8-heads the heads alone
        if not recommended.heads_only or any(adapts_heads(folder) for folder in adapters.values()):
            logger.info("Keeping %s in float32: its adapters adapt the layers int8 would replace.", model.name_or_path)
            return
    # what from_pretrained(..., quantization_config=recommended) does around the weights, done after them: the same
    # packed layers from the same float weights (the same songs), and the model marked quantized, as such a model is
    # (save_pretrained refuses it; `songgen generate` names the precision)
    from transformers.quantizers import AutoHfQuantizer

    quantizer = AutoHfQuantizer.from_config(recommended)
    quantizer.preprocess_model(model)
    quantizer.postprocess_model(model)
    model.hf_quantizer = quantizer


# The task's pipeline class for each model family it serves, by the model's ``model_type``: each takes the same inputs
# and gives the same outputs.  A family's variant names itself here where it is defined (ResGen's in
# pipelines/resgen_text_to_song.py), imported the first time a model of its family asks (_VARIANTS): a SongGen song
# never imports diffusers' side.
PIPELINE_CLASSES: dict[str, type[TextToSongPipeline]] = {"songgen": TextToSongPipeline}
_VARIANTS = {"songgen_resgen": "songgen_hf.pipelines.resgen_text_to_song"}


def pipeline_class(model_type: str | None) -> type[TextToSongPipeline]:
    """The task's pipeline class for a model family (:data:`PIPELINE_CLASSES`), its module imported on first use;
    :class:`TextToSongPipeline` for any other (which refuses a model it does not serve, naming the task to use)."""
    if model_type in _VARIANTS and model_type not in PIPELINE_CLASSES:
        import importlib

        importlib.import_module(_VARIANTS[model_type])
    return PIPELINE_CLASSES.get(model_type, TextToSongPipeline)


def text_to_song_pipeline(*args, **kwargs) -> TextToSongPipeline:
    """The text-to-song pipeline of the model's family (:data:`PIPELINE_CLASSES`): what
    ``pipeline("text-to-song", model=...)`` builds, as the task's registered implementation.  A model of another
    family gets :class:`TextToSongPipeline`, which refuses it with the task to use instead."""
    model = kwargs.get("model", args[0] if args else None)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return pipeline_class(model_type)(*args, **kwargs)


# transformers' pipeline() reads which components to load from the task's implementation; every family loads the same
for _flag in (
    "_load_processor",
    "_load_tokenizer",
    "_load_feature_extractor",
    "_load_image_processor",
    "_load_video_processor",
):
    setattr(text_to_song_pipeline, _flag, getattr(TextToSongPipeline, _flag))


class _EmbeddedDefaultNotice(logging.Filter):
    """Drops transformers' "No model was supplied, defaulted to ..." warning when the default is the embedded model:
    it ships inside this package, so the package's version pins it and nothing is downloaded, which is what the
    warning's advice (name a model and a revision) secures.  Any other default, and any other record, still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("No model was supplied, defaulted to "):
            return True
        return f"defaulted to {loading.default_model_path()} and revision None" not in message


_DEFAULT_NOTICE = _EmbeddedDefaultNotice()


def register_text_to_song_pipeline() -> None:
    """Register ``"text-to-song"`` with transformers' pipeline registry (idempotent)."""
    from transformers.pipelines import PIPELINE_REGISTRY

    pipelines_logger = logging.getLogger("transformers.pipelines")
    if _DEFAULT_NOTICE not in pipelines_logger.filters:
        pipelines_logger.addFilter(_DEFAULT_NOTICE)

    current = PIPELINE_REGISTRY.supported_tasks.get(TASK)
    if current is not None and current.get("impl") is text_to_song_pipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=text_to_song_pipeline,
        pt_model=TextToSongModelLoader,
        default=_EmbeddedDefaultModel(),
        type="text",
    )


def _load_processor(model: Any, family: str):
    """The processor saved with ``model`` (a folder or a Hub id; a saved ResGen pipeline keeps it in its
    ``processor`` component), as a ``ValueError`` naming the folder when its files cannot be read."""
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    source = model if isinstance(model, str) else getattr(model, "name_or_path", None)
    if not source:
        raise ValueError("A pipeline over a model object reads no processor files: pass processor=... too.")
    if family != "songgen" and os.path.isdir(os.path.join(source, "processor")):
        source = os.path.join(source, "processor")
    try:
        return SongGenProcessor.from_pretrained(source)
    except OSError as error:
        raise ValueError(f"Could not load the SongGen processor from {source}: {error}") from error


def prepare_pipeline(
    model: str | os.PathLike | None = None,
    generation: dict | None = None,
    names: dict[str, str] | None = None,
    **kwargs,
) -> dict[str, Any]:
    """Every check of :func:`load_text_to_song_pipeline` that needs no weights, and the source resolved (a folder, a
    Hub id, an official checkpoint converted once): the keyword arguments of transformers' ``pipeline()`` for it,
    with the model's processor read from its files (no weights) when the model is a local folder.

    ``generation``: the generation arguments the songs will be made with, checked here against the model's files
    (``names``: how messages spell them, e.g. ``{"duration_s": "--duration"}``).  Prepare songs with
    ``prepare_song(arguments["processor"], song, duration_s=...)`` (a lyric mistake costs no load), then
    ``transformers.pipeline(**arguments)`` loads the weights around that processor; the pipeline checks its own
    options and adapters again, and ``generate()`` the settings it uses.  Nothing here vouches for anything."""
    register_text_to_song_pipeline()
    names = names or {}
    check_pipeline_options(kwargs.get("seed"), kwargs.get("device"), kwargs.get("batch_size"), names)
    if model is None:
        model = loading.default_model_path()
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    try:
        if kwargs.get("adapters") is not None or kwargs.get("adapter") is not None:
            from songgen_hf.pipelines.adapters import check_adapters_before_loading

            check_adapters_before_loading(model, kwargs)
        model, family, kwargs = loading.check_text_to_song_source(model, kwargs, generation, names)
    except ValueError as error:
        if "model" not in names or not (isinstance(model, str) and str(error).startswith(model)):
            raise
        raise ValueError(f"{names['model']} {error}") from None
    if kwargs.get("processor") is None and isinstance(model, str) and os.path.isdir(model):
        kwargs["processor"] = _load_processor(model, family)
    return {"task": TASK, "model": model, "pipeline_class": pipeline_class(family), **kwargs}


def load_text_to_song_pipeline(model: str | os.PathLike | None = None, **kwargs) -> TextToSongPipeline:
    """``pipeline("text-to-song", model=...)``, registering the task first if needed.

    ``model`` is a folder, a Hub repo id, an embedded model's name (``"songgen-tiny"``) or a
    loaded model; ``None`` means the embedded default
    (``songgen_hf.pipelines.loading``), passed explicitly so no "no model was supplied" warning is logged.
    ``quantize="int8"`` / ``"int8-heads"`` / ``"bf16-heads"`` / ``"bf16"`` loads the decoder in reduced precision
    (``modeling.songgen.quantization``), checked on this platform before any weights load;
    ``quantize="fp32"`` (or ``None``) keeps float32.  Without ``quantize``, a model that recommends a
    precision for CPUs (``cpu_quantize`` in its generation config: the embedded songgen-tiny's bf16-heads)
    gets it when it runs on a CPU.  Everything that needs no weights is checked first
    (:func:`prepare_pipeline`).
    """
    from transformers import pipeline

    return pipeline(**prepare_pipeline(model, **kwargs))


_CHOSEN_PRECISION_KWARGS = ("quantization_config", "dtype", "torch_dtype", "device_map")


def _recommended_loading(folder: str, model_kwargs: dict) -> dict:
    """``model_kwargs`` plus the folder's recommended CPU precision (``cpu_quantize``: the embedded
    songgen-tiny runs bfloat16 token heads there) when the caller set no precision or placement."""
    from songgen_hf.modeling.songgen.quantization import precision_kwargs

    # pipeline() passes dtype="auto" unless told otherwise: that is no choice
    chosen = [key for key in _CHOSEN_PRECISION_KWARGS if model_kwargs.get(key) not in (None, "auto")]
    if not os.path.isdir(folder) or chosen:
        return model_kwargs
    recommended = precision_kwargs(folder)  # {} unless this is a CPU that runs the recommendation
    marked = {_RECOMMENDED: recommended["quantization_config"]} if "quantization_config" in recommended else {}
    return {**model_kwargs, **recommended, **marked}


__all__ = [
    "check_songgen_folder",
    "load_text_to_song_pipeline",
    "register_text_to_song_pipeline",
    "TASK",
    "TextToSongPipeline",
    "text_to_song_pipeline",
]
