"""Songs per minute of ``songgen generate-many`` on a prompt file: batch sizes in one process, and processes.

A prompt file of ``--rows`` requests written apart from the corpus (``free_prompts.prompts``: eight wordings, every
fourth instrumental) is made by ``songgen generate-many`` as a user runs it, once per setting, into a fresh folder:
``--batch-sizes`` in one process, then ``--processes`` processes through ``accelerate launch`` (on a CPU,
``--multi_gpu`` with ``ACCELERATE_USE_CPU=true``: accelerate's CPU mode over torchrun's processes).  Each run is timed
whole (loading included) and by the songs' own generation seconds from ``metadata.jsonl``; the report gives songs per
minute for both, the ratio to batch 1, the batch size each run printed, and the batching's padding waste: the share
of generated frames a batch spends past a song's own length (songs of one length and seed share a batch, so a
fixed-length file wastes nothing; a song the model ends early does).  Settings run in turn, alternating their order
over ``--repeats``, so that a busy spell of this shared machine falls on each of them alike.

    python benchmarks/generate_many.py --json docs/benchmarks/generate_many.json

Where a GPU is lent, the released size (bf16 loading through its quantize option, the static cache is the model's
own choice of cache there):

    python benchmarks/generate_many.py --model RELEASED_FOLDER --device cuda --quantize bf16 --seconds 30 \\
        --batch-sizes 1 4 8 --processes 0 --json docs/benchmarks/generate_many_gpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py

from free_prompts import prompts  # noqa: E402
from machine import git_commit, load_average, schema_report_head  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARK = ".generate_many_benchmark"  # a --work folder this benchmark made, and may fill again


def write_prompts(path: Path, rows: int, seconds: float) -> Path:
    """``rows`` requests as a JSONL prompt file, each ``seconds`` long (seed 0: the file's songs batch together)."""
    with path.open("w", encoding="utf-8") as handle:
        for song in prompts(rows):
            row = {"description": song["description"], "lyrics": song["lyrics"], "duration": seconds}
            handle.write(json.dumps(row) + "\n")
    return path


def run(prompt_file: Path, output: Path, batch_size: int, processes: int, options: list[str]) -> dict:
    """One ``songgen generate-many`` run into a fresh ``output``: its wall seconds, what it printed and its songs."""
    argv = ["generate-many", str(prompt_file), "--output", str(output), "--batch-size", str(batch_size), "--quiet"]
    argv += options + (["--overwrite"] if output.exists() else [])  # generate-many replaces only its own folder
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if processes > 1:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu"]
        command += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(port)]
        command += ["-m", "songgen_hf.cli", *argv]
        if "--device" not in options or "cpu" in options:
            env.update(ACCELERATE_USE_CPU="true", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    else:
        command = [sys.executable, "-m", "songgen_hf.cli", *argv]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    records = [json.loads(line) for line in (output / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    chosen = [line for line in result.stdout.splitlines() if "batch" in line.lower()]
    return {"wall_seconds": wall, "records": records, "printed": chosen[:3]}


def summarise(setting: dict, runs: list[dict], seconds: float, frame_rate: float) -> dict:
    songs = len(runs[0]["records"])
    wall = min(item["wall_seconds"] for item in runs)
    generation = min(sum(record["generation_seconds"] for record in item["records"]) for item in runs)
    kept = sum(round(record["seconds"] * frame_rate) for record in runs[0]["records"])
    generated = songs * round(seconds * frame_rate)  # each batch runs to the asked length
    return {
        **setting,
        "songs": songs,
        "wall_seconds": [round(item["wall_seconds"], 1) for item in runs],
        "songs_per_minute_wall": round(60 * songs / wall, 2),
        "songs_per_minute_generating": round(60 * songs / generation, 2) if setting["processes"] == 1 else None,
        "padding_waste": round(1 - kept / generated, 4) if generated else 0.0,
        "printed": runs[0]["printed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0, help="each song's length")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--processes", type=int, default=2, help="also a run over this many processes (0: none)")
    parser.add_argument("--process-batch-size", type=int, default=4, help="the batch size of that run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting, their order alternated")
    parser.add_argument("--model", help="a SongGen folder (default: the embedded default)")
    parser.add_argument("--device")
    parser.add_argument("--quantize")
    parser.add_argument("--work", type=Path, help="where the songs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    options = []
    for flag, value in (("--model", args.model), ("--device", args.device), ("--quantize", args.quantize)):
        if value is not None:
            options += [flag, value]
    work = args.work or Path(tempfile.mkdtemp(prefix="generate_many_"))
    if work.is_dir() and any(work.iterdir()) and not (work / MARK).is_file():
        raise SystemExit(f"--work {work} holds files this benchmark did not write; give an empty or new folder.")
    work.mkdir(parents=True, exist_ok=True)
    (work / MARK).touch()
    prompt_file = write_prompts(work / "prompts.jsonl", args.rows, args.seconds)
    settings = [{"batch_size": size, "processes": 1} for size in args.batch_sizes]
    if args.processes > 1:
        settings.append({"batch_size": args.process_batch_size, "processes": args.processes})
    report = schema_report_head("generate_many: songs per minute from a prompt file", __file__)
    report.update(commit=git_commit(), load_average={"start": load_average()})
    results: dict[int, list[dict]] = {index: [] for index in range(len(settings))}
    for repeat in range(args.repeats):
        order = list(range(len(settings)))
        for index in order if repeat % 2 == 0 else reversed(order):
            setting = settings[index]
            name = f"b{setting['batch_size']}x{setting['processes']}"
            results[index].append(run(prompt_file, work / name, setting["batch_size"], setting["processes"], options))
            print(f"{name}: {results[index][-1]['wall_seconds']:.1f} s", flush=True)
    from transformers import AutoConfig

    import songgen_hf  # noqa: F401  (registers the SongGen config)
    from songgen_hf.pipelines.loading import default_model_path

    config = AutoConfig.from_pretrained(args.model or default_model_path())
    rows = [
        summarise(setting, results[index], args.seconds, config.frame_rate) for index, setting in enumerate(settings)
    ]
    base = next((row for row in rows if row["batch_size"] == 1 and row["processes"] == 1), None)
    for row in rows:
        if base is not None:
            row["ratio_to_batch_1_wall"] = round(row["songs_per_minute_wall"] / base["songs_per_minute_wall"], 2)
    report.update(
        rows_in_file=args.rows,
        song_seconds=args.seconds,
        settings=rows,
        load_average={**report["load_average"], "end": load_average()},
    )
    for row in rows:
        print(
            f"batch {row['batch_size']} x {row['processes']} process(es): {row['songs_per_minute_wall']} songs/min "
            f"(wall, loading included), ratio {row.get('ratio_to_batch_1_wall')}, padding waste "
            f"{row['padding_waste']:.1%}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
