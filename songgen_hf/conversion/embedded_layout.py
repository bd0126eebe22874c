"""Embedded models that share one codec: a sharded checkpoint whose codec shard is stored once.

Every embedded songgen-tiny variant is trained on the same frozen X-Codec, about 21 of each model's
~50 MB, so shipping every folder whole would spend the wheel's weight budget on copies.  The
embedded folders are ordinary *sharded* safetensors checkpoints instead (an index,
``model.safetensors.index.json``, mapping each tensor to its shard: the format transformers writes
for large models).  Each folder holds its own ``songgen.safetensors`` (everything but the codec);
the default's folder also holds ``codec.safetensors``, and the other indexes map their
``audio_encoder.*`` tensors to it by a relative name, ``../songgen-tiny/codec.safetensors``.
transformers joins shard names to the folder's path, so the relative name loads offline like any
shard; every shard holds exactly the tensors its index maps to it, so no loader can read a tensor
from the wrong model.  A folder copied out of the install loses the shared shard, which
``songgen_hf.modeling.limits`` names; ``save_pretrained`` of a loaded model writes a
self-contained folder again.

    python -m songgen_hf.conversion.embedded_layout songgen_hf/assets/songgen-tiny
    python -m songgen_hf.conversion.embedded_layout songgen_hf/assets/ANOTHER \\
        --codec-from songgen_hf/assets/songgen-tiny

(Until v12 the single-stream option ``songgen-tiny-stream1`` shared the default's codec shard this way; the
dual-track v12 ships alone, its codec in its own folder's shard.)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from songgen_hf.utils.atomic import atomic_file, write_text_atomic

CODEC_PREFIX = "audio_encoder."
CODEC_SHARD = "codec.safetensors"
MODEL_SHARD = "songgen.safetensors"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def split_codec_shard(folder: str | os.PathLike, codec_from: str | os.PathLike | None = None) -> dict:
    """Rewrite the SongGen ``folder`` (one ``model.safetensors``) in the shared-codec layout.

    Without ``codec_from`` the codec shard is written into ``folder``.  With it, ``codec_from`` is a
    folder already in this layout whose codec shard must hold bit-identical tensors (a model trained
    on another codec cannot share it: ``ValueError``); the index then names that shard relatively.
    The shards and the index are written first and ``model.safetensors`` removed last, so an
    interrupted run leaves a folder that still loads.  Returns what was written, in bytes.
    """
    import torch
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    single = folder / SINGLE_FILE
    if not single.is_file():
        raise ValueError(f"{folder} has no {SINGLE_FILE} to split (already split, or not a model folder).")
    tensors = load_file(str(single))
    codec = {name: tensor for name, tensor in tensors.items() if name.startswith(CODEC_PREFIX)}
    rest = {name: tensor for name, tensor in tensors.items() if not name.startswith(CODEC_PREFIX)}
    if not codec:
        raise ValueError(f"{folder}: no {CODEC_PREFIX}* tensors; only a SongGen folder with its codec can be split.")
    if codec_from is None:
        codec_name = CODEC_SHARD
        with atomic_file(folder / CODEC_SHARD) as temporary:
            save_file(codec, str(temporary), metadata={"format": "pt"})
    else:
        shared = Path(codec_from) / CODEC_SHARD
        if not shared.is_file():
            raise ValueError(f"--codec-from {codec_from}: no {CODEC_SHARD}; split that folder first.")
        theirs = load_file(str(shared))
        differing = sorted(
            name
            for name in codec.keys() | theirs.keys()
            if name not in theirs or name not in codec or not torch.equal(codec[name], theirs[name])
        )
        if differing:
            raise ValueError(
                f"{folder}'s codec differs from {codec_from}'s in {len(differing)} tensors (e.g. {differing[0]}); "
                "only models trained on the same codec can share it. Split it without --codec-from."
            )
        codec_name = Path(os.path.relpath(shared, folder)).as_posix()
    with atomic_file(folder / MODEL_SHARD) as temporary:
        save_file(rest, str(temporary), metadata={"format": "pt"})
    weight_map = {name: MODEL_SHARD for name in rest} | {name: codec_name for name in codec}
    total = sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_text_atomic(folder / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    single.unlink()
    written = {MODEL_SHARD: (folder / MODEL_SHARD).stat().st_size}
    if codec_from is None:
        written[CODEC_SHARD] = (folder / CODEC_SHARD).stat().st_size
    return {"folder": str(folder), "codec_shard": codec_name, "bytes_written": written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m songgen_hf.conversion.embedded_layout",
        description="Rewrite a SongGen folder as a sharded checkpoint whose codec shard can be shared.",
    )
    parser.add_argument("folder", help="SongGen folder holding one model.safetensors")
    parser.add_argument("--codec-from", help="a folder already split whose codec shard this model shares")
    args = parser.parse_args(argv)
    try:
        summary = split_codec_shard(args.folder, args.codec_from)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CODEC_SHARD", "INDEX_FILE", "MODEL_SHARD", "split_codec_shard"]
