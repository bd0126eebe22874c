"""``ResGenPipeline``: text-to-song with ResGen as a diffusers ``DiffusionPipeline`` whose ``__call__`` is the
sampling loop.

Usage::

    from songgen_hf import ResGenPipeline

    pipe = ResGenPipeline.from_pretrained("path/to/resgen")
    out = pipe("an upbeat pop song with a female voice", lyrics="hold me close tonight",
               num_inference_steps=16, guidance_scale=3.0, duration_s=10, generator=torch.Generator().manual_seed(0))
    out.audios  # float32 numpy (batch, 1, samples) at pipe.sampling_rate

Components: ``transformer`` (:class:`~songgen_hf.modeling.resgen.ResGenForConditionalGeneration`, with
its conditioning encoders and the codec), ``scheduler`` (:class:`~songgen_hf.modeling.resgen.ResGenScheduler`)
and ``processor`` (the same ``SongGenProcessor`` as SongGen).  ``save_pretrained`` writes diffusers'
layout (``model_index.json`` + one folder per component), and that one folder is also what
``pipeline("text-to-song", model=FOLDER)`` and ``songgen generate --model FOLDER`` take.

The loop runs as in diffusers' pipelines: the arguments are checked once (:meth:`ResGenPipeline.check_inputs`, or
where the song entered when it hands on its :class:`~songgen_hf.modeling.resgen.arguments.ResGenRequest`),
the model encodes the conditions once (with the null condition's rows for guidance), ``scheduler.set_timesteps``
fixes the passes, and each pass runs the model's forward on the token grid, extrapolates the mixture from the null
condition and lets ``scheduler.step`` sample, quantize and re-mask: :mod:`.sampling_resgen`, which
``ResGenForConditionalGeneration.generate`` runs too.  The pipeline sits in the model's folder, as diffusers keeps
a pipeline beside its model; ``songgen_hf.pipelines`` re-exports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from songgen_hf.utils.import_noise import known_import_noise_filtered

with known_import_noise_filtered():  # diffusers' pipeline base imports its model zoo, with a torchao notice
    from diffusers import DiffusionPipeline
    from diffusers.pipelines.pipeline_utils import AudioPipelineOutput

from songgen_hf.modeling.resgen.arguments import DEFAULT_NUM_INFERENCE_STEPS, ResGenRequest
from songgen_hf.modeling.resgen.masking import GeneratorArg
from songgen_hf.modeling.resgen.sampling_resgen import (
    CONDITION_INPUTS,
    check_sampling,
    condition_batch,
    decode_codes,
    prepare_tokens,
    sample_codes,
)
from songgen_hf.modeling.resgen.scheduling_resgen import ResGenScheduler
from songgen_hf.utils.atomic import write_text_atomic

OUTPUT_TYPES = ("np", "pt", "latent")


@dataclass
class ResGenPipelineOutput(AudioPipelineOutput):
    """
    Args:
        audios: ``(batch, 1, samples)`` audio (numpy for ``output_type="np"``, torch for ``"pt"``); with
            ``"latent"``, the undecoded codes, as diffusers' pipelines return latents.
        sequences: ``(batch, depth, frames)`` the generated codes (an audio prompt's frames first).
    """

    sequences: torch.LongTensor | None = None


class ResGenPipeline(DiffusionPipeline):
    r"""Songs from descriptions and lyrics by ResGen's masked parallel decoding.

    Args:
        transformer: the ResGen model (conditioning encoders, bidirectional transformer, codec).
        scheduler: the unmasking scheduler.
        processor: the ``SongGenProcessor`` that tokenizes descriptions and lyrics (``None``: the pipeline takes
            the processor's outputs as ``condition_inputs`` only).
    """

    model_cpu_offload_seq = "transformer"
    _optional_components = ["processor"]

    def __init__(self, transformer, scheduler: ResGenScheduler, processor=None):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler, processor=processor)

    @property
    def sampling_rate(self) -> int:
        return int(self.transformer.config.sampling_rate)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """diffusers' layout, plus a copy of the model's ``config.json`` at the top: transformers'
        ``pipeline("text-to-song", model=FOLDER)`` reads the folder's config before anything of this
        package can redirect it, and ``ResGenForConditionalGeneration.from_pretrained(FOLDER)`` then
        takes the weights from ``transformer/``."""
        super().save_pretrained(save_directory, **kwargs)
        write_text_atomic(
            os.path.join(os.fspath(save_directory), "config.json"), self.transformer.config.to_json_string()
        )

    # ------------------------------------------------------------------ inputs
    def check_inputs(
        self,
        description,
        lyrics,
        condition_inputs,
        encoder_outputs,
        tempo_bpm,
        key,
        sampling: dict,
        generator,
        audio_prompt,
        audio_prompt_codes,
        output_type,
        callback_on_step_end,
        *,
        request: ResGenRequest | None = None,
    ) -> tuple[int, list[str] | None, list[str] | None]:
        """Every check of a call, before any compute; returns the batch size and the texts (``None`` when the
        call brings the processor's outputs).  The sampling arguments are not checked again when ``request`` was
        checked for them on this model's config (where the song entered: the CLI, the text-to-song pipeline)."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {list(OUTPUT_TYPES)}, got {output_type!r}.")
        if callback_on_step_end is not None and not callable(callback_on_step_end):
            raise ValueError("callback_on_step_end must be a function (pipe, step, timestep, callback_kwargs) -> dict.")
        descriptions = lyrics_list = None
        if condition_inputs is None and encoder_outputs is None:
            descriptions, lyrics_list = _texts(description, lyrics)
            if self.processor is None:
                raise ValueError(
                    "This pipeline has no processor; build it with processor=SongGenProcessor(...), or pass the "
                    "processor's outputs as condition_inputs."
                )
            batch = len(descriptions)
        else:
            given = [name for name, value in (("description", description), ("lyrics", lyrics)) if value is not None]
            given += [name for name, value in (("tempo_bpm", tempo_bpm), ("key", key)) if value is not None]
            if given:
                raise ValueError(
                    f"{given} cannot go with condition_inputs or encoder_outputs, which already hold the "
                    "conditions; pass one or the other."
                )
            condition_inputs = dict(condition_inputs or {})
            unknown = sorted(set(condition_inputs) - set(CONDITION_INPUTS))
            if unknown:
                raise ValueError(f"Unknown condition_inputs {unknown}; the model takes {list(CONDITION_INPUTS)}.")
            batch = condition_batch(condition_inputs, encoder_outputs, sampling["guidance_scale"])
        check_sampling(
            self.transformer.config, batch, sampling, generator, audio_prompt, audio_prompt_codes, request=request
        )
        return batch, descriptions, lyrics_list

    def prepare_tokens(
        self, batch: int, frames: int, prompt: torch.LongTensor | None, device
    ) -> tuple[torch.LongTensor, torch.Tensor]:
        """The all-masked token grid ``(batch, depth, frames)`` with the prompt's frames in front, and the
        ``(batch, frames)`` mask of the frames to generate (the prompt's are never masked)."""
        return prepare_tokens(self.transformer, batch, frames, prompt, device)

    # ------------------------------------------------------------------ the loop
    @torch.no_grad()
    def __call__(
        self,
        description: str | list[str] | None = None,
        lyrics: str | list[str] | None = None,
        num_inference_steps: int = DEFAULT_NUM_INFERENCE_STEPS,
        guidance_scale: float | None = None,
        duration_s: float | None = None,
        generator: GeneratorArg = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        audio_prompt: torch.Tensor | None = None,
        tempo_bpm: float | list[float] | None = None,
        key: str | list[str] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        *,
        condition_inputs: Mapping[str, torch.Tensor] | None = None,
        encoder_outputs=None,
        audio_prompt_codes: torch.LongTensor | None = None,
        callback_on_step_end: Callable[..., dict] | None = None,
        request: ResGenRequest | None = None,
    ) -> ResGenPipelineOutput | tuple:
        r"""Generate one song per description.

        Args:
            description: one description or a list (one song each).
            lyrics: the lyrics (lines separated by ``"\n"``), one per description; ``None`` = instrumental.
            num_inference_steps: transformer passes (each reveals a scheduled share of the tokens).
            guidance_scale: classifier-free guidance; ``None`` or 1 = off (exactly the conditional model).
            duration_s: song length in seconds, an audio prompt included (default 10 s or the model's limit).
            generator: a ``torch.Generator``, or one per song (each song then independent of its batch).
            temperature: > 0, on the confidence that orders unmasking.  top_p: nucleus over mixture components.
            audio_prompt: ``(samples,)``, ``(batch, samples)`` or ``(batch, 1, samples)`` audio at the codec's
                rate whose frames start every song and are never re-masked.
            tempo_bpm / key: musical controls, for models built with them.
            output_type: ``"np"`` (float32 numpy), ``"pt"`` (torch) or ``"latent"`` (the codes, not decoded).
            condition_inputs: the processor's outputs (``input_ids``, ``lyrics_input_ids``, masks, voice and
                controls) instead of ``description`` / ``lyrics`` / ``tempo_bpm`` / ``key``.
            encoder_outputs: a precomputed cross-attention memory ``(batch, memory, hidden)`` (tensor or
                ``BaseModelOutput``; its mask is ``condition_inputs["attention_mask"]``) instead of the encoders;
                it cannot be guided.
            audio_prompt_codes: ``(1 or batch, >= depth, frames)`` codes instead of ``audio_prompt``.
            callback_on_step_end: called after every pass as ``callback(pipe, step, timestep, {"tokens": tokens})``;
                the ``"tokens"`` it returns, if any, replace the grid.
            request: a :class:`~songgen_hf.modeling.resgen.arguments.ResGenRequest` the caller checked these
                sampling arguments into; the call checks them itself unless the request holds for them.
        Returns:
            :class:`ResGenPipelineOutput` (an ``AudioPipelineOutput``) with ``audios`` ``(batch, 1, samples)`` and
            ``sequences`` (the codes); ``(audios,)`` with ``return_dict=False``.
        """
        sampling = {
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "duration_s": duration_s,
            "temperature": temperature,
            "top_p": top_p,
        }
        batch, descriptions, lyrics_list = self.check_inputs(
            description,
            lyrics,
            condition_inputs,
            encoder_outputs,
            tempo_bpm,
            key,
            sampling,
            generator,
            audio_prompt,
            audio_prompt_codes,
            output_type,
            callback_on_step_end,
            request=request,
        )
        device = self._execution_device

        # the conditions, once for every pass
        if descriptions is not None:
            controls = {name: value for name, value in (("tempo_bpm", tempo_bpm), ("key", key)) if value is not None}
            condition_inputs = self.processor(
                description=descriptions, lyrics=lyrics_list, return_tensors="pt", **controls
            ).to(device)

        def on_step(step: int, timestep, tokens):
            returned = callback_on_step_end(self, step, timestep, {"tokens": tokens}) or {}
            return returned.get("tokens", tokens)

        # the passes: every token masked but the prompt's, then set_timesteps and one scheduler.step a pass
        tokens = sample_codes(
            self.transformer,
            self.scheduler,
            condition_inputs,
            batch=batch,
            encoder_outputs=encoder_outputs,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            duration_s=duration_s,
            generator=generator,
            temperature=temperature,
            top_p=top_p,
            audio_prompt=audio_prompt,
            audio_prompt_codes=audio_prompt_codes,
            device=device,
            steps=self.progress_bar,
            on_step=None if callback_on_step_end is None else on_step,
        )

        # the codec
        if output_type == "latent":
            audios = tokens
        else:
            audio = decode_codes(self.transformer, tokens)
            audios = audio.cpu().numpy() if output_type == "np" else audio
        self.maybe_free_model_hooks()
        if not return_dict:
            return (audios,)
        return ResGenPipelineOutput(audios=audios, sequences=tokens)


def _texts(description, lyrics) -> tuple[list[str], list[str]]:
    """Descriptions and lyrics as equal-length lists of str (the processor checks their lengths before it
    tokenizes anything)."""
    descriptions = [description] if isinstance(description, str) else description
    if not isinstance(descriptions, (list, tuple)) or not descriptions:
        raise ValueError("description must be a string or a non-empty list of strings.")
    for text in descriptions:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"Every song needs a non-empty description string, got {text!r}; describe genre, mood, "
                "instruments and voice."
            )
    lyrics_list = [""] * len(descriptions) if lyrics is None else [lyrics] if isinstance(lyrics, str) else lyrics
    if not isinstance(lyrics_list, (list, tuple)) or not all(isinstance(text, str) for text in lyrics_list):
        raise ValueError("lyrics must be a string or a list of strings (lines separated by '\\n'), one per song.")
    if len(lyrics_list) != len(descriptions):
        raise ValueError(
            f"Got {len(descriptions)} descriptions but {len(lyrics_list)} lyrics; pass one lyrics per song."
        )
    return list(descriptions), list(lyrics_list)


__all__ = ["ResGenPipeline", "ResGenPipelineOutput"]
