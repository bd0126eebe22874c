"""Generate a synthetic song corpus: stems, mixes and a JSONL manifest.

Layout of ``output_dir``::

    audio/{id}_mix.wav  audio/{id}_vocals.wav  audio/{id}_accompaniment.wav
    meta/{id}.json      per-clip sidecar (record + generation fingerprint)
    manifest.jsonl      every clip, train first then test
    train.jsonl, test.jsonl   only when ``test_fraction > 0``
    corpus.json         the generation settings

Clip ``i`` of a split depends only on ``(seed, split, i)``: any worker count,
order or resumption gives byte-identical files.  A clip counts as done when its
sidecar matches the current settings and its three WAVs have the expected size;
files are written to temporary names and renamed, the sidecar last.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from songgen_hf.data.synth.arrangement import arrange
from songgen_hf.data.synth.descriptions import describe
from songgen_hf.data.synth.midi import encode_midi
from songgen_hf.data.synth.render import (
    mean_square_energy,
    mix_stems,
    render_midi,
    wav_file_bytes,
    write_wav_atomic,
)
from songgen_hf.data.synth.song import SongPlan, key_attribute, plan_song
from songgen_hf.data.synth.styles import GM_PROGRAMS, gm_family
from songgen_hf.data.synth.tools import check_system_tools
from songgen_hf.data.synth.vocals import SungNote, render_vocal_track

GENERATOR_VERSION = "synth-1"
SPLIT_STREAMS = {"train": 0, "test": 1}  # distinct seed streams per split
ENERGY_SCALE = 1e4  # vocal_energy / acc_energy = mean square (full scale = 1) x 1e4
AUDIO_DIR, META_DIR = "audio", "meta"
MIN_MAX_DURATION = 4.0  # two sung 4/4 bars plus the closing chord need ~3.3 s at the fastest tempo


V1_FIELDS = ("seed", "sampling_rate", "min_duration", "max_duration")


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    sampling_rate: int = 16000
    min_duration: float = 5.0
    max_duration: float = 15.0
    # Corpus v2 (corpus_v2.py); version 1 ignores these and fingerprints exactly as before they existed.
    corpus_version: int = 1
    instrumental_share: float = 0.2
    drumless_share: float = 0.2
    min_tempo: int = 60
    max_tempo: int = 180
    slow_share: float = 0.3
    # transposed copies (v2/v3): every song moved by 1..transpose_range semitones up or down (0: off)
    transpose_range: int = 0

    def fingerprint(self) -> dict:
        if self.corpus_version == 1:
            return {"generator_version": GENERATOR_VERSION, **{name: getattr(self, name) for name in V1_FIELDS}}
        from songgen_hf.data.synth.corpus_v2 import GENERATOR_VERSIONS

        fields = asdict(self)
        if not self.transpose_range:  # corpora made before the field existed keep their fingerprint
            del fields["transpose_range"]
        return {"generator_version": GENERATOR_VERSIONS[self.corpus_version], **fields}


def clip_id(seed: int, split: str, index: int) -> str:
    return f"s{seed}-{split}-{index:06d}"


def record_id(config: CorpusConfig, split: str, index: int) -> str:
    """A clip's id in its corpus: :func:`clip_id`, plus ``-t+3`` for a copy transposed 3 semitones up."""
    identifier = clip_id(config.seed, split, index)
    if config.transpose_range:
        from songgen_hf.data.synth.corpus_v2 import transpose_semitones

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
        notes.append(SungNote(note.start_beat * plan.seconds_per_beat, notated - min(0.06, 0.2 * notated), note.midi, syllable))
    return notes


def _instrument_entries(plan: SongPlan) -> list[dict]:
    roles = [("chords", plan.arrangement.chord_program), ("bass", plan.arrangement.bass_program)]
    if plan.arrangement.pad_program is not None:
        roles.append(("pad", plan.arrangement.pad_program))
    return [
        {"role": role, "program": program, "name": GM_PROGRAMS[program][0], "family": gm_family(program)}
        for role, program in roles
    ]


def _audio_paths(output_dir: Path, identifier: str) -> dict[str, Path]:
    folder = output_dir / AUDIO_DIR
    return {
        "audio_path": folder / f"{identifier}_mix.wav",
        "vocal_path": folder / f"{identifier}_vocals.wav",
        "accompaniment_path": folder / f"{identifier}_accompaniment.wav",
    }


