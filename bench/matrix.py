"""The version matrix: the full suite on the local cluster at each Kubernetes version x CRI release.

    python3 bench/matrix.py [--topology FILE] [--cells PATTERN,...] [-n 2] [--out DIR] [--docs DIR] [--list]
    python3 bench/matrix.py --collect DIR --docs DIR     (the table from cells run elsewhere, e.g. CI jobs)

Platform teams run Kubernetes 1.34 to 1.37, on containerd 2.x, on containerd 1.7 node pools
(config version 2, no Node.status.runtimeHandlers) and on CRI-O. Each cell is one such
cluster: a copy of `--topology` with `kubernetesVersion` and the nodes' `criVersion` set
(`cell_topology`), its binaries built from the Go module proxy (timed apart: `build_s`, 0 when
cached), then `pytest suites` on it (`run_s`: bring-up, the suite, teardown), its report kept in
`--out/<cell>/`. Cells run one after another (cold builds are long; what versions share is cached).

The table is written from the results, never by hand: docs/matrix.json (every cell, with the
reasons of every clause that did not pass) and docs/matrix.md; a README block between
`<!-- matrix:begin -->` and `<!-- matrix:end -->` gets the short form. A run of some cells
(`--cells '1.35*/containerd-1.7*'`, shell-style patterns) updates only those rows; a cell never
run stays in the table as "not run" with the reason.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clusters.toolbox.binaries import CONTAINERD_VERSION  # noqa: E402
from clusters.local.cri.crio_config import CRIO_VERSION  # noqa: E402
from clusters.toolbox.errors import ClusterError  # noqa: E402
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology  # noqa: E402
from conformance.report import decide_exit  # noqa: E402

CONTAINERD_1_7 = "v1.7.35"  # the newest 1.7 the Go module proxy serves here (and builds)
RUN_TIMEOUT = 60 * 60
NOT_RUN = "not run"


@dataclass(frozen=True)
class Cell:
    """One cluster of the matrix: a Kubernetes release and the CRI release under test.

    `one_node`: only the first node of that CRI runs `cri_version` (a node pool not yet upgraded
    beside upgraded ones); the others keep the project's default release.
    """

    kubernetes: str
    cri: str  # containerd | crio
    cri_version: str
    one_node: bool = False
    note: str = ""

    @property
    def id(self) -> str:
        cri = "cri-o" if self.cri == "crio" else self.cri
        return f"{self.kubernetes.lstrip('v')}/{cri}-{self.cri_version.lstrip('v')}"

    @property
    def cri_label(self) -> str:
        name = "CRI-O" if self.cri == "crio" else "containerd"
        return f"{name} {self.cri_version}" + (" (one node)" if self.one_node else "")


# Served by the Go module proxy here: k8s.io/kubernetes v1.34.0-4, v1.35.4, v1.36.1, v1.36.3, v1.37.2;
# containerd 1.7.x to v1.7.35 and 2.2-2.4; CRI-O only v1.34.0 (its minor tracks Kubernetes').
CELLS = (
    *(Cell(k, "containerd", CONTAINERD_VERSION) for k in ("v1.34.4", "v1.35.4", "v1.36.3", "v1.37.2")),
    *(Cell(k, "containerd", CONTAINERD_1_7, one_node=True) for k in ("v1.34.4", "v1.35.4")),
    Cell("v1.34.4", "crio", CRIO_VERSION),
)
# Beyond what upstream supports (Kubernetes 1.35 is the last release for containerd 1.x): run with --cells.
EXTRA_CELLS = (Cell("v1.37.2", "containerd", CONTAINERD_1_7, one_node=True,
                    note="beyond upstream support: Kubernetes 1.35 is the last release for containerd 1.x"),)


def select(patterns: list[str], cells: tuple[Cell, ...] = CELLS + EXTRA_CELLS) -> list[Cell]:
    """Cells whose id matches a pattern; without patterns the default cells (not the extra ones)."""
    if not patterns:
        return list(CELLS)
    chosen = [c for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    if not chosen:
        known = ", ".join(c.id for c in cells)
        raise ValueError(f"--cells {','.join(patterns)} matches no cell; cells are: {known}")
    return chosen


def cell_topology(base: dict, cell: Cell) -> dict:
    """A copy of the base topology at the cell's versions.

    containerd cells keep only the containerd nodes (a CRI-O node beside a Kubernetes release its
    minor does not track would be out of CRI-O's support); CRI-O cells keep every node, the
    containerd ones at the default release.
    """
    raw = copy.deepcopy(base)
    raw["kubernetesVersion"] = cell.kubernetes
    nodes = raw["nodes"]
    if cell.cri == "containerd":
        nodes = [n for n in nodes if n.get("cri", "containerd") == "containerd"]
    first = True
    for node in nodes:
        node.pop("criVersion", None)
        if node.get("cri", "containerd") == cell.cri and (first or not cell.one_node):
            node["criVersion"] = cell.cri_version
            first = False
    if first:
        raise ValueError(f"cell {cell.id}: the base topology has no {cell.cri} node")
    if len(nodes) < 2:
        raise ValueError(f"cell {cell.id}: the base topology leaves fewer than two nodes for this cell")
    raw["nodes"] = nodes
    return raw


def build(topology: Path) -> tuple[float, int | None]:
    """Build (or find cached) every binary of the cell's cluster: seconds spent now, and the seconds
    its cached components' cold builds took (their `.build-seconds`; None when none recorded them)."""
    from clusters.local.cluster import LocalCluster

    started = time.monotonic()
    binaries = LocalCluster(load_topology(topology), progress=lambda m: print(f"    {m}", flush=True)).ensure_binaries()
    spent = round(time.monotonic() - started, 1)
    records = [folder / ".build-seconds" for folder in {p.parent for p in binaries.paths.values()}]
    cold = [int(r.read_text().strip()) for r in records if r.exists()]
    return spent, (sum(cold) if cold else None)


def suite_command(topology: Path, workers: int, report: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites", f"--topology={topology}", "-n", str(workers), "-q",
            "-p", "no:cacheprovider", f"--rcc-report-dir={report}"]


def run_cell(cell: Cell, base: dict, out: Path, workers: int) -> dict:
    folder = out / cell.id.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    topology = folder / "topology.yaml"
    topology.write_text(yaml.safe_dump(cell_topology(base, cell), sort_keys=False))
    result = cell_row(cell) | {"status": "ran", "report": str(folder / "report"),
                               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    print(f"[matrix] {cell.id}: building", flush=True)
    started = time.monotonic()
    try:
        result["build_s"], result["cold_build_s"] = build(topology)
    except ClusterError as err:
        return result | {"status": "build failed", "build_s": round(time.monotonic() - started, 1),
                         "verdict": f"no verdict: {err}"}
    print(f"[matrix] {cell.id}: built in {result['build_s']} s; running the suite", flush=True)
    started = time.monotonic()
    with (folder / "pytest.log").open("w") as log:
        try:
            code = subprocess.run(suite_command(topology, workers, folder / "report"), cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            code = 2
    result["run_s"] = round(time.monotonic() - started, 1)
    summary_file = folder / "report" / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    return result | from_summary(code, summary, folder / "pytest.log")


def from_summary(code: int, summary: dict | None, log: Path) -> dict:
    """Clause counts, the verdict sentence and why each clause that did not pass did not."""
    _, sentence = decide_exit(code, summary)
    if summary is None:
        tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        return {"status": "no verdict", "verdict": f"{sentence}{': ' + tail[0] if tail else ''}"}
    counts = summary.get("verdicts", {})
    why = {}
    for clause in summary.get("clauses", []):
        if clause["verdict"] == "passed":
            continue
        reasons = clause.get("skip_reasons") or [t.get("message", "") for t in clause.get("tests", [])
                                                 if t.get("outcome") == "failed"]
        why[clause["id"]] = {"verdict": clause["verdict"],
                             "why": (reasons[0] if reasons else clause.get("untested_reason", "")).strip()[:300]}
    nodes = (summary.get("cluster") or {}).get("nodes", [])
    return {"verdict": sentence, "clauses": {k: counts.get(k, 0) for k in ("passed", "failed", "skipped",
                                                                          "partial", "untested")},
            "not_passed": why, "cris": sorted({n.get("cri_version", "") for n in nodes})}


def cell_row(cell: Cell, reason: str = "") -> dict:
    row = {"cell": cell.id, "kubernetes": cell.kubernetes, "cri": cell.cri, "cri_version": cell.cri_version,
           "cri_label": cell.cri_label, "one_node": cell.one_node, "note": cell.note}
    return row | ({"status": NOT_RUN, "verdict": f"{NOT_RUN} ({reason})"} if reason else {})


def merged(previous: list[dict], ran: list[dict], not_run_reason: str) -> list[dict]:
    """Every default cell (and every extra one that ever ran), the newest result of each."""
    rows = {r["cell"]: r for r in previous if r.get("status") != NOT_RUN}  # a reason not to run is today's
    rows.update({r["cell"]: r for r in ran})
    order = [c.id for c in CELLS + EXTRA_CELLS]
    for cell in CELLS + EXTRA_CELLS:  # a known cell's labels and note are today's, whenever it ran
        if cell.id in rows:
            rows[cell.id] = rows[cell.id] | cell_row(cell)
    for cell in CELLS:
        rows.setdefault(cell.id, cell_row(cell, not_run_reason))
    return sorted(rows.values(), key=lambda r: order.index(r["cell"]) if r["cell"] in order else len(order))


def markdown(rows: list[dict]) -> str:
    lines = ["# Version matrix", "",
             "Generated by `bench/matrix.py` (do not edit by hand): the full suite on the local cluster at each",
             "Kubernetes version x CRI release. Build and run times are seconds on the project's 2-core machine;",
             "a cached build is 0, with its components' recorded cold builds in brackets. Run one cell:",
             "`python3 bench/matrix.py --topology FILE --cells '1.35.4/containerd-1.7.35'`.", "",
             "| Kubernetes | CRI | passed | failed | skipped | verdict | build s | run s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.get("clauses", {})
        counts = [str(c.get(k, "")) if c else "" for k in ("passed", "failed", "skipped")]
        cold = f" (cold: {r['cold_build_s']})" if r.get("cold_build_s") else ""
        lines.append(f"| {r['kubernetes']} | {r['cri_label']} | {' | '.join(counts)} | {r.get('verdict', '')} "
                     f"| {r.get('build_s', '')}{cold} | {r.get('run_s', '')} |")
    remarks = [f"- {r['cell']}: {r['note']}" for r in rows if r.get("note")]
    if remarks:
        lines += ["", "Cells beyond the issue's matrix:", "", *remarks]
    notes = [(r["cell"], cid, n) for r in rows for cid, n in r.get("not_passed", {}).items()]
    if notes:
        lines += ["", "## Why a clause did not pass", ""]
        lines += [f"- {cell} **{cid}** {n['verdict']}: {n['why'] or '(no message)'}" for cell, cid, n in notes]
    return "\n".join(lines) + "\n"


def readme_block(rows: list[dict]) -> str:
    lines = ["| Kubernetes | CRI | verdict |", "|---|---|---|"]
    lines += [f"| {r['kubernetes']} | {r['cri_label']} | {r.get('verdict', '')} |" for r in rows]
    return "\n".join(lines)


def write_docs(docs: Path, rows: list[dict], readme: Path | None) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "matrix.json").write_text(json.dumps({"cells": rows}, indent=2) + "\n")
    (docs / "matrix.md").write_text(markdown(rows))
    if readme and readme.exists():
        text = readme.read_text()
        begin, end = "<!-- matrix:begin -->", "<!-- matrix:end -->"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            readme.write_text(f"{head}{begin}\n{readme_block(rows)}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY,
                        help="base topology (its name, ports and addresses are the cluster each cell uses)")
    parser.add_argument("--cells", default="", help="comma-separated shell patterns of cell ids; default: all")
    parser.add_argument("-n", type=int, default=2, help="pytest-xdist workers per run")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "matrix", help="each cell's report")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where matrix.md and matrix.json go")
    parser.add_argument("--not-run-reason", default="not selected in this run of bench/matrix.py")
    parser.add_argument("--list", action="store_true", help="print the cells and exit")
    parser.add_argument("--collect", type=Path, metavar="DIR",
                        help="run nothing: write the table from every DIR/**/matrix.json (CI's parallel cells)")
    args = parser.parse_args(argv)
    if args.collect:
        found = [row for f in sorted(args.collect.rglob("matrix.json")) for row in json.loads(f.read_text())["cells"]
                 if row.get("status") != NOT_RUN]
        readme = ROOT / "README.md" if args.docs.resolve() == (ROOT / "docs").resolve() else None
        write_docs(args.docs, merged([], found, args.not_run_reason), readme)
        print(f"matrix: {len(found)} cell result(s) from {args.collect} -> {args.docs / 'matrix.md'}")
        return 0
    try:
        cells = select([p for p in args.cells.split(",") if p])
        base = yaml.safe_load(args.topology.read_text())
        for cell in cells:
            cell_topology(base, cell)
    except (ValueError, OSError, yaml.YAMLError) as err:
        print(f"matrix: {err}", file=sys.stderr)
        return 2
    if args.list:
        for cell in cells:
            note = f"; {cell.note}" if cell.note else ""
            print(f"{cell.id:<28} Kubernetes {cell.kubernetes}, {cell.cri_label}{note}")
        return 0
    previous_file = args.docs / "matrix.json"
    previous = json.loads(previous_file.read_text())["cells"] if previous_file.exists() else []
    ran = []
    for cell in cells:
        row = run_cell(cell, base, args.out, args.n)
        print(f"[matrix] {cell.id}: {row['verdict']} (build {row.get('build_s')} s, run {row.get('run_s')} s)",
              flush=True)
        ran.append(row)
        write_docs(args.docs, merged(previous, ran, args.not_run_reason), ROOT / "README.md")
    return 0 if all(r["verdict"].startswith(("CONFORMANT", "NO CLAUSE FAILED")) for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
