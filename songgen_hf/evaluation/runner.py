"""The evaluation loop: prompts in, every system's clips scored, ``evaluation.json`` and a report out.

Order of work: prompts and probes first (cheap, and they catch input mistakes before any
generation), then the ground truth and its codec round trip, then each generated system in
batches.  Scores are pure functions of the audio, the codes and the prompt, so a rerun with the
same settings and seed reproduces every number.
"""

from __future__ import annotations

import json
import math
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from songgen_hf.data.synth.corpus_v2 import SLOW_BPM
from songgen_hf.evaluation.intelligibility import LYRIC_MARGINS, lyric_margins
from songgen_hf.evaluation.metrics import (
    ESTIMATORS,
    estimate_key_or_none,
    estimate_tempo_bpm,
    key_scores,
    library_versions,
    multi_resolution_log_mel_distance,
    require_eval_libraries,
    si_sdr,
    syllable_scores,
    tempo_breakdown,
    tempo_scores,
    token_statistics,
    vocal_band_onsets,
)
from songgen_hf.evaluation.probes import AttributeProbes, load_or_fit_probes, probe_features
from songgen_hf.evaluation.prompts import EvaluationPrompt, load_prompts
from songgen_hf.evaluation.reference_cache import load_reference, reference_key, store_reference
from songgen_hf.evaluation.statistics import DEFAULT_RESAMPLES, mean_with_ci, pearson_with_ci
from songgen_hf.evaluation.systems import (
    GENERATED_SYSTEMS,
    REFERENCE_SYSTEMS,
    SYSTEMS,
    TRACK_AUDIO_FIELDS,
    SamplingOptions,
    SystemClip,
    check_generated_systems,
    codec_round_trip,
    generate_system,
    is_resgen,
)
from songgen_hf.utils.atomic import write_text_atomic

RESULT_FILE = "evaluation.json"
# Per-clip values that are labels, not numbers to average.
_LABEL_FIELDS = ("key",)


@dataclass
class EvaluationSettings:
    manifest: Path
    output_dir: Path
    model: Path
    report: Path
    probe_manifest: Path
    probe_clips: int = 400
    num_prompts: int = 48
    batch_size: int = 8
    max_duration: float = 10.0
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    save_audio: bool = False
    device: str | None = None
    # "int8" / "bf16": the decoder in reduced precision (the codec stays float32); "fp32": float32; None: the
    # model's recommendation for CPUs where it runs there (evaluation.json records it as "effective_quantize")
    quantize: str | None = None
    command: str = ""
    bootstrap_resamples: int = DEFAULT_RESAMPLES
    # the generated systems to run (the reference systems always are); fewer is faster: comparing two models
    # or precisions needs only "guided"
    systems: tuple[str, ...] = GENERATED_SYSTEMS
    # where the reference systems' scores are cached (reference_cache); None: computed every run
    reference_cache: Path | None = None

    def __post_init__(self):
        self.systems = check_generated_systems(self.systems)

    def to_json(self) -> dict:
        values = asdict(self)
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


# ---------------------------------------------------------------------- scoring
def score_clip(audio: np.ndarray, prompt: EvaluationPrompt, probes: AttributeProbes, sampling_rate: int) -> dict:
    """Every audio metric of one clip against what its prompt asked for."""
    tempo = estimate_tempo_bpm(audio, sampling_rate)
    key = estimate_key_or_none(audio, sampling_rate)
    probability = probes.probabilities(probe_features(audio, sampling_rate))
    onsets = vocal_band_onsets(audio, sampling_rate)
    return {
        "tempo_bpm": tempo,
        **tempo_scores(tempo, prompt.tempo_bpm),
        "key": None if key is None else key.name,
        **key_scores(key, prompt.key),
        "p_vocals": probability["vocals"],
        "vocals_agree": float((probability["vocals"] > 0.5) == prompt.expects_vocals),
        "p_drums": probability["drums"],
        "drums_agree": None if prompt.drums is None else float((probability["drums"] > 0.5) == prompt.drums),
        **syllable_scores(len(onsets), prompt.expected_syllables),
        "duration_s": len(audio) / sampling_rate,
    }


