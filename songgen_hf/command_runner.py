"""One place for the command-line contract: logging switch, exit code 2 with a message on bad input,
143 after a checkpoint on SIGTERM.  Used by ``songgen`` and the stand-alone training entry points
(``accelerate launch -m songgen_hf.training.songgen_cli``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

USER_ERRORS = (ValueError, FileExistsError, FileNotFoundError)


def run_command(
    parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace], int] | None, argv: list[str] | None
) -> int:
    """Parse ``argv``, configure logging from ``--verbose`` and run ``handler`` (or ``args.handler``)."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, format="%(message)s")
    try:
        return (handler or args.handler)(args)
    except USER_ERRORS as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        return int(stop.code or 0)


__all__ = ["run_command", "USER_ERRORS"]
