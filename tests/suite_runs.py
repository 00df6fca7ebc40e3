"""Run the conformance suite in a child pytest and read back its clause verdicts (tests only).

The end-to-end tests (tests/test_mutants.py on local clusters, tests/test_kind_cluster.py on
kind) judge the suite by what a user gets: its exit code, summary.json's clause verdicts and
its output. One runner serves both so they read the same files the same way; each keeps its
own options, environment and time limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_suite(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 1800) -> tuple[int, dict[str, str], str]:
    """Run `pytest suites *args` in a subprocess; return its exit code, clause verdicts and output.

    The output is also kept in `tmp_path/output.txt` and the report in `tmp_path/report`;
    a run that wrote no summary.json fails the calling test with the output's tail."""
    report = tmp_path / "report"
    command = [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
               f"--alluredir={report / 'allure-results'}", f"--junitxml={report / 'junit.xml'}",
               f"--rcc-report-dir={report}", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    (tmp_path / "output.txt").write_text(output)
    summary = report / "summary.json"
    assert summary.exists(), f"no summary.json (exit {result.returncode}):\n{output[-3000:]}"
    verdicts = {c["id"]: c["verdict"] for c in json.loads(summary.read_text())["clauses"]}
    return result.returncode, verdicts, output
