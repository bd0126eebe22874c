"""Means, correlations and their bootstrap confidence intervals over prompts.

Intervals are percentile bootstraps over prompts with a fixed seed, so the same rows always
give the same interval.  Undefined values (``None``/NaN, e.g. a key on a silent clip is scored
but a relative error without syllables is not) are left out and counted in ``n``.
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP_SEED = 0
DEFAULT_RESAMPLES = 1000


def _finite(values) -> np.ndarray:
    array = np.asarray([np.nan if value is None else value for value in values], dtype=np.float64)
    return array[np.isfinite(array)]


def pearson(x, y) -> float | None:
    """Pearson correlation, ``None`` when either side is constant or fewer than 2 pairs."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def mean_with_ci(values, num_resamples: int = DEFAULT_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """``{"mean", "ci95": [low, high], "n"}`` of the defined values (all ``None`` when there are none)."""
    data = _finite(values)
    if len(data) == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    rng = np.random.default_rng(seed)
    resampled = data[rng.integers(0, len(data), size=(num_resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"mean": float(data.mean()), "ci95": [float(low), float(high)], "n": int(len(data))}


def pearson_with_ci(x, y, num_resamples: int = DEFAULT_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Correlation of the pairs where both sides are defined, with a pair-resampling bootstrap."""
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and np.isfinite(a) and np.isfinite(b)]
    if not pairs:
        return {"mean": None, "ci95": [None, None], "n": 0}
    xs, ys = (np.asarray(side, dtype=np.float64) for side in zip(*pairs))
    value = pearson(xs, ys)
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(num_resamples):
        index = rng.integers(0, len(xs), size=len(xs))
        sample = pearson(xs[index], ys[index])
        if sample is not None:
            resampled.append(sample)
    if value is None or not resampled:
        return {"mean": value, "ci95": [None, None], "n": len(xs)}
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"mean": value, "ci95": [float(low), float(high)], "n": len(xs)}


__all__ = ["BOOTSTRAP_SEED", "DEFAULT_RESAMPLES", "mean_with_ci", "pearson", "pearson_with_ci"]
