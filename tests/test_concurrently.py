"""conformance.concurrently: checks of several items run side by side, one verdict naming each failure."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from conformance.concurrently import Cancelled, ItemsBroken, ItemsFailed, each_at_once, verdict
from conformance.watching import Changes


def run(items, check):
    each_at_once(items, check, str, threading.Event())


def test_checks_run_side_by_side_not_one_after_another():
    began = time.monotonic()
    run(["runc", "crun", "gvisor"], lambda _h: time.sleep(0.5))
    assert time.monotonic() - began < 1.0


def test_a_failing_item_is_named_with_its_message_and_the_others_still_run():
    seen = []

    def check(handler):
        seen.append(handler)
        assert handler != "crun", "Pod p never ran"

    with pytest.raises(ItemsFailed) as failure:
        run(["runc", "crun", "gvisor"], check)
    assert sorted(seen) == ["crun", "gvisor", "runc"]
    assert str(failure.value).startswith("1 of 3 failed:\n- crun: AssertionError: Pod p never ran")
    assert isinstance(failure.value.__cause__, AssertionError)


def test_an_error_that_is_not_an_assertion_makes_the_verdict_broken_not_failed():
    with pytest.raises(ItemsBroken, match="runc: ConnectionError: refused"):
        verdict([("runc", ConnectionError("refused")), ("crun", None)])


def test_a_skipped_item_keeps_the_test_from_passing_and_names_what_passed():
    def check(handler):
        if handler == "crio-runc":
            pytest.skip("the probe reads containerd nodes only (rcc-worker-3)")

    with pytest.raises(pytest.skip.Exception) as skipped:
        run(["runc", "crio-runc"], check)
    assert "crio-runc: the probe reads containerd nodes only (rcc-worker-3)" in skipped.value.msg
    assert "passed, not counted: runc" in skipped.value.msg


def test_a_failure_outweighs_a_skip():
    with pytest.raises(ItemsFailed):
        verdict([("runc", AssertionError("no")), ("crun", pytest.skip.Exception("unreadable"))])


def test_a_check_over_no_item_skips_instead_of_passing():
    with pytest.raises(pytest.skip.Exception, match="nothing to check"):
        run([], lambda _h: None)


def test_every_item_passing_passes():
    verdict([("runc", None), ("crun", None)])


def test_ctrl_c_tells_the_running_checks_to_stop_and_is_raised():
    cancelled = threading.Event()
    stopped = threading.Event()

    def check(_item):
        while not cancelled.wait(0.01):
            pass
        stopped.set()
        raise Cancelled()

    main = threading.get_ident()
    # A shell that starts a job in the background without job control makes it ignore SIGINT;
    # Python then installs no KeyboardInterrupt handler. Ctrl-C is what this test is about.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            each_at_once(["runc"], check, str, cancelled)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert cancelled.is_set() and stopped.wait(1)


def test_every_thread_sleeping_on_changes_wakes_for_a_change_it_has_not_seen():
    changes = Changes([])
    woke = []

    def sleeper(name):
        began = time.monotonic()
        changes.sleep(0.1)   # the first sleep only records where this thread starts
        changes.sleep(5)
        woke.append((name, time.monotonic() - began))

    threads = [threading.Thread(target=sleeper, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    time.sleep(0.3)
    changes._notify()
    for t in threads:
        t.join(2)
    assert sorted(n for n, _ in woke) == ["a", "b"]
    assert all(seconds < 1 for _, seconds in woke), woke
