"""The ``songgen`` command line.  Thin: it parses arguments and calls the library.

    songgen generate --description TEXT (--lyrics TEXT | --lyrics-file FILE) [--reference-voice AUDIO]
                     [--voice-start S] [--duration S] [--guidance-scale G] [--control-guidance-scale C]
                     [--[no-]silence-instrumental-vocals] [--codebook-temperatures TRACK=T,...]
                     [--temperature T] [--top-k K] [--cache C]
                     [--top-p P] [--seed S] [--stems] [--output OUT.wav] [--model DIR] [--threads N]
    songgen --version
    songgen info DIR [--json]
    songgen codec train CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen codec encode AUDIO --model DIR --output CODES.pt [--bandwidth KBPS] [--chunk-seconds S]
    songgen codec decode CODES.pt --model DIR --output OUT.wav [--chunk-seconds S]
    songgen codec interpolate BASE TUNED --weight W --output DIR [--overwrite]
    songgen codec evaluate MANIFEST --model CODEC [--baseline CODEC ...] --output DIR [--num-clips N] [--report FILE.md]
    songgen convert xcodec CHECKPOINT.pth OUTPUT_DIR [--config config.yaml] [--num-quantizers N]
    songgen convert songgen (REPO_ID | OFFICIAL_DIR) OUTPUT_DIR [--codec CODEC] [--mert MERT] [--no-voice]
                    [--lyrics-vocab FILE] [--revision REV] [--cache-dir DIR] [--token T] [--local-files-only]
    songgen data synth --output DIR --num-clips N [--seed S] [--workers W]
    songgen data prepare SONGS --output CORPUS [--separation-model M] [--asr-model M] [--clap-model M] [--dry-run]
    songgen data encode MANIFEST --codec DIR --output DIR
    songgen data excerpts MANIFEST --output DIR [--seconds S] [--max-mb MB] [--fields F ...] [--skip N] [--seed S]
    songgen train STAGE_CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen finetune-lora CONFIG [--resume | --overwrite] [--set key=value ...]
    songgen evaluate MANIFEST --output DIR [--model DIR] [--report FILE.md] [--num-prompts N] [--seed S] ...

Exit codes: 0 success, 2 bad input (the message says what to change), 143 interrupted after
saving a checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

from songgen_hf.arguments import CODEBOOK_TEMPERATURES_HELP, QUANTIZE_CHOICES
from songgen_hf.cli_generate import AUDIO_OUTPUT_SUFFIXES, STEM_NAMES, _generate, stem_paths  # noqa: F401  (public names)
from songgen_hf.cli_info import _info, describe_folder, format_info  # noqa: F401
from songgen_hf.defaults import DEFAULT_MODEL_NAME, EMBEDDED_MODELS


# ---------------------------------------------------------------------- codec, convert, data
def _codec_train(args: argparse.Namespace) -> int:
    from songgen_hf.training.codec_config import CodecTrainingConfig
    from songgen_hf.training.codec_trainer import train_codec
    from songgen_hf.training.config_files import parse_overrides

    config = CodecTrainingConfig.from_file(args.config, parse_overrides(args.set))
    final = train_codec(config, resume=args.resume, overwrite=args.overwrite)
    print(f"trained codec saved to {final}")
    return 0


def _codec_encode(args: argparse.Namespace) -> int:
    from songgen_hf.cli_codec import codec_encode

    return codec_encode(args)


def _codec_decode(args: argparse.Namespace) -> int:
    from songgen_hf.cli_codec import codec_decode

    return codec_decode(args)


def _codec_evaluate(args: argparse.Namespace) -> int:
    from songgen_hf.evaluation.codec_evaluation import run_codec_evaluate

    return run_codec_evaluate(args)


def _check_convert_output(text: str, overwrite: bool, inputs: dict) -> None:
    """Refused before the (slow) conversion: no name, a file in the way, a folder without --overwrite, or one
    that holds an input (the checkpoint would be deleted by its own conversion)."""
    from songgen_hf.arguments import check_output_spares_inputs, check_path_given

    check_path_given("OUTPUT", text)  # "" would be the current folder, replaced with --overwrite
    output = Path(text)
    if output.exists() and not output.is_dir():
        raise ValueError(f"OUTPUT {output} is a file; give the name of a folder to create.")
    if output.exists() and not overwrite:
        raise ValueError(f"OUTPUT {output} already exists; pass --overwrite to replace it, or pick another folder.")
    check_output_spares_inputs("OUTPUT", output, inputs)


def _convert_xcodec(args: argparse.Namespace) -> int:
    from songgen_hf.conversion.xcodec_original import load_original_xcodec, save_converted

    _check_convert_output(args.output, args.overwrite, {"CHECKPOINT": args.checkpoint, "--config": args.config})
    model = load_original_xcodec(args.checkpoint, config=args.config, num_quantizers=args.num_quantizers)
    target = save_converted(model, args.output, overwrite=args.overwrite)
    print(f"converted {args.checkpoint} -> {target}")
    return 0


def _convert_songgen(args: argparse.Namespace) -> int:
    from songgen_hf.conversion.conversion_cache import convert_official_songgen
    from songgen_hf.conversion.hub import looks_like_repo_id

    source = Path(args.source)
    if not source.exists() and not looks_like_repo_id(args.source):
        raise ValueError(
            f"{source} does not exist; pass the SongGen Hub id (e.g. LiuZH-19/SongGen_mixed_pro) or the "
            "downloaded official SongGen folder."
        )
    if source.is_file():
        raise ValueError(
            f"{source} is a file; songgen convert songgen takes the downloaded official SongGen folder "
            "(config.json + model.safetensors) or its Hub id. To convert an X-Codec .pth use songgen convert xcodec."
        )
    _check_convert_output(
        args.output,
        args.overwrite,
        {
            "SOURCE": args.source,
            "--codec": args.codec,
            "--mert-folder": args.mert_folder,
            "--mert": args.mert,
            "--lyrics-vocab": args.lyrics_vocab,
            "--cache-dir": args.cache_dir,
        },
    )
    if args.mert_folder is not None and not Path(args.mert_folder).is_dir():
        raise ValueError(f"--mert-folder {args.mert_folder} is not a folder; pass a local copy of m-a-p/MERT-v1-330M.")
    target = convert_official_songgen(
        args.source,
        args.output,
        overwrite=args.overwrite,
        revision=args.revision,
        cache_dir=args.cache_dir,
        token=args.token,
        local_files_only=args.local_files_only,
        codec=args.codec,
        mert=args.mert_folder or args.mert,
        voice=not args.no_voice,
        lyrics_vocab=args.lyrics_vocab,
        allow_unknown_keys=args.allow_unknown_keys,
    )
    print(f"converted {args.source} -> {target}")
    return 0


# ---------------------------------------------------------------------- each command's options
# Each function adds one command's options and handler; build_parser calls only the one a command line names,
# so a command pays for no other command's imports (several option sets live beside heavy code).
def _add_generate(generate: argparse.ArgumentParser) -> None:
    generate.add_argument("--description", required=True, help="genre, mood, instruments, voice...")
    lyrics = generate.add_mutually_exclusive_group(required=True)
    lyrics.add_argument("--lyrics", help='the lyrics (lines separated by newlines; "" for an instrumental)')
    lyrics.add_argument("--lyrics-file", help="a UTF-8 text file with the lyrics")
    generate.add_argument("--reference-voice", help="audio file whose voice to imitate (voice-encoder models)")
    generate.add_argument("--voice-start", type=float, help="seconds into the reference voice where the clip starts")
    generate.add_argument(
        "--tempo-bpm", type=float, help="tempo for models with musical controls (default: from the description)"
    )
    generate.add_argument(
        "--key", help='key such as "F# minor", for models with musical controls (default: from the description)'
    )
    generate.add_argument(
        "--duration",
        type=float,
        help="the song's length in seconds, > 0 and at most the model's max_seconds (songgen info); "
        "default: the model's",
    )
    generate.add_argument(
        "--min-duration",
        type=float,
        help="let the song end earlier, when the model ends it, but not before this many seconds "
        "(0 to --duration; default: the song is exactly --duration long)",
    )
    generate.add_argument("--guidance-scale", type=float, help="classifier-free guidance, 1 (off) to 100")
    generate.add_argument(
        "--control-guidance-scale",
        type=float,
        help="further guidance towards the tempo, key and arrangement alone, 0 (off) to 100; for "
        "models trained with control_dropout_prob (1.5x the decoding work)",
    )
    generate.add_argument("--codebook-temperatures", nargs="+", metavar="TRACK=T,...", help=CODEBOOK_TEMPERATURES_HELP)
    generate.add_argument(
        "--silence-instrumental-vocals",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="dual-track models with an arrangement control: hold the vocal track at the codec's "
        "codes of silence when the description asks for an instrumental (default: on where the "
        "model can; --no-silence-instrumental-vocals leaves the vocal track to the model)",
    )
    generate.add_argument(
        "--singer",
        metavar="FOLDER|none",
        help="dual-track models: the told singer that re-sings the vocal track from a score composed "
        "for the request (a `songgen train-singer` folder); none keeps the decoder's own vocals "
        "(default: the model folder's singer/, if it has one)",
    )
    generate.add_argument(
        "--temperature",
        type=float,
        help="sampling temperature, > 0; lower is safer, higher more varied (default: the model's)",
    )
    generate.add_argument(
        "--top-k", type=int, help="sample among the K likeliest tokens, 0 = all (default: the model's)"
    )
    generate.add_argument(
        "--cache",
        help="decoding cache: preallocated (default, fastest without compile), static "
        "(fixed shapes, for torch.compile / CUDA graphs) or dynamic",
    )
    generate.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="decoder precision: int8 weights (on a CPU PyTorch's packed kernel; on a GPU torchao, "
        'pip install "songgen-hf[quantize]"), int8-heads (the token heads only), bfloat16, '
        "or fp32; the codec stays float32 (default: the model's recommendation on a CPU, "
        "songgen-tiny's int8-heads, else fp32)",
    )
    generate.add_argument(
        "--top-p",
        type=float,
        help="nucleus sampling: the likeliest tokens up to this total probability, in (0, 1] (default: the model's)",
    )
    generate.add_argument("--steps", type=int, help="ResGen models: parallel decoding passes (default 16)")
    generate.add_argument("--seed", type=int, help="make the song reproducible (0 to 2**64 - 1)")
    generate.add_argument(
        "--stems",
        action="store_true",
        default=None,
        help="also write OUT_vocals / OUT_accompaniment (dual-track models)",
    )
    generate.add_argument("--output", default="song.wav", help=".wav, .flac or .ogg (default: song.wav)")
    embedded = "; ".join(f"{name}, {what}" for name, what in EMBEDDED_MODELS.items())
    generate.add_argument(
        "--model",
        help="SongGen folder or Hub id, a ResGen pipeline folder, or an embedded model's name "
        f"({embedded}); an official SongGen one (LiuZH-19/SongGen_*) "
        f"is converted once and cached (default: {DEFAULT_MODEL_NAME})",
    )
    generate.add_argument("--device", help="cpu, cuda, cuda:1... (default: first GPU if any)")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the generation (default: SONGGEN_NUM_THREADS or OMP_NUM_THREADS if "
        "set, else the cores other programs are not keeping busy, at least 1)",
    )
    generate.set_defaults(handler=_generate_with_threads)


def _generate_with_threads(args: argparse.Namespace) -> int:
    """``songgen generate``, its generation on ``--threads`` threads (checked first) or the thread policy's."""
    from songgen_hf.threads import check_threads, thread_request

    check_threads("--threads", args.threads)
    with thread_request(args.threads):  # the pipeline applies it as generation starts
        return _generate(args)


