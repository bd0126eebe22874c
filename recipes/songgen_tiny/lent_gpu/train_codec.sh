#!/bin/bash
# Runs on the lent GPU machine (session 37, #19): two continuations of codec v8's decoder side by side on one GPU,
# each against its own period discriminator, on excerpts of corpus v3's training stems.
# The upload (recipes/songgen_tiny/lent_gpu/upload/, ignored by git; README.md beside this file):
#   site.tar.xz   this venv's transformers, diffusers and dill (pure Python; the machine's transformers is older)
#   whl/          Python 3.12 wheels of soundfile, soxr, cffi, pycparser
#   codec/        the codec to start from (config.json + float16 model.safetensors)
#   excerpts/     FLAC excerpts of each training clip's stems; the mix (their sum) is written here, since the
#                 corpus mix is exactly vocals + accompaniment
# SET_A / SET_B: each run's own overrides of codec_v8.yaml (no spaces inside one override).
# Every checkpoint is kept; the decoder side (fc2 + acoustic decoder) of up to KEEP of them per run comes back as
# float16 in $OUT, with the logs.  Here: recipes/songgen_tiny/lent_gpu/assemble_codec.py makes a codec folder of one.
set -x
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
REPO=$PWD; T0=$(date +%s); UP=$REPO/recipes/songgen_tiny/lent_gpu/upload
STEPS=${STEPS:-100000}; TRAIN_S=${TRAIN_S:-420}; SAVE=${SAVE:-500}; KEEP=${KEEP:-3}; BATCH=${BATCH:-64}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
declare -A SETS=([A]="${SET_A-}" [B]="${SET_B-period_discriminator_channels=256}")
mkdir -p /tmp/site /tmp/pkg/songgen_hf /tmp/data
tar xJf "$UP/site.tar.xz" -C /tmp || exit 3
[ -n "$SKIP_PIP" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$UP"/whl/*.whl || exit 3
for f in songgen_hf/*; do ln -sfn "$REPO/$f" /tmp/pkg/songgen_hf/; done
ln -sfn "$REPO/modeling" /tmp/pkg/songgen_hf/modeling; ln -sfn "$REPO/pipelines" /tmp/pkg/songgen_hf/pipelines
export PYTHONPATH=/tmp/pkg:/tmp/site
python3 - "$UP/excerpts" /tmp/data/train <<'EOF' || exit 5
import json, sys, numpy as np, soundfile as sf
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2]); dst.mkdir(parents=True, exist_ok=True)
for rec in json.loads((src / "excerpts.json").read_text()):
    stems = {k: sf.read(src / rec[k], dtype="int16")[0].astype(np.int32) for k in ("vocals", "accompaniment") if k in rec}
    for name, x in stems.items():
        (dst / rec[name]).symlink_to(src / rec[name])
    mix = np.clip(sum(stems.values()), -32768, 32767).astype(np.int16)
    sf.write(dst / f"{rec['id']}_mix.wav", mix, 16000, subtype="PCM_16")
print(len(list(dst.iterdir())), "training files")
EOF
cd /tmp
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
python3 -c "import torch, transformers, songgen_hf.modeling; print(torch.__version__, transformers.__version__, torch.cuda.is_available())" || exit 4
echo "setup took $(( $(date +%s) - T0 )) s"
common="init_from=$UP/codec train_data=/tmp/data/train max_steps=$STEPS batch_size=$BATCH save_steps=$SAVE log_steps=50 eval_steps=1000000 num_workers=4 checkpoints_total_limit=null"
for r in A B; do
  timeout -s TERM $TRAIN_S python3 -m songgen_hf.cli codec train $REPO/recipes/songgen_tiny/codec_v8.yaml --set $common ${SETS[$r]} output_dir=/tmp/run$r > /tmp/train$r.log 2>&1 &
done
sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; tail -c 800 /tmp/trainA.log
wait
python3 - /tmp "$OUT" "$KEEP" <<'EOF'
import json, sys, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
tmp, out, keep = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for run in ("A", "B"):
    ckpts = sorted((tmp / f"run{run}" / "checkpoints").glob("checkpoint_*"), key=lambda p: int(p.name.split("_")[1]))
    if not ckpts:
        print(run, "no checkpoint"); continue
    picks = sorted({ckpts[round(i * (len(ckpts) - 1) / max(1, keep - 1))] for i in range(keep)}, key=lambda p: int(p.name.split("_")[1]))
    for ck in picks:
        step = json.loads((ck / "checkpoint.json").read_text())["counter"]["step"]
        state = load_file(ck / "model.safetensors")
        dec = {k: v.to(torch.float16).contiguous() for k, v in state.items() if k.startswith(("fc2.", "acoustic_decoder."))}
        save_file(dec, str(out / f"dec{run}_{step}.safetensors"))
        print(run, ck.name, "step", step, len(dec), "tensors")
EOF
tar czf "$OUT/logs.tgz" -C /tmp trainA.log trainB.log runA/train_log.jsonl runB/train_log.jsonl 2>/dev/null
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"
