"""``songgen codec evaluate``: what a codec's round trip keeps of a song, on held-out corpus clips.

For the first ``num_clips`` records of a corpus manifest (file order, so the same clips every
time) and for each of its tracks (the mix, the vocal stem of clips with vocals, the
accompaniment stem), every codec encodes and decodes the clip with all its codebooks, and the
clean clip and each round trip are scored with the same estimators:

* tempo Acc1 / Acc2 and key exact / MIREX against the record's ground truth (librosa, mir_eval:
  :mod:`.metrics`), reported as the round trip's mean over the clean clips' mean;
* the lyric-intelligibility proxy (:mod:`.intelligibility`: pocketsphinx restricted to the
  corpus' lyric words) on the mix and vocal stem, with its mismatched-lyrics chance level;
* on the vocal stem, the voice's periodicity (:func:`.metrics.voicing_probability`, librosa's pyin):
  a codec can keep a voice's pitch and loudness and still smear its harmonics into noise;
* a comb at the codec's frame rate (:func:`.metrics.frame_rate_comb` on Welch spectra averaged
  over the clips), SI-SDR and the multi-resolution log-mel distance.

A codec is an X-Codec folder (``songgen_xcodec`` or transformers' ``xcodec``) or a SongGen
folder, whose own codec (``model.audio_encoder``) is used.  Every clip is scored on its first
``MAX_CLIP_SECONDS`` (a corpus clip is shorter).  The result is ``codec_evaluation.json``, a
Markdown report (:mod:`.codec_report`) and a spectrogram figure of one sung clip.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from songgen_hf.evaluation.codec_report import CLEAN, COMB_TARGET_DB, TRACKS, write_codec_report
from songgen_hf.evaluation.intelligibility import LyricRecogniser, recall_with_chance
from songgen_hf.evaluation.metrics import (
    ESTIMATORS,
    estimate_key_or_none,
    estimate_tempo_bpm,
    frame_rate_comb,
    key_scores,
    multi_resolution_log_mel_distance,
    require_eval_libraries,
    si_sdr,
    tempo_scores,
    voicing_probability,
    welch_power,
)
from songgen_hf.evaluation.statistics import BOOTSTRAP_SEED, DEFAULT_RESAMPLES, mean_with_ci
from songgen_hf.modeling.limits import CODEC_AUTO_CHUNK_SECONDS
from songgen_hf.utils.atomic import write_text_atomic

RESULT_FILE = "codec_evaluation.json"
TRACK_FIELDS = {"mix": "audio_path", "vocals": "vocal_path", "accompaniment": "accompaniment_path"}
SPOKEN_TRACKS = ("mix", "vocals")  # the tracks the recogniser hears lyrics in
# One codec pass over a whole clip: corpus clips are 5-30 s; longer ones are cut (no chunking artefacts).
MAX_CLIP_SECONDS = CODEC_AUTO_CHUNK_SECONDS
RATIO_METRICS = ("tempo_acc1", "tempo_acc2", "key_exact", "key_mirex", "lyric_recall", "voicing_probability")
# The codec targets: the round trip's mean as a fraction of the clean clips' mean.
RATIO_TARGETS = (
    ("tempo_acc1", TRACKS, 0.95),
    ("key_exact", TRACKS, 0.90),
    ("lyric_recall", ("vocals",), 0.80),
    ("lyric_recall", ("mix",), 0.70),
)
# Per-clip values that are labels or text, not numbers to average.
_LABEL_FIELDS = ("key", "transcript")
CORPUS_HINT = "pass a corpus manifest made by `songgen data synth` (e.g. corpus/test.jsonl)"


@dataclass(frozen=True)
class CorpusClip:
    id: str
    line: int
    lyrics: str
    has_vocals: bool
    paths: dict[str, Path | None]
    tempo_bpm: float
    key: object  # music_theory.Key


@dataclass
class CodecEvaluationSettings:
    manifest: Path
    output_dir: Path
    model: Path
    report: Path
    baselines: list[Path] = field(default_factory=list)
    num_clips: int = 64
    seed: int = BOOTSTRAP_SEED
    command: str = ""
    bootstrap_resamples: int = DEFAULT_RESAMPLES

    def to_json(self) -> dict:
        values = asdict(self)
        values["baselines"] = [str(path) for path in self.baselines]
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


@dataclass
class LoadedCodec:
    label: str
    role: str  # "model" or "baseline"
    path: Path
    kind: str  # "codec" or "songgen"
    codec: object
    num_codebooks: int
    frame_rate: float
    sampling_rate: int

    def info(self) -> dict:
        return {
            "path": str(self.path),
            "role": self.role,
            "kind": self.kind,
            "num_codebooks": self.num_codebooks,
            "frame_rate": self.frame_rate,
            "sampling_rate": self.sampling_rate,
        }


# ---------------------------------------------------------------------- inputs
def count_records(manifest: Path) -> int:
    from songgen_hf.data.manifest import read_manifest_rows

    return len(read_manifest_rows(manifest))


def load_clips(manifest: str | Path, num_clips: int) -> tuple[list[CorpusClip], list[str]]:
    """The first ``num_clips`` records as clips, and every record's lyrics (the recogniser's vocabulary)."""
    from songgen_hf.data.manifest import read_manifest_rows
    from songgen_hf.evaluation.probes import record_has_vocals
    from songgen_hf.evaluation.prompts import prompt_from_row

    manifest = Path(manifest)
    rows = read_manifest_rows(manifest)
    if num_clips < 1 or num_clips > len(rows):
        raise ValueError(
            f"--num-clips {num_clips}: {manifest} has {len(rows)} records; pass --num-clips between 1 and {len(rows)}."
        )
    clips = []
    for row in rows[:num_clips]:
        where = f"{manifest} line {row['_line']}"
        if "lyrics" not in row:
            raise ValueError(f'{where} has no \'lyrics\' field (an instrumental has "lyrics": ""); {CORPUS_HINT}.')
        sung = bool(record_has_vocals(row))
        required = {"audio_path": True, "accompaniment_path": True, "vocal_path": sung}
        missing = [name for name, needed in required.items() if needed and not row.get(name)]
        if missing:
            why = " (the record has vocals)" if "vocal_path" in missing else ""
            raise ValueError(
                f"{where} lacks {missing}{why}: the codec is scored on the mix and both stems; {CORPUS_HINT}."
            )
        prompt = prompt_from_row(row, manifest.parent, manifest, MAX_CLIP_SECONDS)  # attributes and files checked
        clips.append(
            CorpusClip(
                id=prompt.id,
                line=row["_line"],
                lyrics=prompt.lyrics if sung else "",
                has_vocals=sung,
                paths={
                    "mix": prompt.audio_path,
                    "vocals": prompt.vocal_path if sung else None,
                    "accompaniment": prompt.accompaniment_path,
                },
                tempo_bpm=prompt.tempo_bpm,
                key=prompt.key,
            )
        )
    return clips, [str(row.get("lyrics") or "") for row in rows if record_has_vocals(row)]


def check_codec_folder(folder: str | Path, flag: str) -> str:
    """``"codec"`` or ``"songgen"`` from the folder's config alone; ``ValueError`` for anything else."""
    from songgen_hf.conversion.checkpoint_files import CODEC_MODEL_TYPES, read_model_type

    model_type = read_model_type(folder, flag)
    if model_type == "songgen":
        return "songgen"
    if model_type in CODEC_MODEL_TYPES:
        return "codec"
    raise ValueError(
        f"{flag} {folder} holds a {model_type!r} model, neither an X-Codec codec ({' / '.join(CODEC_MODEL_TYPES)}) "
        "nor a SongGen model; pass a codec folder (songgen codec train, songgen convert xcodec) or a SongGen folder."
    )


