"""Upstream Kubernetes' own RuntimeClass e2e tests vs this suite, on one warm local cluster.

    python3 bench/compare_upstream.py [--rounds 3] [--variants | --variant NAME] [--keep-cluster]
                                      [--no-handler-probe] [--no-warm-up] [--out DIR] [--workers 1,2,4]
    python3 bench/compare_upstream.py --report-only DIR      # print the tables of an earlier run again

What it does (issue 6):
1. Builds (once, cached as `kubernetes-e2e-<version>`) upstream's `e2e.test` for the
   topology's Kubernetes version: `clusters.toolbox.binaries.ensure_e2e_test`.
2. Brings up the `rcc-upstream` cluster (clusters/upstream/topology.yaml: test-handler on
   both nodes, own ports/addresses/CIDRs), timing a warm bring-up, and imports the images
   upstream's tests use under their registry.k8s.io references (clusters/upstream/images.py).
3. Runs, alternately, `--rounds` times: upstream's focus
   `RuntimeClass|validates pod overhead is considered` (11 specs), then this suite once per
   `--workers` count (default: serial, `-n 2` and the main job's default,
   conformance.run.DEFAULT_WORKERS); each with the cluster's peak memory sampled. Before each
   timed run it waits until the previous run's namespaces are gone (`settle`), so neither suite
   is charged for the other's clean-up.
4. With `--variants`, brings up the broken clusters of tests/test_mutants.py (one at a time,
   same cluster name) and records which suite failed on each.
5. Prints Markdown tables for docs/performance.md. Raw data lands in `--out` (results.json, reports).

Upstream tests are mapped to SPEC.md clauses in clusters/upstream/clauses.py (with the
reasoning). This suite's clauses come from its JUnit properties and its clause matrix
(summary.json instead, when the report work that writes it has landed).

`--no-handler-probe`: upstream's `NodeSupportsPreconfiguredRuntimeClassHandler` greps
/etc/containerd/config.toml on the node through a privileged hostexec pod; by default the
script links that path to a node's real containerd config during upstream runs (only if the
path is free; removed afterwards). Without it, two upstream specs skip.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_local_cluster import PeakSampler  # noqa: E402
from bench.upstream_tables import Bench, RunRecord, print_report  # noqa: E402
from clusters.toolbox.binaries import ensure_binaries, ensure_e2e_test  # noqa: E402
from clusters.local.cluster import LocalCluster  # noqa: E402
from clusters.toolbox.kubernetes_source import pause_source  # noqa: E402
from clusters.local.variants import BROKEN_VARIANTS
from clusters.local.topology import Topology, load_topology  # noqa: E402
from clusters.upstream import host, images, results  # noqa: E402
from conformance.run import DEFAULT_WORKERS  # noqa: E402

TOPOLOGY = ROOT / "clusters" / "upstream" / "topology.yaml"
FOCUS = "RuntimeClass|validates pod overhead is considered"
UPSTREAM_TIMEOUT = 45 * 60
SUITE_TIMEOUT = 30 * 60
SETTLE_TIMEOUT = 180


# The plugin writes summary.json only when asked (conformance.run asks); older checkouts lack the option.
SUITE_WRITES_SUMMARY = "--rcc-report-dir" in (ROOT / "conformance" / "plugin.py").read_text()


# --- the two suites -------------------------------------------------------------


def upstream_command(e2e: Path, kubeconfig: Path, kubectl: Path, report_dir: Path) -> list[str]:
    return [str(e2e), f"--kubeconfig={kubeconfig}", "--provider=skeleton", f"--ginkgo.focus={FOCUS}",
            "--ginkgo.no-color", f"--ginkgo.junit-report={report_dir / 'junit.xml'}", f"--report-dir={report_dir}",
            # No ServiceAccount admission wait, no log dumps (they ssh to nodes), Debian nodes.
            "--e2e-verify-service-account=false", "--dump-logs-on-failure=false", "--disable-log-dump",
            "--node-os-distro=debian", f"--kubectl-path={kubectl}"]


def suite_command(topology: Path, report_dir: Path, workers: int, apiserver_args: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "pytest", "suites", f"--topology={topology}", "--keep-cluster", "-q",
               "-p", "no:cacheprovider", f"--alluredir={report_dir / 'allure-results'}",
               f"--junitxml={report_dir / 'junit.xml'}", *(f"--rcc-apiserver-arg={a}" for a in apiserver_args)]
    if SUITE_WRITES_SUMMARY:
        command.append(f"--rcc-report-dir={report_dir}")
    return command + (["-n", str(workers)] if workers > 1 else [])


def settle(cluster: LocalCluster, timeout: float = SETTLE_TIMEOUT) -> float:
    """Wait until no namespace is terminating; the seconds it took.

    Both suites delete their namespaces at the end without waiting for them to go, and the
    namespace controller's burst of LISTs and DELETEs (thousands of API requests) would
    otherwise land on whichever run comes next and be counted as that run's time.
    """
    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if not any(ns.metadata.deletion_timestamp for ns in api.list_namespace().items):
            break
        time.sleep(0.5)
    api.api_client.close()
    return time.monotonic() - began


def timed(command: list[str], cluster: LocalCluster, log: Path, timeout: float,
          env: dict[str, str] | None = None) -> tuple[int, float, int]:
    log.parent.mkdir(parents=True, exist_ok=True)
    settle(cluster)
    with log.open("w") as sink, PeakSampler(cluster.layout.root, interval=0.5) as sampler:
        began = time.monotonic()
        try:
            code = subprocess.run(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=env).returncode
        except subprocess.TimeoutExpired:
            code = -1
        wall = time.monotonic() - began
    return code, wall, sampler.peak


def run_upstream(bench: Bench, cluster: LocalCluster, report_dir: Path) -> RunRecord:
    env = {**os.environ, "PATH": f"{bench.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = upstream_command(bench.e2e, cluster.kubeconfig, bench.kubectl, report_dir)
    code, wall, peak = timed(command, cluster, report_dir / "output.txt", UPSTREAM_TIMEOUT, env)
    junit = report_dir / "junit.xml"
    run = results.parse_ginkgo_junit(junit) if junit.exists() else results.SuiteRun(setup_failures=["no junit"])
    return RunRecord("upstream", code, wall, peak, run, str(report_dir))


def run_suite(bench: Bench, cluster: LocalCluster, report_dir: Path, workers: int, topology: Path,
              apiserver_args: tuple[str, ...] = ()) -> RunRecord:
    command = suite_command(topology, report_dir, workers, apiserver_args)
    code, wall, peak = timed(command, cluster, report_dir / "output.txt", SUITE_TIMEOUT)
    junit = report_dir / "junit.xml"
    run = results.parse_pytest_junit(junit) if junit.exists() else results.SuiteRun(setup_failures=["no junit"])
    output = (report_dir / "output.txt").read_text(errors="replace")
    run.verdicts = results.load_summary(report_dir / "summary.json") or results.parse_clause_matrix(output)
    kind = "suite-serial" if workers <= 1 else f"suite-n{workers}"
    return RunRecord(kind, code, wall, peak, run, str(report_dir))


# --- cluster ----------------------------------------------------------------------


def bring_up(bench: Bench, topology: Topology, apiserver_args: tuple[str, ...] = (),
             measure: bool = False) -> LocalCluster:
    cluster = LocalCluster(topology, apiserver_extra_args=apiserver_args, progress=lambda _m: None)
    if measure:
        cluster.down()
        with PeakSampler(cluster.layout.root) as sampler:
            began = time.monotonic()
            cluster.up()
            bench.warm_up_seconds = time.monotonic() - began
            time.sleep(5)  # settle, as bench_local_cluster.py does
        bench.up_peak_bytes = sampler.peak
    else:
        cluster.up()
    archives = images.build_archives(cluster.cache_dir / "images" / f"upstream-{topology.kubernetes_version}",
                                     pause_source(topology.kubernetes_version))
    images.import_into_nodes(cluster, archives)
    return cluster


# --- main -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also run both suites on the broken variants")
    parser.add_argument("--variant", action="append", default=[], choices=[v.name for v in BROKEN_VARIANTS],
                        help="only this variant (repeatable; implies --variants)")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the rcc-upstream cluster running")
    parser.add_argument("--no-handler-probe", action="store_true",
                        help="do not link /etc/containerd/config.toml for upstream's handler probe")
    parser.add_argument("--no-warm-up", action="store_true", help="reuse a running cluster instead of timing down+up")
    parser.add_argument("--out", type=Path, default=None, help="folder for reports and results.json")
    parser.add_argument("--workers", default=f"1,2,{DEFAULT_WORKERS}",
                        help="xdist worker counts to run this suite with, each round (1 = serial; default "
                             f"1,2,{DEFAULT_WORKERS}: serial, -n 2 and the main job's default)")
    parser.add_argument("--report-only", type=Path, metavar="DIR",
                        help="print the tables again from an earlier run's folder; touches no cluster")
    args = parser.parse_args()
    try:
        worker_counts = list(dict.fromkeys(int(n) for n in args.workers.split(",")))
    except ValueError:
        parser.error(f"--workers {args.workers!r}: use comma-separated counts, e.g. 1,2,4")
    if args.report_only:
        bench, rounds = load_bench(args.report_only)
        print_report(bench, rounds, load_topology(TOPOLOGY), FOCUS)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="rcc-compare-upstream-"))
    out.mkdir(parents=True, exist_ok=True)
    topology = load_topology(TOPOLOGY)
    bench = Bench(out=out, topology_path=TOPOLOGY, handler_probe=not args.no_handler_probe)

    def say(message: str) -> None:
        print(f"[compare] {message}", flush=True)

    say(f"reports in {out}; load average {os.getloadavg()[0]:.1f}")
    bench.e2e = ensure_e2e_test(topology.kubernetes_version, progress=say)
    seconds_file = bench.e2e.parent / ".build-seconds"
    bench.e2e_build_seconds = seconds_file.read_text().strip() if seconds_file.exists() else "?"
    binaries = ensure_binaries(topology.kubernetes_version,
                               {r.binary for r in topology.runtimes.values() if r.from_host}, progress=lambda _m: None)
    bench.kubectl = binaries["kubectl"]
    cluster = bring_up(bench, topology, measure=not args.no_warm_up)
    say(f"cluster {topology.name} up (warm bring-up {bench.warm_up_seconds:.1f} s); upstream images imported")
    try:
        for n in range(1, args.rounds + 1):
            with host.handler_probe_config(cluster, enabled=bench.handler_probe) as note:
                bench.probe_note = note
                record = run_upstream(bench, cluster, out / f"round{n}" / "upstream")
            bench.records.append(record)
            say(f"round {n}: upstream {record.wall_seconds:.0f} s, {_one_line(record)}")
            for workers in worker_counts:
                record = run_suite(bench, cluster, out / f"round{n}" / f"suite-n{workers}", workers, TOPOLOGY)
                bench.records.append(record)
                say(f"round {n}: this suite (-n {workers}) {record.wall_seconds:.0f} s, {_one_line(record)}")
        if args.variants or args.variant:
            for variant in (v for v in BROKEN_VARIANTS if (not args.variant or v.name in args.variant)
                            and v.fits(TOPOLOGY)):
                folder = out / "variants" / variant.name
                topo_path = variant.topology_file(TOPOLOGY, folder)
                say(f"variant {variant.name}: bringing up")
                cluster = bring_up(bench, load_topology(topo_path), variant.apiserver_args)
                with host.handler_probe_config(cluster, enabled=bench.handler_probe):
                    up = run_upstream(bench, cluster, folder / "upstream")
                say(f"variant {variant.name}: upstream {up.wall_seconds:.0f} s, {_one_line(up)}")
                ours = run_suite(bench, cluster, folder / "suite", 2, topo_path, variant.apiserver_args)
                say(f"variant {variant.name}: this suite {ours.wall_seconds:.0f} s, {_one_line(ours)}")
                bench.variants[variant.name] = {"upstream": up, "suite": ours}
            if args.keep_cluster:
                cluster = bring_up(bench, topology)  # leave the unbroken cluster behind
    finally:
        dump = {"e2e_build_seconds": bench.e2e_build_seconds, "warm_up_seconds": bench.warm_up_seconds,
                "up_peak_mib": round(bench.up_peak_bytes / 2**20), "rounds": args.rounds,
                "probe_note": bench.probe_note, "records": [r.summary() for r in bench.records],
                "variants": {k: {s: r.summary() for s, r in v.items()} for k, v in bench.variants.items()}}
        (out / "results.json").write_text(json.dumps(dump, indent=2))
        if not args.keep_cluster:
            cluster.down()
            say(f"cluster {topology.name} down")
    print_report(bench, args.rounds, topology, FOCUS)


def load_bench(folder: Path) -> tuple[Bench, int]:
    """An earlier run, from its results.json and the JUnit files and outputs it points to."""
    raw = json.loads((folder / "results.json").read_text())

    def record(summary: dict) -> RunRecord:
        report_dir = Path(summary["report_dir"])
        junit, output = report_dir / "junit.xml", report_dir / "output.txt"
        if summary["kind"] == "upstream":
            run = results.parse_ginkgo_junit(junit) if junit.exists() else results.SuiteRun()
        else:
            run = results.parse_pytest_junit(junit) if junit.exists() else results.SuiteRun()
            run.verdicts = results.load_summary(report_dir / "summary.json") or \
                results.parse_clause_matrix(output.read_text(errors="replace") if output.exists() else "")
        return RunRecord(summary["kind"], summary["exit_code"], summary["wall_seconds"],
                         summary["peak_mib"] * 2**20, run, str(report_dir))

    bench = Bench(out=folder, topology_path=TOPOLOGY, handler_probe=True,
                  e2e_build_seconds=raw["e2e_build_seconds"], warm_up_seconds=raw["warm_up_seconds"],
                  up_peak_bytes=raw["up_peak_mib"] * 2**20, probe_note=raw.get("probe_note", "?"))
    bench.records = [record(r) for r in raw["records"]]
    bench.variants = {name: {k: record(r) for k, r in recs.items()} for name, recs in raw["variants"].items()}
    rounds = raw.get("rounds") or sum(r.kind == "upstream" for r in bench.records)
    return bench, rounds


def _one_line(record: RunRecord) -> str:
    run = record.run
    text = (f"exit {record.exit_code}: {run.run} run, {run.count('passed')} passed, {run.count('skipped')} skipped, "
            f"{run.count('failed')} failed")
    if run.setup_failures:
        text += f"; suite-level failures: {run.setup_failures[:2]}"
    return text


if __name__ == "__main__":
    main()
