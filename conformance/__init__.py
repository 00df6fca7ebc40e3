"""runtimeclass-conformance: checks a cluster's RuntimeClass behaviour clause by clause.

The public surface for test authors: the `Case` behind the `rcc` fixture, the
clause registry, and the waiters. Everything else (plugin hooks, preflight,
report shaping, sweeping) is internal to the plugin.
"""

from conformance.case import Case, pin
from conformance.clauses import CLAUSES, Clause
from conformance.waiting import WaitFailed, WaitTimeout, holds_for, wait_for

__all__ = ["CLAUSES", "Case", "Clause", "WaitFailed", "WaitTimeout", "holds_for", "pin", "wait_for"]
