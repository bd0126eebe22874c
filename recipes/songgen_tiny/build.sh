#!/usr/bin/env bash
# Rebuild the embedded model (songgen_hf/assets/songgen-tiny, v12) from nothing, with this package's own commands:
# corpora -> codecs -> codes -> tokenizers -> SongGen (v10 -> v11 -> dual-track v12) -> told singer -> release
# -> report.
#
#   recipes/songgen_tiny/build.sh WORK_DIR
#
# Every step resumes: re-running after an interruption continues where it stopped (finished steps
# are skipped, training restarts from its last checkpoint).  On 2 CPU cores: corpus v1 8 min and v2 12 min,
# codec v4's encoder about 60 min and its decoder 10 min (on corpus v1, as it was built), codec v5 on corpus v2
# about 45 min, codec v6 about 5 hours (4 417 steps of batch 32; under 10 minutes on one H100: run that step on a
# GPU and put its folder at WORK_DIR/codec_v6/final), encoding 7 min, v10's two stages about 2 hours, corpus v3
# 2 min and its encoding 7 min, v11's stage 15 min; v12: both stems of corpus v3 encoded 25 min, the transposed
# copies 5 min to render and 22 min to encode, three dual-track stages of about 40 min each; codec v8's decoder
# 37 min and v9's about 3.5 hours (8 minutes on one H200); the told singer about 70 min with its data; evaluation
# 25 min.
# The step counts below are the ones the shipped model was trained with; raise them for better models.  Known
# differences from the shipped weights:
#   - codec v5 was resumed from codec v4 as stored in the v4 release (float16); here from codec/final (float32);
#   - codec v6 was trained on a GPU on 1.6 s excerpts of 2 x 290 clips in two stages (recipes/songgen_tiny/
#     codec_v6.yaml says how), and stored in float16 before encoding; here it trains on the whole corpus in one run;
#   - codec v8's decoder was fine-tuned from songgen-tiny's codec v6 as released (float16); here from codec_v6/final;
#   - codec v9's decoder was trained on a GPU from codec v8 as released (float16) on 1.25 s excerpts of 750 clips;
#     here from codec_v8/final on the whole corpus;
#   - v11 started from v10 as released (float16) on codes made with the released codec; here from
#     songgen_stream2_b/final and codec_v6/final; v12's first stage started from v11 as released (float16).
set -euo pipefail

WORK=${1:?usage: recipes/songgen_tiny/build.sh WORK_DIR}
RECIPE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RECIPE/../.." && pwd)
CODEC_STEPS=${CODEC_STEPS:-1498}      # codec v4's encoder stopped here (its lr schedule does not depend on it)
DECODER_STEPS=${DECODER_STEPS:-1000}  # then its decoder is fine-tuned with the pitch-class loss
CODEC_V5_STEPS=${CODEC_V5_STEPS:-2541}  # codec v5: codec v4 resumed on corpus v2's mixes and stems (step decay only)
NUM_TRAIN_CLIPS=${NUM_TRAIN_CLIPS:-1024}
CODEC_V6_STEPS=${CODEC_V6_STEPS:-4417}  # codec v6: codec v5 trained on with 4x its batch (2 387 + 2 030 steps on a GPU)
SONGGEN_STEPS=${SONGGEN_STEPS:-1600} # each SongGen stage's cosine schedule is laid out over these steps
ASSETS=${ASSETS:-$REPO/songgen_hf/assets}   # the default goes to ASSETS/songgen-tiny
REPORT=${REPORT:-$WORK/evaluation_report.md}  # the last section of docs/evaluation.md is this report
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

