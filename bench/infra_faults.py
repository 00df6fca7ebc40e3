"""Time from an infrastructure fault to the run's exit (issue 21's goal: about a minute), measured.

    python3 bench/infra_faults.py [--fault kubelet|cri] [--rounds 3] [-n 2] [--out DIR]

Each round brings up (or rebuilds) the cluster of clusters/faults/topology.yaml (`rcc-faults`),
starts `python -m conformance.run -n N --keep-cluster` on it, and as soon as a Pod of the run is
bound to rcc-faults-1 SIGKILLs that node's kubelet (or its containerd). It prints, per round: the
exit code (3 expected), when the suite first saw the fault (summary.json's `seen_at`, whole
seconds), and the time from the kill to the runner's exit; then the medians. The cluster is taken
down at the end. Not a timed test: tests/test_infrastructure_faults.py only asserts a generous bound.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402

from clusters.local import faults, load_topology  # noqa: E402
from clusters.local.cluster import LocalCluster  # noqa: E402

TOPOLOGY = ROOT / "clusters" / "faults" / "topology.yaml"
NODE = "rcc-faults-1"
COMPONENT = {"kubelet": f"kubelet-{NODE}", "cri": f"containerd-{NODE}"}


def one_round(local: LocalCluster, fault: str, workers: int, out: Path) -> dict:
    local.up()
    run_id = "b" + secrets.token_hex(4)
    report = out / run_id
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(local.kubeconfig)))
    killed: list[float] = []

    def inject() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            try:
                if api.list_pod_for_all_namespaces(label_selector=f"rcc.conformance.io/run={run_id}",
                                                   field_selector=f"spec.nodeName={NODE}").items:
                    killed.append(faults.kill(local, COMPONENT[fault]))
                    return
            except Exception:  # noqa: BLE001 - the run is still starting
                pass
            time.sleep(0.2)

    threading.Thread(target=inject, daemon=True).start()
    command = [sys.executable, "-m", "conformance.run", "--run-id", run_id, "--topology", str(TOPOLOGY),
               "--keep-cluster", "--report-dir", str(report), "-n", str(workers)]
    report.mkdir(parents=True, exist_ok=True)
    with (report / "output.txt").open("w") as sink:
        code = subprocess.run(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=1800).returncode
    ended = time.time()
    summary = json.loads((report / "summary.json").read_text())
    seen = summary["infrastructure"][0] if summary.get("infrastructure") else None
    row = {"exit": code, "fault": seen["kind"] if seen else None,
           "kill_to_exit": ended - killed[0] if killed else None,
           "kill_to_seen": (datetime.fromisoformat(seen["seen_at"]).timestamp() - killed[0]) if seen and killed else None,
           "failed_clauses": summary["failed_clauses"], "report": str(report)}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=sorted(COMPONENT), default="kubelet")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", "--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="folder for each run's report and output")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rcc-infra-faults-"))
    local = LocalCluster(load_topology(TOPOLOGY), progress=lambda _m: None)
    rows = []
    try:
        for number in range(1, args.rounds + 1):
            row = one_round(local, args.fault, args.workers, out)
            rows.append(row)
            print(f"round {number}: exit {row['exit']}, fault {row['fault']}, seen "
                  f"{row['kill_to_seen'] if row['kill_to_seen'] is None else round(row['kill_to_seen'])} s after "
                  f"the kill, run ended {row['kill_to_exit'] and round(row['kill_to_exit'], 1)} s after the kill; "
                  f"failed clauses {row['failed_clauses'] or 'none'}; {row['report']}", flush=True)
    finally:
        local.down()
    timed = [r["kill_to_exit"] for r in rows if r["kill_to_exit"] is not None]
    seen = [r["kill_to_seen"] for r in rows if r["kill_to_seen"] is not None]
    if timed:
        print(f"{args.fault} killed, -n {args.workers}, {len(timed)} round(s): kill to exit median "
              f"{statistics.median(timed):.1f} s ({min(timed):.1f}-{max(timed):.1f}); kill to seen median "
              f"{statistics.median(seen):.0f} s" if seen else "")
    return 0 if rows and all(r["exit"] == 3 and not r["failed_clauses"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
