"""Streaming SongGen audio while ``generate()`` is still sampling.

:class:`SongGenStreamer` plugs into transformers' ``streamer=`` argument.  The sampling loop
hands it one token column per step (``batch * rows`` ids); the streamer keeps the growing
sequence and, whenever enough frames are *complete* (the pattern decides when: after its
codebook delay, twice as long for interleaving), reverts the pattern over the tokens so far
and decodes a window of codes with the X-Codec decoder.

Why windows are exact.  The X-Codec decoder is a stack of convolutions with a finite receptive
field: changing one frame's codes changes the audio of only the few frames around it (10 on each
side for songgen-tiny v3's DAC-style decoder; 25 for v4's ISTFT decoder, whose network sees 21 and
whose 2 560-point synthesis windows reach 4 more).  So a window ``[start - context, end + lookahead)``
decoded on its own yields the samples of ``[start, end)`` that ``generate()``'s final decode
produces, as long as ``context_frames`` and ``lookahead_frames`` cover the receptive field.  By
default both are derived from the model's own codec (:func:`codec_receptive_field_frames`), so
a codec with a wider decoder streams exactly without new settings.
The first window starts at frame 0 and the last one ends at the song's last frame, exactly
where the whole-song decode has its own edges, so the joined stream matches it end to end.

The crossfade is a safety net for settings with too little context (or a different codec):
the last ``crossfade_ms`` of every chunk is held back and blended with the next window's
decode of the same samples.  The default blend is *equal gain* (sin² / cos², weights sum to
1): the two overlapping signals are decodes of the same codes, i.e. almost perfectly
correlated, and an equal-power blend (sin / cos) would lift identical signals by up to
+3 dB in the middle of every join.  ``crossfade_shape="equal_power"`` is there for
uncorrelated material.

A song longer than the model's window is generated window after window, each continuing from the previous
one's last frames (``long_song_songgen.generate_long_song``).  The streamer follows the song, not the window:
it is told where each later window starts (:meth:`SongGenStreamer.start_window`), keeps the song's codes so
far, and maps the window's new frames after them, so chunks flow across window edges and the decoding windows
above straddle them as they straddle any other frame; it ends once, with the song.

Dual-track patterns stream the mix (accompaniment + vocals), optionally with the stems.
``generate()`` scales a mix that would clip to a 0.99 peak over the *whole song*; a stream
cannot know the future peak, so the streamed mix is the plain sum (playback clips it).  The
streamed stems are unaffected.
"""

from __future__ import annotations

import copy
import math
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from transformers import BatchFeature
from transformers.generation.streamers import BaseStreamer

from songgen_hf.modeling.limits import is_number

if TYPE_CHECKING:
    from songgen_hf.pipelines.requests import SongRequest

DEFAULT_CHUNK_FRAMES = 50  # 1 s at X-Codec's 50 Hz frame rate
DEFAULT_CROSSFADE_MS = 10.0
RECEPTIVE_FIELD_MARGIN_FRAMES = 2

_END = object()


class GenerationCancelled(Exception):
    """Raised inside ``generate()`` (from ``put``) after :meth:`SongGenStreamer.cancel`: it stops the loop."""


