"""CRI-O as a local node's CRI: its config, command line, readiness, images and evidence.

The node's CRI-O runs with every path under the node's folder (crio_config.py), the cgroupfs
manager like the kubelets, and exactly the handlers the topology gives the node. What the
suite asks of it is answered by CRI-O itself: the handler tables from the running daemon's
configuration (its inspect endpoint `/config`, what `crio status config` prints), the handler
a sandbox ran with from `crictl inspectp` (CRI-O 1.34 leaves the status field empty; the
annotation `io.kubernetes.cri-o.RuntimeHandler` of the sandbox's OCI spec holds it, and the
evidence names which of the two was read).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

from clusters.capabilities import missing_capabilities, wrapper_script
from clusters.local import config
from clusters.toolbox import host, images
from clusters.toolbox.binaries import Binaries, GoComponent
from clusters.local.cri.crio_config import (ANNOTATION_SOURCE, CONMON, HANDLER_ANNOTATION, POLICY, REGISTRIES_ENV,
                                            CRIO_VERSION, STATUS_SOURCE, CrioPaths, crio_component, crio_config,
                                            oom_score_wrapper)
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import NodeLayout
from clusters.toolbox.runtimes import runtime_for
from clusters.local.topology import NodeSpec, Topology

# CRI-O's built-in configuration always has a `crun` table (runtime_path looked up in PATH).
BUILTIN_HANDLER = "crun"
# skopeo (containers/image) keeps its blob-info cache here as root, with no flag to move it.
SKOPEO_CACHE_PARENT = Path("/var/lib/containers")


class CrioCRI:
    """One node's CRI-O, as the local cluster configures, starts, queries and stops it."""

    kind = "crio"

    def __init__(self, spec: NodeSpec, layout: NodeLayout, topology: Topology) -> None:
        self.spec = spec
        self.layout = layout
        self.topology = topology
        self.paths = CrioPaths(layout.root)
        self.version = spec.cri_version or CRIO_VERSION
        self._alias = "" if self.version == CRIO_VERSION else f"@{self.version}"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.paths.socket}"

    def components(self) -> tuple[GoComponent, ...]:
        return (crio_component(self.version),)

    def write_config(self, binaries: Binaries, runtime_paths: dict[str, Path]) -> None:
        """crio.conf with one table per handler, plus the files CRI-O would read from /etc."""
        for tool in (CONMON, Path(shutil.which("skopeo") or "/usr/bin/skopeo")):
            if not os.access(tool, os.X_OK):
                raise ClusterError(f"{tool} is missing for the CRI-O node {self.spec.name}; "
                                   f"run: apt-get install -y conmon skopeo")
        for folder in (self.paths.root, self.paths.config_dir, self.paths.wrappers, self.layout.cni_conf_dir,
                       self.layout.cni_ipam_dir):
            folder.mkdir(parents=True, exist_ok=True)
        tables = {}
        for handler in self.spec.handlers:
            runtime = self.topology.runtimes[handler.runtime]
            path = self._front(runtime_paths[runtime.name], runtime.name)
            tables[handler.name] = runtime_for(runtime).crio_table(path, self.paths.runtime_root(handler.name))
        if BUILTIN_HANDLER not in tables:
            # A table whose runtime does not exist: CRI-O drops it at start ("is being ignored"),
            # so the node has only the handlers the topology gives it.
            tables[BUILTIN_HANDLER] = {"runtime_path": str(self.paths.root / "not-configured" / BUILTIN_HANDLER)}
        settings = crio_config(self.paths, tables, self.spec.default_handler.name, stream_address=self.spec.address,
                             pinns=binaries[f"pinns{self._alias}"], pause_image=images.PAUSE_IMAGE,
                             cni_conf_dir=self.layout.cni_conf_dir, cni_bin_dir=binaries.cni_dir)
        self.paths.config.write_text(tomli_w.dumps(settings))
        self.paths.policy.write_text(json.dumps(POLICY))
        self.paths.registries.write_text("")
        (self.layout.cni_conf_dir / "10-rcc.conflist").write_text(
            json.dumps(config.cni_config(self.spec, self.layout), indent=2))

    def _front(self, real: Path, runtime: str) -> Path:
        """Hosts without CAP_SYS_RESOURCE (this VM's bounding set lacks it) cannot lower
        oom_score_adj; CRI-O 1.34 has no `restrict_oom_score_adj` like containerd's, so a
        generated front raises negative scores to 0. CRI-O also grants a privileged container
        every capability the kernel knows (containerd grants the bounding set), which runc
        cannot apply there: a second front drops those the bounding set lacks, for `create`
        and `exec`. Elsewhere the runtime is called directly."""
        if not host.has_capability(host.CAP_SYS_RESOURCE):
            wrapper = self.paths.wrappers / f"{runtime}-oom-score"
            wrapper.write_text(oom_score_wrapper(real))
            wrapper.chmod(0o755)
            real = wrapper
        missing = missing_capabilities()
        if missing:
            wrapper = self.paths.wrappers / f"{runtime}-capabilities"
            wrapper.write_text(wrapper_script(sys.executable, str(real), missing))
            wrapper.chmod(0o755)
            real = wrapper
        return real

    def command(self, binaries: Binaries) -> tuple[list[str], dict[str, str]]:
        argv = [str(binaries[f"crio{self._alias}"]), "--config", str(self.paths.config), "--config-dir", str(self.paths.config_dir)]
        return argv, {"PATH": binaries.search_path, REGISTRIES_ENV: str(self.paths.registries)}

    def ready(self, binaries: Binaries) -> bool:
        if not self.paths.socket.exists():
            return False
        self._inspect("/info")
        return True

    def import_images(self, binaries: Binaries, archives: list[Path]) -> None:
        """Copy each OCI archive into the node's containers-storage under the name it carries."""
        if not SKOPEO_CACHE_PARENT.exists():
            self._created_cache_marker.touch()
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

        The daemon's own rendering, after it merged its built-in defaults and dropped tables whose
        runtime it could not find: exactly the handlers it will run.
        """
        loaded = tomllib.loads(self._inspect("/config"))
        return sorted(loaded["crio"]["runtime"]["runtimes"])

    def sandbox_handler(self, inspectp: dict) -> tuple[str, str]:
        """(handler, where it was read): the CRI status field, else CRI-O's annotation."""
        handler = inspectp.get("status", {}).get("runtimeHandler") or ""
        if handler:
            return handler, STATUS_SOURCE
        annotations = inspectp.get("info", {}).get("runtimeSpec", {}).get("annotations", {})
        return annotations.get(HANDLER_ANNOTATION, ""), ANNOTATION_SOURCE

    def cleanup(self) -> None:
        """conmon monitors live in the Pods' cgroups (the cluster kills those); what is left is
        skopeo's blob-info cache folder, removed when this node's import created it."""
        if self._created_cache_marker.exists():
            shutil.rmtree(SKOPEO_CACHE_PARENT, ignore_errors=True)
            self._created_cache_marker.unlink()

    @property
    def _created_cache_marker(self) -> Path:
        return self.paths.root / "created-var-lib-containers"

    def _inspect(self, path: str) -> str:
        """GET on CRI-O's inspect endpoint, served on its CRI socket (what `crio status` does)."""
        connection = _UnixHTTPConnection(self.paths.socket)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read().decode()
        finally:
            connection.close()
        if response.status != 200:
            raise ClusterError(f"CRI-O on {self.spec.name} answered {response.status} for {path}: {body[:200]}")
        return body


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 10) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.unix_path))
