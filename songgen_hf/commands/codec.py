"""``songgen codec``: train, encode, decode, interpolate and evaluate the X-Codec codec; each command's options and
its handler, every input checked before a codec's weights load.

Bounds of encode and decode (see :mod:`songgen_hf.modeling.limits`): the audio to encode, or the audio the codes
decode to, is at most ``MAX_CODEC_AUDIO_SECONDS`` (checked from the file header or the code count, before
anything is decoded); above ``CODEC_AUTO_CHUNK_SECONDS`` the codec runs in chunks of that length
unless ``--chunk-seconds`` is given, so no single file can exhaust memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from songgen_hf.commands.cli import add_codec_arguments, add_run_arguments, check_codec_arguments, check_number
from songgen_hf.modeling.limits import CODEC_AUTO_CHUNK_SECONDS, MAX_CODEC_AUDIO_SECONDS

CODES_SUFFIX = ".pt"
AUDIO_OUTPUT_SUFFIXES = (".wav", ".flac", ".ogg")
# A codes file for the longest allowed audio is a few MB (20 min x 50 frames/s x 12 codebooks x
# 8 bytes = 5.8 MB); anything far larger is not a codes file and is not read into memory.
MAX_CODES_FILE_BYTES = 64 * 2**20


def _codec_config(folder: str):
    """The codec's config (no weights), refusing folders that are not an X-Codec."""
    from songgen_hf.conversion.checkpoint_files import read_codec_config

    return read_codec_config(folder, "--model")


def _auto_chunk(chunk_seconds, seconds: float, verb: str):
    """``--chunk-seconds``, or the automatic chunk length for audio longer than it (with a note saying so)."""
    if chunk_seconds is None and seconds > CODEC_AUTO_CHUNK_SECONDS:
        print(
            f"{verb} {seconds:.0f} s in {CODEC_AUTO_CHUNK_SECONDS:g} s chunks to bound memory "
            "(pass --chunk-seconds to choose the length)",
            file=sys.stderr,
        )
        return CODEC_AUTO_CHUNK_SECONDS
    return chunk_seconds


def _audio_seconds(path: Path) -> float:
    """Duration from the file header, without decoding the samples."""
    import soundfile as sf

    if not path.exists():
        raise ValueError(f"AUDIO {path} does not exist.")
    if path.is_dir():
        raise ValueError(f"AUDIO {path} is a folder; pass one audio file (WAV, FLAC, OGG or MP3).")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        raise ValueError(
            f"AUDIO {path} is not an audio file soundfile can read ({error}); convert it to WAV or FLAC."
        ) from None
    if info.frames == 0 or info.samplerate <= 0:
        raise ValueError(f"AUDIO {path} holds no audio samples.")
    seconds = info.frames / info.samplerate
    if seconds > MAX_CODEC_AUDIO_SECONDS:
        raise ValueError(
            f"AUDIO {path} is {seconds / 60:.1f} minutes long; songgen codec encode takes at most "
            f"{MAX_CODEC_AUDIO_SECONDS / 60:g} minutes per file. Split it first, e.g. "
            f"`sox {path.name} part.wav trim 0 {MAX_CODEC_AUDIO_SECONDS:g} : newfile : restart`."
        )
    return seconds


def codec_encode(args: argparse.Namespace) -> int:
    import torch

    from songgen_hf.conversion.checkpoint_files import load_codec_folder
    from songgen_hf.data.audio import load_audio
    from songgen_hf.utils.atomic import atomic_file, check_writable, write_or_rescue

    audio_path = Path(args.audio)
    seconds = _audio_seconds(audio_path)
    output = Path(args.output)
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name such as {output / 'codes.pt'}.")
    if output.suffix != CODES_SUFFIX:
        raise ValueError(f"--output {output}: codes are saved with torch.save; use a {CODES_SUFFIX} file name.")
    config = _codec_config(args.model)
    check_codec_arguments(args, config)
    chunk_seconds = _auto_chunk(args.chunk_seconds, seconds, "encoding")
    # int16 codes of at most 32 codebooks, plus the file's framing: refused now if the place cannot take them
    check_writable(output, "--output", needed_bytes=int(seconds * config.frame_rate * 32 * 2) + 2**16)

    model = load_codec_folder(args.model, "--model")
    audio = torch.from_numpy(load_audio(audio_path, model.config.sample_rate))[None, None]
    if audio.shape[-1] < model.config.hop_length:
        raise ValueError(f"AUDIO {audio_path} is shorter than one codec frame ({1000 / model.config.frame_rate:g} ms).")
    with torch.inference_mode():
        out = model.encode(audio, bandwidth=args.bandwidth, chunk_seconds=chunk_seconds)
    payload = {"audio_codes": out.audio_codes[0].to(torch.int16), "sampling_rate": model.config.sample_rate}

    def write(path: Path) -> None:
        with atomic_file(path) as temporary:  # complete or absent: a kill never leaves half a codes file
            torch.save(payload, temporary)

    write_or_rescue(output, write, "codes")
    frames = out.audio_codes.shape[-1]
    print(
        f"wrote {output}: {out.audio_codes.shape[1]} codebooks x {frames} frames "
        f"({frames / model.config.frame_rate:.2f} s)"
    )
    return 0


