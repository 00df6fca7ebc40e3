"""The run's verdict, decided once: every output (terminal, runner, summary.json, report) asks here.

Pure logic over summary.json's data. The order of the questions is the policy:

1. pytest's usage errors and "no tests collected" (4, 5) pass through: nothing ran.
2. An infrastructure fault (summary["infrastructure"], conformance.infrastructure) stands: exit 3
   and one line naming it; no CONFORMANT / NOT CONFORMANT either way (also with --strict), the
   clause matrix keeps the verdicts of the clauses whose tests it left untouched.
3. pytest's other "no verdict" statuses (2 interrupted or collection error, 3 internal or cluster
   error) pass through.
4. The clause matrix: a failed clause (with --strict: or one not fully checked), or a failed test
   that names no clause, is NOT CONFORMANT (1); otherwise 0, CONFORMANT only when every clause passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.infrastructure import Fault, summary_line
from conformance.matrix import FAIL, PARTIAL, PASS, SKIP, UNTESTED

INFRASTRUCTURE_EXIT = 3
# pytest exit codes that mean "no verdict": interrupted/usage (2, also collection errors), internal error (3),
# command line usage (4), no tests collected (5). conformance.run passes them on unchanged.
NO_VERDICT_STATUSES = {2: "interrupted, a collection error or a usage error", 3: "internal error (or the cluster "
                       "could not be brought up or reached)", 4: "command line usage error", 5: "no tests collected"}


@dataclass(frozen=True)
class Verdict:
    code: int      # the runner's exit code
    sentence: str  # the line that explains it
    short: str     # a few words for the report's front page


def bad_clauses(summary: Mapping[str, Any], strict: bool | None = None) -> list[str]:
    """Clauses that make the run fail: failed ones; with --strict also skipped, partial and untested."""
    strict = summary.get("strict", False) if strict is None else strict
    bad = {FAIL} | ({SKIP, PARTIAL, UNTESTED} if strict else set())
    return [c["id"] for c in summary.get("clauses", []) if c["verdict"] in bad]


def infrastructure_faults(summary: Mapping[str, Any] | None) -> list[Fault]:
    return [Fault.from_json(f) for f in (summary or {}).get("infrastructure") or []]


def decide(pytest_status: int, summary: Mapping[str, Any] | None) -> Verdict:
    """The verdict of a run from pytest's exit status and summary.json (None if none was written)."""
    if pytest_status in (4, 5):
        return Verdict(pytest_status, f"pytest exited {pytest_status}: {NO_VERDICT_STATUSES[pytest_status]}; "
                                      f"no verdict", f"NO VERDICT (exit {pytest_status})")
    faults = infrastructure_faults(summary)
    if faults:
        where = faults[0].node or "API server"
        return Verdict(INFRASTRUCTURE_EXIT, summary_line(faults), f"INFRASTRUCTURE FAULT: {where}, {faults[0].kind}")
    if pytest_status in NO_VERDICT_STATUSES:
        return Verdict(pytest_status, f"pytest exited {pytest_status}: {NO_VERDICT_STATUSES[pytest_status]}; "
                                      f"no verdict", f"NO VERDICT (exit {pytest_status})")
    if summary is None:
        code = pytest_status or 3
        return Verdict(code, "no summary.json was written, so there is no clause verdict", f"NO VERDICT (exit {code})")
    bad = bad_clauses(summary)
    if bad:
        failed = [c["id"] for c in summary.get("clauses", []) if c["verdict"] == FAIL]
        word = "not passed (--strict)" if summary.get("strict") and set(bad) - set(failed) else "failed"
        return Verdict(1, f"NOT CONFORMANT: {len(bad)} clause(s) {word}: {', '.join(bad)}",
                       f"NOT CONFORMANT: {', '.join(bad[:3])}{' …' if len(bad) > 3 else ''}")
    stray = summary.get("tests", {}).get("unattributed_failures", [])
    if stray:
        return Verdict(1, f"{len(stray)} failed test(s) name no clause: {', '.join(stray[:5])}",
                       f"NOT CONFORMANT: {len(stray)} failed test(s) name no clause")
    counts = summary.get("verdicts", {})
    total = len(summary.get("clauses", []))
    rest = ", ".join(f"{n} {v}" for v, n in counts.items() if v != PASS and n)
    if rest:  # not a full pass: say what is missing, do not call it conformant
        return Verdict(0, f"NO CLAUSE FAILED: {counts.get(PASS, 0)} passed, {rest} (allowed without --strict)",
                       f"NO CLAUSE FAILED: {counts.get(PASS, 0)}/{total} clauses passed")
    return Verdict(0, f"CONFORMANT: all {counts.get(PASS, 0)} clauses passed",
                   f"CONFORMANT: {counts.get(PASS, 0)}/{total} clauses passed")
