"""``songgen evaluate`` and ``songgen compare``: each command's options, their checks and its handler (the
benchmark itself is :mod:`songgen_hf.evaluation`).

    songgen evaluate SONGS_DIR --output DIR [--no-progress]
    songgen evaluate MANIFEST --output DIR [--model DIR] [--report FILE.md] [--probe-manifest JSONL]
                     [--probe-clips N] [--num-prompts N] [--batch-size B] [--max-duration S]
                     [--guidance-scale G] [--control-guidance-scale C] [--seed S] [--temperature T] [--top-k K]
                     [--top-p P] [--steps S] [--codebook-temperatures TRACK=T,...]
                     [--save-audio] [--device DEVICE] [--no-progress]

The first form scores the songs a ``songgen generate-many`` folder holds, as they are
(:mod:`songgen_hf.evaluation.songs`); the second generates songs from a corpus manifest and scores them.
Every input is checked before the model loads; a mistake is a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from songgen_hf.commands.cli import CODEBOOK_TEMPERATURES_HELP, QUANTIZE_CHOICES
from songgen_hf.evaluation.system_names import DEFAULT_METRICS, GENERATED_SYSTEMS, check_generated_systems

DEFAULTS = {
    "num_prompts": 48,
    "batch_size": 8,
    "max_duration": 10.0,
    "guidance_scale": 3.0,
    "seed": 0,
    "probe_clips": 400,
}


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "manifest",
        metavar="MANIFEST|SONGS_DIR",
        help="held-out corpus manifest from `songgen data synth` (e.g. corpus/test.jsonl), or the --output folder "
        "of `songgen generate-many`, whose songs are scored as they are (nothing is generated)",
    )
    parser.add_argument("--output", required=True, help="folder for evaluation.json, the probes and saved audio")
    parser.add_argument("--model", help="SongGen folder (default: the embedded model)")
    parser.add_argument(
        "--report", help="Markdown report; figures go to the folder named after it (default: OUTPUT/evaluation.md)"
    )
    parser.add_argument(
        "--probe-manifest",
        help="corpus manifest the attribute probes are fit on (default: train.jsonl next to MANIFEST)",
    )
    parser.add_argument(
        "--probe-clips",
        type=int,
        default=DEFAULTS["probe_clips"],
        help="fit the probes on at most this many clips (first rows)",
    )
    parser.add_argument("--num-prompts", type=int, default=DEFAULTS["num_prompts"], help="first N rows of MANIFEST")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="songs per generate() call")
    parser.add_argument(
        "--max-duration",
        type=float,
        default=DEFAULTS["max_duration"],
        help="seconds; each prompt is generated and scored on min(its clip, this)",
    )
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=DEFAULTS["guidance_scale"],
        help="classifier-free guidance of the 'guided' system (> 1)",
    )
    parser.add_argument(
        "--control-guidance-scale",
        type=float,
        help="SongGen models with musical controls: the 'guided' system's further guidance towards "
        "tempo, key and arrangement alone (0 = off, the default)",
    )
    parser.add_argument(
        "--silence-instrumental-vocals",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SongGen dual-track models with an arrangement control: hold the vocal track of "
        "instrumental requests at the codec's codes of silence (default: on where the model can, "
        "as in generate; --no-silence-instrumental-vocals measures the model's own vocal track)",
    )
    parser.add_argument(
        "--codebook-temperatures",
        nargs="+",
        metavar="TRACK=T,...",
        help="SongGen models: " + CODEBOOK_TEMPERATURES_HELP + " (default: the model's generation config)",
    )
    parser.add_argument(
        "--singer",
        metavar="FOLDER|none",
        help="SongGen dual-track models: a `songgen train-singer` folder whose singer re-sings the "
        "vocal track from a score composed for each prompt (tempo, key, lyrics, voice); none "
        "measures the decoder's own vocal track (default: the model folder's singer/, if it has "
        "one, as songgen generate and the pipeline use it)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="sampling seed (batch i uses seed + i)")
    parser.add_argument("--temperature", type=float, help="default: the model's generation config")
    parser.add_argument("--top-k", type=int, help="default: the model's generation config")
    parser.add_argument("--top-p", type=float, help="default: the model's generation config")
    parser.add_argument(
        "--steps", type=int, help="ResGen models: parallel decoding passes per song (default: the model's 16)"
    )
    parser.add_argument("--save-audio", action="store_true", help="also write OUTPUT/audio/SYSTEM/ID.wav")
    parser.add_argument("--device", help="cpu, cuda, cuda:1... (default: first GPU if any)")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="decoder precision (int8, int8-heads, bf16-heads, bf16, fp32; the codec stays float32); default: "
        "the model's recommendation on a CPU (songgen-tiny: bf16-heads, int8-heads without native bfloat16), else fp32",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        default=list(GENERATED_SYSTEMS),
        metavar="SYSTEM",
        help=f"generated systems to run: {', '.join(GENERATED_SYSTEMS)} (default: all; the ground truth "
        "and its codec round trip always are). 'guided' alone is enough to compare models or "
        "settings with `songgen compare`, at about half the time",
    )
    parser.add_argument(
        "--reference-cache",
        metavar="DIR",
        help="where the ground truth and codec round trip scores are kept between runs (they depend "
        "only on the prompts, the codec and the probes); default: evaluation-references/ under "
        "$SONGGEN_HF_CACHE, else under HF_HOME's songgen-hf/",
    )
    parser.add_argument(
        "--no-reference-cache",
        action="store_true",
        help="score the ground truth and its codec round trip again, and keep nothing",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=run_evaluate)
    return parser


def canonical_command(args: argparse.Namespace) -> str:
    """The command with every setting spelled out, so the report says exactly how to reproduce it."""
    parts = ["songgen", "evaluate", args.manifest, "--output", args.output]
    for flag, value in (("--model", args.model), ("--report", args.report), ("--probe-manifest", args.probe_manifest)):
        if value is not None:
            parts += [flag, value]
    parts += [
        "--probe-clips",
        str(args.probe_clips),
        "--num-prompts",
        str(args.num_prompts),
        "--batch-size",
        str(args.batch_size),
        "--max-duration",
        f"{args.max_duration:g}",
        "--guidance-scale",
        f"{args.guidance_scale:g}",
        "--seed",
        str(args.seed),
    ]
    for flag, value in (
        ("--control-guidance-scale", args.control_guidance_scale),
        ("--temperature", args.temperature),
        ("--top-k", args.top_k),
        ("--top-p", args.top_p),
        ("--steps", args.steps),
        ("--device", args.device),
        ("--quantize", args.quantize),
        ("--singer", args.singer),
    ):
        if value is not None:
            parts += [flag, str(value)]
    if args.silence_instrumental_vocals is not None:
        parts.append(("--" if args.silence_instrumental_vocals else "--no-") + "silence-instrumental-vocals")
    if args.codebook_temperatures is not None:
        parts += ["--codebook-temperatures", *args.codebook_temperatures]
    systems = check_generated_systems(args.systems)
    if systems != GENERATED_SYSTEMS:
        parts += ["--systems", *systems]
    if args.save_audio:
        parts.append("--save-audio")
    return shlex.join(parts)


def _check_numbers(args: argparse.Namespace) -> None:
    """NaN, infinity, negative and absurdly large values are refused with the option's name and range."""
    from songgen_hf.commands.cli import check_count, check_number, check_path_given
    from songgen_hf.modeling.limits import MAX_BATCH_SIZE
    from songgen_hf.modeling.songgen.arguments_songgen import MAX_GUIDANCE_SCALE, MAX_TEMPERATURE

    for flag, value in (
        ("MANIFEST", args.manifest),
        ("--output", args.output),
        ("--model", args.model),
        ("--report", args.report),
        ("--probe-manifest", args.probe_manifest),
    ):
        check_path_given(flag, value)
    check_count("--num-prompts", args.num_prompts)
    check_count("--batch-size", args.batch_size, maximum=MAX_BATCH_SIZE)
    check_count("--probe-clips", args.probe_clips, minimum=2)
    check_number("--max-duration", args.max_duration, above=0, maximum=3600, example=10)
    check_number("--guidance-scale", args.guidance_scale, above=1, maximum=MAX_GUIDANCE_SCALE, example=3)
    check_number(
        "--control-guidance-scale", args.control_guidance_scale, minimum=0, maximum=MAX_GUIDANCE_SCALE, example=2
    )
    # batch i is sampled with seed + i, and torch takes seeds up to 2**64 - 1
    check_count("--seed", args.seed, minimum=0, maximum=2**64 - 1 - args.num_prompts)
    check_number("--temperature", args.temperature, above=0, maximum=MAX_TEMPERATURE, example=1.0)
    check_count("--top-k", args.top_k, minimum=0)
    check_number("--top-p", args.top_p, above=0, maximum=1, example=0.9)
    check_count("--steps", args.steps)
    if args.device is not None:
        from songgen_hf.modeling.limits import check_device

        check_device(args.device, "--device")  # a CUDA device on a CPU build: refused before the model loads


