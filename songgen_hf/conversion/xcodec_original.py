"""Convert the original X-Codec ``.pth`` checkpoints into :class:`XCodecModel` weights.

The released checkpoints (``ZhenYe234/xcodec``) and training checkpoints of the official
code (and YuE's 12-codebook variant) store the ``SoundStream`` module tree:

* ``encoder.*`` / ``decoder_2.*`` - DAC encoder/decoder with the legacy weight norm
  (``weight_g`` / ``weight_v``) and positional ``nn.Sequential`` names,
* ``encoder_semantic.*`` / ``decoder_semantic.*`` - RepCodec conv stacks whose convs are
  wrapped once more (``conv.conv.weight``),
* ``fc_prior`` / ``fc_post1`` / ``fc_post2`` and ``quantizer.vq.layers.{q}._codebook.*``,
* ``semantic_model.*`` - the transformers teacher, already in transformers' names.

The output is the fused Hub layout of transformers' ``XcodecModel`` (plain ``weight``
tensors), so a converted model saves to the same folder format as ``hf-audio/xcodec-*``.
Nothing here downloads anything: the teacher is rebuilt from a config and its weights come
from the checkpoint itself.

Command line::

    python -m songgen_hf.conversion.xcodec_original CHECKPOINT.pth OUTPUT_DIR [--config config.yaml]
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from songgen_hf.conversion.checkpoint_files import read_tensor_file
from songgen_hf.modeling import XCodecConfig, XCodecModel
from songgen_hf.modeling.xcodec.modeling_xcodec import ENCODER_ONLY_MODULES

# yaml ``semantic_techer`` (sic) -> the transformers model family of that teacher.  All
# three are base-size models whose architecture is the library default, so the config is
# built locally rather than fetched from the Hub.
TEACHER_FAMILIES = {
    "hubert_base": "hubert",  # facebook/hubert-base-ls960
    "hubert_base_general": "hubert",  # ZhenYe234/hubert_base_general_audio (HuBERT-base)
    "wavlm_base_plus": "wavlm",  # microsoft/wavlm-base-plus
}

# Defaults of the original ``SoundStream.__init__``: a yaml that omits a key gets these.
SOUNDSTREAM_DEFAULTS = {
    "D": 128,
    "target_bandwidths": [1, 1.5, 2, 4, 6],
    "ratios": [8, 5, 4, 2],
    "sample_rate": 16000,
    "bins": 1024,
    "semantic_techer": "hubert_base_general",
}

# Bandwidth ladders of the known releases, keyed by codebook count (used when the config
# has to be inferred from the weights alone).  These are the only released layouts: the five
# ZhenYe234/xcodec checkpoints have 8 codebooks, YuE's xcodec_mini_infer has 12.  A checkpoint
# with another count is refused unless the count is given explicitly (num_quantizers=), because
# the likeliest cause is a codebook lost on the way, which would otherwise convert silently.
KNOWN_BANDWIDTHS = {8: [0.5, 1.0, 1.5, 2.0, 4.0], 12: [1.0, 1.5, 2.0, 4.0, 6.0]}
RELEASED_LAYOUTS = {8: "the five released X-Codec checkpoints", 12: "YuE's xcodec_mini_infer"}

# Top-level names that only occur in the converted (transformers / songgen_hf) layout.
HF_ONLY_PREFIXES = ("acoustic_encoder.", "acoustic_decoder.", "quantizer.quantizers.", "fc.", "fc1.", "fc2.")

_RESIDUAL_UNIT = ("snake1", "conv1", "snake2", "conv2")  # DAC residual unit, in Sequential order
_WN_SUFFIXES = {
    "weight_g": "g",
    "weight_v": "v",
    "parametrizations.weight.original0": "g",
    "parametrizations.weight.original1": "v",
}
_WN_PATTERN = re.compile(r"^(.*)\.(weight_g|weight_v|parametrizations\.weight\.original[01])$")
_SEMANTIC_WRAPPED_CONV = re.compile(r"(^|\.)(conv|conv1|conv2)\.conv\.")


# ---------------------------------------------------------------------------- key mapping
def _split_module(rest: str) -> tuple[list[str], str]:
    """``"block.1.block.3.alpha"`` -> (["block", "1", "block", "3"], "alpha").

    The parameter name may itself contain dots (``parametrizations.weight.original0``)."""
    for suffix in ("parametrizations.weight.original0", "parametrizations.weight.original1"):
        if rest.endswith("." + suffix):
            return rest[: -len(suffix) - 1].split("."), suffix
    parts = rest.split(".")
    return parts[:-1], parts[-1]


def _map_dac_sequential(
    path: list[str], num_stages: int, container: str, block_layers: dict[int, str], first_residual: int
) -> str | None:
    """DAC ``Sequential`` indices -> transformers' ``DacEncoder`` / ``DacDecoder`` names.

    Both stacks are ``container.0`` (conv), the stage blocks, then a snake and a conv; a stage block holds
    ``block_layers`` (index -> name) and three residual units from index ``first_residual``."""
    if len(path) < 2 or path[0] != container or not path[1].isdigit():
        return None
    top = int(path[1])
    if len(path) == 2:
        return {0: "conv1", num_stages + 1: "snake1", num_stages + 2: "conv2"}.get(top)
    if not 1 <= top <= num_stages or path[2] != "block" or not path[3:4] or not path[3].isdigit():
        return None
    stage, unit = top - 1, int(path[3]) - first_residual
    if len(path) == 4:
        name = block_layers.get(int(path[3]))
        return None if name is None else f"block.{stage}.{name}"
    if len(path) == 6 and 0 <= unit <= 2 and path[4] == "block" and path[5].isdigit() and int(path[5]) < 4:
        return f"block.{stage}.res_unit{unit + 1}.{_RESIDUAL_UNIT[int(path[5])]}"
    return None


def _map_encoder(path: list[str], num_stages: int) -> str | None:
    """DAC encoder indices -> ``DacEncoder`` names: the block's own snake and strided conv follow its residual units."""
    return _map_dac_sequential(path, num_stages, "block", {3: "snake1", 4: "conv1"}, first_residual=0)


