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
import multiprocessing
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from songgen_hf.data.synth.clips import (  # noqa: F401 - also this module's names for the clip layout
    AUDIO_DIR,
    ENERGY_SCALE,
    GENERATOR_VERSION,
    META_DIR,
    SPLIT_STREAMS,
    CorpusConfig,
    _instrument_entries,
    _score_attributes,
    _style_attributes,
    _sung_notes,
    _write_text_atomic,
    arrange_clip,
    check_clip_replaceable,
    clip_id,
    clip_num_samples,
    clip_seed_sequence,
    load_complete_record,
    record_id,
    save_clip_record,
    write_stems,
)
from songgen_hf.data.synth.descriptions import describe
from songgen_hf.data.synth.midi import encode_midi
from songgen_hf.data.synth.render import mix_stems, render_midi
from songgen_hf.data.synth.song import plan_song
from songgen_hf.data.synth.tools import check_system_tools
from songgen_hf.data.synth.vocals import render_vocal_track
from songgen_hf.utils.atomic import remove_dead_writers_staging

MIN_MAX_DURATION = 4.0  # two sung 4/4 bars plus the closing chord need ~3.3 s at the fastest tempo


def generate_clip(output_dir: Path, config: CorpusConfig, split: str, index: int, soundfont: Path) -> dict:
    """Render one clip, write its WAVs and sidecar, and return its manifest record."""
    if config.corpus_version >= 2:  # v3 is v2 with slow songs on the beat
        from songgen_hf.data.synth.corpus_v2 import generate_clip_v2

        return generate_clip_v2(output_dir, config, split, index, soundfont)
    rate = config.sampling_rate
    plan_seeds, performance_seeds, caption_seeds = clip_seed_sequence(config.seed, split, index).spawn(3)
    plan = plan_song(plan_seeds, config.min_duration, config.max_duration)
    num_samples, end_beat, midi_notes, programs = arrange_clip(plan, config, performance_seeds)
    midi = encode_midi(midi_notes, programs, plan.tempo_bpm, (plan.beats_per_bar, 4), end_beat)
    accompaniment = render_midi(midi, num_samples, rate, soundfont)

    sung = _sung_notes(plan)
    vocals = render_vocal_track(
        sung, plan.voice, plan.espeak_pitch, plan.singing, num_samples, rate, list(plan.note_gains_db)
    )
    sung_mask = np.zeros(num_samples, dtype=bool)
    for note in sung:
        start = int(round(note.onset_s * rate))
        sung_mask[start : start + int(round(note.duration_s * rate))] = True
    stems = mix_stems(vocals, accompaniment, plan.vocal_to_accompaniment_db, sung_mask)

    identifier = clip_id(config.seed, split, index)
    paths = write_stems(output_dir, identifier, stems, rate)

    attributes = {
        **_style_attributes(plan),
        "instruments": _instrument_entries(plan),
        "drums": plan.arrangement.drums,
        "drum_pattern": plan.arrangement.drum_pattern if plan.arrangement.drums else None,
        "voice": plan.voice,
        "vocal_gender": plan.vocal_gender,
        **_score_attributes(plan, sung),
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


def _run_job(payload: tuple) -> tuple[str, int, bool]:
    output_dir, config_fields, split, index, soundfont, overwrite = payload
    output_dir, config = Path(output_dir), CorpusConfig(**config_fields)
    if not overwrite and load_complete_record(output_dir, config, split, index) is not None:
        return split, index, False
    check_clip_replaceable(output_dir, record_id(config, split, index))  # never a file songgen cannot prove it wrote
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
        raise ValueError(
            f"durations must satisfy 0 < min_duration <= max_duration and max_duration >= {MIN_MAX_DURATION}"
        )
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
        remove_dead_writers_staging(folder)  # an interrupted earlier run's staged files; a user's hidden files stay

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
    info = {
        **config.fingerprint(),
        "num_clips": num_clips,
        "num_train": num_clips - num_test,
        "num_test": num_test,
        "energy_scale": ENERGY_SCALE,
    }
    _write_text_atomic(output_dir / "corpus.json", json.dumps(info, indent=2) + "\n")
    return manifest


def _write_jsonl(path: Path, records: list[dict]) -> None:
    _write_text_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