def _model_folder(model: str | None) -> Path:
    from songgen_hf.pipelines.loading import model_folder_or_default

    return model_folder_or_default(model)


def settings_from_args(args: argparse.Namespace):
    """Checked :class:`EvaluationSettings` (raises ``ValueError`` naming the option to change)."""
    from songgen_hf.commands.cli import output_and_report
    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import EvaluationSettings

    _check_numbers(args)
    if _singer_named(args) and not (Path(args.singer) / "config.json").is_file():
        raise ValueError(
            f"--singer {args.singer} is not a singer folder (no config.json): give the `final` folder of "
            "`songgen train-singer`, or none."
        )
    manifest = Path(args.manifest)
    load_prompts(manifest, args.num_prompts, args.max_duration)  # attributes and audio files, before the model
    output, report = output_and_report(args.output, args.report, "evaluation.json", "evaluation.md")
    if args.probe_manifest:
        probe_manifest = Path(args.probe_manifest)
        if not probe_manifest.is_file():
            raise ValueError(f"--probe-manifest {probe_manifest} does not exist.")
    else:
        probe_manifest = manifest.parent / "train.jsonl"
        if not probe_manifest.is_file():
            raise ValueError(
                f"There is no train.jsonl next to {manifest} to fit the attribute probes on; pass --probe-manifest."
            )
    model = _model_folder(args.model)
    return EvaluationSettings(
        manifest=manifest,
        output_dir=output,
        model=model,
        report=report,
        probe_manifest=probe_manifest,
        probe_clips=args.probe_clips,
        num_prompts=args.num_prompts,
        batch_size=args.batch_size,
        max_duration=args.max_duration,
        sampling=_sampling_options(args, model),
        save_audio=args.save_audio,
        device=args.device,
        quantize=args.quantize,
        command=canonical_command(args),
        systems=check_generated_systems(args.systems),
        reference_cache=_reference_cache(args),
    )


