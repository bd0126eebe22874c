"""The Markdown report of ``songgen codec evaluate``: targets, per-track tables, the spectrogram figure.

Rendered from the ``codec_evaluation.json`` dict (:func:`render_codec_report`), so a saved result
can be re-rendered without running the codecs again (only the figure needs the audio).
"""

from __future__ import annotations

import os
from pathlib import Path

from songgen_hf.evaluation.report import _cell, _table, reproduce_section
from songgen_hf.utils.atomic import write_text_atomic

# What the codec evaluation scores and this report names (the evaluation imports them from here).
TRACKS = ("mix", "vocals", "accompaniment")
CLEAN = "clean"  # the label of the unprocessed clips every codec is compared with
COMB_TARGET_DB = 1.0  # the largest excess at the codec's frame rate that passes (no comb)

SCORE_COLUMNS = (
    ("tempo_acc1", "tempo Acc1", "{:.2f}"),
    ("tempo_acc2", "tempo Acc2", "{:.2f}"),
    ("key_exact", "key exact", "{:.2f}"),
    ("key_mirex", "key MIREX", "{:.2f}"),
    ("lyric_recall", "lyric recall", "{:.2f}"),
    ("lyric_recall_chance", "chance (mismatched lyrics)", "{:.2f}"),
    ("voicing_probability", "voicing (pyin)", "{:.2f}"),
    ("si_sdr_db", "SI-SDR (dB)", "{:.1f}"),
    ("log_mel_distance", "log-mel distance", "{:.3f}"),
)
RATIO_COLUMNS = (
    ("tempo_acc1", "tempo Acc1"),
    ("tempo_acc2", "tempo Acc2"),
    ("key_exact", "key exact"),
    ("key_mirex", "key MIREX"),
    ("lyric_recall", "lyric recall"),
    ("voicing_probability", "voicing (pyin)"),
)
FIGURE_NAME = "spectrograms.png"
DEFINITIONS = """\
- **clips**: the first N records of the manifest, in file order; each track scored on its first {max_seconds:g} s. The \
vocal
  stem is scored on clips with vocals only; the mix's lyric recall too.
- **round trip**: encode and decode with all the codec's codebooks (a SongGen folder: its own codec, the decoder's \
codebooks).
- **tempo**: librosa's beat tracker, 60 / median inter-beat interval, vs the record's BPM; Acc1 = within 4 %, Acc2 = \
within 4 %
  of x1, x2, x1/2, x3 or x1/3.
- **key**: librosa's constant-Q chroma matched to Krumhansl-Kessler profiles; exact, and mir_eval's MIREX weighting.
- **lyric recall**: {recogniser}. Recall = lyric words recognised / lyric words (multisets). **chance**: the same \
transcripts
  scored against another clip's lyrics (each sung clip against the next one's): what words shared by many lyrics give \
alone.
- **voicing (pyin)**: on the vocal stem, librosa's pyin voiced probability (65-1050 Hz) averaged over frames within 30 \
dB of
  the clip's loudest: how clearly harmonic the voice is. A round trip can keep the pitch and loudness and lose this.
- **ratio**: the round trip's mean over the clean clips' mean (the issue's targets), with a paired bootstrap interval \
over clips.
- **comb**: Welch spectra (0.2 s Hann segments, 5 Hz bins), power-averaged over the clips; difference = round trip - \
clean in
  dB. *excess* = mean difference at the harmonics of the frame rate (up to 2 kHz) minus the mean at the bins halfway \
between
  them (a broadband level change cancels); *max |diff|* = the largest difference at a harmonic, level change included.
  Target: |excess| <= {comb:g} dB.
- **SI-SDR / log-mel distance**: scale-invariant SDR of the round trip against the clean clip; mean |difference| of \
log10 mel
  power (64 bands, FFT 512/1024/2048).
- Intervals: percentile bootstrap over clips ({resamples} resamples, seed {seed})."""


def _verdict(check: dict) -> str:
    if check["passed"] is None:
        return "n/a"
    return "PASS" if check["passed"] else "FAIL"


