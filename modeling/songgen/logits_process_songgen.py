"""SongGen's logits processors for transformers' sampling loop.

Guidance over the conditional and nulled branches, the track pattern's forced and free positions, each codebook
row's own temperature, and the top-k draw; ``SignatureCachedLogitsProcessorList`` reads each processor's signature
once instead of at every step.  ``SongGenGenerationMixin._get_logits_processor`` puts them in order.
"""

from __future__ import annotations

import inspect
import math

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from songgen_hf.modeling.patterns import TokenPattern

# Logits processors that make transformers' sampling loop speak SongGen.
#
# The loop samples one token per *row* (``batch * rows`` rows: K codebooks, 2K for parallel
# patterns).  Two processors turn that into valid songs:
#
# * :class:`SongGenClassifierFreeGuidanceLogitsProcessor` - the forward batch is doubled
#   (conditional rows, then the same rows with null conditions); guidance mixes the two halves,
#   ``uncond + scale * (cond - uncond)`` (AudioGen/MusicGen), and returns one half.  With control
#   guidance a third block (the description and lyrics kept, the musical controls unknown) adds
#   ``control_scale * (cond - no_controls)``: a push along the controls alone, with its own strength.
# * :class:`SongGenPatternLogitsProcessor` - everything the token pattern dictates:
#   forced cells (the BOS triangle, the closing EOS triangle at the length budget, audio-prompt
#   codes), the end of the song (one *lead* row decides when the song ends; every other row
#   then ends exactly where the pattern puts the same frame count, so no partial frames and no
#   time jumps), and never a special id (BOS, the unused 1025-1087) at a free position.
#
# Both work on the flattened ``(batch * rows, vocab)`` scores and are plain ``LogitsProcessor``s,
# so temperature / top-k / top-p / repetition penalties from the generation config compose after
# them.


