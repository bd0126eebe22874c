"""SongGen's reference-voice encoder: frozen MERT -> learned layer mix -> projection.

Pipeline (SongGen §2.5; shapes for MERT-v1-330M and a 3 s clip at 24 kHz):

1. ``input_values`` (B, 72000) -> frozen ``HubertModel`` (= MERT-v1-330M, see
   ``configuration_voice_encoder``) with ``output_hidden_states`` -> 25 states of (B, 224, 1024).
2. ``layer_aggregation`` = ``Conv1d(25, 1, kernel_size=1)``: a learned weighted sum over the 25
   states plus a bias, the same for every frame and channel (reference name ``mert_layer_agg``,
   weight [1, 25, 1], bias [1]).
3. ``projection`` = ``Linear(1024, output_size)`` (reference ``audio_mert_to_dec_proj``).

Rows whose waveform is all zeros (or whose ``attention_mask`` is all zeros) are "no voice":
their frame mask is all zeros.  Those rows are not run through the encoder at all; their
states are zeros, which cross-attention never reads because the mask hides them (the
reference feeds the zeros to MERT and masks the result, so outputs are the same).  With no
voiced row in the batch the encoder is skipped entirely.

**transformers-5 hidden-state semantics.**  In transformers 4.x (SongGen's pin, 4.43) a
pre-LN HuBERT's ``hidden_states`` were [embedding output, layer 1 .. layer 23 outputs,
LayerNorm(layer 24 output)].  transformers 5 records hidden states with hooks and its last
entry is the layer-24 output *before* the final encoder LayerNorm (checked on 5.23; the final
LayerNorm only reaches ``last_hidden_state``).  The layer mix was trained on the 4.x stack, so
``_encode`` replaces the last entry with ``last_hidden_state``.  For post-LN encoders the two
coincide, so this is right for any HuBERT/wav2vec2-style encoder.

Official -> package parameter names (``official_key_to_voice_encoder_key``):

==============================  =====================
SongGen checkpoint              ``SongGenVoiceEncoder``
==============================  =====================
``mert_layer_agg.*``            ``layer_aggregation.*``
``audio_mert_to_dec_proj.*``    ``projection.*``
``mert_model.<hubert key>``     ``audio_encoder.<hubert key>``
==============================  =====================

``MERTModel`` keys equal ``HubertModel`` keys (read in ``modeling_MERT.py``), except that a
checkpoint written by torch < 2.1 stores the positional conv's weight norm as
``weight_g``/``weight_v``; those become ``parametrizations.weight.original0``/``original1``.
Whether SongGen's safetensors really embed ``mert_model.*`` is unverified (spec §9).  If they
do not, a local copy of ``m-a-p/MERT-v1-330M`` loads straight into the encoder with
``HubertModel.from_pretrained(mert_dir, config=mert_v1_330m_config())`` (checked offline on a
MERT-layout folder: ``model_type: "mert_model"``, ``pytorch_model.bin`` with ``weight_g``/``weight_v``;
no missing or unexpected keys), or via ``convert_mert_state_dict`` for a raw state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import NamedTuple

import torch
from torch import nn
from transformers import AutoModel, HubertConfig

from songgen_hf.modeling.songgen.configuration_voice_encoder import SongGenVoiceEncoderConfig

OFFICIAL_PREFIX_MAP: dict[str, str] = {
    "mert_layer_agg.": "layer_aggregation.",
    "audio_mert_to_dec_proj.": "projection.",
    "mert_model.": "audio_encoder.",
}

# Legacy ``torch.nn.utils.weight_norm`` names -> the parametrization names current torch uses.
_WEIGHT_NORM_RENAMES: dict[str, str] = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


class VoiceEncoderOutput(NamedTuple):
    """``hidden_states`` (B, frames, output_size) and ``attention_mask`` (B, frames), bool."""

    hidden_states: torch.Tensor
    attention_mask: torch.Tensor


class SongGenVoiceEncoder(nn.Module):
    """Frozen speech/music SSL encoder + learned layer aggregation + projection.

    A plain ``nn.Module`` meant to live inside the SongGen model (e.g. as ``voice_encoder``;
    the parent may leave it ``None`` when no voice conditioning is configured, which skips
    building the 315 M-parameter encoder altogether).

    Args:
        config: [`SongGenVoiceEncoderConfig`].
    """

    def __init__(self, config: SongGenVoiceEncoderConfig):
        super().__init__()
        self.config = config
        self.audio_encoder = AutoModel.from_config(config.audio_encoder_config)
        num_states = config.num_layers_to_aggregate
        self.layer_aggregation = nn.Conv1d(num_states, 1, kernel_size=1)
        self.projection = nn.Linear(config.hidden_size, config.output_size)
        self.reset_aggregation()
        if config.freeze_audio_encoder:
            self.freeze_audio_encoder()

    # ------------------------------------------------------------------ setup helpers
    @torch.no_grad()
    def reset_aggregation(self) -> None:
        """Start the layer mix as a plain mean of the states (a checkpoint overwrites it).

        The reference keeps PyTorch's default Conv1d init; a mean is a calmer starting point
        for training from scratch and changes nothing once weights are loaded.
        """
        self.layer_aggregation.weight.fill_(1.0 / self.config.num_layers_to_aggregate)
        self.layer_aggregation.bias.zero_()

    def freeze_audio_encoder(self) -> None:
        """Stop gradients into the encoder and keep it in eval mode from now on."""
        self.config.freeze_audio_encoder = True
        self.audio_encoder.requires_grad_(False)
        self.audio_encoder.eval()

    def train(self, mode: bool = True) -> SongGenVoiceEncoder:
        super().train(mode)
        # A frozen encoder stays in eval mode so dropout / SpecAugment never touch it.
        if self.config.freeze_audio_encoder:
            self.audio_encoder.eval()
        return self

    @property
    def num_states(self) -> int:
        return self.config.num_layers_to_aggregate

    def num_frames(self, num_samples: int) -> int:
        return self.config.num_frames(num_samples)

    # ------------------------------------------------------------------ forward
    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> VoiceEncoderOutput:
        """Encode reference clips.

        Args:
            input_values: (B, samples) or (B, 1, samples) waveforms at ``config.sampling_rate``,
                prepared by ``VoiceFeatureExtractor`` (all-zero row = no voice).
            attention_mask: optional (B, samples), 1 for real samples.

        Returns:
            ``VoiceEncoderOutput(hidden_states (B, frames, output_size),
            attention_mask (B, frames) bool)``; no-voice rows are all zeros / all False.
        """
        if input_values.dim() == 3 and input_values.shape[1] == 1:
            input_values = input_values[:, 0]
        if input_values.dim() != 2:
            raise ValueError(
                f"`input_values` must be (batch, samples) or (batch, 1, samples), got {tuple(input_values.shape)}."
            )
        if attention_mask is not None and attention_mask.shape != input_values.shape:
            raise ValueError(
                f"`attention_mask` {tuple(attention_mask.shape)} must match `input_values` {tuple(input_values.shape)}."
            )
        batch, num_samples = input_values.shape
        num_frames = self.num_frames(num_samples)
        if num_frames <= 0:
            raise ValueError(f"{num_samples} samples are too short for the voice encoder's conv front end.")

        has_voice = (input_values != 0).any(dim=-1)
        if attention_mask is not None:
            has_voice = has_voice & attention_mask.bool().any(dim=-1)
        frame_mask = has_voice[:, None].expand(batch, num_frames)
        use_mask = attention_mask is not None and self.config.use_attention_mask
        if use_mask:
            frame_mask = frame_mask & self._frames_from_sample_mask(attention_mask, num_frames)

        proj = self.projection
        hidden = torch.zeros(batch, num_frames, proj.out_features, device=proj.weight.device, dtype=proj.weight.dtype)
        voiced = has_voice.nonzero(as_tuple=True)[0]
        if voiced.numel() > 0:
            rows = input_values.index_select(0, voiced)
            row_mask = attention_mask.index_select(0, voiced) if use_mask else None
            states = self._encode(rows, row_mask)  # (b, L+1, frames, hidden)
            mixed = self._aggregate(states)
            projected = self.projection(mixed)
            # out-of-place so gradients reach the aggregation/projection of voiced rows only
            hidden = hidden.index_copy(0, voiced.to(hidden.device), projected.to(hidden.dtype))
        return VoiceEncoderOutput(hidden, frame_mask.contiguous())

    def _encode(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Stacked encoder states (b, L+1, frames, hidden) with transformers-4.x semantics."""
        encoder = self.audio_encoder
        reference = next(encoder.parameters())
        input_values = input_values.to(device=reference.device, dtype=reference.dtype)
        if attention_mask is not None:
            attention_mask = attention_mask.to(device=reference.device, dtype=torch.long)
        frozen = self.config.freeze_audio_encoder
        with torch.no_grad() if frozen else nullcontext():
            out = encoder(input_values, attention_mask=attention_mask, output_hidden_states=True, return_dict=True)
            states = list(out.hidden_states)
            if len(states) != self.num_states:
                raise RuntimeError(
                    f"The audio encoder returned {len(states)} hidden states, expected {self.num_states} "
                    "(embedding output + one per layer)."
                )
            states[-1] = out.last_hidden_state
            stacked = torch.stack(states, dim=1)
        return stacked

    def _aggregate(self, states: torch.Tensor) -> torch.Tensor:
        """Per-frame weighted sum over the L+1 states: (b, L+1, T, H) -> (b, T, H)."""
        b, num_states, frames, width = states.shape
        conv = self.layer_aggregation
        # A kernel-1 Conv1d over channels = layers is one weighted sum; flattening (T, H) into
        # the conv's length axis runs it as a single call.
        mixed = conv(states.to(conv.weight.dtype).reshape(b, num_states, frames * width))
        return mixed.reshape(b, frames, width)

    def _frames_from_sample_mask(self, attention_mask: torch.Tensor, num_frames: int) -> torch.Tensor:
        """A frame is valid when the conv front end computed it from real samples only."""
        encoder_config = self.config.audio_encoder_config
        frame_lengths = attention_mask.long().sum(dim=-1)
        for kernel, stride in zip(encoder_config.conv_kernel, encoder_config.conv_stride):
            frame_lengths = torch.div(frame_lengths - int(kernel), int(stride), rounding_mode="floor") + 1
        frame_lengths = frame_lengths.clamp(min=0, max=num_frames)
        positions = torch.arange(num_frames, device=attention_mask.device)
        return positions[None, :] < frame_lengths[:, None]


