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
    pods = [rcc.create_pod(["true"], runtime_class=rcc.runtime_class(handler, reach_platform_pool=False),
                           node_selector=pin(lacking[0]))
            for handler, lacking in heterogeneous.items()]
    forms = rcc.never_run(pods, handler=list(heterogeneous))
    for (handler, lacking), form in zip(heterogeneous.items(), forms):
        assert form == "Pending with FailedCreatePodSandBox", f"{handler} on {lacking[0]}: {form}"


@pytest.mark.clause("RC-CRI-1", "RC-CRI-2")
@pytest.mark.needs("node-evidence")
def test_runtime_handlers_reported_by_each_node_are_its_cri_runtime_table_keys(rcc):
    """Each node's CRI config against what the node says it has: its runtimeHandlers or, where it reports
    none (containerd 1.7), the topology the suite made it from. A node neither reports nor declares is named."""
    compared, unknown = [], []
    for node in rcc.cluster.schedulable_nodes():
        tables = rcc.cri_runtime_tables(node.name)
        expected = rcc.cluster.handlers_of(node.name)
        source = "Node.status.runtimeHandlers" if node.handlers else \
            rcc.cluster.known_handlers.get(node.name, {}).get("source", "nothing")
        rcc.attach(f"{node.name}: CRI config vs {source}", {
            "cri runtime tables": tables, "runtimeHandlers": list(node.handlers),
            "compared with": source, "expected": None if expected is None else sorted(expected)})
        assert tables is not None, f"cannot read the CRI configuration of {node.name}"
        if expected is None:
            unknown.append(node.name)
            continue
        assert sorted(expected) == sorted(tables), f"{node.name} ({source})"
        compared.append(node.name)
    if not compared:
        pytest.skip(f"missing capability runtime-handlers-reported: nodes {unknown} report no runtimeHandlers "
                    f"and no topology declares them; nothing to compare their CRI configuration with")


@pytest.mark.clause("RC-CRI-2")
def test_nodes_report_their_runtime_handlers(rcc):
    """Where the CRI lists handlers, the kubelet publishes them. A node whose CRI lists none (containerd
    1.7's Status has no runtimeHandlers) is excused by that probed fact, not by its version number."""
    facts = rcc.cluster
    rcc.attach("Node.status.runtimeHandlers", {n.name: list(n.handlers) for n in facts.nodes})
    silent = [n for n in facts.schedulable_nodes() if not n.handlers]
    cri_says = {n.name: rcc.cri_lists_handlers(n.name) for n in silent}
    rcc.attach("silent nodes: does their CRI list handlers in its Status?",
               {f"{n.name} ({n.runtime_version})": cri_says[n.name] for n in silent})
    dropped = [n.name for n in silent if cri_says[n.name] is True]
    assert not dropped, f"the CRI of {dropped} lists handlers, but the kubelet publishes none in Node.status"
    unknown = [f"{n.name} ({n.runtime_version})" for n in silent if cri_says[n.name] is None]
    if unknown:
        pytest.skip(f"missing capability node-evidence: nodes {unknown} report no runtimeHandlers, and whether "
                    f"their CRI lists any cannot be asked here (kubelet < 1.30, or a CRI such as containerd 1.7 "
                    f"that does not report handlers)")
    if not facts.handlers_reported:
        pytest.skip("missing capability runtime-handlers-reported: no node's CRI lists handlers in its Status "
                    f"({', '.join(sorted({n.runtime_version for n in silent}))}), so no node can report them")
