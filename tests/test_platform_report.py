"""The report's platform classes table (RC-SCH-7): summary rows and the front-page HTML. Pure data."""

from __future__ import annotations

from conformance import report
from conformance.platform_report import platform_html, rows_for_summary

USABLE = {"name": "gvisor", "handler": "gvisor", "scheduling": "sandbox.gke.io/runtime=gvisor", "overhead": "(none)",
          "admitting": ["pool-b-1"], "with_handler": ["pool-b-1"], "verdict": "usable",
          "why": "every node it admits (pool-b-1) runs handler 'gvisor'", "pods": ["pool-b-1: ran"]}
DANGLING = {**USABLE, "name": "nvidia", "handler": "nvidia", "scheduling": "(none)", "admitting": ["a", "b"],
            "with_handler": [], "verdict": "unusable", "why": "class 'nvidia' admits a, b, which lack handler 'nvidia'",
            "pods": []}


def test_one_row_per_class_sorted_by_name():
    assert [r["name"] for r in rows_for_summary([DANGLING, USABLE, {**DANGLING, "why": "later"}])] == ["gvisor", "nvidia"]


def test_the_front_page_table_shows_every_column_and_the_verdict():
    page = platform_html(rows_for_summary([USABLE, DANGLING]), "", "", "")
    assert 'data-rcc="platform-classes"' in page and "Platform classes (RC-SCH-7)" in page
    for text in ("Nodes that admit it", "Nodes that run its handler", "sandbox.gke.io/runtime=gvisor",
                 "(none known)", "which lack handler &#x27;nvidia&#x27;", 'data-verdict="unusable"', "Pods: pool-b-1: ran"):
        assert text in page, text
    assert platform_html([], "", "", "") == ""


def test_summary_json_carries_the_rows_and_the_matrix_page_shows_them():
    from conformance.matrix import ClauseTracker

    summary = report.build_summary(run_id="r", tracker=ClauseTracker(), exit_status=0, strict=False,
                                   tests={"total": 0}, platform=[USABLE])
    assert summary["platform_classes"] == [USABLE]
    assert 'data-platform-class="gvisor"' in report.matrix_html(summary)