def _map_decoder(path: list[str], num_stages: int) -> str | None:
    """DAC decoder indices -> ``DacDecoder`` names: a block starts with its snake and transposed conv."""
    return _map_dac_sequential(path, num_stages, "model", {0: "snake1", 1: "conv_t1"}, first_residual=2)


def map_original_key(key: str, config: XCodecConfig) -> str | None:
    """The converted name of one original key, or ``None`` if it is not an original key.

    Weight-norm halves keep their suffix (``weight_g`` / ``weight_v``); fusing them is a
    separate step because it needs both tensors."""
    if key.startswith("encoder.") or key.startswith("decoder_2."):
        encoder = key.startswith("encoder.")
        path, param = _split_module(key.split(".", 1)[1])
        ratios = (
            config.acoustic_model_config.downsampling_ratios
            if encoder
            else config.acoustic_model_config.upsampling_ratios
        )
        mapped = (_map_encoder if encoder else _map_decoder)(path, len(ratios))
        if mapped is None:
            return None
        return f"{'acoustic_encoder' if encoder else 'acoustic_decoder'}.{mapped}.{param}"
    if key.startswith(("encoder_semantic.", "decoder_semantic.")):
        # RepCodec wraps its k>1 convs in a module holding ``.conv``; 1x1 convs are bare.
        return _SEMANTIC_WRAPPED_CONV.sub(r"\1\2.", key)
    for old, new in (("fc_prior.", "fc."), ("fc_post1.", "fc1."), ("fc_post2.", "fc2.")):
        if key.startswith(old):
            return new + key[len(old) :]
    match = re.fullmatch(r"quantizer\.vq\.layers\.(\d+)\._codebook\.(inited|cluster_size|embed|embed_avg)", key)
    if match:
        return f"quantizer.quantizers.{match.group(1)}.codebook.{match.group(2)}"
    if key.startswith("semantic_model."):
        return key
    return None


