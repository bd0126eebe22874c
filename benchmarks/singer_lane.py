"""The told singer's adapter and the lane regulariser, measured on the calypso style of ``your_songs.py``.

Uses ``benchmarks/your_songs.py``'s data (its ``--work`` folder: the style set, the corpus sample, the encoded
training clips), its judge, its style prompts and its unrelated prompts.  Systems, each an adapter folder given as
``NAME=DIR`` (``--system``, repeatable), all loaded onto one pipeline and switched per call, plus the base:

* the singer's adapter: the same decoder adapter with and without ``singer_adapter/`` (``--with-singer NAME=DIR``
  makes a copy of adapter NAME with the singer adapter in DIR, as ``finetune-lora`` saves it);
* the regulariser: runs trained with and without ``lane_weight``, at the same step.

Figures, per system: the judge's style score on the style prompts and on the unrelated prompts, each minus the base
(paired per prompt, bootstrap 95 % intervals over the prompts), the share of the way to the style set, and the
**leak**: the unrelated prompts' movement over the style prompts' (bootstrap over both prompt sets)::

    python benchmarks/singer_lane.py --work /tmp/yours --system r16=/tmp/yours/runs/r16/final \\
        --with-singer r16_singer=/tmp/yours/singer_stage --json docs/benchmarks/singer_lane.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import your_songs  # noqa: E402
from machine import git_commit, load_average, schema_report_head  # noqa: E402


def singer_copy(adapter: Path, singer: Path, target: Path) -> Path:
    """A copy of ``adapter`` with the singer adapter in ``singer`` saved in it as ``finetune-lora`` saves it."""
    from songgen_hf.pipelines.singer_adapters import SINGER_ADAPTER_FOLDER, SINGER_ADAPTER_KEY

    if target.exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(adapter, staging)
    shutil.copytree(singer, staging / SINGER_ADAPTER_FOLDER, ignore=shutil.ignore_patterns("README.md"))
    record = json.loads((staging / "songgen_adapter.json").read_text())
    record[SINGER_ADAPTER_KEY] = SINGER_ADAPTER_FOLDER
    (staging / "songgen_adapter.json").write_text(json.dumps(record, indent=1) + "\n")
    staging.rename(target)
    return target


def bootstrap_ratio(unrelated: np.ndarray, style: np.ndarray, draws: int = 4000, seed: int = 0) -> dict:
    """mean(unrelated) / mean(style) with a bootstrap 95 % interval, each prompt set resampled on its own."""
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        u = unrelated[rng.integers(len(unrelated), size=len(unrelated))].mean()
        s = style[rng.integers(len(style), size=len(style))].mean()
        ratios.append(u / s if s > 0 else np.nan)
    ratios = np.asarray(ratios)
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return {"mean": float(unrelated.mean() / style.mean()), "ci95": [float(low), float(high)]}


def markdown_table(report: dict, labels: dict[str, str] | None = None) -> str:
    """The report's figures as docs/fine_tuning.md quotes them."""
    labels = labels or {}

    def cell(entry: dict) -> str:
        low, high = entry["ci95"]
        return f"{entry['mean']:.2f} [{low:.2f}, {high:.2f}]"

    rows = [
        "| system | style prompts: score | minus base | share of the way | unrelated prompts: score | minus base "
        "| leak (unrelated / style movement) |",
        "|---|---|---|---|---|---|---|",
    ]
    base = report["scores"]["base"]
    rows.append(
        f"| {labels.get('base', 'songgen-tiny alone')} | {cell(base['style'])} | | | {cell(base['unrelated'])} | | |"
    )
    for name, entry in report["scores"].items():
        if name == "base":
            continue
        style, unrelated = entry["style"], entry["unrelated"]
        rows.append(
            f"| {labels.get(name, name)} | {cell(style)} | {cell(style['minus_base'])} | "
            f"{style['share_of_the_way_to_the_style_set']:.0%} | {cell(unrelated)} | {cell(unrelated['minus_base'])} "
            f"| {cell(entry['leak'])} |"
        )
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(markdown_table(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))), end="")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="your_songs.py's --work folder")
    parser.add_argument("--system", action="append", default=[], help="NAME=ADAPTER_DIR (repeatable)")
    parser.add_argument(
        "--with-singer",
        action="append",
        default=[],
        help="NAME=SINGER_ADAPTER_DIR: a copy of system NAME with this singer adapter, as NAME_singer",
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--notes", default="", help="what the runs were (goes into the report)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started, load = time.time(), {"start": load_average()}
    systems = dict(entry.split("=", 1) for entry in args.system)
    for entry in args.with_singer:
        name, singer = entry.split("=", 1)
        systems[f"{name}_singer"] = str(singer_copy(Path(systems[name]), Path(singer), args.work / f"{name}_singer"))
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    your_songs.SEEDS = seeds  # generate_songs and per_prompt read the module's seeds
    from songgen_hf.pipelines import load_text_to_song_pipeline

    pipe = load_text_to_song_pipeline(None, adapters=systems)
    pipe.set_progress_bar_config(disable=True)
    timings: dict = {}
    work = args.work / "singer_lane"
    songs = {}  # every system's songs first (the judge's features of the style set may still be computing)
    counts = {"style": len(your_songs.STYLE_PROMPTS), "unrelated": len(your_songs.UNRELATED_PROMPTS)}
    for name in ["base", *systems]:
        choice = None if name == "base" else name
        for kind in counts:
            songs[name, kind] = your_songs.generate_songs(pipe, work, name, choice, kind, args.seconds, timings)
    judge, judge_report = your_songs.fit_judge(args.work)
    print(json.dumps(judge_report, indent=1), flush=True)
    scores = {name: {} for name in ["base", *systems]}
    for (name, kind), made in songs.items():
        scores[name][kind] = np.asarray(your_songs.per_prompt(your_songs.style_scores(judge, made), counts[kind]))
        print(f"{name} {kind}: {scores[name][kind].mean():.3f}", flush=True)
    target = judge_report["style_set_score_codec"]["mean"]
    report_systems = {"base": {kind: your_songs.interval(values) for kind, values in scores["base"].items()}}
    for name in systems:
        entry = {}
        for kind in ("style", "unrelated"):
            entry[kind] = your_songs.style_entry(list(scores[name][kind]), list(scores["base"][kind]), target)
        moved = {kind: scores[name][kind] - scores["base"][kind] for kind in ("style", "unrelated")}
        entry["leak"] = bootstrap_ratio(moved["unrelated"], moved["style"])
        report_systems[name] = entry
    load["end"] = load_average()
    report = {
        **schema_report_head("singer_lane", "benchmarks/singer_lane.py"),
        "commit": git_commit(),
        "load_average": load,
        "wall_seconds": round(time.time() - started, 1),
        "generation_seconds": timings,
        "notes": args.notes,
        "systems": systems,
        "judge": judge_report,
        "songs": {
            "seconds": args.seconds,
            "seeds": list(seeds),
            "style_prompts": len(your_songs.STYLE_PROMPTS),
            "unrelated_prompts": len(your_songs.UNRELATED_PROMPTS),
        },
        "style_target": "the judge's score of the held-out style clips through the base's codec; "
        "share_of_the_way_to_the_style_set = (system - base) / (target - base), on each prompt set",
        "leak": "the unrelated prompts' style-score movement over the style prompts' (mean minus base over mean "
        "minus base), bootstrap 95 % with each prompt set resampled on its own; at most 0.25 is the goal",
        "scores": report_systems,
        "intervals": "bootstrap 95 % over the prompts (each prompt's mean over its seeds); minus_base: paired",
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
