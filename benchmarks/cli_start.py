"""How long ``songgen`` takes before it does anything: fresh interpreters, medians of repeats.

Every command of the CLI (``songgen generate``, ``songgen evaluate``, ``songgen --help``) first builds
the whole argument parser, so whatever the parser imports is paid by every command, including the
main job.  This times, each in a new Python process:

* ``import songgen_hf`` (torch and transformers: importing the package registers its Auto classes and the
  ``text-to-song`` pipeline, so this cost is by design);
* ``build_parser()`` (every sub-command's options, as the tests and the docs build them);
* ``songgen --help``, ``songgen --version`` and ``songgen generate --help`` (the console entry point, as a user
  runs it: it lists every command but adds only the named command's options, and defers the package's
  registrations until a command runs);

and records which heavy libraries each stage left loaded (torch, transformers, datasets, pandas,
pyarrow, scipy.signal, librosa; for the console script, from ``python -X importtime``), so a regression
names its cause.

    python benchmarks/cli_start.py --json docs/benchmarks/cli_start.json --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import command_report_head, load_average  # noqa: E402

HEAVY_MODULES = ("torch", "transformers", "datasets", "pandas", "pyarrow", "scipy.signal", "librosa")
REPORT_LOADED = "import json, sys; print(json.dumps([m for m in {mods!r} if m in sys.modules]))"
STAGES = {
    "import songgen_hf": "import songgen_hf",
    "build_parser()": "from songgen_hf.commands.cli import build_parser; build_parser()",
}


def time_command(argv: list[str], repeats: int, warm_up: bool = True) -> tuple[list[float], str]:
    """Wall seconds of ``repeats`` runs of ``argv`` (after one untimed warm-up) and the last run's stdout."""
    if warm_up:
        subprocess.run(argv, check=True, capture_output=True, text=True)  # warm the file cache
    seconds, stdout = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        stdout = done.stdout
    return seconds, stdout


def script_imports(entry_point: str, arguments: list[str]) -> list[str]:
    """The heavy modules the console script imports for ``arguments``, from ``python -X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", entry_point, *arguments], check=True, capture_output=True, text=True
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [module for module in HEAVY_MODULES if module in imported]


def summary(seconds: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "runs_s": [round(s, 4) for s in seconds],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per stage (after one warm-up)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="skip the untimed warm-up runs (a check of what each stage loads, not a timing)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}.")

    env_load = load_average()
    results = {}
    baseline, _ = time_command([sys.executable, "-c", "pass"], args.repeats, args.warm_up)
    results["python -c pass"] = summary(baseline)
    for name, code in STAGES.items():
        probe = code + "; " + REPORT_LOADED.format(mods=HEAVY_MODULES)
        seconds, stdout = time_command([sys.executable, "-c", probe], args.repeats, args.warm_up)
        results[name] = {**summary(seconds), "heavy_modules_loaded": json.loads(stdout.strip().splitlines()[-1])}
    entry_point = shutil.which("songgen")
    for arguments in (["--help"], ["--version"], ["generate", "--help"]):
        name = " ".join(["songgen", *arguments])
        if entry_point is None:
            results[name] = {"skipped": "the songgen console script is not on PATH (pip install the package)"}
            continue
        seconds, _ = time_command([entry_point, *arguments], args.repeats, args.warm_up)
        results[name] = {**summary(seconds), "heavy_modules_loaded": script_imports(entry_point, arguments)}

    report = {
        **command_report_head(
            "cli_start",
            python=platform.python_version(),
            load_average_before=env_load,
            load_average_after=load_average(),
        ),
        "repeats": args.repeats,
        "warm_up": args.warm_up,
        "stages": results,
    }
    text = json.dumps(report, indent=2)
    if args.json:  # imported only now: the package's import is what the stages above time
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
