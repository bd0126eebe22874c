"""Folding FFT bins onto pitch classes: shared by the weight-free teacher's chroma and the pitch-class loss.

Each bin inside the band goes, whole, to the class of its nearest tempered pitch.  A 0/1 matrix rather
than soft triangular weights keeps the features interpretable (a pure tone lands in exactly one class)
and is enough once the window is long enough for neighbouring semitones to fall in different bins.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["pitch_class_filters"]

A4_HZ = 440.0


def pitch_class_filters(
    n_fft: int,
    sampling_rate: int,
    min_frequency: float,
    max_frequency: float,
    num_classes: int = 12,
    reference_hz: float = A4_HZ,
) -> torch.Tensor:
    """``(n_fft // 2 + 1, num_classes)`` 0/1 matrix sending each bin in ``[min_frequency, max_frequency]``
    to its nearest pitch class; class 0 holds ``reference_hz`` (A4 by default, ``440 * 2 ** (-9 / 12)``
    makes it C).  ``num_classes`` 24 or 36 splits each semitone in two or three."""
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    filters = np.zeros((frequencies.shape[0], num_classes), dtype=np.float32)
    inside = np.nonzero((frequencies >= min_frequency) & (frequencies <= max_frequency))[0]
    nearest = np.round(num_classes * np.log2(frequencies[inside] / reference_hz)).astype(int)
    filters[inside, nearest % num_classes] = 1.0
    return torch.from_numpy(filters)


C_HZ = A4_HZ * math.pow(2.0, -9 / 12)
"""A pitch of class C (C4), for filters that put C first as key profiles do."""
