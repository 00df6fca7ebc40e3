"""The pytest plugin: options, markers and the run's lifecycle hooks.

Thin on purpose: bring-up and probing live in `session`, per-test work in
`case`, clause bookkeeping in `matrix`, collection and set-up hooks in
`selection`, the `rcc` and `handlers` fixtures in `fixtures`. Loaded by the root conftest.py and
registered as the `conformance.plugin` pytest11 entry point.
"""

from __future__ import annotations

import json
import re
import signal
import tempfile
from pathlib import Path

import allure
import pytest
from kubernetes.client.exceptions import ApiException

from clusters.local.apiserver_flags import never_ready_reason
from clusters.toolbox.errors import ClusterError
from conformance import matrix, options
from conformance.kube import ConnectionProblem, as_rejection, listed_or_empty
from conformance.kubeconfig import KubeconfigProblem
from conformance.liveness import RunLease, live_runs
from conformance.namespaces import NamespacePool
from conformance.preflight import Facts, capability_table
from conformance import pull_secret
from conformance.images import ImageUnavailable
from conformance.containment import PROPERTY as CONTAINMENT_PROPERTY
from conformance.isolation import PROPERTY as ISOLATION_PROPERTY
from conformance.platform_classes import PROPERTY as PLATFORM_PROPERTY
from conformance.settings import DEFAULT_TIMEOUTS
from conformance.session import (RunOptions, RunState, connect_run, declared_by_user, isolation_table,
                                 make_provider, new_run_id, owns_cluster, parse_handler_nodes, probe_run)
from conformance.sweep import sweep, sweep_dead_runs
from conformance.stash_keys import KUBE, LEASE, POOL, PROVIDER, STATE
from conformance.xdist_role import handed_out, is_worker, runs_tests_here, worker_id
from conformance import infrastructure_hooks
from conformance.infrastructure_hooks import pytest_report_teststatus  # noqa: F401
# Hooks and fixtures kept in their own modules; pytest finds them as attributes of this plugin.
from conformance.fixtures import default_image, handlers, rcc  # noqa: F401
from conformance.selection import (handlers_under_test, pytest_collection_finish,  # noqa: F401
                                   pytest_collection_modifyitems, pytest_generate_tests, pytest_runtest_setup)

