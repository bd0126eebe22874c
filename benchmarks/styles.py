"""Does the recipe carry?  The LoRA journey of ``your_songs.py`` on several styles that differ from the corpus along
different axes, each judged on its own, worst style first, and the levers of ``finetune-lora`` measured on the worst.

The styles (``songgen data synth --style NAME``; none is drawn by a corpus):

- **calypso** (instrument family and timbre): steel drums, marimba, kalimba and tuba over hand percussion;
- **gospel** (metre and groove): the corpus's own instruments (piano, organ, electric bass, a drum kit) in 12/8,
  every beat three triplet eighths, where every corpus genre plays two (or a swung pair);
- **bass_choir** (voice): a choir of three low male voices an octave below the corpus's male register, over a plain
  corpus accompaniment.

Kept apart from the project, measured only when ``--styles`` names it and reported in a section (and table) of its
own, never the worst style the levers are chosen on (``--lever-style`` and ``--carry-to`` refuse it):

- **harp_five** (metre, instruments and voice at once): 5/4 grouped three and two on harp or celesta, a pizzicato or
  bassoon bass, wood blocks and a triangle, sung by two female voices the corpus never sings with.

Per style, as ``your_songs.py`` does for calypso: 32 training clips encoded with the base's codec, 48 held out;
``finetune-lora`` with the documented settings (docs/fine_tuning.md, "A real run"); a judge (logistic regression on
``style_judge_features``: ``your_songs.judge_features`` plus the beat-relative groove and register features of
``songgen_hf.evaluation.groove``) fitted on 24 held-out clips of the style against 24 corpus clips, each also through
the codec, plus (``--judge corpus+base``, the default) the base's own songs of the corpus sample's captions in the
corpus's class, so that what the judge calls the style is the style and not "a song the base did not make";
its **sharpness** (the base's songs near 0, the style's own clips through the codec near 1) is reported; 16 prompts
phrased unlike the corpus captions and 16 unrelated prompts x 2 seeds.  Per style and run: the style score, its
paired difference from the base, the **share of the way** from the base to the style's own codec clips (bootstrap
95 % intervals over the prompts) and the **leak**: how far the unrelated prompts' songs move towards the style,
as a share of how far the style prompts' songs move.

``--levers`` trains and measures the levers on ``--lever-style`` (the worst style, chosen from a first run of the
recipe): DoRA, more targets (token embeddings, musical controls, the description's projection), a trigger phrase
in the training descriptions (said in the style prompts), a constant learning rate, rank 4 and 32; the
recipe's checkpoints give the steps (epochs over the 32 songs) lever.  ``--lever-steps`` trains them shorter than the
recipe (a reduced scale, recorded in the report) where the machine cannot afford the full one.  Further levers: twice
the steps or the learning rate (``steps_x2``, ``lr6e-3``), the adapter at other weights when the songs are made
(``--weights``), and the tempo record (``style_tempo``: the recipe's adapter with its songs' tempo recorded, which
``finetune-lora`` writes, copied with ``--style-tempo-from recipe``); ``--carry-to`` measures the same levers on
other styles and ``--untimed-unrelated`` the leak on unrelated prompts that name no tempo.

    python benchmarks/styles.py --work /tmp/styles --json docs/benchmarks/styles.json
    python benchmarks/styles.py --work /tmp/styles --levers dora,targets,trigger --lever-style gospel --json ...

``--ablate-voice`` also measures each run whose singer adapter records a learnt voice (``learned_voice.json``) with
that record left out (a copy of its ``final`` beside it): the singer's LoRA alone, told the corpus's registers.
``--singer-none-report`` puts the same runs' report made with ``--singer none`` (the decoder's own vocals) beside
this one's, and the table shows both.

``--documented`` measures the documented run (``finetune-lora`` as "A real run" gives it: the singer stage with its
learnt voice and the tempo record) on every style of ``--styles`` instead of the recipe, trained, or copied from a
seeded run of the same settings with the records it predates (``--documented-from STYLE=FOLDER``, ``documented_copy``;
the report compares the copy's folder with a trained one's), each paired with an earlier run of the work folder
(``--compared-with STYLE=RUN``).  ``--diagnose STYLE`` says which judge features still tell that style's songs from
its own codec clips (``judge_gaps``; ``--diagnose-runs`` adds other runs' songs).  Two levers at inference:
``--untimed-style`` (the style prompts with their tempo taken out) and ``--decoder-untimed`` (the decoder told no tempo,
the told singer's score keeping the prompt's).

    python benchmarks/styles.py --work /tmp/styles --styles bass_choir,calypso,gospel --documented --unrelated 8 \
        --diagnose bass_choir --json docs/benchmarks/styles_documented.json

The decoder's levers on the documented run itself (``documented_targets``: the token embeddings, musical controls and
description projection adapted too; ``documented_lr6e-3``: twice the learning rate; each the documented config with
only that changed) go with ``--documented`` as levers on it, paired with it per prompt:

    python benchmarks/styles.py --work /tmp/levers --styles bass_choir --documented --lever-style bass_choir \
        --levers documented_targets,documented_lr6e-3 --lever-baseline documented --unrelated 8 \
        --diagnose bass_choir --diagnose-runs documented_targets,documented_lr6e-3 --json ...

``controls_each`` (the documented run with ``control_each_dropout_prob: 0.5``: each musical control unknown on its
own in training) is a lever on the worst style, paired with ``documented``; ``--apart-levers`` measures levers on a
kept-apart style too, paired there with the same baseline and reported only (a table of their own); a kept-apart
style measured in a work folder of its own (its base songs its own) joins the report with ``--apart-report``;
``--key-split`` reports each run's share on the prompts that name a key and on those that name none, apart:

    python benchmarks/styles.py --work /tmp/each-hf --styles harp_five --apart-levers controls_each --unrelated 8 \
        --key-split --json /tmp/each-hf/report.json
    python benchmarks/styles.py --work /tmp/each-bc --styles bass_choir --levers controls_each \
        --lever-style bass_choir --lever-baseline documented --unrelated 8 --key-split \
        --apart-report /tmp/each-hf/report.json --json docs/benchmarks/styles_controls_each.json

``controls_each_no_record`` is ``controls_each``'s adapter copied with its tempo record removed (never trained;
a lever ``X_no_record`` needs ``X`` among the levers or as the baseline): only the style prompts that name no tempo
get other songs, and ``--tempo-split`` reports each run's share on those and on the others apart, the copy paired
with its source there (with ``--untimed-unrelated``, the leak where the record applies):

    python benchmarks/styles.py --work /tmp/rec-hf --styles harp_five --lever-baseline controls_each \
        --apart-levers controls_each_no_record --unrelated 8 --untimed-unrelated --tempo-split --no-train \
        --json /tmp/rec-hf/report.json
    python benchmarks/styles.py --work /tmp/rec --styles bass_choir,calypso,gospel --lever-style bass_choir \
        --levers controls_each_no_record --lever-baseline controls_each --carry-to calypso,gospel --unrelated 8 \
        --untimed-unrelated --tempo-split --no-train --apart-report /tmp/rec-hf/report.json --json ...

``controls_each_tempo_kept`` (``{tempo: 0.0, key: 0.5, arrangement: 0.5}``) and ``controls_each_key_only``
(``{key: 0.5}``, ``finetune-lora``'s default) give each control its own share; chosen on bass_choir and gospel, carried
to calypso and the kept-apart harp_five (its report made first in its own work folder, as above):

    python benchmarks/styles.py --work /tmp/pc --styles bass_choir,calypso,gospel --lever-style bass_choir \
        --levers controls_each,controls_each_tempo_kept,controls_each_tempo_kept_no_record,controls_each_key_only,\
controls_each_key_only_no_record --lever-baseline documented --carry-to calypso,gospel --unrelated 8 --no-train \
        --key-split --tempo-split --apart-report /tmp/pc-hf/report.json \
        --json docs/benchmarks/styles_controls_per_control.json

Every stage skips what its outputs already hold; ``--dry-run`` prints the commands and configs, says which runs are
kept (their adapter exists), copied or left out (``--no-train``), and runs nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py, your_songs.py
import your_songs as shared  # noqa: E402
from machine import git_commit, load_average, schema_report_head  # noqa: E402
from styles_report import WITHOUT_RECORD, WITHOUT_VOICE, markdown_tables  # noqa: E402  (the report's tables)


def style_set(name: str, tempo: tuple[int, int]) -> list[str]:
    """``songgen data synth`` options of a style set: 80 clips of one style, 48 held out, all sung, with drums."""
    return [
        *["--num-clips", "80", "--test-fraction", "0.6", "--seed", "7", "--style", name],
        *["--tempo-range", str(tempo[0]), str(tempo[1]), "--slow-share", "0"],
        *["--instrumental-share", "0", "--drumless-share", "0"],
    ]


STYLES = {
    "calypso": {
        "axis": "instrument family and timbre",
        "what_is_new": "instruments no corpus genre plays (steel drums, marimba, kalimba, tuba) and hand percussion",
        "synth": shared.STYLE_SET,
        "prompts": shared.STYLE_PROMPTS,
        "lyrics": shared.STYLE_LYRICS,
        "trigger": "harbourlight style",
        "judge_reads": "everything",
    },
    "gospel": {
        "axis": "metre and groove",
        "what_is_new": "12/8: chords, hi-hat and melody on triplet eighths, a long-short bass, with the corpus's own "
        "instruments (piano, organ, electric bass, drum kit)",
        "synth": style_set("gospel", (92, 116)),
        # how a person asks for a 12/8 groove: the corpus captions never name a metre but 3/4
        "prompts": [
            "a rolling 12/8 gospel groove, piano pounding out triplets, organ and bass, a woman sings",
            "church song in twelve-eight time with piano triplets, bass and drums, male voice, 100 bpm",
            "slow-burning triplet feel, organ chords over electric bass, sung by a woman, F major",
            "Sunday morning music with a 12/8 sway, piano and a drum kit, a man singing",
            "soulful gospel tune in 12/8 at 104 bpm in Bb major, female lead vocal",
            "triplet piano groove, every beat split in three, organ and bass, male vocals",
            "an old-time gospel number, 12/8 shuffle of piano chords, a man sings, G major",
            "organ-led praise song with a triplet feel, 96 bpm, sung by a woman",
            "12/8 groove, hi-hat ticking triplets, piano and bass guitar, male singer, A minor",
            "a swaying gospel ballad in twelve-eight with piano and organ, female voice",
            "piano triplets and a walking long-short bass, drums on two and four, a man sings",
            "gospel in 12/8 at 110 bpm, organ, electric bass and drums, female singer",
            "a hymn-like song with a rocking triplet rhythm, piano, a woman singing, D major",
            "triplet-feel church tune, organ swells, bass and kit, male vocals, 98 bpm",
            "twelve-eight soul-gospel with piano and organ, a female singer, in E minor",
            "a joyful 12/8 gospel song, piano triplets, bass and drums, sung by a man",
        ],
        "lyrics": [
            "lift me up when i am low\ncarry me home",
            "we are walking in the light\nall night long",
            "hold on to the morning\nthe river will rise",
            "sing it out and let it go\nwe are not alone",
        ],
        "trigger": "velvetrow style",
        # a metre is what is new: the judge reads the groove (and register) features only, since the timbre
        # statistics also hear how the base plays the prompts' piano and organ (the base's songs at 0.20-0.32)
        "judge_reads": "groove",
    },
    "bass_choir": {
        "axis": "voice",
        "what_is_new": "a choir of three low male voices (MIDI 34-50, an octave below the corpus's male register) "
        "singing together, over the corpus's own instruments (piano or strings, upright bass, a soft kit)",
        "synth": style_set("bass_choir", (92, 120)),
        "prompts": [
            "a deep male choir sings a slow hymn over piano, 96 bpm",
            "low bass voices singing together, strings and upright bass, soft drums, G major",
            "a choir of bass singers, warm piano chords, a gentle beat",
            "song for low male voices in unison, strings, 104 bpm",
            "deep choral song, basses only, piano and brushes, in D minor",
            "a group of bass singers over strings and a soft drum kit, 110 bpm",
            "sung by a choir of deep men's voices, piano arpeggios, F major",
            "a low, rumbling male chorus with piano and upright bass",
            "bass choir in C major at 100 bpm with strings",
            "deep voices in harmony-free unison, piano and drums, a calm song",
            "a choir of very low male voices over string chords, A minor",
            "monastery-like deep voices singing with piano and a light beat, 98 bpm",
            "chant-like song for a bass choir, upright bass and strings, E major",
            "a warm choral song from deep male singers, piano, 112 bpm",
            "low men's choir with strings and soft drums, in B minor",
            "basses singing together over piano arpeggios and upright bass, 106 bpm",
        ],
        "lyrics": [
            "deep below the mountain\nwe carry the stone",
            "hear the river calling\nlong and low",
            "night is falling over the hill\nwe sing as one",
            "stand together in the dark\nthe fire will burn",
        ],
        "trigger": "stonehall style",
        # a voice is what is new: timbre and register, not the groove (whose columns the base's songs differ in)
        "judge_reads": "voice",
    },
    # kept apart from the project: no setting of the recipe was chosen on it, and none is (never the worst style the
    # levers are chosen on; measured only when --styles names it, reported in a section of its own)
    "harp_five": {
        "axis": "metre, instruments and voice at once",
        "what_is_new": "5/4 grouped three and two, a metre no corpus genre or style plays; harp or celesta over a "
        "pizzicato or bassoon bass with wood blocks and a triangle, instruments none plays; two female voices the "
        "corpus never sings with, together and a little above its female register",
        "synth": style_set("harp_five", (100, 132)),
        "kept_apart": True,
        # written before any of its songs was heard, as a listener asks for it: the captions say "chamber song",
        # "harp song", "5/4 time", "wood blocks", "two female voices"
        "prompts": [
            "a gentle song in five beats to the bar, plucked harp and a bassoon underneath, two women singing together",
            "odd-meter chamber folk in 5/4, harp arpeggios, pizzicato bass, woodblock clicks, female duet",
            "music-box celesta over plucked strings in a lopsided five-beat groove, two girls singing, 120 bpm",
            "a quirky 5/4 tune with harp, bassoon and a ticking wood block, sung by a pair of female voices, D major",
            "two women sing in unison over a harp in five-four, soft woodblocks, A minor",
            "chamber pop in an uneven 3+2 rhythm, celesta and pizzicato cello, female vocal duo, 110 bpm",
            "a fairy-tale song counting five to the bar, harp, bassoon and triangle, high female voices together",
            "plucked strings and harp in 5/4 at 126 bpm, two female singers, in G major",
            "lilting five-beat song on celesta with a bassoon bass line and a triangle, two women singing",
            "a harp ballad in quintuple time, pizzicato underneath, light wood block, female duet, E minor",
            "medieval-sounding 5/4 piece, harp and bassoon, a pair of women singing the melody",
            "sparkly celesta and plucked strings, odd time signature of five, woodblock and triangle, two female "
            "vocalists",
            "a playful song in 5/4, harp arpeggios and staccato strings, two voices of women, 104 bpm, F major",
            "chamber music with singing: harp, bassoon and wood blocks in five, sung by two women",
            "a waltz with an extra beat, 5/4, celesta, pizzicato strings, female duo, B minor",
            "gentle harp and bassoon in a five-count groove, soft percussion clicks, two female singers, 116 bpm",
        ],
        "lyrics": [
            "count the stars above the hill\nfive by five",
            "silver river dancing light\nturn around",
            "in the garden of the moon\nwe will sing",
            "little bird upon the wire\nfly away home",
        ],
        "trigger": "glasslantern style",
        # new in every part at once, as calypso is new in all its instruments: its judge reads every column
        "judge_reads": "everything",
    },
}
# the styles the recipe is chosen on (the default of --styles); a kept-apart style is only ever reported
BENCHMARK_STYLES = [name for name, spec in STYLES.items() if not spec.get("kept_apart")]
KEPT_APART = [name for name, spec in STYLES.items() if spec.get("kept_apart")]
# the levers: overrides of the documented settings; "trigger" also says the style's trigger in its prompts
DEFAULT_TARGETS = ["self_attn", "encoder_attn", "ffn", "heads"]
LEVERS = {
    "recipe": {},
    "dora": {"lora_use_dora": True},
    "targets": {"lora_targets": [*DEFAULT_TARGETS, "embeddings", "controls", "description"]},
    "trigger": {},  # trigger_phrase: the style's own (STYLES[style]["trigger"])
    "constant_lr": {"lr_scheduler": "constant"},
    "r4": {"lora_r": 4, "lora_alpha": 8},
    "r32": {"lora_r": 32, "lora_alpha": 64},
    # the recipe as finetune-lora runs it now: its second stage adapts the told singer on the same songs (the
    # default since the singer stage exists; runs trained before it have no singer adapter)
    "singer_stage": {"singer_adapter": None},
    # the documented run as finetune-lora runs it now ("A real run"): the singer stage with its learnt voice and the
    # tempo record, both written by finetune-lora itself (a seeded singer_stage run's adapter, copied with the records
    # it predates, is the same run: --documented-from)
    "documented": {"singer_adapter": None},
    # the singer stage's LoRA also on the score's note and voice tables (notes the base singer was never told)
    "singer_notes": {"singer_adapter": None, "singer_note_embeddings": True},
    # the singer stage at three times its learning rate
    "singer_lr": {"singer_adapter": None, "singer_learning_rate": 6e-3},
    # longer and faster: twice the steps (320 = 80 passes over 32 songs; "steps_factor" scales the run's steps) and
    # twice the learning rate, the calypso curve flattened from step 120 and gospel's may not have
    "steps_x2": {"steps_factor": 2},
    "lr6e-3": {"learning_rate": 6e-3},
    "lr6e-3_steps_x2": {"learning_rate": 6e-3, "steps_factor": 2},
    # the recipe, its adapter recording its songs' tempo (songgen_adapter.json's style_tempo_bpm, which finetune-lora
    # writes): a style prompt that names no tempo is made at it (the recipe's own adapter, copied, with the record
    # added, measures it without training again: style_tempo_copies)
    "style_tempo": {},
    # twice the steps with the tempo record: steps_x2's adapter, copied with it (--style-tempo-from)
    "steps_x2_style_tempo": {"steps_factor": 2},
    # twice the steps for the decoder, the singer's stage kept at the recipe's 160 (its LoRA memorises its songs)
    "steps_x2_singer160": {"steps_factor": 2, "singer_steps": 160},
    # the lane regulariser (songgen_hf.training.lane) at two weights: unrelated prompts kept near the base
    "lane_05": {"lane_weight": 0.5},  # a run name holds no dot (an adapter name)
    "lane_1": {"lane_weight": 1.0},
    # the regulariser on corpus songs with their own descriptions (lane_data: LANE_CORPUS, encoded by the base's codec)
    "lane_corpus": {"lane_weight": 0.5},
    "lane_corpus_01": {"lane_weight": 0.1},
    # the decoder's levers on the documented run (its singer stage, learnt voice and tempo record, which finetune-lora
    # writes itself): more targets (the tempo control among the musical controls, so the adapter can change what a
    # told tempo does) and twice the learning rate, each paired with "documented" (--lever-baseline documented)
    "documented_targets": {
        "singer_adapter": None,
        "lora_targets": [*DEFAULT_TARGETS, "embeddings", "controls", "description"],
    },
    "documented_lr6e-3": {"singer_adapter": None, "learning_rate": 6e-3},
    # the documented run with each musical control unknown on its own in half the training rows (on top of the
    # joint drop): every caption names its tempo and key, so without it the style is learnt only against both told.
    # 0.5 makes each of the controls' told/unknown patterns equally likely where they did not drop together
    "controls_each": {"singer_adapter": None, "control_each_dropout_prob": 0.5},
    # controls_each's adapter copied with its tempo record removed (record_removed_copy; never trained): with the
    # untold tempo trained, is the record still worth keeping?
    "controls_each_no_record": {"singer_adapter": None, "control_each_dropout_prob": 0.5},
    # controls_each with the tempo always told (key and arrangement unknown on their own in half the rows): a style
    # whose groove is learnt against the decoder's metronome keeps it, prompts that name no key are still trained
    "controls_each_tempo_kept": {
        "singer_adapter": None,
        "control_each_dropout_prob": {"tempo": 0.0, "key": 0.5, "arrangement": 0.5},
    },
    "controls_each_tempo_kept_no_record": {
        "singer_adapter": None,
        "control_each_dropout_prob": {"tempo": 0.0, "key": 0.5, "arrangement": 0.5},
    },
    # the key alone unknown in half the rows (tempo and arrangement told): the share that prompts naming no key gain
    "controls_each_key_only": {"singer_adapter": None, "control_each_dropout_prob": {"key": 0.5}},
    "controls_each_key_only_no_record": {"singer_adapter": None, "control_each_dropout_prob": {"key": 0.5}},
    # DoRA (peft's use_dora) at finetune-lora's defaults, paired with controls_each_key_only
    "controls_each_key_only_dora": {
        "singer_adapter": None,
        "control_each_dropout_prob": {"key": 0.5},
        "lora_use_dora": True,
    },
}
# the lane_corpus lever's songs: a corpus sample apart from the judge's (seed 1), all of it to train on
LANE_CORPUS = ["--num-clips", "32", "--test-fraction", "0", "--seed", "11"]
# a judge is sharp when the base's songs score at most this and the style's own clips through the codec at least
SHARP = (0.15, 0.85)
JUDGES = ("corpus", "corpus+base")
NEGATIVE_SONGS = 24  # the base's songs of the corpus sample's first captions (the judge's fitting clips')


# ---------------------------------------------------------------------------------- configs
def data_commands(work: Path, styles: list[str], lane_corpus: bool = False) -> list[tuple[Path, list[str]]]:
    """``(the file that shows the stage is done, its command)`` for the style sets, the corpus sample and the
    encodes; with ``lane_corpus`` also the lane_corpus lever's corpus songs, encoded."""
    commands = [
        (
            work / "corpus" / "test.jsonl",
            ["songgen", "data", "synth", "--output", str(work / "corpus"), *shared.CORPUS_SAMPLE, *shared.SYNTH_COMMON],
        )
    ]
    for name in styles:
        folder = work / name
        synth = ["songgen", "data", "synth", "--output", str(folder), *STYLES[name]["synth"], *shared.SYNTH_COMMON]
        commands.append((folder / "test.jsonl", synth))
        encode = ["songgen", "data", "encode", str(folder / "train.jsonl"), "--codec", "songgen-tiny"]
        commands.append((work / f"{name}_enc" / "encoding.json", [*encode, "--output", str(work / f"{name}_enc")]))
    if lane_corpus:
        folder = work / "lane_corpus"
        synth = ["songgen", "data", "synth", "--output", str(folder), *LANE_CORPUS, *shared.SYNTH_COMMON]
        commands.append((folder / "manifest.jsonl", synth))
        encode = ["songgen", "data", "encode", str(folder / "manifest.jsonl"), "--codec", "songgen-tiny"]
        commands.append(
            (work / "lane_corpus_enc" / "encoding.json", [*encode, "--output", str(work / "lane_corpus_enc")])
        )
    return commands


