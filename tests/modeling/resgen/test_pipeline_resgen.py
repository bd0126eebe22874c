"""ResGenPipeline's sampling loop over a tiny model: set_timesteps once and one scheduler step per pass, a fixed
number of passes, guidance, seeds, batching, audio prompts, a custom scheduler, the step callback, and the model's
``generate`` as the same loop."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration, ResGenScheduler
from songgen_hf.modeling.resgen.mixture import guide
from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline
from songgen_hf.testing import dummy_resgen_inputs, tiny_resgen_config

DURATION = 0.3  # 15 frames at 50 Hz


def _sample(model, conditions, scheduler=None, **kwargs):
    pipe = ResGenPipeline(transformer=model, scheduler=scheduler or ResGenScheduler())
    pipe.set_progress_bar_config(disable=True)
    kwargs = {
        "duration_s": DURATION,
        "num_inference_steps": 4,
        "generator": torch.Generator().manual_seed(0),
        "output_type": "pt",
        **kwargs,
    }
    return pipe(condition_inputs=conditions, **kwargs)


class _CountCalls:
    def __init__(self, module):
        self.batches = []
        self.handle = module.register_forward_hook(lambda m, args, out: self.batches.append(args[0].shape[0]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


class _CountingScheduler(ResGenScheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def set_timesteps(self, num_inference_steps, device=None):
        self.calls.append(("set_timesteps", num_inference_steps))
        super().set_timesteps(num_inference_steps, device=device)

    def step(self, model_output, timestep, sample, *args, **kwargs):
        self.calls.append(("step", int(timestep)))
        return super().step(model_output, timestep, sample, *args, **kwargs)


@pytest.mark.parametrize("door", ["pipeline", "generate"])
def test_the_loop_sets_the_timesteps_once_and_steps_once_per_pass(model, door):
    scheduler = _CountingScheduler()
    if door == "pipeline":
        _sample(model, dummy_resgen_inputs(), scheduler=scheduler, num_inference_steps=3, guidance_scale=2.0)
    else:
        model.generate(**dummy_resgen_inputs(), scheduler=scheduler, num_inference_steps=3, duration_s=DURATION)
    assert scheduler.calls == [("set_timesteps", 3), ("step", 0), ("step", 1), ("step", 2)]


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("duration", [0.2, 0.9])
@pytest.mark.parametrize("guidance", [None, 3.0])
def test_every_token_is_filled_in_exactly_the_requested_passes(model, steps, duration, guidance):
    with _CountCalls(model.decoder) as calls:
        output = _sample(
            model, dummy_resgen_inputs(), num_inference_steps=steps, duration_s=duration, guidance_scale=guidance
        )
    assert calls.batches == [2 if guidance is None else 4] * steps  # guidance: one doubled batch per pass
    frames = round(duration * 50)
    assert output.sequences.shape == (2, 4, frames)
    assert output.sequences.max() < model.config.decoder.codebook_size and output.sequences.min() >= 0
    assert output.audios.shape == (2, 1, frames * 320) and torch.isfinite(output.audios).all()


def test_the_loop_is_the_decoder_guidance_and_the_scheduler(model):
    """The pipeline's passes are exactly: the decoder over the grid and the null condition's grid, the guided
    mixture, one scheduler step; nothing else draws from the generator or changes the tokens."""
    conditions, steps, scale = dummy_resgen_inputs(), 3, 2.5
    segments = model.encode_condition_segments(**conditions)
    songs, null = (
        model.fuse_condition_segments(segments),
        model.fuse_condition_segments(segments, dict.fromkeys(segments, True)),
    )
    memory, memory_mask = torch.cat([songs[0], null[0]]), torch.cat([songs[1], null[1]])
    scheduler, codebooks, generator = ResGenScheduler(), model.codebooks(), torch.Generator().manual_seed(0)
    scheduler.set_timesteps(steps)
    tokens = torch.full((2, 4, round(DURATION * 50)), model.mask_token_id)
    with torch.no_grad():
        for timestep in scheduler.timesteps:
            both = model.decoder(torch.cat([tokens, tokens]), codebooks, memory, memory_mask)
            mixture = guide(both.select(slice(0, 2)), both.select(slice(2, None)), scale)
            tokens = scheduler.step(mixture, timestep, tokens, codebooks, generator=generator).prev_sample
    assert torch.equal(_sample(model, conditions, num_inference_steps=steps, guidance_scale=scale).sequences, tokens)


def test_generate_is_the_pipeline_loop(model):
    kwargs = {"num_inference_steps": 3, "guidance_scale": 2.0, "duration_s": DURATION}
    by_pipeline = _sample(model, dummy_resgen_inputs(), **kwargs)
    by_generate = model.generate(**dummy_resgen_inputs(), generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.equal(by_generate.sequences, by_pipeline.sequences)
    assert torch.equal(by_generate.audio, by_pipeline.audios)
    assert by_generate.audio_lengths.tolist() == [by_pipeline.audios.shape[-1]] * 2
    codes_only = model.generate(
        **dummy_resgen_inputs(), generator=torch.Generator().manual_seed(0), decode_audio=False, **kwargs
    )
    assert torch.equal(codes_only.sequences, by_pipeline.sequences) and codes_only.audio is None


def test_generate_progress_wraps_the_passes_as_a_loop_would(model):
    seen = []

    def progress(steps):
        seen.append("open")
        for step in steps:
            yield step
            seen.append("tick")
        seen.append("end")

    model.generate(**dummy_resgen_inputs(), num_inference_steps=3, duration_s=DURATION, progress=progress)
    assert seen == ["open", "tick", "tick", "tick", "end"]


def test_the_step_callback_sees_every_pass_and_the_latent_output_is_the_codes(model):
    masked = []

    def callback(pipe, step, timestep, callback_kwargs):
        masked.append((step, int(timestep), int((callback_kwargs["tokens"] == model.mask_token_id).sum())))
        return callback_kwargs

    output = _sample(
        model, dummy_resgen_inputs(), num_inference_steps=4, output_type="latent", callback_on_step_end=callback
    )
    assert [(step, timestep) for step, timestep, _ in masked] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    counts = [count for *_, count in masked]
    assert counts == sorted(counts, reverse=True) and counts[-1] == 0 and counts[0] < 2 * 4 * 15
    assert torch.equal(output.audios, output.sequences) and output.sequences.dtype == torch.long


def test_guidance_one_is_exactly_no_guidance(model):
    plain = _sample(model, dummy_resgen_inputs(), guidance_scale=None)
    one = _sample(model, dummy_resgen_inputs(), guidance_scale=1.0)
    assert torch.equal(plain.sequences, one.sequences) and torch.equal(plain.audios, one.audios)
    # guidance changes the mixture the scheduler samples (an untrained model's conditional and null mixtures
    # are so close that the quantized tokens may still coincide)
    seen = []
    scheduler = ResGenScheduler()
    step = scheduler.step
    scheduler.step = lambda output, *args, **kwargs: seen.append(output.means) or step(output, *args, **kwargs)
    for scale in (None, 4.0):
        _sample(model, dummy_resgen_inputs(), guidance_scale=scale, num_inference_steps=1, scheduler=scheduler)
    assert not torch.allclose(seen[0], seen[1])


def test_same_seed_same_song_other_seed_other_song(model):
    first = _sample(model, dummy_resgen_inputs(), generator=torch.Generator().manual_seed(11))
    again = _sample(model, dummy_resgen_inputs(), generator=torch.Generator().manual_seed(11))
    other = _sample(model, dummy_resgen_inputs(), generator=torch.Generator().manual_seed(12))
    assert torch.equal(first.sequences, again.sequences)
    assert not torch.equal(first.sequences, other.sequences)


@pytest.mark.parametrize("guidance", [None, 2.5])
def test_a_batch_equals_its_items_generated_alone(model, guidance):
    conditions = dummy_resgen_inputs(batch=3, seed=4)
    seeds = [21, 22, 23]
    batch = _sample(
        model, conditions, guidance_scale=guidance, generator=[torch.Generator().manual_seed(s) for s in seeds]
    )
    for row, seed in enumerate(seeds):
        length = int(conditions["attention_mask"][row].sum())
        lyrics_length = int(conditions["lyrics_attention_mask"][row].sum())
        alone = {
            "input_ids": conditions["input_ids"][row : row + 1, :length],
            "lyrics_input_ids": conditions["lyrics_input_ids"][row : row + 1, :lyrics_length],
        }
        single = _sample(model, alone, guidance_scale=guidance, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(single.sequences[0], batch.sequences[row])


def test_audio_prompt_frames_are_kept(model):
    prompt = torch.randint(0, 1024, (1, 8, 6), generator=torch.Generator().manual_seed(5))
    output = _sample(model, dummy_resgen_inputs(), audio_prompt_codes=prompt, duration_s=0.4)
    assert output.sequences.shape == (2, 4, 20)
    assert torch.equal(output.sequences[:, :, :6], prompt[:, :4].expand(2, 4, 6))
    waveform = torch.randn(1, 1, 3200) * 0.1  # 10 frames of audio, encoded by the codec
    from_audio = _sample(model, dummy_resgen_inputs(), audio_prompt=waveform, duration_s=0.4)
    encoded = model.audio_encoder.encode(waveform).audio_codes[:, :4]
    assert torch.equal(from_audio.sequences[:, :, :10], encoded.expand(2, 4, 10))


def test_a_custom_scheduler_drives_sampling(model):
    linear = _sample(model, dummy_resgen_inputs(), scheduler=ResGenScheduler(mask_schedule="linear"))
    cosine = _sample(model, dummy_resgen_inputs(), scheduler=ResGenScheduler(mask_schedule="cosine"))
    assert not torch.equal(linear.sequences, cosine.sequences)


def test_voice_and_musical_controls_condition_the_model():
    torch.manual_seed(0)
    config = tiny_resgen_config(use_voice_encoder=True, decoder={"use_tempo_control": True, "use_key_control": True})
    model = ResGenForConditionalGeneration(config).eval()
    samples = config.voice_encoder.max_samples
    inputs = {
        **dummy_resgen_inputs(),
        "voice_values": torch.randn(2, samples, generator=torch.Generator().manual_seed(1)) * 0.1,
        "voice_attention_mask": torch.ones(2, samples, dtype=torch.long),
        "tempo_bpm": torch.tensor([120.0, float("nan")]),
        "music_key_ids": torch.tensor([3, 24]),
    }
    assert torch.isfinite(model(**inputs, audio_codes=torch.randint(0, 1024, (2, 4, 10))).loss)
    output = _sample(model, inputs, guidance_scale=2.0)
    other_tempo = _sample(model, {**inputs, "tempo_bpm": torch.tensor([60.0, float("nan")])}, guidance_scale=2.0)
    assert torch.isfinite(output.audios).all()
    assert not torch.equal(output.sequences[0], other_tempo.sequences[0])  # the tempo reaches the model


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"condition_inputs": {"input_ids": torch.ones(1, 3, dtype=torch.long)}}, "lyrics_input_ids"),
        ({"condition_inputs": {**dummy_resgen_inputs(), "labels": torch.ones(2)}}, "Unknown condition_inputs"),
        ({"encoder_outputs": torch.zeros(2, 5)}, r"\(batch, memory, hidden\)"),
        ({"encoder_outputs": torch.zeros(2, 5, 32), "guidance_scale": 2.0}, "cannot be guided"),
        ({"description": "a pop song"}, "no processor"),
    ],
)
def test_bad_condition_inputs_are_refused_before_any_compute(model, kwargs, match, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("sampling started before the arguments were checked")

    for name in ("encode_audio_prompt", "prepare_conditions", "forward"):
        monkeypatch.setattr(model, name, no_compute)
    pipe = ResGenPipeline(transformer=model, scheduler=ResGenScheduler())
    with pytest.raises(ValueError, match=match):
        pipe(**{"duration_s": DURATION, "num_inference_steps": 2, **kwargs})
