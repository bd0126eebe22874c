"""``SongGenProcessor``: one object from (description, lyrics, reference voice) to model inputs.

It bundles the three input pipelines of SongGen and saves/loads them next to the model:

* ``tokenizer``: the description tokenizer (any transformers tokenizer; FLAN-T5's in the
  released checkpoints), saved with its own ``save_pretrained`` files;
* ``lyrics_tokenizer``: :class:`VoiceBpeTokenizer`, saved as ``vocab.json``;
* ``feature_extractor``: :class:`VoiceFeatureExtractor` for the 3 s reference voice, saved as
  ``preprocessor_config.json``, or ``None`` for models built without a voice encoder.

``processor_config.json`` names the processor class (so ``AutoProcessor`` can find it once
registered) and records which of those files belong to it.

**Why a ``ProcessorMixin`` subclass with overrides.**  The text-to-audio pipeline only accepts
processors that are ``ProcessorMixin`` instances, so the class derives from it.  In
transformers 5.23, though, the mixin derives its components from the ``__init__`` argument
names: any argument containing ``tokenizer`` must be a ``PreTrainedTokenizerBase`` (the
VoiceBPE tokenizer is not), every component is mandatory (no optional feature extractor), and
``to_dict`` would try to JSON-serialise the lyrics tokenizer.  So the mixin is told about the
description tokenizer only (``get_attributes``), and saving, loading and ``to_dict`` are
implemented here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from numbers import Integral
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from transformers import AutoTokenizer, BatchFeature, ProcessorMixin
from transformers.utils import cached_file, logging

from songgen_hf.modeling.limits import (
    MAX_DESCRIPTION_TOKENS,
    check_description_chars,
    check_description_tokens,
    check_lyrics_chars,
    is_int,
)
from songgen_hf.modeling.songgen.arguments_songgen import (
    check_lyrics_limit,
    check_reference_voices,
    split_reference_voices,
    text_batch,
)
from songgen_hf.modeling.songgen.configuration_songgen import SongGenConfig, duration_frames, fits_default_window
from songgen_hf.modeling.songgen.description_songgen import (
    interpret_controls,
    musical_controls,
    read_tempo,
)
from songgen_hf.modeling.songgen.feature_extraction_songgen import VoiceFeatureExtractor
from songgen_hf.modeling.songgen.quantization import PRECISION_CHOSEN
from songgen_hf.modeling.songgen.song_plan_songgen import SongPlan, _padded, format_plan, line_syllables, plan_song
from songgen_hf.modeling.songgen.tokenization_songgen import VOCAB_FILE_NAME, VoiceBpeTokenizer, parse_song_structure
from songgen_hf.modeling.songgen.windows_songgen import slow_tempo_warning, song_windows
from songgen_hf.modeling.weight_bounds import adapter_base, resolve_pretrained_source
from songgen_hf.utils.safe_files import read_json, read_json_object

# ----------------------------------------------------------------------------------------------------
# What ``SongGenProcessor.from_pretrained`` reads besides the processor's own files, checked.
#
# A processor folder names its files in ``processor_config.json`` (a downloaded config must not point
# outside the checkpoint: :func:`_safe_relative_path`); it learns the model's musical controls and
# lyric limit from the model's ``config.json`` beside it, or, for a processor saved as a component of a
# pipeline folder (``ResGenPipeline``), from the pipeline root's model config
# (:func:`_pipeline_model_config`); and it loads the reference-voice feature extractor only when the
# saved file describes one (:func:`_load_voice_feature_extractor`).

PROCESSOR_CONFIG_NAME = "processor_config.json"
MODEL_CONFIG_NAME = "config.json"


def _safe_relative_path(filename: Any, key: str) -> str:
    """Reject absolute or parent-escaping paths from a (possibly downloaded) processor config."""
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"{PROCESSOR_CONFIG_NAME}: '{key}' must be a file name, got {filename!r}.")
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    if filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ValueError(f"{PROCESSOR_CONFIG_NAME}: '{key}' must stay inside the checkpoint folder, got {filename!r}.")
    return "/".join(parts)


def _pipeline_model_config(source: str, hub_kwargs: dict) -> str | None:
    """The model's ``config.json`` for a processor saved as a component of a pipeline folder
    (``FOLDER/processor`` beside ``FOLDER/model_index.json``, as ``ResGenPipeline`` saves it): the
    processor learns the model's musical controls and lyric limit from it, as it does beside a
    SongGen model.  Without it a ResGen processor would silently drop the tempo and key."""
    subfolder = hub_kwargs.get("subfolder")
    if subfolder:  # FOLDER or repo id + subfolder="processor": the pipeline root is FOLDER itself
        root, kwargs = source, {key: value for key, value in hub_kwargs.items() if key != "subfolder"}
    elif os.path.isdir(source):
        root, kwargs = os.path.dirname(os.path.normpath(source)), hub_kwargs
    else:
        return None
    if not root or cached_file(root, "model_index.json", _raise_exceptions_for_missing_entries=False, **kwargs) is None:
        return None
    return cached_file(root, MODEL_CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **kwargs)


def _read_model_config(config_path: str | None) -> dict:
    """A SongGen ``config.json`` as a dict; empty if there is none or it is broken (the model loader reports that)."""
    if config_path is None:
        return {}
    try:
        config = read_json(config_path, "the model config")
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _model_lyrics_limit(config: dict) -> int | None:
    """``lyrics_encoder.max_position_embeddings`` of a SongGen config dict; ``None`` if there is none."""
    lyrics = config.get("lyrics_encoder")
    value = lyrics.get("max_position_embeddings") if isinstance(lyrics, dict) else None
    return int(value) if isinstance(value, Integral) and not isinstance(value, bool) and value >= 2 else None


def _load_voice_feature_extractor(path: str) -> VoiceFeatureExtractor:
    try:
        saved = read_json_object(path, "the voice feature extractor config")
    except ValueError as error:
        raise OSError(str(error)) from None
    saved_type = saved.get("feature_extractor_type", VoiceFeatureExtractor.__name__)
    if saved_type != VoiceFeatureExtractor.__name__:
        raise ValueError(
            f"{path} describes a {saved_type}, but SongGen's reference voice needs a VoiceFeatureExtractor; "
            f"set 'voice_feature_extractor_file' to null in {PROCESSOR_CONFIG_NAME} if the model has no voice encoder."
        )
    return VoiceFeatureExtractor.from_pretrained(path)


logger = logging.get_logger(__name__)

FEATURE_EXTRACTOR_CONFIG_NAME = "preprocessor_config.json"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
TOKENIZER_FILE_NAME = "tokenizer.json"
# Used only when the description tokenizer itself writes a ``vocab.json`` (GPT-2-style BPE).
LYRICS_SUBFOLDER = "lyrics_tokenizer"

DESCRIPTION_KEYS = ("input_ids", "attention_mask")
LYRICS_KEYS = ("lyrics_input_ids", "lyrics_attention_mask")
VOICE_KEYS = ("voice_values", "voice_attention_mask")

_HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
# Passed by AutoProcessor / pipeline() to every processor; they do not concern this one.
_IGNORED_LOAD_KWARGS = frozenset(
    {
        "_from_auto",
        "_from_pipeline",
        "trust_remote_code",
        "code_revision",
        "dtype",
        "torch_dtype",
        "device_map",
        "device",
        "use_fast",
        "return_unused_kwargs",
        "quantization_config",
        PRECISION_CHOSEN,
    }
)
_INIT_OVERRIDES = ("max_lyrics_length",)


def _slowest(tempos) -> float | None:
    """The slowest asked tempo of a song's windows (``None``: none asked)."""
    asked = [float(tempo) for tempo in tempos if tempo is not None and np.isfinite(tempo) and tempo > 0]
    return min(asked, default=None)


