"""What a test expects of an API answer, said once: `rcc.expect_rejected(403, ...)` and friends.

Suites used to spell `assert refused is not None and refused.status == 403, refused` and then
search the message; here it is one verb with a failure message that says what came back. The
messages are written out because pytest rewrites asserts only in test modules, not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.kube import Rejection


def expect_rejected(refused: Rejection | None, status: int, *phrases: str,
                    any_of: Sequence[str] = ()) -> Rejection:
    """The request was refused with `status`, its message containing every phrase (and, if given, one of
    `any_of`, case-insensitively); returns the rejection for further checks."""
    if refused is None:
        raise AssertionError(f"the API server accepted a request it must refuse with {status}")
    if refused.status != status:
        raise AssertionError(f"refused with {refused.status} instead of {status}: {refused.reason}: {refused.message}")
    missing = [phrase for phrase in phrases if phrase not in refused.message]
    if missing:
        raise AssertionError(f"the {status} answer does not say {missing[0]!r}: {refused.message}")
    if any_of and not any(word.lower() in refused.message.lower() for word in any_of):
        raise AssertionError(f"the {status} answer says none of {list(any_of)}: {refused.message}")
    return refused
