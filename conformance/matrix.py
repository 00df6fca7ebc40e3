"""Clause bookkeeping: from test reports to one verdict per clause. Pure logic, no I/O.

A clause PASSES when every test naming it passed; FAILS when any failed or
errored; is SKIPPED when none ran (the skip reasons say which capability was
missing); is UNTESTED when no collected test names it, or when a test naming it
met an infrastructure fault (conformance.infrastructure; the reason says which)
and none failed. Nothing skipped counts as passed: one skipped test next to
passing ones makes the clause PARTIAL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.clauses import CLAUSES, Clause

PASS, FAIL, SKIP, PARTIAL, UNTESTED = "passed", "failed", "skipped", "partial", "untested"
# A test's outcome (not a clause verdict) when it met an infrastructure fault instead of an answer.
INFRASTRUCTURE = "infrastructure"


@dataclass
class TestOutcome:
    nodeid: str
    outcome: str  # passed | failed | skipped | infrastructure
    message: str = ""
    duration: float = 0.0


@dataclass
class ClauseResult:
    clause: Clause
    tests: list[TestOutcome] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        outcomes = {t.outcome for t in self.tests}
        if not outcomes:
            return UNTESTED
        if "failed" in outcomes:
            return FAIL
        if INFRASTRUCTURE in outcomes:
            return UNTESTED
        if outcomes == {"passed"}:
            return PASS
        if outcomes == {"skipped"}:
            return SKIP
        return PARTIAL

    def to_json(self) -> dict:
        clause = self.clause
        return {
            "id": clause.id, "family": clause.family, "title": clause.title, "verdict": self.verdict,
            "tests": [t.__dict__ for t in self.tests],
            "skip_reasons": sorted({t.message for t in self.tests if t.outcome == "skipped"}),
            **({"untested_reason": "infrastructure fault: " + "; ".join(sorted(
                {t.message for t in self.tests if t.outcome == INFRASTRUCTURE}))}
               if self.verdict == UNTESTED and any(t.outcome == INFRASTRUCTURE for t in self.tests) else {}),
            "divergence": ({"seed": clause.seed_says, "reference": clause.reference_says,
                            "observed": sorted(set(self.observed))} if clause.seed_says else None),
        }


class ClauseTracker:
    """Collects one outcome per test (setup, call and teardown folded together)."""

    def __init__(self) -> None:
        self.results = {cid: ClauseResult(c) for cid, c in CLAUSES.items()}
        self._seen: dict[str, TestOutcome] = {}

    def add(self, nodeid: str, when: str, outcome: str, clauses: list[str], message: str = "",
            duration: float = 0.0, observed: dict[str, str] | None = None) -> None:
        if not clauses:
            return
        current = self._seen.get(nodeid)
        if current is None:
            if when == "teardown" and outcome == "passed":
                return
            if when == "setup" and outcome == "passed":
                return  # wait for the call phase
            current = TestOutcome(nodeid, outcome, message, duration)
            self._seen[nodeid] = current
            for cid in clauses:
                self.results[cid].tests.append(current)
        elif outcome == INFRASTRUCTURE and current.outcome != INFRASTRUCTURE:
            current.outcome, current.message = INFRASTRUCTURE, message  # e.g. a teardown that met the fault
        elif outcome == "failed" and current.outcome not in ("failed", INFRASTRUCTURE):
            current.outcome, current.message = "failed", message
        for cid, form in (observed or {}).items():
            if cid in self.results:
                self.results[cid].observed.append(form)

    def verdicts(self) -> dict[str, str]:
        return {cid: r.verdict for cid, r in self.results.items()}

    def failed_clauses(self, strict: bool = False) -> list[str]:
        bad = {FAIL} | ({SKIP, PARTIAL, UNTESTED} if strict else set())
        return [cid for cid, verdict in self.verdicts().items() if verdict in bad]

    def table(self) -> list[str]:
        """The clause matrix as terminal lines."""
        lines = [f"{'clause':<10} {'verdict':<9} {'tests':>5}  title"]
        for cid, result in self.results.items():
            counts = f"{sum(t.outcome == 'passed' for t in result.tests)}/{len(result.tests)}"
            line = f"{cid:<10} {result.verdict.upper():<9} {counts:>5}  {result.clause.title[:70]}"
            if result.observed:
                line += f"  [observed: {', '.join(sorted(set(result.observed)))}]"
            lines.append(line)
        totals = {v: list(self.verdicts().values()).count(v) for v in (PASS, FAIL, PARTIAL, SKIP, UNTESTED)}
        lines.append("clauses: " + ", ".join(f"{n} {v}" for v, n in totals.items()))
        return lines
