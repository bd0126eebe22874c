#!/usr/bin/env bash
# Rebuild the embedded default model (songgen_hf/assets/songgen-tiny, v5) from nothing, with this
# package's own commands:  corpora -> codec -> codes -> tokenizers -> SongGen -> release -> report.
#
#   recipes/songgen_tiny/build.sh WORK_DIR
#
# Every step resumes: re-running after an interruption continues where it stopped (finished steps
# are skipped, training restarts from its last checkpoint).  On 2 CPU cores the whole build takes
# about 3.5 hours: corpus v1 8 min and v2 12 min, the codec's encoder about 60 min and its decoder
# 10 min (codec v4, on corpus v1, as it was built), codec v5 on corpus v2 about 45 min, encoding 7 min,
# SongGen 33 min, evaluation 3 min.  The step counts below are the ones the shipped model was
# trained with; raise them for a better model.  One known difference: the shipped codec v5 was
# resumed from codec v4 as stored in the v4 release (float16); this script resumes it from codec/final
# (float32), so its weights differ from the shipped ones by that rounding.
set -euo pipefail

WORK=${1:?usage: recipes/songgen_tiny/build.sh WORK_DIR}
RECIPE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RECIPE/../.." && pwd)
CODEC_STEPS=${CODEC_STEPS:-1498}      # codec v4's encoder stopped here (its lr schedule does not depend on it)
DECODER_STEPS=${DECODER_STEPS:-1000}  # then its decoder is fine-tuned with the pitch-class loss
CODEC_V5_STEPS=${CODEC_V5_STEPS:-2541}  # codec v5: codec v4 resumed on corpus v2's mixes and stems (step decay only)
NUM_TRAIN_CLIPS=${NUM_TRAIN_CLIPS:-1024}
SONGGEN_STEPS=${SONGGEN_STEPS:-1600} # songgen_v5.yaml's cosine schedule is laid out over these steps
RELEASE=${RELEASE:-$REPO/songgen_hf/assets/songgen-tiny}
REPORT=${REPORT:-$REPO/docs/evaluation.md}
mkdir -p "$WORK"

resume_flag() {  # --resume when a run folder holds a checkpoint; --overwrite when it holds only a run that never checkpointed
    if compgen -G "$1/checkpoints/checkpoint_*" > /dev/null; then echo --resume
    elif [ -e "$1/train_log.jsonl" ] || [ -e "$1/final" ]; then echo --overwrite; fi
}

# 1. The synthetic corpora (seed 1, 4000 clips, 5 % held out): v1, on which codec v4 was trained, and v2
#    (instrumentals, drumless songs, tempos 60-180 BPM, more phrasings), on which codec v5 and SongGen are.
if [ ! -f "$WORK/corpus/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus" --num-clips 4000 --seed 1 --test-fraction 0.05 --workers 2
fi
if [ ! -f "$WORK/corpus_v2/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus_v2" --num-clips 4000 --seed 1 --test-fraction 0.05 --workers 2 --corpus-version 2
fi

# Codec v4 trains on the first NUM_TRAIN_CLIPS corpus v1 clips; SongGen on the first corpus v2 ones.
head -n "$NUM_TRAIN_CLIPS" "$WORK/corpus/train.jsonl" > "$WORK/corpus/train_subset.jsonl"
head -n "$NUM_TRAIN_CLIPS" "$WORK/corpus_v2/train.jsonl" > "$WORK/corpus_v2/train_subset.jsonl"

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

# 2b. Codec v5: codec v4 resumed on all of corpus v2's training mixes and stems with all 8 quantizers every step.
if [ ! -f "$WORK/codec_v5/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v5.yaml" $(resume_flag "$WORK/codec_v5") \
        --set train_data="$WORK/corpus_v2/train.jsonl" init_from="$WORK/codec/final" output_dir="$WORK/codec_v5" \
        eval_data="$WORK/corpus_v2/test.jsonl" num_eval_clips=8 max_steps="$CODEC_V5_STEPS"
fi

# 3. Codes: mix + vocal stem (mixed pro's auxiliary target) of the first corpus v2 training clips.  The shipped v5
#    was encoded before instrumentals got a silent vocal stem, hence --no-silent-vocals (SILENT_VOCALS=1 drops it).
if [ ! -f "$WORK/encoded_v2/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_v2/train_subset.jsonl" \
        --codec "$WORK/codec_v5/final" --output "$WORK/encoded_v2/train" --batch-size 1 --stems vocals \
        $([ "${SILENT_VOCALS:-0}" = 1 ] || echo --no-silent-vocals)
fi

# 4. Tokenizers fitted to corpus v2's captions and lyrics.
if [ ! -f "$WORK/tokenizers_v2/lyrics_tokenizer/vocab.json" ]; then
    songgen data tokenizers "$WORK/corpus_v2/train.jsonl" --output "$WORK/tokenizers_v2"
fi

# 5. SongGen with musical controls (mixed pro, 3 decoder layers, ~13 M parameters besides the codec).
if [ ! -f "$WORK/songgen_v5/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v5.yaml" $(resume_flag "$WORK/songgen_v5") \
        --set train_data="$WORK/encoded_v2/train" codec="$WORK/codec_v5/final" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_v5" max_steps="$SONGGEN_STEPS" schedule_steps="$SONGGEN_STEPS"
fi

# 6. The release folder (float16 storage, float32 compute) and the training curves.
songgen export "$WORK/songgen_v5/final" --output "$RELEASE" --card-fields "$RECIPE/card.yaml" \
    --generation guidance_scale=3.0 top_k=50
python "$RECIPE/plot_training.py" --codec "$WORK/codec_base" --codec-stage2 "$WORK/codec" --songgen "$WORK/songgen_v5" --output "$REPO/docs/songgen_tiny"

# 7. The weight-free evaluation on the held-out prompts.
songgen evaluate "$WORK/corpus_v2/test.jsonl" --model "$RELEASE" --output "$WORK/evaluation" --report "$REPORT" --num-prompts 32