def lever_runs(style: str, steps: int, work: Path | None = None) -> dict[str, dict]:
    """The levers as ``your_songs.run_config`` overrides for ``style``, each ``steps`` long (``work``: where the
    lane_corpus lever's encoded songs are)."""
    runs = {}
    for name, overrides in LEVERS.items():
        factor = overrides.get("steps_factor", 1)
        runs[name] = {key: value for key, value in overrides.items() if key != "steps_factor"}
        runs[name]["max_steps"] = steps * factor
        if name == "trigger":
            runs[name]["trigger_phrase"] = STYLES[style]["trigger"]
        if name.startswith("lane_corpus") and work is not None:
            runs[name]["lane_data"] = str(work / "lane_corpus_enc")
    return runs


def planned_runs(args) -> dict[tuple[str, str], dict]:
    """``(style, run): config`` of every run: the recipe on each style, the levers on the lever style."""
    planned = {}
    for style in args.style_names:
        runs = lever_runs(style, args.steps, args.work)
        # --documented: the documented run on every style (trained, or copied with --documented-from), and the
        # earlier runs it is paired with (--compared-with; runs already in the work folder, never trained here)
        named = ["documented", *([args.compared_with[style]] if style in args.compared_with else [])]
        for run in named if args.documented else ["recipe"]:
            kind = run if run in LEVERS else "recipe"
            output = args.work / "runs" / style / run
            planned[(style, run)] = shared.run_config(args.work, kind, args.steps, args.save_steps, style, output, runs)
    if args.lever_names:
        # the levers on the lever style, and (--carry-to) the same levers checked on other styles
        for style in args.lever_style, *args.carry_styles:
            runs = lever_runs(style, args.lever_steps, args.work)
            for lever in lever_baseline(args), *args.lever_names:
                name = lever_run_name(args, lever)
                output = args.work / "runs" / style / name
                kind = "recipe" if lever.startswith("recipe") else lever
                config = shared.run_config(args.work, kind, args.lever_steps, args.save_steps, style, output, runs)
                planned[(style, name)] = config
    # --apart-levers: the same levers on the kept-apart styles, only reported (never chosen on)
    for style in [name for name in args.style_names if name in KEPT_APART] if args.apart_lever_names else ():
        runs = lever_runs(style, args.steps, args.work)
        for lever in dict.fromkeys([args.lever_baseline or "recipe", *args.apart_lever_names]):
            output = args.work / "runs" / style / lever
            planned[(style, lever)] = shared.run_config(
                args.work, lever, args.steps, args.save_steps, style, output, runs
            )
    return planned


