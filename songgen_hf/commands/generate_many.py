"""``songgen generate-many PROMPTS --output DIR``: every song of a prompt file, checked whole first, batched,
spread over the processes ``accelerate launch`` starts, resumable (see :mod:`songgen_hf.commands.song_folder`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from songgen_hf.commands.cli import QUANTIZE_CHOICES
from songgen_hf.commands.song_folder import AUDIO_FORMATS
from songgen_hf.pipelines.loading import DEFAULT_MODEL_NAME


def _generate_many(args: argparse.Namespace) -> int:
    """The command on each launched process: every process checks the same file and options alike, and only the
    main one says what is wrong."""
    from songgen_hf.commands.cli import USER_ERRORS
    from songgen_hf.utils.threads import thread_request

    state = _launch_state()
    try:
        with thread_request(args.threads, "--threads"):  # checked; the pipeline applies it as each generation starts
            return _generate_many_on(args, state)
    except USER_ERRORS:
        if state is not None and not state.is_main_process:
            return 2
        raise


def _generate_many_on(args: argparse.Namespace, state) -> int:
    from songgen_hf.commands.cli import check_output_spares_inputs, check_path_given
    from songgen_hf.commands.generate import _model_source
    from songgen_hf.modeling.limits import check_count, check_number, check_seed
    from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S

    check_path_given("--output", args.output)
    check_path_given("PROMPTS", args.prompts)
    check_count("--seeds", args.seeds, maximum=10_000, why="(songs per row)")
    check_seed(args.seed, "--seed")
    if args.duration is not None:  # checked whatever the rows carry, and blamed on the flag
        check_number("--duration", args.duration, above=0, maximum=MAX_SONG_S, example="30")
    from songgen_hf.commands import song_folder as many

    many.check_batch_size(args.batch_size)
    output = Path(args.output).expanduser()
    folder = _model_source(args.model)  # checked with the files by prepare_pipeline, below
    check_output_spares_inputs("--output", output, {"PROMPTS": args.prompts, "--model": str(folder)})
    from songgen_hf.pipelines.loading import is_resgen_folder_cheap

    if is_resgen_folder_cheap(folder):
        raise ValueError(f"--model {folder} is a ResGen folder; generate-many runs SongGen models.")
    generation = {
        "guidance_scale": args.guidance_scale,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
    }
    generation = {key: value for key, value in generation.items() if value is not None}
    device = args.device if state is None or state.num_processes == 1 else str(state.device)
    from songgen_hf.pipelines.text_to_song import prepare_pipeline

    # the folder, its files, the device, the precision and the options shared by every song (a bad --temperature is
    # not a bad row), checked once as `songgen generate` checks them, and the model's processor read (no weights)
    loading = {"device": device} if device is not None else {}
    if args.quantize is not None:
        loading["quantize"] = args.quantize
    names = {**many.GENERATION_FLAGS, "model": "--model", "device": "--device", "quantize": "--quantize"}
    arguments = prepare_pipeline(str(folder), generation=generation, names=names, **loading)
    # every row checked (config, processor) by every process alike, before any weights load
    plan = many.check_prompts(
        args.prompts,
        folder,
        arguments["processor"],
        generation,
        seeds=args.seeds,
        default_seed=args.seed,
        default_duration=args.duration,
        split=args.split,
        report=_checking_report(state, args.quiet),
    )
    for song in plan.songs:
        song.audio_format = args.format
    main = state is None or state.is_main_process
    batch_size, why = _batch_size(args.batch_size, device)
    batches = many.plan_batches(plan.songs, batch_size)
    digest = many.settings_digest(plan, batch_size, many.model_identity(folder), args.quantize, args.format)
    # 16-bit audio, counted as stereo: the room the songs still to make need, checked before any weights load
    bytes_per_second = int(getattr(_config(folder), "sampling_rate", 48_000)) * 2 * 2

    lock, outcome, settled = None, None, False
    if main:  # the lock and the folder: the main process's alone
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            lock = many.take_lock(output)
            opened, pending, kept = many.open_output(output, digest, args.overwrite, batches, bytes_per_second)
            waiting = {id(batch) for batch in pending}
            # which batches, by their place: every process planned the same batches from the same file
            outcome = opened, [index for index, batch in enumerate(batches) if id(batch) in waiting], kept
        except (ValueError, OSError) as error:  # said by the main process once every process knows
            if lock is not None:
                many.release_lock(lock)
            outcome = error
    outcome = _share(state, outcome)
    if isinstance(outcome, Exception):
        if main:
            raise outcome
        return 2  # the main process says why
    opened, places, kept = outcome  # how the folder was found, the batches with a song still to make, files kept
    pending = [batches[index] for index in places]
    try:
        todo = sum(len(batch) for batch in pending)
        if main:
            processes = 1 if state is None else state.num_processes
            print(
                f"{len(plan.songs)} songs from {len(set(song.row for song in plan.songs))} rows "
                f"({opened}: {len(plan.songs) - todo} done, {todo} to make), batch size {batch_size} ({why}), "
                f"{processes} process{'es' if processes > 1 else ''}"
            )
            if kept:
                print(
                    f"kept {len(kept)} song file(s) that are not what generate-many made there (changed since, or "
                    f"never made by it), as they are: {', '.join(kept[:3])}{', ...' if len(kept) > 3 else ''}; "
                    "move them out and rerun to make them again (--overwrite refuses a folder holding them)"
                )
        mine = pending
        if state is not None and state.num_processes > 1:
            with state.split_between_processes(pending) as share:
                mine = list(share)
        progress = many.Progress(output, len(plan.songs), len(plan.songs) - todo, enabled=main and not args.quiet)
        if mine:
            _run(mine, plan, arguments, output, digest, args.quantize, progress)
        if state is not None:
            state.wait_for_everyone()
        if not main:
            return 0
        progress.update(final=True)  # every process's songs
        count = many.write_metadata(output, plan.songs)
        many.settle_marker(output, written=(many.METADATA_FILE,))
        settled = True
    finally:
        if main and lock is not None:
            try:
                if not settled:  # a stopped run stays an earlier result that --overwrite may replace
                    many.settle_marker(output)
            except (OSError, ValueError):
                pass
            many.release_lock(lock)
    print(f"wrote {count} songs and {output / many.METADATA_FILE} to {output}")
    if args.push_to_hub:
        push_to_hub(output, args.push_to_hub, private=args.private)
    return 0


def _checking_report(state, quiet: bool):
    """A line now and then while a long prompt file is checked (the main process's), so a big file never looks
    hung."""
    if quiet or (state is not None and not state.is_main_process):
        return None
    import sys

    def report(done: int, total: int) -> None:
        print(f"checked {done}/{total} rows", file=sys.stderr, flush=True)

    return report


def _run(batches, plan, arguments: dict, output: Path, digest: str, quantize, progress) -> None:
    """The songs of ``batches``, made by the pipeline :func:`prepare_pipeline` prepared (``arguments``), with the
    rows' adapters."""
    from transformers import pipeline

    from songgen_hf.commands import song_folder as many

    styles = {}
    if plan.adapters:
        from songgen_hf.pipelines.adapters import check_adapter_precision

        check_adapter_precision(quantize, plan.adapters)
        styles["adapters"] = plan.adapters
    try:
        pipe = pipeline(**arguments, **styles)
    except OSError as error:
        raise ValueError(f"Could not load a SongGen model from {plan.folder}: {error}") from error
    pipe.set_progress_bar_config(disable=True)  # one line for the run, not a bar per call
    for batch in batches:
        many.generate_batch(pipe, batch, plan, output, digest)
        progress.update()


def _batch_size(given: int | None, device) -> tuple[int, str]:
    from songgen_hf.commands import song_folder as many

    if given is not None:
        return given, "--batch-size"
    import torch

    on_cpu = (device is None and not torch.accelerator.is_available()) or str(device).startswith("cpu")
    if on_cpu:
        return 1, "the CPU's default: each song then depends only on its row and seed; --batch-size N batches"
    return many.ACCELERATOR_BATCH_SIZE, "songs of one length and seed together; --batch-size N to change"


def _config(folder: Path):
    from songgen_hf.pipelines.adapter_folders import resolve_adapter_base
    from songgen_hf.pipelines.loading import is_adapter_folder, songgen_config

    config = songgen_config(resolve_adapter_base(folder) if is_adapter_folder(folder) else folder)
    return config


def _launch_state():
    """accelerate's ``PartialState`` when launched as one of several processes, else ``None``."""
    from songgen_hf.utils.launch import launched_processes, use_cpu_processes

    if launched_processes() <= 1:
        return None
    from accelerate import PartialState

    return PartialState(cpu=use_cpu_processes())


def _share(state, value):
    """The main process's ``value``, on every process."""
    if state is None or state.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def push_to_hub(output: Path, repo: str, private: bool = False) -> str:
    """Upload the songs and ``metadata.jsonl`` as a dataset repository (its hidden run files stay here)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(output),
        repo_id=repo,
        repo_type="dataset",
        ignore_patterns=[".*", ".*/**", "**/.*"],
        commit_message=f"songgen generate-many: {output.name}",
    )
    url = f"https://huggingface.co/datasets/{repo}"
    print(f"pushed {output} to {url}")
    return url


# ---------------------------------------------------------------------- the command's options
def add_generate_many_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "prompts",
        metavar="PROMPTS",
        help="a .jsonl or .csv file, or a dataset folder saved with save_to_disk, one song per row: description "
        "(required), lyrics, duration (seconds), seed, reference_voice (audio path), voice_start, tempo_bpm, key, "
        "adapter (a LoRA adapter folder of the model)",
    )
    parser.add_argument("--output", required=True, help="the folder for the songs and metadata.jsonl")
    parser.add_argument(
        "--format", choices=AUDIO_FORMATS, default="wav", help="the songs' audio files: wav or flac (default wav)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="songs per row: seeds SEED, SEED+1, ... (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of rows without one (default 0)")
    parser.add_argument(
        "--duration", type=float, help="the length in seconds of rows without one (default: the model's)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="songs per generate() call, among songs of one length and seed (default: 1 on a CPU, "
        "8 on an accelerator); batched songs draw their random numbers together",
    )
    parser.add_argument("--guidance-scale", type=float, help="classifier-free guidance, 1 (off) to 100")
    parser.add_argument("--temperature", type=float, help="sampling temperature, > 0 (default: the model's)")
    parser.add_argument("--top-k", type=int, help="sample among the K likeliest tokens (default: the model's)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling, in (0, 1] (default: the model's)")
    parser.add_argument("--model", help=f"SongGen folder or embedded model's name (default: {DEFAULT_MODEL_NAME})")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="decoder precision, as songgen generate's")
    parser.add_argument("--device", help="cpu, cuda... (one process; launched processes each take their own)")
    parser.add_argument("--split", default="train", help="the split of a saved DatasetDict (default: train)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the songs of an earlier generate-many in --output (only a folder this command wrote)",
    )
    parser.add_argument("--push-to-hub", metavar="REPO", help="then upload the songs as a Hub dataset REPO")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: a private dataset")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads per process (default: SONGGEN_NUM_THREADS or OMP_NUM_THREADS if set, else the cores "
        "other programs are not keeping busy)",
    )
    parser.set_defaults(handler=_generate_many)


COMMANDS = {"generate-many": add_generate_many_arguments}
