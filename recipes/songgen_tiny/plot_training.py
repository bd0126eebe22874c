"""Training curves of the embedded default model: copies both runs' logs and plots them.

    python recipes/songgen_tiny/plot_training.py --codec RUN/codec --songgen RUN/songgen --output docs/songgen_tiny \
        [--codec-stage2 RUN/codec_v2b [RUN/codec_v2c ...]] [--songgen-stage2 RUN/songgen_stage2]

Writes ``codec_train_log.jsonl``, ``songgen_train_log.jsonl`` and ``training_curves.png``; follow-up
runs (the codec's later stages or decoder fine-tunes, SongGen's stage 2) are copied beside them
(``codec_stage2_…``, ``codec_stage3_…``) and drawn after the run each continues, steps counted on.  The
SongGen panel plots the unweighted mean of the per-codebook losses: the logged ``loss`` uses the
curriculum's moving codebook weights, so its slope mixes learning with re-weighting.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

LOG_FILE = "train_log.jsonl"


def read_log(run: Path) -> list[dict]:
    path = run / LOG_FILE
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; pass the run's output_dir.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def series(records: list[dict], key: str, transform=lambda value: value) -> tuple[list[int], list[float]]:
    # A resumed run re-logs steps after its checkpoint; the last record of a step wins.
    points = {r["step"]: transform(r[key]) for r in records if key in r and "step" in r}
    steps = sorted(points)
    return steps, [points[s] for s in steps]


def continue_log(first: list[dict], second: list[dict]) -> list[dict]:
    """``second``'s records with steps counted on from ``first``'s last step."""
    offset = max((r["step"] for r in first if "step" in r), default=0)
    return first + [{**r, "step": r["step"] + offset} for r in second if "step" in r]


def plot(codec: list[dict], songgen: list[dict], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(*series(codec, "reconstruction"), label="reconstruction (MR-STFT)")
    axes[0].plot(*series(codec, "eval_mel_distance"), "o-", label="held-out mel distance")
    axes[0].set_title("X-Codec")
    axes[1].plot(*series(songgen, "codebook_losses", lambda v: sum(v) / len(v)), label="mean codebook CE")
    vocal_steps, vocal_losses = series(songgen, "vocal_loss")
    if vocal_steps:  # mixed pro's auxiliary vocal target; a multi-stream model has none
        axes[1].plot(vocal_steps, vocal_losses, label="vocal CE (mixed pro)")
    axes[1].set_title("SongGen")
    steps, losses = series(songgen, "codebook_losses")
    for index in range(len(losses[0]) if losses else 0):
        # a multi-stream model logs S x 8 rows: stream s's codebook q is row s * 8 + q
        axes[2].plot(steps, [row[index] for row in losses], label=f"row {index + 1}")
    axes[2].set_title("SongGen, per codebook")
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", required=True, type=Path)
    parser.add_argument("--songgen", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument(
        "--codec-stage2", "--codec-decoder", dest="codec_stages", type=Path, nargs="+", default=[],
        help="the codec runs that continued --codec, in order (codec_v2b.yaml, codec_v2c.yaml, ...)",
    )
    parser.add_argument("--songgen-stage2", type=Path, help="the SongGen run that continued --songgen")
    args = parser.parse_args()
    codec, songgen = read_log(args.codec), read_log(args.songgen)
    args.output.mkdir(parents=True, exist_ok=True)
    copies = {"codec": args.codec, "songgen": args.songgen, "songgen_stage2": args.songgen_stage2}
    copies.update({f"codec_stage{index}": run for index, run in enumerate(args.codec_stages, start=2)})
    for name, run in copies.items():
        if run is not None:
            shutil.copyfile(run / LOG_FILE, args.output / f"{name}_train_log.jsonl")
    for run in args.codec_stages:
        codec = continue_log(codec, read_log(run))
    if args.songgen_stage2:
        songgen = continue_log(songgen, read_log(args.songgen_stage2))
    plot(codec, songgen, args.output / "training_curves.png")
    print(f"wrote {args.output / 'training_curves.png'}")


if __name__ == "__main__":
    main()