def _reference_cache(args: argparse.Namespace) -> Path | None:
    if args.no_reference_cache:
        if args.reference_cache:
            raise ValueError("--reference-cache and --no-reference-cache contradict each other; pass one.")
        return None
    if args.reference_cache:
        folder = Path(args.reference_cache)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--reference-cache {folder} is a file; pass a folder (it is created if missing).")
        return folder
    from songgen_hf.evaluation.reference_cache import default_reference_cache

    return default_reference_cache()


def _sampling_options(args: argparse.Namespace, model: Path):
    """The sampling options, the ResGen-only and SongGen-only ones refused for the other kind (from the files)."""
    from songgen_hf.commands.cli import parse_codebook_temperatures
    from songgen_hf.evaluation.systems import SamplingOptions
    from songgen_hf.pipelines.loading import is_resgen_folder_cheap

    codebook_temperatures = parse_codebook_temperatures("--codebook-temperatures", args.codebook_temperatures)

    if is_resgen_folder_cheap(model):
        if args.top_k is not None:
            raise ValueError("--top-k is SongGen's token sampling; a ResGen model samples a mixture: use --top-p.")
        if args.control_guidance_scale is not None:
            raise ValueError(
                "--control-guidance-scale is SongGen's third guidance branch; a ResGen model has none: drop it."
            )
        if args.silence_instrumental_vocals is not None:
            raise ValueError(
                "--[no-]silence-instrumental-vocals holds a SongGen dual-track model's vocal track; a ResGen "
                "model has none: drop it."
            )
        if args.codebook_temperatures is not None:
            raise ValueError(
                "--codebook-temperatures tempers SongGen's token rows; a ResGen model samples a mixture: drop it."
            )
        if _singer_named(args):
            raise ValueError(
                "--singer re-sings a dual-track SongGen model's vocal track; a ResGen model has none: drop it."
            )
    elif args.steps is not None:
        raise ValueError("--steps is for ResGen models (parallel decoding passes); SongGen decodes frame by frame.")
    else:  # refused from the model's config (no controls, no vocal track), before the long run
        from songgen_hf.pipelines.loading import check_model_files_and_arguments

        given = {
            "control_guidance_scale": args.control_guidance_scale or None,
            "silence_instrumental_vocals": args.silence_instrumental_vocals,
            "codebook_temperatures": codebook_temperatures,
        }
        flags = {
            "control_guidance_scale": "--control-guidance-scale",
            "silence_instrumental_vocals": "--silence-instrumental-vocals",
            "codebook_temperatures": "--codebook-temperatures",
        }
        if any(value is not None for value in given.values()):
            check_model_files_and_arguments(model, given, flags)
    return SamplingOptions(
        seed=args.seed,
        guidance_scale=args.guidance_scale,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_inference_steps=args.steps,
        control_guidance_scale=args.control_guidance_scale,
        silence_instrumental_vocals=args.silence_instrumental_vocals,
        codebook_temperatures=codebook_temperatures,
        singer=_evaluated_singer(args, model),
    )


