"""The stage runner of ``songgen data prepare``: resumable, stage by stage, with a summary.

Stages run one after the other over all songs (one model in memory at a time).  After a song's
stage the runner writes ``work/SONG/STAGE.json`` (atomically, after the stage's audio, which is
written atomically too) with a fingerprint of everything the stage's output depends on: the source
file (path, size, modification time), the settings of this stage and of the ones before it.  A
re-run skips every song-stage whose marker matches, so an interrupted run (Ctrl-C, a kill, a full
disk) continues where it stopped and changing, say, ``--max-edit-distance`` reruns only the lyrics
and description stages.  A dropped song's marker records why; it is not retried until its input or
settings change.  ``manifest.jsonl`` (every kept clip), ``hq.jsonl`` (the HQ subset) and
``summary.json`` are written at the end, atomically.

Launched as several processes (``accelerate launch --num_processes N -m songgen_hf.cli data prepare ...``), each
process takes every N-th song (in the songs' order) through every stage, on its own device (``--device cuda``: the
process's GPU); the markers are per song, so the processes never touch each other's work, and a rerun with another
process count resumes from them.  The main process then reads every song's markers, runs any stage a process left
undone, and writes the manifests once, as a single process would.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from songgen_hf.data.prepare.decode import Song, find_songs
from songgen_hf.data.prepare.options import PrepareOptions
from songgen_hf.data.prepare.stages import (
    AUDIO_DIR,
    WORD_TIMING,
    Context,
    Dropped,
    run_decode,
    run_describe,
    run_lyrics,
    run_separate,
    run_slice,
)
from songgen_hf.utils.atomic import write_text_atomic
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)
STAGES = ("decode", "separate", "slice", "lyrics", "describe")
MANIFEST, HQ_MANIFEST, SUMMARY = "manifest.jsonl", "hq.jsonl", "summary.json"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_stat(path: Path | None) -> list | None:
    if path is None:
        return None
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def stage_inputs(song: Song, options: PrepareOptions, ctx: Context) -> dict[str, dict]:
    """What each stage's output depends on, beyond the stage before it."""
    o = options
    separator = getattr(ctx.separator, "name", None) or o.separation_model
    recognisers = (
        [getattr(r, "name", repr(r)) for r in ctx.recognisers] if ctx.recognisers else [o.asr_model, o.second_asr_model]
    )
    clap = getattr(ctx.clap, "name", None) or o.clap_model
    return {
        "decode": {"source": _file_stat(song.path), "lufs": o.target_lufs, "min": o.slicing.min_seconds},
        "separate": {"model": separator},
        "slice": {"slicing": vars(o.slicing), "min_energy": o.min_vocal_energy},
        "lyrics": {"file": _file_stat(song.lyrics_path), "asr": recognisers, "max_ed": o.max_edit_distance},
        "describe": {
            "tags": song.tags,
            "clap": clap,
            "min_clap": o.min_clap_score,
            "hq": o.hq_vocal_energy,
            "language": o.language,
            "timing": WORD_TIMING,
        },
    }


def _read_marker(path: Path, fingerprint: str) -> dict | None:
    try:
        marker = read_json(path)
    except (OSError, ValueError):
        return None
    return marker if marker.get("fingerprint") == fingerprint else None


def _remove_clip_audio(ctx: Context, song: Song) -> None:
    """Clips of an earlier slicing of this song (other settings) must not linger beside the new ones."""
    for path in (ctx.output / AUDIO_DIR).glob(f"{song.id}-[0-9][0-9][0-9]_*.wav"):
        path.unlink(missing_ok=True)


PROGRESS_LINES_PER_STAGE = 20  # a log reads at most about this many lines per stage, however many songs


def _stage_lines(items, stage: str, file=None):
    """``items``, printing ``decode: song 3/12`` as each song starts (at most about
    :data:`PROGRESS_LINES_PER_STAGE` lines per stage, the last song's always): progress for a log."""
    items = list(items)
    every = max(1, math.ceil(len(items) / PROGRESS_LINES_PER_STAGE))
    for index, item in enumerate(items, 1):
        if index % every == 0 or index in (1, len(items)):
            print(f"{stage}: song {index}/{len(items)}", file=file or sys.stderr, flush=True)
        yield item


