"""ResGen's masked decoding, shared by the model's ``generate()`` and :class:`~.pipeline_resgen.ResGenPipeline`.

Both front doors check a call with the same functions (:func:`condition_batch`, :func:`check_sampling`) and sample
with :func:`sample_codes`: the conditions encoded once (with the null condition's rows when guided), every token
masked but an audio prompt's, then the passes of :func:`masked_decoding` in diffusers' scheduler convention
(``scheduler.set_timesteps`` fixes them; each runs the model on the token grid, extrapolates the mixture from the
null condition and lets ``scheduler.step`` sample, quantize and re-mask).  The pipeline adds the texts, the
processor, its progress bar and its step callback; ``generate()`` takes the processor's outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from songgen_hf.modeling.limits import MAX_SONGS_PER_CALL
from songgen_hf.modeling.resgen.arguments import (
    audio_prompt_frames,
    check_sampling_arguments,
    default_duration_s,
    duration_frames,
)
from songgen_hf.modeling.resgen.masking import GeneratorArg, check_generators
from songgen_hf.modeling.resgen.mixture import guide

# the model inputs a call's `condition_inputs` may hold: the processor's outputs (`attention_mask` is the memory's
# mask when `encoder_outputs` replaces the encoders)
CONDITION_INPUTS = (
    "input_ids",
    "attention_mask",
    "lyrics_input_ids",
    "lyrics_attention_mask",
    "voice_values",
    "voice_attention_mask",
    "tempo_bpm",
    "music_key_ids",
    "arrangement_ids",
)


def condition_batch(condition_inputs: dict, encoder_outputs, guidance_scale) -> int:
    """The songs in a call that brings the processor's outputs or a precomputed memory."""
    if encoder_outputs is not None:
        memory = encoder_outputs if torch.is_tensor(encoder_outputs) else encoder_outputs[0]
        if not torch.is_tensor(memory) or memory.dim() != 3:
            shape = tuple(memory.shape) if torch.is_tensor(memory) else type(memory).__name__
            raise ValueError(f"encoder_outputs must hold a (batch, memory, hidden) tensor, got {shape}.")
        if guidance_scale is not None and guidance_scale != 1:
            raise ValueError(
                "encoder_outputs cannot be guided (the null condition is built from the processor's inputs); "
                "pass guidance_scale=None, or the inputs instead of encoder_outputs."
            )
        return memory.shape[0]
    if condition_inputs.get("input_ids") is None or condition_inputs.get("lyrics_input_ids") is None:
        raise ValueError("ResGen needs a description (input_ids) and lyrics (lyrics_input_ids); use the processor.")
    return condition_inputs["input_ids"].shape[0]


def check_sampling(
    config,
    batch: int,
    sampling: dict,
    generator: GeneratorArg,
    audio_prompt,
    audio_prompt_codes,
) -> None:
    """The checks every call shares once its batch is known: the song count, the audio prompt, the sampling
    arguments (as the sampler acts on them) and the generators."""
    if batch > MAX_SONGS_PER_CALL:
        raise ValueError(
            f"Got {batch} songs in one call, but the limit is {MAX_SONGS_PER_CALL}; split the list into several calls."
        )
    if audio_prompt is not None and (not torch.is_tensor(audio_prompt) or not audio_prompt.is_floating_point()):
        raise ValueError("audio_prompt must be a float torch tensor of audio at the codec's sampling rate.")
    prompt_frames = audio_prompt_frames(config, audio_prompt, audio_prompt_codes)
    check_sampling_arguments(sampling, config, prompt_frames=prompt_frames)
    check_generators(generator, batch)


def prepare_tokens(
    model, batch: int, frames: int, prompt: torch.LongTensor | None, device
) -> tuple[torch.LongTensor, torch.Tensor]:
    """The all-masked token grid ``(batch, depth, frames)`` with the prompt's frames in front, and the
    ``(batch, frames)`` mask of the frames to generate (the prompt's are never masked)."""
    depth = model.config.decoder.num_codebooks
    tokens = torch.full((batch, depth, frames), model.mask_token_id, dtype=torch.long, device=device)
    frame_mask = torch.ones(batch, frames, dtype=torch.bool, device=device)
    if prompt is not None:
        tokens[..., : prompt.shape[-1]] = prompt
        frame_mask[:, : prompt.shape[-1]] = False
    return tokens, frame_mask


