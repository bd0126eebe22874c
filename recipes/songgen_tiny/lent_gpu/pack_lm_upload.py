"""Here: the LM shard a lent-GPU run starts from, its matrices in int8 (lm_int8.py), into ``upload/lm/``.

    python pack_lm_upload.py [RELEASE_FOLDER] [UPLOAD]

train_two_runs.sh starts from it when it is there (and the tree's own shard need not travel)."""
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from lm_int8 import dequantize, quantize
from songgen_hf.conversion.embedded_layout import MODEL_SHARD

here = Path(__file__).resolve().parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2] / "songgen_hf" / "assets" / "songgen-tiny"
out = (Path(sys.argv[2]) if len(sys.argv) > 2 else here / "upload") / "lm"
out.mkdir(parents=True, exist_ok=True)
state = load_file(str(src / MODEL_SHARD))
packed = quantize(state)
save_file(packed, str(out / MODEL_SHARD), metadata={"format": "pt"})
worst = max(float((dequantize(packed)[k].float() - v.float()).abs().max() / v.float().abs().max().clamp_min(1e-8))
            for k, v in state.items() if v.is_floating_point())
print(out / MODEL_SHARD, (out / MODEL_SHARD).stat().st_size, "bytes; worst error relative to a tensor's absmax", worst)
