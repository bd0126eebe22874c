"""A model family's generation arguments, checked once where a song enters and handed on as one object.

Each family says what its sampler acts on (SongGen: the given arguments over its saved generation config; ResGen: the
given ones over its sampler's defaults and an audio prompt's length) and what of a config its checks read (the
signature); the request itself, and whether it vouches for a later call's arguments, is the same for both.  The layers
below a front door are handed the request and check nothing it carries; a request never vouches for arguments it did
not see, nor for a config of another signature: anything else is checked anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class CheckedRequest:
    """Generation arguments checked against a config: ``arguments`` (what the sampler acts on) and ``signature``
    (what the checks read of the config, and of the family's context).  A family subclasses it with
    :meth:`acted_on`, :meth:`signature_of` and :meth:`check_arguments`; build one with :meth:`checked`."""

    arguments: MappingProxyType
    signature: tuple

    @classmethod
    def acted_on(cls, arguments: dict[str, Any], context: Any) -> dict[str, Any]:
        """The arguments the family's sampler acts on, from those given (``None``: not given) and ``context``."""
        raise NotImplementedError

    @classmethod
    def signature_of(cls, config, context: Any) -> tuple:
        """What the checks read of ``config`` and ``context``: equal signatures accept exactly the same arguments."""
        raise NotImplementedError

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any], config, names: dict[str, str], context: Any) -> None:
        """``ValueError`` naming the first bad argument (as spelt in ``names``) and its fix."""
        raise NotImplementedError

    @classmethod
    def checked(cls, arguments: dict[str, Any], config, names: dict[str, str] | None, context: Any):
        """``arguments`` checked once against ``config`` in ``context``, as a request."""
        acted_on = cls.acted_on(arguments, context)
        cls.check_arguments(acted_on, config, names or {}, context)
        return cls(MappingProxyType(acted_on), cls.signature_of(config, context))

    def vouches_for(self, arguments: dict[str, Any], config, context: Any) -> bool:
        """Whether this request was checked for exactly these arguments on a config of this signature in
        ``context``.  Values compare with their types: ``True`` is no vouched-for ``1``."""
        acted_on = self.acted_on(arguments, context)
        return (
            self.signature == self.signature_of(config, context)
            and acted_on.keys() == self.arguments.keys()
            and all(
                type(value) is type(self.arguments[key]) and value == self.arguments[key]
                for key, value in acted_on.items()
            )
        )

    def covers(self, **values: Any) -> bool:
        """Whether this request was checked with these values (``None``: not given) of its arguments."""
        return all(self.arguments.get(key) == value for key, value in values.items() if value is not None)


def _same(value: Any, checked: Any) -> bool:
    return type(value) is type(checked) and value == checked


__all__ = ["CheckedRequest"]
