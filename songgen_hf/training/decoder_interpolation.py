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

import argparse
from pathlib import Path

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
    from songgen_hf.arguments import check_number
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


def add_interpolate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "base", metavar="BASE", help="codec folder, or a SongGen folder (its codec; songgen-tiny = the embedded model)"
    )
    parser.add_argument("tuned", metavar="TUNED", help="a decoder fine-tune of BASE's codec (a codec run's final/)")
    parser.add_argument(
        "--weight", type=float, required=True, help="0 = BASE's decoder, 1 = TUNED's; 0.5 = half way (WiSE-FT)"
    )
    parser.add_argument("--output", required=True, help="codec folder to write (a new one, or an earlier result)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output if it holds an earlier result of this command (never a folder of yours)",
    )
    return parser


def run_interpolate(args: argparse.Namespace) -> int:
    from songgen_hf.arguments import check_number, check_output_spares_inputs, check_path_given
    from songgen_hf.atomic import atomic_directory, check_replaceable, check_writable
    from songgen_hf.conversion.checkpoint_files import load_codec_of

    check_number("--weight", args.weight, minimum=0.0, maximum=1.0, example=0.5)
    check_path_given("--output", args.output)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; pass a folder.")
    check_output_spares_inputs("--output", output, {"BASE": args.base, "TUNED": args.tuned})
    check_replaceable(output, getattr(args, "overwrite", False), "--output")
    check_writable(output, "--output")
    from songgen_hf.training.codec_trainer import is_decoder_side

    base, tuned = load_codec_of(args.base, "BASE"), load_codec_of(args.tuned, "TUNED")  # both float32
    moved = interpolate_decoders(base, tuned, args.weight)
    with atomic_directory(output, mark="codec interpolate") as staging:
        base.save_pretrained(staging)
    decoder_tensors = sum(is_decoder_side(key) for key in base.state_dict())
    print(
        f"wrote {output}: {len(moved)} of {decoder_tensors} decoder tensors moved {args.weight:g} of the way from "
        "BASE to TUNED; encoder and codebooks are BASE's, so its codes are unchanged"
    )
    return 0


__all__ = ["add_interpolate_arguments", "interpolate_decoders", "run_interpolate"]
