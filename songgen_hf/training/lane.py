"""Adapters that stay in their lane: ``finetune-lora``'s ``lane_weight`` regulariser.

A LoRA trained on one style moves every song towards it, asked for or not: songs described as something else
drift too.  The regulariser keeps the adapted decoder's token distributions on such songs where the base's are:
at every step the step's own songs are given *unrelated* descriptions (drawn from ``lane_descriptions``, or the
built-in set below: genres, instruments and voices across the corpus, none of a style's own words needed), and the
KL divergence ``KL(base || adapted)`` over every supervised cell is added to the loss, weighted by ``lane_weight``.
The base's distributions cost nothing to keep: they are the same model with the adapter switched off (peft's
``disable_adapter()``), run without gradients.  Both passes run without condition dropout, so they see the same
description.

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
        over the cells, with gradients to the adapter.  The model computes without dropout for both passes."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), peft_model.disable_adapter():
                base = model(**batch).logits.float().log_softmax(-1)
            adapted = model(**batch).logits.float().log_softmax(-1)
        finally:
            model.train(was_training)
        labels = batch["labels"].reshape(adapted.shape[:2])
        cells = labels != -100
        if not bool(cells.any()):
            return adapted.sum() * 0
        divergence = nn.functional.kl_div(adapted[cells], base[cells], log_target=True, reduction="sum")
        return divergence / cells.sum()


__all__ = ["LANE_DESCRIPTIONS", "LaneRegulariser"]
