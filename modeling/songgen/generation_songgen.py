"""Generation for SongGen through transformers' own ``generate()`` and sampling loop.

Nothing of ``generate``/``_sample`` is copied.  ``generate`` below validates SongGen's own
arguments (duration, guidance, audio prompt), turns the duration into the pattern's sequence
length, calls ``GenerationMixin.generate`` and turns the token rows back into audio.  The
library loop enters SongGen through four hooks:

* ``_maybe_prepare_encoder_kwargs_for_generation`` - the conditioning encoders run **once**;
  with guidance the memory is doubled: conditional rows, then the same memory with the chosen
  conditions nulled (as training's condition dropout nulls them); control guidance adds a third
  block, the conditional memory with the musical controls unknown;
* ``_prepare_decoder_input_ids_for_generation`` - the pattern's forced prefix (BOS column, plus
  an audio prompt's codes) as the decoder's first input;
* ``prepare_inputs_for_generation`` - the library's slicing, then the decoder batch repeated once
  per guidance branch;
* ``_get_logits_processor`` - guidance first, then the pattern processor, then the rows' own
  temperatures (``codebook_temperatures``, :class:`SongGenCodebookTemperatureProcessor`), then the library's
  warpers (temperature, top-k, top-p) per codebook row, in a list that reads each processor's
  signature once instead of at every step.  With temperature + top-k sampling alone (the usual
  case) :class:`SongGenTopKDrawProcessor` does the warping (the rows' own temperatures included) and the
  draw among the k candidates and the loop runs greedily on its result: the library's ``torch.multinomial``
  over the whole vocabulary cost a tenth of a CPU decoding step;
* ``_prepare_cache_for_generation`` - SongGen's own ``cache_implementation="preallocated"``
  (the default, see ``preallocated_cache``); ``"static"`` and ``"dynamic"`` are the library's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import GenerationConfig, GenerationMixin
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from songgen_hf.modeling.songgen.arguments_songgen import (
    CHECKED_ARGUMENTS,
    check_generation_arguments,
    check_streamer,
    holds_silent_vocals,
    merged_generation_arguments,
)
from songgen_hf.modeling.songgen.configuration_songgen import (
    UNKNOWN_ARRANGEMENT,
    UNKNOWN_KEY,
    arrangement_parts,
    default_window_s,
    duration_frames,
    fits_default_window,
)
from songgen_hf.modeling.songgen.logits_process_songgen import (
    SignatureCachedLogitsProcessorList,
    SongGenClassifierFreeGuidanceLogitsProcessor,
    SongGenCodebookTemperatureProcessor,
    SongGenPatternLogitsProcessor,
    SongGenTopKDrawProcessor,
    guidance_branches,
    row_temperatures,
    top_k_draw_settings,
)
from songgen_hf.modeling.songgen.long_song_songgen import (
    WINDOW_ARGUMENTS,
    LongSongPlan,
    generate_long_song,
    plan_long_song,
)
from songgen_hf.modeling.songgen.preallocated_cache import (
    CACHE_KWARG,
    DEFAULT_CACHE_IMPLEMENTATION,
    PREALLOCATED,
    given_cache,
    preallocated_encoder_decoder_cache,
)
from songgen_hf.modeling.songgen.progress_songgen import report_stage
from songgen_hf.modeling.songgen.windows_songgen import song_windows

SONGGEN_GENERATION_FIELDS = (
    "duration_s",
    "min_duration_s",
    "guidance_conditions",
    "guidance_top_k",
    "control_guidance_scale",
    "silence_instrumental_vocals",
    "cpu_quantize",
    "codebook_temperatures",
)


class SongGenGenerationConfig(GenerationConfig):
    """A ``GenerationConfig`` that also declares SongGen's length and guidance settings.

    Args:
        duration_s: default length budget in seconds when a call gives none (``None``: 30 s or
            the model's default window if shorter).
        min_duration_s: default minimum length in seconds (``None`` or 0: no minimum).
        guidance_conditions: conditions the unconditional branch of guidance nulls (``None``:
            description and lyrics).
        guidance_top_k: sample from the conditional top-k only, reweighted by guidance.
        control_guidance_scale: extra guidance towards the musical controls (``None`` or 0: off).
        codebook_temperatures: sampling temperatures of a track's first codebooks, e.g. ``{"vocals": [0.6, 0.6,
            0.6]}``; the track's other codebooks, and the other tracks, sample at ``temperature`` (``None`` or
            ``{}``: every row at ``temperature``).  Only where sampling is on; patterns with a row per track.
        silence_instrumental_vocals: hold a dual-track model's vocal track silent for instrumental
            requests (``None``: wherever the model can; ``False``: never).
        cpu_quantize: the decoder precision the model's maker measured and recommends on a CPU
            (``"bf16-heads"``, ``"int8-heads"``), which ``load_text_to_song_pipeline``, ``songgen generate`` and
            ``songgen evaluate`` use there when the caller chooses none (``quantize="fp32"`` keeps float32).  A
            loading choice: ``generate`` itself does not read it (see ``quantization.default_quantize``).
        kwargs: every ``GenerationConfig`` field.
    """

    def __init__(
        self,
        duration_s: float | None = None,
        min_duration_s: float | None = None,
        guidance_conditions: list[str] | str | None = None,
        guidance_top_k: int | None = None,
        control_guidance_scale: float | None = None,
        silence_instrumental_vocals: bool | None = None,
        cpu_quantize: str | None = None,
        codebook_temperatures: dict[str, list[float]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.duration_s = duration_s
        self.min_duration_s = min_duration_s
        self.guidance_conditions = guidance_conditions
        self.guidance_top_k = guidance_top_k
        self.control_guidance_scale = control_guidance_scale
        self.silence_instrumental_vocals = silence_instrumental_vocals
        self.cpu_quantize = cpu_quantize
        self.codebook_temperatures = codebook_temperatures
        # A SongGen config is never "derived from the model config": that flag would make the next
        # load drop the fields above.
        self._from_model_config = False

    @classmethod
    def adopt(cls, config: GenerationConfig | None) -> SongGenGenerationConfig | None:
        """``config`` as this class, every field (loose attributes of a plain config included)
        carried over; a config unchanged since it was loaded stays "unchanged" for the library's
        save-time strictness."""
        if config is None or isinstance(config, cls):
            return config
        unchanged = getattr(config, "_original_object_hash", None) == hash(config)
        adopted = cls.from_dict(config.to_dict())
        if unchanged:
            adopted._original_object_hash = hash(adopted)
        return adopted

    def validate(
        self,
        strict: bool = False,
        user_set_attributes: set[str] | None = None,
        *,
        model_config=None,
        arguments: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        """transformers' validation of the fields (on every construction and ``update``); with ``model_config``,
        SongGen's settings for that model instead: ``arguments`` (a call's, ``None``: not given) over this config's
        saved values, checked against the model's window, pattern and controls (SongGen's cache names included,
        which transformers' own validation does not know).  ``generate()`` runs it on every call; the loader on a
        folder's ``config.json`` and ``generation_config.json`` before any weights load.  ``ValueError`` naming the
        first bad setting (as ``names`` spells it, a saved one as ``generation_config.KEY``) and its fix."""
        if model_config is None:
            super().validate(strict=strict, user_set_attributes=user_set_attributes)
            return
        merged, names = merged_generation_arguments(arguments or {}, self, names)
        check_generation_arguments(merged, model_config, names)

    def to_diff_dict(self) -> dict[str, Any]:
        # the library diffs against a plain GenerationConfig, which lacks these fields: unset ones
        # would be written as nulls
        diff = super().to_diff_dict()
        for key in SONGGEN_GENERATION_FIELDS:
            if diff.get(key, 0) is None:
                del diff[key]
        return diff


DEFAULT_DURATION_S = 30.0


@dataclass
class SongGenGenerateOutput(ModelOutput):
    """
    Args:
        audio: ``(batch, 1, samples)`` decoded song (the mix for dual-track patterns); samples past
            ``audio_lengths[i]`` are zero.
        audio_lengths: valid samples per item.
        sequences: ``(batch, rows, length)`` generated token rows (pattern layout).
        codes: per track name, ``(batch, K, frames)`` codec codes.
        frame_lengths: valid frames per item.
        vocals / accompaniment: the two stems of dual-track patterns, ``(batch, 1, samples)``.
        sampling_rate: of the audio.
        window_starts: for a song longer than the model's window, the frame where each window starts
            (:func:`plan_long_song`); ``sequences`` and ``scores`` are then ``None``.
        window_codes: for such a song, each window's codes as generated, its context included.
    """

    audio: torch.FloatTensor | None = None
    audio_lengths: torch.LongTensor | None = None
    sequences: torch.LongTensor | None = None
    codes: dict | None = None
    frame_lengths: torch.LongTensor | None = None
    vocals: torch.FloatTensor | None = None
    accompaniment: torch.FloatTensor | None = None
    sampling_rate: int | None = None
    scores: tuple | None = None
    window_starts: torch.LongTensor | None = None
    window_codes: tuple | None = None


@dataclass
class _GenerationPlan:
    """What ``generate`` decided before handing over to the library loop."""

    max_length: int
    guidance_scale: float | None
    guidance_conditions: tuple[str, ...]
    guidance_top_k: int | None
    min_frames: int
    # the frames the song keeps: a multi-stream budget is rounded up to whole steps, the song is cut back to this
    frame_limit: int
    control_guidance_scale: float = 0.0
    prompt_codes: tuple | None = None
    prompt_frame_lengths: torch.Tensor | None = None
    mask: torch.Tensor | None = field(default=None, repr=False)
    # (batch,) True for the instrumental requests whose vocal track is held at the codec's codes of silence
    silent_vocals: torch.Tensor | None = None
    # a long song's window: the codes of silence from the window's first frame on, cut from the whole song's
    window_silence: torch.Tensor | None = field(default=None, repr=False)
    # a long song's window: ``(track, codes (batch, K, frames))`` a repeated section's frames hold (-1: free)
    held_track: tuple | None = field(default=None, repr=False)
    # (batch, frames) True where a planned song's instrumental sections hold the vocal track at silence
    instrumental_frames: torch.Tensor | None = field(default=None, repr=False)
    held: torch.Tensor | None = field(default=None, repr=False)
    # a long song's window: (batch,) the frames each song's own window has, where the batch's pass is longer
    row_frames: torch.Tensor | None = None
    # SongGen's own cache, built by the mixin (the library's GenerationConfig rejects names it does not know)
    preallocated_cache: bool = False
    # (top_k, temperature) where SongGenTopKDrawProcessor draws the tokens and the library loop runs greedily
    top_k_draw: tuple[int, float] | None = None
    codebook_temperatures: dict[str, list[float]] | None = None

    @property
    def uses_guidance(self) -> bool:
        """Any guidance branch: the unconditional one, the one without controls, or both."""
        return self.uses_condition_guidance or self.uses_control_guidance

    @property
    def uses_condition_guidance(self) -> bool:
        return self.guidance_scale is not None and self.guidance_scale != 1.0

    @property
    def uses_control_guidance(self) -> bool:
        return bool(self.control_guidance_scale)

    @property
    def num_branches(self) -> int:
        """How many times each song runs through the decoder: conditional, unconditional, without controls."""
        return guidance_branches(self.guidance_scale, self.control_guidance_scale)


class SongGenGenerationMixin(GenerationMixin):
    _songgen_plan: _GenerationPlan | None = None

    @property
    def generation_config(self) -> SongGenGenerationConfig | None:
        """The model's default generation settings, always a :class:`SongGenGenerationConfig`."""
        return self.__dict__.get("_songgen_generation_config")

    @generation_config.setter
    def generation_config(self, value: GenerationConfig | None) -> None:
        # transformers assigns a plain GenerationConfig when it loads generation_config.json;
        # adopting it here is what keeps duration_s & co. through save_pretrained/from_pretrained
        self.__dict__["_songgen_generation_config"] = SongGenGenerationConfig.adopt(value)

    # ------------------------------------------------------------------ validation
    def _frames_for(self, seconds: float) -> int:
        # the rounding the argument checks use too, so a duration they pass always fits here
        return duration_frames(self.config, seconds)

    def _plan_generation(self, generation_config: GenerationConfig, kwargs: dict, explicit: dict) -> _GenerationPlan:
        """``explicit``: the length and sampling arguments this call passed (already checked)."""
        config = generation_config
        if (config.num_beams or 1) > 1:
            raise ValueError("SongGen generates with greedy search or sampling only; set num_beams=1.")
        if (config.num_return_sequences or 1) > 1:
            raise ValueError("num_return_sequences > 1 is not supported; repeat the inputs in the batch instead.")
        # every value below, the saved generation config's included, was checked with the request (generate)
        codebook_temperatures = getattr(config, "codebook_temperatures", None)
        if explicit.get("codebook_temperatures") and not config.do_sample:
            raise ValueError(
                "codebook_temperatures sets sampling temperatures, but do_sample is False (greedy search "
                "takes each row's most likely token whatever its temperature); pass do_sample=True."
            )
        if config.min_length or config.min_new_tokens:
            raise ValueError("min_length/min_new_tokens conflict with the pattern's forced tokens; use min_duration_s.")
        conditions = getattr(config, "guidance_conditions", None) or ("description", "lyrics")
        conditions = (conditions,) if isinstance(conditions, str) else tuple(conditions)
        control_scale = getattr(config, "control_guidance_scale", None) or 0.0
        if control_scale and not self.config.control_dropout_prob:
            warnings.warn(
                f"control_guidance_scale={control_scale:g}: this model was trained without control_dropout_prob, so it "
                "never saw a description with its controls unknown, the case control guidance subtracts; expect little "
                "effect, or noise.",
                UserWarning,
                stacklevel=4,  # past generate() and torch.no_grad's wrapper: the caller's line
            )
        silent_vocals = self._silent_vocal_items(config, kwargs)
        pattern = self.pattern
        prompt_codes, prompt_lengths = self._prompt_codes(kwargs)
        prompt_frames = 0 if prompt_codes is None else prompt_codes[0].shape[-1]
        for key in ("duration_s", "min_duration_s", "max_length"):
            kwargs.pop(key, None)
        duration, max_new_tokens = explicit.get("duration_s"), explicit.get("max_new_tokens")
        max_length = explicit.get("max_length")
        min_duration = explicit.get("min_duration_s", getattr(config, "min_duration_s", None))
        if duration is None and max_new_tokens is None and max_length is None:
            # nothing asked: the saved generation config's length, else the default, grown to an asked minimum
            duration = getattr(config, "duration_s", None)
            if duration is None and config.max_new_tokens is not None:
                max_new_tokens = config.max_new_tokens
            else:
                # the default is one pass of at most the model's default window (what it was trained to make where
                # its config saves that; tiny models hold a few seconds)
                default = min(DEFAULT_DURATION_S, default_window_s(self.config))
                duration = max(duration or default, min_duration or 0.0)
        if min_duration is None and duration is not None:
            # a duration is the song's length: ending sooner is asked for by min_duration_s, never assumed
            min_duration = duration
        prefix = pattern.forced_prefix_length(pattern.generation_mask(1, 1))
        if duration is not None:
            max_length = pattern.sequence_length(self._frames_for(duration))
        elif max_new_tokens is not None:
            max_length = prefix + int(max_new_tokens)
        max_length = int(max_length)
        limit = self.config.decoder.max_position_embeddings
        if max_length > limit:
            seconds = pattern.num_frames(limit) / self.config.frame_rate
            raise ValueError(
                f"The requested length needs {max_length} decoder positions but this model supports {limit} "
                f"(about {seconds:.1f} s); ask for a shorter duration_s (or fewer max_new_tokens)."
            )
        budget = pattern.num_frames(max_length)
        # what the song keeps: a multi-stream budget of whole steps is cut back to the asked duration
        kept = budget if duration is None else min(budget, self._frames_for(duration))
        if prompt_frames and kept <= prompt_frames:
            raise ValueError(
                f"The audio prompt ({prompt_frames} frames) fills the whole budget of {kept} "
                "frames; ask for a longer duration_s or a shorter prompt."
            )
        asked = self._frames_for(min_duration) if min_duration else 1
        if budget < 1:
            needed = pattern.sequence_length(1) - prefix
            raise ValueError(
                f"The length budget ({max_length - prefix} decoder steps) ends before the {pattern.name} pattern's "
                f"first whole frame, which takes {needed} steps (its codebook delay); "
                f"ask for max_new_tokens >= {needed} "
                "or a duration_s."
            )
        if asked > budget:
            raise ValueError(
                f"min_duration_s={min_duration:g} needs {asked} frames but the length budget holds {budget} "
                f"({budget / self.config.frame_rate:.2f} s); lower min_duration_s or raise the budget (duration_s)."
            )
        return _GenerationPlan(
            frame_limit=kept,
            max_length=max_length,
            guidance_scale=config.guidance_scale,
            guidance_conditions=conditions,
            guidance_top_k=getattr(config, "guidance_top_k", None),
            control_guidance_scale=float(control_scale),
            min_frames=max(prompt_frames + 1, asked),
            prompt_codes=prompt_codes,
            prompt_frame_lengths=prompt_lengths,
            silent_vocals=silent_vocals,
            codebook_temperatures=codebook_temperatures,
        )

    def _silent_vocal_items(self, config: GenerationConfig, kwargs: dict) -> torch.Tensor | None:
        """Which songs are instrumental requests whose vocal track is held silent (``None``: none).

        ``silence_instrumental_vocals``: ``None`` (the default) holds them wherever the model can (a vocal
        track and an arrangement control to read the request from), ``True`` insists (refused for a
        model that cannot), ``False`` leaves the vocal track to the model."""
        option = getattr(config, "silence_instrumental_vocals", None)
        arrangement = kwargs.get("arrangement_ids")
        if arrangement is None or not holds_silent_vocals(self.config, option):
            return None
        arrangement = torch.as_tensor(arrangement).reshape(-1)
        silent = torch.tensor([arrangement_parts(int(a))[0] is False for a in arrangement.tolist()])
        return silent if bool(silent.any()) else None

    def _singing(self, singer, vocal_scores, streamer) -> tuple | None:
        """``(singer, scores)`` when a singer re-sings this call's vocal track (``singer`` + ``vocal_scores``, checked
        against the model), else None."""
        if singer is None and vocal_scores is None:
            return None
        if singer is None or vocal_scores is None:
            raise ValueError(
                "singer and vocal_scores go together: the singer sings the scores (one per song, None for a "
                "song it should not sing; songgen_hf.modeling.songgen.processing_songgen.compose_vocal_score "
                "writes them)."
            )
        if not (callable(getattr(singer, "sing", None)) and callable(getattr(singer, "checked_scores", None))):
            raise ValueError(
                f"singer must be a SongGenSinger (SongGenSinger.from_pretrained(folder)), got {type(singer).__name__}."
            )
        return singer, singer.checked_scores(self, vocal_scores, streamer)

    def _prompt_codes(self, kwargs: dict):
        """Per-track prompt codes from ``audio_prompt`` (waveform, single-track patterns) or ``audio_prompt_codes``."""
        waveform = kwargs.pop("audio_prompt", None)
        codes = kwargs.pop("audio_prompt_codes", None)
        lengths = kwargs.pop("audio_prompt_frame_lengths", None)
        if waveform is not None and codes is not None:
            raise ValueError("Pass either audio_prompt (audio) or audio_prompt_codes, not both.")
        if waveform is not None and not (
            isinstance(waveform, torch.Tensor)
            and waveform.dim() == 3
            and waveform.is_floating_point()
            and waveform.shape[1] == 1
        ):
            raise ValueError(
                f"audio_prompt must be a float tensor (batch, 1, samples) at the codec's sampling rate, got "
                f"{type(waveform).__name__}{tuple(waveform.shape) if isinstance(waveform, torch.Tensor) else ''}."
            )
        tensors = codes.values() if isinstance(codes, dict) else [] if codes is None else [codes]
        if any(not isinstance(c, torch.Tensor) or c.dim() != 3 or c.is_floating_point() for c in tensors):
            raise ValueError(
                "audio_prompt_codes must be an integer tensor (batch, codebooks, frames), or a dict of them per track."
            )
        if waveform is not None:
            if self.pattern.num_tracks != 1:
                raise ValueError(
                    f"The {self.pattern.name} pattern needs a prompt per track; pass audio_prompt_codes="
                    "{'accompaniment': codes, 'vocals': codes}."
                )
            encoded = self.audio_encoder.encode(
                waveform.to(self.device), padding_mask=kwargs.pop("audio_prompt_padding_mask", None)
            )
            codes, lengths = encoded.audio_codes[:, : self.config.decoder.num_codebooks], encoded.audio_codes_lengths
        if codes is None:
            return None, None
        if isinstance(codes, dict):
            missing = set(self.pattern.track_names) - set(codes)
            if missing:
                raise ValueError(
                    f"audio_prompt_codes lacks tracks {sorted(missing)} for the {self.pattern.name} pattern."
                )
            codes = tuple(codes[name] for name in self.pattern.track_names)
        elif isinstance(codes, torch.Tensor):
            if self.pattern.num_tracks != 1:
                raise ValueError("Dual-track patterns need audio_prompt_codes as a dict with one entry per track.")
            codes = (codes,)
        return tuple(c.long() for c in codes), lengths

    # ------------------------------------------------------------------ public entry point
    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None, **kwargs):
        r"""Generate songs.

        Takes the processor's outputs (``input_ids``, ``attention_mask``, ``lyrics_input_ids``,
        ``lyrics_attention_mask``, optional ``voice_values``/``voice_attention_mask``) and any
        ``GenerationConfig`` field (``do_sample``, ``temperature``, ``top_k``, ``top_p``,
        ``guidance_scale``, ``cache_implementation``, ...), plus:

        * ``duration_s``: the song's length in seconds, converted to each pattern's own sequence length;
          ``min_duration_s`` (0 up to ``duration_s``) lets the song end earlier when the model ends it:
          without it the song is exactly ``duration_s`` long.  Without ``duration_s`` (or
          ``max_new_tokens`` / ``max_length``) the budget is the saved generation config's
          ``duration_s``, else 30 s or the model's default window if shorter (one pass), raised to
          ``min_duration_s``; ``max_new_tokens`` together with ``duration_s`` is a cap that must
          not cut the duration short.  Every argument is checked first
          (:meth:`SongGenGenerationConfig.validate`): a bad value is a ``ValueError`` naming it, never NaN logits;
        * a ``duration_s`` longer than the model's window (up to ``MAX_SONG_S``) is made window after window,
          each continuing from the previous one's last ``context_s`` seconds of codes, and decoded once
          (:func:`generate_long_song`); ``window_s`` (default: the model's default window, its config's
          ``decoder.default_window_frames`` where saved) and ``context_s`` (default: 0.4
          of the window) set the windows; ``window_lyrics_input_ids`` / ``window_lyrics_attention_mask``
          (the processor's, given ``duration_s``) condition each window on its own planned lines; a
          ``streamer`` follows the whole song and a singer re-sings it window by window; each later window's tempo
          control continues the song's beat (``tempo_start_beats``); the processor's ``return_source_frames`` hold a
          repeated section's accompaniment at its first occurrence's codes for its whole length
          (``repeat_whole_sections=False``: it opens with the first occurrence's first seconds only,
          ``repeat_sections=False``: no section returns);
        * ``guidance_conditions``: which conditions the unconditional branch nulls (default
          description and lyrics; add ``"voice"`` to guide the voice too); ``guidance_top_k``;
        * ``tempo_bpm`` / ``music_key_ids`` / ``arrangement_ids``: musical controls of models built with them (the
          processor fills them from the description); nulled with the description under guidance;
        * ``control_guidance_scale``: a further push towards those controls alone, against a third branch
          with the description and lyrics kept and the controls unknown (1.5x the decoder work with guidance);
          for models trained with ``control_dropout_prob``, which is how they learnt that case;
        * ``silence_instrumental_vocals``: for dual-track models with an arrangement control, the vocal
          track of a song asked without vocals is held at the codec's codes of silence (the
          accompaniment samples freely); ``None`` (default) wherever the model can, ``False`` leaves
          the vocal track to the model, ``True`` refuses a model that cannot;
        * ``instrumental_frames`` ``(batch, frames)`` booleans (the processor's, for a song planned by its
          sections): a dual-track model's vocal track is held at the codec's codes of silence on those frames
          (the plan's instrumental sections), unless ``silence_instrumental_vocals=False``;
        * ``audio_prompt`` (waveform ``(B, 1, samples)``) or ``audio_prompt_codes`` (per track)
          to continue existing audio;
        * ``singer`` + ``vocal_scores``: a :class:`~songgen_hf.modeling.songgen_singer.SongGenSinger` re-sings a
          dual-track song's vocal track;
        * ``return_dict_in_generate``: return a :class:`SongGenGenerateOutput` (audio, lengths,
          codes, stems) instead of the audio tensor; ``decode_audio=False`` skips the codec.
        """
        decode_audio = kwargs.pop("decode_audio", True)
        # the call's settings over the saved ones, validated for this model before anything runs (None means "not
        # given", as in transformers); a long song's windows are not validated again (_generate_window)
        check_streamer(kwargs.get("streamer"))
        explicit = {key: kwargs[key] for key in CHECKED_ARGUMENTS if kwargs.get(key) is not None}
        saved = SongGenGenerationConfig.adopt(generation_config or self.generation_config) or SongGenGenerationConfig()
        saved.validate(model_config=self.config, arguments=explicit)
        # a song longer than one window, or one asked for windows or planned by them: a loop of calls to the one
        # pass, one window each; a song of one pass at the default window, asked no windows, goes straight to it
        asked = generation_config or self.generation_config
        duration = _asked_duration(asked, explicit)
        long_song = None
        if any(key in kwargs for key in WINDOW_ARGUMENTS) or not (
            duration is None or fits_default_window(self.config, duration)
        ):
            long_song = plan_long_song(self, asked, kwargs, explicit, duration)
        if long_song is not None:
            return_dict = kwargs.pop("return_dict_in_generate", None)
            if return_dict is None:
                return_dict = bool((generation_config or self.generation_config).return_dict_in_generate)
            streamer = kwargs.get("streamer")
            codes, lengths, starts, window_codes = generate_long_song(
                self, inputs, generation_config, kwargs, long_song
            )
            result = SongGenGenerateOutput(
                codes=codes,
                frame_lengths=lengths,
                sampling_rate=self.config.sampling_rate,
                window_starts=torch.tensor(starts),
                window_codes=window_codes,
            )
            if decode_audio:
                # decoded a window at a time (the codec's context on both sides): memory stays that of one window
                chunk_s = long_song.window_frames / self.config.frame_rate
                if streamer is not None:
                    report_stage(streamer, "decoding audio")
                self._decode_song(result, codes, {name: lengths for name in codes}, chunk_s)
            return result if return_dict else result.audio
        return self._generate_window(
            inputs, generation_config, kwargs, decode_audio, instrumental_frames=kwargs.pop("instrumental_frames", None)
        )

    def _generate_window(
        self,
        inputs: torch.Tensor | None,
        generation_config: GenerationConfig | None,
        kwargs: dict,
        decode_audio: bool = True,
        *,
        instrumental_frames: torch.Tensor | None = None,
        window_silence: torch.Tensor | None = None,
        held_track: tuple | None = None,
        row_frames: torch.Tensor | None = None,
    ):
        """One pass of the decoder: a song of one window, or one window of a long song (``generate_long_song``,
        which hands each window's state as parameters: ``window_silence`` the window's stretch of the song's
        silence, ``held_track`` a repeated section's held codes, ``row_frames`` each song's own window where the
        batch's pass is longer).  ``kwargs`` are generate()'s, checked by it; nothing is checked again here."""
        explicit = {key: kwargs[key] for key in CHECKED_ARGUMENTS if kwargs.get(key) is not None}
        singing = self._singing(kwargs.pop("singer", None), kwargs.pop("vocal_scores", None), kwargs.get("streamer"))
        generation_config = generation_config or self.generation_config
        # the library's GenerationConfig refuses a cache name of ours: take it out before it validates
        saved = generation_config.to_dict()
        cache_implementation = kwargs.pop("cache_implementation", saved.pop("cache_implementation", None))
        generation_config = SongGenGenerationConfig.from_dict(saved)
        # the length settings stay in kwargs: _plan_generation reads this call's from ``explicit``
        known = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if hasattr(generation_config, key) and key not in ("max_length", "duration_s", "min_duration_s")
        }
        generation_config.update(**known)
        return_dict = generation_config.return_dict_in_generate
        plan = self._plan_generation(generation_config, kwargs, explicit)
        plan.window_silence = window_silence
        plan.held_track = held_track
        plan.row_frames = row_frames
        if generation_config.silence_instrumental_vocals is not False:
            plan.instrumental_frames = instrumental_frames
        plan.preallocated_cache = self._uses_preallocated_cache(cache_implementation, generation_config, kwargs)
        generation_config.cache_implementation = None if plan.preallocated_cache else cache_implementation
        self._songgen_plan = plan
        streamer = kwargs.get("streamer")
        if streamer is not None and hasattr(
            streamer, "frame_limit"
        ):  # SongGenStreamer: cut the stream where the song is cut
            streamer.frame_limit = plan.frame_limit
        generation_config.max_length, generation_config.max_new_tokens = plan.max_length, None
        generation_config.return_dict_in_generate = True
        # Our processor handles guidance; keep the library's off.  1.0, not None: generate() fills None
        # fields from the model's own generation_config, which may hold a guidance_scale.
        generation_config.guidance_scale = 1.0
        plan.top_k_draw = top_k_draw_settings(generation_config)
        if plan.top_k_draw is not None:
            # the draw happens among the top k in SongGenTopKDrawProcessor; the loop only takes its argmax.
            # The library's defaults (top_k 50, temperature 1), not None: None fields are refilled from the
            # model's generation_config, and greedy mode warns about any other value (it builds no warper).
            generation_config.update(do_sample=False, top_k=50, temperature=1.0)
        if streamer is not None:
            report_stage(streamer, "generating")  # one window (a long song's windows report to the song's streamer)
        try:
            with self.frozen_row_weights():  # the model's fused row weights hold still for the call
                output = super().generate(inputs, generation_config=generation_config, **kwargs)
        finally:
            self._songgen_plan = None
        result = self._postprocess_generation(output, plan, decode_audio, singing, streamer)
        return result if return_dict else result.audio

    @staticmethod
    def _uses_preallocated_cache(cache_implementation, generation_config: GenerationConfig, kwargs: dict) -> bool:
        """SongGen's preallocated cache when asked for, or by default unless the call brings its own cache
        (``cache``, or ``past_key_values`` before transformers 5.24) or turns caching off (``use_cache=False``)."""
        if cache_implementation is not None:
            if cache_implementation == PREALLOCATED and generation_config.use_cache is False:
                raise ValueError("cache_implementation='preallocated' needs use_cache=True; drop one of the two.")
            return cache_implementation == PREALLOCATED
        return (
            DEFAULT_CACHE_IMPLEMENTATION == PREALLOCATED
            and generation_config.use_cache is not False
            and given_cache(kwargs) is None
        )

    def _prepare_cache_for_generation(
        self, generation_config, model_kwargs, generation_mode, batch_size, max_cache_length
    ):
        plan = self._songgen_plan
        if plan is None or not plan.preallocated_cache or given_cache(model_kwargs) is not None:
            return super()._prepare_cache_for_generation(
                generation_config, model_kwargs, generation_mode, batch_size, max_cache_length
            )
        # every position the decoder is fed: the whole budget but the last token
        capacity = max(int(max_cache_length), plan.max_length - 1, 1)
        model_kwargs[CACHE_KWARG] = preallocated_encoder_decoder_cache(capacity, config=self.config.decoder)

    # ------------------------------------------------------------------ hooks
    def _maybe_prepare_encoder_kwargs_for_generation(
        self, inputs_tensor, model_kwargs, model_input_name, generation_config
    ):
        plan = self._songgen_plan
        if model_kwargs.get("encoder_outputs") is not None:
            if plan.uses_guidance:
                raise ValueError("Guidance needs the raw conditions, not precomputed encoder_outputs.")
            return model_kwargs
        segments = self.encode_condition_segments(
            inputs_tensor,
            model_kwargs.pop("attention_mask", None),
            model_kwargs.pop("lyrics_input_ids", None),
            model_kwargs.pop("lyrics_attention_mask", None),
            model_kwargs.pop("voice_values", None),
            model_kwargs.pop("voice_attention_mask", None),
            project_description=self.config.project_description_at_inference,
        )
        memory, mask = self.fuse_condition_segments(segments)
        if plan.uses_guidance:
            memories, masks, controls_unknown = [memory], [mask], [False]
            if plan.uses_condition_guidance:
                null = {name: name in plan.guidance_conditions for name in segments}
                null_memory, null_mask = self.fuse_condition_segments(segments, drop=null)
                memories.append(null_memory), masks.append(null_mask)
                controls_unknown.append(null.get("description", False))
            if plan.uses_control_guidance:  # the conditional memory again; only the controls differ
                memories.append(memory), masks.append(mask)
                controls_unknown.append(True)
            memory, mask = torch.cat(memories), torch.cat(masks)
            self._repeat_musical_controls(model_kwargs, controls_unknown)
        model_kwargs["encoder_outputs"] = BaseModelOutput(last_hidden_state=memory)
        model_kwargs["attention_mask"] = mask
        return model_kwargs

    @staticmethod
    def _repeat_musical_controls(model_kwargs: dict, unknown_in: list[bool]) -> None:
        """Guidance runs the batch once per branch; ``unknown_in[i]``: branch i has the controls unknown
        (the unconditional branch loses them with the description, the control-guidance branch always)."""
        for name, unknown in (
            ("tempo_bpm", float("nan")),
            ("music_key_ids", UNKNOWN_KEY),
            ("arrangement_ids", UNKNOWN_ARRANGEMENT),
        ):
            value = model_kwargs.get(name)
            if value is not None:
                value = torch.as_tensor(value).reshape(-1)
                model_kwargs[name] = torch.cat(
                    [torch.full_like(value, unknown) if drop else value for drop in unknown_in]
                )
        start = model_kwargs.get("tempo_start_beats")  # where the metronome stands: the same in every branch
        if start is not None:
            model_kwargs["tempo_start_beats"] = torch.as_tensor(start).reshape(-1).repeat(len(unknown_in))

    def _prepare_decoder_input_ids_for_generation(
        self, batch_size, model_input_name, model_kwargs, decoder_start_token_id, device=None
    ):
        plan = self._songgen_plan
        pattern = self.pattern
        prompt = None
        if plan.prompt_codes is not None:
            prompt = tuple(c.to(device) for c in plan.prompt_codes)
            if prompt[0].shape[0] != batch_size:
                raise ValueError(f"The audio prompt has batch {prompt[0].shape[0]} but there are {batch_size} songs.")
        plan.mask = pattern.generation_mask(
            batch_size,
            plan.max_length,
            prompt=prompt if prompt is None or len(prompt) > 1 else prompt[0],
            prompt_frame_lengths=plan.prompt_frame_lengths,
            device=device,
        )
        if plan.row_frames is not None:
            # a song whose own window is shorter than the batch's pass ends its window as a pass of its own length
            # would (the cells of frames past its end forced as there), so that its frames are the ones it gets
            # alone, whatever songs share its batch; what it makes after that is not kept
            for row, frames in enumerate(plan.row_frames.tolist()):
                length = pattern.sequence_length(frames)
                if length < plan.max_length:
                    own = None if prompt is None else tuple(track[row : row + 1] for track in prompt)
                    plan.mask[row, :, :length] = pattern.generation_mask(
                        1,
                        length,
                        prompt=own if own is None or len(own) > 1 else own[0],
                        prompt_frame_lengths=None
                        if plan.prompt_frame_lengths is None
                        else plan.prompt_frame_lengths[row : row + 1],
                        device=device,
                    )[0]
        if plan.silent_vocals is not None or plan.instrumental_frames is not None:
            plan.held = self._silent_vocal_cells(plan, batch_size, device)
        if plan.held_track is not None:  # a repeated section's track, held at its first occurrence's codes
            track, codes = plan.held_track
            codes = codes.to(device)
            cells = self.pattern.track_cells(track, codes.clamp(min=0), plan.max_length)
            flags = self.pattern.track_cells(track, (codes >= 0).long(), plan.max_length) == 1
            cells = torch.where(flags, cells, torch.full_like(cells, -1))
            plan.held = cells if plan.held is None else torch.where(cells >= 0, cells, plan.held)
        prefix = max(1, pattern.forced_prefix_length(plan.mask))
        decoder_input_ids = plan.mask[..., :prefix].reshape(batch_size * pattern.num_rows, prefix)
        return decoder_input_ids.long(), model_kwargs

    def _silent_vocal_cells(self, plan: _GenerationPlan, batch_size: int, device) -> torch.Tensor:
        """The vocal track's cells of the silent songs and of the planned instrumental sections, holding the codec's
        codes of silence (-1 elsewhere)."""
        frames = self.pattern.num_frames(plan.max_length)
        held = torch.zeros(batch_size, frames, dtype=torch.bool, device=device)
        if plan.silent_vocals is not None:
            items = plan.silent_vocals.to(device)
            if items.shape[0] != batch_size:
                raise ValueError(f"arrangement_ids has {items.shape[0]} entries but there are {batch_size} songs.")
            held |= items.view(-1, 1)
        if plan.instrumental_frames is not None:
            sections = plan.instrumental_frames.to(device)[:, :frames]
            held[:, : sections.shape[-1]] |= sections
        if plan.window_silence is not None:  # a long song's window holds its stretch of the song's silence
            silence = plan.window_silence[..., :frames]
            if silence.shape[-1] < frames:  # whole steps past the song's end, cut from the song afterwards
                silence = torch.cat([silence, silence[..., -1:].expand(-1, -1, frames - silence.shape[-1])], -1)
            silence = silence.to(device)
        else:
            silence = self.silence_codes(frames).to(device)
        cells = self.pattern.track_cells("vocals", silence.expand(batch_size, -1, -1), plan.max_length)
        # the held frames, laid out as the pattern lays out the vocal track: 1 in a held frame's cells
        flags = held.long().unsqueeze(1).expand(-1, self.pattern.num_codebooks, -1)
        held_cells = self.pattern.track_cells("vocals", flags, plan.max_length) == 1
        return torch.where(held_cells, cells, torch.full_like(cells, -1))

    def create_masks_for_generate(self, **kwargs):
        """None: the library would build a full-length 4D mask every step for a static cache, from
        ``batch * rows`` ids, only for the mixin to drop it; the decoder builds its own mask."""
        return None

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        model_inputs = super().prepare_inputs_for_generation(input_ids, **kwargs)
        # The library pre-builds a 4D causal mask for compileable caches from input_ids' batch,
        # which is batch * rows here; the decoder has no padding and builds its own mask.
        model_inputs.pop("decoder_attention_mask", None)
        plan = self._songgen_plan
        if plan is not None and plan.uses_guidance:
            model_inputs["decoder_input_ids"] = model_inputs["decoder_input_ids"].repeat(plan.num_branches, 1)
        return model_inputs

    def _get_logits_processor(
        self, generation_config, input_ids_seq_length=None, encoder_input_ids=None, *args, **kwargs
    ):
        processors = super()._get_logits_processor(
            generation_config, input_ids_seq_length, encoder_input_ids, *args, **kwargs
        )
        plan = self._songgen_plan
        front = []
        if plan.uses_guidance:
            front.append(
                SongGenClassifierFreeGuidanceLogitsProcessor(
                    plan.guidance_scale if plan.uses_condition_guidance else 1.0,
                    plan.guidance_top_k,
                    plan.control_guidance_scale,
                )
            )
        front.append(SongGenPatternLogitsProcessor(self.pattern, plan.mask, min_frames=plan.min_frames, held=plan.held))
        # the rows' own temperatures: the top-k draw tempers its k candidates; otherwise, when the library samples
        # (greedy search picks the same token at any temperature), a processor ahead of its warpers
        if plan.top_k_draw is None and generation_config.do_sample:
            tempering = SongGenCodebookTemperatureProcessor.for_pattern(
                self.pattern, plan.codebook_temperatures, generation_config.temperature
            )
            if tempering is not None:
                front.append(tempering)
        back = (
            []
            if plan.top_k_draw is None
            else [
                SongGenTopKDrawProcessor(
                    *plan.top_k_draw, row_temperatures(self.pattern, plan.codebook_temperatures, plan.top_k_draw[1])
                )
            ]
        )
        return SignatureCachedLogitsProcessorList([*front, *processors, *back])

    # ------------------------------------------------------------------ outputs
    def _postprocess_generation(
        self, output, plan: _GenerationPlan, decode_audio: bool, singing: tuple | None = None, streamer=None
    ) -> SongGenGenerateOutput:
        pattern = self.pattern
        sequences = output.sequences.view(-1, pattern.num_rows, output.sequences.shape[-1])
        mask = plan.mask[..., : sequences.shape[-1]].to(sequences.device)
        sequences = torch.where(mask >= 0, mask, sequences)
        reverted = pattern.revert(sequences)
        # a multi-stream model fills whole steps (S frames); a duration between two steps gets the next step's
        # frames and is cut back to the asked ones here, so duration_s is exact for every pattern (a no-op otherwise)
        codes = {name: track[..., : plan.frame_limit] for name, track in reverted.codes.items()}
        lengths = {name: track.clamp(max=plan.frame_limit) for name, track in reverted.frame_lengths.items()}
        if singing is not None:  # the told singer re-sings the vocal track from the scores (SongGenSinger.sing)
            singer, scores = singing
            if streamer is not None:
                report_stage(streamer, "singing")
            codes["vocals"] = singer.sing(scores, codes, lengths)
        result = SongGenGenerateOutput(
            sequences=sequences,
            codes=codes,
            sampling_rate=self.config.sampling_rate,
            scores=getattr(output, "scores", None),
        )
        result.frame_lengths = lengths[pattern.track_names[0]]
        if decode_audio:
            if streamer is not None:
                report_stage(streamer, "decoding audio")
            self._decode_song(result, codes, lengths)
        return result

    def _decode_song(
        self, result: SongGenGenerateOutput, codes: dict, lengths: dict, chunk_s: float | None = None
    ) -> None:
        """Fill ``result``'s audio (and stems) from the song's ``codes`` per track, decoded by the codec (in chunks of
        ``chunk_s`` seconds when given)."""
        pattern = self.pattern
        first = pattern.track_names[0]
        stems = {name: self._decode_track(track, lengths[name], chunk_s) for name, track in codes.items()}
        hop = self.config.audio_encoder.hop_length
        result.audio_lengths = result.frame_lengths * hop
        if pattern.num_tracks == 1:
            result.audio = stems[first]
        else:
            # the codec returns each stem at its own level: the config's gains restore the mixes' balance
            gains = self.config.stem_gains(pattern)
            stems = {name: stem * gains[name] for name, stem in stems.items()}
            result.accompaniment, result.vocals = stems["accompaniment"], stems["vocals"]
            result.audio = _mix(result.accompaniment, result.vocals)

    def _decode_track(self, codes: torch.Tensor, lengths: torch.Tensor, chunk_s: float | None = None) -> torch.Tensor:
        hop = self.config.audio_encoder.hop_length
        batch = codes.shape[0]
        audio = torch.zeros(batch, 1, codes.shape[-1] * hop, device=codes.device)
        usable = lengths > 0
        if usable.any() and codes.shape[-1] > 0:
            rows = usable.nonzero().flatten()
            decoded = self.audio_encoder.decode(
                codes[rows], audio_codes_lengths=lengths[rows], chunk_seconds=chunk_s
            ).audio_values
            audio[rows] = decoded.to(audio.dtype)
        return audio


