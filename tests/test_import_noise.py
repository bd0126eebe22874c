"""`import songgen_hf` (and so every `songgen` command) does not print other packages' known import noise."""

import logging

from songgen_hf.utils.import_noise import known_import_noise_filtered

from .fresh_interpreter import fresh_interpreter

TORCHAO = "Failed to load /venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: no"
PYTREE = (
    "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by torch.compile as an opaque "
    "value type. Calling register_constant() on Enum subclasses is deprecated"
)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_only_the_known_records_are_dropped_and_only_inside_the_block():
    # a handler on each logger itself: torch and transformers keep their records from propagating to the root
    records = _Records()
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree", "transformers")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        with known_import_noise_filtered():
            logging.getLogger("torchao").warning(TORCHAO)
            logging.getLogger("torch.utils._pytree").warning(PYTREE)
            logging.getLogger("torchao").warning("Skipping import of cpp extensions due to incompatible torch version")
            logging.getLogger("torch.utils._pytree").warning("another pytree warning")
            logging.getLogger("transformers").warning(TORCHAO)  # the same text from another package is not filtered
        assert records.messages == [
            "Skipping import of cpp extensions due to incompatible torch version",
            "another pytree warning",
            TORCHAO,
        ]
        records.messages.clear()
        logging.getLogger("torchao").warning(TORCHAO)  # outside the block nothing is filtered
        assert records.messages == [TORCHAO]
    finally:
        for logger in loggers:
            logger.removeHandler(records)


def test_importing_the_package_prints_nothing():
    printed = fresh_interpreter()  # `import songgen_hf` in a fresh interpreter
    assert printed["stdout"] == "" and printed["stderr"] == "", printed["stderr"]
