"""RC-OVH-8's pure logic: which processes must sit in the Pod cgroup, the path test, the memory verdicts.

The cluster side (suites/test_overhead.py) runs on real clusters; the broken variants that must fail
it are in clusters/local/variants.py (tests/test_mutants.py).
"""

from __future__ import annotations

from clusters.pod_processes import NodeProcess, PodProcesses, parse_details, parse_tree, tree_of
from conformance.containment import judge, within
from conformance.isolation_report import containment_cell, isolation_html
from conformance.memory_hold import read_log

POD = "/rcc-n1/kubepods/burstable/pod1234"
OUTSIDE = {"memory": "/process_api/abc", "cpu": "/", "": "/"}


def _p(pid, ppid, exe, command, where, cri=False):
    inside = {"memory": f"{POD}/{where}", "cpu,cpuacct": f"{POD}/{where}", "": "/"} if where else OUTSIDE
    return NodeProcess(pid, ppid, exe, command, inside, cri)


def _tree(*processes):
    present = {p.pid for p in processes}
    return PodProcesses("n1", (POD,), processes, tuple(p.pid for p in processes if p.ppid not in present))


def test_a_gvisor_pod_whose_sandbox_and_gofer_are_inside_passes_with_its_shim_outside():
    tree = _tree(_p(10, 1, "/x/containerd-shim-runsc-v1", "containerd-shim-runsc-v1 -id sb1", None),
                 _p(11, 10, "/x/runsc", "runsc-gofer --root=/r gofer --bundle /b", "sb1"),
                 _p(12, 10, "/x/runsc", "runsc-sandbox --root=/r boot --bundle=/b sb1", "sb1", cri=True),
                 _p(13, 10, "/x/runsc", "runsc --root=/r wait sb1", None))
    roles = {j.pid: (j.role, j.escaped) for j in judge(tree)}
    assert roles == {10: ("CRI supervisor", False), 11: ("gVisor gofer", False),
                     12: ("gVisor sandbox (runsc boot)", False), 13: ("runtime CLI", False)}


def test_a_sandbox_left_in_the_shims_cgroup_escapes():
    tree = _tree(_p(10, 1, "/x/containerd-shim-runsc-v1", "containerd-shim-runsc-v1 -id sb1", None),
                 _p(12, 10, "/x/runsc", "runsc-sandbox --ignore-cgroups boot sb1", None, cri=True))
    escaped = [j for j in judge(tree) if j.escaped]
    assert [(j.pid, j.role) for j in escaped] == [(12, "gVisor sandbox (runsc boot)")]


def test_a_container_process_in_a_sibling_tree_escapes_even_below_the_node_root():
    stray = NodeProcess(21, 10, "/bin/busybox", "sleep 3600",
                        {"memory": "/rcc-n1/escaped/c1", "cpu,cpuacct": "/rcc-n1/escaped/c1"}, False)
    tree = _tree(_p(10, 1, "/x/containerd-shim-runc-v2", "containerd-shim-runc-v2 -id sb1", None),
                 _p(20, 10, "/pause", "/pause", "sb1", cri=True), stray)
    assert [(j.pid, j.role) for j in judge(tree) if j.escaped] == [(21, "container process")]


def test_the_pod_cgroup_is_recognised_through_a_cgroup_namespace_and_not_by_its_name_alone():
    assert within(f"{POD}/abc", POD) and within(POD, POD)
    assert within("/../../kubepods/burstable/pod1234/abc", POD)
    assert not within("/other/kubepods/burstable/pod1234/abc", POD)
    assert not within("/rcc-n1/kubepods/burstable", POD)


def test_the_tree_follows_parent_links_and_leaves_out_the_looking_script():
    output = "PODCG\t/a/pod1\nSEED\t10\nSEED\t99\nSELF\t50\n10 (shim) S 1 x\n11 (sh (x)) S 10 x\n12 (sleep) S 11 x\n" \
             "50 (sh) S 7 x\n99 (grep) S 50 x\n"
    pod_cgroups, seeds, own, parents = parse_tree(output)
    assert pod_cgroups == ["/a/pod1"] and own == 50
    assert tree_of(seeds, parents, own) == {10, 11, 12}
    details = "PROC\t12\t/bin/sleep\tsleep 1\nCG\t12\t4:memory:/a/pod1/c\nCG\t12\t9:name=systemd:/\n"
    assert parse_details(details, parents, {12}) == [NodeProcess(12, 11, "/bin/sleep", "sleep 1",
                                                                 {"memory": "/a/pod1/c"}, True)]


