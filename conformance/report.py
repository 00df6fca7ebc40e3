"""The run's report: summary.json, the clause matrix (terminal and HTML), the exit code.

Pure functions from data to data: the plugin calls `session_summary` at
session end (controller only) and writes the result as summary.json;
`python -m conformance.run` reads summary.json back and turns it into the
exit code, and (conformance.allure_extras) into what the Allure report adds.
Nothing here talks to a cluster or runs Allure.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance.clauses import FAMILIES, SPEC_URL
from conformance.isolation_report import NOT_RUN, containment_for, isolation_html, rows_for_summary
from conformance import platform_report, verdict
from conformance.infrastructure import INFRASTRUCTURE_PROPERTY
from conformance.infrastructure_report import INFRASTRUCTURE_COLOUR, infrastructure_html, unique_faults
from conformance.matrix import FAIL, INFRASTRUCTURE, PARTIAL, PASS, SKIP, UNTESTED, ClauseTracker
from conformance.preflight import runtimeclass_api_missing
from conformance.verdict import NO_VERDICT_STATUSES, bad_clauses  # noqa: F401 - part of this module's API

SCHEMA = 1
SUMMARY_FILE = "summary.json"
VERDICTS = (PASS, FAIL, PARTIAL, SKIP, UNTESTED)
BASE_CAPABILITIES = ("workspace", "admin", "nodes>=2", "node-evidence", "disruptive")

COLOURS = {  # verdict -> (background, text); readable on light and dark themes
    PASS: ("#2e7d32", "#ffffff"),
    FAIL: ("#c62828", "#ffffff"),
    PARTIAL: ("#ef6c00", "#ffffff"),
    SKIP: ("#546e7a", "#ffffff"),
    UNTESTED: ("#9e9e9e", "#ffffff"),
}


# --- from the pytest session to summary.json ---------------------------------------------------

def fold_test_reports(reports: Iterable[Any]) -> dict[str, Any]:
    """One outcome per test from pytest's reports (setup, call, teardown), as Allure counts them.

    A test that met an infrastructure fault in any phase (the plugin marks its report with
    INFRASTRUCTURE_PROPERTY) counts as `infrastructure`, never as failed. Otherwise a test failed if
    any phase failed (call failure or setup/teardown error), else skipped if a phase was skipped,
    else passed. `unattributed_failures` lists failed tests that name no
    clause: they cannot show in the clause matrix, so conformance.run counts them separately.
    """
    outcome: dict[str, str] = {}
    clauses: dict[str, str] = {}
    collection_errors = []
    for report in reports:
        when = getattr(report, "when", None)
        nodeid = getattr(report, "nodeid", None)
        if when is None:  # a CollectReport (collection error) or a warning
            if getattr(report, "outcome", None) == "failed":
                collection_errors.append(nodeid or "?")
            continue
        if when not in ("setup", "call", "teardown") or nodeid is None:
            continue
        properties = dict(getattr(report, "user_properties", ()) or ())
        clauses.setdefault(nodeid, str(properties.get("clauses", "")))
        current = outcome.get(nodeid)
        if report.outcome == "failed" and INFRASTRUCTURE_PROPERTY in properties:
            outcome[nodeid] = INFRASTRUCTURE
        elif report.outcome == "failed" and current != INFRASTRUCTURE:
            outcome[nodeid] = "failed"
        elif report.outcome == "skipped" and current not in ("failed", INFRASTRUCTURE):
            outcome[nodeid] = "skipped"
        elif report.outcome == "passed" and current is None and when == "call":
            outcome[nodeid] = "passed"
    counts = {state: sum(1 for o in outcome.values() if o == state)
              for state in ("passed", "failed", "skipped", INFRASTRUCTURE)}
    return {
        "total": len(outcome), **counts,
        "unattributed_failures": sorted(n for n, o in outcome.items() if o == "failed" and not clauses.get(n)),
        "collection_errors": sorted(collection_errors),
    }


def crash_messages(reports: Iterable[Any]) -> dict[str, str]:
    """nodeid -> the exception line of its failure ("WaitFailed: Pod … could not be placed: …").

    The clause tracker keeps the last line of the failure text, which is often only "file:line: Error";
    the crash message is what a reviewer needs in the matrix.
    """
    messages: dict[str, str] = {}
    for report in reports:
        if getattr(report, "outcome", None) != "failed" or getattr(report, "when", None) is None:
            continue
        crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
        message = getattr(crash, "message", None)
        if message and report.nodeid not in messages:
            messages[report.nodeid] = message.strip()[:1000]
    return messages


def pytest_counts(stats: Mapping[str, list]) -> dict[str, int]:
    """pytest's own summary line, category by category (a test may count twice: passed and error)."""
    return {key: len(stats.get(key, [])) for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed",
                                                        "deselected")}


