"""Node evidence on an existing cluster (opt-in `--node-probe`): a privileged probe Pod per node.

The suite cannot log into a platform team's nodes, but a Pod can look: one Pod
per node, `hostPID` (the node's /proc: shims, runtimes, their cwd and root) and
privileged (to read other processes' /proc entries), with the host's
`/sys/fs/cgroup` mounted read-only, in a namespace of its own that the run
labels and that is PodSecurity `privileged` (only that one; test namespaces
stay `restricted`). It runs the run's test image (busybox is enough: no crictl
is needed) and answers through `exec`:

- the CRI's view of a sandbox: containerd starts each sandbox's shim in the
  sandbox's bundle, whose `config.json` carries the CRI's annotations (Pod UID,
  container type, runtime handler);
- the Pod cgroup: `/proc/<pid>/cgroup` of a process of the Pod names its cgroup
  path whatever the cgroup driver, read under the mounted /sys/fs/cgroup;
- the runtime: clusters/procfs.py, the same script the local provider runs;
- the CRI's runtime tables: the config file of the containerd the sandbox's shim
  talks to;
- on CRI-O nodes, the same facts from CRI-O's own files (clusters/existing/crio_probe.py).

The probe Pods are made once by the controller and removed with the run's other
namespaces; workers only exec into them (names follow from the run id and node).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import tomllib
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from clusters import pod_processes, procfs
from clusters.existing import crio_probe
from clusters.provider import RuntimeSighting, SandboxInfo

CGROUP_MOUNT = "/host/sys/fs/cgroup"
OPT_IN = "node evidence on an existing cluster is opt-in: --node-probe runs a privileged probe Pod per node"

# $1: the Pod UID (cgroupfs writes pod<uid>, systemd pod<uid with _>). One process of the Pod, its cgroups.
_FIND_CGROUP = r'''
u=$(echo "$1" | tr - _)
for f in $(grep -lE "pod($1|$u)" /proc/[0-9]*/cgroup 2>/dev/null); do
  cat "$f" 2>/dev/null && exit 0
done
'''
# The command line of the shim this exec runs under: up the parent chain (the first parent may still be
# `runc exec` on its way out, which leaves us to the shim: then look again).
_OWN_SHIM = r'''
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  p=$$
  while [ "${p:-0}" -gt 1 ]; do
    p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
    case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
      */containerd-shim*) tr '\000' ' ' < "/proc/$p/cmdline"; exit 0 ;;
    esac
  done
  sleep 0.2
done
'''
# The containerd processes on the node, with their command lines (which say their config file).
_FIND_CONTAINERD = r'''
for d in /proc/[0-9]*; do
  exe=$(readlink "$d/exe" 2>/dev/null) || continue
  [ "${exe##*/}" = containerd ] || continue
  printf 'CONTAINERD\t%s\t%s\n' "${d#/proc/}" "$(tr '\000' ' ' < "$d/cmdline")"
done
true
'''


# $1 the Pod UID, then `PID ROOT SOCKET` per containerd: the node's crictl where it has one (the CRI's
# own answer), else the CRI's sandbox record (JSON with the handler) in containerd's metadata store.
# Both outlive the sandbox's processes: the kubelet stops a finished Pod's sandbox but keeps its record.
_SANDBOX_RECORD = r'''
uid=$1; shift
while [ $# -ge 3 ]; do
  pid=$1 root=$2 socket=$3; shift 3
  for b in /usr/local/bin/crictl /usr/bin/crictl /opt/bin/crictl; do
    [ -x "/proc/$pid/root$b" ] || continue
    c="/proc/$pid/root$b --runtime-endpoint unix:///proc/$pid/root$socket"
    id=$($c pods --label "io.kubernetes.pod.uid=$uid" -q 2>/dev/null | head -n 1)
    [ -n "$id" ] && printf 'CRICTL\t%s\n' "$($c inspectp -o json "$id" | tr -d '\n')" && exit 0
    continue 2
  done
  strings -n 32 "/proc/$pid/root$root/io.containerd.metadata.v1.bolt/meta.db" 2>/dev/null \
    | grep -F "\"uid\":\"$uid\"" | grep -F '"RuntimeHandler":"' | grep -F '"Metadata":{"ID":"' | head -n 1 \
    | sed -n "s|.*\"Metadata\":{\"ID\":\"\([^\"]*\)\".*\"RuntimeHandler\":\"\([^\"]*\)\".*|RECORD\t\1\t\2\t$root|p" \
    | grep . && exit 0
done
true
'''


def _arg(args: list[str], flag: str) -> str | None:
    """The value after `flag` in an argv (or `flag=value`), if any."""
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def namespace_name(run_id: str) -> str:
    return f"rcc-probe-{run_id}"


def pod_name(node: str) -> str:
    """DNS-safe and unique per node, whatever the node's name."""
    return f"probe-{node[:40].rstrip('.-')}-{hashlib.sha1(node.encode()).hexdigest()[:6]}".replace(".", "-")


