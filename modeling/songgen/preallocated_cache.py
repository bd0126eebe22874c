"""A self-attention cache that is written in place and read as a growing view.

transformers offers two kinds of self-attention cache, and each has a cost that grows with the song:

* ``DynamicLayer`` concatenates the new key/value onto the whole cache at every step, an
  O(position) copy per step (on a 1 500-step song it is most of what grows besides attention);
* ``StaticLayer`` writes in place, but attention then reads and masks all ``max_cache_len``
  positions from the first step on, and the step needs a full-length mask.

:class:`SongGenPreallocatedLayer` allocates one buffer for the whole song on its first update,
writes each step's key/value into it, and hands attention a *view* of the filled positions: no
copy of the past, no attention over empty positions, no mask (a one-token query sees every
filled position).  Its outputs equal the dynamic cache's exactly (same values, same shapes).

Select it with ``generate(cache_implementation="preallocated")``; it is SongGen's default (see
:data:`DEFAULT_CACHE_IMPLEMENTATION`).  The fill level is a Python int, so under ``torch.compile``
the step has no graph break but each new length is a new shape (dynamic shapes); for CUDA graphs
use ``cache_implementation="static"`` instead, whose shapes never change.
"""

from __future__ import annotations

import functools
import inspect

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, EncoderDecoderCache
from transformers.masking_utils import create_causal_mask

# ----------------------------------------------------------------------------------------------------
# The name under which transformers passes the key/value cache, on both sides of its rename.
#
# transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns until 5.40):
# ``generate()`` hands the cache to ``forward()`` under the new name and reads it back from the
# model output under it, and ``GradientCheckpointingLayer`` drops it under it.  Releases before
# 5.24 do all three under ``past_key_values``.  This package supports both, so:
#
# * SongGen's modules take the cache as ``cache`` and :func:`accepts_past_key_values` maps the
#   old keyword onto it (what ``generate()`` of transformers < 5.24 passes, and what older user
#   code passes);
# * outputs carry the cache under :data:`CACHE_KWARG`, the name the installed ``generate()`` reads
#   (:func:`cache_field` builds that keyword, :func:`cache_of` reads it back).

CACHE_KWARG: str = "cache" if "cache" in inspect.signature(create_causal_mask).parameters else "past_key_values"
"""``"cache"`` on transformers >= 5.24, ``"past_key_values"`` before."""

_OLD_NAME = "past_key_values"


def accepts_past_key_values(forward):
    """Let a ``forward(..., cache=...)`` also be called with ``past_key_values=`` (silently: on
    transformers < 5.24 it is what ``generate()`` itself passes, not a user's deprecated call)."""

    @functools.wraps(forward)
    def forward_taking_either_name(self, *args, **kwargs):
        if _OLD_NAME in kwargs:
            old = kwargs.pop(_OLD_NAME)
            if kwargs.get("cache") is not None and old is not None:
                raise ValueError("Pass the cache once, as `cache` (or the older `past_key_values`), not as both.")
            if kwargs.get("cache") is None:
                kwargs["cache"] = old
        return forward(self, *args, **kwargs)

    # The signature shows both names: generate() of transformers < 5.24 refuses a `past_key_values`
    # the forward signature does not list ("model_kwargs are not used by the model").
    signature = inspect.signature(forward)
    parameters = list(signature.parameters.values())
    old = inspect.Parameter(_OLD_NAME, inspect.Parameter.KEYWORD_ONLY, default=None)
    variadic = [i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD]
    parameters.insert(variadic[0] if variadic else len(parameters), old)
    forward_taking_either_name.__signature__ = signature.replace(parameters=parameters)
    return forward_taking_either_name


def cache_field(cache) -> dict:
    """``{CACHE_KWARG: cache}``: the keyword a model output or ``create_causal_mask`` takes it under."""
    return {CACHE_KWARG: cache}


def cache_of(output):
    """The cache a model output carries (None when it carries none), whatever transformers calls it."""
    return output.get(CACHE_KWARG)


def given_cache(kwargs: dict):
    """The cache a ``generate()`` call or its model kwargs bring under either name, else None."""
    for name in ("cache", _OLD_NAME):
        if kwargs.get(name) is not None:
            return kwargs[name]
    return None


