"""Which OCI runtime or VM actually runs a Pod, read from a node's /proc: one shell script, parsed here.

The configuration's word (the CRI's runtime table, the shim's `BinaryName`) says what
*should* run a sandbox; RC-USE-8 wants what *does*. Every provider can run a shell
on the node (the local host, `docker exec` on kind, a privileged hostPID probe Pod on
an existing cluster), so the looking is one POSIX script that busybox can run, and
the judging is Python, testable on recorded output:

- the sandbox's shim is the process whose command line says `-id <sandbox id>`;
  containerd starts it in the sandbox's bundle (its cwd), where the runc shim keeps
  `options.json` (`binary_name`, `root`); on CRI-O it is `conmon -c <sandbox id>`, whose
  runtime keeps its state under `--root` (default `/run/runc`, `/run/crun`);
- runc and crun leave their own state under the shim's root,
  `<root>/<namespace>/<id>/`: runc a `state.json`, crun a `status` file. That is the
  runtime's own handwriting, not the configuration's;
- gVisor runs the sandbox as `runsc-sandbox … boot … <id>` with a `runsc-gofer`
  beside it; a VM runtime as a hypervisor process (qemu, cloud-hypervisor,
  firecracker) named by a kata shim.

Every path is read through `/proc/<shim pid>/root` and `/proc/<shim pid>/cwd`, so the
script sees the shim's own filesystem even from inside a probe container.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from clusters.provider import RuntimeSighting

# Runtime -> the isolation class it gives (SPEC RC-USE-8).
RUNTIME_CLASSES = {"runc": "shared-kernel", "crun": "shared-kernel", "youki": "shared-kernel",
                   "runsc": "user-space-kernel", "kata": "vm", "firecracker": "vm"}
HYPERVISORS = ("qemu", "cloud-hypervisor", "firecracker", "qemu-system-x86_64")

# $1: the sandbox id. Prints tab-separated records; never fails. Without a `Root` in the shim's options,
# the roots tried are containerd's defaults for its runc and runsc shims.
SIGHTING_SCRIPT = r'''
id="$1"
# One grep finds the few processes whose command line names the id (a loop forking per process took
# seconds on a busy node); this script and that grep name it too and are skipped. -z: the arguments
# are NUL-separated, and busybox's grep ends a line at a NUL. A grep without -z (exit 2) leaves
# every process to the loop, as before.
files=$(grep -lzF -- "$id" /proc/[0-9]*/cmdline 2>/dev/null); [ $? -le 1 ] || files=$(echo /proc/[0-9]*/cmdline)
for f in $files; do
  d=${f%/cmdline}
  pid=${d#/proc/}
  [ "$pid" = "$$" ] && continue
  cmd=$(tr '\000' ' ' 2>/dev/null < "$d/cmdline") || continue
  case "$cmd" in *'grep -lzF -- '*) continue ;; *"$id"*) ;; *) continue ;; esac
  exe=$(readlink "$d/exe" 2>/dev/null)
  printf 'PROC\t%s\t%s\t%s\t%s\n' "$pid" "$exe" "$(readlink "$d/cwd" 2>/dev/null)" "$cmd"
  case "${exe##*/}" in containerd-shim*)
    if [ -r "$d/cwd/options.json" ]; then printf 'OPTIONS\t%s\t%s\n' "$pid" "$(cat "$d/cwd/options.json")"; fi
    ns=$(echo "$cmd" | sed -n 's/.*-namespace \([^ ]*\).*/\1/p')
    root=$(sed -n 's/.*"[Rr]oot":"\([^"]*\)".*/\1/p' "$d/cwd/options.json" 2>/dev/null)
    for r in $root /run/containerd/runc /run/containerd/runsc /run/containerd/crun; do
      dir="$d/root$r/$ns/$id"
      [ -d "$dir" ] && printf 'STATE\t%s\t%s\t%s\n' "$pid" "$r/$ns/$id" "$(ls -1 "$dir" | tr '\n' ' ')"
    done ;;
  conmon)
    root=$(echo "$cmd" | sed -n 's/.*--runtime-arg --root[= ]\([^ ]*\).*/\1/p')
    for r in $root /run/runc /run/crun; do
      dir="$d/root$r/$id"
      [ -d "$dir" ] && printf 'STATE\t%s\t%s\t%s\n' "$pid" "$r/$id" "$(ls -1 "$dir" | tr '\n' ' ')"
    done ;;
  esac
done
true
'''


@dataclass(frozen=True)
class Process:
    pid: str
    exe: str
    cwd: str
    cmdline: str

    @property
    def name(self) -> str:
        """argv[0]'s base name (runsc renames its sandbox `runsc-sandbox`), else the executable's."""
        first = self.cmdline.split(" ", 1)[0]
        return (first or self.exe).rsplit("/", 1)[-1]


def parse(output: str) -> tuple[list[Process], dict[str, dict], list[tuple[str, str, list[str]]]]:
    """The script's records: processes, shim options by pid, runtime state dirs (pid, path, files)."""
    processes, options, states = [], {}, []
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "PROC" and len(fields) >= 4:
            processes.append(Process(fields[0], fields[1], fields[2], "\t".join(fields[3:]).strip()))
        elif kind == "OPTIONS" and len(fields) >= 2:
            try:
                options[fields[0]] = json.loads(fields[1])
            except ValueError:
                options[fields[0]] = {}
        elif kind == "STATE" and len(fields) >= 3:
            states.append((fields[0], fields[1], fields[2].split()))
    return processes, options, states


