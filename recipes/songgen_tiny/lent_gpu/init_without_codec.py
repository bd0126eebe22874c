"""On the GPU machine: a trainable copy of the embedded default whose codec weights are random.

Only the LM shard travels (the codec shard would not fit the upload); training reads pre-encoded
codes, so the frozen codec is never run.  pack_lm_weights.py drops the codec again before anything returns.
A shard written by pack_lm_upload.py (matrices in int8) is dequantized first."""
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file

from lm_int8 import dequantize
from songgen_hf import SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.conversion.embedded_layout import CODEC_PREFIX, MODEL_SHARD

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
config = SongGenConfig.from_pretrained(src)
model = SongGenForConditionalGeneration(config)
missing, unexpected = model.load_state_dict(dequantize(load_file(src / MODEL_SHARD)), strict=False)
assert not unexpected, unexpected
assert missing and all(k.startswith(CODEC_PREFIX) for k in missing), [k for k in missing if not k.startswith(CODEC_PREFIX)]
model.save_pretrained(dst)
for name in ("generation_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"):
    shutil.copy(src / name, dst / name)
print("init ready:", dst, len(missing), "codec tensors random")