def record_removed_runs(args) -> dict[tuple[str, str], str]:
    """``(style, run): source run`` of every planned run that is its source's adapter copied without the tempo
    record (a lever ending with ``WITHOUT_RECORD``: on the lever style, the styles it is carried to, the kept-apart
    ones)."""
    copies = {}
    levers = [lever for lever in [*args.lever_names, args.lever_baseline or ""] if lever.endswith(WITHOUT_RECORD)]
    for style in (args.lever_style, *args.carry_styles) if args.lever_names else ():
        for lever in levers:
            copies[(style, lever_run_name(args, lever))] = lever_run_name(args, lever.removesuffix(WITHOUT_RECORD))
    for style in [name for name in args.style_names if name in KEPT_APART] if args.apart_lever_names else ():
        for lever in [*args.apart_lever_names, args.lever_baseline or ""]:
            if lever.endswith(WITHOUT_RECORD):
                copies[(style, lever)] = lever.removesuffix(WITHOUT_RECORD)
    return copies


def lever_baseline(args) -> str:
    """What the levers are compared with: ``--lever-baseline`` (a lever trained as they are, e.g. ``singer_stage``:
    the recipe with today's singer stage), else the recipe itself, or at a reduced scale the recipe as short."""
    if args.lever_baseline:
        return args.lever_baseline
    return "recipe" if args.lever_steps == args.steps else "recipe_short"


def lever_run_name(args, lever: str) -> str:
    """A lever's run name: the lever, with its steps when they are fewer than the recipe's (a reduced scale)."""
    if args.lever_steps == args.steps:
        return lever
    return f"{'recipe' if lever == 'recipe_short' else lever}_{args.lever_steps}"


def without_learnt_voice(final: Path) -> Path | None:
    """A copy of the adapter folder ``final`` without its singer's learnt voice (``final`` + ``WITHOUT_VOICE``,
    made once, atomically), or None when its singer adapter records none."""
    import shutil

    from songgen_hf.pipelines.singer_adapters import LEARNED_VOICE_FILE, SINGER_ADAPTER_FOLDER
    from songgen_hf.utils.atomic import atomic_directory

    if not (final / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE).is_file():
        return None
    copy = final.with_name(final.name + WITHOUT_VOICE)
    if not copy.is_dir():
        with atomic_directory(copy) as staging:
            shutil.copytree(final, staging, dirs_exist_ok=True)
            (staging / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE).unlink()
    return copy


def style_prompts(style: str, run: str | None = None, trigger: str | None = None) -> list[dict]:
    """The style's prompts with their lyrics; a run trained with a trigger phrase hears it before each prompt."""
    spec = STYLES[style]
    texts = [f"{trigger}, {text}" if trigger else text for text in spec["prompts"]]
    return shared.prompt_songs("style", texts, spec["lyrics"])


def without_key(description: str) -> str:
    """A prompt with its key taken out ("harp in 5/4 at 126 bpm, two female singers, in G major" -> "harp in 5/4 at
    126 bpm, two female singers"): does a style come through only where the prompt names a key, as every training
    caption does?"""
    import re

    from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_KEY
    from songgen_hf.modeling.songgen.description_songgen import musical_controls

    text = re.sub(r"(,\s*|\s+)(in\s+)?\b[A-G](#|b)?\s+(major|minor)\b", "", description)
    if musical_controls([text], strict=False)["music_key_ids"][0] != UNKNOWN_KEY:
        raise ValueError(f"{description!r} still names a key: {text!r}")
    return text


def names_a_key(description: str) -> bool:
    """Whether a prompt names a key the description parser reads (as every training caption does)."""
    from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_KEY
    from songgen_hf.modeling.songgen.description_songgen import musical_controls

    return musical_controls([description], strict=False)["music_key_ids"][0] != UNKNOWN_KEY


def key_split(
    prompts: list[str], values_of: dict, base: list[float], target: float, baseline: str | None = None
) -> dict:
    """Each run's share of the way on the style prompts that name a key and on those that name none, apart (the
    base's values of the same prompts give each part's start), and each run's paired difference from ``baseline``'s
    on each part."""
    named = [i for i, text in enumerate(prompts) if names_a_key(text)]
    parts = {"names_a_key": named, "names_no_key": [i for i in range(len(prompts)) if i not in named]}
    parts = {part: indices for part, indices in parts.items() if len(indices) > 1}
    split = {"prompts": parts, "compared_with": baseline, "runs": {}, "minus_baseline": {}}
    for run, values in values_of.items():
        split["runs"][run] = {
            part: share_entry([values[i] for i in indices], [base[i] for i in indices], target)
            for part, indices in parts.items()
        }
        if baseline in values_of and run != baseline:
            split["minus_baseline"][run] = {
                part: shared.paired_difference([values_of[baseline][i] for i in indices], [values[i] for i in indices])
                for part, indices in parts.items()
            }
    return split


def names_a_tempo(description: str) -> bool:
    """Whether a prompt names a tempo the description parser reads (an adapter's tempo record applies where not)."""
    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    return parse_tempo_bpm(description) is not None


def tempo_split(prompts: list[str], values_of: dict, base: list[float], target: float) -> dict:
    """Each run's share of the way on the style prompts that name a tempo and on those that name none, apart; a run
    without its tempo record (``X_no_record``) also paired per prompt with ``X`` on each part (the record changes
    only the songs of the prompts that name no tempo)."""
    named = [i for i, text in enumerate(prompts) if names_a_tempo(text)]
    parts = {"names_a_tempo": named, "names_no_tempo": [i for i in range(len(prompts)) if i not in named]}
    split = {"prompts": dict(parts)}
    for run, values in values_of.items():
        split[run] = {
            part: share_entry([values[i] for i in indices], [base[i] for i in indices], target)
            for part, indices in parts.items()
            if len(indices) > 1
        }
        source = run.removesuffix(WITHOUT_RECORD)
        if run.endswith(WITHOUT_RECORD) and source in values_of:
            split[run][f"minus_{source}"] = {
                part: shared.paired_difference([values_of[source][i] for i in indices], [values[i] for i in indices])
                for part, indices in parts.items()
                if len(indices) > 1
            }
    return split


def without_tempo(description: str) -> str:
    """An unrelated prompt with its tempo taken out ("a slow ballad at 70 bpm in A minor" -> "a slow ballad in A
    minor"), so that its songs are made at an adapter's own tempo (the style_tempo lever's leak)."""
    import re

    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    text = re.sub(r"(,\s*|\s+at\s+)?\d+\s*bpm", "", description)
    if parse_tempo_bpm(text) is not None:
        raise ValueError(f"{description!r} still names a tempo without its bpm: {text!r}")
    return text


def style_tempo_copy(work: Path, style: str, source: str, name: str = "style_tempo") -> Path | None:
    """The ``style_tempo`` lever without training again: run ``source``'s adapter (the same recipe) and log, copied
    to ``runs/STYLE/style_tempo/final`` with the tempo record ``finetune-lora`` now writes (the median of the tempos
    the style's encoded captions name); the copy, or None when ``source`` has not finished."""
    import shutil

    from datasets import load_from_disk

    from songgen_hf.training.lora import style_tempo_of, write_style_tempo

    final = work / "runs" / style / name / "final"
    trained = work / "runs" / style / source / "final"
    if (final / "adapter_model.safetensors").is_file() or not (trained / "adapter_model.safetensors").is_file():
        return final if final.is_dir() else None
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained.parent / "train_log.jsonl", final.parent / "train_log.jsonl")  # the same training's log
    staging = final.with_name("final.copying")
    shutil.rmtree(staging, ignore_errors=True)  # a copy an earlier run left half made (the benchmark's own folder)
    shutil.copytree(trained, staging)
    write_style_tempo(staging, style_tempo_of(load_from_disk(str(work / f"{style}_enc"))["caption"]))
    staging.rename(final)
    return final