# ---------------------------------------------------------------------- checkpoint keys
def official_key_to_voice_encoder_key(key: str) -> str | None:
    """Map one SongGen checkpoint key to a ``SongGenVoiceEncoder`` key (``None`` if not ours)."""
    for source, target in OFFICIAL_PREFIX_MAP.items():
        if key.startswith(source):
            mapped = target + key[len(source) :]
            if target == "audio_encoder.":
                for old, new in _WEIGHT_NORM_RENAMES.items():
                    if mapped.endswith(old):
                        mapped = mapped[: -len(old)] + new
            return mapped
    return None


def convert_official_voice_state_dict(
    state_dict: Mapping[str, torch.Tensor], target_prefix: str = "", source_prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Pick the voice-path tensors out of a SongGen checkpoint and rename them.

    Args:
        state_dict: the full official state dict (other keys are ignored).
        source_prefix: prefix in front of the official names, if any (e.g. ``"model."``).
        target_prefix: prefix of the voice encoder inside the caller's model
            (e.g. ``"voice_encoder."``).

    Returns:
        ``{target_prefix + our_key: tensor}``.  Raises ``ValueError`` when two official keys
        collide (e.g. both ``weight_g`` and ``parametrizations...original0``).
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if not key.startswith(source_prefix):
            continue
        mapped = official_key_to_voice_encoder_key(key[len(source_prefix) :])
        if mapped is None:
            continue
        mapped = target_prefix + mapped
        if mapped in converted:
            raise ValueError(f"Two checkpoint keys map to {mapped!r}; the checkpoint mixes weight-norm layouts.")
        converted[mapped] = tensor
    return converted


def convert_mert_state_dict(state_dict: Mapping[str, torch.Tensor], target_prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename a stand-alone ``m-a-p/MERT-v1-330M`` state dict (``MERTModel`` keys) for ``audio_encoder``."""
    prefixed = {"mert_model." + key: value for key, value in state_dict.items()}
    return convert_official_voice_state_dict(prefixed, target_prefix=target_prefix)


# ---------------------------------------------------------------------- test helper
def tiny_voice_encoder_config(output_size: int = 32, **overrides) -> SongGenVoiceEncoderConfig:
    """A MERT-shaped but tiny config for tests: hidden 32, 2 layers, 16 conv channels.

    Keeps MERT's layout (group-norm front end, strides (5, 2, 2, 2, 2, 2, 2) -> hop 320 ->
    75 Hz at 24 kHz, pre-LN encoder, weight-normed conv positions, ``masked_spec_embed``).
    """
    encoder = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout=0.0,
        activation_dropout=0.0,
        attention_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
        layerdrop=0.0,
        feat_extract_norm="group",
        conv_dim=[16] * 7,
        conv_stride=[5, 2, 2, 2, 2, 2, 2],
        conv_kernel=[10, 3, 3, 3, 3, 2, 2],
        conv_bias=False,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        mask_time_prob=0.075,
    )
    return SongGenVoiceEncoderConfig(audio_encoder_config=encoder, output_size=output_size, **overrides)


__all__ = [
    "SongGenVoiceEncoder",
    "VoiceEncoderOutput",
    "OFFICIAL_PREFIX_MAP",
    "official_key_to_voice_encoder_key",
    "convert_official_voice_state_dict",
    "convert_mert_state_dict",
    "tiny_voice_encoder_config",
]
