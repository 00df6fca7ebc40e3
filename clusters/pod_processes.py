"""Every host process that runs a Pod, and its cgroups, read from a node's /proc (RC-OVH-8).

Finding, not judging: conformance/containment.py decides which of these must sit inside the
Pod cgroup. Like clusters/procfs.py, the looking is POSIX shell that busybox runs, so every
provider uses the same code: the local host (a subprocess), a kind node (`docker exec`) and an
existing cluster's privileged hostPID probe Pod (`exec`), each passing its own `run`.

How the processes are found, from what the CRI says rather than from process names:

- seeds: the processes the CRI's status names (the sandbox's pid and each container's pid,
  where the provider has crictl: `inspectp`/`inspect` `info.pid`), and every process whose
  command line names the sandbox's or a container's CRI id (containerd's shim `-id <sandbox>`,
  CRI-O's `conmon -c <container>`, gVisor's `runsc-sandbox … boot … <sandbox>`);
- the tree: every descendant of a seed (one read of every /proc/<pid>/stat gives the parent
  links). containerd's shims and CRI-O's conmon are child subreapers, so whatever a runtime
  forks and leaves behind (gVisor's sandbox and gofer after `runsc create` exits, a process a
  container double-forks) is re-parented to them and stays in the tree;
- the Pod cgroup: the directory the kubelet made for the Pod (`pod<uid>`, with dashes or, under
  the systemd driver, underscores), found in the memory hierarchy (cgroup v1) or the unified one
  (v2), as a path in the form /proc/<pid>/cgroup shows.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Run = Callable[[list[str]], subprocess.CompletedProcess]

# $1 cgroup mount, $2 Pod UID, then CRI ids and `--pid PID` pairs. Prints PODCG, SEED, SELF records and then
# every process's /proc/<pid>/stat line. Never fails.
_TREE_SCRIPT = r'''
root=$1 uid=$2; shift 2
u=$(echo "$uid" | tr - _)
if [ -d "$root/memory" ] && [ ! -e "$root/cgroup.controllers" ]; then base="$root/memory"; else base="$root"; fi
for name in "*pod$uid*" "*pod$u*"; do
  for d in $(find "$base" -maxdepth 8 -type d -name "$name" 2>/dev/null); do printf 'PODCG\t%s\n' "${d#$base}"; done
done
ids=""
while [ $# -gt 0 ]; do
  case "$1" in --pid) printf 'SEED\t%s\n' "$2"; shift 2 ;; *) ids="$ids $1"; shift ;; esac
done
# One grep over every command line (-z: arguments are NUL-separated); a grep without -z (exit 2) leaves
# every process to the slower loop. The grep names the ids itself: as a child of this script it is left out.
set --; for id in $ids; do set -- "$@" -e "$id"; done
if [ $# -gt 0 ]; then
  files=$(grep -lzF "$@" /proc/[0-9]*/cmdline 2>/dev/null); [ $? -le 1 ] || files=$(echo /proc/[0-9]*/cmdline)
  for f in $files; do
    p=${f#/proc/}; p=${p%/cmdline}
    cmd=$(tr '\000' ' ' 2>/dev/null < "$f") || continue
    for id in $ids; do
      case "$cmd" in *"$id"*) printf 'SEED\t%s\n' "$p"; break ;; esac
    done
  done
fi
printf 'SELF\t%s\n' "$$"
cat /proc/[0-9]*/stat 2>/dev/null
true
'''

# The chosen pids: executable, command line and every cgroup line.
_DETAIL_SCRIPT = r'''
for p do
  [ -r "/proc/$p/cgroup" ] || continue
  printf 'PROC\t%s\t%s\t%s\n' "$p" "$(readlink "/proc/$p/exe" 2>/dev/null)" "$(tr '\000' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
  while IFS= read -r line; do printf 'CG\t%s\t%s\n' "$p" "$line"; done < "/proc/$p/cgroup"
done
true
'''

_STAT = re.compile(r"^(\d+) \((.*)\) \S+ (\d+) ")


@dataclass(frozen=True)
class NodeProcess:
    """One host process in the Pod's process tree, as the node shows it."""

    pid: int
    ppid: int
    exe: str
    command: str
    # /proc/<pid>/cgroup: hierarchy controllers ("memory", "cpu,cpuacct"; "" for cgroup v2's unified line) -> path.
    cgroups: dict[str, str]
    named_by_cri: bool  # the CRI's status gave this pid (sandbox or container), not only a command line

    @property
    def argv(self) -> list[str]:
        return self.command.split()