class SignatureCachedLogitsProcessorList(LogitsProcessorList):
    """transformers' ``LogitsProcessorList`` that reads each processor's call signature once.

    The library's list calls ``inspect.signature`` on every processor at every step to decide
    whether to forward extra keyword arguments.  For SongGen's small per-step work that is a
    measurable share: about 0.15 ms per processor per step on a 2-core CPU, 0.2-0.3 s of a
    10 s song.  The signature of a processor's ``__call__`` cannot change during a generation,
    so it is looked up once per processor object; the behaviour (including the error for
    missing arguments) is the library's.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self._extra_arguments: dict[int, tuple[str, ...]] = {}

    def _extra_argument_names(self, processor) -> tuple[str, ...]:
        names = self._extra_arguments.get(id(processor))
        if names is None:
            names = tuple(inspect.signature(processor.__call__).parameters)[2:]
            self._extra_arguments[id(processor)] = names
        return names

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        for processor in self:
            names = self._extra_argument_names(processor)
            if not names:
                scores = processor(input_ids, scores)
                continue
            if not all(name in kwargs for name in names):
                raise ValueError(
                    f"Make sure that all the required parameters: {['input_ids', 'scores', *names]} for "
                    f"{processor.__class__} are passed to the logits processor."
                )
            scores = processor(input_ids, scores, **kwargs)
        return scores


def guidance_branches(guidance_scale: float | None, control_guidance_scale: float | None) -> int:
    """How many blocks of rows guidance needs: conditional, + unconditional (scale not 1), + no controls (scale > 0)."""
    return 1 + int(guidance_scale is not None and guidance_scale != 1) + int(bool(control_guidance_scale))


class SongGenClassifierFreeGuidanceLogitsProcessor(LogitsProcessor):
    """Batched classifier-free guidance over a batch run two or three times.

    The scores hold blocks of ``batch`` rows: the conditional rows; the unconditional ones (the
    chosen conditions nulled) when ``guidance_scale != 1``; the "no controls" ones (description
    and lyrics kept, tempo/key/arrangement unknown) when ``control_guidance_scale > 0``.  The result
    is ``uncond + guidance_scale * (cond - uncond) + control_guidance_scale * (cond - no_controls)``.
    Why a separate push for the controls: in the first difference the controls share one scale with
    the whole description, and a model that reads the key from the frames it already generated
    lets that difference shrink; the second difference isolates what the controls alone change
    (as InstructPix2Pix guides its two conditions with two scales).

    Args:
        guidance_scale: ``> 1`` strengthens the conditions; ``1`` leaves them as the conditional
            model has them (with no control guidance the mixin then skips this processor).
        guidance_top_k: if set, sample from the *conditional* logits restricted to the top-k
            tokens of the guided logits (Dia's variant): guidance picks the candidates, the
            conditional model weighs them, which avoids the over-sharpened guided distribution.
        control_guidance_scale: ``> 0`` adds the push towards the musical controls; 0 is off.
    """

    def __init__(self, guidance_scale: float, guidance_top_k: int | None = None, control_guidance_scale: float = 0.0):
        if not math.isfinite(guidance_scale) or guidance_scale < 1:  # NaN would reach torch.multinomial as NaN logits
            raise ValueError(f"guidance_scale must be a finite number >= 1, got {guidance_scale}.")
        if not math.isfinite(control_guidance_scale) or control_guidance_scale < 0:
            raise ValueError(f"control_guidance_scale must be a finite number >= 0, got {control_guidance_scale}.")
        if guidance_scale == 1 and control_guidance_scale == 0:
            raise ValueError("Nothing to guide: guidance_scale is 1 and control_guidance_scale 0; leave guidance out.")
        self.guidance_scale = guidance_scale
        self.guidance_top_k = guidance_top_k
        self.control_guidance_scale = control_guidance_scale
        self.num_branches = guidance_branches(guidance_scale, control_guidance_scale)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != self.num_branches * input_ids.shape[0]:
            raise ValueError(
                f"Guidance expects {self.num_branches} blocks of scores "
                f"({self.num_branches * input_ids.shape[0]} rows), "
                f"got {scores.shape[0]}."
            )
        blocks = list(scores.chunk(self.num_branches, dim=0))
        conditional = blocks.pop(0)
        guided = conditional
        if self.guidance_scale != 1:
            unconditional = blocks.pop(0)
            guided = unconditional + self.guidance_scale * (conditional - unconditional)
        if self.control_guidance_scale > 0:
            guided = guided + self.control_guidance_scale * (conditional - blocks.pop(0))
        if self.guidance_top_k is None:
            return guided
        top = guided.topk(min(self.guidance_top_k, guided.shape[-1]), dim=-1).indices
        keep = torch.zeros_like(guided, dtype=torch.bool).scatter_(-1, top, True)
        return conditional.masked_fill(~keep, float("-inf"))


class SongGenPatternLogitsProcessor(LogitsProcessor):
    """Forced cells, synchronised song endings and special-id masking, all from the pattern.

    Held cells (optional): where ``held`` has a code, a cell the pattern leaves free may sample only that
    code or, where the pattern allows it, EOS.  The held code gets the probability the model gave all
    codes there (their logsumexp), so the chance of ending the song at that cell is the model's own.
    This is how a dual-track model's vocal track stays at the codec's codes of silence for an
    instrumental request (``generate(silence_instrumental_vocals=...)``) while the accompaniment samples
    freely; forced cells (BOS, an audio prompt's codes, EOS after the end) are untouched.

    Args:
        pattern: the model's token pattern.
        generation_mask: ``(batch, rows, max_length)`` from ``pattern.generation_mask`` (-1 = free).
        min_frames: the lead row may not end the song before this many frames.
        held: ``(batch, rows, max_length)`` codes to hold free cells to (-1 = not held), e.g. from
            ``pattern.track_cells``.
    """

    def __init__(
        self,
        pattern: TokenPattern,
        generation_mask: torch.LongTensor,
        min_frames: int = 1,
        held: torch.LongTensor | None = None,
    ):
        ids = pattern.token_ids
        self.pattern = pattern
        self.mask = generation_mask
        if held is not None and held.shape != generation_mask.shape:
            raise ValueError(
                f"held cells {tuple(held.shape)} must match the generation mask {tuple(generation_mask.shape)}."
            )
        self.held = held if held is not None and bool((held >= 0).any()) else None
        self.batch_size, self.num_rows, self.max_length = generation_mask.shape
        self.codebook_size = ids.codebook_size
        self.eos = ids.eos_token_id
        # a song ends on a whole decoding step: lengths below count in steps of `frames_per_step`
        # frames (1 frame except for multi-stream patterns), so `frames` holds step counts
        self.frames_per_step = pattern.frames_per_step
        self.intercept, self.slope = self._eos_columns(pattern)
        self.lead_row = int(torch.argmin(self.intercept))
        min_steps = -(-max(min_frames, 1) // self.frames_per_step)
        self.min_eos_column = int(self.intercept[self.lead_row] + self.slope[self.lead_row] * min_steps)
        self.frames = torch.full((self.batch_size,), -1, dtype=torch.long, device=generation_mask.device)
        # Most columns force nothing and no song has ended yet: there the whole job is one
        # addition of a fixed (rows, vocab) bias, built once, instead of a dozen small ops.
        special = generation_mask >= 0
        if self.held is not None:  # a held column is never the plain one
            special = special | (self.held >= 0)
        self.has_forced_cell = special.flatten(0, 1).any(dim=0).tolist()
        self.any_song_ended = False
        self._free_biases: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def _eos_columns(pattern: TokenPattern) -> tuple[torch.Tensor, torch.Tensor]:
        """Column of each row's EOS after n steps (n * frames_per_step frames), as ``intercept + slope * n``
        (read off the training layout)."""
        step = pattern.frames_per_step

        def columns(steps: int) -> torch.Tensor:
            frames = steps * step
            codes = torch.zeros(1, pattern.num_codebooks, frames, dtype=torch.long)
            tracks = pattern.track_names + getattr(pattern, "auxiliary_track_names", ())
            labels = pattern.build_labels(*[codes] * len(tracks)).labels[0]
            is_eos = labels == pattern.token_ids.eos_token_id
            # +1: labels start one column after the BOS column of the sequence
            return is_eos.long().argmax(dim=-1) + 1

        first, second, third = columns(1), columns(2), columns(3)
        slope = second - first
        if not torch.equal(third - second, slope):
            raise ValueError(f"Pattern {pattern.name!r} does not end rows at a linear column; cannot synchronise EOS.")
        return (first - slope).to(torch.long), slope.to(torch.long)

    def _free_bias(self, scores: torch.Tensor, eos_allowed: bool) -> torch.Tensor:
        """0 where a free cell may sample (codes; EOS on the lead row once allowed), -inf elsewhere."""
        key = (scores.shape[-1], scores.dtype, scores.device, eos_allowed)
        bias = self._free_biases.get(key)
        if bias is None:
            bias = torch.full(
                (self.num_rows, scores.shape[-1]), float("-inf"), dtype=scores.dtype, device=scores.device
            )
            bias[:, : self.codebook_size] = 0.0
            if eos_allowed:
                bias[self.lead_row, self.eos] = 0.0
            self._free_biases[key] = bias
        return bias

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        column = input_ids.shape[-1]
        batch, rows = self.batch_size, self.num_rows
        device = scores.device
        ids = input_ids.view(batch, rows, column)
        intercept, slope = self.intercept.to(device), self.slope.to(device)
        frames = self.frames.to(device)
        # the lead row's EOS at the previous column fixes the song's frame count
        ended = (frames < 0) & (ids[:, self.lead_row, -1] == self.eos)
        if ended.any():
            lead_frames = (column - 1 - intercept[self.lead_row]) // slope[self.lead_row]
            frames = torch.where(ended, lead_frames, frames)
            self.frames = frames
            self.any_song_ended = True
        if not self.any_song_ended and column < self.max_length and not self.has_forced_cell[column]:
            bias = self._free_bias(scores, eos_allowed=column >= self.min_eos_column)
            return (scores.view(batch, rows, -1) + bias).view(batch * rows, -1)
        forced = (
            self.mask[:, :, column].to(device)
            if column < self.max_length
            else torch.full((batch, rows), self.eos, device=device)
        )
        known = (frames >= 0).unsqueeze(1)
        end_column = intercept.unsqueeze(0) + slope.unsqueeze(0) * frames.clamp(min=0).unsqueeze(1)
        forced = torch.where((forced < 0) & known & (column >= end_column), torch.full_like(forced, self.eos), forced)

        scores = scores.view(batch, rows, -1)
        vocab = scores.shape[-1]
        allowed = torch.zeros(batch, rows, vocab, dtype=torch.bool, device=device)
        allowed[..., : self.codebook_size] = True
        if column >= self.min_eos_column:
            allowed[:, self.lead_row, self.eos] = ~known.squeeze(1)
        free = forced < 0
        allowed &= free.unsqueeze(-1)
        # a forced cell allows exactly its token; a free cell's -1 must not switch off code 0
        forced_token = torch.zeros_like(allowed).scatter_(-1, forced.clamp(min=0).unsqueeze(-1), True)
        allowed |= forced_token & ~free.unsqueeze(-1)
        # a forced cell keeps one finite score (0): any warper after this keeps exactly that token
        processed = torch.where(allowed, scores, torch.full_like(scores, float("-inf")))
        processed = torch.where(allowed & ~free.unsqueeze(-1), torch.zeros_like(scores), processed)
        if self.held is not None and column < self.max_length:
            processed = self._hold(processed, free, self.held[:, :, column].to(device))
        return processed.view(batch * rows, vocab)

    def _hold(self, processed: torch.Tensor, free: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
        """Free cells with a held code: every code's probability moves to the held one (EOS keeps its own)."""
        hold = free & (held >= 0)
        if not bool(hold.any()):
            return processed
        size = self.codebook_size
        codes = processed[..., :size]
        mass = torch.logsumexp(codes, dim=-1, keepdim=True)
        one = torch.zeros_like(codes, dtype=torch.bool).scatter_(-1, held.clamp(min=0).unsqueeze(-1), True)
        held_codes = torch.where(one, mass.expand_as(codes), torch.full_like(codes, float("-inf")))
        codes = torch.where(hold.unsqueeze(-1), held_codes, codes)
        return torch.cat((codes, processed[..., size:]), dim=-1)


def _check_row_values(values: torch.Tensor, name: str) -> None:
    """Per-row factors or temperatures: a 1-d tensor of finite numbers > 0."""
    if values.dim() != 1 or not bool(torch.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"{name} must be a 1-d tensor of finite numbers > 0, got {values!r}.")


def row_temperatures(
    pattern, codebook_temperatures: dict[str, list[float]] | None, temperature: float | None
) -> torch.Tensor | None:
    """``(num_rows,)`` sampling temperature of each of ``pattern``'s rows: a track's listed codebooks at their own,
    every other row at ``temperature``; ``None`` when no row differs from ``temperature``."""
    if not codebook_temperatures:
        return None
    base = 1.0 if temperature is None else float(temperature)
    temperatures = torch.full((pattern.num_rows,), base, dtype=torch.float32)
    for row, (track, codebook) in enumerate(pattern.row_tracks):
        listed = codebook_temperatures.get(track, ())
        if codebook < len(listed):
            temperatures[row] = float(listed[codebook])
    return None if bool((temperatures == base).all()) else temperatures


class SongGenCodebookTemperatureProcessor(LogitsProcessor):
    """Sampling temperature per row: a track's first codebooks sampled colder (or hotter) than the rest.

    A residual codec puts the coarse content of a frame in its first codebooks: on the vocal stem of
    songgen-tiny's codec the first three hold all of the words the recogniser hears (measured with
    ``songgen evaluate``).  Drawing those rows nearer their mode steadies the voice while the accompaniment and the
    fine rows keep the model's own spread.

    This processor serves the library's warpers (top-p and the like); with temperature + top-k alone
    :class:`SongGenTopKDrawProcessor` tempers its k candidates itself, which is cheaper.  It runs after
    guidance and the pattern and multiplies each row's scores by ``temperature / row_temperature``; the
    library's temperature warper then leaves each row divided by its own temperature, so top-k and top-p see
    the row's tempered scores.  Forced cells (0 and -inf) are unchanged.

    Args:
        row_scale: ``(num_rows,)`` factors, one per decoder row (:meth:`for_pattern` builds them).
    """

    def __init__(self, row_scale: torch.Tensor):
        _check_row_values(row_scale, "row_scale")
        self.row_scale = row_scale

    @classmethod
    def for_pattern(
        cls, pattern, codebook_temperatures: dict[str, list[float]] | None, temperature: float | None
    ) -> SongGenCodebookTemperatureProcessor | None:
        """The processor for ``pattern``'s rows, or ``None`` when every row keeps ``temperature``."""
        temperatures = row_temperatures(pattern, codebook_temperatures, temperature)
        if temperatures is None:
            return None
        return cls((1.0 if temperature is None else float(temperature)) / temperatures)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = self.row_scale.numel()
        scale = self.row_scale.to(device=scores.device, dtype=scores.dtype)
        return (scores.view(-1, rows, scores.shape[-1]) * scale[:, None]).view_as(scores)


def top_k_draw_settings(config) -> tuple[int, float] | None:
    """``(top_k, temperature)`` where :class:`SongGenTopKDrawProcessor` can draw the tokens, else ``None``.

    Exactly where the library's sampling would be temperature then top-k then ``torch.multinomial``: sampling on,
    one sequence per input, no other warper (top-p, min-p, typical, epsilon, eta, top-h), no watermark, no
    renormalisation, and no scores or logits to return (``output_scores`` / ``output_logits``: they would show the
    draw's one-hot scores instead of the warped distribution).
    """
    if not config.do_sample or config.output_scores or config.output_logits:
        return None
    if (config.num_beams or 1) > 1 or (config.num_return_sequences or 1) > 1:
        return None
    if not config.top_k or config.watermarking_config is not None or config.renormalize_logits:
        return None
    other_warpers = (
        getattr(config, "top_h", None) is not None,
        config.top_p is not None and config.top_p < 1.0,
        config.min_p is not None,
        config.typical_p is not None and config.typical_p < 1.0,
        config.epsilon_cutoff is not None and 0.0 < config.epsilon_cutoff < 1.0,
        config.eta_cutoff is not None and 0.0 < config.eta_cutoff < 1.0,
    )
    if any(other_warpers):
        return None
    temperature = 1.0 if config.temperature is None else float(config.temperature)
    return int(config.top_k), temperature


class SongGenTopKDrawProcessor(LogitsProcessor):
    """Temperature, top-k and the draw itself, for a generation loop that then picks greedily.

    transformers' sampling step draws with ``torch.multinomial`` over the whole vocabulary of every row.  On a
    CPU that draw is one exponential variate per score: for a dual-track model's 32 rows of 1 088 ids about
    1 ms, a tenth of a decoding step, although top-k leaves only k candidates per row.  This processor takes
    the top k of the tempered scores and draws among those alone with the Gumbel-max trick (the argmax of
    ``score - log(E)``, ``E ~ Exp(1)``, is distributed as ``softmax(score)``), then returns scores that are 0 at
    the drawn id and -inf elsewhere; ``generate`` runs the library loop greedily on them.  The tokens follow
    the same distribution as the library's temperature + top-k sampling (up to ties at the k-th score, which
    the library keeps and this drops), from torch's global generator, so ``torch.manual_seed`` reproduces them.
    ``row_temperatures`` (``(num_rows,)``, from :func:`row_temperatures`) gives each decoder row its own
    temperature in place of ``temperature`` (``codebook_temperatures``).
    """

    def __init__(self, top_k: int, temperature: float = 1.0, row_temperatures: torch.Tensor | None = None):
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature}.")
        if row_temperatures is not None:
            _check_row_values(row_temperatures, "row_temperatures")
        self.top_k = top_k
        self.temperature = temperature
        self.row_temperatures = row_temperatures

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # a positive temperature keeps each row's order, so the top k are taken first and only they are tempered
        values, indices = scores.topk(min(self.top_k, scores.shape[-1]), dim=-1, sorted=False)  # order is irrelevant
        if self.row_temperatures is not None:  # one per decoder row (codebook_temperatures), batch items in turn
            rows = self.row_temperatures.numel()
            temperatures = self.row_temperatures.to(device=values.device, dtype=values.dtype)
            values = (values.view(-1, rows, values.shape[-1]) / temperatures[:, None]).view_as(values)
        elif self.temperature != 1.0:
            values = values / self.temperature
        # a masked candidate (-inf) stays -inf after the noise, so forced cells keep their one token
        noisy = values - torch.empty_like(values).exponential_().log()
        drawn = indices.gather(-1, noisy.argmax(dim=-1, keepdim=True))
        return torch.full_like(scores, float("-inf")).scatter_(-1, drawn, 0.0)


__all__ = [
    "row_temperatures",
    "SignatureCachedLogitsProcessorList",
    "SongGenClassifierFreeGuidanceLogitsProcessor",
    "SongGenCodebookTemperatureProcessor",
    "SongGenPatternLogitsProcessor",
    "SongGenTopKDrawProcessor",
    "top_k_draw_settings",
]
