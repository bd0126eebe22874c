"""``songgen edit`` and ``songgen extend``: a stretch of a song re-made, or the song continued, every other sample
kept exactly (``songgen_hf.pipelines.editing``).  Every input is checked before the model loads."""

from __future__ import annotations

import argparse
from pathlib import Path

from songgen_hf.commands.cli import QUANTIZE_CHOICES
from songgen_hf.commands.generate import MAX_RECORD_BYTES, record_path


class RecordError(ValueError):
    """A song's record that cannot be used as asked (not a record, no such section)."""


def read_record(song_path: str | Path) -> dict | None:
    """The record beside the song at ``song_path`` (``None`` when it has none), read by the package's safe reader;
    ``RecordError`` for one that is not a record."""
    from songgen_hf.utils.safe_files import read_json_object

    path = record_path(song_path)
    if not path.exists():
        return None
    record = read_json_object(path, "the song's record", max_bytes=MAX_RECORD_BYTES)
    sections = record.get("sections", [])
    fits = isinstance(sections, list) and all(
        isinstance(item, dict)
        and all(isinstance(item.get(key), (int, float)) for key in ("start_s", "end_s"))
        and isinstance(item.get("lines", []), list)
        for item in sections
    )
    if not fits or not isinstance(record.get("description", ""), str) or not isinstance(record.get("lyrics", ""), str):
        raise RecordError(f"{path} is not a song's record (songgen writes them); move it away or fix it.")
    return record


