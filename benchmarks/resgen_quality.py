"""ResGen's quality against its number of passes, beside the autoregressive model.

Reads ``evaluation.json`` files written by ``songgen evaluate`` on the same held-out prompts: one per
ResGen pass count (``--steps`` in each run's settings) and one of the autoregressive model, and writes
a JSON summary (guided means with their 95 % intervals, and whether each ResGen figure lies inside the
autoregressive interval, or within 0.1 for vocals and drums) and a figure.

    python benchmarks/resgen_quality.py --resgen runs/eval_resgen_s*/evaluation.json \
        --autoregressive runs/eval_ar/evaluation.json --json docs/benchmarks/resgen_quality.json \
        --figure docs/evaluation/resgen_steps_quality.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = (
    ("tempo_acc1", "tempo Acc1", "interval"),
    ("key_exact", "key exact", "interval"),
    ("vocals_agree", "vocals as asked", 0.1),
    ("drums_agree", "drums as asked", 0.1),
)


def _guided(result: dict, metric: str) -> dict:
    value = result["aggregate"]["guided"].get(metric) or {}
    return {"mean": value.get("mean"), "ci95": value.get("ci95")}


def summarise(resgen: list[dict], autoregressive: dict) -> dict:
    reference = {metric: _guided(autoregressive, metric) for metric, _, _ in METRICS}
    rows = []
    for result in sorted(resgen, key=lambda r: r["settings"]["sampling"]["num_inference_steps"]):
        row = {
            "steps": result["settings"]["sampling"]["num_inference_steps"],
            "guided_generation_s": result["timing"]["guided_generation_s"],
        }
        for metric, _, rule in METRICS:
            ours, theirs = _guided(result, metric), reference[metric]
            if ours["mean"] is None or theirs["mean"] is None:
                within = None
            elif rule == "interval":
                low, high = theirs["ci95"]
                within = low <= ours["mean"] <= high
            else:
                within = abs(ours["mean"] - theirs["mean"]) <= rule
            row[metric] = {**ours, "meets_target": within}
        rows.append(row)
    return {
        "autoregressive": {**reference, "guided_generation_s": autoregressive["timing"]["guided_generation_s"]},
        "resgen": rows,
        "prompts": autoregressive["settings"]["num_prompts_evaluated"],
    }


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.2), sharex=True)
    steps = [row["steps"] for row in summary["resgen"]]
    for axis, (metric, label, _) in zip(axes, METRICS):
        means = [row[metric]["mean"] for row in summary["resgen"]]
        lows = [row[metric]["mean"] - row[metric]["ci95"][0] for row in summary["resgen"]]
        highs = [row[metric]["ci95"][1] - row[metric]["mean"] for row in summary["resgen"]]
        axis.errorbar(steps, means, yerr=[lows, highs], marker="o", capsize=3, label="ResGen (guided)")
        reference = summary["autoregressive"][metric]
        axis.axhline(reference["mean"], color="tab:orange", label="autoregressive (guided)")
        axis.axhspan(*reference["ci95"], color="tab:orange", alpha=0.15)
        axis.set_xscale("log", base=2)
        axis.set_xticks(steps, [str(s) for s in steps])
        axis.set_ylim(-0.05, 1.05)
        axis.set_title(label)
        axis.set_xlabel("passes")
    axes[0].legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resgen", nargs="+", required=True, help="evaluation.json of ResGen runs (--steps each)")
    parser.add_argument("--autoregressive", required=True, help="evaluation.json of the autoregressive model")
    parser.add_argument("--json", required=True)
    parser.add_argument("--figure", default=None)
    args = parser.parse_args(argv)
    resgen = [json.loads(Path(path).read_text()) for path in args.resgen]
    missing = [
        path
        for path, result in zip(args.resgen, resgen)
        if result["settings"]["sampling"].get("num_inference_steps") is None
    ]
    if missing:
        parser.error(f"{missing} were not ResGen runs with --steps")
    summary = summarise(resgen, json.loads(Path(args.autoregressive).read_text()))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(args.json, json.dumps(summary, indent=2) + "\n")
    if args.figure:
        plot(summary, Path(args.figure))
    for row in summary["resgen"]:
        cells = ", ".join(f"{label} {row[metric]['mean']:.2f}" for metric, label, _ in METRICS)
        print(f"S={row['steps']}: {cells}")
    return summary


if __name__ == "__main__":
    main()
