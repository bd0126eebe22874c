"""X-Codec: a 16 kHz semantic audio codec (50 Hz frames, residual VQ 8 x 1024).

Weight layout and inference arithmetic are those of transformers' ``XcodecModel``; the
building blocks are transformers' own (DAC encoder/decoder, X-Codec semantic conv stacks,
``AutoModel`` for the teacher).  On top of that this model offers:

* ``encode(..., padding_mask=...)`` that is exact for padded batches,
* chunked ``encode``/``decode`` for long audio with bounded memory,
* ``decode_only`` loading without the semantic teacher,
* a training ``forward`` (EMA RVQ, quantiser dropout, commitment and semantic losses),
* codebooks that are usable straight after random initialisation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel
from transformers import initialization as init
from transformers.audio_utils import conv1d_output_length
from transformers.modeling_utils import PreTrainedAudioTokenizerBase
from transformers.models.dac.modeling_dac import DacDecoder, DacEncoder
from transformers.models.xcodec.modeling_xcodec import SemanticDecoder, SemanticEncoder
from transformers.utils import ModelOutput

from songgen_hf.modeling.xcodec.chunking import plan_chunks, seconds_to_frames
from songgen_hf.modeling.xcodec.configuration_xcodec import XCodecConfig
from songgen_hf.modeling.xcodec.istft_decoder import ConvNeXtBlock, ISTFTDecoder
from songgen_hf.modeling.xcodec.quantization import XCodecEuclideanCodebook, XCodecResidualVectorQuantizer
from songgen_hf.modeling.xcodec.snake import Snake1d, replace_snake_activations

# Modules only the encoder side needs; a decode-only model neither builds nor loads them.
ENCODER_ONLY_MODULES = ("acoustic_encoder", "encoder_semantic", "decoder_semantic", "semantic_model", "fc", "fc1")


@dataclass
class XCodecEncoderOutput(ModelOutput):
    """
    Args:
        audio_codes (`torch.LongTensor` of shape `(batch_size, num_quantizers, frames)`):
            Codes; frames past an item's ``audio_codes_lengths`` are 0 (padding).
        audio_codes_lengths (`torch.LongTensor` of shape `(batch_size,)`):
            Valid frames per item.
    """

    audio_codes: torch.LongTensor | None = None
    audio_codes_lengths: torch.LongTensor | None = None


@dataclass
class XCodecDecoderOutput(ModelOutput):
    """
    Args:
        audio_values (`torch.FloatTensor` of shape `(batch_size, 1, frames * hop_length)`):
            Decoded audio; samples past an item's ``audio_values_lengths`` are 0.
        audio_values_lengths (`torch.LongTensor` of shape `(batch_size,)`):
            Valid samples per item.
    """

    audio_values: torch.FloatTensor | None = None
    audio_values_lengths: torch.LongTensor | None = None


@dataclass
class XCodecOutput(ModelOutput):
    """
    Args:
        audio_codes (`torch.LongTensor` of shape `(batch_size, num_quantizers, frames)`): codes.
        audio_values (`torch.FloatTensor` of shape `(batch_size, 1, samples)`):
            Reconstruction, trimmed to the input length.
        commitment_loss (`torch.FloatTensor`): mean commitment MSE over the used stages.
        semantic_loss (`torch.FloatTensor`): MSE between teacher features and their
            reconstruction from the quantised latent (computed when training or asked for).
        semantic_features (`torch.FloatTensor` of shape `(batch_size, hidden, frames)`): teacher features.
        num_quantizers (`int`): codebooks used for this forward (varies under quantiser dropout).
        spectral_frames (`tuple` of two `torch.FloatTensor` of shape `(batch_size, bins, frames)`):
            ISTFT decoder only, when asked for: the decoder's log-magnitudes and raw phase outputs
            (see :meth:`XCodecModel.decode_frames`), e.g. for the instantaneous-frequency loss.
    """

    audio_codes: torch.LongTensor | None = None
    audio_values: torch.FloatTensor | None = None
    commitment_loss: torch.FloatTensor | None = None
    semantic_loss: torch.FloatTensor | None = None
    semantic_features: torch.FloatTensor | None = None
    num_quantizers: int | None = None
    spectral_frames: tuple[torch.FloatTensor, torch.FloatTensor] | None = None


class XCodecPreTrainedModel(PreTrainedAudioTokenizerBase):
    config: XCodecConfig
    config_class = XCodecConfig
    base_model_prefix = "xcodec"
    main_input_name = "input_values"
    input_modalities = "audio"
    _no_split_modules = ["XCodecResidualVectorQuantizer"]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``, after the folder's config is bounded by its weights' header (a
        config that describes a larger or differently shaped codec is refused before anything is allocated).
        transformers' own X-Codec folders (``model_type: "xcodec"``) are read too."""
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs, accepted_types=("xcodec",))
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        # PyTorch's default (Kaiming-uniform) init everywhere: it is what DAC and X-Codec
        # effectively trained from (their weight-normed convs ignore a later re-init), and it
        # keeps a fresh codec's output at audio scale.  Loaded weights are never touched.
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1] * math.prod(module.weight.shape[2:])
                if isinstance(module, nn.ConvTranspose1d):
                    fan_in = module.weight.shape[0] * math.prod(module.weight.shape[2:])
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            init.zeros_(module.bias)
            init.ones_(module.weight)
        elif isinstance(module, Snake1d):
            init.ones_(module.alpha)
        elif isinstance(module, ConvNeXtBlock):
            init.constant_(module.layer_scale, module.layer_scale_init)
        elif isinstance(module, XCodecEuclideanCodebook):
            # transformers zero-fills the tables, which maps every frame to code 0.  Random
            # codewords give a usable (if untrained) codec; ``inited = 0`` asks training to
            # replace them by k-means on its first batch.
            dim = module.embed.shape[1]
            init.normal_(module.embed, mean=0.0, std=dim**-0.5)
            init.copy_(module.embed_avg, module.embed)
            init.ones_(module.cluster_size)
            init.constant_(module.inited, 0.0 if self.config.kmeans_init else 1.0)

    def _acoustic_modules(self):
        return [m for m in (getattr(self, "acoustic_encoder", None), self.acoustic_decoder) if m is not None]

    def apply_weight_norm(self, include_encoder: bool = True) -> None:
        """Weight-normalise the DAC convolutions (training, and loading original checkpoints).

        ``include_encoder=False`` leaves the encoder's plain weights untouched, bit for bit:
        folding weight norm back in re-rounds a weight, which could flip a code.
        """
        weight_norm = nn.utils.parametrizations.weight_norm
        parts = self._acoustic_modules() if include_encoder else [self.acoustic_decoder]
        for part in parts:
            for module in part.modules():
                if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and not hasattr(module, "parametrizations"):
                    weight_norm(module)

    def remove_weight_norm(self) -> None:
        """Fold weight norm back into plain ``weight`` tensors (the Hub layout)."""
        for part in self._acoustic_modules():
            for module in part.modules():
                if hasattr(module, "parametrizations") and "weight" in module.parametrizations:
                    nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


