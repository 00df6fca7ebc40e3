"""One check per item (a handler, a variant of a Pod), all at once, and one verdict that names each failure.

A clause that must hold "for every handler" was one test per handler, and each such test
waited out its own Pod start and its own 5 s window in turn: on two workers those waits
added up to most of the run. Run side by side, the handlers share one wait. Nothing of a
check is dropped: every item runs its whole check, a failing item is named in the verdict
with its own message (and its traceback is chained), and each item has its own step in the
Allure report. An item that skips (a node the probe cannot read) keeps the test from
passing: the test skips, naming it, unless another item failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import allure
import pytest

from conformance.infrastructure import InfrastructureFault, exception_fault

T = TypeVar("T")

# After Ctrl-C or SIGTERM the checks are told to stop (their next sleep raises Cancelled); how long
# the test's teardown waits for them before it deletes what they made.
CANCEL_GRACE = 3.0


class Cancelled(BaseException):
    """Raised in a check's thread once the test was interrupted; not an outcome of the check."""


class ItemsFailed(AssertionError):
    """Some items' checks failed: the message names each item and says why."""


class ItemsBroken(Exception):
    """Some items' checks ended in an error that is not an assertion (the report calls it broken)."""


def each_at_once(items: Sequence[T], check: Callable[[T], None], label: Callable[[T], str],
                 cancelled: threading.Event) -> None:
    """Run `check(item)` for every item in its own thread; return when all have ended, raise the verdict.

    Fresh threads each time: Allure keys a thread's current step by its Thread object, so a pooled
    thread would carry an earlier test's context into this one.
    """
    if not items:
        pytest.skip("nothing to check: no item was given")  # a check over no item must not pass
    errors: list[BaseException | None] = [None] * len(items)

    def run(index: int, item: T) -> None:
        try:
            with allure.step(label(item)):
                check(item)
        except BaseException as exc:  # noqa: BLE001 - every outcome, skips included, goes to the verdict
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(i, item), name=f"rcc-each-{label(item)}", daemon=True)
               for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        cancelled.set()
        deadline = time.monotonic() + CANCEL_GRACE
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        raise
    verdict([(label(item), error) for item, error in zip(items, errors)])


def verdict(outcomes: Sequence[tuple[str, BaseException | None]]) -> None:
    """Pass if every item passed; fail naming each failed item; otherwise skip naming each skipped one.

    An item that met an infrastructure fault makes the whole test an infrastructure error (the
    other items' outcomes are in its message): a failure beside a lost node proves nothing.
    """
    lost = [(name, f) for name, e in outcomes if e is not None and (f := exception_fault(e, False)) is not None]
    if lost:
        others = "; ".join(f"{name}: {type(e).__name__}: {_message(e)}" for name, e in outcomes
                           if e is not None and exception_fault(e, False) is None)
        error = InfrastructureFault(lost[0][1])
        if others:
            error.add_note(f"other items: {others}")
        raise error
    skipped = [(name, e) for name, e in outcomes if isinstance(e, pytest.skip.Exception)]
    failed = [(name, e) for name, e in outcomes if e is not None and not isinstance(e, pytest.skip.Exception)]
    if failed:
        lines = "\n".join(f"- {name}: {type(e).__name__}: {_message(e)}" for name, e in failed)
        assertion = all(isinstance(e, (AssertionError, pytest.fail.Exception)) for _, e in failed)
        error = (ItemsFailed if assertion else ItemsBroken)(f"{len(failed)} of {len(outcomes)} failed:\n{lines}")
        raise error from failed[0][1]
    if skipped:
        passed = [name for name, e in outcomes if e is None]
        pytest.skip("; ".join(f"{name}: {_message(e)}" for name, e in skipped)
                    + (f" (passed, not counted: {', '.join(passed)})" if passed else ""))


def _message(error: BaseException) -> str:
    return str(getattr(error, "msg", None) or error).strip()