def documented_copy(work: Path, style: str, source: Path, config: dict) -> tuple[Path, dict]:
    """The documented run of ``style`` without training again: ``source`` (the ``final`` folder of a run trained with
    the same settings, ``config``: finetune-lora is seeded, so its adapters are this run's) copied to
    ``runs/STYLE/documented/final`` with what finetune-lora now writes beside them and ``source`` predates: the singer's
    learnt voice (``learned_voice.json``, what its songs' scores sang), the tempo record (``style_tempo_bpm``) and the
    base's ``config.json`` as it is now.  The source's ``training_config.json`` must hold the same settings (a field it
    lacks is one added since, at its default).  ``(the copy, what was added)``; a copy already made is kept."""
    import shutil

    from datasets import load_from_disk

    from songgen_hf.pipelines.loading import auto_singer_folder, base_model_folder
    from songgen_hf.pipelines.singer_adapters import LEARNED_VOICE_FILE, SINGER_ADAPTER_FOLDER, write_learned_voice
    from songgen_hf.training.lora import _copy_base_config, style_tempo_of, write_style_tempo
    from songgen_hf.training.lora_trainer import LoraTrainingConfig
    from songgen_hf.utils.atomic import write_text_atomic
    from songgen_hf.utils.safe_files import read_json_object

    run = work / "runs" / style / "documented"
    final = run / "final"
    record_path = run / "copied_from.json"
    if (final / "adapter_model.safetensors").is_file():
        return final, read_json_object(record_path, "the copy's record") if record_path.is_file() else {}
    if not (source / SINGER_ADAPTER_FOLDER / "adapter_model.safetensors").is_file():
        raise SystemExit(f"{source} has no singer adapter: it is no singer-stage run (the documented settings).")
    trained = read_json_object(source / "training_config.json", "the source's training_config.json")
    fresh = dataclasses.asdict(LoraTrainingConfig(**{k: v for k, v in config.items() if k != "output_dir"}))
    fresh = json.loads(json.dumps(fresh))  # as the record holds it (tuples as lists)
    # paths: the same songs wherever they are linked from, the same embedded base in whichever checkout
    paths = ("output_dir", "train_data", "init_from")
    differs = {k: (trained[k], fresh[k]) for k in fresh if k in trained and k not in paths and trained[k] != fresh[k]}
    if Path(trained["train_data"]).resolve() != Path(config["train_data"]).resolve():
        differs["train_data"] = (trained["train_data"], config["train_data"])
    if Path(trained["init_from"]).name != Path(base_model_folder(config["init_from"])).name:
        differs["init_from"] = (trained["init_from"], config["init_from"])
    if differs:
        raise SystemExit(f"{source} was trained with other settings than the documented run's: {differs}")
    added = {"fields_since": sorted(set(fresh) - set(trained))}
    run.mkdir(parents=True, exist_ok=True)
    staging = final.with_name("final.copying")
    shutil.rmtree(staging, ignore_errors=True)  # a copy an earlier run left half made (the benchmark's own folder)
    shutil.copytree(source, staging)
    shutil.copy(source.parent / "train_log.jsonl", run / "train_log.jsonl")  # the same training's log
    if not (staging / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE).is_file():
        # what finetune-lora's singer stage records: the scores of the songs it trains on (no training)
        from songgen_hf.modeling.songgen_singer import SongGenSinger
        from songgen_hf.training.singer_lora import learned_voice_of, singer_training_songs

        singer = SongGenSinger.from_pretrained(auto_singer_folder(base_model_folder(config["init_from"])))
        songs = singer_training_songs(config["train_data"], singer.config)
        write_learned_voice(staging / SINGER_ADAPTER_FOLDER, learned_voice_of(songs))
        added["learned_voice"] = True
    tempo = style_tempo_of(load_from_disk(str(config["train_data"]))["caption"])
    write_style_tempo(staging, tempo)
    added["style_tempo_bpm"] = tempo
    _copy_base_config(staging, config["init_from"])  # the base's config as a fresh run copies it now
    # the settings as a fresh run records them (the source's steps and rows)
    record = {**fresh, "output_dir": str(run), "final_step": trained.get("final_step"), "rows": trained.get("rows")}
    (staging / "training_config.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    staging.rename(final)
    write_text_atomic(record_path, json.dumps({"source": str(source), **added}, indent=1) + "\n")
    return final, {"source": str(source), **added}


def adapter_layout(folder: Path) -> dict:
    """An adapter folder's files and, per JSON file, its keys (nested ``a.b``): what two runs' folders compare on."""

    def keys(value, prefix=""):
        if not isinstance(value, dict):
            return [prefix.rstrip(".")]
        return [key for name, item in value.items() for key in keys(item, f"{prefix}{name}.")]

    layout = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        layout[name] = sorted(keys(json.loads(path.read_text()))) if path.suffix == ".json" else None
    return layout


def layout_differences(copy: Path, fresh: Path) -> dict:
    """What the copy's folder holds that a fresh run's does not, and the reverse (files; JSON keys, the learnt voice's
    registers and voices and the training record's paths aside: they are the style's own)."""
    mine, theirs = adapter_layout(copy), adapter_layout(fresh)
    own = ("registers.", "base_model.")

    def shared(keys):
        return {key for key in keys or () if not key.startswith(own)}

    return {
        "files_only_in_copy": sorted(set(mine) - set(theirs)),
        "files_only_in_fresh": sorted(set(theirs) - set(mine)),
        "keys_differ": {
            name: {
                "only_in_copy": sorted(shared(keys) - shared(theirs[name])),
                "only_in_fresh": sorted(shared(theirs[name]) - shared(keys)),
            }
            for name, keys in mine.items()
            if name in theirs and shared(keys) != shared(theirs[name])
        },
    }


def record_removed_copy(work: Path, style: str, source: str, name: str) -> Path | None:
    """Run ``source``'s adapter (and log) copied to ``runs/STYLE/NAME/final`` with its tempo record removed
    (``write_style_tempo(COPY, None)``): a prompt that names no tempo is made at the base's own tempo, every other song
    as ``source``'s.  Made once, atomically; the copy, or None when ``source`` has not finished."""
    import shutil

    from songgen_hf.training.lora import write_style_tempo
    from songgen_hf.utils.atomic import atomic_directory

    final = work / "runs" / style / name / "final"
    trained = work / "runs" / style / source / "final"
    if (final / "adapter_model.safetensors").is_file():
        return final
    if not (trained / "adapter_model.safetensors").is_file():
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained.parent / "train_log.jsonl", final.parent / "train_log.jsonl")  # the same training's log
    with atomic_directory(final) as staging:
        shutil.copytree(trained, staging, dirs_exist_ok=True)
        write_style_tempo(staging, None)
    return final


# ---------------------------------------------------------------------------------- figures
def style_judge_features(audio: np.ndarray) -> np.ndarray:
    """``your_songs.judge_features`` (timbre, chroma, onset and tempogram statistics, log-mel probe features)
    plus beat-relative groove features (onset periodicity at the beat's triplet, duple and sixteenth subdivisions,
    the onsets folded over one beat) and register features (band energy shares 40 Hz-3 kHz), of
    ``songgen_hf.evaluation.groove``.

    The groove features see a metre: a tempogram at fixed lags cannot, since each song's tempo moves the lag of
    its subdivisions."""
    from songgen_hf.evaluation.groove import beat_features, register_features

    return np.concatenate(
        [shared.judge_features(audio), beat_features(audio, shared.RATE), register_features(audio, shared.RATE)]
    )


# every cached feature file of the judge carries the feature set's version: a rerun never mixes two sets
FEATURES_VERSION = "_v2"


def judge_reading(name: str, width: int) -> dict:
    """``your_songs.fit_judge`` options of a judge that reads ``name``'s columns of ``style_judge_features`` (rows
    ``width`` wide): ``everything`` (l2 10, as before); ``groove`` (the beat and register features: what a metre
    changes) or ``voice`` (every column but the beat features: timbre and register), each l2 0.1 (the base's songs
    of the style's prompts are not among the rows it is fitted on, and a weaker penalty lets it lean on the columns
    that tell the style from the corpus).  A judge reads its style's axis, not the columns that score a run best."""
    from songgen_hf.evaluation.groove import BEAT_FEATURE_NAMES, REGISTER_FEATURE_NAMES

    beat, register = len(BEAT_FEATURE_NAMES), len(REGISTER_FEATURE_NAMES)
    if name == "everything":
        return {"columns": None, "l2": 10.0}
    if name == "groove":
        return {"columns": np.arange(width - beat - register, width), "l2": 0.1}
    if name == "voice":
        return {"columns": np.r_[0 : width - beat - register, width - register : width], "l2": 0.1}
    raise ValueError(f"a judge reads 'everything', 'groove' or 'voice', not {name!r}")


def style_judge_feature_names() -> list[str]:
    """The name of every column of ``style_judge_features``, in order (mel bands by their centre frequency)."""
    from songgen_hf.evaluation.groove import BEAT_FEATURE_NAMES, REGISTER_FEATURE_NAMES

    edges = 700.0 * (10.0 ** (np.linspace(0.0, 2595.0 * np.log10(1.0 + shared.RATE / 2 / 700.0), 42) / 2595.0) - 1.0)
    mel = [f"{hz:.0f}Hz" for hz in edges[1:-1]]
    contrast = [f"band{i}" for i in range(6)]
    return [
        *(f"mfcc{i}_mean" for i in range(20)),
        *(f"mfcc{i}_std" for i in range(20)),
        *(f"contrast_{band}_mean" for band in contrast),
        *(f"contrast_{band}_std" for band in contrast),
        *(f"chroma_sorted{i}" for i in range(12)),
        "onset_mean",
        "onset_std",
        "onset_p90",
        *(f"tempogram_lag{lag}" for lag in range(1, 64, 4)),
        *(f"mel_{band}_mean" for band in mel),
        *(f"mel_{band}_std" for band in mel),
        *(f"mel_{band}_rise" for band in mel),
        "flux_mean",
        "flux_std",
        "flux_p90",
        "flux_p99",
        "flatness_mean",
        "flatness_std",
        *BEAT_FEATURE_NAMES,
        *REGISTER_FEATURE_NAMES,
    ]


def judge_gaps(judge, songs: np.ndarray, target: np.ndarray, top: int = 10) -> dict:
    """Which features the judge still hears between ``songs`` (rows of ``style_judge_features``) and ``target`` (the
    style's own clips through the codec): per column it reads, its coefficient times the difference of the two means
    in its standardised units (target minus songs); these sum to the judge's logit at the target's mean minus at the
    songs' mean, so the largest are what keeps the songs from being heard as the style.  ``top`` of them, largest
    first, each with the standardised difference and the coefficient."""
    names = np.asarray(style_judge_feature_names())
    columns = judge.columns if hasattr(judge, "columns") else np.arange(songs.shape[1])
    probe = judge.probe if hasattr(judge, "probe") else judge
    difference = (target[:, columns].mean(axis=0) - songs[:, columns].mean(axis=0)) / probe.scale
    contribution = probe.weights * difference
    order = np.argsort(-contribution)[:top]
    return {
        "logit_gap": float(contribution.sum()),
        "top": [
            {
                "feature": str(names[columns][i]),
                "contribution": round(float(contribution[i]), 3),
                "standardised_difference": round(float(difference[i]), 3),
                "coefficient": round(float(probe.weights[i]), 3),
            }
            for i in order
        ],
        "contribution_by_family": {
            family: round(float(contribution[[feature_family(n) == family for n in names[columns]]].sum()), 3)
            for family in sorted({feature_family(n) for n in names[columns]})
        },
    }