class PrepareRunner:
    """``SONGS`` folder -> ``CORPUS`` folder with a training manifest; models may be given (tests, benchmarks)."""

    def __init__(
        self,
        songs: str | Path,
        output: str | Path,
        options: PrepareOptions | None = None,
        progress: bool | str = True,
        separator=None,
        recognisers=None,
        clap=None,
        state=None,
    ):
        self.songs_dir = Path(songs).expanduser()
        # the launch this run is one process of (accelerate's PartialState); None: the run is the only process
        self.state = state if state is not None else _launch_state()
        if self.state is not None and self.state.num_processes > 1 and options is not None:
            if options.device == "cuda":  # each process on its own GPU
                options = dataclasses.replace(options, device=str(self.state.device))
        self.output = Path(output).expanduser()
        self.options = options or PrepareOptions()
        self.progress = progress
        self.ctx = Context(
            self.output,
            self.options,
            separator=separator,
            recognisers=recognisers,
            clap=clap,
            clap_checked=clap is not None,
        )
        self.stage_seconds: dict[str, float] = {stage: 0.0 for stage in STAGES}
        self.stage_runs: Counter = Counter()

    def _bar(self, items, stage: str):
        if not self.progress or (self.state is not None and not self.state.is_main_process):
            return items  # one bar per run: the main process's
        if self.progress == "lines" or (self.progress is True and not sys.stderr.isatty()):
            return _stage_lines(items, stage)
        from tqdm.auto import tqdm

        return tqdm(items, desc=f"{stage:>8}", unit="song")

    def run(self) -> dict[str, Any]:
        from songgen_hf.data.prepare.plan import preflight

        songs = find_songs(self.songs_dir)
        from songgen_hf.commands.cli import holds

        if holds(self.songs_dir, self.output):
            raise ValueError(
                f"--output {self.output} lies inside SONGS {self.songs_dir}: its clips would be read as "
                "songs on the next run. Pick a folder outside SONGS."
            )
        preflight(self.options, self.ctx)
        self.output.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rank, world = (0, 1) if self.state is None else (self.state.process_index, self.state.num_processes)
        if world > 1:  # this process's share: every world-th song, through every stage
            self._songs(songs[rank::world])
            self.state.wait_for_everyone()
            self._gather_counts()
            if rank:
                return {}
        # every song's stages: those done (by this process or another) read from their markers
        results, dropped = self._songs(songs)
        return self._finish(songs, results, dropped, time.perf_counter() - start)

    def _songs(self, songs) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, str]]]:
        """Every stage of ``songs``: what each gave, and the songs dropped with why."""
        results: dict[str, dict[str, Any]] = {song.id: {} for song in songs}
        dropped: dict[str, tuple[str, str]] = {}
        for stage in STAGES:
            for song in self._bar(songs, stage):
                if song.id in dropped:
                    continue
                try:
                    results[song.id][stage] = self._stage(stage, song, results[song.id])
                except Dropped as why:
                    dropped[song.id] = (why.reason, why.detail)
                except OSError as error:
                    if error.errno == errno.ENOSPC:
                        raise ValueError(
                            f"The disk is full while writing under {self.output} (stage {stage}, song "
                            f"{song.path}). Free some space and run the same command again: finished "
                            "stages are kept and nothing half-written remains."
                        ) from error
                    raise
        return results, dropped

    def _gather_counts(self) -> None:
        """The stages' time and runs of every process, summed into this one's (the summary counts all work)."""
        from accelerate.utils import gather_object

        counts = gather_object([(dict(self.stage_seconds), dict(self.stage_runs))])
        self.stage_seconds = {stage: sum(seconds.get(stage, 0.0) for seconds, _ in counts) for stage in STAGES}
        self.stage_runs = Counter()
        for _, runs in counts:
            self.stage_runs.update(runs)

    def _stage(self, stage: str, song: Song, done: dict[str, Any]) -> Any:
        inputs = stage_inputs(song, self.options, self.ctx)
        chain = [inputs[name] for name in STAGES[: STAGES.index(stage) + 1]]
        fingerprint = _digest(chain)
        marker_path = self.ctx.work(song) / f"{stage}.json"
        marker = _read_marker(marker_path, fingerprint)
        if marker is None:
            began = time.perf_counter()
            self.ctx.work(song).mkdir(parents=True, exist_ok=True)
            try:
                if stage == "slice":
                    _remove_clip_audio(self.ctx, song)
                data = self._call(stage, song, done)
                marker = {"fingerprint": fingerprint, "status": "ok", "data": data}
            except Dropped as why:
                marker = {"fingerprint": fingerprint, "status": "dropped", "reason": why.reason, "detail": why.detail}
            write_text_atomic(marker_path, json.dumps(marker, ensure_ascii=False))
            self.stage_seconds[stage] += time.perf_counter() - began
            self.stage_runs[stage] += 1
        if marker["status"] == "dropped":
            raise Dropped(marker["reason"], marker["detail"])
        return marker["data"]

    def _call(self, stage: str, song: Song, done: dict[str, Any]) -> Any:
        if stage == "decode":
            return run_decode(song, self.ctx)
        if stage == "separate":
            return run_separate(song, self.ctx, done["decode"])
        if stage == "slice":
            return run_slice(song, self.ctx, done["decode"], done["separate"])
        if stage == "lyrics":
            return run_lyrics(song, self.ctx, done["slice"])
        return run_describe(song, self.ctx, done["slice"], done["lyrics"])

    def _finish(self, songs, results, dropped, seconds: float) -> dict[str, Any]:
        records = [r for song in songs if song.id not in dropped for r in results[song.id]["describe"]["records"]]
        clip_drops: Counter = Counter()
        mismatched = []
        for song in songs:
            for stage in ("slice", "lyrics", "describe"):
                clip_drops.update(results[song.id].get(stage, {}).get("dropped_clips", {}))
            if results[song.id].get("lyrics", {}).get("lyrics_mismatch"):
                mismatched.append(str(song.lyrics_path))
        kept_songs = {r["attributes"]["song"] for r in records}
        summary = {
            "songs": len(songs),
            "songs_with_clips": len(kept_songs),
            "songs_dropped": dict(Counter(reason for reason, _ in dropped.values())),
            "song_problems": {
                song.id: f"{dropped[song.id][0]}: {dropped[song.id][1]}" for song in songs if song.id in dropped
            },
            "lyrics_files_not_matching": mismatched,
            "clips": len(records),
            "clips_dropped": {reason: count for reason, count in clip_drops.items() if count},
            "hq_clips": sum(r["attributes"]["hq"] for r in records),
            "hours_in": round(sum(results[s.id].get("decode", {}).get("duration", 0.0) for s in songs) / 3600, 4),
            "hours_kept": round(sum(r["duration"] for r in records) / 3600, 4),
            "clap": getattr(self.ctx.clap, "name", None) or self.options.clap_model,
            "notes": self.ctx.notes,
            "stage_seconds": {stage: round(value, 3) for stage, value in self.stage_seconds.items()},
            "stage_runs": dict(self.stage_runs),
            "seconds": round(seconds, 3),
            "manifest": str(self.output / MANIFEST),
        }
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        write_text_atomic(self.output / MANIFEST, lines)
        write_text_atomic(
            self.output / HQ_MANIFEST,
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records if r["attributes"]["hq"]),
        )
        write_text_atomic(self.output / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False))
        return summary


