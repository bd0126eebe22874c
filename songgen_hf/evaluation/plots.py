"""The report's figures (matplotlib, Agg backend: no display needed).

Colours and order follow :data:`~songgen_hf.evaluation.systems.SYSTEMS` so every figure reads
the same way.  Jitter in the strip plot comes from a fixed seed: reruns give identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from songgen_hf.evaluation.systems import SYSTEMS
from songgen_hf.utils.atomic import atomic_file

ACCURACY_METRICS = (
    ("tempo_acc1", "tempo Acc1"),
    ("tempo_acc2", "tempo Acc2"),
    ("key_exact", "key exact"),
    ("key_mirex", "key MIREX"),
    ("vocals_agree", "vocals as asked"),
    ("drums_agree", "drums as asked"),
)
_COLOURS = ("#4c4c4c", "#9a9a9a", "#1f77b4", "#ff7f0e", "#d62728")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


def plot_tempo_error(result: dict, path: Path) -> Path:
    """Absolute tempo error per prompt, one box and strip per system."""
    plt = _pyplot()
    systems = [name for name in SYSTEMS if name in result["aggregate"]]
    values = [
        [
            row["systems"][name]["tempo_abs_error_bpm"]
            for row in result["rows"]
            if row["systems"][name]["tempo_abs_error_bpm"] is not None
        ]
        for name in systems
    ]
    rng = np.random.default_rng(0)
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    axis.boxplot(values, showfliers=False, widths=0.5)
    axis.set_xticks(range(1, len(systems) + 1), [name.replace("_", "\n") for name in systems])
    for position, (points, colour) in enumerate(zip(values, _COLOURS), 1):
        axis.scatter(position + rng.uniform(-0.15, 0.15, len(points)), points, s=12, alpha=0.7, color=colour)
    axis.set_ylabel("|estimated - asked| tempo (BPM)")
    axis.set_title("Tempo error per prompt (lower is better)")
    axis.grid(axis="y", alpha=0.3)
    _save(figure, path)
    plt.close(figure)
    return path


def plot_accuracies(result: dict, path: Path) -> Path:
    """Mean accuracy-type scores per system with their bootstrap 95 % intervals."""
    plt = _pyplot()
    systems = [name for name in SYSTEMS if name in result["aggregate"]]
    width = 0.8 / len(systems)
    figure, axis = plt.subplots(figsize=(9, 3.8))
    positions = np.arange(len(ACCURACY_METRICS))
    for offset, (system, colour) in enumerate(zip(systems, _COLOURS)):
        stats = [result["aggregate"][system].get(metric, {}) for metric, _ in ACCURACY_METRICS]
        means = np.array([np.nan if s.get("mean") is None else s["mean"] for s in stats])
        low = np.array([np.nan if s.get("ci95", [None])[0] is None else s["ci95"][0] for s in stats])
        high = np.array([np.nan if s.get("ci95", [None, None])[1] is None else s["ci95"][1] for s in stats])
        errors = np.nan_to_num(np.vstack([means - low, high - means]), nan=0.0).clip(min=0.0)
        axis.bar(
            positions + (offset - (len(systems) - 1) / 2) * width,
            np.nan_to_num(means),
            width,
            yerr=errors,
            capsize=2,
            label=system,
            color=colour,
        )
    axis.set_xticks(positions, [label for _, label in ACCURACY_METRICS])
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("mean over prompts")
    axis.set_title("Controllability scores with bootstrap 95 % CI (higher is better)")
    axis.legend(fontsize=8, ncols=len(systems), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    axis.grid(axis="y", alpha=0.3)
    _save(figure, path)
    plt.close(figure)
    return path


def plot_codec_spectrograms(
    clean: np.ndarray,
    round_trips: dict[str, np.ndarray],
    sampling_rate: int,
    path: Path,
    title: str,
    max_seconds: float = 8.0,
    others: dict[str, np.ndarray] | None = None,
) -> Path:
    """A clean clip above each codec's round trip of it: STFT power in dB on one colour scale.

    64 ms windows (1024 samples at 16 kHz) hopped by 10 ms resolve partials, vocal formant sweeps
    and drum onsets, and a comb at a 50 Hz frame rate shows as horizontal lines 50 Hz apart.
    ``others`` (title -> audio) adds panels below, such as songs generated from the clip's prompt,
    on the same scale as the clean clip so that their level compares too."""
    from songgen_hf.evaluation.metrics import stft_power

    plt = _pyplot()
    n_fft, hop = 1024 * sampling_rate // 16000, sampling_rate // 100
    samples = round(max_seconds * sampling_rate)
    panels = {
        "clean": clean,
        **{f"{label} round trip": audio for label, audio in round_trips.items()},
        **(others or {}),
    }
    spectra = {
        name: 10.0 * np.log10(stft_power(np.asarray(audio[:samples], dtype=np.float64), n_fft, hop) + 1e-10)
        for name, audio in panels.items()
    }
    top = float(spectra["clean"].max())
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 2.3 * len(panels)), sharex=True, sharey=True, squeeze=False)
    for axis, (name, decibels) in zip(axes[:, 0], spectra.items()):
        image = axis.imshow(
            decibels.T,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 80,
            vmax=top,
            extent=(0, decibels.shape[0] * hop / sampling_rate, 0, sampling_rate / 2000),
        )
        axis.set_title(name, fontsize=9, loc="left")
        axis.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("seconds")
    figure.colorbar(image, ax=axes[:, 0].tolist(), label="dB (clean peak = top)", shrink=0.8)
    figure.suptitle(title, fontsize=10)
    _save(figure, path)
    plt.close(figure)
    return path


def write_plots(result: dict, folder: Path) -> dict[str, Path]:
    """Both figures in ``folder``; ``{}`` (and the reason logged by the caller) without matplotlib."""
    try:
        _pyplot()
    except ImportError:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "tempo_error": plot_tempo_error(result, folder / "tempo_error.png"),
        "accuracy": plot_accuracies(result, folder / "accuracy.png"),
    }


__all__ = ["ACCURACY_METRICS", "plot_accuracies", "plot_codec_spectrograms", "plot_tempo_error", "write_plots"]
