"""The five per-song stages.  Each reads what the previous one wrote under ``work/SONG/`` and returns
the facts the runner records in the stage's marker file; :class:`Dropped` stops a song with a reason.

    decode    work/SONG/mix.wav                        (16 kHz mono, loudness-normalised)
    separate  work/SONG/sources/{vocals,drums,...}.wav (16 kHz mono, aligned to mix.wav)
    slice     audio/CLIP_{mix,vocals,accompaniment}.wav, one per clip that passed the energy threshold
    lyrics    per clip: lyrics (user file or recognition) and the recognisers' edit distance
    describe  per clip: caption, tempo, key, instruments, CLAP score, word timing -> the manifest records
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songgen_hf.data.audio import load_audio, write_audio
from songgen_hf.data.prepare.decode import SAMPLING_RATE, Dropped, Song, decode_song, read_audio
from songgen_hf.data.prepare.describe import ClapScorer, caption, estimate_key, estimate_tempo, instruments
from songgen_hf.data.prepare.lyrics import (
    AsrRecogniser,
    Recogniser,
    align_user_lyrics,
    check_user_lyrics,
    estimate_word_timing,
    recognise,
    user_lyrics_lines,
)
from songgen_hf.data.prepare.options import HQ_MAX_EDIT_DISTANCE, HQ_MIN_CLAP, PrepareOptions
from songgen_hf.data.prepare.separation import DemucsSeparator, Separator, split_stems
from songgen_hf.data.prepare.slicing import plan_clips, split_long, voice_segments
from songgen_hf.utils.safe_files import read_bytes

ENERGY_SCALE = 1e4  # as the synthetic corpus: mean square (full scale = 1) x 1e4
AUDIO_DIR, WORK_DIR, SOURCES_DIR = "audio", "work", "sources"
CLIP_TRACKS = {"audio_path": "mix", "vocal_path": "vocals", "accompaniment_path": "accompaniment"}
# How the records' word timing was made (their attributes' ``lyrics_timing``; part of the describe stage's inputs, so
# a corpus prepared before the timing existed gets it by rerunning describe alone)
WORD_TIMING = "voiced-time estimate"


@dataclass
class Context:
    """Where the corpus lives, the options, and the models (built on first use, or given by a caller)."""

    output: Path
    options: PrepareOptions
    separator: Separator | None = None
    recognisers: tuple[Recogniser, Recogniser | None] | None = None
    clap: ClapScorer | None = None
    clap_checked: bool = False
    notes: dict[str, list[str]] = field(default_factory=dict)

    def work(self, song: Song) -> Path:
        return self.output / WORK_DIR / song.id

    def get_separator(self) -> Separator:
        if self.separator is None:
            self.separator = DemucsSeparator(
                self.options.separation_model, self.options.device, trust=self.options.trust_separation_model
            )
        return self.separator

    def get_recognisers(self) -> tuple[Recogniser, Recogniser | None]:
        if self.recognisers is None:
            o = self.options
            first = AsrRecogniser(o.asr_model, o.device, o.language)
            second = AsrRecogniser(o.second_asr_model, o.device, o.language) if o.second_asr_model else None
            self.recognisers = (first, second)
        return self.recognisers

    def note(self, kind: str, detail: str) -> None:
        self.notes.setdefault(kind, []).append(detail)


def energy(audio: np.ndarray) -> float:
    return round(float(np.mean(np.square(audio, dtype=np.float64))) * ENERGY_SCALE, 6) if audio.size else 0.0


def run_decode(song: Song, ctx: Context) -> dict[str, Any]:
    # a song that cannot be decoded raises DecodeError, a Dropped
    mix, facts = decode_song(song, ctx.options.target_lufs, ctx.options.slicing.min_seconds)
    write_audio(ctx.work(song) / "mix.wav", mix, SAMPLING_RATE)
    return {**facts, "num_samples": int(mix.shape[-1])}


def run_separate(song: Song, ctx: Context, decoded: dict) -> dict[str, Any]:
    audio, rate = read_audio(song.path)
    sources = ctx.get_separator().separate(audio * decoded["gain"], rate, decoded["num_samples"])
    folder = ctx.work(song) / SOURCES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, stem in sources.items():
        write_audio(folder / f"{name}.wav", stem, SAMPLING_RATE)
    return {"sources": sorted(sources), "energies": {name: energy(stem) for name, stem in sources.items()}}


def _load_sources(song: Song, ctx: Context, names: list[str]) -> dict[str, np.ndarray]:
    folder = ctx.work(song) / SOURCES_DIR
    return {name: load_audio(folder / f"{name}.wav", SAMPLING_RATE) for name in names}


def run_slice(song: Song, ctx: Context, decoded: dict, separated: dict) -> dict[str, Any]:
    o = ctx.options
    mix = load_audio(ctx.work(song) / "mix.wav", SAMPLING_RATE)
    sources = _load_sources(song, ctx, separated["sources"])
    vocals, accompaniment = split_stems(sources)
    segments = voice_segments(vocals, o.slicing)
    if not segments:
        raise Dropped("no vocals", f"{song.path}: voice-activity detection found no voice in the separated vocals")
    segments, forced = split_long(segments, vocals, o.slicing)
    clips, too_short = plan_clips(segments, mix.shape[-1] / SAMPLING_RATE, o.slicing, vocals)
    kept, low_energy = [], 0
    for start, end, first, last in clips:
        a, b = int(round(start * SAMPLING_RATE)), int(round(end * SAMPLING_RATE))
        tracks = {"mix": mix[a:b], "vocals": vocals[a:b], "accompaniment": accompaniment[a:b]}
        vocal_energy = energy(tracks["vocals"])
        if vocal_energy < o.min_vocal_energy:
            low_energy += 1
            continue
        clip_id = f"{song.id}-{len(kept) + low_energy:03d}"
        for name, track in tracks.items():
            write_audio(ctx.output / AUDIO_DIR / f"{clip_id}_{name}.wav", track, SAMPLING_RATE)
        inside = [(max(s, start), min(e, end)) for s, e in segments[first : last + 1]]
        kept.append(
            {
                "id": clip_id,
                "start": start,
                "end": end,
                "vocal_energy": vocal_energy,
                "acc_energy": energy(tracks["accompaniment"]),
                "voiced_share": round(sum(e - s for s, e in inside) / max(end - start, 1e-9), 4),
                "instruments": instruments({name: stem[a:b] for name, stem in sources.items()}),
            }
        )
    if not kept and not clips:
        raise Dropped(
            "no clips",
            f"{song.path}: its voiced stretches make no clip of {o.slicing.min_seconds:g}-{o.slicing.max_seconds:g} s",
        )
    return {
        "segments": [[round(s, 4), round(e, 4)] for s, e in segments],
        "forced_cuts": forced,
        "clips": kept,
        "dropped_clips": {"clip too short": too_short, "low vocal energy": low_energy},
    }


def run_lyrics(song: Song, ctx: Context, sliced: dict) -> dict[str, Any]:
    clips = sliced["clips"]
    segments = [tuple(s) for s in sliced["segments"]]
    user, mismatch = None, None
    if song.lyrics_path is not None:
        lines = user_lyrics_lines(
            read_bytes(song.lyrics_path, "the lyrics", max_bytes=2**20).decode("utf-8", errors="replace")
        )
        mismatch = check_user_lyrics(lines, sum(e - s for s, e in segments))
        if mismatch is None:
            user = align_user_lyrics(lines, segments, [(c["start"], c["end"]) for c in clips])
        else:
            ctx.note("lyrics file does not match", f"{song.lyrics_path}: {mismatch}; using speech recognition")
    results, drops = [], {"no lyrics": 0, "recognisers disagree": 0}
    for index, clip in enumerate(clips):
        if user is not None:
            entry = {"lyrics": user[index], "lyrics_source": "user", "edit_distance": None}
        else:
            first, second = ctx.get_recognisers()
            vocals = load_audio(ctx.output / AUDIO_DIR / f"{clip['id']}_vocals.wav", SAMPLING_RATE)
            heard = recognise(vocals, first, second)
            entry = {
                "lyrics": heard.text,
                "lyrics_source": "recognition",
                "edit_distance": heard.edit_distance,
                "second_transcript": heard.second,
            }
            if heard.edit_distance is not None and heard.edit_distance > ctx.options.max_edit_distance:
                drops["recognisers disagree"] += 1
                entry["dropped"] = "recognisers disagree"
        if not entry.get("dropped") and not entry["lyrics"].strip():
            drops["no lyrics"] += 1
            entry["dropped"] = "no lyrics"
        results.append({"id": clip["id"], **entry})
    return {"clips": results, "dropped_clips": drops, "lyrics_mismatch": mismatch}


def _clap(ctx: Context) -> ClapScorer | None:
    if ctx.clap is None and not ctx.clap_checked:
        ctx.clap_checked = True
        if ctx.options.clap_model:
            ctx.clap = ClapScorer(ctx.options.clap_model, ctx.options.device)
    return ctx.clap


def clip_word_timing(clip: dict, segments: list, text: str) -> dict[str, Any]:
    """The clip's word timing (seconds from the clip's start) for its record's attributes, estimated from the
    voiced segments inside the clip (lyrics.estimate_word_timing); {} where there is nothing to time."""
    start, end = clip["start"], clip["end"]
    inside = [(max(a, start) - start, min(b, end) - start) for a, b in segments if b > start and a < end]
    timing = estimate_word_timing(text, inside)
    return {**timing, "lyrics_timing": WORD_TIMING} if timing else {}


def run_describe(song: Song, ctx: Context, sliced: dict, lyrics: dict) -> dict[str, Any]:
    o = ctx.options
    records, low_clap = [], 0
    scorer = _clap(ctx)
    for clip, words in zip(sliced["clips"], lyrics["clips"]):
        if words.get("dropped"):
            continue
        paths = {field: f"{AUDIO_DIR}/{clip['id']}_{track}.wav" for field, track in CLIP_TRACKS.items()}
        mix = load_audio(ctx.output / paths["audio_path"], SAMPLING_RATE)
        accompaniment = load_audio(ctx.output / paths["accompaniment_path"], SAMPLING_RATE)
        harmonic = accompaniment if energy(accompaniment) >= 0.1 * energy(mix) else mix
        tempo, key = estimate_tempo(mix), estimate_key(harmonic)
        text = caption(song.tags, tempo, key, clip["instruments"], clip["voiced_share"])
        clap = scorer.score(mix, text) if scorer is not None else None
        if clap is not None and clap < o.min_clap_score:
            low_clap += 1
            continue
        distance = words["edit_distance"]
        hq = (
            clip["vocal_energy"] > o.hq_vocal_energy
            and (words["lyrics_source"] == "user" or (distance is not None and distance <= HQ_MAX_EDIT_DISTANCE))
            and (clap is None or clap >= HQ_MIN_CLAP)
        )
        records.append(
            {
                "id": clip["id"],
                "caption": text,
                "lyrics": words["lyrics"],
                **paths,
                "duration": round(mix.shape[-1] / SAMPLING_RATE, 6),
                "sampling_rate": SAMPLING_RATE,
                "vocal_energy": clip["vocal_energy"],
                "acc_energy": clip["acc_energy"],
                "language": o.language,
                "attributes": {
                    "song": song.id,
                    "source": str(song.path),
                    "start_s": clip["start"],
                    "end_s": clip["end"],
                    "tempo_bpm": tempo,
                    "key": key[0] if key else None,
                    "mode": key[1] if key else None,
                    "tags": song.tags,
                    "instruments": clip["instruments"],
                    "voiced_share": clip["voiced_share"],
                    "lyrics_source": words["lyrics_source"],
                    "edit_distance": distance,
                    "clap_score": clap,
                    "hq": bool(hq),
                    **clip_word_timing(clip, sliced["segments"], words["lyrics"]),
                },
            }
        )
    return {"records": records, "dropped_clips": {"low CLAP score": low_clap}}


__all__ = [
    "AUDIO_DIR",
    "WORD_TIMING",
    "WORK_DIR",
    "Context",
    "Dropped",
    "run_decode",
    "run_describe",
    "run_lyrics",
    "run_separate",
    "run_slice",
]