def fuse_weight_norm(weight_g: torch.Tensor, weight_v: torch.Tensor) -> torch.Tensor:
    """``g * v / ||v||`` with the norm over every dim but 0 (legacy ``weight_norm(dim=0)``).

    Dim 0 is the output channel of a Conv1d and the *input* channel of a ConvTranspose1d;
    the formula is the same for both because the legacy hook always normalises dim 0."""
    if weight_g.numel() != weight_v.shape[0]:
        raise ValueError(
            f"weight_g has {weight_g.numel()} elements but weight_v has {weight_v.shape[0]} rows along dim 0; "
            "only weight norm over dim 0 (DAC's WNConv1d / WNConvTranspose1d) is supported."
        )
    dtype = weight_v.dtype
    # fp32 at least: a half-precision norm over 1024*7 elements loses digits needlessly
    v = weight_v.to(torch.promote_types(dtype, torch.float32))
    g = weight_g.to(v.dtype).reshape((-1,) + (1,) * (v.dim() - 1))
    # torch's own kernel (what its weight-norm parametrisation runs), not a hand-written norm:
    # the result is then bit-identical to "apply weight norm, load (g, v), remove weight norm",
    # the route transformers' converter takes.  A re-derived formula differs in the last ulp,
    # which a random-weight DAC decoder amplifies to ~1e-4 in the audio.
    return torch._weight_norm(v, g, 0).to(dtype)


