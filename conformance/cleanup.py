"""`python -m conformance.cleanup`: remove what the suite left on a cluster.

    python -m conformance.cleanup --kubeconfig FILE [--context C] [--run-id ID]

Without --run-id it sweeps every run's namespaces, RuntimeClasses and node
labels/taints; only objects labelled managed-by=runtimeclass-conformance are touched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.kube import ConnectionProblem, connect
from conformance.kubeconfig import KubeconfigProblem
from conformance.sweep import sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.cleanup", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="the cluster to clean")
    parser.add_argument("--context")
    parser.add_argument("--run-id", help="only this run's objects (default: every run's)")
    args = parser.parse_args(argv)
    try:
        kube = connect(args.kubeconfig, args.context)
    except (ConnectionProblem, KubeconfigProblem) as err:
        print(f"cleanup: error: {err}", file=sys.stderr)
        return 2
    removed = sweep(kube, run_id=args.run_id)
    print(f"cleanup: removed {removed['namespaces']} namespaces, {removed['runtimeclasses']} RuntimeClasses, "
          f"restored {removed['nodes']} nodes on {kube.server}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
