"""SHA-256 digests of files and of tensors' bytes: what caches and checksums in the package compare."""

from __future__ import annotations

import hashlib

from songgen_hf.utils.atomic import file_sha256  # its home: the proofs of ownership are made of it


def state_dict_sha256(state_dict: dict, digest=None) -> str:
    """The hex SHA-256 of a state dict's names and raw tensor bytes (dtype-exact: a cast changes it)."""
    import torch

    digest = digest or hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


__all__ = ["file_sha256", "state_dict_sha256"]