def score_tokens(codes: dict[str, np.ndarray] | None, codebook_size: int) -> dict:
    """Token statistics averaged over the model's tracks (``None`` values when a track is missing)."""
    names = ("token_entropy", "token_distinct", "token_repetition")
    if not codes or any(track is None or track.shape[-1] == 0 for track in codes.values()):
        return dict.fromkeys(names)
    per_track = [token_statistics(track, codebook_size) for track in codes.values()]
    return {name: float(np.mean([stats[name] for stats in per_track])) for name in names}


def _clean(value):
    """JSON-safe: NaN/inf become ``None``, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def aggregate_rows(rows: list[dict], resamples: int = DEFAULT_RESAMPLES) -> dict:
    """Per system: mean and bootstrap 95 % CI of every numeric metric, plus the syllable correlation."""
    summary = {}
    for system in SYSTEMS:
        scored = [row["systems"][system] for row in rows if system in row["systems"]]
        if not scored:
            continue
        metrics = [name for name in scored[0] if name not in _LABEL_FIELDS]
        summary[system] = {name: mean_with_ci([item.get(name) for item in scored], resamples) for name in metrics}
        margins = [lyric_margins(item) for item in scored]  # recall above chance, clip by clip, with its interval
        summary[system].update(
            {name: mean_with_ci([item[name] for item in margins], resamples) for name in LYRIC_MARGINS}
        )
        expected = [row["target"]["syllables"] or None for row in rows if system in row["systems"]]
        summary[system]["syllable_onset_pearson"] = pearson_with_ci(
            [item["onset_count"] for item in scored], expected, resamples
        )
    codec = [row["codec"] for row in rows]
    summary["codec_reconstruction"] = {
        name: mean_with_ci([item[name] for item in codec], resamples) for name in ("si_sdr_db", "log_mel_distance")
    }
    return summary


# ---------------------------------------------------------------------- loading
def effective_quantize(folder: Path, device: str | None, quantize: str | None) -> str | None:
    """The precision the evaluation loads the decoder in: the one asked for, else the model's own for CPUs."""
    from songgen_hf.modeling.songgen.quantization import FLOAT, default_quantize
    from songgen_hf.pipelines.loading import is_resgen_folder_cheap

    if quantize is not None:
        return None if quantize == FLOAT else quantize
    return None if is_resgen_folder_cheap(folder) else default_quantize(folder, device)


def load_model_and_processor(folder: Path, device: str | None, quantize: str | None = None):
    """The model and processor as evaluated; ``quantize`` as :func:`effective_quantize` resolves it."""
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.pipelines.loading import is_resgen_folder_cheap

    try:
        if is_resgen_folder_cheap(folder):  # a ResGen pipeline folder: the same systems, by masked parallel decoding
            from songgen_hf.modeling.resgen import ResGenForConditionalGeneration
            from songgen_hf.pipelines.loading import check_resgen_folder

            check_resgen_folder(folder)
            if quantize is not None:
                raise ValueError(
                    "--quantize applies to autoregressive SongGen models; this is a ResGen pipeline folder."
                )
            model = ResGenForConditionalGeneration.from_pretrained(folder).eval()
            processor = SongGenProcessor.from_pretrained(Path(folder) / "processor")
        else:
            from songgen_hf.modeling.songgen.quantization import quantization_kwargs

            loading = quantization_kwargs(quantize, device, "--quantize")  # checked on this platform first
            model = SongGenForConditionalGeneration.from_pretrained(folder, **loading).eval()
            processor = SongGenProcessor.from_pretrained(folder)
    except OSError as error:
        raise ValueError(f"Could not load a SongGen or ResGen model and processor from {folder}: {error}") from error
    if getattr(model.config.audio_encoder, "decode_only", False):
        raise ValueError(
            f"The codec inside {folder} was saved decode-only (no encoder), but the evaluation encodes the ground "
            "truth (codec round trip, token statistics); save the model with its full codec."
        )
    if processor.model_max_lyrics_length is None:
        processor.model_max_lyrics_length = model.config.lyrics_encoder.max_position_embeddings
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), processor


