"""A synthetic corpus's clips as files: settings, ids, seeds, stems and the sidecar records.

What every corpus version shares (``corpus.py`` makes version 1, ``corpus_v2.py`` versions 2 and 3, both write
their clips through this module).  Clip ``i`` of a split depends only on ``(seed, split, i)``; a clip counts as
done when its sidecar matches the current settings and its WAVs have the expected size.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from songgen_hf.data.synth.arrangement import arrange
from songgen_hf.data.synth.render import mean_square_energy, wav_bytes, wav_file_bytes, write_wav_atomic
from songgen_hf.data.synth.song import SongPlan, key_attribute
from songgen_hf.data.synth.vocals import SungNote
from songgen_hf.modeling.music import GM_PROGRAMS, gm_family
from songgen_hf.utils.atomic import OutputError, file_proof, matches_proof
from songgen_hf.utils.safe_files import read_json

GENERATOR_VERSION = "synth-1"
SPLIT_STREAMS = {"train": 0, "test": 1}  # distinct seed streams per split
ENERGY_SCALE = 1e4  # vocal_energy / acc_energy = mean square (full scale = 1) x 1e4
AUDIO_DIR, META_DIR = "audio", "meta"


GENERATOR_VERSION_V2 = "synth-2"
GENERATOR_VERSIONS = {2: GENERATOR_VERSION_V2, 3: "synth-3"}  # corpus versions 2 and 3 (corpus_v2.py)
MAX_TRANSPOSE = 6  # a tritone: beyond it, a shift down is the shorter way to the same key
TRANSPOSE_STREAM = 77  # the shifts' own seed stream, apart from every stream of the song
V1_FIELDS = ("seed", "sampling_rate", "min_duration", "max_duration")


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    sampling_rate: int = 16000
    min_duration: float = 5.0
    max_duration: float = 15.0
    # Corpus v2 (corpus_v2.py); version 1 ignores these, and its fingerprint does not include them.
    corpus_version: int = 1
    instrumental_share: float = 0.2
    drumless_share: float = 0.2
    min_tempo: int = 60
    max_tempo: int = 180
    slow_share: float = 0.3
    # transposed copies (v2/v3): every song moved by 1..transpose_range semitones up or down (0: off)
    transpose_range: int = 0
    # every song in one style (a corpus genre or one of music.STYLES_OUTSIDE_CORPUS; v2/v3); None: drawn per song
    style: str | None = None

    def fingerprint(self) -> dict:
        if self.corpus_version == 1:
            return {"generator_version": GENERATOR_VERSION, **{name: getattr(self, name) for name in V1_FIELDS}}
        fields = asdict(self)
        if not self.transpose_range:  # corpora made before the field existed keep their fingerprint
            del fields["transpose_range"]
        if self.style is None:  # likewise for corpora of every genre
            del fields["style"]
        return {"generator_version": GENERATOR_VERSIONS[self.corpus_version], **fields}


def clip_id(seed: int, split: str, index: int) -> str:
    return f"s{seed}-{split}-{index:06d}"


def record_id(config: CorpusConfig, split: str, index: int) -> str:
    """A clip's id in its corpus: :func:`clip_id`, plus ``-t+3`` for a copy transposed 3 semitones up."""
    identifier = clip_id(config.seed, split, index)
    if config.transpose_range:
        identifier += f"-t{transpose_semitones(config, index):+d}"
    return identifier


def clip_seed_sequence(seed: int, split: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, SPLIT_STREAMS[split], index])


def _sung_notes(plan: SongPlan) -> list[SungNote]:
    """Notated melody -> what the singer does: start on the note, stop a little
    early (articulation gap) so consecutive syllables stay distinct."""
    notes = []
    for note, syllable in zip(plan.melody, plan.syllables):
        notated = note.duration_beats * plan.seconds_per_beat
        notes.append(
            SungNote(note.start_beat * plan.seconds_per_beat, notated - min(0.06, 0.2 * notated), note.midi, syllable)
        )
    return notes


def sung_parts(plan: SongPlan) -> list[tuple[str, object, list[SungNote]]]:
    """``(voice, singing style, sung notes)`` of every singer: the lead, then a choir style's other singers, each
    on the lead's notes a little late and a little off the pitch."""
    lead = _sung_notes(plan)
    parts = [(plan.voice, plan.singing, lead)]
    for singer in plan.chorus:
        notes = [
            SungNote(note.onset_s + singer.delay_s, note.duration_s, note.midi + singer.detune_semitones, note.syllable)
            for note in lead
        ]
        parts.append((singer.voice, singer.singing, notes))
    return parts


