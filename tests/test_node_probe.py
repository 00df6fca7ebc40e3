"""The node probe's manifests and argv reading: pure data. Its behaviour on a cluster is in test_existing_cluster.py."""

from __future__ import annotations

import conformance.plugin  # noqa: F401 - loads clusters.local before clusters.kind, as every run does
from clusters.existing import node_probe
from conformance.manifests import run_labels


def test_only_the_probe_namespace_is_privileged_and_it_carries_the_runs_labels():
    ns = node_probe.probe_namespace("r1", run_labels("r1"))
    assert ns["metadata"]["name"] == "rcc-probe-r1"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert ns["metadata"]["labels"]["rcc.conformance.io/run"] == "r1"


def test_the_probe_pod_is_pinned_hostpid_privileged_and_mounts_cgroups_read_only():
    pod = node_probe.probe_pod("worker.example.com", run_labels("r1"), "busybox:1")
    spec = pod["spec"]
    assert spec["nodeName"] == "worker.example.com" and spec["hostPID"] is True
    assert spec["tolerations"] == [{"operator": "Exists"}]
    container = spec["containers"][0]
    assert container["securityContext"]["privileged"] is True and container["image"] == "busybox:1"
    assert container["volumeMounts"] == [{"name": "cgroup", "mountPath": node_probe.CGROUP_MOUNT, "readOnly": True}]
    assert "." not in pod["metadata"]["name"] and len(pod["metadata"]["name"]) <= 63


def test_pod_names_differ_for_nodes_with_the_same_prefix():
    long = "n" * 50
    assert node_probe.pod_name(long + "a") != node_probe.pod_name(long + "b")


def test_flags_are_read_in_both_spellings():
    args = ["containerd", "--config", "/etc/c.toml", "--address=/run/c.sock", "-id", "abc"]
    assert node_probe._arg(args, "--config") == "/etc/c.toml"
    assert node_probe._arg(args, "--address") == "/run/c.sock"
    assert node_probe._arg(args, "-id") == "abc"
    assert node_probe._arg(args, "-c") is None


def test_cri_o_settings_merge_the_drop_ins_over_the_main_config_later_files_winning():
    from clusters.existing.crio_probe import merged

    main = '[crio]\nroot = "/a"\n[crio.runtime]\ndefault_runtime = "crun"\n[crio.runtime.runtimes.crun]\n'
    drop_in = '[crio]\nroot = "/b"\n[crio.runtime]\ndefault_runtime = "runc"\n[crio.runtime.runtimes.kata-tdx]\n' \
              'runtime_path = "/opt/kata/bin/kata-runtime"\n'
    settings = merged([main, drop_in, "not toml ["])
    assert settings["root"] == "/b" and settings["runtime"]["default_runtime"] == "runc"
    assert sorted(settings["runtime"]["runtimes"]) == ["crun", "kata-tdx"]


def test_handler_nodes_are_read_as_handler_to_nodes_and_bad_ones_are_one_line():
    import pytest

    from conformance.session import parse_handler_nodes

    assert parse_handler_nodes(["gvisor=a,b", "gvisor=c", "kata=d"]) == {"gvisor": ["a", "b", "c"], "kata": ["d"]}
    with pytest.raises(ValueError, match="use HANDLER=NODE"):
        parse_handler_nodes(["gvisor"])