def feature_family(name: str) -> str:
    """The family a judge feature belongs to (``mfcc``, ``mel mean``, ``register band`` ...), for the totals."""
    if name.startswith("mel_"):
        return "mel " + name.rsplit("_", 1)[1]
    for prefix, family in (
        ("mfcc", "mfcc"),
        ("contrast", "spectral contrast"),
        ("chroma", "chroma"),
        ("onset", "onset"),
        ("tempogram", "tempogram"),
        ("flux", "flux"),
        ("flatness", "flatness"),
        ("band_", "register band"),
        ("median_frequency", "register band"),
    ):
        if name.startswith(prefix):
            return family
    return "beat"


def song_features(path: Path, audio) -> np.ndarray:
    """The judge's features of some songs (``audio()`` gives them when ``path`` does not hold them yet), kept in
    ``path``: every judge and every rerun scores the same rows without recomputing them."""
    if path.is_file():
        return np.load(path)
    features = np.stack([style_judge_features(song) for song in audio()])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def share_entry(values: list[float], base: list[float], target: float) -> dict:
    """``your_songs.style_entry`` plus the share of the way's own interval (the paired difference's over the gap)."""
    entry = shared.style_entry(values, base, target)
    gap = target - float(np.mean(base))
    low, high = entry["minus_base"]["ci95"]
    entry["share_ci95"] = [low / gap, high / gap] if gap else None
    return entry


def leak_entry(unrelated: list[float], base_unrelated: list[float], style_difference: float) -> dict:
    """How far the unrelated prompts' songs move towards the style (paired, judge's score) and that as a share of
    how far the style prompts' songs moved (the leak ratio; the issue asks at most 0.25)."""
    difference = shared.paired_difference(base_unrelated, unrelated)
    ratio = difference["mean"] / style_difference if style_difference > 0 else None
    return {"minus_base": difference, "leak_ratio": ratio}


# the columns of style_judge_features, group by group, in order (your_songs.judge_features, then the groove module's)
JUDGE_FEATURE_GROUPS = (
    ("mfcc_mean", 20),
    ("mfcc_std", 20),
    ("contrast_mean", 6),
    ("contrast_std", 6),
    ("chroma_sorted", 12),
    ("onset_strength", 3),
    ("tempogram", 16),
    ("log_mel_mean", 40),
    ("log_mel_std", 40),
    ("log_mel_rise", 40),
    ("flux_and_flatness", 6),
)


def feature_groups(width: int) -> dict[str, np.ndarray]:
    """Each group of ``style_judge_features``' columns (rows ``width`` wide): its name and column indices."""
    from songgen_hf.evaluation.groove import BEAT_FEATURE_NAMES, REGISTER_FEATURE_NAMES

    sizes = [*JUDGE_FEATURE_GROUPS, ("beat", len(BEAT_FEATURE_NAMES)), ("register", len(REGISTER_FEATURE_NAMES))]
    if sum(size for _, size in sizes) != width:
        raise ValueError(f"the judge's feature groups cover {sum(size for _, size in sizes)} columns, not {width}")
    edges = np.cumsum([0, *(size for _, size in sizes)])
    return {name: np.arange(edges[i], edges[i + 1]) for i, (name, _) in enumerate(sizes)}


def judge_gap_groups(judge, clips: np.ndarray, songs: np.ndarray) -> dict[str, float]:
    """What the judge hears between some songs and the style's own clips: per feature group, the share of the
    judge's log-odds that sets the clips' mean above the songs' mean (its weights times the standardised mean
    difference, summed over the group's columns the judge reads), largest first; with their sum, ``total``."""
    probe, columns = (judge.probe, judge.columns) if hasattr(judge, "columns") else (judge, None)
    width = clips.shape[1]
    read = np.arange(width) if columns is None else np.arange(width)[columns]
    difference = (clips.mean(axis=0) - songs.mean(axis=0))[read] / probe.scale * probe.weights
    gaps = {}
    for name, group in feature_groups(width).items():
        inside = np.isin(read, group)
        if inside.any():
            gaps[name] = float(difference[inside].sum())
    ordered = dict(sorted(gaps.items(), key=lambda item: -item[1]))
    return {**ordered, "total": float(difference.sum())}


def sharpness(judge_report: dict, base_style: list[float]) -> dict:
    """The base's songs (style prompts) and the style's held-out clips through the codec, and whether both sit
    where a decisive judge puts them (``SHARP``)."""
    base = shared.interval(base_style)
    target = judge_report["style_set_score_codec"]["mean"]
    return {
        "base_songs": base,
        "style_clips_codec": judge_report["style_set_score_codec"],
        "corpus_clips_codec": judge_report["corpus_score_codec"],
        "sharp": bool(base["mean"] <= SHARP[0] and target >= SHARP[1]),
        "rule": f"base songs <= {SHARP[0]} and the style's codec clips >= {SHARP[1]}",
    }


def worst_first(report_styles: dict, run: str = "recipe") -> list[str]:
    """Style names, the one ``run`` (the recipe, or the documented run) moves least of the way first; a kept-apart
    style is none of them (it is reported on its own, ``kept_apart``)."""

    def share(name):
        value = report_styles[name]["runs"].get(run, {}).get("share_of_the_way_to_the_style_set")
        return float("inf") if value is None else value

    return sorted((name for name in report_styles if not report_styles[name].get("kept_apart")), key=share)


def diagnosis(args, judge, kind: str) -> dict:
    """What the judge of ``--diagnose`` still hears between each run's style songs (the headline run's and
    ``--diagnose-runs``', read from the work folder's songs) and the style's own held-out clips through the codec
    (:func:`judge_gaps`), with each run's mean score on the prompts that name a tempo and on those that name none
    (where an adapter's tempo record applies), the gaps on every prompt and on the prompts that name a tempo alone
    (songs made at the decoder's told metronome), and each diagnosed run paired with the headline run, on every prompt
    and on the prompts that name a tempo (where the record plays no part)."""
    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    style = args.diagnose
    arrays = shared.judge_arrays(args.work, style, args.work / f"judge_features_{style}{FEATURES_VERSION}.npz")
    target = arrays["style_codec"][shared.JUDGE_FIT :]
    headline = "documented" if args.documented else "recipe"
    prompts = STYLES[style]["prompts"]
    timed = np.array([parse_tempo_bpm(text) is not None for text in prompts])
    runs, scores = {}, {}
    for run in ["base", headline, *args.diagnose_runs]:
        system = (
            run + ("_no_singer" if args.singer != "auto" else "") + ("_decoder_untimed" if args.decoder_untimed else "")
        )
        path = args.work / "songs" / style / system / f"{kind}_features{FEATURES_VERSION}.npy"
        if not path.is_file():
            continue
        features = np.load(path)
        values = np.asarray(judge.probability(features)).reshape(len(shared.SEEDS), len(prompts))
        scores[run] = values.mean(axis=0)
        runs[run] = {
            "style_score": round(float(values.mean()), 3),
            "style_score_prompts_naming_a_tempo": round(float(values[:, timed].mean()), 3),
            "style_score_prompts_naming_none": round(float(values[:, ~timed].mean()), 3) if (~timed).any() else None,
            "gaps": judge_gaps(judge, features, target),
            # where a told tempo sets the decoder's metronome (no record applies): what the metronome's songs lack
            "gaps_on_prompts_naming_a_tempo": judge_gaps(judge, features[np.tile(timed, len(shared.SEEDS))], target),
        }
        families = runs[run]["gaps"]["contribution_by_family"]
        runs[run]["largest_family"] = max(families, key=families.get)
    compared = [run for run in args.diagnose_runs if run in scores and headline in scores]
    paired = {run: shared.paired_difference(list(scores[headline]), list(scores[run])) for run in compared}
    paired_timed = {
        run: shared.paired_difference(list(scores[headline][timed]), list(scores[run][timed])) for run in compared
    }
    return {
        "style": style,
        "songs": kind,
        "prompts_naming_a_tempo": int(timed.sum()),
        "method": "per feature the judge reads: its coefficient x (mean of the style's held-out codec clips - mean of "
        "the run's songs) / the judge's standardisation scale; the contributions sum to the logit gap between the "
        "two means; top 10 largest (what keeps the songs from being heard as the style)",
        "runs": runs,
        f"minus_{headline}": paired,
        f"minus_{headline}_on_prompts_naming_a_tempo": paired_timed,
    }


def documented_report(args, report_styles: dict, planned: dict, copies: dict) -> dict:
    """Per style: the documented run's share of the way and leak, how it was made (trained, or copied from a run of
    the same settings with the records added: then its folder compared with a trained one's), and its paired
    difference from ``--compared-with``'s run."""
    from songgen_hf.utils.safe_files import read_json_object

    def copied(style: str) -> dict | None:  # the record documented_copy leaves beside a copy (any earlier command's)
        record = Path(planned[(style, "documented")]["output_dir"]) / "copied_from.json"
        return copies.get(style) or (read_json_object(record, "the copy's record") if record.is_file() else None)

    documented = [s for s in report_styles if (s, "documented") in planned]
    trained = [s for s in documented if copied(s) is None]
    fresh = Path(planned[(trained[0], "documented")]["output_dir"]) / "final" if trained else None
    entries = {}
    for style, measured in report_styles.items():
        entry = measured["runs"].get("documented")
        if entry is None:
            continue
        final = Path(planned[(style, "documented")]["output_dir"]) / "final"
        record = read_json_object(final / "songgen_adapter.json", "the adapter's record")
        made = {"trained": True} if copied(style) is None else {"copied": copied(style)}
        if copied(style) is not None and fresh is not None:
            made["layout_against_a_fresh_run"] = {"fresh": str(fresh), **layout_differences(final, fresh)}
        earlier = args.compared_with.get(style)
        values = measured["values_per_prompt"]
        entries[style] = {
            "share": entry["share_of_the_way_to_the_style_set"],
            "share_ci95": entry["share_ci95"],
            "minus_base": entry["minus_base"],
            "leak_ratio": (measured["leak"].get("documented") or {}).get("leak_ratio"),
            "style_tempo_bpm": record.get("style_tempo_bpm"),
            "learnt_voice": (final / "singer_adapter" / "learned_voice.json").is_file(),
            "made": made,
            "compared_with": earlier,
            "compared_share": (measured["runs"].get(earlier) or {}).get("share_of_the_way_to_the_style_set"),
            "minus_compared_with": shared.paired_difference(values[earlier], values["documented"])
            if earlier in values
            else None,
        }
    return entries


