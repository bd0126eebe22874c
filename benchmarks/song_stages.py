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
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import git_commit  # noqa: E402

DESCRIPTION = "an upbeat pop song in C major at 120 bpm with drums, bass and a bright female voice"
LYRICS = (
    "[verse]\nthe city lights are calling out my name\nwe dance until the morning, never the same\n"
    "[chorus]\nhold on, hold on, the night is young\nsing it loud until the song is sung\n"
    "[verse]\nthe rain is falling on an empty street\nI hear your echo in every heartbeat\n"
    "[chorus]\nhold on, hold on, the night is young\nsing it loud until the song is sung"
)  # the README's whole-song example


def fill_ab(pipe, rounds: int) -> dict:
    """One window of the told singer (the model's window, the stretch it fills at once in a long song: songgen-tiny's
    10 s; a random accompaniment and score), filled
    ``rounds`` times each way, alternately: with an all-False padding mask (what ``sing()`` passed before it sang
    each length of song apart) and with none (what it passes now); CPU seconds per fill, and whether the codes are
    equal.  Without a mask torch's encoder takes its fused attention, whose floats differ from the masked path's in
    the last bits."""
    import torch

    from songgen_hf.modeling.songgen.windows_songgen import default_window_frames

    singer = pipe.singer
    config = singer.config
    frames = default_window_frames(pipe.model.config)
    generator = torch.Generator().manual_seed(0)
    context = torch.randint(0, config.codebook_size, (1, frames), generator=generator)
    units = torch.randint(0, 8, (1, config.unit_rows, frames), generator=generator)
    masks = {"padding_mask": torch.zeros(1, frames, dtype=torch.bool), "no_mask": None}
    seconds: dict[str, list[float]] = {way: [] for way in masks}
    codes = {}
    for _ in range(rounds):
        for way, padding in masks.items():
            began = time.process_time()
            codes[way] = singer.fill(context, units, padding=padding)
            seconds[way].append(time.process_time() - began)
    medians = {way: float(np.median(values)) for way, values in seconds.items()}
    return {
        "frames": frames,
        "passes": config.num_codebooks * config.fill_iterations,
        "cpu_s_per_fill": {way: [round(value, 2) for value in values] for way, values in seconds.items()},
        "median_cpu_s": {way: round(value, 2) for way, value in medians.items()},
        "no_mask_saves": round(1 - medians["no_mask"] / medians["padding_mask"], 3),
        "codes_equal": bool(torch.equal(codes["padding_mask"], codes["no_mask"])),
    }


def _singer_option(singer: str | None) -> dict:
    """``--singer`` as ``songgen generate`` reads it: none keeps the decoder's own vocals, a folder sings with it."""
    if singer is None:
        return {}
    return {"singer": None if singer.strip().lower() == "none" else singer}


def run(args) -> dict:
    import torch

    commit = git_commit()  # the code measured, before the run (a tree edited during it does not count)

    torch.set_num_threads(args.threads)
    from songgen_hf.pipelines import GenerationProgress, load_text_to_song_pipeline

    class TimedStages(GenerationProgress):
        def __init__(self):
            super().__init__(disable=True, keep_open=True)
            self.times: list[tuple[str, float]] = []

        def stage(self, name, index=1, total=1):
            self.times.append((name, time.perf_counter(), time.process_time()))
            super().stage(name, index, total)

    pipe = load_text_to_song_pipeline(args.model, device=args.device, **_singer_option(args.singer))
    progress = TimedStages()
    started = time.perf_counter()
    cpu_started = time.process_time()
    out = pipe(
        {"description": DESCRIPTION, "lyrics": LYRICS}, duration_s=args.seconds, seed=args.seed, streamer=progress
    )
    ended, cpu_ended = time.perf_counter(), time.process_time()
    cpu = cpu_ended - cpu_started
    marks = progress.times + [("end", ended, cpu_ended)]
    stages: dict[str, float] = {"preparing": marks[0][1] - started}
    stages_cpu: dict[str, float] = {"preparing": marks[0][2] - cpu_started}
    for (name, at, cpu_at), (_, following, cpu_following) in zip(marks, marks[1:]):
        stages[name] = stages.get(name, 0.0) + following - at
        stages_cpu[name] = stages_cpu.get(name, 0.0) + cpu_following - cpu_at
    total = ended - started
    return {
        "benchmark": "song_stages: where one whole song's time goes",
        "schema_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "commit": commit,
        "command": "python benchmarks/song_stages.py " + " ".join(args.argv),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "threads": args.threads,
            "device": args.device,
            "torch": torch.__version__,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "song": {
            "seconds": args.seconds,
            "seed": args.seed,
            "model": args.model or "songgen-tiny",
            "singer": args.singer or "the model's own",
        },
        "stages_s": {name: round(value, 2) for name, value in stages.items()},
        "total_s": round(total, 2),
        "cpu_s": round(cpu, 2),
        "stages_cpu_s": {name: round(value, 2) for name, value in stages_cpu.items()},
        "singer_share": round(stages.get("singing", 0.0) / total, 3),
        "singer_cpu_share": round(stages_cpu.get("singing", 0.0) / cpu, 3),
        # the song itself, so that a run after a change to the cost shows the same song (bit for bit)
        "audio_sha256": hashlib.sha256(np.ascontiguousarray(out["audio"]).tobytes()).hexdigest(),
        "progress_lines": progress.stages,
        **({"singer_fill": fill_ab(pipe, args.fill_ab)} if args.fill_ab else {}),
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
    parser.add_argument(
        "--fill-ab",
        type=int,
        default=0,
        help="also time one singer window's fill with and without its padding mask, this many rounds each",
    )
    parser.add_argument("--device", default="cpu", help="where the model runs: cpu (default) or cuda")
    parser.add_argument(
        "--singer",
        default=None,
        help="as songgen generate's --singer: none keeps the decoder's vocals (default: the model's own singer)",
    )
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else __import__("sys").argv[1:])
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
