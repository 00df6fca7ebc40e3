"""What `python -m conformance.run` adds to the Allure results before generating the report.

A "Clause matrix" result (not a test: the matrix as its description, failed when the run is
not conformant), environment.properties, the categories and the report config with the
front page's variables; all made from summary.json (conformance.report), nothing from a cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance.clauses import SPEC_URL
from conformance.isolation_report import containment_variables, front_page_variables
from conformance.report import decide_exit, matrix_document, matrix_html
from conformance.verdict import decide

# The synthetic Allure result that carries the matrix; check_report.py finds it by this name.
MATRIX_RESULT_NAME = "verdict per clause, divergences, capabilities"
MATRIX_FEATURE_PREFIX = "Clause matrix"
MATRIX_ATTACHMENT = "rcc-clause-matrix-attachment.html"
SUMMARY_ATTACHMENT = "rcc-summary-attachment.json"


def _ms(iso: str | None, default: int) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else default


def matrix_feature(summary: Mapping[str, Any]) -> str:
    counts = summary.get("verdicts", {})
    shown = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none"
    return f"{MATRIX_FEATURE_PREFIX}: {len(summary.get('clauses', []))} clauses, {shown}"


def allure_matrix_result(summary: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """An Allure result "Clause matrix" (not a test): failed when the run is not conformant.

    Its feature label sorts before the "RC-…" clause groups, so it is the first row of the tree.
    """
    code, sentence = decide_exit(summary.get("pytest_exit_status", 0), summary)
    timing = summary.get("timing", {})
    start = _ms(timing.get("started"), now_ms)
    stop = max(start, _ms(timing.get("finished"), now_ms))
    key = hashlib.md5(f"rcc-clause-matrix:{summary.get('run_id', '')}".encode()).hexdigest()
    history = hashlib.md5(b"rcc-clause-matrix").hexdigest()
    note = ("<p style=\"opacity:.75\">This entry is not a test: <code>python -m conformance.run</code> adds it "
            "to every report (the totals above count it once). It fails when the run is not conformant. "
            "The same data is in <code>summary.json</code> beside the report.</p>")
    return {
        "uuid": f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:32]}",
        "historyId": history, "testCaseId": history,
        "fullName": "conformance.run#clause-matrix",
        "name": MATRIX_RESULT_NAME,
        "status": "passed" if code == 0 else "failed",
        "statusDetails": {"message": sentence},
        "stage": "finished",
        "start": start, "stop": stop,
        "descriptionHtml": matrix_html(summary) + note,
        "labels": [{"name": "feature", "value": matrix_feature(summary)},
                   {"name": "epic", "value": "Conformance verdict"},
                   {"name": "severity", "value": "critical"}],
        "links": [{"type": "link", "url": summary.get("spec", SPEC_URL), "name": "SPEC.md"}],
        "attachments": [
            {"name": "Clause matrix (HTML page)", "source": MATRIX_ATTACHMENT, "type": "text/html"},
            {"name": "summary.json", "source": SUMMARY_ATTACHMENT, "type": "application/json"},
        ],
        "parameters": [], "steps": [], "titlePath": [],
    }


def _prop_escape(text: str, key: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif ord(ch) > 126 or ord(ch) < 32:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def environment_entries(summary: Mapping[str, Any]) -> dict[str, str]:
    """Run and cluster facts for the report's front page ("Metadata"); short keys: Allure cuts long ones."""
    entries = {"run id": summary.get("run_id", "")}
    cluster = summary.get("cluster")
    if cluster:
        entries["Kubernetes"] = cluster["server_version"]
        entries["API server"] = cluster["server"]
        for node in cluster["nodes"]:
            entries[node["name"]] = (f"{node.get('cri_version') or 'CRI not reported'}; "
                                     f"handlers: {', '.join(node['handlers']) or '(not reported)'}"
                                     + ("" if node["schedulable"] else " (not schedulable)"))
        missing = [row["capability"] for row in summary.get("capabilities", []) if not row["available"]]
        entries["missing"] = ", ".join(missing) or "no capability missing"
    else:
        entries["cluster"] = "none (see pytest's output)"
    entries["strict"] = "yes" if summary.get("strict") else "no"
    return entries


