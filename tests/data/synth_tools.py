"""The skip marker of the tests that render corpus audio: fluidsynth, espeak-ng and the soundfont must be installed."""

import pytest

from songgen_hf.data.synth import SystemToolsMissingError, check_system_tools


def _missing_reason() -> str | None:
    try:
        check_system_tools()
    except SystemToolsMissingError as error:
        return str(error)
    return None


MISSING = _missing_reason()
needs_tools = pytest.mark.skipif(MISSING is not None, reason=f"system tools missing: {MISSING}")
