"""CRI-O as a node's CRI: its config, command line, readiness, images and evidence.

The node's CRI-O runs with every path under the node's folder (crio_config.py), the
cgroupfs manager like the kubelets, and exactly the handlers the topology gives the node.
What the suite asks of a node's CRI is answered from CRI-O itself: its handler tables
from the running daemon's configuration (`crio status config`), the handler a sandbox ran
with from `crictl inspectp` (CRI-O 1.34 leaves the status field empty, so the annotation
`io.kubernetes.cri-o.RuntimeHandler` of the sandbox's OCI spec is read, and the evidence
names which of the two it came from).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import tomli_w

from clusters.local import host, images
from clusters.local.binaries import Binaries, GoComponent
from clusters.local.cri.crio_config import (ANNOTATION_SOURCE, CONMON, HANDLER_ANNOTATION, POLICY, REGISTRIES_ENV,
                                            STATUS_SOURCE, CrioPaths, crio_component, crio_config,
                                            oom_score_wrapper, runtime_table)
from clusters.local.errors import ClusterError
from clusters.local.layout import NodeLayout
from clusters.local.topology import NodeSpec

# CRI-O's built-in configuration always has a `crun` table (runtime_path looked up in PATH).
BUILTIN_HANDLER = "crun"


class CrioNode:
    """One node's CRI-O, as the local cluster starts, queries and stops it."""

    kind = "crio"

    def __init__(self, spec: NodeSpec, layout: NodeLayout, binaries: Binaries, cni_bin_dir: Path,
                 pause_image: str = images.PAUSE_IMAGE) -> None:
        self.spec = spec
        self.layout = layout
        self.binaries = binaries
        self.cni_bin_dir = cni_bin_dir
        self.pause_image = pause_image
        self.paths = CrioPaths(layout.root)

    @staticmethod
    def components() -> tuple[GoComponent, ...]:
        return (crio_component(),)

    @property
    def endpoint(self) -> str:
        return f"unix://{self.paths.socket}"

    def write_config(self, runtime_paths: dict[str, Path]) -> None:
        """crio.conf with one table per handler, plus the files CRI-O would read from /etc."""
        for tool in (CONMON, Path(shutil.which("skopeo") or "/usr/bin/skopeo")):
            if not os.access(tool, os.X_OK):
                raise ClusterError(f"{tool} is missing for the CRI-O node {self.spec.name}; "
                                   f"run: apt-get install -y conmon skopeo")
        for folder in (self.paths.root, self.paths.config_dir, self.paths.run, self.paths.wrappers):
            folder.mkdir(parents=True, exist_ok=True)
        tables = {h.name: runtime_table(self._runtime_path(runtime_paths[h.runtime], h.runtime))
                  for h in self.spec.handlers}
        if BUILTIN_HANDLER not in tables:
            # A table whose runtime does not exist: CRI-O drops it at start ("is being ignored"),
            # so the node has only the handlers the topology gives it.
            tables[BUILTIN_HANDLER] = {"runtime_path": str(self.paths.root / "not-configured" / BUILTIN_HANDLER)}
        config = crio_config(self.paths, tables, self.spec.default_handler.name, stream_address=self.spec.address,
                             pinns=self.binaries["pinns"], pause_image=self.pause_image,
                             cni_conf_dir=self.layout.cni_conf_dir, cni_bin_dir=self.cni_bin_dir)
        self.paths.config.write_text(tomli_w.dumps(config))
        self.paths.policy.write_text(json.dumps(POLICY))
        self.paths.registries.write_text("")

    def _runtime_path(self, real: Path, runtime: str) -> Path:
        """Without CAP_SYS_RESOURCE, a front that raises negative oom_score_adj values to 0."""
        if host.has_capability(host.CAP_SYS_RESOURCE):
            return real
        wrapper = self.paths.wrappers / f"{runtime}-oom-score"
        wrapper.write_text(oom_score_wrapper(real))
        wrapper.chmod(0o755)
        return wrapper

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv = [str(self.binaries["crio"]), "--config", str(self.paths.config),
                "--config-dir", str(self.paths.config_dir)]
        return argv, {**os.environ, "PATH": self.binaries.search_path, REGISTRIES_ENV: str(self.paths.registries)}

    def ready(self) -> bool:
        if not self.paths.socket.exists():
            return False
        self._crio("status", "--socket", str(self.paths.socket), "info")
        return True

    def import_images(self, archives: list[Path]) -> None:
        """Copy each OCI archive into the node's containers-storage, under the name it carries."""
        for archive in archives:
            reference = images.archive_reference(archive)
            result = subprocess.run(
                ["skopeo", "--policy", str(self.paths.policy), "--registries-conf", str(self.paths.registries),
                 "copy", "--quiet", f"oci-archive:{archive}",
                 f"containers-storage:{self.paths.storage_spec}{reference}"],
                capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise ClusterError(f"skopeo could not import {archive.name} into the CRI-O node {self.spec.name}: "
                                   f"{result.stderr.strip()[:300]}")

    def runtime_tables(self) -> list[str]:
        """The `[crio.runtime.runtimes.NAME]` tables of the running CRI-O (`crio status config`).

        The daemon's own rendering, after it merged its built-in defaults and dropped tables
        whose runtime it could not find: exactly the handlers it will run.
        """
        config = tomllib.loads(self._crio("status", "--socket", str(self.paths.socket), "config"))
        return sorted(config["crio"]["runtime"]["runtimes"])

    @staticmethod
    def sandbox_handler(inspectp: dict) -> tuple[str, str]:
        """(handler, where it was read): the CRI status field, else CRI-O's annotation."""
        handler = inspectp.get("status", {}).get("runtimeHandler") or ""
        if handler:
            return handler, STATUS_SOURCE
        annotations = inspectp.get("info", {}).get("runtimeSpec", {}).get("annotations", {})
        return annotations.get(HANDLER_ANNOTATION, ""), ANNOTATION_SOURCE

    def cleanup(self) -> None:
        """Nothing outside the node's folder: its mounts go with it (the cluster unmounts it)."""

    def _crio(self, *args: str) -> str:
        result = subprocess.run([str(self.binaries["crio"]), *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise ClusterError(f"crio {' '.join(args[:1])} on {self.spec.name} failed: {result.stderr.strip()[:300]}")
        return result.stdout
