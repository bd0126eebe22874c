"""Adapters that stay in their lane: ``finetune-lora``'s ``lane_weight`` regulariser.

A LoRA trained on one style moves every song towards it, asked for or not: songs described as something else
drift too.  The regulariser keeps the adapted decoder's token distributions on such songs where the base's are:
at every step the step's own songs are given *unrelated* descriptions (drawn from ``lane_descriptions``, or the
built-in set below: genres, instruments and voices across the corpus, none of a style's own words needed), and the
KL divergence ``KL(base || adapted)`` over every supervised cell is added to the loss, weighted by ``lane_weight``.
The base's distributions cost nothing to keep: they are the same model with the adapter switched off (peft's
``disable_adapter()``), run without gradients.  Both passes run without condition dropout, so they see the same
description.

Memory: the passes go over ``lane_rows_per_pass`` songs at a time, each pass's scaled divergence is back-propagated
before the next starts, so only one part's logits and graph are held; the parts' sums over the supervised cells,
each divided by the whole batch's count of cells, add up to the one-pass loss and gradients.  The passes are given no
targets (the model would compute its own loss, and the vocal heads' logits, for nothing) and normalise the
supervised cells' logits alone.

The trade-off: each step costs about twice as much (a pass without gradients and one with), and a large weight
holds back the style itself on its own prompts, as the style's songs carry their own sound under any description;
docs/fine_tuning.md gives the measured figures.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

_GENRES = (
    "rock song",
    "piano ballad",
    "jazz tune",
    "folk song",
    "electronic dance track",
    "blues number",
    "pop song",
    "country song",
    "soul ballad",
    "punk song",
    "synth-pop tune",
    "orchestral piece",
)
_SOUNDS = (
    "with electric guitar, bass and drums",
    "with piano and strings",
    "with acoustic guitar",
    "with synthesizers and a drum machine",
    "with organ, bass and a shuffle beat",
    "with saxophone and upright bass",
)
_VOICES = ("a man sings", "a woman sings", "no vocals")
LANE_DESCRIPTIONS = tuple(
    f"a {genre} {sound}, {voice}"
    for genre, sound, voice in itertools.islice(
        ((g, s, v) for g in _GENRES for s, v in zip(_SOUNDS * 2, itertools.cycle(_VOICES))), 72
    )
)

# The description gate's reference (pipelines/description_gate.py): the lane's descriptions, and each once more
# phrased as descriptions usually are (a mood first, the voice as "female vocals", "a male singer", ...), so that the
# words every description uses for its mood and voice count for neither side and the style's own words decide.
_MOODS = ("an upbeat", "a calm", "a warm", "a driving", "a gentle", "an uplifting", "a dark", "a dreamy", "a bright")
_MOODS += ("a soft", "a heartfelt", "a cheerful", "an energetic", "a melancholic", "a steady", "a lively")
_MOODS += ("a laid-back", "a moody")
_VOICE_PHRASES = ("female lead vocals", "a male lead singer", "a female voice", "male vocals", "sung by a woman")
_VOICE_PHRASES += ("a man singing", "a soft female singer", "a male voice", "a woman singing", "male lead vocals")
_VOICE_PHRASES += ("female vocals", "no vocals, instrumental")
_PLAIN = tuple(dict.fromkeys(LANE_DESCRIPTIONS))
GATE_REFERENCE_DESCRIPTIONS = (
    _PLAIN
    + tuple(
        description.rsplit(", ", 1)[0] + ", " + voice
        for description, voice in zip(_PLAIN, itertools.cycle(_VOICE_PHRASES[3:] + _VOICE_PHRASES[:3]))
    )
    + tuple(
        mood + description[description.index(" ") :].rsplit(", ", 1)[0] + ", " + voice
        for description, mood, voice in zip(_PLAIN, itertools.cycle(_MOODS), itertools.cycle(_VOICE_PHRASES))
    )
)


class LaneRegulariser:
    """Unrelated descriptions for a step's songs, and the divergence of the adapted decoder from the base on them."""

    def __init__(self, descriptions, tokenizer, max_tokens: int = 256, seed: int = 0):
        self.descriptions = list(descriptions or LANE_DESCRIPTIONS)
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.generator = torch.Generator().manual_seed(seed + 7919)

    def unrelated(self, batch: dict) -> dict:
        """``batch`` with each song's description replaced by one drawn from the unrelated set; the lyrics, the
        controls and the codes stay the song's."""
        count = batch["input_ids"].shape[0]
        chosen = torch.randint(len(self.descriptions), (count,), generator=self.generator).tolist()
        tokens = self.tokenizer(
            [self.descriptions[i] for i in chosen],
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        device = batch["input_ids"].device
        return {
            **batch,
            "input_ids": tokens["input_ids"].to(device),
            "attention_mask": tokens["attention_mask"].to(device),
        }

    def divergence(self, model, peft_model, batch: dict) -> torch.Tensor:
        """``KL(base || adapted)`` per supervised cell of ``batch`` (already given unrelated descriptions), averaged
        over the cells, with gradients to the adapter, from one pass over the whole batch."""
        cells = _supervised_cells(batch)
        with _evaluating(model):
            summed = _summed_divergence(model, peft_model, batch)
        return summed / cells if cells else summed * 0

    def backward(self, model, peft_model, batch: dict, scale: float, backward, rows_per_pass: int | None = None):
        """``backward(scale * divergence)`` of :meth:`divergence`, taken in passes of at most ``rows_per_pass``
        songs (None: one pass), so that at most that many songs' logits and their graph are held at once; the
        gradients they leave add up to the whole batch's.  Returns the divergence's value."""
        count = batch["labels"].shape[0]
        rows = count if rows_per_pass is None else int(rows_per_pass)
        if rows < 1:
            raise ValueError(f"lane_rows_per_pass must be >= 1 (or null: the whole micro-batch), got {rows_per_pass}.")
        cells = _supervised_cells(batch)
        if not cells:
            return 0.0
        total = 0.0
        with _evaluating(model):
            for start in range(0, count, rows):
                part = _rows(batch, start, start + rows, count)
                if not _supervised_cells(part):
                    continue
                summed = _summed_divergence(model, peft_model, part)
                backward(summed * (scale / cells))
                total += float(summed.detach())
        return total / cells


# the lane reads the logits alone: the targets would have the model compute its own loss (and the vocal heads'
# logits) beside them, for nothing
_TARGETS = ("labels", "vocal_labels")


def _supervised_cells(batch: dict) -> int:
    return int((batch["labels"] != -100).sum())


def _rows(batch: dict, start: int, stop: int, count: int) -> dict:
    """Songs ``start:stop`` of a collated batch (every tensor of which holds one row per song)."""
    part = {}
    for key, value in batch.items():
        if torch.is_tensor(value):
            if value.dim() == 0 or value.shape[0] != count:
                raise ValueError(f"lane batch field {key!r} has {tuple(value.shape)}, not one row per song ({count}).")
            value = value[start:stop]
        part[key] = value
    return part


class _evaluating:
    """The model without dropout (the lane compares the same description's distributions), restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def _summed_divergence(model, peft_model, batch: dict) -> torch.Tensor:
    """``KL(base || adapted)`` summed over ``batch``'s supervised cells: the base's distributions without gradients
    (the adapter disabled), the adapted ones with; only the supervised cells' logits are normalised and kept."""
    labels = batch["labels"]
    inputs = {key: value for key, value in batch.items() if key not in _TARGETS}
    cells = (labels != -100).reshape(-1, labels.shape[-1])  # the logits' (songs x rows, length)
    with torch.no_grad(), peft_model.disable_adapter():
        base = model(**inputs).logits[cells].float().log_softmax(-1)
    adapted = model(**inputs).logits[cells].float().log_softmax(-1)
    return nn.functional.kl_div(adapted, base, log_target=True, reduction="sum")


__all__ = ["GATE_REFERENCE_DESCRIPTIONS", "LANE_DESCRIPTIONS", "LaneRegulariser"]
