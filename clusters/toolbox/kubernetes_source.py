"""Upstream Kubernetes' source, from the Go module cache: what both providers build from it.

The local cluster and the kind node image both compile the pause image from upstream's own
`build/pause/linux/pause.c` (so it behaves exactly like registry.k8s.io/pause); `go mod download`
puts the module in the Go module cache (nothing to do when it is there already) and says where.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from clusters.toolbox.errors import ClusterError

PAUSE_C = "build/pause/linux/pause.c"


def go_module_dir(module: str, version: str) -> Path:
    """The folder of `module@version` in the Go module cache, downloaded first if missing."""
    if not shutil.which("go"):
        raise ClusterError(f"{module}@{version} is needed from the Go module cache and `go` is not installed; "
                           f"install Go")
    argv = ["go", "mod", "download", "-json", f"{module}@{version}"]
    result = subprocess.run(argv, cwd="/", env={**os.environ, "GOFLAGS": "-mod=mod"}, capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-300:]}")
    return Path(json.loads(result.stdout)["Dir"])


def kubernetes_source(version: str) -> Path:
    return go_module_dir("k8s.io/kubernetes", version)


def pause_source(version: str) -> Path:
    """Upstream's pause.c of this Kubernetes version."""
    source = kubernetes_source(version) / PAUSE_C
    if not source.exists():
        raise ClusterError(f"the pause source {source} is missing from the Go module cache; "
                           f"run `go clean -modcache` and try again")
    return source
