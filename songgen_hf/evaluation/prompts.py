"""Evaluation prompts: the rows of a synthetic-corpus manifest with the ground truth they promise.

Only what the metrics need is read: the caption and lyrics the model is prompted with, the
clip (and its stems) and the ``attributes`` that ``songgen data synth`` records (tempo, key,
drums, syllables...).  Problems are ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songgen_hf.data.manifest import read_manifest_rows
from songgen_hf.evaluation.metrics import parse_key
from songgen_hf.modeling.music import Key

REQUIRED_ATTRIBUTES = ("tempo_bpm", "key", "mode")
SYNTH_HINT = "songgen evaluate needs a corpus manifest made by `songgen data synth` (records with 'attributes')"


@dataclass(frozen=True)
class EvaluationPrompt:
    id: str
    caption: str
    lyrics: str
    audio_path: Path
    vocal_path: Path | None
    accompaniment_path: Path | None
    duration: float
    # seconds every system is generated and scored on: min(clip duration, --max-duration)
    eval_duration: float
    tempo_bpm: float
    key: Key
    drums: bool | None
    expects_vocals: bool
    expected_syllables: int | None

    def target(self) -> dict[str, Any]:
        return {
            "tempo_bpm": self.tempo_bpm,
            "key": self.key.name,
            "drums": self.drums,
            "vocals": self.expects_vocals,
            "syllables": self.expected_syllables,
            "duration_s": round(self.eval_duration, 4),
        }


def resolve_audio(row: dict, field: str, root: Path, manifest: Path, required: bool) -> Path | None:
    value = row.get(field)
    if not value:
        if required:
            raise ValueError(f"{manifest} line {row['_line']} has no {field!r}.")
        return None
    path = Path(value) if Path(value).is_absolute() else root / value
    if not path.is_file():
        raise ValueError(f"{manifest} line {row['_line']}: the {field} file {path} does not exist.")
    return path


def _expected_syllables(attributes: dict, eval_duration: float) -> int | None:
    """Syllables sung within the scored window: the recorded note onsets when there are any."""
    onsets = attributes.get("note_onsets_s")
    if isinstance(onsets, list) and onsets:
        return sum(1 for onset in onsets if onset < eval_duration)
    count = attributes.get("num_syllables")
    return int(count) if isinstance(count, (int, float)) and count > 0 else None


def prompt_from_row(row: dict, root: Path, manifest: Path, max_duration: float) -> EvaluationPrompt:
    where = f"{manifest} line {row['_line']}"
    attributes = row.get("attributes")
    if isinstance(attributes, str):  # datasets-style rows keep attributes as a JSON string
        try:
            attributes = json.loads(attributes)
        except json.JSONDecodeError:
            attributes = None
    if not isinstance(attributes, dict):
        raise ValueError(f"{where} has no 'attributes'; {SYNTH_HINT}.")
    missing = [name for name in REQUIRED_ATTRIBUTES if attributes.get(name) is None]
    if missing:
        raise ValueError(f"{where}: attributes lack {missing}; {SYNTH_HINT}.")
    caption = row.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"{where} has no 'caption' to prompt the model with.")
    lyrics = row.get("lyrics") or ""
    duration = row.get("duration")
    audio_path = resolve_audio(row, "audio_path", root, manifest, required=True)
    if not isinstance(duration, (int, float)) or duration <= 0:
        import soundfile as sf

        duration = sf.info(str(audio_path)).duration
    try:
        key = parse_key(attributes["key"], attributes["mode"])
        tempo = float(attributes["tempo_bpm"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    if tempo <= 0:
        raise ValueError(f"{where}: tempo_bpm must be positive, got {tempo}.")
    eval_duration = min(float(duration), max_duration)
    drums = attributes.get("drums")
    return EvaluationPrompt(
        id=str(row.get("id", f"line{row['_line']}")),
        caption=caption,
        lyrics=lyrics,
        audio_path=audio_path,
        vocal_path=resolve_audio(row, "vocal_path", root, manifest, required=False),
        accompaniment_path=resolve_audio(row, "accompaniment_path", root, manifest, required=False),
        duration=float(duration),
        eval_duration=eval_duration,
        tempo_bpm=tempo,
        key=key,
        drums=None if drums is None else bool(drums),
        expects_vocals=bool(lyrics.strip()),
        expected_syllables=_expected_syllables(attributes, eval_duration) if lyrics.strip() else 0,
    )


def load_prompts(manifest: str | Path, num_prompts: int, max_duration: float) -> list[EvaluationPrompt]:
    """The first ``num_prompts`` records of ``manifest`` (deterministic: file order)."""
    manifest = Path(manifest)
    rows = read_manifest_rows(manifest)[:num_prompts]
    return [prompt_from_row(row, manifest.parent, manifest, max_duration) for row in rows]


__all__ = ["EvaluationPrompt", "load_prompts", "prompt_from_row", "read_manifest_rows", "resolve_audio"]
