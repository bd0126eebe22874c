"""The ``songgen`` parser: quick to build (nothing heavy until a command runs), every flag explained,
a version, and quiet about library notices a user cannot act on."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from importlib import import_module
from pathlib import Path

import pytest

import songgen_hf
from songgen_hf.commands.cli import _COMMANDS, build_parser, command_options

MODEL_PACKAGES = (
    "songgen_hf.modeling.songgen",
    "songgen_hf.modeling.songgen_singer",
    "songgen_hf.modeling.xcodec",
    "songgen_hf.modeling.resgen",
    "songgen_hf.modeling.patterns",
    "songgen_hf.modeling.weight_bounds",
)
HEAVY = (
    "torch",
    "transformers",
    "numpy",
    "soundfile",
    "librosa",
    "datasets",
    "pandas",
    "scipy",
    "accelerate",
    "peft",
    "diffusers",
    "songgen_hf.data.encode",
    "songgen_hf.training.lora",
    "songgen_hf.evaluation.runner",
    # the models (their package's face, with the limits and the music theory, imports no torch)
    *MODEL_PACKAGES,
    # the pipelines (their package's face and its loader, which the commands check folders with, import no torch)
    "songgen_hf.pipelines.text_to_song",
    "songgen_hf.pipelines.streaming",
)


def _console_script(args: list[str], probe: str = "") -> subprocess.CompletedProcess:
    """Run ``songgen ARGS`` as the console script does (a process named ``songgen``), then print the loaded
    heavy modules as JSON on stderr's last line (an atexit hook: ``--help`` ends the program)."""
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr))\n"
        f"sys.argv = ['songgen', *{args!r}]\n"
        "from songgen_hf.commands.cli import main\n"
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


def test_the_corpus_renderer_starts_without_the_models(tmp_path):
    """``songgen data synth`` loads no model, so it skips torch and the models' registrations; no other command
    opts out of them."""
    output = tmp_path / "corpus"
    synth = ["data", "synth", "--output", str(output), "--num-clips", "1", "--min-duration", "4", "--max-duration", "4"]
    result = _console_script([*synth, "--workers", "1", "--no-progress"])
    loaded = _loaded(result)
    assert not {"torch", *MODEL_PACKAGES, "songgen_hf.pipelines.text_to_song", "diffusers"} & set(loaded), loaded
    if result.returncode == 0:  # the corpus itself needs FluidSynth and espeak-ng
        assert (output / "manifest.jsonl").is_file()
    else:
        assert result.returncode == 2 and "error:" in result.stderr, result.stderr[-2000:]
    # every other command loads models: only the renderer opts out of their imports
    spared = []
    for path, parser in _commands(build_parser(), "songgen"):
        handler = parser.get_default("handler")
        if handler is not None and not getattr(handler, "needs_models", True):
            spared.append(path)
    assert spared == ["songgen data synth"]


def _commands(parser: argparse.ArgumentParser, path: str):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{path} {name}")


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
    from songgen_hf.commands.cli import QUANTIZE_CHOICES
    from songgen_hf.modeling.songgen import quantization

    assert QUANTIZE_CHOICES == quantization.QUANTIZE_CHOICES


def test_bad_threads_is_refused_with_the_flag(capsys):
    from songgen_hf.commands.cli import main

    assert main(["generate", "--description", "x", "--lyrics", "y", "--threads", "0"]) == 2
    assert "--threads must be a whole number of threads >= 1, got 0" in capsys.readouterr().err


def test_commands_leave_transformers_progress_bars_as_they_found_them():
    from transformers.utils import logging as transformers_logging

    from songgen_hf.commands.cli import main

    assert transformers_logging.is_progress_bar_enabled()
    seen = []
    parser = build_parser(["info", "x"])
    from songgen_hf.commands.cli import run_command

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


def _command_lines() -> list[list[str]]:
    """Every command and group of ``songgen``, as the words that name it (``[]`` is ``songgen`` itself)."""
    lines = [[]]
    for name in _COMMANDS:
        lines.append([name])
        options = command_options(name)
        if isinstance(options, dict):
            lines += [[name, sub] for sub in options]
    return lines


def test_the_command_table_and_the_group_modules_agree():
    for name, (help_text, module) in _COMMANDS.items():
        assert help_text and name in import_module(module).COMMANDS, name
    for module in {module for _, module in _COMMANDS.values()}:
        registered = set(import_module(module).COMMANDS)
        assert registered == {name for name, (_, owner) in _COMMANDS.items() if owner == module}, module
    lines = _command_lines()
    assert ["codec", "interpolate"] in lines and ["data", "prepare"] in lines and ["export"] in lines


