"""recipes/songgen_tiny/songgen_v13_long_windows.yaml, the retraining fallback for whole songs: `songgen train` takes
it as shipped (from the embedded songgen-tiny, on songs encoded with its own codec, crops on the captions' bar lines)
for a couple of steps, and the model it saves is songgen-tiny's dual-track model with its controls."""

import json
from pathlib import Path

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.commands.cli import main
from songgen_hf.pipelines.loading import embedded_model_path
from songgen_hf.training import songgen_cli
from songgen_hf.training.config_files import read_config_file

from ..data.tone_songs import write_tone_songs

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "songgen_tiny" / "songgen_v13_long_windows.yaml"


def test_the_recipe_trains_songgen_tiny_on_whole_window_crops_that_start_on_bar_lines(tmp_path):
    recipe = read_config_file(RECIPE)
    assert recipe["init_from"] == "songgen-tiny" and recipe["bar_aligned_crops"] is True
    assert recipe["max_frames"] == 1584  # the long-song loop's whole window, 31.68 s
    manifest = write_tone_songs(tmp_path / "songs", num_songs=2, base_seconds=3.0)
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for record in records:  # a tempo in the caption: the crops start on its bar lines
        record["caption"] += " at 150 bpm"
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    encoded = tmp_path / "encoded"
    assert main(["data", "encode", str(manifest), "--codec", "songgen-tiny", "--output", str(encoded)]) == 0
    run = tmp_path / "run"
    overrides = [
        f"train_data={encoded}",
        f"processor={embedded_model_path('songgen-tiny')}",
        f"output_dir={run}",
        "max_steps=2",
        "batch_size=2",
        "warmup_steps=1",
        "log_steps=1",
        "save_steps=2",
        "max_frames=60",  # 1.2 s of 3-3.25 s songs: a crop starts on bar 0 or 1 (80 frames at 150 BPM)
    ]
    assert songgen_cli.main([str(RECIPE), "--set", *overrides]) == 0
    (final,) = [p.parent for p in run.rglob("config.json") if p.parent.name == "final"]
    model = SongGenForConditionalGeneration.from_pretrained(final)
    shipped = SongGenForConditionalGeneration.from_pretrained(embedded_model_path("songgen-tiny"))
    assert model.config.track_pattern == shipped.config.track_pattern == "parallel_stream2"
    assert model.config.decoder.use_tempo_control and model.config.decoder.use_key_control
    logged = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in entry for entry in logged)
