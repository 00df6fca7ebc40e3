"""gVisor (runsc): a user-space kernel, run by containerd through gVisor's own shim.

Both binaries come from one Go module. On hosts whose processes lack CAP_SYS_RESOURCE
the shim is built with a reviewed patch (patches/gvisor-shim-oom-score.patch says why);
elsewhere it is built as upstream ships it. The two builds have different cache keys.
"""

from __future__ import annotations

from pathlib import Path

from clusters.local import host
from clusters.local.binaries import GoComponent

GVISOR_MODULE = "gvisor.dev/gvisor"
GVISOR_VERSION = "v0.0.0-20260905035102-160fafc42237"
SHIM_OOM_PATCH = Path(__file__).with_name("patches") / "gvisor-shim-oom-score.patch"
# containerd finds a shim by its runtime_type: io.containerd.runsc.v1 -> containerd-shim-runsc-v1.
SHIM_BINARY = "containerd-shim-runsc-v1"


def gvisor_component(needs_oom_patch: bool | None = None) -> GoComponent:
    """runsc and its containerd shim, patched only where the host cannot lower OOM scores."""
    if needs_oom_patch is None:
        needs_oom_patch = not host.has_capability(host.CAP_SYS_RESOURCE)
    return GoComponent(
        name="gvisor",
        module=GVISOR_MODULE,
        version=GVISOR_VERSION,
        commands={"runsc": f"{GVISOR_MODULE}/runsc", SHIM_BINARY: f"{GVISOR_MODULE}/shim"},
        ldflags=f"-s -w -X {GVISOR_MODULE}/runsc/version.version={GVISOR_VERSION}",
        patches=(SHIM_OOM_PATCH,) if needs_oom_patch else (),
    )