def _add_info(info: argparse.ArgumentParser) -> None:
    info.add_argument("folder", metavar="FOLDER", help="a model folder, Hub id or embedded model name")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_info)


def _add_codec_train(train: argparse.ArgumentParser) -> None:
    from songgen_hf.training.config_files import add_run_arguments

    add_run_arguments(train, "codec config (JSON/YAML): train_data, output_dir, model sizes and losses", "max_steps=10")
    train.set_defaults(handler=_codec_train)


def _add_codec_encode(encode: argparse.ArgumentParser) -> None:
    encode.add_argument("audio", metavar="AUDIO", help="the audio file to encode (WAV, FLAC, OGG or MP3)")
    encode.add_argument("--model", required=True, help="codec folder")
    encode.add_argument("--output", required=True, help="codes file (.pt)")
    encode.add_argument("--bandwidth", type=float, default=None, help="kbps; default: all codebooks")
    encode.add_argument(
        "--chunk-seconds",
        type=float,
        default=None,
        help="encode in chunks of this length (default: 30 s chunks for audio longer than 30 s)",
    )
    encode.set_defaults(handler=_codec_encode)


def _add_codec_decode(decode: argparse.ArgumentParser) -> None:
    decode.add_argument("codes", metavar="CODES", help="a codes file (.pt) from songgen codec encode")
    decode.add_argument("--model", required=True, help="codec folder")
    decode.add_argument("--output", required=True, help=".wav, .flac or .ogg")
    decode.add_argument(
        "--chunk-seconds",
        type=float,
        default=None,
        help="decode in chunks of this length (default: 30 s chunks beyond 30 s)",
    )
    decode.set_defaults(handler=_codec_decode)


