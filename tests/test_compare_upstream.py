"""Unit tests of bench/compare_upstream.py's parsing parts (clusters/upstream/results.py, clauses.py).

No cluster, no e2e binary: small hand-written JUnit documents in Ginkgo's and pytest's shapes.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from clusters.upstream import clauses as upstream_clauses
from clusters.upstream import results
from conformance.clauses import CLAUSES

# `e2e.test -list-tests | grep -E 'RuntimeClass|validates pod overhead is considered'` of v1.37.2.
UPSTREAM_SPECS = [
    "[sig-node] RuntimeClass should reject a Pod requesting a RuntimeClass with an unconfigured handler "
    "[Feature:RuntimeHandler]",
    "[sig-node] RuntimeClass should reject a Pod requesting a RuntimeClass with conflicting node selector",
    "[sig-node] RuntimeClass should reject a Pod requesting a deleted RuntimeClass [Conformance] [NodeConformance]",
    "[sig-node] RuntimeClass should reject a Pod requesting a non-existent RuntimeClass [Conformance] "
    "[NodeConformance]",
    "[sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with a configured handler "
    "[Feature:RuntimeHandler]",
    "[sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling with taints [Serial]",
    "[sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling without taints",
    "[sig-node] RuntimeClass should schedule a Pod requesting a RuntimeClass and initialize its Overhead "
    "[Conformance] [NodeConformance]",
    "[sig-node] RuntimeClass should schedule a Pod requesting a RuntimeClass without PodOverhead [Conformance] "
    "[NodeConformance]",
    "[sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance]",
    "[sig-scheduling] SchedulerPredicates validates pod overhead is considered along with resource limits of pods "
    "that are allowed to run verify pod overhead is accounted for [Serial]",
]

GINKGO_JUNIT = textwrap.dedent("""\
    <?xml version="1.0" encoding="UTF-8"?>
    <testsuites tests="7" disabled="1" errors="0" failures="2" time="42.5">
      <testsuite name="Kubernetes e2e suite" tests="7" skipped="2" failures="2" time="42.5">
        <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.2"/>
        <testcase name="[It] [sig-apps] Deployment should do things [sig-apps]" classname="Kubernetes e2e suite"
                  status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
        <testcase name="[It] [sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance] [sig-node, Conformance]"
                  classname="Kubernetes e2e suite" status="passed" time="0.1"/>
        <testcase name="[It] [sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling without taints [sig-node]"
                  classname="Kubernetes e2e suite" status="skipped" time="2.2">
          <skipped message="skipped - Skipping test as node does not have E2E runtime class handler preconfigured"></skipped>
        </testcase>
        <testcase name="[It] [sig-node] RuntimeClass should reject a Pod requesting a non-existent RuntimeClass [Conformance] [NodeConformance] [sig-node, NodeConformance, Conformance]"
                  classname="Kubernetes e2e suite" status="failed" time="0.3">
          <failure message="[FAILED] unexpected error for pod rejection: should get forbidden error" type="failed">long trace</failure>
        </testcase>
        <testcase name="[It] [sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling with taints [Serial] [sig-node, Serial]"
                  classname="Kubernetes e2e suite" status="timedout" time="300.0">
          <failure message="" type="timedout">Timed out after 300s</failure>
        </testcase>
        <testcase name="[ReportAfterSuite] Kubernetes e2e suite report" classname="Kubernetes e2e suite" status="passed"/>
      </testsuite>
    </testsuites>
    """)

PYTEST_JUNIT = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1"
      failures="1" skipped="1" tests="5" time="87.9">
      <testcase classname="suites.test_api" name="test_served" time="0.5">
        <properties><property name="clauses" value="RC-API-1" /></properties></testcase>
      <testcase classname="suites.test_cri" name="test_lacking_node" time="0.1">
        <properties><property name="clauses" value="RC-CRI-1" /></properties>
        <skipped type="pytest.skip" message="missing capability heterogeneous-handlers">skip</skipped></testcase>
      <testcase classname="suites.test_overhead" name="test_quota" time="3.0">
        <properties><property name="clauses" value="RC-OVH-6" /></properties>
        <failure message="AssertionError: pod over quota only by overhead was admitted">trace</failure></testcase>
      <testcase classname="suites.test_scheduling" name="test_merge_and_land" time="4.0">
        <properties><property name="clauses" value="RC-SCH-1,RC-SCH-2" /></properties>
        <error message="failed on setup with TimeoutError">trace</error></testcase>
      <testcase classname="suites.test_use" name="test_no_clause" time="0.0" />
    </testsuite></testsuites>
    """)

