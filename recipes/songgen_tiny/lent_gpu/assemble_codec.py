"""Here: a codec folder from a decoder that train_codec.sh brought back and the codec its run started from.

    python assemble_codec.py START_CODEC_FOLDER decA_STEP.safetensors OUT_FOLDER

The run trained only the decoder side (fc2 + acoustic decoder) and checkpointed it with weight norm applied
(each conv's weight as magnitude and direction), so the start codec gets the same parametrization, takes the
trained tensors (float16 on the way back), and folds them into plain weights before it is saved, as the trainer
does when it writes `final/`.  Every other tensor, and the config, are the start codec's."""
import sys

import torch
from safetensors.torch import load_file

from songgen_hf import XCodecModel

start, decoder, out = sys.argv[1:4]
model = XCodecModel.from_pretrained(start, dtype=torch.float32)
model.apply_weight_norm(include_encoder=False)
trained = load_file(decoder)
assert all(k.startswith(("fc2.", "acoustic_decoder.")) for k in trained), "only the decoder side travels back"
state = model.state_dict()
unknown = set(trained) - set(state)
assert not unknown, f"tensors the start codec lacks: {sorted(unknown)[:5]}"
untouched = [k for k in state if k.startswith(("fc2.", "acoustic_decoder.")) and k not in trained]
assert not untouched, f"decoder tensors missing from {decoder}: {untouched[:5]}"
model.load_state_dict({k: v.float() for k, v in trained.items()}, strict=False)
model.remove_weight_norm()
model.save_pretrained(out)
print(out, len(trained), "decoder tensors from", decoder)
