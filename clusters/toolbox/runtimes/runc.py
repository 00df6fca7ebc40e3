"""runc: the reference OCI runtime, built from the Go module proxy.

containerd 2.4 writes runtime-spec 1.3 bundles and Debian bookworm's runc 1.1.5 fails on them
(`can't get final child's PID`), so the project builds runc itself, with libseccomp (cgo) so the
RuntimeDefault seccomp profile can be applied.
"""

from __future__ import annotations

from clusters.toolbox.binaries import GoComponent
from clusters.toolbox.runtimes.common import RuncCompatible

RUNC_VERSION = "v1.3.3"
RUNC_COMPONENT = GoComponent(name="runc", module="github.com/opencontainers/runc", version=RUNC_VERSION,
                             commands={"runc": "github.com/opencontainers/runc"}, cgo=True, tags="seccomp",
                             ldflags=f"-s -w -X main.version={RUNC_VERSION.lstrip('v')}")


class Runc(RuncCompatible):
    type = "runc"

    def components(self) -> tuple[GoComponent, ...]:
        return (RUNC_COMPONENT,)


RUNC = Runc()
