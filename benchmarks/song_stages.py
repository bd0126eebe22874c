"""Where the time of one whole song goes: the decoder's windows, the told singer's windows, the codec's decode.

One sung song through the text-to-song pipeline (as ``songgen generate`` makes it), its stages timed from the
progress the pipeline reports (``GenerationProgress.stage``: ``generating: window i/n``, ``singing: window i/n``,
``decoding audio``), so the figures are the stages a user watches.

    python benchmarks/song_stages.py --seconds 120 --threads 2 --json docs/benchmarks/song_stages.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

DESCRIPTION = "an upbeat pop song in C major at 120 bpm with drums, bass and a bright female voice"
LYRICS = (
    "[verse]\nthe city lights are calling out my name\nwe dance until the morning, never the same\n"
    "[chorus]\nhold on, hold on, the night is young\nsing it loud until the song is sung\n"
    "[verse]\nthe rain is falling on an empty street\nI hear your echo in every heartbeat\n"
    "[chorus]\nhold on, hold on, the night is young\nsing it loud until the song is sung"
)  # the README's whole-song example


def _commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    return commit.stdout.strip() + ("+changes" if dirty.strip() else "")


def run(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from songgen_hf.pipelines import GenerationProgress, load_text_to_song_pipeline

    class TimedStages(GenerationProgress):
        def __init__(self):
            super().__init__(disable=True, keep_open=True)
            self.times: list[tuple[str, float]] = []

        def stage(self, name, index=1, total=1):
            self.times.append((name, time.perf_counter()))
            super().stage(name, index, total)

    pipe = load_text_to_song_pipeline(args.model, device="cpu")
    progress = TimedStages()
    started = time.perf_counter()
    cpu_started = time.process_time()
    out = pipe(
        {"description": DESCRIPTION, "lyrics": LYRICS}, duration_s=args.seconds, seed=args.seed, streamer=progress
    )
    ended = time.perf_counter()
    cpu = time.process_time() - cpu_started
    marks = progress.times + [("end", ended)]
    stages: dict[str, float] = {"preparing": marks[0][1] - started}
    for (name, at), (_, following) in zip(marks, marks[1:]):
        stages[name] = stages.get(name, 0.0) + following - at
    total = ended - started
    return {
        "benchmark": "song_stages: where one whole song's time goes",
        "schema_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "commit": _commit(),
        "command": "python benchmarks/song_stages.py " + " ".join(args.argv),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "song": {"seconds": args.seconds, "seed": args.seed, "model": args.model or "songgen-tiny"},
        "stages_s": {name: round(value, 2) for name, value in stages.items()},
        "total_s": round(total, 2),
        "cpu_s": round(cpu, 2),
        "singer_share": round(stages.get("singing", 0.0) / total, 3),
        # the song itself, so that a run after a change to the cost shows the same song (bit for bit)
        "audio_sha256": hashlib.sha256(np.ascontiguousarray(out["audio"]).tobytes()).hexdigest(),
        "progress_lines": progress.stages,
        "notes": [
            "wall times on a machine shared with other programs: compare shares within this run, not across runs",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="a SongGen folder (default: the embedded songgen-tiny)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else __import__("sys").argv[1:])
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
