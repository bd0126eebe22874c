"""``songgen generate-many``: every song of a prompt file, resumable, over one or several processes.

The prompt file (JSONL, CSV, or a ``datasets`` dataset saved with ``save_to_disk``) is read and checked whole
before any weights load: every bad row is listed at once, so a typo on row 3 000 costs no generation.  The songs
are then made in batches fixed by the file and the options alone (rows of one length and one seed, in the file's
order), so the same command makes the same songs in one process or several, and after any interruption.

The output folder holds the songs (``000001-seed0.wav``: row, then seed), a ``metadata.jsonl`` that
``datasets.load_dataset("audiofolder", data_dir=DIR)`` reads, and a hidden ``.songgen-many/`` folder with the
run's settings and one record per finished song; a song's record is written after its audio, so a song without
its record is made again and a rerun of the same command skips the rest.  A lock file beside the folder
(``.DIR.songgen-many.lock``) keeps a second run out while one writes there.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songgen_hf.modeling.limits import MAX_BATCH_SIZE, MAX_SEED, check_count, check_seed, is_int, is_number
from songgen_hf.utils.safe_files import (
    MAX_CONFIG_BYTES,
    MAX_STATE_BYTES,
    FileReadError,
    iter_lines,
    loads_json,
    read_bytes,
    read_json,
)

COLUMNS = ("description", "lyrics", "duration", "seed", "reference_voice", "voice_start", "tempo_bpm", "key", "adapter")
NUMBER_COLUMNS = ("duration", "voice_start", "tempo_bpm")
TEXT_COLUMNS = ("description", "lyrics", "reference_voice", "key", "adapter")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name: a Hub dataset, when no such path exists here
STATE_DIR = ".songgen-many"  # hidden: audiofolder and `datasets` skip it
RECORDS_DIR = f"{STATE_DIR}/records"
RUN_FILE = f"{STATE_DIR}/run.json"
METADATA_FILE = "metadata.jsonl"
STYLE_COLUMNS = ("style", "adapter_weight", "adapter_gate")  # what made each song (song_style), in its metadata
MARKER_KIND = "generate-many"
AUDIO_FORMATS = ("wav", "flac")  # what soundfile writes losslessly and audiofolder reads
# songs per generate() call where an accelerator runs them (on a CPU a batch gains little, and one song per call
# makes every song depend on its row and seed alone)
ACCELERATOR_BATCH_SIZE = 8
DEFAULT_SECONDS = 30.0  # what a song of the model's default length is counted as, in the room a run needs
PROGRESS_SECONDS = 5.0  # the main process's progress line, at most this often (and at the end)
# A prompt file is read whole into checked rows before any weights load, so its size is bounded: 100 000 songs is
# days of generation on one GPU, and a file that long is best split into runs anyway.  A row holds at most a
# 2 000-character description and 10 000 characters of lyrics (six bytes each when JSON escapes them).
MAX_PROMPT_ROWS = 100_000
MAX_PROMPT_LINE_BYTES = 256 * 2**10
MAX_PROMPT_FILE_BYTES = 512 * 2**20
MAX_ROW_JSON_DEPTH = 4  # a row is one flat object; a value is text or a number


# ----------------------------------------------------------------------------------------------- the rows
@dataclass
class Row:
    number: int  # 1-based, as in the file: a JSONL line, a CSV data row (its header not counted), a dataset row
    fields: dict[str, Any]


@dataclass
class Song:
    """One (row, seed) to make, checked and prepared."""

    row: int
    seed: int
    fields: dict[str, Any]  # the row's values, as they go to the metadata
    duration: float | None  # None: the model's default length
    adapter: str | None  # the adapter folder, or None for the base
    request: Any = field(default=None, repr=False)  # the prepared SongRequest
    understood: Any = None
    audio_format: str = "wav"

    @property
    def name(self) -> str:
        return f"{self.row:06d}-seed{self.seed}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.audio_format}"


def _where(kind: str, number: int) -> str:
    return f"line {number}" if kind == "jsonl" else f"row {number}"


def read_rows(prompts: str | Path, split: str = "train") -> tuple[str, list[Row], list[str]]:
    """``(kind, rows, problems)`` of a prompt file: JSONL (one object per line, blank lines skipped), CSV (a
    header of column names) or a saved ``datasets`` dataset (a ``save_to_disk`` folder; a Hub id from the
    datasets cache).  ``problems`` are the rows (or header) that cannot be read, by number.  A file is streamed
    through the package's safe reader: a regular file of at most :data:`MAX_PROMPT_FILE_BYTES`, lines of at most
    :data:`MAX_PROMPT_LINE_BYTES`, at most :data:`MAX_PROMPT_ROWS` rows."""
    path = Path(prompts)
    if path.is_dir():
        return "dataset", *_dataset_rows(_load_saved(path, split))
    if not path.exists():
        if HUB_ID.fullmatch(str(prompts)) and path.suffix.lower() not in (".jsonl", ".csv"):
            return "dataset", *_dataset_rows(_load_cached(str(prompts), split))
        raise ValueError(f"PROMPTS {prompts} does not exist; give a .jsonl or .csv file, or a saved dataset folder.")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ValueError(
            f"PROMPTS {path}: unsupported file type {path.suffix!r}; use a .jsonl file (one JSON object per "
            "line), a .csv file with a header row, or a dataset folder saved with save_to_disk."
        )
    lines = iter_lines(
        path, "PROMPTS", max_line_bytes=MAX_PROMPT_LINE_BYTES, max_bytes=MAX_PROMPT_FILE_BYTES, keep_ends=True
    )
    return ("jsonl", *_jsonl_rows(lines)) if suffix == ".jsonl" else ("csv", *_csv_rows(lines))


def _too_many_rows(count: int) -> ValueError:
    return ValueError(
        f"PROMPTS has more than {MAX_PROMPT_ROWS:,} rows ({count:,} read so far); split it into files of at most "
        f"{MAX_PROMPT_ROWS:,} rows and run generate-many on each (each into its own --output)."
    )


def _jsonl_rows(lines) -> tuple[list[Row], list[str]]:
    rows, problems = [], []
    for number, line in lines:
        if not line.strip():
            continue
        if len(rows) + len(problems) >= MAX_PROMPT_ROWS:
            raise _too_many_rows(len(rows) + len(problems) + 1)
        try:
            value = loads_json(line, f"line {number}", max_depth=MAX_ROW_JSON_DEPTH)
        except FileReadError as error:
            problems.append(f"{str(error).rstrip('.')}; write one flat JSON object per line")
            continue
        if not isinstance(value, dict):
            problems.append(f'line {number}: a {type(value).__name__}, not a JSON object; write {{"description": ...}}')
            continue
        unknown = sorted(set(value) - set(COLUMNS))
        if unknown:
            problems.append(f"line {number}: unknown field(s) {unknown}; the fields are {', '.join(COLUMNS)}")
            continue
        rows.append(Row(number, {name: item for name, item in value.items() if item is not None}))  # null: not given
    return rows, problems


def _csv_rows(lines) -> tuple[list[Row], list[str]]:
    # strict: a quote never closed is "unexpected end of data" where the file ends, not the rest of the file
    # swallowed into one cell
    reader = csv.DictReader((line for _, line in lines), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        raise ValueError(f"PROMPTS: the header cannot be read as CSV ({error}); write one line of column names.")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:  # one problem for the whole file: every row has these columns
        return [], [f"the header: unknown column(s) {unknown}; the columns are {', '.join(COLUMNS)}"]
    if "description" not in header and header:
        return [], ["the header: no description column; every row needs a description"]
    rows, problems = [], []
    number, ended = 0, reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ValueError(_csv_problem(error, number + 1, ended + 1, reader.line_num)) from None
        number, ended = number + 1, reader.line_num
        if number > MAX_PROMPT_ROWS:
            raise _too_many_rows(number)
        if None in record:  # more cells than the header names
            problems.append(f"row {number}: more cells than the header's {len(header)} columns; quote commas")
            continue
        # a CSV cell is text: an empty one is no value, a number column's text is read as a number
        values = {}
        for name, cell in record.items():
            if cell is None or not cell.strip():
                continue
            values[name] = _csv_number(cell) if name in (*NUMBER_COLUMNS, "seed") else cell
        rows.append(Row(number, values))
    return rows, problems


def _csv_problem(error: csv.Error, row: int, first_line: int, last_line: int) -> str:
    """One line for a CSV that cannot be read on: where the row starts, and the likely fix."""
    text = str(error)
    if "field larger than field limit" in text:
        why = (
            f"a cell longer than {csv.field_size_limit():,} characters (lines {first_line}-{last_line}); no "
            "description or lyrics is so long: look for a quote that is never closed"
        )
    elif "unexpected end of data" in text:
        why = (
            f'a quote (") opened on line {first_line} is never closed, so the rest of the file would be one cell; '
            'close it, or write a quote inside a quoted cell as ""'
        )
    else:
        why = f"not CSV on line {last_line} ({text}); quote cells holding commas, quotes or line breaks"
    return f"PROMPTS: row {row}: {why}. Nothing was generated."


def _csv_number(cell: str):
    text = cell.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return cell  # refused by the column's check, with the column's name


def _load_saved(path: Path, split: str):
    from datasets import DatasetDict, load_from_disk

    try:
        dataset = load_from_disk(str(path))
    except IndexError:  # datasets cannot open a saved dataset of no shards: one with no rows
        if _saved_shards(path) == 0:
            return []
        raise
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(
            f"PROMPTS {path} is a folder but not a dataset saved with save_to_disk ({error}); give such a folder, "
            "a .jsonl or a .csv file."
        ) from None
    return _one_split(dataset, split, str(path)) if isinstance(dataset, DatasetDict) else dataset


def _saved_shards(path: Path) -> int | None:
    try:
        return len(read_json(path / "state.json", max_bytes=MAX_STATE_BYTES)["_data_files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _load_cached(name: str, split: str):
    import datasets

    if not datasets.config.HF_HUB_OFFLINE:  # never a download mid-check: the cache or nothing
        raise ValueError(
            f"PROMPTS {name} is no file or folder here; a Hub dataset is read from the datasets cache only: run "
            "with HF_HUB_OFFLINE=1 once it is cached, or save it with save_to_disk and give the folder."
        )
    from datasets import load_dataset

    try:
        return load_dataset(name, split=split)
    except Exception as error:  # noqa: BLE001 - the datasets library raises many kinds for "not available"
        raise ValueError(
            f"PROMPTS {name} is no file or folder here, and the datasets cache has no dataset of that name "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); save it with "
            "save_to_disk and give the folder, or give a .jsonl or .csv file."
        ) from None


def _one_split(dataset, split: str, where: str):
    if split not in dataset:
        raise ValueError(f"PROMPTS {where} has no split {split!r}; it has {', '.join(dataset)} (--split NAME).")
    return dataset[split]


def _dataset_rows(dataset) -> tuple[list[Row], list[str]]:
    if isinstance(dataset, list):  # a saved dataset of no rows
        return [], []
    unknown = [name for name in dataset.column_names if name not in COLUMNS]
    if unknown:
        return [], [f"the dataset: unknown column(s) {unknown}; the columns are {', '.join(COLUMNS)}"]
    rows = []
    for number, record in enumerate(dataset, 1):
        rows.append(Row(number, {name: value for name, value in record.items() if value is not None}))
    return rows, []


def _row_problems(row: Row, base: Path | None) -> tuple[list[str], dict]:
    """The problems of one row's values (types and ranges the file alone can tell), and its values with a
    relative reference voice or adapter folder resolved against ``base`` (the prompt file's folder; ``None`` for a
    dataset: the current folder)."""
    values, problems = dict(row.fields), []
    for name in TEXT_COLUMNS:
        if name in values and not isinstance(values[name], str):
            problems.append(f"{name} must be text, got {values[name]!r}")
            values.pop(name)
    if not str(values.get("description", "")).strip():
        problems.append("no description; describe the song (genre, mood, instruments, voice)")
    for name in NUMBER_COLUMNS:
        value = values.get(name)
        if value is not None and not (
            is_number(value, finite=True) and value >= 0 and (name != "duration" or value > 0)
        ):
            problems.append(f"{name} must be a number {'> 0' if name == 'duration' else '>= 0'}, got {value!r}")
            values.pop(name)
    if "seed" in values:
        try:
            check_seed(values["seed"], "seed")
        except ValueError as error:
            problems.append(str(error).rstrip("."))
            values.pop("seed")
    voice = values.get("reference_voice")
    if voice is not None:
        voice_path = _beside(voice, base)
        if not voice_path.is_file():
            problems.append(
                f"reference_voice {voice} does not exist (relative paths start at the prompt file's folder)"
            )
        values["reference_voice"] = str(voice_path)
    elif values.get("voice_start") is not None:
        problems.append("voice_start needs a reference_voice")
    adapter = values.get("adapter")
    if adapter is not None:
        adapter_path = _beside(adapter, base)
        if not adapter_path.is_dir():
            problems.append(f"adapter {adapter} is not a folder (a songgen finetune-lora .../final folder)")
        values["adapter"] = str(adapter_path)
    return problems, values


def _beside(value: str, base: Path | None) -> Path:
    """A row's path: a relative one starts at the prompt file's folder (``base``)."""
    path = Path(value).expanduser()
    return base / path if not path.is_absolute() and base is not None else path


# ------------------------------------------------------------------------------------------------ the check
@dataclass
class Plan:
    """The checked run: every song, the generation options and the model folder, before any weights load."""

    songs: list[Song]
    folder: Path
    processor: Any
    generation: dict[str, Any]  # guidance_scale, temperature, top_k, top_p (those given)
    adapters: dict[str, str]  # adapter name -> folder


GENERATION_FLAGS = {
    "duration_s": "duration",
    "guidance_scale": "--guidance-scale",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
}


def check_prompts(
    prompts: str | Path,
    folder: Path,
    processor: Any,
    generation: dict[str, Any],
    *,
    seeds: int = 1,
    default_seed: int = 0,
    default_duration: float | None = None,
    split: str = "train",
    report=None,
) -> Plan:
    """Read and check every row of ``prompts`` against the model in ``folder`` (its config files and its
    ``processor``, no weights; the folder and the options shared by every song are :func:`prepare_pipeline`'s to
    check, before): one ``ValueError`` lists every bad row with its fix, or the checked :class:`Plan`.
    ``report(done, total)``, when given, is called every few seconds while the rows are prepared."""
    from songgen_hf.pipelines.loading import check_arguments_on_files

    kind, rows, problems = read_rows(prompts, split)
    if not rows and not problems:
        what = "no rows" if kind == "dataset" else "no prompts"
        raise ValueError(
            f"PROMPTS {prompts} has {what}; give one song per row, each with at least a description "
            '(JSONL: {"description": "an upbeat pop song", "lyrics": "[verse]\\n..."}).'
        )
    base = Path(prompts).parent if kind != "dataset" else None
    checked: list[tuple[Row, dict]] = []
    for row in rows:
        row_problems, values = _row_problems(row, base)
        seed = values.get("seed", default_seed)
        if seed is not None and is_int(seed) and seed + seeds - 1 > MAX_SEED:
            row_problems.append(f"seed {seed} with --seeds {seeds} passes 2**64 - 1; use a smaller seed")
        if row_problems:
            problems.append(f"{_where(kind, row.number)}: " + "; ".join(row_problems))
        else:
            checked.append((row, values))

    # each length once against the model's config (the longest song, its window); each adapter folder once
    durations = {values.get("duration", default_duration) for _, values in checked}
    bad_lengths = {}
    for duration in sorted(d for d in durations if d is not None):
        try:
            check_arguments_on_files(folder, {**generation, "duration_s": duration}, GENERATION_FLAGS)
        except ValueError as error:
            bad_lengths[duration] = str(error).rstrip(".")
    adapters, bad_adapters = _check_adapters(
        folder, {values["adapter"] for _, values in checked if "adapter" in values}
    )

    from songgen_hf.pipelines.requests import prepare_song

    songs: list[Song] = []
    last_report = time.perf_counter()
    for done, (row, values) in enumerate(checked):
        if report is not None and time.perf_counter() - last_report >= PROGRESS_SECONDS:
            report(done, len(checked))
            last_report = time.perf_counter()
        duration = values.get("duration", default_duration)
        reasons = []
        if duration in bad_lengths:
            reasons.append(bad_lengths[duration])
        if values.get("adapter") in bad_adapters:
            reasons.append(bad_adapters[values["adapter"]])
        prepared = None
        if not reasons:
            song = {
                key: values[key]
                for key in ("description", "lyrics", "reference_voice", "tempo_bpm", "key")
                if key in values
            }
            if "voice_start" in values:
                song["voice_start"] = values["voice_start"]
            plan = {"duration_s": duration} if duration is not None else {}
            try:
                prepared = prepare_song(processor, song, **plan)
            except ValueError as error:
                reasons.append(str(error).rstrip("."))
        if reasons:
            problems.append(f"{_where(kind, row.number)}: " + "; ".join(reasons))
            continue
        seed = values.get("seed", default_seed)
        fields = {name: values.get(name) for name in COLUMNS if name not in ("seed", "duration")}
        for offset in range(seeds):
            songs.append(
                Song(
                    row=row.number,
                    seed=seed + offset,
                    fields=fields,
                    duration=duration,
                    adapter=values.get("adapter"),
                    request=prepared,
                    understood=prepared.understood,
                )
            )
    if problems:
        problems.sort(key=_problem_order)  # in the file's order, whichever check found them
        count = len(problems)
        raise ValueError(
            f"PROMPTS {prompts}: {count} bad row{'s' if count > 1 else ''}, nothing was generated; fix "
            f"{'them' if count > 1 else 'it'} and run again:\n  " + "\n  ".join(problems)
        )
    names = {folder_: name for name, folder_ in adapters.items()}
    for song in songs:
        song.adapter = names.get(song.adapter) if song.adapter is not None else None
    return Plan(songs, folder, processor, dict(generation), adapters)


def _problem_order(problem: str) -> int:
    number = problem.split(":", 1)[0].rpartition(" ")[2]
    return int(number) if number.isdigit() else 0  # the header or the dataset: first


def _check_adapters(base: Path, folders: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``({name: folder}, {folder: why it cannot be used})`` for the rows' adapter folders, each checked from its
    files against the model (``songgen generate --adapter``'s check); named ``style1``, ``style2``... in order."""
    if not folders:
        return {}, {}
    from songgen_hf.pipelines.adapters import check_adapter_folder
    from songgen_hf.pipelines.loading import is_adapter_folder

    if is_adapter_folder(base):
        why = f"--model {base} is itself a LoRA adapter; give its base as --model to use the adapter column"
        return {}, dict.fromkeys(folders, why)
    named, bad = {}, {}
    for number, folder in enumerate(sorted(folders), 1):
        try:
            check_adapter_folder(f"style{number}", folder, str(base))
            named[f"style{number}"] = folder
        except ValueError as error:
            bad[folder] = str(error).rstrip(".")
    return named, bad


