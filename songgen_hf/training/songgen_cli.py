"""``songgen train CONFIG`` glue, also runnable on its own for multi-process launches::

    songgen train stage1.yaml [--resume | --overwrite] [--set key=value ...]
    accelerate launch --num_processes 2 -m songgen_hf.training.songgen_cli stage1.yaml

Exit codes as for the ``songgen`` CLI: 0 success, 2 bad input, 143 stopped by SIGTERM after
saving a checkpoint (rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import sys


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from songgen_hf.training.config_files import add_run_arguments

    return add_run_arguments(
        parser, "stage config (JSON/YAML): train_data, init_from or model, stage options", "max_steps=10"
    )


def run_train(args: argparse.Namespace) -> int:
    from songgen_hf.training.config_files import parse_overrides
    from songgen_hf.training.songgen_config import SongGenTrainingConfig
    from songgen_hf.training.songgen_trainer import train_songgen

    config = SongGenTrainingConfig.from_file(args.config, parse_overrides(args.set))
    final = train_songgen(config, resume=args.resume, overwrite=args.overwrite)
    print(f"trained SongGen ({config.stage}) saved to {final}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from songgen_hf.command_runner import run_command

    parser = add_train_arguments(argparse.ArgumentParser(prog="songgen train", description="Train one SongGen stage."))
    parser.add_argument("-v", "--verbose", action="store_true")
    return run_command(parser, run_train, argv)


if __name__ == "__main__":
    sys.exit(main())
