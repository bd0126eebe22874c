"""``songgen evaluate DIR``: the songs a ``songgen generate-many`` folder already holds, scored as asked.

Nothing is generated.  Each song of ``DIR/metadata.jsonl`` is measured with the evaluation's own estimators
(:mod:`.metrics`, :mod:`.voice_activity`) against what the processor read from its row, the ``understood`` JSON
text generate-many stores beside it: the tempo and key it asked for and whether it is sung.  What a row did not
ask for is "not asked" for that measure (``None``), so a song without a tempo is neither a hit nor a miss:

* tempo: ``tempo_acc1`` (within 4 %) and ``tempo_acc2`` (octave errors allowed), where a tempo was asked;
* key: ``key_exact`` and ``key_mirex`` (the MIREX weighting), where a key was asked;
* vocals: ``voice_agree``, silero-vad's voice probability over its threshold for a sung request and under it for
  an instrumental one.  The corpus evaluation's other judge, the attribute probe, is fit on a corpus's training
  clips, which a prompt file does not come with.

A song is sung when its row has lyrics to sing and its description does not ask for no vocals; the reading comes
from ``understood`` (``lyrics``/``instrumental`` and ``vocals``), so it is what the model was asked, not what the
row's text says to a reader.

``evaluation.json`` holds one row per song (``id`` = the file's name without its suffix, ``caption``, ``target`` =
what was asked, ``systems.songs`` = the readings) and a summary: the mean of each score over the songs that asked
for it, with its 95 % bootstrap interval over songs (:func:`.statistics.mean_with_ci`).  The rows have the shape
``songgen compare`` reads, so two folders made from one prompt file by two models compare song by song
(``--system songs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from songgen_hf.utils.safe_files import FileReadError, file_size, iter_lines, loads_json

SYSTEM = "songs"  # the name of the scored songs under each row's "systems", as songgen compare reads it
# A folder is read row by row and every song checked from its header before the first is scored, so the songs
# listed, each row and each song are bounded: generate-many writes one row of a few KB per song, and makes no
# song longer than 600 s (MAX_SONG_S).  A song shorter than MIN_SCORED_SECONDS is too short for the estimators
# (silero-vad reads 32 ms frames; the tempo and key estimators several 128 ms frames).
MAX_SCORED_SONGS = 100_000
MAX_METADATA_LINE_BYTES = 1 * 2**20
MAX_METADATA_BYTES = 1 * 2**30
MIN_SCORED_SECONDS = 0.25
# the samples of the longest song at 48 kHz in stereo: a header claiming more (a 3 GB file at a rate no song has) is
# refused before anything is read
MAX_SCORED_SAMPLES = 601 * 48_000 * 2
METADATA_FILE = "metadata.jsonl"  # what generate-many writes and audiofolder reads (songgen_hf.commands.song_folder)
# (score, the asked field it needs, label): the summary's scores, in the table's order
MEASURES = (
    ("tempo_acc1", "tempo_bpm", "tempo Acc1 (within 4 %)"),
    ("tempo_acc2", "tempo_bpm", "tempo Acc2 (octave errors allowed)"),
    ("key_exact", "key", "key exact"),
    ("key_mirex", "key", "key MIREX"),
    ("voice_agree", "vocals", "vocals as asked (silero-vad)"),
)


@dataclass(frozen=True)
class SongToScore:
    """One song of the folder, checked: its audio file, its sampling rate, its row and what it asked for."""

    id: str
    path: Path
    sampling_rate: int
    metadata: dict
    asked: dict  # tempo_bpm (float or None), key (canonical name or None), vocals (bool)


def _problem(folder: Path, line: int, message: str) -> ValueError:
    return ValueError(f"{folder / METADATA_FILE} line {line}: {message}")


def asked_of(understood: dict) -> dict:
    """What a song asked for, from the processor's reading of its row (``understood``); a tempo that is not a
    positive finite number or a key that is not text is a ``ValueError`` (a row that is not what the processor
    writes, never a miss)."""
    from songgen_hf.modeling.limits import is_number

    tempo = understood.get("tempo_bpm")
    key = understood.get("key")
    if tempo is not None and not (is_number(tempo, finite=True) and tempo > 0):
        raise ValueError(f"its understood tempo_bpm {tempo!r} is no tempo (a positive number of beats a minute)")
    if key is not None and not isinstance(key, str):
        raise ValueError(f"its understood key {key!r} is no key name such as 'A minor'")
    sung = not understood.get("instrumental", not understood.get("lyrics")) and understood.get("vocals") is not False
    return {
        "tempo_bpm": float(tempo) if tempo is not None else None,
        "key": key if key else None,
        "vocals": bool(sung),
    }


def _understood(folder: Path, line: int, entry: dict) -> dict:
    text = entry.get("understood")
    try:
        understood = loads_json(text, "understood", max_depth=8) if isinstance(text, str) else None
    except ValueError:
        understood = None
    if not isinstance(understood, dict):
        raise _problem(
            folder,
            line,
            "no 'understood' (the JSON text of what the processor read from the row) to score the song against; "
            "score a folder that songgen generate-many wrote, or make the songs again with it.",
        )
    return understood


def _audio_path(folder: Path, line: int, entry: dict) -> Path:
    name = entry.get("file_name")
    if not isinstance(name, str) or not name.strip():
        raise _problem(folder, line, "no file_name; each row names its song's audio file, relative to the folder.")
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise _problem(folder, line, f"file_name {name!r} leaves the folder; name a file inside it.")
    path = folder / relative
    if not path.exists():
        raise _problem(
            folder,
            line,
            f"its song {path} does not exist; rerun the same songgen generate-many command to make it, "
            "or remove the row.",
        )
    return path


def _sampling_rate(folder: Path, line: int, path: Path) -> int:
    import soundfile as sf

    from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S

    try:
        file_size(path, "its song")  # a FIFO or a device is refused before soundfile opens (and blocks on) it
    except FileReadError as error:
        raise _problem(folder, line, f"{str(error).rstrip('.')}; make it again or remove the row.") from None
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _problem(
            folder, line, f"its song {path} cannot be read as audio ({reason}); make it again or remove the row."
        ) from None
    if info.frames == 0:
        raise _problem(folder, line, f"its song {path} holds no samples; make it again or remove the row.")
    seconds = info.frames / info.samplerate
    if seconds < MIN_SCORED_SECONDS:
        raise _problem(
            folder,
            line,
            f"its song {path} is {info.frames} samples ({seconds * 1000:.0f} ms) long, too short to score (at least "
            f"{MIN_SCORED_SECONDS:g} s); make it longer or remove the row.",
        )
    if seconds > MAX_SONG_S + 1 or info.frames * info.channels > MAX_SCORED_SAMPLES:
        raise _problem(
            folder,
            line,
            f"its song {path} is {seconds:,.0f} s long at {info.samplerate} Hz, more than any song songgen makes "
            f"({MAX_SONG_S:g} s at 48 kHz at most); it is not a generate-many song: remove the row.",
        )
    return int(info.samplerate)


def read_songs_folder(folder: str | Path) -> list[SongToScore]:
    """Every song of a generate-many folder, checked before any is scored: a missing ``metadata.jsonl``, a row
    that is not what generate-many writes, a missing or unreadable audio file is a one-line ``ValueError``
    naming the file and the fix."""
    from songgen_hf.evaluation.metrics import parse_key

    folder = Path(folder)
    metadata = folder / METADATA_FILE
    if not (metadata.exists() or metadata.is_symlink()):
        raise ValueError(
            f"{folder} has no {METADATA_FILE}, so it is not a songgen generate-many folder; give the --output "
            "folder of a finished generate-many run (rerun its command to finish it), or a corpus manifest (.jsonl)."
        )
    lines = iter_lines(
        metadata, "the songs' metadata", max_line_bytes=MAX_METADATA_LINE_BYTES, max_bytes=MAX_METADATA_BYTES
    )
    songs, seen = [], set()
    for line, raw in lines:
        if not raw.strip():
            continue
        if len(songs) >= MAX_SCORED_SONGS:
            raise ValueError(
                f"{metadata} lists more than {MAX_SCORED_SONGS:,} songs; score the folder in parts (a folder of at "
                f"most {MAX_SCORED_SONGS:,} songs each)."
            )
        try:
            entry = loads_json(raw, "a row", max_depth=8)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise _problem(folder, line, "not a JSON object; metadata.jsonl holds one object per song.")
        path = _audio_path(folder, line, entry)
        identifier = PurePosixPath(entry["file_name"]).with_suffix("").as_posix()
        if identifier in seen:
            raise _problem(folder, line, f"{entry['file_name']} is listed twice; each song has one row.")
        seen.add(identifier)
        try:
            asked = asked_of(_understood(folder, line, entry))
        except ValueError as error:
            raise _problem(folder, line, f"{error}; score a folder that songgen generate-many wrote.") from None
        if asked["key"] is not None:
            try:
                parse_key(*asked["key"].split())
            except (TypeError, ValueError):
                raise _problem(
                    folder, line, f"its understood key {asked['key']!r} is no key name such as 'A minor'."
                ) from None
        songs.append(SongToScore(identifier, path, _sampling_rate(folder, line, path), entry, asked))
    if not songs:
        raise ValueError(f"{metadata} lists no songs; score the folder once songgen generate-many has made them.")
    return songs


def score_song(audio: np.ndarray, sampling_rate: int, asked: dict, detector) -> dict:
    """A song's readings against what it asked for; a score whose request was not made is ``None``."""
    from songgen_hf.evaluation.metrics import (
        estimate_key_or_none,
        estimate_tempo_bpm,
        key_scores,
        parse_key,
        tempo_scores,
    )

    tempo = estimate_tempo_bpm(audio, sampling_rate)
    key = estimate_key_or_none(audio, sampling_rate)
    tempo_result = {"tempo_abs_error_bpm": None, "tempo_acc1": None, "tempo_acc2": None}
    if asked["tempo_bpm"] is not None:
        tempo_result = tempo_scores(tempo, asked["tempo_bpm"])
    key_result = {"key_exact": None, "key_mirex": None}
    if asked["key"] is not None:
        key_result = key_scores(key, parse_key(*asked["key"].split()))
    return {
        "tempo_bpm": tempo,
        **tempo_result,
        "key": None if key is None else key.name,
        **key_result,
        **detector.scores(audio, sampling_rate, asked["vocals"]),
        "duration_s": len(audio) / sampling_rate,
    }


