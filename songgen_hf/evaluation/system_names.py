"""The evaluation's systems and compared scores by name (no heavy imports: the CLI's parser reads them)."""

from __future__ import annotations

REFERENCE_SYSTEMS = ("ground_truth", "codec_resynthesis")
GENERATED_SYSTEMS = ("guided", "no_guidance", "unconditioned")
SYSTEMS = REFERENCE_SYSTEMS + GENERATED_SYSTEMS

# (metric, label): per-prompt scores of `songgen evaluate` that the model targets are stated in
DEFAULT_METRICS = (
    ("tempo_acc1", "tempo Acc1"),
    ("tempo_acc1_slow", "tempo Acc1 below 90 BPM"),
    ("tempo_acc2", "tempo Acc2"),
    ("key_exact", "key exact"),
    ("key_mirex", "key MIREX"),
    ("vocals_agree", "vocals as asked (probe)"),
    ("voice_agree", "vocals as asked (silero-vad)"),
    ("drums_agree", "drums as asked"),
    ("lyric_margin", "lyric recall above chance"),
    ("vocal_track_lyric_margin", "lyric recall above chance, vocal track"),
)


def check_generated_systems(systems) -> tuple[str, ...]:
    """The generated systems to evaluate, in their report order; unknown or repeated names and none at all are
    refused."""
    names = (systems,) if isinstance(systems, str) else tuple(systems)
    unknown = [name for name in names if name not in GENERATED_SYSTEMS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"--systems takes one or more of {', '.join(GENERATED_SYSTEMS)} (each once), got "
            f"{', '.join(map(str, names)) or 'none'}."
        )
    return tuple(name for name in GENERATED_SYSTEMS if name in names)


__all__ = ["DEFAULT_METRICS", "GENERATED_SYSTEMS", "REFERENCE_SYSTEMS", "SYSTEMS", "check_generated_systems"]
