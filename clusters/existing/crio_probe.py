"""The node probe on CRI-O nodes: what the local provider reads of CRI-O, read through the probe Pod.

CRI-O keeps each sandbox's OCI spec in its storage, `<root>/overlay-containers/<id>/userdata/
config.json`, whose annotations name the Pod UID (`io.kubernetes.pod.uid`), the container type
(`io.kubernetes.cri-o.ContainerType`: sandbox or container) and the handler
(`io.kubernetes.cri-o.RuntimeHandler`, where `crictl inspectp` shows it too: CRI-O 1.34 leaves
the CRI status field empty). Its runtime tables are the `[crio.runtime.runtimes.NAME]` tables of
its configuration (`--config` and the drop-ins of `--config-dir`, later files winning; a table whose
`runtime_path` does not exist is dropped, as CRI-O drops it), plus its
`default_runtime`. Several CRI-O daemons may share a host (the local cluster): the one whose
storage holds the probe Pod's own sandbox is this node's.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

HANDLER = "io.kubernetes.cri-o.RuntimeHandler"
CONTAINER_TYPE = "io.kubernetes.cri-o.ContainerType"
POD_UID = "io.kubernetes.pod.uid"
SANDBOX_ID = "io.kubernetes.cri-o.SandboxID"
SOURCE = f"CRI-O's sandbox spec, annotation {HANDLER}"
DEFAULT_CONFIG, DEFAULT_CONFIG_DIR = "/etc/crio/crio.conf", "/etc/crio/crio.conf.d"
DEFAULT_ROOT, DEFAULT_RUNROOT = "/var/lib/containers/storage", "/run/containers/storage"

# The crio processes on the node with their command lines; then the drop-in files of a config dir.
FIND_CRIO = r'''
for d in /proc/[0-9]*; do
  exe=$(readlink "$d/exe" 2>/dev/null) || continue
  [ "${exe##*/}" = crio ] || continue
  printf 'CRIO\t%s\t%s\n' "${d#/proc/}" "$(tr '\000' ' ' < "$d/cmdline")"
done
true
'''
# $1 pid, $2 dir: the *.conf files of a drop-in folder, in the order CRI-O reads them.
LIST_DROPINS = r'''ls -1 "/proc/$1/root$2" 2>/dev/null | grep '\.conf$' | sort'''
# $1 pid, then paths: those that do not exist in that process's root.
MISSING_PATHS = r'''
pid=$1; shift
for p in "$@"; do [ -e "/proc/$pid/root$p" ] || echo "$p"; done
true
'''
# $1 the text to find, then `PID ROOT` pairs: the sandbox/container specs that contain it.
FIND_SPECS = r'''
text=$1; shift
while [ $# -ge 2 ]; do
  grep -l -F "$text" "/proc/$1/root$2"/overlay-containers/*/userdata/config.json 2>/dev/null
  shift 2
done
true
'''

Run = Callable[[list[str]], str]  # argv in the probe Pod -> its stdout


@dataclass(frozen=True)
class Crio:
    pid: str
    root: str
    runroot: str
    runtimes: tuple[str, ...]


def arg(args: list[str], flag: str) -> str | None:
    for i, word in enumerate(args):
        if word == flag and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def merged(texts: list[str]) -> dict:
    """The [crio] settings of the main config and its drop-ins, later files overriding earlier ones."""
    crio: dict = {"runtime": {"runtimes": {}}}
    for text in texts:
        try:
            loaded = tomllib.loads(text).get("crio", {})
        except tomllib.TOMLDecodeError:
            continue
        for key in ("root", "runroot"):
            if key in loaded:
                crio[key] = loaded[key]
        runtime = loaded.get("runtime", {})
        crio["runtime"]["runtimes"].update(runtime.get("runtimes", {}))
        if "default_runtime" in runtime:
            crio["runtime"]["default_runtime"] = runtime["default_runtime"]
    return crio


def crios(run: Run) -> list[Crio]:
    """Every CRI-O daemon the probe sees, with its storage roots and runtime tables."""
    found = []
    for line in run(["sh", "-c", FIND_CRIO]).splitlines():
        _, pid, cmdline = line.split("\t")
        args = cmdline.split()
        config = arg(args, "--config") or arg(args, "-c") or DEFAULT_CONFIG
        folder = arg(args, "--config-dir") or arg(args, "-d") or DEFAULT_CONFIG_DIR
        texts = [run(["cat", f"/proc/{pid}/root{config}"])]
        for name in run(["sh", "-c", LIST_DROPINS, "sh", pid, folder]).split():
            texts.append(run(["cat", f"/proc/{pid}/root{folder}/{name}"]))
        crio = merged(texts)
        tables = crio["runtime"]["runtimes"]
        # CRI-O drops a table whose runtime_path does not exist (as `crio status config` shows): so do we.
        paths = {name: t["runtime_path"] for name, t in tables.items() if isinstance(t, dict) and t.get("runtime_path")}
        missing = run(["sh", "-c", MISSING_PATHS, "sh", pid, *paths.values()]).split() if paths else []
        runtimes = {name for name in tables if paths.get(name) not in missing}
        runtimes.add(crio["runtime"].get("default_runtime", "crun"))
        found.append(Crio(pid, crio.get("root", DEFAULT_ROOT), crio.get("runroot", DEFAULT_RUNROOT),
                          tuple(sorted(runtimes))))
    return found


def own_crio(run: Run, daemons: list[Crio], probe_uid: str) -> Crio | None:
    """The daemon that runs the probe Pod itself (its sandbox spec is in that daemon's storage)."""
    return next((d for d in daemons if sandbox_spec(run, [d], probe_uid) is not None), None)


def specs(run: Run, daemons: list[Crio], text: str) -> list[dict]:
    """The OCI specs (as dicts, with `_path`) of sandboxes and containers whose file contains `text`."""
    pairs = [field for d in daemons for field in (d.pid, d.root)]
    found = []
    for path in run(["sh", "-c", FIND_SPECS, "sh", text, *pairs]).split():
        try:
            found.append({**json.loads(run(["cat", path])), "_path": path})
        except json.JSONDecodeError:
            continue
    return found


def sandbox_spec(run: Run, daemons: list[Crio], pod_uid: str) -> dict | None:
    for spec in specs(run, daemons, pod_uid):
        notes = spec.get("annotations", {})
        if notes.get(POD_UID) == pod_uid and notes.get(CONTAINER_TYPE) == "sandbox":
            return spec
    return None


def containers_of(run: Run, daemons: list[Crio], sandbox_id: str) -> list[str]:
    """The container ids of a sandbox (CRI-O runs no infra process by default: they name the runtime)."""
    return [s["annotations"].get("io.kubernetes.cri-o.ContainerID", "") for s in specs(run, daemons, sandbox_id)
            if s.get("annotations", {}).get(SANDBOX_ID) == sandbox_id
            and s["annotations"].get(CONTAINER_TYPE) == "container"]