def capability_rows(facts, handlers: Iterable[str]) -> list[dict[str, Any]]:
    """Every capability the suite probes (and every handler under test), available or why not."""
    names = [*BASE_CAPABILITIES, *(f"handler:{h}" for h in sorted(set(handlers)))]
    names += [c for c in facts.missing if c not in names]
    rows = []
    for name in names:
        why = facts.why_missing(name)
        rows.append({"capability": name, "available": why is None, "why_missing": why})
    return rows


def cluster_json(facts) -> dict[str, Any]:
    return {
        "server": facts.server, "server_version": facts.server_version, "node_k8s_io_v1": facts.node_k8s_io_v1,
        "handlers": list(facts.handlers), "handlers_reported": facts.handlers_reported,
        "nodes": [{"name": n.name, "schedulable": n.schedulable, "handlers": list(n.handlers),
                   "cri": n.cri, "cri_version": n.runtime_version,
                   "allocatable": dict(n.allocatable)} for n in facts.nodes],
        "missing": dict(facts.missing),
    }


def clause_counts(clauses: list[dict[str, Any]]) -> dict[str, int]:
    return {v: sum(1 for c in clauses if c["verdict"] == v) for v in VERDICTS}


def build_summary(*, run_id: str, tracker: ClauseTracker, facts=None, handlers: Iterable[str] = (),
                  exit_status: int, strict: bool, tests: dict[str, Any], pytest: dict[str, int] | None = None,
                  started: float | None = None, finished: float | None = None,
                  error: str | None = None, messages: Mapping[str, str] | None = None,
                  isolation: Iterable[Mapping[str, Any]] = (),
                  containment: Iterable[Mapping[str, Any]] = (),
                  platform: Iterable[Mapping[str, Any]] = (),
                  infrastructure: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    """summary.json as a dict. `facts` is None when the cluster never came up (then `error` says why).

    `messages` (nodeid -> crash message) replaces the tracker's message of failed tests. On a cluster
    without the RuntimeClass API, untested clauses carry `untested_reason` (they could not run).
    `infrastructure`: the faults that stood during the run (conformance.infrastructure), as dicts;
    with any, the run has no overall verdict (conformance.verdict) and says what broke.
    """
    isolation = list(isolation)  # read twice: the isolation table and the platform classes table
    api_missing = runtimeclass_api_missing(facts) if facts is not None else None
    untested_why = f"not run because {api_missing}" if api_missing else None
    clauses = []
    for result in tracker.results.values():
        entry = result.to_json()
        entry["tests"] = [dict(t) for t in entry["tests"]]  # to_json hands out the tracker's own dicts
        for test in entry["tests"]:
            if test["outcome"] == "failed" and (messages or {}).get(test["nodeid"]):
                test["message"] = messages[test["nodeid"]]
        entry["passed"] = sum(t.outcome == "passed" for t in result.tests)
        entry["total"] = len(result.tests)
        entry["anchor"] = result.clause.anchor
        if entry["verdict"] == UNTESTED and untested_why and "untested_reason" not in entry:
            entry["untested_reason"] = untested_why
        clauses.append(entry)
    counts = clause_counts(clauses)
    faults = unique_faults(infrastructure)
    summary = {
        "schema": SCHEMA,
        "run_id": run_id,
        "strict": bool(strict),
        "pytest_exit_status": int(exit_status),
        "error": error,
        "timing": {
            "started": _iso(started), "finished": _iso(finished),
            "duration_s": round(finished - started, 3) if started is not None and finished is not None else None,
        },
        "tests": tests,
        "pytest": pytest or {},
        "verdicts": counts,
        "failed_clauses": [c["id"] for c in clauses if c["verdict"] == FAIL],
        "clauses": clauses,
        "capabilities": capability_rows(facts, handlers) if facts is not None else [],
        "cluster": cluster_json(facts) if facts is not None else None,
        "isolation": rows_for_summary(isolation),
        "containment": containment_for(containment),
        "platform_classes": platform_report.rows_for_summary(platform, isolation),
        "spec": SPEC_URL,
        "infrastructure": faults,
        "infrastructure_untested": [c["id"] for c in clauses
                                    if any(t["outcome"] == INFRASTRUCTURE for t in c["tests"])],
    }
    decided = verdict.decide(int(exit_status), summary)
    summary["verdict"] = {"exit": decided.code, "sentence": decided.sentence, "short": decided.short}
    return summary


def session_summary(session, exit_status: int, tracker: ClauseTracker, state=None,
                    handlers: Iterable[str] = (), isolation: Iterable[Mapping[str, Any]] = (),
                    containment: Iterable[Mapping[str, Any]] = (),
                    platform: Iterable[Mapping[str, Any]] = (),
                    infrastructure: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    """Glue for the plugin's pytest_sessionfinish: gathers what build_summary needs from the session."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {}) if reporter else {}
    start = getattr(getattr(reporter, "_session_start", None), "time", None)  # pytest >= 8.4; None before
    reports = [r for key, items in stats.items() if key not in ("warnings", "deselected") for r in items]
    options = state.options if state is not None else None
    return build_summary(
        run_id=options.run_id if options else (config.getoption("run_id", None) or ""),
        tracker=tracker, facts=state.facts if state is not None else None, handlers=handlers,
        exit_status=int(exit_status), strict=options.strict if options else bool(config.getoption("strict", False)),
        tests=fold_test_reports(reports), pytest=pytest_counts(stats), started=start,
        messages=crash_messages(reports), isolation=isolation, containment=containment, platform=platform,
        infrastructure=infrastructure,
        finished=datetime.now(timezone.utc).timestamp(),
        error=None if state is not None else "the suite ran without a cluster (bring-up or connection failed, "
                                              "or no suite was selected); see pytest's output",
    )


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader never sees half a summary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") if ts is not None else None


# --- the verdict and the exit code (decided in conformance.verdict, for every output) ------------

def decide_exit(pytest_status: int, summary: Mapping[str, Any] | None) -> tuple[int, str]:
    """The exit code of `python -m conformance.run` and the sentence that explains it (conformance.verdict)."""
    decided = verdict.decide(pytest_status, summary)
    return decided.code, decided.sentence


# --- the matrix as text ----------------------------------------------------------------------------

def counts_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


def matrix_lines(summary: Mapping[str, Any], width: int = 70) -> list[str]:
    """The clause matrix for the terminal, from summary.json (same shape as matrix.ClauseTracker.table)."""
    lines = [f"{'clause':<10} {'verdict':<9} {'tests':>5}  title"]
    for c in summary.get("clauses", []):
        line = f"{c['id']:<10} {c['verdict'].upper():<9} {str(c['passed']) + '/' + str(c['total']):>5}  " \
               f"{c['title'][:width]}"
        observed = (c.get("divergence") or {}).get("observed")
        if observed:
            line += f"  [observed: {', '.join(observed)}]"
        lines.append(line)
    lines.append("clauses: " + counts_line(summary.get("verdicts", {})))
    reasons = sorted({c["untested_reason"] for c in summary.get("clauses", []) if c.get("untested_reason")})
    lines += [f"untested: {reason}" for reason in reasons]
    lines += [f"infrastructure fault: {f['node'] or 'API server'}: {f['kind']}: {f['detail']} (seen {f['seen_at']})"
              for f in summary.get("infrastructure") or []]
    return lines


# --- the matrix as HTML (the report's "Clause matrix" entry) --------------------------------------

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def verdict_badge(verdict: str) -> str:
    bg, fg = COLOURS.get(verdict, ("#9e9e9e", "#ffffff"))
    return (f'<span data-verdict="{_e(verdict)}" style="display:inline-block;min-width:64px;text-align:center;'
            f'white-space:nowrap;overflow-wrap:normal;padding:2px 6px;border-radius:4px;font-weight:600;'
            f'background:{bg};color:{fg}">{_e(verdict.upper())}</span>')


def _notes(clause: Mapping[str, Any]) -> str:
    notes = []
    divergence = clause.get("divergence")
    if divergence and divergence.get("observed"):
        notes.append("observed: <b>" + _e(", ".join(divergence["observed"])) + "</b>")
    for reason in clause.get("skip_reasons", []):
        notes.append("skipped: " + _e(reason))
    for test in clause.get("tests", []):
        if test["outcome"] == "failed":
            notes.append(f"failed: <code>{_e(test['nodeid'].split('::')[-1])}</code> {_e(test['message'][:300])}")
    if clause["verdict"] == UNTESTED:
        notes.append(_e(clause.get("untested_reason") or "no collected test names this clause"))
    return "<br>".join(notes)


# Allure's description frame styles tables as `display:block;width:max-content` and cells `nowrap`
# (a horizontally scrolling table); inline styles undo that so the matrix wraps to the page's width.
_TABLE = 'style="display:table;border-collapse:collapse;width:100%;max-width:100%;table-layout:fixed;' \
         'margin:4px 0 16px 0"'
_TH = 'style="text-align:left;padding:4px 8px;border-bottom:2px solid #888;white-space:normal"'
_TD = 'style="padding:4px 8px;border-bottom:1px solid #ccc;vertical-align:top;white-space:normal;' \
      'overflow-wrap:anywhere"'


def _cols(*widths: str) -> str:
    return "<colgroup>" + "".join(f'<col style="width:{w}">' for w in widths) + "</colgroup>"


def matrix_html(summary: Mapping[str, Any]) -> str:
    """The clause matrix for a reviewer: verdict per clause (coloured), divergences, capabilities, cluster."""
    code, sentence = decide_exit(summary.get("pytest_exit_status", 0), summary)
    complete = all(c["verdict"] == PASS for c in summary.get("clauses", []))
    faults = summary.get("infrastructure") or []
    bg = INFRASTRUCTURE_COLOUR if faults else COLOURS[FAIL][0] if code != 0 else \
        COLOURS[PASS][0] if complete else COLOURS[PARTIAL][0]
    tests = summary.get("tests", {})
    timing = summary.get("timing", {})
    parts = [
        f'<div data-rcc="verdict" style="padding:8px 12px;border-radius:6px;background:{bg};color:#fff;'
        f'font-weight:600;margin-bottom:8px">{_e(sentence)}</div>',
        f'<p data-rcc="facts">run <code>{_e(summary.get("run_id", ""))}</code>'
        f'{" · --strict" if summary.get("strict") else ""} · clauses: {_e(counts_line(summary.get("verdicts", {})))}'
        f' · tests: {tests.get("passed", 0)} passed, {tests.get("failed", 0)} failed, '
        f'{tests.get("skipped", 0)} skipped · pytest exit status {summary.get("pytest_exit_status")}'
        + (f' · {timing["duration_s"]:.0f} s' if timing.get("duration_s") is not None else "") + "</p>",
    ]
    if summary.get("error"):
        parts.append(f'<p style="color:{COLOURS[FAIL][0]}"><b>{_e(summary["error"])}</b></p>')
    if faults:
        parts.append(infrastructure_html(summary, _TABLE, _TH, _TD))
    parts.append(f'<h3 style="margin:12px 0 4px 0">Clause matrix (<code>{_e(summary.get("spec", SPEC_URL))}</code>)'
                 '</h3>')
    parts.append(f'<table data-rcc="matrix" {_TABLE}>{_cols("11%", "14%", "7%", "38%", "30%")}<thead><tr><th {_TH}>Clause</th><th {_TH}>Verdict</th>'
                 f'<th {_TH}>Tests passed</th><th {_TH}>The clause</th><th {_TH}>Notes</th></tr></thead><tbody>')
    by_family: dict[str, list] = {}
    for clause in summary.get("clauses", []):
        by_family.setdefault(clause["family"], []).append(clause)
    for family, clauses in by_family.items():
        parts.append(f'<tr><td colspan="5" style="padding:8px 8px 2px 8px;font-weight:700;white-space:normal;'
                     f'border-bottom:1px solid #888">{_e(FAMILIES.get(family, family))}</td></tr>')
        for c in clauses:
            parts.append(f'<tr data-clause="{_e(c["id"])}"><td {_TD}><b>{_e(c["id"])}</b></td>'
                         f'<td {_TD}>{verdict_badge(c["verdict"])}</td><td {_TD}>{c["passed"]}/{c["total"]}</td>'
                         f'<td {_TD}>{_e(c["title"])}</td><td {_TD}>{_notes(c)}</td></tr>')
    parts.append("</tbody></table>")

    parts.append(isolation_html(summary.get("isolation") or [], _TABLE, _TH, _TD, summary.get("containment") or [],
                                _containment_not_run(summary)))
    parts.append(platform_report.platform_html(summary.get("platform_classes") or [], _TABLE, _TH, _TD))
    parts.append(isolation_html(summary.get("isolation") or [], _TABLE, _TH, _TD))

    divergent = [c for c in summary.get("clauses", []) if c.get("divergence")]
    if divergent:
        parts.append('<h3 style="margin:12px 0 4px 0">Divergences: which form did this cluster show?</h3>')
        parts.append(f'<table data-rcc="divergences" {_TABLE}>{_cols("12%", "28%", "30%", "30%")}<thead><tr><th {_TH}>Clause</th>'
                     f'<th {_TH}>The seed says</th><th {_TH}>The reference (upstream) does</th>'
                     f'<th {_TH}>Observed on this cluster</th></tr></thead><tbody>')
        for c in divergent:
            d = c["divergence"]
            observed = ", ".join(d.get("observed") or []) or "(not observed: " + c["verdict"] + ")"
            parts.append(f'<tr data-divergence="{_e(c["id"])}"><td {_TD}><b>{_e(c["id"])}</b></td>'
                         f'<td {_TD}>{_e(d["seed"])}</td><td {_TD}>{_e(d["reference"])}</td>'
                         f'<td {_TD}><b>{_e(observed)}</b></td></tr>')
        parts.append("</tbody></table>")

    if summary.get("capabilities"):
        parts.append('<h3 style="margin:12px 0 4px 0">Capabilities</h3>')
        parts.append(f'<table data-rcc="capabilities" {_TABLE}>{_cols("30%", "15%", "55%")}<thead><tr><th {_TH}>Capability</th>'
                     f'<th {_TH}>Available</th><th {_TH}>Why missing</th></tr></thead><tbody>')
        for row in summary["capabilities"]:
            mark = verdict_badge(PASS).replace(">PASSED<", ">YES<") if row["available"] else \
                verdict_badge(SKIP).replace(">SKIPPED<", ">MISSING<")
            parts.append(f'<tr><td {_TD}><code>{_e(row["capability"])}</code></td><td {_TD}>{mark}</td>'
                         f'<td {_TD}>{_e(row["why_missing"] or "")}</td></tr>')
        parts.append("</tbody></table>")

    cluster = summary.get("cluster")
    if cluster:
        parts.append('<h3 style="margin:12px 0 4px 0">Cluster</h3>')
        parts.append(f'<p>{_e(cluster["server"])} · Kubernetes <b>{_e(cluster["server_version"])}</b> · '
                     f'node.k8s.io/v1 served: {"yes" if cluster["node_k8s_io_v1"] else "NO"}</p>')
        parts.append(f'<table data-rcc="nodes" {_TABLE}>{_cols("25%", "12%", "23%", "40%")}<thead><tr>'
                     f'<th {_TH}>Node</th><th {_TH}>Schedulable</th><th {_TH}>CRI (containerRuntimeVersion)</th>'
                     f'<th {_TH}>Handlers (Node.status.runtimeHandlers)</th></tr></thead><tbody>')
        for node in cluster["nodes"]:
            parts.append(f'<tr><td {_TD}>{_e(node["name"])}</td><td {_TD}>{"yes" if node["schedulable"] else "no"}'
                         f'</td><td {_TD}>{_e(node.get("cri_version") or "(not reported)")}'
                         f'</td><td {_TD}>{_e(", ".join(node["handlers"]) or "(not reported)")}</td></tr>')
        parts.append("</tbody></table>")
    return "\n".join(parts)


def matrix_document(summary: Mapping[str, Any]) -> str:
    """The same matrix as a standalone page (the attachment, openable on its own)."""
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>Clause matrix, run {_e(summary.get('run_id', ''))}</title></head>"
            '<body style="font-family:sans-serif;max-width:1100px;margin:16px auto">'
            f"{matrix_html(summary)}</body></html>\n")


def _containment_not_run(summary: Mapping[str, Any]) -> str:
    """Why the isolation table has no containment verdict: RC-OVH-8's skip message when its membership test skipped."""
    clause = next((c for c in summary.get("clauses", []) if c["id"] == "RC-OVH-8"), None)
    skipped = [t for t in (clause or {}).get("tests", []) if t.get("outcome") == "skipped" and t.get("message")]
    return f"RC-OVH-8's membership test skipped: {skipped[0]['message']}" if skipped else NOT_RUN
