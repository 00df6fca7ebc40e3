"""The records bench/compare_upstream.py keeps of each run, and the Markdown tables it prints from them.

Kept apart from the script's running of the two suites so each file has one job: this one only
reads records (also those of an earlier run, `--report-only`) and formats them.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from clusters.local.topology import Topology
from clusters.local.variants import BROKEN_VARIANTS
from clusters.upstream import clauses as upstream_clauses
from clusters.upstream import results
from conformance.clauses import CLAUSES
from conformance.settings import DEFAULT_WORKERS


@dataclass
class RunRecord:
    kind: str  # upstream | suite-serial | suite-n<workers>
    exit_code: int
    wall_seconds: float
    peak_bytes: int
    run: results.SuiteRun
    report_dir: str

    def summary(self) -> dict:
        return {"kind": self.kind, "exit_code": self.exit_code, "wall_seconds": round(self.wall_seconds, 1),
                "peak_mib": round(self.peak_bytes / 2**20), "run": self.run.run,
                "passed": self.run.count("passed"), "skipped": self.run.count("skipped"),
                "failed": self.run.count("failed"), "setup_failures": self.run.setup_failures,
                "failed_tests": self.run.failed_tests, "covered_clauses": sorted(self.run.covered_clauses()),
                "failed_clauses": sorted(self.run.failed_clauses()), "report_dir": self.report_dir}


@dataclass
class Bench:
    out: Path
    topology_path: Path
    handler_probe: bool
    e2e: Path = Path()
    kubectl: Path = Path()
    e2e_build_seconds: str = "?"
    warm_up_seconds: float = 0.0
    up_peak_bytes: int = 0
    records: list[RunRecord] = field(default_factory=list)
    variants: dict[str, dict[str, RunRecord]] = field(default_factory=dict)
    probe_note: str = ""


# --- report -----------------------------------------------------------------------


def _seconds(values: list[float]) -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    return f"{median:.0f} s" + (f" ({min(values):.0f}–{max(values):.0f})" if len(values) > 1 else "")


def _counts(records: list[RunRecord]) -> str:
    last = records[-1].run
    text = f"{last.run} / {last.count('passed')} / {last.count('skipped')} / {last.count('failed')}"
    outcomes = {(r.run.run, r.run.count("passed"), r.run.count("skipped"), r.run.count("failed")) for r in records}
    return text if len(outcomes) == 1 else text + f" (varied over {len(records)} rounds)"


def _upstream_coverage(records: list[RunRecord]) -> dict[str, str]:
    ran = [t.name for r in records for t in r.run.tests if t.outcome in ("passed", "failed")]
    return upstream_clauses.coverage(ran)


def comparison_table(bench: Bench) -> list[str]:
    order = ["upstream", "suite-serial", *sorted({r.kind for r in bench.records if r.kind.startswith("suite-n")},
                                                 key=lambda k: int(k.removeprefix("suite-n")))]
    kinds = {k: [r for r in bench.records if r.kind == k] for k in order}
    present = [k for k, rs in kinds.items() if rs]
    titles = {"upstream": "upstream e2e (RuntimeClass focus)", "suite-serial": "this suite, serial",
              **{k: f"this suite, `-n {k.removeprefix('suite-n')}`" + (" (main job's default)" if k ==
                                                                       f"suite-n{DEFAULT_WORKERS}" else "")
                 for k in order if k.startswith("suite-n")}}
    upstream_wall = statistics.median(r.wall_seconds for r in kinds["upstream"]) if kinds["upstream"] else 0
    cov_up = _upstream_coverage(kinds["upstream"])
    ours = next((kinds[k] for k in order[1:] if kinds[k]), [])
    cov_ours = ours[-1].run.covered_clauses() if ours else set()
    lines = ["| | " + " | ".join(titles[k] for k in present) + " |", "|---|" + "---|" * len(present)]
    row = {
        "wall time, median (min–max)": lambda rs: _seconds([r.wall_seconds for r in rs]),
        "relative to upstream": lambda rs: (f"{statistics.median(r.wall_seconds for r in rs) / upstream_wall:.1f}×"
                                            if upstream_wall else "—"),
        "tests run / passed / skipped / failed": _counts,
        f"SPEC.md clauses covered (of {len(CLAUSES)})": lambda rs: (
            f"{len(cov_up)} ({sum(v == 'full' for v in cov_up.values())} fully, "
            f"{sum(v == 'partial' for v in cov_up.values())} in part)" if rs[0].kind == "upstream"
            else f"{len(rs[-1].run.covered_clauses())}"),
        "clause verdicts": lambda rs: (_verdicts(rs[-1].run.verdicts) if rs[0].kind != "upstream"
                                       else _upstream_verdicts(rs[-1].run)),
        "cluster peak memory during the run": lambda rs: f"{max(r.peak_bytes for r in rs) / 2**20:.0f} MiB",
    }
    for label, fn in row.items():
        lines.append(f"| {label} | " + " | ".join(fn(kinds[k]) for k in present) + " |")
    only_ours = sorted(cov_ours - set(cov_up), key=list(CLAUSES).index)
    only_up = sorted(set(cov_up) - cov_ours, key=list(CLAUSES).index)
    lines += ["", f"Clauses only this suite covers ({len(only_ours)}): {', '.join(only_ours) or '—'}.  ",
              f"Clauses only upstream covers ({len(only_up)}): {', '.join(only_up) or '—'}."]
    return lines


def _verdicts(verdicts: dict[str, str]) -> str:
    counts = {v: list(verdicts.values()).count(v) for v in ("passed", "failed", "partial", "skipped", "untested")}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "—"


def _upstream_verdicts(run: results.SuiteRun) -> str:
    failed = {c for t in run.tests if t.outcome == "failed" for c in t.clauses}
    covered = run.covered_clauses()
    return f"{len(covered - failed)} passed, {len(failed)} failed (no verdict of its own; via the map)"


def clause_table(bench: Bench) -> list[str]:
    ups = [r for r in bench.records if r.kind == "upstream"]
    ours = [r for r in bench.records if r.kind == "suite-serial"] or [r for r in bench.records if r.kind != "upstream"]
    cov_up = _upstream_coverage(ups)
    tests_by_clause: dict[str, list[str]] = {}
    for t in upstream_clauses.UPSTREAM_TESTS:
        for cid in t.clauses:
            tests_by_clause.setdefault(cid, []).append(t.short + (" (part)" if cid in t.partial else ""))
    lines = ["| clause | upstream e2e | upstream test(s) | this suite |", "|---|---|---|---|"]
    for cid in CLAUSES:
        ours_verdict = ours[-1].run.verdicts.get(cid, "—") if ours else "—"
        ours_tests = [t for t in ours[-1].run.tests if cid in t.clauses] if ours else []
        cell = f"{ours_verdict} ({sum(t.outcome == 'passed' for t in ours_tests)}/{len(ours_tests)})" if ours else "—"
        names = "; ".join(tests_by_clause.get(cid, [])) or "—"
        lines.append(f"| {cid} | {cov_up.get(cid, '—')} | {names} | {cell} |")
    return lines


def variants_table(bench: Bench) -> list[str]:
    lines = ["| broken variant | clauses it breaks (tests/test_mutants.py) | upstream e2e: failed specs "
             "| this suite: failed clauses | detected by |", "|---|---|---|---|---|"]
    for variant in BROKEN_VARIANTS:
        recs = bench.variants.get(variant.name)
        if not recs:
            continue
        up, ours = recs["upstream"], recs["suite"]
        up_failed = [upstream_clauses.short_name(t.name) for t in up.run.tests if t.outcome == "failed"]
        up_detected = up.exit_code != 0 or bool(up_failed) or bool(up.run.setup_failures)
        ours_failed = sorted(ours.run.failed_clauses(), key=list(CLAUSES).index)
        ours_detected = ours.exit_code != 0
        who = " and ".join(n for n, d in (("upstream", up_detected), ("this suite", ours_detected)) if d) or "neither"
        up_cell = f"{len(up_failed)} of {up.run.run} in {up.wall_seconds:.0f} s" + \
            (": " + "; ".join(up_failed) if up_failed else "")
        exact = "= the expected set" if set(ours_failed) == set(variant.breaks) else "≠ the expected set"
        ours_cell = (f"{len(ours_failed)} ({ours.run.count('failed')} of {ours.run.run} tests) in "
                     f"{ours.wall_seconds:.0f} s, {exact}")
        lines.append(f"| {variant.name} | {', '.join(sorted(variant.breaks, key=list(CLAUSES).index))} | {up_cell} "
                     f"| {ours_cell} | {who} |")
    return lines


def _bring_up_note(bench: Bench) -> str:
    if not bench.warm_up_seconds:
        return "Warm bring-up: not measured (--no-warm-up)."
    return (f"Warm bring-up to all nodes Ready: {bench.warm_up_seconds:.1f} s; cluster peak memory at bring-up "
            f"{bench.up_peak_bytes / 2**20:.0f} MiB.")


def _short(name: str) -> str:
    return name.replace("[sig-node] RuntimeClass ", "").replace("[sig-scheduling] SchedulerPredicates ", "")[:90]


def print_report(bench: Bench, rounds: int, topology: Topology, focus: str) -> None:
    ups = [r for r in bench.records if r.kind == "upstream"]
    print("\n## Upstream RuntimeClass e2e vs this suite\n")
    print(f"Cluster `{topology.name}` ({len(topology.nodes)} nodes, Kubernetes {topology.kubernetes_version}, "
          f"{os.cpu_count()} cores), {rounds} alternating round(s), same warm cluster for all runs. "
          f"Upstream focus: `--ginkgo.focus='{focus}'`. "
          f"`e2e.test` build: {bench.e2e_build_seconds} s (once, cached). {_bring_up_note(bench)} "
          f"Handler probe: {bench.probe_note}.\n")
    for line in comparison_table(bench):
        print(line)
    print("\n### Per clause (upstream: which tests, full or partial; this suite: verdict, tests passed/run)\n")
    for line in clause_table(bench):
        print(line)
    if bench.variants:
        print("\n### Broken clusters (tests/test_mutants.py's variants): who notices\n")
        for line in variants_table(bench):
            print(line)
    for title, records in (("Upstream specs", ups), ("This suite's tests", [r for r in bench.records
                                                                          if r.kind != "upstream"])):
        skipped = {t.name: t.message for r in records for t in r.run.tests if t.outcome == "skipped"}
        failed = {t.name: t.message for r in records for t in r.run.tests if t.outcome == "failed"}
        if skipped or failed:
            print(f"\n{title} that did not pass (any round):")
            for name, why in {**skipped, **failed}.items():
                print(f"- {'FAILED' if name in failed else 'skipped'}: {_short(name)} — {why[:200]}")
