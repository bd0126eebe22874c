"""The ``songgen`` command line.  Thin: it parses arguments and calls the library.

    songgen generate --description TEXT (--lyrics TEXT | --lyrics-file FILE) [--reference-voice AUDIO]
                     [--voice-start S] [--duration S] [--guidance-scale G] [--control-guidance-scale C]
                     [--[no-]silence-instrumental-vocals] [--codebook-temperatures TRACK=T,...]
                     [--temperature T] [--top-k K] [--cache C]
                     [--top-p P] [--seed S] [--stems] [--output OUT.wav] [--model DIR] [--threads N]
    songgen generate-many PROMPTS --output DIR [--seeds N] [--seed S] [--duration S] [--batch-size B]
                          [--model DIR] [--overwrite] [--push-to-hub REPO]
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

One module per command group holds its commands' options and handlers: ``cli_generate``, ``cli_generate_many``,
``cli_info``, ``cli_codec``, ``cli_convert``, ``cli_data``, ``cli_train`` (train, train-singer, finetune-lora, export)
and ``cli_evaluate`` (evaluate, compare).  This module lists the commands, builds the parser from the one a command
line names, and runs its handler through :func:`songgen_hf.commands.cli.run_command`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from songgen_hf.modeling.limits import (
    CODEC_AUTO_CHUNK_SECONDS,
    MAX_CODEC_AUDIO_SECONDS,
    ModelFolderError,
    check_count,
    check_number,
)

# command -> (help, the module that holds its options and handler).  Each such module maps its commands in
# ``COMMANDS``: a command to the function adding its options (and handler), or a group to its own
# ``{subcommand: (help, function)}``.  A module imports only light things at its top (argparse, the shared option
# pieces); its handlers import the heavy ones when they run.
_COMMANDS = {
    "generate": ("write a song from a description and lyrics", "songgen_hf.commands.generate"),
    "generate-many": (
        "every song of a prompt file (JSONL, CSV, dataset) into an audio dataset folder; resumable, accelerate",
        "songgen_hf.commands.generate_many",
    ),
    "edit": (
        "re-make a stretch of a song (new words, a new feel), every other sample kept exactly",
        "songgen_hf.commands.edit",
    ),
    "extend": ("continue a song past its end, its own samples kept exactly", "songgen_hf.commands.edit"),
    "info": ("what a SongGen or X-Codec folder holds", "songgen_hf.commands.info"),
    "codec": ("train or run the X-Codec audio codec", "songgen_hf.commands.codec"),
    "convert": ("convert official checkpoints", "songgen_hf.commands.convert"),
    "data": ("datasets", "songgen_hf.commands.data"),
    "train": ("train one SongGen stage (accelerate)", "songgen_hf.commands.train"),
    "train-singer": (
        "train the told singer (vocal codes filled from a score) on encoded songs with stems",
        "songgen_hf.commands.train",
    ),
    "finetune-lora": ("fine-tune a SongGen model with a LoRA adapter (PEFT)", "songgen_hf.commands.train"),
    "export": ("a trained SongGen folder -> a compact release folder", "songgen_hf.commands.train"),
    "evaluate": ("weight-free controllability benchmark on held-out corpus prompts", "songgen_hf.commands.evaluate"),
    "compare": (
        "paired differences between two models' evaluations of the same prompts",
        "songgen_hf.commands.evaluate",
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
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command(build_parser(argv), None, argv, after_parsing=_register_models)


def run_alone(command: str, argv: list[str] | None = None) -> int:
    """``songgen COMMAND`` as a program of its own, for launchers that start one program per process
    (``accelerate launch -m songgen_hf.training.songgen_cli``): the same options, checks and exit codes, with
    ``-v`` among the command's options."""
    help_text = _COMMANDS[command][0]
    parser = argparse.ArgumentParser(prog=f"songgen {command}", description=help_text)
    command_options(command)(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return run_command(parser, None, argv, after_parsing=_register_models)


def _register_models() -> None:
    """What ``import songgen_hf`` does at once and the console script defers past parsing: import the models and
    register them (and ``text-to-song``) with transformers."""
    import songgen_hf._public_api  # noqa: F401


# ----------------------------------------------------------------------------------------------------
# The command-line contract every ``songgen`` command (and each stand-alone training entry point) shares.
#
# Numbers first: argparse turns ``nan``, ``inf`` and ``1e30`` into valid floats and any digit string into an int, so
# each command checks its numbers here before doing any work: NaN and infinity are refused outright (they otherwise
# surface as "cannot convert float NaN to integer" deep inside torch, or as silent garbage), and every bound names the
# option and the accepted range.  Then the run: a logging switch, exit code 2 with a one-line message on bad input, 143
# after a checkpoint on SIGTERM, one progress bar per long step (:func:`run_command`).  No heavy imports: this runs
# before anything loads.

# --quantize's choices, here so that parsers list them without importing torch; the same tuple as
# songgen_hf.modeling.songgen.quantization.QUANTIZE_CHOICES, which loading checks against (a test compares them)
QUANTIZE_CHOICES = ("int8", "int8-heads", "bf16-heads", "bf16", "fp32")


def add_run_arguments(parser, config_help: str, set_example: str):
    """The arguments every training command shares: the config file, ``--resume``, ``--overwrite``
    and ``--set KEY=VALUE`` overrides (parsed by ``songgen_hf.training.config_files.parse_overrides``)."""
    parser.add_argument("config", help=config_help)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run in output_dir (checkpoints, train log, final, samples) and start at step 0",
    )
    parser.add_argument("--set", nargs="*", metavar="KEY=VALUE", help=f"override config options, e.g. {set_example}")
    return parser


