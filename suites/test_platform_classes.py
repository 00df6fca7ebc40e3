"""SCH: the platform's own RuntimeClasses can be used as declared (RC-SCH-7)."""

import pytest

from conformance import platform_classes
from conformance.platform_classes import NONE, Row


def pytest_generate_tests(metafunc):
    if "platform_class" in metafunc.fixturenames:
        metafunc.parametrize("platform_class", platform_classes.classes_to_audit(metafunc.config))


@pytest.mark.clause("RC-SCH-7")
@pytest.mark.needs("platform-classes")
def test_platform_runtime_class_admits_only_nodes_that_run_its_handler(rcc, platform_class):
    facts = rcc.settings.facts
    if platform_class == NONE:
        rcc.observed("RC-SCH-7", "the cluster serves no RuntimeClass besides the suite's own")
        return
    spec = platform_classes.spec_named(facts, platform_class)
    assert spec is not None, f"--class {platform_class}: the cluster serves no RuntimeClass of that name"
    result = platform_classes.audit_class(facts, spec)
    row = Row.of(result)
    try:
        if result.verdict == "unusable":
            pytest.fail(result.why, pytrace=False)
        platform_classes.try_each_pool(rcc, spec, result, row)
        if result.verdict == "unknown":
            row.why += f"; {'; '.join(row.pods)}" if row.pods else ""
            pytest.skip(f"missing capability node-evidence: {result.why}")
        rcc.observed("RC-SCH-7", "usable as declared")
    except Exception as failure:
        row.verdict, row.why = "unusable", str(failure).splitlines()[0]
        raise
    finally:
        platform_classes.record(rcc, row)