def machine_info() -> dict:
    import os

    import torch
    import transformers

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        **library_versions(),
    }


# ---------------------------------------------------------------------- the loop
def _reference_clips(model, prompts: list[EvaluationPrompt], progress) -> tuple[dict, list[dict], list[np.ndarray]]:
    """Ground truth and codec round trip per prompt, the codec's damage, and the accompaniment stems.

    The round trip is what a perfect token model of this model's tracks would sound like: the mix's for
    a mix model; for a dual-track model the sum of its stems' round trips at the model's ``stem_gains_db``
    (an instrumental's vocal track is the round trip of silence, as encoding gives instrumentals silent
    vocal codes)."""
    from songgen_hf.data.audio import load_audio

    rate = model.config.sampling_rate
    codebooks = model.config.decoder.num_codebooks
    codec = model.audio_encoder
    clips = {"ground_truth": [], "codec_resynthesis": []}
    damage, accompaniments = [], []
    # dual-track models are compared stem by stem; ResGen (no token pattern) models the mix
    track_names = getattr(getattr(model, "pattern", None), "track_names", ("mix",))
    # summed as generation sums the model's stems, each at its gain
    gains = model.config.stem_gains(model.pattern) if len(track_names) > 1 else {"mix": 1.0}
    for index, prompt in enumerate(prompts):
        if progress is not None and index % 8 == 0:
            progress(f"ground truth and codec round trip {index + 1}/{len(prompts)}")
        samples = int(round(prompt.eval_duration * rate))
        mix = load_audio(prompt.audio_path, rate)[:samples]
        tracks, resynthesis, vocals = {}, None, {}
        for track in track_names:
            path = prompt.audio_path if track == "mix" else getattr(prompt, TRACK_AUDIO_FIELDS[track])
            if path is None and track != "vocals":
                tracks[track], resynthesis = None, None
                break
            audio = np.zeros_like(mix) if path is None else load_audio(path, rate)[:samples]
            audio = np.pad(audio, (0, max(0, len(mix) - len(audio))))[: len(mix)]
            tracks[track], decoded = codec_round_trip(codec, audio, codebooks)
            decoded = decoded * gains[track]
            resynthesis = decoded if resynthesis is None else resynthesis + decoded
            if track == "vocals":  # the clean stem and its round trip, as the generated vocal track is scored
                vocals = {"ground_truth": audio, "codec_resynthesis": decoded}
        if resynthesis is None:  # a dual-track model on a prompt without stems: the mix's round trip stands in
            resynthesis, vocals = codec_round_trip(codec, mix, codebooks)[1], {}
        clips["ground_truth"].append(SystemClip(audio=mix, codes=tracks, vocals=vocals.get("ground_truth")))
        clips["codec_resynthesis"].append(
            SystemClip(audio=resynthesis, codes=None, vocals=vocals.get("codec_resynthesis"))
        )
        damage.append(
            {
                "si_sdr_db": si_sdr(mix, resynthesis),
                "log_mel_distance": multi_resolution_log_mel_distance(mix, resynthesis, rate),
            }
        )
        stem = prompt.accompaniment_path
        accompaniments.append(None if stem is None else load_audio(stem, rate)[:samples])
    return clips, damage, accompaniments


