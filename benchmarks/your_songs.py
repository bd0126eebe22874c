"""Your own sound, measurably: does a LoRA trained on a style the base never heard move its songs towards it?

The journey a user runs, on a style no corpus has (``songgen data synth --style calypso``: steel drums, marimba,
kalimba and tuba over a tresillo on congas, cowbell, claves and maracas; no corpus genre plays one of these
instruments or that percussion), then an independent judge:

1. **data**: the style set (32 training clips, 48 held out) and 48 held-out clips of the default's own corpus
   (corpus v3, seed 1: the test split songgen-tiny never trained on), 6-9 s each; the training clips encoded with
   the base's codec (``songgen data encode --codec songgen-tiny``);
2. **train**: ``songgen finetune-lora`` with the settings docs/fine_tuning.md gives for a real run (batch 8 of 10 s
   bar-aligned crops, the default rank 16, targets and learning rate: the decoder layers and the per-codebook output
   heads, 3e-3) for ``--steps`` steps, a checkpoint every ``--save-steps``; ``before``, the same data with the
   decoder layers alone at 2e-4 for 80 steps, is the comparison; ``--runs`` adds the run without the base's
   objective (no condition dropout, flat codebook weights) or at rank 4;
3. **judge**: a logistic regression on MFCC, spectral-contrast, sorted-chroma, onset and tempogram statistics plus
   the log-mel probe features (``songgen_hf.evaluation.probes``), fitted on 24 held-out style clips and 24 corpus
   clips (each also through the base's codec, so that codec artefacts alone do not decide), scored on the other
   24 + 24 real clips and their codec round trips; the model never trains against it;
4. **songs**: 16 prompts of the style and 16 unrelated prompts (tempo, key and vocals asked), all phrased unlike
   the corpus captions, x 2 seeds, ``--seconds`` long, from one pipeline holding every adapter
   (``adapters={...}``, switched per call: the base loads once);
5. **figures**: the judge's style score (its probability of the style) of base, adapter and the style set itself,
   per prompt averaged over the seeds, with bootstrap intervals over the prompts; the adapter's weight (blends at
   ``--weights``), the checkpoints' curve (``--curve-steps``) and the other runs; on unrelated prompts tempo
   (within 4 %, and octave-tolerant), key (MIREX) and vocals-as-asked (silero-vad on the vocal stem), base vs
   adapter, as paired differences.

    python benchmarks/your_songs.py --work /tmp/yours --json docs/benchmarks/your_songs.json

Every stage skips what its outputs already hold (a rerun re-analyses the kept songs without generating);
``--dry-run`` prints the commands and training configs without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
from machine import git_commit, load_average, schema_report_head  # noqa: E402

RATE = 16000
STYLE = "calypso"
SYNTH_COMMON = ["--corpus-version", "3", "--min-duration", "6", "--max-duration", "9", "--no-progress"]
STYLE_SET = [
    *["--num-clips", "80", "--test-fraction", "0.6", "--seed", "7", "--style", STYLE],
    *["--tempo-range", "100", "126", "--slow-share", "0", "--instrumental-share", "0", "--drumless-share", "0"],
]
# the test split of seed 1 (clip i of a split depends only on the seed, the split and i): held out of songgen-tiny
CORPUS_SAMPLE = ["--num-clips", "48", "--test-fraction", "0.99", "--seed", "1"]
TRAIN_CLIPS, HELD_OUT_CLIPS, CORPUS_CLIPS = 32, 48, 48
JUDGE_FIT = 24  # the first 24 held-out clips of each set fit the judge; the others score it
# docs/fine_tuning.md, "A real run": what a user is told to set (rank, targets and learning rate are the defaults)
LORA_SETTINGS = {
    "init_from": "songgen-tiny",
    "batch_size": 8,
    "max_frames": 500,
    "bar_aligned_crops": True,
    "checkpoints_total_limit": None,
    "log_steps": 10,
}
RUNS = {
    "r16": {},
    # the base's objective dropped: no condition dropout (guidance's unconditional branch never trained) and
    # every codebook weighted alike from the start (the base's curriculum starts at 0.25 x3, 0.05 x5)
    "no_objective": {
        "description_dropout_prob": 0.0,
        "lyrics_dropout_prob": 0.0,
        "joint_dropout_prob": 0.0,
        "control_dropout_prob": 0.0,
        "initial_codebook_weights": [1.0] * 8,
        "codebook_curriculum": False,
    },
    "r4": {"lora_r": 4, "lora_alpha": 8},
    # the comparison: the decoder layers alone (no output heads) at 2e-4 for 80 steps
    "before": {"lora_targets": ["self_attn", "encoder_attn", "ffn"], "learning_rate": 2e-4, "max_steps": 80},
    "lane": {"lane_weight": 2.0},  # the lane regulariser (docs/benchmarks/singer_lane.json); about 2.3x a step
}

# Prompts written apart from the corpus captions ("Driving steady calypso tune (B min, BPM: 112): a male voice;
# steel drums and tuba; ..."): how a person asks for the style, sometimes with a tempo or key.
STYLE_PROMPTS = [
    "beach party music: steel pans ringing over marimba and a bouncing tuba, congas and cowbell, a woman sings",
    "sunny carnival song, steel drum melody, kalimba plinks, tuba bass line, shakers, sung by a man, 112 bpm",
    "island groove for a harbour festival with steel pans and marimba, hand drums, female voice, in G major",
    "a lazy afternoon calypso, marimba chords and low tuba, congas, a man singing softly",
    "steelband tune at 118 bpm in D major with a cheerful female singer",
    "Caribbean street parade: pans, tuba and cowbell driving a tresillo beat, male vocals",
    "kalimba and steel drums over a tuba, maracas shaking, sweet female vocal, F major",
    "a happy calypso about the sea, steel pans and marimba, a man sings it",
    "marimba riffs, tuba, congas and claves, warm female singer, 106 bpm",
    "festival song from the islands with steel drums, a tuba bass and a chorus-ready male voice, A minor",
    "tropical dance tune: steel pan lead, kalimba, cowbell, female lead singer, 120 bpm",
    "calypso in C major at 110 bpm, steel drums, marimba and tuba, sung by a woman",
    "a gentle seaside song with kalimba, marimba and soft hand percussion, a man singing",
    "bright steel pan band with tuba and congas, playful female vocals, in E minor",
    "carnival night, steel drums and cowbell, a brassy tuba, male singer, 124 bpm",
    "marimba and steel pan duet over maracas and conga, a woman sings about the sun",
]
STYLE_LYRICS = [
    "dancing on the sand tonight\nunder the golden sun",
    "the boats are coming home\nwe sing along the shore",
    "sun is high and the drums are calling\nmove your feet",
    "sweet water by the bay\nwe dance the night away",
]
# (description, tempo, key, sung): the controls asked in words the processor reads, the rest phrased loosely
UNRELATED_PROMPTS = [
    ("gritty guitar rock for a road trip, 132 bpm, E minor, a man belting it out", 132, "E minor", True),
    ("a slow piano ballad for a rainy night at 70 bpm in A minor, soft female singer", 70, "A minor", True),
    ("instrumental jazz with a walking upright bass and brushed drums, 140 bpm, F major", 140, "F major", False),
    ("four-on-the-floor dance track with synth bass, 124 bpm, C minor, woman singing", 124, "C minor", True),
    ("campfire folk with acoustic guitar and violin, 96 bpm, G major, a man sings", 96, "G major", True),
    ("no vocals: a calm electric piano groove at 84 bpm in D major", 84, "D major", False),
    ("an angry punk-ish rock song, distorted guitars, 150 bpm, B minor, male vocals", 150, "B minor", True),
    ("twelve-bar blues shuffle with organ and guitar, 100 bpm, E major, a woman sings", 100, "E major", True),
    ("a dreamy synth-pop song with pads, 112 bpm, F# minor, female vocals", 112, "F# minor", True),
    ("soulful R&B slow jam with electric bass, 76 bpm, Bb major, male singer", 76, "Bb major", True),
    ("instrumental rock with clean electric guitar and bass, 120 bpm, A major", 120, "A major", False),
    ("a country-tinged folk song with banjo, 108 bpm, D major, female voice", 108, "D major", True),
    ("dark minor-key pop at 90 bpm in G minor with piano and strings, man singing", 90, "G minor", True),
    ("an instrumental ballad for strings and piano, 66 bpm, C major, no singing", 66, "C major", False),
    ("upbeat pop with bright piano and drums at 128 bpm in Eb major, female lead", 128, "Eb major", True),
    ("swing number with jazz guitar and ride cymbal, 160 bpm, D minor, male vocals", 160, "D minor", True),
]
UNRELATED_LYRICS = [
    "we drove along the river\nwith music in the air",
    "the city lights are low\nand nowhere left to go",
    "the morning train is leaving\nand you are still asleep",
    "walking down the road alone\nfinding my way back home",
]
SEEDS = (0, 1)
CONTROL_KEYS = ("tempo_acc1", "tempo_acc2", "key_mirex", "vocals_as_asked")


def _run(command: list[str]) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


# ---------------------------------------------------------------------------------- 1-2: data and training
def data_commands(work: Path) -> list[tuple[Path, list[str]]]:
    """``(the file that shows the stage is done, its command)`` for the data stages."""
    return [
        (
            work / "calypso" / "test.jsonl",
            ["songgen", "data", "synth", "--output", str(work / "calypso"), *STYLE_SET, *SYNTH_COMMON],
        ),
        (
            work / "corpus" / "test.jsonl",
            ["songgen", "data", "synth", "--output", str(work / "corpus"), *CORPUS_SAMPLE, *SYNTH_COMMON],
        ),
        (
            work / "calypso_enc" / "encoding.json",
            ["songgen", "data", "encode", str(work / "calypso" / "train.jsonl"), "--codec", "songgen-tiny"]
            + ["--output", str(work / "calypso_enc")],
        ),
    ]


def run_config(
    work: Path, name: str, steps: int, save_steps: int, style: str = STYLE, output: Path | None = None, runs=RUNS
) -> dict:
    """The ``finetune-lora`` config of one run (``runs[name]`` over the documented settings) on ``style``'s
    encoded training clips."""
    output = work / "runs" / name if output is None else output
    config = {"train_data": str(work / f"{style}_enc"), "output_dir": str(output), "max_steps": steps}
    config.update(LORA_SETTINGS)
    config["save_steps"] = save_steps
    config.update(runs[name])
    return config


def train_runs(work: Path, runs: list[str], steps: int, save_steps: int) -> dict:
    """Each run trained (or resumed) with ``songgen finetune-lora``; ``{run: {seconds, losses}}``."""
    configs = {name: run_config(work, name, steps, save_steps) for name in runs}
    return train_configs(work, {name: (work / f"lora_{name}.yaml", config) for name, config in configs.items()})


def train_configs(work: Path, configs: dict[str, tuple[Path, dict]]) -> dict:
    """Each ``name: (yaml path, config)`` trained (or resumed) with ``songgen finetune-lora``, all at once, one thread
    each (on a loaded machine that takes the cores' share a thread-per-core run would lose to waiting); a run whose
    ``final`` adapter exists is kept.  ``{run: {seconds, losses}}`` read from each run's log."""
    import yaml

    from songgen_hf.utils.atomic import write_text_atomic

    started = {}
    for name, (path, config) in configs.items():
        output = Path(config["output_dir"])
        output.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, yaml.safe_dump(config, sort_keys=False))
        if (output / "final" / "adapter_model.safetensors").is_file():
            continue
        resume = ["--resume"] if (output / "checkpoints").is_dir() else []
        command = ["songgen", "finetune-lora", str(path), *resume]
        print("$", " ".join(command), flush=True)
        log = open(output.with_suffix(".log"), "a", encoding="utf-8")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "OMP_NUM_THREADS": "1"} if len(configs) > 1 else None
        started[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log)
    for name, (process, log) in started.items():
        code = process.wait()
        log.close()
        if code:
            raise RuntimeError(f"finetune-lora {name} exited with {code}; see {log.name}")
    results = {}
    for name, (_, config) in configs.items():
        log = Path(config["output_dir"]) / "train_log.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines() if line]
        stepped = [record for record in records if "loss" in record and "seconds" in record]
        first, last = stepped[:2], stepped[-2:]
        # a resumed run's clock restarts: a log whose seconds fall began a new stretch (its seconds are its own)
        windows, total = [], 0.0
        for earlier, later in zip([{"step": 0, "seconds": 0.0}, *stepped], stepped):
            spent = later["seconds"] - earlier["seconds"] if later["seconds"] >= earlier["seconds"] else None
            if spent is not None and later["step"] > earlier["step"]:
                windows.append(spent / (later["step"] - earlier["step"]))  # the least loaded stretch: the pace
            total += later["seconds"] if spent is None else spent
        results[name] = {
            "train_seconds": total if stepped else None,
            "seconds_per_step": total / stepped[-1]["step"] if stepped else None,
            "fastest_seconds_per_step": min(windows) if windows else None,
            "loss_first_logs": float(np.mean([r["loss"] for r in first])) if first else None,
            "loss_last_logs": float(np.mean([r["loss"] for r in last])) if last else None,
            "threads": 1 if len(configs) > 1 else None,
            "max_steps": stepped[-1]["step"] if stepped else None,
        }
    return results