# ---------------------------------------------------------------------------- checkpoint input
def _unwrap_checkpoint(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The flat tensor dict of a released file, a training checkpoint or a plain state dict."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"Expected a state dict (a mapping of names to tensors), got {type(checkpoint).__name__}.")
    if "codec_model" in checkpoint and isinstance(checkpoint["codec_model"], Mapping):
        checkpoint = checkpoint["codec_model"]  # training checkpoint: optimisers etc. are dropped
    elif "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], Mapping):
        checkpoint = checkpoint["state_dict"]
    # Released files carry io.BytesIO values next to the tensors; only tensors are weights.
    tensors = {str(k): v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if tensors and all(k.startswith("module.") for k in tensors):  # saved from a DDP wrapper
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def load_checkpoint_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` / ``.pt`` / ``.ckpt`` (``weights_only``) or ``.safetensors`` file as a flat tensor dict."""
    path = Path(path)
    if path.is_dir():
        hint = (
            " It looks like a save_pretrained folder: load it with XCodecModel.from_pretrained(path)."
            if (path / "config.json").is_file()
            else ""
        )
        raise ValueError(f"{path} is a directory; pass the original .pth checkpoint file.{hint}")
    # weights_only unpickling (BytesIO allowed, as the released files need it); an empty, text
    # or foreign file is a ValueError naming it, not an EOFError from deep inside torch.
    checkpoint = read_tensor_file(path, expected="X-Codec checkpoint (.pth / .pt / .ckpt / .safetensors)")
    try:
        return _unwrap_checkpoint(checkpoint)
    except ValueError as error:
        raise ValueError(f"{path}: {error} Pass an original X-Codec .pth checkpoint.") from None


# ---------------------------------------------------------------------------- strict comparison
def _expected_shapes(config: XCodecConfig) -> dict[str, torch.Size]:
    """Every key/shape the model's state dict holds, from a weightless (meta) instance."""
    with torch.device("meta"):
        model = XCodecModel(config)
    return {k: v.shape for k, v in model.state_dict().items()}


def _first(keys, limit: int = 10) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _key_differences(
    converted: Mapping[str, torch.Tensor], keys: set[str], expected: Mapping[str, torch.Size], unrouted
) -> tuple[list[str], list[str], list[str]]:
    """The missing, unexpected (with the ``unrouted`` keys) and shape-mismatched keys of a converted state dict
    against the model's ``expected`` shapes; ``keys`` are the converted keys that count."""
    missing = sorted(set(expected) - keys)
    unexpected = sorted((keys - set(expected)) | set(unrouted))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k])}"
        for k in keys & set(expected)
        if converted[k].shape != expected[k]
    )
    return missing, unexpected, mismatched


def _difference_lines(missing: list[str], unexpected: list[str], mismatched: list[str]) -> list[str]:
    """A line for each kind of difference there is, naming the first keys of each."""
    lines = []
    if missing:
        lines.append(f"Missing: {_first(missing)}")
    if unexpected:
        lines.append(f"Unexpected: {_first(unexpected)}")
    if mismatched:
        lines.append(f"Shape mismatches: {_first(mismatched, 5)}")
    return lines


def _diagnose(unmapped: list[str], converted_keys: set[str], missing: list[str], config: XCodecConfig) -> list[str]:
    """Plain-language guesses at what was loaded, from the shape of the mismatch."""
    hints = []
    if any(k.startswith(HF_ONLY_PREFIXES) for k in unmapped):
        hints.append(
            "The checkpoint is already in the transformers / songgen_hf layout (acoustic_encoder.*, "
            "quantizer.quantizers.*): load its folder with XCodecModel.from_pretrained(path) instead of converting it."
        )
    layers = {int(m.group(1)) for k in converted_keys if (m := re.match(r"quantizer\.quantizers\.(\d+)\.", k))}
    total = max(layers) + 1 if layers else 0
    if total and total != config.num_quantizers:
        hint = (
            f"The checkpoint has {total} codebooks but the config builds {config.num_quantizers} "
            f"(target_bandwidths {config.target_bandwidths}). Set target_bandwidths so the largest is "
            f"{total * config.bandwidth_per_quantizer:g} kbps"
        )
        if total == 12:
            hint += " (YuE's xcodec_mini_infer checkpoint: target_bandwidths=[1, 1.5, 2, 4, 6])"
        hints.append(hint + ".")
    semantic_gap = any(k.startswith("semantic_model.") for k in unmapped) or any(
        k.startswith("semantic_model.") for k in missing
    )
    if semantic_gap and not hints and not any(k.startswith("semantic_model.") for k in converted_keys):
        hints.append(
            "The checkpoint holds no semantic_model.* (teacher) weights. To decode tokens only, convert with a "
            "config that has decode_only=True."
        )
    elif semantic_gap and not hints:
        family = getattr(config.semantic_model_config, "model_type", "?")
        hints.append(
            f"The semantic teacher's weights do not fit the configured teacher ({family}). Use the yaml of this "
            "checkpoint (semantic_techer: hubert_base / hubert_base_general / wavlm_base_plus) or pass a matching "
            "semantic_model_config."
        )
    return hints


def _check_against_model(converted: dict, unmapped: list[str], config: XCodecConfig) -> None:
    expected = _expected_shapes(config)
    if config.decode_only:  # the encoder side may be present; a decode-only model ignores it
        converted_keys = {k for k in converted if k.split(".", 1)[0] not in ENCODER_ONLY_MODULES}
    else:
        converted_keys = set(converted)
    missing, unexpected, mismatched = _key_differences(converted, converted_keys, expected, unmapped)
    if not (missing or unexpected or mismatched):
        return
    lines = [
        "This checkpoint does not match an original X-Codec model built from the given config "
        f"({len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} shape-mismatched keys)."
    ]
    lines.extend(_difference_lines(missing, unexpected, mismatched))
    if any(k.startswith(("acoustic_", "fc")) for k in mismatched):
        lines.append("Acoustic sizes differ: check the yaml's D (latent size) and ratios.")
    lines.extend(_diagnose(unmapped, converted_keys, missing, config))
    raise ValueError("\n".join(lines))


# ---------------------------------------------------------------------------- public API
def convert_original_xcodec_state_dict(state_dict: Mapping[str, Any], config: XCodecConfig) -> dict[str, torch.Tensor]:
    """Map an original X-Codec state dict to :class:`XCodecModel`'s fused layout.

    Accepts a released flat state dict, a training checkpoint (``{"codec_model": ...}``) or a
    ``module.``-prefixed DDP state dict; non-tensor entries are dropped.  Weight-normalised
    convolutions are fused into plain ``weight`` tensors.  The result is checked against the
    model ``config`` describes: any missing, unexpected or mis-shaped key raises ``ValueError``
    (with ``config.decode_only`` the encoder-side keys are accepted and dropped).
    """
    tensors = _unwrap_checkpoint(state_dict)
    converted: dict[str, torch.Tensor] = {}
    norm_halves: dict[str, dict[str, torch.Tensor]] = {}
    unmapped: list[str] = []
    for key, tensor in tensors.items():
        new_key = map_original_key(key, config)
        if new_key is None:
            unmapped.append(key)
            continue
        match = _WN_PATTERN.match(new_key)
        if match:
            norm_halves.setdefault(match.group(1), {})[_WN_SUFFIXES[match.group(2)]] = tensor
        else:
            converted[new_key] = tensor

    # The acoustic convs become plain weights; the teacher's positional conv stays
    # parametrised, because transformers' HuBERT/WavLM keep weight norm in their state dict.
    for module, halves in norm_halves.items():
        if set(halves) != {"g", "v"}:
            missing_half = "weight_v" if "g" in halves else "weight_g"
            raise ValueError(f"{module} has only one half of its weight norm; {missing_half} is missing.")
        if module.startswith("semantic_model."):
            converted[f"{module}.parametrizations.weight.original0"] = halves["g"]
            converted[f"{module}.parametrizations.weight.original1"] = halves["v"]
        else:
            converted[f"{module}.weight"] = fuse_weight_norm(halves["g"], halves["v"])

    _check_against_model(converted, unmapped, config)
    if config.decode_only:
        converted = {k: v for k, v in converted.items() if k.split(".", 1)[0] not in ENCODER_ONLY_MODULES}
    return converted


def _teacher_config(name: str):
    from transformers import HubertConfig, WavLMConfig

    if name not in TEACHER_FAMILIES:
        raise ValueError(
            f"Unknown semantic teacher {name!r}; expected one of {sorted(TEACHER_FAMILIES)}, "
            "or pass semantic_model_config explicitly."
        )
    return WavLMConfig() if TEACHER_FAMILIES[name] == "wavlm" else HubertConfig()


def config_from_original_yaml(
    yaml_dict_or_path: Mapping[str, Any] | str | os.PathLike, semantic_model_config=None, **overrides: Any
) -> XCodecConfig:
    """:class:`XCodecConfig` from an original X-Codec yaml (path, or the loaded dict).

    Reads ``generator.config`` (or a flat dict) keys ``D``, ``ratios``, ``sample_rate``,
    ``bins``, ``target_bandwidths`` and ``semantic_techer``; keys the yaml omits take the
    original ``SoundStream`` defaults.  The teacher is a local default config of its family
    (``HubertConfig()`` / ``WavLMConfig()``, both base size) unless ``semantic_model_config``
    is given.  ``overrides`` are passed to ``XCodecConfig`` (e.g. ``decode_only=True``).
    """
    if isinstance(yaml_dict_or_path, (str, os.PathLike)):
        from songgen_hf.utils.safe_files import read_yaml

        data = read_yaml(yaml_dict_or_path, "the X-Codec config")
    else:
        data = dict(yaml_dict_or_path)
    generator = data.get("generator", data) if isinstance(data, Mapping) else None
    if isinstance(generator, Mapping) and isinstance(generator.get("config"), Mapping):
        generator = generator["config"]
    if not isinstance(generator, Mapping):
        raise ValueError("The yaml has no generator config (expected generator: config: {D: ..., ratios: ...}).")
    values = {**SOUNDSTREAM_DEFAULTS, **generator}
    ratios = [int(r) for r in values["ratios"]]
    return XCodecConfig(
        acoustic_model_config={
            "hidden_size": int(values["D"]),
            "downsampling_ratios": ratios,
            "upsampling_ratios": ratios,
            "sampling_rate": int(values["sample_rate"]),
        },
        semantic_model_config=semantic_model_config
        if semantic_model_config is not None
        else _teacher_config(str(values["semantic_techer"])),
        sample_rate=int(values["sample_rate"]),
        codebook_size=int(values["bins"]),
        target_bandwidths=[float(bw) for bw in values["target_bandwidths"]],
        **overrides,
    )


def checkpoint_codebooks(tensors: Mapping[str, Any]) -> list[int]:
    """Sorted indices of the codebooks (``quantizer.vq.layers.{q}._codebook.embed``) an original checkpoint holds."""
    return sorted(
        {int(m.group(1)) for k in tensors if (m := re.match(r"quantizer\.vq\.layers\.(\d+)\._codebook\.embed$", k))}
    )


def check_num_quantizers(num_quantizers: Any) -> int | None:
    """``num_quantizers`` as given by a caller: None, or a positive whole number (else ``ValueError``)."""
    if num_quantizers is not None and (
        isinstance(num_quantizers, bool) or not isinstance(num_quantizers, int) or num_quantizers < 1
    ):
        raise ValueError(
            f"num_quantizers (--num-quantizers) must be a whole number >= 1, got {num_quantizers!r}; give the "
            "number of codebooks the checkpoint was trained with."
        )
    return num_quantizers


def _codebook_count(tensors: Mapping[str, Any], num_quantizers: int | None) -> int:
    """The checkpoint's codebook count, refused when it is not a released layout and was not confirmed."""
    layers = checkpoint_codebooks(tensors)
    count = len(layers)
    if layers != list(range(count)):
        absent = sorted(set(range(max(layers) + 1)) - set(layers))
        raise ValueError(
            f"The checkpoint's codebooks are not numbered 0..{max(layers)}: quantizer.vq.layers.{absent} "
            f"{'is' if len(absent) == 1 else 'are'} missing. The file is damaged or was edited; use an intact copy."
        )
    if num_quantizers is not None:
        if num_quantizers != count:
            raise ValueError(
                f"num_quantizers (--num-quantizers) is {num_quantizers}, but the checkpoint holds {count} codebooks "
                f"(quantizer.vq.layers.0..{count - 1}); pass {count} if this checkpoint is complete, "
                "or use an intact copy."
            )
        return count
    if count not in RELEASED_LAYOUTS:
        released = "; ".join(f"{n} ({name})" for n, name in RELEASED_LAYOUTS.items())
        raise ValueError(
            f"The checkpoint holds {count} codebooks (quantizer.vq.layers.0..{count - 1}), which matches no released "
            f"X-Codec layout ({released}). A codebook may have been lost when the file was saved or copied. If "
            f"{count} is right (a codec you trained yourself), say so with --num-quantizers {count} "
            f"(Python: num_quantizers={count}) or pass the run's YAML with --config."
        )
    return count


def infer_config_from_state_dict(
    state_dict: Mapping[str, Any], num_quantizers: int | None = None, **overrides: Any
) -> XCodecConfig:
    """Best-effort :class:`XCodecConfig` read off an original checkpoint's shapes.

    Used when no yaml is at hand.  The latent size comes from ``fc_post2``, the strides from
    the encoder's strided kernels (kernel = 2 x stride), the codebook count and size from the
    quantiser, and the teacher family from its keys (WavLM has relative-position buckets).
    HuBERT-base and HuBERT-base-general share one architecture, so they need no telling apart.

    The codebook count must be a released layout (8, or YuE's 12) unless ``num_quantizers``
    confirms it: a checkpoint that lost a codebook is refused rather than converted into a
    smaller codec without a word.
    """
    num_quantizers = check_num_quantizers(num_quantizers)
    tensors = _unwrap_checkpoint(state_dict)
    if "fc_post2.weight" not in tensors or "quantizer.vq.layers.0._codebook.embed" not in tensors:
        hint = " (it is in the converted layout: use XCodecModel.from_pretrained)" if "fc2.weight" in tensors else ""
        raise ValueError(f"Cannot infer an X-Codec config: fc_post2 / quantizer.vq.layers.0 not found{hint}.")
    strides = []
    for stage in range(1, 16):
        weight = tensors.get(f"encoder.block.{stage}.block.4.weight_v")
        if weight is None:
            break
        strides.append(weight.shape[-1] // 2)
    num_q = _codebook_count(tensors, num_quantizers)
    bins = tensors["quantizer.vq.layers.0._codebook.embed"].shape[0]
    wavlm = any("rel_attn_embed" in k or "gru_rel_pos" in k for k in tensors if k.startswith("semantic_model."))
    ratios = strides or SOUNDSTREAM_DEFAULTS["ratios"]
    sample_rate = SOUNDSTREAM_DEFAULTS["sample_rate"]
    frame_rate = math.ceil(sample_rate / math.prod(ratios))
    per_q = math.ceil(math.log2(bins)) * frame_rate / 1000
    ladder = KNOWN_BANDWIDTHS.get(num_q) if (bins, frame_rate) == (1024, 50) else None
    return config_from_original_yaml(
        {
            "D": tensors["fc_post2.weight"].shape[0],
            "ratios": ratios,
            "bins": bins,
            "sample_rate": sample_rate,
            "target_bandwidths": ladder or [per_q * q for q in range(1, num_q + 1)],
            "semantic_techer": "wavlm_base_plus" if wavlm else "hubert_base",
        },
        **overrides,
    )


def load_original_xcodec(
    path: str | os.PathLike,
    config: XCodecConfig | Mapping | str | os.PathLike | None = None,
    num_quantizers: int | None = None,
) -> XCodecModel:
    """Load an original X-Codec checkpoint into an :class:`XCodecModel` (eval mode).

    ``config`` may be an :class:`XCodecConfig`, an original yaml (path or dict) or ``None``:
    then a ``config.yaml`` beside the checkpoint is used (where the original ``inference.py``
    looks for it), and failing that the config is inferred from the weights.  An inferred
    config must have a released codebook count (8 or 12) unless ``num_quantizers`` states the
    count; with a config, ``num_quantizers`` (if given) must agree with it.
    """
    num_quantizers = check_num_quantizers(num_quantizers)
    if isinstance(config, (str, os.PathLike)) and not Path(config).is_file():
        raise ValueError(f"--config {config} does not exist; pass the checkpoint's original YAML, or omit --config.")
    state_dict = load_checkpoint_file(path)
    if config is None:
        beside = Path(path).with_name("config.yaml")
        if beside.is_file():
            config = _yaml_config(beside)
        else:
            config = infer_config_from_state_dict(state_dict, num_quantizers=num_quantizers)
    elif not isinstance(config, XCodecConfig):
        config = _yaml_config(config)
    if num_quantizers is not None and config.num_quantizers != num_quantizers:
        raise ValueError(
            f"num_quantizers (--num-quantizers) is {num_quantizers}, but the config builds {config.num_quantizers} "
            f"codebooks (target_bandwidths {config.target_bandwidths}); drop one of the two or make them agree."
        )
    converted = convert_original_xcodec_state_dict(state_dict, config)
    model = XCodecModel(config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _yaml_config(source: Mapping | str | os.PathLike) -> XCodecConfig:
    """``config_from_original_yaml`` with unreadable YAML reported as a ValueError naming the file."""
    import yaml

    from songgen_hf.utils.safe_files import FileReadError

    try:
        return config_from_original_yaml(source)
    except (yaml.YAMLError, FileReadError, UnicodeDecodeError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(
            f"{source} is not an original X-Codec YAML config ({type(error).__name__}: {error}); pass the "
            "config.yaml that came with the checkpoint (generator: config: {{D: ..., ratios: ...}})."
        ) from None


def save_converted(
    model: XCodecModel, output_dir: str | os.PathLike, overwrite: bool = False, save_feature_extractor: bool = True
) -> Path:
    """``save_pretrained`` into ``output_dir`` atomically.

    Everything is written to a temporary folder beside the target and renamed into place at
    the end, so an interrupted run never leaves a half-written model that ``from_pretrained``
    would half-load.  With ``overwrite`` an existing folder is replaced when it is an earlier
    conversion exactly as written (its marker proves it); any other folder is refused.  The DAC
    feature extractor (mono, hop-length padding) is saved too, matching the ``hf-audio/xcodec-*``
    folders.
    """
    from songgen_hf.utils.atomic import atomic_directory, check_replaceable

    target = Path(output_dir).resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    check_replaceable(target, overwrite, "output_dir")  # only an earlier conversion of this package is replaced
    with atomic_directory(target, mark="convert xcodec") as staging:
        model.save_pretrained(staging)
        if save_feature_extractor:
            from transformers import DacFeatureExtractor

            DacFeatureExtractor(
                feature_size=1, sampling_rate=model.config.sample_rate, hop_length=model.config.hop_length
            ).save_pretrained(staging)
    return target


def main(argv: list[str] | None = None) -> int:
    from songgen_hf.commands.cli import run_command

    parser = argparse.ArgumentParser(
        description="Convert an original X-Codec .pth checkpoint to a save_pretrained folder."
    )
    parser.add_argument("checkpoint", help="original .pth (released flat state dict or training checkpoint)")
    parser.add_argument("output_dir")
    parser.add_argument("--config", help="original yaml (default: config.yaml beside the checkpoint, else inferred)")
    parser.add_argument("--num-quantizers", type=int, help="codebook count, required when it is not 8 or 12")
    parser.add_argument("--overwrite", action="store_true")

    def convert(args: argparse.Namespace) -> int:  # bad input: "error: ..." and exit code 2, as `songgen convert`
        model = load_original_xcodec(args.checkpoint, args.config, num_quantizers=args.num_quantizers)
        target = save_converted(model, args.output_dir, overwrite=args.overwrite)
        print(f"Saved {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters to {target}")
        return 0

    return run_command(parser, convert, argv)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "convert_original_xcodec_state_dict",
    "config_from_original_yaml",
    "infer_config_from_state_dict",
    "load_original_xcodec",
    "save_converted",
    "fuse_weight_norm",
    "map_original_key",
]
