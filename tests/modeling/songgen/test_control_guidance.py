"""Control dropout (the controls dropped alone in training) and control guidance (a third branch in generate)."""

import pytest
import torch
from transformers.modeling_outputs import BaseModelOutput

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_ARRANGEMENT, UNKNOWN_KEY
from songgen_hf.modeling.songgen.logits_process_songgen import SongGenClassifierFreeGuidanceLogitsProcessor
from songgen_hf.testing import dummy_generation_inputs, dummy_inputs, tiny_songgen_config

from .guidance_helpers import greedy_first_step

CONTROLS = {"use_tempo_control": True, "use_key_control": True, "use_arrangement_control": True}
TEMPO, KEYS, ARRANGEMENTS = [120.0, 80.0], [3, 15], [4, 1]


def _model(controls=CONTROLS, seed=0, **overrides):
    torch.manual_seed(seed)
    config = tiny_songgen_config("mixed", use_voice_encoder=False, decoder=dict(controls), **overrides)
    return SongGenForConditionalGeneration(config).eval()


def _controls():
    return {
        "tempo_bpm": torch.tensor(TEMPO),
        "music_key_ids": torch.tensor(KEYS),
        "arrangement_ids": torch.tensor(ARRANGEMENTS),
    }


def _training_batch(model):
    inputs = dummy_inputs(model.config, batch_size=2, with_labels=True, seed=0)
    return {
        k: v
        for k, v in inputs.items()
        if k
        in ("input_ids", "attention_mask", "lyrics_input_ids", "lyrics_attention_mask", "decoder_input_ids", "labels")
    }


def test_control_dropout_drops_the_controls_and_keeps_the_description():
    model = _model(control_dropout_prob=1.0).train()
    batch = _training_batch(model)
    with torch.no_grad():
        torch.manual_seed(0)
        slow = model(**batch, tempo_bpm=torch.tensor([60.0, 70.0]), music_key_ids=torch.tensor([0, 1])).loss
        torch.manual_seed(0)
        fast = model(**batch, tempo_bpm=torch.tensor([180.0, 170.0]), music_key_ids=torch.tensor([5, 9])).loss
        torch.manual_seed(0)
        other_text = model(
            **{**batch, "input_ids": batch["input_ids"].flip(-1)},
            tempo_bpm=torch.tensor([60.0, 70.0]),
            music_key_ids=torch.tensor([0, 1]),
        ).loss
    assert slow.item() == fast.item()  # the controls never reach the decoder
    assert slow.item() != other_text.item()  # the description still does
    # without it, the controls reach the decoder in training
    model = _model(control_dropout_prob=0.0).train()
    with torch.no_grad():
        torch.manual_seed(0)
        slow = model(**batch, tempo_bpm=torch.tensor([60.0, 70.0]), music_key_ids=torch.tensor([0, 1])).loss
        torch.manual_seed(0)
        fast = model(**batch, tempo_bpm=torch.tensor([180.0, 170.0]), music_key_ids=torch.tensor([5, 9])).loss
    assert slow.item() != fast.item()


def test_control_dropout_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="control_dropout_prob must be a probability"):
        tiny_songgen_config(control_dropout_prob=1.5)
    model = _model(control_dropout_prob=0.2)
    model.save_pretrained(tmp_path)
    assert SongGenForConditionalGeneration.from_pretrained(tmp_path).config.control_dropout_prob == 0.2


def test_the_branches_repeat_the_controls_with_unknowns_where_asked():
    kwargs = _controls()
    SongGenForConditionalGeneration._repeat_musical_controls(kwargs, [False, True, True])
    assert kwargs["tempo_bpm"][:2].tolist() == TEMPO and torch.isnan(kwargs["tempo_bpm"][2:]).all()
    assert kwargs["music_key_ids"].tolist() == KEYS + [UNKNOWN_KEY] * 4
    assert kwargs["arrangement_ids"].tolist() == ARRANGEMENTS + [UNKNOWN_ARRANGEMENT] * 4
    kept = {"tempo_bpm": torch.tensor([120.0])}
    SongGenForConditionalGeneration._repeat_musical_controls(kept, [False, False])  # description not guided
    assert kept["tempo_bpm"].tolist() == [120.0, 120.0]