def _binary_name(options: dict) -> str:
    """The shim's options as containerd wrote them (protobuf JSON: `binary_name`; older: `BinaryName`)."""
    return options.get("binary_name") or options.get("BinaryName") or "(the shim's default)"


def judge(sandbox_id: str, output: str) -> RuntimeSighting | None:
    """The runtime that runs the sandbox, from the script's output; None when nothing names it."""
    processes, options, states = parse(output)
    shim = next((p for p in processes if ("containerd-shim" in p.name and f"-id {sandbox_id}" in p.cmdline)
                 or (p.name == "conmon" and f"-c {sandbox_id}" in p.cmdline)), None)
    shim_text = (f"{'monitor' if shim.name == 'conmon' else 'shim'} {shim.name} (pid {shim.pid}"
                 + (f", binary_name {_binary_name(options[shim.pid])}" if shim.pid in options else "")
                 + ")") if shim else "no containerd shim names the sandbox"
    sandbox = sorted((p for p in processes if p.name in ("runsc-sandbox", "runsc-gofer")
                      or (p.name == "runsc" and " boot " in f" {p.cmdline} ")), key=lambda p: p.name != "runsc-sandbox")
    if sandbox:
        shown = "; ".join(f"{p.name} pid {p.pid}: {p.cmdline[:160]}" for p in sandbox[:2])
        return RuntimeSighting("runsc", RUNTIME_CLASSES["runsc"], f"{shown}; {shim_text}")
    vm = [p for p in processes if any(p.name.startswith(h) for h in HYPERVISORS)]
    if vm or (shim and "kata" in shim.name):
        shown = "; ".join(f"{p.name} pid {p.pid}" for p in vm[:2]) or "no hypervisor process seen"
        return RuntimeSighting("kata", "vm", f"{shown}; {shim_text}")
    for _pid, path, files in states:
        if "state.json" in files:
            return RuntimeSighting("runc", RUNTIME_CLASSES["runc"],
                                   f"runc's state file {path}/state.json; {shim_text}")
        if "status" in files:
            return RuntimeSighting("crun", RUNTIME_CLASSES["crun"], f"crun's state file {path}/status; {shim_text}")
    if shim:
        found = "; ".join(f"{path}: {' '.join(files) or '(empty)'}" for _pid, path, files in states) or \
            "no runtime state directory under the shim's root"
        return RuntimeSighting("unknown", "unknown", f"{shim_text}; {found}")
    return None


def sighting_on(run: Callable[[list[str]], subprocess.CompletedProcess], sandbox_id: str) -> RuntimeSighting | None:
    """Run the script through `run` (argv -> finished process) and judge what it printed."""
    result = run(["sh", "-c", SIGHTING_SCRIPT, "sh", sandbox_id])
    return judge(sandbox_id, result.stdout) if result.returncode == 0 else None
