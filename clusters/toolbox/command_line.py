"""How a cluster provider's command line ends: exit codes and the one-line error, shared.

`rcc-local` and `python -m clusters.kind` promise the same thing in their docstrings: a
`ClusterError` is printed as one line `<prog>: error: <message>` with exit code 2, never a
traceback, and Ctrl-C ends with `<prog>: interrupted` and exit code 130 (the shell's own code
for SIGINT). Written once here so the two cannot drift apart.
"""

from __future__ import annotations

import sys
from typing import Callable

from clusters.toolbox.errors import ClusterError

EXIT_CLUSTER_ERROR = 2
EXIT_INTERRUPTED = 130


def run_command(prog: str, command: Callable[[], int]) -> int:
    """Run one provider command and return its exit code; its errors become one line on stderr."""
    try:
        return command()
    except ClusterError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_CLUSTER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
