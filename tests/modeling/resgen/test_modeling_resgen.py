"""ResGenForConditionalGeneration: a fixed number of passes, guidance, seeds, batching, round trips,
a loss that falls, audio prompts and bad input refused before any compute."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration, ResGenScheduler
from songgen_hf.testing import tiny_resgen_config

DURATION = 0.3  # 15 frames at 50 Hz


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ResGenForConditionalGeneration(tiny_resgen_config()).eval()


def _conditions(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, 7, dtype=torch.long)
    lyrics_mask = torch.ones(batch, 9, dtype=torch.long)
    for row in range(1, batch):  # later items are shorter: padding must not change them
        mask[row, 7 - 2 * row :] = 0
        lyrics_mask[row, 9 - 3 * row :] = 0
    return {
        "input_ids": torch.randint(1, 200, (batch, 7), generator=g),
        "attention_mask": mask,
        "lyrics_input_ids": torch.randint(1, 120, (batch, 9), generator=g),
        "lyrics_attention_mask": lyrics_mask,
    }


def _generate(model, conditions, **kwargs):
    kwargs = {"duration_s": DURATION, "num_inference_steps": 4, "generator": torch.Generator().manual_seed(0), **kwargs}
    return model.generate(**conditions, **kwargs)


class _CountCalls:
    def __init__(self, module):
        self.batches = []
        self.handle = module.register_forward_hook(lambda m, args, out: self.batches.append(args[0].shape[0]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("duration", [0.2, 0.9])
@pytest.mark.parametrize("guidance", [None, 3.0])
def test_every_token_is_filled_in_exactly_the_requested_passes(model, steps, duration, guidance):
    with _CountCalls(model.decoder) as calls:
        output = _generate(
            model, _conditions(), num_inference_steps=steps, duration_s=duration, guidance_scale=guidance
        )
    assert calls.batches == [2 if guidance is None else 4] * steps  # guidance: one doubled batch per pass
    frames = round(duration * 50)
    assert output.sequences.shape == (2, 4, frames)
    assert output.sequences.max() < model.config.decoder.codebook_size and output.sequences.min() >= 0
    assert output.audio.shape == (2, 1, frames * 320) and torch.isfinite(output.audio).all()


def test_guidance_one_is_exactly_no_guidance(model):
    plain = _generate(model, _conditions(), guidance_scale=None)
    one = _generate(model, _conditions(), guidance_scale=1.0)
    assert torch.equal(plain.sequences, one.sequences) and torch.equal(plain.audio, one.audio)
    # guidance changes the mixture the scheduler samples (an untrained model's conditional and null mixtures
    # are so close that the quantized tokens may still coincide)
    seen = []
    scheduler = ResGenScheduler()
    step = scheduler.step
    scheduler.step = lambda output, *args, **kwargs: seen.append(output.means) or step(output, *args, **kwargs)
    for scale in (None, 4.0):
        _generate(model, _conditions(), guidance_scale=scale, num_inference_steps=1, scheduler=scheduler)
    assert not torch.allclose(seen[0], seen[1])


def test_same_seed_same_song_other_seed_other_song(model):
    first = _generate(model, _conditions(), generator=torch.Generator().manual_seed(11))
    again = _generate(model, _conditions(), generator=torch.Generator().manual_seed(11))
    other = _generate(model, _conditions(), generator=torch.Generator().manual_seed(12))
    assert torch.equal(first.sequences, again.sequences)
    assert not torch.equal(first.sequences, other.sequences)


@pytest.mark.parametrize("guidance", [None, 2.5])
def test_a_batch_equals_its_items_generated_alone(model, guidance):
    conditions = _conditions(batch=3, seed=4)
    seeds = [21, 22, 23]
    batch = _generate(
        model, conditions, guidance_scale=guidance, generator=[torch.Generator().manual_seed(s) for s in seeds]
    )
    for row, seed in enumerate(seeds):
        length = int(conditions["attention_mask"][row].sum())
        lyrics_length = int(conditions["lyrics_attention_mask"][row].sum())
        alone = {
            "input_ids": conditions["input_ids"][row : row + 1, :length],
            "lyrics_input_ids": conditions["lyrics_input_ids"][row : row + 1, :lyrics_length],
        }
        single = _generate(model, alone, guidance_scale=guidance, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(single.sequences[0], batch.sequences[row])


def test_model_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = ResGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert type(loaded.config) is type(model.config) and loaded.config.model_type == "songgen_resgen"
    for field in ("num_codebooks", "latent_dim", "num_mixtures", "hidden_size", "max_position_embeddings"):
        assert getattr(loaded.config.decoder, field) == getattr(model.config.decoder, field)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.equal(_generate(model, _conditions()).sequences, _generate(loaded, _conditions()).sequences)


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = ResGenForConditionalGeneration(tiny_resgen_config(joint_dropout_prob=0.0)).train()
    conditions = _conditions()
    codes = torch.randint(0, 1024, (2, 4, 20), generator=torch.Generator().manual_seed(2))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(
            **conditions,
            audio_codes=codes,
            mask_ratios=torch.tensor([0.3, 0.6]),
            generator=torch.Generator().manual_seed(0),
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3, losses


def test_loss_is_computed_on_the_given_masks_only(model):
    codes = torch.randint(0, 1024, (2, 4, 10), generator=torch.Generator().manual_seed(3))
    masked = codes.clone()
    masked[:, 2:, :5] = model.mask_token_id
    first = model(**_conditions(), audio_codes=codes, masked_audio_codes=masked).loss
    assert torch.isfinite(first)
    unmasked_changed = codes.clone()
    unmasked_changed[:, :2, :5] = (unmasked_changed[:, :2, :5] + 1) % 1024  # hidden by the given input
    assert model(**_conditions(), audio_codes=unmasked_changed, masked_audio_codes=masked).loss == first
    target_changed = codes.clone()
    target_changed[:, 3, :5] = (target_changed[:, 3, :5] + 1) % 1024  # a masked token: a different target
    assert model(**_conditions(), audio_codes=target_changed, masked_audio_codes=masked).loss != first


def test_audio_prompt_frames_are_kept(model):
    prompt = torch.randint(0, 1024, (1, 8, 6), generator=torch.Generator().manual_seed(5))
    output = _generate(model, _conditions(), audio_prompt_codes=prompt, duration_s=0.4)
    assert output.sequences.shape == (2, 4, 20)
    assert torch.equal(output.sequences[:, :, :6], prompt[:, :4].expand(2, 4, 6))
    waveform = torch.randn(1, 1, 3200) * 0.1  # 10 frames of audio, encoded by the codec
    from_audio = _generate(model, _conditions(), audio_prompt=waveform, duration_s=0.4)
    encoded = model.audio_encoder.encode(waveform).audio_codes[:, :4]
    assert torch.equal(from_audio.sequences[:, :, :10], encoded.expand(2, 4, 10))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"num_inference_steps": 61}, "exceeds the 60 tokens"),
        ({"guidance_scale": 0.5}, "guidance_scale"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"duration_s": 6.0}, "positional limit"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"audio_prompt_codes": torch.zeros(1, 4, 15, dtype=torch.long)}, "not shorter than duration_s"),
        ({"generator": [torch.Generator()]}, "one torch.Generator per song"),
    ],
)
def test_bad_input_is_refused_before_any_compute(model, kwargs, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("the conditioning encoders ran before the arguments were checked")

    monkeypatch.setattr(model, "encode_condition_segments", no_compute)
    with pytest.raises(ValueError, match=match):
        _generate(model, _conditions(), **kwargs)


def test_a_custom_scheduler_drives_sampling(model):
    linear = _generate(model, _conditions(), scheduler=ResGenScheduler(mask_schedule="linear"))
    cosine = _generate(model, _conditions(), scheduler=ResGenScheduler(mask_schedule="cosine"))
    assert not torch.equal(linear.sequences, cosine.sequences)


def test_voice_and_musical_controls_condition_the_model():
    torch.manual_seed(0)
    config = tiny_resgen_config(use_voice_encoder=True, decoder={"use_tempo_control": True, "use_key_control": True})
    model = ResGenForConditionalGeneration(config).eval()
    samples = config.voice_encoder.max_samples
    inputs = {
        **_conditions(),
        "voice_values": torch.randn(2, samples, generator=torch.Generator().manual_seed(1)) * 0.1,
        "voice_attention_mask": torch.ones(2, samples, dtype=torch.long),
        "tempo_bpm": torch.tensor([120.0, float("nan")]),
        "music_key_ids": torch.tensor([3, 24]),
    }
    assert torch.isfinite(model(**inputs, audio_codes=torch.randint(0, 1024, (2, 4, 10))).loss)
    output = _generate(model, inputs, guidance_scale=2.0)
    other_tempo = _generate(model, {**inputs, "tempo_bpm": torch.tensor([60.0, float("nan")])}, guidance_scale=2.0)
    assert torch.isfinite(output.audio).all()
    assert not torch.equal(output.sequences[0], other_tempo.sequences[0])  # the tempo reaches the model


def test_latent_scale_rescales_what_the_model_sees_and_nothing_else(model):
    """codebooks() carries the scale into inputs, targets and the sampler's quantization; the codes a
    latent quantizes to do not depend on it, and the scale survives save/load."""
    from songgen_hf.modeling.resgen.mixture import residual_quantize

    torch.manual_seed(0)
    scaled = ResGenForConditionalGeneration(tiny_resgen_config(decoder={"latent_scale": 0.25})).eval()
    scaled.audio_encoder.load_state_dict(model.audio_encoder.state_dict())
    assert torch.allclose(scaled.codebooks(), model.codebooks() * 0.25)
    latent, start = torch.randn(2, 6, model.codebooks().shape[-1]) * 5, torch.zeros(2, 6, dtype=torch.long)
    tokens, _ = residual_quantize(latent, model.codebooks(), start, model.mask_token_id)
    tokens_scaled, _ = residual_quantize(latent * 0.25, scaled.codebooks(), start, model.mask_token_id)
    assert torch.equal(tokens, tokens_scaled)
    with pytest.raises(ValueError, match="latent_scale must be a positive finite number"):
        tiny_resgen_config(decoder={"latent_scale": 0.0})
