"""The thread policy (songgen_hf.utils.threads): an explicit count wins, then SONGGEN_NUM_THREADS, then
OMP_NUM_THREADS, else the cores other programs leave free, at least 1."""

from __future__ import annotations

import pytest

from songgen_hf.utils import threads
from songgen_hf.utils.threads import choose_threads, generation_threads, thread_request


@pytest.mark.parametrize(
    ("cores", "busy", "expected"),
    [
        (2, 0.0, 2),  # idle: every core
        (2, 0.4, 2),  # a little background work rounds away
        (2, 1.0, 1),  # one other CPU-bound program: the free core
        (2, 1.6, 1),
        (2, 5.0, 1),  # overloaded: never below 1
        (8, 3.0, 5),
        (4, None, 4),  # busy unknown (no /proc/stat, no load average): every core
    ],
)
def test_the_free_cores_when_nothing_is_set(cores, busy, expected):
    assert choose_threads(None, {}, cores, busy) == expected


def test_explicit_choices_win_in_order():
    environ = {"SONGGEN_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert choose_threads(2, environ, 8, 7.0) == 2
    assert choose_threads(None, environ, 8, 7.0) == 3
    assert choose_threads(None, {"OMP_NUM_THREADS": "5"}, 8, 7.0) == 5
    assert choose_threads(None, {"SONGGEN_NUM_THREADS": " ", "OMP_NUM_THREADS": "4"}, 8, 0.0) == 4  # blank: unset


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_a_bad_variable_is_named_with_the_fix(text):
    with pytest.raises(ValueError, match=f"SONGGEN_NUM_THREADS='{text}' is not a thread count.*unset it"):
        choose_threads(None, {"SONGGEN_NUM_THREADS": text}, 2, 0.0)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_a_bad_request_is_refused(value):
    with pytest.raises(ValueError, match="threads must be a whole number of threads >= 1"):
        generation_threads(value)
    with pytest.raises(ValueError, match="--threads must be a whole number of threads >= 1"):
        with thread_request(value, "--threads"):
            pass


def test_thread_request_nests_and_ends(monkeypatch):
    monkeypatch.delenv("SONGGEN_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda cores, window_s=0.1: 0.0)
    monkeypatch.setattr(threads, "_usable_cores", lambda: {0, 1, 2})
    assert generation_threads() == 3
    with thread_request(2):
        assert generation_threads() == 2
        with thread_request(1):
            assert generation_threads() == 1
        with thread_request(None):  # no request: the enclosing one stands
            assert generation_threads() == 2
    assert generation_threads() == 3
    monkeypatch.setenv("SONGGEN_NUM_THREADS", "1")
    assert generation_threads() == 1


def test_busy_elsewhere_leaves_out_this_process(monkeypatch):
    """Busy time of the cores less this process's own CPU time, over the wall time between the readings."""
    readings = iter([100.0, 101.5])  # the cores' busy seconds: 1.5 s over the window
    own = iter([10.0, 10.5])  # of which this process: 0.5 s
    clock = iter([0.0, 1.0])
    monkeypatch.setattr(threads, "_busy_seconds", lambda cores: next(readings))
    monkeypatch.setattr(threads, "_own_seconds", lambda: next(own))
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    assert threads.busy_elsewhere({0, 1}) == pytest.approx(1.0)


def test_apply_thread_policy_sets_torch(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("SONGGEN_NUM_THREADS", "1")
        assert threads.apply_thread_policy() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_count_the_user_set_in_torch_is_kept(monkeypatch):
    """After the policy set a count, a user's own torch.set_num_threads stands until a count is asked for."""
    import torch

    before = torch.get_num_threads()
    for name in ("SONGGEN_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda cores, window_s=0.1: 0.0)
    monkeypatch.setattr(threads, "_usable_cores", lambda: {0, 1})
    try:
        assert threads.apply_thread_policy(requested=2) == 2
        torch.set_num_threads(1)  # the user's own choice
        assert threads.apply_thread_policy() == 1 and torch.get_num_threads() == 1
        assert threads.apply_thread_policy(requested=2) == 2 and torch.get_num_threads() == 2
        assert threads.apply_thread_policy() == 2  # the policy's own count again: recomputed, not the user's
    finally:
        torch.set_num_threads(before)