def _singer_named(args: argparse.Namespace) -> bool:
    """Whether ``--singer`` names a folder (not left out, not ``none``)."""
    return args.singer is not None and str(args.singer).strip().lower() != "none"


def _evaluated_singer(args: argparse.Namespace, model: Path) -> str | None:
    """The singer folder the evaluation sings with: ``--singer``'s, None for ``none``, else the model folder's own
    ``singer/`` where the model has a vocal track to re-sing (what `songgen generate` and the pipeline do)."""
    if args.singer is not None:
        return str(args.singer) if _singer_named(args) else None
    from songgen_hf.pipelines.loading import auto_singer_folder

    folder = auto_singer_folder(model)
    return None if folder is None else str(folder)


# options of the manifest form only (they generate songs or fit probes), with the value they have when not given
_GENERATING_OPTIONS = {
    "model": None,
    "report": None,
    "probe_manifest": None,
    "probe_clips": DEFAULTS["probe_clips"],
    "num_prompts": DEFAULTS["num_prompts"],
    "batch_size": DEFAULTS["batch_size"],
    "max_duration": DEFAULTS["max_duration"],
    "guidance_scale": DEFAULTS["guidance_scale"],
    "control_guidance_scale": None,
    "silence_instrumental_vocals": None,
    "codebook_temperatures": None,
    "singer": None,
    "seed": DEFAULTS["seed"],
    "temperature": None,
    "top_k": None,
    "top_p": None,
    "steps": None,
    "save_audio": False,
    "device": None,
    "quantize": None,
    "systems": list(GENERATED_SYSTEMS),
    "reference_cache": None,
    "no_reference_cache": False,
}


def check_songs_arguments(args: argparse.Namespace) -> tuple[Path, Path]:
    """``(songs folder, output folder)`` of ``songgen evaluate SONGS_DIR``; options that generate songs are
    refused (the folder's songs are scored as they are), and so is an output inside the songs folder."""
    from songgen_hf.commands.cli import check_path_given, output_and_report

    check_path_given("--output", args.output)
    given = [name for name, unset in _GENERATING_OPTIONS.items() if getattr(args, name) != unset]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise ValueError(
            f"{flag} is for generating from a corpus manifest; {args.manifest} is a folder of songs, which are "
            f"scored as they are: drop {flag}."
        )
    songs, (output, _) = Path(args.manifest), output_and_report(args.output, None, "evaluation.json", "evaluation.md")
    if output.resolve() == songs.resolve() or songs.resolve() in output.resolve().parents:
        raise ValueError(
            f"--output {output} is inside the songs folder {songs}, where a file of its own would stop songgen "
            "generate-many from resuming or replacing it; give a folder outside it."
        )
    return songs, output