# ---------------------------------------------------------------------------------- arguments
def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the data, runs and songs")
    parser.add_argument("--table", type=Path, help="print the Markdown tables of this report (the docs quote them)")
    parser.add_argument("--json", type=Path, help="write the report here (e.g. docs/benchmarks/styles.json)")
    parser.add_argument(
        "--styles",
        default=",".join(BENCHMARK_STYLES),
        help=f"styles to measure (default {','.join(BENCHMARK_STYLES)}; kept apart, reported on its own: "
        f"{','.join(KEPT_APART)})",
    )
    parser.add_argument("--steps", type=int, default=160, help="the recipe's training steps (default 160)")
    parser.add_argument("--save-steps", type=int, default=40, help="a checkpoint every this many steps (default 40)")
    parser.add_argument("--levers", default="", help=f"levers to train on --lever-style: any of {sorted(LEVERS)}")
    parser.add_argument("--lever-style", default=None, help="the style the levers are measured on (the worst)")
    parser.add_argument("--lever-steps", type=int, default=None, help="the levers' steps (default: --steps)")
    parser.add_argument(
        "--lever-baseline", default=None, help="the lever the others are compared with (default: the recipe)"
    )
    parser.add_argument(
        "--weights",
        default="",
        help="also measure --weight-runs at these adapter weights (a blend of the one adapter), e.g. 1.5,2",
    )
    parser.add_argument("--weight-runs", default="recipe", help="the runs measured at --weights (default: the recipe)")
    parser.add_argument(
        "--untimed-unrelated",
        action="store_true",
        help="the leak's unrelated prompts with their tempo taken out (where an adapter's own tempo applies)",
    )
    parser.add_argument(
        "--untimed-style",
        action="store_true",
        help="the style prompts with their tempo taken out: no tempo told to the decoder's control (the adapter's "
        "own tempo, where it records one)",
    )
    parser.add_argument(
        "--decoder-untimed",
        action="store_true",
        help="the decoder told no tempo (its tempo control left unknown, no adapter's record applied); the told "
        "singer's score keeps the tempo a prompt names (a lever at inference)",
    )
    parser.add_argument(
        "--keyless-style-prompts",
        action="store_true",
        help="the style prompts with their key taken out (does a style come through only where a key is named?)",
    )
    parser.add_argument(
        "--carry-to", default="", help="also measure --levers on these styles (of --styles): does a lever carry?"
    )
    parser.add_argument(
        "--style-tempo-from",
        default=None,
        help="the style_tempo lever as RUN's adapter (e.g. recipe), X_style_tempo as X's, with its songs' tempo "
        "recorded (not trained again)",
    )
    parser.add_argument(
        "--documented",
        action="store_true",
        help="measure the documented run (finetune-lora's settings as docs/fine_tuning.md's 'A real run' gives them) "
        "on every style of --styles, instead of the recipe",
    )
    parser.add_argument(
        "--documented-from",
        default="",
        help="STYLE=FOLDER pairs: the documented run of STYLE as FOLDER (a singer-stage run's final, the same "
        "settings) copied with the records finetune-lora now writes (not trained again)",
    )
    parser.add_argument(
        "--compared-with",
        default="",
        help="STYLE=RUN pairs: with --documented, the earlier run of the work folder (runs/STYLE/RUN/final) the "
        "documented run is paired with",
    )
    parser.add_argument(
        "--diagnose",
        default=None,
        help="a style of --styles: which judge features still tell its songs from its own codec clips (top 10)",
    )
    parser.add_argument(
        "--diagnose-runs",
        default="",
        help="other runs of the work folder whose songs of --diagnose's style are diagnosed too (e.g. steps_x2)",
    )
    parser.add_argument("--judge", choices=JUDGES, default="corpus+base", help="the judge the figures use")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each generated song (default 5)")
    parser.add_argument("--no-train", action="store_true", help="measure only the runs whose adapters exist")
    parser.add_argument(
        "--base-only", action="store_true", help="make the data and the base's songs, then stop (while runs train)"
    )
    parser.add_argument("--curve", action="store_true", help="also measure the recipe's checkpoints (the steps)")
    parser.add_argument("--unrelated", type=int, default=16, help="unrelated prompts for the leak (default 16)")
    parser.add_argument(
        "--unrelated-weights",
        default="",
        help="the lever baseline's adapter at these weights on the unrelated prompts alone, e.g. 0.25,0.5 (the "
        "trade-off of an adapter applied with a weight per prompt)",
    )
    parser.add_argument(
        "--at",
        default="",
        help="measure a style's recipe at a checkpoint, e.g. gospel=80 (a run that has not finished; reported)",
    )
    parser.add_argument("--songs-only", action="store_true", help="make every song, then stop (judge in a later run)")
    parser.add_argument(
        "--skip-shared", action="store_true", help="with --base-only or --songs-only: only the styles' own songs"
    )
    parser.add_argument(
        "--singer", choices=("auto", "none"), default="auto", help="the told singer (default: the model's own)"
    )
    parser.add_argument(
        "--ablate-voice",
        action="store_true",
        help="also measure each run whose singer adapter records a learnt voice without that record",
    )
    parser.add_argument(
        "--singer-none-report", type=Path, help="the same runs' report made with --singer none, shown beside this one"
    )
    parser.add_argument(
        "--apart-levers",
        default="",
        help="train and measure these levers on the kept-apart styles of --styles too, each paired with "
        "--lever-baseline (default: the recipe); reported only, never chosen on",
    )
    parser.add_argument(
        "--apart-report",
        type=Path,
        help="a kept-apart style's report made in a work folder of its own (its base songs its own): its kept-apart "
        "styles and levers shown beside this report's",
    )
    parser.add_argument(
        "--key-split",
        action="store_true",
        help="also report each run's share on the style prompts that name a key and on those that name none",
    )
    parser.add_argument(
        "--tempo-split",
        action="store_true",
        help="also report each run's share on the style prompts that name a tempo and on those that name none (a run "
        "without its tempo record paired with its source there)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and configs, run nothing")
    args = parser.parse_args(argv)
    if args.table is None and args.work is None:
        parser.error("--work is required (or --table REPORT)")
    args.style_names = [name for name in args.styles.split(",") if name]
    unknown = sorted(set(args.style_names) - set(STYLES))
    if unknown or not args.style_names:
        parser.error(f"--styles takes any of {sorted(STYLES)}; got {args.styles!r}")
    args.lever_names = [name for name in args.levers.split(",") if name and name != "recipe"]
    unknown = sorted(set(args.lever_names) - set(LEVERS))
    if unknown:
        parser.error(f"--levers takes any of {sorted(LEVERS)}; got {args.levers!r}")
    if args.lever_baseline is not None and args.lever_baseline not in LEVERS:
        parser.error(f"--lever-baseline takes any of {sorted(LEVERS)}; got {args.lever_baseline!r}")
    if args.lever_names and args.lever_style not in args.style_names:
        parser.error(f"--levers needs --lever-style, one of --styles ({args.styles}); got {args.lever_style!r}")
    args.apart_lever_names = [name for name in args.apart_levers.split(",") if name]
    if sorted(set(args.apart_lever_names) - set(LEVERS)):
        parser.error(f"--apart-levers takes any of {sorted(LEVERS)}; got {args.apart_levers!r}")
    if args.apart_lever_names and not set(args.style_names) & set(KEPT_APART):
        parser.error(f"--apart-levers measures the kept-apart styles ({','.join(KEPT_APART)}): name one in --styles")
    if args.lever_style in KEPT_APART:
        parser.error(f"--lever-style {args.lever_style} is kept apart: no setting is chosen on it (only reported)")
    if args.steps < 1 or args.save_steps < 1 or (args.lever_steps is not None and args.lever_steps < 1):
        parser.error("--steps, --save-steps and --lever-steps must be positive")
    args.lever_steps = args.steps if args.lever_steps is None else args.lever_steps
    try:
        pairs = (item.split("=", 1) for item in args.documented_from.split(",") if item)
        args.documented_from = {style: Path(folder) for style, folder in pairs}
        args.compared_with = dict(item.split("=", 1) for item in args.compared_with.split(",") if item)
    except ValueError:
        parser.error("--documented-from and --compared-with take STYLE=VALUE pairs, comma-separated")
    args.diagnose_runs = [name for name in args.diagnose_runs.split(",") if name]
    if args.diagnose is not None and args.diagnose not in args.style_names:
        parser.error(f"--diagnose takes a style of --styles, got {args.diagnose!r}")
    if args.diagnose_runs and args.diagnose is None:
        parser.error("--diagnose-runs goes with --diagnose")
    if (args.documented_from or args.compared_with) and not args.documented:
        parser.error("--documented-from and --compared-with go with --documented")
    outside = sorted((set(args.documented_from) | set(args.compared_with)) - set(args.style_names))
    if outside:
        parser.error(f"--documented-from and --compared-with name styles outside --styles: {outside}")
    if args.documented and args.lever_names and args.lever_baseline != "documented":
        parser.error(
            "--documented measures the documented run on every style; levers go with it only as levers on it "
            "(--lever-baseline documented), else measure --levers apart"
        )
    missing = [
        f"{style}/{run}"
        for style, run in args.compared_with.items()
        if args.work is not None
        and not (args.work / "runs" / style / run / "final" / "adapter_model.safetensors").is_file()
    ]
    if missing:
        parser.error(f"--compared-with names runs the work folder does not hold (runs/STYLE/RUN/final): {missing}")
    try:
        args.unrelated_weight_values = [float(w) for w in args.unrelated_weights.split(",") if w]
    except ValueError:
        parser.error(f"--unrelated-weights takes comma-separated numbers, got {args.unrelated_weights!r}")
    if any(not np.isfinite(w) or w < 0 for w in args.unrelated_weight_values):
        parser.error(f"--unrelated-weights must be finite and >= 0, got {args.unrelated_weights!r}")
    if args.unrelated_weight_values and not args.lever_names:
        parser.error("--unrelated-weights weighs the lever baseline's adapter: give --levers and --lever-style")
    if not 1 <= args.unrelated <= len(shared.UNRELATED_PROMPTS):
        parser.error(f"--unrelated must be within 1-{len(shared.UNRELATED_PROMPTS)}, got {args.unrelated}")
    try:
        args.at = {style: int(step) for style, step in (item.split("=") for item in args.at.split(",") if item)}
    except ValueError:
        parser.error(f"--at takes STYLE=STEP pairs, e.g. gospel=80; got {args.at!r}")
    if set(args.at) - set(args.style_names):
        parser.error(f"--at names styles outside --styles: {sorted(set(args.at) - set(args.style_names))}")
    if args.skip_shared and not (args.base_only or args.songs_only):
        parser.error("--skip-shared goes with --base-only or --songs-only")
    if not 1.0 <= args.seconds <= 30.0:
        parser.error(f"--seconds must be within 1-30, got {args.seconds}")
    try:
        args.weight_values = [float(weight) for weight in args.weights.split(",") if weight]
    except ValueError:
        parser.error(f"--weights takes comma-separated numbers, e.g. 1.5,2; got {args.weights!r}")
    if any(not np.isfinite(weight) or weight <= 0 for weight in args.weight_values):
        parser.error(f"--weights must be finite and above 0, got {args.weights!r}")
    args.weight_run_names = [name for name in args.weight_runs.split(",") if name]
    args.carry_styles = [name for name in args.carry_to.split(",") if name and name != args.lever_style]
    if set(args.carry_styles) & set(KEPT_APART):
        parser.error(f"--carry-to {args.carry_to}: a kept-apart style ({','.join(KEPT_APART)}) measures no lever")
    if set(args.carry_styles) - set(args.style_names) or (args.carry_styles and not args.lever_names):
        parser.error(
            f"--carry-to takes styles of --styles other than --lever-style, with --levers; got {args.carry_to!r}"
        )
    # a *_no_record lever is a copy of its source's adapter: the source is trained (or kept) beside it
    for levers, option, default in (
        (args.lever_names, "--levers", None),
        (args.apart_lever_names, "--apart-levers", "recipe"),
    ):
        measured = {*levers, args.lever_baseline or default or lever_baseline(args)}
        for lever in levers:
            if lever.endswith(WITHOUT_RECORD) and lever.removesuffix(WITHOUT_RECORD) not in measured:
                parser.error(
                    f"{option} {lever} is {lever.removesuffix(WITHOUT_RECORD)}'s adapter without its tempo record: "
                    f"name {lever.removesuffix(WITHOUT_RECORD)} in {option} or --lever-baseline too"
                )
    return args


