"""`rcc-conformance`: the console script for the main job, a front door to `python -m conformance.run`.

    rcc-conformance run -n 2                                   # local cluster, full suite, HTML report
    rcc-conformance run --cluster kind -n 2                    # a kind cluster, created and deleted
    rcc-conformance run --kubeconfig ~/.kube/config --context my-cluster --strict

Its job is only the options people need most, explained in `--help` (declared with the pytest
plugin's in conformance/options.py); it hands the runner its own options as values, and pytest the
rest unchanged (`-k EXPR`, `-x`, `--timeout NAME=SECONDS`, `--topology FILE`, ...). The runner
(conformance/run.py) does the work and decides the exit code.
"""

from __future__ import annotations

import argparse
import sys

from conformance import options, run

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
    for heading in options.GROUPS:  # every option and its help come from conformance/options.py
        options.add_to_argparse(sub.add_argument_group(heading), options.shown(heading))
    listing = commands.add_parser(
        "images", allow_abbrev=False, help="print every image a run pulls, one a line (to mirror them)",
        description="Print every image a run with these options pulls, one a line: mirror them into your "
                    "registry, then run with --image-mirror REGISTRY (docs/platform-clusters.md).")
    listing.add_argument("--cluster", choices=options.CLUSTERS, default="existing",
                         help="the provider of the run (default: existing; local and kind load their own image)")
    listing.add_argument("--test-image", metavar="IMAGE", help="as for `run`")
    listing.add_argument("--image-mirror", metavar="REGISTRY", help="as for `run`: print the mirrored names")
    return parser


def pytest_args(parsed: argparse.Namespace) -> list[str]:
    """What the user gave of the options pytest reads (the runner's own are passed as values)."""
    return options.pytest_arguments(parsed, [o for group in options.GROUPS for o in options.shown(group)])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parsed, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if parsed.command is None:
        parser.print_help(sys.stderr)
        print("rcc-conformance: choose a command, e.g. `rcc-conformance run -n 2`", file=sys.stderr)
        return 4
    if parsed.command == "images":
        if rest:
            parser.error(f"images: unknown arguments {' '.join(rest)}")
        from conformance.images import run_images

        print("\n".join(run_images(parsed.cluster, parsed.test_image, parsed.image_mirror)))
        return 0
    return run.execute(run.RunnerOptions(report_dir=parsed.report_dir, history=parsed.history,
                                         run_id=parsed.run_id, kubeconfig=parsed.kubeconfig),
                       pytest_args(parsed) + rest)


if __name__ == "__main__":
    sys.exit(main())
