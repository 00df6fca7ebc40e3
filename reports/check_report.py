#!/usr/bin/env python3
"""Look at a run's HTML report as a person would: headless Chromium, screenshots, the rendered DOM.

    python reports/check_report.py reports/runs/<run-id>

Serves <run>/html/ on 127.0.0.1 (a free port) with `python -m http.server`, opens index.html in
headless Chromium (`apt-get install -y chromium` if missing), and writes
    <run>/screenshot.png          the report's front page (counts, verdict, one tree row per clause)
    <run>/screenshot-matrix.png   the "Clause matrix" entry (coloured verdict per clause, divergences)
Then checks the rendered DOM (--dump-dom) against <run>/summary.json: the totals Allure shows are
the suite's (plus the one "Clause matrix" entry), every clause that ran has its row in the tree, and
the matrix page lists every clause with its verdict and the observed form of each divergence.
Exit 0 when all checks hold, 1 when one fails, 2 when the report or Chromium is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conformance import allure_extras, report  # noqa: E402 - the names the matrix entry is written with

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars"]
ATTEMPTS = 5  # on a busy machine the report's 4-5 MB page may not have rendered within one virtual-time budget
MIN_SCREENSHOT_BYTES = 50_000  # a rendered page is 150-450 kB as PNG; a half-loaded one is ~25 kB


def find_chromium(explicit: str | None) -> str | None:
    for name in ([explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(directory: Path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(base + "index.html", timeout=2) as answer:
                    answer.read(64)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"http.server on port {port} did not answer")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def chromium(binary: str, url: str, *, screenshot: Path | None = None, size: str = "1400,1800",
             budget_ms: int = 15000) -> str:
    """One fresh headless Chromium: a screenshot, or the DOM after the page's scripts ran."""
    with tempfile.TemporaryDirectory(prefix="rcc-chromium-") as profile:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                   f"--virtual-time-budget={budget_ms}"]
        command += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=120)
    if screenshot is not None:
        if not screenshot.exists() or screenshot.stat().st_size == 0:
            raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}")
        return ""
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium --dump-dom failed (exit {done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def rendered_dom(binary: str, url: str, markers: list[str]) -> str:
    """The DOM once the app has rendered (all markers present); retried with a growing time budget."""
    dom = ""
    for attempt in range(1, ATTEMPTS + 1):
        dom = chromium(binary, url, budget_ms=15000 * attempt)
        if all(marker in dom for marker in markers):
            break
    return dom


def rendered_screenshot(binary: str, url: str, path: Path, size: str) -> bool:
    """A screenshot of the rendered page (a near-empty PNG means it was taken too early: retried)."""
    for attempt in range(1, ATTEMPTS + 1):
        chromium(binary, url, screenshot=path, size=size, budget_ms=15000 * attempt)
        if path.stat().st_size >= MIN_SCREENSHOT_BYTES:
            return True
    return False


def shown_counts(dom: str) -> dict[str, int]:
    """The totals at the top of the report: data-testid="metadata-item-<status>" ... <span>N</span>."""
    counts = {}
    for match in re.finditer(r'data-testid="metadata-item-(\w+)"', dom):
        window = dom[match.end():match.end() + 600]
        number = re.search(r'data-testid="metadata-value"[^>]*>(?:<div[^>]*></div>)?<span[^>]*>(\d+)</span>', window)
        if number and match.group(1) not in counts:
            counts[match.group(1)] = int(number.group(1))
    return counts


def expected_counts(summary: dict) -> dict[str, int]:
    """What Allure should show: the suite's tests plus the one "Clause matrix" entry."""
    tests = summary["tests"]
    code, _ = report.decide_exit(summary["pytest_exit_status"], summary)
    return {"total": tests["total"] + 1, "passed": tests["passed"] + (code == 0),
            "failed+broken": tests["failed"] + (code != 0), "skipped": tests["skipped"]}


def description_of(dom: str) -> str:
    """Allure renders a result's description in an iframe (srcdoc): the HTML the reader sees there."""
    frame = re.search(r'<iframe[^>]*data-testid="test-result-description-frame"[^>]*srcdoc="([^"]*)"', dom)
    return html.unescape(frame.group(1)) if frame else ""


def text_of(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def check(run_dir: Path, binary: str) -> list[str]:
    summary = json.loads((run_dir / report.SUMMARY_FILE).read_text())
    html_dir = run_dir / "html"
    ids = json.loads((html_dir / "test-results.json").read_text())["byId"]
    matrix_ids = [i for i, tr in ids.items() if tr["name"] == allure_extras.MATRIX_RESULT_NAME]
    problems = []
    if len(matrix_ids) != 1:
        problems.append(f"expected one '{allure_extras.MATRIX_RESULT_NAME}' entry in the report, found {len(matrix_ids)}")
    with serve(html_dir) as base:
        front = base + "index.html"
        dom = rendered_dom(binary, front, ['data-testid="metadata-item-total"', 'data-testid="tree-'])
        if not rendered_screenshot(binary, front, run_dir / "screenshot.png", "1400,1800"):
            problems.append("screenshot.png looks blank (the page did not render)")
        matrix_dom = ""
        if matrix_ids:
            page = f"{front}#/{matrix_ids[0]}"
            matrix_dom = description_of(rendered_dom(binary, page, ['data-testid="test-result-description-frame"']))
            if not matrix_dom:
                problems.append("the Clause matrix page shows no description")
            if not rendered_screenshot(binary, page, run_dir / "screenshot-matrix.png", "1400,3600"):
                problems.append("screenshot-matrix.png looks blank (the page did not render)")

    # The front page: totals, the verdict, one tree row per clause that ran.
    shown = shown_counts(dom)
    want = expected_counts(summary)
    got = {"total": shown.get("total", 0), "passed": shown.get("passed", 0),
           "failed+broken": shown.get("failed", 0) + shown.get("broken", 0), "skipped": shown.get("skipped", 0)}
    if got != want:
        problems.append(f"front page counts {got} (raw {shown}), summary.json says {want}")
    text = text_of(dom)
    verdict = allure_extras.report_variables(summary)["verdict"]
    if verdict not in text:
        problems.append(f"front page lacks the verdict {verdict!r}")
    if allure_extras.matrix_feature(summary) not in text:
        problems.append(f"front page lacks the tree row {allure_extras.matrix_feature(summary)!r}")
    for clause in summary["clauses"]:
        if clause["total"] and f"{clause['id']}: " not in text:
            problems.append(f"front page has no tree row for {clause['id']}")

    # The matrix entry: every clause with its verdict, every divergence with its observed form.
    if matrix_ids:
        for clause in summary["clauses"]:
            row = re.search(rf'<tr data-clause="{re.escape(clause["id"])}">(.*?)</tr>', matrix_dom, re.S)
            if row is None:
                problems.append(f"matrix page has no row for {clause['id']}")
            elif f'data-verdict="{clause["verdict"]}"' not in row.group(1):
                problems.append(f"matrix row {clause['id']} does not show {clause['verdict']}")
            divergence = clause.get("divergence")
            if divergence:
                div = re.search(rf'<tr data-divergence="{re.escape(clause["id"])}">(.*?)</tr>', matrix_dom, re.S)
                observed = ", ".join(divergence["observed"])
                if div is None or (observed and observed not in html.unescape(div.group(1))):
                    problems.append(f"matrix page lacks the divergence row of {clause['id']} ({observed!r})")
        counts_text = report.counts_line(summary["verdicts"])
        if counts_text not in text_of(matrix_dom):
            problems.append(f"matrix page lacks the clause counts {counts_text!r}")
    print(f"front page counts: {shown}")
    print(f"expected:          {want}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="reports/runs/<run-id>")
    parser.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    for needed in (run_dir / report.SUMMARY_FILE, run_dir / "html" / "index.html"):
        if not needed.exists():
            print(f"check_report: {needed} is missing", file=sys.stderr)
            return 2
    binary = find_chromium(args.chromium)
    if binary is None:
        print("check_report: no Chromium found; apt-get install -y chromium", file=sys.stderr)
        return 2
    problems = check(run_dir, binary)
    print(f"screenshots: {run_dir / 'screenshot.png'}, {run_dir / 'screenshot-matrix.png'}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("report check: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
