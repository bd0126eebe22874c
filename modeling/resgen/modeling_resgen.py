"""ResGen for songs: masked parallel decoding of cumulative RVQ embeddings (arXiv 2412.10208).

``ResGenForConditionalGeneration`` keeps SongGen's conditioning unchanged (description T5, lyrics
encoder, optional voice encoder, musical controls, one cross-attention memory
``[voice ; description ; lyrics]``: the same :class:`~..songgen.conditioning.SongConditioningMixin`)
and replaces the autoregressive decoder by :class:`~.transformer.ResGenTransformer`, which
predicts, for every frame at once, a mixture of Gaussians over the sum of the codebook vectors of
the frame's masked tokens.  The model offers the forward pass (the mixture for a masked token grid given the
conditions) and the helpers sampling needs (:meth:`prepare_conditions`, :meth:`encode_audio_prompt`,
:meth:`codebooks`); ``generate`` samples with :mod:`.sampling_resgen`, the loop that
:class:`~.pipeline_resgen.ResGenPipeline` runs too.

Where this departs from the paper, and why:

* **Confidence per frame, not per token.**  The mixture scores the quantized sum of a frame's
  masked depths; that one score orders the frames within a depth.  Tokens are revealed coarsest
  masked depth first over all frames, so the frames' masked counts stay balanced as in training
  masks (which spread the masked tokens evenly over frames, finest first); revealing whole frames
  at a time would put fully known frames beside fully masked ones, which training never shows.
* **Temperature divides the confidence before Gumbel noise** (sampling frames without replacement
  in proportion to exp(confidence / T)); the paper adds temperature-scaled noise to confidences.
  Both interpolate between confidence order (T -> 0) and random order (T large).
* **Guidance on the mixture parameters**: component log-weights and means are extrapolated from
  the null condition, scales stay conditional (the paper does not give its formula).
  ``guidance_scale`` 1 or ``None`` runs the conditional batch alone (exactly the conditional model).
* **Confidence is the log-likelihood per latent dimension** so that it is on the scale of the
  Gumbel noise whatever the codec's latent size (195 for songgen-tiny's codec).
* **Greedy residual quantization** of the sampled latent (the codec's own encoder rule), not beam search.
* **Condition dropout** drops description, lyrics and voice together (``joint_dropout_prob``),
  as SongGen does for its guidance, so the null branch is the one training saw.
* **Options for small-compute training** (all off by default, on in the tiny recipe; the reasons are in
  ``docs/performance.md``): a symmetric ALiBi distance bias on self-attention
  (``attention_bias="alibi"``), inputs initialised at the positions' scale (``input_scale_init``),
  a learnt mean codeword per depth that centres inputs and mixture (``depth_means``), and a start
  from a trained SongGen's conditioning and decoder layers (the training option ``warm_start_from``,
  :mod:`.warm_start`).  Without them a small model trained briefly learns one mixture for every frame.
  And a beta-NLL loss (``ResGenConfig.nll_beta``, Seitzer et al. 2022) so that frames missing only a
  fine residual do not dominate the gradient (``docs/performance.md``).
* Single-track (the mix) only; no dual-track layout yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

# PreTrainedModel must be a name in this module: diffusers' pipeline loader looks a component's base
# classes up in the component's own module to choose its loading method.
from transformers import PreTrainedModel  # noqa: F401
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from songgen_hf.modeling.resgen.arguments import DEFAULT_NUM_INFERENCE_STEPS
from songgen_hf.modeling.resgen.configuration_resgen import ResGenConfig
from songgen_hf.modeling.resgen.masking import GeneratorArg, training_mask
from songgen_hf.modeling.resgen.mixture import ResGenMixture, mixture_nll_sum
from songgen_hf.modeling.resgen.sampling_resgen import check_sampling, condition_batch, decode_codes, sample_codes
from songgen_hf.modeling.resgen.transformer import ResGenPreTrainedModel, ResGenTransformer, masked_target
from songgen_hf.modeling.songgen.conditioning_songgen import SongConditioningMixin

PIPELINE_MODEL_COMPONENT = "transformer"  # where a saved ResGenPipeline keeps the model
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass
class ResGenOutput(ModelOutput):
    """
    Args:
        loss: the mixture's negative log-likelihood of the masked tokens' cumulative embedding,
            per latent dimension, averaged over frames with at least one masked token (each frame's
            weighted by its predicted variance ** ``config.nll_beta`` when that is set).
        loss_sum / target_frames: the same as a sum and its frame count (to normalise over micro-batches).
        mixture: the per-frame :class:`~.mixture.ResGenMixture`.
        masked_audio_codes: ``(batch, depth, frames)`` the input tokens (masked ones = mask id).
        encoder_last_hidden_state / encoder_attention_mask: the condition memory and its mask.
    """

    loss: torch.FloatTensor | None = None
    loss_sum: torch.FloatTensor | None = None
    target_frames: torch.FloatTensor | None = None
    mixture: ResGenMixture | None = None
    masked_audio_codes: torch.LongTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_attention_mask: torch.LongTensor | None = None


@dataclass
class ResGenConditions:
    """What every sampling pass attends to, computed once per batch of songs
    (:meth:`ResGenForConditionalGeneration.prepare_conditions`).

    Args:
        encoder_hidden_states / encoder_attention_mask: the cross-attention memory ``(rows, M, hidden)`` and its mask.
        controls: the musical controls as the decoder takes them (``tempo_beats_per_frame``, ``music_key_ids``,
            ``arrangement_ids``), one row per memory row.
        batch_size: the songs; with the null condition the rows are ``2 * batch_size``, the songs' first.
    """

    encoder_hidden_states: torch.Tensor
    encoder_attention_mask: torch.Tensor
    controls: dict
    batch_size: int


@dataclass
class ResGenGenerationOutput(ModelOutput):
    """
    Args:
        sequences: ``(batch, depth, frames)`` generated codes (an audio prompt's frames first).
        audio: ``(batch, 1, samples)`` decoded audio (``None`` with ``decode_audio=False``).
        audio_lengths: ``(batch,)`` valid samples per song.
    """

    sequences: torch.LongTensor | None = None
    audio: torch.FloatTensor | None = None
    audio_lengths: torch.LongTensor | None = None


class ResGenForConditionalGeneration(SongConditioningMixin, ResGenPreTrainedModel):
    """ResGen: description + lyrics (+ reference voice) -> codec tokens by masked parallel decoding -> audio."""

    output_modalities = ("audio",)
    _keep_in_fp32_modules_strict = [r"^audio_encoder\."]

    def __init__(self, config: ResGenConfig):
        super().__init__(config)
        self._build_conditioning(config)
        self.decoder = ResGenTransformer(config.decoder)
        self.freeze_text_encoder()
        self.freeze_audio_encoder()
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``; a saved ``ResGenPipeline`` folder (``model_index.json``, the
        model in ``transformer/``) loads its model component, so one folder serves every front door."""
        path = pretrained_model_name_or_path
        if (
            isinstance(path, (str, os.PathLike))
            and not kwargs.get("subfolder")
            and os.path.isfile(os.path.join(path, "model_index.json"))
            and not any(os.path.isfile(os.path.join(path, name)) for name in _WEIGHT_FILES)
        ):
            kwargs["subfolder"] = PIPELINE_MODEL_COMPONENT
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs)  # before anything is allocated
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @property
    def mask_token_id(self) -> int:
        return self.config.decoder.mask_token_id

    def codebooks(self) -> torch.Tensor:
        """``(depth, codebook_size, latent_dim)`` the codec's codebooks for the modelled depths (float32),
        times the decoder config's ``latent_scale`` (the scale of the latent the mixture models)."""
        quantizers = self.audio_encoder.quantizer.quantizers[: self.config.decoder.num_codebooks]
        return torch.stack([layer.codebook.embed for layer in quantizers]).float() * self.config.decoder.latent_scale

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        audio_codes: torch.LongTensor | None = None,
        masked_audio_codes: torch.LongTensor | None = None,
        frame_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        tempo_bpm: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        mask_ratios: torch.Tensor | None = None,
        generator: GeneratorArg = None,
        conditions: ResGenConditions | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ResGenOutput:
        r"""
        input_ids / attention_mask, lyrics_input_ids / lyrics_attention_mask, voice_values /
            voice_attention_mask, tempo_bpm / music_key_ids / arrangement_ids: the processor's outputs (as for SongGen).
        audio_codes: ``(batch, depth, frames)`` true codec codes (the codec's first ``depth`` codebooks).
            Alone, they are masked here as in training (:func:`~.masking.training_mask`, ratios
            ``mask_ratios`` or uniform draws) and the loss is returned.
        masked_audio_codes: ``(batch, depth, frames)`` tokens with masked ones = ``config.decoder.mask_token_id``;
            with ``audio_codes`` too, the loss is computed on exactly these masks.
        frame_attention_mask: ``(batch, frames)`` 1 on real frames, 0 on padding (never masked, not attended).
        encoder_outputs / encoder_attention_mask: a precomputed condition memory (skips the encoders) and its
            mask (``attention_mask`` when ``encoder_attention_mask`` is not given).
        conditions: memory, mask and controls from :meth:`prepare_conditions` (one sampling pass: skips the
            encoders and the controls' conversion, and carries the null condition's rows for guidance).
        """
        depth = self.config.decoder.num_codebooks
        tokens = masked_audio_codes if masked_audio_codes is not None else audio_codes
        if tokens is None:
            raise ValueError(
                "Pass audio_codes (training) or masked_audio_codes (one sampling step), shaped (batch, depth, frames)."
            )
        if tokens.dim() != 3 or tokens.shape[1] != depth:
            raise ValueError(f"Codes must be shaped (batch, {depth}, frames), got {tuple(tokens.shape)}.")
        if tokens.shape[-1] > self.config.max_frames:
            raise ValueError(
                f"{tokens.shape[-1]} frames exceed the positional limit of {self.config.max_frames}; use shorter clips."
            )
        if conditions is not None:
            memory, memory_mask = conditions.encoder_hidden_states, conditions.encoder_attention_mask
            controls = conditions.controls
        else:
            memory, memory_mask, controls = self.condition_memory(
                input_ids,
                attention_mask,
                lyrics_input_ids,
                lyrics_attention_mask,
                voice_values,
                voice_attention_mask,
                tempo_bpm,
                music_key_ids,
                arrangement_ids,
                encoder_outputs=encoder_outputs,
                encoder_attention_mask=encoder_attention_mask,
            )
        codebooks = self.codebooks()
        if masked_audio_codes is None:
            if frame_attention_mask is not None:
                frame_attention_mask = frame_attention_mask.bool()
            mask = training_mask(audio_codes, mask_ratios, self.config.mask_schedule, frame_attention_mask, generator)
            masked_audio_codes = audio_codes.masked_fill(mask, self.mask_token_id)
        mixture = self.decoder(
            masked_audio_codes,
            codebooks,
            memory,
            memory_mask,
            frame_attention_mask,
            controls.get("tempo_beats_per_frame"),
            controls.get("music_key_ids"),
            controls.get("arrangement_ids"),
        )
        loss = loss_sum = target_frames = None
        if audio_codes is not None:
            mask = masked_audio_codes == self.mask_token_id
            target = masked_target(audio_codes, mask, codebooks)
            has_target = mask.any(dim=1)
            if frame_attention_mask is not None:
                has_target &= frame_attention_mask.bool()
            loss_sum, target_frames = mixture_nll_sum(mixture, target, has_target, self.config.nll_beta)
            loss = loss_sum / target_frames.clamp(min=1)
        return ResGenOutput(
            loss=loss,
            loss_sum=loss_sum,
            target_frames=target_frames,
            mixture=mixture,
            masked_audio_codes=masked_audio_codes,
            encoder_last_hidden_state=memory,
            encoder_attention_mask=memory_mask,
        )

    # ------------------------------------------------------------------ sampling helpers
    def encode_audio_prompt(self, audio_prompt, audio_prompt_codes, batch: int) -> torch.LongTensor | None:
        """``(batch, depth, prompt_frames)`` the codes every song starts with: ``audio_prompt`` (a waveform at the
        codec's rate, encoded here) or ``audio_prompt_codes``, one for all songs or one per song; ``None`` without."""
        if audio_prompt is not None and audio_prompt_codes is not None:
            raise ValueError("Pass either audio_prompt (audio) or audio_prompt_codes, not both.")
        depth = self.config.decoder.num_codebooks
        if audio_prompt is not None:
            if not torch.is_tensor(audio_prompt) or not audio_prompt.is_floating_point():
                raise ValueError(
                    "audio_prompt must be a float tensor (batch, samples) or (batch, 1, samples) at the codec's rate."
                )
            audio = audio_prompt if audio_prompt.dim() == 3 else audio_prompt.reshape(-1, 1, audio_prompt.shape[-1])
            audio_prompt_codes = self.audio_encoder.encode(
                audio.to(self.device, torch.float32), return_dict=True
            ).audio_codes
        if audio_prompt_codes is None:
            return None
        codes = torch.as_tensor(audio_prompt_codes).to(self.device)
        if codes.dim() != 3 or codes.shape[1] < depth or codes.is_floating_point():
            raise ValueError(
                f"audio_prompt_codes must be integer codes shaped (batch, >= {depth}, frames), "
                f"got {tuple(codes.shape)}."
            )
        if codes.shape[0] not in (1, batch):
            raise ValueError(
                f"The audio prompt has {codes.shape[0]} items for {batch} songs; pass one, or one per song."
            )
        return codes[:, :depth].expand(batch, depth, codes.shape[-1])

    def prepare_conditions(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        tempo_bpm: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        encoder_outputs=None,
        with_null_condition: bool = False,
    ) -> ResGenConditions:
        """Run the conditioning encoders once for a sampling run (every pass reuses the result).

        ``with_null_condition``: the null condition's rows (description, lyrics and voice dropped together, as
        training drops them, and the controls with them) follow the songs' rows, so that guidance costs one
        doubled batch per pass.  ``encoder_outputs`` (a ``BaseModelOutput``, tuple or tensor
        ``(batch, memory, hidden)``, with ``attention_mask`` as its mask) replaces the encoders; it has no null
        condition to guide with."""
        if encoder_outputs is None:
            segments = self.encode_condition_segments(
                input_ids, attention_mask, lyrics_input_ids, lyrics_attention_mask, voice_values, voice_attention_mask
            )
            memory, memory_mask = self.fuse_condition_segments(segments)
        else:
            if with_null_condition:
                raise ValueError(
                    "encoder_outputs cannot be guided (the null condition is built from the processor's inputs); "
                    "pass guidance_scale=None, or the inputs instead of encoder_outputs."
                )
            memory = encoder_outputs if torch.is_tensor(encoder_outputs) else encoder_outputs[0]
            memory = memory.to(self.device)
            memory_mask = (
                torch.ones(memory.shape[:2], dtype=torch.long, device=self.device)
                if attention_mask is None
                else attention_mask.to(self.device)
            )
        batch = memory.shape[0]
        controls = self._musical_control_inputs(tempo_bpm, music_key_ids, batch, None, arrangement_ids)
        if with_null_condition:
            null_memory, null_mask = self.fuse_condition_segments(segments, {name: True for name in segments})
            memory, memory_mask = torch.cat([memory, null_memory]), torch.cat([memory_mask, null_mask])
            dropped = torch.ones(batch, dtype=torch.bool, device=self.device)
            null_controls = self._musical_control_inputs(tempo_bpm, music_key_ids, batch, dropped, arrangement_ids)
            controls = {name: torch.cat([value, null_controls[name]]) for name, value in controls.items()}
        return ResGenConditions(memory, memory_mask, controls, batch)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        tempo_bpm: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        *,
        scheduler=None,
        num_inference_steps: int = DEFAULT_NUM_INFERENCE_STEPS,
        guidance_scale: float | None = None,
        duration_s: float | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: GeneratorArg = None,
        audio_prompt: torch.Tensor | None = None,
        audio_prompt_codes: torch.LongTensor | None = None,
        progress: Callable[[Iterable], Iterable] | None = None,
        decode_audio: bool = True,
        encoder_outputs=None,
    ) -> ResGenGenerationOutput:
        """Songs from the processor's outputs: the masked decoding of :mod:`.sampling_resgen` (the loop
        :class:`~.pipeline_resgen.ResGenPipeline` runs too) over this model, exactly ``num_inference_steps``
        transformer passes (a doubled batch with guidance), whatever the duration and depth.  The arguments are
        checked here, at every call.

        ``scheduler``: a :class:`~.scheduling_resgen.ResGenScheduler` (default: a fresh one).
        ``generator``: a ``torch.Generator`` or one per song (then each song is independent of its batch).
        ``audio_prompt`` (waveform at the codec's rate) or ``audio_prompt_codes``: the song's first
        frames, kept fixed; ``duration_s`` counts them.  ``progress`` wraps the step iterable
        (e.g. ``tqdm``); without it no bar is drawn.  ``encoder_outputs`` (a ``BaseModelOutput`` or tensor
        ``(batch, memory, hidden)``, with ``attention_mask`` as its mask): a precomputed
        cross-attention memory instead of the processor's inputs, as transformers' ``generate``
        takes it (e.g. ``encode_conditions(..., drop=...)`` for songs with every condition
        nulled); it cannot be guided, since the null condition is built from the inputs.
        """
        from songgen_hf.modeling.resgen.scheduling_resgen import ResGenScheduler

        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "lyrics_input_ids": lyrics_input_ids,
            "lyrics_attention_mask": lyrics_attention_mask,
            "voice_values": voice_values,
            "voice_attention_mask": voice_attention_mask,
            "tempo_bpm": tempo_bpm,
            "music_key_ids": music_key_ids,
            "arrangement_ids": arrangement_ids,
        }
        condition_inputs = {name: value for name, value in inputs.items() if value is not None}
        sampling = {
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "duration_s": duration_s,
            "temperature": temperature,
            "top_p": top_p,
        }
        batch = condition_batch(condition_inputs, encoder_outputs, guidance_scale)
        check_sampling(self.config, batch, sampling, generator, audio_prompt, audio_prompt_codes)
        on_step = None if progress is None else _progress_callback(progress, num_inference_steps)
        codes = sample_codes(
            self,
            scheduler if scheduler is not None else ResGenScheduler(),
            condition_inputs,
            batch=batch,
            encoder_outputs=encoder_outputs,
            device=self.device,
            on_step=on_step,
            audio_prompt=audio_prompt,
            audio_prompt_codes=audio_prompt_codes,
            generator=generator,
            **sampling,
        )
        result = ResGenGenerationOutput(sequences=codes)
        if decode_audio:
            result.audio = decode_codes(self, codes)
            result.audio_lengths = torch.full(
                (result.audio.shape[0],), result.audio.shape[-1], dtype=torch.long, device=result.audio.device
            )
        return result


def _progress_callback(progress: Callable[[Iterable], Iterable], num_steps: int):
    """A step callback that advances ``progress(range(num_steps))`` as a loop over it would: the first item is
    drawn after the first step (a wrapper opens its bar then), one more after every step, and the draw after the
    last step ends the iteration (where a wrapper closes its bar)."""
    items = None

    def callback(step: int, timestep, tokens) -> None:
        nonlocal items
        if items is None:
            items = iter(progress(range(num_steps)))
            next(items, None)
        next(items, None)

    return callback


__all__ = [
    "ResGenConditions",
    "ResGenForConditionalGeneration",
    "ResGenGenerationOutput",
    "ResGenOutput",
    "ResGenPreTrainedModel",
]
