"""What a platform's own RuntimeClass promises for RC-USE-8, and how its rows reach the report. Pure logic."""

from conformance import platform_report
from conformance.isolation import Expectation, Observation, expected_of_class, merge, well_known


def test_handlers_named_after_a_sandbox_promise_its_isolation():
    assert well_known("gvisor").isolation == "user-space-kernel"
    assert well_known("runsc-debug").runtime == "runsc"
    assert well_known("kata-qemu") == Expectation("vm", "kata", "handler 'kata-qemu' is named after kata")
    assert well_known("kata-tdx").isolation == "vm"
    assert well_known("runc") is None and well_known("crun") is None and well_known("nvidia") is None


def test_the_users_word_for_the_class_then_its_handler_wins_over_the_handlers_name():
    table = merge({}, "topology", {"kata-tdx": Expectation("shared-kernel", "runc", "--expect-isolation")})
    assert expected_of_class(table, "kata-cc", "kata-tdx", "n1").isolation == "shared-kernel"
    table = merge({}, "topology", {"kata-cc": Expectation("user-space-kernel", None, "--isolation f"),
                                   "kata-tdx": Expectation("shared-kernel", "runc", "--isolation f")})
    assert expected_of_class(table, "kata-cc", "kata-tdx", "n1").isolation == "user-space-kernel"
    assert expected_of_class({}, "kata-cc", "kata-tdx", "n1").isolation == "vm"
    assert expected_of_class({}, "fast", "crun", "n1") is None


def test_a_mismatch_names_the_class_and_its_handler():
    row = Observation("kata-tdx", "n3", "shared-kernel", "uname -r is the node's", expected="vm",
                      declared_by="handler 'kata-tdx' is named after kata", platform_class="kata-cc")
    assert row.problems()[0].startswith("class 'kata-cc' (handler 'kata-tdx') on node n3: expected vm")
    assert row.to_json()["verdict"] == "mismatch"


def test_the_platform_classes_table_row_carries_what_its_pods_got():
    rows = platform_report.rows_for_summary(
        [{"name": "kata-cc", "handler": "kata-tdx"}, {"name": "fast", "handler": "crun"}],
        [Observation("kata-tdx", "n3", "shared-kernel", "", expected="vm", platform_class="kata-cc").to_json(),
         Observation("kata-tdx", "n3", "shared-kernel", "").to_json()])
    by_name = {row["name"]: row for row in rows}
    assert by_name["kata-cc"]["isolation"] == "n3: expected vm, saw shared-kernel [mismatch]"
    assert "isolation" not in by_name["fast"]
    html = platform_report.platform_html(rows, "", "", "")
    assert "Isolation (RC-USE-8): n3: expected vm, saw shared-kernel [mismatch]" in html
