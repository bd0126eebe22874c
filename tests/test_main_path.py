"""The main job's path through the house: ``songgen generate`` on the embedded default, traced call by call.

It enters few of the project's files, runs each check in the object that uses the value (the generation settings
in ``SongGenGenerationConfig.validate``: on the folder's files before the weights load and in ``generate()``; the
lengths the song is planned for in the processor), and parses, reads and processes the song once.
"""

from __future__ import annotations

import collections
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The files a default song's functions run in.  The model code is laid out one concept a file, as transformers lays
# out its model folders, and a default song uses most of them: the decoder (modeling_songgen), the conditioning
# encoders (conditioning_songgen), the fused row weights (row_fusion), the heads' precision (quantization) and the told
# singer's configuration, model and score (vocal_score_songgen, music); generation's argument checks, logits
# processors and progress (arguments_songgen, logits_process_songgen, progress_songgen) and the processor's
# description reading; the song and options a call is asked (pipelines/requests); the safe reader every config is
# read through (safe_files).  A song of one window runs none of the long-song machinery (windows_songgen,
# long_song_songgen): its length and the model's window are the config's.
MOST_FILES = 31
# The same for a 2 s song through the pipeline, weights loaded and song made (``load_text_to_song_pipeline()`` on the
# embedded default, then one call): no command, no file written, and no progress bar where it would draw nothing.
MOST_PIPELINE_FILES = 25
# Distinct caller -> callee function pairs that cross between the three top folders (``songgen_hf/``, ``pipelines/``,
# ``modeling/``): the front doors hand the prepared song down once, and the models stand on ``modeling/`` alone
# (their limits, check primitives and music theory live there), so few calls jump between folders.
MOST_CROSSINGS = 27
TOP_FOLDERS = ("songgen_hf", "pipelines", "modeling")


def _leaf_files() -> set[str]:
    """The lowest utilities (``songgen_hf/utils/``: the safe reader, atomic writes, digests...), which import nothing
    of the package above them: every layer, the models included, stands on them (tests/test_import_graph.py), so a
    call into one is no call between layers."""
    from .test_import_graph import PACKAGE, import_graph, module_files

    graph, files = import_graph(), module_files()
    utils = f"{PACKAGE}.utils"
    return {
        str(files[module])
        for module, targets in graph.items()
        if module.startswith(utils + ".")
        and not {target for target in targets if not target.startswith(utils)} - {PACKAGE}
    }


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    from songgen_hf.commands.cli import main

    output = tmp_path_factory.mktemp("main_path") / "song.wav"
    files: set[str] = set()
    calls: collections.Counter = collections.Counter()
    asked: set[tuple[str, str, str]] = set()  # (a request check, the file it is defined in, its caller)
    crossings: set[tuple[str, str]] = set()
    tests = str(ROOT / "tests")
    leaves = _leaf_files()

    def folder(filename: str) -> str | None:
        parts = Path(filename).relative_to(ROOT).parts if filename.startswith(str(ROOT)) else ()
        return parts[0] if parts and parts[0] in TOP_FOLDERS else None

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(str(ROOT)) and not filename.startswith(tests) and code.co_name != "<module>":
            files.add(str(Path(filename).relative_to(ROOT)))
            calls[(Path(filename).name, code.co_qualname)] += 1
            caller = frame.f_back.f_code
            if code.co_name in REQUEST_CHECKS:
                asked.add((code.co_name, str(Path(filename).relative_to(ROOT)), caller.co_qualname))
            if folder(caller.co_filename) not in (None, folder(filename)) and filename not in leaves:
                crossings.add((f"{caller.co_filename}:{caller.co_qualname}", f"{filename}:{code.co_qualname}"))

    argv = ["generate", "--description", "an upbeat pop song with piano and drums at 120 bpm, female vocals"]
    argv += ["--lyrics", "we sing along tonight, under the city lights", "--duration", "4", "--seed", "0"]
    argv += ["--no-progress", "--output", str(output)]
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        code = main(argv)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert code in (0, None) and output.is_file()
    return files, calls, asked, crossings


