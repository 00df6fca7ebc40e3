"""The waiters' contract: success, failure at once, timeout with a sentence, interrupts never swallowed."""

import itertools

import pytest

from conformance.waiting import WaitFailed, WaitTimeout, holds_for, wait_for


def test_wait_for_returns_the_first_value_that_is_not_none():
    counter = itertools.count()
    assert wait_for("three", lambda: (lambda n: n if n >= 3 else None)(next(counter)), timeout=5, interval=0.01) == 3


def test_wait_for_stops_at_once_when_the_failure_condition_speaks():
    with pytest.raises(WaitFailed, match="pod: it went Failed"):
        wait_for("pod", lambda: None, timeout=60, failure=lambda: "it went Failed")


def test_wait_for_times_out_with_what_it_waited_for_and_what_it_last_saw():
    with pytest.raises(WaitTimeout, match=r"bound: not within 0.2s \(last seen: Pending\)"):
        wait_for("bound", lambda: None, timeout=0.2, interval=0.05, describe=lambda: "Pending")


def test_wait_for_retries_a_transient_probe_error():
    calls = itertools.count()

    def flaky():
        if next(calls) == 0:
            raise ConnectionResetError("dropped")
        return "ok"

    assert wait_for("flaky", flaky, timeout=5, interval=0.01) == "ok"


def test_an_interrupt_inside_a_probe_ends_the_wait_at_once():
    calls = []

    def interrupted():
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait_for("interrupted", interrupted, timeout=5, interval=0.01)
    assert len(calls) == 1, f"the interrupt was retried {len(calls) - 1} times"


def test_holds_for_passes_when_nothing_goes_wrong_and_fails_with_the_sentence():
    holds_for("quiet", lambda: None, window=0.2, interval=0.05)
    with pytest.raises(WaitFailed, match="must not run: it ran"):
        holds_for("must not run", lambda: "it ran", window=5)