def read_codes(path: Path):
    """The ``(1, codebooks, frames)`` integer codes of a ``codec encode`` file, checked for shape and type."""
    import torch

    from songgen_hf.conversion.checkpoint_files import read_tensor_file

    if path.is_file() and path.stat().st_size > MAX_CODES_FILE_BYTES:
        raise ValueError(
            f"CODES {path} is {path.stat().st_size / 2**20:.0f} MB; a codes file from songgen codec encode is a few MB "
            "at most. Pass the .pt written by songgen codec encode."
        )
    payload = read_tensor_file(path, expected="codes file (.pt from songgen codec encode)")
    codes = payload.get("audio_codes") if isinstance(payload, dict) else payload
    if not isinstance(codes, torch.Tensor):
        found = f"a dict with keys {sorted(map(str, payload))}" if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"CODES {path} holds {found}; expected a dict with 'audio_codes' (as songgen codec encode writes)."
        )
    if codes.dtype == torch.bool or codes.is_floating_point() or codes.is_complex():
        raise ValueError(
            f"CODES {path}: audio_codes are {codes.dtype}, but codes are integer indices (int16/int32/int64); "
            "they were not written by songgen codec encode."
        )
    if codes.dim() == 2:
        codes = codes[None]
    if codes.dim() != 3 or codes.shape[0] != 1:
        raise ValueError(
            f"CODES {path}: audio_codes has shape {tuple(codes.shape)}; expected (codebooks, frames) or "
            "(1, codebooks, frames) for one clip."
        )
    if codes.shape[-1] == 0 or codes.shape[1] == 0:
        raise ValueError(f"CODES {path}: audio_codes has shape {tuple(codes.shape)}, with no codes to decode.")
    return codes.long(), payload.get("sampling_rate") if isinstance(payload, dict) else None


def codec_decode(args: argparse.Namespace) -> int:
    import torch

    from songgen_hf.conversion.checkpoint_files import load_codec_folder
    from songgen_hf.data.audio import write_audio

    output = Path(args.output)
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name such as {output / 'decoded.wav'}.")
    if output.suffix.lower() not in AUDIO_OUTPUT_SUFFIXES:
        raise ValueError(
            f"--output {output}: unsupported extension {output.suffix!r}; use {', '.join(AUDIO_OUTPUT_SUFFIXES)}."
        )
    codes_path = Path(args.codes)
    codes, rate = read_codes(codes_path)
    config = _codec_config(args.model)
    if rate is not None and int(rate) != config.sample_rate:
        raise ValueError(
            f"CODES {codes_path} were made by a {int(rate)} Hz codec, but --model {args.model} is a "
            f"{config.sample_rate} Hz codec: its codes mean something else. Decode with the codec that encoded them."
        )
    if codes.shape[1] > config.num_quantizers:
        raise ValueError(
            f"CODES {codes_path} has {codes.shape[1]} codebooks, but --model {args.model} has {config.num_quantizers}; "
            "decode with the codec that encoded them."
        )
    low, high = int(codes.min()), int(codes.max())
    if low < 0 or high >= config.codebook_size:
        raise ValueError(
            f"CODES {codes_path}: values run from {low} to {high}, but this codec's codebooks hold "
            f"0..{config.codebook_size - 1}; strip special tokens (BOS/EOS/PAD) first "
            "or use the codec that encoded them."
        )
    seconds = codes.shape[-1] / config.frame_rate
    if seconds > MAX_CODEC_AUDIO_SECONDS:
        raise ValueError(
            f"CODES {codes_path} decode to {seconds / 60:.1f} minutes of audio; songgen codec decode writes at most "
            f"{MAX_CODEC_AUDIO_SECONDS / 60:g} minutes per file. Split the codes along their last axis first."
        )
    check_codec_arguments(args, config)
    chunk_seconds = _auto_chunk(args.chunk_seconds, seconds, "decoding")

    model = load_codec_folder(args.model, "--model", decode_only=True)
    with torch.inference_mode():
        audio = model.decode(codes, chunk_seconds=chunk_seconds).audio_values[0]
    write_audio(output, audio, model.config.sample_rate)
    print(f"wrote {output}")
    return 0


