"""crun: a second, independent OCI runtime (C), taken from the host (Debian's `crun` package).

Debian bookworm's crun 1.8.1 accepts runtime-spec 1.0.x only; the topology pins `ociVersion`
and a generated front rewrites each bundle before exec'ing it (containerd's base_runtime_spec
does not apply to sandboxes, so the pin cannot be done in containerd's config).
"""

from __future__ import annotations

from clusters.toolbox.runtimes.common import RuncCompatible


class Crun(RuncCompatible):
    type = "crun"  # taken from the host: nothing to build


CRUN = Crun()
