"""``songgen finetune-lora`` as a program of its own, for launchers that start one program per process::

    accelerate launch --num_processes 2 -m songgen_hf.training.lora_cli lora.yaml [--resume | --overwrite]

The options, checks and exit codes are ``songgen finetune-lora``'s (:mod:`songgen_hf.commands.train`); ``accelerate
launch -m songgen_hf.cli finetune-lora lora.yaml`` does the same.
"""

from __future__ import annotations

import sys

from songgen_hf.commands.cli import run_alone


def main(argv: list[str] | None = None) -> int:
    return run_alone("finetune-lora", argv)


if __name__ == "__main__":
    sys.exit(main())
