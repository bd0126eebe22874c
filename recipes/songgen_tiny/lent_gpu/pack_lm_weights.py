"""On the GPU machine: a trained run's final weights without codec and vocal heads, float16, in <= 15 MiB parts."""
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from songgen_hf.conversion.embedded_layout import CODEC_PREFIX

final, out, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
state = load_file(final / "model.safetensors")
keep = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in state.items()
        if not k.startswith(CODEC_PREFIX) and not k.startswith("decoder.vocal_lm_heads.")}
tmp = Path("/tmp") / f"{tag}.safetensors"
save_file(keep, str(tmp))
data = tmp.read_bytes()
part = 15 * 2**20
for i in range(0, len(data), part):
    (out / f"{tag}.part{i // part}").write_bytes(data[i:i + part])
shutil.copy(final / "config.json", out / f"{tag}_config.json")
print(tag, len(keep), "tensors", len(data), "bytes")
