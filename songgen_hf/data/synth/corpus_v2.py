"""Corpus v2: the controls corpus v1 could not teach.

Version 1 (the default, which rebuilt songgen-tiny v4) sings every clip, puts drums in nearly all
of them and keeps tempos inside each genre's range (a quarter of the clips are never below 90 BPM
for most genres).  Version 2 adds, per clip, from its own seed stream (so the v1 streams of the
song are unchanged):

* **instrumentals** (``instrumental_share``, default 20 %): no lyrics, no vocal stem
  (``vocal_path`` is null, ``vocal_energy`` 0); most carry the melody on a lead instrument instead;
* **drumless songs** (``drumless_share``, default 20 %, drawn independently of the genre);
* **tempos** over ``[min_tempo, max_tempo]`` (default 60-180 BPM) with ``slow_share`` (default
  30 %, so that any corpus has at least a quarter) below :data:`SLOW_BPM` (90), uniform within each side;
* **DC-free stems**: every raw stem is high-passed at :data:`DC_CUTOFF_HZ` and its mean removed
  before mixing (the Synth Bass patches of FluidR3 carry an offset), so ``mix == vocals +
  accompaniment`` still holds sample for sample;
* captions in more of the phrasings the processor reads (``descriptions_v2.py``).

Version 3 (``--corpus-version 3``) is version 2 with one change: below :data:`SLOW_BPM` the chords, bass
and drums play on the beat only (:attr:`Arrangement.on_beat`).  In v2 a 62 BPM song in a pop or dance
groove has an eighth-note pulse in every part, so librosa reads 30 % of the slow held-out songs at twice
their tempo, and a model learns the same ambiguity.  Songs at or above 90 BPM, every caption and every
other choice are v2's.

Transposed copies (``transpose_range`` R > 0, v2 and v3): the same songs, each moved by k semitones,
k drawn per clip from +-1..R (:func:`transpose_semitones`): the plan's key, chord roots and melody
move together and everything else (tempo, instruments, voice, lyrics, caption template) stays, so the
caption names the new key.  A corpus has about n / 24 songs per key; the copies give the key control
every song in other keys.  Ids end in ``-t+3``; ``attributes.transposed_semitones`` says by how much.

Ground truth stays in ``attributes`` (``has_vocals``, ``has_drums``, ``lead``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import signal

from songgen_hf.data.synth.clips import (  # noqa: F401 - also this module's names for the v2 identity
    GENERATOR_VERSION_V2,
    GENERATOR_VERSIONS,
    MAX_TRANSPOSE,
    SPLIT_STREAMS,
    TRANSPOSE_STREAM,
    CorpusConfig,
    _instrument_entries,
    _score_attributes,
    _style_attributes,
    _sung_notes,
    arrange_clip,
    clip_num_samples,
    clip_seed_sequence,
    record_id,
    save_clip_record,
    sung_parts,
    transpose_semitones,
    write_stems,
)
from songgen_hf.data.synth.descriptions_v2 import LEAD_PROGRAMS, describe_v2
from songgen_hf.data.synth.midi import MidiNote, encode_midi
from songgen_hf.data.synth.render import mix_stems, render_midi
from songgen_hf.data.synth.song import SongPlan, plan_song
from songgen_hf.data.synth.vocals import render_vocal_track
from songgen_hf.modeling.music import genre_style, gm_family

SLOW_BPM = 90  # below this, songgen-tiny v4 doubled every requested tempo: v2 must teach it
TEMPO_LIMITS = (40, 190)  # 190: the planner's own ceiling (song.MAX_TEMPO_BPM)
DC_CUTOFF_HZ = 20.0  # far below the lowest bass note (MIDI 36, 65 Hz)
LEAD_SHARE = 0.75  # instrumentals that carry the melody on an instrument (the rest are backing only)
LEAD_CHANNEL = 3


@dataclass(frozen=True)
class ClipChoices:
    """What v2 decides for one clip before its song is planned."""

    instrumental: bool
    drums: bool
    tempo_bpm: int
    lead_program: int | None  # instrumentals only


def check_v2_config(config: CorpusConfig) -> None:
    """Every v2 knob, with the fix in the message."""
    for name in ("instrumental_share", "drumless_share", "slow_share"):
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
            raise ValueError(f"{name} must be a fraction in [0, 1] (e.g. 0.2), got {value!r}.")
    low, high = config.min_tempo, config.max_tempo
    if not (TEMPO_LIMITS[0] <= low <= high <= TEMPO_LIMITS[1]):
        raise ValueError(
            f"The tempo range {low}-{high} BPM must lie within {TEMPO_LIMITS[0]}-{TEMPO_LIMITS[1]} BPM with "
            "min <= max, e.g. --tempo-range 60 180."
        )
    if config.slow_share > 0 and low >= SLOW_BPM:
        raise ValueError(
            f"slow_share {config.slow_share:g} asks for tempos below {SLOW_BPM} BPM but the range starts "
            f"at {low}; lower the range's minimum or set the slow share to 0."
        )
    if config.slow_share < 1 and high < SLOW_BPM:
        raise ValueError(
            f"slow_share {config.slow_share:g} leaves tempos of {SLOW_BPM} BPM or more but the range ends "
            f"at {high}; raise the range's maximum or set the slow share to 1."
        )
    if config.style is not None:
        genre_style(config.style)  # a ValueError naming the styles there are
    shift = config.transpose_range
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift <= MAX_TRANSPOSE:
        raise ValueError(
            f"transpose_range must be a whole number of semitones in 0..{MAX_TRANSPOSE} (0: no "
            f"transposition, 4 is typical), got {shift!r}."
        )


def transpose_plan(plan: SongPlan, semitones: int) -> SongPlan:
    """``plan`` moved by ``semitones``: key, chord roots and melody together (the rest as it was)."""
    key = replace(plan.key, tonic=(plan.key.tonic + semitones) % 12)
    chords = tuple(replace(chord, root=(chord.root + semitones) % 12) for chord in plan.bar_chords)
    melody = tuple(replace(note, midi=note.midi + semitones) for note in plan.melody)
    return replace(plan, key=key, bar_chords=chords, melody=melody)


# Weyl-sequence steps (rationally independent irrationals): frac(offset + index * step) is spread so
# evenly that every run of n consecutive clips holds the asked share to within a few clips, and the
# three yes/no choices are independent of each other (each pair equidistributed in the unit square).
_STEPS = (0.6180339887498949, 0.4142135623730951, 0.7320508075688772)  # golden ratio, sqrt 2, sqrt 3


def _even_fractions(config: CorpusConfig, split: str, index: int) -> np.ndarray:
    offsets = np.random.default_rng(np.random.SeedSequence([config.seed, SPLIT_STREAMS[split]])).random(3)
    return np.mod(offsets + index * np.array(_STEPS), 1.0)


def draw_choices(config: CorpusConfig, split: str, index: int) -> ClipChoices:
    """The clip's v2 choices: the shares from even fractions, the rest from a fourth child of the
    clip's seed (v1's song uses the first three, which v2 leaves as they are)."""
    rng = np.random.default_rng(clip_seed_sequence(config.seed, split, index).spawn(4)[3])
    vocal_u, drum_u, slow_u = _even_fractions(config, split, index)
    instrumental = bool(vocal_u < config.instrumental_share)
    drums = not bool(drum_u < config.drumless_share)
    if slow_u < config.slow_share:
        tempo = int(rng.integers(config.min_tempo, min(SLOW_BPM - 1, config.max_tempo) + 1))
    else:
        tempo = int(rng.integers(max(SLOW_BPM, config.min_tempo), config.max_tempo + 1))
    leads = sorted(LEAD_PROGRAMS)
    lead = leads[int(rng.integers(len(leads)))] if rng.random() < LEAD_SHARE else None
    return ClipChoices(instrumental, drums, tempo, lead if instrumental else None)


def plan_clip(config: CorpusConfig, split: str, index: int) -> tuple[SongPlan, ClipChoices]:
    """The song plan of a v2 clip (no audio): cheap, so tests can check hundreds of them."""
    choices = draw_choices(config, split, index)
    plan_seeds = clip_seed_sequence(config.seed, split, index).spawn(3)[0]
    plan = plan_song(
        plan_seeds,
        config.min_duration,
        config.max_duration,
        tempo_bpm=choices.tempo_bpm,
        drums=choices.drums,
        style=config.style,
    )
    # a 12/8 style keeps its triplets when slow: they are the style (its beat is the dotted quarter)
    if config.corpus_version >= 3 and choices.tempo_bpm < SLOW_BPM and not plan.arrangement.triplets:
        plan = replace(plan, arrangement=replace(plan.arrangement, on_beat=True))
    if choices.instrumental:
        plan = replace(plan, lyric_lines=(), syllables=())
    if config.transpose_range:
        plan = transpose_plan(plan, transpose_semitones(config, index))
    return plan, choices


def plan_attributes(plan: SongPlan, choices: ClipChoices, config: CorpusConfig, split: str, index: int) -> dict:
    """The record's ground truth that the plan alone decides (the caption is written from it)."""
    sung = [] if choices.instrumental else _sung_notes(plan)
    instruments = _instrument_entries(plan)
    lead = None
    if choices.lead_program is not None:
        lead = {
            "role": "lead",
            "program": choices.lead_program,
            "name": LEAD_PROGRAMS_NAMES[choices.lead_program],
            "family": gm_family(choices.lead_program),
        }
        instruments.append(lead)
    return {
        **_style_attributes(plan),
        "instruments": instruments,
        "drums": plan.arrangement.drums,
        "has_drums": plan.arrangement.drums,
        "has_vocals": not choices.instrumental,
        "instrumental": choices.instrumental,
        "lead": lead,
        "drum_pattern": plan.arrangement.drum_pattern if plan.arrangement.drums else None,
        "voice": None if choices.instrumental else plan.voice,
        "vocal_gender": None if choices.instrumental else plan.vocal_gender,
        # a choir style's singers (a solo style's records stay as they were)
        **({"singers": 1 + len(plan.chorus)} if plan.chorus and not choices.instrumental else {}),
        **_score_attributes(plan, sung),
        # an instrumental's lead plays the melody (an octave up from a male register); else none is heard
        "melody_midi": []
        if choices.instrumental and lead is None
        else [_lead_pitch(plan, n.midi, choices) for n in plan.melody],
        "vocal_to_accompaniment_db": None if choices.instrumental else round(plan.vocal_to_accompaniment_db, 3),
        "seed": config.seed,
        "split": split,
        "clip_index": index,
        # v3's one new field; v2's records stay byte-identical
        **({"accompaniment_on_beat": plan.arrangement.on_beat} if config.corpus_version >= 3 else {}),
        **({"transposed_semitones": transpose_semitones(config, index)} if config.transpose_range else {}),
        "corpus_version": config.corpus_version,
        "generator_version": GENERATOR_VERSIONS[config.corpus_version],
    }


