"""The systems compared on each prompt, and how their audio and codes are obtained.

* ``ground_truth``: the corpus clip; ``codec_resynthesis``: its round trip through the model's
  own codec (encode, keep the decoder's codebooks, decode), so codec damage is separated from
  model failure;
* ``guided``: the model with classifier-free guidance; ``no_guidance``: conditional only;
* ``unconditioned``: the model with description and lyrics nulled exactly as training's
  condition dropout nulls them (``fuse_condition_segments(..., drop=...)``: zeroed states, masks
  kept).  The null memory goes to ``generate()`` as precomputed ``encoder_outputs``, which the
  library's generation accepts without guidance.  The decoder's cross-attention has no biases,
  so zero states give a zero attention output whatever their number: the songs cannot depend
  on the prompt (tested).  Models with musical controls get none either: a missing tempo or key
  is the learned "unknown" that training's description dropout also substitutes.

Every generative system samples a batch from the same seed (``seed + batch index``), so
systems differ by their conditioning, not by their random numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers.modeling_outputs import BaseModelOutput

from songgen_hf.evaluation.prompts import EvaluationPrompt
from songgen_hf.evaluation.system_names import GENERATED_SYSTEMS, REFERENCE_SYSTEMS, SYSTEMS, check_generated_systems
from songgen_hf.modeling.songgen.vocal_score_songgen import request_scores

# the corpus audio each of the model's tracks is compared with
TRACK_AUDIO_FIELDS = {"mix": "audio_path", "vocals": "vocal_path", "accompaniment": "accompaniment_path"}


@dataclass
class SystemClip:
    audio: np.ndarray  # (samples,) float32 mono
    codes: dict[str, np.ndarray] | None  # per track, (codebooks, frames); None when not token-based
    # a dual-track system's vocal track alone (samples,): where the words should be heard without the
    # accompaniment (the recogniser normalises its level); None for one-track systems
    vocals: np.ndarray | None = None


@dataclass(frozen=True)
class SamplingOptions:
    seed: int = 0
    guidance_scale: float = 3.0
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    num_inference_steps: int | None = None  # ResGen's passes (None: its default); refused for SongGen
    control_guidance_scale: float | None = None  # SongGen's push towards the controls, 'guided' only (None: off)
    # SongGen dual-track models: the vocal track of instrumental requests held silent (None: generate()'s default)
    silence_instrumental_vocals: bool | None = None
    # SongGen: temperatures of a track's first codebooks (None: the model's saved ones; {}: none, every row alike)
    codebook_temperatures: dict[str, list[float]] | None = None
    # SongGen dual-track models: a SongGenSinger folder (or the model) that re-sings the vocal track from scores
    # composed for the prompts (modeling/songgen/vocal_score_songgen.py); None: the decoder's vocal track
    singer: Any = None


def loaded_singer(singer, device):
    """``singer`` as a model on ``device``: a folder is loaded once (and kept), a model is moved."""
    if isinstance(singer, torch.nn.Module):
        return singer.to(device)
    return _singer_from_folder(str(singer), str(device))


@functools.lru_cache(maxsize=2)
def _singer_from_folder(folder: str, device: str):
    from songgen_hf.modeling.songgen_singer import SongGenSinger

    return SongGenSinger.from_pretrained(folder).to(device).eval()


def is_resgen(model) -> bool:
    return getattr(model.config, "model_type", None) == "songgen_resgen"


def codec_round_trip(codec, audio: np.ndarray, num_codebooks: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes (num_codebooks, frames), decoded audio)`` of one mono clip."""
    device = next(codec.parameters()).device
    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, None].to(device)
    with torch.inference_mode():
        codes = codec.encode(waveform).audio_codes[:, :num_codebooks]
        decoded = codec.decode(codes).audio_values
    return codes[0].cpu().numpy(), decoded[0, 0, : len(audio)].float().cpu().numpy()