@dataclass(frozen=True)
class PodProcesses:
    """What runs a Pod on its node: the Pod cgroup's path(s) and the process tree."""

    node: str
    pod_cgroups: tuple[str, ...]  # the Pod's directory per hierarchy found (usually one path)
    processes: tuple[NodeProcess, ...]
    roots: tuple[int, ...] = field(default=())  # tree members whose parent is outside the tree

    def children(self, pid: int) -> list[NodeProcess]:
        return [p for p in self.processes if p.ppid == pid]


def parse_tree(output: str) -> tuple[list[str], set[int], int | None, dict[int, int]]:
    """The first script's records: Pod cgroup paths, seeds, the script's own pid, parent links."""
    pod_cgroups: list[str] = []
    seeds: set[int] = set()
    own: int | None = None
    parents: dict[int, int] = {}
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "PODCG" and rest:
            pod_cgroups.append(rest)
        elif kind == "SEED" and rest.isdigit():
            seeds.add(int(rest))
        elif kind == "SELF" and rest.isdigit():
            own = int(rest)
        elif (match := _STAT.match(line)) is not None:
            parents[int(match.group(1))] = int(match.group(3))
    return pod_cgroups, seeds, own, parents


def tree_of(seeds: Iterable[int], parents: dict[int, int], exclude_below: int | None) -> set[int]:
    """The seeds and all their descendants, without the looking script and what it started."""
    def below_own(pid: int) -> bool:
        seen = set()
        while pid and pid not in seen:
            if pid == exclude_below:
                return True
            seen.add(pid)
            pid = parents.get(pid, 0)
        return False

    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [s for s in seeds if s in parents and not below_own(s)]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def parse_details(output: str, parents: dict[int, int], cri_pids: set[int]) -> list[NodeProcess]:
    rows: dict[int, tuple[str, str]] = {}
    cgroups: dict[int, dict[str, str]] = {}
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "PROC" and len(fields) >= 3 and fields[0].isdigit():
            rows[int(fields[0])] = (fields[1], "\t".join(fields[2:]).strip())
        elif kind == "CG" and len(fields) >= 2 and fields[0].isdigit():
            _, controllers, path = (fields[1].split(":", 2) + ["", ""])[:3]
            if controllers.startswith("name="):
                continue  # a named hierarchy (name=systemd) holds no resource controller
            cgroups.setdefault(int(fields[0]), {})[controllers] = path
    return [NodeProcess(pid, parents.get(pid, 0), exe, command, cgroups.get(pid, {}), pid in cri_pids)
            for pid, (exe, command) in sorted(rows.items())]


def pod_processes(run: Run, node: str, cgroup_mount: str, pod_uid: str, ids: Iterable[str],
                  cri_pids: Iterable[int] = ()) -> PodProcesses:
    """Look on the node through `run` (argv -> finished process): the Pod cgroup and the Pod's process tree."""
    given = {int(p) for p in cri_pids if int(p) > 0}
    args = [*[i for i in ids if i], *[arg for pid in sorted(given) for arg in ("--pid", str(pid))]]
    tree = run(["sh", "-c", _TREE_SCRIPT, "sh", cgroup_mount, pod_uid, *args])
    pod_cgroups, seeds, own, parents = parse_tree(tree.stdout)
    members = tree_of(seeds | given, parents, own)
    details = run(["sh", "-c", _DETAIL_SCRIPT, "sh", *map(str, sorted(members))]) if members else None
    processes = parse_details(details.stdout if details else "", parents, given)
    present = {p.pid for p in processes}
    roots = tuple(p.pid for p in processes if p.ppid not in present)
    return PodProcesses(node, tuple(dict.fromkeys(pod_cgroups)), tuple(processes), roots)


def cri_pids_from_crictl(crictl: Callable[..., subprocess.CompletedProcess], sandbox_id: str,
                         container_ids: Iterable[str]) -> list[int]:
    """The pids the CRI's own status gives (`crictl inspectp`/`inspect` -> info.pid), where it gives one."""
    pids = []
    for verb, ident in (("inspectp", sandbox_id), *(("inspect", c) for c in container_ids)):
        if not ident:
            continue
        result = crictl(verb, "-o", "json", ident)
        if result.returncode != 0:
            continue
        try:
            pid = (json.loads(result.stdout).get("info") or {}).get("pid")
        except ValueError:
            continue
        if isinstance(pid, int) and pid > 0:
            pids.append(pid)
    return pids