# ---------------------------------------------------------------------------------------------- the batches
def plan_batches(songs: list[Song], batch_size: int) -> list[list[Song]]:
    """The generate() calls, fixed by the songs and ``batch_size`` alone: songs of one length, seed and adapter
    share a call (the pipeline seeds torch once per call), up to ``batch_size`` of them in the file's order, the
    calls ordered by their first song.  A song made in a batch draws its random numbers with its batch-mates, so
    its audio depends on them too; the batches never depend on the process count or on what is done already."""
    groups: dict[tuple, list[Song]] = {}
    for song in sorted(songs, key=lambda item: (item.row, item.seed)):
        key = (song.duration if song.duration is not None else -1.0, song.seed, song.adapter or "")
        groups.setdefault(key, []).append(song)
    batches = [
        group[start : start + batch_size] for group in groups.values() for start in range(0, len(group), batch_size)
    ]
    return sorted(batches, key=lambda batch: (batch[0].row, batch[0].seed))


def settings_digest(
    plan: Plan, batch_size: int, model_identity: str, quantize: str | None = None, audio_format: str = "wav"
) -> str:
    """What the songs depend on, beyond the code: every song's row values, seed and length, the options, the model,
    its precision and the batches.  A rerun resumes only a run of the same digest."""
    content = {
        "songs": [[song.row, str(song.seed), song.duration, song.fields] for song in plan.songs],
        "generation": plan.generation,
        "model": model_identity,
        "batch_size": batch_size,
        "quantize": quantize,
        "format": audio_format,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def model_identity(folder: Path) -> str:
    """The model folder and the digest of its config files: another model (or a retrained one) is another run."""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for name in ("config.json", "generation_config.json", "model.safetensors.index.json"):
        path = folder / name
        if path.is_file():
            digest.update(read_bytes(path, name, max_bytes=MAX_CONFIG_BYTES))
    weights = folder / "model.safetensors"
    if weights.is_file():
        status = weights.stat()
        digest.update(f"{status.st_size}:{status.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


# ------------------------------------------------------------------------------------------- the folder
def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.songgen-many.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_lock(output: Path) -> Path:
    """Create the run's lock beside ``output`` (its pid and host), refusing while a live run holds it; a lock
    whose process no longer runs on this host is taken over."""
    path = lock_path(output)
    here = socket.gethostname()
    for _ in range(3):
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                held = _read_state(path, "the lock")
            except FileReadError as error:  # a FIFO, a link, a device, a huge file: not a lock songgen made
                raise ValueError(
                    f"--output {output}: {error} Remove it if no songgen generate-many is writing there."
                ) from None
            except OSError:
                held = None
            try:
                pid, host = int(held["pid"]), str(held["host"])
            except (KeyError, TypeError, ValueError):
                pid, host = None, here  # unreadable: a writer killed between creating and filling it
                if time.time() - _mtime(path) < 10:
                    time.sleep(0.5)
                    continue
            if pid is not None and (host != here or _pid_alive(pid)):
                where = "" if host == here else f" on {host}"
                raise ValueError(
                    f"--output {output} is being written by another songgen generate-many (pid {pid}{where}, lock "
                    f"{path}); wait for it to finish, or choose another folder (delete the lock only if no such run "
                    "is going)."
                )
            _remove(path)  # the writer died: its songs stay, this run resumes them
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump({"pid": os.getpid(), "host": here, "started": time.time()}, stream)
        return path
    raise ValueError(f"--output {output}: could not take the lock {path}; remove it if no run is going, and retry.")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _read_state(path: Path, what: str) -> dict | None:
    """One of the run's own small files (the lock, the run's settings, a song's record), through the safe reader:
    a link, a FIFO, a device or a huge file there was not written by songgen and is refused (``FileReadError``),
    never read; bytes that are not a JSON object (a lock a writer was killed while filling) are ``None``."""
    raw = read_bytes(path, what, max_bytes=MAX_STATE_BYTES, follow_links=False)
    try:
        value = loads_json(raw.decode("utf-8", errors="replace"), f"{what} {path}")
    except FileReadError:
        return None
    return value if isinstance(value, dict) else None


def release_lock(path: Path) -> None:
    try:
        held = _read_state(path, "the lock")
    except (OSError, ValueError):
        return
    if held is not None and held.get("pid") == os.getpid():
        _remove(path)


def read_record(output: Path, name: str) -> dict | None:
    """A song's record, or ``None`` where there is none, or what is there is not a record songgen wrote."""
    try:
        record = _read_state(output / RECORDS_DIR / f"{name}.json", "a song's record")
    except (OSError, ValueError):
        return None
    return record if record is not None and _is_record(record) else None


def _is_record(record: dict) -> bool:
    return (
        isinstance(record.get("file_name"), str)
        and isinstance(record.get("size"), int)
        and isinstance(record.get("sha256"), str)
        and isinstance(record.get("metadata"), dict)
    )


def _records(output: Path) -> dict[str, dict]:
    folder = output / RECORDS_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.glob("*.json"):
        if path.name.startswith("."):
            continue
        record = read_record(output, path.stem)
        if record is not None:
            found[path.stem] = record
    return found


def settle_marker(output: Path, written: tuple[str, ...] = ()) -> None:
    """Rewrite the folder's marker so it vouches for what this command wrote there and nothing else: what the
    previous marker listed as it was, and every song whose audio matches its record (size and SHA-256).  A run
    stopped between markers (killed) is then still an earlier result that ``--overwrite`` may replace; a file the
    user put there stays unlisted, so ``--overwrite`` names it and refuses.  ``written``: files the caller has just
    written there (the metadata)."""
    from songgen_hf.utils.atomic import folder_entries, read_marker, unproven_entries, write_marker

    marker = read_marker(output)
    entries = folder_entries(output)
    unproven = set(unproven_entries(output, marker)) if marker is not None else set(entries)
    for stem, record in _records(output).items():
        audio = entries.get(record["file_name"])
        if audio and audio.get("size") == record.get("size") and audio.get("sha256") == record.get("sha256"):
            unproven.discard(record["file_name"])
            unproven.discard(f"{RECORDS_DIR}/{stem}.json")
    unproven -= set(written)
    write_marker(output, MARKER_KIND, {name: entry for name, entry in entries.items() if name not in unproven})


def open_output(
    output: Path, digest: str, overwrite: bool, batches: list[list[Song]], bytes_per_second: int
) -> tuple[str, list[list[Song]], list[str]]:
    """Make ``output`` ready for this run (the main process, holding the lock): ``("new" | "resumed" | "replaced",
    the batches to make, the files a resume keeps although they are not what this command made there)``.  A folder
    of an earlier run of the same command is resumed; ``--overwrite`` replaces an
    earlier result of this command (its marker vouches for every file); anything else is refused.  The place must
    have room for the songs still to make (about ``bytes_per_second`` of audio each second), checked before
    anything is written or replaced."""
    from songgen_hf.utils.atomic import check_replaceable, check_writable, read_marker, recover_directory

    recover_directory(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give the name of a folder for the songs.")
    batch_size = max(len(batch) for batch in batches)
    state = "new"
    if output.is_dir() and any(output.iterdir()):
        marker, run = read_marker(output), _read_run(output)  # a marker songgen did not write: refused here
        if marker is None or run is None:
            check_replaceable(output, overwrite)  # refuses the folder, naming a file and what to do
        kind = marker.get("kind") if marker is not None else None
        if kind != MARKER_KIND:
            raise ValueError(
                f"--output {output} holds the result of another songgen command ({kind}), which generate-many does "
                "not replace; choose a new folder."
            )
        if not overwrite and run.get("settings") != digest:
            raise ValueError(
                f"--output {output} holds songs of another prompt file or other options (model, seeds, durations, "
                f"batch size {run.get('batch_size')}; this run: {batch_size}); rerun the command that made them to "
                "finish them, pass --overwrite to replace them, or choose a new folder."
            )
        state = "replaced" if overwrite else "resumed"
    kept: list[str] = []
    pending = batches
    if state == "resumed":
        songs = [song for batch in batches for song in batch]
        states = song_states(output, songs)
        pending, kept = pending_batches(output, batches, states), kept_songs(states, songs)
    seconds = sum(song.duration or DEFAULT_SECONDS for batch in pending for song in batch)
    check_writable(output / "song.wav", "--output", int(seconds * bytes_per_second))
    if state == "replaced":
        settle_marker(output)  # a killed run's songs are proven by their records
        check_replaceable(output, True)  # every entry provably this command's: nothing of the user's is lost
        _empty(output)
    (output / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
    from songgen_hf.utils.atomic import write_marker, write_text_atomic

    if state != "resumed":
        write_text_atomic(output / RUN_FILE, json.dumps({"settings": digest, "batch_size": batch_size}) + "\n")
        write_marker(output, MARKER_KIND)
    return state, pending, kept


def _read_run(output: Path) -> dict | None:
    try:  # None where there are none, or they are not JSON (written atomically: never seen half-written)
        return _read_state(output / RUN_FILE, "the run's settings")
    except FileReadError as error:
        raise ValueError(f"--output {output}: {error} Remove it, or choose a new folder.") from None
    except OSError:
        return None


def _empty(output: Path) -> None:
    import shutil

    for entry in output.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def song_states(output: Path, songs: list[Song]) -> dict[str, str]:
    """Each song's state in ``output`` by name: ``done`` (its audio is the bytes its record lists), ``missing``
    (no audio yet; a record whose audio never appeared is a run killed before the rename), ``edited`` (audio whose
    bytes are not those its record lists: changed after it was made) or ``foreign`` (audio with no record: not
    written by this command).  Only ``missing`` songs are made: a writer replaces only what it can prove it wrote."""
    from songgen_hf.utils.atomic import matches_proof

    states = {}
    for song in songs:  # each song's own record alone: a batch's check costs the batch, not the whole folder
        record, path = read_record(output, song.name), output / song.file_name
        if not (path.exists() or path.is_symlink()):
            states[song.name] = "missing"
        elif record is None:
            states[song.name] = "foreign"
        else:
            states[song.name] = "done" if matches_proof(path, record) else "edited"
    return states


def pending_batches(output: Path, batches: list[list[Song]], states: dict[str, str] | None = None) -> list[list[Song]]:
    """The batches with a song still to make (``missing`` in :func:`song_states`)."""
    if states is None:
        states = song_states(output, [song for batch in batches for song in batch])
    return [batch for batch in batches if any(states[song.name] == "missing" for song in batch)]


def kept_songs(states: dict[str, str], songs: list[Song]) -> list[str]:
    """The files a resume keeps as they are although they are not what this command made there (edited after it
    made them, or never made by it), for the run to say so."""
    return [song.file_name for song in songs if states.get(song.name) in ("edited", "foreign")]


def write_metadata(output: Path, songs: list[Song]) -> int:
    """``metadata.jsonl`` from the songs' records, by row then seed (what audiofolder reads beside the audio)."""
    from songgen_hf.utils.atomic import write_text_atomic

    lines = []
    for song in sorted(songs, key=lambda item: (item.row, item.seed)):
        record = read_record(output, song.name)
        if record is None:  # a file of that name that this command did not write, kept as it is
            continue
        # a song recorded before its style was (an earlier version's run, resumed) says none: one schema for datasets
        metadata = {**record["metadata"]}
        for name in STYLE_COLUMNS:
            metadata.setdefault(name, None)
        lines.append(json.dumps(metadata, ensure_ascii=False))
    write_text_atomic(output / METADATA_FILE, "".join(line + "\n" for line in lines))
    return len(lines)


# ---------------------------------------------------------------------------------------------- the run
class Progress:
    """One line on the main process: songs done of the total (every process's, counted from the records on
    disk), songs per minute of this run and the time left."""

    def __init__(self, output: Path, total: int, done: int, enabled: bool, file=None):
        self.output, self.total, self.start_done, self.enabled = output, total, done, enabled
        self.file = file or sys.stderr
        self.started = time.perf_counter()
        self.last, self.shown = 0.0, done

    def update(self, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        done = min(self.total, _record_count(self.output))
        if done == self.shown:
            return
        self.shown = done
        made = done - self.start_done
        minutes = (now - self.started) / 60
        rate = made / minutes if minutes > 0 and made > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else math.nan
        eta = "" if math.isnan(left) or done >= self.total else f", about {_duration(left * 60)} left"
        print(f"songs {done}/{self.total}, {rate:.1f} songs/min{eta}", file=self.file, flush=True)


def _record_count(output: Path) -> int:
    """The finished songs of every process (a record is written after its song), counted without reading them."""
    try:
        with os.scandir(output / RECORDS_DIR) as listing:
            return sum(1 for entry in listing if entry.name.endswith(".json") and not entry.name.startswith("."))
    except FileNotFoundError:
        return 0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def generate_batch(pipe, batch: list[Song], plan: Plan, output: Path, digest: str) -> None:
    """Generate one batch and write each of its songs still missing, atomically, its record written just before its
    audio appears; every other song's file (finished, edited, not this command's) is left as it is."""
    import soundfile as sf

    from songgen_hf.utils.atomic import file_proof, write_text_atomic
    from songgen_hf.utils.audio_io import write_audio

    first = batch[0]
    options = {key: value for key, value in plan.generation.items() if value is not None}
    if first.duration is not None:
        options["duration_s"] = first.duration
    if plan.adapters:
        options["adapter"] = first.adapter
    started = time.perf_counter()
    if len(batch) == 1:  # as `songgen generate` calls it: a list's DataLoader draws from the seeded generator
        results = [pipe(first.request, seed=first.seed, **options)]
    else:
        results = pipe([song.request for song in batch], batch_size=len(batch), seed=first.seed, **options)
    seconds_each = (time.perf_counter() - started) / len(batch)
    states = song_states(output, batch)
    for song, result in zip(batch, results):
        if states[song.name] != "missing":
            continue  # finished by an earlier run, or a file that is not this command's to replace: kept
        rate = int(result["sampling_rate"])
        audio_seconds = result["audio"].shape[-1] / rate
        metadata = {
            "file_name": song.file_name,
            "row": song.row,
            "seed": song.seed,
            **{name: song.fields.get(name) for name in COLUMNS if name not in ("seed", "duration")},
            "duration": song.duration,
            **song_style(plan, song),
            "understood": json.dumps(result.get("understood", song.understood), ensure_ascii=False, default=str),
            "seconds": round(audio_seconds, 4),
            "generation_seconds": round(seconds_each, 3),
        }

        def record_staged(staged: Path, song=song, metadata=metadata) -> None:
            # the record names the staged bytes before they appear under the song's name, so the song's file is
            # never there without the proof that this command wrote it
            record = {"file_name": song.file_name, "settings": digest, **file_proof(staged), "metadata": metadata}
            write_text_atomic(output / RECORDS_DIR / f"{song.name}.json", json.dumps(record, ensure_ascii=False) + "\n")

        try:
            write_audio(output / song.file_name, result["audio"], rate, on_staged=record_staged)
        except (OSError, sf.LibsndfileError) as error:
            raise _write_failed(output, song, error) from None


def song_style(plan: Plan, song: Song) -> dict[str, Any]:
    """What a song is made with, for its metadata (every song has the three, so ``datasets`` reads one schema):
    ``style``, the style as ``songgen generate`` prints it (``"the base alone (description gate: mine x0)"``,
    ``"adapter mine (description gate: mine x1)"``, ``"blend mine x0.5 (...)"``; an adapter is named by its folder,
    as ``--adapter`` names it: ``runs/mine/final`` is ``mine``); ``adapter_weight``, the weight the row's adapter was
    applied at (0: the base's song; None without an adapter); ``adapter_gate``, its description gate (None: no
    adapter, or one that records no gate).  Asked of the gate's one door
    (:func:`~songgen_hf.pipelines.description_gate.gated_choice`), as the pipeline asks it for the song."""
    if song.adapter is None:
        return {"style": "the base alone", "adapter_weight": None, "adapter_gate": None}
    from songgen_hf.pipelines.adapters import adapter_name_for, describe_choice
    from songgen_hf.pipelines.description_gate import describe_gates, gated_choice

    choice, gates = gated_choice(plan.adapters, song.adapter, song.request.description)
    shown = {name: adapter_name_for(folder) for name, folder in plan.adapters.items()}
    if isinstance(choice, dict):
        weight = choice.get(song.adapter, 0.0)
        choice = {shown[name]: value for name, value in choice.items()}
    else:
        weight = 0.0 if choice is None else 1.0
        choice = None if choice is None else shown[choice]
    style = describe_choice(choice)
    if gates:
        style += f" (description gate: {describe_gates({shown[name]: value for name, value in gates.items()})})"
    return {"style": style, "adapter_weight": weight, "adapter_gate": gates.get(song.adapter)}


def _write_failed(output: Path, song: Song, error: Exception) -> ValueError:
    """A song that could not be written (most often a full disk), as one line: the songs already finished are
    kept, complete, and the same command finishes the run."""
    import shutil

    try:
        free = shutil.disk_usage(output).free
    except OSError:
        free = None
    text = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
    room = f" ({free / 2**20:.0f} MB free)" if free is not None else ""
    done = _record_count(output)
    return ValueError(
        f"--output {output}: could not write {song.file_name}{room}: {text}; free some space and rerun the same "
        f"command to make the rest (the {done} song(s) finished so far are kept, complete)."
    )


def check_batch_size(value) -> int | None:
    return check_count("--batch-size", value, maximum=MAX_BATCH_SIZE, why="(songs generated together)")


__all__ = [
    "COLUMNS",
    "METADATA_FILE",
    "Plan",
    "Song",
    "check_prompts",
    "lock_path",
    "open_output",
    "pending_batches",
    "plan_batches",
    "read_rows",
    "settings_digest",
    "take_lock",
    "write_metadata",
]
