"""Unit tests for the kind provider (clusters/kind/): no container engine needed.

The pure parts are checked directly. The provider itself runs against stand-in
`kind` and `docker` executables on PATH that record their arguments and keep a
little state (which clusters exist, each node's files), so create/destroy and
node evidence go through the same commands they would on a real engine.
"""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from clusters.kind import containerd
from clusters.kind.cluster_ready import corefile_without_forward, nodes_not_settled
from clusters.kind.config import CGROUP_V1_KUBELET_PATCH, KIND_API_VERSION, cluster_config, cluster_config_yaml
from clusters.kind.containerd import CRI_PLUGIN_V2, CRI_PLUGIN_V3, containerd_plugin_path, handler_additions
from clusters.kind.evidence import V1_NO_MEMORY_LIMIT, find_sandbox_id, pod_cgroup_path, v2_translation
from clusters.kind.node_files import containerd_config
from clusters.kind.nodes import engine_for
from clusters.kind.provider import KindProvider, _host_cgroup_v1
from clusters.kind.topology import DEFAULT_TOPOLOGY, load_topology, parse_topology
from clusters.toolbox.errors import ClusterError
from clusters.provider import ClusterProvider, NodeEvidence

# /etc/containerd/config.toml of kind node images, trimmed to what matters here. kind
# v0.33.0's image runs containerd 2.3 yet still ships this `version = 2` file; older
# images (containerd 1.7) ship the same format.
KIND_IMAGE_CONFIG = textwrap.dedent('''\
    version = 2

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = "/etc/containerd/cri-base.json"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = "/etc/containerd/cri-base.json"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler.options]
        SystemdCgroup = true

    [plugins."io.containerd.grpc.v1.cri"]
      sandbox_image = "registry.k8s.io/pause:3.10"
    ''')

# The same node written natively in containerd 2.x's format.
VERSION_3_CONFIG = textwrap.dedent('''\
    version = 3

    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = true
    ''')

# The offline node image's own file (clusters/kind/node_files.py): runc and crun, no test-handler.
BUILT_IMAGE_CONFIG = containerd_config("registry.k8s.io/pause:3.10.1")

POD_UID = "5f3c1a2b-0d4e-4f60-9a7b-8c9d0e1f2a3b"


def runtimes_of(config_text: str, plugin: str) -> dict:
    return tomllib.loads(config_text)["plugins"][plugin]["containerd"]["runtimes"]


def topology_with(**node_overrides: dict):
    """The default topology with some nodes' raw fields replaced, keyed by node index ("n2")."""
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    for key, fields in node_overrides.items():
        raw["nodes"][int(key.removeprefix("n"))].update(fields)
    return parse_topology(raw, Path("test"))


# --- topology and kind config ------------------------------------------------


def test_default_topology_has_one_control_plane_and_two_heterogeneous_workers():
    topology = load_topology()
    assert [(n.name, n.role) for n in topology.nodes] == [
        ("rcc-control-plane", "control-plane"), ("rcc-worker", "worker"), ("rcc-worker2", "worker")]
    worker1, worker2 = topology.workers
    assert set(worker1.handlers) == {"runc", "crun"}
    assert set(worker2.handlers) == {"runc", "crun", "test-handler"}
    assert worker1.labels["rcc.conformance.io/pool"] != worker2.labels["rcc.conformance.io/pool"]


def test_generated_yaml_is_a_kind_cluster_with_every_node_role_image_and_label():
    topology = load_topology()
    config = yaml.safe_load(cluster_config_yaml(topology))
    assert config["apiVersion"] == KIND_API_VERSION == "kind.x-k8s.io/v1alpha4"
    assert config["kind"] == "Cluster"
    assert config["name"] == topology.name
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    for node, spec in zip(config["nodes"], topology.nodes, strict=True):
        assert node["image"] == topology.image
        assert node.get("labels", {}) == spec.labels
        assert set(node) <= {"role", "image", "labels", "kubeadmConfigPatches"}
    assert "networking" not in config and "kubeadmConfigPatches" not in config


def test_the_offline_image_brings_its_own_pod_network_so_kindnetd_is_not_installed():
    config = cluster_config(load_topology(), own_pod_network=True)
    assert config["networking"] == {"disableDefaultCNI": True}