def _calls(calls: collections.Counter, name: str) -> int:
    return sum(count for (_, qualname), count in calls.items() if qualname == name)


def test_the_main_job_enters_few_files(traced):
    files, _, _, _ = traced
    assert len(files) <= MOST_FILES, f"{len(files)} files entered:\n" + "\n".join(sorted(files))
    # nothing of the lab, the converters or the evaluation on the way
    assert not any(part in name for name in files for part in ("/data/", "/training/", "/evaluation/", "/conversion/"))


def test_few_calls_cross_between_the_top_folders(traced):
    *_, crossings = traced
    assert len(crossings) <= MOST_CROSSINGS, "\n".join(f"{a} -> {b}" for a, b in sorted(crossings))
    # the models call nothing above them (an adapter folder's processor asks the loader's registered resolver for
    # its base; a model folder is no adapter)
    assert sorted(b for a, b in crossings if a.startswith(str(ROOT / "modeling"))) == []


def test_the_request_is_checked_where_it_is_used_and_prepared_once(traced):
    _, calls, asked, _ = traced
    # the generation settings: on the folder's files before any weights load and by generate(), each through
    # SongGenGenerationConfig.validate; the lengths the song is planned for by the processor that plans them
    assert _calls(calls, "check_generation_arguments") == 2
    assert {caller for name, _, caller in asked if name == "check_generation_arguments"} == {
        "SongGenGenerationConfig.validate"
    }
    assert {caller for name, _, caller in asked if name == "check_song_lengths"} == {
        "SongGenProcessor.plan_song",
        "check_generation_arguments",
    }
    assert _calls(calls, "check_streamer") == 1  # where the streamer is attached: generate()
    assert _calls(calls, "parse_song") == 1
    # read and processed in one pass (SongGenProcessor.prepare), not by interpret() and __call__() each checking
    assert _calls(calls, "SongGenProcessor.prepare") == 1
    assert _calls(calls, "SongGenProcessor._process") == _calls(calls, "SongGenProcessor._reading") == 1
    assert _calls(calls, "SongGenProcessor.interpret") == _calls(calls, "SongGenProcessor.__call__") == 0


# The checks a song's request goes through, by name: each may run at most once on the main job, but for the
# generation settings' (GENERATION_CHECKS), which run once in each object that uses them (above), and the pipeline's
# options (OPTION_CHECKS), which the pipeline checks in its constructor and prepare_pipeline before any weights
# load.  The request's threads and precision, its model folder and files and its text are checked where they are
# used, once.
REQUEST_CHECKS = (
    "check_pipeline_options",
    "check_seed",
    "check_device",
    "check_batch_size",
    "check_song_count",
    "check_threads",
    "check_quantize",
    "check_songgen_folder",
    "check_model_files_and_arguments",
    "check_weight_files",
    "check_generation_arguments",
    "check_song_lengths",
    "check_window_count",
    "check_cache_implementation",
    "_check_codebook_temperatures",
    "check_description_chars",
    "check_lyrics_chars",
    "check_description_tokens",
    "check_lyric_tags",
    "check_lyrics_limit",
)


GENERATION_CHECKS = (
    "check_generation_arguments",
    "check_cache_implementation",
    "_check_codebook_temperatures",
)


OPTION_CHECKS = ("check_pipeline_options", "check_seed", "check_device", "check_batch_size")


