"""Where the plugin keeps the run's objects on pytest's Config (one set per process: controller, each worker)."""

from __future__ import annotations

import pytest

from conformance.liveness import RunLease
from conformance.namespaces import NamespacePool
from conformance.session import RunState

STATE = pytest.StashKey[RunState]()
PROVIDER = pytest.StashKey[object]()
KUBE = pytest.StashKey[object]()
LEASE = pytest.StashKey[RunLease]()
POOL = pytest.StashKey[NamespacePool]()
