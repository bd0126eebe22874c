#!/usr/bin/env bash
# Rebuild the embedded default model (songgen_hf/assets/songgen-tiny) from nothing, with this
# package's own commands:  corpus -> codec -> codes -> tokenizers -> SongGen -> release -> report.
#
#   recipes/songgen_tiny/build.sh WORK_DIR
#
# Every step resumes: re-running after an interruption continues where it stopped (finished steps
# are skipped, training restarts from its last checkpoint).  On 2 CPU cores the whole build takes
# about 2.5 hours (sessions 7-8's machine: corpus 8 min, codec about 60 min (its encoder and codes)
# + 10 min (its decoder), encoding 15 min, SongGen 20 min, evaluation 2 min).  The step counts below are the ones the shipped
# model was trained with; raise them for a better model.
set -euo pipefail

WORK=${1:?usage: recipes/songgen_tiny/build.sh WORK_DIR}
RECIPE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RECIPE/../.." && pwd)
CODEC_STEPS=${CODEC_STEPS:-1498}      # the shipped codec's encoder stopped here (its lr schedule does not depend on it)
DECODER_STEPS=${DECODER_STEPS:-1000}  # then its decoder is fine-tuned with the pitch-class loss
NUM_TRAIN_CLIPS=${NUM_TRAIN_CLIPS:-1024}
SONGGEN_STEPS=${SONGGEN_STEPS:-1600} # songgen_v3.yaml's cosine schedule is laid out over these steps
RELEASE=${RELEASE:-$REPO/songgen_hf/assets/songgen-tiny}
REPORT=${REPORT:-$REPO/docs/evaluation.md}
mkdir -p "$WORK"

resume_flag() {  # --resume when a run folder holds a checkpoint; --overwrite when it holds only a run that never checkpointed
    if compgen -G "$1/checkpoints/checkpoint_*" > /dev/null; then echo --resume
    elif [ -e "$1/train_log.jsonl" ] || [ -e "$1/final" ]; then echo --overwrite; fi
}

# 1. The synthetic corpus: 4000 clips (5 % held out), FluidSynth + espeak-ng, seed 1.
if [ ! -f "$WORK/corpus/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus" --num-clips 4000 --seed 1 --test-fraction 0.05 --workers 2
fi

# The codec and SongGen train on the first NUM_TRAIN_CLIPS training clips.
head -n "$NUM_TRAIN_CLIPS" "$WORK/corpus/train.jsonl" > "$WORK/corpus/train_subset.jsonl"

# 2. The pitch-aware codec (7.2 M parameters): codes trained against a weight-free mel/MFCC/chroma
#    teacher with an ISTFT decoder (codec_v3_wide.yaml), then its decoder alone fine-tuned with the
#    pitch-class loss (codec_v4.yaml; every code stays the same).
if [ ! -f "$WORK/codec_base/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v3_wide.yaml" $(resume_flag "$WORK/codec_base") \
        --set train_data="$WORK/corpus/train_subset.jsonl" output_dir="$WORK/codec_base" max_steps="$CODEC_STEPS"
fi
if [ ! -f "$WORK/codec/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v4.yaml" $(resume_flag "$WORK/codec") \
        --set train_data="$WORK/corpus/train_subset.jsonl" init_from="$WORK/codec_base/final" output_dir="$WORK/codec" \
        max_steps="$DECODER_STEPS"
fi

# 3. Codes: mix + vocal stem (mixed pro's auxiliary target) of the first training clips.
if [ ! -f "$WORK/encoded/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus/train_subset.jsonl" \
        --codec "$WORK/codec/final" --output "$WORK/encoded/train" --batch-size 1 --stems vocals
fi

# 4. Tokenizers fitted to the corpus's captions and lyrics.
if [ ! -f "$WORK/tokenizers/lyrics_tokenizer/vocab.json" ]; then
    songgen data tokenizers "$WORK/corpus/train.jsonl" --output "$WORK/tokenizers"
fi

# 5. SongGen with musical controls (mixed pro, 3 decoder layers, ~13 M parameters besides the codec).
if [ ! -f "$WORK/songgen/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v3.yaml" $(resume_flag "$WORK/songgen") \
        --set train_data="$WORK/encoded/train" codec="$WORK/codec/final" processor="$WORK/tokenizers" \
        output_dir="$WORK/songgen" max_steps="$SONGGEN_STEPS" schedule_steps="$SONGGEN_STEPS"
fi

# 6. The release folder (float16 storage, float32 compute) and the training curves.
songgen export "$WORK/songgen/final" --output "$RELEASE" --card-fields "$RECIPE/card.yaml" \
    --generation guidance_scale=3.0 top_k=50
python "$RECIPE/plot_training.py" --codec "$WORK/codec_base" --codec-stage2 "$WORK/codec" --songgen "$WORK/songgen" --output "$REPO/docs/songgen_tiny"

# 7. The weight-free evaluation on the held-out prompts.
songgen evaluate "$WORK/corpus/test.jsonl" --model "$RELEASE" --output "$WORK/evaluation" --report "$REPORT" --num-prompts 32