# 2c. Codec v6: codec v5 trained on with v5's losses and 4x its batch (the codec both embedded models use).
if [ ! -f "$WORK/codec_v6/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v6.yaml" $(resume_flag "$WORK/codec_v6") \
        --set train_data="$WORK/corpus_v2/train.jsonl" init_from="$WORK/codec_v5/final" output_dir="$WORK/codec_v6" \
        max_steps="$CODEC_V6_STEPS" num_workers=1
fi

# 3. Codes: mix + vocal stem (mixed pro's auxiliary target) of the first corpus v2 training clips, with codec v6.
#    The shipped models were encoded without a silent vocal stem for instrumentals, hence --no-silent-vocals
#    (SILENT_VOCALS=1 drops it).
if [ ! -f "$WORK/encoded_v6/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_v2/train_subset.jsonl" \
        --codec "$WORK/codec_v6/final" --output "$WORK/encoded_v6/train" --batch-size 1 --stems vocals \
        $([ "${SILENT_VOCALS:-0}" = 1 ] || echo --no-silent-vocals)
fi

# 4. Tokenizers fitted to corpus v2's captions and lyrics.
if [ ! -f "$WORK/tokenizers_v2/lyrics_tokenizer/vocab.json" ]; then
    songgen data tokenizers "$WORK/corpus_v2/train.jsonl" --output "$WORK/tokenizers_v2"
fi

# 5. v10, the default's base: AudioGen's 2-stream pattern with the arrangement control and the pitch-class key control
#    (~15 M parameters besides the codec), in two stages: 1 600 steps, then 1 600 more from its weights with a
#    fresh optimiser and half the peak learning rate (songgen_v8b.yaml's schedule).
if [ ! -f "$WORK/songgen_stream2/final/config.json" ]; then
    songgen train "$RECIPE/songgen_stream2_pitch_keys.yaml" $(resume_flag "$WORK/songgen_stream2") \
        --set train_data="$WORK/encoded_v6/train" codec="$WORK/codec_v6/final" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_stream2" max_steps="$SONGGEN_STEPS" schedule_steps="$SONGGEN_STEPS"
fi
if [ ! -f "$WORK/songgen_stream2_b/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v8b.yaml" $(resume_flag "$WORK/songgen_stream2_b") \
        --set init_from="$WORK/songgen_stream2/final" train_data="$WORK/encoded_v6/train" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_stream2_b" max_steps="$SONGGEN_STEPS"
fi
# 5b. v11: v10 trained 800 steps more on corpus v3 (the accompaniment of songs below 90 BPM on the
#     beat) with input token noise 0.2 and mixed pro's vocal heads, which the export drops (same songs).
if [ ! -f "$WORK/corpus_v3/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus_v3" --num-clips 1224 --test-fraction 0.16339869 --seed 1 --workers 2 \
        --corpus-version 3
fi
if [ ! -f "$WORK/encoded_v3/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_v3/train.jsonl" \
        --codec "$WORK/codec_v6/final" --output "$WORK/encoded_v3/train" --batch-size 1 --stems vocals --no-silent-vocals
fi
if [ ! -f "$WORK/songgen_v11/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v11.yaml" $(resume_flag "$WORK/songgen_v11") \
        --set init_from="$WORK/songgen_stream2_b/final" train_data="$WORK/encoded_v3/train" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_v11"
fi

# 5c. v12, the default: v11 made dual-track (accompaniment and vocals, two streams each) in three stages of 800 steps
#     (recipes/songgen_tiny/songgen_v12_dual_track.yaml says why): both stems of corpus v3 (an instrumental's vocal
#     stem encoded as silence), then with the songs' transposed copies and control dropout, then the songs again.
if [ ! -f "$WORK/encoded_dt/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_v3/train.jsonl" \
        --codec "$WORK/codec_v6/final" --output "$WORK/encoded_dt/train" --batch-size 1
fi
if [ ! -f "$WORK/corpus_tr/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus_tr" --num-clips 1224 --test-fraction 0.16339869 --seed 1 --workers 2 \
        --corpus-version 3 --transpose-range 4
fi
if [ ! -f "$WORK/encoded_tr/train/dataset_info.json" ]; then
    head -n "$NUM_TRAIN_CLIPS" "$WORK/corpus_tr/train.jsonl" > "$WORK/corpus_tr/train_subset.jsonl"
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_tr/train_subset.jsonl" \
        --codec "$WORK/codec_v6/final" --output "$WORK/encoded_tr/train" --batch-size 1
fi
if [ ! -f "$WORK/songgen_v12_dt800/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v12_dual_track.yaml" $(resume_flag "$WORK/songgen_v12_dt800") \
        --set init_from="$WORK/songgen_v11/final" train_data="$WORK/encoded_dt/train" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_v12_dt800" seed=456
fi
if [ ! -f "$WORK/songgen_v12_dtcd/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v12_dual_track.yaml" $(resume_flag "$WORK/songgen_v12_dtcd") \
        --set init_from="$WORK/songgen_v12_dt800/final" "train_data=[$WORK/encoded_dt/train,$WORK/encoded_tr/train]" \
        processor="$WORK/tokenizers_v2" output_dir="$WORK/songgen_v12_dtcd" seed=1 control_dropout_prob=0.2 stem_gains_db=null
fi
if [ ! -f "$WORK/songgen_v12/final/config.json" ]; then
    songgen train "$RECIPE/songgen_v12_dual_track.yaml" $(resume_flag "$WORK/songgen_v12") \
        --set init_from="$WORK/songgen_v12_dtcd/final" train_data="$WORK/encoded_dt/train" processor="$WORK/tokenizers_v2" \
        output_dir="$WORK/songgen_v12" seed=2 control_dropout_prob=0.2 stem_gains_db=null
fi

# 5e. Codec v8: codec v6's decoder fine-tuned with a waveform discriminator and the comb loss (every
#     code stays v6's, so nothing above is re-encoded).  About 37 min on 2 AVX-512 cores.
if [ ! -f "$WORK/codec_v8/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v8.yaml" $(resume_flag "$WORK/codec_v8") \
        --set train_data="$WORK/corpus_v3/train.jsonl" init_from="$WORK/codec_v6/final" output_dir="$WORK/codec_v8"
fi

# 5f. Codec v9: codec v8's decoder trained on with 4x the batch.  The shipped decoder was trained on one GPU on
#     1.25 s excerpts of the first 750 training clips (`songgen data excerpts`, 8 minutes); here it trains on the
#     whole corpus, about 3.5 hours on 2 AVX-512 cores.
if [ ! -f "$WORK/codec_v9/final/config.json" ]; then
    songgen codec train "$RECIPE/codec_v9.yaml" $(resume_flag "$WORK/codec_v9") \
        --set train_data="$WORK/corpus_v3/train.jsonl" init_from="$WORK/codec_v8/final" output_dir="$WORK/codec_v9"
fi

# 5g. The told singer (modeling/songgen_singer/modeling_songgen_singer.py): re-sings the vocal track's first three codebooks from a
#     score composed for each sung request.  Trained on corpus v3's training songs and 1 200 more (seed 11), every song
#     sung over another song's accompaniment (--context-shuffle 1.0: it learns to sing from the score alone), 4 000
#     steps: about 56 min on 2 AVX-512 cores with --bf16.  The shipped singer's codes were made with the release's
#     codec (v6's encoder stored in float16); here with codec_v6/final.
if [ ! -f "$WORK/corpus_x/manifest.jsonl" ]; then
    songgen data synth --output "$WORK/corpus_x" --num-clips 1200 --seed 11 --test-fraction 0 --corpus-version 3 \
        --workers 2
fi
if [ ! -f "$WORK/encoded_x/train/dataset_info.json" ]; then
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode "$WORK/corpus_x/manifest.jsonl" \
        --codec "$WORK/codec_v6/final" --output "$WORK/encoded_x/train" --batch-size 1
fi
if [ ! -f "$WORK/encoded_dt/test96/dataset_info.json" ]; then
    head -n 96 "$WORK/corpus_v3/test.jsonl" > "$WORK/corpus_v3/test96.jsonl"
    songgen data encode "$WORK/corpus_v3/test96.jsonl" --codec "$WORK/codec_v6/final" \
        --output "$WORK/encoded_dt/test96" --batch-size 1
fi
if [ ! -f "$WORK/singer/final/config.json" ]; then
    SINGER_RESUME=""; [ -f "$WORK/singer/checkpoint/state.pt" ] && SINGER_RESUME=--resume
    songgen train-singer "$WORK/encoded_dt/train" "$WORK/encoded_x/train" --held-out "$WORK/encoded_dt/test96" \
        --output "$WORK/singer" --steps 4000 --intermediate-size 768 --bf16 --context-shuffle 1.0 $SINGER_RESUME
fi

# 6. The release folder (float16 storage, float32 compute, the codec in a shard of its own, codec v9's decoder;
#    the vocal track's first three codebooks drawn at temperature 0.6; the told singer in singer/; a song longer
#    than 10 s made in windows of 10 s, the crops every stage trained on, max_frames: 500 (docs/evaluation.md, the
#    window study)).
rm -rf "$WORK/release/songgen-tiny"
songgen export "$WORK/songgen_v12/final" --output "$WORK/release/songgen-tiny" --card-fields "$RECIPE/card.yaml" \
    --generation guidance_scale=3.0 top_k=50 control_guidance_scale=2.0 cpu_quantize=bf16-heads \
    'codebook_temperatures={vocals: [0.6, 0.6, 0.6]}' --codec "$WORK/codec_v9/final" --singer "$WORK/singer/final" \
    --default-window 10
python -m songgen_hf.conversion.embedded_layout "$WORK/release/songgen-tiny"
mkdir -p "$ASSETS"
rm -rf "$ASSETS/songgen-tiny"
cp -r "$WORK/release/songgen-tiny" "$ASSETS/"

# 7. The weight-free evaluation on corpus v3's held-out prompts (v2's captions, lyrics and targets).
songgen evaluate "$WORK/corpus_v3/test.jsonl" --model "$ASSETS/songgen-tiny" --output "$WORK/evaluation" --report "$REPORT" \
    --num-prompts 96 --control-guidance-scale 2