def test_a_cgroup_v1_host_gets_kubelets_that_accept_cgroup_v1():
    config = cluster_config(load_topology(), cgroup_v1=True)
    [patch] = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    assert patch == {"kind": "KubeletConfiguration", "failCgroupV1": False}
    assert yaml.safe_load(cluster_config_yaml(load_topology(), cgroup_v1=True))["kubeadmConfigPatches"] == [
        CGROUP_V1_KUBELET_PATCH]


def test_handlers_are_not_in_the_cluster_wide_containerd_patches():
    assert "containerdConfigPatches" not in cluster_config(load_topology())


def test_the_built_image_config_has_two_real_runtimes_and_no_test_handler():
    runtimes = runtimes_of(BUILT_IMAGE_CONFIG, CRI_PLUGIN_V2)
    assert set(runtimes) == {"runc", "crun"}
    assert runtimes["runc"]["options"]["BinaryName"] != runtimes["crun"]["options"]["BinaryName"]
    assert all(r["options"]["SystemdCgroup"] is True for r in runtimes.values())
    addition = handler_additions(BUILT_IMAGE_CONFIG, ["runc", "crun", "test-handler"])
    assert runtimes_of(BUILT_IMAGE_CONFIG + "\n" + addition, CRI_PLUGIN_V2)["test-handler"] == runtimes["runc"]


@pytest.mark.parametrize("corefile", [
    ".:53 {\n    errors\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n}\n",
    ".:53 {\n    errors\n    forward . /etc/resolv.conf\n    cache 30\n}\n",
])
def test_coredns_keeps_lookups_inside_the_cluster(corefile):
    assert corefile_without_forward(corefile) == ".:53 {\n    errors\n    cache 30\n}\n"


def node_item(name: str, *handlers: str, taints: tuple[str, ...] = ()) -> dict:
    return {"metadata": {"name": name},
            "spec": {"taints": [{"key": key, "effect": "NoSchedule"} for key in taints]},
            "status": {"runtimeHandlers": [{"name": h} for h in handlers]}}


EXPECTED_HANDLERS = {"rcc-worker": ("runc", "crun"), "rcc-worker2": ("runc", "crun", "test-handler")}


def test_a_handler_added_to_a_node_is_waited_for_until_its_kubelet_reports_it():
    before = {"items": [node_item("rcc-worker", "", "runc", "crun"), node_item("rcc-worker2", "", "runc", "crun")]}
    after = {"items": [node_item("rcc-worker", "", "runc", "crun"),
                       node_item("rcc-worker2", "", "runc", "crun", "test-handler")]}
    assert nodes_not_settled(before, EXPECTED_HANDLERS) == ["rcc-worker2: handler test-handler not reported"]
    assert nodes_not_settled(after, EXPECTED_HANDLERS) == []


def test_a_ready_node_still_tainted_not_ready_is_waited_for():
    # Seen after `kind create cluster`: Ready=True posted, the lifecycle controller's taint not yet lifted.
    tainted = {"items": [node_item("rcc-worker", "", "runc", "crun", taints=("node.kubernetes.io/not-ready",)),
                         node_item("rcc-worker2", "", "runc", "crun", "test-handler",
                                   taints=("rcc.conformance.io/sandboxed",))]}
    assert nodes_not_settled(tainted, EXPECTED_HANDLERS) == ["rcc-worker: taint node.kubernetes.io/not-ready"]


def test_a_node_that_reports_no_runtime_handlers_at_all_is_not_waited_for():
    # containerd 1.7 reports none: the kubelet never will, so waiting would only time out.
    silent = {"items": [{"metadata": {"name": "rcc-worker2"}, "status": {}}]}
    assert nodes_not_settled(silent, EXPECTED_HANDLERS) == []


def test_taints_become_a_kubeadm_patch_of_the_nodes_own_registration():
    taints = [{"key": "rcc.conformance.io/sandboxed", "value": "true", "effect": "NoSchedule"},
              {"key": "rcc.conformance.io/drain", "effect": "NoExecute"}]
    topology = topology_with(n0={"taints": [{"key": "cp", "effect": "NoSchedule"}]}, n2={"taints": taints})
    nodes = yaml.safe_load(cluster_config_yaml(topology))["nodes"]

    assert "kubeadmConfigPatches" not in nodes[1]
    [control_plane_patch] = [yaml.safe_load(p) for p in nodes[0]["kubeadmConfigPatches"]]
    [worker_patch] = [yaml.safe_load(p) for p in nodes[2]["kubeadmConfigPatches"]]
    assert control_plane_patch == {"kind": "InitConfiguration",
                                   "nodeRegistration": {"taints": [{"key": "cp", "effect": "NoSchedule"}]}}
    assert worker_patch["kind"] == "JoinConfiguration"
    assert worker_patch["nodeRegistration"]["taints"] == taints


