"""Encode/decode speed and memory of songgen_hf's XCodecModel against transformers' XcodecModel.

Both models hold the same random weights: transformers' model is built from its default
``XcodecConfig()`` (160 M parameters with HuBERT-base), its codebooks are filled with N(0, 1),
it is saved with ``save_pretrained`` and that folder is loaded by ``XCodecModel.from_pretrained``.
Timed runs are interleaved in one process (the first model of each pair alternates between
repeats so neither always runs on a warmer cache), after one warm-up each, under
``torch.inference_mode()``; figures are medians.  Peak memory of a full vs a decode-only load
is measured in fresh subprocesses, because ``ru_maxrss`` never goes down within a process.

    python benchmarks/codec.py --json results/codec.json [--seconds 10] [--repeats 3] [--threads 2] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SAMPLE_RATE = 16000
CODE_TOLERANCE = 0  # codes must be identical
AUDIO_TOLERANCE = 1e-4


# ---------------------------------------------------------------------------- setup
def transformers_config(tiny: bool):
    from transformers import DacConfig, HubertConfig, XcodecConfig

    if not tiny:
        return XcodecConfig()
    from songgen_hf.testing import TINY_ACOUSTIC, TINY_HUBERT

    return XcodecConfig(
        acoustic_model_config=DacConfig(**TINY_ACOUSTIC), semantic_model_config=HubertConfig(**TINY_HUBERT)
    )


def build_and_save(model_dir: str, tiny: bool, seed: int = 0):
    """transformers' model with random weights and N(0, 1) codebooks, saved to ``model_dir``."""
    from transformers import XcodecModel

    torch.manual_seed(seed)
    model = XcodecModel(transformers_config(tiny)).eval()
    with torch.no_grad():
        for layer in model.quantizer.quantizers:
            # zero-filled tables (transformers' init) would map every frame to code 0
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
    model.save_pretrained(model_dir)
    return model


