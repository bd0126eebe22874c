"""The ``songgen`` command line.  Thin: it parses arguments and calls the library.

    songgen generate --description TEXT (--lyrics TEXT | --lyrics-file FILE) [--reference-voice AUDIO]
                     [--voice-start S] [--duration S] [--guidance-scale G] [--control-guidance-scale C]
                     [--[no-]silence-instrumental-vocals] [--codebook-temperatures TRACK=T,...]
                     [--temperature T] [--top-k K] [--cache C]
                     [--top-p P] [--seed S] [--stems] [--output OUT.wav] [--model DIR] [--threads N]
    songgen --version
    songgen info DIR [--json]
    songgen codec train CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen codec encode AUDIO --model DIR --output CODES.pt [--bandwidth KBPS] [--chunk-seconds S]
    songgen codec decode CODES.pt --model DIR --output OUT.wav [--chunk-seconds S]
    songgen codec interpolate BASE TUNED --weight W --output DIR [--overwrite]
    songgen codec evaluate MANIFEST --model CODEC [--baseline CODEC ...] --output DIR [--num-clips N] [--report FILE.md]
    songgen convert xcodec CHECKPOINT.pth OUTPUT_DIR [--config config.yaml] [--num-quantizers N]
    songgen convert songgen (REPO_ID | OFFICIAL_DIR) OUTPUT_DIR [--codec CODEC] [--mert MERT] [--no-voice]
                    [--lyrics-vocab FILE] [--revision REV] [--cache-dir DIR] [--token T] [--local-files-only]
    songgen data synth --output DIR --num-clips N [--seed S] [--workers W]
    songgen data prepare SONGS --output CORPUS [--separation-model M] [--asr-model M] [--clap-model M] [--dry-run]
    songgen data encode MANIFEST --codec DIR --output DIR
    songgen data excerpts MANIFEST --output DIR [--seconds S] [--max-mb MB] [--fields F ...] [--skip N] [--seed S]
    songgen train STAGE_CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen finetune-lora CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen evaluate MANIFEST --output DIR [--model DIR] [--report FILE.md] [--num-prompts N] [--seed S] ...

Exit codes: 0 success, 2 bad input (the message says what to change), 143 interrupted after
saving a checkpoint.

One module per command group holds its commands' options and handlers: ``cli_generate``, ``cli_info``,
``cli_codec``, ``cli_convert``, ``cli_data``, ``cli_train`` (train, train-singer, finetune-lora, export) and
``cli_evaluate`` (evaluate, compare).  This module lists the commands, builds the parser from the one a command
line names, and runs its handler through :func:`songgen_hf.command_runner.run_command`.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# command -> (help, the module that holds its options and handler).  Each such module maps its commands in
# ``COMMANDS``: a command to the function adding its options (and handler), or a group to its own
# ``{subcommand: (help, function)}``.  A module imports only light things at its top (argparse, the shared option
# pieces); its handlers import the heavy ones when they run.
_COMMANDS = {
    "generate": ("write a song from a description and lyrics", "songgen_hf.cli_generate"),
    "info": ("what a SongGen or X-Codec folder holds", "songgen_hf.cli_info"),
    "codec": ("train or run the X-Codec audio codec", "songgen_hf.cli_codec"),
    "convert": ("convert official checkpoints", "songgen_hf.cli_convert"),
    "data": ("datasets", "songgen_hf.cli_data"),
    "train": ("train one SongGen stage (accelerate)", "songgen_hf.cli_train"),
    "train-singer": (
        "train the told singer (vocal codes filled from a score) on encoded songs with stems",
        "songgen_hf.cli_train",
    ),
    "finetune-lora": ("fine-tune a SongGen model with a LoRA adapter (PEFT)", "songgen_hf.cli_train"),
    "export": ("a trained SongGen folder -> a compact release folder", "songgen_hf.cli_train"),
    "evaluate": ("weight-free controllability benchmark on held-out corpus prompts", "songgen_hf.cli_evaluate"),
    "compare": (
        "paired differences between two models' evaluations of the same prompts",
        "songgen_hf.cli_evaluate",
    ),
}


def command_options(command: str):
    """What ``command``'s module registers for it: a function adding its options, or a group's subcommand table."""
    return import_module(_COMMANDS[command][1]).COMMANDS[command]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``songgen`` parser.  Every command is listed; with ``argv``, only the command it names gets its
    options (and imports their module), so ``songgen --help`` and each command start without the others' imports.
    Without ``argv``, every command's options are added (still without torch: no command module imports it at
    its top)."""
    from songgen_hf import __version__

    parser = argparse.ArgumentParser(prog="songgen", description="SongGen text-to-song and the X-Codec codec.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version of songgen-hf and exit",
    )
    # no option before a command takes a value, so the words of a command line are its first non-option tokens
    words = None if argv is None else [token for token in argv if not token.startswith("-")]
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in _COMMANDS.items():
        command = subparsers.add_parser(name, help=help_text, description=help_text)
        if words is None or (words and words[0] == name):  # else listed with its help, its options not added
            _add_options(command, command_options(name), None if words is None else words[1:], name)
    return parser


def _add_options(parser: argparse.ArgumentParser, options, words: list[str] | None, name: str) -> None:
    if not isinstance(options, dict):
        options(parser)
        return
    subparsers = parser.add_subparsers(dest=f"{name}_command", required=True)
    for sub, (help_text, add) in options.items():
        command = subparsers.add_parser(sub, help=help_text, description=help_text)
        if words is None or (words and words[0] == sub):
            add(command)


def main(argv: list[str] | None = None) -> int:
    from songgen_hf.command_runner import run_command

    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command(build_parser(argv), None, argv, after_parsing=_register_models)


def run_alone(command: str, argv: list[str] | None = None) -> int:
    """``songgen COMMAND`` as a program of its own, for launchers that start one program per process
    (``accelerate launch -m songgen_hf.training.songgen_cli``): the same options, checks and exit codes, with
    ``-v`` among the command's options."""
    from songgen_hf.command_runner import run_command

    help_text = _COMMANDS[command][0]
    parser = argparse.ArgumentParser(prog=f"songgen {command}", description=help_text)
    command_options(command)(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return run_command(parser, None, argv, after_parsing=_register_models)


def _register_models() -> None:
    """What ``import songgen_hf`` does at once and the console script defers past parsing: import the models and
    register them (and ``text-to-song``) with transformers."""
    import songgen_hf._public_api  # noqa: F401


if __name__ == "__main__":
    sys.exit(main())
