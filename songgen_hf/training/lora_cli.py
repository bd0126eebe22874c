"""``songgen finetune-lora CONFIG`` glue, also runnable on its own for multi-process launches::

    songgen finetune-lora lora.yaml [--resume | --overwrite] [--set key=value ...]
    accelerate launch --num_processes 2 -m songgen_hf.training.lora_cli lora.yaml

Exit codes as for ``songgen train``: 0 success, 2 bad input, 143 stopped by SIGTERM after saving
a checkpoint (rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import sys


def add_finetune_lora_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from songgen_hf.training.config_files import add_run_arguments

    return add_run_arguments(
        parser, "LoRA config (JSON/YAML): train_data, init_from (the base model folder), lora_* options", "lora_r=8"
    )


def run_finetune_lora(args: argparse.Namespace) -> int:
    from songgen_hf.training.config_files import parse_overrides
    from songgen_hf.training.lora_trainer import LoraTrainingConfig, finetune_lora

    config = LoraTrainingConfig.from_file(args.config, parse_overrides(args.set))
    final = finetune_lora(config, resume=args.resume, overwrite=args.overwrite)
    print(f"LoRA adapter saved to {final} (base model: {config.init_from})")
    return 0


def main(argv: list[str] | None = None) -> int:
    from songgen_hf.command_runner import run_command

    parser = add_finetune_lora_arguments(
        argparse.ArgumentParser(
            prog="songgen finetune-lora", description="Fine-tune a SongGen model with a LoRA adapter."
        )
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return run_command(parser, run_finetune_lora, argv)


if __name__ == "__main__":
    sys.exit(main())
