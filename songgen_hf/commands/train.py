"""The training commands: ``songgen train``, ``train-singer``, ``finetune-lora`` and ``export``; each command's
options and its handler.  The training itself is in :mod:`songgen_hf.training`, imported when a command runs.

Exit codes as for every ``songgen`` command: 0 success, 2 bad input, 143 stopped by SIGTERM after saving a
checkpoint (rerun with ``--resume``).  Several processes: ``accelerate launch -m songgen_hf.cli train CONFIG``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from songgen_hf.commands.cli import add_run_arguments

# export's choices, named here so that the parser does not import torch; the same as
# songgen_hf.training.export's EXPORT_FORMATS and sorted(STORAGE_DTYPES) (a test compares them)
EXPORT_FORMATS = ("release", "official")
STORAGE_DTYPE_NAMES = ("bfloat16", "float16", "float32")


# ---------------------------------------------------------------------- train
def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_run_arguments(parser, "stage config (JSON/YAML): train_data, init_from or model, stage options", "max_steps=10")
    parser.set_defaults(handler=run_train)
    return parser


def train_from_config(args: argparse.Namespace, config_class, train):
    """``(config, what train returned)``: ``args.config`` read into ``config_class`` with the ``--set`` overrides,
    then trained with ``--resume`` / ``--overwrite`` (the run options of :func:`add_run_arguments`)."""
    from songgen_hf.training.config_files import parse_overrides

    config = config_class.from_file(args.config, parse_overrides(args.set))
    return config, train(config, resume=args.resume, overwrite=args.overwrite)


def run_train(args: argparse.Namespace) -> int:
    from songgen_hf.training.songgen_config import SongGenTrainingConfig
    from songgen_hf.training.songgen_trainer import train_songgen

    config, final = train_from_config(args, SongGenTrainingConfig, train_songgen)
    print(f"trained SongGen ({config.stage}) saved to {final}")
    return 0


# ---------------------------------------------------------------------- train-singer
def add_singer_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("train", nargs="+", type=Path, help="`songgen data encode` folders with vocal stems")
    parser.add_argument("--output", type=Path, required=True, help="run folder (checkpoint/, final/, train_log.json)")
    parser.add_argument(
        "--held-out", type=Path, help="an encoded folder whose sung songs score the singer as it trains"
    )
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=16, help="songs per step (default 16)")
    parser.add_argument("--learning-rate", type=float, default=5e-4, help="AdamW learning rate (default 5e-4)")
    parser.add_argument(
        "--unit-dropout", type=float, default=0.15, help="share of training songs whose syllables are hidden"
    )
    parser.add_argument("--hidden-size", type=int, default=256, help="the singer's model width (default 256)")
    parser.add_argument("--layers", type=int, default=4, help="transformer layers (default 4)")
    parser.add_argument("--intermediate-size", type=int, help="feed-forward width (default: 4 x --hidden-size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the data order (default 0)")
    parser.add_argument("--save-steps", type=int, default=250, help="steps between checkpoints (default 250)")
    parser.add_argument("--resume", action="store_true", help="go on from the run folder's last checkpoint")
    parser.add_argument("--bf16", action="store_true", help="train under bfloat16 autocast (float32 weights)")
    parser.add_argument(
        "--context-shuffle",
        type=float,
        default=0.0,
        help="share of songs sung over another song's accompaniment (a score that disagrees with it)",
    )
    parser.set_defaults(handler=run_train_singer)
    return parser


def check_singer_sizes(args: argparse.Namespace) -> None:
    """``train-singer``'s learning rate and sizes, each in its range and together within
    ``MAX_TRAINED_PARAMETERS``, before anything is built (``--layers 1e6`` once took 4 GB in 35 s)."""
    from songgen_hf.modeling.limits import (
        MAX_FEED_FORWARD_WIDTH,
        MAX_MODEL_LAYERS,
        MAX_MODEL_WIDTH,
        MAX_TRAINED_PARAMETERS,
        MAX_TRAINING_BATCH_SIZE,
    )

    if not (math.isfinite(args.learning_rate) and 0 < args.learning_rate <= 1):
        raise ValueError(f"--learning-rate must be a number in (0, 1], got {args.learning_rate}.")
    if args.batch_size > MAX_TRAINING_BATCH_SIZE:
        raise ValueError(f"--batch-size must be at most {MAX_TRAINING_BATCH_SIZE}, got {args.batch_size}.")
    if not (64 <= args.hidden_size <= MAX_MODEL_WIDTH and args.hidden_size % 64 == 0):
        raise ValueError(
            f"--hidden-size must be a multiple of 64 from 64 to {MAX_MODEL_WIDTH}, got {args.hidden_size}."
        )
    if not 1 <= args.layers <= MAX_MODEL_LAYERS:
        raise ValueError(f"--layers must be from 1 to {MAX_MODEL_LAYERS}, got {args.layers}.")
    feed_forward = 4 * args.hidden_size if args.intermediate_size is None else args.intermediate_size
    if not 1 <= feed_forward <= MAX_FEED_FORWARD_WIDTH:
        raise ValueError(f"--intermediate-size must be from 1 to {MAX_FEED_FORWARD_WIDTH}, got {feed_forward}.")
    # the transformer's weights alone (attention 4 h^2, feed-forward 2 h f per layer): a lower bound of the model
    parameters = args.layers * (4 * args.hidden_size**2 + 2 * args.hidden_size * feed_forward)
    if parameters > MAX_TRAINED_PARAMETERS:
        raise ValueError(
            f"--hidden-size {args.hidden_size}, --layers {args.layers} and --intermediate-size "
            f"{feed_forward} make a singer of over {parameters:,} parameters; the limit is "
            f"{MAX_TRAINED_PARAMETERS:,} (its training would need {parameters * 16 / 2**30:.0f} GB): "
            "choose smaller sizes."
        )


def run_train_singer(args: argparse.Namespace) -> int:
    if (
        args.steps < 1
        or args.batch_size < 1
        or args.save_steps < 1
        or not 0 <= args.unit_dropout < 1
        or not (0 <= args.context_shuffle <= 1)
    ):
        raise ValueError(
            "--steps, --batch-size and --save-steps must be >= 1, --unit-dropout in [0, 1), "
            "--context-shuffle in [0, 1]."
        )
    check_singer_sizes(args)
    from songgen_hf.training.singer import train_singer

    final = train_singer(
        args.train,
        args.output,
        args.held_out,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        unit_dropout=args.unit_dropout,
        seed=args.seed,
        save_steps=args.save_steps,
        resume=args.resume,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden_size // 64,
        bf16=args.bf16,
        intermediate_size=args.intermediate_size,
        context_shuffle=args.context_shuffle,
    )
    print(f"wrote {final}")
    return 0


# ---------------------------------------------------------------------- finetune-lora
def add_finetune_lora_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_run_arguments(
        parser, "LoRA config (JSON/YAML): train_data, init_from (the base model folder), lora_* options", "lora_r=8"
    )
    parser.set_defaults(handler=run_finetune_lora)
    return parser


def run_finetune_lora(args: argparse.Namespace) -> int:
    from songgen_hf.training.lora_trainer import LoraTrainingConfig, finetune_lora

    config, final = train_from_config(args, LoraTrainingConfig, finetune_lora)
    print(f"LoRA adapter saved to {final} (base model: {config.init_from})")
    return 0


# ---------------------------------------------------------------------- export
def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "source",
        help="a saved SongGen folder with its processor (e.g. a training run's final/), "
        "a LoRA adapter folder (merged into its base), or a Hub id (a released SongGen checkpoint "
        "is converted once and cached)",
    )
    parser.add_argument(
        "--base", default=None, help="for a LoRA adapter source: its base model folder, if not where the adapter says"
    )
    parser.add_argument(
        "output_dir",
        nargs="?",
        default=None,
        metavar="OUT",
        help="folder to write (replaced atomically); the same as --output",
    )
    parser.add_argument("--output", default=None, help="folder to write (replaced atomically)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export in OUT (refused when OUT holds anything this command did not write there)",
    )
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="release",
        dest="export_format",
        help="release: this package's compact release folder (default); official: the official "
        "SongGen layout that the reference code and vllm-omni load",
    )
    parser.add_argument(
        "--storage-dtype",
        choices=STORAGE_DTYPE_NAMES,
        default=None,
        help="dtype of the stored weights (default float16 for release, float32 for official); "
        "a release loads as float32 unless dtype= is given; a LoRA adapter's changed weights "
        "stay float32, so the release sings the adapter's songs",
    )
    parser.add_argument("--no-card", action="store_true", help="do not write a README.md model card")
    parser.add_argument(
        "--card-fields",
        default=None,
        help="YAML/JSON mapping of model-card fields (model_name, model_summary, training_data, ...)",
    )
    parser.add_argument(
        "--generation",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="default sampling settings saved in generation_config.json, e.g. guidance_scale=3 top_k=50",
    )
    parser.add_argument(
        "--codec",
        default=None,
        help="a codec folder whose fine-tuned decoder replaces the model's (same encoder and codebooks)",
    )
    parser.add_argument(
        "--singer",
        default=None,
        help="a `songgen train-singer` folder (its final/) saved as the release's singer/, which "
        "re-sings the vocal track from a score (default: SOURCE's own singer/, an adapter's "
        "base's, if any)",
    )
    parser.add_argument(
        "--default-window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the windows a song longer than them is made in when a call asks none (saved as the config's "
        "decoder.default_window_frames; a call's --window / window_s overrides it): the length the model was "
        "trained on, where that is shorter than one decoding pass (default: the source's)",
    )
    parser.add_argument(
        "--without-vocal-heads",
        action="store_false",
        dest="vocal_heads",
        help="leave out mixed pro's training-only vocal heads (mixed_pro -> mixed, mixed_pro_stream2 -> "
        "mixed_stream2): the same songs from a smaller folder",
    )
    parser.set_defaults(handler=run_export)
    return parser


def run_export(args: argparse.Namespace) -> int:
    from songgen_hf.pipelines.loading import is_adapter_folder
    from songgen_hf.training.export import check_export_arguments, export_official_songgen, export_songgen

    check_export_arguments(args)
    if args.export_format == "official":
        from songgen_hf.training.config_files import parse_overrides

        target, notes = export_official_songgen(
            args.source,
            args.output,
            args.storage_dtype,
            base=args.base,
            generation=parse_overrides(args.generation),
            vocal_heads=args.vocal_heads,
        )
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        print(f"wrote {target} in the official SongGen layout ({size / 1e6:.1f} MB, {args.storage_dtype})")
        for note in notes:
            print(f"note: {note}")
        return 0
    fields = None
    if args.card_fields:
        from songgen_hf.training.config_files import read_config_file

        fields = read_config_file(args.card_fields)
    from songgen_hf.training.config_files import parse_overrides

    target = export_songgen(
        args.source,
        args.output,
        args.storage_dtype,
        card=not args.no_card,
        card_fields=fields,
        generation=parse_overrides(args.generation),
        codec=args.codec,
        base=args.base,
        vocal_heads=args.vocal_heads,
        singer=args.singer,
        default_window_s=args.default_window,
    )
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    kept = " (float32 where the adapter changed its base's weights)" if is_adapter_folder(args.source) else ""
    print(f"wrote {target} ({size / 1e6:.1f} MB, weights stored as {args.storage_dtype}{kept})")
    return 0


# each command -> its options (songgen_hf.commands.cli lists them)
COMMANDS = {
    "train": add_train_arguments,
    "train-singer": add_singer_arguments,
    "finetune-lora": add_finetune_lora_arguments,
    "export": add_export_arguments,
}


__all__ = [
    "add_export_arguments",
    "add_finetune_lora_arguments",
    "add_singer_arguments",
    "add_train_arguments",
    "check_singer_sizes",
    "run_export",
    "run_finetune_lora",
    "run_train",
    "run_train_singer",
    "train_from_config",
]
