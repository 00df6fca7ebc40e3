"""`python -m conformance.run [pytest args]`: run the conformance suite and end in a report.

    python -m conformance.run                            # the local cluster (brought up and torn down)
    python -m conformance.run --keep-cluster             # reuse / keep the local cluster
    python -m conformance.run -n 2                       # two xdist workers instead of the default; -n 0: serial
    python -m conformance.run --kubeconfig ~/.kube/config --context prod-like --strict
    python -m conformance.run --history reports/history.jsonl   # the report shows each test's trend
    rcc-conformance run --help                           # the same runner, its most used options explained

Runner options (not passed to pytest; declared in conformance/options.py): `--report-dir DIR`
(default reports/runs/<run-id>), `--history FILE` (Allure 3 history, JSON Lines: read for the
trend, this run appended).

Steps: choose a run id (or take `--run-id`), run pytest on `suites/` in a subprocess with
`--run-id ID --alluredir DIR/allure-results --junitxml DIR/junit.xml --rcc-report-dir DIR` plus the
arguments given (its output streams through), where DIR is `reports/runs/<run-id>/`; then add the
clause matrix to the Allure results, generate the HTML report offline with Allure 3 (npm `allure`,
pinned in reports/package.json, installed into reports/node_modules on first use) into DIR/html/,
print the clause matrix and the report's path, and exit:

    0  every clause passed (skipped/partial/untested clauses allowed unless --strict)
    1  a clause failed (with --strict: or was skipped, partial or untested), or a test naming no clause
       failed; also a cluster that does not serve node.k8s.io/v1 (RC-API-1 fails, the rest is untested)
    3  an infrastructure fault stood during the run (a node lost, an image that cannot be pulled, the API
       server away: conformance/infrastructure.py); one line names it, no overall verdict (docs/infrastructure-faults.md)
    2, 3, 4, 5  pytest's own "no verdict" exits (interrupted/usage/collection error, internal or cluster
       error, command line error, no tests collected), passed on unchanged
    4  also: --kubeconfig names no usable kubeconfig (missing, a directory, empty, not YAML, not a
       Config); one line says which file, what is wrong and what to do, before anything runs

Allure's exit code never decides: a report that could not be generated is a warning.

Parallelism: without `-n`/`--numprocesses` (or `-p no:xdist`) the runner adds `-n DEFAULT_WORKERS`.
The suite mostly waits (Pods starting, "never runs" windows), so more workers than cores pay off;
the number was chosen by measurement (bench/compare_upstream.py --workers), not from the core count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from conformance import allure_extras, options, report
from conformance.kubeconfig import KubeconfigProblem, check_kubeconfig
from conformance.session import new_run_id
from conformance.settings import DEFAULT_WORKERS

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
ALLURE_BIN = REPORTS / "node_modules" / ".bin" / "allure"
ALLURE_VERSION = "3.18.0"
# Options that choose parallelism (or its absence) themselves; with any of them the default is not added.
PARALLELISM_OPTIONS = ("-n", "--numprocesses", "--collect-only", "--co", "--list-tests")
# Options this runner sets itself; given on the command line they would send results elsewhere.
OWNED_OPTIONS = ("--alluredir", "--junitxml", "--junit-xml", "--rcc-report-dir")


@dataclass(frozen=True)
class RunnerOptions:
    """What the runner itself reads of the command line (declared in conformance/options.py)."""

    report_dir: str | None = None
    history: str | None = None
    run_id: str | None = None
    kubeconfig: str | None = None  # also pytest's: checked here first, so bad input stops before pytest


def split_runner_options(args: list[str]) -> tuple[RunnerOptions, list[str]]:
    """The runner's options out of the arguments: (them, pytest's arguments in their order).

    `--kubeconfig` stays in pytest's arguments: the runner only checks the file before pytest starts.
    """
    taken, rest = options.runner_parser().parse_known_args(args)
    peeked, _ = options.peek_parser("--kubeconfig").parse_known_args(rest)
    return RunnerOptions(report_dir=taken.report_dir, history=taken.history, run_id=taken.run_id,
                         kubeconfig=peeked.kubeconfig), rest


def owned_option_in(args: list[str]) -> str | None:
    for arg in args:
        for option in OWNED_OPTIONS:
            if arg == option or arg.startswith(option + "="):
                return option
    return None


def parallelism_given(args: list[str]) -> bool:
    """Whether the command line already decides parallelism (`-n 4`, `-n4`, `--numprocesses=4`, `-p no:xdist`)."""
    for i, arg in enumerate(args):
        if any(arg == option or arg.startswith(option + "=") for option in PARALLELISM_OPTIONS):
            return True
        if arg.startswith("-n") and arg[2:].isdigit() or arg in ("-nauto", "-nlogical"):
            return True
        if arg in ("-pno:xdist", "-p no:xdist") or (arg == "-p" and i + 1 < len(args) and args[i + 1] == "no:xdist"):
            return True
    return False


def pytest_command(run_dir: Path, run_id: str, extra: list[str]) -> list[str]:
    targets = [] if any(_is_suite_path(a) for a in extra) else ["suites"]
    workers = [] if parallelism_given(extra) else ["-n", str(DEFAULT_WORKERS)]
    return [sys.executable, "-m", "pytest", *targets, "--run-id", run_id,
            "--alluredir", str(run_dir / "allure-results"), "--junitxml", str(run_dir / "junit.xml"),
            "--rcc-report-dir", str(run_dir), *workers, *extra]


def _is_suite_path(arg: str) -> bool:
    """`suites/test_use.py::test_x` and the like: then the runner adds no `suites` of its own."""
    if arg.startswith("-"):
        return False
    path = (ROOT / arg.split("::", 1)[0]).resolve()
    return path.exists() and (path == ROOT / "suites" or (ROOT / "suites") in path.parents)


def ensure_allure(log=print) -> Path | None:
    """The local Allure 3 CLI, installed from reports/package-lock.json when missing; None if impossible."""
    if ALLURE_BIN.exists():
        return ALLURE_BIN
    npm = shutil.which("npm")
    if npm is None:
        log("[rcc] npm is not installed: cannot install Allure (apt-get install -y nodejs npm)")
        return None
    lock = (REPORTS / "package-lock.json").exists()
    command = [npm, "ci" if lock else "install", "--no-audit", "--no-fund", "--prefix", str(REPORTS)]
    log(f"[rcc] installing Allure {ALLURE_VERSION}: {' '.join(command)}")
    done = subprocess.run(command, cwd=REPORTS)
    if done.returncode != 0 or not ALLURE_BIN.exists():
        log(f"[rcc] npm failed (exit {done.returncode}); no HTML report")
        return None
    return ALLURE_BIN


def generate_html(run_dir: Path, summary: dict | None, log=print, history: Path | None = None) -> Path | None:
    """Allure extras + `allure generate`; returns html/index.html or None (a warning, never the verdict).

    With `history`, Allure 3 reads earlier runs from that JSON Lines file (each test's trend) and
    appends this one (`historyPath` in its config).
    """
    run_dir = run_dir.resolve()
    results = run_dir / "allure-results"
    if not results.is_dir() or not any(results.iterdir()):
        log("[rcc] no Allure results were written; no HTML report")
        return None
    html_dir = run_dir / "html"
    config_path = run_dir / "allurerc.json"
    if summary is not None:
        allure_extras.write_allure_extras(results, summary, now_ms=int(time.time() * 1000))
        config = allure_extras.allure_config(summary, html_dir)
    else:
        config = {"name": f"RuntimeClass conformance · run {run_dir.name}", "output": str(html_dir),
                  "plugins": {"awesome": {"options": {"singleFile": True, "groupBy": ["feature"]}}}}
    if history is not None:
        history.parent.mkdir(parents=True, exist_ok=True)
        config["historyPath"] = str(history)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    allure = ensure_allure(log)
    if allure is None:
        return None
    if html_dir.exists():
        shutil.rmtree(html_dir)
    command = [str(allure), "generate", str(results), "--config", str(config_path), "--output", str(html_dir)]
    done = subprocess.run(command, cwd=run_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.stdout.strip():
        log(done.stdout.rstrip())
    index = html_dir / "index.html"
    if done.returncode != 0 or not index.exists():
        log(f"[rcc] allure generate failed (exit {done.returncode}): {' '.join(command)}")
        return None
    return index


class EarlyReport:
    """The HTML report, generated while pytest still takes the cluster down.

    pytest writes summary.json at session end, after the last test and before the final sweep
    and the cluster's `down`; every Allure result is written by then. Generating the report from
    that moment on overlaps Allure's second with the teardown's. A summary.json older than this
    run (a reused --report-dir) is not taken; without one, `result()` gives (None, None) and the
    caller generates the report after pytest, as before.
    """

    def __init__(self, run_dir: Path, started: float, history: Path | None) -> None:
        self.run_dir, self.started, self.history = run_dir, started, history
        self._thread: threading.Thread | None = None
        self._summary: dict | None = None
        self._index: Path | None = None
        self._lines: list[str] = []

    def start_if_ready(self) -> None:
        if self._thread is not None:
            return
        path = self.run_dir / report.SUMMARY_FILE
        try:
            fresh = path.stat().st_mtime >= self.started
        except OSError:
            return
        summary = load_summary(self.run_dir) if fresh else None
        if summary is None:
            return
        self._summary = summary
        self._thread = threading.Thread(target=self._generate, name="rcc-report", daemon=True)
        self._thread.start()

    def _generate(self) -> None:
        # Lines are printed after pytest's own output, not into the middle of it.
        self._index = generate_html(self.run_dir, self._summary, log=self._lines.append, history=self.history)

    def result(self) -> tuple[dict | None, Path | None]:
        if self._thread is None:
            return None, None
        self._thread.join()
        for line in self._lines:
            print(line)
        return self._summary, self._index


def load_summary(run_dir: Path) -> dict | None:
    path = run_dir / report.SUMMARY_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def kubeconfig_problem(path: str | None) -> str | None:
    """One line if `--kubeconfig` names no usable kubeconfig: said before pytest starts, nothing written."""
    if path is None:
        return None
    try:
        check_kubeconfig(Path(path))
    except KubeconfigProblem as problem:
        return str(problem)
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("pytest's and the suite's options: python -m pytest suites --help")
        return 0
    runner, pytest_args = split_runner_options(args)
    return execute(runner, pytest_args)


def execute(runner: RunnerOptions, pytest_args: list[str]) -> int:
    """Run pytest on the suite with the runner's options, report, and give the exit code."""
    owned = owned_option_in(pytest_args)
    if owned:
        print(f"conformance.run: {owned} is set by the runner (reports/runs/<run-id>/); drop it", file=sys.stderr)
        return 4
    problem = kubeconfig_problem(runner.kubeconfig)
    if problem:
        print(f"conformance.run: {problem}", file=sys.stderr)
        return 4
    history_path = Path(runner.history).resolve() if runner.history else None
    run_id = runner.run_id or new_run_id()
    run_dir = Path(runner.report_dir).resolve() if runner.report_dir else REPORTS / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    command = pytest_command(run_dir, run_id, pytest_args)
    print(f"[rcc] run {run_id}: reports go to {run_dir}", flush=True)
    print(f"[rcc] {' '.join(command)}", flush=True)

    started = time.time()
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    early = EarlyReport(run_dir, started, history_path)
    while True:
        try:
            status = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            early.start_if_ready()
        except KeyboardInterrupt:  # pytest gets the same Ctrl-C; let it clean up the cluster and finish
            print("\n[rcc] interrupted: waiting for pytest to clean up", flush=True)

    summary, index = early.result()
    if summary is None:  # no summary came while pytest ran (or it came late): the report is made now
        summary = load_summary(run_dir)
        index = generate_html(run_dir, summary, history=history_path)
    code, sentence = report.decide_exit(status, summary)

    print()
    print("=" * 30 + " RuntimeClass conformance " + "=" * 30)
    if summary is not None:
        for line in report.matrix_lines(summary):
            print(line)
        tests = summary.get("tests", {})
        print(f"tests: {tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed, "
              f"{tests.get('skipped', 0)} skipped"
              + (f", {tests['infrastructure']} infrastructure errors" if tests.get("infrastructure") else "")
              + f" (pytest exit status {status})")
    print(f"summary:  {run_dir / report.SUMMARY_FILE}" if summary else "summary:  (not written)")
    junit = run_dir / "junit.xml"
    print(f"junit:    {junit}" if junit.exists() else "junit:    (not written)")
    print(f"report:   {index}" if index else "report:   (not generated, see above)")
    if index:
        print("          (one self-contained file: open it in a browser; "
              f"check it: python reports/check_report.py {run_dir})")
    print(f"verdict:  {sentence} -> exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
