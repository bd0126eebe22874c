"""One told-singer fill, three ways: torch's fused encoder layers in float32 (the fill before SDPA), the layers
through SDPA in float32, and through SDPA under bfloat16 autocast (songgen-tiny's ``fill_dtype``).

Random accompaniment context and score, greedy; CPU seconds per fill (``time.process_time``), the ways alternated
round after round, and the share of codes each way gives that the fused float32 fill gives.

    python benchmarks/singer_fill.py --frames 500 1584 --rounds 3 --threads 1 --json docs/benchmarks/singer_fill.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import cpu_model, git_commit  # noqa: E402


def run(args) -> dict:
    from songgen_hf.modeling.songgen_singer import SongGenSinger
    from songgen_hf.pipelines.loading import embedded_folder

    torch.set_num_threads(args.threads)
    singer = SongGenSinger.from_pretrained(embedded_folder("songgen-tiny") / "singer").eval()
    config = singer.config
    plain_logits = singer._logits
    shipped = config.fill_dtype

    def fused_logits(hidden, level, padding):  # torch's own encoder forward (its fused fast path in eval)
        return singer.heads[level](singer.norm(singer.body(hidden, src_key_padding_mask=padding)))

    ways = {
        "float32, torch's fused layers": (fused_logits, False),
        "float32, SDPA": (plain_logits, False),
        "bfloat16, SDPA": (plain_logits, True),
    }
    results = {}
    for frames in args.frames:
        generator = torch.Generator().manual_seed(0)
        context = torch.randint(0, config.codebook_size, (1, frames), generator=generator)
        units = torch.randint(0, 8, (1, config.unit_rows, frames), generator=generator)
        seconds = {way: [] for way in ways}
        codes = {}
        for _ in range(args.rounds):
            for way, (logits, bfloat16) in ways.items():
                singer._logits = logits
                config.fill_dtype = "bfloat16" if bfloat16 else "float32"  # the fill's own autocast follows it
                began = time.process_time()
                codes[way] = singer.fill(context, units)
                seconds[way].append(round(time.process_time() - began, 3))
        singer._logits = plain_logits
        config.fill_dtype = shipped
        reference = codes["float32, torch's fused layers"]
        results[str(frames)] = {
            way: {
                "cpu_s": values,
                "median_cpu_s": round(statistics.median(values), 3),
                "codes_as_fused_float32": round(float((codes[way] == reference).float().mean()), 4),
            }
            for way, values in seconds.items()
        }
    return {
        "benchmark": "singer_fill: one told-singer fill, three ways",
        "schema_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "commit": git_commit(),
        "command": "python benchmarks/singer_fill.py " + " ".join(args.argv),
        "machine": {
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "bfloat16_native": torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "passes": config.num_codebooks * config.fill_iterations,
        "frames": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[500, 1584])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    report = run(args)
    text = json.dumps(report, indent=1)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
