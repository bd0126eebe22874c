"""What ``songgen finetune-lora`` needs: peak memory and step time, for songgen-tiny and for the released size.

Each setting is one real ``finetune-lora`` run (``songgen_hf.training.lora_trainer.finetune_lora``, the documented
LoRA: rank 16 on the decoder's attention and feed-forward layers) of ``--steps`` steps on synthetic songs encoded
with the model's own codec, in its own forked child, so that its peak memory is its own:

* **tiny**: the embedded ``songgen-tiny`` (dual-track), batch 8 of 10 s crops as docs/fine_tuning.md's real run;
* **released**: a SongGen of the released checkpoints' sizes (``songgen_hf.testing.released_songgen_config``:
  FLAN-T5-large encoder, 6 x 1024 lyrics encoder, MERT-v1-330M-shaped voice encoder, 24 x 1024 decoder, X-Codec;
  1.34 B parameters; the modules and shapes the conversion of ``LiuZH-19/SongGen_mixed_pro`` gives) with random
  weights, saved once as a model folder with a processor; nothing is downloaded.

For each setting (``--settings``, e.g. ``b8x10`` = batch 8 of 10 s crops, ``+gc`` gradient checkpointing,
``+int8`` the decoder layers' frozen weights in int8): the peak RSS of the run's process (``VmHWM``; on a GPU
``torch.cuda.max_memory_allocated`` as well), the median step time after the first step, and the trained and
total parameters.  On a GPU the run is in bf16 (``mixed_precision: auto``).

    python benchmarks/lora_memory.py --size tiny --json docs/benchmarks/lora_memory_cpu.json
    python benchmarks/lora_memory.py --size released --steps 3 --json docs/benchmarks/lora_memory_released_cpu.json
    # where a GPU is lent: 30 s clips, batches of 1, 4 and 8, with and without checkpointing and the int8 base
    python benchmarks/lora_memory.py --size released --device cuda --steps 6 \\
        --settings b1x30+gc b4x30+gc b4x30+gc+int8 b8x30+gc+int8 b1x30 --json lora_memory_gpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import git_commit, load_average, rss_mb, run_in_child, schema_report_head  # noqa: E402

FRAME_RATE = 50
SETTING = re.compile(r"^b(\d+)x(\d+(?:\.\d+)?)((?:\+gc|\+int8)*)$")
DEFAULT_SETTINGS = {
    ("tiny", "cpu"): ["b8x10", "b8x10+gc", "b8x10+gc+int8", "b8x30+gc"],
    ("released", "cpu"): ["b1x10", "b1x10+gc", "b1x10+gc+int8", "b1x30+gc+int8"],
    ("tiny", "cuda"): ["b8x30", "b8x30+gc"],
    ("released", "cuda"): ["b1x30+gc", "b4x30+gc", "b4x30+gc+int8", "b8x30+gc+int8", "b1x30"],
}


def parse_setting(text: str) -> dict:
    """``b4x30+gc+int8`` -> batch 4 of 30 s crops, gradient checkpointing, the int8 base."""
    match = SETTING.match(text)
    if not match:
        raise ValueError(f"A setting reads bBATCHxSECONDS[+gc][+int8], e.g. b4x30+gc; got {text!r}.")
    flags = match.group(3)
    return {
        "batch_size": int(match.group(1)),
        "seconds": float(match.group(2)),
        "gradient_checkpointing": "+gc" in flags,
        "base_int8": "+int8" in flags,
    }


def _quiet(threads: int | None) -> None:
    import warnings

    import torch
    from transformers.utils import logging as hf_logging

    if threads:
        torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# ---------------------------------------------------------------------------------- stages
def build_released(folder: str) -> dict:
    """Random weights at the released size, saved with a processor whose tokenizers fit its vocabularies."""
    import torch

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.testing import released_songgen_config, tiny_tokenizers

    _quiet(None)
    torch.manual_seed(0)
    started = time.perf_counter()
    config = released_songgen_config("mixed_pro")
    model = SongGenForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    SongGenProcessor.for_config(config, *tiny_tokenizers()).save_pretrained(folder)
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    return {
        "build_s": time.perf_counter() - started,
        "parameters": sum(counts.values()),
        "parameters_by_part": {k: v for k, v in counts.items() if v},
        "peak_rss_mb": rss_mb("VmHWM"),
    }


def prepare_data(work: Path, codec: str, clips: int, seconds: float) -> Path:
    """``clips`` synthetic songs of ``seconds`` each, encoded with ``codec`` (a SongGen folder or songgen-tiny)."""
    songs, encoded = work / f"songs_{clips}x{seconds:g}", work / f"encoded_{clips}x{seconds:g}"
    if not (encoded / "encoding.json").is_file():
        length = [f"{max(seconds, 4.0):g}"] * 2  # the synthesiser's shortest song is 4 s
        synth = ["songgen", "data", "synth", "--output", str(songs), "--num-clips", str(clips), "--corpus-version", "3"]
        synth += ["--min-duration", length[0], "--max-duration", length[1], "--instrumental-share", "0"]
        subprocess.run([*synth, "--workers", "1", "--no-progress"], check=True)
        encode = ["songgen", "data", "encode", str(songs / "manifest.jsonl"), "--codec", codec]
        subprocess.run([*encode, "--output", str(encoded), "--batch-size", "1"], check=True)
    return encoded


def train_stage(args, model: str, data: str, setting: dict, output: str) -> dict:
    """One finetune-lora run of ``args.steps`` steps in this (forked) process: peak memory and step times."""
    import torch

    from songgen_hf.training.lora_trainer import LoraTrainingConfig, finetune_lora

    _quiet(args.threads)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    config = LoraTrainingConfig(
        train_data=data,
        init_from=model,
        output_dir=output,
        batch_size=setting["batch_size"],
        max_frames=int(setting["seconds"] * FRAME_RATE),
        max_steps=args.steps,
        save_steps=10**6,
        log_steps=1,
        gradient_checkpointing=setting["gradient_checkpointing"],
        base_int8=setting["base_int8"],
        mixed_precision="auto" if cuda else "no",
        # the decoder layers' linears, whose activations and int8 weights the settings trade; the output heads (a
        # default target too) add a low-rank factor pair per head on top, the same in every setting
        lora_targets=["self_attn", "encoder_attn", "ffn"],
    )
    started = time.perf_counter()
    finetune_lora(config)
    total = time.perf_counter() - started
    records = [json.loads(line) for line in (Path(output) / "train_log.jsonl").read_text().splitlines() if line]
    times = [r["seconds"] for r in records if "loss" in r and "seconds" in r]
    steps = [b - a for a, b in zip(times, times[1:])]
    trained = json.loads((Path(output) / "final" / "adapter_config.json").read_text())
    result = {
        **setting,
        "steps": len(times),
        "first_step_s": times[0] if times else None,
        "median_step_s": statistics.median(steps) if steps else None,
        "step_s": [round(s, 3) for s in steps],
        "run_s": total,
        "peak_rss_mb": rss_mb("VmHWM"),
        "lora_r": trained.get("r"),
        "adapter_bytes": (Path(output) / "final" / "adapter_model.safetensors").stat().st_size,
    }
    if cuda:
        result["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    return result


def markdown_rows(report: dict) -> list[str]:
    """One table row per run of a report: model, batch and crop, the memory savers, peak memory, step time."""
    size = {"tiny": "songgen-tiny", "released": "released size"}[report["settings"]["size"]]
    rows = []
    for run in report["runs"].values():
        savers = [
            name for key, name in (("gradient_checkpointing", "checkpointing"), ("base_int8", "int8 base")) if run[key]
        ]
        peak = run.get("peak_gpu_allocated_mb", run["peak_rss_mb"]) / 1024
        rows.append(
            f"| {size} | {run['batch_size']} x {run['seconds']:g} s | {', '.join(savers) or 'none'} | "
            f"{peak:.2f} GiB | {run['median_step_s']:.1f} s |"
        )
    return rows


def markdown_table(reports: list[dict]) -> str:
    head = "| model | batch x crop | memory savers | peak memory | step (median) |\n|---|---|---|---|---|\n"
    return head + "\n".join(row for report in reports for row in markdown_rows(report)) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "released"), default="tiny")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--settings", nargs="+", help="bBATCHxSECONDS[+gc][+int8] ... (default: by size and device)")
    parser.add_argument("--steps", type=int, default=6, help="training steps per setting (default 6)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--work", type=Path, help="working folder, kept (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--table", type=Path, nargs="+", help="print the Markdown table of these reports, run nothing")
    args = parser.parse_args(argv)
    args.settings = args.settings or DEFAULT_SETTINGS[(args.size, args.device)]
    try:
        args.parsed = [parse_setting(text) for text in args.settings]
    except ValueError as error:
        parser.error(str(error))
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is timed apart)")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.table:
        reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.table]
        print(markdown_table(reports), end="")
        return {}
    work = args.work or Path(tempfile.mkdtemp(prefix="songgen-lora-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = {
        **schema_report_head("lora_memory", "benchmarks/lora_memory.py", memory_total_gb=_memory_gb("MemTotal")),
        "commit": git_commit(),
        "load_average": {"start": load_average()},
        "settings": {"size": args.size, "device": args.device, "steps": args.steps, "threads": args.threads},
    }
    if args.size == "released":
        model = work / "released_model"
        if not (model / "config.json").is_file():
            report["build"] = run_in_child(build_released, str(model))
        model = str(model)
    else:
        model = "songgen-tiny"
    clips = max(s["batch_size"] for s in args.parsed)
    longest = max(s["seconds"] for s in args.parsed)
    data = prepare_data(work, model, clips, longest)  # crops of each setting's length come from these songs
    runs = {}
    for text, setting in zip(args.settings, args.parsed):
        output = work / "runs" / text
        if output.exists():
            import shutil

            shutil.rmtree(output)
        runs[text] = run_in_child(train_stage, args, model, str(data), setting, str(output))
        print(f"{text}: {json.dumps(runs[text])}", flush=True)
    report["runs"] = runs
    report["load_average"]["end"] = load_average()
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    return report


def _memory_gb(field: str) -> float:
    with open("/proc/meminfo") as info:
        return next(int(line.split()[1]) for line in info if line.startswith(field + ":")) / 2**20


if __name__ == "__main__":
    main()