def load_codec(folder: Path, flag: str, label: str, role: str) -> LoadedCodec:
    """The codec of a codec folder, or the audio encoder of a SongGen folder, in eval mode."""
    from songgen_hf.conversion.checkpoint_files import load_codec_of

    kind = check_codec_folder(folder, flag)
    codec = load_codec_of(folder, flag)  # float32, refusing a decode-only or incomplete codec
    if kind == "codec":
        codebooks = codec.config.num_quantizers
    else:  # a SongGen model decodes with its decoder's codebooks
        from songgen_hf.modeling.songgen import SongGenConfig

        codebooks = SongGenConfig.from_pretrained(folder).decoder.num_codebooks
    return LoadedCodec(
        label=label,
        role=role,
        path=Path(folder),
        kind=kind,
        codec=codec,
        num_codebooks=int(codebooks),
        frame_rate=float(codec.config.frame_rate),
        sampling_rate=int(codec.config.sample_rate),
    )


def codec_labels(paths: list[Path]) -> list[str]:
    """Short, distinct names: the folder's name, with its parent's where two would clash (``v4/final``)."""
    names = [path.name or str(path) for path in paths]
    labels = [f"{path.parent.name}/{path.name}" if names.count(name) > 1 else name for path, name in zip(paths, names)]
    return [label if labels.count(label) == 1 else f"{label} #{index + 1}" for index, label in enumerate(labels)]