def weighted_name(run: str, weight: float) -> str:
    """The system of ``run``'s adapter at ``weight`` (``recipe_x1.5``): its songs and rows are its own."""
    return f"{run}_x{weight:g}"


def dry_run(args) -> int:
    for _, command in data_commands(
        args.work, args.style_names, any(name.startswith("lane_corpus") for name in args.lever_names)
    ):
        print("$", " ".join(command))
    copies = record_removed_runs(args)
    for (style, run), config in planned_runs(args).items():
        final = Path(config["output_dir"]) / "final"
        if (final / "adapter_model.safetensors").is_file():  # what is trained is kept, never trained again
            print(f"# {style}/{run}: kept, its adapter exists ({final})")
            continue
        if (style, run) in copies:
            print(f"# {style}/{run}: {style}/{copies[(style, run)]}'s adapter copied, its tempo record removed")
            continue
        if args.no_train:
            print(f"# {style}/{run}: left out (--no-train; no adapter at {final})")
            continue
        print(f"# {style}/{run}: songgen finetune-lora lora_{style}_{run}.yaml")
        print(json.dumps(config))
    songs, unrelated = (len(shared.SEEDS) * count for count in (len(shared.STYLE_PROMPTS), args.unrelated))
    print(f"# songs: per style and system {songs} style and {unrelated} unrelated, {args.seconds:g} s each")
    return 0


def include_apart_report(report: dict, path: Path) -> None:
    """``path``'s kept-apart styles (a report made in a work folder of its own, whose base songs are its own) and
    their levers put beside ``report``'s, with what that report was made with."""
    from songgen_hf.utils.safe_files import read_json_object

    other = read_json_object(path, "the --apart-report report")
    names = [name for name in other.get("kept_apart") or [] if name in (other.get("styles") or {})]
    if not names:
        raise SystemExit(f"{path} reports no kept-apart style ({','.join(KEPT_APART)}); make it with --styles NAME.")
    for name in names:
        report["styles"][name] = other["styles"][name]
    report["kept_apart"] = list(dict.fromkeys([*(report.get("kept_apart") or []), *names]))
    report.setdefault("kept_apart_levers", {}).update(other.get("kept_apart_levers") or {})
    keys = ("commit", "load_average", "wall_seconds", "judge", "songs", "training", "scale")
    report["apart_report"] = {"path": str(path), **{key: other[key] for key in keys if key in other}}


