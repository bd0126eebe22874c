"""The main job's path through the house: ``songgen generate`` on the embedded default, traced call by call.

It enters few of the project's files, checks the generation arguments once, and parses, reads and processes the
song once (the request is checked where it enters and handed on as a checked object).
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
# encoders (conditioning_songgen), the fused row weights (row_fusion) and the told singer's configuration and model;
# generation's argument checks, logits processors, windows, long-song loop and progress (arguments_songgen,
# logits_process_songgen, windows_songgen, long_song_songgen, progress_songgen) and the processor's description
# reading and vocal score (description_songgen, vocal_score_songgen).
MOST_FILES = 31


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    from songgen_hf.cli import main

    output = tmp_path_factory.mktemp("main_path") / "song.wav"
    files: set[str] = set()
    calls: collections.Counter = collections.Counter()
    tests = str(ROOT / "tests")

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(str(ROOT)) and not filename.startswith(tests) and code.co_name != "<module>":
            files.add(str(Path(filename).relative_to(ROOT)))
            calls[(Path(filename).name, code.co_qualname)] += 1

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
    return files, calls


def _calls(calls: collections.Counter, name: str) -> int:
    return sum(count for (_, qualname), count in calls.items() if qualname == name)


def test_the_main_job_enters_few_files(traced):
    files, _ = traced
    assert len(files) <= MOST_FILES, f"{len(files)} files entered:\n" + "\n".join(sorted(files))
    # nothing of the lab, the converters or the evaluation on the way
    assert not any(part in name for name in files for part in ("/data/", "/training/", "/evaluation/", "/conversion/"))


def test_the_request_is_checked_and_prepared_once(traced):
    _, calls = traced
    assert _calls(calls, "check_generation_arguments") == 1
    assert _calls(calls, "parse_song") == 1
    assert _calls(calls, "SongGenProcessor.interpret") == 1
    assert _calls(calls, "SongGenProcessor.__call__") == 1
