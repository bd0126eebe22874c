"""The unconditioned system: description and lyrics nulled as training's condition dropout nulls them."""

import numpy as np
import pytest
import torch
from transformers.modeling_outputs import BaseModelOutput

from songgen_hf.evaluation.prompts import load_prompts
from songgen_hf.evaluation.runner import load_model_and_processor
from songgen_hf.evaluation.systems import SamplingOptions, generate_batch, null_condition_memory
from songgen_hf.testing import save_tiny_checkpoint

from .tiny_corpus import write_tiny_corpus


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("unconditioned")
    folder = save_tiny_checkpoint(root / "model", use_voice_encoder=False)
    model, processor = load_model_and_processor(folder, "cpu")
    _, test = write_tiny_corpus(root / "corpus", num_train=0, num_test=4, seconds=1.0)
    return model, processor, load_prompts(test, 4, 0.5)


def test_unconditioned_songs_do_not_depend_on_the_prompt(setup):
    model, processor, prompts = setup
    model.generation_config.guidance_scale = 3.0  # a saved default (as the embedded model has) must not apply
    sampling = SamplingOptions(seed=3)
    first = generate_batch(model, processor, prompts[:2], "unconditioned", sampling, batch_seed=3)
    second = generate_batch(model, processor, prompts[2:], "unconditioned", sampling, batch_seed=3)
    for a, b in zip(first, second):
        assert np.array_equal(a.codes["mix"], b.codes["mix"])
        assert np.array_equal(a.audio, b.audio)


def _first_step_logits(model, memory, mask):
    rows = model.pattern.num_rows * memory.shape[0]
    start = torch.full((rows, 1), model.config.decoder.bos_token_id)
    with torch.inference_mode():
        return model(
            encoder_outputs=BaseModelOutput(last_hidden_state=memory), attention_mask=mask, decoder_input_ids=start
        ).logits


def test_only_the_conditioned_model_listens_to_the_prompt(setup):
    """Sampled codes of a random tiny model barely depend on its prompt; its logits do."""
    model, processor, prompts = setup
    batches = [
        processor(description=[p.caption for p in batch], lyrics=[p.lyrics for p in batch])
        for batch in (prompts[:2], prompts[2:])
    ]
    with torch.inference_mode():
        conditioned = [
            _first_step_logits(
                model,
                *model.encode_conditions(
                    b["input_ids"], b["attention_mask"], b["lyrics_input_ids"], b["lyrics_attention_mask"]
                ),
            )
            for b in batches
        ]
    nulled = [_first_step_logits(model, *null_condition_memory(model, b)) for b in batches]
    assert (conditioned[0] - conditioned[1]).abs().max() > 1e-4
    assert torch.equal(nulled[0], nulled[1])


def test_null_memory_is_the_dropped_condition(setup):
    model, processor, prompts = setup
    inputs = processor(description=[p.caption for p in prompts], lyrics=[p.lyrics for p in prompts])
    memory, mask = null_condition_memory(model, inputs)
    assert memory.abs().max() == 0  # zeroed states ...
    expected_mask = np.concatenate([inputs["attention_mask"], inputs["lyrics_attention_mask"]], axis=1)
    assert np.array_equal(mask.numpy(), expected_mask)  # ... with the masks kept, as in training


def test_songs_are_cut_to_each_prompts_duration(setup):
    model, processor, prompts = setup
    short = prompts[0].__class__(**{**prompts[0].__dict__, "eval_duration": 0.3})
    clips = generate_batch(model, processor, [short, prompts[1]], "guided", SamplingOptions(), batch_seed=0)
    rate, frame_rate = model.config.sampling_rate, model.config.frame_rate
    assert [len(clip.audio) for clip in clips] == [int(0.3 * rate), int(0.5 * rate)]
    assert [clip.codes["mix"].shape[-1] for clip in clips] == [int(0.3 * frame_rate), int(0.5 * frame_rate)]


def test_a_multi_stream_model_is_evaluated_on_durations_that_are_not_whole_steps(tmp_path):
    """mixed_stream2 fills 2 frames per step; a batch whose longest prompt is an odd number of frames
    (0.3 s = 15 frames) is generated to whole steps and each clip is still cut to its own length."""
    folder = save_tiny_checkpoint(tmp_path / "model", track_pattern="mixed_stream2", use_voice_encoder=False)
    model, processor = load_model_and_processor(folder, "cpu")
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=0, num_test=2, seconds=1.0)
    prompts = load_prompts(test, 2, 0.5)
    odd = prompts[0].__class__(**{**prompts[0].__dict__, "eval_duration": 0.3})
    shorter = prompts[1].__class__(**{**prompts[1].__dict__, "eval_duration": 0.18})
    clips = generate_batch(model, processor, [odd, shorter], "guided", SamplingOptions(), batch_seed=0)
    rate = model.config.sampling_rate
    assert [len(clip.audio) for clip in clips] == [int(0.3 * rate), int(0.18 * rate)]
    assert [clip.codes["mix"].shape[-1] for clip in clips] == [15, 9]


