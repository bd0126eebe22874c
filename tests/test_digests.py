"""The package's SHA-256 helpers: block-wise file digests and dtype-exact state dict digests."""

import hashlib

import torch

from songgen_hf.utils.digests import file_sha256, state_dict_sha256


def test_file_digest_reads_in_blocks_and_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 50_000  # larger than several blocks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path, block_size=4096) == file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_state_dict_digest_sees_names_values_and_dtypes():
    weights = {"a.weight": torch.arange(6.0).view(2, 3), "b.bias": torch.ones(3)}
    digest = state_dict_sha256(weights)
    assert state_dict_sha256(dict(reversed(list(weights.items())))) == digest  # order of the dict does not matter
    assert state_dict_sha256({**weights, "b.bias": torch.ones(3).double()}) != digest
    assert state_dict_sha256({"c.weight": weights["a.weight"], "b.bias": weights["b.bias"]}) != digest
    changed = weights["a.weight"].clone()
    changed[1, 2] += 1e-6
    assert state_dict_sha256({**weights, "a.weight": changed}) != digest
    assert (
        state_dict_sha256({**weights, "a.weight": weights["a.weight"].t().contiguous().t()}) == digest
    )  # values, not strides