# ---------------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.table is not None:
        from songgen_hf.utils.safe_files import read_json

        print(markdown_tables(read_json(args.table)), end="")
        return 0
    if args.dry_run:
        return dry_run(args)
    work, started = args.work, time.time()
    load = {"start": load_average()}
    for done, command in data_commands(
        work, args.style_names, any(name.startswith("lane_corpus") for name in args.lever_names)
    ):
        if not done.is_file():
            shared._run(command)
    # a *style_tempo lever is its run's adapter (style_tempo: --style-tempo-from's; X_style_tempo: X's) with the record
    for lever in args.lever_names if args.style_tempo_from else ():
        if lever.endswith("style_tempo"):
            source = args.style_tempo_from if lever == "style_tempo" else lever.removesuffix("_style_tempo")
            for style in args.lever_style, *args.carry_styles:
                style_tempo_copy(work, style, source, lever)
    copies = {
        style: documented_copy(work, style, folder, planned_runs(args)[(style, "documented")])[1]
        for style, folder in args.documented_from.items()
    }
    # a *_no_record lever is its source's adapter copied without the tempo record: copied, never trained
    removed = record_removed_runs(args)
    for (style, run), source in removed.items():
        record_removed_copy(work, style, source, run)
    planned = planned_runs(args)
    if args.no_train:
        planned = {
            key: config
            for key, config in planned.items()
            if (Path(config["output_dir"]) / "final" / "adapter_model.safetensors").is_file()
        }
    configs = {
        f"{style}/{run}": (work / f"lora_{style}_{run}.yaml", config)
        for (style, run), config in planned.items()
        if (style, run) not in copies
    }
    training = {} if args.base_only else shared.train_configs(work, configs)
    for (style, run), source in copies.items():  # the sources trained just now
        if record_removed_copy(work, style, source, run) is None:
            planned.pop((style, run), None)
    if args.base_only:
        planned = {}

    from songgen_hf.pipelines import load_text_to_song_pipeline

    for style, step in args.at.items():  # the recipe measured at a checkpoint: a run that has not finished yet
        planned.setdefault((style, "recipe"), planned_runs(args)[(style, "recipe")])
    adapters = {f"{style}/{run}": str(Path(c["output_dir"]) / "final") for (style, run), c in planned.items()}
    for style, step in args.at.items():
        adapters[f"{style}/recipe"] = str(shared.checkpoint_adapters(work / "runs" / style / "recipe")[step])
    # the runs at other weights: the same adapter, its update scaled when the songs are made (no training)
    weighted = {
        (style, weighted_name(run, weight)): (run, weight)
        for (style, run) in planned
        if run in args.weight_run_names and args.lever_style in (None, style)
        for weight in args.weight_values
    }
    curve = {}
    for style in args.style_names if args.curve else ():
        recipe = work / "runs" / style / "recipe"
        for step, folder in shared.checkpoint_adapters(recipe).items() if recipe.is_dir() else ():
            if step < args.steps:
                curve[(style, step)] = f"{style}/recipe@{step}"
                adapters[f"{style}/recipe@{step}"] = str(folder)
    ablated = []  # (style, run) measured also without its singer's learnt voice
    for (style, run), config in list(planned.items()) if args.ablate_voice and args.singer == "auto" else ():
        final = Path(config["output_dir"]) / "final"
        copy = without_learnt_voice(final) if (final / "adapter_model.safetensors").is_file() else None
        if copy is not None:
            adapters[f"{style}/{run}{WITHOUT_VOICE}"] = str(copy)
            ablated.append((style, run))
    singer = {} if args.singer == "auto" else {"singer": None}
    # the base loads once; every run switches on it
    pipe = load_text_to_song_pipeline(None, adapters=adapters or None, **singer)
    pipe.set_progress_bar_config(disable=True)
    if args.decoder_untimed:
        # the processor reads and reports a tempo it is not to pass on (its musical_controls off): the told singer's
        # score keeps the asked tempo, the decoder's tempo control is left unknown, and no adapter's record applies
        pipe.processor.use_tempo_control = False
    timings: dict = {}
    prompts = len(shared.STYLE_PROMPTS)
    unrelated_asked = shared.prompt_songs("unrelated")[: args.unrelated]
    unrelated_kind = "unrelated" if args.unrelated == len(shared.UNRELATED_PROMPTS) else f"unrelated{args.unrelated}"
    if args.untimed_unrelated:  # the leak where an adapter's own tempo applies: prompts that name none
        unrelated_asked = [{**song, "description": without_tempo(song["description"])} for song in unrelated_asked]
        unrelated_kind += "_untimed"

    # the style prompts as written, or with their tempo (--untimed-style: no metronome told; an adapter's own tempo
    # applies) or their key (--keyless-style-prompts) taken out, each kept apart from the others' songs
    style_kind = (
        "style" + ("_untimed" if args.untimed_style else "") + ("_keyless" if args.keyless_style_prompts else "")
    )

    def asked_style(style: str, run: str | None = None, trigger: str | None = None) -> list[dict]:
        asked = style_prompts(style, run, trigger)
        if args.untimed_style:
            asked = [{**song, "description": without_tempo(song["description"])} for song in asked]
        if args.keyless_style_prompts:
            asked = [{**song, "description": without_key(song["description"])} for song in asked]
        return asked

    def songs(system: str, choice, kind: str, asked: list[dict] | None = None) -> np.ndarray:
        """The judge's features of a system's songs (generated, or read from the kept songs), kept beside them."""
        system = system if args.singer == "auto" else f"{system}_no_singer"  # kept apart from the singer's songs
        system += "_decoder_untimed" if args.decoder_untimed else ""
        return song_features(
            work / "songs" / system / f"{kind}_features{FEATURES_VERSION}.npy",
            lambda: [
                song["audio"]
                for song in shared.generate_songs(pipe, work, system, choice, kind, args.seconds, timings, asked)
            ],
        )

    # the base's songs of the corpus sample's captions: the judge's "what the base makes" (corpus+base)
    corpus_records = shared._records(work / "corpus" / "test.jsonl")[:NEGATIVE_SONGS]
    negative_prompts = [{"description": r["caption"], "lyrics": r.get("lyrics") or ""} for r in corpus_records]
    path = work / "songs" / ("base" if args.singer == "auto" else "base_no_singer") / "corpus_captions.npz"

    def negative_audio():
        if path.is_file():
            with np.load(path) as kept:
                return [kept[f"audio_{i}"] for i in range(len(kept.files))]
        outputs = pipe(negative_prompts, adapter=None, seed=0, duration_s=args.seconds, batch_size=8)
        audio = [out["audio"][0] for out in outputs]
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"audio_{i}": song for i, song in enumerate(audio)})
        return audio

    negatives = (
        None
        if args.skip_shared
        else song_features(path.with_name(f"corpus_captions_features{FEATURES_VERSION}.npy"), negative_audio)
    )
    base_unrelated = None if args.skip_shared else songs("base", None, unrelated_kind, unrelated_asked)
    if args.base_only:
        for style in args.style_names:
            songs(f"{style}/base", None, style_kind, asked_style(style))
        return 0
    # every song first (the long part), then the judges: a judge's features may still be on their way elsewhere
    measured = {}
    for style in args.style_names:
        systems = [run for (s, run) in planned if s == style]
        systems += [f"recipe@{step}" for (s, step) in sorted(curve) if s == style]
        systems += [f"{run}{WITHOUT_VOICE}" for (s, run) in ablated if s == style]
        systems += [name for (s, name) in weighted if s == style]
        for run in systems:
            trained, weight = weighted.get((style, run), (run, None))
            choice = f"{style}/{run}" if weight is None else {f"{style}/{trained}": weight}
            trigger = planned.get((style, trained.removesuffix(WITHOUT_VOICE)), {}).get("trigger_phrase")
            system = f"{style}/recipe@{args.at[style]}" if run == "recipe" and style in args.at else f"{style}/{run}"
            style_songs = songs(system, choice, style_kind, asked_style(style, run, trigger))
            # the checkpoints' unrelated songs are left out: the leak is the finished run's
            unrelated = None if "@" in run else songs(system, choice, unrelated_kind, unrelated_asked)
            measured[(style, run)] = (style_songs, unrelated)
    # the lever baseline's adapter at a smaller weight on the unrelated prompts alone (its style prompts at 1)
    weighted = {}
    if args.unrelated_weight_values:
        run = lever_run_name(args, lever_baseline(args))
        choice = f"{args.lever_style}/{run}"
        for weight in args.unrelated_weight_values if (args.lever_style, run) in planned else ():
            system = f"{choice}_w{weight:g}"
            weighted[weight] = songs(system, {choice: weight}, unrelated_kind, unrelated_asked)
    # the base's own after the runs': a --base-only run beside this one may be making them
    base_songs = {style: songs(f"{style}/base", None, style_kind, asked_style(style)) for style in args.style_names}
    if args.songs_only:
        return 0
    report_styles, judge_of = {}, {}
    for style in args.style_names:
        cache = work / f"judge_features_{style}{FEATURES_VERSION}.npz"
        fit = {
            "features": style_judge_features,
            "suffix": FEATURES_VERSION,
            **judge_reading(STYLES[style]["judge_reads"], base_songs[style].shape[1]),
        }
        judges = {"corpus": shared.fit_judge(work, style, cache, **fit), "corpus+base": None}
        judges["corpus+base"] = shared.fit_judge(work, style, cache, negatives, **fit)
        base_style = base_songs[style]
        per_judge = {}
        for judge_name, (judge, judge_report) in judges.items():
            base_values = shared.per_prompt(judge.probability(base_style), prompts)
            per_judge[judge_name] = {"report": judge_report, "sharpness": sharpness(judge_report, base_values)}
        judge, judge_report = judges[args.judge]
        judge_of[style] = judge
        target = judge_report["style_set_score_codec"]["mean"]
        base_values = shared.per_prompt(judge.probability(base_style), prompts)
        base_unrelated_values = shared.per_prompt(judge.probability(base_unrelated), args.unrelated)
        runs, leak, values_of, unrelated_of = {}, {}, {}, {}
        for (measured_style, run), (style_songs, unrelated) in measured.items():
            if measured_style != style:
                continue
            values = shared.per_prompt(judge.probability(style_songs), prompts)
            values_of[run] = values
            runs[run] = share_entry(values, base_values, target)
            if run == "recipe" and style in args.at:
                runs[run]["trained_steps"] = args.at[style]
            if unrelated is not None:
                unrelated_values = shared.per_prompt(judge.probability(unrelated), args.unrelated)
                unrelated_of[run] = unrelated_values
                leak[run] = leak_entry(unrelated_values, base_unrelated_values, runs[run]["minus_base"]["mean"])
            print(f"{style}/{run}: {runs[run]['share_of_the_way_to_the_style_set']:.0%} of the way", flush=True)
        report_styles[style] = {
            **({"kept_apart": True} if style in KEPT_APART else {}),
            "axis": STYLES[style]["axis"],
            "what_is_new": STYLES[style]["what_is_new"],
            "style_set": "songgen data synth " + " ".join([*STYLES[style]["synth"], *shared.SYNTH_COMMON]),
            "prompts": STYLES[style]["prompts"],
            "trigger_phrase": STYLES[style]["trigger"],
            "judge_reads": STYLES[style]["judge_reads"],
            "judge": per_judge[args.judge]["report"],
            "judge_sharpness": per_judge[args.judge]["sharpness"],
            "judges": per_judge,
            "base": shared.interval(base_values),
            "base_values_per_prompt": base_values,
            "runs": runs,
            "leak": leak,
            "values_per_prompt": values_of,
            "unrelated_values_per_prompt": unrelated_of,
        }
        if args.key_split:  # the prompts as written: which of them name a key
            baseline = (
                lever_run_name(args, lever_baseline(args))
                if style == args.lever_style or style in args.carry_styles
                else (args.lever_baseline or "recipe")
                if style in KEPT_APART and args.apart_lever_names
                else None
            )
            report_styles[style]["key_split"] = key_split(
                STYLES[style]["prompts"], values_of, base_values, target, baseline
            )
        if args.tempo_split:  # which of them name a tempo (an adapter's tempo record applies where none is named)
            split = tempo_split(STYLES[style]["prompts"], values_of, base_values, target)
            report_styles[style]["tempo_split"] = split
        # what the judge still hears between each system's songs and the style's held-out clips through the codec
        clips = np.load(cache)["style_codec"][shared.JUDGE_FIT :]
        systems = {"base": base_style, **{run: songs for (s, run), (songs, _) in measured.items() if s == style}}
        report_styles[style]["judge_gap_to_the_clips"] = {
            "what": "per feature group, the judge's log-odds between the style's held-out codec clips (the ones it "
            "was not fitted on) and the songs: weights x standardised mean difference, summed over the group",
            **{name: judge_gap_groups(judge, clips, rows) for name, rows in systems.items()},
        }
        if style == args.lever_style and weighted:
            run = lever_run_name(args, lever_baseline(args))
            report_styles[style]["leak_at_weight"] = {
                f"{weight:g}": leak_entry(
                    shared.per_prompt(judge.probability(features), args.unrelated),
                    base_unrelated_values,
                    runs[run]["minus_base"]["mean"],
                )
                for weight, features in weighted.items()
            }
    report = {
        **schema_report_head("styles", "benchmarks/styles.py"),
        "commit": git_commit(),
        "load_average": {**load, "end": load_average()},
        "wall_seconds": round(time.time() - started, 1),
        "generation_seconds": timings,
        "corpus_sample": "songgen data synth " + " ".join([*shared.CORPUS_SAMPLE, *shared.SYNTH_COMMON]),
        "training": {
            "recipe": {**shared.LORA_SETTINGS, **shared.lora_defaults(), "max_steps": args.steps},
            "runs": {
                f"{s}/{r}": {
                    **{k: v for k, v in c.items() if k not in ("train_data", "output_dir")},
                    **({"tempo_record_removed_from": copies[(s, r)]} if (s, r) in copies else {}),
                }
                for (s, r), c in planned.items()
            },
            "results": training,
        },
        "judge": f"{args.judge}: logistic regression on style_judge_features (your_songs.judge_features plus "
        f"songgen_hf.evaluation.groove's beat and register features; caches '{FEATURES_VERSION}'; per style the "
        f"columns its judge_reads), fitted on {shared.JUDGE_FIT} held-out style clips and {shared.JUDGE_FIT} "
        "corpus clips, each also through the codec"
        + (
            f", plus the base's songs of {NEGATIVE_SONGS} corpus captions (seed 0) as corpus"
            if args.judge != "corpus"
            else ""
        ),
        "songs": {
            "seconds": args.seconds,
            "seeds": list(shared.SEEDS),
            "singer": args.singer,
            "unrelated_prompts": shared.UNRELATED_PROMPTS[: args.unrelated],
            "unrelated_untimed": [song["description"] for song in unrelated_asked] if args.untimed_unrelated else None,
            "style_untimed": args.untimed_style,
            "decoder_untimed": args.decoder_untimed,
            "style_prompts_keyless": args.keyless_style_prompts,
        },
        "style_target": "the judge's score of the held-out style clips through the base's codec; "
        "share_of_the_way_to_the_style_set = (run - base) / (target - base); share_ci95 = the paired difference's "
        "interval over the same gap",
        "leak": "unrelated prompts' songs, the style judge's score, run minus base (paired); leak_ratio = that over "
        "the style prompts' run minus base",
        "intervals": f"bootstrap 95 % over the {prompts} prompts (each prompt's mean over its {len(shared.SEEDS)} "
        "seeds)",
        "weights": {
            "values": args.weight_values,
            "runs": args.weight_run_names,
            "what": "RUN_xW: RUN's adapter at weight W when the songs are made (adapter={RUN: W}, the pipeline's "
            "blend of one adapter: its update, the singer adapter's included, scaled by W)",
        },
        "scale": (
            f"the recipe of {sorted(args.at)} measured at a checkpoint of its unfinished {args.steps}-step run "
            f"(steps {args.at}); unrelated prompts: the first {args.unrelated}"
            if args.at
            else f"the recipe's full {args.steps} steps; unrelated prompts: the first {args.unrelated}"
        ),
        "styles": report_styles,
        "worst_first": worst_first(report_styles, "documented" if args.documented else "recipe"),
    }
    if args.documented:
        report["documented"] = documented_report(args, report_styles, planned, copies)
    if args.diagnose:
        report["diagnosis"] = diagnosis(args, judge_of[args.diagnose], style_kind)
    apart = [style for style in args.style_names if style in KEPT_APART]
    if apart:  # reported on their own: no setting was chosen on them
        report["kept_apart"] = apart
    if ablated:  # what the learnt voice adds to each run: the run minus the same adapter without it, paired
        report["learnt_voice_effect"] = {
            f"{style}/{run}": shared.paired_difference(
                report_styles[style]["values_per_prompt"][f"{run}{WITHOUT_VOICE}"],
                report_styles[style]["values_per_prompt"][run],
            )
            for style, run in ablated
        }
    if args.singer_none_report is not None:
        from songgen_hf.utils.safe_files import read_json_object

        other = read_json_object(args.singer_none_report, "the --singer none report")
        if (other.get("songs") or {}).get("singer") != "none":
            raise SystemExit(f"{args.singer_none_report} was not made with --singer none.")
        report["singer_none"] = {key: other[key] for key in ("commit", "judge", "songs", "styles") if key in other}
    if args.lever_names or any(style == args.lever_style for style, _ in weighted):
        style = report_styles[args.lever_style]
        baseline = lever_run_name(args, lever_baseline(args))
        names = [lever_run_name(args, lever) for lever in args.lever_names if lever != args.lever_baseline]
        names += [name for (s, name) in weighted if s == args.lever_style and name not in names]
        if baseline != "recipe" and "recipe" in style["runs"] and not names.count("recipe"):
            names.insert(0, "recipe")  # compared with another baseline, the recipe is a row of its own
        recipe = style["values_per_prompt"].get(baseline)
        unrelated_baseline = style["unrelated_values_per_prompt"].get(baseline)
        report["levers"] = {
            "style": args.lever_style,
            "steps": args.lever_steps,
            "reduced_scale": args.lever_steps != args.steps,
            "compared_with": baseline,
            "runs": [name for name in [baseline, *names] if name in style["runs"]],
            "minus_recipe": {
                name: shared.paired_difference(recipe, style["values_per_prompt"][name])
                for name in names
                if recipe is not None and name in style["values_per_prompt"]
            },
            "carried": {
                other: {
                    name: shared.paired_difference(
                        report_styles[other]["values_per_prompt"][baseline],
                        report_styles[other]["values_per_prompt"][name],
                    )
                    for name in names
                    if name in report_styles[other]["values_per_prompt"]
                    and baseline in report_styles[other]["values_per_prompt"]
                }
                for other in args.carry_styles
            },
            # the unrelated prompts' songs, paired per prompt with the baseline's: what a lever changes in the leak
            "unrelated_minus_recipe": {
                name: shared.paired_difference(unrelated_baseline, style["unrelated_values_per_prompt"][name])
                for name in names
                if unrelated_baseline is not None and name in style["unrelated_values_per_prompt"]
            },
        }
    apart_levers = {}
    for style in [name for name in args.style_names if name in KEPT_APART] if args.apart_lever_names else ():
        values = report_styles[style]["values_per_prompt"]
        unrelated = report_styles[style]["unrelated_values_per_prompt"]
        baseline = args.lever_baseline or "recipe"
        names = [name for name in args.apart_lever_names if name != baseline and name in values]
        apart_levers[style] = {
            "compared_with": baseline,
            "runs": [name for name in [baseline, *names] if name in values],
            "minus_baseline": {
                name: shared.paired_difference(values[baseline], values[name]) for name in names if baseline in values
            },
            "unrelated_minus_baseline": {
                name: shared.paired_difference(unrelated[baseline], unrelated[name])
                for name in names
                if baseline in unrelated and name in unrelated
            },
        }
    if apart_levers:  # the levers on a kept-apart style: reported, never chosen on
        report["kept_apart_levers"] = apart_levers
    if args.apart_report is not None:
        include_apart_report(report, args.apart_report)
    text = json.dumps(report, indent=1)
    print(markdown_tables(report))
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
