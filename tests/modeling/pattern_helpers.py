"""Shared by the token-pattern tests: the spec's layout notation, random tracks, builders."""

import torch
from hypothesis import HealthCheck, settings

from songgen_hf.modeling.patterns import (
    FREE,
    available_token_patterns,
)

CODEBOOK_SIZE, PAD, BOS = 1024, 1024, 1025
ALL_PATTERNS = available_token_patterns()
DUAL_TRACK = ("parallel_std", "parallel_A_V", "parallel_V_A", "interleaving_A_V", "interleaving_V_A")
MULTI_STREAM = ("mixed_stream2", "mixed_stream4", "mixed_pro_stream2", "parallel_stream2")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- helpers
def spec_codes(track: str, k: int = 4, t: int = 3) -> torch.Tensor:
    """(1, K, T) codes; accompaniment/mix 100 + 10k + t, vocals 500 + 10k + t."""
    base = 500 if track == "vocals" else 100
    grid = base + 10 * torch.arange(k)[:, None] + torch.arange(t)[None, :]
    return grid[None]


def parse_layout(text: str, k: int = 4) -> torch.Tensor:
    """Spec drawing → ids: a/b/c = first-listed track frame 0/1/2, x/y/z = vocals, B, E, '.' free."""
    rows = []
    for r, line in enumerate(line for line in text.splitlines() if line.strip()):
        row = []
        for cell in line.split():
            if cell == "B":
                row.append(BOS)
            elif cell == "E":
                row.append(PAD)
            elif cell == ".":
                row.append(FREE)
            elif cell in "abc":
                row.append(100 + 10 * (r % k) + "abc".index(cell))
            elif cell in "xyz":
                row.append(500 + 10 * (r % k) + "xyz".index(cell))
            else:
                raise AssertionError(cell)
        rows.append(row)
    return torch.tensor(rows)[None]


def tracks_for(pattern, codes: dict) -> tuple:
    return tuple(codes[name] for name in pattern.track_names + pattern.auxiliary_track_names)


def random_tracks(pattern, batch, frames, seed):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, pattern.num_codebooks, frames)
    return {name: torch.randint(0, CODEBOOK_SIZE, shape, generator=gen) for name in pattern.track_names}


def build(pattern, codes, frame_lengths=None):
    if pattern.has_auxiliary_vocal_targets:
        return pattern.build_labels(codes["mix"], codes["mix"].flip(-1), frame_lengths=frame_lengths)
    return pattern.build_labels(codes, frame_lengths=frame_lengths)


def is_code(ids):
    return (ids >= 0) & (ids < CODEBOOK_SIZE)


def whole_steps(pattern, frames: int) -> int:
    """``frames`` rounded up to whole decoding steps (a multiple of S for multi-stream patterns)."""
    step = pattern.frames_per_step
    return -(-frames // step) * step
