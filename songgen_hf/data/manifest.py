"""Song manifests: JSONL records -> a validated ``datasets.Dataset`` plus a report of what was dropped.

A manifest line is one JSON object per clip.  Our own format (the synthetic corpus writes it)::

    {"id", "caption", "lyrics", "audio_path", "vocal_path", "accompaniment_path", "duration",
     "sampling_rate", "vocal_energy", "acc_energy", "language", "attributes": {...}}

SongGen's released names are accepted too: ``fname`` for ``id``, ``audio_abspath`` /
``vocal_abspath`` / ``acc_abspath`` (or the relative ``*_file_name`` forms) for the paths.
Relative paths are resolved against the manifest's folder; the dataset holds absolute paths.

Every record is checked against the files themselves (the manifest's ``duration`` and
``sampling_rate`` are not trusted): the mix must exist and be readable, listed stems too, the
caption must not be empty, the measured duration must lie in ``[min_duration, max_duration]``
and stems must be about as long as the mix.  A wrong sampling rate is accepted (the encoder
resamples) or refused, as asked.  With ``on_error="skip"`` bad records are dropped and
counted in a :class:`ManifestReport`; with ``on_error="raise"`` the first one stops loading
with a message naming the line and the fix.

Columns of the returned dataset: ``line`` (1-based line in the manifest), ``id``, ``caption``,
``lyrics``, ``language`` (ISO code, "en" when absent), ``audio_path``, ``vocal_path``,
``accompaniment_path`` (absolute, or None), ``duration`` (seconds, measured from the mix),
``sampling_rate`` (of the mix file), ``vocal_energy``, ``acc_energy`` (or None) and
``attributes`` - a JSON string, because attribute sets differ between corpora and hold nested
lists that an Arrow schema could not unify.  Unknown top-level fields (e.g. a CLAP score or
``split``) are folded into ``attributes`` so filters can still use them.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import soundfile as sf

from songgen_hf.utils.safe_files import FileReadError, iter_lines, loads_json

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

OnError = Literal["skip", "raise"]
WrongRate = Literal["resample", "refuse"]

# Problem kinds, as they appear in the report.
INVALID_JSON = "invalid JSON"
MISSING_FIELD = "missing field"
DUPLICATE_ID = "duplicate id"
MISSING_FILE = "missing file"
UNREADABLE_AUDIO = "unreadable audio"
WRONG_SAMPLING_RATE = "wrong sampling rate"
EMPTY_CAPTION = "empty caption"
TOO_SHORT = "too short"
TOO_LONG = "too long"
STEM_LENGTH_MISMATCH = "stem length mismatch"

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "fname"),
    "caption": ("caption", "description"),
    "audio_path": ("audio_path", "audio_abspath", "audio_file_name"),
    "vocal_path": ("vocal_path", "vocal_abspath", "vocal_file_name"),
    "accompaniment_path": ("accompaniment_path", "acc_abspath", "acc_file_name", "accompaniment_abspath"),
}
STEM_FIELDS = ("vocal_path", "accompaniment_path")
# Fields read by name; anything else at the top level goes into ``attributes``.
KNOWN_FIELDS = {alias for aliases in FIELD_ALIASES.values() for alias in aliases} | {
    "lyrics",
    "duration",
    "sampling_rate",
    "vocal_energy",
    "acc_energy",
    "language",
    "attributes",
}
LANGUAGE_CODES = {
    "english": "en",
    "chinese": "zh",
    "mandarin": "zh",
    "japanese": "ja",
    "korean": "ko",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "russian": "ru",
}


@functools.cache
def manifest_features() -> datasets.Features:
    """The validated manifest's columns.  Built on first use: importing ``datasets`` (with pandas and
    pyarrow) costs a third of a second that ``songgen generate``, which never reads a manifest, should not pay."""
    import datasets

    return datasets.Features(
        {
            "line": datasets.Value("int64"),
            "id": datasets.Value("string"),
            "caption": datasets.Value("string"),
            "lyrics": datasets.Value("string"),
            "language": datasets.Value("string"),
            "audio_path": datasets.Value("string"),
            "vocal_path": datasets.Value("string"),
            "accompaniment_path": datasets.Value("string"),
            "duration": datasets.Value("float64"),
            "sampling_rate": datasets.Value("int64"),
            "vocal_energy": datasets.Value("float64"),
            "acc_energy": datasets.Value("float64"),
            "attributes": datasets.Value("string"),
        }
    )


class ManifestError(ValueError):
    """A record failed validation under ``on_error="raise"``."""


@dataclass(frozen=True)
class ManifestProblem:
    line: int
    record_id: str | None
    reason: str
    detail: str

    def __str__(self) -> str:
        who = f" (id {self.record_id})" if self.record_id else ""
        return f"line {self.line}{who}: {self.reason}: {self.detail}"


@dataclass
class ManifestReport:
    """How many records were kept, and why the others were skipped."""

    manifest: str
    total: int = 0
    ok: int = 0
    problems: list[ManifestProblem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(p.reason for p in self.problems))

    def summary(self, examples_per_reason: int = 3) -> str:
        lines = [f"{self.manifest}: {self.total} records, {self.ok} ok, {self.skipped} skipped"]
        for reason, count in sorted(self.reasons.items(), key=lambda item: -item[1]):
            lines.append(f"  {reason}: {count}")
            for problem in [p for p in self.problems if p.reason == reason][:examples_per_reason]:
                lines.append(f"    {problem}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "total": self.total,
            "ok": self.ok,
            "skipped": self.skipped,
            "reasons": self.reasons,
            "problems": [vars(p) for p in self.problems],
        }


@dataclass(frozen=True)
class ValidationOptions:
    """What a usable record is.  SongGen kept clips of 2-30 s with captions under 600 characters."""

    sampling_rate: int | None = None
    """Expected rate of the audio files; None accepts any."""
    wrong_rate: WrongRate = "resample"
    """A file at another rate: "resample" keeps it (the encoder resamples), "refuse" skips it."""
    min_duration: float | None = None
    max_duration: float | None = None
    max_caption_chars: int | None = None
    max_stem_mismatch_seconds: float = 0.5
    """Stems may differ from the mix by this much (the encoder trims all tracks to the shortest)."""

    def __post_init__(self):
        if self.wrong_rate not in ("resample", "refuse"):
            raise ValueError(f"wrong_rate must be 'resample' or 'refuse', got {self.wrong_rate!r}.")
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise ValueError(f"min_duration {self.min_duration} exceeds max_duration {self.max_duration}.")


class _Skip(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _first_present(record: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return value
    return None


def _resolve(path: Any, root: Path) -> Path:
    path = Path(str(path)).expanduser()
    return path if path.is_absolute() else (root / path)


def _audio_info(path: Path, what: str) -> sf._SoundFileInfo:
    if not path.is_file():
        raise _Skip(MISSING_FILE, f"{what} {path} does not exist")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        raise _Skip(UNREADABLE_AUDIO, f"{what} {path} cannot be read ({error}); convert it to WAV or FLAC")
    if info.frames <= 0 or info.samplerate <= 0:
        raise _Skip(UNREADABLE_AUDIO, f"{what} {path} holds no samples")
    return info


def _check_rate(info, path: Path, what: str, options: ValidationOptions) -> None:
    if options.sampling_rate and info.samplerate != options.sampling_rate and options.wrong_rate == "refuse":
        raise _Skip(
            WRONG_SAMPLING_RATE,
            f"{what} {path} is {info.samplerate} Hz, not {options.sampling_rate} Hz "
            "(resample it, or allow resampling with wrong_rate='resample')",
        )


def normalise_language(value: Any) -> str:
    if not value:
        return "en"
    text = str(value).strip().lower()
    return LANGUAGE_CODES.get(text, text)


def _optional_float(record: dict, name: str) -> float | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Skip(MISSING_FIELD, f"{name}={value!r} is not a number")


def validate_record(record: dict, root: Path, options: ValidationOptions) -> dict[str, Any]:
    """One manifest record -> a dataset row, or ``_Skip`` with the reason."""
    audio = _first_present(record, FIELD_ALIASES["audio_path"])
    if audio is None:
        raise _Skip(MISSING_FIELD, f"no audio path (one of {list(FIELD_ALIASES['audio_path'])})")
    caption = _first_present(record, FIELD_ALIASES["caption"])
    if not isinstance(caption, str) or not caption.strip():
        raise _Skip(EMPTY_CAPTION, "the caption is empty; every clip needs a description")
    caption = caption.strip()
    if options.max_caption_chars and len(caption) > options.max_caption_chars:
        raise _Skip(TOO_LONG, f"caption has {len(caption)} characters (max {options.max_caption_chars})")
    lyrics = record.get("lyrics") or ""
    if isinstance(lyrics, list):
        lyrics = "\n".join(str(line) for line in lyrics)

    audio_path = _resolve(audio, root)
    info = _audio_info(audio_path, "audio")
    _check_rate(info, audio_path, "audio", options)
    duration = info.frames / info.samplerate
    if options.min_duration is not None and duration < options.min_duration:
        raise _Skip(TOO_SHORT, f"{duration:.2f} s is shorter than min_duration={options.min_duration} s")
    if options.max_duration is not None and duration > options.max_duration:
        raise _Skip(TOO_LONG, f"{duration:.2f} s is longer than max_duration={options.max_duration} s")

    stems: dict[str, str | None] = {}
    for name in STEM_FIELDS:
        value = _first_present(record, FIELD_ALIASES[name])
        if value is None:
            stems[name] = None
            continue
        path = _resolve(value, root)
        what = name.replace("_path", "")
        stem_info = _audio_info(path, what)
        _check_rate(stem_info, path, what, options)
        stem_duration = stem_info.frames / stem_info.samplerate
        if abs(stem_duration - duration) > options.max_stem_mismatch_seconds:
            raise _Skip(
                STEM_LENGTH_MISMATCH,
                f"{what} lasts {stem_duration:.2f} s but the mix {duration:.2f} s "
                f"(more than {options.max_stem_mismatch_seconds} s apart: are they the same clip?)",
            )
        stems[name] = str(path.resolve())

    attributes = dict(record.get("attributes") or {})
    for key, value in record.items():
        if key not in KNOWN_FIELDS:
            attributes.setdefault(key, value)
    return {
        "caption": caption,
        "lyrics": str(lyrics),
        "language": normalise_language(record.get("language")),
        "audio_path": str(audio_path.resolve()),
        **stems,
        "duration": float(duration),
        "sampling_rate": int(info.samplerate),
        "vocal_energy": _optional_float(record, "vocal_energy"),
        "acc_energy": _optional_float(record, "acc_energy"),
        "attributes": json.dumps(attributes, ensure_ascii=False, sort_keys=True),
    }


# one record per line: a caption, lyrics and paths are a few KB; a manifest of a million records some GB
MAX_RECORD_BYTES = 4 * 2**20
MAX_MANIFEST_BYTES = 16 * 2**30
MAX_RECORD_DEPTH = 16


def _manifest_lines(path: Path, what: str):
    return iter_lines(path, f"the {what}", max_line_bytes=MAX_RECORD_BYTES, max_bytes=MAX_MANIFEST_BYTES)


def read_manifest_rows(path: str | Path, what: str = "manifest") -> list[dict]:
    """The JSON objects of a JSONL manifest (blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "missing"
        raise ValueError(f"The {what} {path} is {kind}; pass a JSONL manifest such as corpus/test.jsonl.")
    rows = []
    for number, line in _manifest_lines(path, what):
        if not line.strip():
            continue
        try:
            row = loads_json(line, f"{path} line {number}", max_depth=MAX_RECORD_DEPTH)
        except FileReadError as error:
            raise ValueError(f"{path} line {number} is not valid JSON ({error.reason}).") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path} line {number} is not a JSON object.")
        row["_line"] = number
        rows.append(row)
    if not rows:
        raise ValueError(f"The {what} {path} has no records.")
    return rows


