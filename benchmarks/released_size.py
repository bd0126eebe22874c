"""The released SongGen size as a user meets it: by Hub id, converted once, then generating (issue 20).

Builds a SongGen of the released size (``songgen_hf.testing.released_songgen_config``: FLAN-T5-large
encoder, 6 x 1024 lyrics encoder, MERT-v1-330M-shaped voice encoder, 24 x 1024 decoder, X-Codec;
1.34 B parameters) with random weights, publishes it into a private Hub cache in huggingface_hub's
layout the way the released checkpoints are published (official SongGen layout, the codec as
``hf-audio/xcodec-hubert-general-balanced``, MERT as ``m-a-p/MERT-v1-330M``), and with
``HF_HUB_OFFLINE=1`` measures what ``SongGenForConditionalGeneration.from_pretrained(REPO_ID)`` costs:

* the first call: conversion (time, peak RSS) and loading the converted folder;
* a second call in a new process: the cached folder's integrity check (SHA-256 of every file) and load;
* generation on CPU (``--device cpu``): ``--seconds`` of audio in float32 and in bfloat16
  (``dtype=torch.bfloat16, device_map="cpu"``), per-step times extrapolated to a 30 s song, and
  the codec decoding 30 s measured directly;
* on a GPU (``--device cuda``): the full 30 s in bfloat16 with the dynamic cache, the static cache
  and the static cache under ``torch.compile``, with peak GPU memory;
* songs longer than the window (``--long-seconds``, on a GPU 1, 2 and 4 minutes by default): each song end to end
  (the processor, the encoders, window after window of decoding, the codec) after a two-window warm-up, in
  bfloat16 with the static cache under ``torch.compile`` on a GPU (float32, the default cache on a CPU): seconds
  per minute of song, the real-time factor, peak memory, and a linear fit over the lengths.

Every stage runs in its own forked child, so only one copy of the model lives at a time and each
stage's peak RSS (``VmHWM``) is its own.  Nothing is downloaded.

    nice -n 10 python benchmarks/released_size.py --json docs/benchmarks/released_size_cpu.json
    python benchmarks/released_size.py --device cuda --json released_size_gpu.json
    python benchmarks/released_size.py --tiny --seconds 0.2 --long-seconds 6 9 --json /tmp/smoke.json  # plumbing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import rss_mb, run_in_child, schema_report_head  # noqa: E402

FRAME_RATE = 50  # X-Codec frames per second
SONG_SECONDS = 30.0  # the released models' length
DESCRIPTION = "An energetic pop song in C major at 120 bpm with drums, bass and synths; female vocals."
LYRICS = "we run across the night\nand sing until the light\nhold me close tonight"
LONG_SECONDS_GPU = (60.0, 120.0, 240.0)
GPU_MODES = {  # name -> generate() arguments
    "dynamic": {"cache_implementation": "dynamic"},
    "static": {"cache_implementation": "static", "disable_compile": True},
    "static+compile": {"cache_implementation": "static"},  # compile_config added in the child
}


# ---------------------------------------------------------------------------- machine
def meminfo_gb(field: str = "MemAvailable") -> float:
    with open("/proc/meminfo") as info:
        return next(int(line.split()[1]) for line in info if line.startswith(field + ":")) / 2**20


def child_setup(args) -> None:
    import warnings

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class StepClock:
    """A stopping criterion that never stops and timestamps every decoding step."""

    def __init__(self):
        self.stamps: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.stamps.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


# ---------------------------------------------------------------------------- stages
def build_stage(args) -> dict:
    """Random weights at the chosen size, published into the Hub cache (then the child exits)."""

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.testing import (
        released_songgen_config,
        tiny_songgen_config,
        tiny_tokenizers,
        tiny_xcodec_config,
        write_official_hub_repos,
    )

    child_setup(args)
    start = time.perf_counter()
    if args.tiny:  # transformers' XcodecModel needs a HuBERT teacher, not the tiny default's mel teacher
        config = tiny_songgen_config(args.pattern)
        config.audio_encoder = tiny_xcodec_config()
    else:
        config = released_songgen_config(args.pattern)
    model = SongGenForConditionalGeneration(config).eval()
    built = time.perf_counter()
    # small trained tokenizers: their ids fit the released vocabularies (32128 / 7000 rows)
    processor = SongGenProcessor.for_config(config, *tiny_tokenizers())
    commits = write_official_hub_repos(model, processor, args.hub_cache, args.work / "publish", args.repo)
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    return {
        "build_s": built - start,
        "publish_s": time.perf_counter() - built,
        "commits": commits,
        "parameters": sum(counts.values()),
        "parameters_by_part": {k: v for k, v in counts.items() if v},
        # the blobs: each file once (snapshots/ holds links to them)
        "checkpoint_bytes": sum(p.stat().st_size for p in args.hub_cache.rglob("blobs/*") if p.is_file()),
        "peak_rss_mb": rss_mb("VmHWM"),
    }


def convert_stage(args) -> dict:
    """The first ``from_pretrained(REPO_ID)``: conversion into the package cache, then the load."""
    import logging

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.conversion import converted_songgen_folder

    child_setup(args)
    logging.getLogger("songgen_hf.conversion").setLevel(logging.ERROR)
    rss_start = rss_mb("VmRSS")
    start = time.perf_counter()
    folder = converted_songgen_folder(args.repo)  # what from_pretrained runs first; timed apart
    converted = time.perf_counter()
    conversion_peak = rss_mb("VmHWM")
    model = SongGenForConditionalGeneration.from_pretrained(args.repo)  # the cache hit, in this process
    loaded = time.perf_counter()
    assert os.path.samefile(model.name_or_path, folder), (model.name_or_path, folder)
    return {
        "conversion_s": converted - start,
        "conversion_peak_rss_mb": conversion_peak,
        "load_after_conversion_s": loaded - converted,
        "first_call_s": loaded - start,
        "first_call_peak_rss_mb": rss_mb("VmHWM"),
        "rss_start_mb": rss_start,
        "converted_folder": str(folder),
        "converted_bytes": sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()),
    }


def second_load_stage(args) -> dict:
    """A new process's ``from_pretrained(REPO_ID)``: no conversion; the cached files are checked, then loaded."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.conversion import conversion_cache, converted_songgen_folder

    child_setup(args)
    calls = []
    original = conversion_cache.load_official_songgen_from_hub
    conversion_cache.load_official_songgen_from_hub = lambda *a, **k: calls.append(a) or original(*a, **k)
    start = time.perf_counter()
    converted_songgen_folder(args.repo)  # the integrity check (SHA-256 of each file, once per process)
    checked = time.perf_counter()
    SongGenForConditionalGeneration.from_pretrained(args.repo)
    loaded = time.perf_counter()
    return {
        "integrity_check_s": checked - start,
        "load_s": loaded - checked,
        "second_call_s": loaded - start,
        "converted_again": bool(calls),
        "peak_rss_mb": rss_mb("VmHWM"),
    }


