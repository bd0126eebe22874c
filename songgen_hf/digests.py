"""SHA-256 digests of files and of tensors' bytes: what caches and checksums in the package compare."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, block_size: int = 1 << 22) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (a checkpoint never has to fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict_sha256(state_dict: dict, digest=None) -> str:
    """The hex SHA-256 of a state dict's names and raw tensor bytes (dtype-exact: a cast changes it)."""
    import torch

    digest = digest or hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


__all__ = ["file_sha256", "state_dict_sha256"]