def lora_defaults() -> dict:
    """The ``finetune-lora`` defaults the documented run leaves as they are (rank, alpha, targets, learning rate)."""
    import dataclasses

    from songgen_hf.training.lora_trainer import LoraTrainingConfig

    fields = {field.name: field for field in dataclasses.fields(LoraTrainingConfig)}
    chosen = ("lora_r", "lora_alpha", "lora_targets", "learning_rate")
    return {
        name: fields[name].default_factory() if fields[name].default is dataclasses.MISSING else fields[name].default
        for name in chosen
    }


def checkpoint_adapters(run: Path) -> dict[int, Path]:
    """Step -> the adapter folder of each saved checkpoint of a finetune-lora run."""
    found = {}
    for folder in sorted((run / "checkpoints").glob("checkpoint_*")):
        step = json.loads((folder / "checkpoint.json").read_text())["counter"]["step"]
        found[int(step)] = folder / "adapter"
    return found


# ---------------------------------------------------------------------------------- 3: the judge
def read_clip(path: Path) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32")
    if rate != RATE:
        raise ValueError(f"{path} is at {rate} Hz, not {RATE}")
    return audio


JUDGE_FEATURES_TEXT = (
    "MFCC 20 (mean, std), spectral contrast (mean, std), sorted chroma means, onset strength and tempogram "
    "statistics, log-mel probe features"
)