def environment_properties(summary: Mapping[str, Any]) -> str:
    """environment.properties (Java properties; Allure 3 shows it as the front page's Metadata)."""
    return "".join(f"{_prop_escape(k, True)}={_prop_escape(str(v), False)}\n"
                   for k, v in environment_entries(summary).items())


def report_variables(summary: Mapping[str, Any]) -> dict[str, str]:
    """The front page's "Variables": the verdict in a few short lines (Allure shows 8 before "Show more")."""
    counts = summary.get("verdicts", {})
    verdict = decide(summary.get("pytest_exit_status", 0), summary).short
    tests = summary.get("tests", {})
    variables = {
        "verdict": verdict,
        "clauses": ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none",
        "tests": f"{tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed, {tests.get('skipped', 0)} skipped"
                 + (f", {tests['infrastructure']} infrastructure errors" if tests.get("infrastructure") else ""),
    }
    faults = summary.get("infrastructure") or []
    if faults:  # what broke, on the front page (the matrix entry has every fault and the untested clauses)
        first = faults[0]
        variables["infrastructure"] = (f"{first['node'] or 'API server'}: {first['kind']}: {first['detail']}"[:160]
                                       + (f" (+{len(faults) - 1} more)" if len(faults) > 1 else ""))
    for c in summary.get("clauses", []):
        observed = (c.get("divergence") or {}).get("observed")
        if c.get("divergence"):
            variables[c["id"]] = f"observed: {', '.join(observed)}" if observed else f"not observed ({c['verdict']})"
    variables.update(front_page_variables(summary.get("isolation") or []))
    variables.update(containment_variables(summary.get("containment") or []))
    duration = summary.get("timing", {}).get("duration_s")
    if duration is not None:
        variables["duration"] = f"{duration:.0f} s"
    return variables


def allure_categories() -> list[dict[str, Any]]:
    """Allure 3 categories (the "Categories" tab): failures by family and clause, skips by reason."""
    clause_label = {"feature": "^RC-"}
    return [
        {"id": "rcc-clause-matrix", "name": "Conformance verdict", "hide": True,
         "matchers": {"labels": {"feature": f"^{MATRIX_FEATURE_PREFIX}"}}},
        {"id": "rcc-failed-clauses", "name": "Failed clauses (by family and clause)", "expand": True,
         "matchers": {"statuses": ["failed", "broken"], "labels": clause_label},
         "groupBy": [{"label": "epic"}, {"label": "feature"}]},
        {"id": "rcc-missing-capability", "name": "Skipped: missing capability",
         "matchers": {"statuses": ["skipped"], "message": "missing capability"}, "groupBy": [{"label": "feature"}]},
    ]


def allure_config(summary: Mapping[str, Any], output: Path | str) -> dict[str, Any]:
    """allurerc.json for `allure generate --config`: one self-contained index.html, grouped by clause."""
    return {
        "name": f"RuntimeClass conformance · run {summary.get('run_id', '')}",
        "output": str(output),
        "variables": report_variables(summary),
        "categories": allure_categories(),
        "plugins": {"awesome": {"options": {
            "singleFile": True,        # html/index.html opens from disk, no server needed
            "groupBy": ["feature"],    # one tree row per clause: "RC-API-1: …" with its tests
            "defaultSortBy": "name,asc",
            "reportLanguage": "en",
        }}},
    }


def write_allure_extras(results_dir: Path, summary: Mapping[str, Any], now_ms: int) -> list[Path]:
    """Add the matrix result, its attachments and environment.properties to allure-results."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    result = allure_matrix_result(summary, now_ms)
    files = {
        results_dir / f"{result['uuid']}-result.json": json.dumps(result, indent=1),
        results_dir / MATRIX_ATTACHMENT: matrix_document(summary),
        results_dir / SUMMARY_ATTACHMENT: json.dumps(summary, indent=2, default=str),
        results_dir / "environment.properties": environment_properties(summary),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