def _first_step_logits(model, memory, mask, **controls):
    first = torch.full((2 * model.pattern.num_rows, 1), 0, dtype=torch.long)
    first[:] = model.pattern.generation_mask(2, 2)[..., :1].reshape(-1, 1)
    with torch.no_grad():
        return model(
            encoder_outputs=BaseModelOutput(last_hidden_state=memory),
            attention_mask=mask,
            decoder_input_ids=first,
            **controls,
        ).logits[:, -1]


@pytest.mark.parametrize("guidance_scale", [1.0, 2.5])
def test_control_guidance_matches_a_manual_computation(guidance_scale):
    """The first free token under greedy decoding is the argmax of
    ``uncond + g * (cond - uncond) + c * (cond - no_controls)`` (no uncond term when g is 1)."""
    model = _model(control_dropout_prob=0.2)
    conditions = dummy_generation_inputs(model)
    control_scale = 4.0
    out, (memory, mask), (null, null_mask) = greedy_first_step(
        model, conditions, **_controls(), guidance_scale=guidance_scale, control_guidance_scale=control_scale
    )
    cond = _first_step_logits(model, memory, mask, **_controls())
    no_controls = _first_step_logits(model, memory, mask)
    guided = cond + control_scale * (cond - no_controls)
    if guidance_scale != 1:
        uncond = _first_step_logits(model, null, null_mask)
        guided = uncond + guidance_scale * (cond - uncond) + control_scale * (cond - no_controls)
    rows = model.pattern.num_rows
    expected = guided[..., :1024].argmax(-1).view(2, rows)
    assert torch.equal(out.sequences[:, 0, 1], expected[:, 0])  # row 0 is free at the first step
    # and the push is not nothing: plain guidance picks other tokens somewhere in these songs
    settings = dict(
        duration_s=0.3, do_sample=False, guidance_scale=2.5, return_dict_in_generate=True, decode_audio=False
    )
    plain = model.generate(**conditions, **_controls(), **settings).sequences
    pushed = model.generate(**conditions, **_controls(), control_guidance_scale=control_scale, **settings).sequences
    assert not torch.equal(plain, pushed)


def test_control_guidance_zero_is_exactly_plain_guidance():
    model = _model(control_dropout_prob=0.2)
    settings = dict(
        duration_s=0.2, do_sample=True, guidance_scale=3.0, return_dict_in_generate=True, decode_audio=False
    )
    torch.manual_seed(5)
    plain = model.generate(**dummy_generation_inputs(model), **_controls(), **settings).sequences
    torch.manual_seed(5)
    zero = model.generate(
        **dummy_generation_inputs(model), **_controls(), control_guidance_scale=0.0, **settings
    ).sequences
    assert torch.equal(plain, zero)


def test_control_guidance_is_saved_in_the_generation_config(tmp_path):
    model = _model(control_dropout_prob=0.2)
    model.generation_config.control_guidance_scale = 1.5
    model.save_pretrained(tmp_path)
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.generation_config.control_guidance_scale == 1.5


def test_bad_control_guidance_is_a_clear_error():
    model = _model(control_dropout_prob=0.2)
    for bad in (-1.0, float("nan"), 1e6, "2"):
        with pytest.raises(ValueError, match="control_guidance_scale must be a number >= 0"):
            model.generate(**dummy_generation_inputs(model), control_guidance_scale=bad, duration_s=0.06)
    without = _model(controls={})
    with pytest.raises(ValueError, match="this model has none"):
        without.generate(**dummy_generation_inputs(without), control_guidance_scale=2.0, duration_s=0.06)
    # the pipeline and CLI run the same check on the config alone, naming the user's flag
    with pytest.raises(ValueError, match="--control-guidance-scale pushes towards the musical controls"):
        check_generation_arguments(
            {"control_guidance_scale": 2.0},
            without.config,
            names={"control_guidance_scale": "--control-guidance-scale"},
        )
    with pytest.raises(ValueError, match="Nothing to guide"):
        SongGenClassifierFreeGuidanceLogitsProcessor(1.0, None, 0.0)


def test_control_guidance_on_a_model_trained_without_control_dropout_warns():
    model = _model(control_dropout_prob=0.0)
    with pytest.warns(UserWarning, match="trained without control_dropout_prob"):
        model.generate(**dummy_generation_inputs(model), **_controls(), control_guidance_scale=2.0, duration_s=0.06)