def _value(value, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def render_codec_report(result: dict, figure: str | None) -> str:
    settings, summary = result["settings"], result["aggregate"]
    codecs = result["codecs"]
    lines = [
        "# Codec round trip on held-out corpus clips",
        "",
        f"{settings['num_clips_evaluated']} clips (the first records of `{settings['manifest']}`); "
        "for each, the mix, the "
        "vocal stem (clips with vocals) and the accompaniment stem, clean and through each codec. "
        "Every number below comes from the same estimators on the clean clip and its round trip.",
        "",
    ]
    lines += _table(
        ["codec", "role", "folder", "kind", "codebooks", "frame rate (Hz)"],
        [
            [
                label,
                info["role"],
                f"`{info['path']}`",
                info["kind"],
                str(info["num_codebooks"]),
                f"{info['frame_rate']:g}",
            ]
            for label, info in codecs.items()
        ],
    ) + [""]

    lines += [
        "## Targets",
        "",
        "The round trip's mean as a fraction of the clean clips' mean (tempo Acc1 >= 0.95, key exact >= 0.90, lyric "
        f"recall >= 0.80 on the vocal stem and >= 0.70 on the mix), and no comb at the frame rate (abs. excess <= "
        f"{COMB_TARGET_DB:g} dB). A recall ratio means little where the clean recall is near its chance level.",
        "",
    ]
    for label, checks in result["targets"].items():
        passed = sum(1 for check in checks if check["passed"])
        lines += [f"**{label}** ({codecs[label]['role']}): {passed} of {len(checks)} pass.", ""]
        lines += _table(
            ["criterion", "track", "value", "target", "verdict"],
            [
                [
                    check["criterion"],
                    check["track"],
                    _value(check["value"]),
                    f"{check['comparison']} {check['threshold']:g}",
                    _verdict(check),
                ]
                for check in checks
            ],
        ) + [""]

    lines += [
        "## Scores",
        "",
        "Mean over clips with the bootstrap 95 % interval. The `clean` rows are the ceiling: what the estimators give "
        "on the corpus audio itself.",
        "",
    ]
    rows = []
    for track in TRACKS:
        if track not in summary:
            continue
        for system in [CLEAN] + list(codecs):
            stats = summary[track]["systems"][system]
            name = "clean (ceiling)" if system == CLEAN else f"{system} round trip"
            rows.append(
                [track, str(summary[track]["clips"]), name]
                + [_cell(stats.get(metric), fmt) for metric, _, fmt in SCORE_COLUMNS]
            )
    lines += _table(["track", "clips", "audio"] + [label for _, label, _ in SCORE_COLUMNS], rows) + [""]

    lines += [
        "## Round trip / clean",
        "",
        "Ratios of means with paired bootstrap 95 % intervals, and the comb at the codec's frame rate.",
        "",
    ]
    rows = []
    for track in TRACKS:
        if track not in summary:
            continue
        for label in codecs:
            ratios, comb = summary[track]["ratios"][label], summary[track]["comb"][label]
            rows.append(
                [track, label]
                + [_cell(ratios.get(metric), "{:.2f}") for metric, _ in RATIO_COLUMNS]
                + [_value(comb["comb_excess_db"], "{:+.2f}"), _value(comb["comb_max_abs_db"], "{:.2f}")]
            )
    lines += _table(
        ["track", "codec"]
        + [label for _, label in RATIO_COLUMNS]
        + ["comb excess (dB)", "max abs. diff. at harmonics (dB)"],
        rows,
    ) + [""]

    if figure is not None:
        lines += [
            "## Spectrograms",
            "",
            f"Clip `{settings['figure_clip']}` (mix), clean and through each codec.",
            "",
            f"![clean vs round trip]({figure})",
            "",
        ]
    intelligibility = settings["intelligibility"]
    lines += [
        "## Definitions",
        "",
        DEFINITIONS.format(
            max_seconds=settings["max_clip_seconds"],
            recogniser=intelligibility["recogniser"],
            comb=COMB_TARGET_DB,
            resamples=settings["bootstrap_resamples"],
            seed=settings["seed"],
        ),
        "",
    ]
    unknown = intelligibility.get("words_not_in_dictionary") or []
    if unknown:
        lines += [
            f"Lyric words the recogniser's dictionary lacks (never recognisable, kept in the denominator): "
            f"{', '.join(unknown)}.",
            "",
        ]
    lines += reproduce_section(result, "Per-clip scores and transcripts", "codec_evaluation.json")
    return "\n".join(lines)


def write_codec_report(result: dict, report: str | Path, figure_clip: dict | None, sampling_rate: int) -> Path:
    """The Markdown at ``report`` and its spectrogram figure in the folder named after it."""
    report = Path(report)
    figure = None
    if figure_clip is not None:
        from songgen_hf.evaluation.plots import _pyplot, plot_codec_spectrograms

        try:
            _pyplot()
        except ImportError:
            figure_clip = None
        else:
            path = report.parent / report.stem / FIGURE_NAME
            path.parent.mkdir(parents=True, exist_ok=True)
            audio = dict(figure_clip["audio"])
            clean = audio.pop(CLEAN)
            plot_codec_spectrograms(clean, audio, sampling_rate, path, f"{figure_clip['id']}: clean and round trip")
            figure = Path(os.path.relpath(path, report.parent)).as_posix()
    return write_text_atomic(report, render_codec_report(result, figure))


__all__ = ["CLEAN", "COMB_TARGET_DB", "FIGURE_NAME", "TRACKS", "render_codec_report", "write_codec_report"]
