"""Versions as topology settings: each node's CRI release, and a config written in that release's schema.

containerd 1.7 reads config version 2 (`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME]`),
2.x reads version 3 (`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.NAME]`). A table in
the other release's place is ignored without a word, so these render both and check where the
handlers land: pure logic, no containerd runs (the suite runs the real ones).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomli_w
import yaml

from clusters.toolbox.binaries import CONTAINERD_VERSION, Binaries, containerd_component, containerd_module
from clusters.local.cri import cri_for
from clusters.local.cri.containerd import (CRI_RUNTIME_PLUGIN, CRI_SERVER_PLUGIN, ContainerdCRI, config_runtime_tables,
                                           config_version)
from clusters.local.cri.crio_config import CRIO_VERSION, crio_component
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import ClusterLayout
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
from conformance.preflight import Facts, NodeFacts
from conformance.session import declared_node_handlers, told_handlers

OLD = "v1.7.35"


def containerd_node(tmp_path: Path, cri_version: str | None) -> ContainerdCRI:
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    node = raw["nodes"][0]
    if cri_version is not None:
        node["criVersion"] = cri_version
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    topology = load_topology(path)
    spec = topology.nodes[0]
    cri = cri_for(spec, ClusterLayout.for_cluster(topology.name, tmp_path / "state").node(spec.name, 1), topology)
    assert isinstance(cri, ContainerdCRI)
    return cri


def written(cri: ContainerdCRI, tmp_path: Path) -> dict:
    names = ("containerd", "ctr", "containerd-shim-runc-v2", "runsc", "containerd-shim-runsc-v1", "runc")
    paths = {f"{n}{alias}": tmp_path / "bin" / (alias or "default") / n for n in names for alias in ("", f"@{OLD}")}
    runtime_paths = {name: tmp_path / "bin" / name for name in cri.topology.runtimes}
    cri.write_config(Binaries(paths=paths, cni_dir=Path("/usr/lib/cni")), runtime_paths)
    return tomllib.loads(cri.config_file.read_text())


def test_containerd_1_7_node_gets_a_version_2_config_with_its_handlers_under_the_grpc_cri_plugin(tmp_path):
    cri = containerd_node(tmp_path, OLD)
    config = written(cri, tmp_path)
    assert config["version"] == 2
    assert set(config["plugins"]) == {CRI_SERVER_PLUGIN}, "no 2.x plugin table may sit in a 1.7 config"
    runtimes = config["plugins"][CRI_SERVER_PLUGIN]["containerd"]["runtimes"]
    assert sorted(runtimes) == sorted(cri.spec.handler_names)
    assert config["plugins"][CRI_SERVER_PLUGIN]["containerd"]["default_runtime_name"] == cri.spec.default_handler.name
    # 1.7's names for what 3 calls pinned_images.sandbox and cni.bin_dirs
    assert config["plugins"][CRI_SERVER_PLUGIN]["sandbox_image"]
    assert config["plugins"][CRI_SERVER_PLUGIN]["cni"]["bin_dir"] == "/usr/lib/cni"
    assert cri.runtime_tables() == sorted(cri.spec.handler_names)


def test_containerd_2_node_gets_a_version_3_config_with_its_handlers_under_the_runtime_plugin(tmp_path):
    cri = containerd_node(tmp_path, None)
    config = written(cri, tmp_path)
    assert config["version"] == 3
    assert "containerd" not in config["plugins"].get(CRI_SERVER_PLUGIN, {}), \
        "the 1.7 place of the runtime tables must stay empty in a 2.x config"
    assert sorted(config["plugins"][CRI_RUNTIME_PLUGIN]["containerd"]["runtimes"]) == sorted(cri.spec.handler_names)
    assert cri.runtime_tables() == sorted(cri.spec.handler_names)


def test_tables_in_the_other_schemas_place_count_as_no_handler():
    """RC-CRI-1 evidence reads only where containerd reads: a misplaced table is no handler."""
    misplaced_v2 = {"version": 2, "plugins": {CRI_RUNTIME_PLUGIN: {"containerd": {"runtimes": {"runc": {}}}}}}
    misplaced_v3 = {"version": 3, "plugins": {CRI_SERVER_PLUGIN: {"containerd": {"runtimes": {"runc": {}}}}}}
    assert config_runtime_tables(misplaced_v2) == []
    assert config_runtime_tables(misplaced_v3) == []
    assert config_runtime_tables(tomllib.loads(tomli_w.dumps(
        {"version": 2, "plugins": {CRI_SERVER_PLUGIN: {"containerd": {"runtimes": {"runc": {}}}}}}))) == ["runc"]


def test_each_release_is_built_from_its_own_module_and_cached_by_version():
    assert config_version("v1.7.35") == 2 and config_version("v2.0.0") == 3 and config_version(CONTAINERD_VERSION) == 3
    assert containerd_module("v1.7.35") == "github.com/containerd/containerd"
    assert containerd_module("v2.4.2") == "github.com/containerd/containerd/v2"
    old, default = containerd_component(OLD), containerd_component()
    assert old.key == f"containerd-{OLD}" and default.key == f"containerd-{CONTAINERD_VERSION}"
    assert old.commands["containerd"] == "github.com/containerd/containerd/cmd/containerd"
    assert old.alias == f"@{OLD}" and default.alias == ""
    assert crio_component().alias == "" and crio_component("v1.35.0").key == "cri-o-v1.35.0"
    assert CRIO_VERSION == crio_component().version


def test_a_node_on_another_release_builds_it_and_runs_its_own_binaries(tmp_path):
    cri = containerd_node(tmp_path, OLD)
    assert [c.key for c in cri.components()] == [f"containerd-{OLD}"]
    binaries = Binaries(paths={"containerd": Path("/new/containerd"), f"containerd@{OLD}": Path("/old/containerd")},
                        cni_dir=Path("/usr/lib/cni"))
    argv, env = cri.command(binaries)
    assert argv[0] == "/old/containerd"
    assert env["PATH"].split(":")[0] == "/old", "its own runc shim comes first on PATH"
    assert containerd_node(tmp_path, None).components() == ()


@pytest.mark.parametrize("version, message", [
    ("1.7", "is not a release like v1.7.35"),
    ("v1.6.20", "older than the oldest the local cluster configures (v1.7)"),
])
def test_a_cri_version_the_cluster_cannot_configure_is_one_line(tmp_path, version, message):
    with pytest.raises(ClusterError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        containerd_node(tmp_path, version)


# --- a node that reports no Node.status.runtimeHandlers (containerd 1.7) ---------------------------------
def test_a_silent_node_the_suite_made_is_placed_by_what_its_topology_promises(tmp_path):
    """--handler-nodes first, then the topology; a promised handler the CRI lacks (`configured: false`)
    is still placed there, so its Pod fails RC-CRI-1 instead of being trusted away."""
    from clusters.local.provider import LocalProvider

    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["nodes"][0]["criVersion"] = OLD
    raw["nodes"][0]["handlers"][1]["configured"] = False  # crun
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    provider = LocalProvider(path, state_root=tmp_path / "state")
    first, second = raw["nodes"][0]["name"], raw["nodes"][1]["name"]
    told = told_handlers(None, SimpleNamespace(handler_nodes={"gvisor": [second]}), None,
                         declared_node_handlers(provider))
    assert told[first] == {"handlers": ["crun", "gvisor", "runc"], "source": "the topology the suite made it from"}
    assert told[second]["source"] == "--handler-nodes"
    old = NodeFacts(first, True, (), {}, {}, "containerd://1.7.35")
    new = NodeFacts(second, True, ("crun", "runc"), {}, {}, "containerd://2.4.2")
    facts = Facts.from_json(Facts(server="https://x", server_version="v1.35.4", node_k8s_io_v1=True,
                                  nodes=(new, old), handlers=("crun", "gvisor", "runc"), handlers_reported=True,
                                  known_handlers={first: told[first]}).to_json())
    assert facts.nodes_with_handler("crun") == [second, first]
    assert facts.nodes_with_handler("gvisor") == [first]
    assert facts.nodes_without_handler("gvisor") == [second]
