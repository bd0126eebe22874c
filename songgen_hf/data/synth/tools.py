"""Locate the external programs the generator shells out to, with actionable errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

APT_PACKAGES = ("fluidsynth", "fluid-soundfont-gm", "espeak-ng")
SOUNDFONT_ENV = "SONGGEN_SOUNDFONT"
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)


class SystemToolsMissingError(RuntimeError):
    """Raised when fluidsynth, espeak-ng or the GM soundfont cannot be found."""


def find_soundfont() -> Path | None:
    """``$SONGGEN_SOUNDFONT`` if set, else the Debian FluidR3 General MIDI soundfont."""
    override = os.environ.get(SOUNDFONT_ENV)
    candidates = (override,) if override else SOUNDFONT_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def check_system_tools() -> Path:
    """Return the soundfont path, or raise listing every missing piece and the
    exact ``apt-get`` line that installs it."""
    problems, packages = [], []
    if shutil.which("fluidsynth") is None:
        problems.append("the `fluidsynth` program is not on PATH")
        packages.append("fluidsynth")
    if shutil.which("espeak-ng") is None:
        problems.append("the `espeak-ng` program is not on PATH")
        packages.append("espeak-ng")
    soundfont = find_soundfont()
    if soundfont is None:
        override = os.environ.get(SOUNDFONT_ENV)
        where = f"${SOUNDFONT_ENV}={override}" if override else " or ".join(SOUNDFONT_CANDIDATES[:2])
        problems.append(f"no General MIDI soundfont at {where}")
        packages.append("fluid-soundfont-gm")
    if problems:
        raise SystemToolsMissingError(
            "The synthetic song corpus needs system tools that are missing: "
            + "; ".join(problems)
            + ". Install them with: apt-get update && apt-get install -y "
            + " ".join(packages)
            + f" (all of them: {' '.join(APT_PACKAGES)})."
        )
    return soundfont
