#!/bin/bash
# Runs on the lent GPU machine (session 27, #19): two continuations of songgen-tiny v11 in parallel on one GPU
# (songgen_v11_more_data.yaml's settings, given as overrides of songgen_v11.yaml, and its vocal_loss_weight=1.0
# variant); README.md beside this file says what the upload holds and how the weights come back.
# SET_A / SET_B: each run's own overrides (default: none, and session 27's vocal_loss_weight=1.0), e.g. the
# dual-track stage of session 29: SET_A='dual_track=true vocal_heads=null vocal_loss_weight=null stem_gains_db={"vocals":1.6}'
# (no spaces inside one override: the list is split on spaces).
# Held-out loss and key/tempo margins in the log (session 30): add validation_data=/tmp/data/test96 validation_max_songs=96.
# PACK_INT8=1: the weights come back with int8 matrices (two dual-track models in float16 exceed the return limit).
# BASE: the recipe the overrides apply to (default songgen_v11.yaml; songgen_v12_dual_track.yaml continues v12).
# upload/lm/songgen.safetensors, when there, is the LM shard to start from (pack_lm_upload.py: matrices in int8,
# so that a dual-track model fits the upload beside its data); the tree's own shard need not travel then.
set -x
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
REPO=$PWD; T0=$(date +%s)
STEPS=${STEPS:-2400}; TRAIN_S=${TRAIN_S:-330}; WARM=${WARM:-100}; BASE=$REPO/recipes/songgen_tiny/${BASE:-songgen_v11.yaml}
declare -A SETS=([A]="${SET_A-}" [B]="${SET_B-vocal_loss_weight=1.0}")
mkdir -p /tmp/site /tmp/pkg/songgen_hf /tmp/data
tar xJf recipes/songgen_tiny/lent_gpu/upload/site.tar.xz -C /tmp || exit 3
[ -n "$SKIP_PIP" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site recipes/songgen_tiny/lent_gpu/upload/whl/*.whl || exit 3
for f in songgen_hf/*; do ln -s "$REPO/$f" /tmp/pkg/songgen_hf/; done
ln -s "$REPO/modeling" /tmp/pkg/songgen_hf/modeling; ln -s "$REPO/pipelines" /tmp/pkg/songgen_hf/pipelines
export PYTHONPATH=/tmp/pkg:/tmp/site
tar xJf recipes/songgen_tiny/lent_gpu/upload/data.tar.xz -C /tmp/data || exit 5
cd /tmp
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
python3 -c "import torch, transformers, datasets, songgen_hf.modeling; print(torch.__version__, transformers.__version__, datasets.__version__, torch.cuda.is_available())" || exit 4
SRC=$REPO/songgen_hf/assets/songgen-tiny
if [ -f $REPO/recipes/songgen_tiny/lent_gpu/upload/lm/songgen.safetensors ]; then
  mkdir -p /tmp/lmsrc; for f in $SRC/*.json; do ln -s $f /tmp/lmsrc/; done
  ln -s $REPO/recipes/songgen_tiny/lent_gpu/upload/lm/songgen.safetensors /tmp/lmsrc/; SRC=/tmp/lmsrc
fi
python3 $REPO/recipes/songgen_tiny/lent_gpu/init_without_codec.py $SRC /tmp/init 2>&1 | tail -2 || exit 4
echo "setup took $(( $(date +%s) - T0 )) s"
common="init_from=/tmp/init processor=/tmp/init train_data=/tmp/data/train max_steps=$STEPS batch_size=16 learning_rate=1.0e-4 warmup_steps=$WARM save_steps=400 log_steps=100 num_workers=3 checkpoints_total_limit=1"
for r in A B; do
  timeout -s TERM $TRAIN_S python3 -m songgen_hf.training.songgen_cli $BASE --set $common ${SETS[$r]} output_dir=/tmp/run$r > /tmp/train$r.log 2>&1 &
done
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; tail -c 600 /tmp/trainA.log
wait
for r in A B; do
  if [ ! -f /tmp/run$r/final/config.json ]; then
    last=$(ls -d /tmp/run$r/checkpoints/checkpoint_* 2>/dev/null | sed 's/.*_//' | sort -n | tail -1)
    echo "run $r stopped early; finishing from checkpoint $last"
    [ -n "$last" ] && [ "$last" -gt 0 ] && python3 -m songgen_hf.training.songgen_cli $BASE --resume --set $common ${SETS[$r]} output_dir=/tmp/run$r max_steps=$last schedule_steps=$STEPS >> /tmp/train$r.log 2>&1
  fi
  [ -f /tmp/run$r/final/config.json ] && python3 $REPO/recipes/songgen_tiny/lent_gpu/pack_lm_weights.py /tmp/run$r/final $OUT $r ${PACK_INT8:+int8}
  grep -v "it/s\]" /tmp/train$r.log | tail -c 1500
done
tar czf $OUT/logs.tgz -C /tmp trainA.log trainB.log runA/train_log.jsonl runB/train_log.jsonl runA/final/training_config.json runB/final/training_config.json 2>/dev/null
ls -la $OUT; echo "total $(( $(date +%s) - T0 )) s"