def judge_features(audio: np.ndarray) -> np.ndarray:
    """Statistics of features the model does not produce: MFCCs, spectral contrast, chroma and onset strength
    (librosa), plus the loudness-normalised log-mel probe features of ``songgen_hf.evaluation.probes``."""
    import librosa

    from songgen_hf.evaluation.probes import probe_features

    audio = np.asarray(audio, dtype=np.float32)
    rms = float(np.sqrt(np.mean(audio**2))) or 1.0
    y = audio * (0.1 / rms)
    mfcc = librosa.feature.mfcc(y=y, sr=RATE, n_mfcc=20)
    contrast = librosa.feature.spectral_contrast(y=y, sr=RATE, n_bands=5, fmin=100.0)
    chroma = librosa.feature.chroma_stft(y=y, sr=RATE)
    onset = librosa.onset.onset_strength(y=y, sr=RATE)
    tempogram = librosa.feature.tempogram(onset_envelope=onset, sr=RATE, win_length=128)
    statistics = [
        mfcc.mean(axis=1),
        mfcc.std(axis=1),
        contrast.mean(axis=1),
        contrast.std(axis=1),
        np.sort(chroma.mean(axis=1)),  # key-free: the profile's shape, not where it sits
        [onset.mean(), onset.std(), np.percentile(onset, 90)],
        tempogram.mean(axis=1)[1:64:4],  # periodicity of the onsets (the groove), lag by lag
    ]
    return np.concatenate([np.concatenate([np.ravel(s) for s in statistics]), probe_features(y, RATE)])


