"""Every file the package reads that a user or a crash could have replaced goes through one safe reader
(:mod:`songgen_hf.utils.safe_files`): a FIFO, a link to ``/dev/zero``, a file far larger than any such file, or JSON
nested a hundred thousand deep is one clear error in well under a second, never a hang, a multi-GB read or a
``RecursionError``.

The catalogue runs in one child process whose address space is capped at 1 GB above what its imports mapped and
whose every case is stopped by an alarm after 20 s, so that a regression fails the test instead of the machine.
A source scan then lists every read in the package: none but the allowed ones bypasses the reader.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP_BYTES = 2**30
HUGE_BYTES = 6 * 2**30  # sparse: costs no disk
DEEP_JSON = "[" * 100_000 + "]" * 100_000

# door -> (the file it reads, relative to a case folder; the call, given that folder as ``case``)
DOORS = {
    "output marker": (".songgen-output.json", "songgen_hf.utils.atomic:read_marker(case)"),
    "generate-many run settings": (
        "out/.songgen-many/run.json",
        "songgen_hf.commands.song_folder:_read_run(case / 'out')",
    ),
    "generate-many song record": (
        "out/.songgen-many/records/000001-seed0.json",
        "songgen_hf.commands.song_folder:read_record(case / 'out', '000001-seed0')",
    ),
    "generate-many lock": (".out.songgen-many.lock", "songgen_hf.commands.song_folder:take_lock(case / 'out')"),
    "prompt file (JSONL)": ("prompts.jsonl", "songgen_hf.commands.song_folder:read_rows(case / 'prompts.jsonl')"),
    "prompt file (CSV)": ("prompts.csv", "songgen_hf.commands.song_folder:read_rows(case / 'prompts.csv')"),
    "checkpoint manifest": (
        "checkpoint_0/checkpoint.json",
        "songgen_hf.training.checkpointing:read_manifest(case / 'checkpoint_0')",
    ),
    "training log on resume": (
        "train_log.jsonl",
        "songgen_hf.training.checkpointing:truncate_log(case / 'train_log.jsonl', 0)",
    ),
    "training config (YAML)": (
        "config.yaml",
        "songgen_hf.training.config_files:read_config_file(case / 'config.yaml')",
    ),
    "training config (JSON)": (
        "config.json",
        "songgen_hf.training.config_files:read_config_file(case / 'config.json')",
    ),
    "songs' metadata (evaluate)": (
        "songs/metadata.jsonl",
        "songgen_hf.evaluation.songs:read_songs_folder(case / 'songs')",
    ),
    "corpus manifest": ("corpus.jsonl", "songgen_hf.data.manifest:read_manifest_rows(case / 'corpus.jsonl')"),
    "lyrics file (generate)": (
        "lyrics.txt",
        "songgen_hf.utils.safe_files:read_text(case / 'lyrics.txt', '--lyrics-file')",
    ),
    "model config (processor)": (
        "model/config.json",
        "songgen_hf.modeling.songgen.processing_songgen:_read_model_config(str(case / 'model' / 'config.json'))",
    ),
}
JSON_DOORS = {door for door, (name, _) in DOORS.items() if name.endswith((".json", ".jsonl", ".lock", ".yaml"))}
VARIANTS = ("FIFO", "link to /dev/zero", "6 GB file", "JSON nested 100 000 deep")
# what a door may do with a crafted file instead of raising (a pattern its returned value's repr matches)
RETURNS = {
    "generate-many song record": r"None",  # a record that is not one: the song is made again
    "generate-many run settings": r"None",  # settings that are not JSON: no earlier run, the folder is refused
    "model config (processor)": r"\{\}",  # no config: the loader then says what is wrong
    "prompt file (JSONL)": r"line 1: JSON nested deeper than 4 levels",  # one bad row, listed with the others
    "generate-many lock": r"songgen-many\.lock'\)$",  # a killed writer's lock (no JSON, an hour old): taken over
    "training log on resume": r"^1$",  # a line that is no record of the run's is dropped (as a line cut short is)
}


def _craft(path: Path, variant: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if variant == "FIFO":
        os.mkfifo(path)
    elif variant == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif variant == "6 GB file":
        with open(path, "wb") as handle:
            handle.truncate(HUGE_BYTES)
    else:
        path.write_text(DEEP_JSON, encoding="utf-8")


CHILD = r"""
import importlib, json, resource, signal, sys, time
from pathlib import Path

cases = json.loads(open(sys.argv[1]).read())
modules = {where.split(":")[0] for _, where in cases.values()}
for name in sorted(modules):
    importlib.import_module(name)
with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
cap = mapped + int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


class Hung(BaseException):
    pass


def alarm(signum, frame):
    raise Hung()


