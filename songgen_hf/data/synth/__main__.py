"""``python -m songgen_hf.data.synth --output DIR --num-clips N --seed S --workers W``."""

import argparse
import sys

from songgen_hf.commands.cli import run_command
from songgen_hf.commands.data import add_synth_arguments, run_synth


def main(argv: list[str] | None = None) -> int:
    """Same contract as ``songgen data synth``: a bad option is exit code 2 with a message."""
    parser = argparse.ArgumentParser(
        prog="python -m songgen_hf.data.synth", description="Generate a synthetic song corpus."
    )
    add_synth_arguments(parser)
    return run_command(parser, run_synth, argv)


if __name__ == "__main__":
    sys.exit(main())
