"""The main job's speed: one song of ``--seconds`` from the embedded default model, as `songgen generate` makes it.

Times ``pipeline("text-to-song")`` calls (model loading excluded, one 1 s warm-up first) with the
default model's own sampling settings (classifier-free guidance included), ``--repeats`` times
with different seeds, and reports generation wall time, its split into decoder steps and codec
decoding, and the real-time factor.  Issue #7's target: at most 5 s for 10 s of audio on 2 cores.

    python benchmarks/main_job.py --json results/main_job.json [--seconds 10] [--threads 2] [--repeats 5]
    python benchmarks/main_job.py --cache static ...    # compare cache implementations
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

DESCRIPTION = "An energetic rock song in E minor at 140 bpm with electric guitar, bass and drums; male vocals."
LYRICS = "we run across the night\nand sing until the light"


class StepTimer:
    """A streamer that notes when the first and last decoder steps happen (``put`` is called once per step)."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value):
        self.times.append(time.perf_counter())

    def end(self):
        pass


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    import songgen_hf  # noqa: F401  (registers the task)
    from transformers import pipeline

    pipe = pipeline("text-to-song", model=args.model) if args.model else pipeline("text-to-song")
    options = {"cache_implementation": args.cache} if args.cache else {}
    song = {"description": DESCRIPTION, "lyrics": LYRICS}
    with torch.inference_mode():
        pipe(song, duration_s=1.0, seed=0, **options)  # warm-up
        runs = []
        for repeat in range(args.repeats):
            timer = StepTimer()
            start = time.perf_counter()
            out = pipe(song, duration_s=args.seconds, min_duration_s=args.seconds, seed=repeat, streamer=timer, **options)
            total = time.perf_counter() - start
            steps = max(len(timer.times) - 1, 1)
            decoding = total - (timer.times[-1] - start) if timer.times else None
            runs.append({
                "seed": repeat, "total_s": total, "audio_s": out["audio"].shape[-1] / out["sampling_rate"],
                "decoder_steps": steps, "ms_per_step": 1000 * (timer.times[-1] - timer.times[0]) / steps,
                "after_last_step_s": decoding,
            })
    totals = [r["total_s"] for r in runs]
    config = pipe.model.generation_config
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "threads": args.threads, "torch": torch.__version__},
        "model": str(pipe.model.name_or_path),
        "sampling": {"guidance_scale": config.guidance_scale, "top_k": config.top_k, "cache": args.cache or "preallocated"},
        "seconds": args.seconds,
        "runs": runs,
        "median_total_s": statistics.median(totals),
        "min_total_s": min(totals),
        "median_real_time_factor": statistics.median(totals) / args.seconds,
        "target_s": 5.0 * args.seconds / 10.0,
        "meets_target": statistics.median(totals) <= 5.0 * args.seconds / 10.0,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a SongGen folder (default: the embedded default model)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", choices=("preallocated", "static", "dynamic"), default=None)
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(f"{args.seconds:g} s of audio: median {report['median_total_s']:.2f} s (min {report['min_total_s']:.2f} s), "
          f"{statistics.median(r['ms_per_step'] for r in report['runs']):.1f} ms/step, target "
          f"{report['target_s']:.1f} s -> {'met' if report['meets_target'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
