"""``python -m songgen_hf.data.synth --output DIR --num-clips N --seed S --workers W``."""

import argparse
import sys

from .cli import add_synth_arguments, run_synth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m songgen_hf.data.synth", description="Generate a synthetic song corpus.")
    add_synth_arguments(parser)
    return run_synth(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
