"""The main job end to end, as a user runs it: `rcc-conformance run`, timed from start to exit.

    python3 bench/main_job.py [--rounds 3] [--workers 6,8] [--out DIR]

Issue 13's end-to-end figure (not a timed test): each round runs `rcc-conformance run -n N` once
per worker count, alternating, on the embedded local cluster with warm binaries. Every run brings
the cluster up, runs the suite, writes the report and takes the cluster down, as the README's
first command does. No local cluster may be running before (it would be reused, not timed);
the script refuses to start then. Prints one line per run and the median per worker count; exit 0
only if every run ended CONFORMANT (exit 0). Reports stay in `--out`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clusters.local.cluster import LocalCluster  # noqa: E402
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology  # noqa: E402

RUN_TIMEOUT = 30 * 60


def run_once(workers: int, report_dir: Path) -> tuple[int, float]:
    command = [sys.executable, "-m", "conformance.run", "-n", str(workers), "--report-dir", str(report_dir)]
    report_dir.mkdir(parents=True, exist_ok=True)
    with (report_dir / "output.txt").open("w") as sink:
        began = time.monotonic()
        try:
            code = subprocess.run(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                  timeout=RUN_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            code = -1
        return code, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="6,8", help="comma-separated xdist worker counts, run alternately")
    parser.add_argument("--out", type=Path, default=None, help="folder for each run's report and output")
    args = parser.parse_args()
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers {args.workers!r}: use comma-separated counts, e.g. 6,8")
    if LocalCluster(load_topology(DEFAULT_TOPOLOGY), progress=lambda _m: None).is_healthy():
        print("main_job: a local cluster is running; it would be reused instead of brought up "
              "(python -m clusters.local down first)", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="rcc-main-job-"))
    print(f"[main-job] reports in {out}; load average {os.getloadavg()[0]:.1f}", flush=True)
    walls: dict[int, list[float]] = {n: [] for n in counts}
    green = True
    for round_ in range(1, args.rounds + 1):
        for workers in counts:
            code, wall = run_once(workers, out / f"round{round_}-n{workers}")
            walls[workers].append(wall)
            green &= code == 0
            print(f"[main-job] round {round_}: -n {workers}: {wall:.1f} s, exit {code}", flush=True)
    for workers, values in walls.items():
        print(f"[main-job] -n {workers}: median {statistics.median(values):.1f} s "
              f"(min {min(values):.1f}, max {max(values):.1f}) over {len(values)} runs")
    return 0 if green else 1


if __name__ == "__main__":
    sys.exit(main())