MATRIX_OUTPUT = textwrap.dedent("""\
    ========================== RuntimeClass clause matrix ==========================
    clause     verdict   tests  title
    RC-API-1   PASSED      4/4  node.k8s.io/v1 runtimeclasses is served with create, get, list, watch,
    RC-USE-4   PASSED      1/1  a Pod naming a RuntimeClass that does not exist never runs  [observed: rejected at admission]
    RC-CRI-1   PARTIAL     4/5  handler names match CRI runtime table keys; several handlers per node
    RC-OVH-6   FAILED      0/1  ResourceQuota counts overhead; a Pod over quota only by its overhead i
    RC-SCH-5   SKIPPED     0/2  a Pod without that RuntimeClass or toleration is not scheduled onto th
    clauses: 2 passed, 1 failed, 1 partial, 1 skipped, 0 untested
    1 failed, 63 passed, 1 skipped, 65 warnings in 93.55s (0:01:33)
    """)


@pytest.fixture
def ginkgo_run(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(GINKGO_JUNIT)
    return results.parse_ginkgo_junit(path)


def test_ginkgo_specs_the_focus_filtered_out_are_not_counted(ginkgo_run):
    assert [t.outcome for t in ginkgo_run.tests] == ["passed", "skipped", "failed", "failed"]
    assert (ginkgo_run.run, ginkgo_run.count("skipped"), ginkgo_run.suite_seconds) == (3, 1, 42.5)


def test_ginkgo_names_lose_the_it_prefix_and_the_label_group_only(ginkgo_run):
    assert [t.name for t in ginkgo_run.tests] == [
        "[sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance]",
        "[sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling without taints",
        "[sig-node] RuntimeClass should reject a Pod requesting a non-existent RuntimeClass [Conformance] "
        "[NodeConformance]",
        "[sig-node] RuntimeClass should run a Pod requesting a RuntimeClass with scheduling with taints [Serial]",
    ]


def test_ginkgo_skip_reason_failure_message_and_timeout(ginkgo_run):
    skipped, failed, timed_out = ginkgo_run.tests[1:]
    assert skipped.message == "Skipping test as node does not have E2E runtime class handler preconfigured"
    assert failed.message.startswith("[FAILED] unexpected error for pod rejection")
    assert (timed_out.outcome, timed_out.message) == ("failed", "Timed out after 300s")


def test_ginkgo_specs_get_their_clauses_and_only_run_ones_cover(ginkgo_run):
    assert ginkgo_run.tests[0].clauses == ("RC-API-1",)
    assert ginkgo_run.covered_clauses() == {"RC-API-1", "RC-USE-4", "RC-SCH-1", "RC-SCH-2", "RC-SCH-4"}
    assert ginkgo_run.failed_clauses() == {"RC-USE-4", "RC-SCH-1", "RC-SCH-2", "RC-SCH-4"}


def test_ginkgo_suite_level_failure_is_reported(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(GINKGO_JUNIT.replace(
        '<testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.2"/>',
        '<testcase name="[SynchronizedBeforeSuite]" classname="x" status="failed"><failure message="nodes not '
        'schedulable">t</failure></testcase>'))
    assert results.parse_ginkgo_junit(path).setup_failures == ["[SynchronizedBeforeSuite]: nodes not schedulable"]


@pytest.mark.parametrize("junit_name, expected", [
    ("[It] [sig-node] RuntimeClass should X [Serial] [sig-node, Serial]", "[sig-node] RuntimeClass should X [Serial]"),
    ("[It] [sig-node] RuntimeClass should X [sig-node]", "[sig-node] RuntimeClass should X"),
    ("[It] [sig-node] RuntimeClass should X [Feature:RuntimeHandler] [sig-node, Feature:RuntimeHandler]",
     "[sig-node] RuntimeClass should X [Feature:RuntimeHandler]"),
    ("[It] plain name", "plain name"),
])
def test_spec_name(junit_name, expected):
    assert results.spec_name(junit_name) == expected


def test_pytest_junit_outcomes_clauses_and_time(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_JUNIT)
    run = results.parse_pytest_junit(path)
    assert [(t.name, t.outcome) for t in run.tests] == [
        ("suites.test_api::test_served", "passed"), ("suites.test_cri::test_lacking_node", "skipped"),
        ("suites.test_overhead::test_quota", "failed"), ("suites.test_scheduling::test_merge_and_land", "failed"),
        ("suites.test_use::test_no_clause", "passed")]
    assert run.suite_seconds == 87.9
    assert run.covered_clauses() == {"RC-API-1", "RC-OVH-6", "RC-SCH-1", "RC-SCH-2"}
    assert run.failed_clauses() == {"RC-OVH-6", "RC-SCH-1", "RC-SCH-2"}
    assert run.tests[2].message == "AssertionError: pod over quota only by overhead was admitted"


def test_verdicts_of_the_matrix_win_over_per_test_failures(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_JUNIT)
    run = results.parse_pytest_junit(path)
    run.verdicts = results.parse_clause_matrix(MATRIX_OUTPUT)
    assert run.failed_clauses() == {"RC-OVH-6"}


def test_clause_matrix_and_pytest_tail():
    assert results.parse_clause_matrix(MATRIX_OUTPUT) == {
        "RC-API-1": "passed", "RC-USE-4": "passed", "RC-CRI-1": "partial", "RC-OVH-6": "failed",
        "RC-SCH-5": "skipped"}
    assert results.parse_pytest_tail(MATRIX_OUTPUT) == {"failed": 1, "passed": 63, "skipped": 1}
    assert results.parse_pytest_tail("no summary here") == {}


def test_summary_json_when_present(tmp_path):
    assert results.load_summary(tmp_path / "summary.json") == {}
    (tmp_path / "summary.json").write_text(json.dumps({"clauses": [{"id": "RC-API-1", "verdict": "passed"},
                                                                   {"id": "RC-OVH-6", "verdict": "failed"}]}))
    assert results.load_summary(tmp_path / "summary.json") == {"RC-API-1": "passed", "RC-OVH-6": "failed"}


def test_every_upstream_spec_of_the_focus_maps_to_exactly_one_entry_with_known_clauses():
    for spec in UPSTREAM_SPECS:
        entries = [t for t in upstream_clauses.UPSTREAM_TESTS if t.match in spec]
        assert len(entries) == 1, spec
    for test in upstream_clauses.UPSTREAM_TESTS:
        assert set(test.clauses) <= set(CLAUSES), test.match
        assert test.partial <= set(test.clauses), test.match
    assert upstream_clauses.clauses_of("[sig-apps] Deployment should do things") == {}


def test_coverage_full_wins_over_partial_and_unknown_names_are_ignored():
    scheduling_with_taints, without_taints = UPSTREAM_SPECS[5], UPSTREAM_SPECS[6]
    assert upstream_clauses.coverage([without_taints])["RC-SCH-1"] == "full"
    assert upstream_clauses.coverage([without_taints])["RC-SCH-2"] == "partial"
    assert upstream_clauses.coverage([scheduling_with_taints, "unrelated"]) == {
        "RC-SCH-1": "full", "RC-SCH-2": "partial", "RC-SCH-4": "full"}
    everything = upstream_clauses.coverage(UPSTREAM_SPECS)
    assert len(everything) == 13
    assert sorted(c for c, level in everything.items() if level == "full") == [
        "RC-API-1", "RC-OVH-1", "RC-OVH-2", "RC-SCH-1", "RC-SCH-4"]