def _codec():
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.pipelines.loading import default_model_path

    model = SongGenForConditionalGeneration.from_pretrained(default_model_path())
    return model.audio_encoder.eval(), model.config.decoder.num_codebooks


def _round_trip(codec, record: dict, root: Path) -> np.ndarray:
    """The clip as the base's codec gives it back: each stem encoded and decoded, then mixed (a dual-track model
    writes the two stems)."""
    from songgen_hf.evaluation.systems import codec_round_trip

    codec_model, codebooks = codec
    total = None
    for field in ("vocal_path", "accompaniment_path"):
        if record.get(field):
            _, decoded = codec_round_trip(codec_model, read_clip(root / record[field]), codebooks)
            total = decoded if total is None else total + decoded
    return total


def _records(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def judge_set_arrays(root: Path, cache: Path, codec=None, features=None) -> dict[str, np.ndarray]:
    """The judge's features (``features``, default ``judge_features``) of a set's held-out clips
    (``root/test.jsonl``), as synthesised and through the base's codec (``real``, ``codec``), computed once and kept
    in ``cache``."""
    if cache.is_file():
        return dict(np.load(cache))
    features = judge_features if features is None else features
    codec = _codec() if codec is None else codec
    records = _records(root / "test.jsonl")
    arrays = {
        "real": np.stack([features(read_clip(root / r["audio_path"])) for r in records]),
        "codec": np.stack([features(_round_trip(codec, r, root)) for r in records]),
    }
    np.savez(cache, **arrays)
    return arrays


def judge_arrays(
    work: Path, style: str = STYLE, cache: Path | None = None, features=None, suffix: str = ""
) -> dict[str, np.ndarray]:
    """The judge's features of the held-out style clips and the corpus sample, as synthesised and through the
    codec (``{style,corpus}_{real,codec}``), computed once and kept in ``cache`` (each set's part also on its own,
    so that every style shares the corpus's and the sets can be computed apart; ``suffix`` names another feature
    set's parts)."""
    cache = work / "judge_features.npz" if cache is None else cache
    if cache.is_file():
        return dict(np.load(cache))
    arrays = {}
    for label, root, part in (
        ("style", work / style, work / f"judge_set_{style}{suffix}.npz"),
        ("corpus", work / "corpus", work / f"judge_set_corpus{suffix}.npz"),
    ):
        part_arrays = judge_set_arrays(root, part, features=features)
        arrays.update({f"{label}_{kind}": values for kind, values in part_arrays.items()})
    np.savez(cache, **arrays)
    return arrays


class ColumnJudge:
    """A judge that reads some of the feature columns (``columns``) of the rows it is given."""

    def __init__(self, probe, columns):
        self.probe, self.columns = probe, columns

    def probability(self, rows) -> np.ndarray:
        return self.probe.probability(np.atleast_2d(np.asarray(rows))[:, self.columns])


def fit_judge(
    work: Path,
    style: str = STYLE,
    cache: Path | None = None,
    negatives=None,
    features=None,
    suffix: str = "",
    columns=None,
    l2: float = 10.0,
) -> tuple[object, dict]:
    """The judge of ``style``: fitted on the first ``JUDGE_FIT`` held-out style clips and corpus clips (each also
    through the codec), plus ``negatives`` (feature rows, e.g. the base's own songs of other prompts) in the
    corpus's class; scored on the other clips.  ``columns`` (a slice or index array) makes it read only those
    feature columns."""
    from songgen_hf.evaluation.probes import LogisticProbe

    arrays = judge_arrays(work, style, cache, features, suffix)
    if columns is not None:
        arrays = {name: values[:, columns] for name, values in arrays.items()}
        negatives = None if negatives is None else np.asarray(negatives)[:, columns]
    style_records = len(arrays["style_real"])
    fit, held = slice(0, JUDGE_FIT), slice(JUDGE_FIT, None)
    parts = [arrays["style_real"][fit], arrays["style_codec"][fit], arrays["corpus_real"][fit]]
    parts.append(arrays["corpus_codec"][fit])
    extra = [] if negatives is None else [np.asarray(negatives)]
    rows = np.concatenate(parts + extra)
    labels = np.array([1] * (2 * JUDGE_FIT) + [0] * (2 * JUDGE_FIT + sum(len(e) for e in extra)))
    judge = LogisticProbe.fit(rows, labels, l2=l2)
    described = JUDGE_FEATURES_TEXT if features is None else features.__doc__.split("\n\n")[0].replace("\n", " ")
    report = {
        "features": f"{described}; standardised, L2 logistic regression (l2={l2:g})",
        "fit_on": f"{JUDGE_FIT} held-out style clips and {JUDGE_FIT} corpus clips, each also through the codec",
        "scored_on": f"the other {style_records - JUDGE_FIT} style and {len(arrays['corpus_real']) - JUDGE_FIT} "
        "corpus clips",
    }
    for kind in ("real", "codec"):
        style_p = judge.probability(arrays[f"style_{kind}"][held])
        corpus_p = judge.probability(arrays[f"corpus_{kind}"][held])
        report[f"accuracy_{kind}"] = float(np.mean(np.concatenate([style_p > 0.5, corpus_p <= 0.5])))
        report[f"style_set_score_{kind}"] = interval(style_p)
        report[f"corpus_score_{kind}"] = interval(corpus_p)
    return (judge if columns is None else ColumnJudge(judge, columns)), report


# ---------------------------------------------------------------------------------- 4: songs
def prompt_songs(kind: str, style_prompts=STYLE_PROMPTS, style_lyrics=STYLE_LYRICS) -> list[dict]:
    if kind == "style":
        return [
            {"description": text, "lyrics": style_lyrics[i % len(style_lyrics)]} for i, text in enumerate(style_prompts)
        ]
    return [
        {"description": text, "lyrics": UNRELATED_LYRICS[i % len(UNRELATED_LYRICS)] if sung else ""}
        for i, (text, _, _, sung) in enumerate(UNRELATED_PROMPTS)
    ]


def generate_songs(
    pipe, work: Path, system: str, choice, kind: str, seconds: float, timings: dict, prompts: list[dict] | None = None
) -> list[dict]:
    """The songs of one system for one prompt set (both seeds, seed by seed), from the kept files when they exist;
    ``prompts`` replaces ``prompt_songs(kind)``."""
    path = work / "songs" / system / f"{kind}.npz"
    if path.is_file():
        with np.load(path) as kept:
            count = len(kept.files) // 2
            return [{"audio": kept[f"audio_{i}"], "vocals": kept[f"vocals_{i}"]} for i in range(count)]
    songs, stored = [], {}
    started = time.time()
    for seed in SEEDS:
        asked = prompt_songs(kind) if prompts is None else prompts
        # the adapter as asked on every song (the description gate's weighting is measured by styles_gate.py)
        outputs = pipe(asked, adapter=choice, adapter_gate=False, seed=seed, duration_s=seconds, batch_size=8)
        songs += [{"audio": out["audio"][0], "vocals": out["vocals"][0]} for out in outputs]
    for index, song in enumerate(songs):
        stored[f"audio_{index}"], stored[f"vocals_{index}"] = song["audio"], song["vocals"]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **stored)
    timings[f"{system}/{kind}"] = round(time.time() - started, 1)
    print(f"{system} {kind}: {len(songs)} songs in {time.time() - started:.0f} s", flush=True)
    return songs


