"""`rcc-local up|down|status|logs`: the local cluster from a shell.

Errors are printed as one line (`rcc-local: error: …`) with exit code 2; a
Ctrl-C during `up` stops what was already started.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clusters.local.cluster import LocalCluster
from clusters.toolbox.command_line import run_command
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import DEFAULT_STATE_ROOT
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology


def _progress(message: str) -> None:
    print(f"[rcc-local] {message}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcc-local", description=__doc__.splitlines()[0])
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY, help="cluster topology YAML")
    parser.add_argument("--state-root", type=Path, default=DEFAULT_STATE_ROOT, help="where cluster state lives")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the cluster (reuses a healthy one) and print its kubeconfig path")
    commands.add_parser("down", help="stop every process and undo every host change")
    commands.add_parser("status", help="processes, health and kubeconfig as JSON")
    logs = commands.add_parser("logs", help="print a component's log (no name: list the logs)")
    logs.add_argument("component", nargs="?")
    logs.add_argument("--tail", type=int, default=100)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command("rcc-local", lambda: _run(
        LocalCluster(load_topology(args.topology), state_root=args.state_root, progress=_progress), args))


def _run(cluster: LocalCluster, args: argparse.Namespace) -> int:
    if args.command == "up":
        print(cluster.up())
    elif args.command == "down":
        cluster.down()
    elif args.command == "status":
        status = cluster.status()
        print(json.dumps(status, indent=2))
        return 0 if status["healthy"] else 1
    elif args.command == "logs":
        logs = cluster.log_paths()
        if not args.component:
            print("\n".join(f"{name}\t{path}" for name, path in logs.items()))
        elif args.component not in logs:
            raise ClusterError(f"no component {args.component!r}; choose one of: {', '.join(logs)}")
        else:
            lines = logs[args.component].read_text(errors="replace").splitlines()
            print("\n".join(lines[-args.tail:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
