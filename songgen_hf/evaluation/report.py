"""The Markdown report of an evaluation: tables, figures, plain statements of failure, the command.

Everything is rendered from the ``evaluation.json`` dict, so a report can be rebuilt from a
saved result (``write_report(json.load(...), path)``) without generating again.
"""

from __future__ import annotations

import os
from pathlib import Path

from songgen_hf.data.synth.corpus_v2 import SLOW_BPM
from songgen_hf.evaluation.plots import write_plots
from songgen_hf.evaluation.systems import SYSTEMS
from songgen_hf.evaluation.voice_activity import VOICE_THRESHOLD
from songgen_hf.utils.atomic import write_text_atomic

# (metric, column label, which direction is better, number format)
HEADLINE_METRICS = (
    ("tempo_abs_error_bpm", "tempo error (BPM)", "lower", "{:.1f}"),
    ("tempo_acc1", "tempo Acc1", "higher", "{:.2f}"),
    ("tempo_acc2", "tempo Acc2", "higher", "{:.2f}"),
    ("key_exact", "key exact", "higher", "{:.2f}"),
    ("key_mirex", "key MIREX", "higher", "{:.2f}"),
    ("vocals_agree", "vocals as asked", "higher", "{:.2f}"),
    ("voice_agree", "vocals as asked (silero-vad)", "higher", "{:.2f}"),
    ("drums_agree", "drums as asked", "higher", "{:.2f}"),
    ("syllable_rel_error", "syllable count rel. error", "lower", "{:.2f}"),
    ("syllable_onset_pearson", "syllables~onsets r", "higher", "{:.2f}"),
    ("lyric_recall", "lyric recall", "higher", "{:.2f}"),
)
TOKEN_METRICS = (
    ("token_entropy", "usage entropy / log(codebook size)"),
    ("token_distinct", "distinct-code fraction"),
    ("token_repetition", "repetition rate"),
)
DEFINITIONS = """\
- **tempo**: librosa's beat tracker (`librosa.beat.beat_track`, 10 ms hop), 60 / median inter-beat interval, vs the
  prompt's BPM; Acc1 = within 4 %, Acc2 = within 4 % of x1, x2, x1/2, x3 or x1/3 (octave errors forgiven).
- **key**: librosa's constant-Q chroma (`chroma_cqt`) matched to Krumhansl-Kessler profiles; scored with mir_eval's
  MIREX weighting (`mir_eval.key.weighted_score`: 1 exact, 0.5 a fifth above, 0.3 relative, 0.2 parallel).
- **vocals / drums as asked**: the attribute probes' decision (P > 0.5) agrees with the prompt (lyrics given means
  vocals; `attributes.drums`).
- **vocals as asked (silero-vad)**: a second, off-the-shelf judge: silero-vad's mean 32 ms frame voice probability
  (peak-normalised clip) above {threshold} agrees with the prompt. A speech detector: low on singing, far lower on
  instrumentals (`songgen_hf/evaluation/voice_activity.py` says how the threshold was chosen).
- **syllables**: onsets of the 300-3400 Hz band counted against the syllables sung in the scored window; a weak proxy
  (guitars and hi-hats share the band, legato syllables have soft onsets). r is the Pearson correlation over prompts.
- **lyric recall**: the intelligibility proxy: pocketsphinx (its English model ships in the wheel) with its vocabulary
  restricted to the corpus' lyric words by a uniform unigram language model; recall = lyric words recognised / lyric
  words (multisets), on prompts with lyrics. **chance**: the same transcripts scored against another prompt's lyrics.
- **codec reconstruction**: SI-SDR and mean |difference| of log10 mel power (64 bands; FFT 512/1024/2048) between the
  clip and its round trip through the model's codec.
- **tokens**: per codebook, averaged; ground truth = the codec's codes of the corpus clip.
- Intervals: percentile bootstrap over prompts (1000 resamples, seed 0)."""


