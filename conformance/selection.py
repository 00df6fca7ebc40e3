"""Which tests run, in what order, and which may run here: the plugin's collection and set-up hooks.

Per-handler parametrization, the clause markers and the Allure labels they give, window tests
first, the gate on a cluster without node.k8s.io/v1, and each test's required capabilities
(a missing one skips the test, or fails it where the cluster's topology promised it).
Registered through conformance.plugin, which imports these hooks.
"""

from __future__ import annotations

import allure
import pytest

from conformance.clauses import CLAUSES, FAMILIES
from conformance.preflight import API_CLAUSE, runtimeclass_api_missing
from conformance.stash_keys import STATE


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Suite tests that take `handler` run once per handler under test ("for every handler")."""
    if "handler" in metafunc.fixturenames and metafunc.definition.get_closest_marker("clause") \
            and not any("handler" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        metafunc.parametrize("handler", handlers_under_test(metafunc.config))


def handlers_under_test(config: pytest.Config) -> list[str]:
    if config.option.handler:
        return list(config.option.handler)
    if STATE in config.stash:
        state = config.stash[STATE]
        return sorted(set(state.facts.handlers) | set(state.declared_handlers))
    if config.option.cluster == "local" and not config.option.kubeconfig:
        # Listing without a cluster: the embedded topology says which handlers there will be.
        from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology

        topology = load_topology(config.option.topology or DEFAULT_TOPOLOGY)
        return sorted({h for node in topology.nodes for h in node.promised_handlers})
    return ["runc"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Longest first: xdist hands tests out in this order, so the tests that wait out a window start
    # at once instead of leaving a tail of them for the end (stable: otherwise file order).
    items.sort(key=lambda item: item.get_closest_marker("window") is None)
    for item in items:
        ids = [cid for mark in item.iter_markers("clause") for cid in mark.args]
        unknown = [cid for cid in ids if cid not in CLAUSES]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown clause {', '.join(unknown)}; "
                                    f"clauses are defined in conformance/clauses.py")
        if not ids:
            continue
        item.user_properties.append(("clauses", ",".join(ids)))
        first = CLAUSES[ids[0]]
        item.add_marker(allure.epic(FAMILIES[first.family]))
        for cid in ids:
            item.add_marker(allure.feature(f"{cid}: {CLAUSES[cid].title}"))
            item.add_marker(allure.link(CLAUSES[cid].anchor, name=cid))
        item.add_marker(allure.story(item.originalname if hasattr(item, "originalname") else item.name))
    _gate_on_runtimeclass_api(config, items)


def _gate_on_runtimeclass_api(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A cluster that does not serve node.k8s.io/v1: only RC-API-1's tests stay (they fail in setup with
    the sentence naming the missing group/version); every other test is deselected, so its clauses
    are untested, and summary.json says why."""
    if STATE not in config.stash or runtimeclass_api_missing(config.stash[STATE].facts) is None:
        return
    kept = [i for i in items if {c for m in i.iter_markers("clause") for c in m.args} == {API_CLAUSE}]
    dropped = [i for i in items if i not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.list_tests:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for item in session.items:
        clauses = ",".join(cid for mark in item.iter_markers("clause") for cid in mark.args)
        needs = ", ".join(required_capabilities(item)) or "-"
        reporter.write_line(f"{item.nodeid}\n    clauses: {clauses or '-'}; needs: {needs}")


def required_capabilities(item: pytest.Item) -> list[str]:
    """Every suite test works in its own namespace (`workspace`), plus what its clauses need."""
    needed = ["workspace"] if "rcc" in getattr(item, "fixturenames", ()) else []
    needed += [cap for mark in item.iter_markers("clause") for cid in mark.args for cap in CLAUSES[cid].capabilities]
    needed += [cap for mark in item.iter_markers("needs") for cap in mark.args]
    handler = getattr(item, "callspec", None) and item.callspec.params.get("handler")
    if handler:
        needed.append(f"handler:{handler}")
    if "handlers" in getattr(item, "fixturenames", ()):
        needed += [f"handler:{h}" for h in handlers_under_test(item.config)]
    return list(dict.fromkeys(needed))


def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    if STATE not in config.stash or not list(item.iter_markers("clause")):
        return
    state = config.stash[STATE]
    facts = state.facts
    api_missing = runtimeclass_api_missing(facts)
    if api_missing:  # only RC-API-1's tests are left (see _gate_on_runtimeclass_api)
        pytest.fail(f"{API_CLAUSE}: {api_missing}", pytrace=False)
    for capability in required_capabilities(item):
        why = facts.why_missing(capability)
        if why and capability.startswith("handler:") and capability.split(":", 1)[1] in state.declared_handlers:
            # The cluster the suite made promises this handler: its absence is a defect, not a gap.
            pytest.fail(f"handler {capability.split(':', 1)[1]!r} is promised by the cluster's topology, but {why}")
        if why:
            message = f"missing capability {capability}: {why}"
            if state.options.strict:
                pytest.fail(f"--strict: {message}")
            pytest.skip(message)
