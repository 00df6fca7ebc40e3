"""Bring a local multi-node, multi-handler cluster up and down, component by component.

`up` is idempotent (a healthy running cluster is reused) and records every pid
and host change in the state file before acting on it, so `down`, even after a
crash, knows exactly what to stop and undo.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import yaml

from clusters.local import config, lifecycle_lock, processes
from clusters.toolbox import host, images, platform_classes, runtimes
from clusters.toolbox.binaries import Binaries, default_cache_dir, ensure_binaries
from clusters.toolbox.kubernetes_source import pause_source
from clusters.local.cri import NodeCRI, cri_for
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import DEFAULT_STATE_ROOT, ClusterLayout, NodeLayout
from clusters.local.certificates import control_plane_certificates, control_plane_kubeconfigs, node_credentials
from clusters.local.pki import APISERVER_KUBELET_CLIENT_BINDING, ClusterPKI, Kubeadm
from clusters.local import host_state
from clusters.local.host_state import HostState
from clusters.local.processes import ProcessRecord
from clusters.local.readiness import ApiReadiness, http_ok
from clusters.local.topology import Topology

Progress = Callable[[str], None]

# Hard-coded in the kubelet's device manager (pluginapi.KubeletSocket), outside --root-dir.
KUBELET_DEVICE_PLUGIN_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")


class LocalCluster:
    """A cluster of upstream components as host processes, as described by a Topology."""

    def __init__(self, topology: Topology, state_root: Path = DEFAULT_STATE_ROOT, cache_dir: Path | None = None,
                 apiserver_extra_args: tuple[str, ...] = (), progress: Progress = print) -> None:
        self.topology = topology
        self.layout = ClusterLayout.for_cluster(topology.name, state_root)
        self.cache_dir = cache_dir or default_cache_dir()
        self.apiserver_extra_args = apiserver_extra_args
        self.progress = progress
        self.nodes = [self.layout.node(n.name, i) for i, n in enumerate(topology.nodes, start=1)]
        self.cris: dict[str, NodeCRI] = {layout.name: cri_for(spec, layout, topology)
                                         for spec, layout in zip(topology.nodes, self.nodes)}
        self._state = HostState()
        self._state_lock = threading.Lock()
        self._api = ApiReadiness(self.layout.kubeconfig)

    # --- public lifecycle ---------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.topology.ports.apiserver}"

    @property
    def fingerprint(self) -> str:
        """Identifies what was asked for: the topology file's text and the extra API server flags."""
        text = self.topology.source.read_text() + "\0" + "\0".join(self.apiserver_extra_args)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def ensure_binaries(self, cache_dir: Path | None = None) -> Binaries:
        """Locate or build every binary this topology needs: the cluster's, its runtimes' and CRIs'.

        `cache_dir` overrides the cluster's cache (the cold-build benchmark builds into an empty one).
        """
        used = [self.topology.runtimes[name] for name in {h.runtime for n in self.topology.nodes for h in n.handlers}]
        extra = runtimes.components_for(used) + tuple(c for cri in self.cris.values() for c in cri.components())
        unique = tuple({c.key: c for c in extra}.values())
        return ensure_binaries(self.topology.kubernetes_version, {r.binary for r in used if r.from_host},
                               cache_dir or self.cache_dir, progress=self.progress, extra=unique)

    def node_layout(self, name: str) -> NodeLayout:
        return next(n for n in self.nodes if n.name == name)

    def up(self) -> Path:
        """Start the cluster (or reuse a healthy one) and return the admin kubeconfig."""
        host.require_root()
        with self._lifecycle_lock():
            kubeconfig = self._up()
            platform_classes.sync(kubeconfig, self.topology.name, self.topology.runtime_classes, self.progress)
            return kubeconfig

    def down(self, keep_logs: bool = False) -> None:
        """Stop everything `up` started and undo every host change it recorded."""
        host.require_root()
        with self._lifecycle_lock():
            self._down(keep_logs)

    def _lifecycle_lock(self):
        return lifecycle_lock.exclusive(self.layout.root.parent / f".{self.topology.name}.lock",
                                        f"cluster {self.topology.name}", self.progress)

    def _up(self) -> Path:
        begin = time.monotonic()
        if self.is_healthy():
            self.progress(f"cluster {self.topology.name}: already up and healthy, reusing it")
            return self.kubeconfig
        if self.layout.state_file.exists() or self.layout.root.exists():
            self.progress(f"cluster {self.topology.name}: cleaning up an earlier run that is not healthy")
            self._down()
        host.require_cgroup_v1_or_v2()
        host.require_free_ports(config.endpoints(self.topology))
        binaries = self.ensure_binaries()
        archives = self._image_archives()
        try:
            self._start(binaries, archives)
        except BaseException:
            self.progress(f"cluster {self.topology.name}: start failed, stopping what was started")
            self._down(keep_logs=True)
            raise
        self.progress(f"cluster {self.topology.name}: all {len(self.nodes)} nodes Ready "
                      f"in {time.monotonic() - begin:.1f}s; kubeconfig {self.kubeconfig}")
        return self.kubeconfig

    def _down(self, keep_logs: bool = False) -> None:
        state = self._load_state()
        by_name = {p.name: p for p in state.processes}
        # Kubelets first (nothing restarts the Pods), then every node's Pods through its CRI, then
        # the rest, each step on all nodes at once; etcd last. The API server keeps no state of its
        # own and its graceful shutdown took 1.1 s, so it gets 0.3 s before SIGKILL.
        processes.stop_all([r for n in self.nodes if (r := by_name.get(f"kubelet-{n.name}"))])
        live_cri = [n for n in self.nodes if (r := by_name.get(self._cri_record_name(n))) and processes.is_alive(r)]
        with ThreadPoolExecutor(max_workers=max(len(live_cri), 1)) as pool:
            list(pool.map(self._remove_all_pods, live_cri))
        processes.stop_all([r for r in reversed(state.processes) if r.name not in ("kube-apiserver", "etcd")])
        processes.stop_all([r for r in state.processes if r.name == "kube-apiserver"], grace=0.3)
        processes.stop_all([r for r in state.processes if r.name == "etcd"])
        for node in self.nodes:
            self.cris[node.name].cleanup()
            host.kill_cgroup_tasks(node.cgroup_root)
            host.unmount_all_under(node.root)
            host.delete_link(node.bridge)
            host.remove_cgroup_root(node.cgroup_root)
        host.unmount_all_under(self.layout.root)
        added = host.iptables_chains() - set(state.iptables_before) if state.iptables_before else set()
        host.remove_iptables_chains({c for c in added if c.rsplit("/", 1)[1].startswith("KUBE-")})
        shared = {duty: getattr(state, duty) for duty in host_state.DUTIES}
        if any(shared.values()) and self._hand_over(shared):
            self.progress(f"cluster {self.topology.name}: another local cluster still runs; it inherits the "
                          f"host-wide changes to undo")
        else:
            host_state.undo_host_wide(state, KUBELET_DEVICE_PLUGIN_SOCKET.parents[1])
        self._remove_state_folder(keep_logs)
        self._state = HostState()
        self.progress(f"cluster {self.topology.name}: down, host restored")

    def _hand_over(self, shared: dict[str, bool | int]) -> bool:
        """Pass host-wide undo duties (hugetlb mount, shared folders, a raised limit) to a cluster still running."""
        others = self.layout.other_clusters()
        if not others:
            return False
        host_state.hand_over(others[0], shared)
        return True

    def is_healthy(self) -> bool:
        """All recorded processes alive, the API server ready, every node Ready."""
        if not self.layout.state_file.exists():
            return False
        state = self._load_state()
        if not state.processes or not all(processes.is_alive(p) for p in state.processes):
            return False
        if state.fingerprint != self.fingerprint:
            return False  # same name, other shape: a variant must not reuse the default cluster
        return self._api.ready() and self._api.node_states()[1] == {n.name for n in self.topology.nodes}

    def status(self) -> dict:
        state = self._load_state()
        return {
            "name": self.topology.name,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "healthy": self.is_healthy(),
            "processes": {p.name: {"pid": p.pid, "alive": processes.is_alive(p), "log": p.log}
                          for p in state.processes},
        }

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> str:
        """A kubeconfig (text) for client certificate `user` in `groups`, signed by this cluster's CA."""
        return Kubeadm(self.ensure_binaries()["kubeadm"], self.topology, self.layout).user_kubeconfig(user, groups)

    def log_paths(self) -> dict[str, Path]:
        return {p.name: Path(p.log) for p in self._load_state().processes}

    # --- start sequence -----------------------------------------------------------

    def _start(self, binaries: Binaries, archives: list[Path]) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.layout.root, 0o700)
        self._state = HostState(fingerprint=self.fingerprint)
        self._state.iptables_before = sorted(host.iptables_chains())
        self._state.created_run_containerd = not Path("/run/containerd").exists()
        self._state.created_var_lib_kubelet = not KUBELET_DEVICE_PLUGIN_SOCKET.parents[1].exists()
        self._state.mounted_hugetlb = host.mount_hugetlb_if_needed()
        self._state.raised_inotify_from = host.raise_inotify_instances_if_needed(
            host.INOTIFY_CONTROL_PLANE + host.INOTIFY_PER_NODE * len(self.nodes))
        self._save_state()
        kubeadm = Kubeadm(binaries["kubeadm"], self.topology, self.layout)
        pki = control_plane_certificates(kubeadm)
        self.progress("pki: kubeadm's certificates ready")
        runtime_paths = self._runtime_paths(binaries)
        with ThreadPoolExecutor(max_workers=len(self.nodes) + 1) as pool:
            # The kubeconfigs, each node's credentials, its containerd and image imports overlap with
            # the start of etcd and the API server.
            kubeconfigs = pool.submit(control_plane_kubeconfigs, kubeadm)
            node_jobs = [pool.submit(self._start_node, kubeadm, binaries, runtime_paths, node, archives)
                         for node in self.nodes]
            self._start_control_plane(binaries, pki, kubeconfigs)
            for job in node_jobs:
                job.result()
        for node in self.nodes:
            self._start_kubelet(binaries, node)
        self._await_nodes()

    def _start_control_plane(self, binaries: Binaries, pki: ClusterPKI, kubeconfigs: Future[None]) -> None:
        self.layout.etcd_data.mkdir(parents=True, exist_ok=True)
        os.chmod(self.layout.etcd_data, 0o700)
        etcd = self._launch("etcd", [str(binaries["etcd"]), *config.etcd_args(self.topology, self.layout, pki)])
        self._await(etcd, lambda: http_ok(f"https://127.0.0.1:{self.topology.ports.etcd_client}/health",
                                          pki.etcd_ca.cert, pki.etcd_healthcheck_client), timeout=30)
        apiserver = self._launch("kube-apiserver", [
            str(binaries["kube-apiserver"]),
            *config.apiserver_args(self.topology, self.layout, pki, self.apiserver_extra_args)])
        kubeconfigs.result()  # the admin one is how the API server is asked whether it is ready
        self._await(apiserver, lambda: self._api.ready(), timeout=90)
        self._api.ensure_cluster_role_binding(APISERVER_KUBELET_CLIENT_BINDING)
        cm = self._launch("kube-controller-manager", [
            str(binaries["kube-controller-manager"]),
            *config.controller_manager_args(self.topology, self.layout, pki)])
        scheduler = self._launch("kube-scheduler", [str(binaries["kube-scheduler"]),
                                                    *config.scheduler_args(self.topology, self.layout, pki)])
        # /healthz needs no client certificate (always allowed); the server is verified against the CA.
        self._await(cm, lambda: http_ok(f"https://127.0.0.1:{self.topology.ports.controller_manager}/healthz",
                                        pki.ca.cert), timeout=60)
        self._await(scheduler, lambda: http_ok(f"https://127.0.0.1:{self.topology.ports.scheduler}/healthz",
                                               pki.ca.cert), timeout=60)

    def _runtime_paths(self, binaries: Binaries) -> dict[str, Path]:
        """The executable a CRI calls for each runtime: the binary, or a generated front for it."""
        folder = self.layout.root / "runtimes"
        return {r.name: runtimes.runtime_for(r).executable(r, binaries, folder) for r in self.topology.runtimes.values()}

    def cri(self, node_name: str) -> NodeCRI:
        return self.cris[node_name]

    def _cri_record_name(self, node: NodeLayout) -> str:
        return f"{self.cris[node.name].kind}-{node.name}"

    def _start_node(self, kubeadm: Kubeadm, binaries: Binaries, runtime_paths: dict[str, Path], node: NodeLayout,
                    archives: list[Path]) -> None:
        node_credentials(kubeadm, self.topology.node(node.name), node)
        self._start_cri(binaries, runtime_paths, node, archives)

    def _start_cri(self, binaries: Binaries, runtime_paths: dict[str, Path], node: NodeLayout,
                   archives: list[Path]) -> None:
        cri = self.cris[node.name]
        node.kubelet_root.mkdir(parents=True, exist_ok=True)
        cri.write_config(binaries, runtime_paths)
        node.resolv_conf.write_text("")
        node.crictl_config.write_text(yaml.safe_dump(config.crictl_config(cri.endpoint)))
        host.create_cgroup_root(node.cgroup_root)
        host.create_bridge(node.bridge)
        argv, env = cri.command(binaries)
        record = self._launch(self._cri_record_name(node), argv, env={**os.environ, **env})
        self._await(record, lambda: cri.ready(binaries), timeout=30)
        cri.import_images(binaries, archives)

    def _start_kubelet(self, binaries: Binaries, node: NodeLayout) -> None:
        spec = self.topology.node(node.name)
        node.kubelet_config.write_text(yaml.safe_dump(config.kubelet_config(spec, node, ClusterPKI(self.layout.pki),
                                                                            self.cris[node.name].endpoint)))
        record = self._launch(f"kubelet-{node.name}", [str(binaries["kubelet"]), *config.kubelet_args(spec, node)],
                              env={**os.environ, "PATH": binaries.search_path})
        # Every kubelet binds the same hard-coded device-plugin socket (KUBELET_DEVICE_PLUGIN_SOCKET,
        # whatever --root-dir says); started together they race for it. One at a time, each
        # replaces the previous one's socket file, which is harmless without device plugins.
        self._await(record, lambda: http_ok(f"http://{spec.address}:10248/healthz"), timeout=60)

    def _await_nodes(self, timeout: float = 90) -> None:
        """Wait for registration, give each Node its loopback address, then wait for Ready.

        The kubelet refuses a loopback --node-ip ("nodeIP can't be loopback address") and then
        leaves Node.status.addresses as it finds them, so the address is set once from here: the
        API server reaches each kubelet on its own 127.0.0.x address.
        """
        wanted = {n.name for n in self.topology.nodes}
        silent = frozenset(n for n in wanted if self.cri_lists_handlers(n) is False)
        for name in sorted(silent):
            self.progress(f"node {name}: its CRI lists no runtime handlers (Node.status.runtimeHandlers stays empty)")
        patched: set[str] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            registered, ready = self._api.node_states(silent)
            for name in (registered & wanted) - patched:
                spec = self.topology.node(name)
                self._api.set_node_address(name, spec.address)
                patched.add(name)
                self.progress(f"node {name}: registered, address {spec.address}")
            if ready >= wanted and patched >= wanted and self._api.default_service_account_exists():
                self._save_state()
                return
            time.sleep(0.1)
        missing = sorted(wanted - self._api.node_states(silent)[1])
        logs = ", ".join(str(self.layout.log(f"kubelet-{n}")) for n in missing)
        raise ClusterError(f"nodes {', '.join(missing)} did not become Ready within {timeout:.0f}s; see {logs}")

    # --- helpers ------------------------------------------------------------------

    def _launch(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ProcessRecord:
        record = processes.start(name, argv, self.layout.log(name), env=env)
        with self._state_lock:
            self._state.processes.append(record)
        self._save_state()
        self.progress(f"{name}: started (pid {record.pid})")
        return record

    def _await(self, record: ProcessRecord, ready: Callable[[], bool], timeout: float) -> None:
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if not processes.is_alive(record):
                raise ClusterError(f"{record.name} exited during start-up; see {record.log}: "
                                   f"{processes.exit_hint(record)}")
            try:
                if ready():
                    self.progress(f"{record.name}: ready in {time.monotonic() - began:.1f}s")
                    return
            except (OSError, ValueError, subprocess.SubprocessError):
                pass
            time.sleep(0.05)  # each look is one local request or syscall; start-up waits on ten of these in turn
        raise ClusterError(f"{record.name} did not become ready within {timeout:.0f}s; see {record.log}")

    def _check_alive(self) -> None:
        for record in self._state.processes:
            if not processes.is_alive(record):
                raise ClusterError(f"{record.name} exited; see {record.log}: {processes.exit_hint(record)}")

    def crictl(self, node_name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run crictl against one node's CRI (the CRI's own view, as a node admin sees it)."""
        candidates = sorted((self.cache_dir / "bin").glob("cri-tools-*/crictl"))
        if not candidates:
            raise ClusterError(f"crictl is not in the cache {self.cache_dir}; run `rcc-local up` to build it")
        node = self.node_layout(node_name)
        return subprocess.run([str(candidates[-1]), "--config", str(node.crictl_config), *args],
                              capture_output=True, text=True, timeout=timeout)

    def cri_lists_handlers(self, node_name: str) -> bool | None:
        """Whether the node's CRI lists handlers in its own Status (`crictl info`: runtimeHandlers).

        The kubelet fills Node.status.runtimeHandlers from exactly that list; containerd 1.7 sends
        none. A probed capability, not a version number; None when the CRI cannot be asked.
        """
        try:
            info = self.crictl(node_name, "info", "-o", "json", timeout=30)
            return bool(json.loads(info.stdout).get("runtimeHandlers")) if info.returncode == 0 else None
        except (ClusterError, ValueError, AttributeError, subprocess.TimeoutExpired):
            return None

    def _remove_all_pods(self, node: NodeLayout) -> None:
        """Stop and remove every sandbox through the CRI, so CNI releases addresses and veths."""
        try:
            self.crictl(node.name, "rmp", "--all", "--force", timeout=120)
        except (ClusterError, subprocess.TimeoutExpired):
            pass

    def _image_archives(self) -> list[Path]:
        """The pause and test images every node imports, built once per Kubernetes version into the cache."""
        version = self.topology.kubernetes_version
        return images.ensure_node_archives(self.cache_dir / "images" / version, lambda: pause_source(version))

    # --- state file -----------------------------------------------------------------

    def _save_state(self) -> None:
        """Serialised: containerds are launched from worker threads."""
        with self._state_lock:
            self.layout.root.mkdir(parents=True, exist_ok=True)
            host_state.save(self._state, self.layout.state_file)

    def _load_state(self) -> HostState:
        """The state file is the truth: another cluster's `down` may have handed duties over to it."""
        return host_state.load(self.layout.state_file) or self._state

    def _remove_state_folder(self, keep_logs: bool) -> None:
        if not self.layout.root.exists():
            return
        if keep_logs and self.layout.logs.exists():
            for entry in self.layout.root.iterdir():
                if entry != self.layout.logs:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
            return
        shutil.rmtree(self.layout.root, ignore_errors=True)

