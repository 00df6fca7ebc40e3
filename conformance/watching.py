"""Wake a waiter when the cluster changes, instead of at its next poll.

A `Changes` follows watches (the test namespace's Pods and Events) in daemon
threads and counts every notification; its `sleep` returns as soon as there is
one the sleeping thread has not seen (several threads of one test, Case.each,
sleep on the same `Changes`). The waiters in conformance.waiting take it as their sleep, so
a Pod that goes Succeeded, or a kubelet event that arrives, ends the wait
within milliseconds instead of up to half a second later.

Nothing here decides an outcome: the waiter's probe reads fresh state after
every wake-up, and without notifications (a watch that cannot be opened, a
dropped stream) it falls back to its poll interval. A watch in a "never runs"
window only makes the window look more often.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# Server-side timeout of one watch request; the thread opens the next one until stopped.
WATCH_SECONDS = 30


class Changes:
    """Notifications from watch requests, as an interruptible sleep."""

    def __init__(self, watches: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        self._watches = watches
        # A count of notifications, and per waiting thread the count it last saw: several threads
        # (Case.each) sleep on one Changes, and each must wake for a change it has not seen yet.
        self._changed = threading.Condition()
        self._generation = 0
        self._seen = threading.local()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._responses: list[Any] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> "Changes":
        for call, args in self._watches:
            thread = threading.Thread(target=self._follow, args=(call, args), name="rcc-watch", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`; return early if something changed since this thread's last sleep."""
        with self._changed:
            if self._generation == getattr(self._seen, "generation", 0):
                self._changed.wait(seconds)
            self._seen.generation = self._generation

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def stop(self) -> None:
        """End every watch at once (the blocked reads are shut down), then let the threads finish."""
        self._stopped.set()
        with self._lock:
            responses, self._responses = self._responses, []
        for response in responses:
            _shutdown(response)
        for thread in self._threads:
            thread.join(timeout=2)

    def _follow(self, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while not self._stopped.is_set():
            try:
                response = call(*args, watch=True, _preload_content=False, timeout_seconds=WATCH_SECONDS)
            except Exception:  # noqa: BLE001 - no watch: the waiter polls at its interval
                if self._stopped.wait(1.0):
                    return
                continue
            with self._lock:
                if self._stopped.is_set():
                    _shutdown(response)
                    return
                self._responses.append(response)
            try:
                for _chunk in response.stream(amt=None, decode_content=False):
                    self._notify()
            except Exception:  # noqa: BLE001 - shut down by stop(), or the stream dropped; reopen or end
                pass
            finally:
                with self._lock:
                    if response in self._responses:
                        self._responses.remove(response)
                _close(response)


def _shutdown(response: Any) -> None:
    try:
        response.shutdown()
    except Exception:  # noqa: BLE001 - already closed
        pass


def _close(response: Any) -> None:
    """Close (not release): a connection whose read was shut down must not go back to the pool."""
    try:
        response.close()
    except Exception:  # noqa: BLE001 - already closed
        pass