def probe_ceilings(probes: AttributeProbes, prompts, ground_truth: list[SystemClip], accompaniments, rate: int) -> dict:
    """The probes' accuracy on the held-out ground truth: the best a perfect model could score."""
    vocal_x, vocal_y, drum_x, drum_y = [], [], [], []
    for prompt, clip, accompaniment in zip(prompts, ground_truth, accompaniments):
        mix_features = probe_features(clip.audio, rate)
        pairs = [(mix_features, int(prompt.expects_vocals))]  # an instrumental's mix is not sung
        if accompaniment is not None:
            pairs.append((probe_features(accompaniment, rate), 0))
        for features, has_vocals in pairs:
            vocal_x.append(features)
            vocal_y.append(has_vocals)
            if prompt.drums is not None:
                drum_x.append(features)
                drum_y.append(int(prompt.drums))
    ceilings = {}
    for name, features, labels in (("vocals", vocal_x, vocal_y), ("drums", drum_x, drum_y)):
        probe = getattr(probes, name)
        ceilings[name] = {
            "held_out_accuracy": probe.accuracy(np.stack(features), labels) if features else None,
            "held_out_clips": len(features),
            "train_accuracy": probes.info.get("train_accuracy", {}).get(name),
        }
    return ceilings


def _score_system(
    clip: SystemClip, prompt: EvaluationPrompt, probes: AttributeProbes, rate: int, model, read_right: bool
) -> dict:
    """One system's audio and token scores for one prompt, with the tempo breakdown."""
    scores = {
        **score_clip(clip.audio, prompt, probes, rate),
        **score_tokens(clip.codes, model.config.decoder.codebook_size),
    }
    scores.update(tempo_breakdown(scores, prompt.tempo_bpm, read_right, SLOW_BPM))
    return scores


def score_reference(
    model, prompts: list[EvaluationPrompt], probes: AttributeProbes, manifest: Path, progress=None
) -> tuple[dict, dict]:
    """``(clips, reference)``: the reference systems' clips and everything scored on them (what the cache stores).

    ``reference`` is JSON-clean (NaN as ``None``, which the aggregation treats alike), so a run reading it
    from the cache and a run computing it produce the same evaluation.json."""
    rate = model.config.sampling_rate
    clips, damage, accompaniments = _reference_clips(model, prompts, progress)
    if progress is not None:
        progress("scoring the ground truth and its codec round trip")
    rows = []
    for index, prompt in enumerate(prompts):
        truth = clips["ground_truth"][index]
        truth_scores = {
            **score_clip(truth.audio, prompt, probes, rate),
            **score_tokens(truth.codes, model.config.decoder.codebook_size),
        }
        read_right = truth_scores["tempo_acc1"] == 1.0
        truth_scores.update(tempo_breakdown(truth_scores, prompt.tempo_bpm, read_right, SLOW_BPM))
        resynthesis = _score_system(clips["codec_resynthesis"][index], prompt, probes, rate, model, read_right)
        rows.append(
            {"codec": damage[index], "systems": {"ground_truth": truth_scores, "codec_resynthesis": resynthesis}}
        )
    intelligibility = add_lyric_recall(rows, prompts, clips, manifest, rate, REFERENCE_SYSTEMS)
    voice_detector = add_voice_scores(rows, prompts, clips, rate, REFERENCE_SYSTEMS)
    ceilings = probe_ceilings(probes, prompts, clips["ground_truth"], accompaniments, rate)
    return clips, _clean(
        {"rows": rows, "ceilings": ceilings, "intelligibility": intelligibility, "voice_detector": voice_detector}
    )


