"""On the GPU machine: a trained run's final weights without codec and vocal heads, float16, in <= 15 MiB parts.

    python3 pack_lm_weights.py RUN/final OUT TAG [int8]

``int8``: matrices as lm_int8.py stores them, half the size, for when two dual-track models (48.7 MB each in
float16) must come back within the return limit (64 MiB in all, 8 files)."""
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from songgen_hf.conversion.embedded_layout import CODEC_PREFIX

from lm_int8 import quantize

final, out, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
state = load_file(final / "model.safetensors")
keep = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in state.items()
        if not k.startswith(CODEC_PREFIX) and not k.startswith("decoder.vocal_lm_heads.")}
if sys.argv[4:] == ["int8"]:
    keep = quantize(keep)
tmp = Path("/tmp") / f"{tag}.safetensors"
save_file(keep, str(tmp))
data = tmp.read_bytes()
part = 15 * 2**20
for i in range(0, len(data), part):
    (out / f"{tag}.part{i // part}").write_bytes(data[i:i + part])
shutil.copy(final / "config.json", out / f"{tag}_config.json")
print(tag, len(keep), "tensors", len(data), "bytes")