def _inputs(args, model):
    from songgen_hf import SongGenProcessor

    processor = SongGenProcessor.from_pretrained(args.repo)  # by repo id too: the converted folder's processor
    return processor(DESCRIPTION, LYRICS).to(model.device)


def _timed_generation(model, inputs, seconds: float, **kwargs) -> dict:
    import torch
    from transformers import StoppingCriteriaList

    clock = StepClock()
    start = time.perf_counter()
    out = model.generate(
        **inputs,
        duration_s=seconds,
        min_duration_s=seconds,
        return_dict_in_generate=True,
        stopping_criteria=StoppingCriteriaList([clock]),
        **kwargs,
    )
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    end = time.perf_counter()
    steps_ms = [(b - a) * 1e3 for a, b in zip(clock.stamps, clock.stamps[1:])]
    return {
        "total_s": end - start,
        "steps": len(clock.stamps),
        "setup_and_first_step_s": clock.stamps[0] - start,
        "decode_and_tail_s": end - clock.stamps[-1],
        "median_step_ms": statistics.median(steps_ms),
        "first_step_ms": steps_ms[:5],
        "last_step_ms": steps_ms[-5:],
        "audio_s": float(out.audio_lengths[0]) / model.config.sampling_rate,
        "audio_dtype": str(out.audio.dtype).removeprefix("torch."),
    }


