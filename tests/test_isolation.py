"""RC-USE-8's pure logic: classifying what a Pod saw, reading declarations, naming the runtime from /proc output.

The cluster side (suites/test_isolation.py) is exercised by tests/test_local_cluster.py,
tests/test_existing_cluster.py and the mutants; here only data in, data out.
"""

from __future__ import annotations

import pytest

from clusters import procfs
from conformance import isolation
from conformance.isolation import Observation, PodView, classify
from conformance.isolation_report import isolation_html, rows_for_summary

NODE_KERNEL = "6.18.44-fc-v509"
GVISOR_LOG = ("release=4.19.0-gvisor\nversion=Linux version 4.19.0-gvisor #1 SMP Sun Jan 10 15:06:54 PST 2016\n"
              "dmesg=[    0.000000] Starting gVisor... [    0.471000] Reticulating splines... \n"
              f"{isolation.MARKER}\n")


def test_a_pod_log_is_no_view_until_the_marker_says_everything_was_printed():
    assert PodView.parse("release=6.1\n") is None
    assert PodView.parse(f"release=6.1\nversion=Linux version 6.1 x\ndmesg=\n{isolation.MARKER}\n") == \
        PodView("6.1", "Linux version 6.1 x", "")


def test_the_nodes_own_kernel_release_means_a_shared_kernel():
    view = PodView(NODE_KERNEL, f"Linux version {NODE_KERNEL} (gcc)", "")
    assert classify(view, NODE_KERNEL)[0] == "shared-kernel"


def test_gvisors_release_and_banner_mean_a_user_space_kernel():
    observed, why = classify(PodView.parse(GVISOR_LOG), NODE_KERNEL)
    assert observed == "user-space-kernel"
    assert "-gvisor" in why and NODE_KERNEL in why


def test_a_banner_alone_is_enough_even_if_the_release_is_disguised():
    assert classify(PodView("5.15.0", "Linux version 5.15.0", "Starting gVisor..."), NODE_KERNEL)[0] == \
        "user-space-kernel"


def test_another_kernel_without_a_banner_is_a_vm():
    observed, why = classify(PodView("6.1.62", "Linux version 6.1.62 (kata)", ""), NODE_KERNEL)
    assert observed == "vm"
    assert "not the node's kernelVersion" in why


def test_declarations_from_a_file_and_the_command_line_with_the_command_line_winning():
    declared = isolation.parse_file("gvisor: {class: user-space-kernel, runtime: runsc}\nrunc: shared-kernel\n", "f")
    assert declared["gvisor"] == isolation.Expectation("user-space-kernel", "runsc", "f, handler gvisor")
    assert declared["runc"].runtime is None
    cli = isolation.parse_cli(["runc=vm:kata"])
    table = isolation.merge({"runc": {"n1": ("shared-kernel", "runc")}, "crun": {"n1": ("shared-kernel", "crun")}},
                            "topology", cli)
    assert isolation.expected(table, "runc", "n1").isolation == "vm"
    assert isolation.expected(table, "runc", "any-node").runtime == "kata"
    assert isolation.expected(table, "crun", "n1") == \
        isolation.Expectation("shared-kernel", "crun", "topology, node n1")
    assert isolation.expected(table, "crun", "n2") is None


@pytest.mark.parametrize("bad, says", [
    (["gvisor"], "use HANDLER=CLASS"),
    (["gvisor=sandboxed"], "is not one of shared-kernel"),
    (["gvisor=user-space-kernel:docker"], "runtime 'docker' is not one of"),
])
def test_a_bad_command_line_declaration_is_one_sentence(bad, says):
    with pytest.raises(ValueError, match=says):
        isolation.parse_cli(bad)


def test_a_bad_file_says_what_to_write():
    with pytest.raises(ValueError, match="needs `class:`"):
        isolation.parse_file("gvisor: {runtime: runsc}", "iso.yaml")
    with pytest.raises(ValueError, match="one `HANDLER"):
        isolation.parse_file("- gvisor", "iso.yaml")


def test_a_mismatch_says_expected_versus_seen_with_the_evidence():
    row = Observation("gvisor", "n1", "shared-kernel", "uname -r '6.18' is the node's kernelVersion",
                      runtime="runc", runtime_class="shared-kernel", node_evidence="runc's state file /x/state.json",
                      expected="user-space-kernel", expected_runtime="runsc", declared_by="topology")
    problems = row.problems()
    assert len(problems) == 3
    assert problems[0].startswith("handler 'gvisor' on node n1: expected user-space-kernel (topology), the Pod saw "
                                  "shared-kernel")
    assert "expected runtime runsc (topology), the node runs runc: runc's state file" in problems[2]
    assert row.to_json()["verdict"] == "mismatch"


def test_a_runtime_of_the_right_class_but_the_wrong_kind_is_a_mismatch():
    row = Observation("crun", "n1", "shared-kernel", "same kernel", runtime="runc", runtime_class="shared-kernel",
                      node_evidence="state.json", expected="shared-kernel", expected_runtime="crun", declared_by="t")
    assert row.problems() == ["handler 'crun' on node n1: expected runtime crun (t), the node runs runc: state.json"]


def test_without_a_declaration_nothing_fails_and_the_row_says_undeclared():
    row = Observation("kata", "n1", "vm", "other kernel")
    assert row.problems() == [] and row.to_json()["verdict"] == "undeclared"


SHIM = ("PROC\t4242\t/root/.cache/bin/containerd-shim-runc-v2\t/var/lib/rcc/state/io.containerd.runtime.v2.task/"
        "k8s.io/abc123\t/root/.cache/bin/containerd-shim-runc-v2 -namespace k8s.io -id abc123 -address /x.sock \n"
        'OPTIONS\t4242\t{"binary_name":"/usr/bin/crun-wrapper"}\n')


