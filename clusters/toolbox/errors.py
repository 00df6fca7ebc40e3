"""The one error type the cluster providers raise: a sentence that says what to do.

The CLI and the pytest fixture print its message alone on one line, never a
traceback, so every raise site must make the message self-sufficient.
"""


class ClusterError(Exception):
    """A problem the user can act on; `str(err)` is the whole message."""