def _instrument_entries(plan: SongPlan) -> list[dict]:
    roles = [("chords", plan.arrangement.chord_program), ("bass", plan.arrangement.bass_program)]
    if plan.arrangement.pad_program is not None:
        roles.append(("pad", plan.arrangement.pad_program))
    return [
        {"role": role, "program": program, "name": GM_PROGRAMS[program][0], "family": gm_family(program)}
        for role, program in roles
    ]


def _style_attributes(plan: SongPlan) -> dict:
    """The record attributes that name the song's key, tempo, metre, genre and mood (both corpus versions)."""
    return {
        "key": key_attribute(plan.key),
        "mode": plan.key.mode,
        "tempo_bpm": plan.tempo_bpm,
        "time_signature": plan.time_signature,
        "genre": plan.genre,
        "mood": plan.mood,
    }


def _score_attributes(plan: SongPlan, sung: list[SungNote]) -> dict:
    """The record attributes of the harmony and the sung score (both corpus versions, in this order)."""
    return {
        "chords": [chord.name for chord in plan.bar_chords],
        "progression": list(plan.progression),
        "num_bars": len(plan.bar_chords),
        "intro_bars": plan.intro_bars,
        "num_syllables": len(plan.syllables),
        "syllables": list(plan.syllables),
        # 10 us precision: round(t * rate) recovers the exact sample of each note.
        "note_onsets_s": [round(note.onset_s, 5) for note in sung],
        "note_durations_s": [round(note.duration_s, 5) for note in sung],
    }


def _audio_paths(output_dir: Path, identifier: str) -> dict[str, Path]:
    folder = output_dir / AUDIO_DIR
    return {
        "audio_path": folder / f"{identifier}_mix.wav",
        "vocal_path": folder / f"{identifier}_vocals.wav",
        "accompaniment_path": folder / f"{identifier}_accompaniment.wav",
    }


def transpose_semitones(config: CorpusConfig, index: int) -> int:
    """How far clip ``index`` of a transposed corpus moves: uniform over -R..-1 and 1..R (never 0), from
    the index alone, so the train and test split and every seed move clip i alike."""
    reach = config.transpose_range
    shifts = [*range(-reach, 0), *range(1, reach + 1)]
    return shifts[int(np.random.default_rng([TRANSPOSE_STREAM, index]).integers(len(shifts)))]


def clip_num_samples(plan, config: CorpusConfig) -> int:
    """The clip's length in samples: the song's own length, clamped to the corpus's duration range."""
    rate = config.sampling_rate
    return int(
        min(
            max(round(plan.duration_s * rate), math.ceil(config.min_duration * rate)),
            math.floor(config.max_duration * rate),
        )
    )


def arrange_clip(plan: SongPlan, config: CorpusConfig, performance_seeds) -> tuple[int, float, list, dict]:
    """The clip's length (samples, then beats) and its accompaniment's MIDI notes and channel programs, the
    performance drawn from ``performance_seeds`` (both corpus versions)."""
    num_samples = clip_num_samples(plan, config)
    duration = num_samples / config.sampling_rate
    end_beat = duration / plan.seconds_per_beat
    midi_notes, programs = arrange(
        np.random.default_rng(performance_seeds),
        plan.arrangement,
        list(plan.bar_chords),
        plan.beats_per_bar,
        plan.vocal_start_bar,
        end_beat,
    )
    return num_samples, end_beat, midi_notes, programs