PREALLOCATED = "preallocated"
CACHE_IMPLEMENTATIONS = (PREALLOCATED, "static", "dynamic")
"""``cache_implementation`` values SongGen's ``generate`` accepts (each tested on every pattern)."""
DEFAULT_CACHE_IMPLEMENTATION = PREALLOCATED
"""Used when no ``cache_implementation`` is given.  Fastest in ``benchmarks/generate.py`` at SongGen
size on CPU (fp32, 1 500 steps: 1.33x MusicGen against 1.13x for the dynamic and 1.22x for the
static cache, ``docs/performance.md``); it also reads no empty positions, unlike the static cache."""


class SongGenPreallocatedLayer(DynamicLayer):
    """One decoder layer's keys and values in a buffer of ``max_cache_len`` positions, read as a view."""

    def __init__(self, max_cache_len: int, **kwargs):
        super().__init__()
        if not isinstance(max_cache_len, int) or max_cache_len < 1:
            raise ValueError(f"max_cache_len must be a whole number >= 1, got {max_cache_len!r}.")
        self.max_cache_len = max_cache_len
        self.filled = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        batch, heads = key_states.shape[:2]
        self.key_buffer = key_states.new_empty(batch, heads, self.max_cache_len, key_states.shape[-1])
        self.value_buffer = value_states.new_empty(batch, heads, self.max_cache_len, value_states.shape[-1])
        self.filled = 0
        self._refresh_views()
        self.is_initialized = True

    def _refresh_views(self) -> None:
        self.keys = self.key_buffer[:, :, : self.filled]
        self.values = self.value_buffer[:, :, : self.filled]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start, end = self.filled, self.filled + key_states.shape[-2]
        if end > self.max_cache_len:
            raise ValueError(
                f"The preallocated cache holds {self.max_cache_len} positions and was asked for {end}; build it "
                "with a larger max_cache_len (generate() sizes it from the length budget)."
            )
        self.key_buffer[:, :, start:end].copy_(key_states)
        self.value_buffer[:, :, start:end].copy_(value_states)
        self.filled = end
        self._refresh_views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.filled if self.is_initialized else 0

    def get_max_length(self) -> int:
        return self.max_cache_len

    def reset(self) -> None:
        self.filled = 0
        if self.is_initialized:
            self._refresh_views()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes a negative number of positions to remove, got {tokens_to_remove}.")
        if self.is_initialized and tokens_to_remove:
            self.filled = max(0, self.filled + tokens_to_remove)
            self._refresh_views()

    def _select_batch(self, select) -> None:
        if self.is_initialized:
            self.key_buffer, self.value_buffer = select(self.key_buffer), select(self.value_buffer)
            self._refresh_views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._select_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._select_batch(lambda t: t[indices, ...])

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._select_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))


class SongGenPreallocatedCache(Cache):
    """A ``Cache`` of :class:`SongGenPreallocatedLayer` s, one per decoder layer.

    Args:
        max_cache_len: positions each layer holds (``generate`` passes the length budget).
        config: the decoder config (its ``num_hidden_layers``), or
        num_layers: the layer count directly.
    """

    def __init__(self, max_cache_len: int, config=None, num_layers: int | None = None):
        if num_layers is None:
            if config is None:
                raise ValueError("SongGenPreallocatedCache needs the decoder config or num_layers.")
            num_layers = config.get_text_config(decoder=True).num_hidden_layers
        super().__init__(layers=[SongGenPreallocatedLayer(max_cache_len) for _ in range(num_layers)])


def preallocated_encoder_decoder_cache(
    max_cache_len: int, config=None, num_layers: int | None = None
) -> EncoderDecoderCache:
    """What SongGen's decoder takes: the preallocated self-attention cache and transformers' cross-attention cache
    (the memory's keys/values are projected once, at the first step)."""
    cross = DynamicCache(config=config) if config is not None else DynamicCache()
    return EncoderDecoderCache(SongGenPreallocatedCache(max_cache_len, config=config, num_layers=num_layers), cross)


__all__ = [
    "accepts_past_key_values",
    "cache_field",
    "CACHE_IMPLEMENTATIONS",
    "CACHE_KWARG",
    "cache_of",
    "DEFAULT_CACHE_IMPLEMENTATION",
    "given_cache",
    "PREALLOCATED",
    "preallocated_encoder_decoder_cache",
    "SongGenPreallocatedCache",
    "SongGenPreallocatedLayer",
]
