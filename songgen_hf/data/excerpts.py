"""``songgen data excerpts``: a compact codec-training set cut from a corpus, to a size budget.

Why it exists: a codec trains on short random crops (1 s here), so it needs many clips but little of
each.  A GPU that is lent for minutes often takes only a small upload (64 MiB on this project's, a few
hundred MB on a notebook or a Space), far less than a corpus of WAV files.  One window per record,
written as 16-bit FLAC (lossless, about half a WAV's size), fits hundreds of clips in tens of MB.

Every audio field of a record (mix, vocal stem, accompaniment stem) is cut at the same window, so a mix
stays the sum of its stems.  The window's start is drawn from ``(seed, record number)`` alone: the same
command writes the same files, and a second set made with ``--skip`` (the first set's next record)
holds other clips, never a second window of the same ones.  Records are taken in manifest order until
the next one would exceed ``--max-mb``; the summary names the record to ``--skip`` to for the next set.

The manifest it writes lists only audio (``id``, ``source_id``, ``source_line``, ``start_sample``,
``start_s``, ``duration``, ``sampling_rate`` and the audio fields): captions and lyrics describe whole songs, not a
window, so a SongGen model must not be trained on it.  ``songgen codec train --set
train_data=OUT/excerpts.jsonl`` reads it like any manifest.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songgen_hf.commands.cli import holds

DEFAULT_FIELDS = ("audio_path", "vocal_path", "accompaniment_path")
MANIFEST_NAME = "excerpts.jsonl"
MAX_EXCERPT_SECONDS = 60.0


@dataclass(frozen=True)
class ExcerptOptions:
    manifest: Path
    output: Path
    seconds: float = 1.6
    max_mb: float = 60.0
    fields: tuple[str, ...] = DEFAULT_FIELDS
    sampling_rate: int = 16_000
    skip: int = 0
    seed: int = 0
    overwrite: bool = False


@dataclass(frozen=True)
class ExcerptSummary:
    records: int
    files: int
    bytes: int
    next_skip: int  # the first record not taken: --skip for a second, disjoint set
    exhausted: bool  # every record after --skip was taken (the budget was not the limit)


def options_from_args(args: argparse.Namespace) -> ExcerptOptions:
    """Every option checked before any audio is read."""
    from songgen_hf.commands.cli import check_count, check_number, check_output_spares_inputs, check_path_given

    check_path_given("MANIFEST", args.manifest)
    check_path_given("--output", args.output)
    check_number("--seconds", args.seconds, above=0.0, maximum=MAX_EXCERPT_SECONDS, example=1.6)
    check_number("--max-mb", args.max_mb, above=0.0, maximum=1_000_000.0, example=60)
    check_count("--sampling-rate", args.sampling_rate, minimum=8_000, maximum=192_000)
    check_count("--skip", args.skip, minimum=0)
    check_count("--seed", args.seed, minimum=0, maximum=2**63 - 1)
    fields = tuple(dict.fromkeys(args.fields))
    if not fields or any(not field.strip() for field in fields):
        raise ValueError("--fields needs at least one audio field name, e.g. --fields audio_path vocal_path.")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; pass a folder to create.")
    check_output_spares_inputs("--output", output, {"MANIFEST": args.manifest})
    from songgen_hf.utils.atomic import check_replaceable, check_writable

    check_replaceable(output, args.overwrite, "--output")  # an earlier set of excerpts, never a folder of the user's
    check_writable(output, "--output")  # --max-mb is a cap, not what the set will need: only the probe
    return ExcerptOptions(
        manifest=Path(args.manifest),
        output=output,
        seconds=float(args.seconds),
        max_mb=float(args.max_mb),
        fields=fields,
        sampling_rate=int(args.sampling_rate),
        skip=int(args.skip),
        seed=int(args.seed),
        overwrite=bool(args.overwrite),
    )


def window_start(seed: int, record_number: int, free_samples: int) -> int:
    """The window's first sample, from ``(seed, record_number)`` alone (0 when the clip is no longer than it)."""
    if free_samples <= 0:
        return 0
    return int(np.random.default_rng([seed, record_number]).integers(0, free_samples + 1))


def _safe_name(text: str) -> str:
    name = "".join(char if char.isalnum() or char in "-_." else "_" for char in text).strip("._")
    return name or "record"


def _audio_paths(row: dict, fields: tuple[str, ...], root: Path, output: Path, where: str) -> dict[str, Path]:
    paths = {}
    for field in fields:
        value = row.get(field)
        if not value:
            continue
        path = Path(value) if Path(value).is_absolute() else root / value
        if holds(output, path):
            raise ValueError(
                f"{where}: {field} {path} lies inside --output {output}, which the set replaces; pass "
                "a folder that holds none of the corpus's audio."
            )
        if not path.is_file():
            raise ValueError(
                f"{where}: {field} {path} does not exist; fix the manifest or leave the field out with --fields."
            )
        paths[field] = path
    return paths


def _audio_info(path: Path):
    """The file's header (rate and length; nothing is decoded), read once per file."""
    import soundfile as sf

    try:
        return sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        raise ValueError(f"Could not read audio file {path}: {error}. Convert it to WAV or FLAC.") from error