def write_stems(
    output_dir: Path, identifier: str, stems, rate: int, with_vocals: bool = True
) -> dict[str, Path | None]:
    """Write a clip's WAVs (vocals, accompaniment, then the mix) and return their paths; an
    instrumental (``with_vocals=False``) gets no vocal file and a ``None`` path.

    The clip's sidecar is written first with the proofs of the files about to be written (and of the ones they
    replace), so a kill at any point leaves only files a resume can prove are songgen's
    (:func:`check_clip_replaceable`); :func:`save_clip_record` completes it."""
    paths: dict[str, Path | None] = dict(_audio_paths(output_dir, identifier))
    if not with_vocals:
        paths["vocal_path"] = None
    for folder in (output_dir / AUDIO_DIR, output_dir / META_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    audio = {"vocal_path": stems.vocals, "accompaniment_path": stems.accompaniment, "audio_path": stems.mix}
    data = {name: wav_bytes(audio[name], rate) for name, path in paths.items() if path is not None}
    proofs = {name: {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()} for name, raw in data.items()}
    earlier = _sidecar_proofs(output_dir, identifier)
    replacing = {name: proof for name, proof in earlier.items() if proof not in proofs.values()}
    _write_text_atomic(
        _sidecar_path(output_dir, identifier), json.dumps({"files": proofs, "replacing": replacing, "pending": True})
    )
    for name in ("vocal_path", "accompaniment_path", "audio_path"):
        if paths[name] is not None:
            write_wav_atomic(paths[name], data[name], rate)
    return paths


def _sidecar_path(output_dir: Path, identifier: str) -> Path:
    return output_dir / META_DIR / f"{identifier}.json"


def _read_sidecar(output_dir: Path, identifier: str) -> dict | None:
    """The clip's sidecar as songgen writes it (a complete record, or the proofs written before the files);
    ``None`` when there is none, ``ValueError`` when something else is there."""
    path = _sidecar_path(output_dir, identifier)
    try:
        sidecar = read_json(path, "a clip's sidecar", follow_links=False)
    except FileNotFoundError:
        return None
    proves = isinstance(sidecar, dict) and isinstance(sidecar.get("files"), dict)
    # a complete record written before sidecars carried proofs still says the clip is there; it proves nothing
    older = isinstance(sidecar, dict) and isinstance(sidecar.get("record"), dict) and "fingerprint" in sidecar
    if not (proves or older):
        raise ValueError(f"{path} is no sidecar songgen wrote")
    return sidecar


def _sidecar_proofs(output_dir: Path, identifier: str) -> dict[str, dict]:
    """Every proof the clip's sidecar holds: of its files, and of the ones a write it began was replacing."""
    try:
        sidecar = _read_sidecar(output_dir, identifier)
    except ValueError:
        return {}
    if sidecar is None:
        return {}
    proofs = {}
    for group in ("replacing", "files"):
        for name, proof in (sidecar.get(group) or {}).items():
            proofs.setdefault(name, []).append(proof)
    return proofs


def save_clip_record(
    output_dir: Path,
    config: CorpusConfig,
    identifier: str,
    caption: str,
    plan,
    paths: dict,
    stems,
    num_samples: int,
    split: str,
    attributes: dict,
) -> dict:
    """A rendered clip's manifest record, saved as its sidecar; written after the audio, so a sidecar
    with this config's fingerprint means the clip is complete (:func:`load_complete_record`)."""
    rate = config.sampling_rate
    record = {
        "id": identifier,
        "caption": caption,
        "lyrics": "\n".join(plan.lyric_lines),
        **{name: None if path is None else path.relative_to(output_dir).as_posix() for name, path in paths.items()},
        "duration": num_samples / rate,
        "sampling_rate": rate,
        "vocal_energy": round(mean_square_energy(stems.vocals) * ENERGY_SCALE, 6),
        "acc_energy": round(mean_square_energy(stems.accompaniment) * ENERGY_SCALE, 6),
        "language": "en",
        "split": split,
        "attributes": attributes,
    }
    files = {name: file_proof(path) for name, path in paths.items() if path is not None}
    # the proof that a later --overwrite or resume may replace these files: songgen wrote them, as they are
    sidecar = {"fingerprint": config.fingerprint(), "num_samples": num_samples, "record": record, "files": files}
    _write_text_atomic(_sidecar_path(output_dir, identifier), json.dumps(sidecar, ensure_ascii=False))
    return record


def _write_text_atomic(path: Path, text: str) -> None:
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(path, text)


def check_clip_replaceable(output_dir: Path, identifier: str) -> None:
    """Refuse (an ``OutputError`` naming the file) to render clip ``identifier`` over files songgen cannot prove it
    wrote: each of its WAVs that exists must match a proof in the clip's own sidecar, and the sidecar must be one
    songgen wrote (a folder chosen by mistake keeps every file of its owner)."""
    audio = _audio_paths(output_dir, identifier)
    try:
        _read_sidecar(output_dir, identifier)
    except ValueError:  # a link, a FIFO, a huge file, other JSON: nothing songgen wrote
        _refuse_foreign(_sidecar_path(output_dir, identifier))
    proofs = _sidecar_proofs(output_dir, identifier)
    for name, path in audio.items():
        if not (path.exists() or path.is_symlink()):
            continue
        if not any(matches_proof(path, proof) for proof in proofs.get(name, [])):
            _refuse_foreign(path)


def _refuse_foreign(path: Path) -> None:
    raise OutputError(
        f"data synth: {path} is not a file songgen wrote there (no clip record proves it), so it is not replaced; "
        "move it out (the clip is then made again), or choose another --output folder."
    )


def load_complete_record(output_dir: Path, config: CorpusConfig, split: str, index: int) -> dict | None:
    """The clip's record if it was fully written with the same settings, else None."""
    identifier = record_id(config, split, index)
    try:
        sidecar = _read_sidecar(output_dir, identifier)
    except (OSError, ValueError):
        return None
    if sidecar is None or sidecar.get("fingerprint") != config.fingerprint():
        return None
    expected = wav_file_bytes(sidecar["num_samples"])
    for name, path in _audio_paths(output_dir, identifier).items():
        if sidecar["record"].get(name) is None:  # a v2 instrumental has no vocal stem
            continue
        if not path.is_file() or path.stat().st_size != expected:
            return None
    return sidecar["record"]
