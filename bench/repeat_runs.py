"""The suite, run N times in a row on one warm local cluster: how many runs were green.

    python3 bench/repeat_runs.py [--runs 20] [-n 2] [--topology FILE] [--keep-cluster] [--out DIR]

Flakiness check of issue 13 (not a timed test): a faster suite must stay green run after run.
The cluster of `--topology` (default: clusters/local/topology.yaml) is brought up once (reused if
healthy), then `pytest suites -n N --keep-cluster` runs `--runs` times one after another. A run is
green when pytest exits 0 and every clause of its summary.json passed. Prints one line per run
and ends with `green: G/N`; the exit code is 0 only if every run was green. Each run's output,
JUnit and summary.json stay in `--out` for a failure to be read.
"""

from __future__ import annotations

import argparse
import json
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


def suite_command(topology: Path, workers: int, report_dir: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites", f"--topology={topology}", "--keep-cluster", "-q",
            "-p", "no:cacheprovider", "-n", str(workers), f"--junitxml={report_dir / 'junit.xml'}",
            f"--rcc-report-dir={report_dir}"]


def verdict(code: int, report_dir: Path) -> tuple[bool, str]:
    """Green or not, and why not: the failed clauses and tests of summary.json."""
    try:
        summary = json.loads((report_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False, f"exit {code}, no summary.json"
    not_passed = [f"{c['id']} {c['verdict']}" for c in summary.get("clauses", []) if c["verdict"] != "passed"]
    tests = summary.get("tests", {})
    if code == 0 and not not_passed:
        return True, f"{tests.get('passed', 0)} passed, {tests.get('skipped', 0)} skipped"
    return False, f"exit {code}; clauses not passed: {', '.join(not_passed) or '-'}; {tests.get('failed', 0)} tests failed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("-n", "--workers", type=int, default=2, help="xdist workers per run (default 2)")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster running at the end")
    parser.add_argument("--out", type=Path, default=None, help="folder for each run's output and reports")
    args = parser.parse_args()
    if args.runs < 1 or args.workers < 0:
        parser.error("--runs must be at least 1 and -n at least 0")
    out = args.out or Path(tempfile.mkdtemp(prefix="rcc-repeat-runs-"))
    out.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(load_topology(args.topology), progress=lambda _m: None)
    print(f"[repeat] cluster {cluster.topology.name} up (reused if healthy); reports in {out}", flush=True)
    cluster.up()
    green, walls = 0, []
    try:
        for n in range(1, args.runs + 1):
            report_dir = out / f"run{n:02d}"
            report_dir.mkdir(parents=True, exist_ok=True)
            began = time.monotonic()
            with (report_dir / "output.txt").open("w") as sink:
                try:
                    code = subprocess.run(suite_command(args.topology, args.workers, report_dir), cwd=ROOT,
                                          stdout=sink, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT).returncode
                except subprocess.TimeoutExpired:
                    code = -1
            walls.append(time.monotonic() - began)
            ok, detail = verdict(code, report_dir)
            green += ok
            print(f"[repeat] run {n}/{args.runs}: {'green' if ok else 'NOT green'} in {walls[-1]:.1f} s ({detail})",
                  flush=True)
    finally:
        if not args.keep_cluster:
            cluster.down()
    print(f"green: {green}/{len(walls)} consecutive runs of `pytest suites -n {args.workers}` "
          f"(wall median {statistics.median(walls):.1f} s, min {min(walls):.1f}, max {max(walls):.1f})")
    return 0 if green == len(walls) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