@pytest.mark.parametrize("nodes, message", [
    ([{"role": "worker"}], "exactly one control-plane"),
    ([{"role": "control-plane"}], "at least one worker"),
    ([{"role": "control-plane"}, {"role": "worker", "handlers": ["Bad_Name"]}], "DNS-1123"),
    ([{"role": "control-plane"}, {"role": "worker", "handlers": ["runc", "runc"]}], "listed twice"),
    ([{"role": "control-plane"}, {"role": "worker", "taints": [{"key": "k", "effect": "Never"}]}], "taint effect"),
    ([{"role": "control-plane"}, {"role": "etcd"}], "node role"),
])
def test_an_invalid_topology_is_one_line_naming_the_problem(tmp_path, nodes, message):
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump({"name": "rcc", "image": "kindest/node:v1.37.0", "nodes": nodes}))
    with pytest.raises(ClusterError) as err:
        load_topology(path)
    assert message in str(err.value) and "\n" not in str(err.value)


# --- containerd configuration -----------------------------------------------


def test_plugin_path_follows_the_config_file_format_version():
    assert containerd_plugin_path(2) == 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes'
    assert containerd_plugin_path(3) == 'plugins."io.containerd.cri.v1.runtime".containerd.runtimes'
    assert containerd_plugin_path(4) == containerd_plugin_path(3)
    with pytest.raises(ValueError):
        containerd_plugin_path(1)


def test_a_missing_handler_is_added_under_the_v2_plugin_of_a_kind_image_config():
    # Holds for containerd 1.7 images and for kind v0.33's containerd 2.3 image alike:
    # both ship a version 2 file, and containerd 2.x migrates it on load.
    addition = handler_additions(KIND_IMAGE_CONFIG, ["runc", "test-handler", "rcc-extra"])
    tomllib.loads(addition)
    assert addition.startswith(f"[{containerd_plugin_path(2)}.rcc-extra]")
    assert CRI_PLUGIN_V3 not in addition
    runtimes = runtimes_of(KIND_IMAGE_CONFIG + "\n" + addition, CRI_PLUGIN_V2)
    assert set(runtimes) == {"runc", "test-handler", "rcc-extra"}
    assert runtimes["rcc-extra"] == runtimes["runc"]
    assert runtimes["rcc-extra"]["options"]["SystemdCgroup"] is True


def test_a_missing_handler_is_added_under_the_v3_plugin_of_a_version_3_config():
    addition = handler_additions(VERSION_3_CONFIG, ["rcc-extra"])
    tomllib.loads(addition)
    assert addition.startswith(f"[{containerd_plugin_path(3)}.rcc-extra]")
    assert CRI_PLUGIN_V2 not in addition
    runtimes = runtimes_of(VERSION_3_CONFIG + "\n" + addition, CRI_PLUGIN_V3)
    assert runtimes["rcc-extra"] == runtimes["runc"]


def test_handlers_the_node_already_has_add_nothing():
    assert handler_additions(KIND_IMAGE_CONFIG, ["runc", "test-handler"]) == ""


def test_a_config_without_its_default_runtime_table_is_refused():
    config = KIND_IMAGE_CONFIG.replace('default_runtime_name = "runc"', 'default_runtime_name = "crun"')
    with pytest.raises(ValueError, match="crun"):
        handler_additions(config, ["rcc-extra"])


def test_runtime_tables_are_read_from_the_plugin_of_the_files_version():
    assert sorted(containerd.runtime_tables(tomllib.loads(KIND_IMAGE_CONFIG))) == ["runc", "test-handler"]
    assert sorted(containerd.runtime_tables(tomllib.loads(VERSION_3_CONFIG))) == ["runc"]


# --- node evidence ----------------------------------------------------------