def generate_clip(output_dir: Path, config: CorpusConfig, split: str, index: int, soundfont: Path) -> dict:
    """Render one clip, write its WAVs and sidecar, and return its manifest record."""
    if config.corpus_version >= 2:  # v3 is v2 with slow songs on the beat
        from songgen_hf.data.synth.corpus_v2 import generate_clip_v2

        return generate_clip_v2(output_dir, config, split, index, soundfont)
    rate = config.sampling_rate
    plan_seeds, performance_seeds, caption_seeds = clip_seed_sequence(config.seed, split, index).spawn(3)
    plan = plan_song(plan_seeds, config.min_duration, config.max_duration)
    num_samples = clip_num_samples(plan, config)
    duration = num_samples / rate
    end_beat = duration / plan.seconds_per_beat

    performance_rng = np.random.default_rng(performance_seeds)
    midi_notes, programs = arrange(
        performance_rng, plan.arrangement, list(plan.bar_chords), plan.beats_per_bar, plan.vocal_start_bar, end_beat
    )
    midi = encode_midi(midi_notes, programs, plan.tempo_bpm, (plan.beats_per_bar, 4), end_beat)
    accompaniment = render_midi(midi, num_samples, rate, soundfont)

    sung = _sung_notes(plan)
    vocals = render_vocal_track(sung, plan.voice, plan.espeak_pitch, plan.singing, num_samples, rate, list(plan.note_gains_db))
    sung_mask = np.zeros(num_samples, dtype=bool)
    for note in sung:
        start = int(round(note.onset_s * rate))
        sung_mask[start : start + int(round(note.duration_s * rate))] = True
    stems = mix_stems(vocals, accompaniment, plan.vocal_to_accompaniment_db, sung_mask)

    identifier = clip_id(config.seed, split, index)
    paths = write_stems(output_dir, identifier, stems, rate)

    attributes = {
        "key": key_attribute(plan.key),
        "mode": plan.key.mode,
        "tempo_bpm": plan.tempo_bpm,
        "time_signature": plan.time_signature,
        "genre": plan.genre,
        "mood": plan.mood,
        "instruments": _instrument_entries(plan),
        "drums": plan.arrangement.drums,
        "drum_pattern": plan.arrangement.drum_pattern if plan.arrangement.drums else None,
        "voice": plan.voice,
        "vocal_gender": plan.vocal_gender,
        "chords": [chord.name for chord in plan.bar_chords],
        "progression": list(plan.progression),
        "num_bars": len(plan.bar_chords),
        "intro_bars": plan.intro_bars,
        "num_syllables": len(plan.syllables),
        "syllables": list(plan.syllables),
        # 10 us precision: round(t * rate) recovers the exact sample of each note.
        "note_onsets_s": [round(note.onset_s, 5) for note in sung],
        "note_durations_s": [round(note.duration_s, 5) for note in sung],
        "melody_midi": [note.midi for note in plan.melody],
        "vocal_to_accompaniment_db": round(plan.vocal_to_accompaniment_db, 3),
        "vocal_gain": round(stems.vocal_gain, 6),
        "accompaniment_gain": round(stems.accompaniment_gain, 6),
        "seed": config.seed,
        "split": split,
        "clip_index": index,
        "generator_version": GENERATOR_VERSION,
    }
    caption = describe(attributes, np.random.default_rng(caption_seeds))
    return save_clip_record(output_dir, config, identifier, caption, plan, paths, stems, num_samples, split, attributes)


def clip_num_samples(plan, config: CorpusConfig) -> int:
    """The clip's length in samples: the song's own length, clamped to the corpus's duration range."""
    rate = config.sampling_rate
    return int(
        min(max(round(plan.duration_s * rate), math.ceil(config.min_duration * rate)), math.floor(config.max_duration * rate))
    )


def write_stems(output_dir: Path, identifier: str, stems, rate: int, with_vocals: bool = True) -> dict[str, Path | None]:
    """Write a clip's WAVs (vocals, accompaniment, then the mix) and return their paths; an
    instrumental (``with_vocals=False``) gets no vocal file and a ``None`` path."""
    paths: dict[str, Path | None] = dict(_audio_paths(output_dir, identifier))
    if not with_vocals:
        paths["vocal_path"] = None
    for folder in (output_dir / AUDIO_DIR, output_dir / META_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    for name, audio in (("vocal_path", stems.vocals), ("accompaniment_path", stems.accompaniment),
                        ("audio_path", stems.mix)):
        if paths[name] is not None:
            write_wav_atomic(paths[name], audio, rate)
    return paths


def save_clip_record(output_dir: Path, config: CorpusConfig, identifier: str, caption: str, plan, paths: dict,
                     stems, num_samples: int, split: str, attributes: dict) -> dict:
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
    sidecar = {"fingerprint": config.fingerprint(), "num_samples": num_samples, "record": record}
    _write_text_atomic(output_dir / META_DIR / f"{identifier}.json", json.dumps(sidecar, ensure_ascii=False))
    return record


def _write_text_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def load_complete_record(output_dir: Path, config: CorpusConfig, split: str, index: int) -> dict | None:
    """The clip's record if it was fully written with the same settings, else None."""
    identifier = record_id(config, split, index)
    sidecar_path = output_dir / META_DIR / f"{identifier}.json"
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if sidecar.get("fingerprint") != config.fingerprint():
        return None
    expected = wav_file_bytes(sidecar["num_samples"])
    for name, path in _audio_paths(output_dir, identifier).items():
        if sidecar["record"].get(name) is None:  # a v2 instrumental has no vocal stem
            continue
        if not path.is_file() or path.stat().st_size != expected:
            return None
    return sidecar["record"]


def _run_job(payload: tuple) -> tuple[str, int, bool]:
    output_dir, config_fields, split, index, soundfont, overwrite = payload
    output_dir, config = Path(output_dir), CorpusConfig(**config_fields)
    if not overwrite and load_complete_record(output_dir, config, split, index) is not None:
        return split, index, False
    generate_clip(output_dir, config, split, index, Path(soundfont))
    return split, index, True


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="synth clips", unit="clip")


