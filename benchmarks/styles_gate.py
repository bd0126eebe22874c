"""The description gate on the style benchmark: how each style's adapter, weighted per song by how close the song's
description is to the adapter's training descriptions (``songgen_hf.pipelines.description_gate``), moves its own
prompts and the unrelated ones.

For each measured adapter: a copy (the trained folder is never changed) with the records ``finetune-lora`` now
writes added (the description gate from the style's encoded captions and the built-in reference set, and the tempo
record where asked); the gate of each of the style's 16 prompts and the 16 unrelated prompts (how many at 0, at 1,
between); and the gated songs, judged as ``benchmarks/styles.py`` judges (its corpus+base judge of the style, the
same prompts, seeds and 5 s songs): a prompt at gate 0 is the base's song (the pipeline makes it bit for bit), at 1
the ungated adapter's, so both are read from the songs ``styles.py`` kept (or made once, when the adapter's own
are missing), and only prompts between are made anew, with the adapter at their gate.  The leak and the share of the
way are ``styles.py``'s, on the first ``--unrelated`` unrelated prompts (those whose songs it kept).

    python benchmarks/styles_gate.py --work /tmp/work-gate --json docs/benchmarks/styles_gate.json

``--gates-only`` reports the gate values alone (no model, no songs).  Each adapter is ``STYLE/NAME=FOLDER`` with
``--songs-from`` the ``styles.py`` work folder that holds the style's judge and base songs (and, optionally, the
adapter's ungated songs as ``songs/STYLE/RUN``); the defaults are the runs the gate was chosen and reported on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import styles  # noqa: E402
import your_songs as shared  # noqa: E402
from machine import git_commit, load_average, schema_report_head  # noqa: E402

# (style, name): the trained adapter, the tempo record to add (None: keep the folder's), the styles.py work folder
# with the style's judge and base songs, and the run whose ungated songs it kept (None: made here)
DEFAULT_ADAPTERS = {
    ("gospel", "singer_stage_tempo"): ("/tmp/styles/runs/gospel/singer_stage/final", 106.0, "/tmp/work-reach", None),
    ("gospel", "style_tempo"): (
        "/tmp/work-reach/runs/gospel/style_tempo/final",
        None,
        "/tmp/work-reach",
        "style_tempo",
    ),
    # the documented recipe (160 steps, singer stage, tempo record) trained on calypso; gospel's and bass_choir's
    # documented adapters are the singer_stage runs with the tempo record, measured above as singer_stage_tempo
    ("calypso", "documented"): ("/tmp/work-carry/runs/calypso/documented/final", None, "/tmp/work-reach", None),
    ("calypso", "style_tempo"): (
        "/tmp/work-reach/runs/calypso/style_tempo/final",
        None,
        "/tmp/work-reach",
        "style_tempo",
    ),
    ("bass_choir", "singer_stage_tempo"): (
        "/tmp/work-voice/runs/bass_choir/singer_stage/final",
        108.0,
        "/tmp/work-voice",
        None,
    ),
    ("bass_choir", "singer_stage"): (
        "/tmp/work-voice/runs/bass_choir/singer_stage/final",
        None,
        "/tmp/work-voice",
        "singer_stage",
    ),
    # the style kept apart (reported only; the gate was chosen before it existed): its documented run
    ("harp_five", "documented"): ("/tmp/work-apart/runs/harp_five/recipe/final", None, "/tmp/work-apart", "recipe"),
    # the documented run with the key unknown on its own in half the rows (finetune-lora's default now), each style
    **{
        (style, "key_only"): (
            f"{work}/runs/{style}/controls_each_key_only/final",
            None,
            work,
            "controls_each_key_only",
        )
        for style, work in (
            ("bass_choir", "/tmp/work-tk"),
            ("gospel", "/tmp/work-tk"),
            ("calypso", "/tmp/work-tk"),
            ("harp_five", "/tmp/work-tk-hf"),
        )
    },
}
CHOSEN_ON = "gospel"
KIND = "style"
V = styles.FEATURES_VERSION


def gated_copy(work: Path, style: str, name: str, source: str, tempo: float | None, captions: list[str]) -> Path:
    """A copy of ``source`` in ``work/adapters/STYLE/NAME`` with the description gate ``finetune-lora`` writes (from
    ``captions`` and the built-in reference) and, when given, the tempo record; made once."""
    from songgen_hf.pipelines.description_gate import gate_record, write_description_gate
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS
    from songgen_hf.training.lora import write_style_tempo

    final = work / "adapters" / style / name
    if (final / "adapter_model.safetensors").is_file():
        return final
    staging = final.with_name(name + ".copying")
    shutil.rmtree(staging, ignore_errors=True)  # the benchmark's own half-made copy
    shutil.copytree(source, staging)
    if tempo is not None:
        write_style_tempo(staging, tempo)
    write_description_gate(staging, gate_record(captions, GATE_REFERENCE_DESCRIPTIONS))
    staging.rename(final)
    return final


def counts(values: list[float]) -> dict:
    return {
        "at_0": sum(value == 0.0 for value in values),
        "at_1": sum(value == 1.0 for value in values),
        "between": sum(0.0 < value < 1.0 for value in values),
        "mean": float(np.mean(values)),
    }


def composed(
    gates: list[float], base: np.ndarray, ungated: np.ndarray, made: dict[int, np.ndarray], prompts: int
) -> np.ndarray:
    """The gated songs' feature rows (seed by seed, as ``your_songs`` orders them): the base's at gate 0, the
    ungated adapter's at 1, the songs made at the prompt's gate between."""
    rows = []
    for seed in range(len(shared.SEEDS)):
        for prompt in range(prompts):
            gate = gates[prompt]
            source = base if gate == 0.0 else ungated if gate == 1.0 else None
            rows.append(source[seed * prompts + prompt] if source is not None else made[prompt][seed])
    return np.stack(rows)


def auc(positives, negatives) -> float:
    """How often a style prompt scores above an unrelated one (ties count half): 1 separates them, 0.5 does not."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return float(np.mean(pairs))