def codec_receptive_field_frames(codec, probe_frames: int = 128) -> int:
    """Largest distance, in frames, at which one frame's codes change what a decoded window holds.

    Found from the decoder itself, so it holds for any decoder: the gradient of one frame's
    output (in the middle of ``probe_frames``) with respect to the decoder's input latent is
    non-zero exactly on the frames that can reach it.  It runs on a float64 copy, because a
    freshly initialised ConvNeXt scales each block by ~1e-6 and the far end of the field would
    vanish in float32.  The codebooks and ``fc2`` work frame by frame and add nothing.  For an
    ISTFT decoder the output is its per-frame spectra, the local part of decoding; its synthesis
    windows overlap ``ceil((n_fft / 2 - hop / 2) / hop)`` more frames, which are added.  (Its
    accumulated phases depend on every earlier frame; the streamer carries them on instead.)
    The result is cached on the codec.
    """
    cached = getattr(codec, "_streaming_receptive_field", None)
    if cached is not None:
        return cached
    decoder = copy.deepcopy(codec.acoustic_decoder).cpu().double().eval()
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, codec.fc2.out_features, probe_frames, generator=generator, dtype=torch.float64)
    latent.requires_grad_(True)
    middle = probe_frames // 2
    spectral = getattr(codec, "has_spectral_decoder", False)
    if spectral:
        picked = sum(output[..., middle].sum() for output in decoder.frames(latent))
    else:
        hop = codec.config.hop_length
        picked = decoder(latent)[..., middle * hop : (middle + 1) * hop].sum()
    picked.backward()
    reached = (latent.grad[0].abs().sum(0) > 0).nonzero().flatten()
    field = 0 if reached.numel() == 0 else max(middle - int(reached.min()), int(reached.max()) - middle)
    if spectral:
        field += math.ceil((decoder.n_fft / 2 - decoder.hop_length / 2) / decoder.hop_length)
    if field >= middle:
        raise ValueError(
            f"The codec's decoder reaches {field}+ frames, beyond the {probe_frames}-frame probe; "
            "pass context_frames and lookahead_frames to SongGenStreamer explicitly."
        )
    codec._streaming_receptive_field = field
    return field


