"""`rcc-conformance`: the console script for the main job, a front door to `python -m conformance.run`.

    rcc-conformance run -n 2                                   # local cluster, full suite, HTML report
    rcc-conformance run --cluster kind -n 2                    # a kind cluster, created and deleted
    rcc-conformance run --kubeconfig ~/.kube/config --context my-cluster --strict

Its job is only the options people need most, explained in `--help`; it turns them back into the
runner's arguments and hands everything else to pytest unchanged (`-k EXPR`, `-x`,
`--timeout NAME=SECONDS`, `--topology FILE`, ...). The runner (conformance/run.py) does the work
and decides the exit code.
"""

from __future__ import annotations

import argparse
import sys

from conformance import run

EPILOG = ("Every other option goes to pytest unchanged (e.g. -k EXPR, -x, --timeout NAME=SECONDS, "
          "--topology FILE, --test-image IMAGE); `python -m pytest suites --help` lists them all. "
          "Exit: 0 no clause failed, 1 a clause failed (NOT CONFORMANT), 2-5 no verdict "
          "(4: bad input such as a file that is no kubeconfig). Reports: reports/runs/<run-id>/.")


EXAMPLES = """examples:
  rcc-conformance run                                       the local cluster: brought up, tested, torn down
  rcc-conformance run --cluster kind -n 2 --keep-cluster    a kind cluster, kept for the next run
  rcc-conformance run --kubeconfig FILE --context NAME --strict
                                                            an existing cluster; a skip fails
  rcc-conformance run --handler runc --handler crun --report-dir out -k overhead
                                                            two handlers, tests named *overhead*, report in out/

`rcc-conformance run --help` explains its options (cluster, kubeconfig/context, handlers, strict,
report folder, workers, keep-cluster, history); every other option goes to pytest unchanged."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcc-conformance", allow_abbrev=False, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="End-to-end conformance suite for Kubernetes RuntimeClass: runs it on a cluster\n"
                    "and ends in a clause-by-clause verdict and report.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub = commands.add_parser(
        "run", allow_abbrev=False, epilog=EPILOG,
        help="run the suite on a cluster and end in a report (clause matrix, HTML, JUnit, summary.json)",
        description="Run the conformance suite on a cluster and end in a report: the clause matrix on the "
                    "terminal, reports/runs/<run-id>/ with html/index.html, summary.json and junit.xml.")
    where = sub.add_argument_group("which cluster")
    where.add_argument("--cluster", choices=("local", "kind", "existing"),
                       help="local: bring up the embedded cluster (default); kind: create a kind cluster; "
                            "existing: the cluster of --kubeconfig")
    where.add_argument("--kubeconfig", metavar="FILE", help="an existing cluster's kubeconfig (implies --cluster existing)")
    where.add_argument("--context", help="context in that kubeconfig (default: its current-context)")
    where.add_argument("--keep-cluster", action="store_true", help="leave a cluster the run created running for the next run")
    what = sub.add_argument_group("what to check")
    what.add_argument("--handler", action="append", metavar="NAME",
                      help="handler under test, repeatable (default: those the nodes report)")
    what.add_argument("--strict", action="store_true",
                      help="a test skipped for a missing capability fails, and so does a skipped or untested clause")
    what.add_argument("--allow-disruptive", action="store_true", help="allow tests that taint nodes on an existing cluster")
    how = sub.add_argument_group("how to run and where results go")
    how.add_argument("-n", dest="workers", metavar="WORKERS",
                     help=f"parallel pytest-xdist workers, e.g. 2 or auto; 0: serial (default: {run.DEFAULT_WORKERS}, "
                          "chosen by measurement: bench/main_job.py)")
    how.add_argument("--report-dir", metavar="DIR", help="the run's report folder (default: reports/runs/<run-id>)")
    how.add_argument("--history", metavar="FILE",
                     help="Allure history (JSON Lines) to read and append, so the report shows each test's trend "
                          "across runs; keep the file between runs (in CI: cache it)")
    how.add_argument("--run-id", help="label value of this run's objects and the report folder's name (default: generated)")
    return parser


def runner_args(options: argparse.Namespace) -> list[str]:
    """The parsed options as conformance.run's command line."""
    args: list[str] = []
    for flag, value in (("--cluster", options.cluster), ("--kubeconfig", options.kubeconfig),
                        ("--context", options.context), ("-n", options.workers),
                        ("--report-dir", options.report_dir), ("--history", options.history),
                        ("--run-id", options.run_id)):
        if value is not None:
            args += [flag, value]
    for handler in options.handler or ():
        args += ["--handler", handler]
    for flag, on in (("--keep-cluster", options.keep_cluster), ("--strict", options.strict),
                     ("--allow-disruptive", options.allow_disruptive)):
        if on:
            args.append(flag)
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if options.command is None:
        parser.print_help(sys.stderr)
        print("rcc-conformance: choose a command, e.g. `rcc-conformance run -n 2`", file=sys.stderr)
        return 4
    return run.main(runner_args(options) + rest)


if __name__ == "__main__":
    sys.exit(main())