def masked_decoding(
    model,
    scheduler,
    conditions,
    tokens: torch.LongTensor,
    frame_mask: torch.Tensor,
    *,
    num_inference_steps: int,
    guidance_scale: float | None,
    generator: GeneratorArg,
    temperature: float,
    top_p: float,
    device,
    steps: Callable[[Iterable], Iterable] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.LongTensor], torch.LongTensor | None] | None = None,
) -> torch.LongTensor:
    """The passes: exactly ``num_inference_steps`` of the model (a doubled batch when guided), each followed by
    ``scheduler.step``.  ``steps`` wraps the timesteps (a progress bar); ``on_step(step, timestep, tokens)`` runs
    after every pass and may return the tokens to go on with."""
    batch = tokens.shape[0]
    guided = guidance_scale is not None and guidance_scale != 1
    codebooks = model.codebooks()
    scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps = scheduler.timesteps if steps is None else steps(scheduler.timesteps)
    for step, timestep in enumerate(timesteps):
        model_input = torch.cat([tokens, tokens]) if guided else tokens  # the null condition's rows follow
        mixture = model(masked_audio_codes=model_input, conditions=conditions).mixture
        if guided:
            mixture = guide(mixture.select(slice(0, batch)), mixture.select(slice(batch, None)), guidance_scale)
        tokens = scheduler.step(
            mixture,
            timestep,
            tokens,
            codebooks,
            generator=generator,
            temperature=temperature,
            top_p=top_p,
            frame_mask=frame_mask,
        ).prev_sample
        if on_step is not None:
            returned = on_step(step, timestep, tokens)
            tokens = tokens if returned is None else returned
    if (tokens == model.mask_token_id).any():  # the schedule reaches 0 at the last step
        raise RuntimeError("ResGen sampling left masked tokens; the scheduler's schedule is inconsistent.")
    return tokens


def sample_codes(
    model,
    scheduler,
    condition_inputs: dict | None,
    *,
    batch: int,
    encoder_outputs=None,
    num_inference_steps: int,
    guidance_scale: float | None,
    duration_s: float | None,
    generator: GeneratorArg,
    temperature: float,
    top_p: float,
    audio_prompt: torch.Tensor | None,
    audio_prompt_codes: torch.LongTensor | None,
    device,
    steps: Callable[[Iterable], Iterable] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.LongTensor], torch.LongTensor | None] | None = None,
) -> torch.LongTensor:
    """``(batch, depth, frames)`` codes of checked arguments: the conditions and the prompt's codes once for every
    pass, every token masked but the prompt's, then :func:`masked_decoding`."""
    guided = guidance_scale is not None and guidance_scale != 1
    prompt = model.encode_audio_prompt(audio_prompt, audio_prompt_codes, batch)
    conditions = model.prepare_conditions(
        **(condition_inputs or {}), encoder_outputs=encoder_outputs, with_null_condition=guided
    )
    frames = duration_frames(model.config, duration_s if duration_s is not None else default_duration_s(model.config))
    tokens, frame_mask = prepare_tokens(model, batch, frames, prompt, device)
    return masked_decoding(
        model,
        scheduler,
        conditions,
        tokens,
        frame_mask,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        generator=generator,
        temperature=temperature,
        top_p=top_p,
        device=device,
        steps=steps,
        on_step=on_step,
    )


def decode_codes(model, tokens: torch.LongTensor) -> torch.Tensor:
    """``(batch, 1, samples)`` float32 audio of ``tokens`` by the model's codec."""
    return model.audio_encoder.decode(tokens, return_dict=True).audio_values.float()


__all__ = [
    "CONDITION_INPUTS",
    "check_sampling",
    "condition_batch",
    "decode_codes",
    "masked_decoding",
    "prepare_tokens",
    "sample_codes",
]