def null_condition_memory(model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross-attention memory and mask with description and lyrics dropped, as in training."""
    with torch.inference_mode():
        return model.encode_conditions(
            inputs["input_ids"],
            inputs["attention_mask"],
            inputs["lyrics_input_ids"],
            inputs["lyrics_attention_mask"],
            project_description=getattr(model.config, "project_description_at_inference", True),  # ResGen: always
            drop={"description": True, "lyrics": True},
        )


def generate_batch(
    model, processor, prompts: list[EvaluationPrompt], system: str, sampling: SamplingOptions, batch_seed: int
) -> list[SystemClip]:
    """One ``generate()`` call for ``prompts``; each song cut to its own ``eval_duration``.

    The batch is generated to its longest prompt and must not end (EOS) before its shortest,
    so every clip is scored on the same length as its ground truth."""
    if system not in GENERATED_SYSTEMS:
        raise ValueError(f"Unknown generated system {system!r}; choose from {GENERATED_SYSTEMS}.")
    device = model.device
    inputs = processor(
        description=[prompt.caption for prompt in prompts],
        lyrics=[prompt.lyrics for prompt in prompts],
        truncation=True,
        return_tensors="pt",
    ).to(device)
    if is_resgen(model):
        return _generate_resgen_batch(model, inputs, prompts, system, sampling, batch_seed)
    options = {
        # the batch's longest prompt; each clip is cut to its own length below
        "duration_s": max(prompt.eval_duration for prompt in prompts),
        "min_duration_s": min(prompt.eval_duration for prompt in prompts),
        "do_sample": True,
        "return_dict_in_generate": True,
    }
    for name in ("temperature", "top_k", "top_p"):
        if getattr(sampling, name) is not None:
            options[name] = getattr(sampling, name)
    # off outside 'guided', whatever the model's saved default
    options["control_guidance_scale"] = (sampling.control_guidance_scale or 0.0) if system == "guided" else 0.0
    if sampling.silence_instrumental_vocals is not None:
        options["silence_instrumental_vocals"] = sampling.silence_instrumental_vocals
    if sampling.codebook_temperatures is not None:  # {}: none, the model's saved ones turned off
        options["codebook_temperatures"] = sampling.codebook_temperatures
    if sampling.singer is not None:
        options["singer"] = loaded_singer(sampling.singer, device)
        options["vocal_scores"] = request_scores(
            processor,
            [prompt.caption for prompt in prompts],
            [prompt.lyrics for prompt in prompts],
            [prompt.eval_duration for prompt in prompts],
            seed=batch_seed,
        )
    if system == "unconditioned":
        memory, mask = null_condition_memory(model, inputs)
        conditioning = {"encoder_outputs": BaseModelOutput(last_hidden_state=memory), "attention_mask": mask}
        options["guidance_scale"] = None  # off, whatever the model's saved default: there is nothing to guide
    else:
        conditioning = dict(inputs)
        options["guidance_scale"] = sampling.guidance_scale if system == "guided" else None
    torch.manual_seed(batch_seed)
    with torch.inference_mode():
        output = model.generate(**conditioning, **options)
    rate = model.config.sampling_rate
    frame_rate = model.config.frame_rate
    clips = []
    for row, prompt in enumerate(prompts):
        samples = min(int(output.audio_lengths[row]), int(round(prompt.eval_duration * rate)))
        frames = min(int(output.frame_lengths[row]), max(1, int(round(prompt.eval_duration * frame_rate))))
        codes = {name: track[row, :, :frames].cpu().numpy() for name, track in output.codes.items()}
        vocals = getattr(output, "vocals", None)
        clips.append(
            SystemClip(
                audio=output.audio[row, 0, :samples].float().cpu().numpy(),
                codes=codes,
                vocals=None if vocals is None else vocals[row, 0, :samples].float().cpu().numpy(),
            )
        )
    return clips


def _generate_resgen_batch(
    model, inputs, prompts: list[EvaluationPrompt], system: str, sampling: SamplingOptions, batch_seed: int
) -> list[SystemClip]:
    """The same systems for a ResGen model: masked parallel decoding with ``num_inference_steps``
    passes and the scheduler saved beside the model; every song fills its whole duration (no EOS)."""
    options = {
        "duration_s": max(prompt.eval_duration for prompt in prompts),
        "scheduler": resgen_scheduler(model),
        "generator": torch.Generator(device="cpu").manual_seed(batch_seed),
    }
    for name in ("temperature", "top_p", "num_inference_steps"):
        if getattr(sampling, name) is not None:
            options[name] = getattr(sampling, name)
    if sampling.top_k is not None:
        raise ValueError("--top-k applies to SongGen's token sampling; ResGen samples a mixture: use --top-p.")
    if sampling.singer is not None:
        raise ValueError("--singer re-sings a dual-track SongGen model's vocal track; a ResGen model has none.")
    if system == "unconditioned":
        memory, mask = null_condition_memory(model, inputs)
        conditioning = {"encoder_outputs": BaseModelOutput(last_hidden_state=memory), "attention_mask": mask}
    else:
        conditioning = dict(inputs)
        options["guidance_scale"] = sampling.guidance_scale if system == "guided" else None
    with torch.inference_mode():
        output = model.generate(**conditioning, **options)
    rate, frame_rate = model.config.sampling_rate, model.config.frame_rate
    clips = []
    for row, prompt in enumerate(prompts):
        samples = min(int(output.audio_lengths[row]), int(round(prompt.eval_duration * rate)))
        frames = max(1, int(round(prompt.eval_duration * frame_rate)))
        codes = {"mix": output.sequences[row, :, :frames].cpu().numpy()}
        clips.append(SystemClip(audio=output.audio[row, 0, :samples].float().cpu().numpy(), codes=codes))
    return clips


def resgen_scheduler(model):
    """The scheduler saved in the ResGen pipeline folder the model came from, else a default one
    (read once per folder: every batch of an evaluation asks)."""
    from songgen_hf.pipelines.loading import resgen_folder_of

    return _folder_scheduler(resgen_folder_of(model))


@functools.lru_cache(maxsize=8)
def _folder_scheduler(folder: str | None):
    import os

    from songgen_hf.modeling.resgen import ResGenScheduler

    if folder is not None and os.path.isdir(os.path.join(folder, "scheduler")):
        return ResGenScheduler.from_pretrained(folder, subfolder="scheduler")
    return ResGenScheduler()  # set_timesteps resets its state on every generate(), so one instance serves all


def generate_system(
    model,
    processor,
    prompts: list[EvaluationPrompt],
    system: str,
    sampling: SamplingOptions,
    batch_size: int,
    progress=None,
) -> list[SystemClip]:
    clips = []
    batches = [prompts[start : start + batch_size] for start in range(0, len(prompts), batch_size)]
    for index, batch in enumerate(batches):
        if progress is not None:
            progress(f"{system}: batch {index + 1}/{len(batches)}")
        clips += generate_batch(model, processor, batch, system, sampling, batch_seed=sampling.seed + index)
    return clips


__all__ = [
    "check_generated_systems",
    "GENERATED_SYSTEMS",
    "REFERENCE_SYSTEMS",
    "SYSTEMS",
    "SamplingOptions",
    "SystemClip",
    "TRACK_AUDIO_FIELDS",
    "codec_round_trip",
    "generate_batch",
    "generate_system",
    "is_resgen",
    "resgen_scheduler",
    "null_condition_memory",
]