def test_runcs_state_file_names_runc_whatever_the_shim_was_told():
    sighting = procfs.judge("abc123", SHIM + "STATE\t4242\t/run/containerd/runc/k8s.io/abc123\tstate.json \n")
    assert (sighting.runtime, sighting.isolation) == ("runc", "shared-kernel")
    assert "state.json" in sighting.evidence and "binary_name /usr/bin/crun-wrapper" in sighting.evidence


def test_cruns_status_file_names_crun():
    sighting = procfs.judge("abc123", SHIM + "STATE\t4242\t/run/containerd/runc/k8s.io/abc123\tconfig.json status \n")
    assert sighting.runtime == "crun"


def test_a_runsc_sandbox_process_names_gvisor():
    output = ("PROC\t77\t/usr/local/bin/runsc\t/\trunsc-sandbox --root=/run/containerd/runsc/k8s.io boot "
              "--bundle=/b/abc123 abc123 \n"
              "PROC\t76\t/usr/local/bin/containerd-shim-runsc-v1\t/b/abc123\tcontainerd-shim-runsc-v1 "
              "-namespace k8s.io -id abc123 -address /x.sock \n")
    sighting = procfs.judge("abc123", output)
    assert (sighting.runtime, sighting.isolation) == ("runsc", "user-space-kernel")
    assert "runsc-sandbox pid 77" in sighting.evidence


def test_a_shim_without_runtime_state_is_unknown_and_no_shim_is_none():
    assert procfs.judge("abc123", SHIM).runtime == "unknown"
    assert procfs.judge("abc123", "") is None


def test_the_report_keeps_one_row_per_handler_and_node_preferring_node_evidence():
    pod_only = Observation("runc", "n1", "shared-kernel", "same").to_json()
    with_node = Observation("runc", "n1", "shared-kernel", "same", runtime="runc", runtime_class="shared-kernel",
                            node_evidence="state.json").to_json()
    rows = rows_for_summary([pod_only, with_node, Observation("crun", "n1", "shared-kernel", "same").to_json()])
    assert [(r["handler"], r["runtime"]) for r in rows] == [("crun", None), ("runc", "runc")]
    page = isolation_html(rows, "", "", "")
    assert 'data-isolation="runc/n1"' in page and "(not declared)" in page and "Node: state.json" in page


def test_on_cri_o_the_monitor_and_crun_state_name_crun():
    output = ("PROC\t90\t/usr/bin/conmon\t/\t/usr/bin/conmon -b /b -c abc123 -r /usr/bin/crun "
              "--runtime-arg --root=/run/crun \n"
              "STATE\t90\t/run/crun/abc123\tstatus \n")
    sighting = procfs.judge("abc123", output)
    assert sighting.runtime == "crun" and "monitor conmon (pid 90" in sighting.evidence


def test_the_rewired_mutants_keep_the_handlers_name_and_promise_but_run_runc(tmp_path):
    import yaml

    from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
    from clusters.local.variants import GVISOR_RUNS_RUNC, variants_for

    crun = next(v for v in variants_for(DEFAULT_TOPOLOGY) if v.name == "crun-handler-runs-runc")
    topology = load_topology(crun.topology_file(DEFAULT_TOPOLOGY, tmp_path / "crun"))
    runtimes = {topology.runtimes[h.runtime] for n in topology.nodes for h in n.handlers if h.name == "crun"}
    assert {(r.binary, r.type, r.isolation) for r in runtimes} == {("runc", "crun", "shared-kernel")}
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["runtimes"]["runsc"] = {"binary": "runsc", "type": "runsc"}
    for node in raw["nodes"]:
        node["handlers"] = [h for h in node["handlers"] if h["name"] != "gvisor"]
    without = tmp_path / "without-gvisor.yaml"
    without.write_text(yaml.safe_dump(raw))
    raw["nodes"][0]["handlers"].append({"name": "gvisor", "runtime": "runsc"})
    base = tmp_path / "with-gvisor.yaml"
    base.write_text(yaml.safe_dump(raw))
    assert GVISOR_RUNS_RUNC in variants_for(base) and GVISOR_RUNS_RUNC not in variants_for(without)
    rewired = load_topology(GVISOR_RUNS_RUNC.topology_file(base, tmp_path / "gvisor"))
    gvisor = rewired.runtimes[next(h.runtime for h in rewired.nodes[0].handlers if h.name == "gvisor")]
    assert (gvisor.binary, gvisor.type, gvisor.isolation) == ("runc", "runc", "user-space-kernel")


def test_the_runs_table_takes_the_providers_promise_and_the_users_word_over_it(tmp_path):
    from types import SimpleNamespace

    from conformance.session import isolation_table

    provider = SimpleNamespace(name="local", topology=SimpleNamespace(name="rcc-iso"),
                               declared_isolation=lambda: {"runc": {"n1": ("shared-kernel", "runc")},
                                                           "crun": {"n1": ("shared-kernel", "crun")}})
    file = tmp_path / "iso.yaml"
    file.write_text("crun: {class: vm, runtime: kata}\n")
    options = SimpleNamespace(isolation_file=file, expect_isolation=["runc=shared-kernel:crun"])
    table = isolation_table(options, provider)
    assert isolation.expected(table, "runc", "n1").runtime == "crun"
    assert isolation.expected(table, "crun", "n1").isolation == "vm"
    options = SimpleNamespace(isolation_file=None, expect_isolation=[])
    assert isolation.expected(isolation_table(options, provider), "runc", "n1").source == \
        "the topology of cluster rcc-iso, node n1"
    assert isolation_table(options, None) == {}