class _Failure:
    """A queue item carrying an exception from the generating thread to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


class SongGenStreamer(BaseStreamer):
    """Turns the token columns of ``model.generate(..., streamer=...)`` into audio chunks.

    Iterate over it (``for chunk in streamer``) from another thread than the one running
    ``generate``: each item is a 1-D ``np.float32`` array of new samples at
    ``streamer.sampling_rate`` (or, with ``return_stems=True``, a dict with ``"audio"`` (the
    mix), ``"accompaniment"`` and ``"vocals"``).  The chunks concatenate to ``frames * hop``
    samples, the valid length of ``generate()``'s audio.

    Args:
        model: a ``SongGenForConditionalGeneration`` (its ``pattern`` and ``audio_encoder`` are used).
        chunk_frames: emit audio every this many newly complete frames (50 = 1 s).
        context_frames: codes decoded to the left of a chunk (only its own samples are kept);
            default: the codec's receptive field plus a margin and the crossfade.
        lookahead_frames: complete frames a chunk waits for on its right before it is emitted;
            default: the codec's receptive field (:func:`codec_receptive_field_frames`) plus a
            margin, which gives exact audio.  Lower values cut latency at the price of small
            seams, which the crossfade then smooths.
        crossfade_ms: length of the blend at each chunk join (0 = none); it is held back, so
            it adds that much latency.
        crossfade_shape: ``"equal_gain"`` (default, right for the correlated overlaps here) or
            ``"equal_power"``.
        return_stems: also yield the accompaniment and vocal stems (dual-track patterns only).
        timeout: seconds the iterator waits for the next chunk before raising ``TimeoutError``
            (``None`` = forever).
        progress: a progress streamer (:class:`~songgen_hf.pipelines.GenerationProgress`) that follows the same
            ``generate`` call: it is handed every token column and stage (``generating: window 2/6``) this
            streamer is handed.

    Batch size 1 only: the first ``put`` raises ``ValueError`` otherwise.  A streamer serves one
    ``generate`` call (a song longer than one window included); it starts afresh when it receives a new prompt.
    """

    def __init__(
        self,
        model,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        context_frames: int | None = None,
        lookahead_frames: int | None = None,
        crossfade_ms: float = DEFAULT_CROSSFADE_MS,
        crossfade_shape: Literal["equal_gain", "equal_power"] = "equal_gain",
        return_stems: bool = False,
        timeout: float | None = None,
        progress=None,
    ):
        if progress is not None and not all(callable(getattr(progress, name, None)) for name in ("put", "end")):
            raise ValueError(
                "progress must be a progress streamer with put() and end() (songgen_hf.pipelines.GenerationProgress)"
                f" or None, got {type(progress).__name__}."
            )
        if not is_number(crossfade_ms) or not math.isfinite(crossfade_ms) or crossfade_ms < 0:
            raise ValueError(f"crossfade_ms must be a finite number >= 0, got {crossfade_ms!r}.")
        if timeout is not None and (not is_number(timeout) or not math.isfinite(timeout) or timeout <= 0):
            raise ValueError(f"timeout must be a number of seconds > 0 or None (wait forever), got {timeout!r}.")
        if not isinstance(return_stems, bool):
            raise ValueError(f"return_stems must be True or False, got {return_stems!r}.")
        self.codec = model.audio_encoder
        self.sampling_rate = int(model.config.sampling_rate)
        self.hop_length = int(model.config.audio_encoder.hop_length)
        self.crossfade_samples = int(round(crossfade_ms * self.sampling_rate / 1000))
        if context_frames is None or lookahead_frames is None:
            covered = codec_receptive_field_frames(self.codec) + RECEPTIVE_FIELD_MARGIN_FRAMES
            if lookahead_frames is None:
                lookahead_frames = covered
            if context_frames is None:
                context_frames = covered + math.ceil(self.crossfade_samples / self.hop_length)
        for name, value, minimum in (
            ("chunk_frames", chunk_frames, 1),
            ("context_frames", context_frames, 0),
            ("lookahead_frames", lookahead_frames, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
        if crossfade_shape not in ("equal_gain", "equal_power"):
            raise ValueError(f"crossfade_shape must be 'equal_gain' or 'equal_power', got {crossfade_shape!r}.")
        self.pattern = model.pattern
        # the held-back samples are re-decoded by the next window, which must reach back over them
        if self.crossfade_samples > context_frames * self.hop_length:
            raise ValueError(
                f"crossfade_ms={crossfade_ms} is longer than the left context ({context_frames} frames = "
                f"{1000 * context_frames * self.hop_length / self.sampling_rate:g} ms); raise context_frames."
            )
        if return_stems and self.pattern.num_tracks < 2:
            raise ValueError(f"return_stems needs a dual-track model; the {self.pattern.name} pattern has one track.")
        # each stem at the model's gain, as generate() sums them (SongGenConfig.stem_gains_db)
        gains = model.config.stem_gains(self.pattern)
        self._stem_gains = np.asarray([gains[name] for name in self.pattern.track_names], dtype=np.float32)[:, None]
        self.chunk_frames = chunk_frames
        self.context_frames = context_frames
        self.lookahead_frames = lookahead_frames
        self.crossfade_shape = crossfade_shape
        self.return_stems = return_stems
        self.timeout = timeout
        self.progress = progress
        # set by generate() to the frames duration_s asked for: a multi-stream model generates to the next whole
        # step, and the stream ends where generate() cuts the song, so streamed and returned songs match
        self.frame_limit: int | None = None
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._closed = False  # a terminal item (end or failure) was queued
        self._exhausted = False  # the consumer saw it
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self._columns: list[torch.Tensor] | None = None
        # a long song's codes before the current window's new frames ((tracks, K, offset + context)), the song frame
        # where the window starts and the frames of the window that continue the song (its context)
        self._song_codes: torch.Tensor | None = None
        self._window_offset = 0
        self._window_context = 0
        self._next_window: tuple[int, int] | None = None
        self._done_frames = 0  # frames whose samples were emitted or are held in the tail
        self._tail: np.ndarray | None = None  # (tracks, n) held-back samples before _done_frames
        self._song_ended = False
        self._phase_anchor: tuple[int, torch.Tensor] | None = None  # (frame, its phases) for ISTFT codecs
        self.num_frames = 0
        self.num_samples = 0
        self.num_chunks = 0

    # ------------------------------------------------------------------ BaseStreamer
    def put(self, value: torch.Tensor) -> None:
        """Called by ``generate()``: the prompt ``(batch*rows, P)`` once, then one ``(batch*rows,)`` column per step."""
        if self._cancelled.is_set():
            raise GenerationCancelled("streaming was cancelled by the consumer")
        if self.progress is not None:
            self.progress.put(value)
        try:
            value = value.detach().to("cpu", torch.long)
            rows = self.pattern.num_rows
            if value.dim() == 2:
                if value.shape[0] != rows:
                    raise ValueError(self._batch_error(value.shape[0]))
                if self._next_window is not None:  # a later window of a long song: its prompt is the song so far
                    self._window_offset, self._window_context = self._next_window
                    self._next_window = None
                    self._columns = list(value.unbind(-1))
                    return
                self._reset()
                self._closed = self._exhausted = False
                self._columns = list(value.unbind(-1))
                return
            if self._columns is None:
                raise RuntimeError("SongGenStreamer.put got a token column before the prompt.")
            if value.shape != (rows,):
                raise ValueError(self._batch_error(value.numel()))
            self._columns.append(value)
            self._maybe_emit()
        except Exception as error:
            self.fail(error)
            raise

    def end(self) -> None:
        """Called by ``generate()`` when the loop stops: decode and emit everything left."""
        try:
            if self._columns is not None and not self._cancelled.is_set():
                codes, valid = self._reverted()
                if valid > self._done_frames or self._tail is not None:
                    self._emit(codes, valid, valid, final=True)
                self.num_frames = valid
        except Exception as error:
            self.fail(error)
            raise
        finally:
            if self.progress is not None:
                self.progress.end()
        self._close(_END)

    def stage(self, name: str, index: int = 1, total: int = 1) -> None:
        """Called by ``generate()`` as a stage starts (``generating``, window ``index`` of ``total``): handed to the
        ``progress`` streamer."""
        stage = getattr(self.progress, "stage", None)
        if callable(stage):
            stage(name, index, total)

    def start_window(self, start_frame: int, context_frames: int) -> None:
        """Called by ``generate()`` before each window after the first of a song longer than one window: the
        window starts at the song's frame ``start_frame`` and continues from its first ``context_frames``
        frames, the previous window's last ones; its new frames follow the song so far."""
        if self._cancelled.is_set():  # stop before the next window encodes anything
            raise GenerationCancelled("streaming was cancelled by the consumer")
        if self._columns is None:
            raise RuntimeError("SongGenStreamer.start_window was called before the song's first window.")
        codes, _ = self._reverted()
        if codes.shape[-1] < start_frame + context_frames:
            raise RuntimeError(
                f"SongGenStreamer.start_window({start_frame}, {context_frames}): the song so far holds only "
                f"{codes.shape[-1]} frames."
            )
        self._song_codes = codes[..., : start_frame + context_frames]
        self._next_window = (start_frame, context_frames)

    # ------------------------------------------------------------------ control from outside
    def fail(self, error: BaseException) -> None:
        """Hand ``error`` to the consumer (the iterator raises it); ignored once the stream is closed."""
        self._close(_Failure(error))

    def cancel(self) -> None:
        """Ask the generating thread to stop: its next ``put`` raises :class:`GenerationCancelled`."""
        self._cancelled.set()

    def _close(self, item: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(item)

    # ------------------------------------------------------------------ iterator
    def __iter__(self) -> Iterator[np.ndarray | dict]:
        return self

    def __next__(self) -> np.ndarray | dict:
        if self._exhausted:
            raise StopIteration
        try:
            item = self._queue.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(f"no audio chunk within {self.timeout} s") from None
        if item is _END:
            self._exhausted = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._exhausted = True
            raise item.error
        return item

    # ------------------------------------------------------------------ decoding
    def _batch_error(self, rows: int) -> str:
        batch = rows / self.pattern.num_rows
        shown = int(batch) if batch.is_integer() else f"{rows} rows / {self.pattern.num_rows}"
        return f"SongGenStreamer streams one song at a time (batch size 1); generate() was called with batch {shown}."

    def _reverted(self) -> tuple[torch.Tensor, int]:
        """Per-track codes ``(tracks, K, T)`` of the song so far and the frames valid in every track."""
        sequence = torch.stack(self._columns, dim=-1).unsqueeze(0)
        reverted = self.pattern.revert(sequence)
        names = self.pattern.track_names
        codes = torch.cat([reverted.codes[name] for name in names], dim=0)
        valid = min(int(reverted.frame_lengths[name][0]) for name in names)
        if self.frame_limit is not None:  # generate() sets it per window, in the window's frames
            valid = min(valid, self.frame_limit)
        if self._song_codes is not None:  # the window's frame j is the song's frame offset + j
            codes = torch.cat([self._song_codes, codes[..., self._window_context :]], dim=-1)
        return codes, self._window_offset + valid

    def _maybe_emit(self) -> None:
        if self._song_ended:
            return
        complete = self.pattern.num_frames(len(self._columns))
        if self.frame_limit is not None:
            complete = min(complete, self.frame_limit)
        complete += self._window_offset
        # cheap gate: revert only once a chunk could be ready
        if complete - self.lookahead_frames - self._done_frames < self.chunk_frames:
            return
        codes, valid = self._reverted()
        # the first invalid frame (the song's end) never becomes valid again; end() flushes the rest
        self._song_ended = valid < complete
        ready = valid - self.lookahead_frames
        if ready - self._done_frames >= self.chunk_frames:
            self._emit(codes, ready, min(valid, ready + self.lookahead_frames), final=False)

    def _decode(self, codes: torch.Tensor, window_start: int, anchor_frame: int) -> np.ndarray:
        device = next(self.codec.parameters()).device
        with torch.no_grad():
            if getattr(self.codec, "has_spectral_decoder", False):
                audio = self._decode_spectral(codes.to(device), window_start, anchor_frame)
            else:
                audio = self.codec.decode(codes.to(device)).audio_values
        return audio[:, 0].float().cpu().numpy()

    def _decode_spectral(self, codes: torch.Tensor, window_start: int, anchor_frame: int) -> torch.Tensor:
        """An ISTFT codec's window, its phases continued from the previous window's.

        With accumulated phases a window decoded on its own starts its phase sums at zero, so it
        would not line up with its neighbours.  Instead every window is pinned to the phase the
        previous window computed for its last emitted frame (both windows see that frame with
        full context), which by induction from frame 0 equals the whole-song decode.
        """
        decoder = self.codec.acoustic_decoder
        log_magnitude, raw_phase = self.codec.decode_frames(codes)
        if decoder.phase == "absolute":
            return decoder.synthesize(log_magnitude, raw_phase)
        summed = decoder.phase_steps(raw_phase).cumsum(dim=-1)  # float64
        if self._phase_anchor is not None:
            frame, value = self._phase_anchor
            offset = frame - window_start
            summed = value[..., None] + summed - summed[..., offset : offset + 1]
        self._phase_anchor = (anchor_frame, summed[..., anchor_frame - window_start])
        return decoder.synthesize(log_magnitude, torch.remainder(summed, 2 * math.pi).float())

    def _emit(self, codes: torch.Tensor, end_frame: int, codes_end: int, final: bool) -> None:
        """Emit the samples of frames ``[done, end_frame)`` (minus a held-back tail unless ``final``)."""
        hop, start = self.hop_length, self._done_frames
        window_start = max(0, start - self.context_frames)
        if self._phase_anchor is not None:
            window_start = min(window_start, self._phase_anchor[0])  # the window must contain its anchor
        held = 0 if self._tail is None else self._tail.shape[-1]
        audio = self._decode(codes[..., window_start:codes_end], window_start, max(end_frame - 1, window_start))
        piece = audio[:, (start - window_start) * hop - held : (end_frame - window_start) * hop].copy()
        if held:
            piece[:, :held] = self._blend(self._tail, piece[:, :held])
        self._tail = None
        if not final and self.crossfade_samples:
            keep = min(self.crossfade_samples, piece.shape[-1])
            self._tail, piece = piece[:, -keep:], piece[:, :-keep]
        self._done_frames = end_frame
        if piece.shape[-1]:
            self._push(piece)

    def _blend(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        n = old.shape[-1]
        phase = (np.arange(n, dtype=np.float64) + 0.5) / n * (np.pi / 2)
        fade_in, fade_out = np.sin(phase), np.cos(phase)
        if self.crossfade_shape == "equal_gain":
            fade_in, fade_out = fade_in**2, fade_out**2
        return (old * fade_out + new * fade_in).astype(np.float32)

    def _push(self, piece: np.ndarray) -> None:
        piece = piece * self._stem_gains
        mix = piece.sum(axis=0, dtype=np.float32) if piece.shape[0] > 1 else piece[0]
        item: np.ndarray | dict = np.ascontiguousarray(mix, dtype=np.float32)
        if self.return_stems:
            stems = dict(zip(self.pattern.track_names, piece))
            item = {"audio": item, **{name: np.ascontiguousarray(stem) for name, stem in stems.items()}}
        self.num_samples += piece.shape[-1]
        self.num_chunks += 1
        self._queue.put(item)


def stream_song(
    model,
    processor,
    description: str | SongRequest,
    lyrics: str | None = None,
    *,
    reference_voice: Any = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    context_frames: int | None = None,
    lookahead_frames: int | None = None,
    crossfade_ms: float = DEFAULT_CROSSFADE_MS,
    crossfade_shape: Literal["equal_gain", "equal_power"] = "equal_gain",
    return_stems: bool = False,
    timeout: float | None = None,
    seed: int | None = None,
    progress: bool | str | Any | None = None,
    **generate_kwargs,
) -> Iterator[tuple[int, np.ndarray | dict]]:
    """Generate one song and yield ``(sampling_rate, chunk)`` as soon as audio is ready.

    ``chunk`` is a 1-D ``np.float32`` array (or the dict of :class:`SongGenStreamer` with
    ``return_stems=True``).  ``generate()`` runs in a background thread; an exception there is
    re-raised here.  Leaving the loop early (``break``, closing the generator) cancels the
    generation.  ``generate_kwargs`` go to ``model.generate`` (``duration_s``, ``do_sample``,
    ``temperature``, ``top_k``, ``guidance_scale``, ...).  ``seed`` seeds torch's generator as the
    pipeline's ``seed`` does, so a model loaded at the precision the front doors choose
    (``quantization.precision_kwargs``, or the pipeline's own ``pipe.model``) streams the pipeline's song
    for that seed (its decoder's song: a told singer re-sings only the pipeline's).  The final whole-song
    decode of ``generate()`` is skipped (``decode_audio=False``) since the chunks already are the song.

    Every argument is checked and the song prepared when ``stream_song`` is *called* (a
    ``ValueError`` then, not at the first ``next``); generation starts with the iteration.  ``description`` may be a
    song prepared with :func:`~songgen_hf.pipelines.prepare_song` (its lyrics and voice inside it): what it carries
    (its checked generation request, its seed) is not checked again.

    A ``duration_s`` longer than the model's window (``window_s`` / ``context_s`` as for ``generate``) streams
    across the windows, its lyrics planned by their sections as the pipeline plans them; closing the generator
    stops the generation within the window it is in.

    ``progress`` follows the song as the pipeline's bar does (``generating: window 2/6``): ``None`` a bar on a
    terminal and nothing elsewhere, ``True`` a bar, ``"lines"`` one line per stage on stderr (for a log),
    ``False`` none, or a :class:`~songgen_hf.pipelines.GenerationProgress` of the caller's own (its
    :attr:`~songgen_hf.pipelines.GenerationProgress.stages` and ``steps`` for a status line).
    """
    from songgen_hf.modeling.limits import check_seed
    from songgen_hf.modeling.songgen.arguments_songgen import (
        CHECKED_ARGUMENTS,
        GenerationRequest,
        check_generation_arguments,
    )
    from songgen_hf.pipelines.requests import SongRequest, prepare_song
    from songgen_hf.utils.threads import apply_thread_policy

    if isinstance(description, SongRequest):
        if lyrics is not None or reference_voice is not None:
            raise ValueError("A prepared song carries its lyrics and reference voice; give them to prepare_song.")
        song = description
    else:
        song = {"description": _single(description, "description")}
        song["lyrics"] = None if lyrics is None else _single(lyrics, "lyrics")
        if reference_voice is not None:
            song["reference_voice"] = reference_voice
    if "streamer" in generate_kwargs:
        raise ValueError("stream_song builds its own streamer; do not pass streamer=.")
    config = getattr(model, "config", None)
    arguments = {key: generate_kwargs.get(key) for key in CHECKED_ARGUMENTS}
    saved = getattr(model, "generation_config", None)
    request = getattr(song, "generation", None)
    if config is None:  # not a SongGen model: the song's arguments alone (the model is refused below)
        check_generation_arguments(arguments)
        request = None
    elif not (isinstance(request, GenerationRequest) and request.holds_for(arguments, config, saved)):
        request = GenerationRequest.check(arguments, config, saved)  # once, here: what follows takes it as checked
    if seed is not None:
        seed = check_seed(seed)
    # a song longer than the model's window: a processor that knows its model plans the lyrics by their sections,
    # each window conditioned on its own lines, as the pipeline and the CLI plan them
    lengths = {key: generate_kwargs.get(key) for key in ("duration_s", "window_s", "context_s")}
    lengths = {key: value for key, value in lengths.items() if value is not None}
    if "duration_s" not in lengths:
        lengths = {}
    # checked, read and processed once (a song prepared with these lengths already is taken as it is)
    song = prepare_song(processor, song, **lengths, request=request, seed=seed)
    seed = song.seed
    progress = _stream_progress(progress, model, generate_kwargs)
    streamer = SongGenStreamer(
        model,
        chunk_frames=chunk_frames,
        context_frames=context_frames,
        lookahead_frames=lookahead_frames,
        crossfade_ms=crossfade_ms,
        crossfade_shape=crossfade_shape,
        return_stems=return_stems,
        timeout=timeout,
        progress=progress,
    )
    if seed is not None:  # as the pipeline seeds its call
        torch.manual_seed(seed)
    inputs = BatchFeature(dict(song.features), tensor_type="pt").to(model.device)  # a copy: the song stays as prepared
    generate_kwargs.setdefault("decode_audio", False)
    if request is not None:
        generate_kwargs["request"] = request
    apply_thread_policy()  # the cores other programs leave free, unless the user chose (songgen_hf.utils.threads)
    return _stream(model, streamer, inputs, generate_kwargs)


def _stream_progress(progress: Any, model, generate_kwargs: dict):
    """The progress streamer ``stream_song(progress=...)`` asks for (None for none)."""
    if progress is None or isinstance(progress, (bool, str)):
        if progress is False:
            return None
        if isinstance(progress, str) and progress != "lines":
            raise ValueError(f"progress must be None, True, False, 'lines' or a GenerationProgress, got {progress!r}.")
        from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps
        from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress

        steps = None
        if getattr(model, "pattern", None) is not None:  # not a SongGen model: refused below, by generate
            lengths = ("duration_s", "max_new_tokens", "window_s", "context_s")
            steps = expected_decoder_steps(model, **{key: generate_kwargs.get(key) for key in lengths})
        # tqdm's disable=None: a bar on a terminal only
        disable = None if progress is None else False
        return GenerationProgress(total=steps, disable=disable, lines=progress == "lines", keep_open=True)
    if not all(callable(getattr(progress, name, None)) for name in ("put", "end")):
        raise ValueError(
            f"progress must be None, True, False, 'lines' or a GenerationProgress, got {type(progress).__name__}."
        )
    return progress


def _single(value: Any, name: str) -> str:
    """One song's string; a one-item list of it is accepted, anything else named."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"stream_song streams one song at a time; got {len(value)} {name} strings.")
        value = value[0]
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}.")
    return value


def _stream(model, streamer: SongGenStreamer, inputs, generate_kwargs: dict) -> Iterator[tuple[int, np.ndarray | dict]]:
    def run() -> None:
        try:
            model.generate(**inputs, **generate_kwargs, streamer=streamer)
        except GenerationCancelled:
            pass
        except BaseException as error:  # noqa: BLE001 - every failure must reach the consumer
            streamer.fail(error)
        else:
            # generate() always calls end(); this only guards against a loop that returned without it
            streamer.fail(RuntimeError("generate() returned without ending the stream."))

    thread = threading.Thread(target=run, name="songgen-stream", daemon=True)
    thread.start()
    try:
        for chunk in streamer:
            yield streamer.sampling_rate, chunk
    finally:
        streamer.cancel()
        thread.join()
        close = getattr(streamer.progress, "close", None)
        if callable(close):
            close()


__all__ = ["GenerationCancelled", "SongGenStreamer", "codec_receptive_field_frames", "stream_song"]
