"""One place for the command-line contract: logging switch, exit code 2 with a message on bad input,
143 after a checkpoint on SIGTERM, one progress bar per long step.  Used by ``songgen`` and the stand-alone
training entry points (``accelerate launch -m songgen_hf.training.songgen_cli``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

USER_ERRORS = (ValueError, FileExistsError, FileNotFoundError)


def run_command(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], int] | None,
    argv: list[str] | None,
    after_parsing: Callable[[], None] | None = None,
) -> int:
    """Parse ``argv``, call ``after_parsing`` (the console script's deferred imports), configure logging from
    ``--verbose`` and run ``handler`` (or ``args.handler``)."""
    args = parser.parse_args(argv)
    if after_parsing is not None:  # before logging is set up, so import-time notices stay as quiet as elsewhere
        after_parsing()
    from transformers.utils import logging as transformers_logging

    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, format="%(message)s"
    )

    # A command draws its own bar per long step; transformers' per-file "Loading weights" bars would double
    # them.
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return (handler or args.handler)(args)
    except USER_ERRORS as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:
        from songgen_hf.atomic import is_write_refused

        if not is_write_refused(error):
            raise
        # a full disk or a read-only place found mid-write: the place is at fault, not the program
        where = getattr(error, "filename", None)
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        print(
            f"{parser.prog}: error: {f'{where}: ' if where else ''}{reason}; free some space, or choose a place "
            "you can write to.",
            file=sys.stderr,
        )
        return 2
    except SystemExit as stop:
        return int(stop.code or 0)
    finally:
        if bars_were_on:  # a caller running commands in-process keeps its own setting
            transformers_logging.enable_progress_bar()


__all__ = ["run_command", "USER_ERRORS"]