def _mix(accompaniment: torch.Tensor, vocals: torch.Tensor) -> torch.Tensor:
    """Sum of the stems; an item whose sum would clip is scaled to a 0.99 peak (stems untouched)."""
    mix = accompaniment + vocals
    peak = mix.abs().amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0.99, mix * (0.99 / peak.clamp(min=1e-9)), mix)


def _asked_duration(generation_config, explicit: dict) -> float | None:
    """The song's length in seconds as a ``generate()`` call asks it: its ``duration_s``; else, with no step cap
    asked, the saved generation config's ``duration_s``, or the asked minimum where no step cap is saved either.
    ``None``: the length is generate's default (one pass) or a budget of steps."""
    duration = explicit.get("duration_s")
    minimum = explicit.get("min_duration_s", getattr(generation_config, "min_duration_s", None))
    if duration is None and explicit.get("max_new_tokens") is None and explicit.get("max_length") is None:
        duration = getattr(generation_config, "duration_s", None)  # a saved default length
        if duration is None and getattr(generation_config, "max_new_tokens", None) is None and minimum:
            # generate's default length (one window at most) grows to an asked minimum
            duration = minimum
    return duration


def expected_decoder_steps(
    model,
    duration_s: float | None = None,
    max_new_tokens: int | None = None,
    window_s: float | None = None,
    context_s: float | None = None,
) -> int:
    """Upper bound on the decoder steps ``model.generate`` takes for this request.

    Mirrors how SongGen's ``generate`` picks its length: ``duration_s`` (argument, else the
    model's ``generation_config.duration_s``), else ``max_new_tokens``, else the default
    duration (at most the model's default window).  A song longer than the model's window counts every
    window's steps (``window_s`` / ``context_s`` as passed to ``generate``); a window continuing from the
    previous one's codes takes none for them.  Only a bar's total depends on it, so an estimate
    that is off does no harm.
    """
    pattern = model.pattern
    prefix = pattern.forced_prefix_length(pattern.generation_mask(1, 1))
    generation_config = getattr(model, "generation_config", None)
    if duration_s is None:
        duration_s = getattr(generation_config, "duration_s", None)
    if duration_s is None:
        if max_new_tokens is None:
            max_new_tokens = getattr(generation_config, "max_new_tokens", None)
        if max_new_tokens is not None:
            return int(max_new_tokens)
        duration_s = min(DEFAULT_DURATION_S, default_window_s(model.config))
    frames = duration_frames(model.config, duration_s)
    if window_s is None and context_s is None and fits_default_window(model.config, duration_s):
        return max(0, pattern.sequence_length(frames) - max(1, prefix))  # one pass of the default window
    window, context = song_windows(model.config, window_s, context_s)
    if frames <= window:
        return max(0, pattern.sequence_length(frames) - max(1, prefix))
    steps = 0
    spans = LongSongPlan(total_frames=frames, window_frames=window, context_frames=context, min_frames=None)
    for start, end in spans.window_spans():
        length = pattern.sequence_length(end - start)
        if start:  # the prompt's columns are forced, as in generate's own mask
            codebooks = model.config.decoder.num_codebooks
            prompt = tuple(torch.zeros(1, codebooks, context, dtype=torch.long) for _ in pattern.track_names)
            mask = pattern.generation_mask(1, length, prompt=prompt if len(prompt) > 1 else prompt[0])
            steps += length - max(1, pattern.forced_prefix_length(mask))
        else:
            steps += length - max(1, prefix)
    return max(0, steps)


__all__ = [
    "expected_decoder_steps",
    "SONGGEN_GENERATION_FIELDS",
    "SongGenGenerateOutput",
    "SongGenGenerationConfig",
    "SongGenGenerationMixin",
]
