"""The name under which transformers passes the key/value cache, on both sides of its rename.

transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns until 5.40):
``generate()`` hands the cache to ``forward()`` under the new name and reads it back from the
model output under it, and ``GradientCheckpointingLayer`` drops it under it.  Releases before
5.24 do all three under ``past_key_values``.  This package supports both, so:

* SongGen's modules take the cache as ``cache`` and :func:`accepts_past_key_values` maps the
  old keyword onto it (what ``generate()`` of transformers < 5.24 passes, and what older user
  code passes);
* outputs carry the cache under :data:`CACHE_KWARG`, the name the installed ``generate()`` reads
  (:func:`cache_field` builds that keyword, :func:`cache_of` reads it back).
"""

from __future__ import annotations

import functools
import inspect

from transformers.masking_utils import create_causal_mask

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


__all__ = ["CACHE_KWARG", "accepts_past_key_values", "cache_field", "cache_of", "given_cache"]
