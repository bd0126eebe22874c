"""LoRA fine-tuning: decoder-only targets, clear refusals, training that leaves the base untouched,
adapter save/load/merge, generate and pipeline() on adapters, and the finetune-lora trainer
(adapter-only checkpoints, exact resume)."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel
from peft.tuners.lora import LoraLayer
from transformers import pipeline

import songgen_hf  # noqa: F401  (registers the model classes and the text-to-song task)
from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.data.encode import EncodeOptions, encode_manifest
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.pipelines import register_text_to_song_pipeline
from songgen_hf.testing import dummy_inputs, save_tiny_checkpoint, tiny_songgen_config
from songgen_hf.training import lora_cli
from songgen_hf.training.checkpointing import latest_checkpoint
from songgen_hf.training.lora import (
    ADAPTER_WEIGHTS_FILE,
    apply_lora,
    load_lora,
    lora_config_for_songgen,
    merge_lora,
    modules_to_save_for_songgen,
    save_adapter,
)
from songgen_hf.training.lora_trainer import LoraTrainer, LoraTrainingConfig, finetune_lora
from songgen_hf.training.songgen_trainer import LOG_FILE

from ..data.tone_songs import save_tiny_codec, write_tone_songs
from .interruption import logged_losses as _losses
from .interruption import sigterm_during_step

register_text_to_song_pipeline()

NOT_DECODER = (
    "text_encoder",
    "enc_to_dec_proj",
    "lyrics_encoder",
    "lyrics_to_dec_proj",
    "voice_encoder",
    "audio_encoder",
)
SONG = {"description": "an upbeat pop song with a female voice", "lyrics": "hold me close tonight"}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("lora_base") / "base")


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, base_dir):
    """Tone songs encoded with the base's own codec, as songgen data encode --codec BASE encodes them."""
    root = tmp_path_factory.mktemp("lora_data")
    manifest = write_tone_songs(root / "songs")
    encode_manifest(manifest, base_dir, root / "encoded", EncodeOptions())
    return root / "encoded"


def test_songs_encoded_by_another_codec_are_refused_before_training(base_dir, tmp_path, capsys):
    """Codes mean sounds only to the codec that made them: an adapter trained on another codec's codes would learn
    noise, so finetune-lora names the fix instead of training."""
    manifest = write_tone_songs(tmp_path / "songs")
    encode_manifest(manifest, save_tiny_codec(tmp_path / "codec"), tmp_path / "encoded", EncodeOptions())
    config = _config(tmp_path / "encoded", base_dir, tmp_path / "run", max_steps=1)
    with pytest.raises(ValueError, match=r"encoded by another codec than .*songgen data encode MANIFEST --codec"):
        finetune_lora(config)
    assert not (tmp_path / "run" / "final").exists()


def _base(base_dir) -> SongGenForConditionalGeneration:
    return SongGenForConditionalGeneration.from_pretrained(base_dir).eval()


