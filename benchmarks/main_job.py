"""The main job's speed: one song of ``--seconds`` from the embedded default model, as `songgen generate` makes it.

Times ``pipeline("text-to-song")`` calls (model loading excluded, one 1 s warm-up first) with the
default model's own sampling settings (classifier-free guidance included), ``--repeats`` times
with different seeds, and reports generation wall time, its split into decoder steps and codec
decoding, and the real-time factor.  The target: at most 1.0 s for 10 s of audio on 2 cores with the
best shipped settings.  ``--model`` takes a folder or an embedded model's name.

    python benchmarks/main_job.py --json results/main_job.json [--seconds 10] [--threads 2] [--repeats 5]
    python benchmarks/main_job.py --cache static ...    # compare cache implementations
    python benchmarks/main_job.py --quantize default fp32 int8 ...   # precisions, timed in the same run
    python benchmarks/main_job.py --batch 4 --quantize int8-heads bf16-heads ...   # 4 songs a call
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import cpu_model, git_commit  # noqa: E402

TARGET_S_PER_10S = 1.0  # seconds of generation for 10 s of song
DESCRIPTION = "An energetic rock song in E minor at 140 bpm with electric guitar, bass and drums; male vocals."
LYRICS = "we run across the night\nand sing until the light"


class StepTimer:
    """A streamer that notes when the first and last decoder steps happen (``put`` is called once per step)."""

    def __init__(self):
        self.times: list[float] = []
        self.cpu_times: list[float] = []  # every thread's CPU time: what a step costs, however busy the machine

    def put(self, value):
        self.times.append(time.perf_counter())
        self.cpu_times.append(time.process_time())

    def end(self):
        pass


def _timed_song(pipe, song, seconds: float, seed: int, options: dict) -> dict:
    timer = StepTimer()
    start, cpu_start = time.perf_counter(), time.process_time()
    batch = options.pop("batch", 1)
    if batch > 1:  # the same request `batch` times in one call (songs of one length share a batch)
        options = {**options, "batch_size": batch}
        song = [song] * batch
    out = pipe(song, duration_s=seconds, min_duration_s=seconds, seed=seed, streamer=timer, **options)
    out = out[0] if isinstance(out, list) else out
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    steps = max(len(timer.times) - 1, 1)
    decoding = total - (timer.times[-1] - start) if timer.times else None
    return {
        "seed": seed,
        "total_s": total,
        "cpu_s": cpu,  # every thread's CPU time: on a busy machine, steadier than the wall time
        "audio_s": out["audio"].shape[-1] / out["sampling_rate"],
        "decoder_steps": steps,
        "ms_per_step": 1000 * (timer.times[-1] - timer.times[0]) / steps,
        "cpu_ms_per_step": 1000 * (timer.cpu_times[-1] - timer.cpu_times[0]) / steps,
        "after_last_step_s": decoding,
    }


def _summary(runs: list[dict], seconds: float) -> dict:
    totals = [r["total_s"] for r in runs]
    return {
        "runs": runs,
        "median_total_s": statistics.median(totals),
        "min_total_s": min(totals),
        "median_ms_per_step": statistics.median(r["ms_per_step"] for r in runs),
        "median_cpu_ms_per_step": statistics.median(r["cpu_ms_per_step"] for r in runs),
        "median_real_time_factor": statistics.median(totals) / seconds,
    }


def _singer_option(singer: str | None) -> dict:
    """``--singer`` as ``songgen generate`` reads it: none keeps the decoder's own vocals, a folder sings with it."""
    if singer is None:
        return {}
    return {"singer": None if singer.strip().lower() == "none" else singer}


def run(args) -> dict:
    commit = git_commit()  # the code measured, before the run
    torch.set_num_threads(args.threads)
    import songgen_hf  # noqa: F401  (registers the task)
    from songgen_hf.modeling.songgen.quantization import default_quantize
    from songgen_hf.pipelines import load_text_to_song_pipeline, loading

    # one pipeline per precision, all timed in the same run, round-robin per repeat, so a busy
    # machine slows each of them alike; "default" is what a user gets without choosing (the model's
    # recommendation for CPUs: bf16-heads for the embedded songgen-tiny)
    folder = loading.embedded_model_path(args.model) if args.model else loading.default_model_path()
    folder = folder or args.model
    precisions = args.quantize or ["default"]
    pipes = {}
    for precision in precisions:
        quantize = {} if precision == "default" else {"quantize": precision}
        if precision == "default":
            precision = f"default ({default_quantize(folder, args.device) or 'fp32'})"
        pipes[precision] = load_text_to_song_pipeline(
            args.model, device=args.device, **_singer_option(args.singer), **quantize
        )
    precisions = list(pipes)
    options = {"cache_implementation": args.cache} if args.cache else {}
    song = {"description": DESCRIPTION, "lyrics": LYRICS}
    runs = {precision: [] for precision in precisions}
    with torch.inference_mode():
        for pipe in pipes.values():
            pipe(song, duration_s=1.0, seed=0, **options)  # warm-up
        for repeat in range(args.repeats):
            for precision, pipe in pipes.items():
                runs[precision].append(_timed_song(pipe, song, args.seconds, repeat, {**options, "batch": args.batch}))
    first = precisions[0]
    pipe = pipes[first]
    config = pipe.model.generation_config
    summary = _summary(runs[first], args.seconds)
    target = TARGET_S_PER_10S * args.seconds / 10.0
    report = {
        "commit": commit,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        # the model name alone does not tell machines apart ("AMD EPYC" was AVX2 in one session, AVX-512 the next)
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "model": str(pipe.model.name_or_path),
        "singer": None if pipe.singer is None else str(pipe.singer.name_or_path),
        "sampling": {
            "guidance_scale": config.guidance_scale,
            "top_k": config.top_k,
            "cache": args.cache or "preallocated",
            "control_guidance_scale": getattr(config, "control_guidance_scale", None),
        },
        "device": args.device,
        "precision": first,
        "seconds": args.seconds,
        "batch": args.batch,
        **summary,
        "target_s": target,
        "meets_target": summary["median_total_s"] <= target,
    }
    if len(precisions) > 1:
        report["precisions"] = {precision: _summary(runs[precision], args.seconds) for precision in precisions}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="a SongGen folder or an embedded model's name (default: songgen-tiny)"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", choices=("preallocated", "static", "dynamic"), default=None)
    parser.add_argument("--batch", type=int, default=1, help="songs per call, one request repeated (default 1)")
    parser.add_argument(
        "--quantize",
        nargs="+",
        choices=("default", "fp32", "int8", "int8-heads", "bf16-heads", "bf16"),
        default=None,
        help="decoder precision(s); several are timed in the same run, round-robin (default: the "
        "model's own, as a user gets it)",
    )
    parser.add_argument("--device", default="cpu", help="where the model runs: cpu (default) or cuda")
    parser.add_argument(
        "--singer",
        default=None,
        help="as songgen generate's --singer: none keeps the decoder's vocals (default: the model's own singer)",
    )
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(
        f"{args.seconds:g} s of audio: median {report['median_total_s']:.2f} s (min {report['min_total_s']:.2f} s), "
        f"{report['median_ms_per_step']:.1f} ms/step, target "
        f"{report['target_s']:.1f} s -> {'met' if report['meets_target'] else 'NOT met'}"
    )
    for precision, summary in report.get("precisions", {}).items():
        print(
            f"  {precision}: median {summary['median_total_s']:.2f} s, {summary['median_ms_per_step']:.1f} ms/step, "
            f"{summary['median_cpu_ms_per_step']:.1f} CPU ms/step"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