def _cell(stats: dict | None, fmt: str) -> str:
    if not stats or stats.get("mean") is None:
        return "n/a"
    low, high = stats.get("ci95", [None, None])
    text = fmt.format(stats["mean"])
    if low is not None and high is not None:
        text += f" [{fmt.format(low)}, {fmt.format(high)}]"
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def failure_statements(aggregate: dict) -> tuple[list[str], list[str]]:
    """``(failures, within_noise)``: metrics where guided is not better than unconditioned, and
    those where it is better but the two 95 % intervals overlap."""
    failures, within_noise = [], []
    guided, unconditioned = aggregate.get("guided", {}), aggregate.get("unconditioned", {})
    for metric, label, better, fmt in HEADLINE_METRICS:
        ours, theirs = guided.get(metric, {}), unconditioned.get(metric, {})
        if ours.get("mean") is None or theirs.get("mean") is None:
            failures.append(f"**{label}**: not measurable on these prompts (no defined values).")
            continue
        sign = 1 if better == "higher" else -1
        values = f"guided {fmt.format(ours['mean'])} vs unconditioned {fmt.format(theirs['mean'])}"
        if sign * (ours["mean"] - theirs["mean"]) <= 0:
            failures.append(f"**{label}**: guided is NOT better than unconditioned ({values}, {better} is better).")
            continue
        ours_low, ours_high = ours.get("ci95", [None, None])
        theirs_low, theirs_high = theirs.get("ci95", [None, None])
        defined = None not in (ours_low, ours_high, theirs_low, theirs_high)
        if defined and ours_low <= theirs_high and theirs_low <= ours_high:
            within_noise.append(f"**{label}**: guided is better ({values}) but the 95 % intervals overlap.")
    return failures, within_noise


def _probe_output_rows(result: dict) -> list[list[str]]:
    """Mean probe probabilities per system, split by what the prompt asked for."""
    rows = []
    for system in SYSTEMS:
        if system not in result["aggregate"]:
            continue
        cells = [system]
        for probe, attribute in (("p_vocals", "vocals"), ("p_drums", "drums")):
            for asked in (True, False):
                values = [row["systems"][system][probe] for row in result["rows"] if row["target"][attribute] is asked]
                cells.append(f"{sum(values) / len(values):.2f} (n={len(values)})" if values else "n/a")
        rows.append(cells)
    return rows


def _tempo_breakdown_section(result: dict) -> list[str]:
    """Tempo Acc1 split by slow / fast requests and restricted to the prompts the estimator can read."""
    aggregate = result["aggregate"]
    systems = [system for system in SYSTEMS if system in aggregate]
    if not systems or "tempo_acc1_readable" not in aggregate[systems[0]]:
        return []  # a result saved before the breakdown existed
    slow = [row for row in result["rows"] if row["systems"][systems[0]].get("tempo_acc1_slow") is not None]

    def doubled_slow(system: str) -> str:
        flags = [row["systems"][system].get("tempo_doubled") for row in slow]
        return f"{sum(1 for flag in flags if flag == 1.0)} of {len(slow)}" if slow else "n/a"

    def n(metric: str) -> int:
        return aggregate[systems[0]][metric].get("n", 0)

    lines = [
        "## Tempo, broken down",
        "",
        f"Acc1 of slow requests (below {SLOW_BPM} BPM, n={n('tempo_acc1_slow')}) and the others "
        f"(n={n('tempo_acc1_fast')}), and on the prompts whose clean clip the estimator reads right "
        f"(n={n('tempo_acc1_readable')}): there a miss is the system's, not the estimator's. The last column "
        "counts slow requests read at twice their tempo.",
        "",
    ]
    rows = [
        [system]
        + [
            _cell(aggregate[system].get(metric), "{:.2f}")
            for metric in ("tempo_acc1", "tempo_acc1_slow", "tempo_acc1_fast", "tempo_acc1_readable")
        ]
        + [doubled_slow(system)]
        for system in systems
    ]
    header = [
        "system",
        "tempo Acc1",
        f"below {SLOW_BPM} BPM",
        f"at or above {SLOW_BPM} BPM",
        "where the clean clip reads right",
        "slow requests read doubled",
    ]
    return lines + _table(header, rows) + [""]


def _control_guidance(sampling: dict) -> str:
    scale = sampling.get("control_guidance_scale")  # absent in results written before the option existed
    return f" (control guidance {scale:g})" if scale else ""


