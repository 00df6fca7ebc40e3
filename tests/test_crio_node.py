"""The CRI-O node's pure parts: its config, its runtime fronts, its evidence, and the topology's promise.

No CRI-O runs here: tests/test_local_cluster.py and the suite run the real one. These pin down
what the node is told and how its answers are read, so a regression shows without a cluster.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from clusters.toolbox.binaries import Binaries
from clusters.local.cri import cri_for
from clusters.local.cri.crio import BUILTIN_HANDLER, CrioCRI
from clusters.local.cri.crio_config import ANNOTATION_SOURCE, HANDLER_ANNOTATION, STATUS_SOURCE, oom_score_wrapper
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import ClusterLayout
from clusters.toolbox.runtimes.common import oci_version_wrapper
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
from clusters.local.variants import BROKEN_VARIANTS

SYSTEM_PATHS = ("/usr/bin/conmon", "/usr/lib/cni", "/opt/cni/bin")


def crio_node(tmp_path: Path, handlers: list[dict] | None = None) -> tuple[CrioCRI, Path]:
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    node = next(n for n in raw["nodes"] if n.get("cri") == "crio")
    if handlers is not None:
        node["handlers"] = handlers
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    topology = load_topology(path)
    spec = next(n for n in topology.nodes if n.cri == "crio")
    layout = ClusterLayout.for_cluster(topology.name, tmp_path / "state").node(spec.name, 3)
    cri = cri_for(spec, layout, topology)
    assert isinstance(cri, CrioCRI)
    return cri, layout.root


def written_config(cri: CrioCRI, tmp_path: Path) -> dict:
    binaries = Binaries(paths={"pinns": tmp_path / "bin" / "pinns", "crio": tmp_path / "bin" / "crio"},
                        cni_dir=Path("/usr/lib/cni"))
    runtime_paths = {name: tmp_path / "bin" / name for name in cri.topology.runtimes}
    try:
        cri.write_config(binaries, runtime_paths)
    except ClusterError as missing:  # conmon/skopeo are Debian packages scripts/setup installs
        pytest.skip(f"missing capability conmon+skopeo: {missing}")
    return tomllib.loads(cri.paths.config.read_text())


def strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_every_path_crio_is_given_lies_under_its_node_folder_or_is_a_named_host_tool(tmp_path):
    cri, node_root = crio_node(tmp_path)
    config = written_config(cri, tmp_path)
    paths = [s for s in strings(config) if s.startswith("/")]
    assert paths
    stray = [p for p in paths if not p.startswith(f"{node_root}/") and not p.startswith(f"{tmp_path}/bin/")
             and p not in SYSTEM_PATHS]
    assert stray == []
    assert config["crio"]["api"]["listen"] == str(cri.paths.socket)
    assert not cri.endpoint.endswith("run/crio/crio.sock"), "the kubelet would switch to cAdvisor's CRI-O stats"


def test_each_handler_is_a_crio_table_with_runtime_path_and_its_own_root(tmp_path):
    cri, _ = crio_node(tmp_path)
    runtime = written_config(cri, tmp_path)["crio"]["runtime"]
    assert runtime["default_runtime"] == "runc"
    assert runtime["cgroup_manager"] == "cgroupfs"
    for handler in ("runc", "crun", "crio-runc"):
        table = runtime["runtimes"][handler]
        assert table["runtime_type"] == "oci" and table["monitor_path"] == "/usr/bin/conmon"
        assert Path(table["runtime_path"]).exists()
        assert table["runtime_root"].endswith(f"/{handler}")
    roots = [t["runtime_root"] for n, t in runtime["runtimes"].items() if n != BUILTIN_HANDLER]
    assert len(set(roots)) == len(roots)


def test_a_node_without_crun_gets_a_crun_table_crio_will_drop(tmp_path):
    cri, node_root = crio_node(tmp_path, [{"name": "runc", "runtime": "runc", "default": True}])
    runtimes = written_config(cri, tmp_path)["crio"]["runtime"]["runtimes"]
    assert sorted(runtimes) == ["crun", "runc"]
    assert not Path(runtimes["crun"]["runtime_path"]).exists()
    assert runtimes["crun"]["runtime_path"].startswith(f"{node_root}/")


def test_the_sandbox_handler_comes_from_the_status_field_else_from_crios_annotation():
    cri = CrioCRI.__new__(CrioCRI)
    from_status = {"status": {"runtimeHandler": "crun"}, "info": {}}
    from_annotation = {"status": {"runtimeHandler": ""},
                       "info": {"runtimeSpec": {"annotations": {HANDLER_ANNOTATION: "crio-runc"}}}}
    default = {"status": {}, "info": {"runtimeSpec": {"annotations": {HANDLER_ANNOTATION: ""}}}}
    assert cri.sandbox_handler(from_status) == ("crun", STATUS_SOURCE)
    assert cri.sandbox_handler(from_annotation) == ("crio-runc", ANNOTATION_SOURCE)
    assert cri.sandbox_handler(default) == ("", ANNOTATION_SOURCE)


def run_front(front: str, tmp_path: Path, document: dict, compact: bool) -> dict:
    bundle = tmp_path / ("compact" if compact else "indented")
    bundle.mkdir()
    text = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document, indent="\t")
    (bundle / "config.json").write_text(text)
    script = tmp_path / "front"
    script.write_text(front)
    script.chmod(0o755)
    subprocess.run([str(script), "create", "--bundle", str(bundle), "id"], check=True)
    return json.loads((bundle / "config.json").read_text())


@pytest.mark.parametrize("compact", [True, False], ids=["containerd-compact", "crio-indented"])
def test_the_oci_version_pin_rewrites_both_json_spellings_and_unlimited_pids(tmp_path, compact):
    spec = {"ociVersion": "1.2.1", "process": {"oomScoreAdj": -998},
            "linux": {"resources": {"pids": {"limit": -1}, "memory": {"limit": 104857600}}}}
    out = run_front(oci_version_wrapper(Path("/bin/true"), "1.0.2"), tmp_path, spec, compact)
    assert out["ociVersion"] == "1.0.2"
    assert out["linux"]["resources"] == {"pids": {"limit": 0}, "memory": {"limit": 104857600}}
    assert out["process"]["oomScoreAdj"] == -998


@pytest.mark.parametrize(("score", "expected"), [(-997, 0), (-998, 0), (1000, 1000), (0, 0)])
def test_the_oom_front_raises_only_negative_scores(tmp_path, score, expected):
    out = run_front(oom_score_wrapper(Path("/bin/true")), tmp_path, {"process": {"oomScoreAdj": score}}, False)
    assert out["process"]["oomScoreAdj"] == expected


def test_a_handler_marked_unconfigured_stays_promised_but_leaves_the_cri_config(tmp_path):
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    variant = next(v for v in BROKEN_VARIANTS if v.unconfigured_handler)
    path = variant.topology_file(DEFAULT_TOPOLOGY, tmp_path)
    spec = next(n for n in load_topology(path).nodes if n.cri == "crio")
    assert "crio-runc" not in spec.handler_names and "crio-runc" in spec.promised_handlers
    raw["nodes"][0]["handlers"][0]["configured"] = False
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ClusterError, match="default handler 'runc' cannot be `configured: false`"):
        load_topology(tmp_path / "bad.yaml")


def test_the_default_topology_has_a_crio_node_with_a_handler_no_containerd_node_has():
    topology = load_topology()
    crio = [n for n in topology.nodes if n.cri == "crio"]
    others = {h for n in topology.nodes if n.cri != "crio" for h in n.handler_names}
    assert crio and set(crio[0].handler_names) - others == {"crio-runc"}


def test_the_crio_variant_fits_only_topologies_with_a_crio_node_that_has_the_handler():
    variant = next(v for v in BROKEN_VARIANTS if v.unconfigured_handler)
    upstream = Path(__file__).resolve().parents[1] / "clusters" / "upstream" / "topology.yaml"
    assert variant.fits(DEFAULT_TOPOLOGY) and not variant.fits(upstream)
    assert all(v.fits(upstream) for v in BROKEN_VARIANTS if not v.unconfigured_handler)
