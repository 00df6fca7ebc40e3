"""Unit tests for the run's report (conformance/report.py) and the runner's pure parts (conformance/run.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance import allure_extras, report, run
from conformance.clauses import CLAUSES
from conformance.matrix import ClauseTracker
from conformance.preflight import Facts, NodeFacts

ROOT = Path(__file__).resolve().parents[1]


def facts(missing: dict[str, str] | None = None) -> Facts:
    nodes = (NodeFacts("worker-1", True, ("crun", "runc"), {"cpu": "2"}, {}, "containerd://2.4.2"),
             NodeFacts("worker-2", True, ("runc", "test-handler"), {"cpu": "2"}, {}, "cri-o://1.34.0"))
    return Facts(server="https://127.0.0.1:6443", server_version="v1.37.2", node_k8s_io_v1=True, nodes=nodes,
                 handlers=("crun", "runc", "test-handler"), handlers_reported=True, missing=missing or {})


def tracker(*, fail: str | None = None, skip: str | None = None) -> ClauseTracker:
    """Every clause passed by one test; `fail` gets a failed test, `skip` only a skipped one."""
    t = ClauseTracker()
    for cid in CLAUSES:
        nodeid = f"suites/test_x.py::test_{cid.lower().replace('-', '_')}"
        if cid == skip:
            t.add(nodeid, "setup", "skipped", [cid], "missing capability admin: denied", 0.01)
            continue
        observed = {cid: "rejected at admission"} if CLAUSES[cid].seed_says else None
        t.add(nodeid, "call", "failed" if cid == fail else "passed", [cid],
              "x.py:1: WaitFailed" if cid == fail else "", 1.5, observed)
    return t


def summary(*, fail: str | None = None, skip: str | None = None, strict: bool = False, exit_status: int = 0,
            missing: dict[str, str] | None = None, **kwargs) -> dict:
    tr = tracker(fail=fail, skip=skip)
    n = len(CLAUSES)
    tests = {"total": n, "passed": n - bool(fail) - bool(skip), "failed": int(bool(fail)), "skipped": int(bool(skip)),
             "unattributed_failures": [], "collection_errors": []}
    tests.update(kwargs.pop("tests", {}))
    return report.build_summary(run_id="rtest1", tracker=tr, facts=facts(missing), handlers=["runc", "crun"],
                                exit_status=exit_status, strict=strict, tests=tests,
                                pytest={"passed": tests["passed"]}, started=1_800_000_000.0,
                                finished=1_800_000_061.5, **kwargs)


# --- summary.json -------------------------------------------------------------------------------

def test_summary_has_one_entry_per_clause_in_spec_order_with_verdict_and_tests():
    s = summary(fail="RC-SCH-4", skip="RC-OVH-7")
    assert [c["id"] for c in s["clauses"]] == list(CLAUSES)
    by_id = {c["id"]: c for c in s["clauses"]}
    assert by_id["RC-SCH-4"]["verdict"] == "failed"
    assert by_id["RC-OVH-7"]["verdict"] == "skipped"
    assert by_id["RC-OVH-7"]["skip_reasons"] == ["missing capability admin: denied"]
    assert by_id["RC-API-1"]["tests"] == [{"nodeid": "suites/test_x.py::test_rc_api_1", "outcome": "passed",
                                           "message": "", "duration": 1.5}]
    assert (by_id["RC-API-1"]["passed"], by_id["RC-API-1"]["total"]) == (1, 1)
    assert s["verdicts"] == {"passed": len(CLAUSES) - 2, "failed": 1, "partial": 0, "skipped": 1, "untested": 0}
    assert s["failed_clauses"] == ["RC-SCH-4"]
    assert json.loads(json.dumps(s)) == s  # plain JSON


def test_summary_records_divergences_with_seed_reference_and_observed_form():
    by_id = {c["id"]: c for c in summary()["clauses"]}
    assert by_id["RC-USE-4"]["divergence"] == {"seed": CLAUSES["RC-USE-4"].seed_says,
                                               "reference": CLAUSES["RC-USE-4"].reference_says,
                                               "observed": ["rejected at admission"]}
    assert by_id["RC-USE-5"]["divergence"]["observed"] == ["rejected at admission"]
    assert by_id["RC-API-1"]["divergence"] is None


def test_summary_has_capabilities_cluster_facts_timing_and_run_facts():
    s = summary(missing={"node-evidence": "no helper pod"}, exit_status=1, strict=True)
    caps = {row["capability"]: row for row in s["capabilities"]}
    assert list(caps) == ["workspace", "admin", "nodes>=2", "node-evidence", "disruptive", "handler:crun", "handler:runc"]
    assert caps["node-evidence"] == {"capability": "node-evidence", "available": False, "why_missing": "no helper pod"}
    assert caps["handler:crun"]["available"] is True
    assert s["cluster"]["server_version"] == "v1.37.2"
    assert [(n["name"], n["handlers"]) for n in s["cluster"]["nodes"]] == [("worker-1", ["crun", "runc"]),
                                                                          ("worker-2", ["runc", "test-handler"])]
    assert s["timing"]["duration_s"] == 61.5
    assert s["timing"]["started"].startswith("2027-01-15T")
    assert (s["run_id"], s["pytest_exit_status"], s["strict"]) == ("rtest1", 1, True)


def test_capability_rows_name_a_handler_that_no_node_has():
    rows = report.capability_rows(facts(), ["gvisor"])
    gvisor = rows[-1]
    assert gvisor["capability"] == "handler:gvisor" and not gvisor["available"]
    assert "gvisor" in gvisor["why_missing"]


def test_summary_without_a_cluster_says_why():
    s = report.build_summary(run_id="r1", tracker=ClauseTracker(), facts=None, exit_status=3, strict=False,
                             tests=report.fold_test_reports([]), error="bring-up failed")
    assert s["cluster"] is None and s["capabilities"] == [] and s["error"] == "bring-up failed"
    assert s["verdicts"]["untested"] == len(CLAUSES)
    assert s["timing"] == {"started": None, "finished": None, "duration_s": None}


def test_crash_messages_replace_the_trackers_last_line_without_touching_the_tracker():
    tr = tracker(fail="RC-SCH-4")
    s = report.build_summary(run_id="r", tracker=tr, exit_status=1, strict=False, tests={},
                             messages={"suites/test_x.py::test_rc_sch_4": "WaitFailed: Pod p is bound: 0/2 nodes"})
    failed = next(c for c in s["clauses"] if c["id"] == "RC-SCH-4")["tests"][0]
    assert failed["message"] == "WaitFailed: Pod p is bound: 0/2 nodes"
    assert tr.results["RC-SCH-4"].tests[0].message == "x.py:1: WaitFailed"


def rep(nodeid, when, outcome, clauses="RC-API-1", crash=None):
    longrepr = SimpleNamespace(reprcrash=SimpleNamespace(message=crash)) if crash else None
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, longrepr=longrepr,
                           user_properties=[("clauses", clauses)] if clauses else [])


def test_fold_test_reports_counts_each_test_once_like_allure():
    reports = [
        rep("a", "setup", "passed"), rep("a", "call", "passed"), rep("a", "teardown", "passed"),
        rep("b", "setup", "passed"), rep("b", "call", "failed"), rep("b", "teardown", "passed"),
        rep("c", "setup", "skipped"), rep("c", "teardown", "passed"),
        rep("d", "setup", "passed"), rep("d", "call", "passed"), rep("d", "teardown", "failed"),
        rep("e", "setup", "passed", clauses=""), rep("e", "call", "failed", clauses=""),
        SimpleNamespace(nodeid="suites/test_broken.py", outcome="failed"),  # a CollectReport
    ]
    folded = report.fold_test_reports(reports)
    assert {k: folded[k] for k in ("total", "passed", "failed", "skipped")} == \
        {"total": 5, "passed": 1, "failed": 3, "skipped": 1}
    assert folded["unattributed_failures"] == ["e"]
    assert folded["collection_errors"] == ["suites/test_broken.py"]


def test_crash_messages_come_from_failed_reports_only():
    reports = [rep("a", "call", "failed", crash="AssertionError: 200 != 403"), rep("b", "call", "passed", crash="x")]
    assert report.crash_messages(reports) == {"a": "AssertionError: 200 != 403"}


def test_write_json_is_complete_and_leaves_no_temporary_file(tmp_path):
    report.write_json(tmp_path / "deep" / "summary.json", {"a": 1})
    assert json.loads((tmp_path / "deep" / "summary.json").read_text()) == {"a": 1}
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["summary.json"]


# --- the exit code ------------------------------------------------------------------------------

def test_exit_code_is_0_when_every_clause_passed_even_if_allure_or_pytest_would_say_otherwise():
    assert report.decide_exit(0, summary())[0] == 0
    # pytest's 1 with every clause passed and no stray failure: the clause matrix decides
    assert report.decide_exit(1, summary())[0] == 0


def test_exit_code_is_1_when_a_clause_failed():
    code, sentence = report.decide_exit(1, summary(fail="RC-USE-2", exit_status=1))
    assert code == 1 and "RC-USE-2" in sentence and sentence.startswith("NOT CONFORMANT")


def test_skipped_clause_passes_without_strict_and_fails_with_it():
    code, sentence = report.decide_exit(0, summary(skip="RC-OVH-7"))
    assert code == 0 and "1 skipped" in sentence and not sentence.startswith("CONFORMANT")
    assert allure_extras.report_variables(summary(skip="RC-OVH-7"))["verdict"].startswith("NO CLAUSE FAILED")
    assert report.decide_exit(0, summary())[1] == f"CONFORMANT: all {len(CLAUSES)} clauses passed"
    code, sentence = report.decide_exit(0, summary(skip="RC-OVH-7", strict=True))
    assert code == 1 and "RC-OVH-7" in sentence and "--strict" in sentence


@pytest.mark.parametrize("status", [2, 3, 4, 5])
def test_pytests_no_verdict_exits_pass_through(status):
    assert report.decide_exit(status, summary(fail="RC-API-1"))[0] == status
    assert report.decide_exit(status, None)[0] == status


def test_no_summary_is_an_error_not_a_pass():
    assert report.decide_exit(0, None)[0] == 3
    assert report.decide_exit(1, None)[0] == 1


def test_a_failed_test_that_names_no_clause_fails_the_run():
    s = summary(tests={"unattributed_failures": ["suites/test_x.py::test_helper"]})
    code, sentence = report.decide_exit(1, s)
    assert code == 1 and "test_helper" in sentence


# --- the matrix, terminal and HTML -----------------------------------------------------------------

def test_matrix_lines_list_every_clause_with_verdict_counts_and_observed_form():
    lines = report.matrix_lines(summary(fail="RC-SCH-4"))
    assert len(lines) == len(CLAUSES) + 2
    assert re.match(r"RC-SCH-4\s+FAILED\s+0/1\s+scheduling.tolerations", lines[list(CLAUSES).index("RC-SCH-4") + 1])
    assert "[observed: rejected at admission]" in next(l for l in lines if l.startswith("RC-USE-4"))
    assert lines[-1] == f"clauses: {len(CLAUSES) - 1} passed, 1 failed, 0 partial, 0 skipped, 0 untested"


def test_matrix_html_has_a_coloured_row_per_clause_grouped_by_family():
    page = report.matrix_html(summary(fail="RC-SCH-4", skip="RC-OVH-7"))
    for cid in CLAUSES:
        assert f'<tr data-clause="{cid}">' in page
    row = re.search(r'<tr data-clause="RC-SCH-4">(.*?)</tr>', page).group(1)
    assert 'data-verdict="failed"' in row and report.COLOURS["failed"][0] in row
    assert "x.py:1: WaitFailed" in row
    skipped = re.search(r'<tr data-clause="RC-OVH-7">(.*?)</tr>', page).group(1)
    assert 'data-verdict="skipped"' in skipped and "missing capability admin" in skipped
    assert page.index("API: the RuntimeClass resource") < page.index("RC-API-1") < page.index("USE: selecting")
    assert "NOT CONFORMANT: 1 clause(s) failed: RC-SCH-4" in page


def test_matrix_html_shows_divergences_seed_reference_observed():
    page = report.matrix_html(summary())
    row = re.search(r'<tr data-divergence="RC-USE-4">(.*?)</tr>', page).group(1)
    assert "the Pod enters the Failed state" in row
    assert "create is rejected, 403 RuntimeClass &quot;&lt;name&gt;&quot; not found" in row
    assert "rejected at admission" in row
    assert '<tr data-divergence="RC-USE-5">' in page and 'data-divergence="RC-API-1"' not in page


def test_matrix_html_shows_capabilities_and_nodes():
    page = report.matrix_html(summary(missing={"disruptive": "opt-in on existing clusters"}))
    assert ">MISSING<" in page and "opt-in on existing clusters" in page
    assert "worker-2" in page and "runc, test-handler" in page and "v1.37.2" in page


def test_matrix_html_escapes_what_tests_report():
    t = ClauseTracker()
    t.add("suites/t.py::test_x", "call", "failed", ["RC-API-1"], "<script>alert(1)</script>")
    s = report.build_summary(run_id="r<1>", tracker=t, exit_status=1, strict=False, tests={})
    page = report.matrix_html(s)
    assert "<script>" not in page and "&lt;script&gt;" in page and "r&lt;1&gt;" in page


def test_matrix_document_is_a_standalone_page():
    doc = report.matrix_document(summary())
    assert doc.startswith("<!DOCTYPE html>") and "Clause matrix, run rtest1" in doc


# --- Allure extras --------------------------------------------------------------------------------

def test_matrix_result_is_first_in_the_tree_and_fails_when_not_conformant():
    ok = allure_extras.allure_matrix_result(summary(), now_ms=0)
    bad = allure_extras.allure_matrix_result(summary(fail="RC-API-2", exit_status=1), now_ms=0)
    assert (ok["status"], bad["status"]) == ("passed", "failed")
    feature = next(label["value"] for label in ok["labels"] if label["name"] == "feature")
    assert feature == f"Clause matrix: {len(CLAUSES)} clauses, {len(CLAUSES)} passed"
    assert sorted([feature, *(f"{cid}: {c.title}" for cid, c in CLAUSES.items())])[0] == feature
    assert ok["name"] == allure_extras.MATRIX_RESULT_NAME
    assert ok["start"] == 1_800_000_000_000 and ok["stop"] == 1_800_000_061_500
    assert '<tr data-clause="RC-API-1">' in ok["descriptionHtml"]
    assert all(re.search(r"-attachment(\.\w+)?$", a["source"]) for a in ok["attachments"])
    assert ok["uuid"] == allure_extras.allure_matrix_result(summary(), now_ms=5)["uuid"]  # rewritten, not duplicated


def test_environment_properties_carry_run_id_server_version_and_handlers_per_node():
    text = allure_extras.environment_properties(summary(missing={"admin": "denied"}))
    assert "run\\ id=rtest1\n" in text
    assert "Kubernetes=v1.37.2\n" in text
    assert "worker-1=containerd\\://2.4.2; handlers\\: crun, runc\n" in text
    assert "worker-2=cri-o\\://1.34.0; handlers\\: runc, test-handler\n" in text
    assert "API\\ server=https\\://127.0.0.1\\:6443\n" in text
    assert "missing=admin\n" in text
    assert allure_extras._prop_escape("é\nx", False) == "\\u00e9\\nx"


def test_allure_config_is_one_file_grouped_by_clause_with_the_verdict_up_front():
    config = allure_extras.allure_config(summary(fail="RC-USE-1", exit_status=1), "/tmp/html")
    options = config["plugins"]["awesome"]["options"]
    assert options["singleFile"] is True and options["groupBy"] == ["feature"]
    assert config["output"] == "/tmp/html" and "rtest1" in config["name"]
    variables = config["variables"]
    assert variables["verdict"] == "NOT CONFORMANT: RC-USE-1"
    assert variables["RC-USE-4"] == "observed: rejected at admission"
    assert len(variables) <= 8  # Allure shows 8 before "Show more"
    names = [c["name"] for c in config["categories"]]
    assert names[1] == "Failed clauses (by family and clause)"
    assert config["categories"][0]["hide"] is True


def test_write_allure_extras_writes_result_attachments_and_environment(tmp_path):
    s = summary()
    paths = allure_extras.write_allure_extras(tmp_path, s, now_ms=0)
    names = sorted(p.name for p in paths)
    assert "environment.properties" in names and allure_extras.MATRIX_ATTACHMENT in names
    result = json.loads(next(p for p in paths if p.name.endswith("-result.json")).read_text())
    assert result["attachments"][1]["source"] == allure_extras.SUMMARY_ATTACHMENT
    assert json.loads((tmp_path / allure_extras.SUMMARY_ATTACHMENT).read_text())["run_id"] == "rtest1"
    allure_extras.write_allure_extras(tmp_path, s, now_ms=1)
    assert len(list(tmp_path.glob("*-result.json"))) == 1


# --- the runner -----------------------------------------------------------------------------------

def test_runner_takes_the_run_id_out_of_the_arguments():
    def split_run_id(args):
        runner, rest = run.split_runner_options(args)
        return runner.run_id, rest

    assert split_run_id(["-n", "2", "--run-id", "rx1", "--strict"]) == ("rx1", ["-n", "2", "--strict"])
    assert split_run_id(["--run-id=rx2", "-x"]) == ("rx2", ["-x"])
    assert split_run_id(["-n", "2"]) == (None, ["-n", "2"])


def test_runner_refuses_options_it_sets_itself():
    assert run.owned_option_in(["--alluredir=x"]) == "--alluredir"
    assert run.owned_option_in(["--junitxml", "j.xml"]) == "--junitxml"
    assert run.owned_option_in(["-n", "2", "--keep-cluster"]) is None
    assert run.main(["--alluredir", "x"]) == 4


def test_runner_command_runs_suites_unless_given_a_suite_path(tmp_path):
    command = run.pytest_command(tmp_path, "rx1", ["-n", "2", "--keep-cluster"])
    assert command[1:4] == ["-m", "pytest", "suites"]
    assert command[command.index("--alluredir") + 1] == str(tmp_path / "allure-results")
    assert command[command.index("--junitxml") + 1] == str(tmp_path / "junit.xml")
    assert command[command.index("--rcc-report-dir") + 1] == str(tmp_path)
    assert command[command.index("--run-id") + 1] == "rx1"
    assert command[-2:] == ["-n", "2"] or command[-3:] == ["-n", "2", "--keep-cluster"]
    only = run.pytest_command(tmp_path, "rx1", ["suites/test_use.py::test_pod_naming_a_missing_runtime_class_never_runs"])
    assert "suites" not in only


def test_runner_adds_the_measured_default_parallelism_only_when_the_command_line_names_none(tmp_path):
    def workers(args):
        command = run.pytest_command(tmp_path, "rx1", args)
        return [a for i, a in enumerate(command) if a.startswith("-n") or command[i - 1] == "-n"]

    assert workers([]) == ["-n", str(run.DEFAULT_WORKERS)]
    assert workers(["--keep-cluster"]) == ["-n", str(run.DEFAULT_WORKERS)]
    for chosen in (["-n", "2"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"], ["--list-tests"]):
        assert run.pytest_command(tmp_path, "rx1", chosen).count("-n") == chosen.count("-n"), chosen
        assert str(run.DEFAULT_WORKERS) not in workers(chosen) or chosen == ["-n", str(run.DEFAULT_WORKERS)], chosen


def test_reports_package_pins_allure_3_18_0():
    package = json.loads((ROOT / "reports" / "package.json").read_text())
    assert package["dependencies"] == {"allure": run.ALLURE_VERSION} == {"allure": "3.18.0"}
    lock = json.loads((ROOT / "reports" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/allure"]["version"] == "3.18.0"


# --- the plugin hook (pytest_sessionfinish), without a cluster -------------------------------------

def test_plugin_writes_summary_json_at_session_end(tmp_path):
    (tmp_path / "test_fake.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.clause("RC-API-1")
        def test_one():
            pass

        @pytest.mark.clause("RC-API-2", "RC-API-3")
        def test_two():
            assert 200 == 403, "wrong status"
    """))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "--rcc-report-dir", str(out), str(tmp_path / "test_fake.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    s = json.loads((out / "summary.json").read_text())
    by_id = {c["id"]: c for c in s["clauses"]}
    assert (by_id["RC-API-1"]["verdict"], by_id["RC-API-2"]["verdict"], by_id["RC-API-3"]["verdict"]) == \
        ("passed", "failed", "failed")
    assert "wrong status" in by_id["RC-API-2"]["tests"][0]["message"]
    assert by_id["RC-USE-1"]["verdict"] == "untested"
    assert {k: s["tests"][k] for k in ("total", "passed", "failed", "skipped")} == \
        {"total": 2, "passed": 1, "failed": 1, "skipped": 0}
    assert s["pytest_exit_status"] == 1 and s["cluster"] is None and s["error"]
    assert s["timing"]["duration_s"] is not None
    assert report.decide_exit(1, s)[0] == 1


def test_summary_and_html_name_each_nodes_cri_and_its_version():
    nodes = report.cluster_json(facts())["nodes"]
    assert [(n["name"], n["cri"], n["cri_version"]) for n in nodes] == [
        ("worker-1", "containerd", "containerd://2.4.2"), ("worker-2", "cri-o", "cri-o://1.34.0")]
    html = report.matrix_html(summary())
    assert "cri-o://1.34.0" in html and "containerd://2.4.2" in html


def test_one_node_per_cri_picks_a_node_of_each_implementation_that_has_the_handler():
    three = Facts(server="s", server_version="v", node_k8s_io_v1=True, handlers=("runc", "crio-runc"),
                  handlers_reported=True, nodes=(
                      NodeFacts("a", True, ("runc",), {}, {}, "containerd://2.4.2"),
                      NodeFacts("b", True, ("runc",), {}, {}, "containerd://2.4.2"),
                      NodeFacts("c", True, ("crio-runc", "runc"), {}, {}, "cri-o://1.34.0")))
    assert three.one_node_per_cri("runc") == ["a", "c"]
    assert three.one_node_per_cri("crio-runc") == ["c"]
    assert three.one_node_per_cri() == ["a", "c"]
    assert Facts.from_json(three.to_json()).one_node_per_cri("runc") == ["a", "c"]


# --- the isolation table (RC-USE-8) --------------------------------------------------------------

def test_isolation_rows_reach_summary_front_page_variables_and_the_matrix_page():
    mismatch = {"handler": "gvisor", "node": "worker-1", "observed": "shared-kernel", "pod_evidence": "same kernel",
                "runtime": "runc", "runtime_class": "shared-kernel", "node_evidence": "runc's state.json",
                "expected": "user-space-kernel", "expected_runtime": "runsc", "declared_by": "topology",
                "verdict": "mismatch"}
    s = summary(fail="RC-USE-8", isolation=[{**mismatch, "runtime": None, "verdict": "mismatch"}, mismatch])
    assert s["isolation"] == [mismatch]
    assert allure_extras.report_variables(s)["isolation gvisor"] == "shared-kernel · runc (mismatch) on worker-1"
    page = report.matrix_html(s)
    assert 'data-rcc="isolation"' in page and 'data-isolation="gvisor/worker-1"' in page
    assert "user-space-kernel · runsc" in page and "runc&#x27;s state.json" in page


def test_a_run_without_isolation_rows_has_an_empty_table_and_no_section():
    s = summary()
    assert s["isolation"] == []
    assert 'data-rcc="isolation"' not in report.matrix_html(s)


def test_early_report_is_made_from_this_runs_summary_only(tmp_path, monkeypatch):
    """The runner starts the HTML report once pytest has written summary.json (while the cluster
    goes down); a summary.json left in a reused report folder by an earlier run must not start it."""
    made = []
    monkeypatch.setattr(run, "generate_html", lambda run_dir, summary, log=print, history=None:
                        made.append(summary) or run_dir / "html" / "index.html")
    stale = tmp_path / report.SUMMARY_FILE
    report.write_json(stale, {"run": "earlier"})
    os.utime(stale, (1, 1))
    early = run.EarlyReport(tmp_path, started=1000.0, history=None)
    early.start_if_ready()
    assert early.result() == (None, None) and made == []

    report.write_json(stale, {"run": "this one"})
    early.start_if_ready()
    summary, index = early.result()
    assert summary == {"run": "this one"} and made == [{"run": "this one"}]
    assert index == tmp_path / "html" / "index.html"
