"""Filter two known warnings that other packages log while this package imports transformers.

With torchao installed (the ``quantize`` extra), ``import transformers`` imports torchao too. On a
CPU-only torch, torchao then logs "Failed to load .../torchao/_C_mxfp8...so" for each CUDA kernel library
in its wheel, and torch logs a deprecation notice for each enum torchao registers with pytree. Neither says
anything about songgen-hf, yet every ``songgen`` command printed four such lines before its own output.

Only those exact records are dropped, and only while this package's imports run. Any other message from
those loggers still shows, and a program that imported transformers itself has already seen them.
"""

from __future__ import annotations

import contextlib
import logging

# diffusers (imported for ResGen) warns that it cannot import torchao's tensor types, which only matter for
# checkpoints serialized with torchao: this package has none
_DIFFUSERS_TORCHAO = "diffusers.quantizers.torchao.torchao_quantizer"
_LOGGERS = ("torchao", "torch.utils._pytree", _DIFFUSERS_TORCHAO)


class _KnownImportNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == _DIFFUSERS_TORCHAO:
            return not message.startswith("Unable to import `torchao` Tensor objects")
        if record.name == "torchao":
            return not (message.startswith("Failed to load") and "torchao/_C" in message)
        return not ("Enum subclass" in message and "register_constant()" in message)


@contextlib.contextmanager
def known_import_noise_filtered():
    noise = _KnownImportNoise()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:
        logger.addFilter(noise)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)