def run_evaluate_songs(args: argparse.Namespace) -> int:
    """``songgen evaluate SONGS_DIR --output OUT``: score a generate-many folder's songs, print the summary."""
    from songgen_hf.evaluation.runner import RESULT_FILE
    from songgen_hf.evaluation.songs import evaluate_songs, format_table

    songs, output = check_songs_arguments(args)
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"evaluate: {message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    command = shlex.join(["songgen", "evaluate", str(songs), "--output", str(output)])
    result = evaluate_songs(songs, output, command=command, progress=None if args.no_progress else progress)
    print(format_table(result), end="")
    print(f"wrote {output / RESULT_FILE} ({result['num_songs']} songs, {time.perf_counter() - started:.0f} s)")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from songgen_hf.evaluation.runner import RESULT_FILE, run_evaluation

    if str(args.manifest).strip() and Path(args.manifest).is_dir():  # a generate-many folder: scored as it is
        return run_evaluate_songs(args)
    settings = settings_from_args(args)
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"evaluate: {message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    result = run_evaluation(settings, progress=None if args.no_progress else progress)
    shown = settings.systems[0]  # guided unless it was not run
    scores = result["aggregate"][shown]
    summary = ", ".join(
        f"{name} {scores[name]['mean']:.2f}"
        for name in ("tempo_acc2", "key_mirex", "drums_agree")
        if scores.get(name, {}).get("mean") is not None
    )
    print(
        f"wrote {settings.output_dir / RESULT_FILE} and {settings.report} "
        f"({result['settings']['num_prompts_evaluated']} prompts, {time.perf_counter() - started:.0f} s); "
        f"{shown}: {summary or 'no defined scores'}"
    )
    return 0


def add_compare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--candidate",
        nargs="+",
        required=True,
        metavar="EVALUATION",
        help="evaluation.json files (or their folders) of the model to judge; several are pooled "
        "(other prompts are added, the same prompts with other seeds averaged per prompt)",
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        required=True,
        metavar="EVALUATION",
        help="evaluation.json files (or folders) of the model to judge it against, on the same prompts",
    )
    parser.add_argument("--system", default="guided", help="which system's scores to compare (default: guided)")
    parser.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        metavar="NAME",
        help=f"a per-prompt score to compare (repeatable; default: {', '.join(name for name, _ in DEFAULT_METRICS)})",
    )
    parser.add_argument("--output", help="also write the comparison as JSON here")
    parser.set_defaults(handler=run_compare)
    return parser


def run_compare(args: argparse.Namespace) -> int:
    import json

    from songgen_hf.commands.cli import check_path_given
    from songgen_hf.evaluation.compare import compare, markdown_table
    from songgen_hf.utils.atomic import write_text_atomic

    for flag, values in (("--candidate", args.candidate), ("--baseline", args.baseline), ("--output", [args.output])):
        for value in values:
            check_path_given(flag, value)
    inputs = [Path(path).resolve() for path in args.candidate + args.baseline]
    if args.output and any(Path(args.output).resolve() in (path, path / "evaluation.json") for path in inputs):
        raise ValueError(
            f"--output {args.output} is one of the evaluations being compared; write the comparison to a new file."
        )
    labels = dict(DEFAULT_METRICS)
    metrics = DEFAULT_METRICS if not args.metrics else tuple((name, labels.get(name, name)) for name in args.metrics)
    result = compare(
        [Path(path) for path in args.candidate],
        [Path(path) for path in args.baseline],
        system=args.system,
        metrics=metrics,
    )
    unknown = [name for name, stats in result["metrics"].items() if stats["n"] == 0]
    if args.metrics and unknown:
        raise ValueError(
            f"--metric {unknown[0]!r} has no scores on both sides; per-prompt scores are the keys of a "
            "row's systems in evaluation.json (e.g. tempo_acc1, key_exact, voice_agree)."
        )
    if args.output:
        write_text_atomic(Path(args.output), json.dumps(result, indent=2) + "\n")
    print(markdown_table(result), end="")
    return 0


# each command -> its options (songgen_hf.commands.cli lists them)
COMMANDS = {"evaluate": add_evaluate_arguments, "compare": add_compare_arguments}


__all__ = [
    "add_compare_arguments",
    "add_evaluate_arguments",
    "canonical_command",
    "check_songs_arguments",
    "run_compare",
    "run_evaluate",
    "run_evaluate_songs",
    "settings_from_args",
]