class XCodecModel(XCodecPreTrainedModel):
    """The X-Codec codec.  See the module docstring for what it adds to transformers' model."""

    def __init__(self, config: XCodecConfig):
        super().__init__(config)
        self.pad = config.hop_length // 2
        self.acoustic_decoder = self._build_decoder(config)
        self.fc2 = nn.Linear(config.hidden_size, config.acoustic_model_config.hidden_size)
        self.quantizer = XCodecResidualVectorQuantizer(config)
        if not config.decode_only:
            self.acoustic_encoder = replace_snake_activations(DacEncoder(config.acoustic_model_config))
            self.encoder_semantic = SemanticEncoder(config)
            self.decoder_semantic = SemanticDecoder(config)
            self.semantic_model = AutoModel.from_config(config.semantic_model_config).eval()
            self.semantic_model.requires_grad_(False)
            self.fc = nn.Linear(config.hidden_size, config.hidden_size)
            self.fc1 = nn.Linear(config.hidden_size, config.semantic_hidden_size)
        else:
            # The checkpoint still holds the encoder side; skipping it is the point.
            self._keys_to_ignore_on_load_unexpected = [rf"^{name}\." for name in ENCODER_ONLY_MODULES]
        self.post_init()

    @staticmethod
    def _build_decoder(config: XCodecConfig) -> nn.Module:
        if config.acoustic_decoder_type == "istft":
            return ISTFTDecoder(
                config.acoustic_model_config.hidden_size, config.hop_length, **(config.istft_decoder_config or {})
            )
        decoder = replace_snake_activations(DacDecoder(config.acoustic_model_config))
        # X-Codec's DAC keeps every upsampling stage exactly x stride and has no output tanh.
        for module in decoder.modules():
            if isinstance(module, nn.ConvTranspose1d):
                module.output_padding = (module.stride[0] % 2,)
        decoder.tanh = nn.Identity()
        return decoder

    def train(self, mode: bool = True):
        super().train(mode)
        if hasattr(self, "semantic_model"):
            self.semantic_model.eval()  # a frozen teacher never runs dropout/masking
        return self

    # ------------------------------------------------------------------ input checks
    def _check_can_encode(self) -> None:
        if self.config.decode_only:
            raise ValueError(
                "This XCodecModel was loaded with decode_only=True and has no encoder. "
                "Reload it without decode_only to encode audio."
            )

    def _check_audio(self, input_values: torch.Tensor) -> None:
        if not isinstance(input_values, torch.Tensor):
            raise ValueError(
                f"input_values must be a torch.Tensor of shape (batch, 1, samples), got {type(input_values)}."
            )
        if input_values.dim() != 3:
            raise ValueError(
                f"input_values must have shape (batch, 1, samples), got {tuple(input_values.shape)}. "
                "Add the channel axis with `audio[:, None, :]` (or `audio[None, None, :]` for one clip)."
            )
        if input_values.shape[1] != 1:
            raise ValueError(
                f"X-Codec is mono but got {input_values.shape[1]} channels. Downmix first, e.g. "
                "`audio.mean(dim=1, keepdim=True)`."
            )
        if not torch.is_floating_point(input_values):
            raise ValueError(f"input_values must be floating point audio in [-1, 1], got dtype {input_values.dtype}.")
        if not torch.isfinite(input_values).all():
            raise ValueError("input_values contains NaN or Inf samples; clean the audio (e.g. torch.nan_to_num).")
        if input_values.shape[-1] < self.config.hop_length:
            raise ValueError(
                f"Audio of {input_values.shape[-1]} samples is shorter than one codec frame "
                f"({self.config.hop_length} samples at {self.config.sample_rate} Hz); pad it."
            )

    def _valid_lengths(self, padding_mask: torch.Tensor | None, input_values: torch.Tensor) -> torch.Tensor:
        batch, _, samples = input_values.shape
        if padding_mask is None:
            return torch.full((batch,), samples, dtype=torch.long)
        mask = padding_mask.reshape(batch, -1) if padding_mask.dim() == 3 else padding_mask
        if mask.shape != (batch, samples):
            raise ValueError(
                f"padding_mask must have shape (batch, samples) = {(batch, samples)}, got {tuple(padding_mask.shape)}."
            )
        mask = mask.bool().cpu()
        lengths = mask.sum(-1)
        prefix = torch.arange(samples).unsqueeze(0) < lengths.unsqueeze(1)
        if not torch.equal(mask, prefix):
            raise ValueError(
                "padding_mask must mark each item's valid audio as a prefix (ones, then zeros): right padding only."
            )
        if (lengths < self.config.hop_length).any():
            raise ValueError(
                f"Every item needs at least {self.config.hop_length} valid samples; got lengths {lengths.tolist()}."
            )
        return lengths

    def _check_codes(self, audio_codes: torch.Tensor) -> None:
        if not isinstance(audio_codes, torch.Tensor) or audio_codes.dim() != 3:
            shape = tuple(audio_codes.shape) if isinstance(audio_codes, torch.Tensor) else type(audio_codes)
            raise ValueError(f"audio_codes must be a tensor of shape (batch, num_quantizers, frames), got {shape}.")
        if torch.is_floating_point(audio_codes):
            raise ValueError("audio_codes must be integer code indices, got a floating point tensor.")
        if not 1 <= audio_codes.shape[1] <= self.config.num_quantizers:
            raise ValueError(
                f"audio_codes has {audio_codes.shape[1]} codebooks; this codec has 1..{self.config.num_quantizers}."
            )
        if audio_codes.numel() and (audio_codes.min() < 0 or audio_codes.max() >= self.config.codebook_size):
            raise ValueError(
                f"audio_codes must lie in [0, {self.config.codebook_size}), got values in "
                f"[{int(audio_codes.min())}, {int(audio_codes.max())}]. Strip special tokens (BOS/EOS/PAD) first."
            )

    # ------------------------------------------------------------------ encoder internals
    def _acoustic_frames(self, num_samples: int) -> int:
        for module in self.acoustic_encoder.modules():
            if isinstance(module, nn.Conv1d):
                num_samples = conv1d_output_length(module, num_samples)
        return num_samples

    def _semantic_features(self, teacher_input: torch.Tensor) -> torch.Tensor:
        """Mean of all teacher hidden states, (B, hidden, frames); ``teacher_input`` is already padded."""
        with torch.no_grad():
            hidden_states = self.semantic_model(teacher_input, output_hidden_states=True).hidden_states
        return torch.stack(hidden_states, dim=1).mean(dim=1).transpose(1, 2)

    def _needs_acoustic_padding(self, num_samples: int) -> bool:
        """Whether the acoustic encoder runs on the 160-padded signal to match the teacher's frames."""
        return self._acoustic_frames(num_samples) != self.config.num_frames(num_samples)

    def _embed(self, teacher_input: torch.Tensor, acoustic_input: torch.Tensor):
        """Fused pre-quantisation latent (B, D, frames) and the teacher features."""
        semantic = self._semantic_features(teacher_input)
        acoustic = self.acoustic_encoder(acoustic_input)
        if acoustic.shape[-1] != semantic.shape[-1]:
            raise ValueError(
                f"The semantic teacher produced {semantic.shape[-1]} frames but the acoustic encoder "
                f"{acoustic.shape[-1]}; the teacher's hop must equal the codec hop ({self.config.hop_length})."
            )
        fused = torch.cat([acoustic, self.encoder_semantic(semantic)], dim=1)
        return self.fc(fused.transpose(1, 2)).transpose(1, 2), semantic

    def _embed_whole(self, audio: torch.Tensor):
        padded = F.pad(audio, (self.pad, self.pad))
        acoustic_input = padded if self._needs_acoustic_padding(audio.shape[-1]) else audio
        return self._embed(padded[:, 0], acoustic_input)

    def _encode_whole(self, audio: torch.Tensor, num_quantizers: int) -> torch.Tensor:
        embeddings, _ = self._embed_whole(audio)
        return self.quantizer.encode(embeddings, num_quantizers).transpose(0, 1)

    def _encode_chunked(self, audio: torch.Tensor, num_quantizers: int, chunk_frames: int, context_frames: int):
        """Encode chunk by chunk; each chunk sees the same padded signal the whole-file path sees."""
        hop, samples = self.config.hop_length, audio.shape[-1]
        total = self.config.num_frames(samples)
        padded = F.pad(audio, (self.pad, self.pad))
        acoustic_source = padded if self._needs_acoustic_padding(samples) else audio
        # the teacher's last window reaches hop // 4 samples past the chunk's last hop
        teacher_tail = hop // 4
        codes = []
        for chunk in plan_chunks(total, chunk_frames, context_frames):
            start = chunk.context_start * hop
            last = chunk.context_end == total
            teacher_input = (
                padded[:, 0, start:] if last else padded[:, 0, start : chunk.context_end * hop + teacher_tail]
            )
            acoustic_input = (
                acoustic_source[..., start:] if last else acoustic_source[..., start : chunk.context_end * hop]
            )
            embeddings, _ = self._embed(teacher_input, acoustic_input)
            chunk_codes = self.quantizer.encode(embeddings, num_quantizers).transpose(0, 1)
            codes.append(chunk_codes[..., chunk.keep_offset : chunk.keep_offset + chunk.keep_length])
        return torch.cat(codes, dim=-1)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def encode(
        self,
        input_values: torch.Tensor,
        bandwidth: float | None = None,
        padding_mask: torch.Tensor | None = None,
        chunk_seconds: float | None = None,
        context_seconds: float = 1.0,
        sampling_rate: int | None = None,
        return_dict: bool | None = None,
    ) -> XCodecEncoderOutput | tuple:
        r"""Audio ``(B, 1, samples)`` at ``config.sample_rate`` → codes ``(B, n_q, frames)``.

        Args:
            input_values: mono float audio.
            bandwidth: kbps, one of ``config.target_bandwidths``; ``None`` uses all codebooks.
            padding_mask: ``(B, samples)`` with 1 on valid samples, 0 on right padding.
                **Guarantee:** with a mask, item ``i``'s codes over its
                ``audio_codes_lengths[i]`` frames are exactly ``encode(item_i[..., :len_i])``.
                Items are grouped by valid length and each group is encoded at that exact
                length (no zero padding reaches the teacher or the convolutions), so padding
                cannot change a code; items of equal length share one forward pass.  Frames past
                an item's length are filled with 0.  Without a mask every item is taken at the
                full length, exactly like transformers' ``XcodecModel``.
            chunk_seconds: encode in chunks of this many seconds (bounded memory for long
                audio); ``None`` encodes in one pass.
            context_seconds: extra audio each chunk sees on both sides; only the chunk's own
                frames are kept.
            sampling_rate: the rate of ``input_values``, checked against the codec's (pass it to
                catch unresampled audio; the codec never resamples silently).
        """
        if sampling_rate is not None and int(sampling_rate) != self.config.sample_rate:
            raise ValueError(
                f"Audio at {sampling_rate} Hz given to a {self.config.sample_rate} Hz codec; resample it first "
                "(e.g. songgen_hf.data.audio.resample or load_audio(path, sampling_rate=...))."
            )
        self._check_can_encode()
        self._check_audio(input_values)
        num_quantizers = self.config.num_quantizers_for_bandwidth(bandwidth)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        lengths = self._valid_lengths(padding_mask, input_values)
        frame_lengths = torch.tensor([self.config.num_frames(int(n)) for n in lengths], dtype=torch.long)

        def encode_group(audio: torch.Tensor) -> torch.Tensor:
            frames = self.config.num_frames(audio.shape[-1])
            if chunk_seconds is not None:
                chunk_frames = seconds_to_frames(chunk_seconds, self.config.frame_rate, "chunk_seconds")
                if frames > chunk_frames:
                    context = seconds_to_frames(context_seconds, self.config.frame_rate, "context_seconds")
                    return self._encode_chunked(audio, num_quantizers, chunk_frames, context)
            return self._encode_whole(audio, num_quantizers)

        if padding_mask is None:
            codes = encode_group(input_values)
        else:
            codes = input_values.new_zeros(
                (input_values.shape[0], num_quantizers, int(frame_lengths.max())), dtype=torch.long
            )
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero().flatten().to(input_values.device)
                group_codes = encode_group(input_values[rows, :, :length])
                codes[rows, :, : group_codes.shape[-1]] = group_codes
        frame_lengths = frame_lengths.to(codes.device)
        if not return_dict:
            return codes, frame_lengths
        return XCodecEncoderOutput(audio_codes=codes, audio_codes_lengths=frame_lengths)

    def _decode_whole(self, audio_codes: torch.Tensor) -> torch.Tensor:
        quantized = self.quantizer.decode(audio_codes.transpose(0, 1))
        return self.acoustic_decoder(self.fc2(quantized.transpose(1, 2)).transpose(1, 2))

    @property
    def has_spectral_decoder(self) -> bool:
        """True for the ISTFT decoder, whose decode splits into :meth:`decode_frames` and a synthesis."""
        return isinstance(self.acoustic_decoder, ISTFTDecoder)

    def decode_frames(self, audio_codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ISTFT decoder only: codes ``(B, n_q, T)`` -> per-frame log-magnitudes and raw phases ``(B, bins, T)``.

        This is the time-local part of decoding (each frame depends on a few frames around it);
        ``acoustic_decoder.synthesize(log_magnitude, acoustic_decoder.phases(raw_phase))`` finishes
        it.  Chunked decoding and streaming use the split to keep phases continuous.
        """
        if not self.has_spectral_decoder:
            raise ValueError("decode_frames needs acoustic_decoder_type='istft'; this codec has a DAC decoder.")
        quantized = self.quantizer.decode(audio_codes.transpose(0, 1))
        return self.acoustic_decoder.frames(self.fc2(quantized.transpose(1, 2)).transpose(1, 2))

    def _synthesize(self, frames: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        log_magnitude, raw_phase = frames
        return self.acoustic_decoder.synthesize(log_magnitude, self.acoustic_decoder.phases(raw_phase))

    def _decode_chunked(self, audio_codes: torch.Tensor, chunk_frames: int, context_frames: int) -> torch.Tensor:
        hop = self.config.hop_length
        chunks = plan_chunks(audio_codes.shape[-1], chunk_frames, context_frames)
        if self.has_spectral_decoder:
            # Its network is local but its synthesis is not (phases sum over all frames, windows
            # overlap): run the network per chunk and synthesise the kept frames in one go.
            kept = []
            for chunk in chunks:
                frames = self.decode_frames(audio_codes[..., chunk.context_start : chunk.context_end])
                kept.append([f[..., chunk.keep_offset : chunk.keep_offset + chunk.keep_length] for f in frames])
            log_magnitude, raw_phase = (torch.cat(parts, dim=-1) for parts in zip(*kept))
            return self._synthesize((log_magnitude, raw_phase))
        pieces = []
        for chunk in chunks:
            audio = self._decode_whole(audio_codes[..., chunk.context_start : chunk.context_end])
            pieces.append(audio[..., chunk.keep_offset * hop : (chunk.keep_offset + chunk.keep_length) * hop])
        return torch.cat(pieces, dim=-1)

    def decode(
        self,
        audio_codes: torch.Tensor,
        audio_codes_lengths: torch.Tensor | None = None,
        chunk_seconds: float | None = None,
        context_seconds: float = 1.0,
        return_dict: bool | None = None,
    ) -> XCodecDecoderOutput | tuple:
        r"""Codes ``(B, n_q, frames)`` → audio ``(B, 1, frames * hop_length)``; any n_q ≤ num_quantizers.

        ``audio_codes_lengths`` (per-item valid frames, as ``encode`` returns them) makes the
        decode of a padded batch exact per item: each length group is decoded at its own
        length and samples past it are zero.  ``chunk_seconds`` decodes long sequences in
        chunks with ``context_seconds`` of codes on both sides.
        """
        self._check_codes(audio_codes)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch, _, frames = audio_codes.shape
        if audio_codes_lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long)
        else:
            lengths = torch.as_tensor(audio_codes_lengths, dtype=torch.long).cpu().reshape(-1)
            if lengths.shape[0] != batch or (lengths < 1).any() or (lengths > frames).any():
                raise ValueError(
                    f"audio_codes_lengths must hold {batch} lengths in [1, {frames}], got {lengths.tolist()}."
                )

        def decode_group(codes: torch.Tensor) -> torch.Tensor:
            if chunk_seconds is not None:
                chunk_frames = seconds_to_frames(chunk_seconds, self.config.frame_rate, "chunk_seconds")
                if codes.shape[-1] > chunk_frames:
                    context = seconds_to_frames(context_seconds, self.config.frame_rate, "context_seconds")
                    return self._decode_chunked(codes, chunk_frames, context)
            return self._decode_whole(codes)

        if audio_codes_lengths is None:
            audio = decode_group(audio_codes)
        else:
            audio = None
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero().flatten().to(audio_codes.device)
                group_audio = decode_group(audio_codes[rows, :, :length])
                if audio is None:
                    audio = group_audio.new_zeros((batch, 1, frames * self.config.hop_length))
                audio[rows, :, : group_audio.shape[-1]] = group_audio
        sample_lengths = (lengths * self.config.hop_length).to(audio.device)
        if not return_dict:
            return audio, sample_lengths
        return XCodecDecoderOutput(audio_values=audio, audio_values_lengths=sample_lengths)

    def forward(
        self,
        input_values: torch.Tensor,
        audio_codes: torch.Tensor | None = None,
        bandwidth: float | None = None,
        return_semantic_loss: bool | None = None,
        return_spectral_frames: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> XCodecOutput | tuple:
        r"""Reconstruct ``input_values``.

        In eval mode (or with ``audio_codes`` given) this is transformers' forward:
        ``decode(encode(x))`` trimmed to the input length.  In training mode it is the
        differentiable training pass: straight-through RVQ with EMA updates, quantiser
        dropout over ``target_bandwidths`` (unless ``bandwidth`` is given), commitment loss
        and the semantic reconstruction loss.  ``return_spectral_frames`` (ISTFT decoder only) also
        returns the decoder's spectral frames.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        length = input_values.shape[-1]
        if return_spectral_frames and not self.has_spectral_decoder:
            raise ValueError(
                "return_spectral_frames needs acoustic_decoder_type='istft'; this codec has a DAC decoder."
            )
        if audio_codes is not None or not (self.training or return_semantic_loss):
            if audio_codes is None:
                audio_codes = self.encode(input_values, bandwidth, return_dict=True).audio_codes
            frames = None
            if return_spectral_frames:
                frames = self.decode_frames(audio_codes)
                audio_values = self._synthesize(frames)[..., :length]
            else:
                audio_values = self.decode(audio_codes, return_dict=True).audio_values[..., :length]
            output = XCodecOutput(
                audio_codes=audio_codes,
                audio_values=audio_values,
                num_quantizers=audio_codes.shape[1],
                spectral_frames=frames,
            )
            return output if return_dict else output.to_tuple()

        self._check_can_encode()
        self._check_audio(input_values)
        num_quantizers = self._training_num_quantizers(bandwidth)
        embeddings, semantic = self._embed_whole(input_values)
        quantized = self.quantizer(embeddings, num_quantizers)
        latent = quantized["quantized"].transpose(1, 2)
        decoder_input = self.fc2(latent).transpose(1, 2)
        frames = None
        if return_spectral_frames:
            frames = self.acoustic_decoder.frames(decoder_input)
            audio_values = self._synthesize(frames).to(decoder_input.dtype)[..., :length]
        else:
            audio_values = self.acoustic_decoder(decoder_input)[..., :length]
        semantic_reconstruction = self.decoder_semantic(self.fc1(latent).transpose(1, 2))
        output = XCodecOutput(
            audio_codes=quantized["codes"].transpose(0, 1),
            audio_values=audio_values,
            commitment_loss=quantized["commitment_loss"],
            semantic_loss=F.mse_loss(semantic_reconstruction, semantic),
            semantic_features=semantic,
            num_quantizers=num_quantizers,
            spectral_frames=frames,
        )
        return output if return_dict else output.to_tuple()

    def _training_num_quantizers(self, bandwidth: float | None) -> int:
        if bandwidth is not None or not (self.training and self.config.quantizer_dropout):
            return self.config.num_quantizers_for_bandwidth(bandwidth)
        choice = torch.tensor(random.randrange(len(self.config.target_bandwidths)))
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # every replica must use the same depth or the all-reduced statistics diverge
            choice = choice.to(self.fc.weight.device)
            torch.distributed.broadcast(choice, src=0)
        return self.config.num_quantizers_for_bandwidth(self.config.target_bandwidths[int(choice)])


__all__ = [
    "XCodecModel",
    "XCodecPreTrainedModel",
    "XCodecOutput",
    "XCodecEncoderOutput",
    "XCodecDecoderOutput",
]