@pytest.mark.parametrize("qos, slices", [
    ("Burstable", ["kubelet-kubepods-burstable.slice",
                   "kubelet-kubepods-burstable-pod5f3c1a2b_0d4e_4f60_9a7b_8c9d0e1f2a3b.slice"]),
    ("BestEffort", ["kubelet-kubepods-besteffort.slice",
                    "kubelet-kubepods-besteffort-pod5f3c1a2b_0d4e_4f60_9a7b_8c9d0e1f2a3b.slice"]),
    ("Guaranteed", ["kubelet-kubepods-pod5f3c1a2b_0d4e_4f60_9a7b_8c9d0e1f2a3b.slice"]),
])
def test_pod_cgroup_path_is_the_systemd_slice_under_the_kubelet_root(qos, slices):
    expected = PurePosixPath("/sys/fs/cgroup/kubelet.slice/kubelet-kubepods.slice", *slices, "memory.max")
    assert pod_cgroup_path(POD_UID, qos, "memory.max") == expected


def test_pod_cgroup_path_on_cgroup_v1_sits_under_the_knobs_controller():
    path = pod_cgroup_path(POD_UID, "burstable", "memory.limit_in_bytes", cgroup_v2=False)
    assert path.parts[:5] == ("/", "sys", "fs", "cgroup", "memory")
    assert path.parts[5] == "kubelet.slice"
    assert path.name == "memory.limit_in_bytes"


def test_pod_cgroup_path_rejects_an_unknown_qos_class():
    with pytest.raises(ValueError, match="QoS"):
        pod_cgroup_path(POD_UID, "premium", "memory.max")


@pytest.mark.parametrize("knob, v2_text, v2_file, v1_value", [
    ("memory.limit_in_bytes", "134217728", "memory.max", "134217728"),
    ("memory.limit_in_bytes", "max", "memory.max", V1_NO_MEMORY_LIMIT),
    ("cpu.cfs_quota_us", "35000 100000", "cpu.max", "35000"),
    ("cpu.cfs_quota_us", "max 100000", "cpu.max", "-1"),
    ("cpu.cfs_period_us", "35000 100000", "cpu.max", "100000"),
    ("pids.max", "max", "pids.max", "max"),
])
def test_v1_knobs_are_read_from_their_v2_files_and_given_back_in_v1_form(knob, v2_text, v2_file, v1_value):
    file, to_v1 = v2_translation(knob)
    assert (file, to_v1(v2_text)) == (v2_file, v1_value)


def test_the_sandbox_is_picked_by_pod_uid():
    listing = {"items": [{"id": "aaa", "metadata": {"uid": "other"}}, {"id": "bbb", "metadata": {"uid": POD_UID}}]}
    assert find_sandbox_id(listing, POD_UID) == "bbb"
    assert find_sandbox_id(listing, "missing") is None


def test_engine_follows_kinds_experimental_provider_variable():
    assert engine_for({}) == "docker"
    assert engine_for({"KIND_EXPERIMENTAL_PROVIDER": "podman"}) == "podman"
    assert engine_for({"KIND_EXPERIMENTAL_PROVIDER": "bogus"}) == "docker"


# --- the provider against stand-in kind and docker executables --------------

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: kind-rcc, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: kind-rcc, user: {token: stub}}]
contexts: [{name: kind-rcc, context: {cluster: kind-rcc, user: kind-rcc}}]
current-context: kind-rcc
"""

# Both stand-ins log argv as one JSON list per line into STATE/<tool>.log.
STUB_KIND = """\
import json, shutil, sys
from pathlib import Path

state = Path(STATE)
args = sys.argv[1:]
with (state / "kind.log").open("a") as log:
    log.write(json.dumps(args) + "\\n")

def flag(name):
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]

clusters_file = state / "clusters"
clusters = clusters_file.read_text().split() if clusters_file.exists() else []
if args[:2] == ["get", "clusters"]:
    print("\\n".join(clusters))
elif args[:2] == ["create", "cluster"]:
    shutil.copyfile(flag("--config"), state / "config-seen.yaml")
    Path(flag("--kubeconfig")).write_text(KUBECONFIG)
    clusters_file.write_text("\\n".join(clusters + [flag("--name")]))
elif args[:2] == ["export", "kubeconfig"]:
    Path(flag("--kubeconfig")).write_text(KUBECONFIG)
elif args[:2] == ["delete", "cluster"]:
    clusters_file.write_text("\\n".join(c for c in clusters if c != flag("--name")))
"""

# `docker exec [-i] NODE CMD...` acts on STATE/nodes/NODE/<absolute path>.
STUB_DOCKER = """\
import json, sys
from pathlib import Path