# ---------------------------------------------------------------------- scoring
def score_audio(audio: np.ndarray, clip: CorpusClip, rate: int) -> dict:
    tempo = estimate_tempo_bpm(audio, rate)
    key = estimate_key_or_none(audio, rate)
    return {
        "tempo_bpm": tempo,
        **tempo_scores(tempo, clip.tempo_bpm),
        "key": None if key is None else key.name,
        **key_scores(key, clip.key),
    }


def _score_clips(clips, codecs, recogniser, progress):
    """Per clip and track: the clean and round-trip scores; plus the summed spectra and the figure's clip."""
    from songgen_hf.data.audio import load_audio
    from songgen_hf.evaluation.systems import codec_round_trip

    rate = codecs[0].sampling_rate
    limit = round(MAX_CLIP_SECONDS * rate)
    systems = [CLEAN] + [codec.label for codec in codecs]
    spectra = {track: {system: None for system in systems} for track in TRACKS}
    frequencies, figure_clip, rows = None, None, []
    for index, clip in enumerate(clips):
        if progress is not None:
            progress(f"clip {index + 1}/{len(clips)} ({clip.id})")
        row = {"id": clip.id, "line": clip.line, "has_vocals": clip.has_vocals, "tracks": {}}
        for track in TRACKS:
            if clip.paths[track] is None:
                continue
            clean = load_audio(clip.paths[track], rate)[:limit]
            versions = {CLEAN: clean}
            for codec in codecs:
                versions[codec.label] = codec_round_trip(codec.codec, clean, codec.num_codebooks)[1]
            scores = {}
            for system, audio in versions.items():
                scores[system] = score_audio(audio, clip, rate)
                if track in SPOKEN_TRACKS and clip.has_vocals:
                    scores[system]["transcript"] = " ".join(recogniser.transcribe(audio, rate))
                if track == "vocals":
                    scores[system]["voicing_probability"] = voicing_probability(audio, rate)
                if system != CLEAN:
                    scores[system]["si_sdr_db"] = si_sdr(clean, audio)
                    scores[system]["log_mel_distance"] = multi_resolution_log_mel_distance(clean, audio, rate)
                frequencies, power = welch_power(audio, rate)
                previous = spectra[track][system]
                spectra[track][system] = power if previous is None else previous + power
            row["tracks"][track] = scores
            if figure_clip is None and track == "mix" and clip.has_vocals:
                figure_clip = {"id": clip.id, "audio": versions}
        rows.append(row)
    _add_lyric_recall(rows, clips, systems)
    return rows, (frequencies, spectra), figure_clip


def _add_lyric_recall(rows: list[dict], clips: list[CorpusClip], systems: list[str]) -> None:
    """Recall and its mismatched-lyrics chance level, per spoken track and system (one derangement for all)."""
    lyrics = [clip.lyrics if clip.has_vocals else None for clip in clips]
    for track in SPOKEN_TRACKS:
        for system in systems:
            transcripts = []
            for row in rows:
                scores = row["tracks"].get(track, {}).get(system, {})
                transcripts.append(scores["transcript"].split() if "transcript" in scores else None)
            for row, recall in zip(rows, recall_with_chance(transcripts, lyrics)):
                if track in row["tracks"] and recall["lyric_recall"] is not None:
                    row["tracks"][track][system].update(recall)


