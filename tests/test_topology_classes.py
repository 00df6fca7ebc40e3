"""The RuntimeClasses a topology serves of its own (clusters/toolbox/platform_classes.py): read, refused in
one line when wrong, turned into API bodies, and broken by the RC-SCH-7 mutant. Pure logic; the classes on
a running cluster are checked by tests/test_mutants.py and tests/test_kind_cluster.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusters.kind.topology import load_topology as load_kind_topology
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
from clusters.local.variants import PLATFORM_CLASS_MISSTEERED, variants_for
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.platform_classes import OWNER_LABEL, parse_classes


def test_the_default_clusters_serve_a_class_of_their_own_whose_name_need_not_be_its_handlers():
    local = load_topology().runtime_classes
    assert [(c.name, c.handler) for c in local] == [("gvisor", "gvisor")]
    kind = load_kind_topology().runtime_classes
    assert [(c.name, c.handler) for c in kind] == [("sandboxed", "test-handler")]


def test_a_class_becomes_the_body_the_api_takes_labelled_as_the_topologys_not_the_suites():
    (spec,) = parse_classes([{"name": "kata-cc", "handler": "kata-tdx",
                              "scheduling": {"nodeSelector": {"katacontainers.io/kata-runtime": "true"}},
                              "overhead": {"podFixed": {"memory": "160Mi", "cpu": "250m"}}}])
    body = spec.body("rcc")
    assert body["metadata"] == {"name": "kata-cc", "labels": {OWNER_LABEL: "rcc"}}
    assert body["handler"] == "kata-tdx" and body["overhead"] == {"podFixed": {"memory": "160Mi", "cpu": "250m"}}
    assert body["scheduling"] == {"nodeSelector": {"katacontainers.io/kata-runtime": "true"}}
    assert "scheduling" not in parse_classes([{"name": "plain", "handler": "runc"}])[0].body("rcc")


@pytest.mark.parametrize("entries, says", [
    ({"name": "x"}, "must be a list"),
    ([{"name": "x"}], "needs at least `name` and `handler`"),
    ([{"name": "x", "handler": "runc", "nodeSelector": {}}], "unknown field(s) ['nodeSelector']"),
    ([{"name": "x", "handler": "runc", "scheduling": ["a"]}], "`scheduling` must be a mapping"),
    ([{"name": "Big", "handler": "runc"}], "DNS-1123"),
    ([{"name": "x", "handler": "runc"}, {"name": "x", "handler": "crun"}], "names repeat"),
])
def test_a_wrong_class_in_a_topology_file_is_one_line_naming_it(tmp_path: Path, entries, says):
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["runtimeClasses"] = entries
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ClusterError) as refused:
        load_topology(path)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_rc_sch_7_mutant_steers_the_class_to_the_pool_without_its_handler(tmp_path: Path):
    assert PLATFORM_CLASS_MISSTEERED in variants_for(DEFAULT_TOPOLOGY)
    topology = load_topology(PLATFORM_CLASS_MISSTEERED.topology_file(DEFAULT_TOPOLOGY, tmp_path))
    (spec,) = topology.runtime_classes
    selector = spec.scheduling["nodeSelector"]
    admitted = [n for n in topology.nodes if selector.items() <= n.labels.items()]
    assert admitted and all("gvisor" not in n.handler_names for n in admitted)
    assert any("gvisor" in n.handler_names for n in topology.nodes)  # the handler still exists elsewhere
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw.pop("runtimeClasses")
    without = tmp_path / "without.yaml"
    without.write_text(yaml.safe_dump(raw))
    assert PLATFORM_CLASS_MISSTEERED not in variants_for(without)