def read_manifest_records(path: str | Path, options: ValidationOptions | None = None, on_error: OnError = "skip"):
    """Validated rows (dicts with the dataset's columns) and the report."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}.")
    options = options or ValidationOptions()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Manifest {path} does not exist; pass a .jsonl file with one JSON record per line.")
    report = ManifestReport(manifest=str(path))
    rows: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for number, text in _manifest_lines(path, "manifest"):
        if not text.strip():
            continue
        report.total += 1
        record_id = None
        try:
            try:
                record = loads_json(text, "the record", max_depth=MAX_RECORD_DEPTH)
            except ValueError as error:
                raise _Skip(INVALID_JSON, str(error))
            if not isinstance(record, dict):
                raise _Skip(INVALID_JSON, f"expected a JSON object, got {type(record).__name__}")
            found = _first_present(record, FIELD_ALIASES["id"])
            record_id = str(found) if found is not None else None
            if record_id in seen_ids:
                raise _Skip(DUPLICATE_ID, f"id {record_id!r} appears earlier in the manifest")
            row = validate_record(record, path.parent, options)
        except _Skip as skip:
            problem = ManifestProblem(number, record_id, skip.reason, skip.detail)
            if on_error == "raise":
                raise ManifestError(
                    f"{path}: {problem}. Fix or remove the record, or load with on_error='skip' to drop bad records."
                ) from None
            report.problems.append(problem)
            continue
        if record_id is None:  # ids are keys downstream: give id-less records a stable one
            record_id = f"{path.stem}-line{number:08d}"
        seen_ids.add(record_id)
        rows.append({"line": number, "id": record_id, **row})
        report.ok += 1
    return rows, report


def load_manifest(
    path: str | Path,
    *,
    sampling_rate: int | None = None,
    wrong_rate: WrongRate = "resample",
    min_duration: float | None = None,
    max_duration: float | None = None,
    max_caption_chars: int | None = None,
    max_stem_mismatch_seconds: float = 0.5,
    on_error: OnError = "skip",
) -> tuple[datasets.Dataset, ManifestReport]:
    """Load and validate a JSONL manifest; see the module docstring for columns and checks.

    Raises ``ValueError`` if no record survives (the message carries the report summary).
    """
    options = ValidationOptions(
        sampling_rate=sampling_rate,
        wrong_rate=wrong_rate,
        min_duration=min_duration,
        max_duration=max_duration,
        max_caption_chars=max_caption_chars,
        max_stem_mismatch_seconds=max_stem_mismatch_seconds,
    )
    rows, report = read_manifest_records(path, options, on_error)
    if report.skipped:
        logger.warning("%s", report.summary())
    if not rows:
        raise ValueError(f"No usable record in the manifest.\n{report.summary()}")
    import datasets

    return datasets.Dataset.from_list(rows, features=manifest_features()), report


__all__ = [
    "ManifestError",
    "ManifestProblem",
    "ManifestReport",
    "ValidationOptions",
    "load_manifest",
    "manifest_features",
    "normalise_language",
    "read_manifest_records",
    "read_manifest_rows",
    "validate_record",
]