def find_section(record: dict | None, name: str, song_path: str | Path = "SONG") -> dict:
    """The section of the song's record that ``name`` names: ``"chorus 2"`` the second chorus, ``"chorus"`` the
    first, or a tag's label as written (``"Verse 1"``); ``RecordError`` saying which sections there are otherwise."""
    sections = (record or {}).get("sections") or []
    if not sections:
        why = "has no record beside it" if record is None else "was made in one window, without a plan of sections"
        raise RecordError(f"{song_path} {why}; give the span's times with --start and --end instead of --section.")
    wanted = " ".join(str(name).lower().split())
    kind, _, count = wanted.rpartition(" ")
    if not count.isdigit():
        kind, count = wanted, "1"
    for section in sections:  # a label as written wins ("Verse 1")
        if str(section.get("label", "")).split(":", 1)[0].strip().lower() == wanted:
            return section
    matches = [section for section in sections if str(section.get("section") or "").lower() == kind]
    if 1 <= int(count) <= len(matches):
        return matches[int(count) - 1]
    names = []
    seen: dict[str, int] = {}
    for section in sections:
        label = str(section.get("section") or section.get("label") or "lyrics")
        seen[label] = seen.get(label, 0) + 1
        names.append(f"{label} {seen[label]} ({section['start_s']:g}-{section['end_s']:g} s)")
    raise RecordError(f"{song_path} has no section {name!r}; its sections are: {', '.join(names)}.")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (a link or another spelling included); a missing one is no file."""
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve() if a.exists() and b.exists() else False


class _Edit:
    """What an edit command was asked, checked: the song, its stems and record, the span, the words."""

    def __init__(self, args: argparse.Namespace, extend: bool):
        from songgen_hf.commands.cli import check_path_given
        from songgen_hf.commands.generate import _check_output, _model_source, songgen_config, stem_paths
        from songgen_hf.pipelines.editing import EditError, output_subtype, plan_edit, plan_extension, read_song
        from songgen_hf.pipelines.loading import is_resgen_folder_cheap

        check_path_given("SONG", args.song)
        check_path_given("--output", args.output)
        song_path, output = Path(args.song), Path(args.output)
        # what the edit reads is never what it writes: the song, its stems and its record against the output's
        reads = [song_path, *stem_paths(song_path).values(), record_path(song_path)]
        writes = [output, *stem_paths(output).values(), record_path(output)]
        for written in writes:
            for read in reads:
                if _same_file(written, read):
                    what = "the song itself" if read == song_path else f"the song's {read.name}"
                    raise EditError(
                        f"--output {output} would write over {what}; the song and what travels with it are never "
                        "written to: give another path."
                    )
        if output.exists() and not output.is_dir() and not args.overwrite:
            raise EditError(f"--output {output} exists; pass --overwrite to replace it, or give another path.")
        folder = _model_source(args.model)
        if is_resgen_folder_cheap(folder):
            raise EditError(f"--model {folder} is a ResGen pipeline; editing a song needs a SongGen model.")
        config = songgen_config(folder)
        song = read_song(song_path, int(config.sampling_rate), "SONG")
        self.subtype = output_subtype(song, output)
        _check_output(output, song.samples.nbytes * 3)
        tracks = config.decoder.token_pattern().track_names
        self.stems = None
        beside = stem_paths(song_path)
        if len(tracks) > 1 and all(path.is_file() for path in beside.values()):
            self.stems = {name: read_song(path, song.sampling_rate, f"stem {name}") for name, path in beside.items()}
            for name, stem in self.stems.items():
                if stem.num_samples != song.num_samples:
                    raise EditError(
                        f"{beside[name]} holds {stem.num_samples} samples, the song {song.num_samples}: they were not "
                        "written together; move the stems away to edit the mix alone."
                    )
        record = read_record(song_path)
        lyrics = args.lyrics
        if getattr(args, "lyrics_file", None) is not None:
            from songgen_hf.utils.safe_files import read_text

            lyrics = read_text(args.lyrics_file, "--lyrics-file")
        names = {"start_s": "--start", "end_s": "--end", "context_s": "--context", "crossfade_s": "--crossfade"}
        options = {"context_s": args.context, "crossfade_s": args.crossfade}
        self.section = None
        if extend:
            self.replan = lambda bar: plan_extension(
                config, song.num_samples, args.duration, names={**names, "end_s": "--duration"}, bar_s=bar, **options
            )
        else:
            if args.section is not None:
                if args.start is not None or args.end is not None:
                    raise EditError("Give either --section or --start and --end, not both.")
                self.section = find_section(record, args.section, song_path)
                start, end = float(self.section["start_s"]), min(float(self.section["end_s"]), song.duration_s)
                if lyrics is None:  # the section re-made with its own words unless new ones are given
                    lyrics = "\n".join(self.section.get("lines") or [])
            elif args.start is None or args.end is None:
                raise EditError("Give the span to re-make: --start and --end (seconds), or --section NAME.")
            else:
                start, end = args.start, args.end
            self.replan = lambda bar: plan_edit(config, song.num_samples, start, end, names=names, bar_s=bar, **options)
        plan = self.replan(None)
        description = args.description
        if description is None or not description.strip():
            description = (record or {}).get("description") or ""
        if not description.strip():
            raise EditError(
                f"--description is needed: {song_path} has no record to read the song's description from "
                "(genre, mood, instruments, voice)."
            )
        self.song, self.song_path, self.output, self.folder = song, song_path, output, folder
        self.plan, self.record, self.description, self.lyrics = plan, record, description, lyrics or ""
        self.config = config


def _edit_command(args: argparse.Namespace, extend: bool) -> int:
    import sys
    import time

    from transformers import pipeline

    from songgen_hf.commands.generate import _style_tempo, stem_paths, write_record
    from songgen_hf.pipelines.editing import (
        DEFAULT_CANDIDATES,
        bar_seconds,
        check_candidates,
        check_edit_words,
        remake,
        resing,
        write_song,
    )
    from songgen_hf.pipelines.text_to_song import prepare_pipeline
    from songgen_hf.utils.atomic import write_or_rescue

    asked = _Edit(args, extend)  # every check that needs no weights
    vocals_only = bool(getattr(args, "vocals_only", False))
    if vocals_only:
        if asked.stems is None:
            raise ValueError(
                f"--vocals-only re-sings the vocal track over the song's own accompaniment: it needs the song's "
                f"stems beside it ({asked.song_path.stem}_vocals / _accompaniment, as songgen generate --stems "
                "writes them) and a dual-track model."
            )
        if not asked.lyrics.strip():
            raise ValueError("--vocals-only re-sings the span with new words: give --lyrics.")
        if args.candidates is not None:
            raise ValueError("--candidates does not apply to --vocals-only: the singer fills the span in one pass.")
    if args.candidates is not None and extend:
        raise ValueError("--candidates is for songgen edit: an extension has nothing after it to score against.")
    candidates = 1 if extend or args.candidates is None else check_candidates(args.candidates, "--candidates")
    candidates = candidates if extend or args.candidates is not None else DEFAULT_CANDIDATES
    generation = {
        "guidance_scale": args.guidance_scale,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "duration_s": asked.plan.duration_s,
    }
    generation = {key: value for key, value in generation.items() if value is not None}
    names = {key: "--" + key.replace("_", "-") for key in generation}
    names.update({"model": "--model", "seed": "--seed", "device": "--device", "quantize": "--quantize"})
    loading = {"device": args.device, "quantize": args.quantize}
    loading = {key: value for key, value in loading.items() if value is not None}
    if args.singer is not None:
        loading["singer"] = None if args.singer.strip().lower() == "none" else args.singer
    seed = 0 if args.seed is None else args.seed
    arguments = prepare_pipeline(str(asked.folder), generation=generation, names=names, seed=seed, **loading)
    singing = loading.get("singer", "auto") is not None and (
        "singer" in loading or (Path(asked.folder) / "singer" / "config.json").is_file()
    )
    if vocals_only and not singing:
        raise ValueError(f"--vocals-only needs a told singer: {asked.folder} has none (or --singer none was given).")
    if singing and "vocals" in asked.config.decoder.token_pattern().track_names:
        # the told singer sings whole bars: the window starts whole bars before the span, which must hold one
        # at the tempo the song was made at: an adapter folder's recorded one when the description names none
        tempo = _style_tempo(Path(asked.folder), {})
        bar = bar_seconds(arguments["processor"], asked.description, asked.lyrics, style_tempo_bpm=tempo)
        asked.plan = asked.replan(bar)
        check_edit_words(asked.plan, asked.lyrics)
    what = (
        f"re-singing {asked.plan.start_s:.2f}-{asked.plan.end_s:.2f} s of {asked.song_path} over its accompaniment"
        if vocals_only
        else f"continuing {asked.song_path} ({asked.song.duration_s:.2f} s) for "
        f"{asked.plan.end_s - asked.plan.start_s:.2f} s"
        if extend
        else f"re-making {asked.plan.start_s:.2f}-{asked.plan.end_s:.2f} s of {asked.song_path} "
        f"({candidates} candidate{'s' if candidates != 1 else ''})"
    )
    print(f"{what}, from its last {asked.plan.context_frames / asked.plan.frame_rate:.2f} s before the span")
    try:
        pipe = pipeline(**arguments)
    except OSError as error:
        raise ValueError(f"Could not load a SongGen model from {asked.folder}: {error}") from error
    pipe.set_progress_bar_config(lines=args.no_progress or not sys.stderr.isatty())
    generation.pop("duration_s")
    started = time.perf_counter()
    if vocals_only:
        result = resing(pipe, asked.song, asked.plan, asked.description, asked.lyrics, stems=asked.stems, seed=seed)
    else:
        result = remake(
            pipe,
            asked.song,
            asked.plan,
            asked.description,
            asked.lyrics,
            stems=asked.stems,
            seed=seed,
            candidates=candidates,
            generation=generation,
        )
    elapsed = time.perf_counter() - started
    for note in result["notes"]:
        print(f"note: {note}")
    rate = result["sampling_rate"]
    record = dict(asked.record or _new_record(asked))
    record["edits"] = [
        *(record.get("edits") or []),
        {
            "kind": "extend" if extend else "edit",
            "start_s": round(asked.plan.start_s, 4),
            "end_s": round(asked.plan.end_s, 4),
            "description": asked.description,
            "lyrics": asked.lyrics,
            "seed": seed,
            **({"section": args.section} if not extend and args.section else {}),
            **({"vocals_only": True} if vocals_only else {}),
        },
    ]
    if extend:
        record["duration_s"] = round(result["audio"].shape[-1] / rate, 4)

    def write(path: Path) -> None:
        write_song(path, result["audio"], rate, asked.subtype)
        for name, stem_path in stem_paths(path).items() if asked.stems else ():
            write_song(stem_path, result[name], rate, asked.stems[name].subtype or asked.subtype)
        write_record(path, record)

    write_or_rescue(asked.output, write, "song")
    seconds = result["audio"].shape[-1] / rate
    if extend:
        print(
            f"wrote {asked.output}: {seconds:.2f} s at {rate} Hz, the song's {asked.song.duration_s:.2f} s as they "
            "were "
            f"and {seconds - asked.song.duration_s:.2f} s more, made in {elapsed:.1f} s"
        )
    else:
        score = result["scores"][result["chosen"]]
        if vocals_only:
            print(
                f"wrote {asked.output}: {asked.plan.start_s:.2f}-{asked.plan.end_s:.2f} s re-sung over the song's own "
                f"accompaniment, every other sample the song's; made in {elapsed:.1f} s"
            )
            return 0
        print(
            f"wrote {asked.output}: {asked.plan.start_s:.2f}-{asked.plan.end_s:.2f} s re-made (candidate "
            f"{result['chosen'] + 1} of {candidates}, continuation score {score:.2f} dB), every other sample the "
            f"song's; made in {elapsed:.1f} s"
        )
    return 0


def _new_record(asked: _Edit) -> dict:
    """A record for a song that came without one: what this edit knows of it."""
    return {
        "description": asked.description,
        "lyrics": "",
        "duration_s": round(asked.song.duration_s, 4),
        "seed": None,
        "sections": [],
        "edits": [],
    }


def _with_threads(extend: bool):
    def run(args: argparse.Namespace) -> int:
        from songgen_hf.utils.threads import thread_request

        with thread_request(args.threads, "--threads"):
            return _edit_command(args, extend)

    return run


# ---------------------------------------------------------------------- the commands' options
def _add_shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "song", metavar="SONG", help="the song (.wav or .flac at the model's sampling rate); never written to"
    )
    parser.add_argument(
        "--description",
        help="how the new stretch sounds (default: the description in SONG's record, SONG.songgen.json)",
    )
    lyrics = parser.add_mutually_exclusive_group()
    lyrics.add_argument("--lyrics", help="the new stretch's words (lines separated by newlines; default: none)")
    lyrics.add_argument("--lyrics-file", help="a UTF-8 text file with the new words")
    parser.add_argument("--seed", type=int, help="make the edit reproducible (default 0)")
    parser.add_argument(
        "--context",
        type=float,
        metavar="SECONDS",
        help="the seconds of the song before the span it continues from (default: the model's, 0.4 of its window)",
    )
    parser.add_argument(
        "--crossfade",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="the equal-power crossfade at each edge, inside the span (default 0.05)",
    )
    parser.add_argument("--guidance-scale", type=float, help="classifier-free guidance, 1 (off) to 100")
    parser.add_argument("--temperature", type=float, help="sampling temperature, > 0 (default: the model's)")
    parser.add_argument("--top-k", type=int, help="sample among the K likeliest tokens (default: the model's)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling, in (0, 1] (default: the model's)")
    parser.add_argument(
        "--singer", metavar="FOLDER|none", help="dual-track models: the told singer (default: the model's, if any)"
    )
    parser.add_argument("--output", required=True, help=".wav or .flac, written in SONG's own sample format")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--model", help="SongGen folder, Hub id or embedded model's name (default: songgen-tiny)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1... (default: first GPU if any)")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="decoder precision (as songgen generate)")
    parser.add_argument("--threads", type=int, help="CPU threads (as songgen generate)")
    parser.add_argument("--no-progress", action="store_true", help="one line per stage instead of a progress bar")


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    _add_shared(parser)
    parser.add_argument("--start", type=float, help="where the span starts, seconds into SONG")
    parser.add_argument("--end", type=float, help="where the span ends, seconds into SONG")
    parser.add_argument(
        "--section",
        help='the span by its section in SONG\'s record ("chorus 2"), for a song songgen wrote in sections; '
        "without --lyrics it is re-made with its own words",
    )
    parser.add_argument(
        "--candidates",
        type=int,
        help="stretches drawn; the one that best continues into the song after the span is kept (default 4, "
        "at most 16)",
    )
    parser.add_argument(
        "--vocals-only",
        action="store_true",
        help="dual-track models with a told singer: re-sing the span's vocal track with --lyrics over the song's "
        "own accompaniment (needs SONG's stems beside it, as songgen generate --stems writes them)",
    )
    parser.set_defaults(handler=_with_threads(False))


def add_extend_arguments(parser: argparse.ArgumentParser) -> None:
    _add_shared(parser)
    parser.add_argument("--duration", type=float, required=True, help="the seconds to add after the song's end")
    parser.set_defaults(handler=_with_threads(True), candidates=None)


# the commands -> their options (songgen_hf.commands.cli lists them)
COMMANDS = {"edit": add_edit_arguments, "extend": add_extend_arguments}