def check_path_given(flag: str, value) -> None:
    """An empty path (``--output ""``) would mean the current folder, which a command may then fill or
    replace; it is refused instead."""
    if value is not None and not str(value).strip():
        raise ValueError(f"{flag} is empty; give a path.")


def check_bandwidth(flag: str, value, bandwidths) -> None:
    """``value`` kbps must be one of the codec's ``bandwidths`` (``None``: all codebooks)."""
    if value is None:
        return
    check_number(flag, value, above=0, example=bandwidths[-1])
    if not any(math.isclose(value, bandwidth) for bandwidth in bandwidths):
        raise ValueError(
            f"{flag} {value:g} kbps is not offered by this codec; pick one of "
            f"{', '.join(f'{bandwidth:g}' for bandwidth in bandwidths)}, or omit {flag} for all codebooks."
        )


def add_codec_arguments(parser, verb: str, bandwidth: bool = True) -> None:
    """The options of every command that runs the codec over audio (``codec encode``/``decode``, ``data encode``):
    ``--bandwidth`` (encoding only) and ``--chunk-seconds``; :func:`check_codec_arguments` checks them."""
    if bandwidth:
        parser.add_argument("--bandwidth", type=float, default=None, help="kbps; default: all codebooks")
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=None,
        help=f"{verb} in chunks of this length (default: {CODEC_AUTO_CHUNK_SECONDS:g} s chunks for audio longer "
        f"than {CODEC_AUTO_CHUNK_SECONDS:g} s)",
    )


def check_codec_arguments(args, config) -> None:
    """:func:`add_codec_arguments`' options against the codec's ``config``: ``--bandwidth`` one it offers,
    ``--chunk-seconds`` from one codec frame to the longest audio a command takes."""
    check_bandwidth("--bandwidth", getattr(args, "bandwidth", None), config.target_bandwidths)
    check_number(
        "--chunk-seconds",
        args.chunk_seconds,
        minimum=1 / config.frame_rate,
        maximum=MAX_CODEC_AUDIO_SECONDS,
        example=30,
    )


