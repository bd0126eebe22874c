"""Guided lyrics attention: a training-only loss that teaches a few cross-attention heads to read the lyrics in order.

Why: to sing the words, the decoder must look at the syllable being sung at every frame.  Learning that
alignment from the song loss alone takes far more data than a small corpus has: songgen-tiny v12 puts two thirds of
its cross-attention on the lyrics, yet where it looks inside them does not move with time (issue #19, session 38:
``recipes/songgen_tiny/probe_lyric_attention.py``), and 2.2x the songs and 1 800 more steps did not change that.
Text-to-speech met the same problem and solved it with a prior on the attention ("guided attention",
Tachibana et al. 2018): penalise attention far from where the text should be at that time.  Here "where" comes
from the data: a corpus that records when each syllable is sung gives every frame a target position inside the
lyrics' tokens (``songgen_hf.processing.lyrics_alignment``).

The penalty for one guided head at one sung frame, with target token position ``n*`` among ``L`` lyric tokens:

    sum_n p(n) * (1 - exp(-(n - n*)^2 / (2 (width * L)^2)))  +  (mass outside the lyrics) * 1

so attention on the right tokens costs nothing, on far tokens or on the description almost 1.  Frames where nothing
is sung (intro, rests, instrumentals) and songs without timing are not guided; nor is inference: the heads learn to
follow the song they hear, and generation runs unchanged.  Only the first ``lyrics_alignment_heads`` heads of every
layer are guided, so the others stay free to read the description and the lyrics as a whole.

The weights come from the attention modules' own projections (a forward hook recomputes the guided heads' scores),
so the model's fast attention kernels, which return no weights, stay as they are.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def guided_head_probabilities(attention: nn.Module, hidden: torch.Tensor, memory: torch.Tensor,
                              memory_mask: torch.Tensor, heads: int) -> torch.Tensor:
    """``(batch, heads, length, memory)`` attention probabilities of ``attention``'s first ``heads`` heads."""
    head_dim = attention.head_dim
    width = heads * head_dim
    batch, length, _ = hidden.shape
    # the projections' own forward (all heads, then the first ones), so adapters on them (LoRA) take part
    query = attention.q_proj(hidden)[..., :width].reshape(batch, length, heads, head_dim)
    key = attention.k_proj(memory)[..., :width].reshape(batch, memory.shape[1], heads, head_dim)
    scores = torch.einsum("bthd,bmhd->bhtm", query.float(), key.float()) * attention.scaling
    scores = scores.masked_fill(~memory_mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.softmax(dim=-1)


def guided_attention_loss(probabilities: torch.Tensor, targets: torch.Tensor, lyrics_mask: torch.Tensor,
                          width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean penalty over guided frames, and how many (head, frame) pairs it averaged.

    ``probabilities``: ``(batch, heads, length, memory)`` whose last ``lyrics_mask.shape[1]`` memory slots are the
    lyrics; ``targets``: ``(batch, frames)`` target token positions (NaN = not guided), frames <= length;
    ``lyrics_mask``: ``(batch, lyric tokens)``."""
    batch, heads, length, _ = probabilities.shape
    frames = min(targets.shape[1], length)
    targets = targets[:, :frames].to(probabilities.device, torch.float32)
    lyric_probabilities = probabilities[:, :, :frames, -lyrics_mask.shape[1]:]
    lyric_count = lyrics_mask.sum(dim=1).clamp(min=1).to(torch.float32)  # (batch,)
    positions = torch.arange(lyrics_mask.shape[1], device=probabilities.device, dtype=torch.float32)
    sigma = (width * lyric_count).clamp(min=1.0)[:, None, None]  # at least one token either way
    distance = positions[None, None, :] - targets.nan_to_num(0.0)[:, :, None]  # (batch, frames, tokens)
    near = torch.exp(-0.5 * (distance / sigma) ** 2) * lyrics_mask[:, None, :].to(torch.float32)
    on_target = (lyric_probabilities * near[:, None]).sum(dim=-1)  # (batch, heads, frames)
    guided = torch.isfinite(targets)[:, None, :].expand(batch, heads, frames)
    count = guided.sum()
    if count == 0:
        return probabilities.sum() * 0.0, count  # keeps the graph (and every process's backward) the same
    return (1.0 - on_target)[guided].mean(), count


def targets_per_position(targets: torch.Tensor, length: int, frames_per_position: float) -> torch.Tensor:
    """Per-frame targets ``(batch, frames)`` -> per decoder position ``(batch, length)``: position p reads frame
    ``floor(p * frames_per_position)`` (a multi-stream pattern completes S frames a position, interleaving one frame
    every two positions); positions past the song's frames get NaN."""
    frames = torch.floor(torch.arange(length, device=targets.device) * float(frames_per_position)).long()
    inside = frames < targets.shape[1]
    picked = targets[:, frames.clamp(max=max(targets.shape[1] - 1, 0))]
    return torch.where(inside[None, :], picked, torch.full_like(picked, float("nan")))


class GuidedLyricsAttention(contextlib.AbstractContextManager):
    """Collects the guided heads' probabilities of every decoder layer during one forward pass.

    ``with GuidedLyricsAttention(decoder_layers, heads, memory_mask) as guide: decoder(...)`` then
    ``guide.probabilities`` is a list with one ``(batch, heads, length, memory)`` tensor per layer."""

    def __init__(self, layers, heads: int, memory_mask: torch.Tensor):
        self.layers, self.heads, self.memory_mask = list(layers), heads, memory_mask
        self.probabilities: list[torch.Tensor] = []
        self._hooks = []

    def _capture(self, module, args, kwargs, output):
        hidden = args[0] if args else kwargs["hidden_states"]
        self.probabilities.append(
            guided_head_probabilities(module, hidden, kwargs["key_value_states"], self.memory_mask, self.heads)
        )

    def __enter__(self):
        self._hooks = [layer.encoder_attn.register_forward_hook(self._capture, with_kwargs=True) for layer in self.layers]
        return self

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        return False


__all__ = ["GuidedLyricsAttention", "guided_attention_loss", "guided_head_probabilities", "targets_per_position"]
