"""gVisor (runsc): a user-space kernel, run by containerd through gVisor's own shim.

runsc and its containerd shim come from one Go module. containerd does not call runsc: it
starts `containerd-shim-runsc-v1` (runtime_type io.containerd.runsc.v1), which reads a
runsc.toml (which runsc, its state root, its flags) and calls runsc. So a runsc runtime is a
small folder per topology runtime: links to both binaries and the runsc.toml beside them.

On hosts whose processes lack CAP_SYS_RESOURCE the shim is built with a reviewed patch
(patches/gvisor-shim-oom-score.patch says why); elsewhere it is built as upstream ships it.
The two builds have different cache keys.
"""

from __future__ import annotations

from pathlib import Path

import tomli_w

from clusters.toolbox import host
from clusters.toolbox.binaries import Binaries, GoComponent
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.runtimes.common import resolved_binary
from clusters.toolbox.topology_records import Runtime

GVISOR_MODULE = "gvisor.dev/gvisor"
GVISOR_VERSION = "v0.0.0-20260905035102-160fafc42237"
SHIM_OOM_PATCH = Path(__file__).with_name("patches") / "gvisor-shim-oom-score.patch"
# containerd names a shim after its runtime_type: io.containerd.runsc.v1 -> containerd-shim-runsc-v1.
RUNSC_SHIM = "io.containerd.runsc.v1"
SHIM_BINARY = "containerd-shim-runsc-v1"
SHIM_OPTIONS_TYPE = "io.containerd.runsc.v1.options"
CONFIG_FILE = "runsc.toml"
# systrap is gVisor's default; said explicitly because kvm hangs on hosts whose /dev/kvm is
# not hardware virtualisation (PVM here), and ptrace is slower.
RUNSC_FLAGS = {"platform": "systrap"}


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


def shim_config(runsc: Path, root: Path, flags: dict[str, str] | None = None) -> dict:
    """The shim's runsc.toml: which runsc it calls, runsc's state root, and runsc's flags (the topology's
    `flags` added to the project's own)."""
    return {"binary_name": str(runsc), "root": str(root), "runsc_config": {**RUNSC_FLAGS, **(flags or {})}}


class Runsc:
    type = "runsc"

    def components(self) -> tuple[GoComponent, ...]:
        return (gvisor_component(),)

    def executable(self, runtime: Runtime, binaries: Binaries, folder: Path) -> Path:
        """`folder/<runtime>/runsc`, a link to runsc, beside the shim's link and runsc.toml.

        A host runsc (an absolute `binary:`) needs its shim next to it, as gVisor's releases ship them.
        """
        runsc = resolved_binary(runtime, binaries)
        shim = runsc.with_name(SHIM_BINARY) if runtime.from_host else binaries[SHIM_BINARY]
        for binary in (runsc, shim):
            if not binary.exists():
                raise ClusterError(f"runtime {runtime.name}: {binary} is missing; install gVisor's runsc and "
                                   f"{SHIM_BINARY} side by side, or use `binary: runsc` to have them built")
        own = folder / runtime.name
        own.mkdir(parents=True, exist_ok=True)
        for link, target in ((own / "runsc", runsc), (own / SHIM_BINARY, shim)):
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        (own / CONFIG_FILE).write_text(tomli_w.dumps(shim_config(own / "runsc", own / "root", dict(runtime.flags))))
        return own / "runsc"

    def containerd_table(self, path: Path) -> dict:
        return {
            "runtime_type": RUNSC_SHIM,
            "runtime_path": str(path.with_name(SHIM_BINARY)),
            "options": {"TypeUrl": SHIM_OPTIONS_TYPE, "ConfigPath": str(path.with_name(CONFIG_FILE))},
        }

    def crio_table(self, path: Path, root: Path) -> dict:
        raise ClusterError("runsc (gVisor) on CRI-O is not supported by the local cluster yet; "
                           "give the runsc handler to a node with `cri: containerd`")


RUNSC = Runsc()