def _logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def _plain_state(model) -> dict:
    """The base weights, under their original names, whatever PEFT wrapped around them."""
    state = {}
    for key, value in model.state_dict().items():
        if ".lora_" in key or ".modules_to_save." in key:
            continue
        state[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = value.clone()
    return state


@pytest.fixture(scope="module")
def trained(base_dir):
    """A LoRA model (with trained heads) after a few AdamW steps on dummy batches."""
    torch.manual_seed(0)
    model = _base(base_dir)
    before = _plain_state(model)
    peft_model = apply_lora(
        model, lora_config_for_songgen(r=4, alpha=8, dropout=0.0, train_heads=True, model_config=model.config)
    )
    inputs = dummy_inputs(model.config, seed=1)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model.train()
    for _ in range(3):
        peft_model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    peft_model.eval()
    return {"model": peft_model, "before": before, "inputs": inputs}


# ---------------------------------------------------------------------------------- targeting
def test_lora_targets_only_decoder_linears(base_dir):
    model = _base(base_dir)
    peft_model = apply_lora(model, lora_config_for_songgen())
    adapted = [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    rows = model.config.decoder.num_rows
    heads = {f"decoder.lm_heads.{i}" for i in range(rows)} | {f"decoder.vocal_lm_heads.{i}" for i in range(rows)}
    layer_linears = {
        f"decoder.model.layers.{i}.{block}.{proj}_proj"
        for i in range(2)
        for block in ("self_attn", "encoder_attn")
        for proj in ("q", "k", "v", "out")
    } | {f"decoder.model.layers.{i}.fc{j}" for i in range(2) for j in (1, 2)}
    assert set(adapted) == layer_linears | heads  # the per-codebook heads by default, as low-rank updates too
    assert not any(name.startswith(NOT_DECODER) for name in adapted)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert not any(p.requires_grad for name in NOT_DECODER for p in getattr(model, name).parameters())

    # the heads chosen with the layers or on their own; a layer choice leaves them adapted
    model = _base(base_dir)
    apply_lora(model, lora_config_for_songgen(targets=["heads"]))
    assert {name for name, module in model.named_modules() if isinstance(module, LoraLayer)} == heads
    model = _base(base_dir)
    apply_lora(model, lora_config_for_songgen(targets=["ffn", "heads"], layers=[0]))
    adapted = {name for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    assert adapted == {"decoder.model.layers.0.fc1", "decoder.model.layers.0.fc2"} | heads
    # heads trained in full take the heads out of the low-rank targets (a head cannot be both)
    model = _base(base_dir)
    peft_model = apply_lora(model, lora_config_for_songgen(train_heads=True, model_config=model.config))
    adapted = {name for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    assert adapted == layer_linears
    assert any(".modules_to_save." in n and "lm_heads.0." in n for n, _ in peft_model.named_parameters())

    # a narrower choice: one projection of one layer; heads trained in full, each head on its own
    model = _base(base_dir)
    config = lora_config_for_songgen(
        targets=["encoder_attn.v_proj"], layers=[1], train_heads=True, model_config=model.config
    )
    peft_model = apply_lora(model, config)
    adapted = [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    assert adapted == ["decoder.model.layers.1.encoder_attn.v_proj"]
    heads = {
        n.split(".modules_to_save.")[0]
        for n, p in peft_model.named_parameters()
        if p.requires_grad and ".modules_to_save." in n
    }
    assert heads == {f"base_model.model.decoder.lm_heads.{i}" for i in range(rows)} | {
        f"base_model.model.decoder.vocal_lm_heads.{i}" for i in range(rows)
    }
    # a 2-stream model with vocal heads has one per row (2K), like its mix heads
    stream_heads = modules_to_save_for_songgen(tiny_songgen_config("mixed_pro_stream2"), train_heads=True)
    assert len([name for name in stream_heads if ".vocal_lm_heads." in name]) == 16


def test_bad_targets_are_refused_clearly(base_dir):
    model = _base(base_dir)
    config = lora_config_for_songgen(layers=[7])  # the tiny decoder has 2 layers
    with pytest.raises(ValueError, match=r"matches no module.*a LoRA target that matches nothing") as error:
        apply_lora(model, config)  # refused although its heads alternative matches: the layers it names do not
    assert config.target_modules in str(error.value)
    assert not any(isinstance(m, LoraLayer) for m in model.modules())
    with pytest.raises(ValueError, match="Unknown LoRA target 'mlp'"):
        lora_config_for_songgen(targets=["self_attn", "mlp"])
    with pytest.raises(ValueError, match="reaches outside the decoder"):
        apply_lora(model, LoraConfig(target_modules=r".*\.(q|v)_proj", task_type=None))
    with pytest.raises(ValueError, match="task_type=None"):
        apply_lora(model, LoraConfig(target_modules=r"decoder\.model\.layers\.0\.fc1", task_type="CAUSAL_LM"))
    with pytest.raises(ValueError, match="need model_config"):
        lora_config_for_songgen(train_heads=True)
    with pytest.raises(ValueError, match="'heads' is the only LoRA target"):
        lora_config_for_songgen(targets=["heads"], train_heads=True, model_config=model.config)


# ---------------------------------------------------------------------------------- training, saving, merging
def test_training_changes_outputs_and_leaves_base_weights_bit_identical(trained, base_dir):
    peft_model, inputs = trained["model"], trained["inputs"]
    base_logits = _logits(_base(base_dir), inputs)
    assert (_logits(peft_model, inputs) - base_logits).abs().max() > 1e-3
    with peft_model.disable_adapter():
        torch.testing.assert_close(_logits(peft_model, inputs), base_logits, rtol=0, atol=0)
    after = _plain_state(peft_model.get_base_model())
    assert after.keys() == trained["before"].keys()
    assert all(torch.equal(after[key], trained["before"][key]) for key in after)


def test_adapter_saves_small_and_reloads_and_merges_to_the_same_logits(trained, base_dir, tmp_path):
    peft_model, inputs = trained["model"], trained["inputs"]
    expected = _logits(peft_model, inputs)
    folder = save_adapter(peft_model, tmp_path / "adapter")
    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(Path(base_dir).resolve())
    assert adapter_config["task_type"] is None
    assert not (folder / "model.safetensors").exists()
    # the heads are saved in full (train_heads), the base's encoders and codec never
    assert (folder / ADAPTER_WEIGHTS_FILE).stat().st_size < (Path(base_dir) / "model.safetensors").stat().st_size / 3

    reloaded = PeftModel.from_pretrained(_base(base_dir), str(folder)).eval()
    torch.testing.assert_close(_logits(reloaded, inputs), expected, rtol=0, atol=1e-6)
    by_path = load_lora(None, folder).eval()  # base found through the adapter config
    torch.testing.assert_close(_logits(by_path, inputs), expected, rtol=0, atol=1e-6)

    merged = merge_lora(by_path)
    assert type(merged) is SongGenForConditionalGeneration
    assert not any(isinstance(m, LoraLayer) for m in merged.modules())
    torch.testing.assert_close(_logits(merged, inputs), expected, rtol=0, atol=1e-5)


def test_generate_and_pipeline_run_on_the_adapter(trained, base_dir, tmp_path, monkeypatch):
    peft_model = trained["model"]
    processor = SongGenProcessor.from_pretrained(base_dir)
    features = processor(description=SONG["description"], lyrics=SONG["lyrics"], return_tensors="pt")
    # PeftModel.generate passes every kwarg through to SongGen's own generate
    output = peft_model.generate(
        **features, duration_s=0.2, min_duration_s=0.2, do_sample=False, return_dict_in_generate=True
    )
    assert output.audio.shape[-1] == int(0.2 * 16000) and torch.isfinite(output.audio).all()

    folder = save_adapter(peft_model, tmp_path / "adapter")
    processor.save_pretrained(folder)
    monkeypatch.chdir(tmp_path)  # the recorded base path is absolute: it resolves from anywhere
    pipe = pipeline("text-to-song", model=str(folder))
    assert type(pipe.model) is SongGenForConditionalGeneration
    # merged into its base's weights, as load_text_to_song_pipeline(ADAPTER) loads it: the same model
    assert not any(isinstance(m, LoraLayer) for m in pipe.model.modules())
    torch.testing.assert_close(
        _logits(pipe.model, trained["inputs"]), _logits(peft_model, trained["inputs"]), rtol=0, atol=1e-5
    )
    song = pipe(SONG, duration_s=0.2, min_duration_s=0.2, do_sample=False)
    reference = peft_model.generate(
        **features, duration_s=0.2, min_duration_s=0.2, do_sample=False, return_dict_in_generate=True
    )
    assert song["audio"].shape == (1, int(0.2 * 16000))
    torch.testing.assert_close(torch.from_numpy(song["audio"]), reference.audio[0].float(), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------- the trainer
def _config(encoded, base_dir, output_dir, **overrides):
    options = dict(
        train_data=str(encoded),
        init_from=str(base_dir),
        output_dir=str(output_dir),
        batch_size=2,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        log_steps=1,
        save_steps=2,
        max_steps=4,
        warmup_steps=1,
        lora_targets=["self_attn", "encoder_attn"],
        seed=0,
    )
    options.update(overrides)
    return LoraTrainingConfig(**options)


def test_finetune_lora_saves_only_the_adapter_and_resumes_exactly(encoded, base_dir, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    config_file = tmp_path / "lora.json"
    config = _config(encoded, base_dir, straight, lora_dropout=0.1, voice_dropout_prob=0.5)
    config_file.write_text(json.dumps(vars(config)))
    assert lora_cli.main([str(config_file), "--set", "max_steps=4"]) == 0

    final = straight / "final"
    names = {p.name for p in final.iterdir()}
    assert {
        "adapter_config.json",
        ADAPTER_WEIGHTS_FILE,
        "processor_config.json",
        "vocab.json",
        "training_config.json",
    } <= names
    assert "model.safetensors" not in names
    base_size = (Path(base_dir) / "model.safetensors").stat().st_size
    assert (final / ADAPTER_WEIGHTS_FILE).stat().st_size < base_size / 20
    checkpoint = latest_checkpoint(straight)
    assert not list(checkpoint.glob("model*.safetensors")) and not list(checkpoint.glob("pytorch_model*"))
    assert sum(p.stat().st_size for p in checkpoint.rglob("*") if p.is_file()) < base_size / 5
    # the adapter moved the model and loads onto the untouched base from the final folder alone
    adapted = load_lora(None, final).eval()
    inputs = dummy_inputs(adapted.config, seed=2)
    assert (_logits(adapted, inputs) - _logits(_base(base_dir), inputs)).abs().max() > 1e-4
    assert json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        Path(base_dir).resolve()
    )

    # killed during step 3 (after the step-2 checkpoint), resumed: the same losses and adapter bit for bit
    interrupted = tmp_path / "interrupted"
    with monkeypatch.context() as patch, pytest.raises(SystemExit) as stop:
        sigterm_during_step(patch, LoraTrainer, step=3)
        finetune_lora(_config(encoded, base_dir, interrupted, lora_dropout=0.1, voice_dropout_prob=0.5))
    assert stop.value.code == 143
    assert sorted(_losses(interrupted)) == [1, 2, 3]
    resumed_final = finetune_lora(
        _config(encoded, base_dir, interrupted, lora_dropout=0.1, voice_dropout_prob=0.5), resume=True
    )
    assert _losses(interrupted) == _losses(straight)
    from safetensors.torch import load_file

    a, b = load_file(final / ADAPTER_WEIGHTS_FILE), load_file(resumed_final / ADAPTER_WEIGHTS_FILE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # resuming with another adapter shape is refused, naming the mismatch
    with pytest.raises(ValueError, match="r=4 but this run's is 8"):
        LoraTrainer(_config(encoded, base_dir, interrupted, lora_r=8)).resume()


def test_finetune_lora_logs_the_held_out_loss_of_the_adapted_model(encoded, base_dir, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        finetune_lora(_config(encoded, base_dir, tmp_path, max_steps=2, validation_data=str(encoded)))
    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    validations = {r["step"]: r["validation_loss"] for r in records if "validation_loss" in r}
    assert sorted(validations) == [0, 2] and all(torch.isfinite(torch.tensor(v)) for v in validations.values())
    assert validations[2] != validations[0]  # the adapter, not the frozen base, is what was scored at the end
    assert "shares folders with train_data" in caplog.text  # the same songs: said, since the figure is not held-out


def test_lora_training_configs_are_checked(encoded, base_dir, tmp_path):
    with pytest.raises(ValueError, match="needs `init_from`"):
        LoraTrainingConfig(train_data=str(encoded), model={"preset": "tiny"})
    with pytest.raises(ValueError, match="does not apply to LoRA"):
        _config(encoded, base_dir, tmp_path, freeze="none")
    with pytest.raises(ValueError, match="Unknown LoRA target"):
        _config(encoded, base_dir, tmp_path, lora_targets=["all-linear"])
    with pytest.raises(ValueError, match=r"lora_r \(the LoRA rank\) is 0; it must be a whole number from 1 to 4,096"):
        _config(encoded, base_dir, tmp_path, lora_r=0)
    with pytest.raises(ValueError, match=r"lora_r \(the LoRA rank\) is 1000000000; .*limits.MAX_LORA_RANK"):
        _config(encoded, base_dir, tmp_path, lora_r=10**9)  # refused, not allocated
    with pytest.raises(ValueError, match=r"lora_alpha is 1000000000.0; it must be a number above 0 and at most 65,536"):
        _config(encoded, base_dir, tmp_path, lora_alpha=1e9)
    path = tmp_path / "bad.yaml"
    path.write_text(f"train_data: {encoded}\ninit_from: {base_dir}\nlora_rank: 4\n")
    assert lora_cli.main([str(path)]) == 2  # unknown option -> exit code 2


def test_the_adapter_is_trained_with_the_bases_objective(encoded, tmp_path, monkeypatch):
    """An adapter learns under the objective its base was trained with: the base's condition dropout (so guidance
    keeps working on the adapter), the same loss and the same codebook weighting.  A fresh adapter (its B at zero)
    computes the base's function, so its first logged loss equals a full run's from the same base, seed and
    batches; a run that sets no dropout of its own keeps the base's, besides the key's own drop a LoRA run adds
    (``DEFAULT_CONTROL_EACH_DROPOUT``), drawn after every other mask."""
    from songgen_hf.modeling.songgen.configuration_songgen import CONDITION_DROPOUT_FIELDS
    from songgen_hf.training.lora_trainer import DEFAULT_CONTROL_EACH_DROPOUT
    from songgen_hf.training.songgen_config import SongGenTrainingConfig
    from songgen_hf.training.songgen_trainer import SongGenTrainer

    base = save_tiny_checkpoint(tmp_path / "base")
    config = json.loads((base / "config.json").read_text())
    asked = {"description_dropout_prob": 0.3, "lyrics_dropout_prob": 0.25, "joint_dropout_prob": 0.2}
    config.update(asked)
    config["initial_codebook_weights"] = [4.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5][: config["decoder"]["num_codebooks"]]
    (base / "config.json").write_text(json.dumps(config))

    lora_config = _config(encoded, base, tmp_path / "lora", lora_dropout=0.0, max_steps=1, save_steps=100)
    lora = LoraTrainer(lora_config)
    # the same run in full: every option a SongGen training stage has, as the adapter's run sets it
    stage = {item.name: getattr(lora_config, item.name) for item in dataclasses.fields(SongGenTrainingConfig)}
    full = SongGenTrainer(SongGenTrainingConfig(**{**stage, "output_dir": str(tmp_path / "full")}))
    adapted = lora.peft_model.get_base_model()
    for name in CONDITION_DROPOUT_FIELDS:
        expected = DEFAULT_CONTROL_EACH_DROPOUT if name == "control_each_dropout_prob" else config[name]
        assert getattr(adapted.config, name) == getattr(full.model.config, name) == expected, name
    assert config.get("control_each_dropout_prob", 0.0) == 0.0  # the base's own folder keeps its value
    assert torch.equal(lora.codebook_weights(), full.codebook_weights())
    assert lora.codebook_weights().tolist() != [1.0] * len(config["initial_codebook_weights"])
    drawn = []
    draw = SongGenForConditionalGeneration.training_condition_drops

    def recorded(model, batch, device):
        drops = draw(model, batch, device)
        drawn.append((model.training, sorted(drops)))
        return drops

    monkeypatch.setattr(SongGenForConditionalGeneration, "training_condition_drops", recorded)
    lora.train()
    # the adapter's steps drew the condition drops (the base model in training mode under the adapter)
    assert drawn and all(training and {"description", "lyrics"} <= set(names) for training, names in drawn), drawn
    full.train()
    assert _losses(tmp_path / "lora")[1] == pytest.approx(_losses(tmp_path / "full")[1], rel=1e-5)


def test_an_adapter_that_would_load_in_name_only_is_refused(trained, base_dir, tmp_path):
    """Keys renamed (or of another architecture) leave peft's layers at their zero start, with a warning at most:
    refused, naming the first weight that found no home.  An adapter of another base's shapes: one line."""
    from safetensors.torch import load_file, save_file

    folder = save_adapter(trained["model"], tmp_path / "adapter")
    assert load_lora(base_dir, folder) is not None
    state = load_file(folder / ADAPTER_WEIGHTS_FILE)
    renamed = {key.replace("self_attn", "self_attention"): value for key, value in state.items()}
    save_file(renamed, folder / ADAPTER_WEIGHTS_FILE)
    with pytest.raises(
        ValueError, match=r"does not fit its base: \d+ of its \d+ weights name no module .*self_attention"
    ):
        load_lora(base_dir, folder)

    save_file(state, folder / ADAPTER_WEIGHTS_FILE)
    wider = save_tiny_checkpoint(tmp_path / "wider", decoder={"hidden_size": 48})
    with pytest.raises(ValueError, match=r"does not fit its base .*made for another base") as caught:
        load_lora(wider, folder)
    assert "\n" not in str(caught.value)


def test_info_shows_an_adapters_base_targets_rank_and_effect(trained, base_dir, tmp_path, capsys):
    from songgen_hf.commands.cli import main
    from songgen_hf.pipelines.adapter_folders import adapter_effect

    folder = save_adapter(trained["model"], tmp_path / "adapter")
    SongGenProcessor.from_pretrained(base_dir).save_pretrained(folder)
    effect = adapter_effect(folder, base_dir)
    assert effect["modules"] and not effect["homeless"] and 0 < effect["median"] <= effect["max"]
    assert main(["info", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "rank: 4" in shown and "target_modules" in shown and "effect" in shown and "median" in shown, shown
    fresh = save_adapter(apply_lora(_base(base_dir), lora_config_for_songgen(r=4)), tmp_path / "fresh")
    assert adapter_effect(fresh, base_dir)["max"] == 0.0  # B starts at zero: no effect, and info says so


def test_an_adapter_card_names_its_base_for_the_hub_never_a_local_path(encoded, base_dir, tmp_path):
    """peft's blank template is replaced by a filled card: library_name, base_model by embedded name or Hub id
    (never an absolute path on the trainer's disk), rank, targets, usage, and the run's data and steps."""
    from songgen_hf.pipelines.loading import DEFAULT_MODEL_NAME, default_model_path

    final = finetune_lora(_config(encoded, base_dir, tmp_path / "run", max_steps=1))
    card = (final / "README.md").read_text()
    assert "[More Information Needed]" not in card and "library_name: peft" in card
    assert str(tmp_path) not in card and str(Path(base_dir).resolve()) not in card and "rank 4" in card
    assert "- steps: 1" in card and "songgen generate --model" in card
    default = save_adapter(
        apply_lora(SongGenForConditionalGeneration.from_pretrained(default_model_path()), lora_config_for_songgen(r=2)),
        tmp_path / "on_default",
    )
    card = (default / "README.md").read_text()
    assert f"base_model: {DEFAULT_MODEL_NAME}" in card and str(default_model_path()) not in card


def test_a_run_shows_its_progress_and_writes_no_checkpoint_it_was_not_asked_for(encoded, base_dir, tmp_path, capsys):
    """Off a terminal, one line per logged step as transformers' Trainer reports it (step, loss, steps per second,
    time left); save_steps beyond max_steps: no checkpoint folder, only final/."""
    run = tmp_path / "run"
    final = finetune_lora(_config(encoded, base_dir, run, max_steps=4, save_steps=100, log_steps=2))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("finetune-lora: step")]
    assert [line.split(" | ")[0] for line in lines] == ["finetune-lora: step 2/4", "finetune-lora: step 4/4"]
    losses = [json.loads(row)["loss"] for row in (run / LOG_FILE).read_text().splitlines() if '"loss"' in row]
    assert f"loss {losses[-1]:.4f}" in lines[-1] and "steps/s" in lines[-1] and "left" in lines[0]
    assert latest_checkpoint(run) is None and not list(run.glob("checkpoints/*"))
    assert final.is_dir()


def test_gradient_checkpointing_recomputes_the_layers_and_trains_the_same_adapter(encoded, base_dir, tmp_path):
    """``gradient_checkpointing: true`` runs each decoder layer again in the backward pass (its activations are not
    kept) and trains the same adapter: the same losses and adapter weights as the run that keeps them."""
    from safetensors.torch import load_file

    from songgen_hf.modeling.songgen.modeling_songgen import SongGenDecoderLayer

    residuals = []  # a decoder layer's residual additions in training mode: 3 per layer per forward
    original = SongGenDecoderLayer._residual

    def counted(self, residual, update):
        residuals.append(self.training)
        return original(self, residual, update)

    finals, counts = {}, {}
    for checkpointing in (False, True):
        residuals.clear()
        # without early stop the recompute runs each layer to its end, so each residual is counted twice
        with pytest.MonkeyPatch.context() as patch, torch.utils.checkpoint.set_checkpoint_early_stop(False):
            patch.setattr(SongGenDecoderLayer, "_residual", counted)
            run = tmp_path / f"checkpointing_{checkpointing}"
            config = _config(
                encoded,
                base_dir,
                run,
                max_steps=2,
                save_steps=100,
                lora_dropout=0.0,
                gradient_checkpointing=checkpointing,
            )
            finals[checkpointing] = finetune_lora(config)
        counts[checkpointing] = sum(residuals)
    layers = tiny_songgen_config().decoder.num_hidden_layers
    assert counts[False] == 2 * layers * 3  # 2 steps, each layer once
    assert counts[True] == 2 * counts[False]  # and once more, recomputed in the backward pass
    kept, recomputed = finals[False], finals[True]
    assert _losses(kept.parent) == pytest.approx(_losses(recomputed.parent), rel=1e-6)
    a, b = load_file(kept / ADAPTER_WEIGHTS_FILE), load_file(recomputed / ADAPTER_WEIGHTS_FILE)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(a[k].abs().max() > 0 for k in a if "lora_B" in k)  # the adapter did train


def test_an_adapter_trains_on_an_int8_base_and_loads_onto_the_float_one(encoded, base_dir, tmp_path):
    """``base_int8: true`` holds the decoder layers' frozen linears in int8 while the adapter trains in float32: the
    first loss is the float base's within the rounding of int8 weights, the adapter trains, and it loads onto the
    float base as any adapter does."""
    from torchao.utils import TorchAOBaseTensor

    runs = {}
    for int8 in (False, True):
        run = tmp_path / f"int8_{int8}"
        trainer = LoraTrainer(
            _config(encoded, base_dir, run, max_steps=2, save_steps=100, lora_dropout=0.0, base_int8=int8)
        )
        decoder = trainer.peft_model.get_base_model().decoder
        linears = {
            name: m for name, m in decoder.named_modules() if isinstance(m, torch.nn.Linear) and "lora_" not in name
        }
        quantised = {name for name, m in linears.items() if isinstance(m.weight, TorchAOBaseTensor)}
        if int8:  # every linear of the decoder layers, and nothing else (the heads stay float and trainable)
            assert quantised and quantised == {name for name in linears if ".layers." in f".{name}"}
        else:
            assert not quantised
        trainer.train()
        runs[int8] = (_losses(run), trainer.save_final() if not (run / "final").is_dir() else run / "final")
    (float_losses, _), (int8_losses, adapter) = runs[False], runs[True]
    assert int8_losses[1] == pytest.approx(float_losses[1], rel=2e-3) and int8_losses[1] != float_losses[1]
    adapted = load_lora(base_dir, adapter).eval()  # the float base
    inputs = dummy_inputs(adapted.config, seed=2)
    assert (_logits(adapted, inputs) - _logits(_base(base_dir), inputs)).abs().max() > 1e-4