def test_each_check_of_the_request_runs_at_most_once(traced):
    _, calls, asked, _ = traced
    runs = _calls(calls, "check_generation_arguments")
    assert all(_calls(calls, name) <= runs for name in GENERATION_CHECKS)
    # the pipeline's options: before any weights load and in the constructor of the pipeline that uses them, no
    # object carrying the first check to skip the second
    assert _calls(calls, "check_pipeline_options") == 2
    assert {caller for name, _, caller in asked if name == "check_pipeline_options"} == {
        "prepare_pipeline",
        "TextToSongPipeline.__init__",
    }
    assert {caller for name, _, caller in asked if name in OPTION_CHECKS[1:]} == {"check_pipeline_options"}
    assert all(_calls(calls, name) <= 2 for name in OPTION_CHECKS)
    # a song's lengths: within each validation, and by the processor where it plans them
    assert _calls(calls, "check_song_lengths") == runs + 1 and _calls(calls, "check_window_count") <= runs + 1
    lengths = ("check_song_lengths", "check_window_count")
    once = [name for name in REQUEST_CHECKS if name not in GENERATION_CHECKS + OPTION_CHECKS + lengths]
    repeated = {name: _calls(calls, name) for name in once if _calls(calls, name) > 1}
    assert not repeated, f"checked more than once: {repeated}"
    # and the main job does run them: the trace sees the checks (a renamed check would pass the line above unseen)
    ran = [name for name in REQUEST_CHECKS if _calls(calls, name) >= 1]
    assert {"check_songgen_folder", "check_generation_arguments", "check_description_chars", "check_seed"} <= set(ran)


# The files a request's checks are defined in: the limits and check primitives, SongGen's request (generation
# arguments, texts, voices) and the loader (the model folder and its files).  The default song's precision is no
# request: ``default_quantize`` probes the folder's own recommendation (int8 heads on a CPU) with ``check_quantize``
# and loads float32 where it cannot run, so that probe refuses nothing.
REQUEST_HOMES = {"modeling/limits.py", "modeling/songgen/arguments_songgen.py", "pipelines/loading.py"}


def test_the_request_is_checked_in_three_homes(traced):
    _, _, asked, _ = traced
    homes = {home for name, home, caller in asked if caller != "default_quantize"}
    assert homes == REQUEST_HOMES, sorted(asked)
    # what the probe asks is the precision check alone (on a CPU: a GPU song reads no CPU recommendation)
    assert {name for name, _, caller in asked if caller == "default_quantize"} <= {"check_quantize"}


def test_check_primitives_have_one_home():
    """``is_number``, ``is_int``, ``check_number`` and ``check_count`` are defined once, in
    ``songgen_hf.modeling.limits``, and every layer imports them from there."""
    import ast

    primitives = {"is_number", "is_int", "check_number", "check_count", "_is_number", "_is_int"}
    homes = collections.defaultdict(list)
    for folder in ("songgen_hf", "modeling", "pipelines", "space"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in primitives:
                    homes[node.name].append(str(path.relative_to(ROOT)))
    assert dict(homes) == {
        name: ["modeling/limits.py"] for name in ("is_number", "is_int", "check_number", "check_count")
    }


def test_a_pipeline_song_enters_few_files():
    from songgen_hf import load_text_to_song_pipeline

    files: set[str] = set()
    tests = str(ROOT / "tests")

    def profile(frame, event, arg):
        filename = frame.f_code.co_filename
        if event == "call" and filename.startswith(str(ROOT)) and not filename.startswith(tests):
            if frame.f_code.co_name != "<module>":
                files.add(str(Path(filename).relative_to(ROOT)))

    song = {"description": "an upbeat pop song with piano and drums, female vocals", "lyrics": "we sing along tonight"}
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        made = load_text_to_song_pipeline()(song, duration_s=2.0, seed=0)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert made["audio"].shape[-1] == 2 * made["sampling_rate"]
    assert len(files) <= MOST_PIPELINE_FILES, f"{len(files)} files entered:\n" + "\n".join(sorted(files))
    # a song of one window is one pass: nothing of the windows of a longer song runs
    assert not files & {"modeling/songgen/long_song_songgen.py", "modeling/songgen/windows_songgen.py"}