def encoder_margins(texts: list[str], style: list[str], reference: list[str], encode) -> list[float]:
    """The base's description encoder's closeness: the cosine of each text's nearest style caption minus its nearest
    reference description's (mean-pooled, masked states)."""
    queries, near, far = encode(texts), encode(style), encode(reference)
    return ((queries @ near.T).max(axis=1) - (queries @ far.T).max(axis=1)).tolist()


def compare_measures(chosen: dict) -> dict:
    """The two closeness measures the gate was chosen between, per style: the base's own T5 description encoder
    (nearest-neighbour cosine margin; adapters never reach it) and the gate's word evidence; each as the AUC of the
    style prompts against the 16 unrelated prompts, with the scores' ranges."""
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.pipelines.description_gate import DescriptionGate, gate_record
    from songgen_hf.pipelines.loading import embedded_model_path
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

    folder = embedded_model_path("songgen-tiny")
    model = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    tokenizer = SongGenProcessor.from_pretrained(folder).tokenizer
    encoder = next(module for name, module in model.named_modules() if name.endswith("text_encoder"))

    def encode(texts):
        batch = tokenizer(list(texts), return_tensors="pt", padding=True)
        with torch.no_grad():
            states = encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        mask = batch.attention_mask.unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    from datasets import load_from_disk

    reference = list(GATE_REFERENCE_DESCRIPTIONS)
    unrelated = [song["description"] for song in shared.prompt_songs("unrelated")]
    result = {}
    for style in dict.fromkeys(style for style, _ in chosen):
        songs_from = next(value[2] for key, value in chosen.items() if key[0] == style)
        captions = list(dict.fromkeys(load_from_disk(str(Path(songs_from) / f"{style}_enc"))["caption"]))
        prompts = [song["description"] for song in styles.style_prompts(style)]
        gate = DescriptionGate(gate_record(captions, reference))
        scores = {
            "t5_nearest_neighbour": (
                encoder_margins(prompts, captions, reference, encode),
                encoder_margins(unrelated, captions, reference, encode),
            ),
            "word_evidence": ([gate.closeness(t) for t in prompts], [gate.closeness(t) for t in unrelated]),
        }
        result[style] = {
            name: {
                "auc_style_vs_unrelated": auc(*pair),
                "style_prompts": [round(min(pair[0]), 3), round(max(pair[0]), 3)],
                "unrelated_prompts": [round(min(pair[1]), 3), round(max(pair[1]), 3)],
            }
            for name, pair in scores.items()
        }
    return result


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="this benchmark's folder (copies, new songs)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--unrelated", type=int, default=8, help="the unrelated prompts of the leak (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--gates-only", action="store_true", help="the gate values alone: no model, no songs")
    parser.add_argument(
        "--only", default="", help="comma-separated STYLE/NAME of the default adapters to measure (default: all)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    from datasets import load_from_disk

    from songgen_hf.pipelines.description_gate import read_description_gate

    started, load = time.time(), {"start": load_average()}
    chosen = {key: value for key, value in DEFAULT_ADAPTERS.items() if not args.only or "/".join(key) in args.only}
    unrelated_all = shared.prompt_songs("unrelated")
    copies, gates = {}, {}
    for (style, name), (source, tempo, songs_from, _) in chosen.items():
        captions = load_from_disk(str(Path(songs_from) / f"{style}_enc"))["caption"]
        copies[(style, name)] = gated_copy(args.work, style, name, source, tempo, captions)
        gate = read_description_gate(copies[(style, name)])
        gates[(style, name)] = {
            "style": [gate(song["description"]) for song in styles.style_prompts(style)],
            "unrelated": [gate(song["description"]) for song in unrelated_all],
            "thresholds": [gate.low, gate.high],
        }
    report_runs = {}
    for key, values in gates.items():
        report_runs["/".join(key)] = {
            "adapter": chosen[key][0],
            "tempo_record_added": chosen[key][1],
            "gate_thresholds": values["thresholds"],
            "style_gates": values["style"],
            "unrelated_gates": values["unrelated"],
            "style_gate_counts": counts(values["style"]),
            "unrelated_gate_counts": counts(values["unrelated"]),
        }
    measures = compare_measures(chosen)
    if not args.gates_only:
        measure(args, chosen, copies, gates, report_runs)
    report = {
        **schema_report_head("styles_gate", "benchmarks/styles_gate.py"),
        "commit": git_commit(),
        "load_average": {**load, "end": load_average()},
        "wall_seconds": round(time.time() - started, 1),
        "chosen_on": CHOSEN_ON,
        "gate": "songgen_hf.pipelines.description_gate: the summed log-ratio evidence of a description's content "
        "words (tempo and key mentions and function words left out) for the style's training captions against the "
        "built-in reference (songgen_hf.training.lane.GATE_REFERENCE_DESCRIPTIONS); 0 at or below the most "
        "style-like reference description's (left out), 1 from 2 nats above it, linear between",
        "songs": {
            "seconds": args.seconds,
            "seeds": list(shared.SEEDS),
            "style_prompts": 16,
            "unrelated_prompts_of_the_leak": shared.UNRELATED_PROMPTS[: args.unrelated],
            "gate_0": "the base's kept songs (the pipeline makes them bit for bit at gate 0)",
            "gate_1": "the ungated adapter's songs (kept by styles.py, or made here once)",
            "between": "made here with the adapter at the prompt's gate",
        },
        "measures": measures,
        "runs": report_runs,
    }
    print(table(report), end="")
    if args.json:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
    return 0


def measure(args, chosen, copies, gates, report_runs) -> None:
    """The gated songs of each adapter, judged: the leak and the share of the way, gated and ungated."""
    from songgen_hf.pipelines import load_text_to_song_pipeline

    names = {key: f"{key[0]}-{key[1]}" for key in chosen}
    pipe = load_text_to_song_pipeline(None, adapters={names[key]: str(copies[key]) for key in chosen})
    pipe.set_progress_bar_config(disable=True)
    timings: dict = {}
    prompts = len(shared.STYLE_PROMPTS)
    unrelated_asked = shared.prompt_songs("unrelated")[: args.unrelated]
    unrelated_kind = f"unrelated{args.unrelated}"
    for key, (_, _, songs_from, kept_run) in chosen.items():
        style, name = key
        source = Path(songs_from)
        asked = {KIND: styles.style_prompts(style), unrelated_kind: unrelated_asked}

        def features(folder: Path, system: str, choice, kind: str, prompts_asked) -> np.ndarray:
            kept = folder / "songs" / system
            if not ((kept / f"{kind}_features{V}.npy").is_file() or (kept / f"{kind}.npz").is_file()):
                folder = args.work  # songs styles.py did not keep are made here, never in its folder
            return styles.song_features(
                folder / "songs" / system / f"{kind}_features{V}.npy",
                lambda: [
                    song["audio"]
                    for song in shared.generate_songs(
                        pipe, folder, system, choice, kind, args.seconds, timings, prompts_asked
                    )
                ],
            )

        base = {
            KIND: features(source, f"{style}/base", None, KIND, asked[KIND]),
            unrelated_kind: features(source, "base", None, unrelated_kind, unrelated_asked),
        }
        # the ungated adapter's songs: styles.py's when it kept them, else made here once (adapter_gate=False)
        home, system = (source, f"{style}/{kept_run}") if kept_run else (args.work, f"{style}/{name}")
        ungated = {kind: features(home, system, names[key], kind, asked[kind]) for kind in asked}
        gated = {}
        for kind, values in ((KIND, gates[key]["style"]), (unrelated_kind, gates[key]["unrelated"])):
            count = prompts if kind == KIND else args.unrelated
            made = {}
            for prompt in range(count):
                gate = values[prompt]
                if 0.0 < gate < 1.0:  # only prompts between 0 and 1 need songs of their own
                    made[prompt] = features(
                        args.work,
                        f"{style}/{name}_gated/{kind}_{prompt}_w{gate:g}",
                        {names[key]: gate},
                        kind,
                        [asked[kind][prompt]],
                    )
            gated[kind] = composed(values[:count], base[kind], ungated[kind], made, count)
        # styles.py's corpus+base judge of the style
        fit = {
            "features": styles.style_judge_features,
            "suffix": V,
            **styles.judge_reading(styles.STYLES[style]["judge_reads"], base[KIND].shape[1]),
        }
        negatives = np.load(source / "songs" / "base" / f"corpus_captions_features{V}.npy")
        judge, judge_report = shared.fit_judge(
            source, style, source / f"judge_features_{style}{V}.npz", negatives, **fit
        )
        target = judge_report["style_set_score_codec"]["mean"]
        base_values = shared.per_prompt(judge.probability(base[KIND]), prompts)
        base_unrelated = shared.per_prompt(judge.probability(base[unrelated_kind]), args.unrelated)
        entry = report_runs["/".join(key)]
        entry["judge_sharpness"] = styles.sharpness(judge_report, base_values)
        for label, songs in (("ungated", ungated), ("gated", gated)):
            values = shared.per_prompt(judge.probability(songs[KIND]), prompts)
            unrelated_values = shared.per_prompt(judge.probability(songs[unrelated_kind]), args.unrelated)
            share = styles.share_entry(values, base_values, target)
            entry[label] = {
                "style": share,
                "leak": styles.leak_entry(unrelated_values, base_unrelated, share["minus_base"]["mean"]),
                "values_per_prompt": values,
                "unrelated_values_per_prompt": unrelated_values,
            }
        entry["gated_minus_ungated"] = {
            "style": shared.paired_difference(
                entry["ungated"]["values_per_prompt"], entry["gated"]["values_per_prompt"]
            ),
            "unrelated": shared.paired_difference(
                entry["ungated"]["unrelated_values_per_prompt"], entry["gated"]["unrelated_values_per_prompt"]
            ),
        }
        entry["generation_seconds"] = {k: v for k, v in timings.items() if k.startswith(f"{style}/{name}")}
        print(f"{style}/{name}: measured", flush=True)


def _interval(entry: dict, percent: bool = False) -> str:
    low, high = entry["ci95"] if "ci95" in entry else entry
    if percent:
        return f"{entry['mean']:.0%} [{low:.0%}, {high:.0%}]" if "mean" in entry else f"[{low:.0%}, {high:.0%}]"
    return f"{entry['mean']:.2f} [{low:.2f}, {high:.2f}]"


def table(report: dict) -> str:
    """The gate values and, when measured, the gated and ungated figures, worst style (gated share) first."""
    runs = report["runs"]
    lines = []
    if report.get("measures"):
        lines += [
            "| style | AUC of the style prompts against the unrelated (1: apart, 0.5: mixed): the base's T5 "
            "description encoder, nearest neighbour | the gate's word evidence |",
            "|---|---|---|",
        ]
        for style, measures in report["measures"].items():
            cells = [
                f"{measures[name]['auc_style_vs_unrelated']:.2f}" for name in ("t5_nearest_neighbour", "word_evidence")
            ]
            lines.append(f"| {style} | {cells[0]} | {cells[1]} |")
        lines.append("")
    lines += [
        "| adapter | style prompts: at 0 / at 1 / between (mean gate) | unrelated prompts: at 0 / at 1 / between "
        "(mean gate) |",
        "|---|---|---|",
    ]
    for name, run in runs.items():
        cells = []
        for which in ("style_gate_counts", "unrelated_gate_counts"):
            c = run[which]
            cells.append(f"{c['at_0']} / {c['at_1']} / {c['between']} ({c['mean']:.2f})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    measured = [name for name, run in runs.items() if "gated" in run]
    if measured:

        def share(name):
            return runs[name]["gated"]["style"]["share_of_the_way_to_the_style_set"]

        lines += [
            "",
            "| adapter (worst gated share first) | share of the way, ungated [95 % CI] | gated | unrelated minus base, "
            "ungated | gated | leak ratio, ungated | gated |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in sorted(measured, key=share):
            run = runs[name]
            cells = []
            for label in ("ungated", "gated"):
                style = run[label]["style"]
                cells.append(
                    f"{style['share_of_the_way_to_the_style_set']:.0%} [{style['share_ci95'][0]:.0%}, "
                    f"{style['share_ci95'][1]:.0%}]"
                )
            unrelated = [_interval(run[label]["leak"]["minus_base"]) for label in ("ungated", "gated")]
            ratios = [run[label]["leak"]["leak_ratio"] for label in ("ungated", "gated")]
            ratios = ["" if ratio is None else f"{ratio:.2f}" for ratio in ratios]
            lines.append(
                f"| {name} | {cells[0]} | {cells[1]} | {unrelated[0]} | {unrelated[1]} | {ratios[0]} | {ratios[1]} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