RUN_ID = re.compile(r"^[a-z0-9]{1,20}$")
_tracker: matrix.ClauseTracker | None = None  # logreport hooks get no config; one tracker per process
_isolation_rows: list[dict] = []  # RC-USE-8 observations, for the report's isolation table
_platform_rows: list[dict] = []  # RC-SCH-7 audits, for the report's platform classes table
_containment_rows: list[dict] = []  # RC-OVH-8 membership verdicts, the isolation table's containment column


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's options, from the one table in conformance/options.py (with the console script's)."""
    options.add_to_pytest(parser.getgroup("runtimeclass-conformance"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(*ids): the SPEC.md clauses this test checks")
    config.addinivalue_line("markers", "needs(*capabilities): capabilities beyond those of its clauses")
    config.addinivalue_line("markers", "window: the test watches a \"never runs\" / \"keeps running\" window "
                                       "(5 s by default); such tests are run first")
    if config.option.list_tests:
        config.option.collectonly = True
    if getattr(config.option, "maxschedchunk", "absent") is None:
        # xdist's first hand-out gives each worker a run of consecutive tests (a quarter of its
        # share): the window tests, sorted first, all went to the first worker (-n 2: 26 s of test
        # bodies on one worker, 16 s on the other). Handed out two at a time, they spread.
        config.option.maxschedchunk = 1
    global _tracker
    _tracker = matrix.ClauseTracker()


def _options(config: pytest.Config) -> RunOptions:
    opt = config.option
    timeouts = dict(DEFAULT_TIMEOUTS)
    for item in opt.timeout:
        name, _, seconds = item.partition("=")
        if name not in DEFAULT_TIMEOUTS or not seconds.replace(".", "", 1).isdigit():
            raise pytest.UsageError(f"--timeout {item!r}: use NAME=SECONDS with NAME one of "
                                    f"{', '.join(DEFAULT_TIMEOUTS)}")
        timeouts[name] = float(seconds)
    never_ready = never_ready_reason(opt.rcc_apiserver_arg)
    if never_ready:
        raise pytest.UsageError(f"--rcc-apiserver-arg: {never_ready}")
    try:
        declared_by_user(opt.isolation, list(opt.expect_isolation))
        handler_nodes = parse_handler_nodes(list(opt.handler_nodes))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    if opt.run_id and not RUN_ID.match(opt.run_id):
        raise pytest.UsageError(f"--run-id {opt.run_id!r}: use 1-20 lower-case letters and digits "
                                f"(it is part of object names and label keys)")
    return RunOptions(
        cluster="existing" if opt.kubeconfig else opt.cluster,
        kubeconfig=Path(opt.kubeconfig) if opt.kubeconfig else None, context=opt.context,
        handlers=list(opt.handler), strict=opt.strict, allow_disruptive=opt.allow_disruptive, image=opt.test_image,
        run_id=(handed_out(config)["rcc_run_id"] if is_worker(config) else opt.run_id or new_run_id()),
        keep_cluster=opt.keep_cluster, timeouts=timeouts, topology=opt.topology,
        apiserver_args=tuple(opt.rcc_apiserver_arg), isolation_file=opt.isolation,
        expect_isolation=list(opt.expect_isolation), node_probe=opt.node_probe, handler_nodes=handler_nodes,
        classes=list(opt.platform_class), image_mirror=opt.image_mirror, image_pull_secret=opt.image_pull_secret)


def _wants_cluster(session: pytest.Session) -> bool:
    """Only runs of the suite need a cluster; unit tests and --collect-only listings do not."""
    config = session.config
    if config.option.collectonly or config.option.help:
        return False
    return any("suites" in Path(str(a)).parts or Path(str(a)).name == "suites" for a in config.args) or \
        config.option.cluster != "local" or bool(config.option.kubeconfig)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not _wants_cluster(session):
        return
    options = _options(config)
    pull_secret.configure(options.image_pull_secret)
    try:
        if is_worker(config):
            raw = json.loads(handed_out(config)["rcc_state"])
            provider = make_provider(options, progress=lambda _m: None)
            state = RunState(options, Path(raw["kubeconfig"]), Facts.from_json(raw["facts"]),
                             raw["declared_handlers"], raw.get("isolation", {}))
            kube = connect_run(state.kubeconfig, options)
        else:
            _stop_on_sigterm()
            state, provider, kube = _bring_up(config, options)
    except KubeconfigProblem as err:  # bad input, not a cluster problem: one line, exit 4 (usage error)
        raise pytest.UsageError(f"runtimeclass-conformance: {err}") from None
    except (ClusterError, ConnectionProblem, ImageUnavailable) as err:
        pytest.exit(f"runtimeclass-conformance: {err}", returncode=3)
    except ApiException as exc:
        refused = as_rejection(exc)
        pytest.exit(f"runtimeclass-conformance: the API server refused a start-up request: {refused.status} "
                    f"{refused.reason}: {refused.message[:200]}; check the identity's permissions "
                    f"(clusters/existing/rbac.yaml)", returncode=3)
    config.stash[STATE] = state
    config.stash[PROVIDER] = provider
    config.stash[KUBE] = kube
    if not is_worker(config):
        infrastructure_hooks.start_watch(config, kube, options.run_id)
    if runs_tests_here(config) and state.facts.has("workspace"):
        config.stash[POOL] = NamespacePool(kube, options.run_id, worker_id(config), options.timeouts["namespace"]).start()


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C: teardown, sweep, provider destroy."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def _bring_up(config: pytest.Config, options: RunOptions):
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def progress(message: str) -> None:
        if reporter:
            reporter.write_line(f"[rcc] {message}")

    provider = make_provider(options, progress)
    kubeconfig = provider.create()
    kube = connect_run(kubeconfig, options)
    progress(f"API server {kube.server}; run id {options.run_id}")
    leftovers = sweep_dead_runs(kube)
    if leftovers:
        progress(f"swept leftovers of runs that are no longer alive: {leftovers}")
    lease = RunLease(kube, options.run_id).acquire()
    if lease is not None:
        config.stash[LEASE] = lease
    if not owns_cluster(provider):
        _image_preflight(kube, options, progress)
    start_node_probe = getattr(provider, "start_node_probe", None)
    if callable(start_node_probe) and options.node_probe:
        provider.attach(kube.api)
        nodes = [n.metadata.name for n in listed_or_empty(kube.core.list_node)
                 if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        start_node_probe(options.image or default_image(options), nodes, timeout=options.timeouts["pod-start"])
    facts = probe_run(kube, options, provider)
    declared = getattr(provider, "declared_handlers", [])
    return RunState(options, kubeconfig, facts, declared, isolation_table(options, provider)), provider, kube


def _image_preflight(kube, options: RunOptions, progress) -> None:
    """The test image on every Ready node before any test: one that cannot be pulled stops the run (exit 3)."""
    from conformance.images import check_pull

    image = default_image(options)
    nodes = [n.metadata.name for n in listed_or_empty(kube.core.list_node) if not n.spec.unschedulable
             and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
    progress(f"image preflight: {image} on {len(nodes)} node(s)")
    check_pull(kube, options.run_id, image, nodes, timeout=options.timeouts["pod-start"])


def pytest_configure_node(node) -> None:
    """xdist: hand each worker the run id and the controller's cluster."""
    config = node.config
    node.workerinput["rcc_run_id"] = config.stash[STATE].options.run_id if STATE in config.stash else \
        (config.option.run_id or new_run_id())
    if STATE in config.stash:
        node.workerinput["rcc_state"] = config.stash[STATE].to_workerinput()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if STATE not in config.stash:
        return []
    facts = config.stash[STATE].facts
    capabilities = ["workspace", "admin", "nodes>=2", "node-evidence", "disruptive",
                    *(f"handler:{h}" for h in facts.handlers)]
    return capability_table(facts, capabilities)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    infrastructure_hooks.mark_report(item, report, call)
    case = getattr(item, "_rcc_case", None)
    if case is not None and report.failed and call.when == "call":
        try:
            allure.attach(json.dumps(case.diagnostics(), indent=2, default=str), name="diagnostics",
                          attachment_type=allure.attachment_type.JSON)
        except Exception as exc:  # noqa: BLE001 - a failing diagnostic must not hide the failure
            report.sections.append(("rcc diagnostics", f"unavailable: {exc}"))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold each report into the clause matrix (on the controller, xdist workers' reports arrive here)."""
    tracker = _tracker
    if tracker is None:
        return
    props = dict(report.user_properties)
    clauses = [c for c in str(props.get("clauses", "")).split(",") if c]
    observed = {k.split(":", 1)[1]: v for k, v in props.items() if str(k).startswith("observed:")}
    message = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        message = report.longrepr[2].removeprefix("Skipped: ")
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = (crash.message if crash else report.longreprtext or "failed").strip()[:500]
    fault = infrastructure_hooks.fault_of(report)
    if fault is not None:
        message = fault.sentence()
    tracker.add(report.nodeid, report.when, matrix.INFRASTRUCTURE if fault else report.outcome, clauses, message,
                report.duration, observed)
    if ISOLATION_PROPERTY in props and report.when == "call":
        _isolation_rows.extend(json.loads(props[ISOLATION_PROPERTY]))
    if PLATFORM_PROPERTY in props and report.when == "call":
        _platform_rows.append(json.loads(props[PLATFORM_PROPERTY]))
    if report.when == "call":
        _containment_rows.extend(json.loads(value) for key, value in props.items()
                                 if str(key).startswith(f"{CONTAINMENT_PROPERTY}:"))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _tracker is None or is_worker(config) or not any(r.tests for r in _tracker.results.values()):
        return
    terminalreporter.section("RuntimeClass clause matrix")
    for line in _tracker.table():
        terminalreporter.write_line(line)
    decided = infrastructure_hooks.decided(config)
    if decided is not None:
        terminalreporter.write_line(f"verdict: {decided.sentence}", bold=True,
                                    purple=decided.code == infrastructure_hooks.INFRASTRUCTURE_EXIT)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if POOL in config.stash:
        config.stash[POOL].close()
    faults = [] if is_worker(config) else infrastructure_hooks.stop_watch(config)
    if faults:
        session.exitstatus = infrastructure_hooks.INFRASTRUCTURE_EXIT  # named by the terminal summary's last line
    ran = _tracker is not None and any(r.tests for r in _tracker.results.values())
    if (config.getoption("rcc_report_dir", None) or ran) and _tracker is not None and not is_worker(config):
        from conformance import report  # summary.json (also for a run without a cluster)

        try:
            state = config.stash.get(STATE, None)
            summary = report.session_summary(session, exitstatus, _tracker, state,
                                             handlers_under_test(config) if state is not None else (),
                                             isolation=_isolation_rows, containment=_containment_rows,
                                             platform=_platform_rows, infrastructure=faults)
            infrastructure_hooks.keep_verdict(config, summary)
            if config.getoption("rcc_report_dir", None):
                report.write_json(config.getoption("rcc_report_dir") / report.SUMMARY_FILE, summary)
        except Exception as exc:  # noqa: BLE001 - the report must not keep the cluster from being cleaned up
            config.get_terminal_writer().line(f"[rcc] could not write summary.json: {exc!r}", red=True)
    if STATE not in config.stash or is_worker(config):
        return
    state = config.stash[STATE]
    kube = config.stash[KUBE]
    provider = config.stash[PROVIDER]
    try:
        # Deletion is requested either way. On an existing cluster (the user's) the run ends only once
        # its namespaces have finished terminating; on one the suite brought up, waiting would only
        # keep the run from ending (a later run's sweep skips namespaces already terminating).
        sweep(kube, run_id=state.options.run_id, wait=0 if owns_cluster(provider) else 60)
        if LEASE in config.stash:
            config.stash[LEASE].release()
        for lock in Path(tempfile.gettempdir()).glob(f"rcc-{state.options.run_id}-*.lock"):
            lock.unlink(missing_ok=True)
    finally:
        others = _other_live_runs(kube, state.options.run_id) if owns_cluster(provider) else set()
        if others:
            # A second run reused the cluster this one brought up (`up` is idempotent); tearing it
            # down now would pull it from under that run. The last run out destroys it.
            config.get_terminal_writer().line(f"[rcc] leaving the {provider.name} cluster up: run(s) "
                                              f"{', '.join(sorted(others))} still use it")
        else:
            provider.destroy()


def _other_live_runs(kube, run_id: str) -> set[str]:
    """Runs other than this one holding an unexpired Lease on the cluster (none if it cannot be read)."""
    try:
        return (live_runs(kube) or set()) - {run_id}
    except Exception:  # noqa: BLE001 - an unreachable API server has no run to protect
        return set()
