#!/usr/bin/env bash
# Train the tiny ResGen on the same corpus, codec and tokenizers as the embedded songgen-tiny, then evaluate it
# at several pass counts beside the autoregressive model:
#
#   recipes/resgen_tiny/build.sh WORK_DIR
#
# WORK_DIR may be recipes/songgen_tiny/build.sh's folder (its corpus_v2/ is reused) or an empty one (corpus v2 is
# synthesised, 12 min).  The codec and the tokenizers are the released songgen-tiny's own (AUTOREGRESSIVE), so
# ResGen decodes with exactly the codec of the model it is compared with, and a rebuild needs no codec training.
# Every step resumes: re-running continues where it stopped.  On 2 CPU cores encoding takes about 7 min, training
# about 1.3 s a step (RESGEN_STEPS, default 2 500: about 55 min, then RESGEN_BETA_STEPS more with the beta-NLL
# loss, default 2 500), each evaluation a few minutes.
# The ResGen figures in docs/ were made when songgen-tiny was v5 (codec v5); to reproduce them,
# set AUTOREGRESSIVE to that release: git worktree add V5 b71e18d, then AUTOREGRESSIVE=V5/songgen_hf/assets/songgen-tiny.
set -euo pipefail

WORK=${1:?usage: recipes/resgen_tiny/build.sh WORK_DIR}
RECIPE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RECIPE/../.." && pwd)
RESGEN_STEPS=${RESGEN_STEPS:-2500}
RESGEN_BETA_STEPS=${RESGEN_BETA_STEPS:-2500}
NUM_TRAIN_CLIPS=${NUM_TRAIN_CLIPS:-1024}
AUTOREGRESSIVE=${AUTOREGRESSIVE:-$REPO/songgen_hf/assets/songgen-tiny}
CODEC=${CODEC:-$AUTOREGRESSIVE}   # a SongGen folder gives its own codec
mkdir -p "$WORK"

# 0. Corpus v2 (as recipes/songgen_tiny/build.sh makes it) and the mix codes of its first training clips.
if [ ! -f "$WORK/corpus_v2/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus_v2" --num-clips 4000 --seed 1 --test-fraction 0.05 --workers 2 --corpus-version 2
fi
head -n "$NUM_TRAIN_CLIPS" "$WORK/corpus_v2/train.jsonl" > "$WORK/corpus_v2/train_subset.jsonl"
if [ ! -f "$WORK/encoded_resgen/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_v2/train_subset.jsonl" \
        --codec "$CODEC" --output "$WORK/encoded_resgen/train" --batch-size 1
fi

resume_flag() {
    if compgen -G "$1/checkpoints/checkpoint_*" > /dev/null; then echo --resume
    elif [ -e "$1/train_log.jsonl" ] || [ -e "$1/final" ]; then echo --overwrite; fi
}

# 1. ResGen on the mix codes (mask schedule, mixture loss and condition dropout as in the paper).
if [ ! -f "$WORK/resgen/final/model_index.json" ]; then
    python -m songgen_hf.training.resgen_trainer "$RECIPE/resgen.yaml" $(resume_flag "$WORK/resgen") \
        --set train_data="$WORK/encoded_resgen/train" codec="$CODEC" processor="$AUTOREGRESSIVE" warm_start_from="$AUTOREGRESSIVE" \
        output_dir="$WORK/resgen" max_steps="$RESGEN_STEPS"
fi
# 1b. Stage 2: the same model trained on with the beta-NLL loss (resgen_beta.yaml says why).
if [ ! -f "$WORK/resgen_beta/final/model_index.json" ]; then
    python -m songgen_hf.training.resgen_trainer "$RECIPE/resgen_beta.yaml" $(resume_flag "$WORK/resgen_beta") \
        --set train_data="$WORK/encoded_resgen/train" init_from="$WORK/resgen/final" processor="$AUTOREGRESSIVE" \
        output_dir="$WORK/resgen_beta" max_steps="$RESGEN_BETA_STEPS"
fi
MODEL="$WORK/resgen_beta/final"

# 2. The same held-out prompts as the autoregressive model's evaluation, at several pass counts.
if [ ! -f "$WORK/evaluation_autoregressive/evaluation.json" ]; then
    songgen evaluate "$WORK/corpus_v2/test.jsonl" --model "$AUTOREGRESSIVE" --output "$WORK/evaluation_autoregressive" --num-prompts 32
fi
for steps in 4 8 16 32 64; do
    if [ ! -f "$WORK/evaluation_resgen_beta_s$steps/evaluation.json" ]; then
        songgen evaluate "$WORK/corpus_v2/test.jsonl" --model "$MODEL" --steps "$steps" \
            --output "$WORK/evaluation_resgen_beta_s$steps" --num-prompts 32
    fi
done

# 3. Speed, side by side in one run.
python "$REPO/benchmarks/resgen.py" --resgen "$MODEL" --songgen "$AUTOREGRESSIVE" --parts tiny length \
    --json "$WORK/resgen_benchmark.json"