def song_steps(model, seconds: float) -> int:
    """Decoding steps of a ``seconds`` song: the pattern's sequence length for that many frames."""
    return int(model.pattern.sequence_length(round(seconds * FRAME_RATE))) - 1


def cpu_generation_stage(args, dtype_name: str) -> dict:
    import torch

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen import generation_songgen as generation_module

    child_setup(args)
    dtype = getattr(torch, dtype_name)
    start = time.perf_counter()
    model = SongGenForConditionalGeneration.from_pretrained(args.repo, dtype=dtype, device_map="cpu")
    load_s = time.perf_counter() - start
    dtypes = {
        name: sorted({str(p.dtype).removeprefix("torch.") for p in child.parameters()})
        for name, child in model.named_children()
        if any(True for _ in child.parameters())
    }
    inputs = _inputs(args, model)
    settings = model.generation_config
    with torch.inference_mode():
        _timed_generation(model, inputs, min(0.2, args.seconds))  # warm-up
        run = _timed_generation(model, inputs, args.seconds)
        full_steps = song_steps(model, SONG_SECONDS)
        decode = None
        if args.decode_seconds and dtype_name == "float32":  # the codec stays float32 in both runs: timed once
            codes = torch.randint(
                0,
                model.config.decoder.codebook_size,
                (1, model.config.decoder.num_codebooks, round(args.decode_seconds * FRAME_RATE)),
            )
            begin = time.perf_counter()
            model.audio_encoder.decode(codes)
            decode = {"seconds_of_audio": args.decode_seconds, "decode_s": time.perf_counter() - begin}
    run.update(
        {
            "dtype": dtype_name,
            "device_map": "cpu",
            "load_s": load_s,
            "parameter_dtypes": dtypes,
            "cache_implementation": getattr(generation_module, "DEFAULT_CACHE_IMPLEMENTATION", "dynamic"),
            "guidance_scale": settings.guidance_scale,
            "top_k": settings.top_k,
            "do_sample": settings.do_sample,
            "song_steps": full_steps,
            "codec_decode": decode,
            "peak_rss_mb": rss_mb("VmHWM"),
            # linear in steps at the measured median: attention's growth over 1 500 positions is not in it
            "extrapolated_30s_decoder_s": run["median_step_ms"] * full_steps / 1e3,
        }
    )
    if decode is not None:
        scale = SONG_SECONDS / args.decode_seconds  # codec time is linear in the audio length
        run["extrapolated_30s_total_s"] = (
            run["setup_and_first_step_s"] + run["extrapolated_30s_decoder_s"] + decode["decode_s"] * scale
        )
    return run


def gpu_generation_stage(args) -> dict:
    import torch
    from transformers import CompileConfig

    from songgen_hf import SongGenForConditionalGeneration

    child_setup(args)
    start = time.perf_counter()
    model = SongGenForConditionalGeneration.from_pretrained(args.repo, dtype=torch.bfloat16, device_map="cuda")
    torch.cuda.synchronize()
    result = {
        "device": torch.cuda.get_device_name(),
        "load_s": time.perf_counter() - start,
        "weights_gb": torch.cuda.memory_allocated() / 1e9,
        "modes": {},
    }
    inputs = _inputs(args, model)
    with torch.inference_mode():
        for name, kwargs in GPU_MODES.items():
            kwargs = dict(kwargs, compile_config=CompileConfig()) if name.endswith("compile") else kwargs
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            # compiled graphs are specialised to the static cache's length: warm up at the timed length
            warm = _timed_generation(model, inputs, args.seconds if "compile" in name else 1.0, **kwargs)
            run = _timed_generation(model, inputs, args.seconds, **kwargs)
            run.update(
                warmup_s=warm["total_s"],
                peak_gpu_memory_gb=torch.cuda.max_memory_allocated() / 1e9,
                real_time_factor=run["audio_s"] / run["total_s"],
            )
            result["modes"][name] = run
            print(
                f"  cuda bf16 {name:<15} {run['total_s']:.1f} s for {run['audio_s']:.1f} s of audio, "
                f"{run['median_step_ms']:.1f} ms/step, peak {run['peak_gpu_memory_gb']:.1f} GB",
                flush=True,
            )
    return result


