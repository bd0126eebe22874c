"""The ``songgen`` command line.  Thin: it parses arguments and calls the library.

    songgen codec train CONFIG [--resume] [--set key=value ...]
    songgen codec encode AUDIO --model DIR --output CODES.pt [--bandwidth KBPS] [--chunk-seconds S]
    songgen codec decode CODES.pt --model DIR --output OUT.wav [--chunk-seconds S]
    songgen convert xcodec CHECKPOINT.pth OUTPUT_DIR [--config config.yaml]
    songgen data synth --output DIR --num-clips N [--seed S] [--workers W]

Exit codes: 0 success, 2 bad input (the message says what to change), 143 interrupted after
saving a checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _codec_train(args: argparse.Namespace) -> int:
    from .training.codec_config import CodecTrainingConfig
    from .training.codec_trainer import train_codec
    from .training.config_files import parse_overrides

    config = CodecTrainingConfig.from_file(args.config, parse_overrides(args.set))
    final = train_codec(config, resume=args.resume)
    print(f"trained codec saved to {final}")
    return 0


def _load_codec(model_dir: str, decode_only: bool = False):
    from .modeling import XCodecModel

    if not Path(model_dir).is_dir():
        raise ValueError(f"--model {model_dir} is not a folder; pass a saved codec folder (save_pretrained output).")
    return XCodecModel.from_pretrained(model_dir, decode_only=decode_only).eval()


def _codec_encode(args: argparse.Namespace) -> int:
    import torch

    from .data.audio import load_audio

    model = _load_codec(args.model)
    audio = torch.from_numpy(load_audio(args.audio, model.config.sample_rate))[None, None]
    with torch.inference_mode():
        out = model.encode(audio, bandwidth=args.bandwidth, chunk_seconds=args.chunk_seconds)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"audio_codes": out.audio_codes[0].to(torch.int16), "sampling_rate": model.config.sample_rate}, output)
    frames = out.audio_codes.shape[-1]
    print(f"wrote {output}: {out.audio_codes.shape[1]} codebooks x {frames} frames ({frames / model.config.frame_rate:.2f} s)")
    return 0


def _codec_decode(args: argparse.Namespace) -> int:
    import torch

    from .data.audio import write_audio

    payload = torch.load(args.codes, map_location="cpu", weights_only=True)
    codes = payload["audio_codes"] if isinstance(payload, dict) else payload
    if codes.dim() == 2:
        codes = codes[None]
    model = _load_codec(args.model, decode_only=True)
    with torch.inference_mode():
        audio = model.decode(codes.long(), chunk_seconds=args.chunk_seconds).audio_values[0]
    write_audio(args.output, audio, model.config.sample_rate)
    print(f"wrote {args.output}")
    return 0


def _convert_xcodec(args: argparse.Namespace) -> int:
    from .conversion.xcodec_original import load_original_xcodec, save_converted

    model = load_original_xcodec(args.checkpoint, config=args.config)
    target = save_converted(model, args.output, overwrite=args.overwrite)
    print(f"converted {args.checkpoint} -> {target}")
    return 0


def _data_synth(args: argparse.Namespace) -> int:
    from .data.synth.cli import run_synth

    return run_synth(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="songgen", description="SongGen text-to-song and the X-Codec codec.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    codec = commands.add_parser("codec", help="train or run the X-Codec audio codec").add_subparsers(
        dest="codec_command", required=True
    )
    train = codec.add_parser("train", help="train a codec from a config (JSON/YAML)")
    train.add_argument("config")
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    train.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override config options")
    train.set_defaults(handler=_codec_train)

    encode = codec.add_parser("encode", help="audio file -> codes (.pt)")
    encode.add_argument("audio")
    encode.add_argument("--model", required=True, help="codec folder")
    encode.add_argument("--output", required=True)
    encode.add_argument("--bandwidth", type=float, default=None, help="kbps; default: all codebooks")
    encode.add_argument("--chunk-seconds", type=float, default=None, help="encode long audio in chunks")
    encode.set_defaults(handler=_codec_encode)

    decode = codec.add_parser("decode", help="codes (.pt) -> audio file")
    decode.add_argument("codes")
    decode.add_argument("--model", required=True, help="codec folder")
    decode.add_argument("--output", required=True, help=".wav, .flac or .ogg")
    decode.add_argument("--chunk-seconds", type=float, default=None)
    decode.set_defaults(handler=_codec_decode)

    convert = commands.add_parser("convert", help="convert official checkpoints").add_subparsers(
        dest="convert_command", required=True
    )
    xcodec = convert.add_parser("xcodec", help="original X-Codec .pth -> save_pretrained folder")
    xcodec.add_argument("checkpoint")
    xcodec.add_argument("output")
    xcodec.add_argument("--config", help="the original YAML config (else inferred from the weights)")
    xcodec.add_argument("--overwrite", action="store_true")
    xcodec.set_defaults(handler=_convert_xcodec)

    data = commands.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    from .data.synth.cli import add_synth_arguments

    synth = add_synth_arguments(data.add_parser("synth", help="generate the synthetic song corpus"))
    synth.set_defaults(handler=_data_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.handler(args)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"songgen: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        return int(stop.code or 0)


if __name__ == "__main__":
    sys.exit(main())