state = Path(STATE)
args = sys.argv[1:]
with (state / "docker.log").open("a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "info":
    sys.exit(int(INFO_EXIT))
if args[0] == "exec":
    args = args[1:]
    if args[0] == "-i":
        args = args[1:]
    root, command = state / "nodes" / args[0], args[1:]
    def node_file(path):
        return root / path.lstrip("/")
    if command[0] == "cat":
        if not node_file(command[1]).is_file():
            sys.exit(1)
        sys.stdout.write(node_file(command[1]).read_text())
    elif command[:2] == ["cp", "/dev/stdin"]:
        node_file(command[2]).write_text(sys.stdin.read())
    elif command[0] == "test":
        sys.exit(0 if node_file(command[2]).exists() else 1)
    elif command[:2] == ["crictl", "pods"]:
        sys.stdout.write(json.dumps({"items": [{"id": "sandbox-1", "metadata": {"uid": POD_UID}}]}))
    elif command[:2] == ["crictl", "inspectp"]:
        sys.stdout.write(json.dumps({"status": {"id": command[-1], "runtimeHandler": "test-handler"}}))
    elif command[0] == "kubectl":
        rest = command[3:]  # after --kubeconfig /etc/kubernetes/admin.conf
        with (state / "kubectl.log").open("a") as log:
            log.write(json.dumps(rest) + "\\n")
        if rest[:4] == ["-n", "kube-system", "get", "configmap"]:
            sys.stdout.write(json.dumps({"metadata": {"name": "coredns", "namespace": "kube-system",
                                                      "resourceVersion": "7"}, "data": {"Corefile": COREFILE}}))
        elif rest[0] == "replace":
            (state / "coredns-replaced.json").write_text(sys.stdin.read())
"""

COREFILE = ".:53 {\n    kubernetes cluster.local\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n}\n"


class Stubs:
    """The stand-in tools' state folder and what they recorded."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.synced: list[tuple[str, ...]] = []  # the class names each platform_classes.sync was given

    def calls(self, tool: str) -> list[list[str]]:
        log = self.state / f"{tool}.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def kind_calls(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls("kind") if c[:len(prefix)] == list(prefix)]

    def node_file(self, node: str, path: str) -> Path:
        return self.state / "nodes" / node / path.lstrip("/")

    def kubectl_calls(self) -> list[list[str]]:
        return self.calls("kubectl")


def write_stub(folder: Path, name: str, body: str, **constants: str) -> None:
    preamble = "".join(f"{key} = {value!r}\n" for key, value in constants.items())
    script = folder / name
    script.write_text(f"#!{sys.executable}\n{preamble}{body}")
    script.chmod(0o755)


def flag_value(args: list[str], name: str) -> str | None:
    """A flag's value in either spelling kind accepts: `--name X` or `--name=X`."""
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


@pytest.fixture
def stubs(tmp_path, monkeypatch) -> Stubs:
    """`kind` and a reachable `docker` first on PATH; node containers seeded with kind's containerd config."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    write_stub(bin_dir, "kind", STUB_KIND, STATE=str(state), KUBECONFIG=KUBECONFIG)
    write_stub(bin_dir, "docker", STUB_DOCKER, STATE=str(state), INFO_EXIT="0", POD_UID=POD_UID, COREFILE=COREFILE)
    for node in load_topology().nodes:
        config = state / "nodes" / node.name / "etc/containerd/config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(BUILT_IMAGE_CONFIG)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("RCC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    # KindCluster keeps its kubeconfig under ./.pytest-kind.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("clusters.kind.provider.build_test_image", fake_test_image)
    # Building the node image is covered by tests/test_kind_cluster.py; here only whether it is asked for.
    monkeypatch.setattr("clusters.kind.provider.node_image.ensure_node_image",
                        lambda **_: (state / "image-ensured").touch())
    stubs = Stubs(state)
    # No API server behind the stand-in kind: the topology's classes are recorded, not sent
    # (sending them is covered by tests/test_kind_cluster.py, whose RC-SCH-7 audits them).
    monkeypatch.setattr("clusters.kind.provider.platform_classes.sync",
                        lambda _kubeconfig, _name, classes, _progress: stubs.synced.append(
                            tuple(c.name for c in classes)))
    return stubs


def fake_test_image(dest_dir: Path) -> Path:
    archive = dest_dir / "rcc-test.oci.tar"
    archive.write_bytes(b"stand-in OCI archive")
    return archive


def quiet_provider(**kwargs) -> KindProvider:
    return KindProvider(progress=lambda _: None, **kwargs)


def test_kind_provider_and_evidence_satisfy_the_protocols():
    provider = quiet_provider()
    assert isinstance(provider, ClusterProvider)
    assert isinstance(provider.evidence(), NodeEvidence)
    assert provider.declared_handlers == ["crun", "runc", "test-handler"]


def test_create_runs_kind_create_cluster_with_the_generated_config(stubs):
    provider = quiet_provider()
    kubeconfig = provider.create()

    [create] = stubs.kind_calls("create", "cluster")
    assert flag_value(create, "--name") == "rcc"
    assert flag_value(create, "--config") is not None
    expected = cluster_config_yaml(provider.topology, cgroup_v1=_host_cgroup_v1(), own_pod_network=True)
    assert (stubs.state / "config-seen.yaml").read_text() == expected
    assert kubeconfig.is_file() and yaml.safe_load(kubeconfig.read_text())["current-context"] == "kind-rcc"
    assert (stubs.state / "image-ensured").exists()
    assert stubs.synced == [("sandboxed",)]  # the topology's own RuntimeClass, once the cluster is ready


def test_an_upstream_node_image_is_neither_built_nor_stripped_of_kindnetd(stubs, tmp_path):
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["image"] = "kindest/node:v1.37.0"
    topology = tmp_path / "upstream.yaml"
    topology.write_text(yaml.safe_dump(raw))
    quiet_provider(topology=topology).create()

    assert not (stubs.state / "image-ensured").exists()
    assert "networking" not in yaml.safe_load((stubs.state / "config-seen.yaml").read_text())


def test_create_waits_for_ready_nodes_and_coredns_that_forwards_nothing(stubs):
    quiet_provider().create()

    calls = stubs.kubectl_calls()
    assert ["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=20s"] in calls
    assert ["get", "nodes", "-o", "json"] in calls  # each node's handlers reported before the suite reads them
    assert ["-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=20s"] in calls
    replaced = json.loads((stubs.state / "coredns-replaced.json").read_text())
    assert "forward" not in replaced["data"]["Corefile"]
    assert "kubernetes cluster.local" in replaced["data"]["Corefile"]
    assert "resourceVersion" not in replaced["metadata"]


def test_create_adds_the_extra_handler_only_on_the_node_that_lists_it(stubs):
    quiet_provider().create()

    for node in ("rcc-control-plane", "rcc-worker"):
        assert stubs.node_file(node, "/etc/containerd/config.toml").read_text() == BUILT_IMAGE_CONFIG
    patched = stubs.node_file("rcc-worker2", "/etc/containerd/config.toml").read_text()
    assert set(runtimes_of(patched, CRI_PLUGIN_V2)) == {"runc", "crun", "test-handler"}
    restarts = [c for c in stubs.calls("docker") if c[-3:] == ["systemctl", "restart", "containerd"]]
    assert restarts == [["exec", "rcc-worker2", "systemctl", "restart", "containerd"]]


def test_create_loads_the_test_image_archive_into_the_cluster(stubs):
    quiet_provider().create()

    [load] = stubs.kind_calls("load", "image-archive")
    assert load[2].endswith("rcc-test.oci.tar")
    assert flag_value(load, "--name") == "rcc"


def test_create_twice_creates_once(stubs):
    provider = quiet_provider()
    assert provider.create() == provider.create()
    assert len(stubs.kind_calls("create", "cluster")) == 1


def test_destroy_runs_kind_delete_cluster_for_a_cluster_it_created(stubs):
    provider = quiet_provider()
    provider.create()
    provider.destroy()

    [delete] = stubs.kind_calls("delete", "cluster")
    assert flag_value(delete, "--name") == "rcc"


def test_destroy_with_keep_leaves_the_cluster(stubs):
    provider = quiet_provider(keep=True)
    provider.create()
    provider.destroy()
    assert stubs.kind_calls("delete", "cluster") == []


def test_an_existing_cluster_is_attached_to_and_never_deleted(stubs):
    (stubs.state / "clusters").write_text("rcc\n")
    provider = quiet_provider()
    kubeconfig = provider.create()
    provider.destroy()

    assert stubs.kind_calls("create", "cluster") == []
    [export] = stubs.kind_calls("export", "kubeconfig")
    assert flag_value(export, "--kubeconfig") == str(kubeconfig)
    assert stubs.kind_calls("delete", "cluster") == []
    assert stubs.synced == []  # a cluster the user already had gets no RuntimeClass of ours


def seed_node_file(stubs: Stubs, node: str, path: PurePosixPath | str, text: str) -> None:
    target = stubs.node_file(node, str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_evidence_reads_the_sandbox_and_runtime_tables_inside_the_node(stubs):
    quiet_provider().create()
    evidence = quiet_provider().evidence()

    sandbox = evidence.sandbox("rcc-worker2", "ns", "pod", POD_UID)
    assert (sandbox.sandbox_id, sandbox.runtime_handler) == ("sandbox-1", "test-handler")
    assert evidence.sandbox("rcc-worker2", "ns", "pod", "another-uid") is None
    assert evidence.cri_runtime_tables("rcc-worker2") == ["crun", "runc", "test-handler"]
    assert evidence.cri_runtime_tables("rcc-worker") == ["crun", "runc"]


def test_evidence_reads_v1_knobs_of_a_pod_cgroup_on_a_cgroup_v2_node(stubs):
    node, evidence = "rcc-worker2", quiet_provider().evidence()
    seed_node_file(stubs, node, "/sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n")
    seed_node_file(stubs, node, pod_cgroup_path(POD_UID, "burstable", "memory.max"), "134217728\n")
    seed_node_file(stubs, node, pod_cgroup_path(POD_UID, "burstable", "cpu.max"), "35000 100000\n")

    assert evidence.pod_cgroup_value(node, POD_UID, "Burstable", "memory.limit_in_bytes") == "134217728"
    assert evidence.pod_cgroup_value(node, POD_UID, "Burstable", "cpu.cfs_quota_us") == "35000"
    assert evidence.pod_cgroup_value(node, POD_UID, "BestEffort", "memory.limit_in_bytes") is None


def test_evidence_reads_a_pod_cgroup_on_a_cgroup_v1_node_under_the_controller(stubs):
    node, evidence = "rcc-worker", quiet_provider().evidence()
    path = pod_cgroup_path(POD_UID, "guaranteed", "memory.limit_in_bytes", cgroup_v2=False)
    seed_node_file(stubs, node, path, "67108864\n")

    assert evidence.pod_cgroup_value(node, POD_UID, "Guaranteed", "memory.limit_in_bytes") == "67108864"


EXPECTED_NO_ENGINE = ("kind needs a running Docker (or podman) engine and none is reachable (docker info failed); "
                      "on this machine use --cluster local, or --cluster existing with --kubeconfig")


def test_no_reachable_engine_is_one_line_and_kind_is_never_run(stubs, tmp_path):
    write_stub(tmp_path / "bin", "docker", STUB_DOCKER, STATE=str(stubs.state), INFO_EXIT="1", POD_UID=POD_UID,
               COREFILE=COREFILE)
    with pytest.raises(ClusterError) as err:
        quiet_provider().create()
    assert str(err.value) == EXPECTED_NO_ENGINE
    assert stubs.calls("kind") == []


def test_no_docker_client_at_all_gives_the_same_line(stubs, tmp_path, monkeypatch):
    (tmp_path / "bin" / "docker").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(ClusterError) as err:
        quiet_provider().create()
    assert str(err.value) == EXPECTED_NO_ENGINE


def test_kind_missing_from_path_is_one_line(stubs, tmp_path):
    (tmp_path / "bin" / "kind").unlink()
    with pytest.raises(ClusterError, match="kind is not on PATH and Go is missing") as err:
        quiet_provider().create()
    assert "\n" not in str(err.value)


def test_apiserver_arguments_become_a_kubeadm_cluster_configuration_patch():
    config = cluster_config(load_topology(), apiserver_args=("--disable-admission-plugins=RuntimeClass",))
    [patch] = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    assert patch == {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
                     "apiServer": {"extraArgs": [{"name": "disable-admission-plugins", "value": "RuntimeClass"}]}}


def test_a_malformed_apiserver_argument_is_one_line(stubs):
    with pytest.raises(ClusterError, match="must look like --name=value") as err:
        quiet_provider(apiserver_extra_args=("--no-value",)).create()
    assert "\n" not in str(err.value)