def read_window(path: Path, native: int, start: int, length: int, rate: int) -> np.ndarray:
    """``length`` mono samples at ``rate`` from sample ``start`` on of a file stored at ``native`` Hz, decoding
    only that stretch of the file: a record of any length costs the memory of its window, not of the song."""
    import soundfile as sf

    from songgen_hf.data.audio import resample, resampling_ratio

    ratio = resampling_ratio(native, rate)
    first = start * ratio.denominator // ratio.numerator
    count = -(-length * native // rate) + 1  # one spare sample against rounding
    data, _ = sf.read(str(path), start=first, frames=count, dtype="float32", always_2d=True)
    audio = resample(data.T.mean(axis=0), native, rate)[:length]
    if audio.shape[0] < length:
        audio = np.pad(audio, (0, length - audio.shape[0]))
    if not np.isfinite(audio).all():
        raise ValueError(f"Audio file {path} contains NaN or Inf samples in the window at {start / rate:.2f} s.")
    return audio.astype(np.float32)


def write_excerpts(options: ExcerptOptions, progress=None) -> ExcerptSummary:
    """Cut the windows and write ``options.output`` atomically (a crash leaves no half-written set)."""
    from songgen_hf.data.audio import resampling_ratio, write_audio
    from songgen_hf.data.manifest import read_manifest_rows
    from songgen_hf.utils.atomic import atomic_directory, check_replaceable, write_text_atomic

    rows = read_manifest_rows(options.manifest)
    if options.skip >= len(rows):
        raise ValueError(
            f"--skip {options.skip}: {options.manifest} has {len(rows)} records; pass --skip below {len(rows)}."
        )
    if not any(row.get(field) for row in rows for field in options.fields):
        raise ValueError(
            f"No record of {options.manifest} has any of the fields {list(options.fields)}; name the "
            "manifest's audio fields with --fields."
        )
    budget = int(options.max_mb * 1_000_000)
    window = max(1, round(options.seconds * options.sampling_rate))
    root = options.manifest.parent
    taken, total_bytes, total_files, next_skip, lines = 0, 0, 0, options.skip, []
    check_replaceable(options.output, options.overwrite, "--output")
    with atomic_directory(options.output, mark="data excerpts") as staging:
        (staging / "audio").mkdir()
        for number in range(options.skip, len(rows)):
            row = rows[number]
            where = f"{options.manifest} line {row['_line']}"
            paths = _audio_paths(row, options.fields, root, options.output, where)
            if not paths:  # a record without any of the fields (an instrumental's vocal_path) is passed over
                next_skip = number + 1
                continue
            infos = {field: _audio_info(path) for field, path in paths.items()}
            length = min(info.frames * options.sampling_rate // info.samplerate for info in infos.values())
            if length <= 0:  # an empty file has nothing to cut
                next_skip = number + 1
                continue
            # a window that starts where the resampler's grid meets every file's samples (every 160 samples at
            # 16 kHz for a 44.1 kHz file) is resampled exactly as the whole song would be
            step = math.lcm(
                *(resampling_ratio(info.samplerate, options.sampling_rate).numerator for info in infos.values())
            )
            start = window_start(options.seed, number, length - window) // step * step
            stop = min(length, start + window)
            audio = {
                field: read_window(path, infos[field].samplerate, start, stop - start, options.sampling_rate)
                for field, path in paths.items()
            }
            source_id = str(row.get("id", f"line{row['_line']}"))
            stem = f"{_safe_name(source_id)}_{number}"
            written, record = (
                [],
                {
                    "id": f"{source_id}@{start / options.sampling_rate:.3f}",
                    "source_id": source_id,
                    "source_line": row["_line"],
                    "start_sample": start,
                    "start_s": start / options.sampling_rate,
                    "duration": (stop - start) / options.sampling_rate,
                    "sampling_rate": options.sampling_rate,
                },
            )
            for field, samples in audio.items():
                relative = f"audio/{stem}_{field.removesuffix('_path')}.flac"
                written.append(write_audio(staging / relative, samples, options.sampling_rate))
                record[field] = relative
            line = json.dumps(record)
            size = sum(path.stat().st_size for path in written) + len(line.encode()) + 1  # the manifest line counts too
            if total_bytes + size > budget:
                for path in written:
                    path.unlink()
                break
            total_bytes, total_files, taken, next_skip = (
                total_bytes + size,
                total_files + len(written),
                taken + 1,
                number + 1,
            )
            lines.append(line)
            if progress is not None and taken % 50 == 0:
                progress(f"{taken} records, {total_bytes / 1e6:.1f} MB")
        if not taken:
            raise ValueError(
                f"Not one record fits --max-mb {options.max_mb:g} (the first needs more); raise "
                "--max-mb or shorten --seconds."
            )
        write_text_atomic(staging / MANIFEST_NAME, "\n".join(lines) + "\n")
    return ExcerptSummary(
        records=taken, files=total_files, bytes=total_bytes, next_skip=next_skip, exhausted=next_skip >= len(rows)
    )


__all__ = [
    "ExcerptOptions",
    "ExcerptSummary",
    "options_from_args",
    "window_start",
    "write_excerpts",
]