def long_song_stage(args) -> dict:
    """Each of ``--long-seconds`` as one song, end to end, timed from the text to the decoded audio."""
    import numpy as np
    import torch
    from transformers import CompileConfig

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.modeling.songgen.windows_songgen import max_duration_s

    child_setup(args)
    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    model = SongGenForConditionalGeneration.from_pretrained(args.repo, dtype=dtype, device_map=args.device)
    processor = SongGenProcessor.from_pretrained(args.repo)
    window_s = max_duration_s(model.config)
    mode = dict(GPU_MODES["static+compile"], compile_config=CompileConfig()) if cuda else {}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def graphs() -> int | None:  # graphs torch.compile has built so far: a recompilation shows as a rise
        try:
            from torch._dynamo.utils import counters

            return int(counters["stats"]["unique_graphs"])
        except (ImportError, KeyError, TypeError):
            return None

    def song(seconds: float) -> dict:
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        graphs_before = graphs()
        torch.manual_seed(0)
        start, cpu_start = time.perf_counter(), time.process_time()
        inputs = processor(DESCRIPTION, LYRICS).to(model.device)
        out = model.generate(**inputs, duration_s=seconds, min_duration_s=seconds, return_dict_in_generate=True, **mode)
        sync()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        audio_s = float(out.audio_lengths[0]) / model.config.sampling_rate
        run = {
            "seconds": seconds,
            "audio_s": audio_s,
            "windows": 1 if out.window_starts is None else len(out.window_starts),
            "total_s": total,
            "cpu_s": cpu,
            "s_per_minute_of_song": total / (audio_s / 60),
            # the peers' convention (YuE, LeVo): seconds of compute per second of audio, < 1 is faster than real time
            "compute_s_per_audio_s": total / audio_s,
            "peak_rss_mb": rss_mb("VmHWM"),
        }
        if cuda:
            run["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
        if graphs_before is not None:
            run["graphs_compiled"] = graphs() - graphs_before
        return run

    with torch.inference_mode():
        warm = song(round(1.5 * window_s, 2))  # two windows: the first one's shapes and a continued one's
        runs = []
        for seconds in args.long_seconds:
            runs.append(song(seconds))
            print(
                f"  {args.device} {seconds:g} s song: {runs[-1]['total_s']:.1f} s in {runs[-1]['windows']} windows, "
                f"{runs[-1]['compute_s_per_audio_s']:.3f} s per s of audio",
                flush=True,
            )
    result = {
        "dtype": str(dtype).removeprefix("torch."),
        "generate_arguments": {k: v for k, v in mode.items() if k != "compile_config"},
        "compiled": "compile_config" in mode,
        "window_s": window_s,
        "warm_up": warm,
        "runs": runs,
    }
    if len(runs) >= 2:
        minutes = np.array([run["audio_s"] for run in runs]) / 60
        totals = np.array([run["total_s"] for run in runs])
        slope, intercept = np.polyfit(minutes, totals, 1)
        result["linear_fit"] = {
            "s_per_minute": float(slope),
            "intercept_s": float(intercept),
            "max_relative_residual": float(np.max(np.abs(totals - (slope * minutes + intercept)) / totals)),
        }
        memory = "peak_gpu_memory_gb" if cuda else "peak_rss_mb"
        result[f"{memory}_longest_over_shortest"] = runs[-1][memory] / runs[0][memory]
    return result


# ---------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, help="where to write the report")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--pattern", choices=("mixed_pro", "interleaving_A_V"), default="mixed_pro")
    parser.add_argument("--seconds", type=float, help="audio generated per timed run (default: 1 on cpu, 30 on cuda)")
    parser.add_argument(
        "--decode-seconds",
        type=float,
        default=SONG_SECONDS,
        help="cpu: audio the codec decodes in the timed decode (0 skips it)",
    )
    parser.add_argument(
        "--long-seconds",
        type=float,
        nargs="*",
        help="lengths of the songs longer than the window, each timed end to end (default: 60 120 240 on cuda, "
        "none on cpu, where a released-size minute takes hours)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="the tiny config: checks the plumbing in seconds")
    parser.add_argument(
        "--min-available-gb", type=float, help="abort unless this much memory is available (default 12, 0 with --tiny)"
    )
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed at the end)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds if args.seconds is not None else (SONG_SECONDS if args.device == "cuda" else 1.0)
    if args.long_seconds is None:
        args.long_seconds = list(LONG_SECONDS_GPU) if args.device == "cuda" else []
    if any(not seconds > 0 for seconds in args.long_seconds):
        parser.error(f"--long-seconds takes lengths > 0, got {args.long_seconds}")
    if args.min_available_gb is None:
        args.min_available_gb = 0.0 if args.tiny else 12.0
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    own_work = args.work is None
    args.work = Path(tempfile.mkdtemp(prefix="songgen-released-")) if own_work else args.work.resolve()
    args.hub_cache = args.work / "hub"
    args.hub_cache.mkdir(parents=True, exist_ok=True)
    # read by huggingface_hub at import: set before anything imports it
    os.environ.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_CACHE=str(args.hub_cache),
        SONGGEN_HF_CACHE=str(args.work / "songgen-cache"),
        TOKENIZERS_PARALLELISM="false",
    )
    import torch
    import transformers

    import songgen_hf  # noqa: F401  (imported before forking, so the children share it)
    from songgen_hf.testing import RELEASED_SONGGEN_REPOS

    args.repo = RELEASED_SONGGEN_REPOS[args.pattern]
    report = {
        **schema_report_head(
            "released_size",
            "released_size.py",
            memory_total_gb=meminfo_gb("MemTotal"),
            torch=torch.__version__,
            transformers=transformers.__version__,
            python=platform.python_version(),
            torch_threads=args.threads,
        ),
        "settings": {
            "size": "tiny" if args.tiny else "released",
            "pattern": args.pattern,
            "repo": args.repo,
            "device": args.device,
            "seconds": args.seconds,
            "song_seconds": SONG_SECONDS,
            "long_seconds": args.long_seconds,
            "isolation": "each stage in its own forked child: one model in memory at a time; peak RSS = "
            "the child's VmHWM (includes the imports the parent shared)",
        },
        "load_average": {"start": list(os.getloadavg())},
        "memory_available_gb": {"start": meminfo_gb()},
    }

    def stage(name, fn, *stage_args):
        available = meminfo_gb()
        if available < args.min_available_gb:
            raise SystemExit(
                f"released_size: only {available:.1f} GB of memory available before '{name}' (need "
                f"{args.min_available_gb:g} GB; see --min-available-gb); stopping rather than risk the "
                "machine. Free memory or run it elsewhere."
            )
        started = time.perf_counter()
        result = run_in_child(fn, *stage_args)
        report.setdefault("stages", {})[name] = result
        report["memory_available_gb"][name] = available
        print(
            f"{name}: {time.perf_counter() - started:.1f} s, "
            + ", ".join(f"{k} {v:.1f}" for k, v in result.items() if isinstance(v, float)),
            flush=True,
        )
        return result

    print(
        f"# {report['command']}\n# {report['machine']['cpu_model']}, {report['memory_available_gb']['start']:.1f} GB "
        f"available, load {report['load_average']['start']}",
        flush=True,
    )
    try:
        stage("build", build_stage, args)
        stage("convert", convert_stage, args)
        stage("second_load", second_load_stage, args)
        if args.device == "cuda":
            stage("generate_cuda_bfloat16", gpu_generation_stage, args)
        else:
            for dtype in ("float32", "bfloat16"):
                stage(f"generate_cpu_{dtype}", cpu_generation_stage, args, dtype)
        if args.long_seconds:
            stage(f"long_songs_{args.device}", long_song_stage, args)
    except SystemExit as stop:
        report["aborted"] = str(stop)
        print(stop, file=sys.stderr)
    finally:
        report["load_average"]["end"] = list(os.getloadavg())
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
        if own_work:
            shutil.rmtree(args.work, ignore_errors=True)
    if "aborted" in report:
        raise SystemExit(3)
    return report


if __name__ == "__main__":
    main()
