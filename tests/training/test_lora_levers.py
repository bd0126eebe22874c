"""The levers of ``finetune-lora`` beyond rank and learning rate: more targets (token embeddings, musical controls,
the description's projection), DoRA, steps as epochs over the songs, and a trigger phrase before every training
description."""

from __future__ import annotations

import json
import math

import pytest

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lora import apply_lora, lora_config_for_songgen, trainable_parameter_names
from songgen_hf.training.lora_trainer import LoraTrainer, LoraTrainingConfig

from ..data.tone_songs import write_tone_songs


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    controls = {"use_tempo_control": True, "use_key_control": True, "use_arrangement_control": True}
    return save_tiny_checkpoint(tmp_path_factory.mktemp("levers_base") / "base", decoder=controls)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, base_dir):
    from songgen_hf.data.encode import EncodeOptions, encode_manifest

    root = tmp_path_factory.mktemp("levers_data")
    manifest = write_tone_songs(root / "songs", num_songs=5)
    encode_manifest(manifest, base_dir, root / "encoded", EncodeOptions())
    return root / "encoded"


def _config(encoded, base_dir, output_dir, **overrides):
    options = dict(
        train_data=str(encoded),
        init_from=str(base_dir),
        output_dir=str(output_dir),
        batch_size=2,
        lora_r=4,
        lora_alpha=8,
        log_steps=1,
        save_steps=100,
        max_steps=2,
        seed=0,
    )
    options.update(overrides)
    return LoraTrainingConfig(**options)


def test_more_targets_reach_the_embeddings_the_controls_and_the_description_projection(base_dir):
    model = SongGenForConditionalGeneration.from_pretrained(base_dir)
    targets = ["heads", "embeddings", "controls", "description"]
    peft_model = apply_lora(model, lora_config_for_songgen(r=4, alpha=8, targets=targets, use_dora=True))
    names = trainable_parameter_names(peft_model)
    assert any(".decoder.model.embed_tokens.0.lora_embedding_A" in name for name in names)
    for control in ("tempo_projection", "key_embedding", "arrangement_embedding"):  # the key by its name here
        assert any(f"musical_controls.{control}.lora_" in name for name in names), control
    assert any(".enc_to_dec_proj.lora_A" in name for name in names)
    # DoRA: a magnitude per output of every adapted linear, besides the low-rank pair
    assert any(".enc_to_dec_proj.lora_magnitude_vector" in name for name in names)
    # the description encoder itself, the lyrics' projection and the codec stay out of reach
    outside = ("text_encoder", "lyrics_encoder", "lyrics_to_dec_proj", "audio_encoder", "voice_encoder")
    assert not [name for name in names if any(f".{part}." in name for part in outside)]


