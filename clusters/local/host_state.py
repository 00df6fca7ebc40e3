"""What `up` started and changed on the host, persisted as JSON next to the cluster so `down` can undo it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from clusters.local.processes import ProcessRecord
from clusters.toolbox import host


@dataclass
class HostState:
    """What `up` started and changed; persisted as JSON next to the cluster."""

    processes: list[ProcessRecord] = field(default_factory=list)
    mounted_hugetlb: bool = False
    created_run_containerd: bool = False
    created_var_lib_kubelet: bool = False
    iptables_before: list[str] = field(default_factory=list)
    fingerprint: str = ""
    raised_inotify_from: int = 0  # the fs.inotify.max_user_instances found, when `up` had to raise it

    def to_json(self) -> dict:
        return {
            "processes": [p.to_json() for p in self.processes],
            "mounted_hugetlb": self.mounted_hugetlb,
            "created_run_containerd": self.created_run_containerd,
            "created_var_lib_kubelet": self.created_var_lib_kubelet,
            "iptables_before": sorted(self.iptables_before),
            "fingerprint": self.fingerprint,
            "raised_inotify_from": self.raised_inotify_from,
        }

    @classmethod
    def from_json(cls, raw: dict) -> "HostState":
        return cls(
            processes=[ProcessRecord.from_json(p) for p in raw.get("processes", [])],
            mounted_hugetlb=raw.get("mounted_hugetlb", False),
            created_run_containerd=raw.get("created_run_containerd", False),
            created_var_lib_kubelet=raw.get("created_var_lib_kubelet", False),
            iptables_before=raw.get("iptables_before", []),
            fingerprint=raw.get("fingerprint", ""),
            raised_inotify_from=raw.get("raised_inotify_from", 0),
        )


# Host-wide undo duties: they pass from a cluster that goes down to one still running.
DUTIES = ("mounted_hugetlb", "created_run_containerd", "created_var_lib_kubelet", "raised_inotify_from")


def save(state: HostState, path: Path) -> None:
    """Atomic write. A cluster that went down while this one was starting may have handed its duties
    over through this file; writing the in-memory state must not drop them."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = {}
    for duty in DUTIES:
        if raw.get(duty):
            setattr(state, duty, merge_duty(getattr(state, duty), raw[duty]))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2))
    tmp.rename(path)


def load(path: Path) -> HostState | None:
    try:
        return HostState.from_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def hand_over(heir: Path, shared: dict[str, bool | int]) -> None:
    """Add these duties to the state file of a cluster still running."""
    raw = json.loads(heir.read_text())
    for key, owned in shared.items():
        raw[key] = merge_duty(raw.get(key, False), owned)
    heir.write_text(json.dumps(raw, indent=2))


def merge_duty(mine: bool | int, inherited: bool | int) -> bool | int:
    """Undo duties add up; of two limits found before raising, the earlier (lower) one is the host's own."""
    held = [v for v in (mine, inherited) if v]
    limits = [v for v in held if not isinstance(v, bool)]
    return min(limits) if limits else bool(held) if isinstance(mine, bool) else 0


def undo_host_wide(state: HostState, device_plugin_dir: Path) -> None:
    """Undo the host-wide changes (DUTIES) `up` recorded, when no other local cluster still needs them."""
    if state.mounted_hugetlb:
        host.unmount_hugetlb()
    if state.created_run_containerd:
        shutil.rmtree("/run/containerd", ignore_errors=True)
    if state.created_var_lib_kubelet:
        shutil.rmtree(device_plugin_dir, ignore_errors=True)
    if state.raised_inotify_from:
        host.restore_inotify_instances(state.raised_inotify_from)