signal.signal(signal.SIGALRM, alarm)
results = {}
for case, (folder, where) in cases.items():
    module, call = where.split(":", 1)
    namespace = vars(importlib.import_module(module)).copy()
    namespace["case"] = Path(folder)
    start = time.perf_counter()
    signal.alarm(20)
    try:
        value = eval(call, namespace)
        outcome = {"error": None, "returned": repr(value)[:200]}
    except BaseException as error:  # MemoryError, RecursionError and Hung included: what the test looks for
        outcome = {"error": type(error).__name__, "mro": [k.__name__ for k in type(error).__mro__],
                   "message": str(error)[:2000]}
    finally:
        signal.alarm(0)
    outcome["seconds"] = round(time.perf_counter() - start, 3)
    results[case] = outcome
print(json.dumps(results))
"""


def _cases():
    for door in DOORS:
        for variant in VARIANTS:
            if variant.startswith("JSON") and door not in JSON_DOORS:
                continue
            yield f"{door} / {variant}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("crafted")
    cases = {}
    for number, case in enumerate(_cases()):
        door, variant = case.split(" / ")
        name, call = DOORS[door]
        folder = root / f"case{number}"
        _craft(folder / name, variant)
        if door == "generate-many lock":
            (folder / "out").mkdir(exist_ok=True)
            # an hour old, so the outcome never depends on how long the cases before it took: a lock that is no
            # JSON is then a killed writer's, not one being filled
            hour_ago = time.time() - 3600
            os.utime(folder / name, (hour_ago, hour_ago), follow_symlinks=False)
        cases[case] = [str(folder), call]
    listing = root / "cases.json"
    listing.write_text(json.dumps(cases))
    env = {"OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(listing), str(CAP_BYTES)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", list(_cases()))
def test_a_crafted_file_is_one_clear_error_in_a_moment(case, outcomes):
    outcome = outcomes[case]
    door = case.split(" / ")[0]
    print(f"{case}: {outcome}")
    assert outcome["seconds"] < 5, outcome
    if outcome["error"] is None:
        assert door in RETURNS and re.search(RETURNS[door], outcome["returned"]), outcome
        return
    assert "ValueError" in outcome["mro"] or "OSError" in outcome["mro"], outcome  # a one-line error for the CLI
    assert outcome["error"] not in ("MemoryError", "RecursionError", "Hung"), outcome
    assert "Traceback" not in outcome["message"]


# ------------------------------------------------------------------------------------------ the source scan
# Reads that do not go through the safe reader, by file and call, each with why it may not
ALLOWED_READS = {
    ("songgen_hf/utils/safe_files.py", "*"): "the reader itself",
    ("songgen_hf/testing.py", "*"): "test helpers over files the tests made",
    ("songgen_hf/utils/threads.py", "open"): "/proc/stat, the kernel's own file",
    (
        "songgen_hf/utils/atomic.py",
        "open",
    ): "/proc/self/status (the kernel's), and file_sha256 streaming a digest in blocks",
    ("songgen_hf/model_card.py", "read_text"): "the package's own template, from its installed resources",
    ("songgen_hf/model_card.py", "yaml.safe_load"): "a card's front matter: bounded text already in memory",
    ("songgen_hf/training/config_files.py", "yaml.safe_load"): "one --set value from the command line",
    ("songgen_hf/evaluation/reference_cache.py", "read_bytes"): "the package's own source files, for a digest",
    ("songgen_hf/conversion/checkpoint_files.py", "open"): "a safetensors header, its size bounded first",
    ("modeling/weight_bounds.py", "open"): "a safetensors header, its size bounded first",
}


def _call_name(node: ast.Call) -> str | None:
    """``open``, ``read_text``, ``read_bytes``, ``json.load`` or ``yaml.safe_load`` for a call that reads a file
    (an ``open`` for writing or appending is not a read)."""
    func = node.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax"):
            return None
        return "open"
    if isinstance(func, ast.Attribute):
        if func.attr in ("read_text", "read_bytes") and not (
            isinstance(func.value, ast.Name) and func.value.id in ("safe_files",)
        ):
            return func.attr
        if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in (("json", "load"), ("yaml", "safe_load")):
            return f"{func.value.id}.{func.attr}"
    return None


def _reads() -> list[str]:
    found = []
    for folder in ("songgen_hf", "modeling", "pipelines", "space"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if (relative, "*") in ALLOWED_READS:
                continue
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                name = isinstance(node, ast.Call) and _call_name(node)
                if name and (relative, name) not in ALLOWED_READS:
                    found.append(f"{relative}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return sorted(found)


def test_every_read_of_a_replaceable_file_goes_through_the_safe_reader():
    reads = _reads()
    assert not reads, "reads that bypass songgen_hf.utils.safe_files:\n" + "\n".join(reads)