def codec_train(args: argparse.Namespace) -> int:
    from songgen_hf.commands.train import train_from_config
    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.codec_trainer import train_codec

    _, final = train_from_config(args, CodecTrainingConfig, train_codec)
    print(f"trained codec saved to {final}")
    return 0


def codec_interpolate(args: argparse.Namespace) -> int:
    from songgen_hf.commands.cli import check_output_spares_inputs, check_path_given
    from songgen_hf.conversion.checkpoint_files import load_codec_of
    from songgen_hf.utils.atomic import atomic_directory, check_replaceable, check_writable

    check_number("--weight", args.weight, minimum=0.0, maximum=1.0, example=0.5)
    check_path_given("--output", args.output)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; pass a folder.")
    check_output_spares_inputs("--output", output, {"BASE": args.base, "TUNED": args.tuned})
    check_replaceable(output, getattr(args, "overwrite", False), "--output")
    check_writable(output, "--output")
    from songgen_hf.training.codec_trainer import is_decoder_side
    from songgen_hf.training.decoder_interpolation import interpolate_decoders

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


def codec_evaluate(args: argparse.Namespace) -> int:
    from songgen_hf.evaluation.codec_evaluation import run_codec_evaluate

    return run_codec_evaluate(args)


# ---------------------------------------------------------------------- each command's options
def add_train_arguments(train: argparse.ArgumentParser) -> None:
    add_run_arguments(train, "codec config (JSON/YAML): train_data, output_dir, model sizes and losses", "max_steps=10")
    train.set_defaults(handler=codec_train)


def add_encode_arguments(encode: argparse.ArgumentParser) -> None:
    encode.add_argument("audio", metavar="AUDIO", help="the audio file to encode (WAV, FLAC, OGG or MP3)")
    encode.add_argument("--model", required=True, help="codec folder")
    encode.add_argument("--output", required=True, help="codes file (.pt)")
    add_codec_arguments(encode, "encode")
    encode.set_defaults(handler=codec_encode)


def add_decode_arguments(decode: argparse.ArgumentParser) -> None:
    decode.add_argument("codes", metavar="CODES", help="a codes file (.pt) from songgen codec encode")
    decode.add_argument("--model", required=True, help="codec folder")
    decode.add_argument("--output", required=True, help=".wav, .flac or .ogg")
    add_codec_arguments(decode, "decode", bandwidth=False)
    decode.set_defaults(handler=codec_decode)


def add_interpolate_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.set_defaults(handler=codec_interpolate)


def add_evaluate_arguments(evaluate_codec: argparse.ArgumentParser) -> None:
    evaluate_codec.add_argument(
        "manifest", metavar="MANIFEST", help="corpus manifest from `songgen data synth` (test.jsonl)"
    )
    evaluate_codec.add_argument("--model", required=True, help="codec folder, or a SongGen folder (its codec is used)")
    evaluate_codec.add_argument(
        "--baseline",
        action="extend",
        nargs="+",
        metavar="CODEC",
        help="codec or SongGen folders to compare with (repeatable)",
    )
    evaluate_codec.add_argument("--output", required=True, help="folder for codec_evaluation.json")
    evaluate_codec.add_argument(
        "--num-clips", type=int, default=64, metavar="N", help="score the first N records of MANIFEST (default 64)"
    )
    evaluate_codec.add_argument(
        "--report",
        help="Markdown report (default OUTPUT/codec_evaluation.md); its figure goes to the folder named after it",
    )
    evaluate_codec.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default 0)")
    evaluate_codec.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    evaluate_codec.set_defaults(handler=codec_evaluate)


# the group -> its commands, each with its help and options (songgen_hf.commands.cli lists it)
COMMANDS = {
    "codec": {
        "train": ("train a codec from a config (JSON/YAML)", add_train_arguments),
        "encode": ("audio file -> codes (.pt)", add_encode_arguments),
        "decode": ("codes (.pt) -> audio file", add_decode_arguments),
        "interpolate": (
            "a decoder part way between a codec's and a decoder fine-tune of it (WiSE-FT)",
            add_interpolate_arguments,
        ),
        "evaluate": (
            "what codecs' round trips keep of held-out songs: tempo, key, lyric recall, frame-rate comb",
            add_evaluate_arguments,
        ),
    }
}


__all__ = ["codec_decode", "codec_encode", "codec_interpolate", "codec_train", "read_codes"]
