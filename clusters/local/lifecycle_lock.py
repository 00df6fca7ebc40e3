"""One `up` or `down` of a local cluster at a time, across processes.

`up` reuses a healthy cluster and cleans up one that is not: without this lock a second run
starting while the first is still bringing the cluster up finds it "not healthy" and tears it
down under the first (seen here: a CI run lost its cluster to a second pytest). With it, the
second waits, then finds the cluster healthy and reuses it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from clusters.toolbox.errors import ClusterError

WAIT_SECONDS = 900.0  # a cold build of every binary happens inside `up`


@contextmanager
def exclusive(path: Path, what: str, progress: Callable[[str], None], wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock on `path` (made if missing); say once that we wait, give up after `wait` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"{what} is still busy after {wait:.0f}s (another `up` or `down` holds "
                                       f"{path}); wait for it, or find it with `fuser {path}`") from None
                if not told:
                    progress(f"{what}: another process is bringing it up or down; waiting for it")
                    told = True
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing releases the lock
