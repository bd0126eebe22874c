"""The main job on a shared CPU: how the thread count decides its speed when another program is busy.

In ONE run, each condition in a fresh Python process (the same pipeline, song and seed; model loading
is not timed, only the generation):

* ``idle``: nothing else running, the thread policy's choice (songgen_hf.utils.threads);
* ``busy, torch default``: one other CPU-bound process (a Python busy loop) shares the cores, and the
  generation uses torch's default thread count (one per core);
* ``busy, 1 thread``: the same load, one thread;
* ``busy, policy``: the same load, the thread policy's choice (what a user gets without choosing).

It also says whether the song is the same in every condition (sha256 of the audio samples), i.e. whether the
thread count changes what a seed gives.  Other programs on the machine load it too: the ratios to ``idle`` are
what compares, and the load averages before and after are recorded beside them.

    python benchmarks/threads.py --json docs/benchmarks/threads.json [--seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import command_report_head, load_average  # noqa: E402

DESCRIPTION = "an upbeat pop song with piano and drums at 120 bpm, female vocals"
LYRICS = "we sing along tonight, under the city lights"
BUSY_LOOP = "while True:\n    pass\n"
# condition -> (busy loop running?, threads: "default" = torch's default, an int, or None = the policy)
CONDITIONS = {
    "idle": (False, None),
    "busy, torch default": (True, "default"),
    "busy, 1 thread": (True, 1),
    "busy, policy": (True, None),
}


def worker(threads: str, seconds: float, model: str | None) -> dict:
    """One generation in this process; prints its timing as JSON."""
    import numpy as np
    import torch

    torch_default = torch.get_num_threads()
    import songgen_hf  # noqa: F401  (registers the task)
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.utils.threads import thread_request

    pipe = load_text_to_song_pipeline(model, device="cpu")
    requested = torch_default if threads == "default" else None if threads == "policy" else int(threads)
    with thread_request(requested):  # the pipeline applies it (or the policy) as the generation starts
        started = time.perf_counter()
        with torch.inference_mode():
            result = pipe({"description": DESCRIPTION, "lyrics": LYRICS}, seed=0, duration_s=seconds)
        elapsed = time.perf_counter() - started
    audio = np.ascontiguousarray(np.asarray(result["audio"], dtype=np.float32))
    return {
        "generate_s": round(elapsed, 3),
        "threads": torch.get_num_threads(),
        "torch_default_threads": torch_default,
        "audio_s": round(audio.shape[-1] / result["sampling_rate"], 3),
        "audio_sha256": hashlib.sha256(audio.tobytes()).hexdigest(),
    }


def _run_condition(busy: bool, threads, args) -> dict:
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        if loop is not None:
            time.sleep(2.0)  # the loop holds its core before the generation starts
        mode = "policy" if threads is None else str(threads)
        command = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--seconds", str(args.seconds)]
        if args.model:
            command += ["--model", args.model]
        env = {key: value for key, value in os.environ.items() if key not in ("SONGGEN_NUM_THREADS", "OMP_NUM_THREADS")}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"the {mode} worker failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="song length asked for (default 10)")
    parser.add_argument("--model", help="model folder or name (default: the embedded default model)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}.")
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds, args.model)))
        return {}

    before = load_average()
    results = {name: _run_condition(busy, threads, args) for name, (busy, threads) in CONDITIONS.items()}
    idle = results["idle"]["generate_s"]
    report = {
        **command_report_head(
            "threads",
            usable_cores=len(os.sched_getaffinity(0)),
            python=platform.python_version(),
            load_average_before=before,
            load_average_after=load_average(),
        ),
        "song": {"description": DESCRIPTION, "lyrics": LYRICS, "seed": 0, "duration_s": args.seconds},
        "conditions": results,
        "ratio_to_idle": {name: round(result["generate_s"] / idle, 2) for name, result in results.items()},
        "same_song_in_every_condition": len({result["audio_sha256"] for result in results.values()}) == 1,
    }
    text = json.dumps(report, indent=2)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
