"""Before and after in one run: the main job and whole songs, with and without the told singer, for two commits.

Each commit is exported (``git archive``) into a scratch folder and imported from there (a ``songgen_hf`` package
folder put first on ``PYTHONPATH``), so both run with this checkout's benchmark scripts and the same installed
libraries.  The runs are interleaved, round after round (before, after, before without the singer, after without
it, ...), so a machine that other programs slow down slows both sides alike; each figure is the median of its
runs with the lowest and highest run as its interval, and the ratios (with the singer / without it, after /
before) are taken within each round.

    python benchmarks/side_by_side.py --before main --after HEAD --rounds 3 --json docs/benchmarks/side_by_side.json
    python benchmarks/side_by_side.py --before main --after WORKTREE --parts main60 --rounds 1   # quicker
    python benchmarks/side_by_side.py --before main --after HEAD --device cuda --threads 8 --json gpu.json

Parts: ``main`` (the 10 s main job, ``main_job.py --repeats 3``; every song of every round counts), ``stages10``
(the main job stage by stage, ``song_stages.py --seconds 10``), ``song60`` and ``song120`` (the README's whole
song at 60 s and 2 minutes, ``song_stages.py``, stage by stage).  ``WORKTREE`` is this checkout as it is now.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = {
    "main": ("main_job.py", ["--seconds", "10", "--repeats", "3"]),
    "stages10": ("song_stages.py", ["--seconds", "10"]),
    "song60": ("song_stages.py", ["--seconds", "60"]),
    "song120": ("song_stages.py", ["--seconds", "120"]),
}
SINGER = {"singer": [], "no_singer": ["--singer", "none"]}


def export_tree(ref: str, scratch: Path) -> Path:
    """``ref`` (or this checkout, for ``WORKTREE``) as a folder whose ``songgen_hf`` imports without installing:
    the package folder with ``modeling``/``pipelines`` linked in, as ``setup.py``'s ``package_dir`` maps them."""
    tree = scratch / ref.replace("/", "_")
    if ref == "WORKTREE":
        source = ROOT
    else:
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        source = tree
    importable = scratch / (tree.name + "_import")
    package = importable / "songgen_hf"
    shutil.copytree(source / "songgen_hf", package, symlinks=True)
    for name in ("modeling", "pipelines"):
        (package / name).symlink_to(source / name, target_is_directory=True)
    return importable


def run_one(importable: Path, script: str, arguments: list[str], out: Path, common: list[str]) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(importable), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(HERE / script), *arguments, *common, "--json", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text(encoding="utf-8"))
    result["_process_s"] = time.perf_counter() - started
    return result


def figures(part: str, result: dict) -> dict:
    """What a run measured, as ``{name: seconds}`` (``main``: a list, one a song)."""
    if part == "main":
        return {
            "total_s": [run["total_s"] for run in result["runs"]],
            "cpu_s": [run["cpu_s"] for run in result["runs"]],
        }
    stages = dict(result["stages_s"])
    return {
        "total_s": result["total_s"],
        "cpu_s": result["cpu_s"],
        "decoder_s": sum(value for name, value in stages.items() if name.startswith("generating")),
        "singing_s": sum(value for name, value in stages.items() if name.startswith("singing")),
        "codec_s": sum(value for name, value in stages.items() if name.startswith("decoding")),
        "audio_sha256": result["audio_sha256"],
    }


def interval(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "low": round(min(values), 3),
        "high": round(max(values), 3),
        "n": len(values),
    }


def summarise(runs: dict) -> dict:
    """Medians with intervals for every figure, and the within-round ratios."""
    summary: dict = {}
    for part, sides in runs.items():
        summary[part] = {}
        for side, rounds in sides.items():
            names = [name for name in rounds[0] if name != "audio_sha256"]
            entry = {}
            for name in names:
                values = [v for r in rounds for v in (r[name] if isinstance(r[name], list) else [r[name]])]
                entry[name] = interval(values)
            if "audio_sha256" in rounds[0]:
                entry["audio_sha256"] = sorted({r["audio_sha256"] for r in rounds})
            summary[part][side] = entry
        # without a run of its own, "before" without the singer is taken from "after" (--without-singer after: a
        # change that leaves the decoder and the codec alone)
        pairs = {
            f"{version}: singer / no singer": (
                sides.get(f"{version}/singer"),
                sides.get(f"{version}/no_singer") or sides.get("after/no_singer"),
            )
            for version in ("before", "after")
        }
        pairs["after / before, with the singer"] = (sides.get("after/singer"), sides.get("before/singer"))
        pairs["after / before, no singer"] = (sides.get("after/no_singer"), sides.get("before/no_singer"))
        ratios = {}
        for label, (top, bottom) in pairs.items():
            if top and bottom:
                ratios[label] = {
                    name: interval([_total(a, name) / _total(b, name) for a, b in zip(top, bottom)])
                    for name in ("total_s", "cpu_s")
                }
        summary[part]["ratios"] = ratios
    return summary


def _total(figures_of_a_run: dict, name: str = "total_s") -> float:
    total = figures_of_a_run[name]
    return statistics.median(total) if isinstance(total, list) else total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="a git ref (default: main)")
    parser.add_argument("--after", default="HEAD", help="a git ref, or WORKTREE for this checkout as it is")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--without-singer",
        choices=("both", "after", "none"),
        default="both",
        help="which versions also run with --singer none (default: both)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    common = ["--threads", str(args.threads), "--device", args.device]
    commits = {
        version: subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD" if ref == "WORKTREE" else ref],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        + ("+worktree" if ref == "WORKTREE" else "")
        for version, ref in (("before", args.before), ("after", args.after))
    }
    sides = [("before", "singer"), ("after", "singer")]
    sides += [(v, "no_singer") for v in ("before", "after") if args.without_singer in ("both", v)]
    runs: dict = {part: {} for part in args.parts}
    started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="side_by_side_") as scratch:
        scratch = Path(scratch)
        trees = {"before": export_tree(args.before, scratch), "after": export_tree(args.after, scratch)}
        for index in range(args.rounds):
            for part in args.parts:
                script, arguments = PARTS[part]
                for version, singer in sides:
                    out = scratch / f"{part}_{version}_{singer}_{index}.json"
                    result = run_one(trees[version], script, arguments + SINGER[singer], out, common)
                    measured = figures(part, result)
                    runs[part].setdefault(f"{version}/{singer}", []).append(measured)
                    print(f"round {index + 1} {part} {version} {singer}: {_total(measured):.2f} s", flush=True)
    report = {
        "benchmark": "side_by_side: before and after in one run",
        "schema_version": 1,
        "date": started,
        "commits": commits,
        "command": "python benchmarks/side_by_side.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "logical_cpus": os.cpu_count(),
            "threads": args.threads,
            "device": args.device,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "summary": summarise(runs),
        "runs": runs,
        "notes": [
            "interleaved rounds; each figure: median of its runs, interval = lowest and highest run",
            "ratios are taken within a round (the same machine state), then summarised the same way",
        ],
    }
    text = json.dumps(report, indent=1)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