def run_evaluation(settings: EvaluationSettings, progress=None) -> dict:
    """Generate, score and report; returns what ``evaluation.json`` holds."""
    started = time.perf_counter()
    require_eval_libraries()  # a missing `eval` extra is one clear message, not a failure after generation
    prompts = load_prompts(settings.manifest, settings.num_prompts, settings.max_duration)
    quantize = effective_quantize(settings.model, settings.device, settings.quantize)
    model, processor = load_model_and_processor(settings.model, settings.device, quantize)
    rate = model.config.sampling_rate
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    probes = load_or_fit_probes(
        output_dir, settings.probe_manifest, rate, settings.probe_clips, settings.max_duration, progress
    )
    # the ground truth and its round trip, scored once per prompts/codec/probes (reference_cache);
    # --save-audio needs the audio
    cache = None if settings.save_audio else settings.reference_cache
    cache_key = (
        None if cache is None else reference_key(model, prompts, probes, settings.manifest, settings.probe_manifest)
    )
    reference = None if cache is None else load_reference(cache, cache_key)
    clips, cached = {}, reference is not None
    if cached and progress is not None:
        progress("ground truth and codec round trip: scores from the reference cache")
    if reference is None:
        clips, reference = score_reference(model, prompts, probes, settings.manifest, progress)
        store_reference(cache, cache_key, reference)
    timing = {"reference_s": time.perf_counter() - started}
    for system in settings.systems:
        begun = time.perf_counter()
        clips[system] = generate_system(
            model, processor, prompts, system, settings.sampling, settings.batch_size, progress
        )
        timing[f"{system}_generation_s"] = time.perf_counter() - begun

    if progress is not None:
        progress("scoring")
    rows = []
    for index, prompt in enumerate(prompts):
        stored = reference["rows"][index]
        scored = {system: dict(scores) for system, scores in stored["systems"].items()}
        read_right = scored["ground_truth"]["tempo_acc1"] == 1.0
        for system in settings.systems:
            scored[system] = _score_system(clips[system][index], prompt, probes, rate, model, read_right)
        rows.append(
            {
                "id": prompt.id,
                "caption": prompt.caption,
                "lyrics": prompt.lyrics,
                "target": prompt.target(),
                "codec": stored["codec"],
                "systems": scored,
            }
        )
    add_lyric_recall(rows, prompts, clips, settings.manifest, rate, settings.systems)
    add_voice_scores(rows, prompts, clips, rate, settings.systems)
    systems = REFERENCE_SYSTEMS + settings.systems
    intelligibility, voice_detector = reference["intelligibility"], reference["voice_detector"]
    if settings.save_audio:
        _save_audio(output_dir, prompts, clips, rate)

    timing["total_s"] = time.perf_counter() - started
    result = _clean(
        {
            "settings": {
                **settings.to_json(),
                "num_prompts_evaluated": len(prompts),
                "sampling_rate": rate,
                "systems": list(systems),
                "estimators": ESTIMATORS,
                "intelligibility": intelligibility,
                "voice_detector": voice_detector,
                "instrumental_vocals_held_silent": _holds_silent_vocals(model, settings.sampling),
                "codebook_temperatures_used": _codebook_temperatures_used(model, settings.sampling),
                "effective_quantize": quantize or "fp32",
                "reference_cached": cached,
            },
            "machine": machine_info(),
            "timing": timing,
            "probes": {
                "fit": {key: value for key, value in probes.info.items() if key != "key"},
                "probe_manifest": str(settings.probe_manifest),
                "ceilings": reference["ceilings"],
            },
            "aggregate": aggregate_rows(rows, settings.bootstrap_resamples),
            "rows": rows,
        }
    )
    write_text_atomic(output_dir / RESULT_FILE, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    from songgen_hf.evaluation.report import write_report

    write_report(result, settings.report)
    return result


def _holds_silent_vocals(model, sampling: SamplingOptions) -> bool:
    """Whether generation held the vocal track of instrumental requests silent (resolved as ``generate`` does)."""
    if is_resgen(model):
        return False
    from songgen_hf.modeling.songgen.arguments_songgen import holds_silent_vocals

    option = sampling.silence_instrumental_vocals
    if option is None:  # the model's saved default, as generate() merges it
        option = getattr(model.generation_config, "silence_instrumental_vocals", None)
    return holds_silent_vocals(model.config, option)


def _codebook_temperatures_used(model, sampling: SamplingOptions) -> dict | None:
    """The codebook temperatures generation used: the option's, else the model's saved ones (``None``: none)."""
    if is_resgen(model):
        return None
    used = sampling.codebook_temperatures
    if used is None:  # the model's saved ones, as generate() merges them
        used = getattr(model.generation_config, "codebook_temperatures", None)
    return used or None


# what add_lyric_recall hears of each clip, and the suffix its scores get: the song, and a dual-track system's vocal
# track alone (lyric_recall_vocal_track, lyric_recall_vocal_track_chance)
HEARD_AUDIO = (("audio", ""), ("vocals", "_vocal_track"))


def add_lyric_recall(
    rows: list[dict], prompts: list[EvaluationPrompt], clips: dict, manifest: Path, rate: int, systems=SYSTEMS
) -> dict:
    """The intelligibility proxy of every system's clips (:mod:`.intelligibility`), added to ``rows``.

    ``lyric_recall`` and ``lyric_recall_chance`` (the transcript against another prompt's lyrics) for
    prompts with lyrics, ``None`` for instrumentals; the recogniser knows the words of every lyric in
    ``manifest``.  The ground truth is scored on the same window as the songs, so lyrics sung after
    it count as missed for every system alike.  A dual-track model's clips are also scored on their vocal
    track alone (``lyric_recall_vocal_track`` and its chance level; the clean vocal stem for the ground
    truth): words that are there but masked by the accompaniment show there, words never sung show nowhere.
    Returns the recogniser's description for the record."""
    from songgen_hf.data.manifest import read_manifest_rows
    from songgen_hf.evaluation.intelligibility import LyricRecogniser, recall_with_chance
    from songgen_hf.evaluation.probes import record_has_vocals

    lyrics = [prompt.lyrics if prompt.expects_vocals else None for prompt in prompts]
    corpus_lyrics = [row.get("lyrics") for row in read_manifest_rows(manifest) if record_has_vocals(row)]
    recogniser = LyricRecogniser.for_lyrics(corpus_lyrics) if any(lyrics) else None
    for system in systems:
        for track, suffix in HEARD_AUDIO:
            sources = [getattr(clip, track) for clip in clips[system]]
            if all(source is None for source in sources):  # a one-track system has no vocal track to hear
                continue
            transcripts = [
                None if text is None or recogniser is None or source is None else recogniser.transcribe(source, rate)
                for text, source in zip(lyrics, sources)
            ]
            for row, scores in zip(rows, recall_with_chance(transcripts, lyrics)):
                row["systems"][system].update(
                    {name.replace("lyric_recall", f"lyric_recall{suffix}", 1): value for name, value in scores.items()}
                )
    return {"recogniser": None} if recogniser is None else recogniser.info()


def add_voice_scores(
    rows: list[dict], prompts: list[EvaluationPrompt], clips: dict, rate: int, systems=SYSTEMS
) -> dict:
    """silero-vad's ``p_voice`` and ``voice_agree`` (:mod:`.voice_activity`) for every system's clips, added to
    ``rows``: a second judge of "vocals as asked" beside the probe.  Returns the detector's description."""
    from songgen_hf.evaluation.voice_activity import VoiceDetector

    detector = VoiceDetector()
    for system in systems:
        for row, prompt, clip in zip(rows, prompts, clips[system]):
            row["systems"][system].update(detector.scores(clip.audio, rate, prompt.expects_vocals))
    return detector.info()


def _save_audio(output_dir: Path, prompts, clips: dict, rate: int) -> None:
    from songgen_hf.data.audio import write_audio

    for system, system_clips in clips.items():
        for prompt, clip in zip(prompts, system_clips):
            name = re.sub(r"[^A-Za-z0-9._-]", "_", prompt.id)  # ids come from the manifest: no path tricks
            write_audio(output_dir / "audio" / system / f"{name}.wav", clip.audio, rate)


__all__ = [
    "EvaluationSettings",
    "RESULT_FILE",
    "add_lyric_recall",
    "add_voice_scores",
    "aggregate_rows",
    "run_evaluation",
    "score_clip",
    "score_tokens",
]