def _add_codec_interpolate(interpolate: argparse.ArgumentParser) -> None:
    from songgen_hf.training.decoder_interpolation import add_interpolate_arguments, run_interpolate

    add_interpolate_arguments(interpolate).set_defaults(handler=run_interpolate)


def _add_codec_evaluate(evaluate_codec: argparse.ArgumentParser) -> None:
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
    evaluate_codec.set_defaults(handler=_codec_evaluate)


def _add_convert_xcodec(xcodec: argparse.ArgumentParser) -> None:
    xcodec.add_argument("checkpoint", metavar="CHECKPOINT", help="the original X-Codec checkpoint (.pth)")
    xcodec.add_argument("output", metavar="OUTPUT", help="the folder to create")
    xcodec.add_argument("--config", help="the original YAML config (else inferred from the weights)")
    xcodec.add_argument(
        "--num-quantizers",
        type=int,
        help="codebook count; required when inferring a layout other than the released 8 or 12",
    )
    xcodec.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    xcodec.set_defaults(handler=_convert_xcodec)


def _add_convert_songgen(songgen: argparse.ArgumentParser) -> None:
    songgen.add_argument(
        "source", help="Hub id (LiuZH-19/SongGen_mixed_pro) or official folder (config.json + weights)"
    )
    songgen.add_argument("output", metavar="OUTPUT", help="the folder to create")
    songgen.add_argument(
        "--codec",
        help="X-Codec: folder, Hub id, original .pth or REPO_ID:FILE.pth "
        "(default: the embedded one, else hf-audio/xcodec-hubert-general-balanced)",
    )
    songgen.add_argument("--mert", help="MERT folder or Hub id (default: embedded, else m-a-p/MERT-v1-330M)")
    songgen.add_argument("--mert-folder", help="local MERT-v1-330M folder (same as --mert with a folder)")
    songgen.add_argument(
        "--lyrics-vocab",
        help="VoiceBPE vocab.json, path or REPO_ID:FILE (default: the checkpoint's, "
        "else the reference code's, downloaded once)",
    )
    songgen.add_argument("--revision", help="branch, tag or commit of the SongGen repo (default: main)")
    songgen.add_argument("--cache-dir", help="Hugging Face Hub cache folder (default: HF_HUB_CACHE)")
    songgen.add_argument("--token", help="Hub token (default: the one `hf auth login` saved)")
    songgen.add_argument("--local-files-only", action="store_true", help="use the Hub cache only, download nothing")
    songgen.add_argument("--no-voice", action="store_true", help="build without the reference-voice encoder")
    songgen.add_argument("--allow-unknown-keys", action="store_true", help="ignore unexpected config keys")
    songgen.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    songgen.set_defaults(handler=_convert_songgen)