# ---------------------------------------------------------------------------------- 5: figures
def interval(values) -> dict:
    """Mean and bootstrap 95 % interval (``songgen_hf.evaluation.statistics``)."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    result = mean_with_ci([float(v) for v in values])
    return {"mean": result["mean"], "ci95": result["ci95"], "n": result["n"]}


def per_prompt(values, prompts: int) -> list[float]:
    """Per-prompt means over the seeds (songs are ordered seed by seed): the unit of the intervals is the prompt."""
    array = np.asarray(values, dtype=np.float64).reshape(len(SEEDS), prompts)
    return [float(v) for v in np.nanmean(array, axis=0)]


def paired_difference(first, second) -> dict:
    """``second - first`` per prompt, with a bootstrap interval over the prompts."""
    return interval(np.asarray(second, dtype=np.float64) - np.asarray(first, dtype=np.float64))


def style_scores(judge, songs: list[dict]) -> list[float]:
    return [float(judge.probability(judge_features(song["audio"]))[0]) for song in songs]


def control_scores(songs: list[dict], detector) -> dict[str, list[float]]:
    from songgen_hf.evaluation.metrics import (
        estimate_key_or_none,
        estimate_tempo_bpm,
        mirex_key_score,
        parse_key,
        tempo_scores,
    )

    rows = {key: [] for key in CONTROL_KEYS}
    prompts = len(UNRELATED_PROMPTS)
    for index, song in enumerate(songs):
        _, tempo, key, sung = UNRELATED_PROMPTS[index % prompts]
        scores = tempo_scores(estimate_tempo_bpm(song["audio"], RATE), tempo)
        rows["tempo_acc1"].append(scores["tempo_acc1"])
        rows["tempo_acc2"].append(scores["tempo_acc2"])
        tonic, mode = key.split()
        rows["key_mirex"].append(mirex_key_score(estimate_key_or_none(song["audio"], RATE), parse_key(tonic, mode)))
        rows["vocals_as_asked"].append(detector.scores(song["vocals"], RATE, sung)["voice_agree"])
    return rows


def style_entry(values: list[float], base: list[float], target: float) -> dict:
    """A system's style score with its paired difference from the base and the share of the way it goes from
    the base's score to ``target`` (the style set's)."""
    entry = interval(values)
    difference = paired_difference(base, values)
    entry["minus_base"] = difference
    gap = target - float(np.mean(base))
    entry["share_of_the_way_to_the_style_set"] = difference["mean"] / gap if gap else None
    return entry


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the data, runs and songs")
    parser.add_argument("--table", type=Path, help="print the Markdown tables of this report (the docs quote them)")
    parser.add_argument("--json", type=Path, help="write the report here (e.g. docs/benchmarks/your_songs.json)")
    parser.add_argument("--steps", type=int, default=160, help="training steps of each run (default 160)")
    parser.add_argument("--save-steps", type=int, default=40, help="a checkpoint every this many steps (default 40)")
    parser.add_argument("--runs", default="r16,before", help="runs to train and measure (r16 among them)")
    parser.add_argument("--control-runs", default="r16", help="runs whose unrelated songs are measured (default r16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each generated song (default 5)")
    parser.add_argument("--weights", default="0.5,1.5", help="weights of r16 besides 1, as blends (default 0.5,1.5)")
    parser.add_argument("--no-curve", action="store_true", help="leave out r16's checkpoints (the training curve)")
    parser.add_argument("--curve-steps", default="", help="r16's checkpoints to measure, e.g. 40,80 (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and configs, run nothing")
    args = parser.parse_args(argv)
    if args.table is None and args.work is None:
        parser.error("--work is required (or --table REPORT)")
    args.run_names = [name for name in args.runs.split(",") if name]
    args.control_names = [name for name in args.control_runs.split(",") if name]
    unknown = sorted(set(args.run_names) - set(RUNS))
    if unknown or "r16" not in args.run_names:
        parser.error(f"--runs takes r16 and any of {sorted(RUNS)}; got {args.runs!r}")
    if not set(args.control_names) <= set(args.run_names):
        parser.error(f"--control-runs must be among --runs; got {args.control_runs!r}")
    try:
        args.weight_values = [float(w) for w in args.weights.split(",") if w]
    except ValueError:
        parser.error(f"--weights takes comma-separated numbers, got {args.weights!r}")
    if any(not np.isfinite(w) or w < 0 for w in args.weight_values):
        parser.error(f"--weights must be finite and >= 0, got {args.weights!r}")
    try:
        args.curve_values = sorted({int(step) for step in args.curve_steps.split(",") if step})
    except ValueError:
        parser.error(f"--curve-steps takes comma-separated step numbers, got {args.curve_steps!r}")
    if args.steps < 1 or args.save_steps < 1:
        parser.error("--steps and --save-steps must be positive")
    if not 1.0 <= args.seconds <= 30.0:
        parser.error(f"--seconds must be within 1-30, got {args.seconds}")
    return args


def _cell(entry: dict, digits: int = 2) -> str:
    low, high = entry["ci95"]
    return f"{entry['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown_tables(report: dict) -> str:
    """The style-score table and the controls table of a report, as docs/fine_tuning.md quotes them."""
    judge, style = report["judge"], report["style_score"]
    steps = report["training"]["settings"]["max_steps"]
    names = {
        "base": "songgen-tiny alone",
        "r16": f"adapter, documented settings, {steps} steps",
        "no_objective": f"adapter trained without the base's objective, {steps} steps",
        "r4": f"adapter, rank 4, {steps} steps",
        "before": "adapter of the decoder layers alone, learning rate 2e-4, 80 steps",
    }
    rows = ["| 16 style prompts x 2 seeds | style score [95 % CI] | minus base [95 % CI] | share of the way |"]
    rows.append("|---|---|---|---|")
    for name, entry in style.items():
        label = names.get(name) or name.replace("r16 step ", "adapter, documented settings, at step ").replace(
            "r16 x", "adapter, documented settings, at weight "
        )
        if name == "base":
            rows.append(f"| {label} | {_cell(entry)} | | |")
            continue
        share = entry["share_of_the_way_to_the_style_set"]
        rows.append(f"| {label} | {_cell(entry)} | {_cell(entry['minus_base'])} | {share:.0%} |")
    rows.append(f"| held-out style clips, through the codec | {_cell(judge['style_set_score_codec'])} | | 100% |")
    rows.append(f"| held-out style clips, as synthesised | {_cell(judge['style_set_score_real'])} | | |")
    rows.append(f"| held-out corpus clips, through the codec | {_cell(judge['corpus_score_codec'])} | | |")
    controls = report["unrelated_controls"]
    labels = {
        "tempo_acc1": "tempo within 4 %",
        "tempo_acc2": "tempo within 4 %, octave errors allowed",
        "key_mirex": "key (MIREX score)",
        "vocals_as_asked": "vocals as asked",
    }
    adapters = [name for name in controls if name != "base"]
    head = "| 16 unrelated prompts x 2 seeds | base [95 % CI] |"
    for name in adapters:
        head += f" {names.get(name, name)} [95 % CI] | minus base [95 % CI] |"
    table = [head, "|---|---|" + "---|---|" * len(adapters)]
    for key, label in labels.items():
        cells = [_cell(controls["base"][key])]
        for name in adapters:
            cells += [_cell(controls[name][key]), _cell(controls[name][key]["minus_base"])]
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n\n" + "\n".join(table) + "\n"


def dry_run(args) -> int:
    for _, command in data_commands(args.work):
        print("$", " ".join(command))
    for name in args.run_names:
        print(f"# {name}: songgen finetune-lora lora_{name}.yaml")
        print(json.dumps(run_config(args.work, name, args.steps, args.save_steps)))
    songs = len(SEEDS) * len(STYLE_PROMPTS)
    systems = 1 + len(args.run_names) + len(args.weight_values)
    if not args.no_curve:
        systems += len(range(args.save_steps, args.steps, args.save_steps))
    print(f"# songs: {systems} systems x {songs} style songs, 2 x {songs} unrelated, {args.seconds:g} s each")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.table is not None:
        print(markdown_tables(json.loads(args.table.read_text(encoding="utf-8"))), end="")
        return 0
    if args.dry_run:
        return dry_run(args)
    work, runs, started = args.work, args.run_names, time.time()
    (work / "runs").mkdir(parents=True, exist_ok=True)
    load = {"start": load_average()}
    stage_seconds = {}
    for done, command in data_commands(work):
        if not done.is_file():
            _run(command)
    stage_seconds["data"] = round(time.time() - started, 1)
    training = train_runs(work, runs, args.steps, args.save_steps)
    stage_seconds["training"] = round(time.time() - started - stage_seconds["data"], 1)
    judge, judge_report = fit_judge(work)
    print(json.dumps(judge_report, indent=1), flush=True)

    from songgen_hf.evaluation.voice_activity import VoiceDetector
    from songgen_hf.pipelines import load_text_to_song_pipeline

    curve = {} if args.no_curve else checkpoint_adapters(work / "runs" / "r16")
    curve = {step: folder for step, folder in curve.items() if step < args.steps}
    if args.curve_values:
        curve = {step: folder for step, folder in curve.items() if step in args.curve_values}
    adapters = {name: str(work / "runs" / name / "final") for name in runs}
    adapters.update({f"step{step}": str(folder) for step, folder in curve.items()})
    pipe = load_text_to_song_pipeline(None, adapters=adapters)  # the base loads once; every style switches on it
    pipe.set_progress_bar_config(disable=True)
    detector = VoiceDetector()
    prompts = len(STYLE_PROMPTS)
    generation_seconds: dict = {}

    def style_of(system, choice):
        songs = generate_songs(pipe, work, system, choice, "style", args.seconds, generation_seconds)
        values = per_prompt(style_scores(judge, songs), prompts)
        print(f"style score {system}: {np.mean(values):.3f}", flush=True)
        return values

    def controls_of(system, choice):
        songs = generate_songs(pipe, work, system, choice, "unrelated", args.seconds, generation_seconds)
        return {key: per_prompt(values, prompts) for key, values in control_scores(songs, detector).items()}

    systems = {"base": style_of("base", None), "r16": style_of("r16", "r16")}
    controls = {"base": controls_of("base", None)}
    controls.update({name: controls_of(name, name) for name in runs if name in args.control_names})
    for name in runs:
        if name != "r16":
            systems[name] = style_of(name, name)
    for weight in args.weight_values:
        systems[f"r16 x{weight:g}"] = style_of(f"r16_w{weight:g}", {"r16": weight})
    for step in sorted(curve):
        systems[f"r16 step {step}"] = style_of(f"r16_step{step}", f"step{step}")

    target = judge_report["style_set_score_codec"]["mean"]
    base = systems["base"]
    report_style = {"base": interval(base)}
    report_style.update({name: style_entry(values, base, target) for name, values in systems.items() if name != "base"})
    curve_points = {"0": report_style["base"]}
    curve_points.update({str(step): report_style[f"r16 step {step}"] for step in sorted(curve)})
    curve_points[str(args.steps)] = report_style["r16"]
    report_controls = {"base": {key: interval(values) for key, values in controls["base"].items()}}
    for name in controls:
        if name != "base":
            report_controls[name] = {
                key: {**interval(values), "minus_base": paired_difference(controls["base"][key], values)}
                for key, values in controls[name].items()
            }
    load["end"] = load_average()
    report = {
        **schema_report_head("your_songs", "benchmarks/your_songs.py"),
        "commit": git_commit(),
        "load_average": load,
        "wall_seconds": round(time.time() - started, 1),
        "stage_seconds": {**stage_seconds, "generation": generation_seconds},
        "style": {
            "name": STYLE,
            "what_is_new": "instruments no corpus genre plays (steel drums, marimba, kalimba, tuba) and a hand "
            "percussion groove (a tresillo on cowbell and claves over congas and maracas) no corpus drum pattern has",
            "style_set": "songgen data synth " + " ".join([*STYLE_SET, *SYNTH_COMMON]),
            "corpus_sample": "songgen data synth " + " ".join([*CORPUS_SAMPLE, *SYNTH_COMMON]),
            "train_clips": TRAIN_CLIPS,
            "held_out_clips": HELD_OUT_CLIPS,
            "corpus_clips": CORPUS_CLIPS,
        },
        "training": {
            "settings": {**run_config(Path("WORK"), "r16", args.steps, args.save_steps), **lora_defaults()},
            "runs": {name: RUNS[name] for name in runs},
            "results": training,
        },
        "judge": judge_report,
        "songs": {
            "seconds": args.seconds,
            "seeds": list(SEEDS),
            "style_prompts": STYLE_PROMPTS,
            "unrelated_prompts": [list(p) for p in UNRELATED_PROMPTS],
        },
        "style_target": "the judge's score of the held-out style clips through the base's codec (what the model's "
        "codec can give back); share_of_the_way_to_the_style_set = (system - base) / (target - base)",
        "style_score": report_style,
        "style_score_over_steps": curve_points,
        "unrelated_controls": report_controls,
        "intervals": f"bootstrap 95 % over the {prompts} prompts (each prompt's mean over its {len(SEEDS)} seeds); "
        "minus_base: paired per prompt",
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