def test_every_help_and_the_whole_parser_leave_the_heavy_libraries_unloaded():
    """``songgen [GROUP [COMMAND]] --help`` for every command, then the whole parser, in one fresh interpreter
    started as the console script: none of them imports torch, numpy or the data stack."""
    code = (
        "import contextlib, io, json, sys\n"
        "sys.argv = ['songgen']\n"
        "from songgen_hf.commands.cli import build_parser, main\n"
        "loaded = {}\n"
        "def note(where):\n"
        f"    for module in {HEAVY!r}:\n"
        "        if module in sys.modules:\n"
        "            loaded.setdefault(module, where)\n"
        f"for words in {_command_lines()!r}:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            main([*words, '--help'])\n"
        "        except SystemExit as stop:\n"
        "            assert stop.code == 0, (words, stop.code)\n"
        "    assert 'usage: songgen' in out.getvalue(), words\n"
        "    note(' '.join(['songgen', *words, '--help']))\n"
        "build_parser()\n"
        "note('build_parser()')\n"
        "print(json.dumps(loaded))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}  # module -> the first command that loaded it


def test_python_m_songgen_hf_cli_defers_the_models_like_the_console_script():
    """``python -m songgen_hf.cli`` (what ``accelerate launch -m songgen_hf.cli`` runs) answers ``--help`` without
    torch too: ``import songgen_hf`` recognises it and leaves the model registration to after parsing."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "songgen_hf.cli", "codec", "interpolate", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: songgen codec interpolate" in result.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    }
    assert "songgen_hf.commands.cli" in imported  # the -X importtime report is read
    assert not {"torch", "numpy", "transformers"} & imported


def test_a_command_run_alone_keeps_the_songgen_contract(capsys):
    from songgen_hf.training import lora_cli, songgen_cli

    assert songgen_cli.main(["missing.yaml", "--set", "max_steps=1", "-v"]) == 2
    assert "songgen train: error: Config file not found: missing.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        lora_cli.main(["--help"])
    assert stop.value.code == 0
    assert "usage: songgen finetune-lora" in capsys.readouterr().out


def test_encode_stem_choices_match_the_encoder():
    from songgen_hf.commands.data import STEM_NAMES
    from songgen_hf.data.encode import STEM_COLUMNS

    assert STEM_NAMES == tuple(sorted(STEM_COLUMNS))


def test_defaults_named_in_the_parser_match_their_sources():
    """The defaults and choices the light command modules name for their options (their sources import numpy or
    torch) are the ones the code uses."""
    from songgen_hf.commands import data as cli_data
    from songgen_hf.commands import train as cli_train
    from songgen_hf.data import excerpts
    from songgen_hf.data.prepare import describe, lyrics, options, separation
    from songgen_hf.training import export

    assert cli_data.EXCERPT_FIELDS == excerpts.DEFAULT_FIELDS
    assert cli_data.DEFAULT_SEPARATION_MODEL == separation.DEFAULT_SEPARATION_MODEL
    assert cli_data.DEFAULT_CLAP_MODEL == describe.DEFAULT_CLAP_MODEL
    assert (cli_data.DEFAULT_ASR_MODEL, cli_data.SECOND_ASR_MODEL, cli_data.DEFAULT_MAX_EDIT_DISTANCE) == (
        lyrics.DEFAULT_ASR_MODEL,
        lyrics.SECOND_ASR_MODEL,
        lyrics.DEFAULT_MAX_EDIT_DISTANCE,
    )
    assert (cli_data.DEFAULT_MIN_VOCAL_ENERGY, cli_data.DEFAULT_HQ_VOCAL_ENERGY) == (
        options.DEFAULT_MIN_VOCAL_ENERGY,
        options.DEFAULT_HQ_VOCAL_ENERGY,
    )
    # the options a command line leaves alone are the library's defaults
    parser = cli_data.add_prepare_arguments(argparse.ArgumentParser())
    prepared = cli_data.prepare_options(parser.parse_args(["songs", "--output", "corpus"]))
    defaults = options.PrepareOptions()
    for name in ("separation_model", "asr_model", "second_asr_model", "clap_model", "max_edit_distance"):
        assert getattr(prepared, name) == getattr(defaults, name), name
    assert cli_train.EXPORT_FORMATS == export.EXPORT_FORMATS
    assert cli_train.STORAGE_DTYPE_NAMES == tuple(sorted(export.STORAGE_DTYPES))
