"""``songgen codec interpolate``: a decoder part way between a codec's decoder and a fine-tune of it.

Why: fine-tuning a codec's decoder for one property (here, against the frame-rate comb) tends to cost it
others that the fine-tune's losses do not see (here, the key of the accompaniment).  Two networks
fine-tuned from the same start usually lie in one low-loss basin, so the weights on the straight line
between them work too, and the point between trades the two sets of properties smoothly.  This is
WiSE-FT's observation (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"), applied to the
decoder: ``(1 - weight) * base + weight * tuned``.

Only the decoder side (``fc2`` and the acoustic decoder, ``codec_trainer.DECODER_SIDE``) is mixed.  The
encoder and codebooks of both codecs must be bit-identical, as they are after ``train_decoder_only``, so
every code keeps its meaning: a SongGen model trained on the base codec's tokens takes the result with
``songgen export MODEL --codec OUT``.  Interpolating encoders or codebooks would move the codes, and is
refused.
"""

from __future__ import annotations

import torch

IGNORED_CONFIG_KEYS = (
    "_name_or_path",
    "name_or_path",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "architectures",
    "decode_only",
)


def _comparable_config(codec) -> dict:
    return {key: value for key, value in codec.config.to_dict().items() if key not in IGNORED_CONFIG_KEYS}


def interpolate_decoders(base, tuned, weight: float) -> list[str]:
    """Move ``base``'s decoder ``weight`` of the way to ``tuned``'s, in place (both ``XCodecModel``, float32);
    returns the keys of the tensors that moved (those where the two decoders differ).

    ``ValueError`` when the two differ in configuration or in any encoder/codebook tensor."""
    from songgen_hf.commands.cli import check_number
    from songgen_hf.training.codec_trainer import code_side_differences

    check_number("--weight", weight, minimum=0.0, maximum=1.0, example=0.5)
    base_config, tuned_config = _comparable_config(base), _comparable_config(tuned)
    if base_config != tuned_config:
        differing = sorted(
            key for key in base_config.keys() | tuned_config.keys() if base_config.get(key) != tuned_config.get(key)
        )
        raise ValueError(
            f"The two codecs are configured differently ({', '.join(differing[:4])}); interpolation "
            "needs a decoder fine-tuned from the base codec (`train_decoder_only` with `init_from`)."
        )
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    if base_state.keys() != tuned_state.keys():
        raise ValueError("The two codecs hold different tensors; pass a codec and a decoder fine-tune of it.")
    code_side = code_side_differences(base_state, tuned_state)
    if code_side:
        raise ValueError(
            f"{len(code_side)} encoder/codebook tensors differ (e.g. {', '.join(code_side[:3])}): mixing them would "
            "change the codes.  Only a decoder fine-tuned with `train_decoder_only` from the base codec can be "
            "interpolated."
        )
    mixed = {}
    for key, value in base_state.items():
        other = tuned_state[key]
        if torch.equal(value, other):  # the code side is equal by now: only decoder tensors remain
            continue
        if not value.is_floating_point():
            raise ValueError(f"The decoders differ in {key}, a {value.dtype} tensor that cannot be interpolated.")
        mixed[key] = torch.lerp(value.float(), other.float(), weight).to(value.dtype)
    base.load_state_dict(mixed, strict=False)
    return sorted(mixed)


__all__ = ["interpolate_decoders"]