class SongGenProcessor(ProcessorMixin):
    r"""Turns descriptions, lyrics and optional reference voices into SongGen model inputs.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the description tokenizer.
        lyrics_tokenizer (`VoiceBpeTokenizer`): the lyrics tokenizer.
        feature_extractor (`VoiceFeatureExtractor`, *optional*): reference-voice features; ``None``
            for models without a voice encoder (a voice passed to such a processor is an error).
        max_lyrics_length (`int`, *optional*): default limit on lyric tokens per song, counting
            ``[START]`` and ``[STOP]``; ``None`` falls back to :attr:`model_max_lyrics_length`.

    ``model_max_lyrics_length`` is the lyrics encoder's ``max_position_embeddings``, and
    ``use_tempo_control`` / ``use_key_control`` / ``use_arrangement_control`` say whether the model takes
    musical controls (then every batch carries ``tempo_bpm``, ``music_key_ids`` and ``arrangement_ids``
    read from the descriptions).  All of them come from the model config, by :meth:`for_config` and
    :meth:`from_pretrained` (``config.json`` beside the processor files); they are not saved: they
    follow the model the processor sits with.

    Example::

        processor = SongGenProcessor.from_pretrained(checkpoint_dir)
        inputs = processor("an upbeat pop song with a female voice", "hold me close tonight")
        audio = model.generate(**inputs)
    """

    @classmethod
    def get_attributes(cls) -> list[str]:
        # Only the description tokenizer goes through the mixin's generic machinery; see the
        # module docstring for why the other two components cannot.
        return ["tokenizer"]

    def __init__(
        self,
        tokenizer,
        lyrics_tokenizer: VoiceBpeTokenizer,
        feature_extractor: VoiceFeatureExtractor | None = None,
        max_lyrics_length: int | None = None,
    ):
        super().__init__(tokenizer=tokenizer)
        if not isinstance(lyrics_tokenizer, VoiceBpeTokenizer):
            raise TypeError(f"lyrics_tokenizer must be a VoiceBpeTokenizer, got {type(lyrics_tokenizer).__name__}.")
        if feature_extractor is not None and not isinstance(feature_extractor, VoiceFeatureExtractor):
            raise TypeError(
                "feature_extractor must be a VoiceFeatureExtractor or None (model without a voice encoder), "
                f"got {type(feature_extractor).__name__}."
            )
        self.lyrics_tokenizer = lyrics_tokenizer
        self.feature_extractor = feature_extractor
        self.max_lyrics_length = check_lyrics_limit(max_lyrics_length, "max_lyrics_length")
        # The lyrics encoder's position budget, when the model config is known (see the class docstring).
        self.model_max_lyrics_length: int | None = None
        self.use_tempo_control = self.use_key_control = self.use_arrangement_control = False
        # The model's SongGenConfig, when known: its window and frame rate plan songs longer than one window.
        self.model_config = None
        # Where save_pretrained put (or from_pretrained found) the lyrics vocabulary, for processor_config.json.
        self._lyrics_vocab_file = VOCAB_FILE_NAME

    @classmethod
    def for_config(
        cls, config, tokenizer, lyrics_tokenizer: VoiceBpeTokenizer, max_lyrics_length: int | None = None
    ) -> SongGenProcessor:
        """Build a processor whose voice features match ``config`` (a ``SongGenConfig``).

        With ``config.voice_encoder`` set, the feature extractor uses its sampling rate and clip
        length, so ``voice_values`` always has the ``max_samples`` the voice encoder expects;
        without one, the processor has no feature extractor.
        """
        voice_config = getattr(config, "voice_encoder", None)
        feature_extractor = None
        if voice_config is not None:
            feature_extractor = VoiceFeatureExtractor(
                sampling_rate=int(voice_config.sampling_rate), clip_seconds=float(voice_config.clip_seconds)
            )
        processor = cls(tokenizer, lyrics_tokenizer, feature_extractor, max_lyrics_length=max_lyrics_length)
        lyrics_config = getattr(config, "lyrics_encoder", None)
        processor.model_max_lyrics_length = getattr(lyrics_config, "max_position_embeddings", None)
        decoder_config = getattr(config, "decoder", None)
        processor.use_tempo_control = bool(getattr(decoder_config, "use_tempo_control", False))
        processor.use_key_control = bool(getattr(decoder_config, "use_key_control", False))
        processor.use_arrangement_control = bool(getattr(decoder_config, "use_arrangement_control", False))
        processor.model_config = config if getattr(config, "model_type", None) == "songgen" else None
        return processor

    # ------------------------------------------------------------------ inputs
    @property
    def model_input_names(self) -> list[str]:
        """Keys :meth:`__call__` can produce; the voice keys only with a feature extractor."""
        names = list(DESCRIPTION_KEYS + LYRICS_KEYS)
        if self.feature_extractor is not None:
            names += list(VOICE_KEYS)
        if self.use_tempo_control:
            names.append("tempo_bpm")
        if self.use_key_control:
            names.append("music_key_ids")
        if self.use_arrangement_control:
            names.append("arrangement_ids")
        return names

    def __call__(
        self,
        description: str | Sequence[str] | None = None,
        lyrics: str | Sequence[str] | None = None,
        reference_voice: Any = None,
        sampling_rate: int | Sequence[int | None] | None = None,
        voice_start: float | Sequence[float] = 0.0,
        return_tensors: str | None = "pt",
        max_lyrics_length: int | None = None,
        truncation: bool = False,
        strict_voice: bool = True,
        tempo_bpm: float | Sequence[float | None] | None = None,
        key: str | Sequence[str | None] | None = None,
        duration_s: float | None = None,
        window_s: float | None = None,
        context_s: float | None = None,
        plans: Sequence[SongPlan] | None = None,
        repeat_sections: bool = True,
        repeat_whole_sections: bool = True,
        window_starts_on_bars: bool = True,
    ) -> BatchFeature:
        """Prepare a batch of songs.

        Args:
            description: a text prompt, or a list with one per song.
            lyrics: a lyric string or a list with one per song (same length as ``description``);
                ``""`` or ``None`` means no lyrics (``[START, STOP]``). Lines may be separated by
                ``"\\n"``.
            reference_voice: ``None`` (no voice for any song), one reference for a single song, or a
                list with one entry per song. An entry is ``None``, an audio file path, an
                ``(array, sampling_rate)`` pair, or an array whose rate is given by
                ``sampling_rate``.
            sampling_rate: rate of array voices: one int, or one per song.
            voice_start: where each reference clip starts, in seconds (one value or one per song).
            return_tensors: ``"pt"`` (default), ``"np"`` or ``None`` (lists).
            max_lyrics_length: limit on lyric tokens per song (with ``[START]``/``[STOP]``);
                defaults to the processor's ``max_lyrics_length``, else the model's
                ``model_max_lyrics_length``.
            truncation: cut over-long lyrics (keeping ``[STOP]``) and descriptions (to the
                tokenizer's ``model_max_length``) instead of raising for lyrics.
            strict_voice: refuse a given reference voice that is silent or shorter than the
                feature extractor's clip (3 s) instead of warning / zero-padding it.
            tempo_bpm / key: musical controls (models built with them only), one value or one per
                song (``None`` = read from the description, e.g. "at 96 BPM", "in F# minor").
            duration_s / window_s / context_s: the songs' length and the windows ``generate`` makes it in
                (``None``: the model's); a song longer than one window is planned (:meth:`plan_song`) and each
                window's lyrics encoded too.
            plans: the songs' plans as :meth:`plan_song` made them (one per song), instead of the lengths: a
                caller that planned the songs already hands the plans on rather than planning them again.
            repeat_sections: plan a repeated section's windows to return to its first occurrence (``False``: they
                continue like any other; see :meth:`plan_song`).
            repeat_whole_sections: a repeated section plays its first occurrence's music for its whole length
                (``False``: it opens with its first seconds only; see :meth:`plan_song`).
            window_starts_on_bars: each later window starts on a bar line of the song's tempo (``False``: where the
                stride puts it; see :meth:`plan_song`).

        A song with neither description nor lyrics, a description over ``MAX_DESCRIPTION_CHARS``
        characters or ``MAX_DESCRIPTION_TOKENS`` tokens, lyrics over ``MAX_LYRICS_CHARS`` characters
        or the token limit, a reference voice over ``MAX_REFERENCE_VOICE_SECONDS`` (all in
        :mod:`songgen_hf.modeling.limits`; lengths are checked before anything is tokenised or decoded),
        lyric characters with no Latin reading (accented letters are transliterated: é -> e), a
        tempo outside [20, 400] BPM or a key that does not exist ("in H# major") raise
        ``ValueError`` naming the song.  :meth:`interpret` says what a song was understood as.

        Returns:
            `BatchFeature` with ``input_ids``, ``attention_mask`` (description, right padded),
            ``lyrics_input_ids``, ``lyrics_attention_mask`` and, when any song has a reference
            voice, ``voice_values`` / ``voice_attention_mask`` (songs without one get a masked,
            all-zero row); for models with musical controls ``tempo_bpm`` (NaN = none asked) and
            ``music_key_ids`` (24 = none asked); for a song longer than one window,
            ``window_lyrics_input_ids`` / ``window_lyrics_attention_mask`` ``(batch, windows, length)``: each
            window's planned lines, encoded as ``lyrics_input_ids`` are (``generate`` conditions each window on
            its own; an instrumental window's are ``[START, STOP]``); ``window_input_ids`` /
            ``window_attention_mask`` ``(batch, windows, length)`` and, for the controls the model has,
            ``window_tempo_bpm`` / ``window_music_key_ids`` ``(batch, windows)``: each window's description (the
            song's, after the note of the section it plays, :meth:`WindowPlan.description`);
            ``window_ends`` ``(batch, windows)``: where each window ends (frames; windows start at the sections
            where the music changes); ``window_anchor_frames`` ``(batch, windows)``: where a repeated section's
            window returns to (-1: none); ``return_source_frames`` ``(batch, frames)``: for each frame of a repeated
            section, the frame of its first occurrence whose music it plays again (-1: none;
            :meth:`SongPlan.return_sources`); and for a dual-track model ``instrumental_frames`` ``(batch, frames)``:
            True in the plan's instrumental sections, where ``generate`` holds the vocal track at the codec's
            codes of silence.
        """
        descriptions, lyric_texts = text_batch(description, lyrics)  # first: a huge paste must cost nothing
        return self._process(
            descriptions,
            lyric_texts,
            reference_voice,
            sampling_rate,
            voice_start,
            return_tensors,
            max_lyrics_length,
            truncation,
            strict_voice,
            tempo_bpm,
            key,
            duration_s,
            window_s,
            context_s,
            plans,
            repeat_sections,
            repeat_whole_sections,
            window_starts_on_bars,
        )

    def _process(
        self,
        descriptions: list[str],
        lyric_texts: list[str],
        reference_voice: Any,
        sampling_rate: Any,
        voice_start: Any,
        return_tensors: str | None,
        max_lyrics_length: int | None,
        truncation: bool,
        strict_voice: bool,
        tempo_bpm: Any,
        key: Any,
        duration_s: float | None,
        window_s: float | None,
        context_s: float | None,
        plans: Sequence[SongPlan] | None,
        repeat_sections: bool,
        repeat_whole_sections: bool = True,
        window_starts_on_bars: bool = True,
    ) -> BatchFeature:
        """:meth:`__call__` for texts :func:`text_batch` accepted."""
        if return_tensors not in ("pt", "np", None):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")
        # the processor's own limit was checked when it was built; a call's is checked here
        limit = self.max_lyrics_length
        if max_lyrics_length is not None:
            limit = check_lyrics_limit(max_lyrics_length, "max_lyrics_length")
        from_model = limit is None and self.model_max_lyrics_length is not None
        if from_model:
            limit = self.model_max_lyrics_length
        # Parse the voices before tokenizing so input mistakes surface before any work is done.
        voices = split_reference_voices(reference_voice, sampling_rate, len(descriptions))
        if voices is not None and self.feature_extractor is None:
            raise ValueError(
                "A reference voice was given, but this model has no voice encoder (the processor has no "
                "voice feature extractor); drop reference_voice or use a checkpoint with voice conditioning."
            )

        if voices is not None:  # from headers and shapes only: nothing is decoded yet
            check_reference_voices(*voices)
        if plans is not None:
            if duration_s is not None or window_s is not None or context_s is not None:
                raise ValueError("Pass either plans or duration_s / window_s / context_s (which plan the songs).")
            if (
                len(plans) != len(descriptions)
                or not all(isinstance(plan, SongPlan) for plan in plans)
                or len({(plan.duration_s, plan.window_s, plan.context_s) for plan in plans}) != 1
            ):
                raise ValueError(
                    f"plans must hold one SongPlan per song ({len(descriptions)}), as plan_song makes them for "
                    "songs of one length."
                )
        elif duration_s is not None:  # a plan that cannot be sung is refused before anything is tokenised
            lengths = (duration_s, window_s, context_s)
            options = {
                "repeat_sections": repeat_sections,
                "repeat_whole_sections": repeat_whole_sections,
                "window_starts_on_bars": window_starts_on_bars,
            }
            tempos = self._song_tempos(descriptions, tempo_bpm)
            plans = [
                self.plan_song(text, *lengths, **options, tempo_bpm=tempo) for text, tempo in zip(lyric_texts, tempos)
            ]
            plans = None if plans[0] is None else plans  # one length for all: all fit one window, or none does
        elif window_s is not None or context_s is not None:
            raise ValueError("window_s / context_s plan a song of a given length: pass duration_s too.")
        controls = musical_controls(
            descriptions,
            tempo_bpm,
            key,
            self.use_tempo_control,
            self.use_key_control,
            strict=True,
            use_arrangement=self.use_arrangement_control,
        )
        data = self._encode_descriptions(descriptions, truncation)
        data.update(controls)
        data.update(self._encode_lyrics(lyric_texts, limit, truncation, from_model))
        if plans is not None:
            # each window its own description and controls: the song's, after a section's note where one sets it
            # (every planned song has them, so that songs with and without notes batch together)
            # each song in its own windows; a song of fewer windows than the batch's repeats its last one
            count = max(len(plan.windows) for plan in plans)
            texts = [
                text
                for plan, song in zip(plans, descriptions)
                for text in _padded(plan.window_descriptions(song), count)
            ]
            check_description_chars(texts)
            per_window = [
                None
                if value is None or not isinstance(value, (list, tuple))
                else [v for v in value for _ in range(count)]
                for value in (tempo_bpm, key)
            ]
            window_controls = musical_controls(
                texts,
                tempo_bpm if per_window[0] is None else per_window[0],
                key if per_window[1] is None else per_window[1],
                self.use_tempo_control,
                self.use_key_control,
                strict=True,
            )
            rows = {**self._encode_descriptions(texts, truncation), **window_controls}
            for name, values in rows.items():
                data[f"window_{name}"] = [values[song * count : (song + 1) * count] for song in range(len(plans))]
        if plans is not None:
            count = max(len(plan.windows) for plan in plans)
            windows = self._encode_lyrics(
                [text for plan in plans for text in _padded(plan.window_lyrics(), count)], limit, truncation, from_model
            )
            for name, rows in windows.items():
                data[f"window_{name}"] = [rows[song * count : (song + 1) * count] for song in range(len(plans))]
            if "vocals" in self.model_config.decoder.token_pattern().track_names:
                rate = self.model_config.frame_rate
                data["instrumental_frames"] = [plan.instrumental_frames(rate) for plan in plans]
            # where each window's anchor starts: a repeated section's first occurrence (generate's repeat_sections)
            rate = self.model_config.frame_rate
            data["window_anchor_frames"] = [_padded(plan.anchor_frames(rate), count, -1) for plan in plans]
            # and, frame by frame, the first occurrence whose music a repeated section plays again: its accompaniment
            # (a one-track model's mix, where the words are the first occurrence's too) is held at those codes
            one_track = "vocals" not in self.model_config.decoder.token_pattern().track_names
            data["return_source_frames"] = [plan.return_sources(rate, same_lines_only=one_track) for plan in plans]
            # and where each window ends: the plan's windows, cut at its section edges
            data["window_ends"] = [_padded(plan.window_ends(rate), count) for plan in plans]
        if voices is not None:
            data.update(self._extract_voices(voices, voice_start, return_tensors, strict_voice))
        return BatchFeature(data, tensor_type=return_tensors)

    def plan_song(
        self,
        lyrics: str,
        duration_s: float,
        window_s: float | None = None,
        context_s: float | None = None,
        repeat_sections: bool = True,
        edges_s: Sequence[float] | None = None,
        repeat_whole_sections: bool = True,
        tempo_bpm: float | None = None,
        window_starts_on_bars: bool = True,
    ) -> SongPlan | None:
        """What each window of a song of ``duration_s`` seconds sings (:func:`plan_song`), in the windows
        ``generate`` makes (``window_s`` / ``context_s`` as given to it, else the model's); ``None`` when the song
        fits one window, which is sung in one pass with all its lyrics.

        Raises ``ValueError`` naming the sections for an empty sung section or more lines than the length can
        sing, and for a processor that does not know its model (built by hand: set ``processor.model_config``).
        The lengths are checked here, where the plan uses them.  ``repeat_sections=False``: no
        window returns to an earlier section; ``repeat_whole_sections=False``: a repeated section opens with its first
        occurrence's first seconds only, instead of playing its music for its whole length; ``edges_s``: where
        windows start instead of this song's own section edges (see :func:`plan_song`); ``tempo_bpm``: the song's
        asked tempo (read from its description, or the ``tempo_bpm`` given), on whose bar lines each later window
        starts for a model with a tempo control, as its training crops start on bar lines
        (``window_starts_on_bars=False``: where the stride puts it, the tempo control told the beats counted
        there)."""
        from songgen_hf.modeling.songgen.arguments_songgen import check_song_lengths

        config = self.model_config
        if config is None:
            raise ValueError(
                "This processor does not know its model's window, so it cannot plan a song by windows: build it "
                "with SongGenProcessor.for_config(model.config, ...), load it from the model's folder, or set "
                "processor.model_config = model.config."
            )
        asked = {"duration_s": duration_s, "window_s": window_s, "context_s": context_s}
        check_song_lengths(asked, config)
        if window_s is None and context_s is None and fits_default_window(config, duration_s):
            return None  # one pass of the default window
        window, context = song_windows(config, window_s, context_s)
        total = duration_frames(config, duration_s)
        if total <= window:
            return None
        for option, value in (
            ("repeat_sections", repeat_sections),
            ("repeat_whole_sections", repeat_whole_sections),
            ("window_starts_on_bars", window_starts_on_bars),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{option} must be True or False, got {value!r}.")
        clean = self.lyrics_tokenizer.clean
        return plan_song(
            lyrics or "",
            total,
            window,
            context,
            config.frame_rate,
            lambda line: line_syllables(clean(line)),
            repeat_sections=repeat_sections,
            edges_s=edges_s,
            repeat_whole_sections=repeat_whole_sections,
            bar_bpm=tempo_bpm if window_starts_on_bars and self.use_tempo_control else None,
        )

    def _song_tempos(self, descriptions: Sequence[str], tempo_bpm) -> list[float | None]:
        """Each song's asked tempo as the tempo control reads it (``None``: none asked, or no tempo control)."""
        if not self.use_tempo_control:
            return [None] * len(descriptions)
        read = musical_controls(descriptions, tempo_bpm, None, True, False, strict=True)["tempo_bpm"]
        return [None if value is None or not np.isfinite(value) else float(value) for value in read]

    def interpret(
        self,
        description: str,
        lyrics: str = "",
        tempo_bpm=None,
        key=None,
        duration_s: float | None = None,
        window_s: float | None = None,
        context_s: float | None = None,
        plan: SongPlan | None = None,
        window_starts_on_bars: bool = True,
    ) -> dict[str, Any]:
        """What the model will be asked for one song, as a plain JSON-able dict; validates like ``__call__``.

        Keys: ``tempo_bpm`` (float or None) and ``tempo_source`` (``"description"``, ``"argument"``
        or None); ``key`` (canonical name such as ``"F# minor"``, or None) and ``key_source``;
        ``musical_controls`` (whether this model takes the tempo/key controls -- when False they are
        still read and reported, but only the description's words reach the model); ``vocals`` /
        ``drums`` (True, False or None: asked with, without, not said) and ``arrangement_control``
        (whether this model takes them as a control); ``lyrics`` (the sung lines as
        the model reads them, one per line: section tags left out, cleaned, accents transliterated) and
        ``lyrics_encoded`` (the exact text the lyrics encoder reads: those lines joined by ".");
        ``sections`` (the song's structure: ``[{"section": "verse", "label": "Verse 1", "lines": [...]}, ...]``,
        each line as the model reads it; see :mod:`~songgen_hf.modeling.songgen.tokenization_songgen`); ``instrumental``
        (no lyrics); ``plan``, only for a ``duration_s`` longer than the model's window (in the windows of
        ``window_s`` / ``context_s``): :meth:`SongPlan.to_dict`, the sections' start and end seconds and each
        window's lines (``plan``: the song's plan as :meth:`plan_song` made it, instead of the lengths).  Bad input
        raises the ``ValueError`` that ``__call__`` would (and :meth:`plan_song`'s).  ``window_starts_on_bars``: as
        for :meth:`plan_song`.
        """
        (description,), (lyrics,) = text_batch(description, "" if lyrics is None else lyrics, single=True)
        if tempo_bpm is not None and not self.use_tempo_control:
            musical_controls([description], tempo_bpm=tempo_bpm, use_tempo=False, use_key=False)  # raises
        if key is not None and not self.use_key_control:
            musical_controls([description], key=key, use_tempo=False, use_key=False)  # raises
        limit = self.max_lyrics_length or self.model_max_lyrics_length  # the processor's own: checked when built
        self._encode_lyrics([lyrics], limit, False, limit_from_model=self.max_lyrics_length is None)  # the checks
        self._encode_descriptions([description], False)  # the token limit
        options = {"tempo_bpm": self._song_tempos([description], tempo_bpm)[0]} if duration_s is not None else {}
        if options:
            options["window_starts_on_bars"] = window_starts_on_bars
        plan = self._planned(lyrics, plan, duration_s, window_s, context_s, **options)
        return self._reading(description, lyrics, tempo_bpm, key, plan)

    def prepare(
        self,
        description: str,
        lyrics: str = "",
        *,
        reference_voice: Any = None,
        voice_start: float = 0.0,
        tempo_bpm=None,
        key=None,
        max_lyrics_length: int | None = None,
        truncation: bool = False,
        duration_s: float | None = None,
        window_s: float | None = None,
        context_s: float | None = None,
        repeat_sections: bool = True,
        plan: SongPlan | None = None,
        return_tensors: str | None = "pt",
        repeat_whole_sections: bool = True,
        window_starts_on_bars: bool = True,
    ) -> tuple[BatchFeature, dict[str, Any]]:
        """One song's inputs (what :meth:`__call__` returns for it) and what it is understood as (what
        :meth:`interpret` returns), its texts and options checked once: what ``songgen_hf.pipelines.prepare_song``
        asks of a processor."""
        (description,), (lyrics,) = text_batch(description, "" if lyrics is None else lyrics, single=True)
        lengths = (
            {
                "repeat_sections": repeat_sections,
                "repeat_whole_sections": repeat_whole_sections,
                "window_starts_on_bars": window_starts_on_bars,
                "tempo_bpm": self._song_tempos([description], tempo_bpm)[0],
            }
            if duration_s is not None
            else {}
        )
        plan = self._planned(lyrics, plan, duration_s, window_s, context_s, **lengths)
        features = self._process(
            [description],
            [lyrics],
            reference_voice,
            None,
            voice_start,
            return_tensors,
            max_lyrics_length,
            truncation,
            True,
            tempo_bpm,
            key,
            None,
            None,
            None,
            None if plan is None else [plan],
            repeat_sections,
        )
        return features, self._reading(description, lyrics, tempo_bpm, key, plan)

    def _planned(self, lyrics: str, plan, duration_s, window_s, context_s, **options) -> SongPlan | None:
        """The song's plan: ``plan`` as given, or made from the lengths (``None``: it fits one window)."""
        if duration_s is None and (window_s is not None or context_s is not None):
            raise ValueError("window_s / context_s plan a song of a given length: pass duration_s too.")
        if plan is not None and duration_s is not None:
            raise ValueError("Pass either plan or duration_s / window_s / context_s (which plan the song).")
        if duration_s is not None:
            plan = self.plan_song(lyrics, duration_s, window_s, context_s, **options)
        return plan

    def _reading(self, description: str, lyrics: str, tempo_bpm, key, plan: SongPlan | None) -> dict[str, Any]:
        """:meth:`interpret`'s reading of texts and controls this processor has checked."""
        controls = self.use_tempo_control or self.use_key_control
        reading = interpret_controls(description, tempo_bpm, key)
        cleaned = self.lyrics_tokenizer.clean(lyrics)
        sections = [
            {**section, "lines": [self.lyrics_tokenizer.clean(line) for line in section["lines"]]}
            for section in parse_song_structure(lyrics).to_list()
        ]
        understood = {
            **reading,
            "musical_controls": bool(controls),
            "arrangement_control": self.use_arrangement_control,
            # the sung lines as the model reads them (cleaned; tags are structure), one per line, and the exact
            # text the lyrics encoder reads (its lines joined by ".")
            "lyrics": "\n".join(line for section in sections for line in section["lines"] if line),
            "lyrics_encoded": cleaned,
            "sections": sections,
            "instrumental": not cleaned,
        }
        if plan is not None:
            understood["plan"] = self._read_plan(plan)
            if self.use_tempo_control:  # said with the plan: a window shorter than a bar of the song's tempo
                tempos = [reading.get("tempo_bpm")] + [read_tempo(window.note) for window in plan.windows]
                warning = slow_tempo_warning(_slowest([t for t in tempos if t is not None]), plan.window_s)
                if warning is not None:
                    understood["plan"].setdefault("warnings", []).append(warning)
        return understood

    def _read_plan(self, plan: SongPlan) -> dict:
        """``plan.to_dict()`` with every line as the model reads it (cleaned, as ``interpret``'s sections)."""
        reading = plan.to_dict()
        for item in (*reading["sections"], *reading["windows"]):
            item["lines"] = [self.lyrics_tokenizer.clean(line) for line in item["lines"]]
        return reading

    def _encode_descriptions(self, descriptions: list[str], truncation: bool) -> dict[str, list]:
        cap = getattr(self.tokenizer, "model_max_length", None)
        cap = MAX_DESCRIPTION_TOKENS if not isinstance(cap, int) else min(cap, MAX_DESCRIPTION_TOKENS)
        encoded = self.tokenizer(
            descriptions,
            padding=True,
            truncation=bool(truncation),
            max_length=cap if truncation else None,
            padding_side="right",  # SongGen pads descriptions on the right, whatever the tokenizer's default
            return_attention_mask=True,
            return_token_type_ids=False,
        )
        if not truncation:
            check_description_tokens([sum(mask) for mask in encoded["attention_mask"]])
        return {key: encoded[key] for key in DESCRIPTION_KEYS}

    def _encode_lyrics(
        self, lyrics: list[str], limit: int | None, truncation: bool, limit_from_model: bool = False
    ) -> dict[str, list]:
        for index, text in enumerate(lyrics):
            # [UNK] would silently drop those sounds from the song; say which characters instead.
            unknown = self.lyrics_tokenizer.unknown_characters(text)
            if unknown:
                listed = ", ".join(repr(char) for char in unknown)
                raise ValueError(
                    f"Lyrics item {index} has characters the lyrics tokenizer cannot represent, even spelled in "
                    f"plain Latin letters (accents are dropped by themselves: é -> e): {listed}. Remove them or "
                    "write those words in Latin letters."
                )
        if limit is not None and not truncation:
            source = " (the lyrics encoder's max_position_embeddings)" if limit_from_model else ""
            for index, text in enumerate(lyrics):
                count = len(self.lyrics_tokenizer.frame_lyrics(text))
                if count > limit:
                    raise ValueError(
                        f"Lyrics item {index} is {count} tokens long (with [START]/[STOP]) but the limit is "
                        f"{limit}{source}. Shorten the lyrics, raise max_lyrics_length, or pass truncation=True."
                    )
        encoded = self.lyrics_tokenizer(
            lyrics, padding=True, max_length=limit, truncation=bool(truncation), return_tensors=None
        )
        return {"lyrics_input_ids": encoded["input_ids"], "lyrics_attention_mask": encoded["attention_mask"]}

    def _extract_voices(
        self, voices: tuple[list, list], voice_start: Any, return_tensors: str | None, strict: bool = True
    ) -> dict[str, Any]:
        items, rates = voices
        features = self.feature_extractor(
            items, sampling_rate=rates, start=voice_start, return_tensors="np", strict=strict
        )
        values = features["input_values"].astype(np.float32, copy=False)
        mask = features["attention_mask"].astype(np.int64)
        if return_tensors is None:
            return {"voice_values": list(values), "voice_attention_mask": list(mask)}
        return {"voice_values": values, "voice_attention_mask": mask}

    # ------------------------------------------------------------------ outputs
    def batch_decode(self, audio_values: Any, audio_lengths: Any = None) -> list[np.ndarray]:
        """Generated waveforms as a list of float32 numpy arrays, each cut to its own length.

        Args:
            audio_values: ``(batch, channels, samples)`` or ``(batch, samples)`` tensor/array, or a
                list of per-song ``(channels, samples)`` / ``(samples,)`` waveforms.
            audio_lengths: valid samples per song (tensor, array or list); ``None`` keeps everything.

        Mono songs come back as ``(samples,)``, multi-channel ones as ``(channels, samples)``.
        """
        if isinstance(audio_values, (list, tuple)):
            waveforms = [_waveform_to_numpy(item, index) for index, item in enumerate(audio_values)]
        else:
            batch = _waveform_to_numpy(audio_values, None)
            if batch.ndim not in (2, 3):
                raise ValueError(
                    f"audio_values must be (batch, channels, samples) or (batch, samples), got shape "
                    f"{tuple(batch.shape)}; for one song use decode()."
                )
            waveforms = list(batch)
        lengths = _as_lengths(audio_lengths, len(waveforms))
        decoded = []
        for index, (waveform, length) in enumerate(zip(waveforms, lengths)):
            if waveform.ndim == 2 and waveform.shape[0] == 1:
                waveform = waveform[0]
            elif waveform.ndim not in (1, 2):
                raise ValueError(
                    f"Waveform {index} has shape {tuple(waveform.shape)}; expected (channels, samples) or (samples,)."
                )
            if length is not None:
                if length > waveform.shape[-1]:
                    raise ValueError(
                        f"audio_lengths[{index}] = {length} exceeds the {waveform.shape[-1]} samples "
                        f"of waveform {index}."
                    )
                waveform = waveform[..., :length]
            decoded.append(np.ascontiguousarray(waveform, dtype=np.float32))
        return decoded

    def decode(self, audio_values: Any, audio_length: int | None = None) -> np.ndarray:
        """One generated waveform (``(channels, samples)``, ``(samples,)`` or a batch of one) as float32 numpy."""
        waveform = _waveform_to_numpy(audio_values, None)
        if waveform.ndim == 3:
            if waveform.shape[0] != 1:
                raise ValueError(f"decode takes one song, got a batch of {waveform.shape[0]}; use batch_decode().")
            waveform = waveform[0]
        lengths = None if audio_length is None else [audio_length]
        return self.batch_decode([waveform], lengths)[0]

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """The contents of ``processor_config.json`` (components are saved in their own files)."""
        output = {
            "processor_class": type(self).__name__,
            "max_lyrics_length": self.max_lyrics_length,
            "lyrics_vocab_file": self._lyrics_vocab_file,
            "voice_feature_extractor_file": (
                FEATURE_EXTRACTOR_CONFIG_NAME if self.feature_extractor is not None else None
            ),
        }
        if getattr(self, "auto_map", None):
            output["auto_map"] = self.auto_map
        return output

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs) -> list[str]:
        """Write every component into ``save_directory``; returns the written files.

        Files: the description tokenizer's own files, ``vocab.json`` (lyrics), ``preprocessor_config.json``
        (voice features, when present) and ``processor_config.json``. ``push_to_hub=True`` then
        uploads a fresh copy (``repo_id``, ``commit_message``, ``token``... go to ``push_to_hub``).
        """
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained expects a folder, but {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)

        self.tokenizer._set_processor_class(type(self).__name__)
        written = [os.fspath(path) for path in self.tokenizer.save_pretrained(save_directory)]
        # A BPE description tokenizer (GPT-2 style) writes its own vocab.json; the lyrics vocabulary
        # then moves to a subfolder, and processor_config.json records where.
        if any(os.path.basename(path) == VOCAB_FILE_NAME for path in written):
            self._lyrics_vocab_file = f"{LYRICS_SUBFOLDER}/{VOCAB_FILE_NAME}"
            written.append(self.lyrics_tokenizer.save_pretrained(os.path.join(save_directory, LYRICS_SUBFOLDER)))
        else:
            self._lyrics_vocab_file = VOCAB_FILE_NAME
            written.append(self.lyrics_tokenizer.save_pretrained(save_directory))
        if self.feature_extractor is not None:
            written.extend(os.fspath(path) for path in self.feature_extractor.save_pretrained(save_directory))
        config_path = os.path.join(save_directory, PROCESSOR_CONFIG_NAME)
        self.to_json_file(config_path)
        written.append(config_path)

        if push_to_hub:
            repo_id = kwargs.pop("repo_id", os.path.basename(os.path.abspath(save_directory)))
            self.push_to_hub(repo_id, **kwargs)
        return written

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> SongGenProcessor:
        """Load a processor saved with :meth:`save_pretrained` (a folder or a Hub repo id).

        Hub arguments (``revision``, ``subfolder``, ``cache_dir``, ``token``, ``local_files_only``...)
        apply to every component; ``max_lyrics_length=...`` overrides the saved default. A missing
        component file raises ``OSError`` naming the file.
        """
        # An official SongGen repo id or folder: its converted, cached folder (the same hook as the model's).
        pretrained_model_name_or_path, kwargs = resolve_pretrained_source(pretrained_model_name_or_path, kwargs)
        source = os.fspath(pretrained_model_name_or_path)
        hub_kwargs = {key: kwargs.pop(key) for key in _HUB_KWARGS if key in kwargs}
        overrides = {key: kwargs.pop(key) for key in _INIT_OVERRIDES if key in kwargs}
        unknown = sorted(key for key in kwargs if key not in _IGNORED_LOAD_KWARGS)
        if unknown:
            logger.warning("SongGenProcessor.from_pretrained ignores unknown arguments %s.", unknown)

        # A LoRA adapter folder has no model weights (and may lack processor files): those come from the base it
        # names, so the processor equals the base's, musical controls and lyric limit included.  Only a folder with
        # an adapter config asks the loader's resolver, which answers None for a full model.
        base = None
        if os.path.isfile(os.path.join(source, "adapter_config.json")):
            base = adapter_base(source)

        def locate(filename: str, what: str | None = None) -> str | None:
            """Resolve ``filename``; when it is missing, raise naming ``what`` if given, else return None."""
            path = cached_file(source, filename, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
            if path is None and base is not None:
                path = cached_file(base, filename, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
            if path is None and what is not None:
                raise OSError(
                    f"Can't load the SongGen processor from {source!r}: the {what} file '{filename}' is missing. "
                    "Save the processor with SongGenProcessor.save_pretrained into the model folder."
                )
            return path

        try:
            config = read_json(locate(PROCESSOR_CONFIG_NAME, "processor config"), PROCESSOR_CONFIG_NAME)
        except ValueError as error:
            raise OSError(f"{PROCESSOR_CONFIG_NAME} in {source!r} cannot be read ({error}).") from None

        if locate(TOKENIZER_CONFIG_NAME) is None and locate(TOKENIZER_FILE_NAME) is None:
            raise OSError(
                f"Can't load the SongGen processor from {source!r}: the description tokenizer files "
                f"'{TOKENIZER_CONFIG_NAME}' / '{TOKENIZER_FILE_NAME}' are missing."
            )
        has_own_tokenizer = base is None or any(
            os.path.isfile(os.path.join(source, name)) for name in (TOKENIZER_CONFIG_NAME, TOKENIZER_FILE_NAME)
        )
        tokenizer = AutoTokenizer.from_pretrained(source if has_own_tokenizer else base, **hub_kwargs)

        lyrics_file = _safe_relative_path(config.get("lyrics_vocab_file") or VOCAB_FILE_NAME, "lyrics_vocab_file")
        lyrics_tokenizer = VoiceBpeTokenizer.from_pretrained(locate(lyrics_file, "lyrics tokenizer (VoiceBPE)"))

        if "voice_feature_extractor_file" in config:
            voice_file = config["voice_feature_extractor_file"]
            voice_path = (
                None
                if voice_file is None
                else locate(_safe_relative_path(voice_file, "voice_feature_extractor_file"), "voice feature extractor")
            )
        else:  # hand-written config: use the file if it is there
            voice_path = locate(FEATURE_EXTRACTOR_CONFIG_NAME)
        feature_extractor = None if voice_path is None else _load_voice_feature_extractor(voice_path)

        init_kwargs = {"max_lyrics_length": config.get("max_lyrics_length"), **overrides}
        processor = cls(tokenizer, lyrics_tokenizer, feature_extractor, **init_kwargs)
        processor._lyrics_vocab_file = lyrics_file
        model_config = _read_model_config(locate(MODEL_CONFIG_NAME) or _pipeline_model_config(source, hub_kwargs))
        processor.model_max_lyrics_length = _model_lyrics_limit(model_config)
        decoder = model_config.get("decoder") if isinstance(model_config.get("decoder"), dict) else {}
        processor.use_tempo_control = decoder.get("use_tempo_control") is True
        processor.use_key_control = decoder.get("use_key_control") is True
        processor.use_arrangement_control = decoder.get("use_arrangement_control") is True
        processor.model_config = _songgen_config(model_config)
        return processor

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(\n  tokenizer={self.tokenizer!r},\n  lyrics_tokenizer={self.lyrics_tokenizer!r},\n"
            f"  feature_extractor={self.feature_extractor!r},\n  max_lyrics_length={self.max_lyrics_length!r}\n)"
        )


# ---------------------------------------------------------------------- helpers
def _songgen_config(config: dict):
    """A SongGen ``config.json`` dict as a ``SongGenConfig`` (its window plans long songs); ``None`` for another
    model's config or a broken one (the model loader reports that)."""
    if config.get("model_type") != "songgen":
        return None
    try:
        return SongGenConfig.from_dict(config)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _as_lengths(audio_lengths: Any, batch_size: int) -> list[int | None]:
    if audio_lengths is None:
        return [None] * batch_size
    if hasattr(audio_lengths, "tolist"):
        audio_lengths = audio_lengths.tolist()
    if isinstance(audio_lengths, Integral):
        audio_lengths = [audio_lengths]
    if not isinstance(audio_lengths, (list, tuple)) or len(audio_lengths) != batch_size:
        raise ValueError(f"audio_lengths must give one length per waveform ({batch_size}), got {audio_lengths!r}.")
    lengths = []
    for index, length in enumerate(audio_lengths):
        if not is_int(length) or length < 0:
            raise ValueError(f"audio_lengths[{index}] must be a non-negative int, got {length!r}.")
        lengths.append(int(length))
    return lengths


def _waveform_to_numpy(value: Any, index: int | None) -> np.ndarray:
    where = "audio_values" if index is None else f"audio_values[{index}]"
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor, without importing torch
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # numpy has no bfloat16
        value = value.numpy()
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{where} has dtype {array.dtype}; batch_decode expects generated waveforms (floats), not codec "
            "token ids. Decode tokens to audio with the model first."
        )
    return array


# ----------------------------------------------------------------------------------------------------
# One line saying what the processor understood from a song (``SongGenProcessor.interpret``).
#
# The CLI prints it before generating; the Space can show the same text.

# words of the cleaned lyrics, whose lines the processor joins with "." and no space
_LYRIC_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


_SOURCES = {"description": "from the description", "argument": "as given"}


def _source(source: Any) -> str:
    return f" ({_SOURCES.get(source, source)})" if source else ""


def format_understood(understood: dict) -> str:
    """``understood: tempo 140 BPM (from the description), key E minor (from the description), lyrics 11 words``
    (``... lyrics 11 words in 2 sections (verse, chorus)`` when section tags give the song's structure), then the
    plan of a song longer than one window (:func:`format_plan`) on the lines after it."""
    parts = []
    for name, value, unit in (("tempo", understood.get("tempo_bpm"), " BPM"), ("key", understood.get("key"), "")):
        if value is None:
            parts.append(f"{name} not stated")
        else:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{name} {shown}{unit}{_source(understood.get(f'{name}_source'))}")
    if understood.get("musical_controls") is False:
        parts[-1] += " (this model has no tempo/key controls, so they do not steer it)"
    stated = [
        f"{'with' if understood[part] else 'without'} {part}"
        for part in ("vocals", "drums")
        if understood.get(part) is not None
    ]
    if stated:
        if understood.get("arrangement_control") is False:
            stated[-1] += " (read from the words only: this model has no vocals/drums control)"
        parts.extend(stated)
    lyrics = understood.get("lyrics") or ""
    if not isinstance(lyrics, str):
        lyrics = "\n".join(str(line) for line in lyrics)
    words = len(_LYRIC_WORD.findall(lyrics))
    sung = f"lyrics {words} words"
    tagged = [
        section.get("label") or section.get("section")
        for section in understood.get("sections") or []
        if section.get("section") is not None
    ]
    if tagged:  # the song's structure, as the tags named it (never sung)
        sung += f" in {len(tagged)} section{'s' if len(tagged) > 1 else ''} ({', '.join(tagged)})"
    parts.append("instrumental (no lyrics)" if understood.get("instrumental") or not words else sung)
    line = "understood: " + ", ".join(parts)
    plan = understood.get("plan")
    return line + "\n" + format_plan(plan) if plan else line


__all__ = [
    "check_description_chars",
    "check_description_tokens",
    "check_lyrics_chars",
    "format_understood",
    "SongGenProcessor",
]
