"""The platform's own RuntimeClasses: usable as declared (RC-SCH-7), with the isolation they promise (RC-USE-8)."""

import pytest

from conformance import platform_classes, platform_isolation
from conformance.platform_classes import Row


def pytest_generate_tests(metafunc):
    if "platform_class" in metafunc.fixturenames:
        metafunc.parametrize("platform_class", platform_classes.classes_to_audit(metafunc.config))


@pytest.mark.clause("RC-SCH-7")
@pytest.mark.needs("platform-classes")
def test_platform_runtime_class_admits_only_nodes_that_run_its_handler(rcc, platform_class):
    spec, result = platform_classes.audited(rcc, platform_class, "RC-SCH-7")
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


@pytest.mark.clause("RC-USE-8")
@pytest.mark.needs("platform-classes")
def test_platform_runtime_class_pod_gets_the_isolation_the_class_promises(rcc, platform_class):
    spec, result = platform_classes.audited(rcc, platform_class, "RC-USE-8")
    if result.verdict == "unusable" or not result.admitting:
        pytest.skip(f"missing capability class:{platform_class}: no Pod of it can run here "
                    f"(RC-SCH-7 judges that): {result.why}")
    rows = platform_isolation.observe_class(rcc, spec, result)
    platform_isolation.judge_class(rows, spec)