def probe_namespace(run_id: str, labels: dict[str, str]) -> dict[str, Any]:
    """`labels`: the run's labels (the suite's sweep finds the namespace by them)."""
    labels = {**labels, "pod-security.kubernetes.io/enforce": "privileged",
              "rcc.conformance.io/node-probe": "true"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace_name(run_id), "labels": labels}}


def probe_pod(node: str, labels: dict[str, str], image: str) -> dict[str, Any]:
    """hostPID + privileged, pinned with nodeName (no scheduler, any taint tolerated), cgroups read-only."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(node), "labels": dict(labels)},
        "spec": {
            "nodeName": node, "hostPID": True, "restartPolicy": "Never", "automountServiceAccountToken": False,
            "enableServiceLinks": False, "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "86400"],
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [{"name": "cgroup", "mountPath": CGROUP_MOUNT, "readOnly": True}],
            }],
            "volumes": [{"name": "cgroup", "hostPath": {"path": "/sys/fs/cgroup", "type": "Directory"}}],
        },
    }


def start_probes(core: CoreV1Api, run_id: str, labels: dict[str, str], image: str, nodes: list[str],
                 timeout: float) -> str | None:
    """Create the namespace and one probe Pod per node, wait until all run; None, or why node evidence is missing.

    Containerd and CRI-O nodes alike (clusters/existing/crio_probe.py reads CRI-O's).
    """
    namespace = namespace_name(run_id)
    core.create_namespace(probe_namespace(run_id, labels))
    for node in nodes:
        core.create_namespaced_pod(namespace, probe_pod(node, labels, image))

    def waiting() -> list[str]:
        return [n for n in nodes if core.read_namespaced_pod(pod_name(n), namespace).status.phase != "Running"]

    deadline = time.monotonic() + timeout
    while True:
        try:
            late = waiting()
        except ApiException:  # a probe that cannot be read is a missing capability, not a crash
            late = nodes
        if not late:
            return None
        if time.monotonic() > deadline:
            return f"the node probe Pods did not start on {', '.join(late)} (image {image}) within {timeout:.0f}s"
        time.sleep(1)


def stop_probes(core: CoreV1Api, run_id: str) -> None:
    try:
        core.delete_namespace(namespace_name(run_id), grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


_CONTAINERDS: dict[tuple[str, str], list[tuple[str, dict]]] = {}  # (probe namespace, node) -> containerds
_CRIOS: dict[tuple[str, str], list[crio_probe.Crio]] = {}  # (probe namespace, node) -> CRI-O daemons


class ProbeEvidence:
    """NodeEvidence and RuntimeEvidence through `exec` into the node's probe Pod."""

    def __init__(self, api: ApiClient, run_id: str) -> None:
        # stream() swaps its ApiClient's request method while it runs: a client of its own keeps that local.
        self.core = CoreV1Api(ApiClient(api.configuration))
        self.namespace = namespace_name(run_id)

    def run(self, node: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """argv in the probe Pod on `node`, as a finished process (stdout, stderr, exit code)."""
        ws = stream(self.core.connect_get_namespaced_pod_exec, pod_name(node), self.namespace, command=argv,
                    stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        ws.run_forever(timeout=timeout)
        out, err = ws.read_stdout() or "", ws.read_stderr() or ""
        code = ws.returncode if ws.returncode is not None else 1
        ws.close()
        return subprocess.CompletedProcess(argv, code, out, err)

    def script(self, node: str, script: str, *args: str) -> str:
        return self.run(node, ["sh", "-c", script, "sh", *args]).stdout

    def sandbox(self, node: str, namespace: str, pod: str, pod_uid: str) -> SandboxInfo | None:
        """The CRI's view of the Pod's sandbox: its crictl on the node, else containerd's record of it."""
        containerds = self._containerds(node)
        args = [field for pid, config in containerds
                for field in (pid, config.get("root", "/var/lib/containerd"),
                              config.get("grpc", {}).get("address", "/run/containerd/containerd.sock"))]
        for line in self.script(node, _SANDBOX_RECORD, pod_uid, *args).splitlines():
            kind, _, rest = line.partition("\t")
            if kind == "CRICTL":
                raw = json.loads(rest)
                return SandboxInfo(sandbox_id=raw.get("status", {}).get("id", ""),
                                   runtime_handler=raw.get("status", {}).get("runtimeHandler", ""),
                                   raw={**raw, "source": "crictl inspectp on the node"})
            if kind == "RECORD":
                sandbox_id, handler, root = rest.split("\t")
                return SandboxInfo(sandbox_id=sandbox_id, runtime_handler=handler,
                                   raw={"status": {"id": sandbox_id, "runtimeHandler": handler},
                                        "source": f"containerd's CRI record of the sandbox under {root}"})
        spec = crio_probe.sandbox_spec(self._stdout(node), self._crios(node), pod_uid)
        if spec is not None:
            notes = spec["annotations"]
            sandbox_id, handler = notes.get(crio_probe.SANDBOX_ID, ""), notes.get(crio_probe.HANDLER, "")
            return SandboxInfo(sandbox_id=sandbox_id, runtime_handler=handler, handler_source=crio_probe.SOURCE,
                               raw={"status": {"id": sandbox_id, "runtimeHandler": handler},
                                    "source": f"CRI-O's sandbox spec {spec['_path']}"})
        return None

    def _stdout(self, node: str) -> crio_probe.Run:
        return lambda argv: self.run(node, argv).stdout

    def _crios(self, node: str) -> list[crio_probe.Crio]:
        key = (self.namespace, node)
        if key not in _CRIOS:
            _CRIOS[key] = crio_probe.crios(self._stdout(node))
        return _CRIOS[key]

    def _containerds(self, node: str) -> list[tuple[str, dict]]:
        """The node's containerd processes and their parsed configs (several may share a host), cached."""
        key = (self.namespace, node)
        if key not in _CONTAINERDS:
            found = []
            for line in self.script(node, _FIND_CONTAINERD).splitlines():
                _, pid, cmdline = line.split("\t")
                args = cmdline.split()
                path = _arg(args, "--config") or _arg(args, "-c") or "/etc/containerd/config.toml"
                text = self.run(node, ["cat", f"/proc/{pid}/root{path}"])
                try:
                    config = tomllib.loads(text.stdout) if text.returncode == 0 else {}
                except tomllib.TOMLDecodeError:
                    config = {}
                address = _arg(args, "--address") or _arg(args, "-a")
                if address:
                    config.setdefault("grpc", {})["address"] = address
                found.append((pid, config))
            _CONTAINERDS[key] = found
        return _CONTAINERDS[key]

    def pod_cgroup_value(self, node: str, pod_uid: str, qos: str, knob: str) -> str | None:
        from clusters.kind.evidence import v2_translation  # cgroup v2 files in v1 terms, as kind reads them

        lines = self.script(node, _FIND_CGROUP, pod_uid).splitlines()
        controller = knob.split(".", 1)[0]
        for line in lines:
            _, controllers, path = line.split(":", 2)
            names = controllers.split(",")
            v2 = controllers == "" and len(lines) == 1  # a hybrid host also lists an (unused) 0:: line
            if controllers == "" and not v2:
                continue
            if not v2 and controller not in names:
                continue
            parts = path.split("/")
            pod_dir = next((i for i, p in enumerate(parts) if pod_uid in p or pod_uid.replace("-", "_") in p), None)
            if pod_dir is None:
                continue
            folder = "/".join(parts[:pod_dir + 1])
            file, to_v1 = v2_translation(knob) if v2 else (knob, lambda text: text)
            base = CGROUP_MOUNT if v2 else f"{CGROUP_MOUNT}/{controllers}"
            result = self.run(node, ["cat", f"{base}{folder}/{file}"])
            if result.returncode == 0:
                return to_v1(result.stdout.strip())
        return None

    def cri_runtime_tables(self, node: str) -> list[str] | None:
        """The tables of the containerd this node's own probe Pod runs under (several may share a host)."""
        address = _arg(self.run(node, ["sh", "-c", _OWN_SHIM]).stdout.split(), "-address")
        if address is None and self._crios(node):  # no containerd shim above the probe: a CRI-O node
            probe_uid = self.core.read_namespaced_pod(pod_name(node), self.namespace).metadata.uid
            own = crio_probe.own_crio(self._stdout(node), self._crios(node), probe_uid)
            if own is not None:
                return list(own.runtimes)
        containerds = self._containerds(node)
        from clusters.kind.containerd import runtime_tables  # config v2 and v3 alike

        for _, config in containerds:
            socket = config.get("grpc", {}).get("address", "/run/containerd/containerd.sock")
            if socket == address or (address is None and len(containerds) == 1):
                return sorted(runtime_tables(config))
        return None

    def runtime_of(self, node: str, sandbox_id: str) -> RuntimeSighting | None:
        """The sandbox's processes; on CRI-O (no infra process by default) those of its containers."""
        run = lambda argv: self.run(node, argv)  # noqa: E731
        sighting = procfs.sighting_on(run, sandbox_id)
        if sighting is not None and sighting.runtime != "unknown":
            return sighting
        for container in crio_probe.containers_of(self._stdout(node), self._crios(node), sandbox_id):
            found = procfs.sighting_on(run, container)
            if found is not None and found.runtime != "unknown":
                return RuntimeSighting(found.runtime, found.isolation,
                                       f"container {container[:13]} of sandbox {sandbox_id[:13]}: {found.evidence}")
        return sighting

    def pod_processes(self, node: str, pod_uid: str, sandbox_id: str,
                      container_ids: list[str]) -> pod_processes.PodProcesses:
        """The node's /proc (hostPID) and its cgroups under the read-only mount; seeded by the CRI's ids only
        (the probe has no crictl: the shim that names the sandbox's id is the tree's root)."""
        return pod_processes.pod_processes(lambda argv: self.run(node, argv), node, CGROUP_MOUNT, pod_uid,
                                           [sandbox_id, *container_ids])
