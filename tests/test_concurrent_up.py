"""Two `up`s of one local cluster at once: the second waits for the first and reuses its cluster.

Without the lifecycle lock the second found a cluster still starting, judged it unhealthy and
tore it down under the first (seen here when two test runs overlapped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusters.local.provider import LocalProvider

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_up_waits_for_the_first_and_reuses_its_cluster():
    cluster = LocalProvider(progress=lambda _m: None).cluster
    cluster.down()
    command = [sys.executable, "-m", "clusters.local", "up"]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)  # the first holds the lock and is starting processes
        second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
        first_out, _ = first.communicate(timeout=900)
        assert first.returncode == 0, first_out[-2000:]
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        assert "waiting for it" in second.stdout and "already up and healthy, reusing it" in second.stdout
        assert "cleaning up an earlier run" not in second.stdout
        assert cluster.is_healthy()
    finally:
        first.kill()
        cluster.down()