def _codebook_temperatures(settings: dict) -> str:
    temperatures = settings.get("codebook_temperatures_used")  # absent in results written before the option existed
    if not temperatures:
        return ""
    listed = "; ".join(f"{track} {', '.join(f'{t:g}' for t in values)}" for track, values in temperatures.items())
    return f", codebook temperatures {listed}"


def _held_vocals(settings: dict) -> str:
    if not settings.get("instrumental_vocals_held_silent"):  # absent in results written before the option existed
        return ""
    return (
        " Instrumental requests' vocal track held at the codec's codes of silence (a constraint, not the model's own)."
    )


def render_report(result: dict, figures: dict[str, str]) -> str:
    settings, aggregate = result["settings"], result["aggregate"]
    sampling = settings["sampling"]
    lines = [
        "# SongGen controllability evaluation",
        "",
        f"Model `{settings['model']}`, {settings['num_prompts_evaluated']} prompts (the first rows of "
        f"`{settings['manifest']}`), each scored on min(clip length, {settings['max_duration']:g} s). "
        f"Guidance scale {sampling['guidance_scale']:g}{_control_guidance(sampling)}"
        f"{_codebook_temperatures(settings)}, seed {sampling['seed']}, "
        f"batch size {settings['batch_size']}.{_held_vocals(settings)} "
        "Every metric is weight-free (no pretrained model): see the definitions below.",
        "",
        "## Headline",
        "",
        "Mean over prompts with the bootstrap 95 % interval. `ground_truth` is the corpus clip and "
        "`codec_resynthesis` its codec round trip (what a perfect token model could at best sound like); "
        "`unconditioned` nulls description and lyrics (and the musical controls of models that take them) "
        "as training's condition dropout does.",
        "",
    ]
    header = ["system"] + [f"{label} {'↓' if better == 'lower' else '↑'}" for _, label, better, _ in HEADLINE_METRICS]
    rows = [
        [system] + [_cell(aggregate[system].get(metric), fmt) for metric, _, _, fmt in HEADLINE_METRICS]
        for system in SYSTEMS
        if system in aggregate
    ]
    lines += _table(header, rows) + [""]
    for name, title in (("tempo_error", "Tempo error per prompt"), ("accuracy", "Controllability scores")):
        if name in figures:
            lines += [f"![{title}]({figures[name]})", ""]
    if not figures:
        lines += ['(Figures skipped: matplotlib is not installed; `pip install -e ".[eval]"` in the repository.)', ""]

    lines += _tempo_breakdown_section(result)

    lines += ["## Where it fails", ""]
    if "guided" not in aggregate or "unconditioned" not in aggregate:
        failures, within_noise = [], []
        lines += [
            f"- Guided against unconditioned: not measured (this run's systems: "
            f"{', '.join(settings.get('systems', []))})."
        ]
    else:
        failures, within_noise = failure_statements(aggregate)
        lines += [f"- {text}" for text in failures] or ["- Guided beats unconditioned on every headline metric."]
    if within_noise:
        lines += ["", "Better, but not distinguishable from noise at this number of prompts:", ""]
        lines += [f"- {text}" for text in within_noise]
    lines.append("")

    ceilings = result["probes"]["ceilings"]
    fit = result["probes"]["fit"]
    lines += [
        "## Attribute probes",
        "",
        f"Logistic regressions on log-mel summary features, fit on {fit.get('num_clips')} clips of "
        f"`{result['probes']['probe_manifest']}` (vocals: mix vs accompaniment stem; drums: "
        "attributes.drums on mix and accompaniment). The held-out accuracy on this evaluation's ground-truth "
        "clips and stems is each probe's ceiling: a system cannot be judged more precisely than that.",
        "",
    ]
    lines += _table(
        ["probe", "train accuracy", "held-out accuracy (ceiling)", "held-out clips"],
        [
            [
                name,
                _fraction(info.get("train_accuracy")),
                _fraction(info.get("held_out_accuracy")),
                str(info.get("held_out_clips")),
            ]
            for name, info in ceilings.items()
        ],
    ) + ["", "Mean probe probability by what the prompt asked for:", ""]
    lines += _table(
        ["system", "P(vocals), vocals asked", "P(vocals), none asked", "P(drums), drums asked", "P(drums), none asked"],
        _probe_output_rows(result),
    ) + [""]

    lines += [
        "## Lyric intelligibility",
        "",
        "Recall of the lyric words by the restricted recogniser, beside its mismatched-lyrics chance level: a "
        "system is intelligible only as far as its recall exceeds the chance level (above chance: clip by "
        "clip, with its interval).",
        "",
    ]
    vocal_track = any(aggregate[system].get("lyric_recall_vocal_track") for system in SYSTEMS if system in aggregate)
    columns = ["system", "lyric recall ↑", "chance (mismatched lyrics)", "above chance ↑"]
    metrics = ["lyric_recall", "lyric_recall_chance", "lyric_margin"]
    if vocal_track:  # a dual-track model: its vocal track alone, the clean vocal stem for the ground truth
        columns += ["vocal track: lyric recall ↑", "vocal track: chance", "vocal track: above chance ↑"]
        metrics += ["lyric_recall_vocal_track", "lyric_recall_vocal_track_chance", "vocal_track_lyric_margin"]
    lines += _table(
        columns,
        [
            [system]
            + [
                _cell(aggregate[system].get(name), "{:+.3f}" if name.endswith("margin") else "{:.2f}")
                for name in metrics
            ]
            for system in SYSTEMS
            if system in aggregate
        ],
    ) + [""]

    codec = aggregate["codec_reconstruction"]
    lines += ["## Codec reconstruction", "", "Ground-truth clip vs its round trip through the model's codec.", ""]
    lines += _table(
        ["SI-SDR (dB) ↑", "log-mel distance ↓"],
        [[_cell(codec["si_sdr_db"], "{:.2f}"), _cell(codec["log_mel_distance"], "{:.3f}")]],
    ) + [""]

    lines += [
        "## Token statistics",
        "",
        "Codes of the generated songs vs the codec's codes of the ground truth (closer to ground truth is "
        "better; collapse shows as low entropy and high repetition).",
        "",
    ]
    token_rows = [
        [system] + [_cell(aggregate[system].get(metric), "{:.3f}") for metric, _ in TOKEN_METRICS]
        for system in SYSTEMS
        if system in aggregate and system != "codec_resynthesis"
    ]
    lines += _table(["system"] + [label for _, label in TOKEN_METRICS], token_rows) + [""]

    lines += ["## Definitions", "", DEFINITIONS.replace("{threshold}", f"{VOICE_THRESHOLD:g}"), ""]
    lines += reproduce_section(result, "Per-prompt rows", "evaluation.json", threads=True)
    return "\n".join(lines)