def test_audio(seconds: float, seed: int = 0) -> torch.Tensor:
    """(1, 1, samples): a chord of three partials with vibrato plus a little noise."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = sum(
        a * torch.sin(2 * math.pi * f * t + 0.5 * torch.sin(2 * math.pi * 5 * t))
        for a, f in ((0.3, 220.0), (0.2, 330.0), (0.1, 660.0))
    )
    audio = audio + 0.02 * torch.randn(t.shape, generator=generator)
    return audio.view(1, 1, -1).float()


def model_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


# ---------------------------------------------------------------------------- timing
def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def benchmark_speed(reference, ours, audio: torch.Tensor, repeats: int) -> dict:
    """Interleaved encode/decode timings; returns per-run seconds and the parity checks."""
    runs = {
        ("transformers", "encode"): [],
        ("ours", "encode"): [],
        ("transformers", "decode"): [],
        ("ours", "decode"): [],
    }
    encoders = {
        "transformers": lambda: reference.encode(audio).audio_codes,
        "ours": lambda: ours.encode(audio).audio_codes,
    }
    with torch.inference_mode():
        codes = encoders["transformers"]()  # warm-up, and the codes both decoders get
        ours_codes = encoders["ours"]()
        decoders = {
            "transformers": lambda: reference.decode(codes).audio_values,
            "ours": lambda: ours.decode(codes).audio_values,
        }
        reference_audio = decoders["transformers"]()
        ours_audio = decoders["ours"]()
        for repeat in range(repeats):
            order = ("transformers", "ours") if repeat % 2 == 0 else ("ours", "transformers")
            for stage, fns in (("encode", encoders), ("decode", decoders)):
                for name in order:
                    seconds, _ = timed(fns[name])
                    runs[(name, stage)].append(seconds)
    diff = (ours_audio - reference_audio).abs().max().item()
    return {
        "runs": {f"{name}_{stage}": times for (name, stage), times in runs.items()},
        "codes_shape": list(codes.shape),
        "codes_identical": bool(torch.equal(codes, ours_codes)),
        "distinct_codes": int(codes.unique().numel()),
        "decode_max_abs_diff": diff,
        "decode_within_tolerance": diff <= AUDIO_TOLERANCE,
        "audio_tolerance": AUDIO_TOLERANCE,
        "decoded_samples": int(reference_audio.shape[-1]),
    }


# ---------------------------------------------------------------------------- memory (child)
def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(model_dir: str, decode_only: bool, seconds: float, threads: int) -> dict:
    """Runs in a fresh interpreter: load, decode ``seconds`` of codes, report peak RSS."""
    torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    from songgen_hf import XCodecModel

    hf_logging.disable_progress_bar()

    baseline = _proc_status_mb("VmRSS")  # interpreter + torch + transformers, before any weights
    load_seconds, model = timed(lambda: XCodecModel.from_pretrained(model_dir, decode_only=decode_only).eval())
    frames = model.config.num_frames(int(seconds * SAMPLE_RATE))
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(0, model.config.codebook_size, (1, model.config.num_quantizers, frames), generator=generator)
    with torch.inference_mode():
        decode_seconds, audio = timed(lambda: model.decode(codes).audio_values)
        peak_lazy = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        hwm_lazy = _proc_status_mb("VmHWM")
        # from_pretrained maps the safetensors file, so weights a decode never reads (the
        # teacher, the encoders) are never paged in.  Reading every tensor once shows the
        # peak when all weights are resident (after an encode, a dtype/device move, ...).
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.sum()
        model.decode(codes)
    return {
        "decode_only": decode_only,
        "peak_rss_mb": peak_lazy,
        # high-water mark of this process's own address space: a cross-check, since Linux
        # carries the *parent's* peak into a child's ru_maxrss across fork + exec
        "vm_hwm_mb": hwm_lazy,
        "peak_rss_weights_resident_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_load_mb": baseline,
        "model_bytes": model_bytes(model),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "load_seconds": load_seconds,
        "first_decode_seconds": decode_seconds,
        "decoded_samples": int(audio.shape[-1]),
    }


def run_child(arguments: list[str]) -> dict:
    """Run this script with hidden child arguments in a fresh interpreter; its last stdout line is JSON."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *arguments], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"child {arguments[:2]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_memory(model_dir: str, decode_only: bool, seconds: float, threads: int) -> dict:
    arguments = ["--memory-child", model_dir, "--seconds", str(seconds), "--threads", str(threads)]
    return run_child(arguments + (["--decode-only"] if decode_only else []))


# ---------------------------------------------------------------------------- report
def machine_info(threads: int) -> dict:
    import transformers

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def summarise(speed: dict) -> dict:
    runs = speed["runs"]
    figures = {}
    for stage in ("encode", "decode"):
        theirs, ours = statistics.median(runs[f"transformers_{stage}"]), statistics.median(runs[f"ours_{stage}"])
        figures[stage] = {
            "transformers_median_s": theirs,
            "ours_median_s": ours,
            "transformers_min_s": min(runs[f"transformers_{stage}"]),
            "ours_min_s": min(runs[f"ours_{stage}"]),
            "ratio": theirs / ours,  # >= 1: ours at least as fast
        }
    return figures


def print_table(report: dict) -> None:
    seconds = report["audio_seconds"]
    print(
        f"\nX-Codec {'tiny' if report['tiny'] else 'default'} config, {seconds:g} s of audio, batch 1, "
        f"{report['machine']['torch_threads']} threads, {report['repeats']} repeats (median; min in brackets)"
    )
    print(f"{'':8} {'transformers':>20} {'songgen_hf':>20} {'ratio':>7} {'RTF ours':>9}")
    for stage in ("encode", "decode"):
        f = report["speed"][stage]
        print(
            f"{stage:8} {f['transformers_median_s']:>9.3f} s [{f['transformers_min_s']:6.3f}] "
            f"{f['ours_median_s']:>9.3f} s [{f['ours_min_s']:6.3f}] {f['ratio']:>7.3f} "
            f"{f['ours_median_s'] / seconds:>9.3f}"
        )
    parity = report["parity"]
    print(
        f"codes identical: {parity['codes_identical']} ({parity['distinct_codes']} distinct codes); "
        f"decode max |diff| {parity['decode_max_abs_diff']:.3g} (tolerance {AUDIO_TOLERANCE:g})"
    )
    full, dec = report["memory"]["full"], report["memory"]["decode_only"]
    print(
        f"\n{'load':12} {'peak RSS':>9} {'(VmHWM)':>9} {'all resident':>13} {'before load':>12} "
        f"{'params+bufs':>12} {'1st decode':>11}"
    )
    for name, m in (("full", full), ("decode_only", dec)):
        print(
            f"{name:12} {m['peak_rss_mb']:>6.0f} MB {m['vm_hwm_mb']:>6.0f} MB "
            f"{m['peak_rss_weights_resident_mb']:>10.0f} MB "
            f"{m['rss_before_load_mb']:>9.0f} MB {m['model_bytes'] / 2**20:>9.0f} MB "
            f"{m['first_decode_seconds']:>9.2f} s"
        )
    memory = report["memory"]
    print(
        f"decode-only saves {memory['peak_rss_saving_mb']:.0f} MB peak RSS as loaded (mmapped weights it never reads "
        f"stay on disk), {memory['peak_rss_saving_weights_resident_mb']:.0f} MB with all weights resident, "
        f"{memory['model_bytes_saving_mb']:.0f} MB of weights"
    )
    print(f"load average before/after: {report['load_average_before']} / {report['load_average_after']}")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model and stage, after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--tiny", action="store_true", help="tiny config: a quick smoke run, not a measurement")
    parser.add_argument("--memory-child", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--build-child", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--decode-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.decode_only, args.seconds, args.threads)))
        return None
    if args.build_child:
        build_seconds, model = timed(lambda: build_and_save(args.build_child, args.tiny))
        print(
            json.dumps(
                {"build_and_save_seconds": build_seconds, "num_parameters": sum(p.numel() for p in model.parameters())}
            )
        )
        return None
    if not args.json:
        parser.error("--json PATH is required")

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    from songgen_hf import XCodecModel

    hf_logging.disable_progress_bar()  # keep the table readable
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="xcodec-bench-") as model_dir:
        # The model is built and saved in a child and the memory children run before this
        # process loads anything: a child's ru_maxrss starts from its parent's peak.
        built = run_child(["--build-child", model_dir] + (["--tiny"] if args.tiny else []))
        memory = {
            "full": measure_memory(model_dir, False, args.seconds, args.threads),
            "decode_only": measure_memory(model_dir, True, args.seconds, args.threads),
        }
        from transformers import XcodecModel

        reference = XcodecModel.from_pretrained(model_dir).eval()
        ours = XCodecModel.from_pretrained(model_dir).eval()
        theirs_state, ours_state = reference.state_dict(), ours.state_dict()
        weights_identical = set(theirs_state) == set(ours_state) and all(
            torch.equal(theirs_state[k], ours_state[k]) for k in theirs_state
        )
        del theirs_state, ours_state
        speed = benchmark_speed(reference, ours, test_audio(args.seconds), args.repeats)
    memory["peak_rss_saving_mb"] = memory["full"]["peak_rss_mb"] - memory["decode_only"]["peak_rss_mb"]
    memory["peak_rss_saving_weights_resident_mb"] = (
        memory["full"]["peak_rss_weights_resident_mb"] - memory["decode_only"]["peak_rss_weights_resident_mb"]
    )
    memory["model_bytes_saving_mb"] = (memory["full"]["model_bytes"] - memory["decode_only"]["model_bytes"]) / 2**20

    report = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "tiny": args.tiny,
        "audio_seconds": args.seconds,
        "batch_size": 1,
        "repeats": args.repeats,
        "machine": machine_info(args.threads),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "num_parameters": built["num_parameters"],
        "build_and_save_seconds": built["build_and_save_seconds"],
        "weights_identical": weights_identical,
        "speed": summarise(speed),
        "runs_seconds": speed.pop("runs"),
        "parity": speed,
        "memory": memory,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    print_table(report)
    return report


if __name__ == "__main__":
    main()