def holds(folder, path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved; neither needs to exist yet)."""
    folder, path = Path(folder).resolve(), Path(path).resolve()
    return path == folder or folder in path.parents


def check_output_spares_inputs(output_flag: str, output, inputs: dict) -> None:
    """A command that replaces its output folder whole must not be handed a folder that holds what it reads:
    the corpus, the checkpoint, the codec would be deleted once the new folder is complete (``--overwrite``
    means "replace my earlier result", never "delete my data").  ``inputs`` maps each input's flag to its path
    (``None`` for an input not given)."""
    for flag, value in inputs.items():
        # only what exists can be lost (a Hub id such as org/name is not a local path)
        if value is not None and str(value).strip() and Path(value).exists() and holds(output, value):
            raise ValueError(
                f"{output_flag} {output} holds {flag} {value}, which writing {output_flag} would "
                f"replace; write to a new folder instead."
            )


def output_and_report(output: str, report: str | None, result_file: str, default_report: str):
    """``(output folder, Markdown report path)`` of an evaluation command, refused before any work when
    ``--output`` is a file or ``--report`` is not a ``.md`` file name."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder for {result_file}.")
    report = Path(report) if report is not None else output / default_report
    if report.suffix.lower() != ".md":
        raise ValueError(f"--report {report}: the report is Markdown; use a .md file name.")
    if report.is_dir():
        raise ValueError(f"--report {report} is a directory; give a file name such as {report / default_report}.")
    return output, report


CODEBOOK_TEMPERATURES_HELP = (
    "TRACK=T1,T2,... (repeatable): sample the first codebooks of a track at their own temperatures, e.g. "
    "vocals=0.6,0.6,0.6 (tracks: mix, or accompaniment and vocals); 'none' turns off the model's saved ones"
)


def parse_codebook_temperatures(flag: str, values: list[str] | None) -> dict[str, list[float]] | None:
    """``["vocals=0.6,0.6"]`` -> ``{"vocals": [0.6, 0.6]}``; ``["none"]`` -> ``{}`` (none: generate() then samples
    every row at ``temperature``, a folder's saved ones included); not given -> ``None``.

    Only the syntax is checked here; the ranges, tracks and codebook counts are generate()'s checks
    (``check_generation_arguments``), which the commands run on the model's config before its weights load.
    """
    if values is None:
        return None
    if [value.strip().lower() for value in values] == ["none"]:
        return {}
    parsed: dict[str, list[float]] = {}
    for value in values:
        track, equals, listed = value.partition("=")
        track = track.strip()
        if not equals or not track or not listed.strip():
            raise ValueError(
                f"{flag} {value!r} must look like TRACK=T1,T2,... (e.g. vocals=0.6,0.6,0.6), or be 'none' alone."
            )
        if track in parsed:
            raise ValueError(f"{flag} names {track!r} twice; give each track once.")
        try:
            parsed[track] = [float(item) for item in listed.split(",")]
        except ValueError:
            raise ValueError(
                f"{flag} {value!r}: the temperatures must be numbers separated by commas, e.g. {track}=0.6,0.6,0.6."
            ) from None
    return parsed


# ---------------------------------------------------------------------------------------------- the run

USER_ERRORS = (ValueError, FileExistsError, FileNotFoundError, ModelFolderError)


def run_command(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], int] | None,
    argv: list[str] | None,
    after_parsing: Callable[[], None] | None = None,
) -> int:
    """Parse ``argv``, call ``after_parsing`` (the console script's deferred imports) unless the handler says it
    needs no models, configure logging from ``--verbose`` and run ``handler`` (or ``args.handler``)."""
    args = parser.parse_args(argv)
    run = handler or args.handler
    # before logging is set up, so import-time notices stay as quiet as elsewhere; a handler that loads no model
    # (``needs_models = False``: the corpus renderer) is spared the models' imports, seconds of its start-up
    if after_parsing is not None and getattr(run, "needs_models", True):
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
        return run(args)
    except USER_ERRORS as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:
        from songgen_hf.utils.atomic import is_write_refused

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


__all__ = [
    "add_codec_arguments",
    "check_bandwidth",
    "check_codec_arguments",
    "check_count",
    "check_number",
    "check_output_spares_inputs",
    "check_path_given",
    "holds",
    "run_command",
    "USER_ERRORS",
]


if __name__ == "__main__":
    sys.exit(main())
