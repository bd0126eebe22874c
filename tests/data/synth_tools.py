"""What the synthetic-corpus tests share: the skip marker of the tests that render corpus audio (fluidsynth,
espeak-ng and the soundfont must be installed), and the accompaniment a plan arranges."""

import numpy as np
import pytest

from songgen_hf.data.synth import SystemToolsMissingError, check_system_tools
from songgen_hf.data.synth.arrangement import arrange


def _missing_reason() -> str | None:
    try:
        check_system_tools()
    except SystemToolsMissingError as error:
        return str(error)
    return None


MISSING = _missing_reason()
needs_tools = pytest.mark.skipif(MISSING is not None, reason=f"system tools missing: {MISSING}")


def arrange_plan(plan, seed: int = 0):
    """``(notes, programs)`` of the accompaniment ``arrange()`` plays for a clip's ``plan``, from a seeded generator."""
    return arrange(
        np.random.default_rng(seed),
        plan.arrangement,
        list(plan.bar_chords),
        plan.beats_per_bar,
        plan.vocal_start_bar,
        plan.end_beat,
    )
