"""CRI: handler names match the nodes' CRI runtime tables; heterogeneous nodes work."""

import pytest

from conformance.case import pin


@pytest.mark.clause("RC-CRI-1")
def test_handler_runs_on_every_node_whose_cri_configures_it(rcc, handlers):
    def runs_on_every_node(handler):
        runtime_class = rcc.runtime_class(handler)
        pods = {node: rcc.create_pod(["true"], runtime_class=runtime_class, node_selector=pin(node))
                for node in rcc.schedulable_nodes_with(handler)}
        for node, pod in pods.items():
            rcc.wait_succeeded(pod)
            rcc.attach(f"{handler} on {node}", {"node": node, "handler": handler, "phase": "Succeeded"})

    rcc.each(handlers, runs_on_every_node)


@pytest.mark.window
@pytest.mark.clause("RC-CRI-1")
def test_handler_fails_on_a_node_whose_cri_lacks_it(rcc):
    heterogeneous = {h: rcc.nodes_without(h) for h in rcc.cluster.handlers if rcc.nodes_without(h)}
    if not heterogeneous:
        pytest.skip("missing capability heterogeneous-handlers: every schedulable node configures the same handlers")
    # One Pod per such handler, on a node lacking it; watched together (one window for all).
    pods = [rcc.create_pod(["true"], runtime_class=rcc.runtime_class(handler), node_selector=pin(lacking[0]))
            for handler, lacking in heterogeneous.items()]
    forms = rcc.never_run(pods, handler=list(heterogeneous))
    for (handler, lacking), form in zip(heterogeneous.items(), forms):
        assert form == "Pending with FailedCreatePodSandBox", f"{handler} on {lacking[0]}: {form}"


@pytest.mark.clause("RC-CRI-1", "RC-CRI-2")
@pytest.mark.needs("node-evidence")
def test_runtime_handlers_reported_by_each_node_are_its_cri_runtime_table_keys(rcc):
    for node in rcc.cluster.schedulable_nodes():
        tables = rcc.cri_runtime_tables(node.name)
        rcc.attach(f"{node.name}: CRI config vs Node.status", {"cri runtime tables": tables,
                                                                "runtimeHandlers": list(node.handlers)})
        assert tables is not None, f"cannot read the CRI configuration of {node.name}"
        assert sorted(node.handlers) == sorted(tables), node.name


@pytest.mark.clause("RC-CRI-2")
def test_nodes_report_their_runtime_handlers(rcc):
    facts = rcc.cluster
    rcc.attach("Node.status.runtimeHandlers", {n.name: list(n.handlers) for n in facts.nodes})
    if not facts.handlers_reported:
        pytest.skip("missing capability runtime-handlers-reported: no node fills Node.status.runtimeHandlers "
                    "(kubelet < 1.30 or a CRI that does not report handlers)")
    silent = [n.name for n in facts.schedulable_nodes() if not n.handlers]
    assert not silent, f"nodes reporting no handler: {silent}"
