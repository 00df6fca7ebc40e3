"""The host-wide changes a local cluster needs, each with its undo.

Cgroup roots per node, the v1 `hugetlb` hierarchy crun needs on hybrid
cgroups, network bridges, iptables chains the kubelet adds, mounts under the
state folder. `down` calls the undo of each, using what `up` recorded, so the
host ends as it was found. Anything under the machine's own cgroups
(`process_api`, `default`) is never touched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

from clusters.toolbox.errors import ClusterError

CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_V2_HYBRID = CGROUP_V1 / "unified"
HUGETLB = CGROUP_V1 / "hugetlb"
IPTABLES = ("iptables", "ip6tables")
IPTABLES_TABLES = ("filter", "nat", "mangle")


def require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError("the local cluster runs kubelets and containerd and needs root; "
                           "run as root (sudo -E), or point the suite at a cluster with --cluster existing")


def require_free_ports(endpoints: list[tuple[str, int, str]]) -> None:
    """Fail before starting anything if a port a component needs is taken."""
    for host, port, owner in endpoints:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise ClusterError(f"port {host}:{port} needed by {owner} is in use; stop what holds it "
                                   f"(ss -ltnp 'sport = :{port}') or change the ports in the topology file") from None


CAP_SYS_RESOURCE = 24


def has_capability(bit: int) -> bool:
    """Whether this process holds a capability in its effective set (containers may drop some)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return False


# --- cgroups -------------------------------------------------------------------

def v1_controllers() -> list[Path]:
    """Every mounted v1 hierarchy (cpu, memory, pids, hugetlb, name=systemd …)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    return sorted({Path(line.split()[1]) for line in mounts if line.split()[2] == "cgroup"})


def require_cgroup_v1_or_v2() -> None:
    if not v1_controllers() and not (CGROUP_V1 / "cgroup.controllers").exists():
        raise ClusterError("no cgroup hierarchy is mounted under /sys/fs/cgroup; kubelets need cgroups")


def mount_hugetlb_if_needed() -> bool:
    """crun refuses hybrid cgroups while cgroup2 owns a controller; a v1 hugetlb mount frees it.

    gVisor's shim needs it too, whatever the runtimes: its OOM monitor loads the sandbox's v1
    cgroups and fails (`cgroups: cannot find cgroup mount destination`) while hugetlb is v2-only.

    Returns True when this call mounted it, so `down` unmounts only what `up` added.
    """
    if not v1_controllers():
        return False  # pure cgroup v2: nothing to do
    if not _hugetlb_enabled() or _hugetlb_mounted_v1():
        return False
    # Either cgroup2 owns hugetlb, or an earlier v1 hierarchy was unmounted while it still held
    # cgroups: it then lives on hidden, in neither tree (seen here after a kind engine's `down`),
    # and mounting it again is what makes it visible.
    HUGETLB.mkdir(exist_ok=True)
    result = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", str(HUGETLB)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"cannot mount the v1 hugetlb cgroup at {HUGETLB} that crun needs on hybrid cgroups: "
                           f"{result.stderr.strip()}")
    return True


def _hugetlb_enabled() -> bool:
    rows = [line.split() for line in Path("/proc/cgroups").read_text().splitlines()[1:]]
    return any(row[0] == "hugetlb" and row[-1] == "1" for row in rows)


def _hugetlb_mounted_v1() -> bool:
    return any(line.split()[2] == "cgroup" and "hugetlb" in line.split()[3].split(",")
               for line in Path("/proc/self/mounts").read_text().splitlines())


def unmount_hugetlb() -> None:
    subprocess.run(["umount", str(HUGETLB)], capture_output=True)
    try:
        HUGETLB.rmdir()
    except OSError:
        pass


def create_cgroup_root(name: str) -> None:
    """The kubelet checks that its --cgroup-root exists in every hierarchy."""
    for hierarchy in v1_controllers():
        path = hierarchy / name.lstrip("/")
        path.mkdir(exist_ok=True)
        if (hierarchy / "cpuset.cpus").exists():
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (path / knob).read_text().strip():
                    (path / knob).write_text((hierarchy / knob).read_text())


def remove_cgroup_root(name: str) -> None:
    """Remove the node's cgroup tree bottom-up; the kernel only removes empty cgroups.

    On hybrid hosts the kubelet mirrors its tree into the (controller-less) cgroup2 hierarchy
    too, so that one is swept as well.
    """
    unified = [CGROUP_V2_HYBRID] if CGROUP_V2_HYBRID.is_dir() and v1_controllers() else []
    for hierarchy in [*v1_controllers(), *unified]:
        top = hierarchy / name.lstrip("/")
        if not top.is_dir():
            continue
        for folder, _, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
            try:
                os.rmdir(folder)
            except OSError:
                pass


def kill_cgroup_tasks(name: str) -> None:
    """SIGKILL every process left in a node's cgroups (containers of a crashed run)."""
    pids = CGROUP_V1 / "pids" / name.lstrip("/")
    if not pids.is_dir():
        return
    for procs in pids.rglob("cgroup.procs"):
        for pid in procs.read_text().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass


# --- network -------------------------------------------------------------------

def create_bridge(name: str) -> None:
    """The node's CNI bridge, made ahead of the CNI plugin (which reuses it) with a fixed MAC address.

    A bridge with no address of its own takes the lowest MAC of its ports, so it changes as Pods
    come and go; CRI-O runs CNI CHECK on each sandbox status and then fails with `Bridge
    interface NAME Mac doesn't match` (seen here). A MAC set once by hand stays put.
    """
    if Path(f"/sys/class/net/{name}").exists():
        return
    mac = "02:" + ":".join(f"{b:02x}" for b in hashlib.sha256(name.encode()).digest()[:5])
    for argv in (["ip", "link", "add", name, "type", "bridge"], ["ip", "link", "set", name, "address", mac],
                 ["ip", "link", "set", name, "up"]):
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"cannot create the node bridge {name} (`{' '.join(argv)}`): {result.stderr.strip()}")


def delete_link(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def iptables_chains() -> set[str]:
    """Chains as 'tool/table/chain', to tell later which ones a run added."""
    chains = set()
    for tool in IPTABLES:
        if not shutil.which(tool):
            continue
        for table in IPTABLES_TABLES:
            result = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True)
            chains.update(f"{tool}/{table}/{line.split()[1]}" for line in result.stdout.splitlines()
                          if line.startswith("-N "))
    return chains


def remove_iptables_chains(chains: set[str]) -> None:
    """Flush, unhook and delete the chains; jump rules pointing at them go first."""
    for entry in sorted(chains):
        tool, table, chain = entry.split("/")
        rules = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        for rule in rules.splitlines():
            if rule.startswith("-A ") and f"-j {chain}" in rule:
                subprocess.run([tool, "-w", "-t", table, "-D", *rule.split()[1:]], capture_output=True)
        subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
    for entry in sorted(chains):
        tool, table, chain = entry.split("/")
        subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)


# --- mounts --------------------------------------------------------------------

def mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix) or point == str(path):
            points.append(point)
    return points


def unmount_all_under(path: Path) -> None:
    """Detach every mount below `path`, deepest first, so the folder can be removed."""
    for point in sorted(set(mounts_under(path)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


# --- inotify -------------------------------------------------------------------

INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
# What one kubelet (cAdvisor, config and certificate watchers) and its CRI take, measured here
# (7 for a kubelet, 5-6 for the API server and controller-manager); with room to spare.
INOTIFY_PER_NODE = 12
INOTIFY_CONTROL_PLANE = 20


def inotify_instances_in_use() -> int:
    """inotify instances held by every process on the host (the limit is per user; we run as root)."""
    count = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            count += sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except OSError:
            continue  # the process ended, or is not ours to read
    return count


def raise_inotify_instances_if_needed(needed: int) -> int:
    """Raise fs.inotify.max_user_instances when `needed` more would not fit; return the old limit, or 0.

    A kubelet that cannot get an instance exits at start (`Failed to start cAdvisor` err=
    `inotify_init: too many open files`). The default limit (128) is met on a host already
    running other clusters, kind nodes or desktop programs; kind documents the same raise.
    Only a host that is short gets the change, and `down` puts the old limit back.
    """
    limit = int(INOTIFY_INSTANCES.read_text())
    in_use = inotify_instances_in_use()
    if in_use + needed <= limit:
        return 0
    wanted = max(limit * 2, in_use + needed + 128)
    try:
        INOTIFY_INSTANCES.write_text(f"{wanted}\n")
    except OSError as exc:
        raise ClusterError(f"{in_use} of {limit} inotify instances are in use and the cluster needs about {needed} "
                           f"more, but fs.inotify.max_user_instances cannot be raised ({exc}); run "
                           f"`sysctl -w fs.inotify.max_user_instances={wanted}` or stop other clusters") from None
    return limit


def restore_inotify_instances(limit: int) -> None:
    """Put back the limit `raise_inotify_instances_if_needed` found."""
    try:
        INOTIFY_INSTANCES.write_text(f"{limit}\n")
    except OSError:
        pass