# ---------------------------------------------------------------------- aggregation
def ratio_with_ci(numerator, denominator, resamples: int, seed: int) -> dict:
    """mean(numerator) / mean(denominator) over paired clips, with a clip-resampling bootstrap interval."""
    pairs = np.asarray(
        [(a, b) for a, b in zip(numerator, denominator) if a is not None and b is not None], dtype=np.float64
    ).reshape(-1, 2)
    if len(pairs) == 0 or pairs[:, 1].mean() == 0:
        return {"mean": None, "ci95": [None, None], "n": len(pairs)}
    rng = np.random.default_rng(seed)
    samples = pairs[rng.integers(0, len(pairs), size=(resamples, len(pairs)))].mean(axis=1)
    defined = samples[samples[:, 1] > 0]
    ratios = defined[:, 0] / defined[:, 1]
    low, high = np.percentile(ratios, [2.5, 97.5]) if len(ratios) else (None, None)
    return {
        "mean": float(pairs[:, 0].mean() / pairs[:, 1].mean()),
        "ci95": [None if low is None else float(low), None if high is None else float(high)],
        "n": len(pairs),
    }


def aggregate(rows: list[dict], codecs: list[LoadedCodec], spectra, resamples: int, seed: int) -> dict:
    """Per track: every system's means with intervals, each codec's ratios to clean and its comb."""
    frequencies, power = spectra
    summary = {}
    for track in TRACKS:
        scored = [row["tracks"][track] for row in rows if track in row["tracks"]]
        if not scored:
            continue
        summary[track] = {"clips": len(scored), "systems": {}, "ratios": {}, "comb": {}}
        for system in [CLEAN] + [codec.label for codec in codecs]:
            names = sorted({name for clip in scored for name in clip[system] if name not in _LABEL_FIELDS})
            summary[track]["systems"][system] = {
                name: mean_with_ci([clip[system].get(name) for clip in scored], resamples, seed) for name in names
            }
        for codec in codecs:
            summary[track]["ratios"][codec.label] = {
                metric: ratio_with_ci(
                    [clip[codec.label].get(metric) for clip in scored],
                    [clip[CLEAN].get(metric) for clip in scored],
                    resamples,
                    seed,
                )
                for metric in RATIO_METRICS
            }
            summary[track]["comb"][codec.label] = frame_rate_comb(
                frequencies, power[track][CLEAN], power[track][codec.label], frame_rate=codec.frame_rate
            )
    return summary


def target_checks(summary: dict, codecs: list[LoadedCodec]) -> dict[str, list[dict]]:
    """Each codec against the codec targets: ``{"criterion", "track", "value", "threshold", "passed"}``."""
    checks = {}
    for codec in codecs:
        rows = []
        for metric, tracks, threshold in RATIO_TARGETS:
            for track in tracks:
                if track not in summary:
                    continue
                value = summary[track]["ratios"][codec.label][metric]["mean"]
                rows.append(
                    {
                        "criterion": f"{metric} / clean",
                        "track": track,
                        "value": value,
                        "threshold": threshold,
                        "comparison": ">=",
                        "passed": None if value is None else bool(value >= threshold),
                    }
                )
        for track in TRACKS:
            if track in summary:
                value = summary[track]["comb"][codec.label]["comb_excess_db"]
                rows.append(
                    {
                        "criterion": "frame-rate comb, abs. excess (dB)",
                        "track": track,
                        "value": abs(value),
                        "threshold": COMB_TARGET_DB,
                        "comparison": "<=",
                        "passed": bool(abs(value) <= COMB_TARGET_DB),
                    }
                )
        checks[codec.label] = rows
    return checks