def _lazy(module: str, add_arguments: str, handler: str):
    """Options from ``module``'s ``add_arguments`` and its ``handler``, imported only when the command is named."""

    def add(parser: argparse.ArgumentParser) -> None:
        loaded = import_module(module)
        getattr(loaded, add_arguments)(parser).set_defaults(handler=getattr(loaded, handler))

    return add


# command -> (help, options); a command group's options are its own commands
_COMMANDS = {
    "generate": ("write a song from a description and lyrics", _add_generate),
    "info": ("what a SongGen or X-Codec folder holds", _add_info),
    "codec": (
        "train or run the X-Codec audio codec",
        {
            "train": ("train a codec from a config (JSON/YAML)", _add_codec_train),
            "encode": ("audio file -> codes (.pt)", _add_codec_encode),
            "decode": ("codes (.pt) -> audio file", _add_codec_decode),
            "interpolate": (
                "a decoder part way between a codec's and a decoder fine-tune of it (WiSE-FT)",
                _add_codec_interpolate,
            ),
            "evaluate": (
                "what codecs' round trips keep of held-out songs: tempo, key, lyric recall, frame-rate comb",
                _add_codec_evaluate,
            ),
        },
    ),
    "convert": (
        "convert official checkpoints",
        {
            "xcodec": ("original X-Codec .pth -> save_pretrained folder", _add_convert_xcodec),
            "songgen": ("official SongGen Hub id or folder -> save_pretrained folder", _add_convert_songgen),
        },
    ),
    "data": (
        "datasets",
        {
            "synth": (
                "generate the synthetic song corpus",
                _lazy("songgen_hf.data.synth.cli", "add_synth_arguments", "run_synth"),
            ),
            "encode": (
                "manifest -> codec codes (datasets save_to_disk)",
                _lazy("songgen_hf.data.encode_cli", "add_encode_arguments", "run_encode"),
            ),
            "prepare": (
                "a folder of your songs -> a training manifest (separation, VAD slicing, lyrics, captions)",
                _lazy("songgen_hf.data.prepare.cli", "add_prepare_arguments", "run_prepare"),
            ),
            "tokenizers": (
                "train the description and lyrics tokenizers on a manifest",
                _lazy("songgen_hf.data.tokenizers", "add_tokenizer_arguments", "run_tokenizers"),
            ),
            "excerpts": (
                "a compact codec-training set: one window per record, FLAC, to a size budget",
                _lazy("songgen_hf.data.excerpts", "add_excerpt_arguments", "run_excerpts"),
            ),
        },
    ),
    "train": (
        "train one SongGen stage (accelerate)",
        _lazy("songgen_hf.training.songgen_cli", "add_train_arguments", "run_train"),
    ),
    "train-singer": (
        "train the told singer (vocal codes filled from a score) on encoded songs with stems",
        _lazy("songgen_hf.training.singer", "add_singer_arguments", "run_train_singer"),
    ),
    "finetune-lora": (
        "fine-tune a SongGen model with a LoRA adapter (PEFT)",
        _lazy("songgen_hf.training.lora_cli", "add_finetune_lora_arguments", "run_finetune_lora"),
    ),
    "export": (
        "a trained SongGen folder -> a compact release folder",
        _lazy("songgen_hf.training.export", "add_export_arguments", "run_export"),
    ),
    "evaluate": (
        "weight-free controllability benchmark on held-out corpus prompts",
        _lazy("songgen_hf.evaluation.cli", "add_evaluate_arguments", "run_evaluate"),
    ),
    "compare": (
        "paired differences between two models' evaluations of the same prompts",
        _lazy("songgen_hf.evaluation.cli", "add_compare_arguments", "run_compare"),
    ),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``songgen`` parser.  Every command is listed; with ``argv``, only the command it names gets its
    options (and imports their module), so ``songgen --help`` and each command start without the others' imports.
    Without ``argv``, every command's options are added."""
    from songgen_hf import __version__

    parser = argparse.ArgumentParser(prog="songgen", description="SongGen text-to-song and the X-Codec codec.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version of songgen-hf and exit",
    )
    # no option before a command takes a value, so the words of a command line are its first non-option tokens
    words = None if argv is None else [token for token in argv if not token.startswith("-")]
    _add_commands(parser, _COMMANDS, words, "command")
    return parser


def _add_commands(parser: argparse.ArgumentParser, commands: dict, words: list[str] | None, dest: str) -> None:
    subparsers = parser.add_subparsers(dest=dest, required=True)
    for name, (help_text, options) in commands.items():
        command = subparsers.add_parser(name, help=help_text, description=help_text)
        if words is not None and (not words or words[0] != name):
            continue  # listed with its help; its options are added only when a command line names it
        if isinstance(options, dict):
            _add_commands(command, options, None if words is None else words[1:], f"{name}_command")
        else:
            options(command)


def main(argv: list[str] | None = None) -> int:
    from songgen_hf.command_runner import run_command

    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command(build_parser(argv), None, argv, after_parsing=_register_models)


def _register_models() -> None:
    """What ``import songgen_hf`` does at once and the console script defers past parsing: import the models and
    register them (and ``text-to-song``) with transformers."""
    import songgen_hf._public_api  # noqa: F401


if __name__ == "__main__":
    sys.exit(main())
