#!/usr/bin/env bash
# Train the tiny ResGen on the same corpus, codec, codes and tokenizers as the embedded songgen-tiny, then
# evaluate it at several pass counts beside the autoregressive model:
#
#   recipes/resgen_tiny/build.sh WORK_DIR
#
# WORK_DIR is recipes/songgen_tiny/build.sh's folder (its corpus/, codec/final, encoded/train and tokenizers/
# are reused; run that first).  Every step resumes: re-running continues where it stopped.  On 2 CPU cores
# training takes about 1.4 s a step (the default 10 000 steps: about 4 hours), each evaluation a few minutes.
set -euo pipefail

WORK=${1:?usage: recipes/resgen_tiny/build.sh WORK_DIR (the songgen_tiny build folder)}
RECIPE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RECIPE/../.." && pwd)
RESGEN_STEPS=${RESGEN_STEPS:-10000}
CODEC=${CODEC:-$WORK/codec/final}
AUTOREGRESSIVE=${AUTOREGRESSIVE:-$REPO/songgen_hf/assets/songgen-tiny}
for needed in "$CODEC/config.json" "$WORK/encoded/train/dataset_info.json" "$WORK/tokenizers/lyrics_tokenizer/vocab.json"; do
    if [ ! -f "$needed" ]; then
        echo "missing $needed: run recipes/songgen_tiny/build.sh $WORK first (it makes the codec, codes and tokenizers)" >&2
        exit 2
    fi
done

resume_flag() {
    if compgen -G "$1/checkpoints/checkpoint_*" > /dev/null; then echo --resume
    elif [ -e "$1/train_log.jsonl" ] || [ -e "$1/final" ]; then echo --overwrite; fi
}

# 1. ResGen on the mix codes (mask schedule, mixture loss and condition dropout as in the paper).
if [ ! -f "$WORK/resgen/final/model_index.json" ]; then
    python -m songgen_hf.training.resgen_trainer "$RECIPE/resgen.yaml" $(resume_flag "$WORK/resgen") \
        --set train_data="$WORK/encoded/train" codec="$CODEC" processor="$WORK/tokenizers" \
        output_dir="$WORK/resgen" max_steps="$RESGEN_STEPS"
fi

# 2. The same held-out prompts as the autoregressive model's evaluation, at several pass counts.
if [ ! -f "$WORK/evaluation_autoregressive/evaluation.json" ]; then
    songgen evaluate "$WORK/corpus/test.jsonl" --model "$AUTOREGRESSIVE" --output "$WORK/evaluation_autoregressive" --num-prompts 32
fi
for steps in 4 8 16 32 64; do
    if [ ! -f "$WORK/evaluation_resgen_s$steps/evaluation.json" ]; then
        songgen evaluate "$WORK/corpus/test.jsonl" --model "$WORK/resgen/final" --steps "$steps" \
            --output "$WORK/evaluation_resgen_s$steps" --num-prompts 32
    fi
done

# 3. Speed, side by side in one run.
python "$REPO/benchmarks/resgen.py" --resgen "$WORK/resgen/final" --songgen "$AUTOREGRESSIVE" --parts tiny length \
    --json "$WORK/resgen_benchmark.json"
