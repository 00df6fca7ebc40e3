"""bench/matrix.py's pure parts: which cells, each cell's topology, and the table written from results.

No cluster runs here: a cell's run is the suite itself (bench/matrix.py --cells ID runs one).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from clusters.local.topology import DEFAULT_TOPOLOGY

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_matrix", ROOT / "bench" / "matrix.py")
matrix = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = matrix  # dataclasses look their module up there
spec.loader.exec_module(matrix)
BASE = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


def cell(cell_id: str):
    return next(c for c in matrix.CELLS + matrix.EXTRA_CELLS if c.id == cell_id)


def test_the_default_cells_are_the_issues_matrix():
    ids = [c.id for c in matrix.CELLS]
    assert ids == ["1.34.4/containerd-2.4.2", "1.35.4/containerd-2.4.2", "1.36.3/containerd-2.4.2",
                   "1.37.2/containerd-2.4.2", "1.34.4/containerd-1.7.35", "1.35.4/containerd-1.7.35",
                   "1.34.4/cri-o-1.34.0"]
    assert [c.id for c in matrix.select(["1.3[45]*/containerd-1.7*"])] == ids[4:6]
    assert [c.id for c in matrix.select(["1.37.2/containerd-1.7.35"])] == ["1.37.2/containerd-1.7.35"]
    with pytest.raises(ValueError, match="matches no cell; cells are: 1.34.4/containerd-2.4.2"):
        matrix.select(["2.0*"])


def test_a_containerd_1_7_cell_puts_one_node_on_1_7_and_keeps_the_rest_on_the_default():
    raw = matrix.cell_topology(BASE, cell("1.35.4/containerd-1.7.35"))
    assert raw["kubernetesVersion"] == "v1.35.4"
    assert [n.get("criVersion") for n in raw["nodes"]] == ["v1.7.35", None]
    assert all(n.get("cri", "containerd") == "containerd" for n in raw["nodes"])
    assert "criVersion" not in BASE["nodes"][0], "the base topology is not changed"


def test_a_cri_o_cell_keeps_every_node_and_sets_the_cri_o_release():
    raw = matrix.cell_topology(BASE, cell("1.34.4/cri-o-1.34.0"))
    assert [(n.get("cri", "containerd"), n.get("criVersion")) for n in raw["nodes"]] == \
        [("containerd", None), ("containerd", None), ("crio", "v1.34.0")]


def test_a_base_topology_without_the_cells_cri_is_one_line():
    only_containerd = {**BASE, "nodes": [n for n in BASE["nodes"] if n.get("cri") != "crio"]}
    with pytest.raises(ValueError, match="has no crio node"):
        matrix.cell_topology(only_containerd, cell("1.34.4/cri-o-1.34.0"))


def test_the_table_is_written_from_results_and_keeps_cells_not_run(tmp_path):
    summary = {"verdicts": {"passed": 27, "failed": 0, "skipped": 1, "partial": 0, "untested": 0},
               "failed_clauses": [], "pytest_exit_status": 0, "strict": False, "tests": {},
               "clauses": [{"id": "RC-CRI-2", "verdict": "skipped", "tests": [],
                            "skip_reasons": ["missing capability runtime-handlers-reported: no node's CRI lists"]}]}
    ran = matrix.cell_row(cell("1.35.4/containerd-1.7.35")) | {"status": "ran", "build_s": 0.0, "run_s": 90.0} \
        | matrix.from_summary(0, summary, tmp_path / "log")
    previous = [matrix.cell_row(cell("1.37.2/containerd-1.7.35")) | {"verdict": "CONFORMANT: all 28 clauses passed"}]
    rows = matrix.merged(previous, [ran], "no time left")
    assert len(rows) == len(matrix.CELLS) + 1
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- matrix:begin -->\nold\n<!-- matrix:end -->\nrest\n")
    matrix.write_docs(tmp_path / "docs", rows, readme)
    md = (tmp_path / "docs" / "matrix.md").read_text()
    assert "| v1.35.4 | containerd v1.7.35 (one node) | 27 | 0 | 1 | NO CLAUSE FAILED" in md
    assert "| v1.36.3 | containerd v2.4.2 |  |  |  | not run (no time left) |" in md
    assert "1.35.4/containerd-1.7.35 **RC-CRI-2** skipped: missing capability runtime-handlers-reported" in md
    cells = {c["cell"]: c for c in json.loads((tmp_path / "docs" / "matrix.json").read_text())["cells"]}
    assert cells["1.37.2/containerd-1.7.35"]["verdict"].startswith("CONFORMANT")
    assert cells["1.35.4/containerd-1.7.35"]["clauses"]["skipped"] == 1
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n<!-- matrix:begin -->\n| Kubernetes |") and \
        text.endswith("<!-- matrix:end -->\nrest\n")


def test_the_ci_workflow_runs_every_default_cell_as_its_own_job_and_collects_the_table():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "conformance-matrix.yml").read_text())
    include = workflow["jobs"]["cell"]["strategy"]["matrix"]["include"]
    assert [c["cell"] for c in include] == [c.id for c in matrix.CELLS]
    assert all("/" not in c["slug"] for c in include)
    run = " ".join(s.get("run", "") for s in workflow["jobs"]["cell"]["steps"])
    assert 'bench/matrix.py --cells "${{ matrix.cell }}"' in run
    assert "--collect" in " ".join(s.get("run", "") for s in workflow["jobs"]["table"]["steps"])


def test_collect_writes_one_table_from_the_cells_ci_ran_in_parallel(tmp_path):
    for cell_id, verdict in (("1.34.4/containerd-2.4.2", "CONFORMANT: all 28 clauses passed"),
                             ("1.35.4/containerd-1.7.35", "NOT CONFORMANT: 1 clause(s) failed: RC-CRI-1")):
        job = tmp_path / "jobs" / cell_id.replace("/", "_")
        job.mkdir(parents=True)
        rows = matrix.merged([], [matrix.cell_row(cell(cell_id)) | {"status": "ran", "verdict": verdict}], "other job")
        (job / "matrix.json").write_text(json.dumps({"cells": rows}))
    assert matrix.main(["--collect", str(tmp_path / "jobs"), "--docs", str(tmp_path / "docs"),
                        "--not-run-reason", "its job gave no result"]) == 0
    cells = {c["cell"]: c["verdict"] for c in json.loads((tmp_path / "docs" / "matrix.json").read_text())["cells"]}
    assert cells["1.34.4/containerd-2.4.2"].startswith("CONFORMANT")
    assert cells["1.35.4/containerd-1.7.35"].startswith("NOT CONFORMANT")
    assert cells["1.36.3/containerd-2.4.2"] == "not run (its job gave no result)"