def _lead_pitch(plan: SongPlan, midi: int, choices: ClipChoices) -> int:
    return midi + 12 if choices.instrumental and plan.vocal_gender == "male" else midi


def remove_dc(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Zero-phase high-pass at DC_CUTOFF_HZ, then the mean removed: no offset, no shift in time.

    A stem that is zero everywhere (an instrumental's vocals) stays exactly zero."""
    if not np.any(audio):
        return audio
    sos = signal.butter(2, DC_CUTOFF_HZ, btype="highpass", fs=sampling_rate, output="sos")
    filtered = signal.sosfiltfilt(sos, audio)
    return filtered - filtered.mean()


def remove_vocal_dc(vocals: np.ndarray, sung_mask: np.ndarray) -> np.ndarray:
    """The vocal stem's offset removed note by note, so it stays exactly zero between notes (a filter's
    ringing would leak into the silences the v1 contract promises)."""
    out = vocals.copy()
    edges = np.flatnonzero(np.diff(np.concatenate(([0], sung_mask.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2]):
        out[start:stop] -= out[start:stop].mean()
    return out


def generate_clip_v2(output_dir: Path, config: CorpusConfig, split: str, index: int, soundfont: Path) -> dict:
    """Render one v2 (or v3) clip, write its WAVs and sidecar, and return its manifest record."""
    rate = config.sampling_rate
    plan, choices = plan_clip(config, split, index)
    _, performance_seeds, caption_seeds = clip_seed_sequence(config.seed, split, index).spawn(3)
    num_samples, end_beat, midi_notes, programs = arrange_clip(plan, config, performance_seeds)
    if choices.lead_program is not None:
        velocity = min(127, plan.arrangement.base_velocity + 12)
        for note in plan.melody:
            midi_notes.append(
                MidiNote(
                    LEAD_CHANNEL,
                    _lead_pitch(plan, note.midi, choices),
                    note.start_beat,
                    max(0.05, note.duration_beats - 0.05),
                    velocity,
                )
            )
        programs[LEAD_CHANNEL] = choices.lead_program
    midi = encode_midi(midi_notes, programs, plan.tempo_bpm, (plan.beats_per_bar, 4), end_beat)
    accompaniment = remove_dc(render_midi(midi, num_samples, rate, soundfont), rate)

    sung_mask = np.zeros(num_samples, dtype=bool)
    if choices.instrumental:
        vocals = np.zeros(num_samples)
    else:
        vocals = np.zeros(num_samples)
        for voice, singing, sung in sung_parts(plan):  # one singer, or a choir style's
            vocals = vocals + render_vocal_track(
                sung, voice, plan.espeak_pitch, singing, num_samples, rate, list(plan.note_gains_db)
            )
            for note in sung:
                start = int(round(note.onset_s * rate))
                sung_mask[start : start + int(round(note.duration_s * rate))] = True
        vocals = remove_vocal_dc(vocals, sung_mask)
    stems = mix_stems(vocals, accompaniment, plan.vocal_to_accompaniment_db, sung_mask)

    identifier = record_id(config, split, index)
    paths = write_stems(output_dir, identifier, stems, rate, with_vocals=not choices.instrumental)

    attributes = plan_attributes(plan, choices, config, split, index)
    attributes["vocal_gain"] = None if choices.instrumental else round(stems.vocal_gain, 6)
    attributes["accompaniment_gain"] = round(stems.accompaniment_gain, 6)
    caption = describe_v2(attributes, np.random.default_rng(caption_seeds))
    return save_clip_record(output_dir, config, identifier, caption, plan, paths, stems, num_samples, split, attributes)


def plan_caption(config: CorpusConfig, split: str, index: int) -> tuple[str, dict]:
    """The caption and ground truth a v2 clip will get, without rendering it (gains are left out)."""
    plan, choices = plan_clip(config, split, index)
    attributes = plan_attributes(plan, choices, config, split, index)
    caption_seeds = clip_seed_sequence(config.seed, split, index).spawn(3)[2]
    return describe_v2(attributes, np.random.default_rng(caption_seeds)), attributes


LEAD_PROGRAMS_NAMES = {program: name for program, (name, _) in LEAD_PROGRAMS.items()}
