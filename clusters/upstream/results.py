"""Reading what the two suites leave behind: Ginkgo's JUnit, pytest's JUnit, the clause matrix.

Pure parsing (no cluster, no subprocess) so tests/test_compare_upstream.py can check it on
small hand-written documents.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from clusters.upstream import clauses as upstream_clauses

# Ginkgo writes every spec of the binary into the JUnit file; those the focus filtered out are
# "skipped" with this exact message, a spec that skipped itself says "skipped - <reason>".
GINKGO_FILTERED = "skipped"
GINKGO_FAILED_STATES = {"failed", "panicked", "timedout", "interrupted", "aborted"}
SPEC_PREFIX = "[It] "
# Ginkgo appends the spec's labels in brackets, e.g. "... [Serial] [sig-node, Serial]".
_LABEL_SUFFIX = re.compile(r"\s+\[[^\[\]]*\]$")

MATRIX_LINE = re.compile(r"^(RC-[A-Z]+-\d+)\s+(PASSED|FAILED|PARTIAL|SKIPPED|UNTESTED)\s+(\d+)/(\d+)\s")
PYTEST_TAIL = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


@dataclass
class TestResult:
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float = 0.0
    message: str = ""
    clauses: tuple[str, ...] = ()


@dataclass
class SuiteRun:
    """One run of one suite: per-test outcomes, the suite's own time and (for pytest) clause verdicts."""

    tests: list[TestResult] = field(default_factory=list)
    suite_seconds: float = 0.0
    setup_failures: list[str] = field(default_factory=list)  # Ginkgo suite nodes, pytest collection errors
    verdicts: dict[str, str] = field(default_factory=dict)  # clause -> verdict (this suite's matrix)

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tests)

    @property
    def run(self) -> int:
        """Tests that executed (passed or failed); skipped ones did not check anything."""
        return self.count("passed") + self.count("failed")

    @property
    def failed_tests(self) -> list[str]:
        return [t.name for t in self.tests if t.outcome == "failed"]

    def covered_clauses(self) -> set[str]:
        """Clauses named by a test that executed."""
        return {c for t in self.tests if t.outcome in ("passed", "failed") for c in t.clauses}

    def failed_clauses(self) -> set[str]:
        if self.verdicts:
            return {c for c, v in self.verdicts.items() if v == "failed"}
        return {c for t in self.tests if t.outcome == "failed" for c in t.clauses}


def spec_name(junit_name: str) -> str:
    """'[It] [sig-node] RuntimeClass should X [Serial] [sig-node, Serial]' -> '[sig-node] RuntimeClass should X [Serial]'."""
    name = junit_name.removeprefix(SPEC_PREFIX)
    # The last bracket group holds the comma-joined labels Ginkgo adds; drop exactly that one.
    match = _LABEL_SUFFIX.search(name)
    if match and ("," in match.group(0) or match.group(0).strip("[] ").startswith("sig-")):
        name = name[:match.start()]
    return name


def parse_ginkgo_junit(path: Path) -> SuiteRun:
    root = ET.parse(path).getroot()
    run = SuiteRun(suite_seconds=float(root.get("time") or 0.0))
    for case in root.iter("testcase"):
        name, status = case.get("name", ""), case.get("status", "")
        skipped = case.find("skipped")
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        if not name.startswith(SPEC_PREFIX):
            if status in GINKGO_FAILED_STATES or failure is not None:
                run.setup_failures.append(f"{name}: {_message(failure)}")
            continue
        if status == "skipped" and skipped is not None and skipped.get("message", "") == GINKGO_FILTERED:
            continue  # not selected by the focus
        if status == "pending":
            continue
        if status in GINKGO_FAILED_STATES or failure is not None:
            outcome, message = "failed", _message(failure) or status
        elif status == "skipped":
            outcome = "skipped"
            message = (skipped.get("message", "") if skipped is not None else "").removeprefix("skipped - ")
        else:
            outcome, message = "passed", ""
        short = spec_name(name)
        run.tests.append(TestResult(short, outcome, float(case.get("time") or 0.0), message,
                                    tuple(upstream_clauses.clauses_of(short))))
    return run


def parse_pytest_junit(path: Path) -> SuiteRun:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    run = SuiteRun(suite_seconds=sum(float(s.get("time") or 0.0) for s in suites))
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        clause_ids = tuple(c for c in props.get("clauses", "").split(",") if c)
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            outcome, message = "failed", _message(failure)
        elif skipped is not None:
            outcome, message = "skipped", skipped.get("message", "")
        else:
            outcome, message = "passed", ""
        if not case.get("name") and failure is not None:
            run.setup_failures.append(message)
            continue
        run.tests.append(TestResult(name, outcome, float(case.get("time") or 0.0), message, clause_ids))
    return run


def parse_clause_matrix(output: str) -> dict[str, str]:
    """The plugin's 'RuntimeClass clause matrix' section of pytest's terminal output -> clause: verdict."""
    verdicts = {}
    for line in output.splitlines():
        match = MATRIX_LINE.match(line.strip())
        if match:
            verdicts[match.group(1)] = match.group(2).lower()
    return verdicts


def load_summary(path: Path) -> dict[str, str]:
    """summary.json of the report work, if it has landed: {"clauses": [{"id", "verdict"}, ...]}."""
    if not path.exists():
        return {}
    return {c["id"]: c["verdict"] for c in json.loads(path.read_text()).get("clauses", [])}


def parse_pytest_tail(output: str) -> dict[str, int]:
    """Counts from pytest's last line, e.g. '64 passed, 1 skipped, 65 warnings in 93.55s'."""
    lines = [line for line in output.splitlines() if " in " in line and re.search(r"\d+ (passed|failed)", line)]
    if not lines:
        return {}
    counts: dict[str, int] = {}
    for number, word in PYTEST_TAIL.findall(lines[-1]):
        counts["errors" if word.startswith("error") else word] = int(number)
    return counts


def _message(element: ET.Element | None) -> str:
    if element is None:
        return ""
    text = element.get("message") or (element.text or "")
    return " ".join(text.split())[:300]
