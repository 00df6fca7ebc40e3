"""Which role this pytest process plays under xdist: one place that knows how to tell.

pytest-xdist gives each worker's Config a `workerinput` dict (what the controller handed it);
the controller and a run without xdist have none. Every "am I a worker" question asks here.
"""

from __future__ import annotations

import pytest

# The name a process that is no xdist worker gives its objects (a worker's is gw0, gw1, ...).
NOT_A_WORKER = "gw"


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker (runs tests the controller hands it), not the controller or a serial run."""
    return hasattr(config, "workerinput")


def handed_out(config: pytest.Config) -> dict:
    """What the controller handed this worker (pytest_configure_node); {} when not a worker."""
    return config.workerinput if is_worker(config) else {}


def worker_id(config: pytest.Config) -> str:
    return handed_out(config).get("workerid", NOT_A_WORKER)


def runs_tests_here(config: pytest.Config) -> bool:
    """An xdist worker, or a run without xdist; an xdist controller only hands tests out."""
    return is_worker(config) or not config.pluginmanager.has_plugin("dsession")