# ---------------------------------------------------------------------- the command
def run_codec_evaluation(settings: CodecEvaluationSettings, progress=None) -> dict:
    """Score, write ``codec_evaluation.json``, the report and the figure; return the result."""
    from songgen_hf.evaluation.runner import _clean, machine_info

    started = time.perf_counter()
    require_eval_libraries()
    clips, all_lyrics = load_clips(settings.manifest, settings.num_clips)
    folders = [Path(settings.model)] + [Path(path) for path in settings.baselines]
    flags = ["--model"] + ["--baseline"] * len(settings.baselines)
    for folder, flag in zip(folders, flags):
        check_codec_folder(folder, flag)  # every folder's kind before any weights load
    codecs = [
        load_codec(folder, flag, label, "model" if flag == "--model" else "baseline")
        for folder, flag, label in zip(folders, flags, codec_labels(folders))
    ]
    rates = {codec.sampling_rate for codec in codecs}
    if len(rates) > 1:
        raise ValueError(f"The codecs run at different sampling rates {sorted(rates)} Hz; compare codecs of one rate.")
    recogniser = LyricRecogniser.for_lyrics(all_lyrics) if all_lyrics else None
    if recogniser is None:
        raise ValueError(
            f"No record of {settings.manifest} has vocals and lyrics: the intelligibility proxy needs "
            f"sung clips; {CORPUS_HINT}."
        )
    import torch

    torch.manual_seed(settings.seed)  # the codecs are deterministic in eval mode; this only pins anything that is not
    rows, spectra, figure_clip = _score_clips(clips, codecs, recogniser, progress)
    summary = aggregate(rows, codecs, spectra, settings.bootstrap_resamples, settings.seed)
    result = _clean(
        {
            "settings": {
                **settings.to_json(),
                "num_clips_evaluated": len(clips),
                "tracks": list(TRACKS),
                "max_clip_seconds": MAX_CLIP_SECONDS,
                "estimators": ESTIMATORS,
                "intelligibility": recogniser.info(),
                "figure_clip": None if figure_clip is None else figure_clip["id"],
            },
            "machine": machine_info(),
            "codecs": {codec.label: codec.info() for codec in codecs},
            "aggregate": summary,
            "targets": target_checks(summary, codecs),
            "timing": {"total_s": time.perf_counter() - started},
            "rows": rows,
        }
    )
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / RESULT_FILE, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_codec_report(result, settings.report, figure_clip, codecs[0].sampling_rate)
    return result


def settings_from_args(args) -> CodecEvaluationSettings:
    """Checked settings from ``songgen codec evaluate``'s arguments (``ValueError`` naming the option)."""
    import shlex

    from songgen_hf.commands.cli import check_count, check_path_given, output_and_report

    baselines = list(args.baseline or [])
    for flag, value in [
        ("MANIFEST", args.manifest),
        ("--output", args.output),
        ("--model", args.model),
        ("--report", args.report),
    ] + [("--baseline", path) for path in baselines]:
        check_path_given(flag, value)
    check_count("--num-clips", args.num_clips)
    check_count("--seed", args.seed, minimum=0, maximum=2**32 - 1)  # numpy's and torch's seeds both take it
    output, report = output_and_report(args.output, args.report, RESULT_FILE, "codec_evaluation.md")
    parts = ["songgen", "codec", "evaluate", args.manifest, "--model", args.model]
    for path in baselines:
        parts += ["--baseline", path]
    parts += [
        "--output",
        args.output,
        "--num-clips",
        str(args.num_clips),
        "--report",
        str(report),
        "--seed",
        str(args.seed),
    ]
    from songgen_hf.pipelines.loading import base_model_folder

    # an embedded model's name ("songgen-tiny") stands for its folder, as in every other command
    return CodecEvaluationSettings(
        manifest=Path(args.manifest),
        output_dir=output,
        model=Path(base_model_folder(args.model)),
        report=report,
        baselines=[Path(base_model_folder(path)) for path in baselines],
        num_clips=args.num_clips,
        seed=args.seed,
        command=shlex.join(parts),
    )


def run_codec_evaluate(args) -> int:
    """``songgen codec evaluate``: every input checked before a codec loads; a summary line at the end."""
    import sys

    settings = settings_from_args(args)
    require_eval_libraries()
    for folder, flag in [(settings.model, "--model")] + [(path, "--baseline") for path in settings.baselines]:
        check_codec_folder(folder, flag)
    load_clips(settings.manifest, settings.num_clips)  # fields and files of every clip, before any weights load
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"codec evaluate: {message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    result = run_codec_evaluation(settings, progress=None if args.no_progress else progress)
    model = next(label for label, info in result["codecs"].items() if info["role"] == "model")
    checks = result["targets"][model]
    print(
        f"wrote {settings.output_dir / RESULT_FILE} and {settings.report} ({len(result['rows'])} clips, "
        f"{result['timing']['total_s']:.0f} s); {model}: {sum(1 for c in checks if c['passed'])} of {len(checks)} "
        "targets pass"
    )
    return 0


__all__ = [
    "RESULT_FILE",
    "TRACKS",
    "CodecEvaluationSettings",
    "aggregate",
    "check_codec_folder",
    "codec_labels",
    "load_clips",
    "load_codec",
    "ratio_with_ci",
    "run_codec_evaluate",
    "run_codec_evaluation",
    "settings_from_args",
    "target_checks",
]