def summarise(rows: list[dict], resamples: int | None = None) -> dict:
    """Each score's mean and 95 % bootstrap interval over the songs that asked for it, and how many did not."""
    from songgen_hf.evaluation.statistics import DEFAULT_RESAMPLES, mean_with_ci

    summary = {}
    for name, _, _ in MEASURES:
        values = [row["systems"][SYSTEM][name] for row in rows]
        summary[name] = {
            **mean_with_ci(values, resamples or DEFAULT_RESAMPLES),
            "not_asked": sum(value is None for value in values),
        }
    return summary


def evaluate_songs(folder: str | Path, output: str | Path, command: str = "", progress=None) -> dict:
    """Score every song of ``folder`` and write ``output/evaluation.json``; returns what it wrote."""
    from songgen_hf.evaluation.metrics import ESTIMATORS, library_versions, require_eval_libraries
    from songgen_hf.evaluation.runner import RESULT_FILE, _clean
    from songgen_hf.evaluation.voice_activity import VoiceDetector
    from songgen_hf.utils.atomic import write_text_atomic
    from songgen_hf.utils.audio_io import load_audio

    songs = read_songs_folder(folder)  # every file checked before the first is scored
    require_eval_libraries()
    detector = VoiceDetector()
    rows = []
    for number, song in enumerate(songs, 1):
        audio = load_audio(song.path, song.sampling_rate)
        rows.append(
            {
                "id": song.id,
                "file_name": song.metadata["file_name"],
                "caption": song.metadata.get("description") or "",
                "target": song.asked,
                "systems": {SYSTEM: score_song(audio, song.sampling_rate, song.asked, detector)},
            }
        )
        if progress is not None:
            progress(f"song {number}/{len(songs)} scored")
    rows = _clean(rows)
    result = {
        "kind": "songs",
        "songs_folder": str(Path(folder)),
        "command": command,
        "num_songs": len(rows),
        "estimators": {**ESTIMATORS, "voice": VoiceDetector.info()},
        "library_versions": library_versions(),
        "summary": _clean(summarise(rows)),
        "rows": rows,
    }
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output / RESULT_FILE, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def format_table(result: dict) -> str:
    """The summary as a short plain-text table: score, mean, 95 % interval, songs scored, songs not asked."""
    lines = [f"{'score':<36} {'mean':>5}  {'95 % interval':<15} {'songs':>5} {'not asked':>9}"]
    for name, _, label in MEASURES:
        entry = result["summary"][name]
        if entry["mean"] is None:
            mean, interval = "-", "-"
        else:
            low, high = entry["ci95"]
            mean, interval = f"{entry['mean']:.2f}", f"[{low:.2f}, {high:.2f}]"
        lines.append(f"{label:<36} {mean:>5}  {interval:<15} {entry['n']:>5} {entry['not_asked']:>9}")
    return "\n".join(lines) + "\n"


__all__ = ["MEASURES", "SYSTEM", "SongToScore", "asked_of", "evaluate_songs", "format_table", "read_songs_folder"]
