"""RC-OVH-8, enforcement: a Pod that tries to hold more memory than its limit does not get it. No node access.

The Pod's one container runs busybox `dd bs=<N>M count=1 iflag=fullblock` into a pipe that
nobody reads: dd reads N MiB of `x` (from `tr '\\000' x < /dev/zero`) into its buffer, every page
written, then blocks writing to the full pipe, holding them. Not zeros: gVisor's sentry can
satisfy a read of /dev/zero into fresh memory without committing a host page (its memory file
reads zero until written), so a run that held "640 MiB" of zeros showed nothing to the host's
cgroup; bytes that are not zero must land in host pages. A watcher in the same container follows dd's
VmRSS and prints one verdict line: `RCC-HELD kib=…` once dd holds (nearly) all of it, or
`RCC-REFUSED peak_kib=…` once dd is gone; dd's own exit status (`RCC-DD-EXIT 137`: killed,
the OOM killer's SIGKILL; 1: the allocation failed) follows on stderr.

Why this and not an emptyDir of medium Memory: the kubelet sizes such a tmpfs to the Pod's
memory limit (limits plus overhead), so a full tmpfs would refuse the write even where no
cgroup limit is enforced. Anonymous memory has no such second bound.

Under runc and crun the container's own limit stops dd first. Under gVisor the sentry (the
sandbox process) holds the memory of every process in the Pod and, on the host, only the Pod
cgroup bounds it: there the OOM killer may take the whole sandbox, which the Pod's status
shows (the container terminated, the Pod failed, or a restart) rather than a log line. Each
form is recorded; only a Pod whose dd holds the memory fails, with the figure it reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubernetes.client import V1Pod

from conformance.case import Case
from conformance.waiting import wait_for

HOLD_SCRIPT = r'''
target=$1
( tr '\000' x < /dev/zero | dd bs=${target}M count=1 iflag=fullblock 2>&3; echo "RCC-DD-EXIT $?" >&3 ) 3>&2 \
  | sleep 3600 &
peak=0 i=0
while [ $i -lt 900 ]; do
  d=""
  for c in /proc/[0-9]*/comm; do
    [ "$(cat "$c" 2>/dev/null)" = dd ] && d=${c%/comm} && break
  done
  if [ -z "$d" ] && [ $i -gt 5 ]; then sleep 1; echo "RCC-REFUSED peak_kib=$peak"; exec sleep 3600; fi
  rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "$d/status" 2>/dev/null)
  [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
  if [ "$peak" -ge $((target * 1024 * 95 / 100)) ]; then echo "RCC-HELD kib=$peak"; exec sleep 3600; fi
  i=$((i + 1)); sleep 0.1
done
echo "RCC-STUCK peak_kib=$peak"
exec sleep 3600
'''

_HELD = re.compile(r"RCC-HELD kib=(\d+)")
_REFUSED = re.compile(r"RCC-REFUSED peak_kib=(\d+)")
_STUCK = re.compile(r"RCC-STUCK peak_kib=(\d+)")
_DD_EXIT = re.compile(r"RCC-DD-EXIT (\d+)")


@dataclass(frozen=True)
class Outcome:
    """What the Pod's attempt came to: `held_mib` set when it got the memory, else the form of the refusal."""

    form: str
    held_mib: float | None = None


def command(target_mib: int) -> list[str]:
    return ["sh", "-c", HOLD_SCRIPT, "hold", str(target_mib)]


def read_log(log: str) -> Outcome | None:
    """The verdict the container printed, if any (pure: testable on recorded logs)."""
    if held := _HELD.search(log):
        return Outcome("held", int(held.group(1)) / 1024)
    refused = _REFUSED.search(log)
    stuck = _STUCK.search(log)
    if not refused and not stuck:
        return None
    peak = int((refused or stuck).group(1)) / 1024
    if stuck:
        return Outcome(f"held back: dd never got past {peak:.0f} MiB in 90 s")
    exit_code = _DD_EXIT.search(log)
    code = int(exit_code.group(1)) if exit_code else None
    tail = " ".join(line for line in log.splitlines() if line.startswith("dd:"))[:160]
    if code == 137 or (code is None and not tail):
        return Outcome(f"a process of the Pod was OOM-killed (dd, SIGKILL at {peak:.0f} MiB)")
    return Outcome(f"the allocation failed (dd exit {code}: {tail or 'no message'}) at {peak:.0f} MiB")


def _from_status(pod: V1Pod) -> Outcome | None:
    """The refusal seen in the Pod's status when the log cannot say (the container or the sandbox was killed)."""
    for status in pod.status.container_statuses or []:
        terminated = (status.state.terminated if status.state else None) or \
            (status.last_state.terminated if status.last_state else None)
        if terminated is not None and terminated.reason == "OOMKilled":
            return Outcome("OOMKilled (the container's status)")
        if terminated is not None:
            return Outcome(f"the sandbox died (container terminated: {terminated.reason}, exit {terminated.exit_code})")
        if (status.restart_count or 0) > 0:
            return Outcome(f"a restart ({status.restart_count})")
    if pod.status.phase == "Failed":
        return Outcome(f"the sandbox died (Pod Failed: {pod.status.reason or pod.status.message or 'no reason'})")
    return None


def attempt(case: Case, pod: V1Pod) -> Outcome:
    """Wait for the Pod's verdict: a log line, else what its status shows once the container is gone."""
    name = pod.metadata.name

    def decided() -> Outcome | None:
        current = case.read_pod(name)
        if current.status.phase == "Pending":
            return None
        return read_log(_log(case, name)) or _from_status(current)

    outcome = wait_for(f"Pod {name} holds or is refused its memory", decided,
                       timeout=case.settings.timeouts["pod-start"] + 120, interval=0.5, sleep=case.until_change,
                       describe=lambda: f"phase {case.read_pod(name).status.phase}, log {_log(case, name)[-300:]!r}")
    case.attach(f"memory attempt of Pod {name}", {"form": outcome.form, "heldMiB": outcome.held_mib,
                                                  "log": _log(case, name)[-2000:]})
    return outcome


def _log(case: Case, name: str) -> str:
    """The Pod's log, or "" when there is none to read (a sandbox that died may leave none)."""
    try:
        return case.pod_log(name)
    except Exception:  # noqa: BLE001 - the API answers 400 for a container that never ran or is gone
        return ""
