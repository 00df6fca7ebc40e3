"""Waiting without sleeps: a probe, a failure condition, and a deadline that never overshoots.

`wait_for` polls `probe` until it returns something other than None, and stops
at once with a sentence when `failure` returns one: a Pod that went Failed ends
a wait for Succeeded immediately instead of timing out. `stop_before_delay`
ends the loop before an attempt would cross the deadline.

Both waiters take a `sleep`: by default time.sleep, or a watch's `Changes.sleep`
(conformance.watching) that returns as soon as the watched objects change, so a
wait ends when the cluster moves rather than at the next poll. The probe still
reads fresh state every time: a notification only decides *when* to look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception, retry_if_result, stop_before_delay, wait_fixed

from conformance.infrastructure import InfrastructureFault

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold within its budget; the message names it."""


class WaitFailed(AssertionError):
    """The failure condition held first; the message is its sentence."""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5,
             failure: Callable[[], str | None] | None = None, describe: Callable[[], str] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Poll until `probe()` is not None; raise WaitFailed as soon as `failure()` says why not."""

    def attempt() -> T | None:
        if failure is not None:
            reason = failure()
            if reason:
                raise WaitFailed(f"{what}: {reason}")
        return probe()

    try:
        # Transient errors of a probe (a dropped connection) are retried; a WaitFailed is not, nor an
        # infrastructure fault (conformance.infrastructure: the wait can never succeed), and neither is
        # Ctrl-C or SIGTERM (KeyboardInterrupt), which tenacity would otherwise capture.
        keep_trying = retry_if_result(lambda value: value is None) | retry_if_exception(
            lambda exc: isinstance(exc, Exception) and not isinstance(exc, (AssertionError, InfrastructureFault)))
        for retry in Retrying(stop=stop_before_delay(timeout), wait=wait_fixed(interval), retry=keep_trying,
                              reraise=True, sleep=sleep):
            with retry:
                value = attempt()
            if not retry.retry_state.outcome.failed and value is not None:
                return value
    except RetryError:
        pass
    detail = f" (last seen: {describe()})" if describe else ""
    raise WaitTimeout(f"{what}: not within {timeout:g}s{detail}")


def holds_for(what: str, condition: Callable[[], str | None], window: float, interval: float = 0.5,
              sleep: Callable[[float], None] = time.sleep) -> None:
    """Observe that nothing goes wrong for the whole window; `condition` returns a sentence when it does.

    The last look is taken once the full window has passed (never before it), so a window of
    5 s really covers 5 s after its start. Errors of `condition` are not retried: they fail the check.
    """
    deadline = time.monotonic() + window
    while True:
        broken = condition()
        if broken:
            raise WaitFailed(f"{what}: {broken}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        sleep(min(interval, remaining))