def test_memory_verdicts_from_the_pods_log():
    assert read_log("RCC-HELD kib=655360").held_mib == 640
    assert "OOM-killed" in read_log("RCC-DD-EXIT 137\nRCC-REFUSED peak_kib=65536").form
    assert "allocation failed" in read_log("dd: memory exhausted\nRCC-DD-EXIT 1\nRCC-REFUSED peak_kib=0").form
    assert read_log("starting") is None


def test_the_isolation_table_says_inside_escaped_or_not_checked_with_why():
    rows = [{"handler": "runc", "node": "n1", "observed": "shared-kernel"},
            {"handler": "runc", "node": "n2", "observed": "shared-kernel"}]
    containment = [{"handler": "runc", "node": "n1", "containment": "escaped", "containment_evidence": "pid 21"}]
    assert containment_cell("runc", "n1", containment) == ("escaped", "pid 21")
    assert containment_cell("runc", "n2", containment)[0] == "not checked"
    assert "did not run" in containment_cell("runc", "n1", [])[1]
    page = isolation_html(rows, "", "", "", containment)
    assert 'data-containment="escaped"' in page and 'data-containment="not checked"' in page


def test_the_escape_variants_make_topologies_the_cluster_accepts(tmp_path):
    from clusters.toolbox.runtimes.runsc import shim_config
    from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
    from clusters.local.variants import GVISOR_IGNORES_CGROUPS, variants_for

    escaping = next(v for v in variants_for(DEFAULT_TOPOLOGY) if v.name == "runc-pods-escape-their-cgroup")
    runc = load_topology(escaping.topology_file(DEFAULT_TOPOLOGY, tmp_path / "runc")).runtimes["rewired"]
    assert (runc.type, runc.relocate_cgroups) == ("runc", "escaped")
    gvisor = load_topology(GVISOR_IGNORES_CGROUPS.topology_file(DEFAULT_TOPOLOGY, tmp_path / "gvisor"))
    flags = dict(gvisor.runtimes["rewired"].flags)
    assert shim_config(tmp_path / "runsc", tmp_path, flags)["runsc_config"] == {"platform": "systrap",
                                                                                "ignore-cgroups": "true"}
    assert GVISOR_IGNORES_CGROUPS in variants_for(DEFAULT_TOPOLOGY)


def test_runsc_flags_on_a_runc_runtime_are_one_clear_error(tmp_path):
    import pytest

    from clusters.toolbox.errors import ClusterError
    from clusters.local.topology import load_topology

    bad = tmp_path / "t.yaml"
    bad.write_text("name: x\nkubernetesVersion: v1.37.2\nserviceCIDR: 10.96.0.0/16\nports: {apiserver: 1, "
                   "etcdClient: 2, etcdPeer: 3, controllerManager: 4, scheduler: 5}\n"
                   "runtimes: {runc: {binary: runc, flags: {ignore-cgroups: true}}}\n"
                   "nodes: [{name: n1, address: 127.0.0.2, podCIDR: 10.244.1.0/24, handlers: [{name: runc, runtime: runc}]}]\n")
    with pytest.raises(ClusterError, match="flags"):
        load_topology(bad)


def test_what_the_gvisor_sandbox_forks_belongs_to_the_sandbox_even_with_an_empty_command_line():
    tree = _tree(_p(10, 1, "/x/containerd-shim-runsc-v1", "containerd-shim-runsc-v1 -id sb1", None),
                 _p(12, 10, "/x/runsc", "runsc-sandbox boot sb1", "sb1"),
                 _p(14, 12, "/x/runsc", "", None))
    assert [(j.pid, j.role) for j in judge(tree) if j.escaped] == [(14, "gVisor sandbox's own process")]
