"""What a perfect token model could sound like through the codec: mixes built from clean and round-tripped stems.

A system is a sum of terms, each a track of the corpus clip (``mix``, ``acc``, ``voc``), clean or through the
codec (``_rt``), with an optional gain (``*1.4``).  ``mix_rt`` is a mix model's ceiling, ``acc_rt+voc_rt`` a
dual-track model's (its stems decoded one by one and summed); ``acc+voc_rt`` asks which stem's round trip costs
the mix what.  Every system is scored with ``songgen evaluate``'s own estimators (librosa tempo, mir_eval key,
the attribute probes, silero-vad, the restricted pocketsphinx recogniser and its mismatched-lyrics chance), and
compared with the first system prompt by prompt (paired bootstrap).  An instrumental's vocal stem is silence.

    python recipes/songgen_tiny/stem_round_trips.py corpus_v3/test.jsonl --probe-manifest corpus_v3/train.jsonl \\
        --output RUN --num-prompts 96 --systems mix_rt acc_rt+voc_rt mix
    # how much quieter each track comes back (RMS of the round trip against the clean track, in dB):
    python recipes/songgen_tiny/stem_round_trips.py corpus_v3/train.jsonl --output RUN --num-prompts 64 --sung-only --levels
    # which stem costs the words (sung prompts only, recogniser and silero-vad only):
    python recipes/songgen_tiny/stem_round_trips.py corpus_v3/test.jsonl --output RUN --num-prompts 96 --sung-only \\
        --systems mix_rt acc+voc_rt acc_rt+voc voc_rt voc acc_rt+voc_rt*1.4

Measured in docs/evaluation.md, "Session 28" (docs/evaluation/session28_experiments.json).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch

from songgen_hf.data.audio import load_audio
from songgen_hf.defaults import embedded_model_path
from songgen_hf.evaluation.compare import paired_difference
from songgen_hf.evaluation.probes import load_or_fit_probes
from songgen_hf.evaluation.prompts import load_prompts
from songgen_hf.evaluation.runner import add_lyric_recall, add_voice_scores, load_model_and_processor, score_clip
from songgen_hf.evaluation.statistics import mean_with_ci
from songgen_hf.evaluation.systems import SystemClip, codec_round_trip

TRACKS = {"mix": "audio_path", "acc": "accompaniment_path", "voc": "vocal_path"}
TERM = re.compile(r"^(mix|acc|voc)(_rt)?(?:\*([0-9.]+))?$")
METRICS = ("tempo_acc1", "tempo_acc2", "key_exact", "key_mirex", "vocals_agree", "voice_agree", "drums_agree",
           "lyric_recall", "lyric_recall_chance", "lyric_margin")


def parse_system(spec: str) -> list[tuple[str, bool, float]]:
    terms = []
    for term in spec.split("+"):
        match = TERM.match(term.strip())
        if match is None:
            raise SystemExit(f"bad system {spec!r}: terms are mix, acc or voc, optionally _rt and *GAIN, joined by +")
        terms.append((match[1], bool(match[2]), float(match[3] or 1.0)))
    return terms


def build_clips(model, prompts, systems: dict[str, list]) -> dict[str, list[np.ndarray]]:
    codec, rate, codebooks = model.audio_encoder, model.config.sampling_rate, model.config.decoder.num_codebooks
    wanted = {(track, rt) for terms in systems.values() for track, rt, _ in terms}
    clips = {name: [] for name in systems}
    for prompt in prompts:
        samples = int(round(prompt.eval_duration * rate))
        clean = {}
        for track, field in TRACKS.items():
            path = getattr(prompt, field)
            clean[track] = None if path is None else load_audio(path, rate)[:samples]
        length = min(len(audio) for audio in clean.values() if audio is not None)
        audio = {(track, False): np.zeros(length, np.float32) if a is None else a[:length] for track, a in clean.items()}
        for track, rt in wanted:
            if rt:
                audio[(track, True)] = codec_round_trip(codec, audio[(track, False)], codebooks)[1]
        # the decoder returns whole frames: cut every version to the shortest
        length = min(len(a) for a in audio.values())
        for name, terms in systems.items():
            clips[name].append(sum(gain * audio[(track, rt)][:length] for track, rt, gain in terms))
    return clips


def level_changes(model, prompts) -> dict[str, list[float]]:
    """Per track, each clip's round-trip RMS against the clean track's, in dB (negative: it comes back quieter)."""
    systems = {f"{track}{suffix}": [(track, rt, 1.0)] for track in TRACKS for suffix, rt in (("", False), ("_rt", True))}
    clips = build_clips(model, prompts, systems)
    return {track: [10 * float(np.log10(np.mean(rt ** 2) / np.mean(clean ** 2)))
                    for rt, clean in zip(clips[f"{track}_rt"], clips[track])] for track in TRACKS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--systems", nargs="+")
    parser.add_argument("--levels", action="store_true", help="only each track's level change through the codec")
    parser.add_argument("--num-prompts", type=int, default=96)
    parser.add_argument("--model", default="songgen-tiny", help="the SongGen folder whose codec is used")
    parser.add_argument("--probe-manifest", type=Path, help="training clips for the attribute probes")
    parser.add_argument("--sung-only", action="store_true", help="sung prompts, lyric recall and silero-vad only")
    args = parser.parse_args()
    if not args.levels and not args.systems:
        parser.error("pass --systems (or --levels)")
    if not args.sung_only and not args.levels and args.probe_manifest is None:
        parser.error("--probe-manifest is needed for the probes (or pass --sung-only)")
    torch.set_num_threads(1)
    model, _ = load_model_and_processor(embedded_model_path(args.model) or Path(args.model), "cpu")
    rate = model.config.sampling_rate
    prompts = load_prompts(args.manifest, args.num_prompts, 10.0)
    if args.sung_only:
        prompts = [prompt for prompt in prompts if prompt.expects_vocals and prompt.vocal_path]
    if args.levels:
        changes = level_changes(model, prompts)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "levels.json").write_text(json.dumps(changes) + "\n")
        for track, values in changes.items():
            print(f"{track}: {np.mean(values):+.2f} dB (median {np.median(values):+.2f}, {len(values)} clips)")
        return
    systems = {spec: parse_system(spec) for spec in args.systems}
    clips = build_clips(model, prompts, systems)
    rows = [{"id": prompt.id, "systems": {name: {} for name in systems}} for prompt in prompts]
    if not args.sung_only:
        probes = load_or_fit_probes(args.output, args.probe_manifest, rate, 400, 10.0, print)
        for name in systems:
            for row, prompt, audio in zip(rows, prompts, clips[name]):
                row["systems"][name].update(score_clip(audio, prompt, probes, rate))
    wrapped = {name: [SystemClip(audio=audio, codes=None) for audio in clips[name]] for name in systems}
    add_lyric_recall(rows, prompts, wrapped, args.manifest, rate, systems=tuple(systems))
    add_voice_scores(rows, prompts, wrapped, rate, systems=tuple(systems))
    for row in rows:
        for scores in row["systems"].values():
            if scores.get("lyric_recall") is not None:
                scores["lyric_margin"] = scores["lyric_recall"] - scores["lyric_recall_chance"]
    first = args.systems[0]
    summary = {name: {metric: mean_with_ci([row["systems"][name].get(metric) for row in rows]) for metric in METRICS}
               for name in systems}
    against_first = {name: {metric: paired_difference([row["systems"][name].get(metric) for row in rows],
                                                      [row["systems"][first].get(metric) for row in rows])
                            for metric in METRICS} for name in systems if name != first}
    args.output.mkdir(parents=True, exist_ok=True)
    result = {"manifest": str(args.manifest), "prompts": len(prompts), "model": args.model, "sung_only": args.sung_only,
              "summary": summary, "against_first": against_first, "rows": rows}
    (args.output / "stem_round_trips.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    shown = [metric for metric in METRICS if summary[first][metric]["n"]]
    print("| system | " + " | ".join(shown) + " |\n|---|" + "---|" * len(shown))
    for name in systems:
        cells = []
        for metric in shown:
            cell = f"{summary[name][metric]['mean']:.3f}"
            if name != first and against_first[name][metric]["difference"] is not None:
                low, high = against_first[name][metric]["ci95"]
                cell += f" ({against_first[name][metric]['difference']:+.3f} [{low:+.3f}, {high:+.3f}])"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
