"""The fixtures suite tests take: `rcc` (the test's Case) and `handlers` (every handler under test).

Registered through conformance.plugin, which imports them.
"""

from __future__ import annotations

import pytest

from conformance import images

from conformance.case import Case
from conformance.infrastructure_watch import FaultBoard, board_path
from conformance.settings import RunSettings
from conformance.selection import handlers_under_test
from conformance.session import RunOptions, evidence_for, owns_cluster
from conformance.stash_keys import KUBE, POOL, PROVIDER, STATE
from conformance.xdist_role import worker_id


@pytest.fixture
def rcc(request: pytest.FixtureRequest, record_property) -> Case:
    """The test's view of the cluster: its own namespace (opened on first use), factories with cleanup,
    waiters, evidence."""
    config = request.config
    if STATE not in config.stash:
        pytest.skip("no cluster: run the suite as `pytest suites` (or with --cluster/--kubeconfig)")
    state = config.stash[STATE]
    worker = worker_id(config)
    evidence, _ = evidence_for(config.stash[PROVIDER], config.stash[KUBE])
    settings = RunSettings(run_id=state.options.run_id, worker=worker,
                           image=state.options.image or default_image(state.options),
                           timeouts=state.options.timeouts,
                           facts=state.facts, evidence=evidence, isolation=state.isolation,
                           namespaces_swept_at_end=owns_cluster(config.stash[PROVIDER]),
                           faults=FaultBoard(board_path(state.options.run_id)))
    case = Case(kube=config.stash[KUBE], settings=settings, test_name=request.node.name,
                record_property=record_property, pool=config.stash.get(POOL, None))
    request.node._rcc_case = case
    yield case
    case.close()


@pytest.fixture
def handlers(request: pytest.FixtureRequest) -> list[str]:
    """Every handler under test, for a test that checks them all at once (`rcc.each`); the test
    needs each of them (a missing one skips it, or fails it where the cluster's topology promised it)."""
    found = handlers_under_test(request.config)
    if not found:
        # One test per handler had no parameter to run with, and pytest skipped it; a test over all
        # handlers must not pass with none checked.
        pytest.skip("missing capability handler: no handler under test (no node reports "
                    "Node.status.runtimeHandlers and none was named; name them with --handler)")
    return found


def default_image(options: RunOptions) -> str:
    """The provider's test image (local and kind load theirs into the nodes), --test-image or the mirror's."""
    return images.test_image(options.cluster, options.image, options.image_mirror)
