"""Counting the runs of ``check_resgen_arguments`` (the ResGen request tests and the front doors' counts)."""

import collections
import contextlib
import sys
import threading

from songgen_hf.modeling.resgen import check_resgen_arguments


@contextlib.contextmanager
def counted_checks():
    """Counts the runs of ``check_resgen_arguments``, whichever module calls it under whichever name."""
    counts = collections.Counter()
    code = check_resgen_arguments.__code__

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is code:
            counts["checks"] += 1

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
