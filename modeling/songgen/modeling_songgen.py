"""SongGen: a single-stage autoregressive text-to-song model over X-Codec tokens.

``SongGenForCausalLM`` is the decoder with its heads; ``SongGenForConditionalGeneration`` adds
the conditioning encoders (description T5, lyrics, optional reference voice) and the codec.
All encoders run once per call, producing one cross-attention memory
``[voice ; description ; lyrics]`` that every decoder layer attends to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from songgen_hf.modeling.songgen.cache_naming import CACHE_KWARG, accepts_past_key_values, cache_field, cache_of
from songgen_hf.modeling.songgen.conditioning import SongConditioningMixin
from songgen_hf.modeling.songgen.configuration_songgen import SongGenConfig, SongGenDecoderConfig
from songgen_hf.modeling.songgen.decoder import SongGenDecoderModel, SongGenSinusoidalPositions
from songgen_hf.modeling.songgen.generation import SongGenGenerationMixin
from songgen_hf.modeling.songgen.int8_weights import Int8Linear
from songgen_hf.modeling.songgen.loss import check_labels, combine_row_losses, masked_row_cross_entropy
from songgen_hf.modeling.songgen.lyrics_encoder import init_lyrics_encoder_weights
from songgen_hf.modeling.songgen.musical_controls import SongGenMusicalControls, key_pitch_class_features
from songgen_hf.modeling.songgen.row_fusion import FusedRowWeights, fused_logits
from songgen_hf.modeling.songgen.voice_encoder import SongGenVoiceEncoder


@dataclass
class _SongGenLossOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    vocal_logits: torch.FloatTensor | None = None
    codebook_losses: torch.FloatTensor | None = None
    codebook_loss_sums: torch.FloatTensor | None = None
    codebook_token_counts: torch.LongTensor | None = None
    vocal_codebook_losses: torch.FloatTensor | None = None
    vocal_codebook_loss_sums: torch.FloatTensor | None = None
    vocal_codebook_token_counts: torch.LongTensor | None = None


# The cache field's name is the installed transformers' (``cache`` from 5.24, ``past_key_values``
# before; see cache_naming), so the class is made here rather than written out.
SongGenOutput = make_dataclass(
    "SongGenOutput",
    [
        (CACHE_KWARG, Cache | None, field(default=None)),
        ("encoder_last_hidden_state", torch.FloatTensor | None, field(default=None)),
        ("encoder_attention_mask", torch.LongTensor | None, field(default=None)),
    ],
    bases=(_SongGenLossOutput,),
    namespace={
        "__module__": __name__,
        "__doc__": """
    Args:
        loss: weighted per-codebook cross-entropy (plus the auxiliary vocal loss for mixed pro).
        logits: ``(batch * rows, length, vocab)``.
        vocal_logits: mixed pro's auxiliary vocal logits, same shape (training only).
        codebook_losses: ``(rows,)`` mean CE per row; ``codebook_loss_sums`` / ``codebook_token_counts``
            the same as sums and counts (for token-count normalisation across micro-batches).
        vocal_codebook_losses / vocal_codebook_loss_sums / vocal_codebook_token_counts: for mixed pro.
        cache (``past_key_values`` on transformers < 5.24): the key/value cache.
        encoder_last_hidden_state / encoder_attention_mask: the condition memory and its mask.
    """,
    },
)


# Resolvers that turn a checkpoint this package cannot read as it is (the official SongGen layout)
# into a folder it can: each takes (name_or_path, from_pretrained kwargs) and returns
# (path, kwargs) or None.  The conversion layer registers one (songgen_hf._auto_registration).
# A registry, not an import: modeling stays free of the converters and of Hub downloads
# (dependencies point one way), and from_pretrained is transformers' own when none is registered.
_PRETRAINED_RESOLVERS: list = []


def register_pretrained_resolver(resolver) -> None:
    """Add ``resolver`` (idempotent) to those :func:`resolve_pretrained_source` consults."""
    if resolver not in _PRETRAINED_RESOLVERS:
        _PRETRAINED_RESOLVERS.append(resolver)


def resolve_pretrained_source(name_or_path, kwargs: dict) -> tuple:
    """``(name_or_path, kwargs)`` as the first registered resolver rewrites them, else unchanged."""
    for resolver in _PRETRAINED_RESOLVERS:
        resolved = resolver(name_or_path, kwargs)
        if resolved is not None:
            return resolved
    return name_or_path, kwargs


class SongGenPreTrainedModel(PreTrainedModel):
    config: SongGenConfig
    base_model_prefix = "songgen"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["SongGenDecoderLayer", "SongGenAttention"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _can_compile_fullgraph = True

    def _std(self) -> float:
        config = self.config.decoder if isinstance(self.config, SongGenConfig) else self.config
        return config.initializer_factor

    @torch.no_grad()
    def _init_weights(self, module):
        std = self._std()
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SongGenSinusoidalPositions):
            module.reset()
        elif isinstance(module, SongGenMusicalControls):
            if module.tempo_projection is not None:
                # the metronome enters at the scale of the sinusoidal positions it is added to, not at `std`
                projection = module.tempo_projection
                init.normal_(projection.weight, mean=0.0, std=projection.in_features**-0.5)
                init.zeros_(projection.bias)
                init.zeros_(module.unknown_tempo)
            if module.key_projection is not None:
                init.zeros_(module.unknown_key)  # as an embedding's row would start: the projection starts at `std`
                init.copy_(module.key_features, key_pitch_class_features())
        elif isinstance(module, SongGenVoiceEncoder):
            init.constant_(module.layer_aggregation.weight, 1.0 / module.num_states)
            init.zeros_(module.layer_aggregation.bias)
        if isinstance(self.config, SongGenConfig):
            init_lyrics_encoder_weights(module, self.config.lyrics_encoder)


class SongGenForCausalLM(SongGenPreTrainedModel):
    """The decoder with one head per token row (and mixed pro's training-only vocal heads)."""

    config: SongGenDecoderConfig
    config_class = SongGenDecoderConfig
    base_model_prefix = "model"

    def __init__(self, config: SongGenDecoderConfig):
        super().__init__(config)
        self.pattern = config.token_pattern()
        self.model = SongGenDecoderModel(config)
        rows = config.num_rows
        self.lm_heads = nn.ModuleList(
            [nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(rows)]
        )
        if config.has_vocal_heads:
            # one per row, laid out like the mix's (K for mixed_pro, S*K for mixed_pro_stream2)
            self.vocal_lm_heads = nn.ModuleList(
                [nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(rows)]
            )
        self._row_fusion = FusedRowWeights()
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def get_output_embeddings(self):
        return self.lm_heads

    def _stack_logits(self, hidden_states: torch.Tensor, name: str) -> torch.Tensor:
        heads = getattr(self, name)
        if self._row_fusion.fusable(heads, nn.Linear) or self._row_fusion.fusable(heads, Int8Linear):
            return fused_logits(self._row_fusion, name, hidden_states, heads)
        return torch.stack([head(hidden_states) for head in heads], dim=1)  # (B, rows, L, V)

    def _row_losses(self, logits: torch.Tensor, labels: torch.Tensor, name: str):
        batch, rows, length, vocab = logits.shape
        check_labels(labels, batch, rows, length, vocab, name)
        sums, counts = masked_row_cross_entropy(logits, labels)
        return sums / counts.clamp(min=1), sums, counts

    def _noisy_inputs(self, input_ids: torch.LongTensor | None) -> torch.LongTensor | None:
        """In training, codec tokens replaced by uniform random codes with ``input_token_noise_prob``; special
        ids (BOS, padding, EOS) are the pattern's structure and stay.  Uses torch's global generator, like dropout,
        so a resumed run that restores it draws the same noise."""
        if not self.training or input_ids is None:  # generation returns here, before any other work
            return input_ids
        probability = float(self.config.input_token_noise_prob)
        if probability == 0:
            return input_ids
        codes = self.config.codebook_size
        replace = (input_ids < codes) & (torch.rand(input_ids.shape, device=input_ids.device) < probability)
        return torch.where(replace, torch.randint_like(input_ids, codes), input_ids)

    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        vocal_labels: torch.LongTensor | None = None,
        codebook_weights: torch.Tensor | None = None,
        vocal_loss_weight: float = 0.1,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SongGenOutput:
        r"""
        input_ids: ``(batch * rows, length)`` or ``(batch, rows, length)`` decoder tokens.
        labels / vocal_labels: ``(batch, rows, length)`` targets from the token pattern, ``-100`` = ignored.
        codebook_weights: ``(K,)`` per-codebook loss weights (e.g. from ``CodebookCurriculum``);
            default uniform.
        logits_to_keep: if > 0, only the last ``logits_to_keep`` positions get logits (generation).
        """
        outputs = self.model(
            input_ids=self._noisy_inputs(input_ids),
            attention_mask=attention_mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            position_ids=position_ids,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self._stack_logits(hidden_states, "lm_heads")
        result = SongGenOutput(**cache_field(cache_of(outputs)))
        num_codebooks = self.config.num_codebooks
        weights = (
            codebook_weights if codebook_weights is not None else torch.full((num_codebooks,), 1.0 / num_codebooks)
        )
        if labels is not None:
            means, sums, counts = self._row_losses(logits, labels, "labels")
            result.codebook_losses, result.codebook_loss_sums, result.codebook_token_counts = means, sums, counts
            result.loss = combine_row_losses(means, weights, num_codebooks)
        if vocal_labels is not None:
            if not self.config.has_vocal_heads:
                raise ValueError(
                    f"vocal_labels are only used by patterns with vocal heads (mixed_pro, mixed_pro_stream2), "
                    f"not {self.config.track_pattern!r}."
                )
            vocal_logits = self._stack_logits(hidden_states, "vocal_lm_heads")
            means, sums, counts = self._row_losses(vocal_logits, vocal_labels, "vocal_labels")
            result.vocal_logits = vocal_logits.flatten(0, 1)
            result.vocal_codebook_losses, result.vocal_codebook_loss_sums = means, sums
            result.vocal_codebook_token_counts = counts
            vocal_loss = combine_row_losses(means, weights, num_codebooks)
            result.loss = (
                vocal_loss_weight * vocal_loss if result.loss is None else result.loss + vocal_loss_weight * vocal_loss
            )
        result.logits = logits.flatten(0, 1)
        return result


class SongGenForConditionalGeneration(SongConditioningMixin, SongGenGenerationMixin, SongGenPreTrainedModel):
    """SongGen: description + lyrics (+ reference voice) -> codec tokens -> audio."""

    config: SongGenConfig
    config_class = SongGenConfig
    output_modalities = ("audio",)
    # from_pretrained(dtype=bfloat16 / float16) keeps the codec in float32: it runs once per song and
    # writes the audio, and in bf16 its output carries a noise floor ~40 dB under the signal (measured on
    # the released-size codec); an fp32 audio prompt also enters it as it is.  A regex searched in each
    # key, anchored because MERT is ``voice_encoder.audio_encoder.*`` (it stays in the requested dtype).
    _keep_in_fp32_modules_strict = [r"^audio_encoder\."]
    # The same pattern for transformers' quantizers (torchao, bitsandbytes...), which skip the modules
    # listed here: a quantization_config never converts the codec.
    _keep_in_fp32_modules = [r"^audio_encoder\."]

    def __init__(self, config: SongGenConfig):
        super().__init__(config)
        self._build_conditioning(config)
        self.decoder = SongGenForCausalLM(config.decoder)
        self.pattern = self.decoder.pattern
        self.freeze_text_encoder()
        self.freeze_audio_encoder()
        self.post_init()
        self._set_generation_defaults()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``; an official SongGen repo id or folder is converted once
        (and cached) first, through the registered resolver (see ``register_pretrained_resolver``)."""
        pretrained_model_name_or_path, kwargs = resolve_pretrained_source(pretrained_model_name_or_path, kwargs)
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs)  # before anything is allocated
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    def _set_generation_defaults(self) -> None:
        # The reference samples with top-k 50 at temperature 1; 5.x leaves these unset otherwise.
        defaults = self.generation_config
        defaults.do_sample = True if defaults.do_sample is None else defaults.do_sample
        defaults.top_k = 50 if defaults.top_k is None else defaults.top_k
        defaults.temperature = 1.0 if defaults.temperature is None else defaults.temperature
        defaults.decoder_start_token_id = self.config.decoder.bos_token_id
        defaults.bos_token_id = self.config.decoder.bos_token_id
        defaults.pad_token_id = self.config.decoder.pad_token_id
        defaults.eos_token_id = self.config.decoder.eos_token_id

    def get_decoder(self):
        return self.decoder

    # ------------------------------------------------------------------ forward
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        vocal_labels: torch.LongTensor | None = None,
        codebook_weights: torch.Tensor | None = None,
        tempo_bpm: torch.Tensor | None = None,
        music_key_ids: torch.LongTensor | None = None,
        arrangement_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SongGenOutput:
        r"""
        input_ids / attention_mask: T5 description tokens.
        tempo_bpm / music_key_ids / arrangement_ids: ``(batch,)`` musical controls for models built with them
            (the processor reads them from the description; NaN / 24 / 8 = not asked).  They are dropped
            with the description.
        lyrics_input_ids / lyrics_attention_mask: VoiceBPE lyrics tokens (``[START] ... [STOP]``).
        voice_values / voice_attention_mask: optional ``(batch, 72000)`` reference voice at 24 kHz.
        encoder_outputs / encoder_attention_mask: a precomputed condition memory (skips the encoders).
        decoder_input_ids: ``(batch, rows, length)`` or ``(batch * rows, length)``.
        labels / vocal_labels: from ``self.pattern.build_labels(...)`` (``loss_labels()``).
        codebook_weights: ``(K,)`` curriculum weights for this step (default uniform).
        """
        if encoder_outputs is None:
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
            )
        else:
            # generation passes the memory's mask as `attention_mask`, transformers' encoder-decoder convention
            memory = (
                encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else encoder_outputs.last_hidden_state
            )
            memory_mask = encoder_attention_mask if encoder_attention_mask is not None else attention_mask
            controls = self._musical_control_inputs(tempo_bpm, music_key_ids, memory.shape[0], None, arrangement_ids)
        if decoder_input_ids is None:
            raise ValueError(
                "Pass decoder_input_ids. For training, build them with the labels: "
                "`batch = model.pattern.build_labels(codes)`, then decoder_input_ids=batch.decoder_input_ids, "
                "labels=batch.loss_labels()."
            )
        if decoder_input_ids.dim() == 3 and labels is not None and decoder_input_ids.shape != labels.shape:
            raise ValueError(
                f"decoder_input_ids {tuple(decoder_input_ids.shape)} and labels {tuple(labels.shape)} must match."
            )
        output = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=memory,
            encoder_attention_mask=memory_mask,
            cache=cache,
            labels=labels,
            vocal_labels=vocal_labels,
            codebook_weights=codebook_weights,
            vocal_loss_weight=self.config.vocal_loss_weight,
            use_cache=use_cache,
            position_ids=position_ids,
            logits_to_keep=logits_to_keep,
            **controls,
            **kwargs,
        )
        output.encoder_last_hidden_state = memory
        output.encoder_attention_mask = memory_mask
        return output


__all__ = ["SongGenForConditionalGeneration", "SongGenForCausalLM", "SongGenPreTrainedModel", "SongGenOutput"]
