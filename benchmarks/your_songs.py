"""Your own sound, measurably: does a LoRA trained on a style the base never heard move its songs towards it?

The journey a user runs, on a style no corpus has (``songgen data synth --style calypso``: steel drums, marimba,
kalimba and tuba over a tresillo on congas, cowbell, claves and maracas; no corpus genre plays one of these
instruments or that percussion), then an independent judge:

1. **data**: the style set (32 training clips, 48 held out) and 48 held-out clips of the default's own corpus
   (corpus v3, seed 1, transposed, as songgen-tiny was trained), 6-9 s each; the training clips encoded with the
   base's codec (``songgen data encode --codec songgen-tiny``);
2. **train**: ``songgen finetune-lora`` with the documented settings (docs/fine_tuning.md, "A real run": rank 16,
   batch 8, 10 s bar-aligned crops, learning rate 2e-4) for ``--steps`` steps, a checkpoint every 50; then the same
   run once without the base's objective (no condition dropout, flat codebook weights), and once at rank 4;
3. **judge**: a logistic regression on MFCC, spectral-contrast, chroma and onset statistics plus the log-mel
   probe features (``songgen_hf.evaluation.probes``), fitted on 24 held-out style clips and 24 corpus clips (each
   also through the base's codec, so that codec artefacts alone do not decide), scored on the other 24 + 24 real
   clips and their codec round trips: the model never trains against it;
4. **songs**: 16 prompts of the style and 16 unrelated prompts (tempo, key and vocals asked), all phrased unlike
   the corpus captions, x 2 seeds, ``--seconds`` long, from one pipeline holding every adapter
   (``adapters={...}``, switched per call: the base loads once);
5. **figures**: the judge's style score (probability of the style) of base, adapter and the style set itself,
   per prompt averaged over seeds, with bootstrap intervals over prompts; the adapter's weight (0.5, 1, 1.5, as
   blends), the checkpoints' curve, rank 4 and the run without the objective; on unrelated prompts tempo
   (within 4 %, octave-tolerant), key (MIREX) and vocals-as-asked (silero-vad on the vocal stem), base vs adapter.

    python benchmarks/your_songs.py --work /tmp/yours --json docs/benchmarks/your_songs.json

Every stage skips what its outputs already hold (a rerun re-analyses the kept songs without generating).
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
CORPUS_SAMPLE = ["--num-clips", "48", "--test-fraction", "0.99", "--seed", "1", "--transpose-range", "4"]
JUDGE_FIT = 24  # the first 24 held-out clips of each set fit the judge; the other 24 score it
# docs/fine_tuning.md, "A real run": what a user is told to set
LORA_SETTINGS = {
    "init_from": "songgen-tiny",
    "batch_size": 8,
    "max_frames": 500,
    "bar_aligned_crops": True,
    "save_steps": 50,
    "checkpoints_total_limit": None,
    "log_steps": 10,
}
RUNS = {
    "r16": {},
    # the base's objective dropped: no condition dropout (guidance's unconditional branch never trained) and
    # every codebook weighted alike from the start (the base's curriculum starts 0.25 x3, 0.05 x5)
    "no_objective": {
        "description_dropout_prob": 0.0,
        "lyrics_dropout_prob": 0.0,
        "joint_dropout_prob": 0.0,
        "control_dropout_prob": 0.0,
        "initial_codebook_weights": [1.0] * 8,
        "codebook_curriculum": False,
    },
    "r4": {"lora_r": 4, "lora_alpha": 8},
}

# Prompts written apart from the corpus captions ("A <mood> calypso tune in <key> at <n> BPM, with ..."): how a
# person asks for the style, sometimes with a tempo or key.
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


def _run(command: list[str], log: Path | None = None) -> None:
    print("$", " ".join(command), flush=True)
    if log is None:
        subprocess.run(command, check=True)
        return
    with open(log, "a", encoding="utf-8") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)


# ---------------------------------------------------------------------------------- 1-2: data and training
def prepare_data(work: Path) -> None:
    if not (work / "calypso" / "test.jsonl").is_file():
        _run(["songgen", "data", "synth", "--output", str(work / "calypso"), *STYLE_SET, *SYNTH_COMMON])
    if not (work / "corpus" / "test.jsonl").is_file():
        _run(["songgen", "data", "synth", "--output", str(work / "corpus"), *CORPUS_SAMPLE, *SYNTH_COMMON])
    if not (work / "calypso_enc" / "encoding.json").is_file():
        train = work / "calypso" / "train.jsonl"
        _run(["songgen", "data", "encode", str(train), "--codec", "songgen-tiny", "--output", str(work / "calypso_enc")])


def train_runs(work: Path, runs: list[str], steps: int) -> dict:
    import yaml

    timings = {}
    for name in runs:
        output = work / "runs" / name
        config = {"train_data": str(work / "calypso_enc"), "output_dir": str(output), "max_steps": steps}
        config.update(LORA_SETTINGS)
        config.update(RUNS[name])
        path = work / f"lora_{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        if not (output / "final" / "adapter_model.safetensors").is_file():
            started = time.time()
            resume = ["--resume"] if (output / "checkpoints").is_dir() else []
            _run(["songgen", "finetune-lora", str(path), *resume], log=work / "runs" / f"{name}.log")
            timings[name] = time.time() - started
        records = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
        stepped = [record for record in records if "seconds" in record and "loss" in record]
        timings.setdefault(name, stepped[-1]["seconds"] if stepped else None)
    return timings


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
    from songgen_hf.loading import default_model_path

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


def fit_judge(work: Path) -> tuple[object, dict]:
    from songgen_hf.evaluation.probes import LogisticProbe

    cache = work / "judge_features.npz"
    style, corpus = _records(work / "calypso" / "test.jsonl"), _records(work / "corpus" / "test.jsonl")
    if cache.is_file():
        arrays = dict(np.load(cache))
    else:
        codec = _codec()
        arrays = {}
        for label, records, root in (("style", style, work / "calypso"), ("corpus", corpus, work / "corpus")):
            arrays[f"{label}_real"] = np.stack([judge_features(read_clip(root / r["audio_path"])) for r in records])
            arrays[f"{label}_codec"] = np.stack([judge_features(_round_trip(codec, r, root)) for r in records])
        np.savez(cache, **arrays)
    fit = slice(0, JUDGE_FIT)
    held = slice(JUDGE_FIT, None)
    features = np.concatenate(
        [arrays["style_real"][fit], arrays["style_codec"][fit], arrays["corpus_real"][fit], arrays["corpus_codec"][fit]]
    )
    labels = np.array([1] * (2 * JUDGE_FIT) + [0] * (2 * JUDGE_FIT))
    judge = LogisticProbe.fit(features, labels, l2=10.0)
    report = {
        "features": "MFCC 20 (mean, std), spectral contrast (mean, std), sorted chroma means, onset strength and "
        "tempogram statistics, log-mel probe features; standardised, L2 logistic regression (l2=10)",
        "fit_on": f"{JUDGE_FIT} held-out style clips and {JUDGE_FIT} corpus clips, each also through the codec",
        "scored_on": f"the other {len(style) - JUDGE_FIT} style and {len(corpus) - JUDGE_FIT} corpus clips",
    }
    for kind in ("real", "codec"):
        style_p = judge.probability(arrays[f"style_{kind}"][held])
        corpus_p = judge.probability(arrays[f"corpus_{kind}"][held])
        accuracy = float(np.mean(np.concatenate([style_p > 0.5, corpus_p <= 0.5])))
        report[f"accuracy_{kind}"] = accuracy
        report[f"style_set_score_{kind}"] = _interval(style_p)
        report[f"corpus_score_{kind}"] = _interval(corpus_p)
    return judge, report


# ---------------------------------------------------------------------------------- 4: songs
def prompt_songs(kind: str) -> list[dict]:
    if kind == "style":
        return [
            {"description": text, "lyrics": STYLE_LYRICS[i % len(STYLE_LYRICS)]} for i, text in enumerate(STYLE_PROMPTS)
        ]
    return [
        {"description": text, "lyrics": UNRELATED_LYRICS[i % len(UNRELATED_LYRICS)] if sung else ""}
        for i, (text, _, _, sung) in enumerate(UNRELATED_PROMPTS)
    ]


def generate_songs(pipe, work: Path, system: str, choice, kind: str, seconds: float) -> list[dict]:
    """The songs of one system for one prompt set (both seeds), from the kept files when they exist."""
    folder = work / "songs" / system
    path = folder / f"{kind}.npz"
    if path.is_file():
        with np.load(path) as kept:
            return [{"audio": kept[f"audio_{i}"], "vocals": kept[f"vocals_{i}"]} for i in range(len(kept.files) // 2)]
    songs, stored = [], {}
    started = time.time()
    for seed in SEEDS:
        outputs = pipe(prompt_songs(kind), adapter=choice, seed=seed, duration_s=seconds, batch_size=8)
        songs += [{"audio": out["audio"][0], "vocals": out["vocals"][0]} for out in outputs]
    for index, song in enumerate(songs):
        stored[f"audio_{index}"], stored[f"vocals_{index}"] = song["audio"], song["vocals"]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, **stored)
    print(f"{system} {kind}: {len(songs)} songs in {time.time() - started:.0f} s", flush=True)
    return songs


# ---------------------------------------------------------------------------------- 5: figures
def _interval(values) -> dict:
    from songgen_hf.evaluation.statistics import mean_with_ci

    result = mean_with_ci([float(v) for v in values])
    return {"mean": result["mean"], "ci95": result["ci95"], "n": result["n"]}


def _per_prompt(values: list[float], prompts: int) -> list[float]:
    """Per-prompt means over the seeds (songs are ordered seed by seed): the unit of the intervals is the prompt."""
    array = np.asarray(values, dtype=np.float64).reshape(len(SEEDS), prompts)
    return list(np.nanmean(array, axis=0))


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

    rows = {"tempo_acc2": [], "tempo_acc1": [], "key_mirex": [], "vocals_as_asked": []}
    prompts = len(UNRELATED_PROMPTS)
    for index, song in enumerate(songs):
        _, tempo, key, sung = UNRELATED_PROMPTS[index % prompts]
        scores = tempo_scores(estimate_tempo_bpm(song["audio"], RATE), tempo)
        rows["tempo_acc2"].append(scores["tempo_acc2"])
        rows["tempo_acc1"].append(scores["tempo_acc1"])
        tonic, mode = key.split()
        rows["key_mirex"].append(mirex_key_score(estimate_key_or_none(song["audio"], RATE), parse_key(tonic, mode)))
        rows["vocals_as_asked"].append(detector.scores(song["vocals"], RATE, sung)["voice_agree"])
    return rows


def paired_difference(first: list[float], second: list[float]) -> dict:
    """``second - first`` per prompt, with a bootstrap interval over prompts."""
    return _interval(np.asarray(second) - np.asarray(first))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data, runs and songs")
    parser.add_argument("--json", type=Path, help="write the report here (e.g. docs/benchmarks/your_songs.json)")
    parser.add_argument("--steps", type=int, default=400, help="training steps of each run (default 400)")
    parser.add_argument("--runs", default="r16,no_objective,r4", help="runs to train and measure (r16 first)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each generated song")
    parser.add_argument("--weights", default="0.5,1.5", help="adapter weights besides 1 (blends of r16)")
    parser.add_argument("--curve", action="store_true", help="also measure r16's checkpoints (style prompts)")
    args = parser.parse_args(argv)
    runs = [name for name in args.runs.split(",") if name]
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    (work / "runs").mkdir(exist_ok=True)
    prepare_data(work)
    train_seconds = train_runs(work, runs, args.steps)
    judge, judge_report = fit_judge(work)
    print(json.dumps(judge_report, indent=1), flush=True)

    from songgen_hf.evaluation.voice_activity import VoiceDetector
    from songgen_hf.pipelines import load_text_to_song_pipeline

    adapters = {name: str(work / "runs" / name / "final") for name in runs}
    curve = checkpoint_adapters(work / "runs" / "r16") if args.curve else {}
    adapters.update({f"step{step}": str(folder) for step, folder in curve.items() if step < args.steps})
    pipe = load_text_to_song_pipeline(None, adapters=adapters)
    detector = VoiceDetector()
    prompts = len(STYLE_PROMPTS)

    def style_of(system, choice):
        return _per_prompt(style_scores(judge, generate_songs(pipe, work, system, choice, "style", args.seconds)), prompts)

    def controls_of(system, choice):
        songs = generate_songs(pipe, work, system, choice, "unrelated", args.seconds)
        return {key: _per_prompt(values, prompts) for key, values in control_scores(songs, detector).items()}

    base_style = style_of("base", None)
    systems = {"base": base_style}
    for name in runs:
        systems[name] = style_of(name, name)
    weights = [float(w) for w in args.weights.split(",") if w]
    for weight in weights:
        systems[f"r16 x{weight:g}"] = style_of(f"r16_w{weight:g}", {"r16": weight})
    curve_points = {0: base_style}
    for step in sorted(curve):
        curve_points[step] = systems["r16"] if step >= args.steps else style_of(f"r16_step{step}", f"step{step}")
    curve_points[args.steps] = systems["r16"]

    style_set = judge_report["style_set_score_real"]["mean"]
    report_style = {}
    for name, values in systems.items():
        entry = _interval(values)
        if name != "base":
            entry["minus_base"] = paired_difference(base_style, values)
            entry["share_of_the_way_to_the_style_set"] = (entry["mean"] - systems_mean(base_style)) / (
                style_set - systems_mean(base_style)
            )
        report_style[name] = entry
    controls = {name: controls_of(name, None if name == "base" else name) for name in ["base", *runs]}
    report_controls = {}
    for name, rows in controls.items():
        report_controls[name] = {key: _interval(values) for key, values in rows.items()}
        if name != "base":
            for key, values in rows.items():
                report_controls[name][key]["minus_base"] = paired_difference(controls["base"][key], values)

    report = {
        **schema_report_head("your_songs", "benchmarks/your_songs.py"),
        "commit": git_commit(),
        "load_average": load_average(),
        "style": {
            "name": STYLE,
            "what_is_new": "instruments no corpus genre plays (steel drums, marimba, kalimba, tuba) and a hand "
            "percussion groove (a tresillo on cowbell and claves over congas and maracas) no corpus drum pattern has",
            "style_set": "songgen data synth " + " ".join([*STYLE_SET, *SYNTH_COMMON]),
            "corpus_sample": "songgen data synth " + " ".join([*CORPUS_SAMPLE, *SYNTH_COMMON]),
            "train_clips": 32,
            "held_out_clips": 48,
        },
        "training": {
            "settings": {**LORA_SETTINGS, "max_steps": args.steps, "lora_r": 16, "learning_rate": 2e-4},
            "runs": {name: RUNS[name] for name in runs},
            "seconds": train_seconds,
        },
        "judge": judge_report,
        "songs": {"seconds": args.seconds, "seeds": list(SEEDS), "style_prompts": STYLE_PROMPTS},
        "unrelated_prompts": [list(p) for p in UNRELATED_PROMPTS],
        "style_score": report_style,
        "style_score_over_steps": {str(step): _interval(values) for step, values in sorted(curve_points.items())},
        "unrelated_controls": report_controls,
        "intervals": "bootstrap 95 % over the 16 prompts (each prompt's mean over its 2 seeds)",
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from songgen_hf.atomic import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    return 0


def systems_mean(values: list[float]) -> float:
    return float(np.mean(values))


if __name__ == "__main__":
    sys.exit(main())
