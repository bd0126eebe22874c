"""The ``songgen`` parser: quick to build (nothing heavy until a command runs), every flag explained,
a version, and quiet about library notices a user cannot act on."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import songgen_hf
from songgen_hf.cli import _COMMANDS, build_parser

HEAVY = (
    "torch",
    "transformers",
    "datasets",
    "pandas",
    "scipy",
    "songgen_hf.data.encode",
    "songgen_hf.training.lora",
    "songgen_hf.evaluation.runner",
    "songgen_hf.modeling",
    "songgen_hf.pipelines",
)


def _console_script(args: list[str], probe: str = "") -> subprocess.CompletedProcess:
    """Run ``songgen ARGS`` as the console script does (a process named ``songgen``), then print the loaded
    heavy modules as JSON on stderr's last line (an atexit hook: ``--help`` ends the program)."""
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr))\n"
        f"sys.argv = ['songgen', *{args!r}]\n"
        "from songgen_hf.cli import main\n"
        "sys.exit(main())\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)


def _loaded(result: subprocess.CompletedProcess) -> list[str]:
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["data", "--help"], ["--version"]])
def test_help_and_version_load_nothing_heavy(args):
    result = _console_script(args)
    assert result.returncode == 0, result.stderr
    assert _loaded(result) == []
    if args == ["--version"]:
        assert result.stdout.strip() == f"songgen {songgen_hf.__version__}"
    else:
        assert "usage: songgen" in result.stdout


def test_a_bad_flag_is_refused_before_torch_loads():
    result = _console_script(["generate", "--description", "x", "--lyrics", "y", "--top-k", "many"])
    assert result.returncode == 2
    assert "--top-k: invalid int value: 'many'" in result.stderr
    assert _loaded(result) == []


def _actions(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_flag_and_argument_of_every_command_has_help():
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, action in _actions(build_parser(), "songgen")
        if action.help in (None, "") and action.help is not argparse.SUPPRESS
    ]
    assert missing == []


def test_every_command_is_listed_with_help_and_a_command_line_gets_only_its_options():
    full = build_parser()
    commands = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(_COMMANDS)
    assert all(choice.help for choice in commands._choices_actions)
    lean = build_parser(["generate", "--description", "x"])
    lean_commands = next(a for a in lean._actions if isinstance(a, argparse._SubParsersAction))
    assert set(lean_commands.choices) == set(_COMMANDS)  # still all listed, for `songgen --help`
    info_options = [a.dest for a in lean_commands.choices["info"]._actions]
    assert info_options == ["help"]  # not built: no command line named it
    full_generate = {a.dest for a in commands.choices["generate"]._actions}
    assert {a.dest for a in lean_commands.choices["generate"]._actions} == full_generate
    # the same command line parses to the same namespace through either parser
    argv = ["generate", "--description", "a song", "--lyrics", "la", "--top-p", "0.9", "--threads", "1"]
    assert vars(build_parser(argv).parse_args(argv)) == vars(full.parse_args(argv))
    nested = ["codec", "encode", "in.wav", "--model", "m", "--output", "c.pt"]
    assert vars(build_parser(nested).parse_args(nested)) == vars(full.parse_args(nested))


def test_quantize_choices_match_what_loading_accepts():
    from songgen_hf.arguments import QUANTIZE_CHOICES
    from songgen_hf.modeling.songgen import quantization

    assert QUANTIZE_CHOICES == quantization.QUANTIZE_CHOICES


def test_bad_threads_is_refused_with_the_flag(capsys):
    from songgen_hf.cli import main

    assert main(["generate", "--description", "x", "--lyrics", "y", "--threads", "0"]) == 2
    assert "--threads must be a whole number of threads >= 1, got 0" in capsys.readouterr().err


def test_commands_leave_transformers_progress_bars_as_they_found_them():
    from transformers.utils import logging as transformers_logging

    from songgen_hf.cli import main

    assert transformers_logging.is_progress_bar_enabled()
    seen = []
    parser = build_parser(["info", "x"])
    from songgen_hf.command_runner import run_command

    assert (
        run_command(
            parser, lambda args: seen.append(transformers_logging.is_progress_bar_enabled()) or 0, ["info", "x"]
        )
        == 0
    )
    assert seen == [False]  # silenced while the command runs: the command's own bars are the only ones
    assert transformers_logging.is_progress_bar_enabled()
    assert main(["info", str(Path(os.devnull))]) == 2
    assert transformers_logging.is_progress_bar_enabled()


def test_lora_adapter_setup_raises_no_future_warning():
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import tiny_songgen_config
    from songgen_hf.training.lora import apply_lora, lora_config_for_songgen

    model = SongGenForConditionalGeneration(tiny_songgen_config())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_lora(model, lora_config_for_songgen(r=2, alpha=4, dropout=0.0))
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []


# Commands whose options are defined beside their implementation, which imports torch: building their parser
# still does (codec interpolate, data prepare, train-singer, export); every other command's is torch-free.
TORCH_FREE_COMMANDS = [
    "generate",
    "info",
    "codec train",
    "codec encode",
    "codec decode",
    "codec evaluate",
    "convert xcodec",
    "convert songgen",
    "data synth",
    "data encode",
    "data tokenizers",
    "data excerpts",
    "train",
    "finetune-lora",
    "evaluate",
    "compare",
]


def test_building_a_command_parser_leaves_torch_unloaded():
    code = (
        "import json, sys\n"
        "sys.argv = ['songgen']\n"
        "from songgen_hf.cli import build_parser\n"
        f"for command in {TORCH_FREE_COMMANDS!r}:\n"
        "    build_parser(command.split())\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_encode_stem_choices_match_the_encoder():
    from songgen_hf.data.encode import STEM_COLUMNS
    from songgen_hf.data.encode_cli import STEM_NAMES

    assert STEM_NAMES == tuple(sorted(STEM_COLUMNS))