def _launch_state():
    """accelerate's ``PartialState`` when this run was launched as one of several processes, else ``None`` (a
    single run needs no process group)."""
    from songgen_hf.utils.launch import launched_processes, use_cpu_processes

    if launched_processes() <= 1:
        return None
    from accelerate import PartialState

    return PartialState(cpu=use_cpu_processes())


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['songs']} songs -> {summary['clips']} clips ({summary['hq_clips']} HQ) from "
        f"{summary['songs_with_clips']} songs; {summary['hours_kept'] * 60:.1f} of {summary['hours_in'] * 60:.1f} "
        f"minutes kept"
    ]
    if summary["songs_dropped"]:
        lines.append("songs left out: " + ", ".join(f"{reason}: {n}" for reason, n in summary["songs_dropped"].items()))
        lines += [f"  {song}: {why}" for song, why in list(summary["song_problems"].items())[:10]]
    if summary["clips_dropped"]:
        lines.append("clips left out: " + ", ".join(f"{reason}: {n}" for reason, n in summary["clips_dropped"].items()))
    for path in summary["lyrics_files_not_matching"]:
        lines.append(f"lyrics file not matching its song (speech recognition used instead): {path}")
    lines.append("CLAP filter: " + (summary["clap"] or "off (no CLAP model available)"))
    lines.append(f"wrote {summary['manifest']}")
    return "\n".join(lines)


def prepare_songs(songs, output, options: PrepareOptions | None = None, **kwargs) -> dict[str, Any]:
    """Run the whole pipeline; returns the summary (also saved as ``CORPUS/summary.json``)."""
    return PrepareRunner(songs, output, options, **kwargs).run()


__all__ = ["STAGES", "PrepareRunner", "format_summary", "prepare_songs"]