def test_epochs_set_the_steps_and_the_trigger_phrase_leads_every_description(encoded, base_dir, tmp_path):
    trainer = LoraTrainer(
        _config(encoded, base_dir, tmp_path / "run", epochs=3, trigger_phrase="  velvetrow style ", lora_use_dora=True)
    )
    rows = len(trainer.dataset)
    assert rows == 5 and trainer.config.max_steps == math.ceil(3 * rows / 2)
    captions = [trainer.dataset[index]["caption"] for index in range(rows)]
    originals = [LoraTrainer(_config(encoded, base_dir, tmp_path / "plain")).dataset[i]["caption"] for i in range(rows)]
    assert captions == [f"velvetrow style, {caption}" for caption in originals]
    config = trainer.peft_model.peft_config[trainer.peft_model.active_adapter]
    assert config.use_dora


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": 0}, "epochs must be a positive number"),
        ({"trigger_phrase": "   "}, "trigger_phrase must be some words"),
        ({"lora_targets": ["embeddingz"]}, "Unknown LoRA target"),
        ({"control_each_dropout_prob": 1.5}, "control_each_dropout_prob"),
        ({"control_each_dropout_prob": {"tempo": 0.0, "keys": 0.5}}, "names 'keys'; the musical controls are"),
    ],
)
def test_bad_lever_settings_are_refused_by_name(encoded, base_dir, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(encoded, base_dir, tmp_path, **overrides)


def test_finetune_lora_trains_with_each_control_unknown_on_its_own(encoded, base_dir, tmp_path, monkeypatch):
    """``control_each_dropout_prob`` set for one run: written to the adapted model's config (the base's folder keeps
    its own), every step draws a mask per control, and the run trains to a saved adapter."""
    import json

    from songgen_hf.training.lora_trainer import finetune_lora

    drawn = []
    draw = SongGenForConditionalGeneration.training_condition_drops

    def recorded(model, batch, device):
        drops = draw(model, batch, device)
        drawn.append((model.config.control_each_dropout_prob, sorted(drops)))
        return drops

    monkeypatch.setattr(SongGenForConditionalGeneration, "training_condition_drops", recorded)
    final = finetune_lora(
        _config(encoded, base_dir, tmp_path / "run", control_each_dropout_prob=0.5, singer_adapter=False)
    )
    assert (final / "adapter_model.safetensors").is_file()
    controls = {"control_tempo", "control_key", "control_arrangement"}
    assert len(drawn) == 2 and all(p == 0.5 and controls <= set(names) for p, names in drawn), drawn
    losses = [json.loads(line).get("loss") for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [loss for loss in losses if loss is not None] and all(math.isfinite(x) for x in losses if x is not None)
    assert json.loads((base_dir / "config.json").read_text()).get("control_each_dropout_prob", 0.0) == 0.0


@pytest.fixture(scope="module")
def encoded_with_tempos(tmp_path_factory, base_dir):
    """Five tone songs whose captions name 90, 100, 110, 120 and 130 bpm (and one that names none)."""
    import json

    from songgen_hf.data.encode import EncodeOptions, encode_manifest

    root = tmp_path_factory.mktemp("tempo_data")
    manifest = write_tone_songs(root / "songs", num_songs=6)
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for index, record in enumerate(records[:5]):
        record["caption"] += f" at {90 + 10 * index} bpm"
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    encode_manifest(manifest, base_dir, root / "encoded", EncodeOptions())
    return root / "encoded"


def test_the_adapter_records_its_songs_tempo_and_songs_asked_without_one_are_made_at_it(
    encoded_with_tempos, base_dir, tmp_path, capsys
):
    """The median of the tempos the captions name goes into songgen_adapter.json; a pipeline holding the adapter
    makes a song whose request names no tempo at it (the decoder's metronome and the told singer's score), keeps a
    tempo the request names, and leaves the base's songs as they were."""
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.pipelines.adapters import AdapterError, adapter_style_tempo
    from songgen_hf.training.lora import write_style_tempo
    from songgen_hf.training.lora_trainer import finetune_lora

    final = finetune_lora(_config(encoded_with_tempos, base_dir, tmp_path / "run", singer_adapter=False))
    assert adapter_style_tempo(final) == 110.0  # the median of 90-130; the caption naming none is left out
    # the description gate's record: the run's distinct descriptions, the built-in reference, thresholds from them
    from datasets import load_from_disk

    from songgen_hf.pipelines.description_gate import GATE_FILE, read_description_gate
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

    record = json.loads((final / GATE_FILE).read_text())
    assert record["style_descriptions"] == list(dict.fromkeys(load_from_disk(str(encoded_with_tempos))["caption"]))
    assert record["reference_descriptions"] == list(GATE_REFERENCE_DESCRIPTIONS) and record["low"] < record["high"]
    gate = read_description_gate(final)
    assert gate("a calm folk song with a bright voice") == 1.0 and gate("gritty guitar rock, a man belting") == 0.0
    pipe = load_text_to_song_pipeline(str(base_dir), adapters={"mine": str(final)})
    pipe.set_progress_bar_config(disable=True)
    asked = {"description": "a calm folk song with a bright voice", "lyrics": "hold me close tonight"}

    def tempo(**options):
        return pipe(dict(asked, **options.pop("song", {})), seed=0, duration_s=1.0, **options)["understood"][
            "tempo_bpm"
        ]

    assert tempo(adapter="mine") == 110.0
    assert tempo(adapter={"mine": 0.5}) == 110.0  # a blend: its most weighted adapter's tempo
    assert tempo(adapter="mine", song={"description": "a calm folk song at 72 bpm"}) == 72.0  # the request's wins
    assert tempo(adapter="mine", song={"tempo_bpm": 80}) == 80.0
    assert tempo(adapter=None) is None  # the base alone: as before
    # the pipeline's one answer for a description's tempo, asked by its calls and its edits alike: the gated adapter's
    # record (a description the gate shuts out is the base's song: no record), the pipeline's own style by default
    assert pipe.song_style_tempo(asked["description"], adapter="mine") == 110.0
    assert pipe.song_style_tempo(asked["description"]) is None  # built without a style: the base's
    unrelated = "gritty guitar rock, a man belting"
    assert pipe.song_style_tempo(unrelated, adapter="mine") is None
    assert tempo(adapter="mine", song={"description": unrelated}) is None
    assert pipe.song_style_tempo(unrelated, adapter="mine", adapter_gate=False) == 110.0
    assert tempo(adapter="mine", adapter_gate=False, song={"description": unrelated}) == 110.0
    # `songgen generate --adapter` asks the same answer before the weights load: it says the tempo it makes the song
    # at, and the song is the pipeline's for the seed
    import soundfile as sf

    from songgen_hf.commands.cli import main

    capsys.readouterr()
    out = tmp_path / "cli.wav"
    argv = ["generate", "--model", str(base_dir), "--adapter", str(final), "--seed", "0", "--duration", "1"]
    argv += ["--description", asked["description"], "--lyrics", asked["lyrics"], "--output", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert "tempo 110 BPM" in capsys.readouterr().out
    made = pipe(asked, seed=0, duration_s=1.0, adapter="mine")["audio"].reshape(-1)
    written, _ = sf.read(out, dtype="float32")
    assert written.shape == made.shape and abs(written - made).max() <= 2 / 32768
    merged = load_text_to_song_pipeline(str(final))  # the adapter folder as the model: merged, its tempo kept
    merged.set_progress_bar_config(disable=True)
    made = merged(asked, seed=0, duration_s=1.0)
    assert made["understood"]["tempo_bpm"] == 110.0
    # an extension of the adapter's song is made at the tempo the song was made at, its bars too
    from songgen_hf.pipelines.editing import bar_seconds, extend_song

    assert merged.song_style_tempo(asked["description"]) == 110.0
    extended = extend_song(merged, made["audio"], 0.5, asked["description"], asked["lyrics"])
    assert extended["understood"]["tempo_bpm"] == 110.0
    # a pipeline whose style is the gated adapter: its edits ask the tempo as its calls do, gate and all
    styled = load_text_to_song_pipeline(str(base_dir), adapters={"mine": str(final)}, adapter="mine")
    styled.set_progress_bar_config(disable=True)
    for description in (asked["description"], unrelated):
        song = styled(dict(asked, description=description), seed=0, duration_s=1.0)
        assert song["understood"]["tempo_bpm"] == styled.song_style_tempo(description)
        extended = extend_song(styled, song["audio"], 0.5, description, asked["lyrics"])
        assert extended["understood"]["tempo_bpm"] == song["understood"]["tempo_bpm"]
    assert styled.song_style_tempo(asked["description"]) == 110.0 and styled.song_style_tempo(unrelated) is None
    assert bar_seconds(merged.processor, asked["description"], asked["lyrics"], style_tempo_bpm=80.0) == 3.0
    named = bar_seconds(merged.processor, "a calm folk song at 72 bpm", asked["lyrics"], style_tempo_bpm=80.0)
    assert named == 4 * 60.0 / 72  # a tempo the request names wins
    write_style_tempo(final, None)  # an adapter that records none: songs keep no tempo
    assert adapter_style_tempo(final) is None and tempo(adapter="mine") is None
    write_style_tempo(final, 5000)
    with pytest.raises(AdapterError, match="style_tempo_bpm must be a tempo"):
        adapter_style_tempo(final)


def test_the_gate_s_reference_is_the_lane_s_descriptions_when_the_run_names_them(encoded, base_dir, tmp_path):
    from songgen_hf.pipelines.description_gate import GATE_FILE

    lane = ["a punk song with loud guitars, a man sings", "an orchestral piece with strings, no vocals"]
    trainer = LoraTrainer(_config(encoded, base_dir, tmp_path / "run", lane_weight=0.1, lane_descriptions=lane))
    trainer._write_description_gate(tmp_path)
    record = json.loads((tmp_path / GATE_FILE).read_text())
    assert record["reference_descriptions"] == lane
    assert record["style_descriptions"] == list(dict.fromkeys(trainer.dataset.data.with_format(None)["caption"]))
