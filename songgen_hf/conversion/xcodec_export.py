"""An :class:`XCodecModel` back in the original X-Codec ``SoundStream`` layout (the inverse of :mod:`.xcodec_original`).

The reference SongGen code builds its codec from the original ``.pth`` and yaml
(``songgen/xcodec_wrapper/xcodec_infer/ckpts/general_more/``), and its ``from_pretrained``
then overwrites the codec with any ``audio_encoder.model.*`` tensors of the model folder.  Both
need the original names, which this module produces:

* the DAC encoder/decoder names come from inverting :func:`.xcodec_original.map_original_key`
  over every module path the original ``nn.Sequential`` trees can have -- the forward map is the
  single source, so the two directions cannot disagree;
* fused conv weights ``w`` are split into weight-norm halves ``g = ||w||`` (per output row, the
  norm torch's own weight-norm kernel computes) and ``v = w``, so that fusing them again
  (:func:`.xcodec_original.fuse_weight_norm`) gives back ``w`` bit for bit.  The halves are not
  those of the original training run (only their product survived the conversion);
* RepCodec's wrapped ``k > 1`` convs get their ``.conv`` wrapper back; ``fc``/``fc1``/``fc2``,
  the codebooks and the teacher (``semantic_model.*``, weight norm in legacy names) are renamed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from songgen_hf.conversion.xcodec_original import _map_decoder, _map_encoder
from songgen_hf.modeling import XCodecConfig

_RENAMES = (("fc.", "fc_prior."), ("fc1.", "fc_post1."), ("fc2.", "fc_post2."))
_CODEBOOK = re.compile(r"quantizer\.quantizers\.(\d+)\.codebook\.(\w+)")
_SEMANTIC_CONV = re.compile(r"^((?:encoder|decoder)_semantic\..*?)(conv|conv1|conv2)\.(weight|bias)$")


def _acoustic_modules(config: XCodecConfig) -> dict[str, str]:
    """Converted module path -> original module path, for every module the DAC trees can hold."""
    acoustic = config.acoustic_model_config
    table = {}
    for side, prefix, ratios, mapper, top, inner in (
        ("acoustic_encoder", "encoder", acoustic.downsampling_ratios, _map_encoder, "block", range(0, 3)),
        ("acoustic_decoder", "decoder_2", acoustic.upsampling_ratios, _map_decoder, "model", range(2, 5)),
    ):
        stages = len(ratios)
        paths = [[top, str(t)] for t in range(stages + 3)]
        paths += [[top, str(t), "block", str(u)] for t in range(1, stages + 1) for u in range(5)]
        paths += [
            [top, str(t), "block", str(u), "block", str(w)]
            for t in range(1, stages + 1)
            for u in inner
            for w in range(4)
        ]
        for path in paths:
            mapped = mapper(path, stages)
            if mapped is not None:
                table[f"{side}.{mapped}"] = f"{prefix}.{'.'.join(path)}"
    return table


def weight_norm_halves(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g, v)`` with ``fuse_weight_norm(g, v) == weight`` exactly: g is the row norm torch's kernel computes."""
    ones = torch.ones((weight.shape[0],) + (1,) * (weight.dim() - 1), dtype=weight.dtype)
    _, norms = torch._weight_norm_interface(weight, ones, 0)
    return norms.to(weight.dtype).clone(), weight.clone()


def original_xcodec_state_dict(state_dict: Mapping[str, torch.Tensor], config: XCodecConfig) -> dict[str, torch.Tensor]:
    """An ``XCodecModel`` state dict (this package's / transformers' names) in the original ``SoundStream`` names.

    Raises ``ValueError`` naming any key with no original counterpart (nothing is dropped silently).
    """
    modules = _acoustic_modules(config)
    original: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, tensor in state_dict.items():
        if key.startswith(("acoustic_encoder.", "acoustic_decoder.")):
            module, param = key.rsplit(".", 1)
            target = modules.get(module)
            if target is None:
                unmapped.append(key)
            elif param == "weight" and tensor.dim() == 3:  # every DAC conv is weight-normed in the original
                original[f"{target}.weight_g"], original[f"{target}.weight_v"] = weight_norm_halves(tensor)
            else:
                original[f"{target}.{param}"] = tensor
        elif (match := _SEMANTIC_CONV.match(key)) is not None:
            weight = state_dict.get(key.rsplit(".", 1)[0] + ".weight")
            wrapped = weight is not None and weight.dim() == 3 and weight.shape[-1] > 1  # RepCodec wraps k > 1 convs
            original[f"{match[1]}{match[2]}.conv.{match[3]}" if wrapped else key] = tensor
        elif key.startswith(("encoder_semantic.", "decoder_semantic.")):
            original[key] = tensor
        elif (match := _CODEBOOK.fullmatch(key)) is not None:
            original[f"quantizer.vq.layers.{match[1]}._codebook.{match[2]}"] = tensor
        elif key.startswith("semantic_model."):
            legacy = key.replace(".parametrizations.weight.original0", ".weight_g")
            original[legacy.replace(".parametrizations.weight.original1", ".weight_v")] = tensor
        elif any(key.startswith(new) for new, _ in _RENAMES):
            new, old = next((new, old) for new, old in _RENAMES if key.startswith(new))
            original[old + key[len(new) :]] = tensor
        else:
            unmapped.append(key)
    if unmapped:
        raise ValueError(
            f"{len(unmapped)} X-Codec tensors have no original SoundStream name, e.g. "
            f"{', '.join(sorted(unmapped)[:5])}; this codec cannot be written in the original layout."
        )
    return original


def original_xcodec_yaml(config: XCodecConfig) -> dict:
    """The ``generator`` section of an original X-Codec yaml (what the reference's XCodecModel reads)."""
    acoustic = config.acoustic_model_config
    semantic = config.semantic_model_config
    teacher = "wavlm_base_plus" if getattr(semantic, "model_type", "") == "wavlm" else "hubert_base_general"
    return {
        "generator": {
            "name": "SoundStream",
            "config": {
                "D": int(acoustic.hidden_size),
                "ratios": [int(r) for r in acoustic.downsampling_ratios],
                "sample_rate": int(config.sample_rate),
                "bins": int(config.codebook_size),
                "target_bandwidths": [float(b) for b in config.target_bandwidths],
                "semantic_techer": teacher,
            },
        }
    }


__all__ = ["original_xcodec_state_dict", "original_xcodec_yaml", "weight_norm_halves"]