def synthesize_corpus(
    output_dir: str | os.PathLike,
    num_clips: int,
    seed: int = 0,
    num_workers: int = 1,
    min_duration: float = 5.0,
    max_duration: float = 15.0,
    sampling_rate: int = 16000,
    overwrite: bool = False,
    test_fraction: float = 0.0,
    progress: bool = False,
    start_method: str | None = None,
    corpus_version: int = 1,
    **v2_options,
) -> Path:
    """Write ``num_clips`` clips (``round(num_clips * test_fraction)`` of them in a
    held-out ``test`` split with its own seed stream) and return ``manifest.jsonl``.

    Resumable: complete clips are skipped unless ``overwrite``.  Parallel over
    ``num_workers`` processes started with ``start_method`` (default: "fork" where
    available, since workers only run numpy/scipy and subprocesses and a
    spawned worker would have to re-import the whole package).  ``corpus_version=2`` makes
    corpus v2 (instrumentals, drumless songs, 60-180 BPM, DC-free stems, more caption phrasings;
    see ``corpus_v2.py``), ``corpus_version=3`` the same with slow songs' accompaniment on the beat;
    both are tuned by ``v2_options`` (``instrumental_share``, ``drumless_share``,
    ``min_tempo``, ``max_tempo``, ``slow_share``).  Raises :class:`SystemToolsMissingError` if
    fluidsynth, espeak-ng or the soundfont is missing.
    """
    if num_clips < 0:
        raise ValueError("num_clips must be >= 0")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError("test_fraction must be in [0, 1)")
    if not (0.0 < min_duration <= max_duration and max_duration >= MIN_MAX_DURATION):
        raise ValueError(f"durations must satisfy 0 < min_duration <= max_duration and max_duration >= {MIN_MAX_DURATION}")
    if corpus_version not in (1, 2, 3):
        raise ValueError(f"corpus_version must be 1, 2 or 3, got {corpus_version!r}.")
    if v2_options and corpus_version == 1:
        raise ValueError(f"{sorted(v2_options)} only apply to corpus versions 2 and 3; drop them or ask for one.")
    config = CorpusConfig(seed, sampling_rate, float(min_duration), float(max_duration), corpus_version, **v2_options)
    if corpus_version >= 2:
        from songgen_hf.data.synth.corpus_v2 import check_v2_config

        check_v2_config(config)
    soundfont = check_system_tools()
    output_dir = Path(output_dir)
    (output_dir / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    (output_dir / META_DIR).mkdir(parents=True, exist_ok=True)
    for folder in (output_dir / AUDIO_DIR, output_dir / META_DIR):
        for leftover in folder.glob(".*.tmp"):  # from an interrupted earlier run
            leftover.unlink(missing_ok=True)

    num_test = int(round(num_clips * test_fraction))
    jobs = [("train", index) for index in range(num_clips - num_test)] + [("test", index) for index in range(num_test)]
    payloads = [(str(output_dir), asdict(config), split, index, str(soundfont), overwrite) for split, index in jobs]
    if num_workers <= 1 or len(payloads) <= 1:
        for _ in _progress(map(_run_job, payloads), len(payloads), progress):
            pass
    else:
        available = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context(start_method or ("fork" if "fork" in available else "spawn"))
        with context.Pool(min(num_workers, len(payloads))) as pool:
            for _ in _progress(pool.imap_unordered(_run_job, payloads, chunksize=1), len(payloads), progress):
                pass

    records = {split: [] for split in SPLIT_STREAMS}
    for split, index in jobs:
        record = load_complete_record(output_dir, config, split, index)
        if record is None:
            raise RuntimeError(f"clip {record_id(config, split, index)} is missing after generation")
        records[split].append(record)
    manifest = output_dir / "manifest.jsonl"
    _write_jsonl(manifest, records["train"] + records["test"])
    if num_test:
        _write_jsonl(output_dir / "train.jsonl", records["train"])
        _write_jsonl(output_dir / "test.jsonl", records["test"])
    info = {**config.fingerprint(), "num_clips": num_clips, "num_train": num_clips - num_test, "num_test": num_test,
            "energy_scale": ENERGY_SCALE}
    _write_text_atomic(output_dir / "corpus.json", json.dumps(info, indent=2) + "\n")
    return manifest


def _write_jsonl(path: Path, records: list[dict]) -> None:
    _write_text_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
