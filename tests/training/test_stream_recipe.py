"""recipes/songgen_tiny/songgen_stream2_pitch_keys.yaml: `songgen train` takes the multi-stream recipe as shipped, on
a tiny encoded corpus, for a couple of steps (its in-training evaluation generates with the 2-stream pattern), and the
saved model generates two frames per decoding step."""

from pathlib import Path

import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.data.encode import EncodeOptions, encode_manifest
from songgen_hf.training import songgen_cli

from ..data.tone_songs import save_tiny_codec, save_tiny_tokenizers, write_tone_songs

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "songgen_tiny" / "songgen_stream2_pitch_keys.yaml"


def test_songgen_train_accepts_the_stream_recipe(tmp_path):
    manifest = write_tone_songs(tmp_path / "songs", num_songs=3)
    codec = save_tiny_codec(tmp_path / "codec")
    encode_manifest(manifest, codec, tmp_path / "encoded", EncodeOptions())
    save_tiny_tokenizers(
        tmp_path / "tokenizers" / "description_tokenizer", tmp_path / "tokenizers" / "lyrics_tokenizer"
    )
    run = tmp_path / "run"
    overrides = [
        f"train_data={tmp_path / 'encoded'}",
        f"codec={codec}",
        f"processor={tmp_path / 'tokenizers'}",
        f"output_dir={run}",
        "max_steps=2",
        "batch_size=2",
        "warmup_steps=1",
        "log_steps=1",
        "save_steps=2",
        "eval_steps=2",
        "eval_duration_s=0.4",
        "num_eval_samples=1",
        "max_frames=60",
    ]
    assert songgen_cli.main([str(RECIPE), "--set", *overrides]) == 0
    finals = [p for p in run.rglob("config.json") if p.parent.name == "final"]
    assert finals, sorted(str(p.relative_to(run)) for p in run.rglob("*"))[:20]
    model = SongGenForConditionalGeneration.from_pretrained(finals[0].parent).eval()
    assert model.config.track_pattern == "mixed_stream2" and model.pattern.num_rows == 16
    inputs = {
        "input_ids": torch.tensor([[5, 6, 7]]),
        "lyrics_input_ids": torch.tensor([[1, 5, 2]]),
        "tempo_bpm": torch.tensor([120.0]),
        "music_key_ids": torch.tensor([3]),
    }
    out = model.generate(
        **inputs, duration_s=0.4, min_duration_s=0.4, do_sample=False, return_dict_in_generate=True, decode_audio=False
    )
    assert out.sequences.shape[-1] - 1 == 20 // 2 + 7  # 0.4 s = 20 frames in 10 steps plus the codebook delay
