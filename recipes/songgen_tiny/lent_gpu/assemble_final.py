"""Here: a trained run's final folder from the packed LM weights (pack_lm_weights.py) and the shipped codec shard.

    python assemble_final.py FOLDER_OF_PARTS TAG RUN/final
"""
import shutil, sys
from pathlib import Path
from safetensors.torch import load, load_file, save_file
from songgen_hf.conversion.embedded_layout import CODEC_SHARD

from lm_int8 import dequantize  # parts packed with int8 matrices come back as float32

src, tag, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
assets = Path(__file__).resolve().parents[3] / "songgen_hf" / "assets" / "songgen-tiny"
parts = sorted(src.glob(f"{tag}.part*"), key=lambda p: int(p.suffix[5:]))
lm = dequantize(load(b"".join(p.read_bytes() for p in parts)))
codec = load_file(str(assets / CODEC_SHARD))
assert not set(lm) & set(codec)
state = {k: v.float() if v.is_floating_point() else v for k, v in {**lm, **codec}.items()}
out.mkdir(parents=True, exist_ok=True)
save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
shutil.copy(src / f"{tag}_config.json", out / "config.json")
for name in ("generation_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"):
    shutil.copy(assets / name, out / name)
print(out, len(lm), "LM tensors +", len(codec), "codec tensors")