def test_control_guidance_applies_to_the_guided_system_only(tmp_path, monkeypatch):
    """``--control-guidance-scale`` reaches 'guided'; the other systems run with it off, whatever the model saved."""
    controls = {"use_tempo_control": True, "use_key_control": True}
    folder = save_tiny_checkpoint(
        tmp_path / "model", use_voice_encoder=False, decoder=controls, control_dropout_prob=0.2
    )
    model, processor = load_model_and_processor(folder, "cpu")
    model.generation_config.control_guidance_scale = 5.0  # a saved default must not reach the other systems
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=0, num_test=2, seconds=1.0)
    prompts = load_prompts(test, 2, 0.3)
    seen = []
    original = model.generate

    def spy(**kwargs):
        seen.append((kwargs.get("guidance_scale"), kwargs.get("control_guidance_scale")))
        return original(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    sampling = SamplingOptions(seed=0, guidance_scale=3.0, control_guidance_scale=1.5)
    for system in ("guided", "no_guidance", "unconditioned"):
        clips = generate_batch(model, processor, prompts, system, sampling, batch_seed=0)
        assert all(np.isfinite(clip.audio).all() for clip in clips)
    assert seen == [(3.0, 1.5), (None, 0.0), (None, 0.0)]


def _generate_arguments(model, processor, tmp_path, monkeypatch, option: str, values, systems) -> list:
    """What ``generate`` received as ``option`` (``"absent"`` when not passed), per value of the sampling option
    and per system, in that order."""
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=0, num_test=2, seconds=1.0)
    prompts = load_prompts(test, 2, 0.3)
    seen = []
    original = model.generate

    def spy(**kwargs):
        seen.append(kwargs.get(option, "absent"))
        return original(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    for value in values:
        sampling = SamplingOptions(seed=0, guidance_scale=3.0, **{option: value})
        for system in systems:
            generate_batch(model, processor, prompts, system, sampling, batch_seed=0)
    return seen


def test_the_held_vocal_track_reaches_every_system_and_the_settings_say_so(tmp_path, monkeypatch):
    """``--no-silence-instrumental-vocals`` (the model's own vocal track) reaches every SongGen system, and
    evaluation.json records what generation did, resolved as ``generate`` resolves the default."""
    from songgen_hf.evaluation.runner import _holds_silent_vocals

    folder = save_tiny_checkpoint(
        tmp_path / "model",
        track_pattern="parallel_std",
        use_voice_encoder=False,
        decoder={"use_arrangement_control": True},
    )
    model, processor = load_model_and_processor(folder, "cpu")
    seen = _generate_arguments(
        model, processor, tmp_path, monkeypatch, "silence_instrumental_vocals", (False, None), ("guided", "no_guidance")
    )
    assert seen == [False, False, "absent", "absent"]
    assert _holds_silent_vocals(model, SamplingOptions()) is True  # the default holds where the model can
    assert _holds_silent_vocals(model, SamplingOptions(silence_instrumental_vocals=False)) is False
    model.generation_config.silence_instrumental_vocals = False  # a model saved with it off
    assert _holds_silent_vocals(model, SamplingOptions()) is False


def test_codebook_temperatures_reach_every_system_and_an_empty_setting_turns_the_saved_ones_off(tmp_path, monkeypatch):
    folder = save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False)
    model, processor = load_model_and_processor(folder, "cpu")
    seen = _generate_arguments(
        model,
        processor,
        tmp_path,
        monkeypatch,
        "codebook_temperatures",
        ({"mix": [0.5, 0.7]}, {}, None),
        ("guided", "unconditioned"),
    )
    assert seen == [{"mix": [0.5, 0.7]}] * 2 + [{}] * 2 + ["absent"] * 2
    from songgen_hf.evaluation.report import _codebook_temperatures
    from songgen_hf.evaluation.runner import _codebook_temperatures_used

    model.generation_config.codebook_temperatures = {"mix": [0.6]}  # a model saved with them
    used = [
        _codebook_temperatures_used(model, SamplingOptions(codebook_temperatures=option))
        for option in ({"mix": [0.5, 0.7]}, {}, None)
    ]
    assert used == [{"mix": [0.5, 0.7]}, None, {"mix": [0.6]}]
    assert _codebook_temperatures({"codebook_temperatures_used": used[0]}) == ", codebook temperatures mix 0.5, 0.7"
    assert _codebook_temperatures({"codebook_temperatures_used": None}) == ""