def reproduce_section(result: dict, rows: str, result_file: str, threads: bool = False) -> list[str]:
    """An evaluation report's last lines: the command that wrote it, how long it took on which machine (with
    torch's thread count when ``threads``), and where its ``rows`` are (``result_file`` in the output folder)."""
    settings, machine = result["settings"], result["machine"]
    thread_count = f", {machine['torch_threads']} threads" if threads else ""
    return [
        "## Reproduce",
        "",
        "```bash",
        settings["command"],
        "```",
        "",
        f"Took {result['timing']['total_s']:.0f} s on {machine['cpu_count']} CPU cores ({machine['platform']}, torch "
        f"{machine['torch']}{thread_count}). {rows}: `{Path(settings['output_dir']) / result_file}`.",
        "",
    ]


def _fraction(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def write_report(result: dict, report: str | Path) -> Path:
    """The Markdown at ``report`` and its figures in the folder named after it (``docs/evaluation/``)."""
    report = Path(report)
    figure_folder = report.parent / report.stem
    figures = {
        name: Path(os.path.relpath(path, report.parent)).as_posix()
        for name, path in write_plots(result, figure_folder).items()
    }
    return write_text_atomic(report, render_report(result, figures))


__all__ = ["HEADLINE_METRICS", "TOKEN_METRICS", "failure_statements", "render_report", "write_report"]
