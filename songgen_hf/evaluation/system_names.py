"""The evaluation's systems by name (no heavy imports: the CLI's parser reads them)."""

from __future__ import annotations

REFERENCE_SYSTEMS = ("ground_truth", "codec_resynthesis")
GENERATED_SYSTEMS = ("guided", "no_guidance", "unconditioned")
SYSTEMS = REFERENCE_SYSTEMS + GENERATED_SYSTEMS


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


__all__ = ["GENERATED_SYSTEMS", "REFERENCE_SYSTEMS", "SYSTEMS", "check_generated_systems"]
