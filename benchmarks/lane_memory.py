"""What the lane regulariser costs in memory and time at the documented scale of ``songgen finetune-lora``.

Each setting is one real ``finetune-lora`` run (``songgen_hf.training.lora_trainer.finetune_lora``) of ``--steps``
steps of the documented recipe (batch 8 of 10 s crops, rank 16, the decoder layers and the output heads, learning
rate 3e-3; the singer stage off, as it runs after the decoder's steps and is the same with or without the lane) on
synthetic songs encoded with songgen-tiny's codec, in its own forked child so that its peak memory is its own
(``VmHWM``): ``none`` (no lane), ``lane`` (``lane_weight: 1`` at the config's default ``lane_rows_per_pass``) and
``laneN`` (``lane_weight: 1``, ``lane_rows_per_pass: N``).  The lane's cost is a setting's peak minus ``none``'s.

    python benchmarks/lane_memory.py --settings none lane lane8 lane1 --json docs/benchmarks/lane_memory.json
    # the tree before the lane's passes were bounded, measured with the same script and settings none lane:
    python benchmarks/lane_memory.py --settings none lane --before BEFORE.json --json ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py, lora_memory.py
from lora_memory import FRAME_RATE, _quiet, prepare_data  # noqa: E402
from machine import git_commit, load_average, rss_mb, run_in_child, schema_report_head  # noqa: E402

SETTING = re.compile(r"^(none|lane)(\d*)$")
BATCH, SECONDS = 8, 10.0  # docs/fine_tuning.md's real run


def parse_setting(text: str) -> dict:
    """``none`` (no lane), ``lane`` (the default rows per pass) or ``laneN`` (N rows per pass)."""
    match = SETTING.match(text)
    if not match or (match.group(1) == "none" and match.group(2)):
        raise ValueError(f"A setting is none, lane or laneN (rows per lane pass), e.g. lane2; got {text!r}.")
    rows = int(match.group(2)) if match.group(2) else None
    if rows == 0:
        raise ValueError(f"laneN needs N >= 1 rows per pass; got {text!r}.")
    return {"lane_weight": 1.0 if match.group(1) == "lane" else 0.0, "lane_rows_per_pass": rows}


def train_stage(args, data: str, setting: dict, output: str) -> dict:
    """One finetune-lora run of ``args.steps`` steps in this (forked) process: peak memory and step times."""
    from songgen_hf.training.lora_trainer import LoraTrainingConfig, finetune_lora

    _quiet(args.threads)
    extra = {"lane_rows_per_pass": setting["lane_rows_per_pass"]} if setting["lane_rows_per_pass"] else {}
    config = LoraTrainingConfig(
        train_data=data,
        init_from="songgen-tiny",
        output_dir=output,
        batch_size=BATCH,
        max_frames=int(SECONDS * FRAME_RATE),
        bar_aligned_crops=True,
        max_steps=args.steps,
        save_steps=10**6,
        log_steps=1,
        singer_adapter=False,
        lane_weight=setting["lane_weight"],
        **extra,
    )
    started = time.perf_counter()
    finetune_lora(config)
    total = time.perf_counter() - started
    records = [json.loads(line) for line in (Path(output) / "train_log.jsonl").read_text().splitlines() if line]
    times = [r["seconds"] for r in records if "loss" in r and "seconds" in r]
    steps = [b - a for a, b in zip(times, times[1:])]
    return {
        **setting,
        "lane_rows_per_pass_used": getattr(config, "lane_rows_per_pass", None),
        "steps": len(times),
        "median_step_s": statistics.median(steps) if steps else None,
        "step_s": [round(s, 3) for s in steps],
        "run_s": total,
        "peak_rss_mb": rss_mb("VmHWM"),
        "lane_kl": [r.get("lane_kl") for r in records if "lane_kl" in r],
    }


def markdown_table(report: dict) -> str:
    """Peak memory and step time per setting, the lane's cost over ``none`` of the same tree."""
    rows = ["| tree | setting | peak memory | the lane's cost | step (median) |", "|---|---|---|---|---|"]
    for tree, runs in (("before", (report.get("before") or {}).get("runs", {})), ("now", report["runs"])):
        plain = runs.get("none", {}).get("peak_rss_mb")
        for name, run in runs.items():
            cost = "" if plain is None or name == "none" else f"{(run['peak_rss_mb'] - plain) / 1024:+.2f} GiB"
            rows.append(
                f"| {tree} | {name} | {run['peak_rss_mb'] / 1024:.2f} GiB | {cost} | {run['median_step_s']:.1f} s |"
            )
    return "\n".join(rows) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["none", "lane"], help="none, lane, laneN ...")
    parser.add_argument("--steps", type=int, default=3, help="training steps per setting (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--work", type=Path, help="working folder, kept (default: a temporary one)")
    parser.add_argument("--before", type=Path, help="a report of this script on an earlier tree, kept in this one")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--table", type=Path, help="print the Markdown table of this report, run nothing")
    args = parser.parse_args(argv)
    try:
        args.parsed = [parse_setting(text) for text in args.settings]
    except ValueError as error:
        parser.error(str(error))
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is timed apart)")
    return args


def main(argv=None) -> dict:
    from songgen_hf.utils.safe_files import read_json

    args = parse_args(argv)
    if args.table:
        print(markdown_table(read_json(args.table)), end="")
        return {}
    work = args.work or Path(tempfile.mkdtemp(prefix="songgen-lane-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = {
        **schema_report_head("lane_memory", "benchmarks/lane_memory.py"),
        "commit": git_commit(),
        "load_average": {"start": load_average()},
        "settings": {"batch_size": BATCH, "seconds": SECONDS, "steps": args.steps, "threads": args.threads},
    }
    data = prepare_data(work, "songgen-tiny", BATCH, SECONDS)
    runs = {}
    for text, setting in zip(args.settings, args.parsed):
        output = work / "runs" / text
        if output.exists():
            import shutil

            shutil.rmtree(output)
        runs[text] = run_in_child(train_stage, args, str(data), setting, str(output))
        print(f"{text}: {json.dumps(runs[text])}", flush=True)
    report["runs"] = runs
    report["load_average"]["end"] = load_average()
    if args.before:
        report["before"] = read_json(args.before)
    print(markdown_table(report), end="")
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
